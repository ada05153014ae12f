//! Reading (and, for replay tests, resetting) what a stopped server left in its RocksDB:
//! the bytes themselves, for checks no API can make — nothing of a deleted table is
//! left, a replayed log rebuilds exactly the same state.

use std::collections::BTreeMap;
use std::path::Path;

use cirrus_partition::meta_keys::{self, GroupRecord};
use cirrus_storage::engine::{
    prefix_end, Engine, CF_CHANGES, CF_EXPIRY, CF_INDEXES, CF_ITEMS, CF_META, CF_RAFT_LOG,
    CF_TRANSACTIONS,
};

/// Column families whose keys start with the table id.
pub const TABLE_DATA: [&str; 5] = [CF_ITEMS, CF_INDEXES, CF_TRANSACTIONS, CF_CHANGES, CF_EXPIRY];

/// A column family's keys and values.
pub type Contents = BTreeMap<(&'static str, Vec<u8>), Vec<u8>>;

pub fn open(data_dir: &Path) -> std::sync::Arc<Engine> {
    Engine::open(&data_dir.join("db")).expect("open the stopped server's RocksDB")
}

/// Everything of `table_id` in one column family under `prefix`.
fn collect(engine: &Engine, cf: &'static str, prefix: &[u8], into: &mut Contents) {
    engine
        .scan(cf, prefix, &prefix_end(prefix), |key, value| {
            into.insert((cf, key.to_vec()), value.to_vec());
            Ok(true)
        })
        .expect("scan");
}

/// The prefix of every key of a table's groups (`group = table_id << 16 | partition`,
/// big-endian): two zero bytes, then the table id.
fn groups_prefix(table_id: u32) -> Vec<u8> {
    let mut prefix = vec![0, 0];
    prefix.extend_from_slice(&table_id.to_be_bytes());
    prefix
}

/// The table's data: items, index entries, transaction records, change records and
/// expiry entries.
pub fn table_data(engine: &Engine, table_id: u32) -> Contents {
    let mut contents = Contents::new();
    for cf in TABLE_DATA {
        collect(engine, cf, &table_id.to_be_bytes(), &mut contents);
    }
    contents
}

/// Everything a table left anywhere: its data, its groups' Raft logs and records.
pub fn everything_of_table(engine: &Engine, table_id: u32) -> Contents {
    let mut contents = table_data(engine, table_id);
    collect(engine, CF_RAFT_LOG, &groups_prefix(table_id), &mut contents);
    let mut records = b"g".to_vec();
    records.extend_from_slice(&groups_prefix(table_id));
    collect(engine, CF_META, &records, &mut contents);
    contents
}

/// Erases what applying the table's logs produced — its data and each partition's
/// applied id, statistics and schema — keeping the logs themselves, so that the next
/// start replays every entry from the first.
pub fn forget_applied_state(engine: &Engine, table_id: u32, partitions: u16) {
    for cf in TABLE_DATA {
        let start = table_id.to_be_bytes();
        engine
            .delete_range(cf, &start, &prefix_end(&start))
            .expect("delete range");
    }
    for partition in 0..partitions {
        let group = (u64::from(table_id) << 16) | u64::from(partition);
        for record in [
            GroupRecord::Applied,
            GroupRecord::Stats,
            GroupRecord::Schema,
        ] {
            let key = meta_keys::group(group, record);
            engine
                .delete_range(CF_META, &key, &prefix_end(&key))
                .expect("delete record");
        }
    }
    engine.flush().expect("flush");
}

/// Each partition's statistics record.
pub fn stats_records(engine: &Engine, table_id: u32, partitions: u16) -> Vec<Option<Vec<u8>>> {
    (0..partitions)
        .map(|partition| {
            let group = (u64::from(table_id) << 16) | u64::from(partition);
            engine
                .get(CF_META, &meta_keys::group(group, GroupRecord::Stats))
                .expect("get")
                .map(|value| value.to_vec())
        })
        .collect()
}

/// Rewrites a table's items, index entries and expiry entries in key layout 1 (no
/// partition-key hash before the key values) and forgets the layout record, as a data
/// directory of an earlier Cirrus was. `index_key_types`: each index entry's key
/// attributes' types, which come before the table key.
pub fn to_key_layout_1(
    engine: &Engine,
    table_id: u32,
    index_key_types: &[cirrus_storage::ScalarType],
) {
    use cirrus_storage::engine::HASH_BYTES;
    use cirrus_storage::key::decode_key_value;
    let prefix = table_id.to_be_bytes();
    let mut batch = rocksdb::WriteBatch::default();
    for cf in [CF_ITEMS, CF_INDEXES, CF_EXPIRY] {
        let handle = engine.cf(cf).expect("column family");
        engine
            .scan(cf, &prefix, &prefix_end(&prefix), |key, value| {
                // Where the table key (hash, then key values) starts.
                let at = match cf {
                    CF_ITEMS => 6,
                    CF_EXPIRY => 14,
                    _ => index_key_types.iter().fold(8, |at, ty| {
                        at + decode_key_value(*ty, &key[at..]).expect("index key").1
                    }),
                };
                let old = [&key[..at], &key[at + HASH_BYTES..]].concat();
                batch.delete_cf(handle, key);
                batch.put_cf(handle, old, value);
                Ok(true)
            })
            .expect("scan");
    }
    batch.delete_cf(engine.cf(CF_META).expect("meta"), meta_keys::KEY_LAYOUT);
    engine.write_synced(batch).expect("write layout 1");
    engine.flush().expect("flush");
}

/// Asserts that two snapshots of a table's data hold the same keys and values.
pub fn assert_same(before: &Contents, after: &Contents, when: &str) {
    let differing = differences(before, after);
    assert!(
        differing.is_empty(),
        "{} of {} keys differ {when}, e.g. {:?}",
        differing.len(),
        before.len(),
        &differing[..differing.len().min(5)]
    );
}

/// The keys whose values differ between two snapshots of a table's data, or that only
/// one has.
pub fn differences(before: &Contents, after: &Contents) -> Vec<String> {
    before
        .iter()
        .filter(|(key, value)| after.get(*key) != Some(*value))
        .map(|((cf, key), _)| format!("{cf} {key:02x?}"))
        .chain(
            after
                .keys()
                .filter(|key| !before.contains_key(*key))
                .map(|(cf, key)| format!("{cf} {key:02x?} (only after)")),
        )
        .collect()
}
