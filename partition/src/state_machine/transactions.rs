//! Transactions as one partition sees them: preparing (checking every action and
//! locking its item with the pending write), committing, aborting, and the decision
//! records the coordinator partition keeps.
//!
//! The `transactions` column family holds, under the partition's prefix:
//! - `L · item key suffix` → [`Lock`]: the item is held by a prepared transaction;
//! - `D · tx id` → [`Decision`]: the transaction committed (only in its coordinator);
//! - `A · tx id` → nothing: the transaction was aborted after a decision was sought
//!   (only in its coordinator).
//!
//! A transaction has at most one of `D` and `A`: the first decision applied stands, so
//! a coordinator that does not know whether its commit decision went in can seek an
//! abort and obey whichever decision it gets back.
//!
//! Locks are also kept in memory ([`TxLocks`]) so that every single-item write and every
//! transactional read can check them without touching RocksDB.

use std::collections::HashMap;
use std::sync::Mutex;

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use cirrus_storage::change_log::ChangeOrigin;
use cirrus_storage::engine::{prefix_end, CF_META, CF_TRANSACTIONS};
use cirrus_storage::StorageError;
use openraft::ErrorVerb;

use super::{check_condition, encode, sm_error, Change, ItemWrite, StateMachine, StatsRecord};
use crate::capacity::write_units;
use crate::command::{
    ApplyOutcome, PartitionRef, Rejection, TxAction, TxFailure, TxId, TxToken, TxWrite,
};
use crate::meta_keys;
use crate::raft_types::RaftStorageError;

const LOCK: u8 = b'L';
const DECISION: u8 = b'D';
const ABORTED: u8 = b'A';

/// A prepared action's hold on its item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lock {
    pub tx: TxId,
    pub coordinator: PartitionRef,
    /// The write to apply at commit: `None` for a condition check, `Some(None)` for a
    /// delete.
    pub pending: Option<Option<Vec<u8>>>,
}

/// A committed transaction's record in its coordinator partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    pub participants: Vec<PartitionRef>,
}

/// The items of a partition held by prepared transactions, by item key.
#[derive(Debug, Default)]
pub struct TxLocks(Mutex<HashMap<Vec<u8>, Lock>>);

impl TxLocks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Lock>> {
        // Entries are inserted and removed whole, so a poisoned map is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn holds(&self, key: &[u8]) -> bool {
        self.lock().contains_key(key)
    }

    /// Every prepared transaction in the partition, with its coordinator.
    pub fn transactions(&self) -> Vec<(TxId, PartitionRef)> {
        let mut found: Vec<(TxId, PartitionRef)> = self
            .lock()
            .values()
            .map(|lock| (lock.tx, lock.coordinator))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The transaction's locks in key order: applying them must not depend on the map's
    /// per-process hashing, or a replay (or another replica) would differ.
    fn of(&self, tx: TxId) -> Vec<(Vec<u8>, Lock)> {
        let mut held: Vec<(Vec<u8>, Lock)> = self
            .lock()
            .iter()
            .filter(|(_, lock)| lock.tx == tx)
            .map(|(key, lock)| (key.clone(), lock.clone()))
            .collect();
        held.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        held
    }

    pub(super) fn insert(&self, key: Vec<u8>, lock: Lock) {
        self.lock().insert(key, lock);
    }

    pub(super) fn remove(&self, key: &[u8]) {
        self.lock().remove(key);
    }

    pub(super) fn clear(&self) {
        self.lock().clear();
    }
}

fn corrupt(what: &str) -> RaftStorageError {
    sm_error(ErrorVerb::Read, StorageError::Corrupt(what.to_string()))
}

