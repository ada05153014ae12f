//! Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.

use cirrus_cluster::Table;
use cirrus_partition::capacity::ReadConsistency;
use cirrus_partition::{ApplyOutcome, Command, KeySchema, Rejection, WantedImages};
use cirrus_storage::codec::encode_item;
use cirrus_storage::engine::StoredItem;
use cirrus_storage::expression::projection::project;
use cirrus_storage::expression::update::updated_paths;
use cirrus_storage::expression::{
    Condition, ExpressionKind, PathElement, Projection, UpdateActions,
};
use cirrus_storage::size::{item_size, MAX_ITEM_BYTES};
use cirrus_storage::Item;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capacity::{
    admit_read, admit_write, charge_read, charge_write, item_read_units, Consumed, Detail,
    RETURN_CONSUMED_CAPACITY,
};
use crate::consistency;
use crate::error::ApiError;
use crate::expressions::Placeholders;
use crate::keys::{key_of_item, key_of_key_map, EncodedKey};
use crate::legacy;
use crate::state::ApiState;
use crate::validation::{parse_input, Constraints};
use crate::wire::attribute_value::parse_item;
use crate::wire::item_json::{decode_stored, response_body, ItemJson, StoredItemJson};

/// The parameters every single-item write shares: its condition (as an expression or
/// the legacy `Expected`), placeholders, and what to return.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WriteOptions {
    return_values: Option<String>,
    return_values_on_condition_check_failure: Option<String>,
    pub condition_expression: Option<String>,
    expression_attribute_names: Option<Value>,
    expression_attribute_values: Option<Value>,
    expected: Option<Value>,
    conditional_operator: Option<String>,
    return_item_collection_metrics: Option<String>,
    return_consumed_capacity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutItemInput {
    table_name: Option<String>,
    item: Option<Value>,
    #[serde(flatten)]
    options: WriteOptions,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetItemInput {
    table_name: Option<String>,
    key: Option<Value>,
    projection_expression: Option<String>,
    expression_attribute_names: Option<Value>,
    attributes_to_get: Option<Value>,
    consistent_read: Option<bool>,
    return_consumed_capacity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteItemInput {
    table_name: Option<String>,
    key: Option<Value>,
    #[serde(flatten)]
    options: WriteOptions,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateItemInput {
    table_name: Option<String>,
    key: Option<Value>,
    update_expression: Option<String>,
    attribute_updates: Option<Value>,
    #[serde(flatten)]
    options: WriteOptions,
}

impl WriteOptions {
    /// The enum members' constraints, reported with the request's other violations.
    pub fn check(&self, constraints: &mut Constraints) {
        constraints.one_of(&self.return_values, "returnValues", RETURN_VALUES);
        constraints.one_of(
            &self.return_values_on_condition_check_failure,
            "returnValuesOnConditionCheckFailure",
            RETURN_ON_FAILURE,
        );
        constraints.one_of(
            &self.conditional_operator,
            "conditionalOperator",
            legacy::messages::CONDITIONAL_OPERATORS,
        );
        constraints.one_of(
            &self.return_item_collection_metrics,
            "returnItemCollectionMetrics",
            COLLECTION_METRICS,
        );
        constraints.one_of(
            &self.return_consumed_capacity,
            "returnConsumedCapacity",
            RETURN_CONSUMED_CAPACITY,
        );
    }

    pub fn capacity_detail(&self) -> Detail {
        Detail::parse(self.return_consumed_capacity.as_deref())
    }

    /// ReturnValuesOnConditionCheckFailure=ALL_OLD.
    pub fn old_on_condition_failure(&self) -> bool {
        self.return_values_on_condition_check_failure.as_deref() == Some("ALL_OLD")
    }

    fn wants_collection_metrics(&self) -> bool {
        self.return_item_collection_metrics.as_deref() == Some("SIZE")
    }

    /// PutItem and DeleteItem can return only the old item.
    fn return_old_only(&self) -> Result<bool, ApiError> {
        match self.return_values.as_deref() {
            None | Some("NONE") => Ok(false),
            Some("ALL_OLD") => Ok(true),
            Some(_) => Err(ApiError::validation(
                "ReturnValues can only be ALL_OLD or NONE",
            )),
        }
    }

    fn wanted(&self, old: bool, new: bool) -> WantedImages {
        WantedImages {
            old,
            new,
            old_on_condition_failure: self.old_on_condition_failure(),
        }
    }

    /// Binds the write's condition and, for UpdateItem, its update, from expressions or
    /// legacy parameters (never both).
    pub fn bind(
        &self,
        state: &ApiState,
        update_expression: Option<&str>,
        attribute_updates: Option<&Value>,
    ) -> Result<(Option<UpdateActions>, Option<Condition>), ApiError> {
        legacy::reject_mixed(
            &[
                ("AttributeUpdates", attribute_updates.is_some()),
                ("Expected", self.expected.is_some()),
                ("ConditionalOperator", self.conditional_operator.is_some()),
            ],
            &[
                ("UpdateExpression", update_expression.is_some()),
                ("ConditionExpression", self.condition_expression.is_some()),
            ],
        )?;
        let placeholders = Placeholders::parse(
            self.expression_attribute_names.as_ref(),
            self.expression_attribute_values.as_ref(),
            self.condition_expression.is_some() || update_expression.is_some(),
        )?;
        let mut binder = placeholders.binder(&state.expressions);
        let mut actions = binder.update(update_expression)?;
        let mut condition = binder.condition(
            self.condition_expression.as_deref(),
            ExpressionKind::Condition,
        )?;
        binder.finish()?;
        if let Some(updates) = attribute_updates {
            actions = Some(legacy::attribute_updates_to_actions(updates)?);
        }
        if let Some(expected) = &self.expected {
            condition =
                legacy::expected_to_condition(expected, self.conditional_operator.as_deref())?;
        }
        // ConditionalOperator combines Expected's conditions: DynamoDB refuses it when
        // there are none, even with an empty Expected.
        if self.conditional_operator.is_some() && condition.is_none() {
            return Err(ApiError::validation(
                "ConditionalOperator cannot be used without Expected conditions",
            ));
        }
        Ok((actions, condition))
    }
}

const RETURN_VALUES: &[&str] = &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];
const RETURN_ON_FAILURE: &[&str] = &["ALL_OLD", "NONE"];
pub const COLLECTION_METRICS: &[&str] = &["SIZE", "NONE"];

/// ItemCollectionMetrics of a write to a table with local indexes: the item's
/// partition key and its collection's size estimate, in DynamoDB's 1 GB brackets.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CollectionMetrics {
    item_collection_key: ItemJson<Item>,
    #[serde(rename = "SizeEstimateRangeGB")]
    size_estimate_range_gb: [f64; 2],
}

pub fn collection_metrics(
    table: &Table,
    attributes: &Item,
    size: Option<u64>,
) -> Option<CollectionMetrics> {
    let size = size?;
    let name = &table.descriptor().key_schema.partition_key().name;
    let value = attributes.get(name)?;
    let key = Item::from([(name.clone(), value.clone())]);
    let lower = (size as f64 / f64::from(1u32 << 30)).floor();
    Some(CollectionMetrics {
        item_collection_key: ItemJson(key),
        size_estimate_range_gb: [lower, lower + 1.0],
    })
}

/// The response of PutItem, UpdateItem and DeleteItem.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WriteOutput {
    /// The item ReturnValues asked for; absent when there is nothing to return.
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<ItemJson<Item>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_collection_metrics: Option<CollectionMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Value>,
}

