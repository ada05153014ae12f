//! TransactWriteItems and TransactGetItems: validated here like their single-item
//! counterparts, run by the partition layer's two-phase commit.

use std::collections::HashSet;
use std::sync::Arc;

use cirrus_cluster::transactions::{TxItem, TxOutcome};
use cirrus_cluster::{ItemLocation, Table};
use cirrus_partition::capacity::ReadConsistency;
use cirrus_partition::command::PartitionRef;
use cirrus_partition::{PartitionError, Rejection, TxAction, TxFailure, TxWrite};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::items::{check_key_untouched, prepare_put, read_projection, WriteOptions};
use crate::blocking::run_blocking;
use crate::capacity::{
    admit_read, admit_write, charge_read, charge_write, item_read_units, per_table_json, Detail,
    RETURN_CONSUMED_CAPACITY,
};
use crate::error::{ApiError, CancellationReason};
use crate::keys::key_of_key_map;
use crate::state::ApiState;
use crate::transaction_tokens::{fingerprint, TokenClaim};
use crate::validation::{java_objects, parse_input, Constraints};
use crate::wire::attribute_value::parse_item;
use crate::wire::item_json::{decode_stored, response_body, StoredItemJson};

const MAX_ACTIONS: usize = 100;
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// One action of TransactWriteItems (the members of Put, Update, Delete and
/// ConditionCheck together; each kind uses its own).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ActionInput {
    table_name: Option<String>,
    key: Option<Value>,
    item: Option<Value>,
    update_expression: Option<String>,
    #[serde(flatten)]
    options: WriteOptions,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransactWriteItem {
    condition_check: Option<ActionInput>,
    put: Option<ActionInput>,
    delete: Option<ActionInput>,
    update: Option<ActionInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransactWriteItemsInput {
    transact_items: Option<Vec<TransactWriteItem>>,
    client_request_token: Option<String>,
    return_consumed_capacity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetInput {
    table_name: Option<String>,
    key: Option<Value>,
    projection_expression: Option<String>,
    expression_attribute_names: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransactGetItem {
    get: Option<GetInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransactGetItemsInput {
    transact_items: Option<Vec<TransactGetItem>>,
    return_consumed_capacity: Option<String>,
}

enum Kind {
    ConditionCheck,
    Put,
    Delete,
    Update,
}

impl TransactWriteItem {
    fn action(&self) -> Result<(Kind, &ActionInput), ApiError> {
        match (&self.condition_check, &self.put, &self.delete, &self.update) {
            (Some(a), None, None, None) => Ok((Kind::ConditionCheck, a)),
            (None, Some(a), None, None) => Ok((Kind::Put, a)),
            (None, None, Some(a), None) => Ok((Kind::Delete, a)),
            (None, None, None, Some(a)) => Ok((Kind::Update, a)),
            _ => Err(ApiError::validation(
                "TransactItems can only contain one of Check, Put, Update or Delete",
            )),
        }
    }
}

/// The members both transactional operations check alike.
fn check_common(
    constraints: &mut Constraints,
    count: Option<usize>,
    class: &str,
    return_consumed_capacity: &Option<String>,
) {
    let shown = format!("'{}'", java_objects(class, count.unwrap_or(0)));
    constraints.length_between(count, &shown, "transactItems", 1, MAX_ACTIONS);
    constraints.one_of(
        return_consumed_capacity,
        "returnConsumedCapacity",
        RETURN_CONSUMED_CAPACITY,
    );
}

fn duplicate_item() -> ApiError {
    ApiError::validation("Transaction request cannot include multiple operations on one item")
}

fn missing() -> ApiError {
    ApiError::Internal("validated members missing".into())
}

/// Checks one action like its single-item counterpart and builds it.
fn plan_action(
    state: &ApiState,
    position: u32,
    kind: Kind,
    input: &ActionInput,
) -> Result<TxItem, ApiError> {
    let table_name = input.table_name.as_deref().ok_or_else(missing)?;
    let table = state.table(table_name)?;
    let schema = &table.descriptor().key_schema;
    let update_expression = match kind {
        Kind::Update => input.update_expression.as_deref(),
        _ => None,
    };
    let (actions, condition) = input.options.bind(state, update_expression, None)?;
    let (key, write) = match kind {
        Kind::Put => {
            let item = parse_item(input.item.as_ref().ok_or_else(missing)?)?;
            let (key, stored) = prepare_put(&table, &item)?;
            (key, TxWrite::Put(stored))
        }
        Kind::Delete | Kind::ConditionCheck | Kind::Update => {
            let key_attributes = parse_item(input.key.as_ref().ok_or_else(missing)?)?;
            let key = key_of_key_map(schema, &key_attributes)?;
            let write = match kind {
                Kind::Delete => TxWrite::Delete,
                Kind::ConditionCheck => TxWrite::Check,
                _ => {
                    let actions = actions.unwrap_or_default();
                    check_key_untouched(schema, &actions)?;
                    TxWrite::Update {
                        key_attributes,
                        actions,
                    }
                }
            };
            (key, write)
        }
    };
    let location = table.locate(&key.partition, &key.sort)?;
    Ok(TxItem {
        action: TxAction {
            position,
            key: location.key.clone(),
            write,
            condition,
            old_on_condition_failure: input.options.old_on_condition_failure(),
        },
        table,
        location,
    })
}

fn check_write_constraints(input: &TransactWriteItemsInput) -> Result<(), ApiError> {
    let mut constraints = Constraints::new();
    constraints.not_null(&input.transact_items, "transactItems");
    check_common(
        &mut constraints,
        input.transact_items.as_ref().map(Vec::len),
        "TransactWriteItem",
        &input.return_consumed_capacity,
    );
    if let Some(token) = &input.client_request_token {
        constraints.length_between(
            Some(token.chars().count()),
            &format!("'{token}'"),
            "clientRequestToken",
            1,
            36,
        );
    }
    for (i, item) in input.transact_items.iter().flatten().enumerate() {
        let Ok((kind, action)) = item.action() else {
            continue;
        };
        let (name, required): (&str, &[(&str, bool)]) = match kind {
            Kind::ConditionCheck => (
                "conditionCheck",
                &[
                    ("key", action.key.is_some()),
                    (
                        "conditionExpression",
                        action.options.condition_expression.is_some(),
                    ),
                ],
            ),
            Kind::Put => ("put", &[("item", action.item.is_some())]),
            Kind::Delete => ("delete", &[("key", action.key.is_some())]),
            Kind::Update => (
                "update",
                &[
                    ("key", action.key.is_some()),
                    ("updateExpression", action.update_expression.is_some()),
                ],
            ),
        };
        let member = format!("transactItems.{}.member.{name}", i + 1);
        constraints.table_name(&action.table_name, &format!("{member}.tableName"));
        for (field, present) in required {
            if !present {
                constraints.not_null(&None::<()>, &format!("{member}.{field}"));
            }
        }
        action.options.check(&mut constraints);
    }
    constraints.finish()
}

pub async fn transact_write_items(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let request_bytes = request.to_string().len();
    let token_fingerprint = fingerprint(&request);
    let input: TransactWriteItemsInput = parse_input(request)?;
    check_write_constraints(&input)?;
    let detail = Detail::parse(input.return_consumed_capacity.as_deref());
    let items = input.transact_items.as_deref().ok_or_else(missing)?;
    if request_bytes > MAX_REQUEST_BYTES {
        return Err(ApiError::validation(
            "Transaction request size exceeds the maximum allowed size of 4 MB",
        ));
    }
    let mut planned = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for (position, item) in items.iter().enumerate() {
        let (kind, action) = item.action()?;
        let planned_item = plan_action(state, position as u32, kind, action)?;
        let identity = (
            planned_item.table.descriptor().table_id,
            planned_item.location.key.clone(),
        );
        if !seen.insert(identity) {
            return Err(duplicate_item());
        }
        planned.push(planned_item);
    }
    for item in &planned {
        admit_write(state, &item.table, item.location.hash)?;
    }
    // Each region keeps its own tokens, as DynamoDB's regions do.
    let token = input
        .client_request_token
        .map(|token| format!("{}/{token}", state.region));
    let tx_token = match &token {
        Some(token) => {
            match state
                .transaction_tokens
                .claim(&state.node, token, token_fingerprint)
                .await?
            {
                TokenClaim::Replay(response) => return Ok(response),
                TokenClaim::Run(tx_token) => Some(tx_token),
            }
        }
        None => None,
    };
    // The transaction runs in a task of its own: a client that goes away must not stop
    // it between its steps (its locks would stay until a restart).
    let node = state.node.clone();
    let tokens = state.transaction_tokens.clone();
    let run = tokio::spawn(async move {
        let count = planned.len();
        let tables: Vec<Arc<Table>> = planned.iter().map(|p| p.table.clone()).collect();
        // A participant partition's units are charged to the key range of its first item.
        let hashes: Vec<(PartitionRef, u64)> = planned
            .iter()
            .map(|p| {
                let at = (p.table.descriptor().table_id, p.location.partition);
                (at, p.location.hash)
            })
            .collect();
        let outcome = node.transact_write(planned, tx_token).await;
        let result = respond(outcome, &tables, &hashes, count, detail);
        if let Some(token) = token {
            // The outcome stands either way: a committed transaction's token was recorded
            // with its decision, and replays an empty response without this one.
            if let Err(e) = tokens.finish(&node, &token, result.as_ref().ok()).await {
                tracing::warn!(token, "cannot record the transaction's response: {e}");
            }
        }
        result
    });
    run.await
        .map_err(|e| ApiError::Internal(format!("transaction task: {e}")))?
}

/// The response to a finished transaction, or its cancellation.
fn respond(
    outcome: Result<TxOutcome, PartitionError>,
    tables: &[Arc<Table>],
    hashes: &[(PartitionRef, u64)],
    count: usize,
    detail: Detail,
) -> Result<Value, ApiError> {
    let outcome = outcome?;
    // Transactional writes cost twice their single-item equivalents, charged also when
    // the transaction is cancelled.
    let mut consumed = Vec::new();
    for (at, units) in &outcome.consumed {
        let hash = hashes
            .iter()
            .find(|(item_at, _)| item_at == at)
            .map_or(0, |(_, hash)| *hash);
        if let Some(table) = tables.iter().find(|t| t.descriptor().table_id == at.0) {
            consumed.push(charge_write(table, hash, units, 2.0));
        }
    }
    if !outcome.failures.is_empty() {
        return Err(cancellation(count, outcome.failures)?);
    }
    let mut response = json!({});
    if let Some(consumed) = per_table_json(&consumed, detail) {
        response["ConsumedCapacity"] = consumed;
    }
    Ok(response)
}

fn conflict_reason() -> CancellationReason {
    CancellationReason::new("TransactionConflict", "Transaction is ongoing for the item")
}

/// TransactionCanceledException with one reason per action, in order.
fn cancellation(count: usize, failures: Vec<TxFailure>) -> Result<ApiError, ApiError> {
    let mut reasons = vec![CancellationReason::none(); count];
    for failure in failures {
        let reason = match &failure.rejection {
            Rejection::ConditionFailed => CancellationReason {
                item: failure.old_item.as_deref().map(decode_stored).transpose()?,
                ..CancellationReason::new(
                    "ConditionalCheckFailed",
                    "The conditional request failed",
                )
            },
            Rejection::TransactionConflict => conflict_reason(),
            Rejection::Invalid(message) => {
                CancellationReason::new("ValidationError", message.as_str())
            }
            Rejection::ItemCollectionTooLarge => CancellationReason::new(
                "ItemCollectionSizeLimitExceeded",
                "Collection size exceeded.",
            ),
        };
        if let Some(slot) = reasons.get_mut(failure.position as usize) {
            *slot = reason;
        }
    }
    Ok(canceled(reasons))
}

fn canceled(reasons: Vec<CancellationReason>) -> ApiError {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code).collect();
    ApiError::TransactionCanceled {
        message: format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        reasons,
    }
}

/// One entry of TransactGetItems' Responses: the item, if it exists.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ItemResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<StoredItemJson<'a>>,
}

/// The response of TransactGetItems.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TransactGetOutput<'a> {
    responses: Vec<ItemResponse<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Value>,
}

pub async fn transact_get_items(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: TransactGetItemsInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.not_null(&input.transact_items, "transactItems");
    check_common(
        &mut constraints,
        input.transact_items.as_ref().map(Vec::len),
        "TransactGetItem",
        &input.return_consumed_capacity,
    );
    for (i, item) in input.transact_items.iter().flatten().enumerate() {
        let member = format!("transactItems.{}.member.get", i + 1);
        constraints.not_null(&item.get, &member);
        if let Some(get) = &item.get {
            constraints.table_name(&get.table_name, &format!("{member}.tableName"));
            constraints.not_null(&get.key, &format!("{member}.key"));
        }
    }
    constraints.finish()?;
    let items = input.transact_items.as_deref().ok_or_else(missing)?;
    let mut reads: Vec<(Arc<Table>, ItemLocation)> = Vec::with_capacity(items.len());
    let mut projections = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    // A key that does not fit its table is the action's own failure, which DynamoDB
    // reports as a cancellation reason once every action has been looked at.
    let mut invalid_keys = vec![None; items.len()];
    for (position, item) in items.iter().enumerate() {
        let get = item.get.as_ref().ok_or_else(missing)?;
        let table = state.table(get.table_name.as_deref().ok_or_else(missing)?)?;
        let key = parse_item(get.key.as_ref().ok_or_else(missing)?)?;
        projections.push(read_projection(
            state,
            get.projection_expression.as_deref(),
            get.expression_attribute_names.as_ref(),
            None,
        )?);
        let key = match key_of_key_map(&table.descriptor().key_schema, &key) {
            Ok(key) => key,
            Err(ApiError::Validation(message)) => {
                invalid_keys[position] = Some(message);
                continue;
            }
            Err(other) => return Err(other),
        };
        let location = table.locate(&key.partition, &key.sort)?;
        if !seen.insert((table.descriptor().table_id, location.key.clone())) {
            return Err(duplicate_item());
        }
        reads.push((table, location));
    }
    if invalid_keys.iter().any(Option::is_some) {
        let reasons = invalid_keys
            .into_iter()
            .map(|invalid| match invalid {
                Some(message) => CancellationReason::new("ValidationError", message),
                None => CancellationReason::none(),
            })
            .collect();
        return Err(canceled(reasons));
    }
    for (table, location) in &reads {
        admit_read(state, table, Some(location.hash), None)?;
    }
    // Up to 100 items read at least twice: blocking RocksDB work, done on the blocking
    // pool. `transact_get` waits between its attempts with tokio's timer, so the pool
    // thread drives it with `block_on`; the `Node` API it lives in is async.
    let node = state.node.clone();
    let runtime = tokio::runtime::Handle::current();
    let (reads, outcome) = run_blocking(move || {
        let outcome = runtime.block_on(node.transact_get(&reads));
        Ok((reads, outcome))
    })
    .await?;
    let stored = match outcome? {
        Ok(stored) => stored,
        Err(conflict) => {
            let mut reasons = vec![CancellationReason::none(); reads.len()];
            for position in conflict.positions {
                if let Some(slot) = reasons.get_mut(position) {
                    *slot = conflict_reason();
                }
            }
            return Err(canceled(reasons));
        }
    };
    let mut consumed = Vec::with_capacity(stored.len());
    for ((table, location), stored) in reads.iter().zip(&stored) {
        let units = item_read_units(stored.as_deref(), ReadConsistency::Transactional)?;
        consumed.push(charge_read(table, Some(location.hash), None, units));
    }
    let responses = stored
        .iter()
        .zip(&projections)
        .map(|(stored, projection)| ItemResponse {
            item: stored
                .as_deref()
                .map(|stored| StoredItemJson::new(stored, projection.as_ref())),
        })
        .collect();
    let detail = Detail::parse(input.return_consumed_capacity.as_deref());
    response_body(&TransactGetOutput {
        responses,
        consumed_capacity: per_table_json(&consumed, detail),
    })
}
