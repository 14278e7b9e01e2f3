//! What the service answers: the JSON bodies, and errors as `{"error": "..."}` with the status
//! that says whose fault it is. Every answer carries a [`Note`] for the access log.
use crate::inference::predict::ClassProbability;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The predictions for one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageAnswer {
    /// The multipart part's name (absent for a single image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// The model that answered.
    pub model: String,
    /// The most probable classes, most probable first.
    pub predictions: Vec<ClassProbability>,
    /// Milliseconds from the request's arrival to this answer.
    pub elapsed_ms: f64,
}

/// What the access log records beyond method, path and status.
#[derive(Debug, Clone, Default)]
pub struct Note {
    /// The model addressed.
    pub model: Option<String>,
    /// Images in the request.
    pub images: usize,
    /// Why the request failed.
    pub error: Option<String>,
}

/// A request that cannot be answered as asked.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the client.
    pub message: String,
    /// Seconds to wait before trying again (503).
    pub retry_after: Option<u32>,
    /// The model addressed, for the log.
    pub model: Option<String>,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            model: None,
        }
    }

    /// 400: the request itself is wrong (an undecodable image, a bad parameter).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 503 with `Retry-After`: a bound was reached; the same request will work later.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    /// The same error, noting the model it concerns.
    pub fn for_model(mut self, model: &str) -> Self {
        self.model = Some(model.to_string());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response.extensions_mut().insert(Note {
            model: self.model,
            images: 0,
            error: Some(self.message),
        });
        response
    }
}

/// A JSON answer with its log note.
pub fn json_with_note(body: impl Serialize, note: Note) -> Response {
    let mut response = Json(body).into_response();
    response.extensions_mut().insert(note);
    response
}
