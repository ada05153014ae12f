//! Where the catalog's background jobs run: index backfills and drops, and expiry-index
//! builds and drops. Each is a table's unfinished state in the catalog (an index not
//! yet active, TTL not yet ready), so any node can tell what remains to do; the node
//! that leads the metadata group runs it. A job checks before each step that this node
//! still leads, and stops when it does not; the next leader starts it again from the
//! catalog (its steps are idempotent, so starting over only repeats work). A node runs
//! each job once at a time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::node::{Node, Table};
use cirrus_partition::catalog::IndexStatus;
use cirrus_partition::error::PartitionError;

/// One unfinished job of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TableJob {
    /// Backfill (`Creating`) or drop (`Deleting`) an index.
    Index {
        table_id: u32,
        index_id: u16,
        status: IndexStatus,
    },
    /// Build (`enabling`) or drop the expiry index; a drop goes first.
    Expiry { table_id: u32, enabling: bool },
}

/// The jobs running on this node.
#[derive(Default)]
pub(crate) struct RunningJobs(Mutex<HashSet<TableJob>>);

impl RunningJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<TableJob>> {
        // Inserts and removals only: a poisoned set is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The unfinished jobs of one table.
fn jobs_of(table: &Table) -> Vec<TableJob> {
    let descriptor = table.descriptor();
    let table_id = descriptor.table_id;
    let mut jobs: Vec<TableJob> = descriptor
        .indexes
        .iter()
        .filter(|index| index.status != IndexStatus::Active)
        .map(|index| TableJob::Index {
            table_id,
            index_id: index.spec.id,
            status: index.status,
        })
        .collect();
    if descriptor.ttl_dropping {
        jobs.push(TableJob::Expiry {
            table_id,
            enabling: false,
        });
    } else if descriptor.ttl_attribute.is_some() && !descriptor.ttl_ready {
        jobs.push(TableJob::Expiry {
            table_id,
            enabling: true,
        });
    }
    jobs
}

impl Node {
    /// Whether this node leads the metadata group (and so runs the catalog's jobs).
    pub(crate) fn leads_metadata(&self) -> bool {
        self.metadata().is_leader()
    }

    /// Starts every unfinished job of the catalog not already running here, if this
    /// node leads the metadata group.
    pub(crate) fn start_table_jobs(self: &Arc<Self>) {
        if !self.leads_metadata() {
            return;
        }
        for table in self.tables_snapshot() {
            for job in jobs_of(&table) {
                if self.running_jobs().lock().insert(job) {
                    self.spawn_job(table.clone(), job);
                }
            }
        }
    }

    fn spawn_job(self: &Arc<Self>, table: Arc<Table>, job: TableJob) {
        let node = self.clone();
        tokio::spawn(async move {
            let outcome = match job {
                TableJob::Index {
                    index_id, status, ..
                } => match status {
                    IndexStatus::Creating => node.backfill_index(&table, index_id).await,
                    IndexStatus::Deleting => node.drop_index(&table, index_id).await,
                    IndexStatus::Active => Ok(()),
                },
                TableJob::Expiry { enabling, .. } => match enabling {
                    true => node.build_expiry_index(&table).await,
                    false => node.drop_expiry_index(&table).await,
                },
            };
            node.running_jobs().lock().remove(&job);
            match outcome {
                // A finished job may leave another to do (a TTL re-enabled meanwhile).
                Ok(()) => node.start_table_jobs(),
                Err(e) if !node.leads_metadata() => {
                    tracing::info!(table = %table.descriptor().name, ?job, "job stopped: {e}");
                }
                Err(e) => {
                    tracing::error!(table = %table.descriptor().name, ?job, "job failed: {e}")
                }
            }
        });
    }

    /// Fails a job's next step when this node no longer leads the metadata group.
    pub(crate) fn check_still_leads(&self) -> Result<(), PartitionError> {
        if self.leads_metadata() {
            Ok(())
        } else {
            Err(PartitionError::Raft(
                "this node no longer leads the metadata group".into(),
            ))
        }
    }
}
