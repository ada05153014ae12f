//! The server side: the transport's handler for Raft RPCs, forwarded proposals and
//! read-index requests, delivering each to this node's replica of the group the frame
//! names.

use std::collections::HashMap;
use std::sync::RwLock;

use bytes::Bytes;
use cirrus_partition::raft_types::TypeConfig;
use openraft::Raft;
use serde::de::DeserializeOwned;
use serde::Serialize;

use cirrus_partition::network::{serve_forwarded, serve_read_index, RaftRpc};

use crate::transport::{GroupId, Handler, NodeId, RemoteError};

/// This node's replicas, by group id.
#[derive(Default)]
pub struct RaftService {
    groups: RwLock<HashMap<GroupId, Raft<TypeConfig>>>,
}

impl RaftService {
    /// Starts delivering the group's RPCs to this replica.
    pub fn register(&self, group: GroupId, raft: Raft<TypeConfig>) {
        self.write().insert(group, raft);
    }

    /// Stops delivering them: the replica is closing or was removed.
    pub fn unregister(&self, group: GroupId) {
        self.write().remove(&group);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<GroupId, Raft<TypeConfig>>> {
        // A poisoned map is still whole: entries are inserted and removed in one call.
        self.groups
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn replica(&self, group: GroupId) -> Option<Raft<TypeConfig>> {
        self.groups
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&group)
            .cloned()
    }
}

fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, RemoteError> {
    bincode::deserialize(payload).map_err(|e| RemoteError::internal(format!("bad request: {e}")))
}

fn encode<T: Serialize>(answer: &T) -> Result<Bytes, RemoteError> {
    bincode::serialize(answer)
        .map(Bytes::from)
        .map_err(|e| RemoteError::internal(format!("cannot encode the answer: {e}")))
}

impl Handler for RaftService {
    async fn handle(
        &self,
        _from: NodeId,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    ) -> Result<Bytes, RemoteError> {
        let raft = self
            .replica(group)
            .ok_or_else(|| RemoteError::unknown_group(group))?;
        let rpc = RaftRpc::of(kind)
            .ok_or_else(|| RemoteError::internal(format!("unknown Raft RPC {kind}")))?;
        match rpc {
            RaftRpc::AppendEntries => encode(&raft.append_entries(decode(&payload)?).await),
            RaftRpc::Vote => encode(&raft.vote(decode(&payload)?).await),
            RaftRpc::InstallSnapshot => encode(&raft.install_snapshot(decode(&payload)?).await),
            RaftRpc::Propose => encode(&serve_forwarded(&raft, decode(&payload)?).await),
            RaftRpc::ReadIndex => encode(&serve_read_index(&raft).await),
        }
    }
}
