//! Training-step breakdown on cached features: forward, backward and optimizer times per batch
//! for the upper blocks with the default recipe's head and optimizer (default: trainable from
//! mixed_8, as the recipe), then the cost of writing the model and a checkpoint.
//! Usage: [BF16=1] cargo run --release --example step_speed -- [BATCH] [HW] [FREEZE_BLOCK]
//! (BF16=1: in bf16, as `--precision bf16` trains)
use graft::models::{Arch, Pass};
use graft::run::config::Freeze;
use graft::training::{build_model, recipe};
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

graft::jemalloc_process_allocator!();

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let batch: i64 = args.get(1).map_or(Ok(64), |s| s.parse())?;
    let hw: i64 = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let freeze = args.get(3).map_or("mixed_7", |s| s.as_str());
    tch::set_num_threads(2);
    let mut recipe = recipe::fast(Arch::named("inception-v3")?, PathBuf::new(), None);
    if std::env::var_os("BF16").is_some() {
        recipe.precision = graft::engine::Precision::Bf16.usable_on(Device::Cpu)?;
    }
    recipe.freeze = Freeze::Through(freeze.to_string());
    let (vs, model, mut opt) = build_model(&recipe, 95, Device::Cpu)?;
    let n_params: i64 = vs
        .trainable_variables()
        .iter()
        .filter(|p| p.requires_grad())
        .map(|p| p.numel() as i64)
        .sum();
    println!("trainable params {n_params}");
    let cin = 768;
    let x = Tensor::randn([batch, cin, hw, hw], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(95, [batch], (Kind::Int64, Device::Cpu));
    let (mut tf, mut tb, mut to) = (0.0, 0.0, 0.0);
    let iters = 12;
    for i in 0..iters {
        let t0 = Instant::now();
        let logits = model.forward_from_frozen(&x, Pass::TRAIN);
        let loss = logits.cross_entropy_for_logits(&y);
        let _ = loss.double_value(&[]);
        let t1 = Instant::now();
        opt.zero_grad();
        loss.backward();
        let t2 = Instant::now();
        opt.step()?;
        let t3 = Instant::now();
        if i >= 2 {
            tf += (t1 - t0).as_secs_f64();
            tb += (t2 - t1).as_secs_f64();
            to += (t3 - t2).as_secs_f64();
        }
    }
    let n = (iters - 2) as f64;
    println!(
        "batch {batch} {hw}x{hw}: forward {:.1} ms backward {:.1} ms optimizer {:.1} ms => {:.1} img/s",
        tf / n * 1e3,
        tb / n * 1e3,
        to / n * 1e3,
        batch as f64 * n / (tf + tb + to)
    );
    let t0 = Instant::now();
    tch::no_grad(|| {
        for _ in 0..5 {
            let _ = model
                .forward_from_frozen(&x, Pass::INFERENCE)
                .sum(Kind::Float)
                .double_value(&[]);
        }
    });
    println!(
        "eval forward {:.1} ms",
        t0.elapsed().as_secs_f64() / 5.0 * 1e3
    );

    // What training writes after each epoch: the model, then model + optimizer state.
    let dir = tempfile::tempdir()?;
    let model_vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    let mut checkpoint: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    checkpoint.extend(opt.named_state());
    for (what, tensors) in [("model", &model_vars), ("checkpoint", &checkpoint)] {
        let t0 = Instant::now();
        let file = dir.path().join(format!("{what}.safetensors"));
        graft::tensor_io::save(&file, tensors, Default::default())?;
        println!("save {what} {:.2} s", t0.elapsed().as_secs_f64());
    }
    Ok(())
}
