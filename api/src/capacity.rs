//! Capacity at the front door: admitting a request before it does any work (or
//! refusing it with DynamoDB's throttling error), charging what it consumed after, and
//! ReturnConsumedCapacity's ConsumedCapacity. The accounting rules themselves live in
//! `cirrus_partition::capacity`.

use std::collections::BTreeMap;

use cirrus_cluster::Table;
use cirrus_partition::capacity::{read_units, Limit, ReadConsistency, Throttled, WriteConsumption};
use cirrus_partition::{IndexDescriptor, IndexKind};
use cirrus_storage::engine::StoredItem;
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ThrottlingReason};
use crate::state::ApiState;

pub const RETURN_CONSUMED_CAPACITY: &[&str] = &["INDEXES", "TOTAL", "NONE"];

/// How much of the consumption a response reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    None,
    Total,
    Indexes,
}

impl Detail {
    pub fn parse(value: Option<&str>) -> Detail {
        match value {
            Some("TOTAL") => Detail::Total,
            Some("INDEXES") => Detail::Indexes,
            _ => Detail::None,
        }
    }
}

/// DynamoDB's exception for a throttled request, with its ThrottlingReasons.
fn throttled(state: &ApiState, table: &Table, throttled: Throttled) -> ApiError {
    let table_arn = state.table_arn(&table.descriptor().name);
    let resource = match throttled
        .index
        .and_then(|id| table.descriptor().indexes.iter().find(|i| i.spec.id == id))
    {
        Some(index) => format!("{table_arn}/index/{}", index.spec.name),
        None => table_arn,
    };
    let reasons = vec![ThrottlingReason {
        reason: throttled.reason(),
        resource,
    }];
    match throttled.limit {
        Limit::KeyRange | Limit::Provisioned => ApiError::ProvisionedThroughputExceeded {
            message: "The level of configured provisioned throughput for the table was exceeded. \
                      Consider increasing your provisioning level with the UpdateTable API."
                .into(),
            reasons,
        },
        Limit::AccountLimit => ApiError::RequestLimitExceeded {
            message: "Throughput exceeds the current throughput limit for your account. Please \
                      contact AWS Support at https://aws.amazon.com/support request a limit increase"
                .into(),
            reasons,
        },
        Limit::MaxOnDemand => ApiError::Throttling {
            message: "Throughput exceeds the maximum OnDemandThroughput configured on table or index"
                .into(),
            reasons,
        },
    }
}

/// Whether a write of the item with partition-key hash `hash` may start.
pub fn admit_write(state: &ApiState, table: &Table, hash: u64) -> Result<(), ApiError> {
    table
        .capacity()
        .admit_write(hash)
        .map_err(|t| throttled(state, table, t))
}

/// Whether a read may start: of one partition-key value (`hash`), of the whole table
/// (`None`), or of `index`.
pub fn admit_read(
    state: &ApiState,
    table: &Table,
    hash: Option<u64>,
    index: Option<&IndexDescriptor>,
) -> Result<(), ApiError> {
    table
        .capacity()
        .admit_read(hash, global_index_id(index))
        .map_err(|t| throttled(state, table, t))
}

/// The read units of one item as stored (a missing item still costs the minimum).
pub fn item_read_units(
    stored: Option<&[u8]>,
    consistency: ReadConsistency,
) -> Result<f64, ApiError> {
    let size = stored
        .map(StoredItem::size)
        .transpose()
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .unwrap_or(0);
    Ok(read_units(u64::from(size), consistency))
}

fn global_index_id(index: Option<&IndexDescriptor>) -> Option<u16> {
    index
        .filter(|index| index.kind == IndexKind::Global)
        .map(|index| index.spec.id)
}

/// What one request consumed on one table and its indexes.
#[derive(Debug, Clone, Default)]
pub struct Consumed {
    pub table_name: String,
    read: bool,
    table: f64,
    local: BTreeMap<String, f64>,
    global: BTreeMap<String, f64>,
}

