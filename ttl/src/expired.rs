//! Expired items: found at the head of a partition's expiry index (which the partition
//! state machine keeps in the same write batch as every item change), and deleted by a
//! guarded command that the state machine re-checks at apply time.

use cirrus_cluster::{Node, Table};
use cirrus_partition::command::Command;
use cirrus_partition::error::PartitionError;
use cirrus_storage::engine::{partition_prefix, prefix_end, CF_EXPIRY};
use cirrus_storage::expiry::{expiry_key, expiry_prefix, parse_expiry_key};
use cirrus_storage::StorageError;

/// An expired entry of the expiry index: the item's full key and its expiry.
pub struct ExpiredItem {
    pub key: Vec<u8>,
    pub expiry: u64,
}

/// Up to `limit` items of one partition that expired at or before `now`, earliest
/// first: the head of this node's replica of the expiry index, and nothing else is read.
pub fn expired_items(
    node: &Node,
    table: &Table,
    partition: u16,
    now: u64,
    limit: usize,
) -> Result<Vec<ExpiredItem>, PartitionError> {
    let table_id = table.descriptor().table_id;
    let start = expiry_prefix(table_id, partition);
    let end = expiry_key(table_id, partition, now.saturating_add(1), &[]);
    let item_prefix = partition_prefix(table_id, partition);
    let mut expired = Vec::new();
    node.engine()
        .scan(CF_EXPIRY, &start, &end.min(prefix_end(&start)), |key, _| {
            let (expiry, suffix) =
                parse_expiry_key(key).ok_or_else(|| StorageError::Corrupt("expiry key".into()))?;
            expired.push(ExpiredItem {
                key: [&item_prefix[..], suffix].concat(),
                expiry,
            });
            Ok(expired.len() < limit)
        })?;
    Ok(expired)
}

/// Proposes the guarded TTL deletion of one expired item: an item rewritten with a
/// later expiry after it was found survives.
pub async fn expire_item(
    node: &Node,
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
    node.propose_to(table, partition, command).await.map(|_| ())
}

/// Items deleted by TTL expiry on this node's replicas of the table's partitions
/// (DynamoDB's TimeToLiveDeletedItemCount).
pub fn expired_count(table: &Table) -> i64 {
    table
        .groups()
        .iter()
        .map(|group| group.stats().expired())
        .sum()
}
