//! A partition's state machine: applies committed commands to the partition's items.
//!
//! Each entry is applied in ONE RocksDB write batch holding the item change, the
//! changes to its secondary-index entries, the partition's statistics and the applied
//! log id, so a crash either keeps all of it or none, and replay after a crash starts
//! exactly after the last applied entry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cirrus_storage::change_log::{change_key, ChangeKind, ChangeOrigin, ChangeRecord};
use cirrus_storage::codec::{decode_item, encode_item};
use cirrus_storage::engine::{
    partition_prefix, split_table_key, Engine, StoredItem, CF_CHANGES, CF_ITEMS, CF_META,
};
use cirrus_storage::expression::eval::evaluate;
use cirrus_storage::expression::update::apply_update;
use cirrus_storage::expression::{Condition, UpdateActions};
use cirrus_storage::index::index_prefix;
use cirrus_storage::key::decode_key_value;
use cirrus_storage::size::{item_size, MAX_ITEM_BYTES};
use cirrus_storage::{Item, StorageError};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::blocking;
use crate::capacity::{write_units, WriteConsumption};
use crate::command::{ApplyOutcome, Command, Rejection};
use crate::failpoint::delay_point;
use crate::write_schema::{AppliedSchema, StreamTarget, WriteSchema};

mod expiry;
mod indexes;
mod metadata;
mod snapshot;
mod stream_trim;
mod transactions;
use crate::meta_keys::{self, GroupRecord};
use crate::raft_types::{
    io_error, Entry, LogId, RaftStorageError, Snapshot, SnapshotMeta, StoredMembership, TypeConfig,
};
pub(crate) use snapshot::remove_table_snapshots;
pub use snapshot::StateDigest;
pub use transactions::TxLocks;

/// An item count and a DynamoDB size, of a partition's items or of its entries in one
/// index.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub item_count: i64,
    pub size_bytes: i64,
}

