//! The node: the RocksDB instance, the catalog, and the Raft group of every partition
//! of every table. It routes each item command to the partition that owns its key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cirrus_storage::engine::{
    item_key, partition_prefix, prefix_end, Engine, CF_ITEMS, CF_META, CF_RAFT_LOG,
};
use rocksdb::WriteBatch;

use crate::catalog::TableDescriptor;
use cirrus_storage::key::decode_key_value;

use crate::command::{ApplyOutcome, Command};
use crate::error::PartitionError;
use crate::group::{group_id, RaftGroup};
use crate::hashing::{partition_key_hash, partition_of};
use crate::log_store::LogStore;
use crate::meta_keys;
use crate::wal_sync::WalSyncer;

pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub partitions_per_table: u16,
}

/// The partition and RocksDB key of one item.
pub struct ItemLocation {
    pub partition: u16,
    pub key: Vec<u8>,
}

/// A live table: its descriptor and its partitions' Raft groups.
pub struct Table {
    descriptor: TableDescriptor,
    groups: Arc<[RaftGroup]>,
}

impl Table {
    pub fn descriptor(&self) -> &TableDescriptor {
        &self.descriptor
    }

    pub fn item_count(&self) -> i64 {
        self.groups
            .iter()
            .map(|g| g.stats().item_count.load(Ordering::Relaxed))
            .sum()
    }

    pub fn size_bytes(&self) -> i64 {
        self.groups
            .iter()
            .map(|g| g.stats().size_bytes.load(Ordering::Relaxed))
            .sum()
    }

    /// Where the item with these encoded key values lives.
    pub fn locate(
        &self,
        partition_key: &[u8],
        sort_key: &[u8],
    ) -> Result<ItemLocation, PartitionError> {
        let partition = partition_of(
            partition_key_hash(partition_key),
            self.descriptor.partitions,
        );
        let key = item_key(self.descriptor.table_id, partition, partition_key, sort_key);
        Ok(ItemLocation { partition, key })
    }

    fn group(&self, partition: u16) -> Result<&RaftGroup, PartitionError> {
        self.groups
            .get(usize::from(partition))
            .ok_or_else(|| PartitionError::Corrupt(format!("no partition {partition}")))
    }
}

pub struct Node {
    engine: Arc<Engine>,
    syncer: WalSyncer,
    partitions_per_table: u16,
    tables: RwLock<BTreeMap<String, Arc<Table>>>,
    /// Commands proposed so far; with `wal_fsyncs`, shows how much group commit shares.
    proposals: AtomicU64,
    /// Serialises catalog changes (create, update, delete), never item traffic.
    catalog_changes: tokio::sync::Mutex<()>,
}

fn decode_descriptor(bytes: &[u8]) -> Result<TableDescriptor, PartitionError> {
    serde_json::from_slice(bytes).map_err(|e| PartitionError::Corrupt(e.to_string()))
}

fn encode_descriptor(descriptor: &TableDescriptor) -> Result<Vec<u8>, PartitionError> {
    serde_json::to_vec(descriptor).map_err(|e| PartitionError::Corrupt(e.to_string()))
}

