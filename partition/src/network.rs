//! The node-to-node Raft network of a group, over whatever link the node has to its
//! peers. The link (the cluster's transport, in `cirrus-cluster`) sits behind an
//! object-safe trait, so this crate needs no transport of its own; the embedded single
//! node has no link, and an RPC to a peer is then an honest `Unreachable`, never a
//! pretend success.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::raft_types::{NodeId, TypeConfig};

/// What a call asks of a peer's replica of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RaftRpc {
    AppendEntries = 1,
    Vote = 2,
    InstallSnapshot = 3,
    /// A proposal this node forwards to the group's leader.
    Propose = 4,
    /// The leader's read index, for a strongly consistent read on another replica.
    ReadIndex = 5,
}

impl RaftRpc {
    pub fn of(kind: u8) -> Option<RaftRpc> {
        match kind {
            1 => Some(RaftRpc::AppendEntries),
            2 => Some(RaftRpc::Vote),
            3 => Some(RaftRpc::InstallSnapshot),
            4 => Some(RaftRpc::Propose),
            5 => Some(RaftRpc::ReadIndex),
            _ => None,
        }
    }
}

/// Why a call got no answer from the peer's replica.
#[derive(Debug, thiserror::Error)]
pub enum PeerFailure {
    /// The peer is down, refuses us, or holds no replica of the group.
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("timed out")]
    TimedOut,
    /// The peer got the call but could not serve it.
    #[error("failed: {0}")]
    Failed(String),
    /// The call does not fit in one message to the peer.
    #[error("{size} bytes do not fit in one message (at most {max})")]
    TooLarge { size: usize, max: usize },
}

pub type PeerCall = Pin<Box<dyn Future<Output = Result<Vec<u8>, PeerFailure>> + Send>>;

/// This node's link to its peers: calls to their replicas, and the replicas of this
/// node that their calls reach.
pub trait PeerLink: Send + Sync + 'static {
    fn node_id(&self) -> NodeId;

    /// Calls `group`'s replica on node `to` with a bincode payload.
    fn call(
        &self,
        to: NodeId,
        group: u64,
        rpc: RaftRpc,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> PeerCall;

    /// Delivers peers' calls for `group` to this replica from now on.
    fn serve(&self, group: u64, raft: Raft<TypeConfig>);

    /// Stops delivering them.
    fn forget(&self, group: u64);

    /// Reaches node `node` at `address` (HOST:PORT) from now on: a member that joined
    /// after this node started, or one that moved.
    fn set_peer(&self, node: NodeId, address: &str);
}

/// Makes the network of one group.
pub struct GroupPeers {
    link: Option<Arc<dyn PeerLink>>,
    group: u64,
}

impl GroupPeers {
    pub fn new(link: Option<Arc<dyn PeerLink>>, group: u64) -> Self {
        GroupPeers { link, group }
    }
}

impl RaftNetworkFactory<TypeConfig> for GroupPeers {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerNetwork {
        PeerNetwork {
            link: self.link.clone(),
            group: self.group,
            target,
        }
    }
}

/// One group's connection to one peer.
pub struct PeerNetwork {
    link: Option<Arc<dyn PeerLink>>,
    group: u64,
    target: NodeId,
}

type Failure<E> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl PeerNetwork {
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
        let Some(link) = &self.link else {
            return Err(RPCError::Unreachable(Unreachable::new(
                &std::io::Error::other("this node has no Raft peers"),
            )));
        };
        let payload =
            bincode::serialize(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let timeout = option.hard_ttl();
        let answer = link
            .call(self.target, self.group, rpc, payload, timeout)
            .await
            .map_err(|failure| match failure {
                // Entries that do not fit in one message are too large: openraft then
                // sends fewer at once (were they unreachable, it would retry the same
                // range forever and the follower would never catch up).
                PeerFailure::TooLarge { .. } if entries > 1 => RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint((entries / 2) as u64),
                ),
                PeerFailure::TooLarge { size, max } => {
                    // One entry larger than a message can never be replicated: the group
                    // cannot commit past it. Entries are kept far smaller (the write
                    // batcher's limit), so this is a bug, and loudly one.
                    tracing::error!(
                        group = self.group,
                        target = self.target,
                        size,
                        max,
                        "a Raft request does not fit in one message to a peer"
                    );
                    RPCError::Unreachable(Unreachable::new(&failure))
                }
                // A slow peer timed out; one that is down, refuses us or lacks the
                // group is unreachable (openraft backs off before trying again).
                PeerFailure::TimedOut => RPCError::Timeout(Timeout {
                    action: match rpc {
                        RaftRpc::Vote => RPCTypes::Vote,
                        RaftRpc::InstallSnapshot => RPCTypes::InstallSnapshot,
                        RaftRpc::AppendEntries | RaftRpc::Propose | RaftRpc::ReadIndex => {
                            RPCTypes::AppendEntries
                        }
                    },
                    id: link.node_id(),
                    target: self.target,
                    timeout,
                }),
                PeerFailure::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&failure)),
                PeerFailure::Failed(_) => RPCError::Network(NetworkError::new(&failure)),
            })?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            bincode::deserialize(&answer).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
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

/// What a group's leader answers a peer's request: the result, or that it does not
/// lead the group (and whom it knows to), or why it failed.
#[derive(Debug, Serialize, Deserialize)]
pub enum LeaderAnswer<T> {
    Done(T),
    NotLeader(Option<NodeId>),
    Failed(String),
}

impl<T> LeaderAnswer<T> {
    fn of<E>(result: Result<T, RaftError<NodeId, E>>) -> LeaderAnswer<T>
    where
        E: std::error::Error
            + openraft::TryAsRef<openraft::error::ForwardToLeader<NodeId, BasicNode>>,
    {
        match result {
            Ok(done) => LeaderAnswer::Done(done),
            Err(e) => match e.forward_to_leader::<BasicNode>() {
                Some(forward) => LeaderAnswer::NotLeader(forward.leader_id),
                None => LeaderAnswer::Failed(e.to_string()),
            },
        }
    }
}

/// Serves a proposal forwarded by a peer: proposes it here, as its leader.
pub async fn serve_forwarded(
    raft: &Raft<TypeConfig>,
    proposal: crate::command::Proposal,
) -> LeaderAnswer<crate::command::ApplyOutcome> {
    LeaderAnswer::of(
        raft.client_write(proposal)
            .await
            .map(|response| response.data),
    )
}

/// Serves a read-index request as the group's leader: confirms with a quorum that it
/// still leads (openraft's `get_read_log_id`), so the index it answers covers every
/// write acknowledged before the request arrived.
pub async fn serve_read_index(raft: &Raft<TypeConfig>) -> LeaderAnswer<u64> {
    LeaderAnswer::of(
        raft.get_read_log_id()
            .await
            .map(|(read_log_id, _applied)| read_log_id.map_or(0, |id| id.index)),
    )
}
