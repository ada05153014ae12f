//! Table operations: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable.

use std::collections::BTreeMap;

use cirrus_cluster::Table;
use cirrus_partition::{
    BillingMode, IndexKind, KeyAttribute, KeySchema, TableDescriptor, Throughput,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::ApiState;
use crate::validation::{now_epoch_seconds, parse_input, require, Constraints};

use super::index_updates::{check_updates, update_indexes, IndexUpdateInput};
use super::key_schemas::{
    attribute_definitions, check_attribute_definitions, key_schema_json, parse_key_schema,
    AttributeDefinition, KeySchemaElement, KeyShape,
};
use super::table_indexes::{describe_indexes, table_indexes, IndexInput};
use super::table_streams::{
    describe_streams, initial_streams, update_streams, StreamSpecificationInput,
};
use super::tags::{parse_tags, TagInput};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedThroughputInput {
    pub read_capacity_units: Option<i64>,
    pub write_capacity_units: Option<i64>,
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
    global_secondary_indexes: Option<Vec<IndexInput>>,
    local_secondary_indexes: Option<Vec<IndexInput>>,
    stream_specification: Option<StreamSpecificationInput>,
    on_demand_throughput: Option<OnDemandThroughputInput>,
}

/// OnDemandThroughput: an on-demand table's maxima (-1: none).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OnDemandThroughputInput {
    max_read_request_units: Option<i64>,
    max_write_request_units: Option<i64>,
}

impl OnDemandThroughputInput {
    fn apply(&self, descriptor: &mut TableDescriptor) {
        let limit = |value: Option<i64>| value.filter(|v| *v > 0).map(|v| v as u64);
        if let Some(read) = self.max_read_request_units {
            descriptor.on_demand_max_read = limit(Some(read));
        }
        if let Some(write) = self.max_write_request_units {
            descriptor.on_demand_max_write = limit(Some(write));
        }
    }
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
    attribute_definitions: Option<Vec<AttributeDefinition>>,
    billing_mode: Option<String>,
    provisioned_throughput: Option<ProvisionedThroughputInput>,
    global_secondary_index_updates: Option<Vec<IndexUpdateInput>>,
    on_demand_throughput: Option<OnDemandThroughputInput>,
    stream_specification: Option<StreamSpecificationInput>,
}

const BILLING_MODES: &[&str] = &["PROVISIONED", "PAY_PER_REQUEST"];

/// `member` is where the throughput sits, e.g. `provisionedThroughput`.
pub fn check_throughput(
    constraints: &mut Constraints,
    throughput: &Option<ProvisionedThroughputInput>,
    member: &str,
) {
    if let Some(t) = throughput {
        for (value, name) in [
            (t.write_capacity_units, "writeCapacityUnits"),
            (t.read_capacity_units, "readCapacityUnits"),
        ] {
            let member = format!("{member}.{name}");
            constraints.not_null(&value, &member);
            constraints.at_least(value, &member, 1);
        }
    }
}

fn billing_mode_of(name: Option<&str>) -> Option<BillingMode> {
    match name {
        Some("PAY_PER_REQUEST") => Some(BillingMode::PayPerRequest),
        Some("PROVISIONED") => Some(BillingMode::Provisioned),
        _ => None,
    }
}

