//! TTL on a node: enabling and disabling it (building or dropping each partition's
//! expiry index through Raft), finding expired items through the index, and proposing
//! their guarded deletion. The sweep loop itself is `cirrus-ttl`'s.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use cirrus_storage::engine::{prefix_end, CF_EXPIRY};
use cirrus_storage::expiry::{expiry_key, expiry_prefix, parse_expiry_key};
use cirrus_storage::StorageError;

use crate::command::Command;
use crate::error::PartitionError;
use crate::node::{Node, Table};

/// An expired entry of the expiry index: the item's full key and its expiry.
pub struct ExpiredItem {
    pub key: Vec<u8>,
    pub expiry: u64,
}

impl Table {
    /// Items deleted by TTL expiry (DynamoDB's TimeToLiveDeletedItemCount).
    pub fn expired_count(&self) -> i64 {
        (0..self.descriptor().partitions)
            .filter_map(|partition| self.group(partition).ok())
            .map(|group| group.stats().expired())
            .sum()
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
        let enabling = attribute.is_some();
        descriptor.ttl_attribute = attribute;
        descriptor.ttl_ready = false;
        let table = self.replace_descriptor(&current, descriptor).await?;
        self.start_expiry_job(&table, enabling);
        Ok(table)
    }

    /// Builds (`enabling`) or drops the expiry index in the background.
    pub(crate) fn start_expiry_job(self: &Arc<Self>, table: &Arc<Table>, enabling: bool) {
        let node = self.clone();
        let table = table.clone();
        tokio::spawn(async move {
            let outcome = if enabling {
                node.build_expiry_index(&table).await
            } else {
                node.drop_expiry_index(&table).await
            };
            if let Err(e) = outcome {
                tracing::error!(table = %table.descriptor().name, "expiry index job failed: {e}");
            }
        });
    }

    async fn build_expiry_index(&self, table: &Table) -> Result<(), PartitionError> {
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

    async fn drop_expiry_index(&self, table: &Table) -> Result<(), PartitionError> {
        for partition in 0..table.descriptor().partitions {
            self.propose_to(table, partition, Command::DropExpiry)
                .await?;
        }
        Ok(())
    }

    /// Up to `limit` items of one partition that expired at or before `now`, earliest
    /// first: the head of the expiry index, and nothing else is read.
    pub fn expired_items(
        &self,
        table: &Table,
        partition: u16,
        now: u64,
        limit: usize,
    ) -> Result<Vec<ExpiredItem>, PartitionError> {
        let descriptor = table.descriptor();
        let start = expiry_prefix(descriptor.table_id, partition);
        let end = expiry_key(descriptor.table_id, partition, now.saturating_add(1), &[]);
        let item_prefix = cirrus_storage::engine::partition_prefix(descriptor.table_id, partition);
        let mut expired = Vec::new();
        self.engine()
            .scan(CF_EXPIRY, &start, &end.min(prefix_end(&start)), |key, _| {
                let (expiry, suffix) = parse_expiry_key(key)
                    .ok_or_else(|| StorageError::Corrupt("expiry key".into()))?;
                expired.push(ExpiredItem {
                    key: [&item_prefix[..], suffix].concat(),
                    expiry,
                });
                Ok(expired.len() < limit)
            })?;
        self.expiry_entries_read()
            .fetch_add(expired.len() as u64, Ordering::Relaxed);
        Ok(expired)
    }

    /// Proposes the guarded TTL deletion of one expired item.
    pub async fn expire_item(
        &self,
        table: &Table,
        partition: u16,
        item: ExpiredItem,
        now: u64,
    ) -> Result<(), PartitionError> {
        let command = Command::Expire {
            key: item.key,
            expiry: item.expiry,
            now,
        };
        self.propose_to(table, partition, command).await.map(|_| ())
    }

    /// Expiry-index entries the sweeper has read so far: with the deleted-item counts,
    /// shows that sweeping reads only what expired.
    pub fn expiry_entries_read_total(&self) -> u64 {
        self.expiry_entries_read().load(Ordering::Relaxed)
    }
}
