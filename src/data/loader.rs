//! Batches built on worker threads ahead of the model, so decoding overlaps the network's work.
//! At most `prefetch` batches wait in the channel: memory stays bounded however many images.
use crossbeam_channel::{Receiver, bounded};
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use tch::{Kind, Tensor};

/// Decodes one item into CHW bytes of the batch's size, or says why it could not.
pub type DecodeFn = dyn Fn(usize, &PathBuf) -> anyhow::Result<Vec<u8>> + Send + Sync;

pub struct Batch {
    /// Indices (into the input list) of the images in `pixels`, in order.
    pub indices: Vec<usize>,
    /// u8 pixels, [n, 3, size, size].
    pub pixels: Tensor,
    /// Inputs of this batch that failed to decode: (index, message naming the file).
    pub failures: Vec<(usize, String)>,
}

pub struct LoaderConfig {
    pub batch_size: usize,
    pub size: u32,
    pub workers: usize,
    pub prefetch: usize,
}

/// Default decode workers: a quarter of the cores (at least one), leaving the rest to libtorch.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 4)
        .unwrap_or(1)
        .max(1)
}

/// Streams `paths` in order as batches, decoding with `decode` on `cfg.workers` threads.
pub fn stream(
    paths: Arc<Vec<PathBuf>>,
    order: Vec<usize>,
    cfg: LoaderConfig,
    decode: Arc<DecodeFn>,
) -> Receiver<Batch> {
    let (tx, rx) = bounded(cfg.prefetch.max(1));
    std::thread::spawn(move || {
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.workers.max(1))
            .build()
        {
            Ok(p) => p,
            Err(_) => return,
        };
        let plane = 3 * (cfg.size as usize) * (cfg.size as usize);
        for chunk in order.chunks(cfg.batch_size.max(1)) {
            let decoded: Vec<(usize, anyhow::Result<Vec<u8>>)> = pool.install(|| {
                chunk
                    .par_iter()
                    .map(|&i| (i, decode(i, &paths[i])))
                    .collect()
            });
            let mut indices = Vec::with_capacity(chunk.len());
            let mut failures = Vec::new();
            let mut bytes = Vec::with_capacity(chunk.len() * plane);
            for (i, result) in decoded {
                match result {
                    Ok(px) if px.len() == plane => {
                        indices.push(i);
                        bytes.extend_from_slice(&px);
                    }
                    Ok(px) => failures.push((
                        i,
                        format!(
                            "{}: decoded to {} bytes, expected {plane}",
                            paths[i].display(),
                            px.len()
                        ),
                    )),
                    Err(e) => failures.push((i, format!("{e:#}"))),
                }
            }
            let s = cfg.size as i64;
            let pixels = Tensor::from_slice(&bytes)
                .view([indices.len() as i64, 3, s, s])
                .to_kind(Kind::Uint8);
            if tx
                .send(Batch {
                    indices,
                    pixels,
                    failures,
                })
                .is_err()
            {
                return; // the consumer stopped early
            }
        }
    });
    rx
}