impl Node {
    /// Opens the node's data directory and starts every partition of every table.
    pub async fn open(config: NodeConfig) -> Result<Node, PartitionError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| PartitionError::Corrupt(format!("{}: {e}", config.data_dir.display())))?;
        let engine = Engine::open(&config.data_dir.join("db"))?;
        let syncer = WalSyncer::start(Arc::downgrade(&engine)).map_err(PartitionError::raft)?;
        let mut descriptors = Vec::new();
        let start = meta_keys::TABLE_PREFIX;
        let end = prefix_end(start);
        engine.scan(CF_META, start, &end, |_, value| {
            descriptors.push(value.to_vec());
            Ok(true)
        })?;
        let mut tables = BTreeMap::new();
        for bytes in descriptors {
            let descriptor = decode_descriptor(&bytes)?;
            let groups = Self::open_groups(&engine, &syncer, &descriptor, false).await?;
            tables.insert(
                descriptor.name.clone(),
                Arc::new(Table { descriptor, groups }),
            );
        }
        Ok(Node {
            engine,
            syncer,
            partitions_per_table: config.partitions_per_table.max(1),
            tables: RwLock::new(tables),
            proposals: AtomicU64::new(0),
            catalog_changes: tokio::sync::Mutex::new(()),
        })
    }

    async fn open_groups(
        engine: &Arc<Engine>,
        syncer: &WalSyncer,
        descriptor: &TableDescriptor,
        fresh: bool,
    ) -> Result<Arc<[RaftGroup]>, PartitionError> {
        let mut groups = Vec::with_capacity(usize::from(descriptor.partitions));
        for partition in 0..descriptor.partitions {
            groups.push(
                RaftGroup::open(
                    engine.clone(),
                    syncer.clone(),
                    descriptor.table_id,
                    partition,
                    fresh,
                )
                .await?,
            );
        }
        Ok(groups.into())
    }

    fn tables_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Table>>> {
        // A panic while holding the lock cannot leave the map half-changed (inserts and
        // removes are single calls), so a poisoned lock is still consistent.
        self.tables
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn tables_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Table>>> {
        self.tables
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn table(&self, name: &str) -> Result<Arc<Table>, PartitionError> {
        self.tables_read()
            .get(name)
            .cloned()
            .ok_or_else(|| PartitionError::TableNotFound(name.to_string()))
    }

    /// All table names in ascending order.
    pub fn table_names(&self) -> Vec<String> {
        self.tables_read().keys().cloned().collect()
    }

    fn allocate_table_id(&self) -> Result<u32, PartitionError> {
        let next = match self.engine.get(CF_META, meta_keys::NEXT_TABLE_ID)? {
            Some(bytes) => u32::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| PartitionError::Corrupt("next table id".into()))?,
            ),
            None => 1,
        };
        Ok(next)
    }

    /// Creates a table; the node assigns `table_id` and `partitions`.
    pub async fn create_table(
        &self,
        mut descriptor: TableDescriptor,
    ) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes.lock().await;
        if self.tables_read().contains_key(&descriptor.name) {
            return Err(PartitionError::TableExists(descriptor.name));
        }
        descriptor.table_id = self.allocate_table_id()?;
        descriptor.partitions = self.partitions_per_table;
        let meta = self.engine.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            &meta,
            meta_keys::NEXT_TABLE_ID,
            (descriptor.table_id + 1).to_be_bytes(),
        );
        batch.put_cf(
            &meta,
            meta_keys::table(&descriptor.name),
            encode_descriptor(&descriptor)?,
        );
        self.engine.write_synced(batch)?;
        let groups = Self::open_groups(&self.engine, &self.syncer, &descriptor, true).await?;
        let table = Arc::new(Table { descriptor, groups });
        self.tables_write()
            .insert(table.descriptor.name.clone(), table.clone());
        Ok(table)
    }

    /// Replaces a table's descriptor (billing, throughput, tags); keys and partitions
    /// never change this way.
    pub async fn update_table(
        &self,
        descriptor: TableDescriptor,
    ) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes.lock().await;
        let current = self.table(&descriptor.name)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            &self.engine.cf(CF_META)?,
            meta_keys::table(&descriptor.name),
            encode_descriptor(&descriptor)?,
        );
        self.engine.write_synced(batch)?;
        let table = Arc::new(Table {
            descriptor,
            groups: current.groups.clone(),
        });
        self.tables_write()
            .insert(table.descriptor.name.clone(), table.clone());
        Ok(table)
    }

    /// Deletes a table, its items, its Raft logs and its groups' records.
    pub async fn delete_table(&self, name: &str) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes.lock().await;
        let table = self.table(name)?;
        let mut batch = WriteBatch::default();
        batch.delete_cf(&self.engine.cf(CF_META)?, meta_keys::table(name));
        self.engine.write_synced(batch)?;
        self.tables_write().remove(name);
        for group in table.groups.iter() {
            group.shutdown().await?;
        }
        let table_id = table.descriptor.table_id;
        let items_start = table_id.to_be_bytes();
        self.engine
            .delete_range(CF_ITEMS, &items_start, &prefix_end(&items_start))?;
        let (log_start, _) = LogStore::group_range(group_id(table_id, 0));
        let (log_end, _) = LogStore::group_range(group_id(table_id + 1, 0));
        self.engine
            .delete_range(CF_RAFT_LOG, &log_start, &log_end)?;
        let (meta_start, meta_end) = meta_keys::table_groups_range(table_id);
        self.engine.delete_range(CF_META, &meta_start, &meta_end)?;
        Ok(table)
    }

    /// Proposes a command on the item at `key` (from [`Table::locate`]) to the Raft group
    /// of its partition; returns once the command is durable and applied.
    pub async fn propose(
        &self,
        table: &Table,
        location: &ItemLocation,
        command: Command,
    ) -> Result<ApplyOutcome, PartitionError> {
        let group = table.group(location.partition)?;
        self.proposals.fetch_add(1, Ordering::Relaxed);
        group.propose(command).await
    }

    /// Reads an item's stored bytes. Every acknowledged write has been applied on this
    /// node (the only replica), so this read is strongly consistent.
    pub fn get_item(&self, location: &ItemLocation) -> Result<Option<Vec<u8>>, PartitionError> {
        Ok(self
            .engine
            .get(CF_ITEMS, &location.key)?
            .map(|v| v.to_vec()))
    }

    /// Visits the stored items of one partition-key value whose encoded sort key is in
    /// `[sort_start, sort_end)` (`None`: to the end), in sort-key order or reversed,
    /// until `visit` returns false.
    pub fn query<E: From<PartitionError>>(
        &self,
        table: &Table,
        partition_key: &[u8],
        sort_start: &[u8],
        sort_end: Option<&[u8]>,
        reverse: bool,
        mut visit: impl FnMut(&[u8]) -> Result<bool, E>,
    ) -> Result<(), E> {
        let start = table.locate(partition_key, sort_start)?;
        let end = match sort_end {
            Some(sort_end) => table.locate(partition_key, sort_end)?.key,
            None => prefix_end(&table.locate(partition_key, b"")?.key),
        };
        let mut failure = None;
        let mut adapter = |_: &[u8], value: &[u8]| match visit(value) {
            Ok(more) => Ok(more),
            Err(e) => {
                failure = Some(e);
                Ok(false)
            }
        };
        if reverse {
            self.engine
                .scan_reverse(CF_ITEMS, &start.key, &end, &mut adapter)
        } else {
            self.engine.scan(CF_ITEMS, &start.key, &end, &mut adapter)
        }
        .map_err(|e| E::from(e.into()))?;
        failure.map_or(Ok(()), Err)
    }

    /// Visits, in a stable order, the stored items whose partition-key hash falls in
    /// segment `segment` of `total_segments` equal hash ranges, starting after the item
    /// with key `start_after` (encoded partition and sort key), until `visit` returns
    /// false. Segments are disjoint and together cover every item exactly once.
    pub fn scan<E: From<PartitionError>>(
        &self,
        table: &Table,
        segment: u32,
        total_segments: u32,
        start_after: Option<(&[u8], &[u8])>,
        mut visit: impl FnMut(&[u8]) -> Result<bool, E>,
    ) -> Result<(), E> {
        let total = u128::from(total_segments.max(1));
        let low = ((u128::from(segment) << 64) / total) as u64;
        let high = (((u128::from(segment) + 1) << 64) / total).saturating_sub(1) as u64;
        let partitions = table.descriptor.partitions;
        let first = partition_of(low, partitions);
        let last = partition_of(high, partitions);
        let key_type = table.descriptor.key_schema.partition_key.ty;
        let mut resume = match start_after {
            Some((pk, sk)) => {
                let mut key = table.locate(pk, sk)?;
                // Self-delimiting keys: the next possible key after `k` is `k · 0x00`.
                key.key.push(0);
                Some(key)
            }
            None => None,
        };
        let mut failure = None;
        for partition in first..=last {
            let prefix = partition_prefix(table.descriptor.table_id, partition);
            let start = match &resume {
                Some(at) if at.partition > partition => continue,
                Some(at) if at.partition == partition => at.key.clone(),
                _ => prefix.to_vec(),
            };
            resume = None;
            let mut current_pk: Vec<u8> = Vec::new();
            let mut in_segment = false;
            let mut finished = false;
            self.engine
                .scan(CF_ITEMS, &start, &prefix_end(&prefix), |key, value| {
                    let rest = &key[prefix.len()..];
                    if !rest.starts_with(&current_pk) || current_pk.is_empty() {
                        let (_, length) = decode_key_value(key_type, rest)
                            .map_err(|e| cirrus_storage::StorageError::Corrupt(e.to_string()))?;
                        current_pk = rest[..length].to_vec();
                        let hash = partition_key_hash(&current_pk);
                        in_segment = (low..=high).contains(&hash);
                    }
                    if !in_segment {
                        return Ok(true);
                    }
                    match visit(value) {
                        Ok(true) => Ok(true),
                        Ok(false) => {
                            finished = true;
                            Ok(false)
                        }
                        Err(e) => {
                            failure = Some(e);
                            finished = true;
                            Ok(false)
                        }
                    }
                })
                .map_err(|e| E::from(e.into()))?;
            if finished {
                break;
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Item commands proposed so far.
    pub fn proposals(&self) -> u64 {
        self.proposals.load(Ordering::Relaxed)
    }

    /// Group fsyncs of the write-ahead log so far (see `wal_sync`).
    pub fn wal_fsyncs(&self) -> u64 {
        self.syncer.fsyncs()
    }

    /// Stops every group and flushes RocksDB.
    pub async fn shutdown(&self) -> Result<(), PartitionError> {
        let tables: Vec<Arc<Table>> = self.tables_read().values().cloned().collect();
        for table in tables {
            for group in table.groups.iter() {
                group.shutdown().await?;
            }
        }
        self.engine.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::{BillingMode, KeyAttribute, KeySchema, Throughput};
    use crate::command::WantedImages;
    use cirrus_storage::engine::StoredItem;
    use cirrus_storage::ScalarType;

    fn descriptor(name: &str) -> TableDescriptor {
        TableDescriptor {
            name: name.into(),
            table_id: 0,
            uuid: "u".into(),
            key_schema: KeySchema {
                partition_key: KeyAttribute {
                    name: "pk".into(),
                    ty: ScalarType::S,
                },
                sort_key: None,
            },
            attribute_definitions: vec![KeyAttribute {
                name: "pk".into(),
                ty: ScalarType::S,
            }],
            billing_mode: BillingMode::PayPerRequest,
            throughput: Throughput::default(),
            pay_per_request_since: None,
            created_at: 0.0,
            partitions: 0,
            tags: BTreeMap::new(),
        }
    }

    /// The order-preserving encoding of a string partition key.
    fn encoded(key: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = cirrus_storage::key::encode_key_value(
            &cirrus_storage::AttributeValue::S(key.into()),
            &mut out,
        );
        out
    }

    async fn put(node: &Node, table: &Table, key: &str) -> Result<(), PartitionError> {
        let location = table.locate(&encoded(key), b"")?;
        let command = Command::Put {
            key: location.key.clone(),
            item: StoredItem::encode(10, key.as_bytes()),
            condition: None,
            wanted: WantedImages::default(),
        };
        node.propose(table, &location, command).await.map(|_| ())
    }

    fn get(
        node: &Node,
        table: &Table,
        key: &str,
    ) -> Result<Option<Vec<u8>>, Box<dyn std::error::Error>> {
        let stored = node.get_item(&table.locate(&encoded(key), b"")?)?;
        Ok(stored
            .map(|s| StoredItem::codec_bytes(&s).map(<[u8]>::to_vec))
            .transpose()?)
    }

    /// Opens the node, retrying while the previous instance's tasks still hold RocksDB.
    async fn open(dir: &std::path::Path) -> Result<Node, PartitionError> {
        let mut attempts = 0;
        loop {
            let config = NodeConfig {
                data_dir: dir.to_path_buf(),
                partitions_per_table: 4,
            };
            match Node::open(config).await {
                Err(PartitionError::Storage(_)) if attempts < 50 => attempts += 1,
                outcome => return outcome,
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_survive_a_restart_and_share_fsyncs() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let node = Arc::new(open(dir.path()).await?);
        let table = node.create_table(descriptor("t1")).await?;
        let writers: Vec<_> = (0..200u32)
            .map(|i| {
                let node = node.clone();
                let table = table.clone();
                tokio::spawn(async move { put(&node, &table, &format!("k{i}")).await })
            })
            .collect();
        for writer in writers {
            writer.await??;
        }
        let fsyncs = node.wal_fsyncs();
        println!("200 concurrent writes, {fsyncs} WAL fsyncs");
        assert!(fsyncs < 200, "200 concurrent writes took {fsyncs} fsyncs");
        assert_eq!(table.item_count(), 200);
        assert_eq!(table.size_bytes(), 2000);
        let location = table.locate(&encoded("k7"), b"")?;
        let delete = Command::Delete {
            key: location.key.clone(),
            condition: None,
            wanted: WantedImages {
                old: true,
                ..Default::default()
            },
        };
        let outcome = node.propose(&table, &location, delete).await?;
        let old = outcome
            .old_item
            .map(|s| StoredItem::codec_bytes(&s).map(<[u8]>::to_vec))
            .transpose()?;
        assert_eq!(old.as_deref(), Some(&b"k7"[..]));
        node.shutdown().await?;
        drop((node, table));

        let node = open(dir.path()).await?;
        let table = node.table("t1")?;
        assert_eq!(table.item_count(), 199);
        assert_eq!(get(&node, &table, "k8")?.as_deref(), Some(&b"k8"[..]));
        assert_eq!(get(&node, &table, "k7")?, None);
        let mut scanned = 0;
        for segment in 0..3 {
            node.scan::<PartitionError>(&table, segment, 3, None, |_| {
                scanned += 1;
                Ok(true)
            })?;
        }
        assert_eq!(scanned, 199, "three segments together see every item once");
        node.delete_table("t1").await?;
        assert!(matches!(
            node.table("t1"),
            Err(PartitionError::TableNotFound(_))
        ));
        node.shutdown().await?;
        Ok(())
    }
}
