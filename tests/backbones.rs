//! The pretrained backbones reproduce the reference implementations' features on the shared
//! parity fixtures (lossless PNGs at exact sizes), with the real ImageNet weights.
mod common;

use common::*;
use graft::tensor_io::to_vec_f32;
use graft::weights;
use serde_json::Value;

fn reference() -> Value {
    let text = std::fs::read_to_string(fixture("parity/reference_features.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn inception_v3_reproduces_reference_features_at_100_and_299_px() {
    let (_vs, net) = backbone(arch("inception-v3"), false);
    let refs = reference();
    let refs = refs["inception_v3"].as_object().unwrap();
    assert_eq!(refs.len(), 6);
    for (png, expected) in refs {
        let feats = tch::no_grad(|| net.features(&png_pixels(&fixture(&format!("parity/{png}")))));
        assert_eq!(feats.size(), [1, 2048]);
        let err = rel_error(&to_vec_f32(&feats).unwrap(), &floats(expected));
        println!("inception-v3 {png}: relative error {err:.2e}");
        assert!(err < 1e-4, "{png}: relative error {err:.3e}");
    }
}

#[test]
fn efficientnet_lite0_reproduces_reference_features_and_imagenet_top5() {
    let (_vs, net) = backbone(arch("efficientnet-lite0"), true);
    let refs = reference();
    let refs = refs["efficientnet_lite0"].as_object().unwrap();
    assert_eq!(refs.len(), 6);
    for (png, expected) in refs {
        let feats = tch::no_grad(|| net.features(&png_pixels(&fixture(&format!("parity/{png}")))));
        let err = rel_error(&to_vec_f32(&feats).unwrap(), &floats(&expected["features"]));
        let logits = net.imagenet_logits(&feats).unwrap();
        let (values, indices) = logits.topk(5, 1, true, true);
        let indices: Vec<i64> = Vec::try_from(indices.flatten(0, -1)).unwrap();
        let logit_err = rel_error(
            &to_vec_f32(&values).unwrap(),
            &floats(&expected["top5_logit"]),
        );
        println!("efficientnet-lite0 {png}: relative error {err:.2e}, top-5 {indices:?}");
        assert!(err < 1e-4, "{png}: relative error {err:.3e}");
        let expected_top5: Vec<i64> = expected["top5_imagenet_index"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(indices[0], expected_top5[0], "{png}: ImageNet top-1");
        assert_eq!(indices, expected_top5, "{png}: ImageNet top-5");
        assert!(
            logit_err < 1e-4,
            "{png}: top-5 logits relative error {logit_err:.3e}"
        );
    }
}

#[test]
fn parameter_counts_match_the_published_models() {
    let (vs, net) = backbone(arch("inception-v3"), false);
    // Keras' InceptionV3(include_top=False): conv kernels + batch-norm beta, mean and variance.
    assert_eq!(weights::count_parameters(&vs, ""), 21_802_784);
    assert_eq!(net.block_names().len(), 12);
    assert_eq!(
        net.block_names()[1..],
        [
            "mixed", "mixed_1", "mixed_2", "mixed_3", "mixed_4", "mixed_5", "mixed_6", "mixed_7",
            "mixed_8", "mixed_9", "mixed_10"
        ]
    );

    let (vs, net) = backbone(arch("efficientnet-lite0"), true);
    // The state dict's 4,694,024 values less nothing: num_batches_tracked counters are not parameters.
    assert_eq!(weights::count_parameters(&vs, ""), 4_694_024);
    assert_eq!(weights::count_parameters(&vs, "top."), 1_281_000);
    assert_eq!(net.blocks.len(), 1 + 16 + 1);
}

#[test]
fn any_input_size_from_the_minimum_works() {
    let (_vs, net) = backbone(arch("inception-v3"), false);
    for size in [75, 123, 160] {
        let x = tch::Tensor::full(
            [2, 3, size, size],
            128,
            (tch::Kind::Uint8, tch::Device::Cpu),
        );
        let f = tch::no_grad(|| net.features(&x));
        assert_eq!(f.size(), [2, 2048], "size {size}");
    }
    assert!(arch("inception-v3").check_size(74).is_err());
}
