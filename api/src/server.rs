//! The HTTP server: DynamoDB's endpoint. A `POST` (to any path) is an API request,
//! dispatched on `X-Amz-Target`; `GET /` is the health check; a CORS preflight is
//! answered; anything else gets DynamoDB's 404. The HTTP details live in `crate::http`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, Method};
use axum::response::Response;
use axum::serve::{Listener, ListenerExt};
use axum::Router;
use futures_util::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::blocking::run_blocking;
use crate::dispatch::dispatch;
use crate::error::ApiError;
use crate::http::content_type::BodyType;
use crate::http::encoding::{self, Coding};
use crate::http::{self as layer, cors, Reply};
use crate::region::{scoped_region, Region};
use crate::state::{ApiState, ServerState};

/// DynamoDB's largest request body: 16 MB, after any content coding is undone.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// By default the server works on two of the largest requests at once, or more smaller
/// ones.
pub const DEFAULT_REQUEST_BYTES_IN_FLIGHT: usize = 2 * MAX_REQUEST_BYTES;

/// `request_bytes_in_flight` bounds the request bodies being worked on at once, across
/// all connections: a body grows about fifty-fold as it becomes a `serde_json::Value`,
/// so concurrent large requests must not all expand at the same time.
pub fn router(state: Arc<ServerState>, request_bytes_in_flight: usize) -> Router {
    let budget = Arc::new(BodyBudget::new(request_bytes_in_flight));
    Router::new().fallback(move |request: Request| {
        let (state, budget) = (state.clone(), budget.clone());
        async move { handle(state, &budget, request).await }
    })
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<ServerState>,
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

async fn handle(state: Arc<ServerState>, budget: &BodyBudget, request: Request) -> Response {
    let cross_origin = cors::is_cross_origin(request.headers());
    let mut response = match (request.method(), request.uri().path()) {
        (&Method::POST, _) => api_request(state, budget, request).await,
        (&Method::GET, "/") => {
            let region = request_region(&state, &request).unwrap_or(state.default_region);
            layer::health(request.headers(), || {
                format!("dynamodb.{region}.amazonaws.com")
            })
        }
        (&Method::OPTIONS, _) if cross_origin => cors::preflight(request.headers()),
        _ => layer::not_found(),
    };
    layer::finish(&mut response, cross_origin);
    response
}

/// The region of a request: its credential scope's, or the server's default for an
/// unsigned request.
fn request_region(state: &ServerState, request: &Request) -> Result<Region, ApiError> {
    match scoped_region(request.headers(), request.uri().query()) {
        None => Ok(state.default_region),
        Some(name) => Region::new(name).ok_or_else(|| {
            ApiError::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{name}'. "
            ))
        }),
    }
}

async fn api_request(state: Arc<ServerState>, budget: &BodyBudget, request: Request) -> Response {
    let reply = Reply {
        body_type: BodyType::of(request.headers()),
        coding: encoding::response_coding(request.headers()),
    };
    let outcome = match read_body(&state, request).await {
        Ok(Some((api, target, body))) => admitted(api, budget, &target, body).await,
        Ok(None) => return layer::not_found(),
        Err(error) => Err(error),
    };
    layer::api_response(outcome, &reply).await
}

/// The request's state, target and decoded body; `None` when it is not an API request.
async fn read_body(
    state: &Arc<ServerState>,
    request: Request,
) -> Result<Option<(ApiState, String, Bytes)>, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refused before a byte of it is read.
    if declared.is_some_and(|length| length > MAX_REQUEST_BYTES as u64) {
        return Err(layer::too_large());
    }
    let region = request_region(state, &request)?;
    let body_type = BodyType::of(request.headers());
    let codings = encoding::request_codings(request.headers())?;
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // The body itself is read as it arrives, so a slow client holds only what it sent and
    // no budget; the budget covers what parsing makes of it.
    let body = axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES)
        .await
        .map_err(|_| layer::too_large())?;
    if !body_type.is_api_request(body.len()) {
        return Ok(None);
    }
    let body = decoded(body, codings).await?;
    Ok(Some((ApiState::new(state.clone(), region), target, body)))
}

/// The body with its content codings undone, never more than the largest request.
async fn decoded(body: Bytes, codings: Vec<Coding>) -> Result<Bytes, ApiError> {
    if codings.is_empty() {
        return Ok(body);
    }
    let decoded = if body.len() > encoding::OFF_WORKER_BYTES {
        run_blocking(move || encoding::decode(&body, &codings, MAX_REQUEST_BYTES)).await
    } else {
        encoding::decode(&body, &codings, MAX_REQUEST_BYTES)
    };
    decoded.map(Bytes::from)
}

/// Runs a request once its body fits the budget.
async fn admitted(
    state: ApiState,
    budget: &BodyBudget,
    target: &str,
    body: Bytes,
) -> Result<Vec<u8>, ApiError> {
    let _admitted = budget.admit(body.len()).await?;
    // Tests hold admitted requests here to count how many the budget lets in at once.
    cirrus_partition::failpoint::pause_point("request_admitted").await;
    // A bug must cost one request a 500, never the connection or the server.
    AssertUnwindSafe(dispatch(state, target, &body))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(ApiError::Internal("Internal server error".into())))
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
