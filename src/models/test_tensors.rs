//! Tensors the models' tests share: deterministic values without the global generator (tests run
//! in parallel threads), in the memory layout the recipe uses.
use tch::{Device, Kind, Tensor};

/// Values that look random to a convolution.
pub fn wavy(shape: &[i64], step: f64) -> Tensor {
    let n = shape.iter().product::<i64>();
    ((Tensor::arange(n, (Kind::Float, Device::Cpu)) * step).sin() * 1.7).reshape(shape)
}

/// `t` [N, C, H, W] in channels-last memory, as the recipe's tensors are.
pub fn channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// The relative distance of `a` from `b`.
pub fn relative(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).norm().double_value(&[]) / b.norm().double_value(&[])
}
