//! Scan, including parallel scan (Segment / TotalSegments).

use serde::Deserialize;
use serde_json::Value;

use super::paging::{BoundRead, KeyConditionInput, Page, ReadOptions};
use crate::error::ApiError;
use crate::keys::key_of_key_map;
use crate::legacy::FilterParameter;
use crate::state::ApiState;
use crate::validation::{parse_input, Constraints};
use crate::wire::attribute_value::parse_item;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScanInput {
    table_name: Option<String>,
    scan_filter: Option<Value>,
    segment: Option<i64>,
    total_segments: Option<i64>,
    #[serde(flatten)]
    read: ReadOptions,
}

pub fn scan(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: ScanInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    input.read.check(&mut constraints);
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
    let BoundRead {
        filter, projection, ..
    } = input.read.bind(
        state,
        KeyConditionInput::default(),
        (FilterParameter::ScanFilter, input.scan_filter.as_ref()),
    )?;
    let table = state.node.table(table_name)?;
    input.read.refuse_index()?;
    let schema = &table.descriptor().key_schema;
    let start_after = match &input.read.exclusive_start_key {
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
    let count_only = input.read.count_only();
    let mut page = Page::new(
        schema,
        input.read.limit,
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
