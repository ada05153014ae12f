//! Blocking RocksDB work off the async workers.
//!
//! The server's runtime has one worker thread per core. A Query or Scan page, a batch of
//! point reads or a stream shard read can keep a thread busy for as long as its reads
//! take; on a worker, every request queued behind it (and every connection that worker
//! serves) waits that long. Such work runs on tokio's blocking pool instead, where
//! threads are added as needed, so one slow read holds only its own thread.

use crate::error::ApiError;

/// Runs `work` on the blocking pool and waits for it without holding a worker.
///
/// `spawn_blocking` rather than `block_in_place`: the work takes its inputs by value (an
/// `Arc` of the state and the parsed request), so nothing borrowed has to cross, and
/// `block_in_place` would also panic on a current-thread runtime and leave the worker's
/// other tasks to be moved away first.
pub async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        // A panic in `work` must cost its request a 500, never the server; the panic
        // itself is reported by the panic hook.
        .unwrap_or_else(|_| Err(ApiError::Internal("Internal server error".into())))
}
