//! The RocksDB engine: one instance per node, its column families, and the key layout.
//!
//! Key layout (all integers big-endian so that byte order is numeric order):
//! - `items`:    `table_id u32 | partition u16 | hash u64 | enc(partition key) | enc(sort key)`
//!   → stored item (see [`StoredItem`]). `hash` is the partition key's (see
//!   `cirrus_partition::hashing`); everything after the partition prefix is the item's
//!   *table key*. A partition's items are one contiguous range in hash order, so any
//!   range of the hash space (a parallel Scan's segment, half a partition to split off)
//!   is one contiguous range too, and the items of one partition-key value are one
//!   contiguous, sort-key-ordered range.
//! - `indexes`:  secondary-index entries, in their item's partition (see [`crate::index`]).
//! - `transactions`: per partition, the locks of prepared transactions and the decision
//!   records of committed ones (see `cirrus_partition`'s state machine).
//! - `changes`:  the change log behind streams (see [`crate::change_log`]).
//! - `expiry`:   the expiry index behind TTL (see `cirrus_ttl::index`).
//! - `raft_log`: `group u64 | log index u64` → one Raft log entry.
//! - `meta`:     small named records: table descriptors, Raft votes, applied state.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBPinnableSlice, Direction, IteratorMode, Options,
    ReadOptions, Snapshot, WriteBatch, WriteOptions, DB,
};

use crate::error::StorageError;

pub const CF_ITEMS: &str = "items";
pub const CF_RAFT_LOG: &str = "raft_log";
pub const CF_META: &str = "meta";
pub const CF_INDEXES: &str = "indexes";
pub const CF_TRANSACTIONS: &str = "transactions";
pub const CF_CHANGES: &str = "changes";
pub const CF_EXPIRY: &str = "expiry";
const COLUMN_FAMILIES: [&str; 7] = [
    CF_ITEMS,
    CF_RAFT_LOG,
    CF_META,
    CF_INDEXES,
    CF_TRANSACTIONS,
    CF_CHANGES,
    CF_EXPIRY,
];

/// The node's RocksDB instance.
pub struct Engine {
    db: DB,
    /// Writes are not synced one by one: durability comes from [`Engine::sync_wal`], which
    /// the Raft log store calls once for a whole group of appends.
    unsynced: WriteOptions,
}

impl Engine {
    pub fn open(path: &Path) -> Result<Arc<Engine>, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.increase_parallelism(2);
        let descriptors = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf_options = Options::default();
            cf_options.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(*name, cf_options)
        });
        let db = DB::open_cf_descriptors(&options, path, descriptors)?;
        let mut unsynced = WriteOptions::default();
        unsynced.set_sync(false);
        Ok(Arc::new(Engine { db, unsynced }))
    }

    pub fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or(StorageError::MissingColumnFamily(name))
    }

    pub fn get(
        &self,
        cf: &'static str,
        key: &[u8],
    ) -> Result<Option<DBPinnableSlice<'_>>, StorageError> {
        Ok(self.db.get_pinned_cf(&self.cf(cf)?, key)?)
    }

    pub fn put(&self, cf: &'static str, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        Ok(self
            .db
            .put_cf_opt(&self.cf(cf)?, key, value, &self.unsynced)?)
    }

    /// Writes a batch and fsyncs the WAL: for rare control-plane records (table
    /// descriptors) that must be durable on their own.
    pub fn write_synced(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        Ok(self.db.write_opt(batch, &options)?)
    }

    /// Writes a batch without waiting for the disk; see [`Engine::sync_wal`].
    pub fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        Ok(self.db.write_opt(batch, &self.unsynced)?)
    }

    /// Makes every write so far durable with one fsync of the write-ahead log.
    pub fn sync_wal(&self) -> Result<(), StorageError> {
        Ok(self.db.flush_wal(true)?)
    }

    /// Visits `[start, end)` of a column family in key order until `visit` returns false.
    pub fn scan(
        &self,
        cf: &'static str,
        start: &[u8],
        end: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let handle = self.cf(cf)?;
        for entry in self
            .db
            .iterator_cf(&handle, IteratorMode::From(start, Direction::Forward))
        {
            let (key, value) = entry?;
            if key.as_ref() >= end || !visit(&key, &value)? {
                break;
            }
        }
        Ok(())
    }

    /// Visits `[start, end)` of a column family in reverse key order until `visit`
    /// returns false.
    pub fn scan_reverse(
        &self,
        cf: &'static str,
        start: &[u8],
        end: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let handle = self.cf(cf)?;
        let mut iter = self.db.raw_iterator_cf(&handle);
        iter.seek_for_prev(end);
        while iter.valid() {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
                break;
            };
            if key < start {
                break;
            }
            if key < end && !visit(key, value)? {
                break;
            }
            iter.prev();
        }
        Ok(iter.status()?)
    }

    /// A cursor over `[start, end)` of a column family, for reads that interleave
    /// several ranges (a merge across partitions).
    pub fn cursor(
        &self,
        cf: &'static str,
        start: &[u8],
        end: &[u8],
        reverse: bool,
    ) -> Result<RangeCursor<'_>, StorageError> {
        let mut iter = self.db.raw_iterator_cf(&self.cf(cf)?);
        if reverse {
            iter.seek_for_prev(end);
        } else {
            iter.seek(start);
        }
        let mut cursor = RangeCursor {
            iter,
            start: start.to_vec(),
            end: end.to_vec(),
            reverse,
        };
        // `seek_for_prev` may land on `end` itself, which the range excludes.
        if reverse && cursor.iter.key() == Some(end) {
            cursor.iter.prev();
        }
        Ok(cursor)
    }

    /// Deletes `[start, end)` of a column family with one range tombstone.
    pub fn delete_range(
        &self,
        cf: &'static str,
        start: &[u8],
        end: &[u8],
    ) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(&self.cf(cf)?, start, end);
        self.write_synced(batch)
    }

    /// The directory RocksDB keeps its files in.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// A point-in-time view of the whole database; see [`EngineView`].
    pub fn view(&self) -> EngineView<'_> {
        EngineView {
            engine: self,
            snapshot: self.db.snapshot(),
        }
    }

    /// Flushes memtables so that a clean shutdown leaves little WAL to replay.
    pub fn flush(&self) -> Result<(), StorageError> {
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(&self.cf(name)?)?;
        }
        self.sync_wal()
    }
}

