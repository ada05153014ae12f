//! Strongly consistent reads on a node whose partitions have replicas elsewhere: before
//! an operation reads with strong consistency, it confirms the partitions it is about to
//! read (`Node::read_barrier`) — only those, so a GetItem costs one read-index round of
//! one group, shared with the other reads of that group. Eventually consistent reads,
//! and every read of the embedded single node, go straight to the local replica.

use cirrus_cluster::Table;

use crate::error::ApiError;
use crate::state::ApiState;

/// Confirms `partitions` of `table` when `strong`, from an async operation.
pub async fn confirm(
    state: &ApiState,
    table: &Table,
    strong: bool,
    partitions: impl IntoIterator<Item = u16>,
) -> Result<(), ApiError> {
    if strong {
        state.node.read_barrier(table, partitions).await?;
    }
    Ok(())
}

/// Confirms `partitions` of `table` when `strong`, from a read running on the blocking
/// pool (whose threads may wait on the runtime).
pub fn confirm_blocking(
    state: &ApiState,
    table: &Table,
    strong: bool,
    partitions: impl IntoIterator<Item = u16>,
) -> Result<(), ApiError> {
    if !strong || !state.node.is_replicated() {
        return Ok(());
    }
    tokio::runtime::Handle::current().block_on(state.node.read_barrier(table, partitions))?;
    Ok(())
}
