//! The retention sweep: every stream record older than the retention period is deleted,
//! shard by shard, with one range tombstone each (it reads only what it deletes).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cirrus_cluster::Node;

use crate::change_log::{trim_shard, ShardRef};
use crate::owners::{forget_retired_streams, stream_owners};

/// DynamoDB keeps stream records for 24 hours.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Trims every shard of every stream of every table once (each live one through its
/// partition's leader), and forgets the streams of deleted tables once their retention
/// has passed. Runs on the blocking pool: it reads RocksDB and waits for proposals.
pub fn sweep(node: &Node, retention: Duration) -> u64 {
    let now = now_ms();
    let before = now.saturating_sub(retention.as_millis() as u64);
    let owners = match stream_owners(node) {
        Ok(owners) => owners,
        Err(e) => {
            tracing::warn!("stream trim failed: {e}");
            return 0;
        }
    };
    let mut trimmed = 0;
    for owner in owners {
        if owner.deleted_at.is_some_and(|at| at < seconds(before)) {
            let forget = forget_retired_streams(node, owner.table_id);
            if let Err(e) = tokio::runtime::Handle::current().block_on(forget) {
                tracing::warn!(table = %owner.table_name, "forgetting deleted streams failed: {e}");
            }
            continue;
        }
        for stream in &owner.streams {
            for partition in 0..owner.partitions {
                let shard = ShardRef {
                    table_id: owner.table_id,
                    partition,
                    stream_id: stream.stream_id,
                };
                let trim = trim_shard(node, shard, before);
                match tokio::runtime::Handle::current().block_on(trim) {
                    Ok(count) => trimmed += count,
                    Err(e) => tracing::warn!(table = %owner.table_name, "stream trim failed: {e}"),
                }
            }
        }
    }
    trimmed
}

/// Runs the sweep in the background, a few times per retention period (at most once a
/// second, at least once a minute).
pub fn spawn(node: Arc<Node>, retention: Duration) {
    let interval = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let node = node.clone();
            let trimmed = tokio::task::spawn_blocking(move || sweep(&node, retention))
                .await
                .unwrap_or(0);
            if trimmed > 0 {
                tracing::debug!(trimmed, "stream records past retention trimmed");
            }
        }
    });
}
