//! Expired items: found at the head of a partition's expiry index (`index`), read from
//! this node's replica, and nothing else is read.

use cirrus_storage::engine::{partition_prefix, prefix_end, CF_EXPIRY};
use cirrus_storage::StorageError;

use crate::host::{ExpiringPartition, ExpiryHost};
use crate::index::{expiry_key, expiry_prefix, parse_expiry_key};

/// An expired entry of the expiry index: the item's full key and its expiry.
pub struct ExpiredItem {
    pub key: Vec<u8>,
    pub expiry: u64,
}

/// Up to `limit` items of one partition that expired at or before `now`, earliest
/// first: the head of this node's replica of the expiry index.
pub fn expired_items<H: ExpiryHost>(
    host: &H,
    at: ExpiringPartition,
    now: u64,
    limit: usize,
) -> Result<Vec<ExpiredItem>, StorageError> {
    let start = expiry_prefix(at.table_id, at.partition);
    let end = expiry_key(at.table_id, at.partition, now.saturating_add(1), &[]);
    let item_prefix = partition_prefix(at.table_id, at.partition);
    let mut expired = Vec::new();
    host.engine()
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
