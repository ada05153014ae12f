//! Durability: an acknowledged write survives `kill -9`.
//!
//! Several tasks write concurrently; the server is SIGKILLed while writes are in flight;
//! it is restarted on the same data directory; every write whose PutItem/DeleteItem
//! returned success must be there, exactly. (ARCHITECTURE.md: "Acknowledged writes are
//! durable: a `kill -9` at any moment loses no acknowledged write.")
//!
//! The clients never retry, so "acknowledged" means one attempt returned HTTP 200.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use aws_sdk_dynamodb::Client;
use common::*;

const WRITERS: usize = 8;
/// Per-task cap on writes in one round (the round is normally ended by the kill).
const MAX_WRITES_PER_TASK: usize = 200_000;
/// Minimum load before the kill: this long, and at least this many acknowledged writes.
const MIN_LOAD_TIME: Duration = Duration::from_millis(2000);
const MIN_ACKS_BEFORE_KILL: usize = 200;
/// Give up waiting for the minimum acknowledged writes after this long.
const MAX_LOAD_TIME: Duration = Duration::from_secs(30);
/// Writer tasks must all finish this long after the kill.
const WRITERS_FINISH_TIMEOUT: Duration = Duration::from_secs(60);

fn value_for(key: &str) -> String {
    // ~200 bytes, different for every key.
    let mut v = String::new();
    while v.len() < 200 {
        v.push_str(key);
        v.push('|');
    }
    v
}

fn expected_item(key: &str, round: usize, seq: usize) -> HashMap<String, AttributeValue> {
    item(&[
        ("pk", s(key)),
        ("v", s(&value_for(key))),
        ("seq", n(&seq.to_string())),
        ("round", n(&round.to_string())),
        ("bin", b(key.as_bytes())),
    ])
}

struct LoadStats {
    acked: Vec<(String, HashMap<String, AttributeValue>)>,
    errors_before_kill: Vec<String>,
    in_flight_at_kill: usize,
    acked_at_kill: usize,
}

/// Run WRITERS concurrent PutItem loops with distinct keys, SIGKILL the server mid-load,
/// wait for the writers to stop, and return what was acknowledged.
async fn put_load_then_kill(server: &mut TestServer, table: &str, round: usize) -> LoadStats {
    let client = server.client_no_retry();
    let killed = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    let mut handles = Vec::new();
    for task in 0..WRITERS {
        let client = client.clone();
        let (killed, acks, in_flight) = (killed.clone(), acks.clone(), in_flight.clone());
        let table = table.to_owned();
        handles.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut errors = Vec::new();
            for seq in 0..MAX_WRITES_PER_TASK {
                if killed.load(Ordering::SeqCst) || started.elapsed() > MAX_LOAD_TIME * 2 {
                    break;
                }
                let key = format!("r{round}-t{task}-{seq:07}");
                let it = expected_item(&key, round, seq);
                in_flight.fetch_add(1, Ordering::SeqCst);
                let res = client
                    .put_item()
                    .table_name(&table)
                    .set_item(Some(it.clone()))
                    .send()
                    .await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                match res {
                    Ok(_) => {
                        acked.push((key, it));
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        if killed.load(Ordering::SeqCst) {
                            break;
                        }
                        if errors.len() < 5 {
                            errors.push(format!("{key}: {e:?}"));
                        }
                    }
                }
            }
            (acked, errors)
        }));
    }

    // Let the load run, then kill while writes are in flight.
    let deadline = started + MAX_LOAD_TIME;
    while started.elapsed() < MIN_LOAD_TIME || acks.load(Ordering::SeqCst) < MIN_ACKS_BEFORE_KILL {
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_flight_at_kill = in_flight.load(Ordering::SeqCst);
    let acked_at_kill = acks.load(Ordering::SeqCst);
    killed.store(true, Ordering::SeqCst);
    server.kill9();

    let mut stats = LoadStats {
        acked: Vec::new(),
        errors_before_kill: Vec::new(),
        in_flight_at_kill,
        acked_at_kill,
    };
    for h in handles {
        let (acked, errors) = tokio::time::timeout(WRITERS_FINISH_TIMEOUT, h)
            .await
            .expect("writer task did not finish after the kill")
            .expect("writer task panicked");
        stats.acked.extend(acked);
        stats.errors_before_kill.extend(errors);
    }
    eprintln!(
        "round {round}: {} writes acknowledged ({} when SIGKILL was sent, {} in flight), {:?} of load",
        stats.acked.len(),
        stats.acked_at_kill,
        stats.in_flight_at_kill,
        started.elapsed()
    );
    stats
}

