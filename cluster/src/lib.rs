//! Cirrus clustering. Today this crate owns the node-to-node transport: authenticated,
//! multiplexed request/response RPCs between the nodes of one cluster, carrying opaque
//! bytes for any number of Raft groups over one long-lived connection per lane and peer.
//! It must never know what it carries: no openraft types, no storage, no other Cirrus
//! crate (the Raft network adapter lives above it), and it must never panic, allocate
//! unboundedly or queue without a bound on anything a peer sends.

pub mod transport;

pub use transport::{
    ClusterSecret, ConfigError, FaultRule, Faults, GroupId, Handler, Lane, NodeId, Refusal,
    RemoteError, RemoteErrorKind, Transport, TransportConfig, TransportError,
};
