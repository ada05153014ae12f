//! A partition's state machine: applies committed commands to the partition's items.
//!
//! Each entry is applied in ONE RocksDB write batch holding the item change, the
//! partition's statistics and the applied log id, so a crash either keeps all of it or
//! none, and replay after a crash starts exactly after the last applied entry.

use std::io::Cursor;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use cirrus_storage::codec::{decode_item, encode_item};
use cirrus_storage::engine::{partition_prefix, prefix_end, Engine, StoredItem, CF_ITEMS, CF_META};
use cirrus_storage::expression::eval::evaluate;
use cirrus_storage::expression::update::apply_update;
use cirrus_storage::expression::UpdateActions;
use cirrus_storage::size::{item_size, MAX_ITEM_BYTES};
use cirrus_storage::{Item, StorageError};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::command::{ApplyOutcome, Command, Rejection};
use crate::meta_keys::{self, GroupRecord};
use crate::raft_types::{
    io_error, Entry, LogId, RaftStorageError, Snapshot, SnapshotMeta, StoredMembership, TypeConfig,
};

/// Item count and DynamoDB size of one partition, kept exact by every apply.
#[derive(Debug, Default)]
pub struct PartitionStats {
    pub item_count: AtomicI64,
    pub size_bytes: AtomicI64,
}

#[derive(Serialize, Deserialize, Default, Clone, Copy)]
struct StatsRecord {
    item_count: i64,
    size_bytes: i64,
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct AppliedRecord {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// A snapshot's bytes: the partition's items (key suffix after the partition prefix,
/// stored value) and its statistics.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    stats: StatsRecord,
    items: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
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
    prefix: [u8; 6],
    applied: AppliedRecord,
    stats: Arc<PartitionStats>,
}

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

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, RaftStorageError> {
    bincode::serialize(value).map_err(|e| sm_error(ErrorVerb::Write, e))
}

impl StateMachine {
    pub fn open(
        engine: Arc<Engine>,
        table_id: u32,
        partition: u16,
        group: u64,
    ) -> Result<StateMachine, StorageError> {
        let applied = read_record(&engine, group, GroupRecord::Applied)?.unwrap_or_default();
        let stats_record: StatsRecord =
            read_record(&engine, group, GroupRecord::Stats)?.unwrap_or_default();
        let stats = Arc::new(PartitionStats {
            item_count: AtomicI64::new(stats_record.item_count),
            size_bytes: AtomicI64::new(stats_record.size_bytes),
        });
        Ok(StateMachine {
            engine,
            group,
            prefix: partition_prefix(table_id, partition),
            applied,
            stats,
        })
    }

    pub fn stats(&self) -> Arc<PartitionStats> {
        self.stats.clone()
    }

    fn stats_record(&self) -> StatsRecord {
        StatsRecord {
            item_count: self.stats.item_count.load(Ordering::Relaxed),
            size_bytes: self.stats.size_bytes.load(Ordering::Relaxed),
        }
    }

    fn decode(stored: &[u8]) -> Result<Item, RaftStorageError> {
        let bytes = StoredItem::codec_bytes(stored).map_err(|e| sm_error(ErrorVerb::Read, e))?;
        decode_item(bytes).map_err(|e| sm_error(ErrorVerb::Read, e))
    }

    /// Applies one command into `batch`, returning the outcome and the statistics change.
    /// Conditions and updates see the item as it is now, in log order, so every replica
    /// reaches the same decision.
    fn apply_command(
        &self,
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
        };
        let old = self
            .engine
            .get(CF_ITEMS, &key)
            .map_err(|e| sm_error(ErrorVerb::Read, e))?
            .map(|slice| slice.to_vec());
        let needs_old_item = condition.is_some() || matches!(change, Change::Update(..));
        let old_item = match (&old, needs_old_item) {
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
                    new_item: None,
                    rejection: Some(rejection),
                },
                StatsRecord::default(),
            ))
        };
        if let Some(condition) = &condition {
            let empty = Item::new();
            match evaluate(condition, old_item.as_ref().unwrap_or(&empty)) {
                Ok(true) => {}
                Ok(false) => return reject(Rejection::ConditionFailed, old),
                Err(e) => return reject(Rejection::Invalid(e.to_string()), old),
            }
        }
        let new_stored = match change {
            Change::Put(item) => Some(item),
            Change::Delete => None,
            Change::Update(key_attributes, actions) => {
                let mut item = old_item.unwrap_or(key_attributes);
                if let Err(e) = apply_update(&mut item, &actions) {
                    return reject(Rejection::Invalid(e.to_string()), None);
                }
                let size = item_size(&item);
                if size > MAX_ITEM_BYTES {
                    return reject(
                        Rejection::Invalid(
                            "Item size to update has exceeded the maximum allowed size".into(),
                        ),
                        None,
                    );
                }
                let mut codec_bytes = Vec::with_capacity(size + 16);
                encode_item(&item, &mut codec_bytes);
                // `size` is at most MAX_ITEM_BYTES, which fits a u32.
                Some(StoredItem::encode(size as u32, &codec_bytes))
            }
        };
        let items = self
            .engine
            .cf(CF_ITEMS)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let mut delta = StatsRecord::default();
        if let Some(old) = &old {
            delta.item_count -= 1;
            delta.size_bytes -=
                i64::from(StoredItem::size(old).map_err(|e| sm_error(ErrorVerb::Read, e))?);
        }
        match &new_stored {
            Some(item) => {
                delta.item_count += 1;
                delta.size_bytes +=
                    i64::from(StoredItem::size(item).map_err(|e| sm_error(ErrorVerb::Write, e))?);
                batch.put_cf(items, &key, item);
            }
            None if old.is_some() => batch.delete_cf(items, &key),
            None => {}
        }
        let outcome = ApplyOutcome {
            old_item: if wanted.old { old } else { None },
            new_item: if wanted.new { new_stored } else { None },
            rejection: None,
        };
        Ok((outcome, delta))
    }

    fn build_snapshot_now(&self) -> Result<Snapshot, RaftStorageError> {
        let mut items = Vec::new();
        self.engine
            .scan(
                CF_ITEMS,
                &self.prefix,
                &prefix_end(&self.prefix),
                |key, value| {
                    items.push((key[self.prefix.len()..].to_vec(), value.to_vec()));
                    Ok(true)
                },
            )
            .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        let data = encode(&SnapshotData {
            stats: self.stats_record(),
            items,
        })?;
        let last = self.applied.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.applied.membership.clone(),
            snapshot_id: format!(
                "{}-{}-{}",
                self.group,
                last.map(|l| l.leader_id.term).unwrap_or(0),
                last.map(|l| l.index).unwrap_or(0)
            ),
        };
        let stored = StoredSnapshot { meta, data };
        self.engine
            .put(
                CF_META,
                &meta_keys::group(self.group, GroupRecord::Snapshot),
                &encode(&stored)?,
            )
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