fn units_json(read: bool, units: f64) -> Value {
    let mut value = json!({ "CapacityUnits": units });
    value[if read {
        "ReadCapacityUnits"
    } else {
        "WriteCapacityUnits"
    }] = json!(units);
    value
}

impl Consumed {
    pub fn new(table: &Table, read: bool) -> Consumed {
        Consumed {
            table_name: table.descriptor().name.clone(),
            read,
            ..Default::default()
        }
    }

    fn total(&self) -> f64 {
        self.table + self.local.values().sum::<f64>() + self.global.values().sum::<f64>()
    }

    pub fn add(&mut self, other: &Consumed) {
        self.table += other.table;
        for (mine, theirs) in [
            (&mut self.local, &other.local),
            (&mut self.global, &other.global),
        ] {
            for (name, units) in theirs {
                *mine.entry(name.clone()).or_default() += units;
            }
        }
    }

    /// ConsumedCapacity as DynamoDB shapes it, or `None` when not asked for.
    pub fn json(&self, detail: Detail) -> Option<Value> {
        if detail == Detail::None {
            return None;
        }
        let mut value = units_json(self.read, self.total());
        value["TableName"] = json!(self.table_name);
        if detail == Detail::Indexes {
            value["Table"] = units_json(self.read, self.table);
            for (member, indexes) in [
                ("LocalSecondaryIndexes", &self.local),
                ("GlobalSecondaryIndexes", &self.global),
            ] {
                if !indexes.is_empty() {
                    let map: Map<String, Value> = indexes
                        .iter()
                        .map(|(name, units)| (name.clone(), units_json(self.read, *units)))
                        .collect();
                    value[member] = Value::Object(map);
                }
            }
        }
        Some(value)
    }
}

/// Charges a write (`multiplier` 2 for transactions) and returns what it consumed.
pub fn charge_write(
    table: &Table,
    hash: u64,
    consumption: &WriteConsumption,
    multiplier: f64,
) -> Consumed {
    let mut consumed = Consumed::new(table, false);
    consumed.table = f64::from(consumption.item_units) * multiplier;
    let mut table_units = consumed.table;
    let mut global_units = Vec::new();
    for (id, units) in &consumption.index_units {
        let units = f64::from(*units) * multiplier;
        let Some(index) = table.descriptor().indexes.iter().find(|i| i.spec.id == *id) else {
            continue;
        };
        match index.kind {
            // A local index's writes are the table's.
            IndexKind::Local => {
                table_units += units;
                *consumed.local.entry(index.spec.name.clone()).or_default() += units;
            }
            IndexKind::Global => {
                global_units.push((*id, units));
                *consumed.global.entry(index.spec.name.clone()).or_default() += units;
            }
        }
    }
    table
        .capacity()
        .charge_write(hash, table_units, &global_units);
    consumed
}

/// Charges a read of the table or of `index` and returns what it consumed.
pub fn charge_read(
    table: &Table,
    hash: Option<u64>,
    index: Option<&IndexDescriptor>,
    units: f64,
) -> Consumed {
    let mut consumed = Consumed::new(table, true);
    match index {
        Some(index) => {
            let by_kind = match index.kind {
                IndexKind::Local => &mut consumed.local,
                IndexKind::Global => &mut consumed.global,
            };
            by_kind.insert(index.spec.name.clone(), units);
        }
        None => consumed.table = units,
    }
    table
        .capacity()
        .charge_read(hash, global_index_id(index), units);
    consumed
}

/// ConsumedCapacity of a multi-table request: one entry per table, in the order the
/// request first names them.
pub fn per_table_json(consumed: &[Consumed], detail: Detail) -> Option<Value> {
    if detail == Detail::None {
        return None;
    }
    let mut by_table: Vec<Consumed> = Vec::new();
    for entry in consumed {
        match by_table
            .iter_mut()
            .find(|c| c.table_name == entry.table_name)
        {
            Some(total) => total.add(entry),
            None => by_table.push(entry.clone()),
        }
    }
    Some(Value::Array(
        by_table.iter().filter_map(|c| c.json(detail)).collect(),
    ))
}
