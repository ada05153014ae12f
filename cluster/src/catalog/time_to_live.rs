//! Enabling and disabling TTL: a catalog change, and the table job that builds or drops
//! each partition's expiry index through Raft. Finding and deleting expired items is
//! `cirrus-ttl`'s.

use std::sync::Arc;

use crate::node::{Node, Table};
use cirrus_partition::command::Command;
use cirrus_partition::error::PartitionError;

impl Node {
    /// Enables TTL on `attribute` (`None`: disables it). Writes keep the expiry index
    /// from now on; a background job builds it over existing items, or drops it.
    pub async fn set_time_to_live(
        self: &Arc<Self>,
        region: &str,
        table_name: &str,
        attribute: Option<String>,
    ) -> Result<Arc<Table>, PartitionError> {
        let _guard = self.catalog_changes().lock().await;
        let current = self.table(region, table_name)?;
        let mut descriptor = current.descriptor().clone();
        // The index of a TTL being disabled is dropped before one is built again.
        descriptor.ttl_dropping |= attribute.is_none() && descriptor.ttl_attribute.is_some();
        descriptor.ttl_attribute = attribute;
        descriptor.ttl_ready = false;
        let table = self.replace_descriptor(&current, descriptor).await?;
        self.start_table_jobs();
        Ok(table)
    }

    pub(crate) async fn build_expiry_index(&self, table: &Table) -> Result<(), PartitionError> {
        self.backfill(table, |after, limit| Command::BackfillExpiry {
            after,
            limit,
        })
        .await?;
        self.finish_job(table, "expiry index build", |descriptor| {
            descriptor.ttl_ready = descriptor.ttl_attribute.is_some();
        })
        .await
    }

    pub(crate) async fn drop_expiry_index(&self, table: &Table) -> Result<(), PartitionError> {
        for partition in 0..table.descriptor().partitions {
            self.check_still_leads()?;
            self.propose_to(table, partition, Command::DropExpiry)
                .await?;
        }
        self.finish_job(table, "expiry index drop", |descriptor| {
            descriptor.ttl_dropping = false;
        })
        .await
    }
}
