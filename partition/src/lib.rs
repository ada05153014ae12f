//! cirrus-partition owns distribution: which partition a partition key belongs to, the
//! Raft group behind every partition (openraft type config, the log store and the state
//! machine, both on the node's RocksDB), group commit of the Raft log, the table catalog,
//! and the [`Node`] that routes each command to its partition. It must never parse or
//! shape wire requests, and never write an item except by applying a committed Raft entry.

pub mod catalog;
pub mod command;
pub mod error;
pub mod hashing;
pub mod node;

mod group;
mod log_store;
mod meta_keys;
mod network;
mod raft_types;
mod state_machine;
mod wal_sync;

pub use catalog::{BillingMode, KeyAttribute, KeySchema, TableDescriptor, Throughput};
pub use error::PartitionError;
pub use node::{Node, NodeConfig, Table};
