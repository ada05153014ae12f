//! UpdateTimeToLive and DescribeTimeToLive.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::ApiState;
use crate::validation::{parse_input, require, Constraints};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TimeToLiveSpecification {
    enabled: Option<bool>,
    attribute_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateTimeToLiveInput {
    table_name: Option<String>,
    time_to_live_specification: Option<TimeToLiveSpecification>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeTimeToLiveInput {
    table_name: Option<String>,
}

fn table_not_found(name: &str) -> ApiError {
    ApiError::ResourceNotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

pub async fn update_time_to_live(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: UpdateTimeToLiveInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.time_to_live_specification, "timeToLiveSpecification");
    if let Some(spec) = &input.time_to_live_specification {
        constraints.not_null(&spec.enabled, "timeToLiveSpecification.enabled");
        constraints.not_null(
            &spec.attribute_name,
            "timeToLiveSpecification.attributeName",
        );
        if let Some(name) = &spec.attribute_name {
            constraints.length_between(
                Some(name.chars().count()),
                &format!("'{name}'"),
                "timeToLiveSpecification.attributeName",
                1,
                255,
            );
        }
    }
    constraints.finish()?;
    let (Some(table_name), Some(spec)) = (&input.table_name, &input.time_to_live_specification)
    else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    let (Some(enabled), Some(attribute)) = (spec.enabled, &spec.attribute_name) else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    let table = state
        .table(table_name)
        .map_err(|_| table_not_found(table_name))?;
    let current = table.descriptor().ttl_attribute.as_deref();
    match (enabled, current) {
        (true, Some(current)) if current == attribute => {
            return Err(ApiError::validation("TimeToLive is already enabled"));
        }
        (true, Some(current)) => {
            return Err(ApiError::validation(format!(
                "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
            )));
        }
        (false, None) => {
            return Err(ApiError::validation("TimeToLive is already disabled"));
        }
        (false, Some(current)) if current != attribute => {
            return Err(ApiError::validation(format!(
                "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
            )));
        }
        _ => {}
    }
    state
        .node
        .set_time_to_live(
            &state.region,
            table_name,
            enabled.then(|| attribute.clone()),
        )
        .await?;
    Ok(json!({
        "TimeToLiveSpecification": { "Enabled": enabled, "AttributeName": attribute }
    }))
}

pub fn describe_time_to_live(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: DescribeTimeToLiveInput = parse_input(request)?;
    require(&input.table_name, "TableName")?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.finish()?;
    let table_name = input
        .table_name
        .as_deref()
        .ok_or_else(|| ApiError::Internal("validated members missing".into()))?;
    let table = state
        .table(table_name)
        .map_err(|_| table_not_found(table_name))?;
    let description = match &table.descriptor().ttl_attribute {
        Some(attribute) => json!({ "TimeToLiveStatus": "ENABLED", "AttributeName": attribute }),
        None => json!({ "TimeToLiveStatus": "DISABLED" }),
    };
    Ok(json!({ "TimeToLiveDescription": description }))
}
