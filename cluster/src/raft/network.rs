//! The client side: openraft's `RaftNetwork` for one group, sending each RPC as a
//! transport call (snapshot chunks on the bulk lane, everything else on the control
//! lane, so a snapshot never delays a heartbeat).

use std::sync::Arc;

use bytes::Bytes;
use cirrus_partition::raft_types::{NodeId, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::RaftRpc;
use crate::transport::{GroupId, Lane, RemoteErrorKind, Transport, TransportError};

/// Makes the network of one group: every peer is reached through the node's transport.
#[derive(Clone)]
pub struct GroupNetworkFactory {
    transport: Arc<Transport>,
    group: GroupId,
}

impl GroupNetworkFactory {
    pub fn new(transport: Arc<Transport>, group: GroupId) -> Self {
        GroupNetworkFactory { transport, group }
    }
}

impl RaftNetworkFactory<TypeConfig> for GroupNetworkFactory {
    type Network = GroupNetwork;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> GroupNetwork {
        GroupNetwork {
            transport: self.transport.clone(),
            group: self.group,
            target,
        }
    }
}

/// One group's connection to one peer.
pub struct GroupNetwork {
    transport: Arc<Transport>,
    group: GroupId,
    target: NodeId,
}

type Failure<E> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl GroupNetwork {
    /// Sends one RPC and decodes the peer's answer: the group's own result, which may
    /// be a Raft error of the peer's.
    async fn send<Req, Resp, E>(
        &self,
        rpc: RaftRpc,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, Failure<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload =
            bincode::serialize(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let lane = match rpc {
            RaftRpc::InstallSnapshot => Lane::Bulk,
            RaftRpc::AppendEntries | RaftRpc::Vote => Lane::Control,
        };
        let timeout = option.hard_ttl();
        let answer = self
            .transport
            .call(
                self.target,
                lane,
                self.group,
                rpc as u8,
                Bytes::from(payload),
                timeout,
            )
            .await
            .map_err(|e| self.failure(rpc, timeout, e))?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            bincode::deserialize(&answer).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    /// How openraft should treat a call that got no answer from the group: a peer that
    /// is down, refuses us or has no replica of the group is unreachable (openraft backs
    /// off), a slow one timed out.
    fn failure<E: std::error::Error>(
        &self,
        rpc: RaftRpc,
        timeout: std::time::Duration,
        failed: TransportError,
    ) -> Failure<E> {
        match failed {
            TransportError::TimedOut { .. } => RPCError::Timeout(Timeout {
                action: match rpc {
                    RaftRpc::AppendEntries => RPCTypes::AppendEntries,
                    RaftRpc::Vote => RPCTypes::Vote,
                    RaftRpc::InstallSnapshot => RPCTypes::InstallSnapshot,
                },
                id: self.transport.node_id(),
                target: self.target,
                timeout,
            }),
            TransportError::Remote { ref error, .. } if error.kind == RemoteErrorKind::Internal => {
                RPCError::Network(NetworkError::new(&failed))
            }
            other => RPCError::Unreachable(Unreachable::new(&other)),
        }
    }
}

impl RaftNetwork<TypeConfig> for GroupNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, Failure<openraft::error::Infallible>> {
        self.send(RaftRpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, Failure<InstallSnapshotError>> {
        self.send(RaftRpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, Failure<openraft::error::Infallible>> {
        self.send(RaftRpc::Vote, &rpc, &option).await
    }
}
