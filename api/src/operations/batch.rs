//! BatchGetItem and BatchWriteItem.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use cirrus_cluster::Table;
use cirrus_partition::capacity::{write_units, ReadConsistency};
use cirrus_partition::{Command, Rejection, WantedImages};
use cirrus_storage::engine::StoredItem;
use cirrus_storage::expression::Projection;
use cirrus_storage::Item;
use futures_util::future::try_join_all;
use serde::Serialize;
use serde_json::{Map, Value};

use super::items::{
    collection_metrics, prepare_put, read_projection, rejection_error, CollectionMetrics,
    COLLECTION_METRICS,
};
use crate::capacity::{
    admit_read, admit_write, charge_read, charge_write, item_read_units, per_table_json, Consumed,
    Detail, RETURN_CONSUMED_CAPACITY,
};
use crate::consistency;
use crate::error::ApiError;
use crate::keys::key_of_key_map;
use crate::state::ApiState;
use crate::validation::{java_objects, Constraints};
use crate::wire::attribute_value::parse_item;
use crate::wire::item_json::{response_body, StoredItemJson};

const MAX_GET_KEYS: usize = 100;
const MAX_WRITES: usize = 25;
/// DynamoDB returns at most 16 MB from one BatchGetItem; the rest is unprocessed.
const MAX_GET_BYTES: usize = 16 * 1024 * 1024;

/// RequestItems of a batch; `operation` names it in DynamoDB's message for an empty map.
fn request_items<'a>(
    request: &'a Value,
    operation: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    let mut constraints = Constraints::new();
    let items = request.get("RequestItems").filter(|v| !v.is_null());
    constraints.not_null(&items, "requestItems");
    constraints.finish()?;
    let Some(Value::Object(items)) = items else {
        return Err(ApiError::Serialization("Unexpected field type".into()));
    };
    if items.is_empty() {
        return Err(ApiError::validation(format!(
            "The requestItems parameter is required for {operation}"
        )));
    }
    let mut constraints = Constraints::new();
    for name in items.keys() {
        constraints.table_name(&Some(name.clone()), "requestItems.key");
    }
    constraints.finish()?;
    Ok(items)
}

/// ReturnConsumedCapacity of a batch, checked.
fn capacity_detail(request: &Value) -> Result<Detail, ApiError> {
    let value = request
        .get("ReturnConsumedCapacity")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut constraints = Constraints::new();
    constraints.one_of(&value, "returnConsumedCapacity", RETURN_CONSUMED_CAPACITY);
    constraints.finish()?;
    Ok(Detail::parse(value.as_deref()))
}

/// DynamoDB's message for a table given no writes or more than 25: the whole of
/// RequestItems shown as its validator prints it.
fn write_count_violation(tables: &Map<String, Value>) -> ApiError {
    let shown: Vec<String> = tables
        .iter()
        .map(|(name, requests)| {
            let count = requests.as_array().map_or(0, Vec::len);
            format!("{name}={}", java_objects("WriteRequest", count))
        })
        .collect();
    ApiError::Validation(format!(
        "1 validation error detected: Value '{{{}}}' at 'requestItems' failed to satisfy \
         constraint: Map value must satisfy constraint: [Member must have length less than or \
         equal to {MAX_WRITES}, Member must have length greater than or equal to 1]",
        shown.join(", ")
    ))
}

fn duplicates() -> ApiError {
    ApiError::validation("Provided list of item keys contains duplicates")
}

/// What BatchGetItem found in one table: the stored items, and the projection to
/// write them with.
struct Found<'a> {
    table_name: &'a str,
    projection: Option<Projection>,
    items: Vec<Vec<u8>>,
}

/// The response of BatchGetItem.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetOutput<'a> {
    responses: BTreeMap<&'a str, Vec<StoredItemJson<'a>>>,
    unprocessed_keys: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Value>,
}

