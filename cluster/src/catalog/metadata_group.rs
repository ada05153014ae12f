//! The metadata group on this node: the Raft group whose state is the catalog (the
//! `meta` records under `meta_keys::REPLICATED_PREFIXES`). Every catalog change is one
//! of its entries — a compare-and-set (`Command::Metadata`) — and every node reads the
//! catalog from its own applied copy. On the embedded single node the group has one
//! voter; a cluster's metadata group spans the first nodes (see `docs/cluster.md`).

use std::sync::Arc;

use cirrus_storage::engine::Engine;

use crate::node::Node;
use cirrus_partition::command::{Command, MetadataChange, Rejection};
use cirrus_partition::error::PartitionError;
use cirrus_partition::group::{RaftGroup, Replicas, METADATA_TABLE_ID};
use cirrus_partition::wal_sync::WalSyncer;
use cirrus_partition::write_schema::WriteSchema;

/// Opens this node's replica of the metadata group. The only replica waits until it has
/// applied its log, so the catalog in `meta` is current; in a cluster, the node follows
/// the catalog as its replica applies it (`follower.rs`).
pub(crate) async fn open_metadata_group(
    engine: Arc<Engine>,
    syncer: WalSyncer,
    replicas: Replicas,
) -> Result<RaftGroup, PartitionError> {
    RaftGroup::open(
        engine,
        syncer,
        METADATA_TABLE_ID,
        0,
        WriteSchema::metadata(),
        u64::MAX,
        replicas,
    )
    .await
}

impl Node {
    /// Changes the catalog: returns once the change is committed and applied here, or
    /// fails with `CatalogConflict` when a record it expected had changed meanwhile.
    pub async fn change_metadata(&self, change: MetadataChange) -> Result<(), PartitionError> {
        let outcome = self.metadata().propose(Command::Metadata(change)).await?;
        match outcome.rejection {
            // The leader applied it; this replica may not have yet, and the node reads
            // the catalog from its own replica (the next change compares with it).
            None => self.metadata().read_barrier().await,
            Some(Rejection::ConditionFailed) => Err(PartitionError::CatalogConflict),
            Some(other) => Err(PartitionError::Corrupt(format!(
                "the metadata group refused a change: {other:?}"
            ))),
        }
    }
}