/// Builds a snapshot that was already captured when the builder was made: the state
/// machine is consistent only between two applies, which is when openraft asks for it.
pub struct SnapshotBuilder {
    snapshot: Option<Result<Snapshot, RaftStorageError>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, RaftStorageError> {
        self.snapshot.take().unwrap_or_else(|| {
            Err(sm_error(
                ErrorVerb::Read,
                std::io::Error::other("snapshot already taken"),
            ))
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

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
        let mut outcomes = Vec::new();
        for entry in entries {
            // Entries at or before the applied index were written with their effects.
            if Some(entry.log_id) <= self.applied.last_applied {
                outcomes.push(ApplyOutcome::default());
                continue;
            }
            let mut batch = WriteBatch::default();
            let (outcome, delta) = match entry.payload {
                EntryPayload::Blank => (ApplyOutcome::default(), StatsRecord::default()),
                EntryPayload::Normal(command) => self.apply_command(command, &mut batch)?,
                EntryPayload::Membership(membership) => {
                    self.applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                    (ApplyOutcome::default(), StatsRecord::default())
                }
            };
            self.applied.last_applied = Some(entry.log_id);
            let stats = StatsRecord {
                item_count: self.stats.item_count.load(Ordering::Relaxed) + delta.item_count,
                size_bytes: self.stats.size_bytes.load(Ordering::Relaxed) + delta.size_bytes,
            };
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
            self.stats
                .item_count
                .store(stats.item_count, Ordering::Relaxed);
            self.stats
                .size_bytes
                .store(stats.size_bytes, Ordering::Relaxed);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            snapshot: Some(self.build_snapshot_now()),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), RaftStorageError> {
        let bytes = snapshot.into_inner();
        let data: SnapshotData =
            bincode::deserialize(&bytes).map_err(|e| sm_error(ErrorVerb::Read, e))?;
        let items = self
            .engine
            .cf(CF_ITEMS)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let meta_cf = self
            .engine
            .cf(CF_META)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(&items, &self.prefix[..], &prefix_end(&self.prefix)[..]);
        for (suffix, value) in &data.items {
            let mut key = self.prefix.to_vec();
            key.extend_from_slice(suffix);
            batch.put_cf(&items, key, value);
        }
        let applied = AppliedRecord {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        batch.put_cf(
            &meta_cf,
            meta_keys::group(self.group, GroupRecord::Applied),
            encode(&applied)?,
        );
        batch.put_cf(
            &meta_cf,
            meta_keys::group(self.group, GroupRecord::Stats),
            encode(&data.stats)?,
        );
        let stored = encode(&StoredSnapshot {
            meta: meta.clone(),
            data: bytes,
        })?;
        batch.put_cf(
            &meta_cf,
            meta_keys::group(self.group, GroupRecord::Snapshot),
            stored,
        );
        self.engine
            .write(batch)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        self.engine
            .sync_wal()
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        self.applied = applied;
        self.stats
            .item_count
            .store(data.stats.item_count, Ordering::Relaxed);
        self.stats
            .size_bytes
            .store(data.stats.size_bytes, Ordering::Relaxed);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, RaftStorageError> {
        let stored: Option<StoredSnapshot> =
            read_record(&self.engine, self.group, GroupRecord::Snapshot)
                .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
