//! Regions: each keeps its own namespace of tables, as DynamoDB's regions do. A table's
//! region is part of its descriptor (and of its catalog key), so two regions may hold
//! tables of the same name; table ids stay unique across the node.

use std::collections::BTreeMap;
use std::sync::Arc;

use cirrus_storage::engine::{prefix_end, Engine, CF_META};
use rocksdb::WriteBatch;

use crate::catalog::retired_streams::StreamOwner;
use crate::node::Table;
use cirrus_partition::catalog::TableDescriptor;
use cirrus_partition::error::PartitionError;
use cirrus_partition::meta_keys;

/// The live tables, by region and then by name (names in ascending order, as ListTables
/// pages them). Looking a table up borrows both names: no allocation per request.
#[derive(Default)]
pub(crate) struct LiveTables {
    by_region: BTreeMap<String, BTreeMap<String, Arc<Table>>>,
}

impl LiveTables {
    pub(crate) fn get(&self, region: &str, name: &str) -> Option<&Arc<Table>> {
        self.by_region.get(region)?.get(name)
    }

    /// Adds a table, or replaces the table of its region and name.
    pub(crate) fn insert(&mut self, table: Arc<Table>) {
        let descriptor = table.descriptor();
        let (region, name) = (descriptor.region.clone(), descriptor.name.clone());
        self.by_region
            .entry(region)
            .or_default()
            .insert(name, table);
    }

    pub(crate) fn remove(&mut self, region: &str, name: &str) {
        if let Some(tables) = self.by_region.get_mut(region) {
            tables.remove(name);
            if tables.is_empty() {
                self.by_region.remove(region);
            }
        }
    }

    /// The names of a region's tables, in ascending order.
    pub(crate) fn names(&self, region: &str) -> Vec<String> {
        self.by_region
            .get(region)
            .map(|tables| tables.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every live table, of every region.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.by_region.values().flat_map(BTreeMap::values)
    }
}

/// Gives the tables and retired streams recorded before regions existed to the default
/// region, in one synced batch: a crash leaves either every record as it was or every
/// record moved. Runs before the catalog is read.
pub(crate) fn assign_default_region(
    engine: &Engine,
    default_region: &str,
) -> Result<(), PartitionError> {
    let mut legacy_tables = Vec::new();
    let start = meta_keys::TABLE_PREFIX;
    engine.scan(CF_META, start, &prefix_end(start), |key, value| {
        legacy_tables.push((key.to_vec(), value.to_vec()));
        Ok(true)
    })?;
    let mut legacy_owners = Vec::new();
    let start = meta_keys::RETIRED_STREAMS_PREFIX;
    engine.scan(CF_META, start, &prefix_end(start), |key, value| {
        legacy_owners.push((key.to_vec(), value.to_vec()));
        Ok(true)
    })?;
    let corrupt = |e: serde_json::Error| PartitionError::Corrupt(e.to_string());
    let meta = engine.cf(CF_META)?;
    let mut batch = WriteBatch::default();
    for (key, bytes) in legacy_tables {
        let mut descriptor: TableDescriptor = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if !descriptor.region.is_empty() {
            continue;
        }
        descriptor.region = default_region.to_string();
        batch.delete_cf(meta, key);
        batch.put_cf(
            meta,
            meta_keys::table(&descriptor.region, &descriptor.name),
            serde_json::to_vec(&descriptor).map_err(corrupt)?,
        );
    }
    for (key, bytes) in legacy_owners {
        let mut owner: StreamOwner = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if !owner.region.is_empty() {
            continue;
        }
        owner.region = default_region.to_string();
        batch.put_cf(meta, key, serde_json::to_vec(&owner).map_err(corrupt)?);
    }
    if !batch.is_empty() {
        tracing::info!(
            records = batch.len(),
            region = default_region,
            "assigning tables created before regions to the default region"
        );
        engine.write_synced(batch)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::node::tests::test_descriptor as descriptor;
    use crate::node::{Node, NodeConfig};

    /// Retries while the previous instance's tasks still hold RocksDB.
    async fn retrying<T, F: std::future::Future<Output = Result<T, PartitionError>>>(
        mut open: impl FnMut() -> F,
    ) -> Result<T, PartitionError> {
        let mut attempts = 0;
        loop {
            match open().await {
                Err(PartitionError::Storage(_)) if attempts < 50 => attempts += 1,
                outcome => return outcome,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn open(dir: &Path, default_region: &str) -> Result<Arc<Node>, PartitionError> {
        retrying(|| {
            Node::open(NodeConfig {
                data_dir: dir.to_path_buf(),
                partitions_per_table: 2,
                item_collection_limit: u64::MAX,
                enforce_capacity: false,
                default_region: default_region.into(),
                cluster: None,
            })
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tables_of_the_same_name_live_apart_in_two_regions(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let node = open(dir.path(), "us-east-1").await?;
        let east = node.create_table(descriptor("t", "us-east-1")).await?;
        let west = node.create_table(descriptor("t", "eu-west-1")).await?;
        assert_ne!(east.descriptor().table_id, west.descriptor().table_id);
        assert!(matches!(
            node.create_table(descriptor("t", "eu-west-1")).await,
            Err(PartitionError::TableExists(_))
        ));
        assert_eq!(node.table_names("eu-west-1"), vec!["t".to_string()]);
        node.delete_table("us-east-1", "t", 0.0).await?;
        assert!(node.table("us-east-1", "t").is_err());
        assert_eq!(
            node.table("eu-west-1", "t")?.descriptor().table_id,
            west.descriptor().table_id
        );
        assert!(node.table_names("us-east-1").is_empty());
        node.shutdown().await?;
        Ok(())
    }

    /// A data directory written before regions existed: its tables (keyed `t/<name>`,
    /// with no region in the descriptor) belong to the default region of the first start
    /// that knows regions, and stay there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tables_from_before_regions_join_the_default_region(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let node = open(dir.path(), "us-east-1").await?;
        let table_id = node
            .create_table(descriptor("old", "us-east-1"))
            .await?
            .descriptor()
            .table_id;
        node.shutdown().await?;
        drop(node);
        {
            let path = dir.path().join("db");
            let engine = retrying(|| async { Ok(Engine::open(&path)?) }).await?;
            let key = meta_keys::table("us-east-1", "old");
            let bytes = engine.get(CF_META, &key)?.ok_or("the descriptor")?;
            let mut legacy: serde_json::Value = serde_json::from_slice(&bytes)?;
            legacy
                .as_object_mut()
                .ok_or("a descriptor object")?
                .remove("region");
            let mut batch = WriteBatch::default();
            batch.delete_cf(engine.cf(CF_META)?, key);
            batch.put_cf(engine.cf(CF_META)?, b"t/old", serde_json::to_vec(&legacy)?);
            engine.write_synced(batch)?;
        }
        let node = open(dir.path(), "eu-central-1").await?;
        assert_eq!(
            node.table("eu-central-1", "old")?.descriptor().table_id,
            table_id
        );
        node.shutdown().await?;
        drop(node);
        // The assignment is recorded: another default region does not move the table.
        let node = open(dir.path(), "ap-south-1").await?;
        assert!(node.table("eu-central-1", "old").is_ok());
        assert!(node.table_names("ap-south-1").is_empty());
        node.shutdown().await?;
        Ok(())
    }
}
