//! Query: one partition-key value, a sort-key range, read as one RocksDB range scan.

use cirrus_cluster::ReadTarget;
use cirrus_partition::IndexKind;
use cirrus_partition::KeySchema;
use cirrus_storage::expression::{Condition, PathElement};
use serde::Deserialize;
use serde_json::Value;

use super::key_condition::{encoded_partition, most_conditions, sort_range, split_key_condition};
use super::paging::{condition_paths, BoundRead, KeyConditionInput, ReadOptions};
use crate::capacity::admit_read;
use crate::consistency;
use crate::error::ApiError;
use crate::legacy::{self, FilterParameter};
use crate::state::ApiState;
use crate::validation::{parse_input, Constraints};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryInput {
    table_name: Option<String>,
    key_condition_expression: Option<String>,
    key_conditions: Option<Value>,
    query_filter: Option<Value>,
    scan_index_forward: Option<bool>,
    #[serde(flatten)]
    read: ReadOptions,
}

/// A Query filter may not name a key attribute: the key condition already decides those.
fn check_filter_avoids_keys(
    filter: &Condition,
    schema: &KeySchema,
    parameter: &str,
) -> Result<(), ApiError> {
    let mut paths = Vec::new();
    condition_paths(filter, &mut paths);
    for path in paths {
        if let Some(PathElement::Attribute(name)) = path.0.first() {
            if schema.is_key_attribute(name) {
                return Err(ApiError::validation(format!(
                    "{parameter} can only contain non-primary key attributes: Primary key attribute: {name}"
                )));
            }
        }
    }
    Ok(())
}

pub fn query(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: QueryInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    input.read.check(&mut constraints);
    constraints.finish()?;
    let Some(table_name) = &input.table_name else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    let key_condition = KeyConditionInput {
        expression: input.key_condition_expression.as_deref(),
        legacy: input.key_conditions.as_ref(),
    };
    let BoundRead {
        key_condition,
        filter,
        projection,
    } = input.read.bind(
        state,
        key_condition,
        (FilterParameter::QueryFilter, input.query_filter.as_ref()),
    )?;
    let Some(key_condition) = key_condition else {
        return Err(ApiError::validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        ));
    };
    let table = state.table(table_name)?;
    let index = input.read.index(&table)?;
    let table_keys = &table.descriptor().key_schema;
    let schema = index.map_or(table_keys, |index| &index.spec.key_schema);
    if let Some(conditions) = input.key_conditions.as_ref().and_then(Value::as_object) {
        if conditions.len() > most_conditions(schema) {
            return Err(ApiError::validation(legacy::messages::KEY_CONDITION_COUNT));
        }
    }
    let key_condition = split_key_condition(&key_condition, schema)?;
    if let Some(filter) = &filter {
        let parameter = if input.query_filter.is_some() {
            "QueryFilter"
        } else {
            "Filter Expression"
        };
        check_filter_avoids_keys(filter, schema, parameter)?;
    }
    let partition_key = encoded_partition(&key_condition.partition)?;
    let (mut start, mut end) = sort_range(&key_condition.sort_prefix, key_condition.sort.as_ref())?;
    let forward = input.scan_index_forward.unwrap_or(true);
    if let Some(start_key) = input.read.start_key(table_keys, index)? {
        let queried = start_key.index.as_ref().unwrap_or(&start_key.table);
        if queried.partition != partition_key {
            return Err(ApiError::validation(
                "The provided starting key is invalid: Query condition missed key schema element",
            ));
        }
        let resume = start_key.key_below_partition();
        if forward {
            let mut after = resume;
            after.push(0);
            start = start.max(after);
        } else {
            end = Some(match end {
                Some(end) => end.min(resume),
                None => resume,
            });
        }
    }
    let (mut page, reader) =
        input
            .read
            .reading(state, &table, index, filter.as_ref(), projection.as_ref());
    let target = index.map_or(ReadTarget::Table, ReadTarget::Index);
    // A global index's entries live in every partition; everything else of one
    // partition key in one. (Global indexes refuse strongly consistent reads.)
    let location = match index {
        Some(index) if index.kind == IndexKind::Global => None,
        _ => Some(table.locate(&partition_key, b"")?),
    };
    let hash = location.as_ref().map(|location| location.hash);
    admit_read(state, &table, hash, index)?;
    consistency::confirm_blocking(
        state,
        &table,
        input.read.strong(),
        location.map(|location| location.partition),
    )?;
    if end.as_ref().is_none_or(|end| start < *end) {
        state.node.query(
            &table,
            target,
            &partition_key,
            &start,
            end.as_deref(),
            !forward,
            |stored| reader.visit(&mut page, stored),
        )?;
    }
    input.read.charge(&table, hash, index, page)
}
