//! A three-replica partition under transport faults (the transport's `Faults` hook,
//! which drops frames on the sending side, per directed node pair):
//!
//! - a follower cut off both ways: the leader and the other follower are a majority, so
//!   writes go on; once healed, the follower converges;
//! - the leader cut off: the followers elect a new leader, which takes writes; the old
//!   leader acknowledges none (research table, T1's write half); once healed, it steps
//!   down and converges on the new leader's data;
//! - 20% of frames dropped on every pair while writes go on: whatever was
//!   acknowledged is on every replica once healed.
//!
//! Every write has a unique key and a value derived from it, and a ledger records what
//! its proposer was told; after healing, every replica must hold every acknowledged
//! write, nothing nobody wrote, and the same bytes as the others. Scaffolding in
//! `replicas/`.

mod replicas;

use std::time::{Duration, Instant};

use cirrus_cluster::NodeId;
use openraft::ServerState;
use replicas::{try_write, Cluster, Error, Ledger, Outcome, Write, WAIT};

/// How long one write may take under faults before it counts as unanswered.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Proposes small writes `pk-0…` through `node`, records what each got, and returns
/// the outcomes.
async fn write_through(
    cluster: &Cluster,
    ledger: &mut Ledger,
    node: u64,
    prefix: &str,
    count: usize,
    timeout: Duration,
) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::new();
    for i in 0..count {
        let write = Write::new(&format!("{prefix}-{i}"), 100)?;
        let outcome = try_write(cluster.group(node)?, &write, timeout).await;
        ledger.record(&write, outcome.clone());
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Heals every fault, waits for one leader and for every replica to apply what it has,
/// then checks all replicas are identical and hold every acknowledged write.
/// Twenty writes through the group's leader, on every replica: the state each fault
/// starts from, with the ledger of those writes and the leader.
async fn settled(cluster: &mut Cluster) -> Result<(Ledger, NodeId), Error> {
    let mut ledger = Ledger::default();
    let leader = cluster.leader().await?;
    write_through(cluster, &mut ledger, leader, "before", 20, WRITE_TIMEOUT).await?;
    cluster.converged(leader).await?;
    Ok((ledger, leader))
}

async fn heal_and_check(cluster: &Cluster, ledger: &Ledger) -> Result<(), Error> {
    cluster.faults.clear_all();
    let leader = cluster.leader().await?;
    // A blank entry of the leader's term commits whatever it holds; afterwards the
    // followers have applied all of it.
    cluster.converged(leader).await?;
    cluster.identical()?;
    for replica in &cluster.replicas {
        ledger.check(replica.id, &replica.items()?)?;
    }
    Ok(())
}

async fn run(scenario: impl AsyncFnOnce(&mut Cluster) -> Result<(), Error>) -> Result<(), Error> {
    let mut cluster = Cluster::start(3).await?;
    let outcome = scenario(&mut cluster).await;
    cluster.stop_all().await;
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_cut_off_misses_nothing_once_healed() -> Result<(), Error> {
    run(async |cluster: &mut Cluster| {
        let (mut ledger, leader) = settled(cluster).await?;
        let follower = cluster.others(leader)[0];

        cluster.isolate(follower);
        // The leader and the other follower are a majority: every write goes through.
        let outcomes =
            write_through(cluster, &mut ledger, leader, "cut", 200, WRITE_TIMEOUT).await?;
        let refused: Vec<_> = outcomes
            .iter()
            .filter(|o| **o != Outcome::Acknowledged)
            .collect();
        assert!(
            refused.is_empty(),
            "writes with a majority failed: {refused:?}"
        );
        // The cut was real: the follower has none of them.
        let held = cluster.replica(follower)?.items()?.len();
        assert_eq!(held, 20, "node {follower} received writes through the cut");

        heal_and_check(cluster, &ledger).await?;
        assert_eq!(cluster.replica(follower)?.items()?.len(), 220);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_acknowledges_nothing_and_steps_down_once_healed() -> Result<(), Error> {
    run(async |cluster: &mut Cluster| {
        let (mut ledger, old) = settled(cluster).await?;
        let old_term = cluster.raft(old)?.metrics().borrow().current_term;

        cluster.isolate(old);
        // The two followers miss its heartbeats and elect one of themselves
        // (elections take 1.5–3 s; `leader_among` waits up to WAIT).
        let others = cluster.others(old);
        let new = cluster.leader_among(&others).await?;
        assert_ne!(new, old);
        let outcomes = write_through(cluster, &mut ledger, new, "new", 50, WRITE_TIMEOUT).await?;
        let refused: Vec<_> = outcomes
            .iter()
            .filter(|o| **o != Outcome::Acknowledged)
            .collect();
        assert!(
            refused.is_empty(),
            "the new leader failed writes: {refused:?}"
        );

        // The old leader may still believe it leads, but it cannot commit anything:
        // none of its writes may be acknowledged.
        let stale = write_through(
            cluster,
            &mut ledger,
            old,
            "stale",
            5,
            Duration::from_secs(3),
        )
        .await?;
        assert!(
            !stale.contains(&Outcome::Acknowledged),
            "an isolated leader acknowledged a write: {stale:?}"
        );

        heal_and_check(cluster, &ledger).await?;
        // It has stepped down: it follows another node, leader of a later term.
        cluster
            .raft(old)?
            .wait(Some(WAIT))
            .metrics(
                |m| {
                    m.current_term > old_term
                        && m.state == ServerState::Follower
                        && m.current_leader.is_some_and(|l| l != old)
                },
                "the old leader stepped down",
            )
            .await?;
        // Nothing it took while cut off left it, so no replica may hold any of it: its
        // entries were overwritten by the new leader's.
        for replica in &cluster.replicas {
            let items = replica.items()?;
            for write in ledger.unacknowledged() {
                assert!(
                    !items.contains_key(&write.key),
                    "node {} holds {}, written through the isolated leader",
                    replica.id,
                    write.pk
                );
            }
        }
        assert_eq!(cluster.replicas[0].items()?.len(), 70);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_loss_loses_no_acknowledged_write() -> Result<(), Error> {
    run(async |cluster: &mut Cluster| {
        let (mut ledger, _) = settled(cluster).await?;

        for from in 1..=3 {
            for to in cluster.others(from) {
                cluster.faults.drop_with_probability(from, to, 0.2);
            }
        }
        // Each write goes to whichever node some replica last saw leading; a stale
        // guess fails or times out and is recorded as such. Bounded in count and time.
        const WRITES: usize = 150;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut attempted = 0;
        while attempted < WRITES && Instant::now() < deadline {
            let guess = cluster.replicas.iter().find_map(|r| {
                r.running
                    .as_ref()?
                    .group
                    .raft()
                    .metrics()
                    .borrow()
                    .current_leader
            });
            let Some(node) = guess else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let write = Write::new(&format!("lossy-{attempted}"), 100)?;
            let outcome = try_write(cluster.group(node)?, &write, WRITE_TIMEOUT).await;
            ledger.record(&write, outcome);
            attempted += 1;
        }
        let acknowledged = ledger.acknowledged_count() - 20;
        eprintln!(
            "20% loss: {acknowledged} of {attempted} writes acknowledged, {} failed, {} timed out",
            ledger.count(|o| matches!(o, Outcome::Failed(_))),
            ledger.count(|o| *o == Outcome::TimedOut),
        );
        // A majority stays reachable most of the time, so most writes must get through;
        // without this the test would pass with nothing acknowledged.
        assert!(
            acknowledged * 2 >= attempted && attempted > 0,
            "only {acknowledged} of {attempted} writes were acknowledged"
        );

        heal_and_check(cluster, &ledger).await
    })
    .await
}
