//! A replica that was away while the others compacted their logs past everything it
//! has catches up by receiving a snapshot (research table, T7): the snapshot is many
//! 1 MiB chunks on the bulk lane, the returning replica installs it, and afterwards all
//! three hold the same items, index entries and statistics, byte for byte, and go on
//! taking writes. Real openraft, real RocksDB, real TCP; scaffolding in `replicas/`.

mod replicas;

use std::time::Duration;

use cirrus_partition::group::group_id;
use cirrus_partition::raft_types::LogId;
use replicas::{write_all, write_concurrently, Cluster, Error, Ledger, Write, PARTITION, TABLE};

/// Enough data that the snapshot is several of the group's 1 MiB chunks.
const BIG_ITEMS: usize = 2_000;
const FILLER: usize = 5_000;
const CHUNK: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_behind_the_purged_log_catches_up_by_snapshot() -> Result<(), Error> {
    let mut cluster = Cluster::start(3).await?;
    let outcome = snapshot_catch_up(&mut cluster).await;
    cluster.stop_all().await;
    outcome
}

/// Snapshots `node`'s state machine and purges its log up to the snapshot; returns the
/// snapshot's log id.
async fn compact(cluster: &Cluster, node: u64) -> Result<LogId, Error> {
    let raft = cluster.raft(node)?;
    let applied = raft
        .metrics()
        .borrow()
        .last_applied
        .ok_or("nothing applied")?;
    raft.trigger().snapshot().await?;
    let metrics = raft
        .wait(Some(Duration::from_secs(60)))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= applied.index),
            "snapshot taken",
        )
        .await?;
    let snapshot = metrics.snapshot.ok_or("no snapshot")?;
    raft.trigger().purge_log(snapshot.index).await?;
    raft.wait(Some(Duration::from_secs(60)))
        .metrics(
            |m| m.purged.is_some_and(|p| p.index >= snapshot.index),
            "log purged up to the snapshot",
        )
        .await?;
    Ok(snapshot)
}

async fn snapshot_catch_up(cluster: &mut Cluster) -> Result<(), Error> {
    let mut ledger = Ledger::default();
    let leader = cluster.leader().await?;
    let others = cluster.others(leader);
    let (lagging, other) = (others[0], others[1]);

    let first: Vec<String> = (0..100).map(|i| format!("first-{i}")).collect();
    write_all(&cluster.replicas, leader, &first).await?;
    for pk in &first {
        ledger.acknowledged(&[Write::new(pk, 0)?]);
    }
    cluster.converged(leader).await?;
    let left_at = cluster.raft(lagging)?.metrics().borrow().clone();
    assert_eq!(
        left_at.snapshot, None,
        "node {lagging} took a snapshot already"
    );
    cluster.stop(lagging).await?;

    // Many writes while it is away, in batched entries as the node makes them.
    let big = (0..BIG_ITEMS)
        .map(|i| Write::new(&format!("big-{i}"), FILLER))
        .collect::<Result<Vec<_>, _>>()?;
    write_concurrently(cluster.group(leader)?, &big, 64).await?;
    ledger.acknowledged(&big);
    cluster.converged(leader).await?;

    // Both remaining replicas compact their logs past everything the lagging one has,
    // so only a snapshot can bring it back.
    let snapshot = compact(cluster, leader).await?;
    compact(cluster, other).await?;
    let purged = cluster.raft(leader)?.metrics().borrow().purged;
    let lagging_last = left_at.last_log_index.unwrap_or(0);
    assert!(
        purged.is_some_and(|p| p.index > lagging_last),
        "the leader's log still holds what node {lagging} lacks: purged {purged:?}, \
         its last entry {lagging_last}"
    );
    let snapshot_bytes = snapshot_file_bytes(cluster, leader)?;
    assert!(
        snapshot_bytes > 3 * CHUNK,
        "the snapshot is {snapshot_bytes} bytes, not several chunks"
    );

    cluster.restart(lagging).await?;
    let installed = cluster
        .raft(lagging)?
        .wait(Some(Duration::from_secs(120)))
        .metrics(
            |m| m.snapshot.is_some() && m.last_applied >= Some(snapshot),
            "snapshot installed",
        )
        .await?;
    // Its snapshot is the leader's, received: it never had the entries to build one.
    assert_eq!(
        installed.snapshot,
        Some(snapshot),
        "node {lagging}'s snapshot"
    );
    let now = cluster.leader().await?;
    cluster.converged(now).await?;
    let items = cluster.identical()?;
    assert_eq!(items.len(), first.len() + BIG_ITEMS);
    for replica in &cluster.replicas {
        ledger.check(replica.id, &replica.items()?)?;
    }

    // The group goes on: writes reach all three, the returning one included.
    let now = cluster.leader().await?;
    let after: Vec<String> = (0..100).map(|i| format!("after-{i}")).collect();
    write_all(&cluster.replicas, now, &after).await?;
    for pk in &after {
        ledger.acknowledged(&[Write::new(pk, 0)?]);
    }
    cluster.converged(now).await?;
    let items = cluster.identical()?;
    assert_eq!(items.len(), first.len() + BIG_ITEMS + after.len());
    for replica in &cluster.replicas {
        ledger.check(replica.id, &replica.items()?)?;
    }
    Ok(())
}

