//! Training-step breakdown on cached features: forward, backward and optimizer times per batch
//! for the upper blocks (default: trainable from mixed_8, as the fast recipe).
//! Usage: cargo run --release --example step_speed -- [BATCH] [HW] [FREEZE_BLOCK]
use graft::models::Arch;
use graft::models::classifier::{Classifier, HeadConfig};
use graft::training::optim::{Optimizer, OptimizerConfig};
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn};

fn main() -> anyhow::Result<()> {
    graft::engine::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let batch: i64 = args.get(1).map_or(Ok(64), |s| s.parse())?;
    let hw: i64 = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let freeze = args.get(3).map_or("mixed_7", |s| s.as_str());
    tch::set_num_threads(2);
    let arch = Arch::InceptionV3;
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = Classifier::new(
        &vs.root(),
        arch,
        95,
        HeadConfig {
            hidden: 512,
            dropout: 0.2,
        },
    );
    let path = graft::weights::resolve_weights(arch, None)?;
    let t = graft::weights::read_weight_file(&path, arch)?;
    graft::weights::apply(&vs, arch, false, &t, &path)?;
    graft::models::use_channels_last(&vs);
    model.trainable_from = model.backbone.block_index(freeze)? + 1;
    let frozen: Vec<String> = model.backbone.blocks[..model.trainable_from]
        .iter()
        .map(|b| b.var_prefix())
        .collect();
    let mut params = Vec::new();
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, t) in named {
        if !t.requires_grad() {
            continue;
        }
        if frozen.iter().any(|p| name.starts_with(p.as_str())) {
            let _ = t.set_requires_grad(false);
        } else {
            params.push(t);
        }
    }
    let n_params: i64 = params.iter().map(|p| p.numel() as i64).sum();
    println!("trainable tensors {} params {n_params}", params.len());
    let mut opt = Optimizer::new(
        OptimizerConfig::Adam {
            lr: 3e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        },
        params,
    );
    let cin = 768;
    let x = Tensor::randn([batch, cin, hw, hw], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(95, [batch], (Kind::Int64, Device::Cpu));
    let (mut tf, mut tb, mut to) = (0.0, 0.0, 0.0);
    let iters = 12;
    for i in 0..iters {
        let t0 = Instant::now();
        let logits = model.forward_from_frozen(&x, true);
        let loss = logits.cross_entropy_for_logits(&y);
        let _ = loss.double_value(&[]);
        let t1 = Instant::now();
        opt.zero_grad();
        loss.backward();
        let t2 = Instant::now();
        opt.step();
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
                .forward_from_frozen(&x, false)
                .sum(Kind::Float)
                .double_value(&[]);
        }
    });
    println!(
        "eval forward {:.1} ms",
        t0.elapsed().as_secs_f64() / 5.0 * 1e3
    );
    let named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    let t0 = Instant::now();
    graft::tensor_io::save(
        std::path::Path::new("/tmp/save_test.safetensors"),
        &named,
        Default::default(),
    )?;
    println!("save model {:.2} s", t0.elapsed().as_secs_f64());
    let mut ck: Vec<(String, Tensor)> = named
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    ck.extend(opt.named_state());
    let t0 = Instant::now();
    graft::tensor_io::save(
        std::path::Path::new("/tmp/save_test.safetensors"),
        &ck,
        Default::default(),
    )?;
    println!("save checkpoint {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}
