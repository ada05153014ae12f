//! This node's place in a cluster: its link to its peers, the members that founded the
//! cluster, and the replicas this node opens a group with. Every member holds a replica
//! of every group; `placement` says which of them vote.

pub mod placement;
pub(crate) mod registry;
pub(crate) mod replica_moves;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use openraft::BasicNode;

use cirrus_partition::group::Replicas;
use cirrus_partition::network::PeerLink;
use cirrus_partition::raft_types::NodeId;

#[derive(Clone)]
pub struct ClusterMembership {
    /// The cluster's id, which the data directory records with this node's.
    pub cluster_id: u64,
    pub link: Arc<dyn PeerLink>,
    /// The members that formed the cluster (`--member`) and their peer addresses: the
    /// metadata group's first voters are placed among them.
    pub founders: BTreeMap<NodeId, SocketAddr>,
    /// Whether this node joins a running cluster rather than founding it: it initialises
    /// no group of its own and takes part once an operator adds it.
    pub joining: bool,
    /// How many replicas of each group vote, if the cluster has not recorded it yet.
    pub replication_factor: u8,
    /// Where this node serves the DynamoDB API, for the node registry.
    pub api_address: SocketAddr,
}

impl ClusterMembership {
    /// This node's replicas of a group first placed on `voters` (at `addresses`): it
    /// may initialise the group if it is one of them.
    pub fn replicas(
        &self,
        voters: &BTreeSet<NodeId>,
        addresses: &BTreeMap<NodeId, String>,
    ) -> Replicas {
        let local = self.link.node_id();
        Replicas {
            local,
            voters: voters
                .iter()
                .map(|id| {
                    let address = addresses.get(id).cloned().unwrap_or_default();
                    (*id, BasicNode::new(address))
                })
                .collect(),
            bootstrap: voters.contains(&local),
            link: Some(self.link.clone()),
        }
    }

    /// This node's replica of partition `partition` of a table, first placed as the
    /// table's descriptor says (a table from before placement started on every founder).
    pub(crate) fn table_replicas(
        &self,
        descriptor: &cirrus_partition::catalog::TableDescriptor,
        partition: u16,
        addresses: &BTreeMap<NodeId, String>,
    ) -> Replicas {
        let voters = match &descriptor.placement {
            Some(placement) => crate::membership::placement::first_voters(
                placement,
                cirrus_partition::group::group_id(descriptor.table_id, partition),
            ),
            None => self.founders.keys().copied().collect(),
        };
        self.replicas(&voters, addresses)
    }

    /// This node's replica of the metadata group, first placed among the founders.
    pub fn metadata_replicas(&self) -> Replicas {
        let founders: Vec<NodeId> = self.founders.keys().copied().collect();
        let voters = crate::membership::placement::voters(
            cirrus_partition::group::METADATA_GROUP,
            &founders,
            self.replication_factor,
        );
        let addresses = self
            .founders
            .iter()
            .map(|(id, address)| (*id, address.to_string()))
            .collect();
        let mut replicas = self.replicas(&voters, &addresses);
        replicas.bootstrap &= !self.joining;
        replicas
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
) -> Result<(), cirrus_partition::error::PartitionError> {
    use cirrus_storage::engine::CF_META;

    use cirrus_partition::error::PartitionError;
    use cirrus_partition::meta_keys;

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
