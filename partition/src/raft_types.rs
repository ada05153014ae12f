//! The openraft type configuration shared by every partition's Raft group.

use crate::command::{ApplyOutcome, Proposal};

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Proposal,
        R = ApplyOutcome,
        // A snapshot is a file (see `state_machine/snapshot.rs`), streamed, never held
        // in memory whole.
        SnapshotData = tokio::fs::File,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type RaftStorageError = openraft::StorageError<NodeId>;

/// The id of this node in every group: a single node until clustering lands.
pub const LOCAL_NODE_ID: NodeId = 1;

pub(crate) fn io_error(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    error: impl std::error::Error + 'static,
) -> RaftStorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&error)).into()
}
