//! A cluster node follows the catalog as its replica of the metadata group applies it:
//! it opens its replicas of the tables other nodes create, takes up their descriptor
//! changes, and drops its replicas (and their data) of the tables they delete. The node
//! that makes a change does all of this itself, before its request returns.

use std::sync::Arc;

use crate::node::{read_catalog, Node, Table};
use cirrus_partition::blocking;
use cirrus_partition::error::PartitionError;
use cirrus_partition::table_removal::{remove_deleted_tables_data, remove_table_data};

impl Node {
    /// Brings the live tables in line with the catalog this node has applied.
    pub(crate) async fn follow_catalog(&self) -> Result<(), PartitionError> {
        self.learn_peer_addresses()?;
        let _guard = self.catalog_changes().lock().await;
        let catalog = read_catalog(self.engine())?;
        let live = self.tables_snapshot();
        for descriptor in &catalog {
            let current = live
                .iter()
                .find(|table| table.descriptor.table_id == descriptor.table_id);
            match current {
                None => {
                    let table = Node::open_table(
                        self.engine(),
                        self.syncer(),
                        descriptor.clone(),
                        self.settings(),
                    )
                    .await?;
                    tracing::info!(table = %descriptor.name, "opened the replicas of a new table");
                    self.tables_write().insert(table);
                }
                Some(table) if table.descriptor != *descriptor => {
                    table.capacity.configure(descriptor);
                    self.tables_write().insert(Arc::new(Table {
                        descriptor: descriptor.clone(),
                        groups: table.groups.clone(),
                        capacity: table.capacity.clone(),
                    }));
                }
                Some(_) => {}
            }
        }
        let deleted = live.iter().filter(|table| {
            !catalog
                .iter()
                .any(|descriptor| descriptor.table_id == table.descriptor.table_id)
        });
        for table in deleted {
            let descriptor = &table.descriptor;
            self.tables_write()
                .remove(&descriptor.region, &descriptor.name);
            for group in table.groups.iter() {
                group.shutdown().await?;
            }
            let engine = self.engine().clone();
            let table_id = descriptor.table_id;
            blocking::run(move || remove_table_data(&engine, table_id)).await?;
            tracing::info!(table = %descriptor.name, "dropped the replicas of a deleted table");
        }
        // Tables deleted while this node was down or installing a snapshot, and the
        // change records of retired streams forgotten since.
        let engine = self.engine().clone();
        blocking::run(move || remove_deleted_tables_data(&engine)).await
    }
}

/// Follows the catalog each time the node's metadata replica applies entries, and
/// starts the catalog's jobs when the node comes to lead the metadata group, while the
/// node lives.
pub(crate) fn spawn_catalog_follower(node: &Arc<Node>) {
    let mut metrics = node.metadata().raft().metrics();
    let node = Arc::downgrade(node);
    tokio::spawn(async move {
        let mut followed = None;
        let mut led = false;
        while metrics.changed().await.is_ok() {
            let (applied, leads) = {
                let metrics = metrics.borrow();
                (metrics.last_applied, metrics.state.is_leader())
            };
            if applied == followed && leads == led {
                continue;
            }
            let Some(node) = node.upgrade() else { return };
            if applied != followed {
                if let Err(e) = node.follow_catalog().await {
                    tracing::warn!("cannot follow the catalog: {e}");
                }
            }
            (followed, led) = (applied, leads);
            node.start_table_jobs();
        }
    });
}
