//! Tests that need a misbehaving peer: one that completes the handshake and then stops
//! reading, which only the crate's own handshake code can play.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex as AsyncMutex};

use super::codec::{decode, Frame, FrameReader, OutFrame};
use super::connection::write_loop;
use super::handshake::{respond, Identity};
use super::*;

const CLUSTER: u64 = 77;
const SECRET: &str = "in-crate-test-secret-0123456789";
const STALL_AFTER: usize = 1024 * 1024;

struct Echo;

impl Handler for Echo {
    async fn handle(
        &self,
        _from: NodeId,
        _group: GroupId,
        _kind: u8,
        payload: Bytes,
    ) -> Result<Bytes, RemoteError> {
        Ok(payload)
    }
}

/// Node 2, played by hand: answers control-lane requests with their payload, and on
/// the bulk lane reads the first MiB, reports it, then never reads again.
async fn stalling_peer() -> (
    SocketAddr,
    mpsc::Receiver<()>,
    Arc<AsyncMutex<Vec<TcpStream>>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stalled_tx, stalled_rx) = mpsc::channel(4);
    let held = Arc::new(AsyncMutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    let identity = Identity {
        cluster_id: CLUSTER,
        node_id: 2,
        secret: ClusterSecret::new(SECRET).expect("secret"),
    };
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let Ok(accepted) = respond(&mut stream, &identity).await else {
                continue;
            };
            match accepted.lane {
                Lane::Bulk => {
                    let mut first = vec![0u8; STALL_AFTER];
                    if stream.read_exact(&mut first).await.is_ok() {
                        let _ = stalled_tx.send(()).await;
                    }
                    keep.lock().await.push(stream);
                }
                Lane::Control => {
                    tokio::spawn(echo_connection(stream));
                }
            }
        }
    });
    (addr, stalled_rx, held)
}

async fn echo_connection(stream: TcpStream) {
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(64);
    let writer = tokio::spawn(write_loop(wr, rx));
    let mut reader = FrameReader::new(rd, TransportConfig::DEFAULT_MAX_FRAME);
    while let Ok(Some(body)) = reader.read_frame().await {
        if let Ok(Frame::Request { id, payload, .. }) = decode(body) {
            if tx.send(OutFrame::response(id, payload)).await.is_err() {
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn node_one(adjust: impl FnOnce(&mut TransportConfig)) -> Transport {
    let mut config = TransportConfig::new(CLUSTER, 1, ClusterSecret::new(SECRET).expect("secret"));
    adjust(&mut config);
    Transport::new(config, Echo)
}

const BIG: usize = 32 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_bulk_transfer_does_not_hold_up_control_calls() {
    let (addr, mut stalled, _held) = stalling_peer().await;
    let transport = Arc::new(node_one(|_| {}));
    transport.set_peer(2, addr);

    let bulk = {
        let t = Arc::clone(&transport);
        tokio::spawn(async move {
            t.call(
                2,
                Lane::Bulk,
                1,
                0,
                Bytes::from(vec![7u8; BIG]),
                Duration::from_secs(120),
            )
            .await
        })
    };
    // The peer has taken the first MiB of the 32 MiB frame and stopped reading: the
    // bulk connection's writer is stuck in the middle of that frame.
    tokio::time::timeout(Duration::from_secs(30), stalled.recv())
        .await
        .expect("bulk transfer started")
        .expect("signal");

    for i in 0..20u32 {
        let payload = Bytes::from(i.to_be_bytes().to_vec());
        let answer = transport
            .call(
                2,
                Lane::Control,
                u64::from(i),
                0,
                payload.clone(),
                Duration::from_secs(10),
            )
            .await
            .expect("control call beside a stalled bulk transfer");
        assert_eq!(answer, payload);
    }
    assert!(!bulk.is_finished(), "the bulk call cannot have finished");
    bulk.abort();
    transport.shutdown().await;
    assert_eq!(transport.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_send_queue_fails_the_call_at_once() {
    const QUEUE: usize = 3;
    let (addr, mut stalled, _held) = stalling_peer().await;
    let transport = Arc::new(node_one(|c| c.bulk_queue = QUEUE));
    transport.set_peer(2, addr);

    let t = Arc::clone(&transport);
    let bulk = tokio::spawn(async move {
        t.call(
            2,
            Lane::Bulk,
            1,
            0,
            Bytes::from(vec![7u8; BIG]),
            Duration::from_secs(120),
        )
        .await
    });
    tokio::time::timeout(Duration::from_secs(30), stalled.recv())
        .await
        .expect("bulk transfer started")
        .expect("signal");

    // Each call below is queued behind the stuck frame and times out waiting for an
    // answer, but its frame stays queued; once the queue holds QUEUE frames the next
    // call is refused without waiting.
    let mut outcomes = Vec::new();
    for _ in 0..QUEUE + 3 {
        let outcome = transport
            .call(
                2,
                Lane::Bulk,
                2,
                0,
                Bytes::from_static(b"small"),
                Duration::from_millis(200),
            )
            .await;
        let full = matches!(outcome, Err(TransportError::QueueFull { peer: 2 }));
        outcomes.push(outcome);
        if full {
            break;
        }
    }
    let (last, queued) = outcomes.split_last().expect("some calls");
    assert!(
        matches!(last, Err(TransportError::QueueFull { peer: 2 })),
        "expected QueueFull within {} calls: {outcomes:?}",
        QUEUE + 3
    );
    assert!(queued
        .iter()
        .all(|o| matches!(o, Err(TransportError::TimedOut { peer: 2 }))));
    assert!(queued.len() <= QUEUE);
    bulk.abort();
    transport.shutdown().await;
    assert_eq!(transport.live_tasks(), 0);
}