/// A consistent view of the database as it was when [`Engine::view`] took it (a RocksDB
/// snapshot): reads through it see every write made before and none made after, however
/// long it is held. While it lives, RocksDB keeps the versions it sees, so hold it only
/// for one bulk read.
pub struct EngineView<'a> {
    engine: &'a Engine,
    snapshot: Snapshot<'a>,
}

/// Read-ahead for bulk reads through a view: large sequential reads, few seeks.
const VIEW_READAHEAD_BYTES: usize = 2 << 20;

impl EngineView<'_> {
    pub fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.snapshot.get_cf(self.engine.cf(cf)?, key)?)
    }

    /// Visits `[start, end)` of a column family in key order until `visit` returns
    /// false. A bulk read: the blocks it reads do not displace hot ones from the cache.
    pub fn scan<E: From<StorageError>>(
        &self,
        cf: &'static str,
        start: &[u8],
        end: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, E>,
    ) -> Result<(), E> {
        let mut options = ReadOptions::default();
        options.fill_cache(false);
        options.set_readahead_size(VIEW_READAHEAD_BYTES);
        options.set_iterate_upper_bound(end.to_vec());
        let mut iter = self
            .snapshot
            .raw_iterator_cf_opt(self.engine.cf(cf)?, options);
        iter.seek(start);
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if !visit(key, value)? {
                return Ok(());
            }
            iter.next();
        }
        Ok(iter.status().map_err(StorageError::from)?)
    }
}

/// A key and its value, borrowed from the engine.
pub type Entry<'a> = (&'a [u8], &'a [u8]);

/// A position in a key range; see [`Engine::cursor`].
pub struct RangeCursor<'a> {
    iter: rocksdb::DBRawIteratorWithThreadMode<'a, DB>,
    start: Vec<u8>,
    end: Vec<u8>,
    reverse: bool,
}

impl RangeCursor<'_> {
    /// The key and value under the cursor, or `None` once it has left the range.
    pub fn current(&self) -> Result<Option<Entry<'_>>, StorageError> {
        if !self.iter.valid() {
            self.iter.status()?;
            return Ok(None);
        }
        match (self.iter.key(), self.iter.value()) {
            (Some(key), Some(value))
                if key >= self.start.as_slice() && key < self.end.as_slice() =>
            {
                Ok(Some((key, value)))
            }
            _ => Ok(None),
        }
    }

    pub fn advance(&mut self) {
        if self.reverse {
            self.iter.prev();
        } else {
            self.iter.next();
        }
    }
}

/// The prefix of every item key of one partition of one table.
pub fn partition_prefix(table_id: u32, partition: u16) -> [u8; 6] {
    let mut prefix = [0u8; 6];
    prefix[..4].copy_from_slice(&table_id.to_be_bytes());
    prefix[4..].copy_from_slice(&partition.to_be_bytes());
    prefix
}

/// The bytes of the partition-key hash that starts a table key.
pub const HASH_BYTES: usize = 8;

/// The RocksDB key of an item: its partition's prefix, then its table key.
pub fn item_key(
    table_id: u32,
    partition: u16,
    hash: u64,
    partition_key: &[u8],
    sort_key: &[u8],
) -> Vec<u8> {
    let mut key = Vec::with_capacity(6 + HASH_BYTES + partition_key.len() + sort_key.len());
    key.extend_from_slice(&partition_prefix(table_id, partition));
    append_table_key(&mut key, hash, partition_key, sort_key);
    key
}

