//! The cluster's members, as the metadata group replicates them: the node registry
//! (`n/<id>`: each member's addresses and whether it is still a member) and the cluster's
//! settings (`s/cluster`: its replication factor, fixed when it forms). The members that
//! founded the cluster register themselves when they start; a member that joins later is
//! added by an operator (`cirrus cluster add-node`) and only then takes part; a removed
//! member stays in the registry as removed, so its id is never reused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cirrus_storage::engine::{prefix_end, Engine, CF_META};
use serde::{Deserialize, Serialize};

use crate::membership::ClusterMembership;
use crate::node::Node;
use cirrus_partition::command::MetadataChange;
use cirrus_partition::error::PartitionError;
use cirrus_partition::meta_keys;
use cirrus_partition::raft_types::NodeId;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    /// A member: it holds a replica of every group, and votes in some.
    #[default]
    Active,
    /// No longer a member: its replicas are being (or have been) moved away.
    Removed,
}

/// A member's entry in the node registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberRecord {
    /// Where its peers reach it.
    pub peer_address: String,
    /// Where it serves the DynamoDB API (and the admin API); empty until it started.
    pub api_address: String,
    #[serde(default)]
    pub state: MemberState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClusterSettings {
    replication_factor: u8,
}

/// How long a member waits between attempts to register.
const REGISTER_RETRY: Duration = Duration::from_secs(1);

/// The node registry in `engine`'s copy of the catalog.
fn registered_members(engine: &Engine) -> Result<BTreeMap<NodeId, MemberRecord>, PartitionError> {
    let start = meta_keys::MEMBER_PREFIX;
    let mut members = BTreeMap::new();
    engine.scan(CF_META, start, &prefix_end(start), |key, value| {
        let id = key[start.len()..].try_into().map(u64::from_be_bytes);
        if let (Ok(id), Ok(record)) = (id, serde_json::from_slice(value)) {
            members.insert(id, record);
        }
        Ok(true)
    })?;
    Ok(members)
}

