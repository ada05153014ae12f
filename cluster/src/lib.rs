//! Cirrus clustering. Today this crate owns the node-to-node transport — authenticated,
//! multiplexed request/response RPCs between the nodes of one cluster, carrying opaque
//! bytes for any number of Raft groups over one long-lived connection per lane and peer
//! — and the link every Raft group reaches its peers through (`raft`: the `PeerLink` of
//! `cirrus-partition`'s groups, and the service delivering peers' calls). The
//! transport must never know what it carries (no openraft types, no storage), and
//! nothing here may panic, allocate unboundedly or queue without a bound on anything a
//! peer sends. It never applies a write itself: replicas do, through their Raft groups.

pub mod raft;
pub mod transport;

pub use transport::{
    ClusterSecret, ConfigError, FaultRule, Faults, GroupId, Handler, Lane, NodeId, Refusal,
    RemoteError, RemoteErrorKind, Transport, TransportConfig, TransportError,
};
