//! The transaction coordinator: two-phase commit over the Raft groups of the partitions
//! a transaction touches, possibly in several tables.
//!
//! 1. Prepare: every participant partition applies `TxPrepare`, which checks its actions
//!    (conditions, no other transaction on the item, valid updates) against the items as
//!    they are and, only if all pass, locks the items with their pending writes.
//! 2. Decide: if every participant prepared, the coordinator partition (that of the
//!    first action) applies `TxDecideCommit`, the durable transaction record. This is
//!    the commit point.
//! 3. Commit: every participant applies `TxCommit` (writes and unlocks); then the
//!    coordinator forgets the record. If any participant refused, the prepared ones
//!    apply `TxAbort` instead and nothing is written.
//!
//! Every step is a Raft entry, so a crash at any point leaves either locks with a
//! decision (recovery commits them) or locks without one (recovery aborts them): a
//! partial transaction is never visible. While an item is locked, single-item writes
//! to it get TransactionConflict, and transactional reads retry or report a conflict.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;

use crate::capacity::WriteConsumption;
use crate::command::{ApplyOutcome, Command, PartitionRef, TxAction, TxFailure, TxId};
use crate::error::PartitionError;
use crate::node::{ItemLocation, Node, Table};
use crate::state_machine::StateMachine;

/// How often a transactional read re-reads its items before reporting a conflict.
const READ_ATTEMPTS: u32 = 20;
const READ_BACKOFF: Duration = Duration::from_millis(2);

/// One action of a transaction, with the item it acts on.
pub struct TxItem {
    pub table: Arc<Table>,
    pub location: ItemLocation,
    pub action: TxAction,
}

/// How a transaction ended: the failures that cancelled it (none: committed), and the
/// item write units each participant partition's prepare consumed.
#[derive(Debug, Default)]
pub struct TxOutcome {
    pub failures: Vec<TxFailure>,
    /// Per participant partition: the items' units (from the prepare) and, once
    /// committed, the index writes' units (from the commit).
    pub consumed: Vec<(PartitionRef, WriteConsumption)>,
}

/// Why a transactional read could not see a consistent state.
pub struct TxReadConflict {
    /// Positions of the items that were held by a transaction or kept changing.
    pub positions: Vec<usize>,
}