/// The peer address of every member there has been: the founders' and the registry's.
pub(crate) fn known_addresses(
    engine: &Engine,
    cluster: &ClusterMembership,
) -> Result<BTreeMap<NodeId, String>, PartitionError> {
    let mut addresses: BTreeMap<NodeId, String> = cluster
        .founders
        .iter()
        .map(|(id, address)| (*id, address.to_string()))
        .collect();
    for (id, record) in registered_members(engine)? {
        addresses.insert(id, record.peer_address);
    }
    Ok(addresses)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, PartitionError> {
    serde_json::to_vec(value).map_err(|e| PartitionError::Corrupt(e.to_string()))
}

impl Node {
    /// The node registry, as this node has applied it.
    pub(crate) fn registered_members(
        &self,
    ) -> Result<BTreeMap<NodeId, MemberRecord>, PartitionError> {
        registered_members(self.engine())
    }

    /// The cluster's members and their peer addresses: the active ones of the registry,
    /// and the founders that have not registered yet (a cluster forming).
    pub(crate) fn active_members(&self) -> Result<BTreeMap<NodeId, String>, PartitionError> {
        let registered = self.registered_members()?;
        let mut members = BTreeMap::new();
        if let Some(cluster) = self.membership() {
            for (id, address) in &cluster.founders {
                if !registered.contains_key(id) {
                    members.insert(*id, address.to_string());
                }
            }
        }
        for (id, record) in registered {
            if record.state == MemberState::Active {
                members.insert(id, record.peer_address);
            }
        }
        Ok(members)
    }

    /// Tells the link where every member there has been is: a member added after this
    /// node started is reachable (for forwarded proposals and reads, not only Raft's
    /// own traffic) once this node's catalog names it.
    pub(crate) fn learn_peer_addresses(&self) -> Result<(), PartitionError> {
        let Some(cluster) = self.membership() else {
            return Ok(());
        };
        for (id, address) in known_addresses(self.engine(), cluster)? {
            cluster.link.set_peer(id, &address);
        }
        Ok(())
    }

    /// How many replicas of each group vote: the cluster's setting, which its first
    /// member to register recorded from its `--replication-factor`.
    pub(crate) fn replication_factor(&self) -> Result<u8, PartitionError> {
        let recorded = self.engine().get(CF_META, meta_keys::CLUSTER_SETTINGS)?;
        let flag = self
            .membership()
            .map_or(1, |cluster| cluster.replication_factor);
        Ok(recorded
            .and_then(|bytes| serde_json::from_slice::<ClusterSettings>(&bytes).ok())
            .map_or(flag, |settings| settings.replication_factor))
    }

    /// Records this member's API address in the node registry (a founder registers
    /// itself whole, with the cluster's settings if it is the first), retrying in the
    /// background until the metadata group takes the change: it may have no leader yet,
    /// and a joining member is not in the registry until an operator adds it.
    pub(crate) fn register_member(self: &Arc<Self>) {
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(node) = node.upgrade() else { return };
                match node.try_register().await {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => tracing::debug!("registering this member: {e}"),
                }
                drop(node);
                tokio::time::sleep(REGISTER_RETRY).await;
            }
        });
    }

    /// One attempt: `Ok(true)` once there is nothing left to register.
    async fn try_register(&self) -> Result<bool, PartitionError> {
        let Some(cluster) = self.membership() else {
            return Ok(true);
        };
        let key = meta_keys::member(self.node_id());
        let current = self.engine().get(CF_META, &key)?.map(|v| v.to_vec());
        let api_address = cluster.api_address.to_string();
        let mut change = MetadataChange {
            expect: vec![(key.clone(), current.clone())],
            put: Vec::new(),
            delete: Vec::new(),
        };
        let record = match current
            .as_deref()
            .map(serde_json::from_slice::<MemberRecord>)
        {
            Some(Ok(record)) if record.state == MemberState::Removed => {
                tracing::warn!("this node was removed from the cluster; it takes no part");
                return Ok(true);
            }
            Some(Ok(record)) if record.api_address == api_address => return Ok(true),
            Some(Ok(record)) => MemberRecord {
                api_address,
                ..record
            },
            Some(Err(e)) => return Err(PartitionError::Corrupt(format!("member record: {e}"))),
            // Not added yet: the operator adds a joining member.
            None if cluster.joining => return Ok(false),
            None => {
                let Some(peer) = cluster.founders.get(&self.node_id()) else {
                    return Ok(true);
                };
                let settings = meta_keys::CLUSTER_SETTINGS.to_vec();
                if self.engine().get(CF_META, &settings)?.is_none() {
                    change.expect.push((settings.clone(), None));
                    change.put.push((
                        settings,
                        encode(&ClusterSettings {
                            replication_factor: cluster.replication_factor,
                        })?,
                    ));
                }
                MemberRecord {
                    peer_address: peer.to_string(),
                    api_address,
                    state: MemberState::Active,
                }
            }
        };
        change.put.push((key, encode(&record)?));
        match self.change_metadata(change).await {
            Ok(()) => Ok(true),
            // The local copy was behind: try again once it caught up.
            Err(PartitionError::CatalogConflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds node `id`, reachable by its peers at `peer_address`, to the cluster: every
    /// group's leader then gives it a replica, and it takes its share of the voters
    /// (`replica_moves`). Adding a member again is a no-op; a removed id is never reused.
    pub async fn add_member(&self, id: NodeId, peer_address: String) -> Result<(), PartitionError> {
        if self.membership().is_none() {
            return Err(refused("the embedded single node has no members to add to"));
        }
        if peer_address.parse::<std::net::SocketAddr>().is_err() {
            return Err(refused(format!(
                "the peer address {peer_address:?} is not HOST:PORT"
            )));
        }
        let key = meta_keys::member(id);
        let current = self.engine().get(CF_META, &key)?.map(|v| v.to_vec());
        if let Some(bytes) = &current {
            let record: MemberRecord = serde_json::from_slice(bytes)
                .map_err(|e| PartitionError::Corrupt(format!("member record: {e}")))?;
            return match record.state {
                MemberState::Active if record.peer_address == peer_address => Ok(()),
                MemberState::Active => Err(refused(format!(
                    "node {id} is a member at {}",
                    record.peer_address
                ))),
                MemberState::Removed => Err(refused(format!(
                    "node {id} was removed; a node id is never reused"
                ))),
            };
        }
        if self.active_members()?.contains_key(&id) {
            return Err(refused(format!("node {id} is a founding member")));
        }
        let record = MemberRecord {
            peer_address,
            api_address: String::new(),
            state: MemberState::Active,
        };
        self.change_metadata(MetadataChange {
            expect: vec![(key.clone(), None)],
            put: vec![(key, encode(&record)?)],
            delete: Vec::new(),
        })
        .await
    }

    /// Removes node `id` from the cluster: every group's leader moves its votes to the
    /// other members and then drops its replica. Refused when fewer members than the
    /// replication factor would remain (add one first).
    pub async fn remove_member(&self, id: NodeId) -> Result<(), PartitionError> {
        let members = self.active_members()?;
        let Some(peer_address) = members.get(&id).cloned() else {
            let registered = self.registered_members()?;
            return match registered.get(&id) {
                Some(record) if record.state == MemberState::Removed => Ok(()),
                _ => Err(refused(format!("node {id} is not a member"))),
            };
        };
        let factor = self.replication_factor()?;
        if members.len() - 1 < usize::from(factor) {
            return Err(refused(format!(
                "removing node {id} would leave {} members for a replication factor of \
                 {factor}; add a node first",
                members.len() - 1
            )));
        }
        let key = meta_keys::member(id);
        let current = self.engine().get(CF_META, &key)?.map(|v| v.to_vec());
        let record = match current
            .as_deref()
            .map(serde_json::from_slice::<MemberRecord>)
        {
            Some(Ok(record)) => MemberRecord {
                state: MemberState::Removed,
                ..record
            },
            Some(Err(e)) => return Err(PartitionError::Corrupt(format!("member record: {e}"))),
            None => MemberRecord {
                peer_address,
                api_address: String::new(),
                state: MemberState::Removed,
            },
        };
        self.change_metadata(MetadataChange {
            expect: vec![(key.clone(), current)],
            put: vec![(key, encode(&record)?)],
            delete: Vec::new(),
        })
        .await
    }
}

fn refused(message: impl Into<String>) -> PartitionError {
    PartitionError::MembershipRefused(message.into())
}