/// Read every expected item back (strongly consistent) and return descriptions of the
/// ones that are missing or different.
async fn verify(
    client: &Client,
    table: &str,
    expected: &[(String, HashMap<String, AttributeValue>)],
) -> Vec<String> {
    let chunk = expected.len().div_ceil(WRITERS).max(1);
    let mut handles = Vec::new();
    for part in expected.chunks(chunk) {
        let part = part.to_vec();
        let client = client.clone();
        let table = table.to_owned();
        handles.push(tokio::spawn(async move {
            let mut bad = Vec::new();
            for (key, want) in part {
                match client
                    .get_item()
                    .table_name(&table)
                    .key("pk", s(&key))
                    .consistent_read(true)
                    .send()
                    .await
                {
                    Ok(out) => match out.item() {
                        Some(got) if got == &want => {}
                        Some(got) => bad.push(format!("{key}: wrong value {got:?}")),
                        None => bad.push(format!("{key}: missing")),
                    },
                    Err(e) => bad.push(format!("{key}: GetItem failed: {e:?}")),
                }
            }
            bad
        }));
    }
    let mut bad = Vec::new();
    for h in handles {
        bad.extend(
            tokio::time::timeout(Duration::from_secs(300), h)
                .await
                .expect("verification timed out")
                .expect("verifier panicked"),
        );
    }
    bad
}

