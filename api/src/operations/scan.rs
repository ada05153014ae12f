//! Scan, including parallel scan (Segment / TotalSegments).

use serde::Deserialize;
use serde_json::Value;

use cirrus_cluster::{ReadTarget, ScanResume};
use cirrus_partition::failpoint;
use cirrus_partition::hashing::{partitions_of, segment_range};

use super::paging::{BoundRead, KeyConditionInput, ReadOptions};
use crate::capacity::admit_read;
use crate::consistency;
use crate::error::ApiError;
use crate::legacy::FilterParameter;
use crate::state::ApiState;
use crate::validation::{parse_input, Constraints};

/// Armed in tests, makes every item a Scan reads take seconds, as a scan of a large
/// table on a slow disk would.
const SLOW_SCAN_FAILPOINT: &str = "slow-scan-read";

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

pub fn scan(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
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
    let table = state.table(table_name)?;
    let index = input.read.index(&table)?;
    let table_keys = &table.descriptor().key_schema;
    let resume = input
        .read
        .start_key(table_keys, index)?
        .map(|start_key| ScanResume {
            key: start_key.entry_key(),
            table_partition_key: start_key.table.partition,
        });
    let (mut page, reader) =
        input
            .read
            .reading(state, &table, index, filter.as_ref(), projection.as_ref());
    admit_read(state, &table, None, index)?;
    let partitions = partitions_of(
        &segment_range(segment, total_segments),
        table.descriptor().partitions,
    );
    consistency::confirm_blocking(state, &table, input.read.strong(), partitions)?;
    state.node.scan(
        &table,
        index.map_or(ReadTarget::Table, ReadTarget::Index),
        segment,
        total_segments,
        resume.as_ref(),
        |scanned| {
            failpoint::delay_point(SLOW_SCAN_FAILPOINT);
            reader.scanned(&mut page, scanned)
        },
    )?;
    input.read.charge(&table, None, index, page)
}
