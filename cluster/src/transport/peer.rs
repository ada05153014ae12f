//! The peers a node talks to, and for each its two lanes: a connection opened on first
//! use and re-opened after failure with capped exponential backoff and jitter. Calls
//! never queue behind a dead peer: while a lane is backing off, or retrying after a
//! failure, they fail at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::config::{Lane, TransportConfig};
use super::connection::{lock, Conn};
use super::error::TransportError;
use super::handshake::{self, HandshakeError};
use super::lifecycle::shut_down;
use super::{Inner, NodeId};

/// Waits for a connect in progress at most this many state changes; each change is a
/// finished attempt, so two would do.
const MAX_WAITS: usize = 4;

pub(crate) struct Peer {
    pub id: NodeId,
    pub addr: SocketAddr,
    lanes: [LaneSlot; 2],
    retired: AtomicBool,
}

struct LaneSlot {
    lane: Lane,
    state: Mutex<LaneState>,
    changed: Notify,
}

enum LaneState {
    Idle {
        /// Connect attempts failed in a row since the last connection.
        failures: u32,
        retry_at: Option<Instant>,
        last_error: Option<TransportError>,
    },
    Connecting {
        failures: u32,
        last_error: Option<TransportError>,
    },
    Connected(Arc<Conn>),
}

impl LaneState {
    const FRESH: LaneState = LaneState::Idle {
        failures: 0,
        retry_at: None,
        last_error: None,
    };
}

impl Peer {
    pub fn new(id: NodeId, addr: SocketAddr) -> Self {
        let slot = |lane| LaneSlot {
            lane,
            state: Mutex::new(LaneState::FRESH),
            changed: Notify::new(),
        };
        Self {
            id,
            addr,
            lanes: [slot(Lane::Control), slot(Lane::Bulk)],
            retired: AtomicBool::new(false),
        }
    }

    fn slot(&self, lane: Lane) -> &LaneSlot {
        &self.lanes[lane.index()]
    }

    fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Closes both lanes for good: the peer was removed or given another address.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        for slot in &self.lanes {
            let old = std::mem::replace(&mut *lock(&slot.state), LaneState::FRESH);
            if let LaneState::Connected(conn) = old {
                conn.close();
            }
            slot.changed.notify_waiters();
        }
    }

    fn gone(&self) -> TransportError {
        TransportError::unreachable(self.id, "node removed from the peer list")
    }

    /// The lane's connection, opening it if needed. Only a lane that has not failed
    /// since its last connection waits for the attempt; the caller bounds the wait.
    pub async fn connection(
        self: &Arc<Self>,
        inner: &Arc<Inner>,
        lane: Lane,
    ) -> Result<Arc<Conn>, TransportError> {
        let slot = self.slot(lane);
        for _ in 0..MAX_WAITS {
            let changed = slot.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_retired() {
                return Err(self.gone());
            }
            {
                let mut state = lock(&slot.state);
                match &*state {
                    LaneState::Connected(conn) if !conn.is_closed() => return Ok(Arc::clone(conn)),
                    // Its task is about to report the close; reconnect now rather than
                    // fail a call the next connection could carry.
                    LaneState::Connected(_) => {
                        *state = LaneState::Connecting {
                            failures: 0,
                            last_error: None,
                        };
                        self.start_connect(inner, lane);
                    }
                    LaneState::Connecting {
                        failures,
                        last_error,
                    } => {
                        if *failures > 0 {
                            return Err(self.backing_off(last_error));
                        }
                    }
                    LaneState::Idle {
                        failures,
                        retry_at,
                        last_error,
                    } => {
                        if retry_at.is_some_and(|at| Instant::now() < at) {
                            return Err(self.backing_off(last_error));
                        }
                        let (failures, last_error) = (*failures, last_error.clone());
                        *state = LaneState::Connecting {
                            failures,
                            last_error: last_error.clone(),
                        };
                        self.start_connect(inner, lane);
                        if failures > 0 {
                            return Err(self.backing_off(&last_error));
                        }
                    }
                }
            }
            changed.await;
        }
        Err(TransportError::unreachable(
            self.id,
            "connection attempts keep failing",
        ))
    }

    /// What a call learns while the lane is down: the last failure (so a refusal stays
    /// a refusal), or plain unreachability.
    fn backing_off(&self, last_error: &Option<TransportError>) -> TransportError {
        last_error
            .clone()
            .unwrap_or_else(|| TransportError::unreachable(self.id, "reconnecting"))
    }

    fn start_connect(self: &Arc<Self>, inner: &Arc<Inner>, lane: Lane) {
        inner
            .lifecycle
            .spawn(connect_and_run(Arc::clone(inner), Arc::clone(self), lane));
    }

    fn connect_failed(&self, lane: Lane, error: TransportError, config: &TransportConfig) {
        let slot = self.slot(lane);
        {
            let mut state = lock(&slot.state);
            let failures = match &*state {
                LaneState::Idle { failures, .. } | LaneState::Connecting { failures, .. } => {
                    failures.saturating_add(1)
                }
                LaneState::Connected(_) => 1,
            };
            let delay = backoff(config, failures);
            tracing::debug!(
                peer = self.id,
                lane = %slot.lane,
                failures,
                retry_in_ms = delay.as_millis() as u64,
                error = %error,
                "connect failed"
            );
            *state = LaneState::Idle {
                failures,
                retry_at: Some(Instant::now() + delay),
                last_error: Some(error),
            };
        }
        slot.changed.notify_waiters();
    }

    /// Installs a fresh connection, unless the peer was retired meanwhile.
    fn connected(&self, lane: Lane, conn: &Arc<Conn>) -> bool {
        let slot = self.slot(lane);
        let installed = {
            let mut state = lock(&slot.state);
            if self.is_retired() {
                false
            } else {
                *state = LaneState::Connected(Arc::clone(conn));
                true
            }
        };
        slot.changed.notify_waiters();
        installed
    }

    /// A connection ended: the next call reconnects at once (a break is not a failed
    /// attempt; backoff starts if reconnecting fails).
    fn disconnected(&self, lane: Lane, conn: &Arc<Conn>) {
        let slot = self.slot(lane);
        {
            let mut state = lock(&slot.state);
            if matches!(&*state, LaneState::Connected(c) if Arc::ptr_eq(c, conn)) {
                *state = LaneState::FRESH;
            }
        }
        slot.changed.notify_waiters();
    }
}

