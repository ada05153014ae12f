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
    /// The cluster's id, which the data directory records with this node's.
    pub cluster_id: u64,
    pub link: Arc<dyn PeerLink>,
    /// The members and their peer addresses.
    pub members: BTreeMap<NodeId, SocketAddr>,
    /// Where this node serves the DynamoDB API, for the node registry.
    pub api_address: SocketAddr,
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

/// What a data directory records of the node it belongs to, at the first start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Identity {
    cluster_id: u64,
    node_id: NodeId,
}

/// Checks that the data directory belongs to this node — the embedded single node
/// (`membership` none) or the member `membership` says — and records the member's
/// identity at its first start. A replaced machine joins under a new id with an empty
/// directory; a directory that lost its data must never rejoin under its old id, nor a
/// node's directory serve another node or the single node (openraft's leaders can lose
/// acknowledged writes to a member that forgot its log).
pub(crate) fn check_identity(
    engine: &cirrus_storage::engine::Engine,
    membership: Option<&ClusterMembership>,
) -> Result<(), crate::error::PartitionError> {
    use cirrus_storage::engine::CF_META;

    use crate::error::PartitionError;
    use crate::meta_keys;

    let recorded: Option<Identity> = engine
        .get(CF_META, meta_keys::NODE_IDENTITY)?
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|e| PartitionError::Corrupt(format!("node identity: {e}")))?;
    let wanted = membership.map(|m| Identity {
        cluster_id: m.cluster_id,
        node_id: m.link.node_id(),
    });
    match (recorded, wanted) {
        (None, None) => Ok(()),
        (Some(recorded), Some(wanted)) if recorded == wanted => Ok(()),
        (Some(recorded), _) => Err(PartitionError::WrongNode(format!(
            "the data directory belongs to node {} of cluster {}",
            recorded.node_id, recorded.cluster_id
        ))),
        (None, Some(wanted)) => {
            // A directory with Raft state and no identity is the single node's.
            let start = [b'g'];
            let mut has_groups = false;
            engine.scan(
                CF_META,
                &start,
                &cirrus_storage::engine::prefix_end(&start),
                |_, _| {
                    has_groups = true;
                    Ok(false)
                },
            )?;
            if has_groups {
                return Err(PartitionError::WrongNode(
                    "the data directory belongs to the embedded single node".into(),
                ));
            }
            let bytes =
                serde_json::to_vec(&wanted).map_err(|e| PartitionError::Corrupt(e.to_string()))?;
            let mut batch = rocksdb::WriteBatch::default();
            batch.put_cf(engine.cf(CF_META)?, meta_keys::NODE_IDENTITY, bytes);
            Ok(engine.write_synced(batch)?)
        }
    }
}
