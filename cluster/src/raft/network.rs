//! The client side: openraft's `RaftNetwork` for one group, sending each RPC as a
//! transport call (snapshot chunks on the bulk lane, everything else on the control
//! lane, so a snapshot never delays a heartbeat).

use std::sync::Arc;

use bytes::Bytes;
use cirrus_partition::raft_types::{NodeId, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
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
    /// be a Raft error of the peer's. `entries` is how many log entries it carries.
    async fn send<Req, Resp, E>(
        &self,
        rpc: RaftRpc,
        request: &Req,
        entries: usize,
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
            .map_err(|e| self.failure(rpc, timeout, entries, e))?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            bincode::deserialize(&answer).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    /// How openraft should treat a call that got no answer from the group: a peer that
    /// is down, refuses us or has no replica of the group is unreachable (openraft backs
    /// off), a slow one timed out. Entries that do not fit in one frame are too large:
    /// openraft then sends fewer at once (were they unreachable, it would retry the same
    /// range forever and the follower would never catch up).
    fn failure<E: std::error::Error>(
        &self,
        rpc: RaftRpc,
        timeout: std::time::Duration,
        entries: usize,
        failed: TransportError,
    ) -> Failure<E> {
        match failed {
            TransportError::TooLarge { .. } if entries > 1 => {
                RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint((entries / 2) as u64))
            }
            TransportError::TooLarge { size, max } => {
                // One entry larger than a frame can never be replicated: the group
                // cannot commit past it. Entries are kept far smaller (the write
                // batcher's limit), so this is a bug, and loudly one.
                tracing::error!(
                    group = self.group,
                    target = self.target,
                    size,
                    max,
                    "a Raft request does not fit in one transport frame"
                );
                RPCError::Unreachable(Unreachable::new(&failed))
            }
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
        let entries = rpc.entries.len();
        self.send(RaftRpc::AppendEntries, &rpc, entries, &option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, Failure<InstallSnapshotError>> {
        self.send(RaftRpc::InstallSnapshot, &rpc, 0, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, Failure<openraft::error::Infallible>> {
        self.send(RaftRpc::Vote, &rpc, 0, &option).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cirrus_partition::command::{Command, Proposal};
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};

    use super::*;
    use crate::transport::{ClusterSecret, TransportConfig};

    fn entry(index: u64, bytes: usize) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Proposal::now(Command::Put {
                key: vec![1],
                item: vec![7; bytes],
                condition: None,
                wanted: Default::default(),
            })),
        }
    }

    fn append(entries: Vec<Entry<TypeConfig>>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries,
        }
    }

    /// Entries past the frame limit ask openraft for fewer at once; a single one that
    /// cannot fit is unreachable (nothing smaller can be sent).
    #[tokio::test]
    async fn entries_larger_than_a_frame_are_too_large() -> Result<(), Box<dyn std::error::Error>> {
        let mut config =
            TransportConfig::new(1, 1, ClusterSecret::new("a secret for a unit test")?);
        config.max_frame = 64 * 1024;
        let handler = std::sync::Arc::new(crate::raft::RaftService::default());
        let transport = Arc::new(Transport::new(config, handler));
        let mut network = GroupNetworkFactory::new(transport, 9)
            .new_client(2, &BasicNode::default())
            .await;
        let option = RPCOption::new(Duration::from_secs(1));

        let four = (1..=4).map(|i| entry(i, 30 * 1024)).collect();
        match network.append_entries(append(four), option.clone()).await {
            Err(RPCError::PayloadTooLarge(too_large)) => {
                assert_eq!(too_large.entries_hint(), 2);
            }
            other => panic!("four entries over the frame limit: {other:?}"),
        }
        let one = vec![entry(1, 100 * 1024)];
        match network.append_entries(append(one), option).await {
            Err(RPCError::Unreachable(_)) => {}
            other => panic!("one entry over the frame limit: {other:?}"),
        }
        Ok(())
    }
}