static TX_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A transaction id unique on this node, also across restarts (the clock moves on).
fn new_tx_id() -> TxId {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos << 32) | u128::from(TX_COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn partition_ref(item: &TxItem) -> PartitionRef {
    (item.table.descriptor().table_id, item.location.partition)
}

impl Node {
    /// Runs a transaction.
    pub async fn transact_write(&self, items: Vec<TxItem>) -> Result<TxOutcome, PartitionError> {
        let Some(coordinator) = items.first().map(partition_ref) else {
            return Ok(TxOutcome::default());
        };
        let tx = new_tx_id();
        let mut participants: BTreeMap<PartitionRef, (Arc<Table>, Vec<TxAction>)> = BTreeMap::new();
        for item in items {
            participants
                .entry(partition_ref(&item))
                .or_insert_with(|| (item.table.clone(), Vec::new()))
                .1
                .push(item.action);
        }
        let prepares = participants
            .iter()
            .map(|(at, (table, actions))| async move {
                let command = Command::TxPrepare {
                    tx,
                    coordinator,
                    actions: actions.clone(),
                };
                (*at, self.propose_to(table, at.1, command).await)
            });
        let mut result = TxOutcome::default();
        let mut prepared = Vec::new();
        let mut error = None;
        for (at, outcome) in join_all(prepares).await {
            match outcome {
                Ok(outcome) => {
                    result.consumed.push((at, outcome.consumed));
                    if outcome.tx_failures.is_empty() {
                        prepared.push(at);
                    }
                    result.failures.extend(outcome.tx_failures);
                }
                Err(e) => error = Some(e),
            }
        }
        if error.is_some() || !result.failures.is_empty() {
            self.finish_everywhere(&participants, &prepared, |tx| Command::TxAbort { tx }, tx)
                .await?;
            return match error {
                Some(e) => Err(e),
                None => Ok(result),
            };
        }
        let (coordinator_table, _) = participants
            .get(&coordinator)
            .ok_or_else(|| PartitionError::Corrupt("coordinator is no participant".into()))?;
        let decide = Command::TxDecideCommit {
            tx,
            participants: prepared.clone(),
        };
        self.propose_to(coordinator_table, coordinator.1, decide)
            .await?;
        let committed = self
            .finish_everywhere(&participants, &prepared, |tx| Command::TxCommit { tx }, tx)
            .await?;
        for (at, outcome) in committed {
            if let Some((_, consumed)) = result.consumed.iter_mut().find(|(p, _)| *p == at) {
                consumed.index_units = outcome.consumed.index_units;
            }
        }
        self.propose_to(coordinator_table, coordinator.1, Command::TxForget { tx })
            .await?;
        Ok(result)
    }

    async fn finish_everywhere(
        &self,
        participants: &BTreeMap<PartitionRef, (Arc<Table>, Vec<TxAction>)>,
        prepared: &[PartitionRef],
        command: impl Fn(TxId) -> Command,
        tx: TxId,
    ) -> Result<Vec<(PartitionRef, ApplyOutcome)>, PartitionError> {
        let finishing = prepared.iter().filter_map(|at| {
            let (table, _) = participants.get(at)?;
            let proposal = self.propose_to(table, at.1, command(tx));
            Some(async move { (*at, proposal.await) })
        });
        let mut outcomes = Vec::new();
        for (at, outcome) in join_all(finishing).await {
            outcomes.push((at, outcome?));
        }
        Ok(outcomes)
    }

    /// Reads items as of one moment: no item may be held by a transaction, and a second
    /// read must find them unchanged. Retries briefly before reporting a conflict.
    pub async fn transact_get(
        &self,
        reads: &[(Arc<Table>, ItemLocation)],
    ) -> Result<Result<Vec<Option<Vec<u8>>>, TxReadConflict>, PartitionError> {
        let mut conflicting = Vec::new();
        for _ in 0..READ_ATTEMPTS {
            let first = self.read_unlocked(reads)?;
            let second = self.read_unlocked(reads)?;
            conflicting = (0..reads.len())
                .filter(|&i| first[i].is_none() || first[i] != second[i])
                .collect();
            if conflicting.is_empty() {
                return Ok(Ok(first.into_iter().flatten().collect()));
            }
            tokio::time::sleep(READ_BACKOFF).await;
        }
        Ok(Err(TxReadConflict {
            positions: conflicting,
        }))
    }

    /// Each item's stored bytes, or `None` for an item held by a transaction.
    #[allow(clippy::type_complexity)]
    fn read_unlocked(
        &self,
        reads: &[(Arc<Table>, ItemLocation)],
    ) -> Result<Vec<Option<Option<Vec<u8>>>>, PartitionError> {
        reads
            .iter()
            .map(|(table, location)| {
                if table
                    .group(location.partition)?
                    .locks()
                    .holds(&location.key)
                {
                    return Ok(None);
                }
                self.get_item(location).map(Some)
            })
            .collect()
    }

    /// Finishes the transactions a crash left prepared: committed if their coordinator
    /// recorded the decision, aborted otherwise.
    pub(crate) async fn recover_transactions(&self) -> Result<(), PartitionError> {
        let tables: Vec<Arc<Table>> = self.tables_snapshot();
        // Each prepared transaction: its coordinator and the partitions holding its locks.
        type Holders = (PartitionRef, Vec<(Arc<Table>, u16)>);
        let mut held: BTreeMap<TxId, Holders> = BTreeMap::new();
        for table in &tables {
            for partition in 0..table.descriptor().partitions {
                for (tx, coordinator) in table.group(partition)?.locks().transactions() {
                    held.entry(tx)
                        .or_insert_with(|| (coordinator, Vec::new()))
                        .1
                        .push((table.clone(), partition));
                }
            }
        }
        // Decisions whose transactions finished but were not forgotten before a crash.
        for table in &tables {
            let table_id = table.descriptor().table_id;
            for partition in 0..table.descriptor().partitions {
                for tx in StateMachine::decisions(self.engine(), (table_id, partition))? {
                    if !held.contains_key(&tx) {
                        self.propose_to(table, partition, Command::TxForget { tx })
                            .await?;
                    }
                }
            }
        }
        for (tx, (coordinator, holders)) in held {
            let commit = StateMachine::decided_commit(self.engine(), coordinator, tx)?;
            tracing::info!(
                tx,
                commit,
                "finishing a transaction interrupted by a restart"
            );
            for (table, partition) in &holders {
                let command = if commit {
                    Command::TxCommit { tx }
                } else {
                    Command::TxAbort { tx }
                };
                self.propose_to(table, *partition, command).await?;
            }
            if commit {
                if let Some(table) = tables
                    .iter()
                    .find(|t| t.descriptor().table_id == coordinator.0)
                {
                    self.propose_to(table, coordinator.1, Command::TxForget { tx })
                        .await?;
                }
            }
        }
        Ok(())
    }
}
