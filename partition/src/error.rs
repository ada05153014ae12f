//! Failures of the distribution layer, as `api` needs to tell them apart.

use cirrus_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("table not found: {0}")]
    TableNotFound(String),
    #[error("table already exists: {0}")]
    TableExists(String),
    #[error("index not found: {0}")]
    IndexNotFound(String),
    #[error("raft: {0}")]
    Raft(String),
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    /// The data directory belongs to another node (or to the single node).
    #[error("{0}")]
    WrongNode(String),
    /// A catalog change found a record it relied on changed by another one meanwhile.
    #[error("the catalog changed meanwhile; retry")]
    CatalogConflict,
    /// A membership change that would break the cluster (or names no member).
    #[error("{0}")]
    MembershipRefused(String),
    /// A parallel Scan was to resume after a key its segment never reads.
    #[error("exclusive start key outside segment {segment} of {total_segments}")]
    StartKeyOutsideSegment { segment: u32, total_segments: u32 },
}

impl PartitionError {
    pub fn raft(error: impl std::fmt::Display) -> Self {
        PartitionError::Raft(error.to_string())
    }
}
