//! The images of a predict request, by its Content-Type: raw bytes (`image/*`,
//! `application/octet-stream`, or none), several as `multipart/form-data` (kept in part order
//! with their part names), or JSON `{"image_base64": "..."}`. Bodies are bytes only: nothing
//! in a request can name a file on the server.
use super::api::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use serde::Deserialize;

/// One image as it came.
pub enum Content {
    /// The encoded image.
    Bytes(Bytes),
    /// The encoded image in base64 (decoded off the async threads, by [`Content::into_bytes`]).
    Base64(String),
}

impl Content {
    /// The encoded image; `name` is used in errors.
    pub fn into_bytes(self, name: &str) -> Result<Bytes, String> {
        match self {
            Content::Bytes(b) => Ok(b),
            Content::Base64(s) => {
                // A data URL's header, and line breaks of MIME-style base64, are not data.
                let data = s.split_once(";base64,").map_or(s.as_str(), |(_, d)| d);
                let clean: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                STANDARD_PAD_INDIFFERENT
                    .decode(clean)
                    .map(Bytes::from)
                    .map_err(|e| format!("{name}: image_base64 is not valid base64 ({e})"))
            }
        }
    }
}

/// One image of a request, with the name its errors use.
pub struct Upload {
    /// The multipart part's name (None for a single image).
    pub part: Option<String>,
    /// The image.
    pub content: Content,
}

impl Upload {
    /// How errors name this image: `part 'x'`, or `image`.
    pub fn label(&self) -> String {
        match &self.part {
            Some(p) => format!("part '{p}'"),
            None => "image".into(),
        }
    }
}

#[derive(Deserialize)]
struct JsonImage {
    image_base64: String,
}

/// The images of `req` (at most `max_images`); `max_body` is named in the 413's message.
pub async fn read(
    req: Request,
    max_images: usize,
    max_body: usize,
) -> Result<Vec<Upload>, ApiError> {
    let kind = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let single = |content| {
        vec![Upload {
            part: None,
            content,
        }]
    };
    match kind.as_deref() {
        Some("multipart/form-data") => multipart(req, max_images, max_body).await,
        Some("application/json") => {
            let bytes = bytes(req, max_body).await?;
            let body: JsonImage = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::bad_request(format!(
                    "a JSON body must be {{\"image_base64\": \"...\"}} ({e})"
                ))
            })?;
            Ok(single(Content::Base64(body.image_base64)))
        }
        None | Some("application/octet-stream") => {
            Ok(single(Content::Bytes(bytes(req, max_body).await?)))
        }
        Some(k) if k.starts_with("image/") => {
            Ok(single(Content::Bytes(bytes(req, max_body).await?)))
        }
        Some(k) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {k} is not accepted: send the image as image/* or application/octet-stream, several as multipart/form-data, or JSON {{\"image_base64\": \"...\"}}"
            ),
        )),
    }
}

/// The whole body, up to the limit.
async fn bytes(req: Request, max_body: usize) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, &())
        .await
        .map_err(|r| body_error(r.status(), r.body_text(), max_body))
}

/// The parts in order, each named (`part1`, `part2`... when the client gave no name).
async fn multipart(
    req: Request,
    max_images: usize,
    max_body: usize,
) -> Result<Vec<Upload>, ApiError> {
    let mut form = Multipart::from_request(req, &())
        .await
        .map_err(|r| body_error(r.status(), r.body_text(), max_body))?;
    let mut out = Vec::new();
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| body_error(e.status(), e.body_text(), max_body))?;
        let Some(field) = field else { break };
        if out.len() == max_images {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("more than {max_images} images in one request (--max-images)"),
            ));
        }
        let part = field
            .name()
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("part{}", out.len() + 1), str::to_string);
        let data = field
            .bytes()
            .await
            .map_err(|e| body_error(e.status(), e.body_text(), max_body))?;
        out.push(Upload {
            part: Some(part),
            content: Content::Bytes(data),
        });
    }
    if out.is_empty() {
        return Err(ApiError::bad_request("the multipart body has no parts"));
    }
    Ok(out)
}

/// A body that could not be read: over the limit (413), or malformed (400).
fn body_error(status: StatusCode, text: String, max_body: usize) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            format!("request body over the limit of {max_body} bytes (--max-body)"),
        )
    } else {
        ApiError::new(status, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_accepts_data_urls_line_breaks_and_missing_padding() {
        let want = b"\x89PNG\r\n\x1a\n";
        for s in [
            "iVBORw0KGgo=",
            "iVBORw0KGgo",
            "data:image/png;base64,iVBO\nRw0KGgo=",
        ] {
            let got = Content::Base64(s.into()).into_bytes("image").unwrap();
            assert_eq!(&got[..], want, "{s}");
        }
        let err = Content::Base64("not base64!".into()).into_bytes("image");
        assert!(err.unwrap_err().contains("not valid base64"));
    }
}
