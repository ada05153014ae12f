//! cirrus-partition owns one partition's replicated state: which partition a partition
//! key belongs to, the Raft group behind it (openraft type config, the log store and
//! the state machine, both on the node's RocksDB, and its network over an object-safe
//! `PeerLink` that the cluster's transport implements), group commit and write
//! batching, the commands a group applies (item writes, the transaction participant's
//! prepare and decide, catalog compare-and-sets for the metadata group), the table
//! descriptors those commands are checked against, and capacity units and their token
//! buckets. It must never route a request to another node or know the cluster's
//! members (that is `cirrus-cluster`'s), never parse or shape wire requests, and never
//! write an item except by applying a committed Raft entry.

// openraft's storage traits fix `StorageError` (about 200 bytes) as their error type;
// our helpers return the same type rather than boxing and unboxing at every call.
#![allow(clippy::result_large_err)]

pub mod blocking;
pub mod capacity;
pub mod catalog;
pub mod command;
pub mod error;
pub mod failpoint;
pub mod group;
pub mod hashing;
pub mod key_layout;
pub mod log_store;
pub mod meta_keys;
pub mod network;
pub mod raft_types;
pub mod read_index;
pub mod state_machine;
pub mod table_removal;
pub mod wal_sync;
pub mod write_schema;

pub use catalog::{
    BillingMode, IndexDescriptor, IndexKind, IndexSpec, IndexStatus, KeyAttribute, KeySchema,
    Projected, StreamDescriptor, TableDescriptor, Throughput, ViewType,
};
pub use command::{
    ApplyOutcome, Command, Proposal, Rejection, TxAction, TxFailure, TxToken, TxWrite, WantedImages,
};
pub use error::PartitionError;
pub use state_machine::Counts;