/// Exponential from `reconnect_base`, capped at `reconnect_max`, with "equal jitter"
/// (half fixed, half random) so nodes that lost a peer together do not retry in step.
fn backoff(config: &TransportConfig, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let raw = config
        .reconnect_base
        .saturating_mul(1u32 << exponent)
        .min(config.reconnect_max);
    let half = raw / 2;
    half + half.mul_f64(rand::random::<f64>())
}

async fn open(inner: &Inner, peer: &Peer, lane: Lane) -> Result<TcpStream, TransportError> {
    let config = &inner.config;
    let mut stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(peer.addr))
        .await
        .map_err(|_| TransportError::unreachable(peer.id, "connect timed out"))?
        .map_err(|e| TransportError::unreachable(peer.id, format!("connect failed: {e}")))?;
    // Heartbeats are tiny and latency-bound; Nagle would hold them back.
    let _ = stream.set_nodelay(true);
    let handshake = handshake::initiate(&mut stream, &inner.identity, peer.id, lane);
    match tokio::time::timeout(config.handshake_timeout, handshake).await {
        Ok(Ok(())) => Ok(stream),
        Ok(Err(HandshakeError::Refused(reason))) => {
            tracing::warn!(peer = peer.id, addr = %peer.addr, %lane, %reason, "peer refused");
            Err(TransportError::Refused {
                peer: peer.id,
                reason,
            })
        }
        Ok(Err(e)) => Err(TransportError::unreachable(
            peer.id,
            format!("handshake failed: {e}"),
        )),
        Err(_) => Err(TransportError::unreachable(peer.id, "handshake timed out")),
    }
}

async fn connect_and_run(inner: Arc<Inner>, peer: Arc<Peer>, lane: Lane) {
    let mut shutdown = inner.lifecycle.watcher();
    let attempt = tokio::select! {
        r = open(&inner, &peer, lane) => r,
        _ = shut_down(&mut shutdown) => Err(TransportError::Shutdown),
    };
    let stream = match attempt {
        Ok(stream) => stream,
        Err(e) => {
            peer.connect_failed(lane, e, &inner.config);
            return;
        }
    };
    let (conn, queue) = Conn::new(
        peer.id,
        lane,
        inner.config.queue_for(lane),
        inner.config.max_in_flight,
    );
    if !peer.connected(lane, &conn) {
        return;
    }
    tracing::debug!(peer = peer.id, addr = %peer.addr, %lane, "connected");
    let reason = conn
        .run(stream, queue, inner.config.max_frame, shutdown)
        .await;
    tracing::info!(peer = peer.id, addr = %peer.addr, %lane, %reason, "connection closed");
    peer.disconnected(lane, &conn);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ClusterSecret;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let mut config = TransportConfig::new(
            1,
            1,
            ClusterSecret::new("0123456789abcdef").expect("secret"),
        );
        config.reconnect_base = Duration::from_millis(100);
        config.reconnect_max = Duration::from_secs(1);
        for _ in 0..50 {
            let first = backoff(&config, 1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(&config, 3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let many = backoff(&config, u32::MAX);
            assert!(many >= Duration::from_millis(500) && many <= Duration::from_secs(1));
        }
    }
}
