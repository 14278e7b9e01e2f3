//! What wraps every request: its id (the client's `X-Request-Id` when it sent a usable one),
//! the per-request timeout, the metrics and the access log line, also for a client that went
//! away before its answer; and the bearer-token check in front of `/v1/`.
use super::api::{ApiError, Note};
use super::app::App;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The request id header, set on every answer.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client's id when it is 1 to 128 visible ASCII characters, else a new random one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(
            || format!("{:032x}", rand::random::<u128>()),
            str::to_string,
        )
}

/// Methods as metric labels: anything unusual is `other`, so clients cannot grow the series.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

/// One request from arrival to answer. Dropped unfinished (the client disconnected, so hyper
/// dropped the handler), it is still counted and logged, with nginx's status 499.
struct Tracker {
    app: Arc<App>,
    start: Instant,
    route: String,
    method: &'static str,
    path: String,
    id: String,
    remote: Option<SocketAddr>,
    done: bool,
}

impl Tracker {
    fn finish(&mut self, status: u16, note: Option<&Note>) {
        self.done = true;
        let seconds = self.start.elapsed().as_secs_f64();
        let m = &self.app.metrics;
        m.requests
            .with_label_values(&[&self.route, self.method, &status.to_string()])
            .inc();
        m.latency.with_label_values(&[&self.route]).observe(seconds);
        let note = note.cloned().unwrap_or_default();
        let ms = (seconds * 1e4).round() / 10.0;
        self.app.log.line(
            "request",
            &[
                ("request_id", Value::from(self.id.as_str())),
                ("remote", self.remote.map(|a| a.to_string()).into()),
                ("method", Value::from(self.method)),
                ("path", Value::from(self.path.as_str())),
                ("status", Value::from(status)),
                ("ms", Value::from(ms)),
                ("model", note.model.into()),
                ("images", (note.images > 0).then_some(note.images).into()),
                ("error", note.error.into()),
            ],
        );
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if !self.done {
            self.finish(499, None);
        }
        self.app.metrics.in_flight.dec();
    }
}

/// Gives the request its id, bounds its time, and counts and logs its answer.
pub async fn observe(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let id = request_id(&req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let mut path = req.uri().path().to_string();
    path.truncate(256);
    app.metrics.in_flight.inc();
    let mut tracker = Tracker {
        start: Instant::now(),
        route,
        method: method_label(req.method().as_str()),
        path,
        id: id.clone(),
        remote: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
        done: false,
        app: app.clone(),
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    let timeout = app.limits.timeout;
    let mut response = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no answer within {} ms (--timeout)", timeout.as_millis()),
        )
        .into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, v);
    }
    tracker.finish(
        response.status().as_u16(),
        response.extensions().get::<Note>(),
    );
    response
}

/// Lets the request through only with `Authorization: Bearer <token>` (when a token is set).
pub async fn require_token(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let offered = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if app.authorized(offered) {
        return next.run(req).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token (Authorization: Bearer <token>)",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}
