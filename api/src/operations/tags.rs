//! Tagging: TagResource, UntagResource, ListTagsOfResource, on table ARNs.

use std::collections::BTreeMap;
use std::sync::Arc;

use cirrus_partition::Table;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::ApiState;
use crate::validation::{parse_input, Constraints};

/// DynamoDB's limit of tags on one resource.
const MAX_TAGS: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagInput {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceInput {
    resource_arn: Option<String>,
    tags: Option<Vec<TagInput>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceInput {
    resource_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsInput {
    resource_arn: Option<String>,
}

/// Validates tags as DynamoDB does: keys 1–128 characters, values at most 256.
pub fn parse_tags(tags: &[TagInput]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut constraints = Constraints::new();
    for (i, tag) in tags.iter().enumerate() {
        let member = format!("tags.{}.member", i + 1);
        constraints.not_null(&tag.key, &format!("{member}.key"));
        constraints.not_null(&tag.value, &format!("{member}.value"));
        if let Some(key) = &tag.key {
            constraints.length_between(
                Some(key.chars().count()),
                &format!("'{key}'"),
                &format!("{member}.key"),
                1,
                128,
            );
        }
        if let Some(value) = &tag.value {
            constraints.length_between(
                Some(value.chars().count()),
                &format!("'{value}'"),
                &format!("{member}.value"),
                0,
                256,
            );
        }
    }
    constraints.finish()?;
    Ok(tags
        .iter()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone()?)))
        .collect())
}

/// The table an ARN names, or DynamoDB's error for a malformed or unknown ARN.
fn table_of_arn(state: &ApiState, arn: &str) -> Result<Arc<Table>, ApiError> {
    let prefix = format!(
        "arn:aws:dynamodb:{}:{}:table/",
        state.region, state.account_id
    );
    let Some(name) = arn
        .strip_prefix(&prefix)
        .filter(|n| !n.is_empty() && !n.contains('/'))
    else {
        return Err(ApiError::validation(format!(
            "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
        )));
    };
    state.node.table(name).map_err(|_| {
        ApiError::ResourceNotFound(format!(
            "Requested resource not found: ResourcArn: {arn} not found"
        ))
    })
}

fn required_arn(arn: &Option<String>) -> Result<&str, ApiError> {
    let mut constraints = Constraints::new();
    constraints.not_null(arn, "resourceArn");
    constraints.finish()?;
    arn.as_deref()
        .ok_or_else(|| ApiError::Internal("validated members missing".into()))
}

pub async fn tag_resource(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: TagResourceInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.not_null(&input.resource_arn, "resourceArn");
    constraints.not_null(&input.tags, "tags");
    constraints.finish()?;
    let arn = required_arn(&input.resource_arn)?;
    let new_tags = parse_tags(input.tags.as_deref().unwrap_or_default())?;
    let table = table_of_arn(state, arn)?;
    let mut descriptor = table.descriptor().clone();
    descriptor.tags.extend(new_tags);
    if descriptor.tags.len() > MAX_TAGS {
        return Err(ApiError::LimitExceeded(
            "The number of tags on the resource exceeds the limit of 50".into(),
        ));
    }
    state.node.update_table(descriptor).await?;
    Ok(json!({}))
}

pub async fn untag_resource(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: UntagResourceInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.not_null(&input.resource_arn, "resourceArn");
    constraints.not_null(&input.tag_keys, "tagKeys");
    constraints.finish()?;
    let arn = required_arn(&input.resource_arn)?;
    let table = table_of_arn(state, arn)?;
    let mut descriptor = table.descriptor().clone();
    for key in input.tag_keys.iter().flatten() {
        descriptor.tags.remove(key);
    }
    state.node.update_table(descriptor).await?;
    Ok(json!({}))
}

pub fn list_tags_of_resource(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: ListTagsInput = parse_input(request)?;
    let arn = required_arn(&input.resource_arn)?;
    let table = table_of_arn(state, arn)?;
    let tags: Vec<Value> = table
        .descriptor()
        .tags
        .iter()
        .map(|(key, value)| json!({ "Key": key, "Value": value }))
        .collect();
    Ok(json!({ "Tags": tags }))
}
