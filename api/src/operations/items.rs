//! Single-item operations: PutItem, GetItem, DeleteItem.

use cirrus_partition::Table;
use cirrus_storage::codec::{decode_item, encode_item};
use cirrus_storage::engine::StoredItem;
use cirrus_storage::size::item_size;
use cirrus_storage::Item;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::keys::{key_of_item, key_of_key_map};
use crate::state::ApiState;
use crate::validation::{parse_input, Constraints};
use crate::wire::attribute_value::{item_to_json, parse_item};

/// DynamoDB's maximum item size, names and values included.
const MAX_ITEM_BYTES: usize = 400 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutItemInput {
    table_name: Option<String>,
    item: Option<Value>,
    return_values: Option<String>,
    condition_expression: Option<String>,
    expected: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetItemInput {
    table_name: Option<String>,
    key: Option<Value>,
    projection_expression: Option<String>,
    attributes_to_get: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteItemInput {
    table_name: Option<String>,
    key: Option<Value>,
    return_values: Option<String>,
    condition_expression: Option<String>,
    expected: Option<Value>,
}

const RETURN_VALUES: &[&str] = &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];

/// Conditions and projections come with the expression language; until then a request
/// that uses them is refused rather than silently run without them.
fn refuse_unsupported(parameters: &[(&str, bool)]) -> Result<(), ApiError> {
    match parameters.iter().find(|(_, present)| *present) {
        Some((name, _)) => Err(ApiError::validation(format!("{name} is not supported yet"))),
        None => Ok(()),
    }
}

/// Only NONE and ALL_OLD make sense for PutItem and DeleteItem.
fn wants_old_item(return_values: Option<&str>) -> Result<bool, ApiError> {
    match return_values {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(_) => Err(ApiError::validation("Return values set to invalid value")),
    }
}

fn decode_stored(stored: &[u8]) -> Result<Item, ApiError> {
    let bytes = StoredItem::codec_bytes(stored).map_err(|e| ApiError::Internal(e.to_string()))?;
    decode_item(bytes).map_err(|e| ApiError::Internal(e.to_string()))
}

fn attributes_response(old: Option<Vec<u8>>) -> Result<Value, ApiError> {
    Ok(match old {
        Some(stored) => json!({ "Attributes": item_to_json(&decode_stored(&stored)?) }),
        None => json!({}),
    })
}

fn parse_key(table: &Table, key: &Value) -> Result<crate::keys::EncodedKey, ApiError> {
    let key = parse_item(key)?;
    key_of_key_map(&table.descriptor().key_schema, &key)
}

pub async fn put_item(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: PutItemInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.item, "item");
    constraints.one_of(&input.return_values, "returnValues", RETURN_VALUES);
    constraints.finish()?;
    let (Some(table_name), Some(item)) = (&input.table_name, &input.item) else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    refuse_unsupported(&[
        ("ConditionExpression", input.condition_expression.is_some()),
        ("Expected", input.expected.is_some()),
    ])?;
    let return_old = wants_old_item(input.return_values.as_deref())?;
    let item = parse_item(item)?;
    let table = state.node.table(table_name)?;
    let key = key_of_item(&table.descriptor().key_schema, &item)?;
    let size = item_size(&item);
    if size > MAX_ITEM_BYTES {
        return Err(ApiError::validation("Item size has exceeded the maximum allowed size"));
    }
    let mut codec_bytes = Vec::with_capacity(size + 16);
    encode_item(&item, &mut codec_bytes);
    // `size` is at most MAX_ITEM_BYTES, which fits a u32.
    let stored = StoredItem::encode(size as u32, &codec_bytes);
    let old = state
        .node
        .put_item(&table, &key.partition, &key.sort, stored, return_old)
        .await?;
    attributes_response(old)
}

pub fn get_item(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: GetItemInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.key, "key");
    constraints.finish()?;
    let (Some(table_name), Some(key)) = (&input.table_name, &input.key) else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    refuse_unsupported(&[
        ("ProjectionExpression", input.projection_expression.is_some()),
        ("AttributesToGet", input.attributes_to_get.is_some()),
    ])?;
    let table = state.node.table(table_name)?;
    let key = parse_key(&table, key)?;
    match state.node.get_item(&table, &key.partition, &key.sort)? {
        Some(stored) => Ok(json!({ "Item": item_to_json(&decode_stored(&stored)?) })),
        None => Ok(json!({})),
    }
}

pub async fn delete_item(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: DeleteItemInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.key, "key");
    constraints.one_of(&input.return_values, "returnValues", RETURN_VALUES);
    constraints.finish()?;
    let (Some(table_name), Some(key)) = (&input.table_name, &input.key) else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    refuse_unsupported(&[
        ("ConditionExpression", input.condition_expression.is_some()),
        ("Expected", input.expected.is_some()),
    ])?;
    let return_old = wants_old_item(input.return_values.as_deref())?;
    let table = state.node.table(table_name)?;
    let key = parse_key(&table, key)?;
    let old = state
        .node
        .delete_item(&table, &key.partition, &key.sort, return_old)
        .await?;
    attributes_response(old)
}