pub fn batch_get_item(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let tables = request_items(&request, "BatchGetItem")?;
    let detail = capacity_detail(&request)?;
    let mut total_keys = 0;
    let mut plans = Vec::new();
    for (table_name, spec) in tables {
        let keys = match spec.get("Keys") {
            Some(Value::Array(keys)) if !keys.is_empty() => keys,
            Some(Value::Array(_)) => return Err(ApiError::validation(
                "1 validation error detected: Value '[]' at 'requestItems.member.keys' failed to \
                     satisfy constraint: Member must have length greater than or equal to 1",
            )),
            _ => return Err(ApiError::validation(
                "1 validation error detected: Value null at 'requestItems.member.keys' failed to \
                     satisfy constraint: Member must not be null",
            )),
        };
        if keys.len() > MAX_GET_KEYS {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'RequestItems.{table_name}.member.Keys' \
                 failed to satisfy constraint: Member must have length less than or equal to \
                 {MAX_GET_KEYS}"
            )));
        }
        total_keys += keys.len();
        if total_keys > MAX_GET_KEYS {
            return Err(ApiError::validation(
                "Too many items requested for the BatchGetItem call",
            ));
        }
        let projection = read_projection(
            state,
            spec.get("ProjectionExpression").and_then(Value::as_str),
            spec.get("ExpressionAttributeNames"),
            spec.get("AttributesToGet"),
        )?;
        plans.push((table_name, spec, keys, projection));
    }
    let mut found_by_table = Vec::with_capacity(plans.len());
    let mut unprocessed = Map::new();
    let mut bytes = 0usize;
    let mut consumed = Vec::new();
    for (table_name, spec, keys, projection) in plans {
        let table = state.table(table_name)?;
        let schema = &table.descriptor().key_schema;
        let strong = spec.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
        let consistency = if strong {
            ReadConsistency::Strong
        } else {
            ReadConsistency::Eventual
        };
        admit_read(state, &table, None, None)?;
        let mut seen = HashSet::new();
        let mut locations = Vec::with_capacity(keys.len());
        for key_json in keys {
            let key = parse_item(key_json)?;
            let encoded = key_of_key_map(schema, &key)?;
            if !seen.insert((encoded.partition.clone(), encoded.sort.clone())) {
                return Err(duplicates());
            }
            locations.push((key_json, table.locate(&encoded.partition, &encoded.sort)?));
        }
        let partitions = locations.iter().map(|(_, at)| at.partition);
        consistency::confirm_blocking(state, &table, strong, partitions)?;
        let mut table_units = 0.0;
        let mut found = Vec::new();
        let mut left_over = Vec::new();
        for (key_json, location) in locations {
            if bytes >= MAX_GET_BYTES {
                left_over.push(key_json.clone());
                continue;
            }
            let stored = state.node.get_item(&location)?;
            // Each item is charged on its own, rounded up.
            table_units += item_read_units(stored.as_deref(), consistency)?;
            if let Some(stored) = stored {
                bytes += StoredItem::size(&stored).map_err(|e| ApiError::Internal(e.to_string()))?
                    as usize;
                found.push(stored);
            }
        }
        consumed.push(charge_read(&table, None, None, table_units));
        found_by_table.push(Found {
            table_name,
            projection,
            items: found,
        });
        if !left_over.is_empty() {
            let mut spec = spec.clone();
            spec["Keys"] = Value::Array(left_over);
            unprocessed.insert(table_name.clone(), spec);
        }
    }
    let responses = found_by_table
        .iter()
        .map(|found| {
            let items = found
                .items
                .iter()
                .map(|stored| StoredItemJson::new(stored, found.projection.as_ref()))
                .collect();
            (found.table_name, items)
        })
        .collect();
    response_body(&BatchGetOutput {
        responses,
        unprocessed_keys: unprocessed,
        consumed_capacity: per_table_json(&consumed, detail),
    })
}

/// One validated write of a batch.
struct PlannedWrite<'r> {
    table: Arc<Table>,
    location: cirrus_cluster::ItemLocation,
    command: Command,
    /// The item's key attributes, for ItemCollectionMetrics.
    key_attributes: Item,
    /// The write request as sent, for UnprocessedItems: returned as it came, without a
    /// copy.
    request: &'r Value,
}

enum WriteResult<'r> {
    Done(Option<(String, CollectionMetrics)>),
    Unprocessed(String, &'r Value),
}

/// The response of BatchWriteItem.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchWriteOutput<'r> {
    unprocessed_items: BTreeMap<String, Vec<&'r Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_collection_metrics: Option<BTreeMap<String, Vec<CollectionMetrics>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Value>,
}

fn plan_write<'r>(table: &Arc<Table>, request: &'r Value) -> Result<PlannedWrite<'r>, ApiError> {
    let schema = &table.descriptor().key_schema;
    let put = request.get("PutRequest").filter(|v| !v.is_null());
    let delete = request.get("DeleteRequest").filter(|v| !v.is_null());
    let (key, key_attributes, command_for): (_, _, Box<dyn FnOnce(Vec<u8>) -> Command>) =
        match (put, delete) {
        (Some(put), None) => {
            let item_json = put.get("Item").ok_or_else(|| {
                ApiError::validation(
                    "1 validation error detected: Value null at 'requestItems.member.member.putRequest.item' \
                     failed to satisfy constraint: Member must not be null",
                )
            })?;
            let item = parse_item(item_json)?;
            let (key, stored) = prepare_put(table, &item)?;
            let key_attributes = item
                .into_iter()
                .filter(|(name, _)| schema.is_key_attribute(name))
                .collect();
            (
                key,
                key_attributes,
                Box::new(move |key| Command::Put {
                    key,
                    item: stored,
                    condition: None,
                    wanted: WantedImages::default(),
                }),
            )
        }
        (None, Some(delete)) => {
            let key_json = delete.get("Key").ok_or_else(|| {
                ApiError::validation(
                    "1 validation error detected: Value null at 'requestItems.member.member.deleteRequest.key' \
                     failed to satisfy constraint: Member must not be null",
                )
            })?;
            let key_attributes = parse_item(key_json)?;
            let key = key_of_key_map(schema, &key_attributes)?;
            (
                key,
                key_attributes,
                Box::new(|key| Command::Delete {
                    key,
                    condition: None,
                    wanted: WantedImages::default(),
                }),
            )
        }
        _ => {
            return Err(ApiError::validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ))
        }
    };
    let location = table.locate(&key.partition, &key.sort)?;
    let command = command_for(location.key.clone());
    Ok(PlannedWrite {
        table: table.clone(),
        location,
        command,
        key_attributes,
        request,
    })
}

