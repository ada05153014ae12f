//! cirrus-partition owns distribution: which partition a partition key belongs to, the
//! Raft group behind every partition (openraft type config, the log store and the state
//! machine, both on the node's RocksDB, and its network over an object-safe `PeerLink`
//! that the cluster's transport implements), group commit and write batching, the table
//! catalog and the metadata group that replicates it, the [`Node`] that routes each
//! command to its partition's leader, the coordinator of transactions across
//! partitions, index and TTL background jobs, and capacity units and their token
//! buckets. It must never parse or shape wire requests, and never write an item except
//! by applying a committed Raft entry.

// openraft's storage traits fix `StorageError` (about 200 bytes) as their error type;
// our helpers return the same type rather than boxing and unboxing at every call.
#![allow(clippy::result_large_err)]

mod blocking;
pub mod capacity;
pub mod catalog;
mod catalog_follower;
pub mod change_reader;
mod client_tokens;
pub mod command;
pub mod error;
pub mod failpoint;
pub mod hashing;
mod index_jobs;
pub mod node;
pub mod node_report;
pub mod scan;
pub mod transactions;
pub mod ttl;
mod tx_recovery;

pub mod group;
mod key_layout;
mod log_store;
mod member_registry;
pub mod membership;
pub mod meta_keys;
mod metadata;
pub mod network;
pub mod placement;
pub mod raft_types;
mod read_index;
mod reads;
mod regions;
mod replica_moves;
mod state_machine;
pub mod stream_owners;
mod table_jobs;
mod table_removal;
pub mod wal_sync;
pub mod write_schema;

pub use catalog::{
    BillingMode, IndexDescriptor, IndexKind, IndexSpec, IndexStatus, KeyAttribute, KeySchema,
    Projected, StreamDescriptor, TableDescriptor, Throughput, ViewType,
};
pub use client_tokens::ClaimOutcome;
pub use command::{
    ApplyOutcome, Command, Proposal, Rejection, TxAction, TxFailure, TxToken, TxWrite, WantedImages,
};
pub use error::PartitionError;
pub use membership::ClusterMembership;
pub use node::{ItemLocation, Node, NodeConfig, ReadTarget, Table};
pub use scan::{ScanResume, Scanned};
pub use state_machine::Counts;
