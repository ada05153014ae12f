//! cirrus-cluster owns what makes many partitions one database across nodes: the
//! [`Node`] that opens this node's replicas and routes each request to its partition's
//! leader (forwarding through the transport when that is another node), the metadata
//! group that replicates the catalog and the members, placement and the replica moves
//! that follow membership changes, the catalog's background jobs (index backfills,
//! table removal), the coordinator of transactions across partitions and its recovery,
//! and the node-to-node transport — authenticated, multiplexed request/response RPCs
//! carrying opaque bytes for every Raft group over one long-lived connection per lane
//! and peer. It never applies a write itself (replicas do, through `cirrus-partition`'s
//! state machine), never parses or shapes wire requests, and nothing here may panic,
//! allocate unboundedly or queue without a bound on anything a peer sends.

// openraft's storage traits fix `StorageError` (about 200 bytes) as their error type;
// the node's helpers pass the same type through.
#![allow(clippy::result_large_err)]

mod catalog;
pub mod membership;
pub mod node;
pub mod raft;
pub mod transactions;
pub mod transport;

pub use catalog::retired_streams::StreamOwner;
pub use membership::ClusterMembership;
pub use node::key_range_memory::spawn_remembering;
pub use node::scan::{ScanResume, Scanned};
pub use node::{ItemLocation, Node, NodeConfig, ReadTarget, Table};
pub use transactions::client_tokens::ClaimOutcome;
pub use transport::{
    ClusterSecret, ConfigError, FaultRule, Faults, GroupId, Handler, Lane, NodeId, Refusal,
    RemoteError, RemoteErrorKind, Transport, TransportConfig, TransportError,
};
