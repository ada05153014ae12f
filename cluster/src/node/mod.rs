//! The node: the RocksDB instance, the catalog, and the Raft group of every partition
//! of every table. It opens them, keeps the catalog's live tables, and routes each item
//! command to the partition that owns its key (reads are `reads.rs`'s and `scan.rs`'s).
//! It creates, changes and deletes tables through the metadata group; following that
//! group and running the catalog's background jobs are `crate::catalog`'s.

pub(crate) mod key_range_memory;
mod reads;
pub(crate) mod regions;
pub mod report;
pub mod scan;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cirrus_storage::engine::{
    item_key, partition_prefix, prefix_end, Engine, CF_INDEXES, CF_ITEMS, CF_META,
};
use cirrus_storage::index::index_prefix;

use cirrus_partition::blocking;
use cirrus_partition::capacity::TableCapacity;
use cirrus_partition::catalog::{IndexDescriptor, IndexKind, TableDescriptor};
use cirrus_partition::failpoint::crash_point;
use cirrus_partition::state_machine::Counts;
use cirrus_partition::write_schema::WriteSchema;

use crate::catalog::follower::spawn_catalog_follower;
use crate::catalog::metadata_group::open_metadata_group;
use crate::catalog::retired_streams::StreamOwner;
use crate::catalog::table_jobs::RunningJobs;
use crate::membership::registry::known_addresses;
use crate::membership::replica_moves::spawn_replica_moves;
use crate::membership::{check_identity, ClusterMembership};
use crate::node::regions::{assign_default_region, LiveTables};
use crate::transactions::recovery::spawn_stall_check;
use cirrus_partition::catalog::InitialPlacement;
use cirrus_partition::command::MetadataChange;
use cirrus_partition::command::{ApplyOutcome, Command};
use cirrus_partition::error::PartitionError;
use cirrus_partition::group::{RaftGroup, Replicas};
use cirrus_partition::hashing::{partition_key_hash, partition_of};
use cirrus_partition::key_layout;
use cirrus_partition::meta_keys;
use cirrus_partition::raft_types::LOCAL_NODE_ID;
use cirrus_partition::table_removal::{remove_deleted_tables_data, remove_table_data};
use cirrus_partition::wal_sync::WalSyncer;

pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub partitions_per_table: u16,
    /// The largest item collection on a table with local indexes, in bytes.
    pub item_collection_limit: u64,
    /// Whether capacity limits throttle requests (DynamoDB Local never throttles).
    pub enforce_capacity: bool,
    /// The region of the tables created before regions existed.
    pub default_region: String,
    /// This node's cluster, if it is not the embedded single node.
    pub cluster: Option<ClusterMembership>,
}

/// What opening this node's replica of a table's group takes besides the table.
pub(crate) struct GroupSettings {
    /// The item-collection limit of tables that did not record theirs.
    pub item_collection_limit: u64,
    pub enforce_capacity: bool,
    /// This node's cluster (`None`: the embedded single node).
    pub cluster: Option<ClusterMembership>,
}

/// The partition and RocksDB key of one item.
pub struct ItemLocation {
    pub partition: u16,
    /// The partition-key hash, which also picks the key range that capacity is charged to.
    pub hash: u64,
    pub key: Vec<u8>,
}

/// What a Query or Scan reads: the table's items, or one index's entries.
#[derive(Clone, Copy)]
pub enum ReadTarget<'a> {
    Table,
    Index(&'a IndexDescriptor),
}

/// A live table: its descriptor and its partitions' Raft groups.
pub struct Table {
    pub(crate) descriptor: TableDescriptor,
    pub(crate) groups: Arc<[RaftGroup]>,
    pub(crate) capacity: Arc<TableCapacity>,
}

impl Table {
    pub fn descriptor(&self) -> &TableDescriptor {
        &self.descriptor
    }

    /// The table's capacity buckets and usage counters.
    pub fn capacity(&self) -> &TableCapacity {
        &self.capacity
    }

