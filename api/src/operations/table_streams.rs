//! StreamSpecification on CreateTable and UpdateTable, and the stream members of
//! DescribeTable.

use cirrus_partition::{StreamDescriptor, TableDescriptor, ViewType};
use cirrus_streams::names;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::validation::Constraints;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecificationInput {
    stream_enabled: Option<bool>,
    stream_view_type: Option<String>,
}

const VIEW_TYPES: &[&str] = &["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"];

pub fn view_type_name(view: ViewType) -> &'static str {
    match view {
        ViewType::KeysOnly => "KEYS_ONLY",
        ViewType::NewImage => "NEW_IMAGE",
        ViewType::OldImage => "OLD_IMAGE",
        ViewType::NewAndOldImages => "NEW_AND_OLD_IMAGES",
    }
}

fn view_type(name: &str) -> Option<ViewType> {
    match name {
        "KEYS_ONLY" => Some(ViewType::KeysOnly),
        "NEW_IMAGE" => Some(ViewType::NewImage),
        "OLD_IMAGE" => Some(ViewType::OldImage),
        "NEW_AND_OLD_IMAGES" => Some(ViewType::NewAndOldImages),
        _ => None,
    }
}

impl StreamSpecificationInput {
    pub fn check(&self, constraints: &mut Constraints) {
        constraints.not_null(&self.stream_enabled, "streamSpecification.streamEnabled");
        constraints.one_of(
            &self.stream_view_type,
            "streamSpecification.streamViewType",
            VIEW_TYPES,
        );
    }

    /// The view type of a stream being enabled, or `None` when disabling; `creating`
    /// picks DynamoDB's CreateTable wording over its UpdateTable wording.
    fn requested(&self, creating: bool) -> Result<Option<ViewType>, ApiError> {
        let invalid = |create: &str, update: &str| {
            ApiError::validation(format!(
                "One or more parameter values were invalid: {}",
                if creating { create } else { update }
            ))
        };
        match (self.stream_enabled, self.stream_view_type.as_deref()) {
            (Some(true), Some(name)) => Ok(view_type(name)),
            (Some(true), None) => Err(invalid(
                "Table is being created with a stream enabled, UpdateViewType is required",
                "If stream is being enabled then UpdateViewType is required",
            )),
            (_, Some(_)) => Err(invalid(
                "Table is being created with a stream disabled, UpdateViewType should not be specified",
                "If stream is being disabled, then UpdateViewType must not be specified",
            )),
            _ => Ok(None),
        }
    }
}

fn new_stream(stream_id: u32, view: ViewType, now: f64) -> StreamDescriptor {
    StreamDescriptor {
        stream_id,
        label: names::label(now),
        view,
        created_at: now,
        disabled_at: None,
    }
}

/// The streams of a table being created.
pub fn initial_streams(
    spec: Option<&StreamSpecificationInput>,
    now: f64,
) -> Result<Vec<StreamDescriptor>, ApiError> {
    Ok(match spec.map(|spec| spec.requested(true)).transpose()? {
        Some(Some(view)) => vec![new_stream(1, view, now)],
        _ => Vec::new(),
    })
}

/// Enables a new stream or disables the current one.
pub fn update_streams(
    descriptor: &mut TableDescriptor,
    spec: &StreamSpecificationInput,
    now: f64,
) -> Result<(), ApiError> {
    match (
        spec.requested(false)?,
        descriptor.enabled_stream().is_some(),
    ) {
        (Some(_), true) => Err(ApiError::validation(format!(
            "Table already has an enabled stream: TableName: {}",
            descriptor.name
        ))),
        (None, false) => Err(ApiError::validation(format!(
            "Table has no stream to disable: TableName: {}",
            descriptor.name
        ))),
        (Some(view), false) => {
            let next_id = descriptor.streams.last().map_or(1, |s| s.stream_id + 1);
            // Labels are millisecond timestamps and must differ between streams.
            let created = descriptor
                .streams
                .last()
                .map_or(now, |s| now.max(s.created_at + 0.001));
            descriptor.streams.push(new_stream(next_id, view, created));
            Ok(())
        }
        (None, true) => {
            if let Some(stream) = descriptor.streams.last_mut() {
                stream.disabled_at = Some(now);
            }
            Ok(())
        }
    }
}

/// DescribeTable's StreamSpecification, LatestStreamLabel and LatestStreamArn.
pub fn describe_streams(descriptor: &TableDescriptor, table_arn: &str, description: &mut Value) {
    if let Some(stream) = descriptor.enabled_stream() {
        description["StreamSpecification"] = json!({
            "StreamEnabled": true,
            "StreamViewType": view_type_name(stream.view),
        });
    }
    if let Some(latest) = descriptor.streams.last() {
        description["LatestStreamLabel"] = json!(latest.label);
        description["LatestStreamArn"] = json!(names::stream_arn(table_arn, &latest.label));
    }
}