impl WriteOutput {
    fn new(
        image: Option<Item>,
        metrics: Option<CollectionMetrics>,
        consumed: Option<Value>,
    ) -> Self {
        WriteOutput {
            attributes: image.filter(|item| !item.is_empty()).map(ItemJson),
            item_collection_metrics: metrics,
            consumed_capacity: consumed,
        }
    }
}

/// The response of a PutItem or DeleteItem: the old item when asked for, and the
/// extras.
fn old_item_response(
    options: &WriteOptions,
    table: &Table,
    key_attributes: &Item,
    outcome: &ApplyOutcome,
    consumed: &Consumed,
) -> Result<Vec<u8>, ApiError> {
    let metrics = options
        .wants_collection_metrics()
        .then(|| collection_metrics(table, key_attributes, outcome.collection_size))
        .flatten();
    let old = outcome.old_item.as_deref().map(decode_stored).transpose()?;
    response_body(&WriteOutput::new(
        old,
        metrics,
        consumed.json(options.capacity_detail()),
    ))
}

/// Turns a rejected command into DynamoDB's error.
pub fn rejection_error(outcome: &ApplyOutcome) -> Result<(), ApiError> {
    match &outcome.rejection {
        None => Ok(()),
        Some(Rejection::Invalid(message)) => Err(ApiError::Validation(message.clone())),
        Some(Rejection::ItemCollectionTooLarge) => Err(ApiError::ItemCollectionSizeLimitExceeded(
            "Collection size exceeded.".into(),
        )),
        Some(Rejection::TransactionConflict) => Err(ApiError::TransactionConflict(
            "Transaction is ongoing for the item".into(),
        )),
        Some(Rejection::ConditionFailed) => {
            let item = outcome.old_item.as_deref().map(decode_stored).transpose()?;
            Err(ApiError::ConditionalCheckFailed(item))
        }
    }
}

