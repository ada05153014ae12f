//! The table catalog: what a table is (its schema, billing settings, tags), persisted
//! in the `meta` column family. Partition counts are fixed at creation; secondary
//! indexes come and go with UpdateTable.

use std::collections::BTreeMap;

pub use cirrus_storage::change_log::ViewType;
pub use cirrus_storage::index::{IndexSpec, Projected};
pub use cirrus_storage::{KeyAttribute, KeySchema};
use serde::{Deserialize, Serialize};

use crate::raft_types::NodeId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingMode {
    Provisioned,
    PayPerRequest,
}

/// Provisioned throughput and the history DynamoDB reports about its changes
/// (times in epoch seconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub read_capacity_units: u64,
    pub write_capacity_units: u64,
    pub last_increase: Option<f64>,
    pub last_decrease: Option<f64>,
    pub decreases_today: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDescriptor {
    pub name: String,
    /// The region whose namespace holds the table: each region's tables are apart, as in
    /// DynamoDB. Empty only in descriptors written before regions existed, which
    /// `Node::open` assigns to the default region once.
    #[serde(default)]
    pub region: String,
    /// Node-local numeric id used in every key of the table; assigned by the node.
    pub table_id: u32,
    /// The `TableId` DynamoDB reports: a UUID.
    pub uuid: String,
    pub key_schema: KeySchema,
    pub attribute_definitions: Vec<KeyAttribute>,
    pub billing_mode: BillingMode,
    pub throughput: Throughput,
    /// When the table last switched to on-demand, as DynamoDB reports it.
    pub pay_per_request_since: Option<f64>,
    /// Epoch seconds.
    pub created_at: f64,
    /// Number of partitions; assigned by the node.
    pub partitions: u16,
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub indexes: Vec<IndexDescriptor>,
    /// The id the next index gets; ids are never reused.
    #[serde(default)]
    pub next_index_id: u16,
    /// Every stream the table has had, oldest first; at most the last is enabled.
    #[serde(default)]
    pub streams: Vec<StreamDescriptor>,
    /// The TTL attribute, while TTL is enabled.
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// Whether the expiry index covers the items that existed when TTL was enabled.
    #[serde(default)]
    pub ttl_ready: bool,
    /// Whether the expiry index of a disabled TTL is still to be dropped.
    #[serde(default)]
    pub ttl_dropping: bool,
    /// On-demand maxima (OnDemandThroughput), in request units per second.
    #[serde(default)]
    pub on_demand_max_read: Option<u64>,
    #[serde(default)]
    pub on_demand_max_write: Option<u64>,
    /// Bumped by every change to what writes maintain (indexes, stream, TTL); each
    /// partition's log records the change under this version (`Command::SetSchema`).
    #[serde(default)]
    pub schema_version: u64,
    /// Where a cluster first placed the table's groups; assigned by the node (`None`:
    /// the single node, or a table created before placement existed, whose groups
    /// started on every member).
    #[serde(default)]
    pub placement: Option<InitialPlacement>,
    /// The largest item collection on the table, in bytes, fixed at creation so that
    /// every replica refuses the same writes (`None`: created before it was recorded;
    /// the node's `--item-collection-limit-bytes` applies).
    #[serde(default)]
    pub item_collection_limit: Option<u64>,
}

/// One stream of a table: enabled until `disabled_at`; its records stay readable
/// until they age out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamDescriptor {
    /// Unique within the table, increasing.
    pub stream_id: u32,
    /// DynamoDB's StreamLabel (an ISO 8601 timestamp), also the end of the ARN.
    pub label: String,
    pub view: ViewType,
    /// Epoch seconds.
    pub created_at: f64,
    pub disabled_at: Option<f64>,
}

impl TableDescriptor {
    pub fn index(&self, name: &str) -> Option<&IndexDescriptor> {
        self.indexes.iter().find(|index| index.spec.name == name)
    }

    /// The stream writes feed now, if one is enabled.
    pub fn enabled_stream(&self) -> Option<&StreamDescriptor> {
        self.streams
            .last()
            .filter(|stream| stream.disabled_at.is_none())
    }

    /// The indexes every write must maintain: those being built and those built.
    pub fn maintained_indexes(&self) -> Vec<IndexSpec> {
        self.indexes
            .iter()
            .filter(|index| index.status != IndexStatus::Deleting)
            .map(|index| index.spec.clone())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKind {
    Global,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IndexStatus {
    /// Maintained by writes while existing items are backfilled.
    Creating,
    Active,
    /// No longer maintained; its entries are being removed.
    Deleting,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexDescriptor {
    pub spec: IndexSpec,
    pub kind: IndexKind,
    pub status: IndexStatus,
    /// A global index's own provisioned throughput (provisioned tables only).
    pub throughput: Option<Throughput>,
}

/// The members and replication factor a table's groups were first placed with, recorded
/// in its descriptor so that every node initialises a new group with the same voters
/// whatever its own view of the members. Later moves are the groups' own membership
/// changes (the cluster's replica moves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitialPlacement {
    pub members: Vec<NodeId>,
    pub replication_factor: u8,
}