    fn counts(&self, of: impl Fn(&RaftGroup) -> Counts) -> Counts {
        self.groups
            .iter()
            .fold(Counts::default(), |mut total, group| {
                let counts = of(group);
                total.item_count += counts.item_count;
                total.size_bytes += counts.size_bytes;
                total
            })
    }

    pub fn item_count(&self) -> i64 {
        self.counts(|g| g.stats().table()).item_count
    }

    pub fn size_bytes(&self) -> i64 {
        self.counts(|g| g.stats().table()).size_bytes
    }

    /// The entries and their total size in one index.
    pub fn index_counts(&self, index_id: u16) -> Counts {
        self.counts(|g| g.stats().index(index_id))
    }

    /// The partition that owns an encoded partition key.
    pub(crate) fn partition_of_key(&self, partition_key: &[u8]) -> u16 {
        partition_of(
            partition_key_hash(partition_key),
            self.descriptor.partitions,
        )
    }

    /// The column family and the key prefix of `target` in one partition.
    pub(crate) fn target_prefix(
        &self,
        target: ReadTarget<'_>,
        partition: u16,
    ) -> (&'static str, Vec<u8>) {
        let table_id = self.descriptor.table_id;
        match target {
            ReadTarget::Table => (CF_ITEMS, partition_prefix(table_id, partition).to_vec()),
            ReadTarget::Index(index) => (
                CF_INDEXES,
                index_prefix(table_id, partition, index.spec.id).to_vec(),
            ),
        }
    }

    /// Where the item with these encoded key values lives.
    pub fn locate(
        &self,
        partition_key: &[u8],
        sort_key: &[u8],
    ) -> Result<ItemLocation, PartitionError> {
        let hash = partition_key_hash(partition_key);
        let partition = partition_of(hash, self.descriptor.partitions);
        let key = item_key(
            self.descriptor.table_id,
            partition,
            hash,
            partition_key,
            sort_key,
        );
        Ok(ItemLocation {
            partition,
            hash,
            key,
        })
    }

    /// Whether this node leads the group of `partition`, as far as it knows: the
    /// partition's background work (TTL sweeps, stream trims) is its leader's.
    pub fn leads(&self, partition: u16) -> bool {
        self.group(partition).is_ok_and(RaftGroup::is_leader)
    }

    /// This node's replicas of the table's partitions, in partition order.
    pub fn groups(&self) -> &[RaftGroup] {
        &self.groups
    }

    pub(crate) fn group(&self, partition: u16) -> Result<&RaftGroup, PartitionError> {
        self.groups
            .get(usize::from(partition))
            .ok_or_else(|| PartitionError::Corrupt(format!("no partition {partition}")))
    }
}

pub struct Node {
    engine: Arc<Engine>,
    syncer: WalSyncer,
    /// This node's replica of the metadata group, which replicates the catalog.
    metadata: RaftGroup,
    /// How this node opens its replicas of tables' groups.
    settings: GroupSettings,
    partitions_per_table: u16,
    tables: RwLock<LiveTables>,
    /// Commands proposed so far; with `wal_fsyncs`, shows how much group commit shares.
    proposals: AtomicU64,
    /// Serialises catalog changes (create, update, delete), never item traffic.
    catalog_changes: tokio::sync::Mutex<()>,
    /// The catalog's jobs running on this node (`table_jobs`).
    running_jobs: RunningJobs,
}

fn decode_descriptor(bytes: &[u8]) -> Result<TableDescriptor, PartitionError> {
    serde_json::from_slice(bytes).map_err(|e| PartitionError::Corrupt(e.to_string()))
}

/// Every table descriptor of the catalog, as this node has applied it.
pub(crate) fn read_catalog(engine: &Engine) -> Result<Vec<TableDescriptor>, PartitionError> {
    let mut descriptors = Vec::new();
    let start = meta_keys::TABLE_PREFIX;
    engine.scan(CF_META, start, &prefix_end(start), |_, value| {
        descriptors.push(value.to_vec());
        Ok(true)
    })?;
    descriptors
        .iter()
        .map(|bytes| decode_descriptor(bytes))
        .collect()
}

