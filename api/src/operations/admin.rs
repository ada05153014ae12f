//! Cirrus's own admin API, beside DynamoDB's, under the target prefix
//! `CirrusAdmin_20261207.`: `DescribeNode` reports this node — its members and the Raft
//! state of each of its groups (`Node::report`) — for `cirrus cluster status`.

use crate::error::ApiError;
use crate::state::ApiState;

pub fn describe_node(state: &ApiState) -> Result<Vec<u8>, ApiError> {
    let report = state.node.report()?;
    serde_json::to_vec(&report).map_err(|e| ApiError::Internal(e.to_string()))
}
