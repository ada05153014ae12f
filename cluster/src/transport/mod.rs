//! The node-to-node transport: request/response RPCs carrying opaque bytes for any
//! number of Raft groups.
//!
//! A [`Transport`] listens for its peers and connects to them lazily, two connections
//! per peer ([`Lane::Control`] for votes, heartbeats and appends, [`Lane::Bulk`] for
//! snapshot chunks). Every frame carries a request id; answers are matched by it and may
//! come back in any order, and every incoming request runs in its own task, so a slow
//! group never holds up another on the same connection. Each connection starts with a
//! handshake proving both ends know the cluster secret (see `handshake`).
//!
//! Files: `codec` (frames), `handshake`, `connection` (one outgoing connection),
//! `peer` (the peer pool, reconnection), `server` (listening and dispatch), `faults`
//! (test fault injection), `handler`, `config`, `error`, `lifecycle` (tasks, shutdown).

mod codec;
mod config;
mod connection;
mod error;
mod faults;
mod handler;
mod handshake;
mod lifecycle;
mod peer;
mod server;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;

pub use config::{ClusterSecret, Lane, TransportConfig};
pub use error::{ConfigError, Refusal, RemoteError, RemoteErrorKind, TransportError};
pub use faults::{FaultRule, Faults};
pub use handler::Handler;

use codec::REQUEST_OVERHEAD;
use connection::lock;
use handler::ErasedHandler;
use handshake::Identity;
use lifecycle::Lifecycle;
use peer::Peer;

/// A node of the cluster. Ids are never reused: a replaced node gets a new one.
pub type NodeId = u64;
/// A Raft group. Ids are never reused.
pub type GroupId = u64;

/// One node's end of the transport. Dropping it stops its tasks (without waiting for
/// them; [`Transport::shutdown`] waits). Share it behind an `Arc`.
pub struct Transport {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: TransportConfig,
    identity: Identity,
    handler: Arc<dyn ErasedHandler>,
    peers: Mutex<HashMap<NodeId, Arc<Peer>>>,
    lifecycle: Arc<Lifecycle>,
    incoming: Arc<Semaphore>,
}

impl Transport {
    /// A transport for `config.node_id` that serves incoming requests with `handler`.
    /// It does nothing until it is told to [`listen`](Self::listen) or to call a peer.
    pub fn new<H: Handler>(config: TransportConfig, handler: H) -> Self {
        let identity = Identity {
            cluster_id: config.cluster_id,
            node_id: config.node_id,
            secret: config.secret.clone(),
        };
        let incoming = Arc::new(Semaphore::new(config.max_incoming_connections.max(1)));
        Self {
            inner: Arc::new(Inner {
                config,
                identity,
                handler: Arc::new(handler),
                peers: Mutex::new(HashMap::new()),
                lifecycle: Lifecycle::new(),
                incoming,
            }),
        }
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.identity.node_id
    }

    pub fn cluster_id(&self) -> u64 {
        self.inner.identity.cluster_id
    }

    /// The fault rules this transport obeys (shared with whoever built the config).
    pub fn faults(&self) -> &Faults {
        &self.inner.config.faults
    }

    /// Accepts peers on `addr` (port 0 picks one); returns the address bound. May be
    /// called more than once to listen on several addresses.
    pub async fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        server::listen(&self.inner, addr).await
    }

    /// Tells the transport where `node` listens. A changed address closes the old
    /// connections; the next call opens new ones.
    pub fn set_peer(&self, node: NodeId, addr: SocketAddr) {
        let replaced = {
            let mut peers = lock(&self.inner.peers);
            if peers.get(&node).is_some_and(|p| p.addr == addr) {
                return;
            }
            peers.insert(node, Arc::new(Peer::new(node, addr)))
        };
        if let Some(old) = replaced {
            old.retire();
        }
    }

    /// Forgets `node`: its connections close and calls in flight to it fail.
    pub fn remove_peer(&self, node: NodeId) {
        let removed = lock(&self.inner.peers).remove(&node);
        if let Some(peer) = removed {
            peer.retire();
        }
    }

    /// The address last given for `node`.
    pub fn peer_addr(&self, node: NodeId) -> Option<SocketAddr> {
        lock(&self.inner.peers).get(&node).map(|p| p.addr)
    }

    /// Sends `payload` to `group` on node `to` over `lane`, and waits up to `timeout`
    /// for the answer. `kind` is the caller's to define (vote, append, snapshot, ...).
    ///
    /// Fails at once, without queueing, when the peer is unknown, down or backing off
    /// (`Unreachable`, or `Refused` if it refused us), or when its queue is full. A
    /// timed-out call may still be handled by the peer.
    pub async fn call(
        &self,
        to: NodeId,
        lane: Lane,
        group: GroupId,
        kind: u8,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        let size = REQUEST_OVERHEAD.saturating_add(payload.len());
        if size > self.inner.config.max_frame {
            return Err(TransportError::TooLarge {
                size,
                max: self.inner.config.max_frame,
            });
        }
        if self.inner.lifecycle.is_shut_down() {
            return Err(TransportError::Shutdown);
        }
        match tokio::time::timeout(timeout, self.inner.call(to, lane, group, kind, payload)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::TimedOut { peer: to }),
        }
    }

    /// Stops listening, closes every connection, fails calls in flight, and waits (up
    /// to `shutdown_grace`) for the transport's tasks to end. Calls made afterwards fail
    /// with `Shutdown`.
    pub async fn shutdown(&self) {
        self.inner.lifecycle.signal();
        if !self
            .inner
            .lifecycle
            .wait_idle(self.inner.config.shutdown_grace)
            .await
        {
            tracing::warn!(
                node = self.node_id(),
                tasks = self.inner.lifecycle.live_tasks(),
                "transport tasks outlived the shutdown grace period"
            );
        }
    }

    /// Tasks the transport is running (listeners, connections, connect attempts); for
    /// tests that check nothing is left behind.
    pub fn live_tasks(&self) -> usize {
        self.inner.lifecycle.live_tasks()
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.inner.lifecycle.signal();
    }
}

impl Inner {
    async fn call(
        self: &Arc<Self>,
        to: NodeId,
        lane: Lane,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    ) -> Result<Bytes, TransportError> {
        let peer = lock(&self.peers)
            .get(&to)
            .cloned()
            .ok_or_else(|| TransportError::unreachable(to, "no address known for the node"))?;
        let conn = peer.connection(self, lane).await?;
        let verdict = self.config.faults.decide(self.identity.node_id, to);
        if let Some(delay) = verdict.delay {
            tokio::time::sleep(delay).await;
        }
        conn.call(group, kind, payload, verdict).await
    }
}

impl<H: Handler> Handler for Arc<H> {
    fn handle(
        &self,
        from: NodeId,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    ) -> impl std::future::Future<Output = Result<Bytes, RemoteError>> + Send {
        (**self).handle(from, group, kind, payload)
    }
}
