//! `kill -9` under concurrent load, with a ledger of what was acknowledged: six writers
//! (two through each node) put distinct keys and ADD to a few hot counters while each
//! node in turn is killed, left down for a while and restarted on its data directory and
//! ports. Afterwards every acknowledged put is read back, strongly consistently, through
//! every node, every node's replicas hold the same items (and, group by group, the same
//! state: equal digests at equal applied indexes), and each hot counter holds at
//! least the ADDs acknowledged and at most those attempted (a 500 after a write
//! committed leaves it ambiguous, as in DynamoDB). A write the cluster answers with a
//! 4xx during a failover is a bug, and reported as one.
//!
//! A new group's first leader is chosen by its id, so each node starts out leading one
//! of the table's partitions, and leadership moves as nodes die: after each kill, a put
//! on each partition measures how long that partition took writes again (bounded by
//! `RECOVERY_BOUND`), and some kill must have stalled a partition for an election, or
//! no failover was tested.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::Client;

use crate::common::cluster::*;
use crate::common::*;

const TABLE: &str = "failover";
/// Writers, spread evenly over the nodes.
const WRITERS: usize = 6;
/// How many nodes are killed, one after the other, round-robin.
const KILLS: usize = 3;
/// Writing before the first kill.
const WARM_UP: Duration = Duration::from_secs(3);
/// How long a killed node stays down.
const DOWN: Duration = Duration::from_secs(4);
/// Writing after a killed node is back and serves again, before the next kill.
const SETTLE: Duration = Duration::from_secs(2);
/// Every partition must take writes again this soon after a kill.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);
/// How many operations one writer makes at most (the test stops them long before).
const MAX_OPS: usize = 100_000;
/// How long a writer retries one put before it gives the key up.
const PUT_PATIENCE: Duration = Duration::from_secs(30);
/// How long at least a partition whose leader was killed takes no writes: a follower
/// stands for election 1.5 s at the earliest after the last heartbeat, and heartbeats
/// come every 250 ms (`raft_config`, `partition/src/group.rs`).
const DEPOSED_STALL: Duration = Duration::from_millis(1_000);
/// Every `ADD_EVERY`th operation of a writer is an ADD to a hot counter.
const ADD_EVERY: usize = 4;

/// What writers did.
#[derive(Default)]
struct Ledger {
    /// Acknowledged puts: key → the item put.
    acknowledged: BTreeMap<String, Attrs>,
    /// Every key a put was sent for, acknowledged or not.
    attempted: BTreeSet<String>,
    /// Per hot counter: ADDs acknowledged, ADDs sent.
    adds: BTreeMap<String, (u64, u64)>,
    /// Failures a client retries, by kind: what a failover cost.
    retried: BTreeMap<String, u64>,
    /// Failures a client may not retry (each a bug), with when and where.
    rejected: Vec<String>,
}

impl Ledger {
    fn merge(&mut self, other: Ledger) {
        self.acknowledged.extend(other.acknowledged);
        self.attempted.extend(other.attempted);
        for (key, (acked, sent)) in other.adds {
            let mine = self.adds.entry(key).or_default();
            mine.0 += acked;
            mine.1 += sent;
        }
        for (kind, count) in other.retried {
            *self.retried.entry(kind).or_default() += count;
        }
        self.rejected.extend(other.rejected);
    }