/// The size of the node's current snapshot file (`<data dir>/snapshots/<group>/`).
fn snapshot_file_bytes(cluster: &Cluster, node: u64) -> Result<u64, Error> {
    let dir = cluster
        .replica(node)?
        .dir
        .join("snapshots")
        .join(format!("{:016x}", group_id(TABLE, PARTITION)));
    let mut largest = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "snap") {
            largest = largest.max(entry.metadata()?.len());
        }
    }
    Ok(largest)
}

/// Items near DynamoDB's 400 KB limit: a batch of a few dozen is tens of megabytes.
const LARGE_ITEMS: usize = 60;
const LARGE_FILLER: usize = 300_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_behind_on_large_entries_catches_up_by_log() -> Result<(), Error> {
    let mut cluster = Cluster::start(3).await?;
    let outcome = large_entries_catch_up(&mut cluster).await;
    cluster.stop_all().await;
    outcome
}

async fn large_entries_catch_up(cluster: &mut Cluster) -> Result<(), Error> {
    let mut ledger = Ledger::default();
    let leader = cluster.leader().await?;
    let lagging = cluster.others(leader)[0];
    cluster.stop(lagging).await?;

    // Written concurrently, they are proposed in batches; each batched entry must
    // reach the remaining follower within openraft's AppendEntries timeout (one
    // heartbeat interval) or nothing ever commits. Bounded, so a stall fails the test.
    let large = (0..LARGE_ITEMS)
        .map(|i| Write::new(&format!("large-{i}"), LARGE_FILLER))
        .collect::<Result<Vec<_>, _>>()?;
    let writes = write_concurrently(cluster.group(leader)?, &large, LARGE_ITEMS);
    tokio::time::timeout(Duration::from_secs(120), writes)
        .await
        .map_err(|_| "large writes were not acknowledged within 120 s")??;
    ledger.acknowledged(&large);

    // The returning replica is sent the whole backlog (about 18 MB) from the log,
    // never more at once than can arrive within the same timeout.
    cluster.restart(lagging).await?;
    let leader = cluster.leader().await?;
    let applied = cluster.raft(leader)?.metrics().borrow().last_applied;
    cluster
        .raft(lagging)?
        .wait(Some(Duration::from_secs(120)))
        .metrics(|m| m.last_applied >= applied, "the backlog applied")
        .await?;
    let installed = cluster.raft(lagging)?.metrics().borrow().snapshot;
    assert_eq!(
        installed, None,
        "node {lagging} was sent a snapshot, not the log"
    );
    cluster.converged(leader).await?;
    let items = cluster.identical()?;
    assert_eq!(items.len(), LARGE_ITEMS);
    for replica in &cluster.replicas {
        ledger.check(replica.id, &replica.items()?)?;
    }
    Ok(())
}
