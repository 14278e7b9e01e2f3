//! The state every request handler shares: the models, the decoding pool, the limits, the
//! metrics, the log and the token.
use super::api::ApiError;
use super::config::Limits;
use super::decode::DecodePool;
use super::log::Log;
use super::models::ServedModel;
use super::prometheus::ServeMetrics;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// The service's shared state.
pub struct App {
    /// The models, in the order given.
    pub models: Vec<Arc<ServedModel>>,
    /// Image decoding.
    pub decode: DecodePool,
    /// Bounds on work and memory.
    pub limits: Limits,
    /// Metrics.
    pub metrics: ServeMetrics,
    /// The log.
    pub log: Log,
    /// Predict requests admitted at once ([`Limits::max_in_flight`] permits).
    pub admission: Semaphore,
    token: Option<[u8; 32]>,
}

impl App {
    /// The state of a service; `token` is the bearer token `/v1/` requires.
    pub fn new(
        models: Vec<Arc<ServedModel>>,
        limits: Limits,
        metrics: ServeMetrics,
        log: Log,
        token: Option<&str>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            decode: DecodePool::new(limits.decode_workers, limits.decode_queue)?,
            admission: Semaphore::new(limits.max_in_flight),
            models,
            limits,
            metrics,
            log,
            token: token.map(digest),
        })
    }

    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&Arc<ServedModel>> {
        self.models.iter().find(|m| m.name() == name)
    }

    /// The 404 for a model not served here.
    pub fn no_model(&self, name: &str) -> ApiError {
        let names: Vec<&str> = self.models.iter().map(|m| m.name()).collect();
        let message = format!("no model named '{name}' (serving: {})", names.join(", "));
        ApiError::new(axum::http::StatusCode::NOT_FOUND, message)
    }

    /// Whether an `Authorization` header value carries the token (always true without one).
    /// Both sides are hashed first, so the constant-time comparison also hides the length.
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        match authorization.and_then(|h| h.strip_prefix(b"Bearer ")) {
            Some(offered) => bool::from(digest_bytes(offered).ct_eq(token)),
            None => false,
        }
    }

    /// Whether every model is loaded and warm.
    pub fn ready(&self) -> bool {
        self.models.iter().all(|m| m.is_ready())
    }
}

fn digest(token: &str) -> [u8; 32] {
    digest_bytes(token.as_bytes())
}

fn digest_bytes(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