    /// Files a failed request under retried or rejected, and pauses a little; whether
    /// a client may retry it.
    async fn failed<E: ProvideErrorMetadata + std::fmt::Debug>(
        &mut self,
        what: &str,
        error: &SdkError<E, HttpResponse>,
        since: Instant,
    ) -> bool {
        match retryable(error) {
            Ok(kind) => *self.retried.entry(kind).or_default() += 1,
            Err(bug) => {
                let when = since.elapsed();
                self.rejected.push(format!("{what} at {when:.1?}: {bug}"));
                return false;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        true
    }
}

/// One writer: through `client` (node `node`, 0-based) until `stop`, puts keys
/// `w{id}-{seq}` — each retried until acknowledged — and, every `ADD_EVERY`th operation,
/// ADDs 1 to a hot counter, once (so every ADD sent counts as attempted).
async fn writer(
    id: usize,
    node: usize,
    client: Client,
    hot: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    since: Instant,
) -> Ledger {
    let mut ledger = Ledger::default();
    for seq in 0..MAX_OPS {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if seq % ADD_EVERY == ADD_EVERY - 1 {
            let key = &hot[(id + seq / ADD_EVERY) % hot.len()];
            ledger.adds.entry(key.clone()).or_default().1 += 1;
            let add = client
                .update_item()
                .table_name(TABLE)
                .key("pk", s(key))
                .update_expression("ADD hits :one")
                .expression_attribute_values(":one", n("1"))
                .send()
                .await;
            match add {
                Ok(_) => ledger.adds.entry(key.clone()).or_default().0 += 1,
                Err(e) => {
                    let what = format!("writer {id} via node {}: ADD to {key}", node + 1);
                    ledger.failed(&what, &e, since).await;
                }
            }
            continue;
        }
        let key = format!("w{id}-{seq}");
        let put = item(&[
            ("pk", s(&key)),
            ("writer", n(&id.to_string())),
            ("seq", n(&seq.to_string())),
            ("payload", s(&format!("{key} {}", "x".repeat(48)))),
        ]);
        ledger.attempted.insert(key.clone());
        let first = Instant::now();
        while !stop.load(Ordering::Relaxed) && first.elapsed() < PUT_PATIENCE {
            let sent = client
                .put_item()
                .table_name(TABLE)
                .set_item(Some(put.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => {
                    ledger.acknowledged.insert(key, canonical_item(&put));
                    break;
                }
                Err(e) => {
                    let what = format!("writer {id} via node {}: put {key}", node + 1);
                    if !ledger.failed(&what, &e, since).await {
                        break;
                    }
                }
            }
        }
    }
    ledger
}

/// What one kill cost.
struct Round {
    killed: usize,
    /// Per partition: how long after the kill a put sent then was acknowledged, or why
    /// it was not.
    writable_after: Vec<Result<Duration, String>>,
    /// How long after its restart the node served a strongly consistent read of each
    /// partition.
    serving_after: Duration,
}

impl Round {
    /// The longest a partition took to take writes again (`None`: one never did).
    fn slowest(&self) -> Option<Duration> {
        self.writable_after
            .iter()
            .map(|took| took.as_ref().ok().copied())
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }
}

/// Kills node `killed` (`kill -9`), puts one key on each partition through the next node
/// at once, each retried until acknowledged (into `probes`), restarts the killed node
/// after `DOWN` on its data directory and ports, and waits until it reads each of those
/// keys strongly consistently. `direct` has a client per node that does not retry.
async fn kill_and_restart(
    cluster: &mut Cluster,
    direct: &[Client],
    round: usize,
    killed: usize,
    probes: &mut Ledger,
) -> Round {
    cluster.nodes[killed].kill9();
    let down = Instant::now();
    let keys = key_per_partition(&format!("probe{round}"));
    let puts: Vec<_> = keys
        .iter()
        .map(|key| {
            let client = direct[(killed + 1) % MEMBERS].clone();
            let key = key.clone();
            tokio::spawn(async move {
                let patience = RECOVERY_BOUND + Duration::from_secs(5);
                until_acknowledged(patience, || {
                    client
                        .put_item()
                        .table_name(TABLE)
                        .item("pk", s(&key))
                        .send()
                })
                .await
            })
        })
        .collect();
    let mut writable_after = Vec::new();
    for (key, put) in keys.iter().zip(puts) {
        probes.attempted.insert(key.clone());
        let put = put.await.expect("a probe panicked");
        if put.is_ok() {
            let probe = canonical_item(&item(&[("pk", s(key))]));
            probes.acknowledged.insert(key.clone(), probe);
        }
        writable_after.push(put.map_err(|e| format!("probe {key}: {e}")));
    }
    tokio::time::sleep(DOWN.saturating_sub(down.elapsed())).await;
    cluster.nodes[killed].start_again();
    let restarted = Instant::now();
    for key in probes.acknowledged.keys().filter(|k| keys.contains(k)) {
        let what = format!("node {} reads {key} after its restart", killed + 1);
        eventually(&what, || async {
            let read = try_get_consistent(&direct[killed], TABLE, item(&[("pk", s(key))])).await?;
            read.map(|_| ()).ok_or(format!("{key} not found"))
        })
        .await;
    }
    Round {
        killed,
        writable_after,
        serving_after: restarted.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start();
    let clients = cluster.clients();
    let direct = cluster.clients_no_retry();
    create_served_table(&clients, TABLE).await;

    let hot = Arc::new(key_per_partition("hot"));
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| {
            let node = id % MEMBERS;
            let (hot, stop) = (hot.clone(), stop.clone());
            tokio::spawn(writer(
                id,
                node,
                direct[node].clone(),
                hot,
                stop,
                load_started,
            ))
        })
        .collect();

    let mut probes = Ledger::default();
    let mut rounds = Vec::new();
    tokio::time::sleep(WARM_UP).await;
    for round in 0..KILLS {
        let killed = round % MEMBERS;
        rounds.push(kill_and_restart(&mut cluster, &direct, round, killed, &mut probes).await);
        tokio::time::sleep(SETTLE).await;
    }
    stop.store(true, Ordering::Relaxed);
    let load_time = load_started.elapsed();
    let mut ledger = Ledger::default();
    for w in writers {
        ledger.merge(w.await.expect("a writer panicked"));
    }
    ledger.merge(probes);

    let adds_acknowledged: u64 = ledger.adds.values().map(|(acked, _)| acked).sum();
    let adds_sent: u64 = ledger.adds.values().map(|(_, sent)| sent).sum();
    eprintln!(
        "{} puts acknowledged of {} sent, {adds_acknowledged} ADDs of {adds_sent}, in {load_time:.1?}; retried: {:?}",
        ledger.acknowledged.len(),
        ledger.attempted.len(),
        ledger.retried
    );
    for r in &rounds {
        eprintln!(
            "node {} killed: each partition writable again after {:.2?}; restarted, serving after {:.2?}",
            r.killed + 1,
            r.writable_after,
            r.serving_after
        );
    }

    let mut failures = Failures::new();
    for bug in ledger.rejected.iter().take(20) {
        failures.push(format!("a write was refused, not failed over: {bug}"));
    }
    for r in &rounds {
        match r.slowest() {
            Some(slowest) if slowest <= RECOVERY_BOUND => {}
            _ => failures.push(format!(
                "after node {} was killed, a partition did not take writes within {RECOVERY_BOUND:?}: {:?}",
                r.killed + 1,
                r.writable_after
            )),
        }
    }
    // Some kill must have deposed a leader (a partition stalled for an election), or
    // this test did not test a failover.
    if !rounds
        .iter()
        .any(|r| r.slowest().is_some_and(|s| s >= DEPOSED_STALL))
    {
        failures.push("no kill deposed a leader: no partition stalled for an election");
    }
    check_every_node(&clients, &ledger, &mut failures).await;
    failures.assert_none();
    let groups = cluster.equal_state_digests().await;
    eprintln!("every replica of {groups} groups has the same state digest");
    eprintln!("kill_9_under_load took {:.1?}", cluster.started.elapsed());
}

/// Every acknowledged put is read back, strongly consistently, through every node; the
/// hot counters hold between the ADDs acknowledged and those sent, through every node;
/// every node's replicas converge to the same items, all of them written by the test.
async fn check_every_node(clients: &[Client], ledger: &Ledger, failures: &mut Failures) {
    let keys: Vec<String> = ledger.acknowledged.keys().cloned().collect();
    let hot: Vec<String> = ledger.adds.keys().cloned().collect();
    for (i, client) in clients.iter().enumerate() {
        let node = i + 1;
        let found = match batch_get_consistent(client, TABLE, &keys).await {
            Ok(found) => found,
            Err(e) => {
                failures.push(format!("node {node}: {e}"));
                continue;
            }
        };
        let lost: Vec<_> = ledger
            .acknowledged
            .iter()
            .filter(|(key, put)| found.get(*key) != Some(put))
            .map(|(key, put)| (key, put, found.get(key)))
            .collect();
        if !lost.is_empty() {
            failures.push(format!(
                "node {node}: {} of {} acknowledged puts not read back as put, e.g. {:?}",
                lost.len(),
                keys.len(),
                &lost[..lost.len().min(3)]
            ));
        }
        let counters = match batch_get_consistent(client, TABLE, &hot).await {
            Ok(found) => found,
            Err(e) => {
                failures.push(format!("node {node}: {e}"));
                continue;
            }
        };
        for (key, (acked, sent)) in &ledger.adds {
            let hits = counters
                .get(key)
                .and_then(|it| it.get("hits")?.as_n().ok()?.parse::<u64>().ok())
                .unwrap_or(0);
            if hits < *acked || hits > *sent {
                failures.push(format!(
                    "node {node}: counter {key} is {hits}, with {acked} ADDs acknowledged of {sent} sent"
                ));
            }
        }
    }
    let items = converged_items(clients, TABLE).await;
    let strangers: Vec<&String> = items
        .keys()
        .filter(|k| !ledger.attempted.contains(*k) && !ledger.adds.contains_key(*k))
        .collect();
    if !strangers.is_empty() {
        failures.push(format!("items nobody wrote: {strangers:?}"));
    }
}
