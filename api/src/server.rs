//! The HTTP server: one `POST /` endpoint speaking DynamoDB's JSON protocol.
//!
//! Every response, success or error, carries `x-amzn-RequestId` and `x-amz-crc32`
//! (the CRC32 of the body, which the SDKs verify).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures_util::FutureExt;
use tokio::net::TcpListener;

use crate::dispatch::dispatch;
use crate::error::ApiError;
use crate::state::ApiState;

/// DynamoDB's largest request (a full BatchWriteItem) is 16 MB; leave room for JSON.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024 + 64 * 1024;

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", post(handle).get(health))
        .with_state(state)
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<ApiState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// DynamoDB answers a plain GET on its endpoint with a health line; load balancers and
/// some tools rely on that.
async fn health(State(state): State<Arc<ApiState>>) -> String {
    format!("healthy: dynamodb.{}.amazonaws.com ", state.region)
}

async fn handle(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return respond(Err(ApiError::validation(
                "Request size exceeded the maximum allowed request size",
            )))
        }
    };
    // A bug must cost one request a 500, never the connection or the server.
    let outcome = AssertUnwindSafe(dispatch(&state, &target, &body))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(ApiError::Internal("Internal server error".into())));
    respond(outcome)
}

/// Shapes a handler's outcome into DynamoDB's response.
pub fn respond(outcome: Result<Vec<u8>, ApiError>) -> Response {
    let (status, body) = match outcome {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => {
            if let ApiError::Internal(message) = &error {
                tracing::error!(%message, "internal error");
            }
            (error.status(), error.to_body())
        }
    };
    let crc = crc32fast::hash(&body);
    let mut response = Response::new(Body::from(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert("x-amz-crc32", HeaderValue::from(crc));
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
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
