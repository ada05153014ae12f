//! Finishing transactions their coordinator left prepared: at start-up, those a crash
//! of this node interrupted; and in a cluster, those whose coordinator's node died or
//! stalled — the leaders of the partitions holding a transaction's locks finish it once
//! it has held them for a while. Either way the coordinator group is asked, through its
//! log, for an abort decision: the first decision recorded stands, so a commit recorded
//! before the crash wins. A commit is then carried out in every participant its
//! decision record names (read once this replica of the coordinator has applied it),
//! so that the decision is forgotten only when no participant can still need it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::node::{Node, Table};
use cirrus_partition::command::{Command, PartitionRef, TxId};
use cirrus_partition::error::PartitionError;
use cirrus_partition::state_machine::StateMachine;

/// How long a transaction may hold locks before its partitions' leaders finish it.
const STALLED_AFTER: Duration = Duration::from_secs(10);
/// How often the leaders look for stalled transactions.
const STALL_CHECK: Duration = Duration::from_secs(2);

/// A prepared transaction: its coordinator, and the partitions holding its locks.
type Prepared = (PartitionRef, Vec<(Arc<Table>, u16)>);

/// The node that coordinated transaction `tx` (its id's top bits).
fn coordinator_node(tx: TxId) -> u64 {
    (tx >> 96) as u64
}

fn live(tables: &[Arc<Table>], table_id: u32) -> Option<&Arc<Table>> {
    tables
        .iter()
        .find(|table| table.descriptor().table_id == table_id)
}

impl Node {
    /// The transactions prepared in this node's replicas (only those of the partitions
    /// it leads, with `led_only`).
    fn prepared(
        &self,
        tables: &[Arc<Table>],
        led_only: bool,
    ) -> Result<BTreeMap<TxId, Prepared>, PartitionError> {
        let mut held: BTreeMap<TxId, Prepared> = BTreeMap::new();
        for table in tables {
            for partition in 0..table.descriptor().partitions {
                if led_only && !table.leads(partition) {
                    continue;
                }
                for (tx, coordinator) in table.group(partition)?.locks().transactions() {
                    held.entry(tx)
                        .or_insert_with(|| (coordinator, Vec::new()))
                        .1
                        .push((table.clone(), partition));
                }
            }
        }
        Ok(held)
    }

    /// Finishes the transactions a crash of this node left prepared: on the embedded
    /// node every one; in a cluster, those this node coordinated (the others are still
    /// being finished by their coordinators, or will be by the stall check).
    pub(crate) async fn recover_transactions(&self) -> Result<(), PartitionError> {
        let tables = self.tables_snapshot();
        let held = self.prepared(&tables, false)?;
        if !self.is_replicated() {
            // Decisions whose transactions finished but were not forgotten before a
            // crash. (A cluster node's replicas may lag: it cannot tell these apart.)
            for table in &tables {
                let table_id = table.descriptor().table_id;
                for partition in 0..table.descriptor().partitions {
                    for (tx, _) in StateMachine::decisions(self.engine(), (table_id, partition))? {
                        if !held.contains_key(&tx) {
                            self.propose_to(table, partition, Command::TxForget { tx })
                                .await?;
                        }
                    }
                }
            }
        }
        for (tx, prepared) in held {
            if self.is_replicated() && coordinator_node(tx) != self.node_id() {
                continue;
            }
            tracing::info!(tx, "finishing a transaction interrupted by a restart");
            self.finish_prepared(&tables, tx, prepared).await?;
        }
        Ok(())
    }

    /// Finishes one prepared transaction with the decision that stands.
    async fn finish_prepared(
        &self,
        tables: &[Arc<Table>],
        tx: TxId,
        (coordinator, mut holders): Prepared,
    ) -> Result<(), PartitionError> {
        let committed = match live(tables, coordinator.0) {
            Some(table) => {
                let seek = Command::TxDecide {
                    tx,
                    commit: false,
                    participants: Vec::new(),
                    token: None,
                };
                let outcome = self.propose_to(table, coordinator.1, seek).await?;
                if outcome.rejection.is_some() {
                    table.group(coordinator.1)?.read_barrier().await?;
                }
                outcome.rejection.is_some()
            }
            None => false,
        };
        // A deleted coordinator decided only what its record, if still here, says.
        let participants = StateMachine::decided_participants(self.engine(), coordinator, tx)?;
        let commit = committed || participants.is_some();
        for (table_id, partition) in participants.into_iter().flatten() {
            let Some(table) = live(tables, table_id) else {
                continue;
            };
            let known = holders
                .iter()
                .any(|(held, at)| held.descriptor().table_id == table_id && *at == partition);
            if !known {
                holders.push((table.clone(), partition));
            }
        }
        for (table, partition) in &holders {
            let command = if commit {
                Command::TxCommit { tx }
            } else {
                Command::TxAbort { tx }
            };
            self.propose_to(table, *partition, command).await?;
        }
        if let Some(table) = live(tables, coordinator.0) {
            self.propose_to(table, coordinator.1, Command::TxForget { tx })
                .await?;
        }
        Ok(())
    }

    /// Finishes the transactions that have held locks in partitions this node leads for
    /// `STALLED_AFTER` (`first_seen`: when each was first seen holding them).
    async fn finish_stalled(
        &self,
        first_seen: &mut HashMap<TxId, Instant>,
    ) -> Result<(), PartitionError> {
        let tables = self.tables_snapshot();
        let held = self.prepared(&tables, true)?;
        first_seen.retain(|tx, _| held.contains_key(tx));
        let now = Instant::now();
        for (tx, prepared) in held {
            let since = *first_seen.entry(tx).or_insert(now);
            if now.duration_since(since) < STALLED_AFTER {
                continue;
            }
            // A leader just elected may not have applied the commit yet.
            let (table, partition) = &prepared.1[0];
            let group = table.group(*partition)?;
            group.read_barrier().await?;
            if !group
                .locks()
                .transactions()
                .iter()
                .any(|(held, _)| *held == tx)
            {
                continue;
            }
            tracing::info!(tx, "finishing a transaction whose coordinator stalled");
            self.finish_prepared(&tables, tx, prepared).await?;
            first_seen.remove(&tx);
        }
        Ok(())
    }
}

/// Finishes stalled transactions on the partitions this node leads, while it lives
/// (cluster members: a coordinator's node may die for good).
pub(crate) fn spawn_stall_check(node: &Arc<Node>) {
    let node = Arc::downgrade(node);
    tokio::spawn(async move {
        let mut first_seen = HashMap::new();
        loop {
            tokio::time::sleep(STALL_CHECK).await;
            let Some(node) = node.upgrade() else { return };
            if let Err(e) = node.finish_stalled(&mut first_seen).await {
                tracing::warn!("finishing stalled transactions: {e}");
            }
        }
    });
}
