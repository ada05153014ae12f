//! Query: one partition-key value, a sort-key range, read as one RocksDB range scan.

use cirrus_partition::{IndexKind, ReadTarget};
use cirrus_partition::{KeyAttribute, KeySchema};
use cirrus_storage::engine::{prefix_end, prefix_successor};
use cirrus_storage::expression::{Comparator, Condition, Operand, PathElement};
use cirrus_storage::key::{encode_key_prefix, encode_key_value};
use cirrus_storage::AttributeValue;
use serde::Deserialize;
use serde_json::Value;

use super::paging::{condition_paths, BoundRead, KeyConditionInput, ReadOptions};
use crate::capacity::admit_read;
use crate::error::ApiError;
use crate::legacy::FilterParameter;
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

/// The sort-key part of a key condition.
enum SortCondition {
    Compare(Comparator, AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

fn key_condition_error(message: &str) -> ApiError {
    ApiError::validation(message.to_string())
}

fn attribute_of(operand: &Operand) -> Option<&str> {
    match operand {
        Operand::Path(path) => match path.0.as_slice() {
            [PathElement::Attribute(name)] => Some(name),
            _ => None,
        },
        _ => None,
    }
}

fn value_of(operand: &Operand) -> Option<&AttributeValue> {
    match operand {
        Operand::Value(value) => Some(value),
        _ => None,
    }
}

fn flip(comparator: Comparator) -> Comparator {
    match comparator {
        Comparator::Lt => Comparator::Gt,
        Comparator::Le => Comparator::Ge,
        Comparator::Gt => Comparator::Lt,
        Comparator::Ge => Comparator::Le,
        other => other,
    }
}

/// Splits a bound key condition into the partition-key value and the sort condition.
fn split_key_condition(
    condition: &Condition,
    schema: &KeySchema,
) -> Result<(AttributeValue, Option<SortCondition>), ApiError> {
    let mut parts = Vec::new();
    let mut pending = vec![condition];
    while let Some(c) = pending.pop() {
        match c {
            Condition::And(a, b) => {
                pending.push(b);
                pending.push(a);
            }
            other => parts.push(other),
        }
    }
    if parts.len() > 2 {
        return Err(key_condition_error(
            "KeyConditionExpressions must only contain one condition per key",
        ));
    }
    let mut partition_value = None;
    let mut sort_condition = None;
    let mut names_other_attribute = false;
    let condition_count = parts.len();
    for part in parts {
        let (name, condition) = match part {
            Condition::Compare(left, comparator, right) => {
                match (attribute_of(left), value_of(right)) {
                    (Some(name), Some(value)) => {
                        (name, SortCondition::Compare(*comparator, value.clone()))
                    }
                    _ => match (value_of(left), attribute_of(right)) {
                        (Some(value), Some(name)) => (
                            name,
                            SortCondition::Compare(flip(*comparator), value.clone()),
                        ),
                        _ => return Err(key_condition_error("Query key condition not supported")),
                    },
                }
            }
            Condition::Between(subject, low, high) => {
                match (attribute_of(subject), value_of(low), value_of(high)) {
                    (Some(name), Some(low), Some(high)) => {
                        (name, SortCondition::Between(low.clone(), high.clone()))
                    }
                    _ => return Err(key_condition_error("Query key condition not supported")),
                }
            }
            Condition::BeginsWith(subject, prefix) => {
                match (attribute_of(subject), value_of(prefix)) {
                    (Some(name), Some(prefix)) => (name, SortCondition::BeginsWith(prefix.clone())),
                    _ => return Err(key_condition_error("Query key condition not supported")),
                }
            }
            Condition::Or(..) => {
                return Err(key_condition_error(
                    "Invalid operator used in KeyConditionExpression: OR",
                ))
            }
            Condition::Not(..) => {
                return Err(key_condition_error(
                    "Invalid operator used in KeyConditionExpression: NOT",
                ))
            }
            Condition::In(..) => {
                return Err(key_condition_error(
                    "Invalid operator used in KeyConditionExpression: IN",
                ))
            }
            Condition::AttributeExists(_) => {
                return Err(key_condition_error(
                    "Invalid operator used in KeyConditionExpression: attribute_exists",
                ))
            }
            Condition::AttributeNotExists(_) => {
                return Err(key_condition_error(
                    "Invalid operator used in KeyConditionExpression: attribute_not_exists",
                ))
            }
            Condition::AttributeType(..) => {
                return Err(key_condition_error(
                    "Invalid operator used in KeyConditionExpression: attribute_type",
                ))
            }
            Condition::Contains(..) => {
                return Err(key_condition_error(
                    "Invalid operator used in KeyConditionExpression: contains",
                ))
            }
            Condition::And(..) => {
                return Err(key_condition_error("Query key condition not supported"))
            }
        };
        if name == schema.partition_key.name {
            match condition {
                SortCondition::Compare(Comparator::Eq, value) if partition_value.is_none() => {
                    check_type(&schema.partition_key, &value)?;
                    partition_value = Some(value);
                }
                SortCondition::Compare(Comparator::Eq, _) => {
                    return Err(key_condition_error(
                        "KeyConditionExpressions must only contain one condition per key",
                    ))
                }
                _ => return Err(key_condition_error("Query key condition not supported")),
            }
        } else if let Some(sort) = schema.sort_key.as_ref().filter(|s| s.name == name) {
            if sort_condition.is_some() {
                return Err(key_condition_error(
                    "KeyConditionExpressions must only contain one condition per key",
                ));
            }
            check_sort_condition(sort, &condition)?;
            sort_condition = Some(condition);
        } else {
            names_other_attribute = true;
        }
    }
    // DynamoDB reports a condition on a non-key attribute as a missing key condition,
    // unless there are more conditions than keys.
    if names_other_attribute {
        if condition_count > schema.attributes().count() {
            return Err(key_condition_error("Query key condition not supported"));
        }
        let missed = match (&partition_value, &schema.sort_key) {
            (None, _) | (Some(_), None) => &schema.partition_key.name,
            (Some(_), Some(sort)) => &sort.name,
        };
        return Err(ApiError::validation(format!(
            "Query condition missed key schema element: {missed}"
        )));
    }
    let Some(partition_value) = partition_value else {
        return Err(ApiError::validation(format!(
            "Query condition missed key schema element: {}",
            schema.partition_key.name
        )));
    };
    Ok((partition_value, sort_condition))
}

fn check_type(attribute: &KeyAttribute, value: &AttributeValue) -> Result<(), ApiError> {
    if value.scalar_type() != Some(attribute.ty) {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ));
    }
    Ok(())
}

