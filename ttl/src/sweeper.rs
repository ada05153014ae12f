//! The sweep loop.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::expired::expired_items;
use crate::host::ExpiryHost;

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
pub async fn sweep_once<H: ExpiryHost>(host: &H) -> Result<SweepReport, H::Error> {
    let now = now_seconds();
    let mut report = SweepReport::default();
    for at in host.led_expiring_partitions() {
        for _ in 0..BATCHES_PER_PASS {
            let expired = expired_items(host, at, now, BATCH)?;
            let last_batch = expired.len() < BATCH;
            report.entries_read += expired.len() as u64;
            for item in expired {
                host.expire(at, item.key, item.expiry, now).await?;
                report.proposed += 1;
                tokio::task::yield_now().await;
            }
            if last_batch {
                break;
            }
        }
    }
    Ok(report)
}

/// Sweeps every `interval` in the background.
pub fn spawn<H: ExpiryHost>(host: Arc<H>, interval: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            match sweep_once(&*host).await {
                Ok(report) if report.proposed > 0 => {
                    tracing::debug!(expired = report.proposed, "TTL sweep");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("TTL sweep failed: {e}"),
            }
        }
    });
}
