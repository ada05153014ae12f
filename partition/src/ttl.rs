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
