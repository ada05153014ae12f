//! The HTTP layer around the API, as DynamoDB's endpoint behaves: content codings
//! (`encoding`), CORS (`cors`), the body types it takes (`content_type`), the health
//! check, its 404, and the headers every response carries (`x-amzn-RequestId`, `Server`,
//! and `x-amz-crc32`: the CRC32 of the body's bytes as sent, which the SDKs verify).

pub mod content_type;
pub mod cors;
pub mod encoding;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use crate::blocking::run_blocking;
use crate::error::ApiError;
use content_type::BodyType;
use encoding::Coding;

/// DynamoDB's `Server` header.
const SERVER: &str = "Server";

/// DynamoDB's answer to what is not an API request (another method, a body of another
/// type): a 404 with this body (dynalite's tests, checked against DynamoDB).
const NOT_FOUND_BODY: &str = "<UnknownOperationException/>\n";

pub fn too_large() -> ApiError {
    ApiError::RequestTooLarge("Request size exceeded the maximum allowed request size".into())
}

/// How a request wants its API response: the body type it sent and the coding it
/// accepts.
pub struct Reply {
    pub body_type: BodyType,
    pub coding: Option<Coding>,
}

/// DynamoDB's response to an API request: the JSON body (compressed when the client
/// accepts it and it is large enough), its type, and its CRC32.
pub async fn api_response(outcome: Result<Vec<u8>, ApiError>, reply: &Reply) -> Response {
    let (status, body) = match outcome {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => {
            if let ApiError::Internal(message) = &error {
                tracing::error!(%message, "internal error");
            }
            (error.status(), error.to_body())
        }
    };
    let coding = reply
        .coding
        .filter(|_| body.len() >= encoding::COMPRESS_FROM_BYTES);
    let body = match coding {
        None => Ok(body),
        Some(coding) if body.len() > encoding::OFF_WORKER_BYTES => {
            run_blocking(move || encoding::encode(&body, coding)).await
        }
        Some(coding) => encoding::encode(&body, coding),
    };
    let (status, body, coding) = match body {
        Ok(body) => (status, body, coding),
        Err(error) => (error.status(), error.to_body(), None),
    };
    let mut response = with_crc(status, body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.body_type.response_type()),
    );
    if let Some(coding) = coding {
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.name()),
        );
    }
    response
}

/// A response of `body`, with its CRC32.
fn with_crc(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let body = body.into();
    let crc = crc32fast::hash(&body);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("x-amz-crc32", HeaderValue::from(crc));
    response
}

/// DynamoDB's answer to a `GET /`: a health line naming the host the client asked for.
pub fn health(request: &HeaderMap, default_host: impl FnOnce() -> String) -> Response {
    let host = request
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map_or_else(default_host, str::to_string);
    with_crc(StatusCode::OK, format!("healthy: {host} "))
}

pub fn not_found() -> Response {
    with_crc(StatusCode::NOT_FOUND, NOT_FOUND_BODY)
}

/// The headers every response carries: a request id, the `Server`, and CORS's when the
/// request came from another origin.
pub fn finish(response: &mut Response, cross_origin: bool) {
    if cross_origin {
        cors::allow(response);
    }
    let headers = response.headers_mut();
    headers.insert(header::SERVER, HeaderValue::from_static(SERVER));
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-amzn-requestid", id);
    }
}

/// DynamoDB's request ids are 52 upper-case alphanumerics.
fn request_id() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    let mut id = a;
    id.push_str(&b[..20]);
    id.make_ascii_uppercase();
    id
}
