//! The key layout of a data directory, and the upgrade of one written before items were
//! stored in partition-key-hash order.
//!
//! Layout 1 keyed an item `partition prefix | enc(pk) | enc(sk)`; layout 2 puts the
//! partition key's hash first (see `cirrus_storage::engine`). The upgrade moves every
//! item, index entry and expiry entry to its layout-2 key, one table per atomic write
//! batch, before any Raft group starts; a table's batch also marks it moved, so an
//! upgrade a crash interrupted resumes where it stopped. It assumes what a clean stop
//! leaves: every committed Raft entry applied and no transaction half-way.

use cirrus_storage::engine::{prefix_end, Engine, CF_EXPIRY, CF_INDEXES, CF_ITEMS, CF_META};
use cirrus_storage::index::index_prefix;
use cirrus_storage::key::decode_key_value;
use cirrus_storage::{ScalarType, StorageError};
use cirrus_ttl::index::{expiry_key, expiry_prefix, parse_expiry_key};
use rocksdb::WriteBatch;

use crate::catalog::TableDescriptor;
use crate::error::PartitionError;
use crate::hashing::partition_key_hash;
use crate::meta_keys;

/// Items keyed by partition-key hash first.
const CURRENT: u8 = 2;

/// Brings a data directory holding `tables` to the current key layout. A directory
/// without a layout record is new (no tables) or of layout 1.
pub fn upgrade(engine: &Engine, tables: &[TableDescriptor]) -> Result<(), PartitionError> {
    match engine.get(CF_META, meta_keys::KEY_LAYOUT)?.as_deref() {
        Some([CURRENT]) => return Ok(()),
        Some(other) => {
            return Err(PartitionError::Corrupt(format!(
                "key layout {other:?} is newer than this Cirrus ({CURRENT})"
            )))
        }
        None => {}
    }
    let meta = engine.cf(CF_META)?;
    let mut done = WriteBatch::default();
    for table in tables {
        let marker = meta_keys::upgraded_table(table.table_id);
        done.delete_cf(meta, &marker);
        if engine.get(CF_META, &marker)?.is_some() {
            continue;
        }
        let mut batch = WriteBatch::default();
        for partition in 0..table.partitions {
            move_items(engine, table, partition, &mut batch)?;
            move_index_entries(engine, table, partition, &mut batch)?;
            move_expiry_entries(engine, table, partition, &mut batch)?;
        }
        batch.put_cf(meta, &marker, []);
        engine.write_synced(batch)?;
        tracing::info!(table = %table.name, "moved the table's items to the hash-ordered key layout");
    }
    done.put_cf(meta, meta_keys::KEY_LAYOUT, [CURRENT]);
    engine.write_synced(done)?;
    Ok(())
}

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("layout-1 key: {e}"))
}

/// The layout-2 form of a key that holds a layout-1 table key (`enc(pk) | enc(sk)`)
/// from byte `at` on: the bytes before it, the partition key's hash, then the table key.
fn with_hash(key: &[u8], at: usize, pk_type: ScalarType) -> Result<Vec<u8>, StorageError> {
    let table_key = key.get(at..).ok_or_else(|| corrupt("too short"))?;
    let (_, pk_length) = decode_key_value(pk_type, table_key).map_err(corrupt)?;
    let hash = partition_key_hash(&table_key[..pk_length]);
    Ok([&key[..at], &hash.to_be_bytes(), table_key].concat())
}

/// Rewrites every key in `[start, end)` of `cf` as `rekey` says, in `batch`.
fn move_range(
    engine: &Engine,
    cf: &'static str,
    start: &[u8],
    end: &[u8],
    batch: &mut WriteBatch,
    rekey: impl Fn(&[u8]) -> Result<Vec<u8>, StorageError>,
) -> Result<(), StorageError> {
    let handle = engine.cf(cf)?;
    // The iterator reads a snapshot: the keys it visits are layout 1's only.
    engine.scan(cf, start, end, |key, value| {
        batch.delete_cf(handle, key);
        batch.put_cf(handle, rekey(key)?, value);
        Ok(true)
    })
}

fn move_items(
    engine: &Engine,
    table: &TableDescriptor,
    partition: u16,
    batch: &mut WriteBatch,
) -> Result<(), StorageError> {
    let prefix = cirrus_storage::engine::partition_prefix(table.table_id, partition);
    let pk_type = table.key_schema.partition_key().ty;
    move_range(
        engine,
        CF_ITEMS,
        &prefix,
        &prefix_end(&prefix),
        batch,
        |key| with_hash(key, prefix.len(), pk_type),
    )
}

fn move_index_entries(
    engine: &Engine,
    table: &TableDescriptor,
    partition: u16,
    batch: &mut WriteBatch,
) -> Result<(), StorageError> {
    let pk_type = table.key_schema.partition_key().ty;
    for index in &table.indexes {
        let prefix = index_prefix(table.table_id, partition, index.spec.id);
        let types: Vec<_> = index.spec.key_schema.attributes().map(|a| a.ty).collect();
        move_range(
            engine,
            CF_INDEXES,
            &prefix,
            &prefix_end(&prefix),
            batch,
            |key| {
                let mut at = prefix.len();
                for ty in &types {
                    let rest = key.get(at..).ok_or_else(|| corrupt("too short"))?;
                    at += decode_key_value(*ty, rest).map_err(corrupt)?.1;
                }
                with_hash(key, at, pk_type)
            },
        )?;
    }
    Ok(())
}

fn move_expiry_entries(
    engine: &Engine,
    table: &TableDescriptor,
    partition: u16,
    batch: &mut WriteBatch,
) -> Result<(), StorageError> {
    let prefix = expiry_prefix(table.table_id, partition);
    let pk_type = table.key_schema.partition_key().ty;
    move_range(
        engine,
        CF_EXPIRY,
        &prefix,
        &prefix_end(&prefix),
        batch,
        |key| {
            let (expiry, suffix) = parse_expiry_key(key).ok_or_else(|| corrupt("expiry entry"))?;
            let table_key = with_hash(suffix, 0, pk_type)?;
            Ok(expiry_key(table.table_id, partition, expiry, &table_key))
        },
    )
}