impl Counts {
    fn add(&mut self, item_count: i64, size_bytes: i64) {
        self.item_count += item_count;
        self.size_bytes += size_bytes;
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct StatsRecord {
    table: Counts,
    indexes: BTreeMap<u16, Counts>,
    /// Items deleted by TTL expiry (DynamoDB's TimeToLiveDeletedItemCount).
    expired: i64,
}

impl StatsRecord {
    fn add(&mut self, delta: &StatsRecord) {
        self.table
            .add(delta.table.item_count, delta.table.size_bytes);
        self.expired += delta.expired;
        for (id, counts) in &delta.indexes {
            let total = self.indexes.entry(*id).or_default();
            total.add(counts.item_count, counts.size_bytes);
            if *total == Counts::default() {
                self.indexes.remove(id);
            }
        }
    }
}

/// The partition's counts, kept exact by every apply.
#[derive(Debug, Default)]
pub struct PartitionStats(Mutex<StatsRecord>);

impl PartitionStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatsRecord> {
        // Only whole records are stored, so a poisoned lock still holds a consistent one.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn table(&self) -> Counts {
        self.lock().table
    }

    /// Items deleted by TTL expiry.
    pub fn expired(&self) -> i64 {
        self.lock().expired
    }

    pub fn index(&self, index_id: u16) -> Counts {
        self.lock()
            .indexes
            .get(&index_id)
            .copied()
            .unwrap_or_default()
    }

    fn record(&self) -> StatsRecord {
        self.lock().clone()
    }

    fn store(&self, record: StatsRecord) {
        *self.lock() = record;
    }
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct AppliedRecord {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// Takes digests of one group's replicated state.
pub struct StateDigests(Arc<snapshot::Snapshots>);

impl StateDigests {
    pub fn digest(&self) -> Result<StateDigest, StorageError> {
        self.0.digest()
    }
}

/// Keys and values of a range of a column family.
type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

/// An item after a change: its stored bytes (`None`: deleted), and the decoded item
/// when indexes need it.
type NewItem = (Option<Vec<u8>>, Option<Item>);

/// One item change, as `write_item` records it.
struct ItemWrite<'a> {
    origin: ChangeOrigin,
    key: &'a [u8],
    old: Option<&'a [u8]>,
    old_item: Option<&'a Item>,
    new: Option<&'a [u8]>,
    new_item: Option<&'a Item>,
}

/// What a command does to the item once its condition holds.
enum Change {
    Put(Vec<u8>),
    Delete,
    Update(Item, UpdateActions),
}

pub struct StateMachine {
    engine: Arc<Engine>,
    group: u64,
    table_id: u32,
    partition: u16,
    prefix: [u8; 6],
    applied: AppliedRecord,
    stats: Arc<PartitionStats>,
    /// What writes maintain, as of the last applied `SetSchema` entry.
    schema: Arc<AppliedSchema>,
    /// The largest item collection a write may leave (DynamoDB: 10 GB).
    collection_limit: u64,
    locks: Arc<TxLocks>,
    snapshots: Arc<snapshot::Snapshots>,
    /// Items a transaction released in the entry being applied; their in-memory locks
    /// go once the entry's batch is written.
    unlock_after_write: Vec<Vec<u8>>,
    /// The log index of the entry being applied, and how many change records it made
    /// so far: together, the sequence of its next stream record.
    applying_index: u64,
    changes_in_entry: u64,
    /// The proposer's clock for the entry being applied (epoch milliseconds): the only
    /// time apply may use.
    applying_at_ms: u64,
    /// The write units the entry being applied consumed so far.
    consumed: WriteConsumption,
}

/// Room for the change records of one log entry (a transaction writes at most 100
/// items in a partition).
const CHANGES_PER_ENTRY: u64 = 1000;

fn sm_error(verb: ErrorVerb, e: impl std::error::Error + 'static) -> RaftStorageError {
    io_error(ErrorSubject::StateMachine, verb, e)
}

fn read_record<T: serde::de::DeserializeOwned>(
    engine: &Engine,
    group: u64,
    record: GroupRecord,
) -> Result<Option<T>, StorageError> {
    match engine.get(CF_META, &meta_keys::group(group, record))? {
        Some(bytes) => bincode::deserialize(&bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

/// Whether a write's condition holds for the item as it is.
fn check_condition(condition: Option<&Condition>, item: Option<&Item>) -> Result<(), Rejection> {
    let Some(condition) = condition else {
        return Ok(());
    };
    let empty = Item::new();
    match evaluate(condition, item.unwrap_or(&empty)) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Rejection::ConditionFailed),
        Err(e) => Err(Rejection::Invalid(e.to_string())),
    }
}

/// Where a backfill resumes: after the last item of a full chunk; `None` once a chunk
/// came back short (the partition is covered).
fn resume_after(chunk: &mut KeyValues, limit: u32) -> Option<Vec<u8>> {
    match chunk.pop() {
        Some((last, _)) if chunk.len() + 1 >= limit as usize => Some(last),
        _ => None,
    }
}

fn stored_size(stored: &[u8]) -> Result<u32, RaftStorageError> {
    StoredItem::size(stored).map_err(|e| sm_error(ErrorVerb::Read, e))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, RaftStorageError> {
    bincode::serialize(value).map_err(|e| sm_error(ErrorVerb::Write, e))
}

impl StateMachine {
    pub fn open(
        engine: Arc<Engine>,
        table_id: u32,
        partition: u16,
        group: u64,
        initial_schema: WriteSchema,
        collection_limit: u64,
    ) -> Result<StateMachine, StorageError> {
        let prefix = partition_prefix(table_id, partition);
        // Before the records below are read: it finishes an install a crash cut short.
        let snapshots = snapshot::Snapshots::open(engine.clone(), group, prefix)?;
        let applied = read_record(&engine, group, GroupRecord::Applied)?.unwrap_or_default();
        // A partition that has applied no schema entry yet starts below every version,
        // so the first `SetSchema` in its log takes effect (also when replaying a log
        // from its start).
        let schema = read_record(&engine, group, GroupRecord::Schema)?.unwrap_or(WriteSchema {
            version: 0,
            ..initial_schema
        });
        let stats_record: StatsRecord =
            read_record(&engine, group, GroupRecord::Stats)?.unwrap_or_default();
        let state_machine = StateMachine {
            engine,
            group,
            table_id,
            partition,
            prefix,
            applied,
            stats: Arc::new(PartitionStats(Mutex::new(stats_record))),
            schema: AppliedSchema::new(schema),
            collection_limit,
            locks: Arc::default(),
            snapshots,
            unlock_after_write: Vec::new(),
            applying_index: 0,
            changes_in_entry: 0,
            applying_at_ms: 0,
            consumed: WriteConsumption::default(),
        };
        state_machine.load_locks()?;
        Ok(state_machine)
    }

    pub fn stats(&self) -> Arc<PartitionStats> {
        self.stats.clone()
    }

    pub fn locks(&self) -> Arc<TxLocks> {
        self.locks.clone()
    }

    pub fn schema(&self) -> Arc<AppliedSchema> {
        self.schema.clone()
    }

    /// What takes the digest of the group's state (`snapshot::digest`).
    pub fn digests(&self) -> StateDigests {
        StateDigests(self.snapshots.clone())
    }

    /// The proposer's clock for the entry being applied, in epoch seconds.
    fn applying_at_seconds(&self) -> u64 {
        self.applying_at_ms / 1000
    }

    /// The prefix of this partition's entries in index `index_id`.
    fn index_prefix(&self, index_id: u16) -> [u8; 8] {
        index_prefix(self.table_id, self.partition, index_id)
    }

    fn decode(stored: &[u8]) -> Result<Item, RaftStorageError> {
        let bytes = StoredItem::codec_bytes(stored).map_err(|e| sm_error(ErrorVerb::Read, e))?;
        decode_item(bytes).map_err(|e| sm_error(ErrorVerb::Read, e))
    }

    /// Applies one command into `batch`, returning the outcome and the statistics change.
    /// Conditions and updates see the item as it is now, in log order, so every replica
    /// reaches the same decision.
    fn apply_command(
        &mut self,
        command: Command,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let (key, condition, wanted, change) = match command {
            Command::Put {
                key,
                item,
                condition,
                wanted,
            } => (key, condition, wanted, Change::Put(item)),
            Command::Delete {
                key,
                condition,
                wanted,
            } => (key, condition, wanted, Change::Delete),
            Command::Update {
                key,
                key_attributes,
                actions,
                condition,
                wanted,
            } => (
                key,
                condition,
                wanted,
                Change::Update(key_attributes, actions),
            ),
            Command::BackfillIndex {
                index_id,
                after,
                limit,
            } => return self.backfill_index(index_id, after, limit, batch),
            Command::DropIndex { index_id } => return self.drop_index(index_id, batch),
            Command::TxPrepare {
                tx,
                coordinator,
                actions,
            } => return self.tx_prepare(tx, coordinator, actions, batch),
            Command::TxDecide {
                tx,
                commit,
                participants,
                token,
            } => return self.tx_decide(tx, commit, participants, token, batch),
            Command::TxCommit { tx } => return self.tx_finish(tx, true, batch),
            Command::TxAbort { tx } => return self.tx_finish(tx, false, batch),
            Command::TxForget { tx } => return self.tx_forget(tx, batch),
            Command::Expire { key, expiry, now } => return self.expire(key, expiry, now, batch),
            Command::BackfillExpiry { after, limit } => {
                return self.backfill_expiry(after, limit, batch)
            }
            Command::DropExpiry => return self.drop_expiry(batch),
            Command::SetSchema(schema) => return self.set_schema(schema, batch),
            Command::Batch(commands) => return self.apply_batch(commands, batch),
            Command::Metadata(change) => return self.apply_metadata(change, batch),
            Command::TrimStream { stream_id, before } => {
                return self.trim_stream(stream_id, before, batch)
            }
        };
        if self.locks.holds(&key) {
            return Ok((
                ApplyOutcome {
                    rejection: Some(Rejection::TransactionConflict),
                    ..Default::default()
                },
                StatsRecord::default(),
            ));
        }
        let indexes = self.schema.get();
        let old = self.read_item(&key)?;
        // A write is charged even when its condition fails: on the item as it is (one
        // unit when there is none, as DynamoDB charges a refused write of a new item).
        let old_size = old.as_deref().map(stored_size).transpose()?.unwrap_or(0);
        self.consumed.item_units = write_units(u64::from(old_size));
        let needs_old_item =
            condition.is_some() || indexes.needs_items() || matches!(change, Change::Update(..));
        let mut old_item = match (&old, needs_old_item) {
            (Some(stored), true) => Some(Self::decode(stored)?),
            _ => None,
        };
        let reject = |rejection: Rejection, old: Option<Vec<u8>>| {
            let old_item = match rejection {
                Rejection::ConditionFailed if wanted.old_on_condition_failure => old,
                _ => None,
            };
            Ok((
                ApplyOutcome {
                    old_item,
                    rejection: Some(rejection),
                    ..Default::default()
                },
                StatsRecord::default(),
            ))
        };
        let (new_stored, new_item) =
            match self.decide(&indexes, condition.as_ref(), change, &mut old_item)? {
                Ok(new) => new,
                Err(rejection) => return reject(rejection, old),
            };
        let mut delta = StatsRecord::default();
        let written = ItemWrite {
            origin: ChangeOrigin::Client,
            key: &key,
            old: old.as_deref(),
            old_item: old_item.as_ref(),
            new: new_stored.as_deref(),
            new_item: new_item.as_ref(),
        };
        let new_size = new_stored
            .as_deref()
            .map(stored_size)
            .transpose()?
            .unwrap_or(0);
        self.consumed.item_units = write_units(u64::from(old_size.max(new_size)));
        let collection_size = match self.write_item(&indexes, written, true, batch, &mut delta)? {
            Ok(size) => size,
            Err(rejection) => {
                batch.clear();
                return reject(rejection, None);
            }
        };
        let outcome = ApplyOutcome {
            old_item: if wanted.old { old } else { None },
            new_item: if wanted.new { new_stored } else { None },
            collection_size,
            ..Default::default()
        };
        Ok((outcome, delta))
    }

    /// Applies batched single-item writes one after another into the entry's batch,
    /// each with its own outcome and consumption.
    fn apply_batch(
        &mut self,
        commands: Vec<Command>,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let mut outcomes = Vec::with_capacity(commands.len());
        let mut total = StatsRecord::default();
        for command in commands {
            self.consumed = WriteConsumption::default();
            // Only batchable commands are batched: none can undo the shared batch.
            let (mut outcome, delta) = if command.batchable() {
                self.apply_command(command, batch)?
            } else {
                (ApplyOutcome::default(), StatsRecord::default())
            };
            outcome.consumed = std::mem::take(&mut self.consumed);
            outcomes.push(outcome);
            total.add(&delta);
        }
        Ok((
            ApplyOutcome {
                batch: outcomes,
                ..Default::default()
            },
            total,
        ))
    }

    fn read_item(&self, key: &[u8]) -> Result<Option<Vec<u8>>, RaftStorageError> {
        Ok(self
            .engine
            .get(CF_ITEMS, key)
            .map_err(|e| sm_error(ErrorVerb::Read, e))?
            .map(|slice| slice.to_vec()))
    }

    /// Evaluates a write's condition against the item as it is, then computes the item
    /// after the change (`None`: deleted) with DynamoDB's checks: the 400 KB limit and
    /// the index key types. The decoded new item comes along when indexes need it.
    /// The old item is taken for an update unless indexes still need it.
    fn decide(
        &self,
        indexes: &WriteSchema,
        condition: Option<&Condition>,
        change: Change,
        old_item: &mut Option<Item>,
    ) -> Result<Result<NewItem, Rejection>, RaftStorageError> {
        let indexed = indexes.needs_items();
        // A put's index keys are part of validating the request, so they are checked
        // before its condition, as DynamoDB does.
        let put_item = match (&change, indexed) {
            (Change::Put(stored), true) => {
                let item = Self::decode(stored)?;
                if let Err(e) = indexes.check(&item) {
                    return Ok(Err(Rejection::Invalid(e.to_string())));
                }
                Some(item)
            }
            _ => None,
        };
        if let Err(rejection) = check_condition(condition, old_item.as_ref()) {
            return Ok(Err(rejection));
        }
        Ok(Ok(match change {
            Change::Put(item) => (Some(item), put_item),
            Change::Delete => (None, None),
            // Taking attributes away from a missing item leaves nothing to write:
            // DynamoDB does not create the item.
            Change::Update(_, actions) if old_item.is_none() && actions.only_removes() => {
                (None, None)
            }
            Change::Update(key_attributes, actions) => {
                let base = if indexed {
                    old_item.clone()
                } else {
                    old_item.take()
                };
                let mut item = base.unwrap_or(key_attributes);
                if let Err(e) = apply_update(&mut item, &actions) {
                    return Ok(Err(Rejection::Invalid(e.to_string())));
                }
                let size = item_size(&item);
                if size > MAX_ITEM_BYTES {
                    return Ok(Err(Rejection::Invalid(
                        "Item size to update has exceeded the maximum allowed size".into(),
                    )));
                }
                if let Err(e) = indexes.check(&item) {
                    // An item that already held the bad value (from before the index
                    // existed) is reported like a put of it.
                    let attribute = e.attribute();
                    let unchanged =
                        old_item.as_ref().and_then(|old| old.get(attribute)) == item.get(attribute);
                    let message = if unchanged {
                        e.to_string()
                    } else {
                        e.update_message()
                    };
                    return Ok(Err(Rejection::Invalid(message)));
                }
                let mut codec_bytes = Vec::with_capacity(size + 16);
                encode_item(&item, &mut codec_bytes);
                // `size` is at most MAX_ITEM_BYTES, which fits a u32.
                let stored = StoredItem::encode(size as u32, &codec_bytes);
                (Some(stored), indexed.then_some(item))
            }
        }))
    }

    /// Writes an item change into `batch` with everything that goes with it: index
    /// entries, statistics and, on tables with local indexes, the collection size
    /// (returned; with `enforce_limit`, a collection grown past the limit is refused).
    fn write_item(
        &mut self,
        indexes: &WriteSchema,
        write: ItemWrite<'_>,
        enforce_limit: bool,
        batch: &mut WriteBatch,
        delta: &mut StatsRecord,
    ) -> Result<Result<Option<u64>, Rejection>, RaftStorageError> {
        let items = self
            .engine
            .cf(CF_ITEMS)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let old_size = write.old.map(stored_size).transpose()?.unwrap_or(0);
        let new_size = write.new.map(stored_size).transpose()?.unwrap_or(0);
        if write.old.is_some() {
            delta.table.add(-1, -i64::from(old_size));
        }
        match write.new {
            Some(item) => {
                delta.table.add(1, i64::from(new_size));
                batch.put_cf(items, write.key, item);
            }
            None if write.old.is_some() => batch.delete_cf(items, write.key),
            None => {}
        }
        // A write that leaves the item as it was is no change to stream.
        if let (Some(stream), true) = (indexes.stream, write.old != write.new) {
            self.record_change(indexes, stream, &write, batch)?;
        }
        if let Some(attribute) = &indexes.ttl_attribute {
            self.maintain_expiry(attribute, &write, batch)?;
        }
        if indexes.specs.is_empty() {
            return Ok(Ok(None));
        }
        let index_units = self.maintain_indexes(
            indexes,
            write.key,
            write.old_item,
            write.new_item,
            batch,
            delta,
        )?;
        for (id, units) in index_units {
            *self.consumed.index_units.entry(id).or_default() += units;
        }
        if indexes.local_ids.is_empty() {
            return Ok(Ok(None));
        }
        match self.resize_collection(indexes, write.key, delta, enforce_limit, batch)? {
            Some(size) => Ok(Ok(Some(size))),
            None => Ok(Err(Rejection::ItemCollectionTooLarge)),
        }
    }

    /// The sequence of the next change record of the entry being applied: its log index
    /// scaled by [`CHANGES_PER_ENTRY`], plus the record's position in the entry (a
    /// transaction applies several changes in one entry). Deterministic, so a replayed
    /// entry rewrites the same keys.
    fn next_change_sequence(&mut self) -> u64 {
        let sequence = self.applying_index * CHANGES_PER_ENTRY + self.changes_in_entry;
        self.changes_in_entry += 1;
        sequence
    }

    /// Appends the change to the stream's shard in this partition.
    fn record_change(
        &mut self,
        schema: &WriteSchema,
        stream: StreamTarget,
        write: &ItemWrite<'_>,
        batch: &mut WriteBatch,
    ) -> Result<(), RaftStorageError> {
        let kind = match (write.old, write.new) {
            (None, _) => ChangeKind::Insert,
            (Some(_), Some(_)) => ChangeKind::Modify,
            (Some(_), None) => ChangeKind::Remove,
        };
        let mut keys = Item::new();
        let (_, mut encoded) = split_table_key(&write.key[self.prefix.len()..])
            .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        for attribute in schema.table_keys.attributes() {
            let (value, length) = decode_key_value(attribute.ty, encoded)
                .map_err(|e| sm_error(ErrorVerb::Read, e))?;
            keys.insert(attribute.name.clone(), value);
            encoded = &encoded[length..];
        }
        let keys_size = item_size(&keys);
        let mut codec_bytes = Vec::with_capacity(keys_size + 8);
        encode_item(&keys, &mut codec_bytes);
        let old = write.old.filter(|_| stream.view.keeps_old());
        let new = write.new.filter(|_| stream.view.keeps_new());
        let mut size_bytes = keys_size as u32;
        for image in [old, new].into_iter().flatten() {
            size_bytes += stored_size(image)?;
        }
        let record = ChangeRecord {
            kind,
            origin: write.origin,
            created_at_ms: self.applying_at_ms,
            view: stream.view,
            keys: StoredItem::encode(keys_size as u32, &codec_bytes),
            old: old.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
            size_bytes,
        };
        let sequence = self.next_change_sequence();
        let cf = self
            .engine
            .cf(CF_CHANGES)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        batch.put_cf(
            cf,
            change_key(self.table_id, self.partition, stream.stream_id, sequence),
            encode(&record)?,
        );
        Ok(())
    }

    /// Applies committed entries, each in one write batch with the applied log id.
    fn apply_entries(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Vec<ApplyOutcome>, RaftStorageError> {
        let mut outcomes = Vec::new();
        for entry in entries {
            // Entries at or before the applied index were written with their effects.
            if Some(entry.log_id) <= self.applied.last_applied {
                outcomes.push(ApplyOutcome::default());
                continue;
            }
            let mut batch = WriteBatch::default();
            self.applying_index = entry.log_id.index;
            self.changes_in_entry = 0;
            self.consumed = WriteConsumption::default();
            let (outcome, delta) = match entry.payload {
                EntryPayload::Blank => (ApplyOutcome::default(), StatsRecord::default()),
                EntryPayload::Normal(proposal) => {
                    if matches!(proposal.command, Command::Put { .. } | Command::Batch(_)) {
                        delay_point("apply_put");
                    }
                    self.applying_at_ms = proposal.at_ms;
                    self.apply_command(proposal.command, &mut batch)?
                }
                EntryPayload::Membership(membership) => {
                    self.applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                    (ApplyOutcome::default(), StatsRecord::default())
                }
            };
            self.applied.last_applied = Some(entry.log_id);
            let mut stats = self.stats.record();
            stats.add(&delta);
            let meta = self
                .engine
                .cf(CF_META)
                .map_err(|e| sm_error(ErrorVerb::Write, e))?;
            batch.put_cf(
                &meta,
                meta_keys::group(self.group, GroupRecord::Applied),
                encode(&self.applied)?,
            );
            batch.put_cf(
                &meta,
                meta_keys::group(self.group, GroupRecord::Stats),
                encode(&stats)?,
            );
            self.engine
                .write(batch)
                .map_err(|e| sm_error(ErrorVerb::Write, e))?;
            let mut outcome = outcome;
            outcome.consumed = std::mem::take(&mut self.consumed);
            for key in self.unlock_after_write.drain(..) {
                self.locks.remove(&key);
            }
            self.stats.store(stats);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = snapshot::SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership), RaftStorageError> {
        Ok((self.applied.last_applied, self.applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyOutcome>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        // Reads of the items written and the batch write may block (cache misses, write
        // stalls): the worker's other tasks go on elsewhere meanwhile.
        blocking::in_place(|| self.apply_entries(entries))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots.builder().await
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, RaftStorageError> {
        self.snapshots.receive().await
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), RaftStorageError> {
        self.install_snapshot_file(meta, snapshot).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, RaftStorageError> {
        self.snapshots.current().await
    }
}
