//! What the sweeper needs from the node it runs on, and nothing more: which expiring
//! partitions this node leads, its replicas' expiry index, and a way to propose a
//! guarded delete through a partition's Raft group. `cirrus-cluster`'s node provides it,
//! so this crate depends on no node, and the partition state machine can keep the
//! expiry index with this crate's definitions (`index`) in the same batch as each write.

use std::future::Future;

use cirrus_storage::engine::Engine;
use cirrus_storage::StorageError;

/// A partition of a table with TTL enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiringPartition {
    pub table_id: u32,
    pub partition: u16,
}

pub trait ExpiryHost: Send + Sync + 'static {
    type Error: std::error::Error + From<StorageError> + Send;

    /// The partitions of tables with TTL enabled whose group this node leads, as far as
    /// it knows: only a partition's leader sweeps it (its other replicas would propose
    /// the same deletes again).
    fn led_expiring_partitions(&self) -> Vec<ExpiringPartition>;

    /// This node's RocksDB, where its replicas keep the expiry index: read-only here.
    fn engine(&self) -> &Engine;

    /// Proposes `Command::Expire` for the item at `key` (its full item key) through the
    /// partition's group: the state machine deletes it only if it still expires at
    /// `expiry`, at or before `now`.
    fn expire(
        &self,
        at: ExpiringPartition,
        key: Vec<u8>,
        expiry: u64,
        now: u64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
