//! One OS thread per model owns its [`Predictor`] (a tch tensor is Send but not Sync, and a
//! forward pass must not block a tokio worker). Requests reach it through a bounded channel
//! (full: the caller answers 503) and get their answers through oneshot channels. Requests that
//! arrive together share one forward pass: the thread takes whatever is queued, up to the batch
//! limit, and waits (at most `max_wait`) only for requests already being decoded, so an idle
//! service answers at once.
use super::config::Limits;
use super::prometheus::ServeMetrics;
use crate::inference::Predictor;
use crate::inference::predict::{ClassProbability, top_k};
use anyhow::Result;
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};
use tokio::sync::oneshot;

/// The top classes of each image of a job, in the job's order, or why the pass failed.
pub type Answer = Result<Vec<Vec<ClassProbability>>, String>;

/// The images of one request, preprocessed (CHW u8 of the model's input size).
pub struct Job {
    /// One buffer per image.
    pub images: Vec<Vec<u8>>,
    /// Classes per image in the answer.
    pub top_k: usize,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Answer>,
}

/// Requests being decoded for a model: they will be queued within moments, so a batch may wait
/// for them. Held while decoding; dropping it ends the count.
pub struct Decoding(Arc<AtomicUsize>);

impl Decoding {
    /// Counts one more request decoding on `counter`.
    pub fn start(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for Decoding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the model thread needs besides its predictor.
pub struct Batcher {
    /// The model's name (the metrics' label).
    pub name: String,
    /// Batch size and wait.
    pub limits: Limits,
    /// Where batch sizes and forward times go.
    pub metrics: ServeMetrics,
    /// Requests being decoded for this model.
    pub decoding: Arc<AtomicUsize>,
    /// Set when the service stops ([`super::models::ServedModel::stop`]).
    pub stopping: Arc<AtomicBool>,
}

impl Batcher {
    /// One forward pass at each batch size up to `max_batch`, so that no request pays for
    /// libtorch's setup of a new input shape (up to seconds for a conv network on the CPU);
    /// not counted in the metrics. False when the service stopped meanwhile.
    pub fn warm_up(&self, predictor: &Predictor) -> bool {
        let _no_grad = tch::no_grad_guard();
        let s = i64::from(predictor.preprocess().size);
        for b in 1..=self.limits.max_batch as i64 {
            if self.stopped() {
                return false;
            }
            let pixels = Tensor::zeros([b, 3, s, s], (Kind::Uint8, tch::Device::Cpu));
            let _ = predictor.probabilities(&pixels);
        }
        !self.stopped()
    }

    fn stopped(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Answers jobs until every sender of `rx` is gone and the queue is empty, or until the
    /// service stops (then what is still queued is dropped, and its callers see an error).
    pub fn run(&self, predictor: &Predictor, rx: &Receiver<Job>) {
        let _no_grad = tch::no_grad_guard();
        let mut carried: Option<Job> = None;
        loop {
            if self.stopped() {
                return;
            }
            let first = match carried.take() {
                Some(job) => job,
                None => match rx.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            let batch = self.gather(first, rx, &mut carried);
            if !batch.is_empty() {
                self.answer(predictor, batch);
            }
        }
    }

    /// `first` and whatever follows it now, up to `max_batch` images; waits only while
    /// requests are being decoded, and at most `max_wait`. A job that does not fit is carried
    /// to the next batch. Jobs whose caller is gone (timed out, disconnected) are dropped.
    fn gather(&self, first: Job, rx: &Receiver<Job>, carried: &mut Option<Job>) -> Vec<Job> {
        let max = self.limits.max_batch;
        let deadline = Instant::now() + self.limits.max_wait;
        let (mut images, mut jobs) = (0, Vec::new());
        if !first.reply.is_closed() {
            images = first.images.len();
            jobs.push(first);
        }
        while images < max {
            let next = match rx.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if self.decoding.load(Ordering::SeqCst) == 0 || left == Duration::ZERO {
                        break;
                    }
                    match rx.recv_timeout(left) {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            if next.reply.is_closed() {
                continue;
            }
            if images > 0 && images + next.images.len() > max {
                *carried = Some(next);
                break;
            }
            images += next.images.len();
            jobs.push(next);
        }
        jobs
    }

    /// Runs the batch (in slices of `max_batch` images when one job holds more) and answers
    /// each job with its rows.
    fn answer(&self, predictor: &Predictor, jobs: Vec<Job>) {
        let size = i64::from(predictor.preprocess().size);
        let images: Vec<&Vec<u8>> = jobs.iter().flat_map(|j| &j.images).collect();
        let mut probabilities = Vec::new();
        for chunk in images.chunks(self.limits.max_batch) {
            let pixels: Vec<u8> = chunk.iter().flat_map(|i| i.iter().copied()).collect();
            let pixels = Tensor::from_slice(&pixels).view([chunk.len() as i64, 3, size, size]);
            let start = Instant::now();
            // A libtorch error surfaces as a panic in tch; it fails this batch, not the thread.
            match catch_unwind(AssertUnwindSafe(|| predictor.probabilities(&pixels))) {
                Ok(p) => probabilities.push(p),
                Err(e) => return fail(jobs, &panic_message(&e)),
            }
            self.metrics
                .forward_seconds
                .with_label_values(&[&self.name])
                .observe(start.elapsed().as_secs_f64());
            self.metrics
                .batch_size
                .with_label_values(&[&self.name])
                .observe(chunk.len() as f64);
        }
        let all = Tensor::cat(&probabilities, 0);
        let mut row = 0;
        for job in jobs {
            let n = job.images.len() as i64;
            let top = top_k(&all.narrow(0, row, n), predictor.classes(), job.top_k);
            row += n;
            let _ = job.reply.send(Ok(top));
        }
    }
}

fn fail(jobs: Vec<Job>, message: &str) {
    for job in jobs {
        let _ = job
            .reply
            .send(Err(format!("forward pass failed: {message}")));
    }
}

fn panic_message(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown error".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{Sender, bounded};

    fn batcher(max_batch: usize, max_wait_ms: u64) -> Batcher {
        Batcher {
            name: "m".into(),
            limits: Limits {
                max_batch,
                max_wait: Duration::from_millis(max_wait_ms),
                ..Limits::default()
            },
            metrics: ServeMetrics::new().unwrap(),
            decoding: Arc::default(),
            stopping: Arc::default(),
        }
    }

    /// A job of `images` one-byte images; keep the receiver to keep it wanted.
    fn job(images: usize) -> (Job, oneshot::Receiver<Answer>) {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            images: vec![vec![0]; images],
            top_k: 1,
            reply,
        };
        (job, rx)
    }

    fn sizes(jobs: &[Job]) -> Vec<usize> {
        jobs.iter().map(|j| j.images.len()).collect()
    }

    fn send(tx: &Sender<Job>, images: usize) -> oneshot::Receiver<Answer> {
        let (j, rx) = job(images);
        tx.send(j).ok().unwrap();
        rx
    }

    #[test]
    fn takes_what_is_queued_up_to_the_batch_limit_and_carries_the_rest() {
        let b = batcher(4, 10_000);
        let (tx, rx) = bounded(16);
        let (first, _k0) = job(1);
        let _k: Vec<_> = [2, 3, 1].iter().map(|&n| send(&tx, n)).collect();
        let mut carried = None;
        let start = Instant::now();
        let batch = b.gather(first, &rx, &mut carried);
        assert_eq!(sizes(&batch), [1, 2]);
        assert_eq!(carried.as_ref().map(|j| j.images.len()), Some(3));
        let batch = b.gather(carried.take().unwrap(), &rx, &mut carried);
        assert_eq!(sizes(&batch), [3, 1]);
        // Nothing was being decoded: no waiting, although max_wait is 10 s.
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn jobs_nobody_waits_for_are_dropped() {
        let b = batcher(8, 0);
        let (tx, rx) = bounded(16);
        let (first, gone) = job(1);
        drop(gone);
        let _kept = send(&tx, 2);
        drop(send(&tx, 3));
        let _kept2 = send(&tx, 1);
        let batch = b.gather(first, &rx, &mut None);
        assert_eq!(sizes(&batch), [2, 1]);
    }

    #[test]
    fn waits_for_requests_being_decoded_but_not_past_max_wait() {
        let b = batcher(8, 200);
        let (tx, rx) = bounded(16);
        let decoding = Decoding::start(&b.decoding);
        let (first, _k) = job(1);
        let late = std::thread::spawn(move || {
            let rx = send(&tx, 2);
            drop(decoding);
            (rx, tx)
        });
        let batch = b.gather(first, &rx, &mut None);
        let (_k2, _tx) = late.join().unwrap();
        assert_eq!(sizes(&batch), [1, 2]);
        // Still one decoding, none arriving: the wait ends at max_wait.
        let _still = Decoding::start(&b.decoding);
        let start = Instant::now();
        let (first, _k3) = job(1);
        assert_eq!(sizes(&b.gather(first, &rx, &mut None)), [1]);
        assert!(start.elapsed() >= Duration::from_millis(200));
    }
}
