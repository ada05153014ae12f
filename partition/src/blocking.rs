//! RocksDB calls that can block for long — an fsync, a write stall while compaction
//! catches up, reads that miss the block cache — must not hold a tokio worker: the
//! server runs one worker per core, so a few such calls would freeze every other
//! request on the node.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs owned `work` on tokio's blocking pool and waits for it. A panic in `work`
/// resumes in the caller, as if it had run here.
pub async fn run<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs `work`, which borrows from the caller, after handing this worker's other tasks
/// to another thread (`block_in_place`), so they go on while `work` blocks. A
/// single-threaded runtime (unit tests) has no other thread to hand them to: `work`
/// then simply runs.
pub fn in_place<R>(work: impl FnOnce() -> R) -> R {
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
