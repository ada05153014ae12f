//! Removing what deleted tables leave on this node. Deleting a table is a catalog change
//! (its descriptor goes, a `d/` record marking it deleted comes, both replicated with
//! the rest of the catalog); each node then removes its own replicas' data — when it
//! applies the deletion, or at start-up after a crash part-way. The `d/` records stay:
//! whether a deleted table still has data here is read from the data itself (its groups'
//! records in `meta`, removed last), so that every replica of the catalog stays the
//! same. A deleted table's change records stay while its streams are retired (`r/`),
//! to be read until they age out, and go when that record goes.

use cirrus_storage::engine::{
    prefix_end, Engine, CF_CHANGES, CF_EXPIRY, CF_INDEXES, CF_ITEMS, CF_META, CF_RAFT_LOG,
    CF_TRANSACTIONS,
};
use cirrus_storage::StorageError;
use rocksdb::WriteBatch;

use crate::error::PartitionError;
use crate::group::group_id;
use crate::log_store::LogStore;
use crate::meta_keys;
use crate::state_machine::remove_table_snapshots;

/// Whether `cf` holds any key in `[start, end)`.
fn holds_any(
    engine: &Engine,
    cf: &'static str,
    start: &[u8],
    end: &[u8],
) -> Result<bool, PartitionError> {
    let mut found = false;
    engine.scan(cf, start, end, |_, _| {
        found = true;
        Ok(false)
    })?;
    Ok(found)
}

/// Removes everything a deleted table left on this node: items, index entries,
/// transaction records, expiry entries, change records (unless its streams are
/// retired), Raft logs and snapshots, and last its groups' records. Every step is
/// idempotent, so a crash part-way is finished by running it again.
pub fn remove_table_data(engine: &Engine, table_id: u32) -> Result<(), PartitionError> {
    let table_start = table_id.to_be_bytes();
    let keeps_streams = engine
        .get(CF_META, &meta_keys::retired_streams(table_id))?
        .is_some();
    let mut families = vec![CF_ITEMS, CF_INDEXES, CF_TRANSACTIONS, CF_EXPIRY];
    if !keeps_streams {
        families.push(CF_CHANGES);
    }
    for cf in families {
        engine.delete_range(cf, &table_start, &prefix_end(&table_start))?;
    }
    let (log_start, _) = LogStore::group_range(group_id(table_id, 0));
    let (log_end, _) = LogStore::group_range(group_id(table_id + 1, 0));
    engine.delete_range(CF_RAFT_LOG, &log_start, &log_end)?;
    remove_table_snapshots(engine, table_id)?;
    // Synced: the WAL is ordered, so the range deletions above are durable with it.
    let meta = engine.cf(CF_META)?;
    let (groups_start, groups_end) = meta_keys::table_groups_range(table_id);
    let mut batch = WriteBatch::default();
    batch.delete_cf(meta, meta_keys::key_ranges(table_id));
    batch.delete_range_cf(meta, groups_start, groups_end);
    engine.write_synced(batch)?;
    Ok(())
}

/// The ids of the deleted tables (the `d/` records of the catalog).
fn deleted_tables(engine: &Engine) -> Result<Vec<u32>, PartitionError> {
    let start = meta_keys::DELETED_TABLE_PREFIX;
    let mut deleted = Vec::new();
    engine.scan(CF_META, start, &prefix_end(start), |key, _| {
        let id: [u8; 4] = key[start.len()..]
            .try_into()
            .map_err(|_| StorageError::Corrupt("deleted-table key".into()))?;
        deleted.push(u32::from_be_bytes(id));
        Ok(true)
    })?;
    Ok(deleted)
}

/// Removes what this node still holds of deleted tables: the data of those whose
/// removal a crash interrupted (or that this node never had open), and the change
/// records of those whose retired streams are forgotten.
pub fn remove_deleted_tables_data(engine: &Engine) -> Result<(), PartitionError> {
    for table_id in deleted_tables(engine)? {
        let (groups_start, groups_end) = meta_keys::table_groups_range(table_id);
        if holds_any(engine, CF_META, &groups_start, &groups_end)? {
            tracing::info!(table_id, "removing the data of a deleted table");
            remove_table_data(engine, table_id)?;
        }
        let table_start = table_id.to_be_bytes();
        let retired = engine
            .get(CF_META, &meta_keys::retired_streams(table_id))?
            .is_some();
        if !retired && holds_any(engine, CF_CHANGES, &table_start, &prefix_end(&table_start))? {
            remove_change_records(engine, table_id)?;
        }
    }
    Ok(())
}

/// Removes a table's change records.
pub fn remove_change_records(engine: &Engine, table_id: u32) -> Result<(), PartitionError> {
    let table_start = table_id.to_be_bytes();
    engine.delete_range(CF_CHANGES, &table_start, &prefix_end(&table_start))?;
    Ok(())
}