/// Appends a table key: the partition key's hash, then the encoded key values (see
/// [`crate::key`]), which are self-delimiting and order-preserving.
pub fn append_table_key(out: &mut Vec<u8>, hash: u64, partition_key: &[u8], sort_key: &[u8]) {
    out.extend_from_slice(&hash.to_be_bytes());
    out.extend_from_slice(partition_key);
    out.extend_from_slice(sort_key);
}

/// A table key's partition-key hash and its encoded key values.
pub fn split_table_key(table_key: &[u8]) -> Result<(u64, &[u8]), StorageError> {
    match table_key.split_first_chunk::<HASH_BYTES>() {
        Some((hash, values)) => Ok((u64::from_be_bytes(*hash), values)),
        None => Err(StorageError::Corrupt(
            "table key shorter than its hash".into(),
        )),
    }
}

/// The smallest byte string greater than every string that starts with `prefix`, or
/// `None` when there is none (an empty or all-0xFF prefix).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Longer than any key Cirrus writes (a 2 KB partition key and a 1 KB sort key, even
/// fully escaped, plus the partition prefix).
const MAX_KEY_BYTES: usize = 8 * 1024;

/// An exclusive end for a range scan over every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    // Key-space prefixes start with a table id or a record tag, so the successor
    // exists; the fallback still bounds every real key.
    prefix_successor(prefix).unwrap_or_else(|| vec![u8::MAX; prefix.len() + MAX_KEY_BYTES])
}

/// An item as stored: its DynamoDB size (so deletes and overwrites can keep table
/// statistics without decoding the old item), then the codec bytes.
pub struct StoredItem;

impl StoredItem {
    pub fn encode(dynamodb_size: u32, codec_bytes: &[u8]) -> Vec<u8> {
        let mut value = Vec::with_capacity(4 + codec_bytes.len());
        value.extend_from_slice(&dynamodb_size.to_le_bytes());
        value.extend_from_slice(codec_bytes);
        value
    }

    pub fn size(stored: &[u8]) -> Result<u32, StorageError> {
        stored
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| StorageError::Corrupt("stored item shorter than its header".into()))
    }

    pub fn codec_bytes(stored: &[u8]) -> Result<&[u8], StorageError> {
        stored
            .get(4..)
            .ok_or_else(|| StorageError::Corrupt("stored item shorter than its header".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), vec![1, 3]);
        assert_eq!(prefix_end(&[1, 0xFF]), vec![2]);
        assert!(prefix_end(&[0xFF]) > vec![0xFF; 4096]);
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(&[7, 0xFF]), Some(vec![8]));
    }

    #[test]
    fn items_round_trip_through_rocksdb_in_hash_then_key_order() -> Result<(), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let engine = Engine::open(dir.path())?;
        let mut batch = WriteBatch::default();
        let items = engine.cf(CF_ITEMS)?;
        for (hash, pk) in [(2, b"c".as_slice()), (1, b"b"), (2, b"a")] {
            batch.put_cf(
                &items,
                item_key(7, 1, hash, pk, b""),
                StoredItem::encode(3, pk),
            );
        }
        batch.put_cf(
            &items,
            item_key(7, 2, 0, b"a", b""),
            StoredItem::encode(1, b"x"),
        );
        engine.write(batch)?;
        engine.sync_wal()?;
        let prefix = partition_prefix(7, 1);
        let mut seen = Vec::new();
        engine.scan(CF_ITEMS, &prefix, &prefix_end(&prefix), |_, v| {
            seen.push(StoredItem::codec_bytes(v)?.to_vec());
            Ok(true)
        })?;
        assert_eq!(seen, vec![b"b".to_vec(), b"a".to_vec(), b"c".to_vec()]);
        Ok(())
    }

    #[test]
    fn a_view_sees_the_database_as_it_was_when_taken() -> Result<(), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let engine = Engine::open(dir.path())?;
        engine.put(CF_ITEMS, b"a", b"1")?;
        engine.put(CF_ITEMS, b"b", b"1")?;
        let view = engine.view();
        engine.put(CF_ITEMS, b"a", b"2")?;
        engine.put(CF_ITEMS, b"c", b"2")?;
        engine.delete_range(CF_ITEMS, b"b", b"c")?;
        assert_eq!(view.get(CF_ITEMS, b"a")?, Some(b"1".to_vec()));
        let mut seen = Vec::new();
        view.scan::<StorageError>(CF_ITEMS, b"a", b"z", |key, value| {
            seen.push((key.to_vec(), value.to_vec()));
            Ok(true)
        })?;
        assert_eq!(
            seen,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"1".to_vec())
            ]
        );
        Ok(())
    }
}
