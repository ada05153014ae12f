//! Shared pieces of the transport tests: a scriptable handler and a few nodes on
//! 127.0.0.1 sharing one set of fault rules.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cirrus_cluster::{
    ClusterSecret, Faults, GroupId, Handler, NodeId, RemoteError, Transport, TransportConfig,
};
use tokio::sync::Semaphore;

pub const CLUSTER: u64 = 0xC1_2200;
pub const SECRET: &str = "integration-test-cluster-secret";
pub const LONG: Duration = Duration::from_secs(20);

/// Request kinds the test handler understands.
pub const ECHO: u8 = 0;
/// Waits for a permit on the handler's gate, then echoes.
pub const GATED: u8 = 1;
/// Sleeps for the number of milliseconds in the payload's first byte, then echoes.
pub const SLEEP: u8 = 2;
pub const FAIL: u8 = 3;
pub const PANIC: u8 = 4;
/// Answers with the payload's length as eight big-endian bytes.
pub const LENGTH: u8 = 5;
/// This group is unknown to every node.
pub const UNKNOWN_GROUP: GroupId = 999;

pub struct TestHandler {
    pub calls: AtomicUsize,
    pub log: Mutex<Vec<(NodeId, GroupId, u8, Bytes)>>,
    pub gate: Semaphore,
}

impl Default for TestHandler {
    fn default() -> Self {
        Self {
            calls: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
        }
    }
}

impl TestHandler {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<(NodeId, GroupId, u8, Bytes)> {
        self.log.lock().expect("log").clone()
    }

    /// Waits (bounded) until at least `n` requests have arrived.
    pub async fn wait_for_calls(&self, n: usize) {
        for _ in 0..400 {
            if self.calls() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("handler saw {} calls, expected {n}", self.calls());
    }
}

impl Handler for TestHandler {
    async fn handle(
        &self,
        from: NodeId,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    ) -> Result<Bytes, RemoteError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.log
            .lock()
            .expect("log")
            .push((from, group, kind, payload.clone()));
        if group == UNKNOWN_GROUP {
            return Err(RemoteError::unknown_group(group));
        }
        match kind {
            GATED => {
                let permit = self
                    .gate
                    .acquire()
                    .await
                    .map_err(|_| RemoteError::internal("gate closed"))?;
                permit.forget();
                Ok(payload)
            }
            SLEEP => {
                let ms = payload.first().copied().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
                Ok(payload)
            }
            FAIL => Err(RemoteError::application(7, "refused by the application")),
            PANIC => panic!("test handler panics on request"),
            LENGTH => Ok(Bytes::from((payload.len() as u64).to_be_bytes().to_vec())),
            _ => Ok(payload),
        }
    }
}

pub struct Node {
    pub id: NodeId,
    pub transport: Arc<Transport>,
    pub handler: Arc<TestHandler>,
    pub addr: SocketAddr,
}

pub fn config(id: NodeId, faults: &Faults) -> TransportConfig {
    let mut config = TransportConfig::new(CLUSTER, id, ClusterSecret::new(SECRET).expect("secret"));
    config.faults = faults.clone();
    config.reconnect_base = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    config
}

pub async fn start(config: TransportConfig, addr: &str) -> Node {
    let handler = Arc::new(TestHandler::default());
    let id = config.node_id;
    let transport = Arc::new(Transport::new(config, Arc::clone(&handler)));
    let addr = transport
        .listen(addr.parse().expect("address"))
        .await
        .expect("listen");
    Node {
        id,
        transport,
        handler,
        addr,
    }
}

/// Nodes 1..=n, each knowing every other's address.
pub async fn cluster(n: u64, faults: &Faults) -> Vec<Node> {
    let mut nodes = Vec::new();
    for id in 1..=n {
        nodes.push(start(config(id, faults), "127.0.0.1:0").await);
    }
    for a in &nodes {
        for b in &nodes {
            if a.id != b.id {
                a.transport.set_peer(b.id, b.addr);
            }
        }
    }
    nodes
}

pub async fn stop(nodes: Vec<Node>) {
    for node in nodes {
        node.transport.shutdown().await;
        assert_eq!(
            node.transport.live_tasks(),
            0,
            "node {} left tasks behind",
            node.id
        );
    }
}
