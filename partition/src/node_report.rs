//! What a node reports of itself for `cirrus cluster status`: the members it knows (the
//! node registry, which the metadata group replicates), and for each of its groups the
//! Raft state it sees — leader, term, voters, its log and applied indexes, and on a
//! leader, how far each replica has matched the log. Each member registers its
//! addresses in the registry when it starts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cirrus_storage::engine::{prefix_end, CF_META};
use serde::{Deserialize, Serialize};

use crate::command::MetadataChange;
use crate::error::PartitionError;
use crate::group::RaftGroup;
use crate::meta_keys;
use crate::node::Node;
use crate::raft_types::NodeId;

/// A member's entry in the node registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberAddresses {
    /// Where its peers reach it.
    pub peer_address: String,
    /// Where it serves the DynamoDB API (and the admin API).
    pub api_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberReport {
    pub node_id: NodeId,
    /// `None` until the member registered (it has not started since joining).
    pub addresses: Option<MemberAddresses>,
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
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// On the leader: the last log index each replica has matched.
    pub matched: Option<BTreeMap<NodeId, Option<u64>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeReport {
    pub node_id: NodeId,
    /// `None` for the embedded single node.
    pub cluster_id: Option<u64>,
    pub members: Vec<MemberReport>,
    pub groups: Vec<GroupReport>,
}

fn group_report(group: &RaftGroup, table: Option<String>, partition: Option<u16>) -> GroupReport {
    let metrics = group.raft().metrics();
    let metrics = metrics.borrow();
    GroupReport {
        group_id: group.id(),
        table,
        partition,
        leader: metrics.current_leader,
        term: metrics.current_term,
        voters: metrics.membership_config.membership().voter_ids().collect(),
        last_log_index: metrics.last_log_index,
        applied_index: metrics.last_applied.map(|id| id.index),
        matched: metrics.replication.as_ref().map(|replication| {
            replication
                .iter()
                .map(|(id, matched)| (*id, matched.map(|log_id| log_id.index)))
                .collect()
        }),
    }
}

/// How long a member waits between attempts to register.
const REGISTER_RETRY: Duration = Duration::from_secs(1);

impl Node {
    /// This node's report.
    pub fn report(&self) -> Result<NodeReport, PartitionError> {
        let mut groups = vec![group_report(self.metadata(), None, None)];
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
                ));
            }
        }
        let registered = self.registered_members()?;
        let cluster = self.membership();
        let mut ids: Vec<NodeId> = registered.keys().copied().collect();
        ids.extend(
            cluster
                .iter()
                .flat_map(|cluster| cluster.members.keys().copied()),
        );
        ids.sort_unstable();
        ids.dedup();
        let members = ids
            .into_iter()
            .map(|node_id| MemberReport {
                node_id,
                addresses: registered.get(&node_id).cloned(),
            })
            .collect();
        Ok(NodeReport {
            node_id: self.node_id(),
            cluster_id: cluster.map(|cluster| cluster.cluster_id),
            members,
            groups,
        })
    }

    /// The node registry, as this node has applied it.
    fn registered_members(&self) -> Result<BTreeMap<NodeId, MemberAddresses>, PartitionError> {
        let start = meta_keys::MEMBER_PREFIX;
        let mut members = BTreeMap::new();
        self.engine()
            .scan(CF_META, start, &prefix_end(start), |key, value| {
                let id = key[start.len()..].try_into().map(u64::from_be_bytes);
                if let (Ok(id), Ok(addresses)) = (id, serde_json::from_slice(value)) {
                    members.insert(id, addresses);
                }
                Ok(true)
            })?;
        Ok(members)
    }

    /// Records this member's addresses in the node registry, retrying in the background
    /// until the metadata group takes the change (it may have no leader yet).
    pub(crate) fn register_member(self: &Arc<Self>, addresses: MemberAddresses) {
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(node) = node.upgrade() else { return };
                match node.try_register(&addresses).await {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => tracing::debug!("registering this member: {e}"),
                }
                drop(node);
                tokio::time::sleep(REGISTER_RETRY).await;
            }
        });
    }

    /// One attempt: `Ok(true)` once the registry holds `addresses`.
    async fn try_register(&self, addresses: &MemberAddresses) -> Result<bool, PartitionError> {
        let key = meta_keys::member(self.node_id());
        let record =
            serde_json::to_vec(addresses).map_err(|e| PartitionError::Corrupt(e.to_string()))?;
        let current = self.engine().get(CF_META, &key)?.map(|v| v.to_vec());
        if current.as_deref() == Some(record.as_slice()) {
            return Ok(true);
        }
        match self
            .change_metadata(MetadataChange {
                expect: vec![(key.clone(), current)],
                put: vec![(key, record)],
                delete: Vec::new(),
            })
            .await
        {
            Ok(()) => Ok(true),
            // The local copy was behind: try again once it caught up.
            Err(PartitionError::CatalogConflict) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