/// DynamoDB refuses attribute definitions that no table or index key uses.
fn check_definitions_used(
    definitions: &[KeyAttribute],
    table_keys: &KeySchema,
    indexes: &[cirrus_partition::IndexDescriptor],
) -> Result<(), ApiError> {
    let mut used: Vec<&str> = table_keys
        .attributes()
        .chain(indexes.iter().flat_map(|i| i.spec.key_schema.attributes()))
        .map(|a| a.name.as_str())
        .collect();
    used.sort_unstable();
    used.dedup();
    if definitions.len() == used.len() {
        return Ok(());
    }
    if indexes.is_empty() {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not \
             exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let mut defined: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
    defined.sort_unstable();
    Err(ApiError::validation(format!(
        "One or more parameter values were invalid: Some AttributeDefinitions are not used. \
         AttributeDefinitions: [{}], keys used: [{}]",
        defined.join(", "),
        used.join(", ")
    )))
}

pub async fn create_table(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: CreateTableInput = parse_input(request)?;
    require(&input.table_name, "TableName")?;
    let mut constraints = Constraints::new();
    constraints.not_null(&input.attribute_definitions, "attributeDefinitions");
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.key_schema, "keySchema");
    if let Some(elements) = &input.key_schema {
        constraints.length_between(Some(elements.len()), "'[...]'", "keySchema", 1, 2);
        for (i, element) in elements.iter().enumerate() {
            element.check(&mut constraints, &format!("keySchema.{}.member", i + 1));
        }
    }
    check_attribute_definitions(&mut constraints, &input.attribute_definitions);
    for (indexes, member, kind) in [
        (
            &input.global_secondary_indexes,
            "globalSecondaryIndexes",
            IndexKind::Global,
        ),
        (
            &input.local_secondary_indexes,
            "localSecondaryIndexes",
            IndexKind::Local,
        ),
    ] {
        for (i, index) in indexes.iter().flatten().enumerate() {
            index.check(
                &mut constraints,
                &format!("{member}.{}.member", i + 1),
                kind,
            );
        }
    }
    constraints.one_of(&input.billing_mode, "billingMode", BILLING_MODES);
    if let Some(spec) = &input.stream_specification {
        spec.check(&mut constraints);
    }
    check_throughput(
        &mut constraints,
        &input.provisioned_throughput,
        "provisionedThroughput",
    );
    constraints.finish()?;
    let (Some(table_name), Some(elements), Some(definitions)) = (
        &input.table_name,
        &input.key_schema,
        &input.attribute_definitions,
    ) else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
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
    let attribute_definitions = attribute_definitions(definitions)?;
    let key_schema = parse_key_schema(elements, &attribute_definitions, KeyShape::Single)?;
    let indexes = table_indexes(
        input.global_secondary_indexes.as_deref(),
        input.local_secondary_indexes.as_deref(),
        &key_schema,
        billing_mode,
        &attribute_definitions,
    )?;
    check_definitions_used(&attribute_definitions, &key_schema, &indexes)?;
    let tags = match &input.tags {
        Some(tags) => parse_tags(tags)?,
        None => BTreeMap::new(),
    };
    let now = now_epoch_seconds();
    let streams = initial_streams(input.stream_specification.as_ref(), now)?;
    let descriptor = TableDescriptor {
        name: table_name.clone(),
        region: state.region.to_string(),
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
        indexes,
        next_index_id: 0,
        streams,
        ttl_attribute: None,
        ttl_ready: false,
        ttl_dropping: false,
        on_demand_max_read: None,
        on_demand_max_write: None,
        schema_version: 0,
        placement: None,
        item_collection_limit: None,
    };
    let mut descriptor = descriptor;
    if let Some(on_demand) = &input.on_demand_throughput {
        on_demand.apply(&mut descriptor);
    }
    let table = state.node.create_table(descriptor).await?;
    Ok(json!({ "TableDescription": table_description(state, &table, "CREATING") }))
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
    let table_arn = state.table_arn(&d.name);
    let (global_indexes, local_indexes) = describe_indexes(table, &table_arn);
    let mut description = json!({
        "AttributeDefinitions": definitions,
        "TableName": d.name,
        "KeySchema": key_schema_json(&d.key_schema),
        "TableStatus": status,
        "CreationDateTime": d.created_at,
        "ProvisionedThroughput": throughput,
        "TableSizeBytes": table.size_bytes().max(0),
        "ItemCount": table.item_count().max(0),
        "TableArn": table_arn,
        "TableId": d.uuid,
        "BillingModeSummary": billing,
        "DeletionProtectionEnabled": false,
    });
    if !global_indexes.is_empty() {
        description["GlobalSecondaryIndexes"] = Value::Array(global_indexes);
    }
    if !local_indexes.is_empty() {
        description["LocalSecondaryIndexes"] = Value::Array(local_indexes);
    }
    describe_streams(d, &table_arn, &mut description);
    if d.on_demand_max_read.is_some() || d.on_demand_max_write.is_some() {
        let limit = |value: Option<u64>| value.map_or(-1, |v| v as i64);
        description["OnDemandThroughput"] = json!({
            "MaxReadRequestUnits": limit(d.on_demand_max_read),
            "MaxWriteRequestUnits": limit(d.on_demand_max_write),
        });
    }
    description
}

