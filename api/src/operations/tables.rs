//! Table operations: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable.

use std::collections::BTreeMap;

use cirrus_partition::{
    BillingMode, IndexKind, KeyAttribute, KeySchema, PartitionError, Table, TableDescriptor,
    Throughput,
};
use cirrus_storage::ScalarType;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::ApiState;
use crate::validation::{now_epoch_seconds, parse_input, require, Constraints};

use super::table_indexes::{
    check_projected_attribute_total, describe_indexes, table_indexes, IndexInput,
};
use super::table_streams::{
    describe_streams, initial_streams, update_streams, StreamSpecificationInput,
};
use super::tags::{parse_tags, TagInput};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    attribute_name: Option<String>,
    key_type: Option<String>,
}

impl KeySchemaElement {
    pub fn check(&self, constraints: &mut Constraints, member: &str) {
        constraints.not_null(&self.key_type, &format!("{member}.keyType"));
        constraints.one_of(
            &self.key_type,
            &format!("{member}.keyType"),
            &["HASH", "RANGE"],
        );
        constraints.not_null(&self.attribute_name, &format!("{member}.attributeName"));
        constraints.key_attribute_name(&self.attribute_name, &format!("{member}.attributeName"));
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeDefinition {
    attribute_name: Option<String>,
    attribute_type: Option<String>,
}

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

/// One element of UpdateTable's GlobalSecondaryIndexUpdates.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexUpdateInput {
    create: Option<IndexInput>,
    delete: Option<IndexNameInput>,
    update: Option<IndexThroughputInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexNameInput {
    index_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexThroughputInput {
    index_name: Option<String>,
    provisioned_throughput: Option<ProvisionedThroughputInput>,
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

fn scalar_type(name: &str) -> Option<ScalarType> {
    match name {
        "S" => Some(ScalarType::S),
        "N" => Some(ScalarType::N),
        "B" => Some(ScalarType::B),
        _ => None,
    }
}

fn attribute_definitions(definitions: &[AttributeDefinition]) -> Vec<KeyAttribute> {
    definitions
        .iter()
        .filter_map(|d| {
            Some(KeyAttribute {
                name: d.attribute_name.clone()?,
                ty: scalar_type(d.attribute_type.as_deref()?)?,
            })
        })
        .collect()
}

fn check_attribute_definitions(
    constraints: &mut Constraints,
    definitions: &Option<Vec<AttributeDefinition>>,
) {
    for (i, definition) in definitions.iter().flatten().enumerate() {
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
        constraints.key_attribute_name(
            &definition.attribute_name,
            &format!("{member}.attributeName"),
        );
    }
}

/// Builds a table's or an index's key schema from validated elements, with DynamoDB's
/// checks.
pub fn parse_key_schema(
    elements: &[KeySchemaElement],
    definitions: &[KeyAttribute],
) -> Result<KeySchema, ApiError> {
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
    let mut keys = key_names.iter().filter_map(|name| find(name));
    let partition_key = keys
        .next()
        .ok_or_else(|| ApiError::Internal("validated key schema is empty".into()))?;
    Ok(KeySchema {
        partition_key,
        sort_key: keys.next(),
    })
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
    for (indexes, member) in [
        (&input.global_secondary_indexes, "globalSecondaryIndexes"),
        (&input.local_secondary_indexes, "localSecondaryIndexes"),
    ] {
        for (i, index) in indexes.iter().flatten().enumerate() {
            index.check(&mut constraints, &format!("{member}.{}.member", i + 1));
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
    let attribute_definitions = attribute_definitions(definitions);
    let key_schema = parse_key_schema(elements, &attribute_definitions)?;
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
        on_demand_max_read: None,
        on_demand_max_write: None,
        schema_version: 0,
    };
    let mut descriptor = descriptor;
    if let Some(on_demand) = &input.on_demand_throughput {
        on_demand.apply(&mut descriptor);
    }
    let table = state.node.create_table(descriptor).await?;
    Ok(json!({ "TableDescription": table_description(state, &table, "CREATING") }))
}

pub fn key_schema_json(schema: &KeySchema) -> Value {
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
    state
        .node
        .delete_table(&name, now_epoch_seconds())
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
        let member = format!("globalSecondaryIndexUpdates.{}.member", i + 1);
        if let Some(create) = &update.create {
            create.check(&mut constraints, &format!("{member}.create"));
        }
        if let Some(delete) = &update.delete {
            constraints.table_name(&delete.index_name, &format!("{member}.delete.indexName"));
        }
        if let Some(change) = &update.update {
            constraints.table_name(&change.index_name, &format!("{member}.update.indexName"));
            constraints.not_null(
                &change.provisioned_throughput,
                &format!("{member}.update.provisionedThroughput"),
            );
            check_throughput(
                &mut constraints,
                &change.provisioned_throughput,
                &format!("{member}.update.provisionedThroughput"),
            );
        }
    }
    constraints.finish()?;
    let Some(name) = &input.table_name else {
        return Err(ApiError::Internal("validated members missing".into()));
    };
    if input.billing_mode.is_none()
        && input.provisioned_throughput.is_none()
        && input.global_secondary_index_updates.is_none()
        && input.stream_specification.is_none()
        && input.on_demand_throughput.is_none()
    {
        return Err(ApiError::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, \
             GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    let changes_indexes = input
        .global_secondary_index_updates
        .iter()
        .flatten()
        .any(|u| u.create.is_some() || u.delete.is_some());
    if changes_indexes && input.stream_specification.is_some() {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: You cannot create or delete index while \
             changing stream status",
        ));
    }
    let mut table = state.node.table(name).map_err(|_| table_not_found(name))?;
    if let Some(updates) = &input.global_secondary_index_updates {
        table = update_indexes(
            state,
            &table,
            updates,
            input.attribute_definitions.as_deref().unwrap_or_default(),
        )
        .await?;
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

/// UpdateTable's GlobalSecondaryIndexUpdates: create (then backfilled in the
/// background), delete, or change the provisioned throughput of a global index.
async fn update_indexes(
    state: &ApiState,
    table: &Table,
    updates: &[IndexUpdateInput],
    new_definitions: &[AttributeDefinition],
) -> Result<std::sync::Arc<Table>, ApiError> {
    let descriptor = table.descriptor();
    let structural = updates
        .iter()
        .filter(|u| u.create.is_some() || u.delete.is_some())
        .count();
    let building = descriptor
        .indexes
        .iter()
        .any(|i| i.status != cirrus_partition::IndexStatus::Active);
    if structural > 1 || (structural == 1 && building) {
        return Err(ApiError::LimitExceeded(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
                .into(),
        ));
    }
    let mut changed = descriptor.clone();
    let mut create = None;
    let mut delete = None;
    for update in updates {
        match (&update.create, &update.delete, &update.update) {
            (Some(input), None, None) => create = Some(input),
            (None, Some(input), None) => delete = input.index_name.as_deref(),
            (None, None, Some(input)) => {
                let index_name = input.index_name.as_deref().unwrap_or_default();
                let Some(index) = changed
                    .indexes
                    .iter_mut()
                    .find(|i| i.spec.name == index_name && i.kind == IndexKind::Global)
                else {
                    return Err(PartitionError::IndexNotFound(index_name.to_string()).into());
                };
                if changed.billing_mode == BillingMode::PayPerRequest {
                    return Err(ApiError::validation(
                        "One or more parameter values were invalid: ProvisionedThroughput cannot be \
                         specified for index when BillingMode is PAY_PER_REQUEST",
                    ));
                }
                if let Some(t) = &input.provisioned_throughput {
                    let throughput = index.throughput.get_or_insert_with(Throughput::default);
                    throughput.read_capacity_units =
                        t.read_capacity_units.unwrap_or(0).unsigned_abs();
                    throughput.write_capacity_units =
                        t.write_capacity_units.unwrap_or(0).unsigned_abs();
                }
            }
            _ => {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, \
                     GlobalSecondaryIndexUpdate.Update or GlobalSecondaryIndexUpdate.Delete must be specified",
                ))
            }
        }
    }
    if let Some(input) = create {
        let mut definitions = changed.attribute_definitions.clone();
        for definition in attribute_definitions(new_definitions) {
            match definitions.iter().find(|d| d.name == definition.name) {
                Some(existing) if existing.ty != definition.ty => {
                    return Err(ApiError::validation(format!(
                        "One or more parameter values were invalid: Cannot change the type of \
                         attribute {} which is a key of the table or of an index",
                        definition.name
                    )))
                }
                Some(_) => {}
                None => definitions.push(definition),
            }
        }
        let index = input.descriptor(
            IndexKind::Global,
            &changed.key_schema,
            changed.billing_mode,
            &definitions,
        )?;
        if changed.index(&index.spec.name).is_some() {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Index with name: {} already exists",
                index.spec.name
            )));
        }
        let globals = changed
            .indexes
            .iter()
            .filter(|i| i.kind == IndexKind::Global)
            .count();
        if globals >= 20 {
            return Err(ApiError::LimitExceeded(
                "Subscriber limit exceeded: Cannot have more than 20 global secondary indexes per table"
                    .into(),
            ));
        }
        let mut all = changed.indexes.clone();
        all.push(index.clone());
        check_projected_attribute_total(&all)?;
        // Keep only definitions some key uses, as DynamoDB does.
        changed.attribute_definitions = definitions
            .into_iter()
            .filter(|d| {
                changed.key_schema.is_key_attribute(&d.name)
                    || all
                        .iter()
                        .any(|i| i.spec.key_schema.is_key_attribute(&d.name))
            })
            .collect();
        state.node.update_table(changed.clone()).await?;
        return Ok(state.node.create_index(&changed.name, index).await?);
    }
    if let Some(index_name) = delete {
        if !changed
            .indexes
            .iter()
            .any(|i| i.spec.name == index_name && i.kind == IndexKind::Global)
        {
            return Err(PartitionError::IndexNotFound(index_name.to_string()).into());
        }
        return Ok(state.node.delete_index(&changed.name, index_name).await?);
    }
    Ok(state.node.update_table(changed).await?)
}
