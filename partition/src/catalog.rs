//! The table catalog: what a table is (its schema, billing settings, tags), persisted
//! in the `meta` column family. Partition counts are fixed at creation.

use std::collections::BTreeMap;

use cirrus_storage::ScalarType;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttribute {
    pub name: String,
    pub ty: ScalarType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySchema {
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
}

impl KeySchema {
    /// Whether `name` is the partition key or the sort key.
    pub fn is_key_attribute(&self, name: &str) -> bool {
        self.partition_key.name == name
            || self.sort_key.as_ref().is_some_and(|sort| sort.name == name)
    }
}

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
}
