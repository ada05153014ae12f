//! Cirrus's own admin API, beside DynamoDB's, under the target prefix
//! `CirrusAdmin_20261207.`: `DescribeNode` reports this node — its members and the Raft
//! state of each of its groups (`Node::report`), with `"Digests": true` each group's
//! state digest — for `cirrus cluster status`;
//! `AddNode` and `RemoveNode` change the cluster's members (`cirrus cluster add-node`,
//! `remove-node`, `replace-node`), returning once the catalog records the change (the
//! groups' leaders then move replicas, which `DescribeNode` shows).

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::ApiState;

pub fn describe_node(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let digests = request.get("Digests").and_then(Value::as_bool) == Some(true);
    let report = state.node.report(digests)?;
    serde_json::to_vec(&report).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The `NodeId` member of a request: a positive integer.
fn node_id(request: &Value) -> Result<u64, ApiError> {
    request
        .get("NodeId")
        .and_then(Value::as_u64)
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::Validation("NodeId must be a positive integer".into()))
}

pub async fn add_node(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    let id = node_id(&request)?;
    let peer_address = request
        .get("PeerAddress")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::Validation("PeerAddress must be HOST:PORT".into()))?;
    state.node.add_member(id, peer_address.to_string()).await?;
    Ok(json!({}))
}

pub async fn remove_node(state: &ApiState, request: Value) -> Result<Value, ApiError> {
    state.node.remove_member(node_id(&request)?).await?;
    Ok(json!({}))
}
