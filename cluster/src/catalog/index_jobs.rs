//! Index jobs: creating a global index (writes maintain it at once, a background job
//! backfills it from the existing items, then marks it active) and deleting one (its
//! entries are dropped in the background), and the table jobs' common steps: backfills
//! in bounded chunks through the partitions' logs, and the catalog change that ends a
//! job.

use std::sync::Arc;

use crate::node::{Node, Table};
use cirrus_partition::catalog::{IndexDescriptor, IndexStatus, TableDescriptor};
use cirrus_partition::command::Command;
use cirrus_partition::error::PartitionError;
use cirrus_partition::failpoint;

/// Items an index backfill step covers: small enough that one Raft entry stays small
/// and foreground writes interleave, large enough that a big table builds quickly.
const BACKFILL_CHUNK: u32 = 256;

/// Armed, a backfill waits a few seconds before it starts (`failpoint::pause_point`).
const SLOW_BACKFILL_FAILPOINT: &str = "slow_backfill";

impl Node {
    /// Adds a global index to a table: writes maintain it at once, and a background
    /// job backfills it from the existing items, then marks it active.
    pub async fn create_index(
        self: &Arc<Self>,
        region: &str,
        table_name: &str,
        mut index: IndexDescriptor,
    ) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes().lock().await;
        let current = self.table(region, table_name)?;
        let mut descriptor = current.descriptor.clone();
        index.spec.id = descriptor.next_index_id;
        index.status = IndexStatus::Creating;
        descriptor.next_index_id += 1;
        descriptor.indexes.push(index.clone());
        let table = self.replace_descriptor(&current, descriptor).await?;
        self.start_table_jobs();
        Ok(table)
    }

    /// Stops maintaining a global index; a background job removes its entries, then
    /// the index itself.
    pub async fn delete_index(
        self: &Arc<Self>,
        region: &str,
        table_name: &str,
        index_name: &str,
    ) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes().lock().await;
        let current = self.table(region, table_name)?;
        let mut descriptor = current.descriptor.clone();
        let Some(index) = descriptor
            .indexes
            .iter_mut()
            .find(|index| index.spec.name == index_name)
        else {
            return Err(PartitionError::IndexNotFound(index_name.to_string()));
        };
        index.status = IndexStatus::Deleting;
        let table = self.replace_descriptor(&current, descriptor).await?;
        self.start_table_jobs();
        Ok(table)
    }

    /// Proposes a backfill command to every partition, chunk after chunk, until each
    /// has covered all its items.
    pub(crate) async fn backfill(
        &self,
        table: &Table,
        command: impl Fn(Option<Vec<u8>>, u32) -> Command,
    ) -> Result<(), PartitionError> {
        // Tests stop the leader while a backfill is under way.
        failpoint::pause_point(SLOW_BACKFILL_FAILPOINT).await;
        for group in table.groups.iter() {
            let mut after = None;
            loop {
                self.check_still_leads()?;
                match group
                    .propose(command(after, BACKFILL_CHUNK))
                    .await?
                    .backfill_resume_after
                {
                    Some(resume) => after = Some(resume),
                    None => break,
                }
                // Foreground requests go first.
                tokio::task::yield_now().await;
            }
        }
        Ok(())
    }

    pub(crate) async fn backfill_index(
        &self,
        table: &Table,
        index_id: u16,
    ) -> Result<(), PartitionError> {
        self.backfill(table, |after, limit| Command::BackfillIndex {
            index_id,
            after,
            limit,
        })
        .await?;
        self.finish_job(table, "index build or drop", |descriptor| {
            if let Some(index) = descriptor
                .indexes
                .iter_mut()
                .find(|index| index.spec.id == index_id)
            {
                index.status = IndexStatus::Active;
            }
        })
        .await
    }

    pub(crate) async fn drop_index(
        &self,
        table: &Table,
        index_id: u16,
    ) -> Result<(), PartitionError> {
        for group in table.groups.iter() {
            self.check_still_leads()?;
            group.propose(Command::DropIndex { index_id }).await?;
        }
        self.finish_job(table, "index build or drop", |descriptor| {
            descriptor.indexes.retain(|index| index.spec.id != index_id);
        })
        .await
    }

    /// Records the end of a background job on a table in the catalog, unless the table
    /// went away meanwhile.
    pub(crate) async fn finish_job(
        &self,
        table: &Table,
        job: &str,
        change: impl FnOnce(&mut TableDescriptor),
    ) -> Result<(), PartitionError> {
        let _guard = self.catalog_changes().lock().await;
        let Ok(current) = self.table(&table.descriptor.region, &table.descriptor.name) else {
            return Ok(());
        };
        if current.descriptor.table_id != table.descriptor.table_id {
            return Ok(());
        }
        let mut descriptor = current.descriptor.clone();
        change(&mut descriptor);
        tracing::info!(table = %descriptor.name, job, "table job finished");
        self.replace_descriptor(&current, descriptor)
            .await
            .map(|_| ())
    }
}
