//! The transport's errors: what a caller learns about a failed call, and what a handler
//! may answer instead of a payload.

use std::fmt;

use super::NodeId;

/// Why a call failed. Every variant names the peer, so a Raft adapter can log and map it
/// without keeping its own context; openraft's `Unreachable` fits `Unreachable`,
/// `Refused` and `Shutdown`, its `Timeout` fits `TimedOut`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection to the peer: it is unknown, its address does not answer, the
    /// connection broke while the call was in flight, or reconnection is backing off.
    #[error("node {peer} is unreachable: {reason}")]
    Unreachable { peer: NodeId, reason: String },
    /// The call got no answer within its timeout. It may still have been handled.
    #[error("call to node {peer} timed out")]
    TimedOut { peer: NodeId },
    /// The peer's handler ran and answered with an error.
    #[error("node {peer} answered with an error: {error}")]
    Remote { peer: NodeId, error: RemoteError },
    /// The handshake failed: the two nodes disagree on the cluster, the secret, the
    /// protocol version, or which node listens at the address.
    #[error("connection to node {peer} refused: {reason}")]
    Refused { peer: NodeId, reason: Refusal },
    /// Too many calls are queued or in flight to the peer (on this side), or the peer is
    /// already running as many handlers for this connection as it allows.
    #[error("queue to node {peer} is full")]
    QueueFull { peer: NodeId },
    /// The request (header included) is larger than the frame limit; nothing was sent.
    #[error("request of {size} bytes exceeds the frame limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// The transport has been shut down.
    #[error("the transport is shut down")]
    Shutdown,
}

impl TransportError {
    pub(crate) fn unreachable(peer: NodeId, reason: impl Into<String>) -> Self {
        Self::Unreachable {
            peer,
            reason: reason.into(),
        }
    }
}

/// Why a handshake was refused. The side that detects the problem closes the
/// connection; when it is the listening side, it tells the connecting side why first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The other side speaks another version of this protocol.
    BadVersion,
    /// The other side belongs to another cluster.
    WrongCluster,
    /// The node listening at the address is not the node the connecting side expected.
    WrongNode,
    /// The other side could not prove it knows the cluster secret.
    AuthenticationFailed,
}

impl Refusal {
    pub(crate) fn code(self) -> u8 {
        match self {
            Refusal::BadVersion => 1,
            Refusal::WrongCluster => 2,
            Refusal::WrongNode => 3,
            Refusal::AuthenticationFailed => 4,
        }
    }

    /// Unknown codes read as an authentication failure: whatever the peer meant, it
    /// did not accept us.
    pub(crate) fn from_code(code: u8) -> Self {
        match code {
            1 => Refusal::BadVersion,
            2 => Refusal::WrongCluster,
            3 => Refusal::WrongNode,
            _ => Refusal::AuthenticationFailed,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::BadVersion => "protocol version mismatch",
            Refusal::WrongCluster => "the node belongs to another cluster",
            Refusal::WrongNode => "another node listens at that address",
            Refusal::AuthenticationFailed => "cluster secret mismatch",
        })
    }
}

/// What a handler answers instead of a payload. It crosses the wire, so it is data,
/// not a boxed error: a kind the caller can act on, and a message for the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct RemoteError {
    pub kind: RemoteErrorKind,
    pub message: String,
}

/// The part of a [`RemoteError`] a caller decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteErrorKind {
    /// The peer hosts no such group (a Raft adapter maps this to `Unreachable`).
    UnknownGroup,
    /// The peer knows the group but cannot serve it now (starting, stopping).
    Unavailable,
    /// The handler failed unexpectedly (it panicked, or its answer was too large).
    Internal,
    /// An application-defined failure; the code is the application's.
    Application(u16),
}

impl fmt::Display for RemoteErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteErrorKind::UnknownGroup => f.write_str("unknown group"),
            RemoteErrorKind::Unavailable => f.write_str("unavailable"),
            RemoteErrorKind::Internal => f.write_str("internal error"),
            RemoteErrorKind::Application(code) => write!(f, "application error {code}"),
        }
    }
}

impl RemoteError {
    pub fn new(kind: RemoteErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn unknown_group(group: u64) -> Self {
        Self::new(RemoteErrorKind::UnknownGroup, format!("group {group}"))
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(RemoteErrorKind::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(RemoteErrorKind::Internal, message)
    }

    pub fn application(code: u16, message: impl Into<String>) -> Self {
        Self::new(RemoteErrorKind::Application(code), message)
    }
}

/// A configuration the transport cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the cluster secret must be at least {min} bytes, got {got}")]
    SecretTooShort { min: usize, got: usize },
}
