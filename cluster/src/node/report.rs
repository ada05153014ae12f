//! What a node reports of itself for `cirrus cluster status`: the members it knows (the
//! node registry, which the metadata group replicates), and for each of its groups the
//! Raft state it sees — leader, term, voters, its log and applied indexes, and on a
//! leader, how far each replica has matched the log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::membership::registry::{MemberRecord, MemberState};
use crate::node::Node;
use cirrus_partition::error::PartitionError;
use cirrus_partition::group::RaftGroup;
use cirrus_partition::raft_types::NodeId;
pub use cirrus_partition::state_machine::StateDigest;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberReport {
    pub node_id: NodeId,
    /// `None` until the member registered or was added.
    pub record: Option<MemberRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupReport {
    pub group_id: u64,
    /// `region/name` of the table the group is a partition of (`None`: the metadata
    /// group).
    pub table: Option<String>,
    pub partition: Option<u16>,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub voters: Vec<NodeId>,
    /// The replicas that follow the log without voting.
    #[serde(default)]
    pub learners: Vec<NodeId>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// On the leader: the last log index each replica has matched.
    pub matched: Option<BTreeMap<NodeId, Option<u64>>>,
    /// The digest of this replica's state, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_digest: Option<StateDigest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeReport {
    pub node_id: NodeId,
    /// `None` for the embedded single node.
    pub cluster_id: Option<u64>,
    /// How many replicas of each group vote (1 on the embedded single node).
    #[serde(default)]
    pub replication_factor: u8,
    pub members: Vec<MemberReport>,
    pub groups: Vec<GroupReport>,
}

fn group_report(
    group: &RaftGroup,
    table: Option<String>,
    partition: Option<u16>,
    digest: bool,
) -> Result<GroupReport, PartitionError> {
    let state_digest = digest.then(|| group.digest()).transpose()?;
    let leader = group.leader_known();
    let metrics = group.raft().metrics();
    let metrics = metrics.borrow();
    Ok(GroupReport {
        group_id: group.id(),
        table,
        partition,
        leader,
        term: metrics.current_term,
        voters: metrics.membership_config.membership().voter_ids().collect(),
        learners: metrics
            .membership_config
            .membership()
            .learner_ids()
            .collect(),
        last_log_index: metrics.last_log_index,
        applied_index: metrics.last_applied.map(|id| id.index),
        matched: metrics.replication.as_ref().map(|replication| {
            replication
                .iter()
                .map(|(id, matched)| (*id, matched.map(|log_id| log_id.index)))
                .collect()
        }),
        state_digest,
    })
}

impl Node {
    /// This node's report, with each group's state digest if `digests` (which reads
    /// every group's state: a blocking call).
    pub fn report(&self, digests: bool) -> Result<NodeReport, PartitionError> {
        let mut groups = vec![group_report(self.metadata(), None, None, digests)?];
        let mut tables = self.tables_snapshot();
        tables.sort_by_key(|table| table.descriptor().table_id);
        for table in tables {
            let descriptor = table.descriptor();
            let name = format!("{}/{}", descriptor.region, descriptor.name);
            for (partition, group) in table.groups.iter().enumerate() {
                groups.push(group_report(
                    group,
                    Some(name.clone()),
                    Some(partition as u16),
                    digests,
                )?);
            }
        }
        let registered = self.registered_members()?;
        let cluster = self.membership();
        let mut ids: Vec<NodeId> = registered.keys().copied().collect();
        ids.extend(
            cluster
                .iter()
                .flat_map(|cluster| cluster.founders.keys().copied()),
        );
        ids.sort_unstable();
        ids.dedup();
        let members = ids
            .into_iter()
            .map(|node_id| MemberReport {
                node_id,
                record: registered.get(&node_id).cloned(),
            })
            .collect();
        Ok(NodeReport {
            node_id: self.node_id(),
            cluster_id: cluster.map(|cluster| cluster.cluster_id),
            replication_factor: self.replication_factor()?,
            members,
            groups,
        })
    }
}
