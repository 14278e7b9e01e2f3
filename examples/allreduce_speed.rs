//! What data-parallel training would pay per step to all-reduce the gradients of the default
//! recipe's trainable part (InceptionV3 mixed_8..mixed_10 + head, 95 classes): the bytes, and
//! the time of one all-reduce over the ranks, whole and in 25 MB buckets (as PyTorch DDP does).
//! Run as several ranks: torchrun --standalone --nproc-per-node 2 --no-python --
//! target/release/examples/allreduce_speed [REPEATS]
use graft::distributed::{Group, Launch};
use graft::models::Arch;
use graft::training::{build_model, recipe};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

/// Median seconds of `reps` calls after one untimed call.
fn median(reps: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn main() -> anyhow::Result<()> {
    let reps: usize = std::env::args().nth(1).map_or(Ok(10), |s| s.parse())?;
    let launch = Launch::from_env()?
        .ok_or_else(|| anyhow::anyhow!("start it with torchrun (WORLD_SIZE > 1)"))?;
    let group = Group::join(&launch, Duration::from_secs(120))?;
    tch::set_num_threads(1);
    let cfg = recipe::fast(Arch::named("inception-v3")?, PathBuf::new(), None);
    let (vs, _, _) = build_model(&cfg, 95, Device::Cpu)?;
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .filter(|p| p.requires_grad())
        .map(|p| p.numel() as i64)
        .sum();
    let bytes = 4.0 * params as f64;
    let mut whole = Tensor::ones([params], (Kind::Float, Device::Cpu));
    let one = median(reps, || group.all_reduce_sum(&mut whole))?;
    let bucket = (25 << 20) / 4;
    let mut buckets: Vec<Tensor> = (0..params)
        .step_by(bucket as usize)
        .map(|start| Tensor::ones([bucket.min(params - start)], (Kind::Float, Device::Cpu)))
        .collect();
    let bucketed = median(reps, || {
        buckets.iter_mut().try_for_each(|b| group.all_reduce_sum(b))
    })?;
    if group.rank == 0 {
        let mb = bytes / 1e6;
        println!(
            "ranks {}: trainable parameters {params} ({mb:.1} MB of f32 gradients per step)",
            group.world
        );
        println!(
            "all-reduce, one tensor: {:.1} ms ({:.2} GB/s of gradient)",
            1e3 * one,
            bytes / one / 1e9
        );
        println!(
            "all-reduce, {} buckets of 25 MB: {:.1} ms ({:.2} GB/s)",
            buckets.len(),
            1e3 * bucketed,
            bytes / bucketed / 1e9
        );
        // A ring all-reduce sends and receives 2 (W-1)/W of the bytes on each rank.
        let w = group.world as f64;
        println!(
            "bytes each rank sends per step (ring): {:.1} MB",
            2.0 * (w - 1.0) / w * mb
        );
    }
    Ok(())
}
