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
use axum::serve::{Listener, ListenerExt};
use axum::Router;
use futures_util::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::dispatch::dispatch;
use crate::error::ApiError;
use crate::state::ApiState;

/// DynamoDB's largest request (a full BatchWriteItem) is 16 MB; leave room for JSON.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024 + 64 * 1024;

/// By default the server works on two of the largest requests at once, or more smaller
/// ones.
pub const DEFAULT_REQUEST_BYTES_IN_FLIGHT: usize = 2 * MAX_REQUEST_BYTES;

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// `request_bytes_in_flight` bounds the request bodies being worked on at once, across
/// all connections: a body grows about fifty-fold as it becomes a `serde_json::Value`,
/// so concurrent large requests must not all expand at the same time.
pub fn router(state: Arc<ApiState>, request_bytes_in_flight: usize) -> Router {
    let budget = Arc::new(BodyBudget::new(request_bytes_in_flight));
    let post_handler = move |State(state): State<Arc<ApiState>>, request: Request| {
        let budget = budget.clone();
        async move { handle(&state, &budget, request).await }
    };
    Router::new()
        .route("/", post(post_handler).get(health))
        .with_state(state)
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<ApiState>,
    request_bytes_in_flight: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(no_delay(listener), router(state, request_bytes_in_flight))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Sends every response as soon as it is written: with Nagle's algorithm a response's
/// last segment would wait for the client to acknowledge the one before it.
fn no_delay(listener: TcpListener) -> impl Listener<Io = TcpStream, Addr = std::net::SocketAddr> {
    listener.tap_io(|stream: &mut TcpStream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
        }
    })
}

/// Request-body bytes being worked on: a body takes its length in permits once it has
/// arrived and holds them until its response is built.
struct BodyBudget {
    semaphore: Semaphore,
    total: u32,
}

impl BodyBudget {
    fn new(bytes: usize) -> Self {
        let total = u32::try_from(bytes.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        BodyBudget {
            semaphore: Semaphore::new(total as usize),
            total,
        }
    }

    /// Waits until `length` bytes fit; a body larger than the whole budget waits for all
    /// of it.
    async fn admit(&self, length: usize) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        let permits = u32::try_from(length).map_or(self.total, |n| n.min(self.total));
        self.semaphore
            .acquire_many(permits)
            .await
            .map_err(|_| ApiError::Internal("the request budget is closed".into()))
    }
}

/// DynamoDB answers a plain GET on its endpoint with a health line; load balancers and
/// some tools rely on that.
async fn health(State(state): State<Arc<ApiState>>) -> String {
    format!("healthy: dynamodb.{}.amazonaws.com ", state.region)
}

async fn handle(state: &Arc<ApiState>, budget: &BodyBudget, request: Request) -> Response {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refused before a byte of it is read.
    if declared.is_some_and(|length| length > MAX_REQUEST_BYTES as u64) {
        return respond(Err(too_large()));
    }
    // The body itself is read as it arrives, so a slow client holds only what it sent and
    // no budget; the budget covers what parsing makes of it.
    let body = match axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => return respond(Err(too_large())),
    };
    let _admitted = match budget.admit(body.len()).await {
        Ok(permit) => permit,
        Err(error) => return respond(Err(error)),
    };
    // Tests hold admitted requests here to count how many the budget lets in at once.
    cirrus_partition::failpoint::pause_point("request_admitted").await;
    // A bug must cost one request a 500, never the connection or the server.
    let outcome = AssertUnwindSafe(dispatch(state, &target, &body))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(ApiError::Internal("Internal server error".into())));
    respond(outcome)
}

fn too_large() -> ApiError {
    ApiError::RequestTooLarge("Request size exceeded the maximum allowed request size".into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_without_delay() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let mut listener = no_delay(listener);
        let _client = TcpStream::connect(address).await?;
        let (accepted, _) = listener.accept().await;
        assert!(
            accepted.nodelay()?,
            "TCP_NODELAY on the accepted connection"
        );
        Ok(())
    }

    #[tokio::test]
    async fn bodies_wait_for_room_in_the_budget() {
        let budget = BodyBudget::new(100);
        let first = budget.admit(60).await.expect("room for 60 bytes");
        assert!(
            budget.semaphore.try_acquire_many(41).is_err(),
            "60 of 100 bytes are in use"
        );
        // A body larger than the whole budget waits for all of it.
        let waiting = budget.admit(1_000);
        tokio::pin!(waiting);
        assert!(waiting.as_mut().now_or_never().is_none(), "it waits");
        drop(first);
        let all = waiting.await.expect("the whole budget");
        assert_eq!(all.num_permits(), 100);
    }
}
