//! One partition's Raft group with three replicas on three "nodes" (each its own
//! RocksDB, WAL syncer and transport on a loopback port): writes acknowledged by the
//! leader are on every replica, a write proposed on a follower is forwarded to the
//! leader, the group elects a new leader when its leader stops and keeps every
//! acknowledged write, and the stopped replica catches up when it comes back.
//! Real openraft, real RocksDB, real TCP. The scaffolding is in `replicas/`.

mod replicas;

use replicas::{put, write_all, Cluster, Error};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_replica_group_keeps_acknowledged_writes_through_a_leader_failure(
) -> Result<(), Error> {
    let mut cluster = Cluster::start(3).await?;
    let outcome = leader_failure(&mut cluster).await;
    cluster.stop_all().await;
    outcome
}

async fn leader_failure(cluster: &mut Cluster) -> Result<(), Error> {
    let first = cluster.leader().await?;
    let keys: Vec<String> = (0..50).map(|i| format!("before-{i}")).collect();
    write_all(&cluster.replicas, first, &keys).await?;
    // A write proposed on a follower goes to the leader, and is everywhere once
    // acknowledged.
    let follower = cluster
        .replicas
        .iter()
        .find(|r| r.id != first)
        .ok_or("no follower")?;
    follower.group()?.propose(put("forwarded")?).await?;
    cluster.converged(first).await?;
    let everywhere = cluster.replicas[0].items()?;
    assert_eq!(everywhere.len(), 51);
    for replica in &cluster.replicas[1..] {
        assert_eq!(replica.items()?, everywhere, "node {} differs", replica.id);
    }

    // The leader goes away: the other two elect one of themselves and keep serving.
    cluster.stop(first).await?;
    let second = cluster.leader().await?;
    assert_ne!(second, first);
    let more: Vec<String> = (0..50).map(|i| format!("after-{i}")).collect();
    write_all(&cluster.replicas, second, &more).await?;

    // The stopped node comes back on its address and catches up.
    cluster.restart(first).await?;
    let now = cluster.leader().await?;
    cluster.converged(now).await?;
    let everywhere = cluster.replicas[0].items()?;
    assert_eq!(everywhere.len(), 101, "every acknowledged write, once");
    for replica in &cluster.replicas[1..] {
        assert_eq!(replica.items()?, everywhere, "node {} differs", replica.id);
    }
    Ok(())
}