/// A descriptor's catalog record, and the descriptor as every node decodes it from
/// that record (a float may come back one unit off): the live table must be the decoded
/// one, so that a later change finds the catalog still holding it.
fn catalog_record(
    descriptor: &TableDescriptor,
) -> Result<(TableDescriptor, Vec<u8>), PartitionError> {
    let record =
        serde_json::to_vec(descriptor).map_err(|e| PartitionError::Corrupt(e.to_string()))?;
    Ok((decode_descriptor(&record)?, record))
}

/// Proposes the table's current write schema to every partition that has not applied
/// it yet.
async fn converge_schema(table: &Table) -> Result<(), PartitionError> {
    let wanted = WriteSchema::of(&table.descriptor);
    for group in table.groups.iter() {
        if group.schema().version < wanted.version {
            group.propose(Command::SetSchema(wanted.clone())).await?;
        }
    }
    Ok(())
}

impl Node {
    /// Opens the node's data directory, starts every partition of every table, and
    /// resumes the index builds and drops a restart interrupted.
    pub async fn open(config: NodeConfig) -> Result<Arc<Node>, PartitionError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| PartitionError::Corrupt(format!("{}: {e}", config.data_dir.display())))?;
        let engine = Engine::open(&config.data_dir.join("db"))?;
        let syncer = WalSyncer::start(Arc::downgrade(&engine)).map_err(PartitionError::raft)?;
        check_identity(&engine, config.cluster.as_ref())?;
        assign_default_region(&engine, &config.default_region)?;
        key_layout::upgrade(&engine, &read_catalog(&engine)?)?;
        // The catalog is current once the metadata group has applied its log.
        let metadata_replicas = config
            .cluster
            .as_ref()
            .map_or_else(Replicas::single, ClusterMembership::metadata_replicas);
        let settings = GroupSettings {
            item_collection_limit: config.item_collection_limit,
            enforce_capacity: config.enforce_capacity,
            cluster: config.cluster,
        };
        let metadata =
            open_metadata_group(engine.clone(), syncer.clone(), metadata_replicas).await?;
        let descriptors = read_catalog(&engine)?;
        let mut tables = LiveTables::default();
        for descriptor in descriptors {
            let table = Self::open_table(&engine, &syncer, descriptor, &settings).await?;
            // A crash may have come between a schema change's catalog write and its
            // entries in the partitions' logs: roll it forward.
            converge_schema(&table).await?;
            tables.insert(table);
        }
        let node = Arc::new(Node {
            engine,
            syncer,
            metadata,
            settings,
            partitions_per_table: config.partitions_per_table.max(1),
            tables: RwLock::new(tables),
            proposals: AtomicU64::new(0),
            catalog_changes: tokio::sync::Mutex::new(()),
            running_jobs: RunningJobs::default(),
        });
        node.start_table_jobs();
        if node.membership().is_some() {
            node.learn_peer_addresses()?;
            spawn_catalog_follower(&node);
            spawn_stall_check(&node);
            spawn_replica_moves(&node);
            node.register_member();
        }
        node.recover_transactions().await?;
        // Only now: recovery reads the decisions of transactions coordinated in a table
        // whose deletion a crash interrupted.
        remove_deleted_tables_data(&node.engine)?;
        Ok(node)
    }

    /// Opens (creating them if need be) the Raft groups of a table's partitions.
    pub(crate) async fn open_table(
        engine: &Arc<Engine>,
        syncer: &WalSyncer,
        descriptor: TableDescriptor,
        settings: &GroupSettings,
    ) -> Result<Arc<Table>, PartitionError> {
        let remembered = Node::remembered_key_ranges(engine, descriptor.table_id)?;
        let capacity = TableCapacity::new(&descriptor, settings.enforce_capacity, remembered);
        let mut groups = Vec::with_capacity(usize::from(descriptor.partitions));
        let limit = descriptor
            .item_collection_limit
            .unwrap_or(settings.item_collection_limit);
        let cluster = match &settings.cluster {
            Some(cluster) => Some((cluster, known_addresses(engine, cluster)?)),
            None => None,
        };
        for partition in 0..descriptor.partitions {
            let replicas = cluster
                .as_ref()
                .map_or_else(Replicas::single, |(cluster, addresses)| {
                    cluster.table_replicas(&descriptor, partition, addresses)
                });
            groups.push(
                RaftGroup::open(
                    engine.clone(),
                    syncer.clone(),
                    descriptor.table_id,
                    partition,
                    WriteSchema::of(&descriptor),
                    limit,
                    replicas,
                )
                .await?,
            );
        }
        Ok(Arc::new(Table {
            descriptor,
            groups: groups.into(),
            capacity,
        }))
    }

    fn tables_read(&self) -> std::sync::RwLockReadGuard<'_, LiveTables> {
        // A panic while holding the lock cannot leave the map half-changed (inserts and
        // removes are single calls), so a poisoned lock is still consistent.
        self.tables
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn tables_write(&self) -> std::sync::RwLockWriteGuard<'_, LiveTables> {
        self.tables
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live table of this name in this region.
    pub fn table(&self, region: &str, name: &str) -> Result<Arc<Table>, PartitionError> {
        self.tables_read()
            .get(region, name)
            .cloned()
            .ok_or_else(|| PartitionError::TableNotFound(name.to_string()))
    }

    /// The names of a region's tables, in ascending order.
    pub fn table_names(&self, region: &str) -> Vec<String> {
        self.tables_read().names(region)
    }

    /// The next table id, and the record it comes from (absent before the first table),
    /// which the creation expects unchanged.
    fn next_table_id(&self) -> Result<(u32, Option<Vec<u8>>), PartitionError> {
        let record = self
            .engine
            .get(CF_META, meta_keys::NEXT_TABLE_ID)?
            .map(|bytes| bytes.to_vec());
        let next = match &record {
            Some(bytes) => u32::from_be_bytes(
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| PartitionError::Corrupt("next table id".into()))?,
            ),
            None => 1,
        };
        Ok((next, record))
    }

    /// Creates a table; the node assigns `table_id`, `partitions` and index ids.
    pub async fn create_table(
        &self,
        mut descriptor: TableDescriptor,
    ) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes.lock().await;
        if self
            .tables_read()
            .get(&descriptor.region, &descriptor.name)
            .is_some()
        {
            return Err(PartitionError::TableExists(descriptor.name));
        }
        let (table_id, next_id) = self.next_table_id()?;
        descriptor.table_id = table_id;
        descriptor.partitions = self.partitions_per_table;
        descriptor.schema_version = 1;
        descriptor.next_index_id = 1;
        descriptor.item_collection_limit = Some(self.settings.item_collection_limit);
        if self.membership().is_some() {
            descriptor.placement = Some(InitialPlacement {
                members: self.active_members()?.into_keys().collect(),
                replication_factor: self.replication_factor()?,
            });
        }
        for index in &mut descriptor.indexes {
            index.spec.id = descriptor.next_index_id;
            descriptor.next_index_id += 1;
        }
        let table_key = meta_keys::table(&descriptor.region, &descriptor.name);
        let (descriptor, record) = catalog_record(&descriptor)?;
        self.change_metadata(MetadataChange {
            // Another node's table of the same name, or with the same id, would fail it.
            expect: vec![
                (meta_keys::NEXT_TABLE_ID.to_vec(), next_id),
                (table_key.clone(), None),
            ],
            put: vec![
                (
                    meta_keys::NEXT_TABLE_ID.to_vec(),
                    (descriptor.table_id + 1).to_be_bytes().to_vec(),
                ),
                (table_key, record),
            ],
            delete: Vec::new(),
        })
        .await?;
        // From here on the table exists: a crash before its groups are initialised is
        // rolled forward at start-up (`RaftGroup::open` initialises them).
        crash_point("create_table_after_catalog");
        let table =
            Self::open_table(&self.engine, &self.syncer, descriptor, &self.settings).await?;
        converge_schema(&table).await?;
        // A table is ready once every partition has a leader to take its writes (the
        // other replicas elect theirs as they learn of the table).
        for group in table.groups.iter() {
            group.leader().await;
        }
        self.tables_write().insert(table.clone());
        Ok(table)
    }

    /// Persists a changed descriptor of a live table and makes it current, indexes
    /// included. When what writes maintain changes, the change is also an entry in
    /// every partition's log (applied before this returns), so each write is applied
    /// under the schema it was proposed under. The caller holds `catalog_changes`.
    pub(crate) async fn replace_descriptor(
        &self,
        current: &Table,
        mut descriptor: TableDescriptor,
    ) -> Result<Arc<Table>, PartitionError> {
        descriptor.schema_version = current.descriptor.schema_version;
        if !WriteSchema::of(&descriptor).same_maintenance(&WriteSchema::of(&current.descriptor)) {
            descriptor.schema_version += 1;
        }
        // The change was made to `current`: it applies only if the catalog still holds
        // it, on this node (whose live table may lag its catalog) and at the leader.
        let key = meta_keys::table(&descriptor.region, &descriptor.name);
        let stored = self.engine.get(CF_META, &key)?.map(|bytes| bytes.to_vec());
        let stored_descriptor = stored.as_deref().map(decode_descriptor).transpose()?;
        if stored_descriptor.as_ref() != Some(&current.descriptor) {
            return Err(PartitionError::CatalogConflict);
        }
        let (descriptor, record) = catalog_record(&descriptor)?;
        self.change_metadata(MetadataChange {
            expect: vec![(key.clone(), stored)],
            put: vec![(key, record)],
            delete: Vec::new(),
        })
        .await?;
        crash_point("schema_change_after_catalog");
        current.capacity.configure(&descriptor);
        let table = Arc::new(Table {
            descriptor,
            groups: current.groups.clone(),
            capacity: current.capacity.clone(),
        });
        converge_schema(&table).await?;
        self.tables_write().insert(table.clone());
        Ok(table)
    }

    /// Replaces a table's descriptor (billing, throughput, tags, attribute definitions,
    /// index throughput); keys, partitions and the set of indexes never change this way.
    pub async fn update_table(
        &self,
        mut descriptor: TableDescriptor,
    ) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes.lock().await;
        let current = self.table(&descriptor.region, &descriptor.name)?;
        // Index jobs may have moved on since the caller read the descriptor.
        let mut indexes = current.descriptor.indexes.clone();
        for index in &mut indexes {
            if let Some(updated) = descriptor.index(&index.spec.name) {
                index.throughput = updated.throughput.clone();
            }
        }
        descriptor.indexes = indexes;
        descriptor.next_index_id = current.descriptor.next_index_id;
        self.replace_descriptor(&current, descriptor).await
    }

    /// Changes a table's descriptor as `change` says, applied to the current descriptor
    /// under the catalog lock: concurrent changes (TagResource and UntagResource on one
    /// table) each see the other's result instead of overwriting it.
    pub async fn modify_table<E: From<PartitionError>>(
        &self,
        region: &str,
        name: &str,
        change: impl FnOnce(&mut TableDescriptor) -> Result<(), E>,
    ) -> Result<Arc<Table>, E> {
        let _guard = self.catalog_changes.lock().await;
        let current = self.table(region, name)?;
        let mut descriptor = current.descriptor.clone();
        change(&mut descriptor)?;
        Ok(self.replace_descriptor(&current, descriptor).await?)
    }

    /// Deletes a table, its items and index entries, its Raft logs and its groups'
    /// records; its streams are kept (disabled) until they age out. `deleted_at` is in
    /// epoch seconds.
    pub async fn delete_table(
        &self,
        region: &str,
        name: &str,
        deleted_at: f64,
    ) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes.lock().await;
        let table = self.table(region, name)?;
        let table_id = table.descriptor.table_id;
        // The table is recorded as deleted for good: each node removes its data when it
        // applies this, or at start-up if a crash came first (`table_removal`).
        let mut put = vec![(meta_keys::deleted_table(table_id), Vec::new())];
        // Its streams stay readable until their records age out, as in DynamoDB.
        if !table.descriptor.streams.is_empty() {
            put.push(StreamOwner::retired_record(&table.descriptor, deleted_at)?);
        }
        self.change_metadata(MetadataChange {
            put,
            delete: vec![meta_keys::table(region, name)],
            ..Default::default()
        })
        .await?;
        crash_point("delete_table_after_catalog");
        self.tables_write().remove(region, name);
        for group in table.groups.iter() {
            group.shutdown().await?;
        }
        self.finish_transactions_of(&table).await?;
        let engine = self.engine.clone();
        blocking::run(move || remove_table_data(&engine, table_id)).await?;
        Ok(table)
    }

    /// Proposes a command to the Raft group of one partition of a table.
    pub async fn propose_to(
        &self,
        table: &Table,
        partition: u16,
        command: Command,
    ) -> Result<ApplyOutcome, PartitionError> {
        self.proposals.fetch_add(1, Ordering::Relaxed);
        table.group(partition)?.propose(command).await
    }

    pub(crate) fn syncer(&self) -> &WalSyncer {
        &self.syncer
    }

    pub(crate) fn settings(&self) -> &GroupSettings {
        &self.settings
    }

    pub(crate) fn metadata(&self) -> &RaftGroup {
        &self.metadata
    }

    /// This node's RocksDB, where its replicas keep their state: read-only outside
    /// the state machine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub(crate) fn catalog_changes(&self) -> &tokio::sync::Mutex<()> {
        &self.catalog_changes
    }

    /// This node's cluster (`None`: the embedded single node).
    pub fn membership(&self) -> Option<&ClusterMembership> {
        self.settings.cluster.as_ref()
    }

    pub(crate) fn running_jobs(&self) -> &RunningJobs {
        &self.running_jobs
    }

    /// Every live table, of every region, as of now.
    pub fn tables_snapshot(&self) -> Vec<Arc<Table>> {
        self.tables_read().all().cloned().collect()
    }

    /// The live table `table_id`, in whichever region.
    pub fn live_table(&self, table_id: u32) -> Option<Arc<Table>> {
        self.tables_read()
            .all()
            .find(|table| table.descriptor.table_id == table_id)
            .cloned()
    }

    /// Proposes a command on the item at `key` (from [`Table::locate`]) to the Raft group
    /// of its partition; returns once the command is durable and applied.
    pub async fn propose(
        &self,
        table: &Table,
        location: &ItemLocation,
        command: Command,
    ) -> Result<ApplyOutcome, PartitionError> {
        // Writes on tables with local indexes stay alone: an item-collection refusal
        // clears its entry's write batch. (Local indexes exist only from creation on.)
        let has_local_index = table
            .descriptor
            .indexes
            .iter()
            .any(|index| index.kind == IndexKind::Local);
        if !has_local_index {
            self.proposals.fetch_add(1, Ordering::Relaxed);
            return table
                .group(location.partition)?
                .propose_batched(command)
                .await;
        }
        self.propose_to(table, location.partition, command).await
    }

    /// This node's id in every group (1 for the embedded single node).
    pub fn node_id(&self) -> u64 {
        self.membership()
            .map_or(LOCAL_NODE_ID, |cluster| cluster.link.node_id())
    }

    /// Whether this node's groups have replicas on other nodes, which strongly
    /// consistent reads must then confirm ([`Node::read_barrier`]).
    pub fn is_replicated(&self) -> bool {
        self.membership().is_some()
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
        self.remember_key_ranges()?;
        let tables = self.tables_snapshot();
        for table in tables {
            for group in table.groups.iter() {
                group.shutdown().await?;
            }
        }
        self.metadata.shutdown().await?;
        self.engine.flush()?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
