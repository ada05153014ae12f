//! Enabling and disabling TTL: a catalog change, and the table job that builds or drops
//! each partition's expiry index through Raft; and the node as `cirrus-ttl`'s sweeper
//! sees it (`ExpiryHost`). Finding and deleting expired items is `cirrus-ttl`'s.

use std::sync::Arc;

use cirrus_partition::command::Command;
use cirrus_partition::error::PartitionError;
use cirrus_storage::engine::Engine;
use cirrus_ttl::{ExpiringPartition, ExpiryHost};

use crate::node::{Node, Table};

impl Table {
    /// Items deleted by TTL expiry on this node's replicas of the table's partitions
    /// (DynamoDB's TimeToLiveDeletedItemCount).
    pub fn expired_count(&self) -> i64 {
        self.groups()
            .iter()
            .map(|group| group.stats().expired())
            .sum()
    }
}

impl ExpiryHost for Node {
    type Error = PartitionError;

    fn led_expiring_partitions(&self) -> Vec<ExpiringPartition> {
        let mut led = Vec::new();
        for table in self.tables_snapshot() {
            let descriptor = table.descriptor();
            if descriptor.ttl_attribute.is_none() {
                continue;
            }
            led.extend(
                (0..descriptor.partitions)
                    .filter(|&partition| table.leads(partition))
                    .map(|partition| ExpiringPartition {
                        table_id: descriptor.table_id,
                        partition,
                    }),
            );
        }
        led
    }

    fn engine(&self) -> &Engine {
        Node::engine(self)
    }

    async fn expire(
        &self,
        at: ExpiringPartition,
        key: Vec<u8>,
        expiry: u64,
        now: u64,
    ) -> Result<(), PartitionError> {
        // A table deleted since the sweep found the item: nothing left to expire.
        let Some(table) = self.live_table(at.table_id) else {
            return Ok(());
        };
        let command = Command::Expire { key, expiry, now };
        self.propose_to(&table, at.partition, command)
            .await
            .map(|_| ())
    }
}

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