/// The table, the encoded key of a `Key` parameter, and its location.
fn locate_key(
    state: &ApiState,
    table_name: &str,
    key: &Value,
) -> Result<(std::sync::Arc<Table>, Item, EncodedKey), ApiError> {
    let key = parse_item(key)?;
    let table = state.table(table_name)?;
    let encoded = key_of_key_map(&table.descriptor().key_schema, &key)?;
    Ok((table, key, encoded))
}

/// Checks an item to be written in full (its key, size, and index keys) and encodes
/// its key and its stored bytes.
pub fn prepare_put(table: &Table, item: &Item) -> Result<(EncodedKey, Vec<u8>), ApiError> {
    let descriptor = table.descriptor();
    let key = key_of_item(&descriptor.key_schema, item)?;
    for index in &descriptor.indexes {
        index
            .spec
            .check(item)
            .map_err(|e| ApiError::validation(e.to_string()))?;
    }
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(ApiError::validation(
            "Item size has exceeded the maximum allowed size",
        ));
    }
    let mut codec_bytes = Vec::with_capacity(size + 16);
    encode_item(item, &mut codec_bytes);
    // `size` is at most MAX_ITEM_BYTES, which fits a u32.
    Ok((key, StoredItem::encode(size as u32, &codec_bytes)))
}

fn missing() -> ApiError {
    ApiError::Internal("validated members missing".into())
}

pub async fn put_item(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: PutItemInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.item, "item");
    input.options.check(&mut constraints);
    constraints.finish()?;
    let (Some(table_name), Some(item)) = (&input.table_name, &input.item) else {
        return Err(missing());
    };
    let (_, condition) = input.options.bind(state, None, None)?;
    let return_old = input.options.return_old_only()?;
    let item = parse_item(item)?;
    let table = state.table(table_name)?;
    let (key, stored) = prepare_put(&table, &item)?;
    let location = table.locate(&key.partition, &key.sort)?;
    admit_write(state, &table, location.hash)?;
    let command = Command::Put {
        key: location.key.clone(),
        item: stored,
        condition,
        wanted: input.options.wanted(return_old, false),
    };
    let outcome = state.node.propose(&table, &location, command).await?;
    let consumed = charge_write(&table, location.hash, &outcome.consumed, 1.0);
    rejection_error(&outcome)?;
    old_item_response(&input.options, &table, &item, &outcome, &consumed)
}

/// The response of GetItem.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetItemOutput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<StoredItemJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Value>,
}

/// A single point read: cheap enough to stay on the async worker that received it.
pub async fn get_item(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: GetItemInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.key, "key");
    constraints.one_of(
        &input.return_consumed_capacity,
        "returnConsumedCapacity",
        RETURN_CONSUMED_CAPACITY,
    );
    constraints.finish()?;
    let (Some(table_name), Some(key)) = (&input.table_name, &input.key) else {
        return Err(missing());
    };
    let projection = read_projection(
        state,
        input.projection_expression.as_deref(),
        input.expression_attribute_names.as_ref(),
        input.attributes_to_get.as_ref(),
    )?;
    let (table, _, key) = locate_key(state, table_name, key)?;
    let location = table.locate(&key.partition, &key.sort)?;
    admit_read(state, &table, Some(location.hash), None)?;
    let strong = input.consistent_read == Some(true);
    consistency::confirm(state, &table, strong, [location.partition]).await?;
    let stored = state.node.get_item(&location)?;
    let consistency = if strong {
        ReadConsistency::Strong
    } else {
        ReadConsistency::Eventual
    };
    let units = item_read_units(stored.as_deref(), consistency)?;
    let consumed = charge_read(&table, Some(location.hash), None, units);
    response_body(&GetItemOutput {
        item: stored
            .as_deref()
            .map(|stored| StoredItemJson::new(stored, projection.as_ref())),
        consumed_capacity: consumed.json(Detail::parse(input.return_consumed_capacity.as_deref())),
    })
}