/// The write units a batch's write is expected to take: a put's item size, at least
/// one unit (the old item, unknown until applied, may make it more).
fn reserved_units(command: &Command) -> f64 {
    let bytes = match command {
        Command::Put { item, .. } => StoredItem::size(item).map_or(0, u64::from),
        _ => 0,
    };
    f64::from(write_units(bytes))
}

pub async fn batch_write_item(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let tables = request_items(&request, "BatchWriteItem")?;
    let detail = capacity_detail(&request)?;
    let return_metrics = request
        .get("ReturnItemCollectionMetrics")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut constraints = Constraints::new();
    constraints.one_of(
        &return_metrics,
        "returnItemCollectionMetrics",
        COLLECTION_METRICS,
    );
    constraints.finish()?;
    let counts: Vec<usize> = tables
        .values()
        .filter_map(|requests| requests.as_array().map(Vec::len))
        .collect();
    if counts.iter().any(|&count| count == 0 || count > MAX_WRITES) {
        return Err(write_count_violation(tables));
    }
    let total: usize = counts.iter().sum();
    if total > MAX_WRITES {
        return Err(ApiError::validation(
            "Too many items requested for the BatchWriteItem call",
        ));
    }
    // Validate everything before writing anything: a bad request changes nothing.
    let mut writes = Vec::with_capacity(total);
    for (table_name, requests) in tables {
        let Value::Array(requests) = requests else {
            return Err(ApiError::Serialization("Unexpected field type".into()));
        };
        let table = state.table(table_name)?;
        let mut seen = HashSet::new();
        for request in requests {
            let write = plan_write(&table, request)?;
            if !seen.insert(write.location.key.clone()) {
                return Err(duplicates());
            }
            writes.push(write);
        }
    }
    // A write held by a transaction in progress goes back in UnprocessedItems, for the
    // client to retry, as DynamoDB does; the other writes stand.
    // A write refused for lack of capacity also goes back in UnprocessedItems; if all
    // are refused, the batch is throttled as a whole.
    let mut refused = Vec::new();
    let mut admitted = Vec::with_capacity(writes.len());
    let mut first_refusal = None;
    for write in writes {
        match admit_write(state, &write.table, write.location.hash) {
            Ok(()) => {
                let reserved = reserved_units(&write.command);
                write
                    .table
                    .capacity()
                    .reserve_write(write.location.hash, reserved);
                admitted.push((write, reserved));
            }
            Err(e) => {
                first_refusal.get_or_insert(e);
                refused.push(WriteResult::Unprocessed(
                    write.table.descriptor().name.clone(),
                    write.request,
                ));
            }
        }
    }
    if admitted.is_empty() {
        if let Some(refusal) = first_refusal {
            return Err(refusal);
        }
    }
    let outcomes = try_join_all(admitted.into_iter().map(|(write, reserved)| async move {
        let table_name = write.table.descriptor().name.clone();
        let outcome = state
            .node
            .propose(&write.table, &write.location, write.command)
            .await;
        write
            .table
            .capacity()
            .release_write(write.location.hash, reserved);
        let outcome = outcome?;
        let consumed = charge_write(&write.table, write.location.hash, &outcome.consumed, 1.0);
        if outcome.rejection == Some(Rejection::TransactionConflict) {
            return Ok::<_, ApiError>((
                WriteResult::Unprocessed(table_name, write.request),
                Some(consumed),
            ));
        }
        rejection_error(&outcome)?;
        Ok((
            WriteResult::Done(
                collection_metrics(&write.table, &write.key_attributes, outcome.collection_size)
                    .map(|metrics| (table_name, metrics)),
            ),
            Some(consumed),
        ))
    }))
    .await?;
    let (mut outcomes, consumed): (Vec<_>, Vec<_>) = outcomes.into_iter().unzip();
    outcomes.extend(refused);
    let consumed: Vec<Consumed> = consumed.into_iter().flatten().collect();
    let mut unprocessed: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let mut metrics_by_table: BTreeMap<String, Vec<CollectionMetrics>> = BTreeMap::new();
    for outcome in outcomes {
        match outcome {
            WriteResult::Unprocessed(table_name, request) => {
                unprocessed.entry(table_name).or_default().push(request);
            }
            WriteResult::Done(Some((table_name, metrics))) => {
                metrics_by_table
                    .entry(table_name)
                    .or_default()
                    .push(metrics);
            }
            WriteResult::Done(None) => {}
        }
    }
    response_body(&BatchWriteOutput {
        unprocessed_items: unprocessed,
        item_collection_metrics: (return_metrics.as_deref() == Some("SIZE"))
            .then_some(metrics_by_table),
        consumed_capacity: per_table_json(&consumed, detail),
    })
}
