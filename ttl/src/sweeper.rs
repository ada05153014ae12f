//! The sweep loop.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cirrus_cluster::Node;
use cirrus_partition::PartitionError;

use crate::expired::{expire_item, expired_items};

/// Expired items taken from a partition's index at a time.
const BATCH: usize = 512;
/// Batches per partition per sweep, so one busy partition cannot starve the others.
const BATCHES_PER_PASS: usize = 64;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Expiry entries found expired (each one guarded delete proposed).
    pub proposed: u64,
    /// Expiry-index entries read: with `proposed`, shows that a sweep reads only what
    /// expired.
    pub entries_read: u64,
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sweeps every table with TTL enabled once: proposes the deletion of every item whose
/// expiry is at or before now. The proposals go one at a time, yielding in between, so
/// foreground requests keep their share of each partition's Raft group.
pub async fn sweep_once(node: &Node) -> Result<SweepReport, PartitionError> {
    let now = now_seconds();
    let mut report = SweepReport::default();
    for table in node.tables_snapshot() {
        if table.descriptor().ttl_attribute.is_none() {
            continue;
        }
        // Each partition's leader sweeps it: its replicas elsewhere would only propose
        // the same deletions again.
        let partitions = 0..table.descriptor().partitions;
        for partition in partitions.filter(|&partition| table.leads(partition)) {
            for _ in 0..BATCHES_PER_PASS {
                let expired = expired_items(node, &table, partition, now, BATCH)?;
                let last_batch = expired.len() < BATCH;
                report.entries_read += expired.len() as u64;
                for item in expired {
                    expire_item(node, &table, partition, item, now).await?;
                    report.proposed += 1;
                    tokio::task::yield_now().await;
                }
                if last_batch {
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// Sweeps every `interval` in the background.
pub fn spawn(node: Arc<Node>, interval: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            match sweep_once(&node).await {
                Ok(report) if report.proposed > 0 => {
                    tracing::debug!(expired = report.proposed, "TTL sweep");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("TTL sweep failed: {e}"),
            }
        }
    });
}
