//! The transaction coordinator: two-phase commit over the Raft groups of the partitions
//! a transaction touches, possibly in several tables.
//!
//! 1. Prepare: every participant partition applies `TxPrepare`, which checks its actions
//!    (conditions, no other transaction on the item, valid updates) against the items as
//!    they are and, only if all pass, locks the items with their pending writes.
//! 2. Decide: if every participant prepared, the coordinator partition (that of the
//!    first action) applies `TxDecide`, the durable decision, with the request's
//!    ClientRequestToken. The first decision applied stands: a coordinator that cannot
//!    tell whether its commit decision went in seeks an abort decision and obeys
//!    whichever it gets back. A recorded commit is the commit point.
//! 3. Commit: every participant applies `TxCommit` (writes and unlocks); then the
//!    coordinator forgets the decision. If any participant refused (or a step before the
//!    decision failed), the participants that may hold locks apply `TxAbort` instead
//!    and nothing is written.
//!
//! Every step is a Raft entry, so a crash at any point leaves either locks with a commit
//! decision (recovery commits them) or locks without one (recovery aborts them): a
//! partial transaction is never visible. Once decided, the remaining steps are retried
//! until they are applied (or their table is deleted), and the outcome is reported only
//! then. While an item is locked, single-item writes to it get TransactionConflict, and
//! transactional reads retry or report a conflict.
//!
//! A coordinator runs to completion only if it is polled to completion: callers that
//! can be cancelled (a client disconnecting) run it in a task of its own.

pub(crate) mod client_tokens;
pub(crate) mod recovery;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::{join_all, try_join_all};

use crate::node::{ItemLocation, Node, Table};
use cirrus_partition::capacity::WriteConsumption;
use cirrus_partition::command::{
    ApplyOutcome, Command, PartitionRef, TxAction, TxFailure, TxId, TxToken,
};
use cirrus_partition::error::PartitionError;
use cirrus_partition::failpoint::{crash_point, fail_point};
use cirrus_partition::group::RaftGroup;
use cirrus_partition::state_machine::StateMachine;

/// How often a transactional read re-reads its items before reporting a conflict.
const READ_ATTEMPTS: u32 = 20;
const READ_BACKOFF: Duration = Duration::from_millis(2);

/// The first and the longest wait between two attempts at a step that must happen.
const RETRY_FIRST: Duration = Duration::from_millis(10);
const RETRY_LONGEST: Duration = Duration::from_secs(1);

/// How long an armed pause failpoint holds a transaction between two steps.
const FAILPOINT_PAUSE: Duration = Duration::from_secs(3);

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

/// The participants of a transaction: each partition with its table and actions.
type Participants = BTreeMap<PartitionRef, (Arc<Table>, Vec<TxAction>)>;

