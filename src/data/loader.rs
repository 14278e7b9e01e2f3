//! Batches built on worker threads ahead of the model, so decoding overlaps the network's work.
//! At most `prefetch` batches wait in the channel: memory stays bounded however many images.
use crossbeam_channel::{Receiver, bounded};
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use tch::{Kind, Tensor};

/// Decodes one item into CHW bytes of the batch's size, or says why it could not.
pub type DecodeFn = dyn Fn(usize, &PathBuf) -> anyhow::Result<Vec<u8>> + Send + Sync;

/// Decoded images of one batch, and the inputs of it that failed.
pub struct Batch {
    /// Indices (into the input list) of the images in `pixels`, in order.
    pub indices: Vec<usize>,
    /// u8 pixels, [n, 3, size, size].
    pub pixels: Tensor,
    /// Inputs of this batch that failed to decode: (index, message naming the file).
    pub failures: Vec<(usize, String)>,
}

/// How a stream is cut and how far it runs ahead of its consumer.
pub struct LoaderConfig {
    /// Images per batch (the last one may be smaller).
    pub batch_size: usize,
    /// Side of the square images `decode` produces.
    pub size: u32,
    /// Decoding threads.
    pub workers: usize,
    /// Batches decoded ahead at most (memory stays bounded).
    pub prefetch: usize,
}

/// Files that could not be used in one run (a corrupt image, an unreadable folder), each
/// reported once: the count belongs to the run that met them, not to the process.
#[derive(Debug, Default, Clone)]
pub struct Skips(std::collections::BTreeSet<String>);

impl Skips {
    /// Records a message naming the file and the problem; true when it is new (to report it).
    pub fn record(&mut self, message: &str) -> bool {
        self.0.insert(message.to_string())
    }

    /// Records and reports (on stderr, once each) every message of `messages`.
    pub fn report<'a>(&mut self, messages: impl IntoIterator<Item = &'a String>) {
        for m in messages {
            if self.record(m) {
                eprintln!("graft: skipped {m}");
            }
        }
    }

    /// How many distinct files were skipped.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The messages, sorted.
    pub fn messages(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }
}

/// Streams `paths` in order as batches of `cfg.batch_size`, decoding with `decode` on
/// `cfg.workers` threads.
pub fn stream(
    paths: Arc<Vec<PathBuf>>,
    order: Vec<usize>,
    cfg: LoaderConfig,
    decode: Arc<DecodeFn>,
) -> Receiver<Batch> {
    let batches = batches(&order, cfg.batch_size);
    stream_batches(paths, batches, cfg, decode)
}

/// `order` cut into batches of `size` (the last may be smaller).
pub fn batches(order: &[usize], size: usize) -> Vec<Vec<usize>> {
    order.chunks(size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Streams the given batches of `paths` (one [`Batch`] each, even where all of it fails or it
/// is empty), decoding with `decode` on `cfg.workers` threads.
pub fn stream_batches(
    paths: Arc<Vec<PathBuf>>,
    batches: Vec<Vec<usize>>,
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
        for chunk in &batches {
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
