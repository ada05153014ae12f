//! Regions: each keeps its own namespace of tables, as DynamoDB's regions do. A table's
//! region is part of its descriptor (and of its catalog key), so two regions may hold
//! tables of the same name; table ids stay unique across the node.

use std::collections::BTreeMap;
use std::sync::Arc;

use cirrus_storage::engine::{prefix_end, Engine, CF_META};
use rocksdb::WriteBatch;

use crate::catalog::TableDescriptor;
use crate::error::PartitionError;
use crate::meta_keys;
use crate::node::Table;
use crate::stream_owners::StreamOwner;

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
