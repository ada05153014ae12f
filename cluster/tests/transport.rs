//! The transport over real TCP on 127.0.0.1: multiplexing, authentication, reconnection,
//! bounds, lanes and faults.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cirrus_cluster::{Faults, Lane, Refusal, RemoteErrorKind, TransportError};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_group_does_not_delay_other_groups_on_the_same_connection() {
    let nodes = cluster(2, &Faults::default()).await;
    let one = Arc::clone(&nodes[0].transport);

    let slow = {
        let t = Arc::clone(&one);
        tokio::spawn(async move {
            t.call(2, Lane::Control, 1, GATED, bytes("slow"), LONG)
                .await
        })
    };
    nodes[1].handler.wait_for_calls(1).await;

    // Group 1's handler is parked on the gate; everything for other groups, on the
    // same control connection, still gets its own answer.
    let mut calls = Vec::new();
    for i in 0..200u32 {
        let t = Arc::clone(&one);
        calls.push(tokio::spawn(async move {
            let payload = Bytes::from(format!("call {i}"));
            let group = 2 + u64::from(i % 10);
            let answer = t
                .call(2, Lane::Control, group, ECHO, payload.clone(), LONG)
                .await;
            (payload, answer)
        }));
    }
    for call in calls {
        let (payload, answer) = call.await.expect("join");
        assert_eq!(answer.expect("answer"), payload);
    }
    assert!(!slow.is_finished(), "the gated call must still be waiting");

    nodes[1].handler.gate.add_permits(1);
    assert_eq!(slow.await.expect("join").expect("answer"), bytes("slow"));
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_finishing_in_any_order_reach_their_callers() {
    let nodes = cluster(2, &Faults::default()).await;
    let mut calls = Vec::new();
    for i in 0..300u32 {
        let t = Arc::clone(&nodes[0].transport);
        calls.push(tokio::spawn(async move {
            // The first byte is how long the handler sleeps: later calls often finish
            // first.
            let sleep = ((i * 7) % 30) as u8;
            let payload = Bytes::from([&[sleep][..], &i.to_be_bytes()[..]].concat());
            let answer = t
                .call(
                    2,
                    Lane::Control,
                    u64::from(i % 16),
                    SLEEP,
                    payload.clone(),
                    LONG,
                )
                .await;
            (payload, answer)
        }));
    }
    for call in calls {
        let (payload, answer) = call.await.expect("join");
        assert_eq!(answer.expect("answer"), payload);
    }
    assert_eq!(nodes[1].handler.calls(), 300);
    assert!(nodes[1].handler.log().iter().all(|(from, ..)| *from == 1));
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_nodes_are_refused_and_never_handled() {
    let faults = Faults::default();
    let server = start(config(2, &faults), "127.0.0.1:0").await;
    let third = start(config(3, &faults), "127.0.0.1:0").await;

    let mut wrong_secret = config(1, &faults);
    wrong_secret.secret =
        cirrus_cluster::ClusterSecret::new("a different secret, same length").expect("secret");
    let mut wrong_cluster = config(1, &faults);
    wrong_cluster.cluster_id = CLUSTER + 1;
    let cases = [
        (wrong_secret, 2, server.addr, Refusal::AuthenticationFailed),
        (wrong_cluster, 2, server.addr, Refusal::WrongCluster),
        // Right cluster and secret, but node 3 listens where node 2 was expected.
        (config(1, &faults), 2, third.addr, Refusal::WrongNode),
    ];
    for (config, target, addr, want) in cases {
        let client = start(config, "127.0.0.1:0").await;
        client.transport.set_peer(target, addr);
        for lane in [Lane::Control, Lane::Bulk] {
            let outcome = client
                .transport
                .call(target, lane, 1, ECHO, bytes("hello"), LONG)
                .await;
            assert_eq!(
                outcome,
                Err(TransportError::Refused {
                    peer: target,
                    reason: want
                }),
                "{lane} lane"
            );
            // While backing off, the refusal is remembered, not retried.
            let again = client
                .transport
                .call(target, lane, 1, ECHO, bytes("hello"), LONG)
                .await;
            assert!(
                matches!(again, Err(TransportError::Refused { reason, .. }) if reason == want),
                "{again:?}"
            );
        }
        stop(vec![client]).await;
    }
    assert_eq!(server.handler.calls(), 0);
    assert_eq!(third.handler.calls(), 0);
    stop(vec![server, third]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_without_a_handshake_are_never_handled() {
    let node = start(config(2, &Faults::default()), "127.0.0.1:0").await;
    let mut raw = TcpStream::connect(node.addr).await.expect("connect");
    // Well-formed request frames, but no handshake first.
    let mut frame = Vec::new();
    for id in 0..8u64 {
        let payload = b"sneaky";
        frame.extend_from_slice(&((1 + 8 + 8 + 1 + payload.len()) as u32).to_be_bytes());
        frame.push(1);
        frame.extend_from_slice(&id.to_be_bytes());
        frame.extend_from_slice(&1u64.to_be_bytes());
        frame.push(ECHO);
        frame.extend_from_slice(payload);
    }
    raw.write_all(&frame).await.expect("write");
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(LONG, async {
        loop {
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the listener must hang up");
    assert_eq!(node.handler.calls(), 0);
    stop(vec![node]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_the_peer_is_down_and_work_again_after() {
    let faults = Faults::default();
    let mut nodes = cluster(2, &faults).await;
    let one = Arc::clone(&nodes[0].transport);
    assert_eq!(
        one.call(2, Lane::Control, 1, ECHO, bytes("before"), LONG)
            .await,
        Ok(bytes("before"))
    );

    let two = nodes.pop().expect("node 2");
    let addr = two.addr;
    stop(vec![two]).await;

    // With a long timeout, only failing fast can explain an Unreachable.
    for _ in 0..5 {
        let outcome = one
            .call(2, Lane::Control, 1, ECHO, bytes("down"), LONG)
            .await;
        assert!(
            matches!(outcome, Err(TransportError::Unreachable { peer: 2, .. })),
            "{outcome:?}"
        );
    }

    let back = start(config(2, &faults), &addr.to_string()).await;
    let mut answered = None;
    for _ in 0..200 {
        match one
            .call(2, Lane::Control, 1, ECHO, bytes("after"), LONG)
            .await
        {
            Ok(answer) => {
                answered = Some(answer);
                break;
            }
            Err(TransportError::Unreachable { .. }) => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            Err(other) => panic!("unexpected error while reconnecting: {other}"),
        }
    }
    assert_eq!(
        answered,
        Some(bytes("after")),
        "no reconnection within the bound"
    );
    assert_eq!(back.handler.calls(), 1);
    nodes.push(back);
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_requests_and_answers_time_out() {
    let faults = Faults::default();
    let nodes = cluster(2, &faults).await;
    let one = &nodes[0].transport;
    let short = Duration::from_millis(300);

    faults.drop_all(1, 2);
    for _ in 0..3 {
        let outcome = one
            .call(2, Lane::Control, 1, ECHO, bytes("lost"), short)
            .await;
        assert_eq!(outcome, Err(TransportError::TimedOut { peer: 2 }));
    }
    assert_eq!(nodes[1].handler.calls(), 0, "dropped requests never arrive");

    // Dropping the other direction loses the answers: the request is handled, the
    // caller still times out.
    faults.clear(1, 2);
    faults.drop_all(2, 1);
    let outcome = one
        .call(2, Lane::Control, 1, ECHO, bytes("unanswered"), short)
        .await;
    assert_eq!(outcome, Err(TransportError::TimedOut { peer: 2 }));
    nodes[1].handler.wait_for_calls(1).await;

    faults.clear_all();
    assert_eq!(
        one.call(2, Lane::Control, 1, ECHO, bytes("healed"), LONG)
            .await,
        Ok(bytes("healed"))
    );
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probabilistic_drops_lose_some_calls_and_not_others() {
    let faults = Faults::default();
    let nodes = cluster(2, &faults).await;
    faults.drop_with_probability(1, 2, 0.5);

    let mut calls = Vec::new();
    for i in 0..200u32 {
        let t = Arc::clone(&nodes[0].transport);
        calls.push(tokio::spawn(async move {
            t.call(
                2,
                Lane::Control,
                1,
                ECHO,
                Bytes::from(i.to_be_bytes().to_vec()),
                Duration::from_secs(3),
            )
            .await
        }));
    }
    let (mut ok, mut timed_out) = (0, 0);
    for call in calls {
        match call.await.expect("join") {
            Ok(_) => ok += 1,
            Err(TransportError::TimedOut { .. }) => timed_out += 1,
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    // Both all-or-nothing outcomes have probability 2^-200.
    assert!(ok > 0 && timed_out > 0, "ok {ok}, timed out {timed_out}");
    assert_eq!(ok + timed_out, 200);
    assert_eq!(
        nodes[1].handler.calls(),
        ok,
        "exactly the delivered requests ran"
    );
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_pair_is_overtaken_by_an_undelayed_one() {
    let faults = Faults::default();
    let nodes = cluster(3, &faults).await;
    let delay = Duration::from_secs(2);
    faults.delay(1, 2, delay);

    let started = tokio::time::Instant::now();
    let slow = {
        let t = Arc::clone(&nodes[0].transport);
        tokio::spawn(async move {
            t.call(2, Lane::Control, 1, ECHO, bytes("from 1"), LONG)
                .await
        })
    };
    tokio::task::yield_now().await;
    assert_eq!(
        nodes[2]
            .transport
            .call(2, Lane::Control, 1, ECHO, bytes("from 3"), LONG)
            .await,
        Ok(bytes("from 3"))
    );
    assert_eq!(slow.await.expect("join"), Ok(bytes("from 1")));
    assert!(started.elapsed() >= delay);
    let order: Vec<_> = nodes[1]
        .handler
        .log()
        .iter()
        .map(|(from, ..)| *from)
        .collect();
    assert_eq!(order, vec![3, 1], "node 3's later call arrived first");
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_request_runs_twice_and_answers_once() {
    let faults = Faults::default();
    let nodes = cluster(2, &faults).await;
    faults.duplicate(1, 2);
    assert_eq!(
        nodes[0]
            .transport
            .call(2, Lane::Control, 1, ECHO, bytes("twice"), LONG)
            .await,
        Ok(bytes("twice"))
    );
    nodes[1].handler.wait_for_calls(2).await;
    let log = nodes[1].handler.log();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|(_, _, _, p)| *p == bytes("twice")));

    // The second answer had nobody waiting; the connection carries on.
    faults.clear_all();
    assert_eq!(
        nodes[0]
            .transport
            .call(2, Lane::Control, 1, ECHO, bytes("once"), LONG)
            .await,
        Ok(bytes("once"))
    );
    assert_eq!(nodes[1].handler.calls(), 3);
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_calls_in_flight_fail_fast() {
    let faults = Faults::default();
    let mut client = config(1, &faults);
    client.max_in_flight = 4;
    let one = start(client, "127.0.0.1:0").await;
    let two = start(config(2, &faults), "127.0.0.1:0").await;
    one.transport.set_peer(2, two.addr);

    let mut gated = Vec::new();
    for _ in 0..4 {
        let t = Arc::clone(&one.transport);
        gated.push(tokio::spawn(async move {
            t.call(2, Lane::Control, 1, GATED, bytes("parked"), LONG)
                .await
        }));
    }
    two.handler.wait_for_calls(4).await;
    assert_eq!(
        one.transport
            .call(2, Lane::Control, 1, ECHO, bytes("one more"), LONG)
            .await,
        Err(TransportError::QueueFull { peer: 2 })
    );
    two.handler.gate.add_permits(4);
    for call in gated {
        assert_eq!(call.await.expect("join"), Ok(bytes("parked")));
    }
    stop(vec![one, two]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_running_too_many_handlers_answers_busy() {
    let faults = Faults::default();
    let mut server = config(2, &faults);
    server.max_handlers_per_connection = 2;
    let two = start(server, "127.0.0.1:0").await;
    let one = start(config(1, &faults), "127.0.0.1:0").await;
    one.transport.set_peer(2, two.addr);

    let mut gated = Vec::new();
    for _ in 0..2 {
        let t = Arc::clone(&one.transport);
        gated.push(tokio::spawn(async move {
            t.call(2, Lane::Control, 1, GATED, bytes("parked"), LONG)
                .await
        }));
    }
    two.handler.wait_for_calls(2).await;
    assert_eq!(
        one.transport
            .call(2, Lane::Control, 1, ECHO, bytes("third"), LONG)
            .await,
        Err(TransportError::QueueFull { peer: 2 })
    );
    assert_eq!(two.handler.calls(), 2);
    two.handler.gate.add_permits(2);
    for call in gated {
        assert_eq!(call.await.expect("join"), Ok(bytes("parked")));
    }
    stop(vec![one, two]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_the_connection() {
    let faults = Faults::default();
    let mut small = config(2, &faults);
    small.max_frame = 1024 * 1024;
    let two = start(small, "127.0.0.1:0").await;
    let one = start(config(1, &faults), "127.0.0.1:0").await;
    one.transport.set_peer(2, two.addr);

    assert_eq!(
        one.transport
            .call(2, Lane::Bulk, 1, ECHO, bytes("fits"), LONG)
            .await,
        Ok(bytes("fits"))
    );
    // Node 1 may send 2 MiB; node 2 reads only the length prefix and hangs up.
    let outcome = one
        .transport
        .call(
            2,
            Lane::Bulk,
            1,
            LENGTH,
            Bytes::from(vec![1u8; 2 * 1024 * 1024]),
            LONG,
        )
        .await;
    assert!(
        matches!(outcome, Err(TransportError::Unreachable { peer: 2, .. })),
        "{outcome:?}"
    );
    assert_eq!(two.handler.calls(), 1);
    // A broken connection is not a failed attempt: the next call reconnects at once.
    assert_eq!(
        one.transport
            .call(2, Lane::Bulk, 1, ECHO, bytes("again"), LONG)
            .await,
        Ok(bytes("again"))
    );

    // Past the sender's own limit, nothing is sent at all.
    let max = 64 * 1024 * 1024;
    let outcome = one
        .transport
        .call(2, Lane::Bulk, 1, ECHO, Bytes::from(vec![0u8; max]), LONG)
        .await;
    assert!(matches!(outcome, Err(TransportError::TooLarge { max: m, .. }) if m == max));
    stop(vec![one, two]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_bulk_transfer_leaves_the_control_lane_free() {
    let nodes = cluster(2, &Faults::default()).await;
    const SIZE: usize = 48 * 1024 * 1024;
    let bulk = {
        let t = Arc::clone(&nodes[0].transport);
        tokio::spawn(async move {
            t.call(
                2,
                Lane::Bulk,
                9,
                LENGTH,
                Bytes::from(vec![3u8; SIZE]),
                Duration::from_secs(120),
            )
            .await
        })
    };
    for i in 0..50u32 {
        let payload = Bytes::from(i.to_be_bytes().to_vec());
        assert_eq!(
            nodes[0]
                .transport
                .call(2, Lane::Control, u64::from(i), ECHO, payload.clone(), LONG)
                .await,
            Ok(payload)
        );
    }
    let answer = bulk.await.expect("join").expect("bulk answer");
    assert_eq!(answer, Bytes::from((SIZE as u64).to_be_bytes().to_vec()));
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_errors_reach_the_caller_and_the_connection_survives() {
    let nodes = cluster(2, &Faults::default()).await;
    let one = &nodes[0].transport;

    let unknown = one
        .call(2, Lane::Control, UNKNOWN_GROUP, ECHO, bytes("x"), LONG)
        .await;
    assert!(
        matches!(
            unknown,
            Err(TransportError::Remote { peer: 2, ref error }) if error.kind == RemoteErrorKind::UnknownGroup
        ),
        "{unknown:?}"
    );

    let failed = one.call(2, Lane::Control, 1, FAIL, bytes("x"), LONG).await;
    assert!(
        matches!(
            failed,
            Err(TransportError::Remote { ref error, .. }) if error.kind == RemoteErrorKind::Application(7)
        ),
        "{failed:?}"
    );

    let panicked = one.call(2, Lane::Control, 1, PANIC, bytes("x"), LONG).await;
    assert!(
        matches!(
            panicked,
            Err(TransportError::Remote { ref error, .. }) if error.kind == RemoteErrorKind::Internal
        ),
        "{panicked:?}"
    );

    assert_eq!(
        one.call(2, Lane::Control, 1, ECHO, bytes("still here"), LONG)
            .await,
        Ok(bytes("still here"))
    );
    stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_removed_and_shut_down_peers() {
    let nodes = cluster(2, &Faults::default()).await;
    let one = Arc::clone(&nodes[0].transport);

    let unknown = one.call(7, Lane::Control, 1, ECHO, bytes("x"), LONG).await;
    assert!(matches!(
        unknown,
        Err(TransportError::Unreachable { peer: 7, .. })
    ));

    // A call in flight when its peer is removed fails at once.
    let parked = {
        let t = Arc::clone(&one);
        tokio::spawn(async move { t.call(2, Lane::Control, 1, GATED, bytes("x"), LONG).await })
    };
    nodes[1].handler.wait_for_calls(1).await;
    one.remove_peer(2);
    let outcome = parked.await.expect("join");
    assert!(
        matches!(outcome, Err(TransportError::Unreachable { peer: 2, .. })),
        "{outcome:?}"
    );
    let outcome = one.call(2, Lane::Control, 1, ECHO, bytes("x"), LONG).await;
    assert!(matches!(
        outcome,
        Err(TransportError::Unreachable { peer: 2, .. })
    ));

    one.set_peer(2, nodes[1].addr);
    assert_eq!(
        one.call(2, Lane::Control, 1, ECHO, bytes("back"), LONG)
            .await,
        Ok(bytes("back"))
    );

    one.shutdown().await;
    assert_eq!(
        one.call(2, Lane::Control, 1, ECHO, bytes("x"), LONG).await,
        Err(TransportError::Shutdown)
    );
    nodes[1].handler.gate.add_permits(1);
    stop(nodes).await;
}
