//! Scoring a model on labelled images: per-image results gathered batch by batch, then the
//! metrics. Used by `graft eval` and by training for validation and Test.
use crate::data::images::Preprocess;
use crate::data::labelled::Labelled;
use crate::data::loader::Skips;
use crate::distributed::Group;
use crate::metrics::{self, Metrics, Scored};
use crate::models::classifier::Classifier;
use crate::runtime::Runtime;
use anyhow::Result;
use tch::{Kind, Tensor};

/// Gathers scored examples; [`finish`](Scorer::finish) computes the metrics.
pub struct Scorer<'a> {
    classes: &'a [String],
    scored: Vec<Scored>,
}

impl<'a> Scorer<'a> {
    /// A scorer for a model over `classes`.
    pub fn new(classes: &'a [String]) -> Self {
        Self {
            classes,
            scored: Vec::new(),
        }
    }

    /// Adds one batch: logits [B, C], labels [B], and the B image paths.
    pub fn add(&mut self, logits: &Tensor, labels: &Tensor, paths: &[String]) {
        let logp = logits.log_softmax(1, Kind::Float);
        let (best, pred) = logp.max_dim(1, false);
        let labels = labels.to_device(logp.device());
        let losses = -logp.gather(1, &labels.unsqueeze(1), false).squeeze_dim(1);
        let column = |t: &Tensor| Vec::<f64>::try_from(t.to_kind(Kind::Double)).unwrap_or_default();
        let (best, losses) = (column(&best), column(&losses));
        let (pred, labels) = (column(&pred), column(&labels));
        for (j, path) in paths.iter().enumerate() {
            self.scored.push(Scored {
                path: path.clone(),
                label: labels[j] as usize,
                predicted: pred[j] as usize,
                confidence: best[j].exp(),
                loss: losses[j],
            });
        }
    }

    /// Images scored so far.
    pub fn len(&self) -> usize {
        self.scored.len()
    }

    /// Whether nothing was scored.
    pub fn is_empty(&self) -> bool {
        self.scored.is_empty()
    }

    /// The metrics over everything added.
    pub fn finish(self) -> Metrics {
        metrics::compute(self.classes, &self.scored)
    }

    /// [`finish_over`](Self::finish_over), and whether each image (in the order added, ranks
    /// in turn) came out right.
    pub fn finish_each_over(self, group: Option<&Group>) -> Result<(Metrics, Vec<bool>)> {
        let scored = match group {
            Some(g) => g.all_gather_json(&self.scored)?,
            None => self.scored,
        };
        let right = scored.iter().map(|s| s.label == s.predicted).collect();
        Ok((metrics::compute(self.classes, &scored), right))
    }

    /// The metrics over everything every rank of `group` added (in rank order), on every rank.
    pub fn finish_over(self, group: Option<&Group>) -> Result<Metrics> {
        Ok(self.finish_each_over(group)?.0)
    }
}

/// Scores `set`, each image once through the whole of `model` (inference mode); files that
/// fail to decode are recorded in `skips` and left out. With a process group in `runtime`, each
/// rank scores a contiguous share, and every rank returns the metrics over all of them and has
/// every rank's skipped files in `skips`.
pub fn evaluate(
    model: &Classifier,
    set: &Labelled,
    classes: &[String],
    preprocess: Preprocess,
    runtime: Runtime,
    skips: &mut Skips,
) -> Result<Metrics> {
    let Some(g) = runtime.group else {
        let scored = score_each(model, set, classes, preprocess, runtime, skips)?;
        return Ok(metrics::compute(classes, &scored));
    };
    let start = std::time::Instant::now();
    let mine = set.subset(&crate::distributed::share(set.len(), Some(g)).collect::<Vec<_>>());
    let mut local = Skips::default();
    let scored = score_each(model, &mine, classes, preprocess, runtime, &mut local)?;
    say_rank!(
        "graft: rank {} of {}: scored {} images",
        g.rank,
        g.world,
        scored.len()
    );
    g.allow_for(start.elapsed());
    // Every rank's results in rank order: the input order, as one process scores it.
    let scored = g.all_gather_json(&scored)?;
    for m in g.all_gather_json(&local.messages().cloned().collect::<Vec<_>>())? {
        skips.record(&m);
    }
    Ok(metrics::compute(classes, &scored))
}

/// The per-image results of [`evaluate`], in the order of `set`.
pub fn score_each(
    model: &Classifier,
    set: &Labelled,
    classes: &[String],
    preprocess: Preprocess,
    runtime: Runtime,
    skips: &mut Skips,
) -> Result<Vec<Scored>> {
    let order: Vec<usize> = (0..set.len()).collect();
    let bar = crate::progress::bar(set.len() as u64, "scoring");
    let mut scorer = Scorer::new(classes);
    let batch = super::batch_for(preprocess.size);
    let batches =
        super::image_batches(set.paths.clone(), order, preprocess, batch, runtime.workers);
    for batch in batches {
        bar.suspend(|| skips.report(batch.failures.iter().map(|(_, m)| m)));
        if !batch.indices.is_empty() {
            let labels: Vec<i64> = batch.indices.iter().map(|&i| set.labels[i]).collect();
            let paths: Vec<String> = batch
                .indices
                .iter()
                .map(|&i| set.paths[i].display().to_string())
                .collect();
            let logits = super::logits(model, &batch.pixels, runtime.device);
            scorer.add(&logits, &Tensor::from_slice(&labels), &paths);
        }
        bar.inc((batch.indices.len() + batch.failures.len()) as u64);
        crate::engine::release_free_memory();
    }
    bar.finish_and_clear();
    Ok(scorer.scored)
}
