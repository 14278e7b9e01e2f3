//! The HTTP routes: `/healthz`, `/readyz` and `/metrics` (open, for probes and scrapers), and
//! `/v1/models`, `/v1/models/{name}`, `/v1/models/{name}/predict` (behind the token when one
//! is set). Every route goes through [`middleware::observe`].
use super::api::{ApiError, Note, json_with_note};
use super::app::App;
use super::middleware;
use super::predict::predict;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;

/// The service's router.
pub fn router(app: Arc<App>) -> Router {
    let v1 = Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}", get(describe_model))
        .route("/v1/models/{name}/predict", post(predict))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(v1)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(app.limits.max_body))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::observe,
        ))
        .with_state(app)
}

/// Alive: the process answers.
async fn healthz() -> Response {
    json_with_note(json!({"status": "ok"}), Note::default())
}

/// Ready: every model loaded and warm (503 until then).
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let models: serde_json::Map<String, serde_json::Value> = app
        .models
        .iter()
        .map(|m| (m.name().to_string(), json!(m.is_ready())))
        .collect();
    let ready = app.ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ready { "ready" } else { "loading" }, "models": models});
    (status, json_with_note(body, Note::default())).into_response()
}

/// Prometheus text format.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    for m in &app.models {
        app.metrics
            .queue_depth
            .with_label_values(&[m.name()])
            .set(m.queued() as i64);
    }
    match app.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response()
        }
    }
}

async fn list_models(State(app): State<Arc<App>>) -> Response {
    let models: Vec<_> = app.models.iter().map(|m| m.description()).collect();
    json_with_note(json!({ "models": models }), Note::default())
}

async fn describe_model(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match app.model(&name) {
        Some(m) => json_with_note(
            m.description(),
            Note {
                model: Some(name),
                ..Note::default()
            },
        ),
        None => app.no_model(&name).into_response(),
    }
}

async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route: see /v1/models, /healthz, /readyz, /metrics",
    )
    .into_response()
}
