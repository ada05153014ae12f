//! Who a transport is (cluster, node, secret) and the bounds it works within.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::error::ConfigError;
use super::faults::Faults;
use super::NodeId;

/// The two connections kept to each peer. A snapshot chunk on the bulk lane never sits
/// in front of a heartbeat on the control lane: each lane is its own TCP connection
/// with its own queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Small, latency-sensitive calls: votes, heartbeats, appends.
    Control,
    /// Large transfers: snapshot chunks.
    Bulk,
}

impl Lane {
    pub(crate) fn index(self) -> usize {
        match self {
            Lane::Control => 0,
            Lane::Bulk => 1,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Lane::Control => 0,
            Lane::Bulk => 1,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Lane::Control),
            1 => Some(Lane::Bulk),
            _ => None,
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lane::Control => "control",
            Lane::Bulk => "bulk",
        })
    }
}

/// The secret every node of a cluster shares. It keys the handshake's HMAC and never
/// leaves the process; `Debug` does not show it.
#[derive(Clone)]
pub struct ClusterSecret(Arc<[u8]>);

impl ClusterSecret {
    /// Shorter secrets are refused: the handshake is only as strong as the secret.
    pub const MIN_LEN: usize = 16;

    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let bytes = bytes.as_ref();
        if bytes.len() < Self::MIN_LEN {
            return Err(ConfigError::SecretTooShort {
                min: Self::MIN_LEN,
                got: bytes.len(),
            });
        }
        Ok(Self(Arc::from(bytes)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// Everything a [`Transport`](super::Transport) is built from. `new` fills in bounds
/// suited to Raft traffic; the fields are public so tests and operators can tighten them.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub cluster_id: u64,
    pub node_id: NodeId,
    pub secret: ClusterSecret,
    /// Largest frame (header and payload) sent or accepted; a peer announcing a larger
    /// one is disconnected before anything is allocated for it.
    pub max_frame: usize,
    /// Frames waiting to be written on one control-lane connection.
    pub control_queue: usize,
    /// Frames waiting to be written on one bulk-lane connection.
    pub bulk_queue: usize,
    /// Calls awaiting an answer on one outgoing connection.
    pub max_in_flight: usize,
    /// Handlers running at once for one incoming connection; past it, requests are
    /// answered "busy" (the caller sees `QueueFull`).
    pub max_handlers_per_connection: usize,
    /// Incoming connections, authenticated or not, held at once.
    pub max_incoming_connections: usize,
    pub connect_timeout: Duration,
    /// Covers the whole handshake, so a silent peer cannot hold a connection slot.
    pub handshake_timeout: Duration,
    /// First reconnection delay after a failed connect; doubles per failure.
    pub reconnect_base: Duration,
    /// Cap on the reconnection delay.
    pub reconnect_max: Duration,
    /// How long `shutdown` waits for the transport's tasks to finish.
    pub shutdown_grace: Duration,
    /// Fault injection for tests; inert unless a test sets a rule.
    pub faults: Faults,
}

impl TransportConfig {
    pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

    pub fn new(cluster_id: u64, node_id: NodeId, secret: ClusterSecret) -> Self {
        Self {
            cluster_id,
            node_id,
            secret,
            max_frame: Self::DEFAULT_MAX_FRAME,
            control_queue: 4096,
            bulk_queue: 16,
            max_in_flight: 8192,
            max_handlers_per_connection: 4096,
            max_incoming_connections: 1024,
            connect_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(5),
            reconnect_base: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(5),
            faults: Faults::default(),
        }
    }

    pub(crate) fn queue_for(&self, lane: Lane) -> usize {
        match lane {
            Lane::Control => self.control_queue.max(1),
            Lane::Bulk => self.bulk_queue.max(1),
        }
    }
}
