//! The transport as a group's link to its peers: each call a transport call naming the
//! group — snapshot chunks on the bulk lane, everything else on the control lane, so a
//! snapshot never delays a heartbeat.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cirrus_partition::network::{PeerCall, PeerFailure, PeerLink, RaftRpc};
use cirrus_partition::raft_types::{NodeId, TypeConfig};
use openraft::Raft;

use super::RaftService;
use crate::transport::{Lane, RemoteErrorKind, Transport, TransportError};

/// This node's transport, and the service its peers' calls reach.
#[derive(Clone)]
pub struct TransportLink {
    transport: Arc<Transport>,
    service: Arc<RaftService>,
}

impl TransportLink {
    /// `service` must be the handler `transport` was built with.
    pub fn new(transport: Arc<Transport>, service: Arc<RaftService>) -> Arc<TransportLink> {
        Arc::new(TransportLink { transport, service })
    }
}

fn failure(error: TransportError) -> PeerFailure {
    match error {
        TransportError::TimedOut { .. } => PeerFailure::TimedOut,
        TransportError::TooLarge { size, max } => PeerFailure::TooLarge { size, max },
        TransportError::Remote { ref error, .. } if error.kind == RemoteErrorKind::Internal => {
            PeerFailure::Failed(error.to_string())
        }
        other => PeerFailure::Unreachable(other.to_string()),
    }
}

impl PeerLink for TransportLink {
    fn node_id(&self) -> NodeId {
        self.transport.node_id()
    }

    fn call(
        &self,
        to: NodeId,
        group: u64,
        rpc: RaftRpc,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> PeerCall {
        let transport = self.transport.clone();
        let lane = match rpc {
            RaftRpc::InstallSnapshot => Lane::Bulk,
            RaftRpc::AppendEntries | RaftRpc::Vote | RaftRpc::Propose | RaftRpc::ReadIndex => {
                Lane::Control
            }
        };
        Box::pin(async move {
            transport
                .call(to, lane, group, rpc as u8, Bytes::from(payload), timeout)
                .await
                .map(|answer| answer.to_vec())
                .map_err(failure)
        })
    }

    fn serve(&self, group: u64, raft: Raft<TypeConfig>) {
        self.service.register(group, raft);
    }

    fn forget(&self, group: u64) {
        self.service.unregister(group);
    }

    fn set_peer(&self, node: NodeId, address: &str) {
        if node == self.transport.node_id() {
            return;
        }
        match address.parse() {
            Ok(address) => self.transport.set_peer(node, address),
            Err(e) => tracing::warn!(node, address, "a member's peer address: {e}"),
        }
    }
}
