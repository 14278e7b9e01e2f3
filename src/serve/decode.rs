//! A bounded pool of decoding threads: image bytes become pixels here, never on a tokio worker
//! (a large PNG takes milliseconds) and never on a model's thread (the model must not wait for
//! a JPEG). The queue in front of it is bounded; a full one is the caller's 503.
use crossbeam_channel::{Sender, TrySendError, bounded};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

type Task = Box<dyn FnOnce() + Send>;

/// Why a task was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full.
    Full,
    /// The pool is shutting down.
    Closed,
}

/// Decoding threads fed by a bounded queue.
pub struct DecodePool {
    tx: Option<Sender<Task>>,
    threads: Vec<JoinHandle<()>>,
}

impl DecodePool {
    /// `workers` threads behind a queue of `queue` tasks.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<Task>(queue);
        let threads = (0..workers)
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("graft-decode-{i}"))
                    .spawn(move || rx.iter().for_each(|task| task()))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self {
            tx: Some(tx),
            threads,
        })
    }

    /// Queues `f`; its result arrives on the returned receiver. A task that panics (a decoder
    /// bug on hostile input) drops its sender, so the receiver sees an error and the thread
    /// lives on.
    pub fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<T>, Refused>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let task: Task = Box::new(move || {
            // Nobody waits any more (timed out, disconnected): skip the work.
            if reply.is_closed() {
                return;
            }
            if let Ok(value) = catch_unwind(AssertUnwindSafe(f)) {
                let _ = reply.send(value);
            }
        });
        let tx = self.tx.as_ref().ok_or(Refused::Closed)?;
        match tx.try_send(task) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(Refused::Full),
            Err(TrySendError::Disconnected(_)) => Err(Refused::Closed),
        }
    }

    /// Tasks waiting for a thread.
    pub fn queued(&self) -> usize {
        self.tx.as_ref().map_or(0, |t| t.len())
    }
}

impl Drop for DecodePool {
    /// Lets the threads finish what is queued, then joins them.
    fn drop(&mut self) {
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_at_once_and_a_panic_does_not_kill_the_worker() {
        let pool = DecodePool::new(1, 1).unwrap();
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        // Occupy the only thread until the gate opens.
        let first = pool
            .submit(move || {
                started_tx.send(()).unwrap();
                gate_rx.recv().unwrap();
                1
            })
            .unwrap();
        started_rx.recv().unwrap();
        let queued = pool.submit(|| panic!("decoder bug")).unwrap();
        assert_eq!(pool.submit(|| 3).unwrap_err(), Refused::Full);
        gate_tx.send(()).unwrap();
        assert_eq!(first.blocking_recv().unwrap(), 1);
        assert!(queued.blocking_recv().is_err());
        assert_eq!(pool.submit(|| 4).unwrap().blocking_recv().unwrap(), 4);
    }
}
