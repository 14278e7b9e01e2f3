//! `POST /v1/models/{name}/predict`: admitted (or 503 at once), body read, images decoded on
//! the pool with the model's own preprocessing (the one `graft predict` uses), queued for the
//! model's thread (or 503 at once), answered with the top classes of each image.
use super::api::{ApiError, ImageAnswer, Note, json_with_note};
use super::app::App;
use super::body::{self, Upload};
use super::decode::Refused;
use super::models::ServedModel;
use super::worker::{Decoding, Job};
use crate::data::images::Preprocess;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// The query string.
#[derive(Debug, Deserialize)]
pub struct PredictQuery {
    /// Classes per image.
    pub top_k: Option<usize>,
}

/// The handler.
pub async fn predict(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    req: Request,
) -> Response {
    let start = Instant::now();
    let Some(model) = app.model(&name).cloned() else {
        return app.no_model(&name).into_response();
    };
    match answer(&app, &model, query, req, start).await {
        Ok(r) => r,
        Err(e) => e.for_model(&name).into_response(),
    }
}

async fn answer(
    app: &App,
    model: &ServedModel,
    query: Result<Query<PredictQuery>, QueryRejection>,
    req: Request,
    start: Instant,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let top_k = query.top_k.unwrap_or(app.limits.default_top_k);
    if top_k == 0 {
        return Err(ApiError::bad_request("top_k must be at least 1"));
    }
    let overloaded = |bound: &str, message: &str| {
        app.metrics
            .overloaded
            .with_label_values(&[model.name(), bound])
            .inc();
        ApiError::overloaded(message)
    };
    let Some(preprocess) = model.preprocess() else {
        return Err(overloaded("loading", "the model is still loading"));
    };
    let _permit = app
        .admission
        .try_acquire()
        .map_err(|_| overloaded("in_flight", "too many requests in flight (--max-in-flight)"))?;
    let limits = &app.limits;
    let uploads = body::read(req, limits.max_images, limits.max_body).await?;
    // Under overload most requests meet a full queue: refuse them before decoding (the send
    // below enforces the bound; this saves the work). The body is read first: answering
    // before it arrives would make the connection close on unread bytes, a reset for the client.
    if model.queued() >= limits.queue {
        return Err(overloaded("queue", "the model's queue is full"));
    }
    let parts: Vec<Option<String>> = uploads.iter().map(|u| u.part.clone()).collect();
    let decoding = Decoding::start(&model.decoding);
    let images = decode_all(app, model, preprocess, uploads)
        .await
        .map_err(|e| match e {
            DecodeError::Busy => overloaded("decode", "the decoding queue is full"),
            DecodeError::Bad(message) => ApiError::bad_request(message),
        })?;
    let count = images.len();
    let (reply, answer) = oneshot::channel();
    model
        .enqueue(Job {
            images,
            top_k: top_k.min(model.class_count()),
            reply,
        })
        .map_err(|r| match r {
            Refused::Full => overloaded("queue", "the model's queue is full"),
            Refused::Closed => ApiError::overloaded("shutting down"),
        })?;
    drop(decoding);
    let predictions = answer
        .await
        .map_err(|_| internal("the model's thread stopped"))?
        .map_err(internal)?;
    let elapsed_ms = (start.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    let mut answers = parts
        .into_iter()
        .zip(predictions)
        .map(|(part, predictions)| ImageAnswer {
            part,
            model: model.name().to_string(),
            predictions,
            elapsed_ms,
        });
    let note = Note {
        model: Some(model.name().to_string()),
        images: count,
        error: None,
    };
    Ok(match (count, answers.next()) {
        (1, Some(one)) if one.part.is_none() => json_with_note(one, note),
        (_, first) => json_with_note(first.into_iter().chain(answers).collect::<Vec<_>>(), note),
    })
}

fn internal(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
}

enum DecodeError {
    Busy,
    Bad(String),
}

/// Decodes every image on the pool (all queued first, so they decode in parallel), in order.
async fn decode_all(
    app: &App,
    model: &ServedModel,
    preprocess: Preprocess,
    uploads: Vec<Upload>,
) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut pending = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let label = upload.label();
        let task = {
            let label = label.clone();
            move || {
                let bytes = upload.content.into_bytes(&label)?;
                preprocess
                    .load_bytes(&bytes, &label)
                    .map_err(|e| format!("{e:#}"))
            }
        };
        let rx = app.decode.submit(task).map_err(|_| DecodeError::Busy)?;
        pending.push((label, rx));
    }
    let (decoded, rejected) = (
        app.metrics
            .images_decoded
            .with_label_values(&[model.name()]),
        app.metrics
            .images_rejected
            .with_label_values(&[model.name()]),
    );
    let mut out = Vec::with_capacity(pending.len());
    for (label, rx) in pending {
        let result = rx
            .await
            .unwrap_or_else(|_| Err(format!("{label}: the decoder failed on this image")));
        match result {
            Ok(pixels) => {
                decoded.inc();
                out.push(pixels);
            }
            Err(message) => {
                rejected.inc();
                return Err(DecodeError::Bad(message));
            }
        }
    }
    Ok(out)
}