fn report(bad: &[String], total: usize, when: &str) {
    if !bad.is_empty() {
        panic!(
            "{when}: {} of {total} acknowledged writes lost or wrong; first ones:\n  {}",
            bad.len(),
            bad.iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_puts_survive_sigkill_twice() {
    let mut server = TestServer::start_with(&["--partitions-per-table", "4"]);
    create_table(
        &server.client(),
        "durable",
        ("pk", ScalarAttributeType::S),
        None,
    )
    .await;

    let mut all_acked: Vec<(String, HashMap<String, AttributeValue>)> = Vec::new();
    for round in 0..2 {
        let stats = put_load_then_kill(&mut server, "durable", round).await;
        assert!(
            stats.errors_before_kill.is_empty(),
            "round {round}: PutItems failed before the kill: {:?}",
            stats.errors_before_kill
        );
        assert!(
            stats.acked_at_kill >= 50,
            "round {round}: only {} writes were acknowledged before the kill; the load never got going",
            stats.acked_at_kill
        );
        all_acked.extend(stats.acked);

        server.start_again();
        let client = server.client();
        let bad = verify(&client, "durable", &all_acked).await;
        report(
            &bad,
            all_acked.len(),
            &format!("after SIGKILL #{}", round + 1),
        );
    }

    // And once more after a graceful restart.
    server.restart();
    let bad = verify(&server.client(), "durable", &all_acked).await;
    report(&bad, all_acked.len(), "after the final graceful restart");
}

/// One key's history: op number v (1-based) is a DeleteItem when v % 5 == 0, else a
/// PutItem of {pk, ver: v}. Ops on one key are sequential.
fn is_delete(v: usize) -> bool {
    matches!(v % 5, 0)
}

#[derive(Clone, Default)]
struct KeyHistory {
    last_acked: usize,
    last_attempted: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_overwrites_and_deletes_survive_sigkill() {
    const KEYS_PER_TASK: usize = 8;
    let mut server = TestServer::start_with(&["--partitions-per-table", "4"]);
    create_table(
        &server.client(),
        "overwrite",
        ("pk", ScalarAttributeType::S),
        None,
    )
    .await;
    let client = server.client_no_retry();
    let killed = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    let mut handles = Vec::new();
    for task in 0..WRITERS {
        let client = client.clone();
        let (killed, acks) = (killed.clone(), acks.clone());
        handles.push(tokio::spawn(async move {
            let keys: Vec<String> = (0..KEYS_PER_TASK)
                .map(|k| format!("t{task}-k{k}"))
                .collect();
            let mut hist: HashMap<String, KeyHistory> = keys
                .iter()
                .map(|k| (k.clone(), KeyHistory::default()))
                .collect();
            let mut errors = Vec::new();
            'outer: for v in 1..=MAX_WRITES_PER_TASK {
                for key in &keys {
                    if killed.load(Ordering::SeqCst) || started.elapsed() > MAX_LOAD_TIME * 2 {
                        break 'outer;
                    }
                    hist.get_mut(key).unwrap().last_attempted = v;
                    let res = if is_delete(v) {
                        client
                            .delete_item()
                            .table_name("overwrite")
                            .key("pk", s(key))
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("{e:?}"))
                    } else {
                        client
                            .put_item()
                            .table_name("overwrite")
                            .item("pk", s(key))
                            .item("ver", n(&v.to_string()))
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("{e:?}"))
                    };
                    match res {
                        Ok(()) => {
                            hist.get_mut(key).unwrap().last_acked = v;
                            acks.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            if killed.load(Ordering::SeqCst) {
                                break 'outer;
                            }
                            if errors.len() < 5 {
                                errors.push(format!("{key} op {v}: {e}"));
                            }
                        }
                    }
                }
            }
            (hist, errors)
        }));
    }

    while started.elapsed() < MIN_LOAD_TIME || acks.load(Ordering::SeqCst) < MIN_ACKS_BEFORE_KILL {
        if started.elapsed() > MAX_LOAD_TIME {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked_at_kill = acks.load(Ordering::SeqCst);
    killed.store(true, Ordering::SeqCst);
    server.kill9();

    let mut history: HashMap<String, KeyHistory> = HashMap::new();
    let mut errors = Vec::new();
    for h in handles {
        let (hist, errs) = tokio::time::timeout(WRITERS_FINISH_TIMEOUT, h)
            .await
            .expect("writer task did not finish after the kill")
            .expect("writer task panicked");
        history.extend(hist);
        errors.extend(errs);
    }
    assert!(
        errors.is_empty(),
        "writes failed before the kill: {errors:?}"
    );
    assert!(
        acked_at_kill >= 50,
        "only {acked_at_kill} writes acknowledged before the kill; the load never got going"
    );
    eprintln!("{acked_at_kill} overwrites/deletes acknowledged before SIGKILL");

    server.start_again();
    let client = server.client();
    let mut bad = Vec::new();
    let mut keys: Vec<&String> = history.keys().collect();
    keys.sort();
    for key in keys {
        let h = &history[key];
        let got = client
            .get_item()
            .table_name("overwrite")
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetItem {key} after restart: {e:?}"));
        // The state must be the result of some prefix of the key's ops that includes
        // every acknowledged op: ops 1..=p with last_acked <= p <= last_attempted.
        let ok = match got.item() {
            Some(it) => {
                let ver: Option<usize> = match it.get("ver") {
                    Some(AttributeValue::N(v)) => v.parse().ok(),
                    _ => None,
                };
                match ver {
                    Some(v) => {
                        it.len() == 2 && !is_delete(v) && v >= h.last_acked && v <= h.last_attempted
                    }
                    None => false,
                }
            }
            None => (h.last_acked..=h.last_attempted).any(|p| p == 0 || is_delete(p)),
        };
        if !ok {
            bad.push(format!(
                "{key}: last acknowledged op {} (last attempted {}), found {:?}",
                h.last_acked,
                h.last_attempted,
                got.item()
            ));
        }
    }
    report(&bad, history.len(), "after SIGKILL (overwrites/deletes)");
}
