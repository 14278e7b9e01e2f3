//! What an exported model says about itself, the same for ONNX (`metadata_props`) and
//! TorchScript (the archive's `extra/graft.json`): its classes in output order, the input it
//! takes and how an image becomes that input, the backbone, the graft version that wrote it.
use serde::Serialize;

/// Metadata key of the class names: a JSON list, in the order of the outputs' columns.
pub const CLASSES: &str = "classes";

/// The self-description of one exported model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata {
    /// Class names in output order (classes.json of the run).
    pub classes: Vec<String>,
    /// Side of the square input the network sees, in pixels.
    pub input_size: i64,
    /// The input tensor, in words (name, type, layout, range).
    pub input: String,
    /// How an image file becomes the network's input (graft's one resize rule).
    pub resize: String,
    /// The outputs, in words.
    pub outputs: String,
    /// The backbone (`inception-v3`, `efficientnet-lite0`, ...).
    pub backbone: String,
    /// The graft version that wrote the file.
    pub graft_version: String,
}

impl Metadata {
    /// The description of a classifier over `classes` at `input_size` px; `preprocessing`: the
    /// model takes uint8 images of any size and resizes them itself; `probabilities`: it outputs
    /// probabilities and logits (ONNX), not the logits alone (TorchScript).
    pub fn new(
        classes: &[String],
        input_size: i64,
        backbone: &str,
        preprocessing: bool,
        probabilities: bool,
    ) -> Self {
        let s = input_size;
        let input = if preprocessing {
            "image: uint8 [N, H, W, 3], RGB 0..255, any H and W (resized inside the model)".into()
        } else {
            format!(
                "image: float32 [N, 3, {s}, {s}], RGB 0..255 (the normalization is inside the model)"
            )
        };
        Self {
            classes: classes.to_vec(),
            input_size,
            input,
            resize: format!(
                "squash: the whole image to {s}x{s} px, aspect ratio not kept, bilinear with \
                 antialiasing when shrinking (Pillow's BILINEAR, the image crate's Triangle)"
            ),
            outputs: if probabilities {
                "probabilities: float32 [N, C] (softmax of the logits), logits: float32 [N, C]"
            } else {
                "logits: float32 [N, C] (probabilities: their softmax over dimension 1)"
            }
            .into(),
            backbone: backbone.to_string(),
            graft_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// As (key, value) strings, for ONNX's `metadata_props`: the classes as a JSON list under
    /// [`CLASSES`], the size as a decimal number.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let classes = serde_json::to_string(&self.classes).expect("strings serialize");
        [
            (CLASSES, classes),
            ("input_size", self.input_size.to_string()),
            ("input", self.input.clone()),
            ("resize", self.resize.clone()),
            ("outputs", self.outputs.clone()),
            ("backbone", self.backbone.clone()),
            ("graft_version", self.graft_version.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classes_are_one_json_list_and_every_field_is_a_pair() {
        let names = vec!["Apple \"Red\"".to_string(), "Kiwi".to_string()];
        let m = Metadata::new(&names, 187, "inception-v3", false, true);
        let pairs = m.pairs();
        let classes = &pairs.iter().find(|(k, _)| k == CLASSES).unwrap().1;
        assert_eq!(serde_json::from_str::<Vec<String>>(classes).unwrap(), names);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json.as_object().unwrap().len(), pairs.len());
        assert!(m.input.contains("[N, 3, 187, 187]"));
    }
}
