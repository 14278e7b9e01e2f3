//! Pure network throughput (no decoding): images/s of backbone features on random pixels.
//! Usage: [BF16=1] cargo run --release --example forward_speed -- [SIZE] [BATCH] [BACKBONE]
use graft::models::Arch;
use std::time::Instant;

graft::jemalloc_process_allocator!();

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let size: i64 = args.get(1).map_or(Ok(100), |s| s.parse())?;
    let batch: i64 = args.get(2).map_or(Ok(32), |s| s.parse())?;
    let arch = Arch::named(args.get(3).map_or("inception-v3", |s| s.as_str()))?;
    tch::set_num_threads(2);
    let mut rt = graft::runtime::Runtime::new(tch::Device::Cpu);
    if std::env::var_os("BF16").is_some() {
        rt = rt.in_precision(graft::engine::Precision::Bf16.usable_on(rt.device)?);
    }
    let (_vs, net) = graft::weights::load_backbone(arch, None, rt, false)?;
    let x = tch::Tensor::randint(255, [batch, 3, size, size], tch::kind::FLOAT_CPU);
    let _guard = tch::no_grad_guard();
    let mut t = Instant::now();
    for i in 0..8 {
        if i == 2 {
            t = Instant::now();
        }
        let t1 = Instant::now();
        let _ = net.features(&x);
        if i < 2 {
            println!("warm-up batch {i}: {:.2} s", t1.elapsed().as_secs_f64());
        }
    }
    println!(
        "{} {size} px batch {batch}: {:.1} img/s",
        arch.name(),
        (6 * batch) as f64 / t.elapsed().as_secs_f64()
    );
    Ok(())
}
