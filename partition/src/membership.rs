//! This node's place in a cluster: its link to its peers, and the members that
//! replicate every group. Until placement lands (see `docs/cluster.md`), every member
//! holds a replica of every group — the metadata group and every partition's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use openraft::BasicNode;

use crate::group::Replicas;
use crate::network::PeerLink;
use crate::raft_types::NodeId;

#[derive(Clone)]
pub struct ClusterMembership {
    pub link: Arc<dyn PeerLink>,
    /// The members and their peer addresses.
    pub members: BTreeMap<NodeId, SocketAddr>,
}

impl ClusterMembership {
    /// The replicas of any group. Every member may initialise a group it finds empty:
    /// they all name the same voters, which openraft allows.
    pub fn replicas(&self) -> Replicas {
        let local = self.link.node_id();
        Replicas {
            local,
            voters: self
                .members
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr.to_string())))
                .collect(),
            bootstrap: self.members.contains_key(&local),
            link: Some(self.link.clone()),
        }
    }
}