fn check_sort_condition(sort: &KeyAttribute, condition: &SortCondition) -> Result<(), ApiError> {
    match condition {
        SortCondition::Compare(Comparator::Ne, _) => Err(key_condition_error(
            "Unsupported operator on KeyCondition: <>",
        )),
        SortCondition::Compare(_, value) => check_type(sort, value),
        SortCondition::Between(low, high) => {
            check_type(sort, low)?;
            check_type(sort, high)
        }
        SortCondition::BeginsWith(prefix) => {
            if sort.ty == cirrus_storage::ScalarType::N {
                return Err(key_condition_error(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; \
                     operator or function: begins_with, operand type: N",
                ));
            }
            check_type(sort, prefix)
        }
    }
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

fn encoded(value: &AttributeValue) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    encode_key_value(value, &mut out).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(out)
}

/// `[start, end)` of the keys after the partition key that the sort condition admits
/// (`None`: no upper bound). An index entry's key goes on with the table key after the
/// index sort key, so "after `k`" means after every key that starts with `k`.
fn sort_range(condition: Option<&SortCondition>) -> Result<(Vec<u8>, Option<Vec<u8>>), ApiError> {
    let after = |key: Vec<u8>| prefix_end(&key);
    Ok(match condition {
        None => (Vec::new(), None),
        Some(SortCondition::Compare(comparator, value)) => {
            let key = encoded(value)?;
            match comparator {
                Comparator::Eq => (key.clone(), Some(after(key))),
                Comparator::Lt => (Vec::new(), Some(key)),
                Comparator::Le => (Vec::new(), Some(after(key))),
                Comparator::Gt => (after(key), None),
                Comparator::Ge => (key, None),
                Comparator::Ne => {
                    return Err(ApiError::validation(
                        "Unsupported operator on KeyCondition: <>",
                    ))
                }
            }
        }
        Some(SortCondition::Between(low, high)) => (encoded(low)?, Some(after(encoded(high)?))),
        Some(SortCondition::BeginsWith(prefix)) => {
            let mut start = Vec::new();
            encode_key_prefix(prefix, &mut start).map_err(|e| ApiError::Internal(e.to_string()))?;
            // An all-0xFF prefix has no successor: the range then runs to the end of
            // the partition-key value.
            let end = prefix_successor(&start);
            (start, end)
        }
    })
}

pub fn query(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: QueryInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.item_table_name(&input.table_name, "tableName");
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
    let table = state.node.table(table_name)?;
    let index = input.read.index(&table)?;
    let table_keys = &table.descriptor().key_schema;
    let schema = index.map_or(table_keys, |index| &index.spec.key_schema);
    let (partition_value, sort_condition) = split_key_condition(&key_condition, schema)?;
    if let Some(filter) = &filter {
        let parameter = if input.query_filter.is_some() {
            "QueryFilter"
        } else {
            "Filter Expression"
        };
        check_filter_avoids_keys(filter, schema, parameter)?;
    }
    let partition_key = encoded(&partition_value)?;
    let (mut start, mut end) = sort_range(sort_condition.as_ref())?;
    let forward = input.scan_index_forward.unwrap_or(true);
    if let Some(start_key) = input.read.start_key(table_keys, index)? {
        let queried = start_key.index.as_ref().unwrap_or(&start_key.table);
        if queried.partition != partition_key {
            return Err(ApiError::validation(
                "The provided starting key is invalid: Query condition missed key schema element",
            ));
        }
        // The resume point below the partition key: the sort key, then for an index
        // the table key.
        let resume = start_key.entry_key()[queried.partition.len()..].to_vec();
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
    let partition = match index {
        Some(index) if index.kind == IndexKind::Global => None,
        _ => Some(table.locate(&partition_key, b"")?.partition),
    };
    admit_read(&table, partition.as_slice(), index)?;
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
    input.read.charge(&table, partition, index, page)
}