/// The projection of a read: ProjectionExpression (with its names) or AttributesToGet.
pub fn read_projection(
    state: &ApiState,
    expression: Option<&str>,
    names: Option<&Value>,
    attributes_to_get: Option<&Value>,
) -> Result<Option<Projection>, ApiError> {
    legacy::reject_mixed(
        &[("AttributesToGet", attributes_to_get.is_some())],
        &[("ProjectionExpression", expression.is_some())],
    )?;
    let placeholders = Placeholders::parse(names, None, expression.is_some())?;
    let mut binder = placeholders.binder(&state.expressions);
    let projection = binder.projection(expression)?;
    binder.finish()?;
    match attributes_to_get {
        Some(names) => Ok(Some(legacy::attributes_to_get_to_projection(names)?)),
        None => Ok(projection),
    }
}

pub async fn delete_item(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: DeleteItemInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.key, "key");
    input.options.check(&mut constraints);
    constraints.finish()?;
    let (Some(table_name), Some(key)) = (&input.table_name, &input.key) else {
        return Err(missing());
    };
    let (_, condition) = input.options.bind(state, None, None)?;
    let return_old = input.options.return_old_only()?;
    let (table, key_attributes, key) = locate_key(state, table_name, key)?;
    let location = table.locate(&key.partition, &key.sort)?;
    admit_write(state, &table, location.hash)?;
    let command = Command::Delete {
        key: location.key.clone(),
        condition,
        wanted: input.options.wanted(return_old, false),
    };
    let outcome = state.node.propose(&table, &location, command).await?;
    let consumed = charge_write(&table, location.hash, &outcome.consumed, 1.0);
    rejection_error(&outcome)?;
    old_item_response(&input.options, &table, &key_attributes, &outcome, &consumed)
}

/// DynamoDB refuses updates that touch a key attribute.
pub fn check_key_untouched(schema: &KeySchema, actions: &UpdateActions) -> Result<(), ApiError> {
    for path in updated_paths(actions) {
        if let Some(PathElement::Attribute(name)) = path.0.first() {
            if schema.is_key_attribute(name) {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: Cannot update attribute {name}. \
                     This attribute is part of the key"
                )));
            }
        }
    }
    Ok(())
}

pub async fn update_item(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: UpdateItemInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.table_name(&input.table_name, "tableName");
    constraints.not_null(&input.key, "key");
    input.options.check(&mut constraints);
    constraints.finish()?;
    let (Some(table_name), Some(key)) = (&input.table_name, &input.key) else {
        return Err(missing());
    };
    let (actions, condition) = input.options.bind(
        state,
        input.update_expression.as_deref(),
        input.attribute_updates.as_ref(),
    )?;
    let actions = actions.unwrap_or_default();
    let (table, key_attributes, key) = locate_key(state, table_name, key)?;
    check_key_untouched(&table.descriptor().key_schema, &actions)?;
    let return_values = input.options.return_values.as_deref().unwrap_or("NONE");
    let location = table.locate(&key.partition, &key.sort)?;
    let paths =
        matches!(return_values, "UPDATED_OLD" | "UPDATED_NEW").then(|| updated_paths(&actions));
    let metrics_key = input
        .options
        .wants_collection_metrics()
        .then(|| key_attributes.clone());
    let command = Command::Update {
        key: location.key.clone(),
        key_attributes,
        actions,
        condition,
        wanted: input.options.wanted(
            matches!(return_values, "ALL_OLD" | "UPDATED_OLD"),
            matches!(return_values, "ALL_NEW" | "UPDATED_NEW"),
        ),
    };
    admit_write(state, &table, location.hash)?;
    let outcome = state.node.propose(&table, &location, command).await?;
    let consumed = charge_write(&table, location.hash, &outcome.consumed, 1.0);
    rejection_error(&outcome).map_err(|error| match input.attribute_updates {
        Some(_) => legacy::attribute_update_error(error),
        None => error,
    })?;
    let image = match return_values {
        "ALL_OLD" | "UPDATED_OLD" => outcome.old_item.as_deref().map(decode_stored).transpose()?,
        "ALL_NEW" | "UPDATED_NEW" => outcome.new_item.as_deref().map(decode_stored).transpose()?,
        _ => None,
    };
    let image = match (image, &paths) {
        (Some(item), Some(paths)) => Some(project(&item, paths)),
        (image, _) => image,
    };
    let metrics =
        metrics_key.and_then(|key| collection_metrics(&table, &key, outcome.collection_size));
    response_body(&WriteOutput::new(
        image,
        metrics,
        consumed.json(input.options.capacity_detail()),
    ))
}