static TX_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A transaction id unique across the cluster's coordinators, also across restarts: the
/// coordinating node's id (bits 96 and up), its clock in nanoseconds (below 2^62 until
/// the year 2116, shifted to bits 32–93) and a counter.
fn new_tx_id(node: u64) -> TxId {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (u128::from(node) << 96)
        | ((nanos & ((1 << 62) - 1)) << 32)
        | u128::from(TX_COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn partition_ref(item: &TxItem) -> PartitionRef {
    (item.table.descriptor().table_id, item.location.partition)
}

fn failpoint_error(name: &str) -> PartitionError {
    PartitionError::Raft(format!("failpoint {name}"))
}

/// A step's outcome as the coordinator sees it: with the armed failpoint `name`, the
/// step was applied but its reply was lost.
fn reply(
    outcome: Result<ApplyOutcome, PartitionError>,
    name: &str,
) -> Result<ApplyOutcome, PartitionError> {
    match outcome {
        Ok(_) if fail_point(name) => Err(failpoint_error(name)),
        outcome => outcome,
    }
}

/// With the armed failpoint `name`, holds the transaction here for a while (once), so
/// that a test can act between two of its steps.
async fn pause_point(name: &str) {
    if fail_point(name) {
        tokio::time::sleep(FAILPOINT_PAUSE).await;
    }
}

impl Node {
    /// Runs a transaction; `token` (the request's ClientRequestToken) is recorded with
    /// the commit decision. An error means the transaction did not commit.
    pub async fn transact_write(
        &self,
        items: Vec<TxItem>,
        token: Option<TxToken>,
    ) -> Result<TxOutcome, PartitionError> {
        let Some(coordinator) = items.first().map(partition_ref) else {
            return Ok(TxOutcome::default());
        };
        let tx = new_tx_id(self.node_id());
        let mut participants = Participants::new();
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
                let outcome = self.propose_to(table, at.1, command).await;
                (*at, reply(outcome, "tx_prepare_reply_lost"))
            });
        let mut result = TxOutcome::default();
        // The participants that may hold locks: those that prepared, and those whose
        // prepare failed without telling whether it was applied.
        let mut holding = Vec::new();
        let mut error = None;
        for (at, outcome) in join_all(prepares).await {
            match outcome {
                Ok(outcome) => {
                    result.consumed.push((at, outcome.consumed));
                    if outcome.tx_failures.is_empty() {
                        holding.push(at);
                    }
                    result.failures.extend(outcome.tx_failures);
                }
                Err(e) => {
                    holding.push(at);
                    error = Some(e);
                }
            }
        }
        if error.is_some() || !result.failures.is_empty() {
            self.finish_everywhere(&participants, &holding, tx, false)
                .await;
            return match error {
                Some(e) => Err(e),
                None => Ok(result),
            };
        }
        crash_point("tx_after_prepare");
        pause_point("tx_pause_after_prepare").await;
        let (coordinator_table, _) = participants
            .get(&coordinator)
            .ok_or_else(|| PartitionError::Corrupt("coordinator is no participant".into()))?;
        let coordinator_table = coordinator_table.clone();
        let decided = self
            .decide(&coordinator_table, coordinator, tx, holding.clone(), token)
            .await;
        let commit = decided.is_ok();
        if commit {
            crash_point("tx_after_decide");
            pause_point("tx_pause_after_decide").await;
        }
        let finished = self
            .finish_everywhere(&participants, &holding, tx, commit)
            .await;
        self.drive(
            &coordinator_table,
            coordinator.1,
            Command::TxForget { tx },
            "tx_forget_fails",
        )
        .await;
        decided?;
        for (at, outcome) in finished {
            let Some(outcome) = outcome else { continue };
            if let Some((_, consumed)) = result.consumed.iter_mut().find(|(p, _)| *p == at) {
                consumed.index_units = outcome.consumed.index_units;
            }
        }
        Ok(result)
    }

    /// Seeks the decision to commit `tx` in its coordinator partition. `Ok` once a
    /// commit decision stands; otherwise the error to report, the transaction aborted.
    async fn decide(
        &self,
        table: &Arc<Table>,
        coordinator: PartitionRef,
        tx: TxId,
        participants: Vec<PartitionRef>,
        token: Option<TxToken>,
    ) -> Result<(), PartitionError> {
        let proposed = if fail_point("tx_decide_fails") {
            Err(failpoint_error("tx_decide_fails"))
        } else {
            let decide = Command::TxDecide {
                tx,
                commit: true,
                participants,
                token,
            };
            let outcome = self.propose_to(table, coordinator.1, decide).await;
            reply(outcome, "tx_decide_reply_lost")
        };
        let error = match proposed {
            // An abort recorded first (by a recovery) stands.
            Ok(outcome) if outcome.rejection.is_some() => {
                return Err(PartitionError::Raft(format!(
                    "transaction {tx} was aborted before it could commit"
                )))
            }
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        tracing::warn!(
            tx,
            "the commit decision may or may not be recorded ({error}); seeking an abort"
        );
        let seek = Command::TxDecide {
            tx,
            commit: false,
            participants: Vec::new(),
            token: None,
        };
        let committed = match self
            .drive(table, coordinator.1, seek, "tx_abort_decide_fails")
            .await
        {
            Some(outcome) => outcome.rejection.is_some(),
            // Without its table, the coordinator's record is final (or already gone,
            // its participants finished by the table's deletion).
            None => StateMachine::decided_commit(self.engine(), coordinator, tx)?,
        };
        if committed {
            Ok(())
        } else {
            Err(error)
        }
    }

    /// Commits or aborts `tx` in the given participants, each until it is applied or its
    /// table is gone (`None`).
    async fn finish_everywhere(
        &self,
        participants: &Participants,
        holding: &[PartitionRef],
        tx: TxId,
        commit: bool,
    ) -> Vec<(PartitionRef, Option<ApplyOutcome>)> {
        let finishing = holding.iter().filter_map(|at| {
            let (table, _) = participants.get(at)?;
            Some(async move {
                let outcome = if commit {
                    let outcome = self
                        .drive(table, at.1, Command::TxCommit { tx }, "tx_commit_fails")
                        .await;
                    crash_point("tx_after_first_commit");
                    outcome
                } else {
                    self.drive(table, at.1, Command::TxAbort { tx }, "tx_abort_fails")
                        .await
                };
                (*at, outcome)
            })
        });
        join_all(finishing).await
    }

    /// Proposes a step that must happen, again and again until it is applied; `None`
    /// once the partition's table is gone (its locks and records went with it). With
    /// the armed failpoint `failpoint`, the first attempt fails without proposing.
    async fn drive(
        &self,
        table: &Table,
        partition: u16,
        command: Command,
        failpoint: &str,
    ) -> Option<ApplyOutcome> {
        let mut wait = RETRY_FIRST;
        let mut attempts: u32 = 0;
        loop {
            let outcome = if fail_point(failpoint) {
                Err(failpoint_error(failpoint))
            } else {
                self.propose_to(table, partition, command.clone()).await
            };
            let error = match outcome {
                Ok(outcome) => return Some(outcome),
                Err(e) => e,
            };
            if !self.is_live(table) {
                return None;
            }
            attempts = attempts.saturating_add(1);
            if attempts.is_power_of_two() {
                tracing::warn!(
                    table = %table.descriptor().name,
                    partition,
                    attempts,
                    "a transaction step failed, retrying: {error}"
                );
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_LONGEST);
        }
    }

    /// Whether `table` is still the live table of its name (not deleted, not replaced).
    fn is_live(&self, table: &Table) -> bool {
        self.table(&table.descriptor().region, &table.descriptor().name)
            .is_ok_and(|live| live.descriptor().table_id == table.descriptor().table_id)
    }

    /// Reads items as of one moment: no item may be held by a transaction, and a second
    /// read must find them unchanged. Retries briefly before reporting a conflict.
    pub async fn transact_get(
        &self,
        reads: &[(Arc<Table>, ItemLocation)],
    ) -> Result<Result<Vec<Option<Vec<u8>>>, TxReadConflict>, PartitionError> {
        // Transactional reads are strongly consistent: confirm each group read once.
        let mut groups: Vec<&RaftGroup> = Vec::new();
        for (table, location) in reads {
            let group = table.group(location.partition)?;
            if !groups.iter().any(|seen| std::ptr::eq(*seen, group)) {
                groups.push(group);
            }
        }
        try_join_all(groups.into_iter().map(RaftGroup::read_barrier)).await?;
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

    /// Finishes, before a deleted table's records go, the transactions it coordinated
    /// that still hold items in other tables: committed where the table recorded a commit
    /// decision, aborted otherwise. The table's groups have stopped, so no decision can
    /// change any more; without this, the deletion would leave those items locked, or
    /// lose a commit that some participants already applied.
    pub(crate) async fn finish_transactions_of(&self, table: &Table) -> Result<(), PartitionError> {
        let table_id = table.descriptor().table_id;
        for other in self.tables_snapshot() {
            if other.descriptor().table_id == table_id {
                continue;
            }
            for partition in 0..other.descriptor().partitions {
                for (tx, coordinator) in other.group(partition)?.locks().transactions() {
                    if coordinator.0 != table_id {
                        continue;
                    }
                    let command = if StateMachine::decided_commit(self.engine(), coordinator, tx)? {
                        Command::TxCommit { tx }
                    } else {
                        Command::TxAbort { tx }
                    };
                    self.propose_to(&other, partition, command).await?;
                }
            }
        }
        Ok(())
    }
}