impl StateMachine {
    fn tx_key(&self, tag: u8, rest: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 1 + rest.len());
        key.extend_from_slice(&self.prefix);
        key.push(tag);
        key.extend_from_slice(rest);
        key
    }

    /// Loads the partition's locks into memory (at open).
    pub(super) fn load_locks(&self) -> Result<(), StorageError> {
        let start = self.tx_key(LOCK, &[]);
        let mut loaded = Vec::new();
        self.engine.scan(
            CF_TRANSACTIONS,
            &start,
            &prefix_end(&start),
            |key, value| {
                let lock: Lock = bincode::deserialize(value)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                let mut item_key = self.prefix.to_vec();
                item_key.extend_from_slice(&key[start.len()..]);
                loaded.push((item_key, lock));
                Ok(true)
            },
        )?;
        for (key, lock) in loaded {
            self.locks.insert(key, lock);
        }
        Ok(())
    }

    /// Checks every action; if all pass, locks their items with the pending writes.
    pub(super) fn tx_prepare(
        &mut self,
        tx: TxId,
        coordinator: PartitionRef,
        actions: Vec<TxAction>,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let indexes = self.schema.get();
        let mut failures = Vec::new();
        let mut locks = Vec::with_capacity(actions.len());
        for action in actions {
            if self.locks.holds(&action.key) {
                failures.push(TxFailure {
                    position: action.position,
                    rejection: Rejection::TransactionConflict,
                    old_item: None,
                });
                continue;
            }
            let old = self.read_item(&action.key)?;
            let old_size = old
                .as_deref()
                .map(super::stored_size)
                .transpose()?
                .unwrap_or(0);
            let mut old_item = old.as_deref().map(Self::decode).transpose()?;
            let change = match action.write {
                TxWrite::Put(item) => Some(Change::Put(item)),
                TxWrite::Delete => Some(Change::Delete),
                TxWrite::Update {
                    key_attributes,
                    actions,
                } => Some(Change::Update(key_attributes, actions)),
                TxWrite::Check => None,
            };
            let decided = match change {
                Some(change) => self
                    .decide(&indexes, action.condition.as_ref(), change, &mut old_item)?
                    .map(|(stored, _)| Some(stored)),
                None => {
                    check_condition(action.condition.as_ref(), old_item.as_ref()).map(|()| None)
                }
            };
            // Charged on the larger of the item before and after (or as it is, when
            // the action is refused).
            let new_size = match &decided {
                Ok(Some(Some(stored))) => super::stored_size(stored)?,
                _ => 0,
            };
            self.consumed.item_units += write_units(u64::from(old_size.max(new_size)));
            match decided {
                Ok(pending) => locks.push((
                    action.key,
                    Lock {
                        tx,
                        coordinator,
                        pending,
                    },
                )),
                Err(rejection) => {
                    let wants_old = matches!(rejection, Rejection::ConditionFailed)
                        && action.old_on_condition_failure;
                    failures.push(TxFailure {
                        position: action.position,
                        rejection,
                        old_item: if wants_old { old } else { None },
                    });
                }
            }
        }
        if !failures.is_empty() {
            return Ok((
                ApplyOutcome {
                    tx_failures: failures,
                    ..Default::default()
                },
                StatsRecord::default(),
            ));
        }
        let cf = self
            .engine
            .cf(CF_TRANSACTIONS)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        for (key, lock) in locks {
            batch.put_cf(
                cf,
                self.tx_key(LOCK, &key[self.prefix.len()..]),
                encode(&lock)?,
            );
            // Held from now: a read or write that sees the lock before the batch lands
            // only backs off.
            self.locks.insert(key, lock);
        }
        Ok((ApplyOutcome::default(), StatsRecord::default()))
    }

    /// Records the decision on `tx` unless one is recorded already; a commit decision
    /// carries the request's ClientRequestToken record into the same batch.
    pub(super) fn tx_decide(
        &mut self,
        tx: TxId,
        commit: bool,
        participants: Vec<PartitionRef>,
        token: Option<TxToken>,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let id = tx.to_be_bytes();
        let read = |tag| {
            self.engine
                .get(CF_TRANSACTIONS, &self.tx_key(tag, &id))
                .map(|found| found.is_some())
                .map_err(|e| sm_error(ErrorVerb::Read, e))
        };
        let recorded = if read(DECISION)? {
            Some(true)
        } else if read(ABORTED)? {
            Some(false)
        } else {
            None
        };
        if let Some(recorded) = recorded {
            let outcome = ApplyOutcome {
                rejection: (recorded != commit).then_some(Rejection::TransactionConflict),
                ..Default::default()
            };
            return Ok((outcome, StatsRecord::default()));
        }
        let cf = self
            .engine
            .cf(CF_TRANSACTIONS)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        if commit {
            batch.put_cf(
                cf,
                self.tx_key(DECISION, &id),
                encode(&Decision { participants })?,
            );
            if let Some(token) = token {
                let meta = self
                    .engine
                    .cf(CF_META)
                    .map_err(|e| sm_error(ErrorVerb::Write, e))?;
                batch.put_cf(meta, meta_keys::client_token(&token.token), token.record);
            }
        } else {
            batch.put_cf(cf, self.tx_key(ABORTED, &id), []);
        }
        Ok((ApplyOutcome::default(), StatsRecord::default()))
    }

    pub(super) fn tx_forget(
        &mut self,
        tx: TxId,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let cf = self
            .engine
            .cf(CF_TRANSACTIONS)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        for tag in [DECISION, ABORTED] {
            batch.delete_cf(cf, self.tx_key(tag, &tx.to_be_bytes()));
        }
        Ok((ApplyOutcome::default(), StatsRecord::default()))
    }

    /// Applies (`commit`) or drops the transaction's pending writes and unlocks them;
    /// the in-memory locks go once the batch is written.
    pub(super) fn tx_finish(
        &mut self,
        tx: TxId,
        commit: bool,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let indexes = self.schema.get();
        let engine = self.engine.clone();
        let cf = engine
            .cf(CF_TRANSACTIONS)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let mut total = StatsRecord::default();
        for (key, lock) in self.locks.of(tx) {
            batch.delete_cf(cf, self.tx_key(LOCK, &key[self.prefix.len()..]));
            if let (true, Some(new)) = (commit, &lock.pending) {
                let old = self.read_item(&key)?;
                let indexed = indexes.needs_items();
                let decode = |stored: Option<&Vec<u8>>| {
                    stored
                        .filter(|_| indexed)
                        .map(|s| Self::decode(s))
                        .transpose()
                };
                let old_item = decode(old.as_ref())?;
                let new_item = decode(new.as_ref())?;
                let write = ItemWrite {
                    origin: ChangeOrigin::Client,
                    key: &key,
                    old: old.as_deref(),
                    old_item: old_item.as_ref(),
                    new: new.as_deref(),
                    new_item: new_item.as_ref(),
                };
                // Each item's own change: its item collection's size grows by it alone.
                let mut delta = StatsRecord::default();
                // The decision is taken: a commit can no longer be refused.
                if self
                    .write_item(&indexes, write, false, batch, &mut delta)?
                    .is_err()
                {
                    return Err(corrupt("an unenforced write was refused"));
                }
                total.add(&delta);
            }
            self.unlock_after_write.push(key);
        }
        Ok((ApplyOutcome::default(), total))
    }

    /// The transactions whose decisions a partition still keeps, each with whether it
    /// committed.
    pub fn decisions(
        engine: &cirrus_storage::engine::Engine,
        at: PartitionRef,
    ) -> Result<Vec<(TxId, bool)>, StorageError> {
        let mut found = Vec::new();
        for tag in [DECISION, ABORTED] {
            let mut start = cirrus_storage::engine::partition_prefix(at.0, at.1).to_vec();
            start.push(tag);
            engine.scan(CF_TRANSACTIONS, &start, &prefix_end(&start), |key, _| {
                let id: [u8; 16] = key[start.len()..]
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("transaction decision key".into()))?;
                found.push((TxId::from_be_bytes(id), tag == DECISION));
                Ok(true)
            })?;
        }
        Ok(found)
    }

    /// The participants of `tx`, if the coordinator partition recorded the decision to
    /// commit it.
    pub fn decided_participants(
        engine: &cirrus_storage::engine::Engine,
        coordinator: PartitionRef,
        tx: TxId,
    ) -> Result<Option<Vec<PartitionRef>>, StorageError> {
        let mut key =
            cirrus_storage::engine::partition_prefix(coordinator.0, coordinator.1).to_vec();
        key.push(DECISION);
        key.extend_from_slice(&tx.to_be_bytes());
        engine
            .get(CF_TRANSACTIONS, &key)?
            .map(|bytes| {
                bincode::deserialize::<Decision>(&bytes)
                    .map(|decision| decision.participants)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    /// Whether the coordinator partition recorded the decision to commit `tx`.
    pub fn decided_commit(
        engine: &cirrus_storage::engine::Engine,
        coordinator: PartitionRef,
        tx: TxId,
    ) -> Result<bool, StorageError> {
        let mut key =
            cirrus_storage::engine::partition_prefix(coordinator.0, coordinator.1).to_vec();
        key.push(DECISION);
        key.extend_from_slice(&tx.to_be_bytes());
        Ok(engine.get(CF_TRANSACTIONS, &key)?.is_some())
    }
}