fn table_not_found(name: &str) -> ApiError {
    ApiError::ResourceNotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

fn required_table_name(request: Value) -> Result<String, ApiError> {
    let input: TableNameInput = parse_input(request)?;
    require(&input.table_name, "TableName")?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.finish()?;
    input
        .table_name
        .ok_or_else(|| ApiError::Internal("validated members missing".into()))
}

pub fn describe_table(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let name = required_table_name(request)?;
    let table = state.table(&name).map_err(|_| table_not_found(&name))?;
    Ok(json!({ "Table": table_description(state, &table, "ACTIVE") }))
}

pub async fn delete_table(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let name = required_table_name(request)?;
    let table = state.table(&name).map_err(|_| table_not_found(&name))?;
    let mut description = table_description(state, &table, "DELETING");
    // DynamoDB's answer leaves out the table's schema and indexes (as measured against
    // DynamoDB in ScyllaDB's conformance tests).
    if let Some(fields) = description.as_object_mut() {
        for member in [
            "CreationDateTime",
            "KeySchema",
            "AttributeDefinitions",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
        ] {
            fields.remove(member);
        }
    }
    state
        .node
        .delete_table(&state.region, &name, now_epoch_seconds())
        .await
        .map_err(|e| match e {
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
        .table_names(&state.region)
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

/// An UpdateTable that would provision what the table (or index) already has.
pub fn unchanged_throughput(read: u64, write: u64) -> ApiError {
    ApiError::validation(format!(
        "The provisioned throughput for the table will not change. The requested value equals \
         the current value. Current ReadCapacityUnits provisioned for the table: {read}. \
         Requested ReadCapacityUnits: {read}. Current WriteCapacityUnits provisioned for the \
         table: {write}. Requested WriteCapacityUnits: {write}. Refer to the Amazon DynamoDB \
         Developer Guide for current limits and how to request higher limits."
    ))
}

pub async fn update_table(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let input: UpdateTableInput = parse_input(request)?;
    require(&input.table_name, "TableName")?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.one_of(&input.billing_mode, "billingMode", BILLING_MODES);
    if let Some(spec) = &input.stream_specification {
        spec.check(&mut constraints);
    }
    check_throughput(
        &mut constraints,
        &input.provisioned_throughput,
        "provisionedThroughput",
    );
    check_attribute_definitions(&mut constraints, &input.attribute_definitions);
    for (i, update) in input
        .global_secondary_index_updates
        .iter()
        .flatten()
        .enumerate()
    {
        update.check(
            &mut constraints,
            &format!("globalSecondaryIndexUpdates.{}.member", i + 1),
        );
    }
    constraints.finish()?;
    let Some(name) = &input.table_name else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    // An empty list of index updates asks for nothing, like no list.
    let index_updates = input
        .global_secondary_index_updates
        .as_deref()
        .filter(|updates| !updates.is_empty());
    if input.billing_mode.is_none()
        && input.provisioned_throughput.is_none()
        && index_updates.is_none()
        && input.stream_specification.is_none()
        && input.on_demand_throughput.is_none()
    {
        return Err(ApiError::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, \
             GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    if let Some(updates) = index_updates {
        check_updates(updates)?;
    }
    let definitions =
        attribute_definitions(input.attribute_definitions.as_deref().unwrap_or_default())?;
    let changes_indexes = index_updates
        .into_iter()
        .flatten()
        .any(IndexUpdateInput::changes_structure);
    if changes_indexes && input.stream_specification.is_some() {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: You cannot create or delete index while \
             changing stream status",
        ));
    }
    let mut table = state.table(name).map_err(|_| table_not_found(name))?;
    if let Some(updates) = index_updates {
        table = update_indexes(state, &table, updates, &definitions).await?;
        if input.billing_mode.is_none()
            && input.provisioned_throughput.is_none()
            && input.stream_specification.is_none()
        {
            return Ok(json!({ "TableDescription": table_description(state, &table, "UPDATING") }));
        }
    }
    let mut descriptor = table.descriptor().clone();
    let now = now_epoch_seconds();
    if let Some(on_demand) = &input.on_demand_throughput {
        on_demand.apply(&mut descriptor);
        if input.billing_mode.is_none()
            && input.provisioned_throughput.is_none()
            && input.stream_specification.is_none()
        {
            let table = state.node.update_table(descriptor).await?;
            return Ok(json!({ "TableDescription": table_description(state, &table, "UPDATING") }));
        }
    }
    if let Some(spec) = &input.stream_specification {
        update_streams(&mut descriptor, spec, now)?;
        if input.billing_mode.is_none() && input.provisioned_throughput.is_none() {
            let table = state.node.update_table(descriptor).await?;
            return Ok(json!({ "TableDescription": table_description(state, &table, "UPDATING") }));
        }
    }
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
                return Err(unchanged_throughput(read, write));
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
