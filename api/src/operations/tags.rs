//! Tagging: TagResource, UntagResource, ListTagsOfResource, on table ARNs.
//!
//! The checks come in DynamoDB's order (dynalite's tests, checked against DynamoDB): a
//! missing ARN, an ARN that is not one, the caller's authorization for the ARN (a table
//! of another account or region is not the caller's to tag), the members, the ARN's
//! shape, the tags, and only then the table.

use std::collections::BTreeMap;
use std::sync::Arc;

use cirrus_cluster::Table;
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

/// Validates tags as DynamoDB does: keys of 1–128 characters, values of at most 256,
/// both of letters, digits, white space and `+ - = . _ : /`; no key in the `aws:`
/// namespace; at most 50 tags.
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
    let tags: BTreeMap<String, String> = tags
        .iter()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone()?)))
        .collect();
    for (key, value) in &tags {
        if !key.chars().chain(value.chars()).all(allowed_in_tags) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: The tag {key}={value} has \
                 characters that are not allowed; tags may hold letters, numbers, white \
                 space and + - = . _ : /"
            )));
        }
        if key.starts_with("aws:") {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: The tag key {key} is in the \
                 aws: namespace, which is reserved for tags AWS assigns"
            )));
        }
    }
    check_tag_count(tags.len())?;
    Ok(tags)
}

fn allowed_in_tags(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "+-=._:/".contains(c)
}

fn check_tag_count(count: usize) -> Result<(), ApiError> {
    if count > MAX_TAGS {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Too many tags: tag limit is \
             {MAX_TAGS}"
        )));
    }
    Ok(())
}

/// The ARN of a tag operation, checked up to the caller's authorization: present, an
/// ARN, and not naming a table of another account or region.
fn authorized_arn<'a>(
    state: &ApiState,
    operation: &str,
    arn: &'a Option<String>,
) -> Result<&'a str, ApiError> {
    let Some(arn) = arn.as_deref() else {
        return Err(ApiError::validation("Invalid TableArn"));
    };
    if !arn.starts_with("arn:") {
        return Err(ApiError::validation(format!(
            "ARNs must start with 'arn:': {arn}"
        )));
    }
    let mut fields = arn.split(':');
    if let (Some("arn"), Some("aws"), Some("dynamodb"), Some(region), Some(account)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) {
        if region != &*state.region || account != state.account_id {
            return Err(ApiError::AccessDenied(format!(
                "User: arn:aws:iam::{}:root is not authorized to perform: \
                 dynamodb:{operation} on resource: {arn}",
                state.account_id
            )));
        }
    }
    Ok(arn)
}

/// The table name of an ARN of this account and region, or DynamoDB's error for an ARN
/// that names no table.
fn table_name_of(state: &ApiState, arn: &str) -> Result<String, ApiError> {
    let prefix = format!(
        "arn:aws:dynamodb:{}:{}:table/",
        state.region, state.account_id
    );
    arn.strip_prefix(&prefix)
        .filter(|name| name.chars().count() >= 3 && !name.contains('/'))
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            ))
        })
}

fn required(value: &Option<impl Sized>, member: &str) -> Result<(), ApiError> {
    let mut constraints = Constraints::new();
    constraints.not_null(value, member);
    constraints.finish()
}

fn not_found(arn: &str) -> ApiError {
    ApiError::ResourceNotFound(format!(
        "Requested resource not found: ResourcArn: {arn} not found"
    ))
}

fn table(
    state: &ApiState,
    name: &str,
    missing: impl FnOnce() -> ApiError,
) -> Result<Arc<Table>, ApiError> {
    state.table(name).map_err(|_| missing())
}

/// Succeeds with an empty body, as DynamoDB answers.
pub async fn tag_resource(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: TagResourceInput = parse_input(request)?;
    let arn = authorized_arn(state, "TagResource", &input.resource_arn)?;
    required(&input.tags, "tags")?;
    let name = table_name_of(state, arn)?;
    let tags = input.tags.as_deref().unwrap_or_default();
    if tags.is_empty() {
        return Err(ApiError::validation(
            "Atleast one Tag needs to be provided as Input.",
        ));
    }
    let new_tags = parse_tags(tags)?;
    // Checked first for DynamoDB's message; a table deleted since is still refused.
    table(state, &name, || not_found(arn))?;
    state
        .node
        .modify_table(&state.region, &name, |descriptor| {
            descriptor.tags.extend(new_tags);
            check_tag_count(descriptor.tags.len())
        })
        .await?;
    Ok(Vec::new())
}

/// Succeeds with an empty body, as DynamoDB answers.
pub async fn untag_resource(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: UntagResourceInput = parse_input(request)?;
    let arn = authorized_arn(state, "UntagResource", &input.resource_arn)?;
    required(&input.tag_keys, "tagKeys")?;
    let name = table_name_of(state, arn)?;
    let keys = input.tag_keys.as_deref().unwrap_or_default();
    if keys.is_empty() {
        return Err(ApiError::validation(
            "Atleast one Tag Key needs to be provided as Input.",
        ));
    }
    state
        .node
        .modify_table(&state.region, &name, |descriptor| {
            for key in keys {
                descriptor.tags.remove(key);
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(Vec::new())
}

pub fn list_tags_of_resource(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: ListTagsInput = parse_input(request)?;
    let arn = authorized_arn(state, "ListTagsOfResource", &input.resource_arn)?;
    let name = table_name_of(state, arn)?;
    let table = table(state, &name, || not_found(arn))?;
    let tags: Vec<Value> = table
        .descriptor()
        .tags
        .iter()
        .map(|(key, value)| json!({ "Key": key, "Value": value }))
        .collect();
    Ok(json!({ "Tags": tags }))
}
