//! Strongly consistent reads on a node whose partitions have replicas elsewhere: before
//! a read that asks for strong consistency runs, the node's replicas of the tables it
//! reads confirm with their leaders that they have applied every acknowledged write
//! (`Node::read_barrier`). Eventually consistent reads, and every read of the embedded
//! single node, go straight to the local replica.

use serde_json::Value;

use crate::error::ApiError;
use crate::state::ApiState;

/// The tables `request` (of `operation`) reads with strong consistency.
fn strongly_read_tables<'r>(operation: &str, request: &'r Value) -> Vec<&'r str> {
    let consistent = |spec: &Value| spec.get("ConsistentRead") == Some(&Value::Bool(true));
    match operation {
        "GetItem" | "Query" | "Scan" if consistent(request) => request
            .get("TableName")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
        "BatchGetItem" => request
            .get("RequestItems")
            .and_then(Value::as_object)
            .map(|tables| {
                tables
                    .iter()
                    .filter(|(_, spec)| consistent(spec))
                    .map(|(name, _)| name.as_str())
                    .collect()
            })
            .unwrap_or_default(),
        // TransactGetItems is always strongly consistent.
        "TransactGetItems" => request
            .get("TransactItems")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.get("Get")?.get("TableName")?.as_str())
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Confirms the local replicas of the tables the request reads strongly. Tables that
/// do not exist are left to the operation, which reports them as DynamoDB does.
pub async fn confirm_strong_reads(
    state: &ApiState,
    operation: &str,
    request: &Value,
) -> Result<(), ApiError> {
    if !state.node.is_replicated() {
        return Ok(());
    }
    let mut tables = strongly_read_tables(operation, request);
    tables.sort_unstable();
    tables.dedup();
    for name in tables {
        if let Ok(table) = state.table(name) {
            state.node.read_barrier(&table).await?;
        }
    }
    Ok(())
}
