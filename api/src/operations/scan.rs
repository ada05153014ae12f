//! Scan, including parallel scan (Segment / TotalSegments).

use serde::Deserialize;
use serde_json::Value;

use super::paging::{check_limit, check_select, Page, SELECT_VALUES};
use crate::error::ApiError;
use crate::expressions::Placeholders;
use crate::keys::key_of_key_map;
use crate::legacy;
use crate::state::ApiState;
use crate::validation::{parse_input, Constraints};
use crate::wire::attribute_value::parse_item;
use cirrus_storage::expression::ExpressionKind;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScanInput {
    table_name: Option<String>,
    index_name: Option<String>,
    filter_expression: Option<String>,
    projection_expression: Option<String>,
    expression_attribute_names: Option<Value>,
    expression_attribute_values: Option<Value>,
    scan_filter: Option<Value>,
    attributes_to_get: Option<Value>,
    conditional_operator: Option<String>,
    select: Option<String>,
    limit: Option<i64>,
    exclusive_start_key: Option<Value>,
    segment: Option<i64>,
    total_segments: Option<i64>,
}

pub fn scan(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: ScanInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.one_of(&input.select, "select", SELECT_VALUES);
    constraints.one_of(
        &input.conditional_operator,
        "conditionalOperator",
        legacy::messages::CONDITIONAL_OPERATORS,
    );
    check_limit(&mut constraints, input.limit);
    constraints.at_least(input.segment, "segment", 0);
    constraints.at_most(input.segment, "segment", 999_999);
    constraints.at_least(input.total_segments, "totalSegments", 1);
    constraints.at_most(input.total_segments, "totalSegments", 1_000_000);
    constraints.finish()?;
    let Some(table_name) = &input.table_name else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    let (segment, total_segments) = match (input.segment, input.total_segments) {
        (None, None) => (0, 1),
        (Some(_), None) => {
            return Err(ApiError::validation(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::validation(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
            ))
        }
        (Some(segment), Some(total)) if segment >= total => {
            return Err(ApiError::validation(format!(
                "The Segment parameter is zero-based and must be less than parameter TotalSegments: \
                 Segment: {segment} is not less than TotalSegments: {total}"
            )))
        }
        // Both were range-checked above, so they fit a u32.
        (Some(segment), Some(total)) => (segment as u32, total as u32),
    };
    legacy::reject_mixed(
        &[
            ("AttributesToGet", input.attributes_to_get.is_some()),
            ("ScanFilter", input.scan_filter.is_some()),
            ("ConditionalOperator", input.conditional_operator.is_some()),
        ],
        &[
            (
                "ProjectionExpression",
                input.projection_expression.is_some(),
            ),
            ("FilterExpression", input.filter_expression.is_some()),
        ],
    )?;
    let has_projection = input.projection_expression.is_some() || input.attributes_to_get.is_some();
    check_select(
        input.select.as_deref(),
        has_projection,
        "ProjectionExpression",
    )?;
    let placeholders = Placeholders::parse(
        input.expression_attribute_names.as_ref(),
        input.expression_attribute_values.as_ref(),
        input.filter_expression.is_some() || input.projection_expression.is_some(),
    )?;
    let mut binder = placeholders.binder(&state.expressions);
    let mut filter =
        binder.condition(input.filter_expression.as_deref(), ExpressionKind::Filter)?;
    let mut projection = binder.projection(input.projection_expression.as_deref())?;
    binder.finish()?;
    if let Some(scan_filter) = &input.scan_filter {
        filter = legacy::filter_to_condition(scan_filter, input.conditional_operator.as_deref())?;
    }
    if let Some(names) = &input.attributes_to_get {
        projection = Some(legacy::attributes_to_get_to_projection(names)?);
    }
    let table = state.node.table(table_name)?;
    if let Some(index) = &input.index_name {
        return Err(ApiError::validation(format!(
            "The table does not have the specified index: {index}"
        )));
    }
    let schema = &table.descriptor().key_schema;
    let start_after = match &input.exclusive_start_key {
        Some(key) => {
            let key = parse_item(key)?;
            Some(key_of_key_map(schema, &key).map_err(|_| {
                ApiError::validation(
                    "The provided starting key is invalid: The provided key element does not match the schema",
                )
            })?)
        }
        None => None,
    };
    let count_only = input.select.as_deref() == Some("COUNT");
    let mut page = Page::new(
        schema,
        input.limit,
        filter.as_ref(),
        projection.as_ref(),
        count_only,
    );
    state.node.scan(
        &table,
        segment,
        total_segments,
        start_after
            .as_ref()
            .map(|k| (k.partition.as_slice(), k.sort.as_slice())),
        |stored| page.visit(stored),
    )?;
    Ok(page.response())
}
