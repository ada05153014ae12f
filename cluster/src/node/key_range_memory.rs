//! Key ranges outlive a restart: DynamoDB never merges the partitions a table's traffic
//! split it into, so neither may a restart, or a table scaled by its traffic would be
//! throttled afterwards where DynamoDB serves it. The count is written to `meta` when it
//! grew, at most once a second and at shutdown, without an fsync: a count lost to a
//! crash only means the table regrows it with its next burst of traffic.

use std::sync::Arc;
use std::time::Duration;

use cirrus_storage::engine::CF_META;

use crate::node::Node;
use cirrus_partition::error::PartitionError;
use cirrus_partition::meta_keys;

impl Node {
    /// Writes the key-range count of every table whose count grew since last time.
    pub fn remember_key_ranges(&self) -> Result<(), PartitionError> {
        for table in self.tables_snapshot() {
            if let Some(count) = table.capacity().unremembered_key_ranges() {
                let count = u32::try_from(count).unwrap_or(u32::MAX);
                self.engine().put(
                    CF_META,
                    &meta_keys::key_ranges(table.descriptor().table_id),
                    &count.to_be_bytes(),
                )?;
            }
        }
        Ok(())
    }

    /// The key-range count a table had when it was last remembered (0: none).
    pub(crate) fn remembered_key_ranges(
        engine: &cirrus_storage::engine::Engine,
        table_id: u32,
    ) -> Result<usize, PartitionError> {
        let stored = engine.get(CF_META, &meta_keys::key_ranges(table_id))?;
        Ok(stored
            .and_then(|bytes| <[u8; 4]>::try_from(&bytes[..]).ok())
            .map_or(0, |bytes| u32::from_be_bytes(bytes) as usize))
    }
}

/// Remembers key-range counts every `every` while the node lives.
pub fn spawn_remembering(node: Arc<Node>, every: Duration) {
    let node = Arc::downgrade(&node);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let Some(node) = node.upgrade() else { return };
            if let Err(e) = node.remember_key_ranges() {
                tracing::warn!("cannot remember key-range counts: {e}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::node::tests::test_descriptor;
    use crate::node::{Node, NodeConfig};

    async fn open(
        dir: &std::path::Path,
    ) -> Result<std::sync::Arc<Node>, cirrus_partition::PartitionError> {
        Node::open(NodeConfig {
            data_dir: dir.to_path_buf(),
            partitions_per_table: 1,
            item_collection_limit: u64::MAX,
            enforce_capacity: true,
            default_region: "us-east-1".into(),
            cluster: None,
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_keeps_its_key_ranges_across_a_restart(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let node = open(dir.path()).await?;
        node.create_table(test_descriptor("hot", "us-east-1"))
            .await?;
        let table = node.table("us-east-1", "hot")?;
        let initial = table.capacity().key_range_count();
        // A second of 20,000 write units: once it has ended, DynamoDB splits to serve
        // twice that.
        table.capacity().charge_write(7, 20_000.0, &[]);
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            table.capacity().charge_write(7, 1.0, &[]);
            if table.capacity().key_range_count() > initial {
                break;
            }
        }
        let grown = table.capacity().key_range_count();
        assert!(
            grown > initial,
            "{grown} ranges after the burst, {initial} before"
        );
        node.remember_key_ranges()?;
        node.shutdown().await?;
        drop((node, table));

        let node = open(dir.path()).await?;
        let table = node.table("us-east-1", "hot")?;
        assert_eq!(table.capacity().key_range_count(), grown);
        node.shutdown().await?;
        Ok(())
    }
}
