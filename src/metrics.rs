//! Classification metrics: accuracy, loss, per-class precision/recall/F1/support, confusion
//! matrix, and the most confidently wrong predictions (what a person looks at first).
use serde::{Deserialize, Serialize};

/// One scored example.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scored {
    /// The image file.
    pub path: String,
    /// Its true class.
    pub label: usize,
    /// The predicted class.
    pub predicted: usize,
    /// Probability of the predicted class.
    pub confidence: f64,
    /// Cross-entropy of this example.
    pub loss: f64,
}

/// Scores of one class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name.
    pub class: String,
    /// Right predictions of the class over all predictions of it.
    pub precision: f64,
    /// Right predictions of the class over its examples.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Examples of the class.
    pub support: usize,
}

/// A wrong prediction made with high confidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfidentError {
    /// The image file.
    pub path: String,
    /// Its class.
    pub true_class: String,
    /// What the model said.
    pub predicted_class: String,
    /// The probability it gave that.
    pub confidence: f64,
}

/// Everything measured on a labelled set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    /// Share of examples predicted right.
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Examples scored.
    pub count: usize,
    /// Per class, in label order.
    pub per_class: Vec<ClassMetrics>,
    /// confusion[true][predicted]
    pub confusion: Vec<Vec<usize>>,
    /// The 24 most confidently wrong predictions, most confident first.
    pub most_confident_errors: Vec<ConfidentError>,
}

/// The metrics of `scored` examples over `classes`.
pub fn compute(classes: &[String], scored: &[Scored]) -> Metrics {
    let n = classes.len();
    let mut confusion = vec![vec![0usize; n]; n];
    for s in scored {
        confusion[s.label][s.predicted] += 1;
    }
    let per_class = (0..n)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = confusion.iter().map(|row| row[c]).sum();
            let precision = if predicted > 0 {
                tp / predicted as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                class: classes[c].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let count = scored.len();
    let correct = scored.iter().filter(|s| s.label == s.predicted).count();
    let mut errors: Vec<&Scored> = scored.iter().filter(|s| s.label != s.predicted).collect();
    errors.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let most_confident_errors = errors
        .iter()
        .take(24)
        .map(|s| ConfidentError {
            path: s.path.clone(),
            true_class: classes[s.label].clone(),
            predicted_class: classes[s.predicted].clone(),
            confidence: s.confidence,
        })
        .collect();
    Metrics {
        accuracy: if count > 0 {
            correct as f64 / count as f64
        } else {
            0.0
        },
        loss: if count > 0 {
            scored.iter().map(|s| s.loss).sum::<f64>() / count as f64
        } else {
            0.0
        },
        count,
        per_class,
        confusion,
        most_confident_errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_recall_and_confusion_follow_their_definitions() {
        let classes: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let s = |label, predicted, confidence| Scored {
            path: format!("{label}{predicted}"),
            label,
            predicted,
            confidence,
            loss: 1.0,
        };
        let m = compute(
            &classes,
            &[s(0, 0, 0.9), s(0, 1, 0.8), s(1, 1, 0.7), s(1, 1, 0.6)],
        );
        assert_eq!(m.confusion, vec![vec![1, 1], vec![0, 2]]);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.per_class[0].recall, 0.5);
        assert_eq!(m.per_class[1].precision, 2.0 / 3.0);
        assert_eq!(m.per_class[1].support, 2);
        assert_eq!(m.most_confident_errors[0].predicted_class, "b");
    }
}
