//! Table operations: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable.

use std::collections::BTreeMap;

use cirrus_partition::{BillingMode, KeyAttribute, KeySchema, Table, TableDescriptor, Throughput};
use cirrus_storage::ScalarType;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::ApiState;
use crate::validation::{now_epoch_seconds, parse_input, Constraints};

use super::tags::{parse_tags, TagInput};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeySchemaElement {
    attribute_name: Option<String>,
    key_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeDefinition {
    attribute_name: Option<String>,
    attribute_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProvisionedThroughputInput {
    read_capacity_units: Option<i64>,
    write_capacity_units: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateTableInput {
    table_name: Option<String>,
    key_schema: Option<Vec<KeySchemaElement>>,
    attribute_definitions: Option<Vec<AttributeDefinition>>,
    billing_mode: Option<String>,
    provisioned_throughput: Option<ProvisionedThroughputInput>,
    tags: Option<Vec<TagInput>>,
    global_secondary_indexes: Option<Value>,
    local_secondary_indexes: Option<Value>,
    stream_specification: Option<StreamSpecificationInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamSpecificationInput {
    stream_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableNameInput {
    table_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTablesInput {
    exclusive_start_table_name: Option<String>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateTableInput {
    table_name: Option<String>,
    billing_mode: Option<String>,
    provisioned_throughput: Option<ProvisionedThroughputInput>,
    global_secondary_index_updates: Option<Value>,
    stream_specification: Option<StreamSpecificationInput>,
}

const BILLING_MODES: &[&str] = &["PROVISIONED", "PAY_PER_REQUEST"];

fn check_throughput(
    constraints: &mut Constraints,
    throughput: &Option<ProvisionedThroughputInput>,
) {
    if let Some(t) = throughput {
        constraints.not_null(
            &t.write_capacity_units,
            "provisionedThroughput.writeCapacityUnits",
        );
        constraints.at_least(
            t.write_capacity_units,
            "provisionedThroughput.writeCapacityUnits",
            1,
        );
        constraints.not_null(
            &t.read_capacity_units,
            "provisionedThroughput.readCapacityUnits",
        );
        constraints.at_least(
            t.read_capacity_units,
            "provisionedThroughput.readCapacityUnits",
            1,
        );
    }
}

fn billing_mode_of(name: Option<&str>) -> Option<BillingMode> {
    match name {
        Some("PAY_PER_REQUEST") => Some(BillingMode::PayPerRequest),
        Some("PROVISIONED") => Some(BillingMode::Provisioned),
        _ => None,
    }
}

fn scalar_type(name: &str) -> Option<ScalarType> {
    match name {
        "S" => Some(ScalarType::S),
        "N" => Some(ScalarType::N),
        "B" => Some(ScalarType::B),
        _ => None,
    }
}

/// Streams and secondary indexes come with their own issues; refuse them plainly.
fn refuse_unsupported(name: &str, present: bool) -> Result<(), ApiError> {
    if present {
        return Err(ApiError::validation(format!("{name} is not supported yet")));
    }
    Ok(())
}

/// Builds the key schema from validated elements, with DynamoDB's checks.
fn key_schema(
    elements: &[KeySchemaElement],
    definitions: &[AttributeDefinition],
) -> Result<(KeySchema, Vec<KeyAttribute>), ApiError> {
    let definitions: Vec<KeyAttribute> = definitions
        .iter()
        .filter_map(|d| {
            Some(KeyAttribute {
                name: d.attribute_name.clone()?,
                ty: scalar_type(d.attribute_type.as_deref()?)?,
            })
        })
        .collect();
    let key_names: Vec<&str> = elements
        .iter()
        .filter_map(|e| e.attribute_name.as_deref())
        .collect();
    if elements.first().and_then(|e| e.key_type.as_deref()) != Some("HASH") {
        return Err(ApiError::validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if elements.len() == 2 {
        if elements[1].key_type.as_deref() != Some("RANGE") {
            return Err(ApiError::validation(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
            ));
        }
        if key_names.first() == key_names.get(1) {
            return Err(ApiError::validation(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ));
        }
    }
    let find = |name: &str| definitions.iter().find(|d| d.name == name).cloned();
    if key_names.iter().any(|name| find(name).is_none()) {
        let defined: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in \
             AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            key_names.join(", "),
            defined.join(", ")
        )));
    }
    if definitions.len() != key_names.len() {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not \
             exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let mut keys = key_names.iter().filter_map(|name| find(name));
    let partition_key = keys
        .next()
        .ok_or_else(|| ApiError::Internal("validated key schema is empty".into()))?;
    let schema = KeySchema {
        partition_key,
        sort_key: keys.next(),
    };
    Ok((schema, definitions))
}

pub async fn create_table(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: CreateTableInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.not_null(&input.attribute_definitions, "attributeDefinitions");
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.key_schema, "keySchema");
    if let Some(elements) = &input.key_schema {
        constraints.length_between(Some(elements.len()), "'[...]'", "keySchema", 1, 2);
        for (i, element) in elements.iter().enumerate() {
            let member = format!("keySchema.{}.member", i + 1);
            constraints.not_null(&element.key_type, &format!("{member}.keyType"));
            constraints.one_of(
                &element.key_type,
                &format!("{member}.keyType"),
                &["HASH", "RANGE"],
            );
            constraints.not_null(&element.attribute_name, &format!("{member}.attributeName"));
        }
    }
    if let Some(definitions) = &input.attribute_definitions {
        for (i, definition) in definitions.iter().enumerate() {
            let member = format!("attributeDefinitions.{}.member", i + 1);
            constraints.not_null(
                &definition.attribute_type,
                &format!("{member}.attributeType"),
            );
            constraints.one_of(
                &definition.attribute_type,
                &format!("{member}.attributeType"),
                &["B", "N", "S"],
            );
            constraints.not_null(
                &definition.attribute_name,
                &format!("{member}.attributeName"),
            );
        }
    }
    constraints.one_of(&input.billing_mode, "billingMode", BILLING_MODES);
    check_throughput(&mut constraints, &input.provisioned_throughput);
    constraints.finish()?;
    let (Some(table_name), Some(elements), Some(definitions)) = (
        &input.table_name,
        &input.key_schema,
        &input.attribute_definitions,
    ) else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    refuse_unsupported(
        "GlobalSecondaryIndexes",
        input.global_secondary_indexes.is_some(),
    )?;
    refuse_unsupported(
        "LocalSecondaryIndexes",
        input.local_secondary_indexes.is_some(),
    )?;
    refuse_unsupported(
        "StreamSpecification",
        input
            .stream_specification
            .as_ref()
            .and_then(|s| s.stream_enabled)
            == Some(true),
    )?;
    let billing_mode =
        billing_mode_of(input.billing_mode.as_deref()).unwrap_or(BillingMode::Provisioned);
    let throughput = match (billing_mode, &input.provisioned_throughput) {
        (BillingMode::Provisioned, Some(t)) => Throughput {
            read_capacity_units: t.read_capacity_units.unwrap_or(0).unsigned_abs(),
            write_capacity_units: t.write_capacity_units.unwrap_or(0).unsigned_abs(),
            ..Default::default()
        },
        (BillingMode::Provisioned, None) => return Err(ApiError::validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits \
                 must both be specified when BillingMode is PROVISIONED",
        )),
        (BillingMode::PayPerRequest, Some(_)) => {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor \
                 WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ))
        }
        (BillingMode::PayPerRequest, None) => Throughput::default(),
    };
    let (key_schema, attribute_definitions) = key_schema(elements, definitions)?;
    let tags = match &input.tags {
        Some(tags) => parse_tags(tags)?,
        None => BTreeMap::new(),
    };
    let now = now_epoch_seconds();
    let descriptor = TableDescriptor {
        name: table_name.clone(),
        table_id: 0,
        uuid: uuid::Uuid::new_v4().to_string(),
        key_schema,
        attribute_definitions,
        billing_mode,
        throughput,
        pay_per_request_since: (billing_mode == BillingMode::PayPerRequest).then_some(now),
        created_at: now,
        partitions: 0,
        tags,
    };
    let table = state.node.create_table(descriptor).await?;
    Ok(json!({ "TableDescription": table_description(state, &table, "CREATING") }))
}

fn key_schema_json(schema: &KeySchema) -> Value {
    let mut elements =
        vec![json!({ "AttributeName": schema.partition_key.name, "KeyType": "HASH" })];
    if let Some(sort) = &schema.sort_key {
        elements.push(json!({ "AttributeName": sort.name, "KeyType": "RANGE" }));
    }
    Value::Array(elements)
}

/// DynamoDB's TableDescription of a table.
pub fn table_description(state: &ApiState, table: &Table, status: &str) -> Value {
    let d = table.descriptor();
    let definitions: Vec<Value> = d
        .attribute_definitions
        .iter()
        .map(|a| json!({ "AttributeName": a.name, "AttributeType": a.ty.name() }))
        .collect();
    let mut throughput = json!({
        "NumberOfDecreasesToday": d.throughput.decreases_today,
        "ReadCapacityUnits": d.throughput.read_capacity_units,
        "WriteCapacityUnits": d.throughput.write_capacity_units,
    });
    if let Some(at) = d.throughput.last_increase {
        throughput["LastIncreaseDateTime"] = json!(at);
    }
    if let Some(at) = d.throughput.last_decrease {
        throughput["LastDecreaseDateTime"] = json!(at);
    }
    let mut billing = json!({
        "BillingMode": match d.billing_mode {
            BillingMode::Provisioned => "PROVISIONED",
            BillingMode::PayPerRequest => "PAY_PER_REQUEST",
        }
    });
    if let Some(at) = d.pay_per_request_since {
        billing["LastUpdateToPayPerRequestDateTime"] = json!(at);
    }
    json!({
        "AttributeDefinitions": definitions,
        "TableName": d.name,
        "KeySchema": key_schema_json(&d.key_schema),
        "TableStatus": status,
        "CreationDateTime": d.created_at,
        "ProvisionedThroughput": throughput,
        "TableSizeBytes": table.size_bytes().max(0),
        "ItemCount": table.item_count().max(0),
        "TableArn": state.table_arn(&d.name),
        "TableId": d.uuid,
        "BillingModeSummary": billing,
        "DeletionProtectionEnabled": false,
    })
}

fn table_not_found(name: &str) -> ApiError {
    ApiError::ResourceNotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

fn required_table_name(request: Value) -> Result<String, ApiError> {
    let input: TableNameInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.finish()?;
    input
        .table_name
        .ok_or_else(|| ApiError::Internal("validated members missing".into()))
}

pub fn describe_table(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let name = required_table_name(request)?;
    let table = state
        .node
        .table(&name)
        .map_err(|_| table_not_found(&name))?;
    Ok(json!({ "Table": table_description(state, &table, "ACTIVE") }))
}

pub async fn delete_table(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let name = required_table_name(request)?;
    let table = state
        .node
        .table(&name)
        .map_err(|_| table_not_found(&name))?;
    let description = table_description(state, &table, "DELETING");
    state.node.delete_table(&name).await.map_err(|e| match e {
        cirrus_partition::PartitionError::TableNotFound(_) => table_not_found(&name),
        other => other.into(),
    })?;
    Ok(json!({ "TableDescription": description }))
}

pub fn list_tables(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: ListTablesInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    if input.exclusive_start_table_name.is_some() {
        constraints.table_name(&input.exclusive_start_table_name, "exclusiveStartTableName");
    }
    constraints.at_least(input.limit, "limit", 1);
    constraints.at_most(input.limit, "limit", 100);
    constraints.finish()?;
    let limit = input.limit.map_or(100, |l| l.clamp(1, 100) as usize);
    let names: Vec<String> = state
        .node
        .table_names()
        .into_iter()
        .filter(|name| {
            input
                .exclusive_start_table_name
                .as_ref()
                .is_none_or(|start| name > start)
        })
        .collect();
    let page: Vec<&String> = names.iter().take(limit).collect();
    let mut response = json!({ "TableNames": page });
    if names.len() > limit {
        if let Some(last) = page.last() {
            response["LastEvaluatedTableName"] = json!(last);
        }
    }
    Ok(response)
}

const DAY_SECONDS: f64 = 86_400.0;

pub async fn update_table(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: UpdateTableInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.one_of(&input.billing_mode, "billingMode", BILLING_MODES);
    check_throughput(&mut constraints, &input.provisioned_throughput);
    constraints.finish()?;
    let Some(name) = &input.table_name else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    refuse_unsupported(
        "GlobalSecondaryIndexUpdates",
        input.global_secondary_index_updates.is_some(),
    )?;
    refuse_unsupported("StreamSpecification", input.stream_specification.is_some())?;
    if input.billing_mode.is_none() && input.provisioned_throughput.is_none() {
        return Err(ApiError::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, \
             GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    let table = state.node.table(name).map_err(|_| table_not_found(name))?;
    let mut descriptor = table.descriptor().clone();
    let now = now_epoch_seconds();
    let mode = billing_mode_of(input.billing_mode.as_deref()).unwrap_or(descriptor.billing_mode);
    match (mode, &input.provisioned_throughput) {
        (BillingMode::PayPerRequest, Some(_)) => {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor \
                 WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ))
        }
        (BillingMode::PayPerRequest, None) => {
            if descriptor.billing_mode != BillingMode::PayPerRequest {
                descriptor.pay_per_request_since = Some(now);
            }
            descriptor.throughput.read_capacity_units = 0;
            descriptor.throughput.write_capacity_units = 0;
        }
        (BillingMode::Provisioned, None) => return Err(ApiError::validation(
            "One or more parameter values were invalid: ProvisionedThroughput must be specified \
                 when BillingMode is PROVISIONED",
        )),
        (BillingMode::Provisioned, Some(requested)) => {
            let read = requested.read_capacity_units.unwrap_or(0).unsigned_abs();
            let write = requested.write_capacity_units.unwrap_or(0).unsigned_abs();
            let current = &mut descriptor.throughput;
            if descriptor.billing_mode == BillingMode::Provisioned
                && read == current.read_capacity_units
                && write == current.write_capacity_units
            {
                return Err(ApiError::validation(format!(
                    "The provisioned throughput for the table will not change. The requested value equals \
                     the current value. Current ReadCapacityUnits provisioned for the table: {read}. \
                     Requested ReadCapacityUnits: {read}. Current WriteCapacityUnits provisioned for the \
                     table: {write}. Requested WriteCapacityUnits: {write}. Refer to the Amazon DynamoDB \
                     Developer Guide for current limits and how to request higher limits."
                )));
            }
            if read > current.read_capacity_units || write > current.write_capacity_units {
                current.last_increase = Some(now);
            }
            if read < current.read_capacity_units || write < current.write_capacity_units {
                let same_day = current
                    .last_decrease
                    .is_some_and(|at| (at / DAY_SECONDS).floor() == (now / DAY_SECONDS).floor());
                current.decreases_today = if same_day {
                    current.decreases_today + 1
                } else {
                    1
                };
                current.last_decrease = Some(now);
            }
            current.read_capacity_units = read;
            current.write_capacity_units = write;
        }
    }
    descriptor.billing_mode = mode;
    let table = state.node.update_table(descriptor).await?;
    Ok(json!({ "TableDescription": table_description(state, &table, "UPDATING") }))
}
