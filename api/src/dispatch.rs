//! Routing a request to its operation by `X-Amz-Target`.

use serde_json::Value;

use crate::blocking::run_blocking;
use crate::error::ApiError;
use crate::operations::{
    account, admin, batch, items, query, scan, streams, tables, tags, time_to_live, transactions,
};
use crate::state::ApiState;

const DYNAMODB_PREFIX: &str = "DynamoDB_20120810.";
const STREAMS_PREFIX: &str = "DynamoDBStreams_20120810.";
/// Cirrus's admin API (`operations::admin`).
pub const ADMIN_PREFIX: &str = "CirrusAdmin_20261207.";

/// An operation that reads more than one item from RocksDB.
type BlockingRead = fn(&ApiState, Value) -> Result<Vec<u8>, ApiError>;

/// Runs one request; `Ok` holds the JSON response body.
pub async fn dispatch(state: ApiState, target: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    // DynamoDB parses the body before it looks at the target: malformed JSON is a
    // SerializationException (with no message) whatever the operation.
    let request: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::Serialization(String::new()))?;
    let operation = match (
        target.strip_prefix(DYNAMODB_PREFIX),
        target.strip_prefix(STREAMS_PREFIX),
    ) {
        (Some(operation), _) => operation,
        (None, Some(operation)) => match operation {
            "ListStreams" | "DescribeStream" | "GetShardIterator" | "GetRecords" => target,
            _ => return Err(ApiError::UnknownOperation(String::new())),
        },
        (None, None) => match target.strip_prefix(ADMIN_PREFIX) {
            Some("DescribeNode" | "AddNode" | "RemoveNode") => target,
            _ => return Err(ApiError::UnknownOperation(String::new())),
        },
    };
    if !request.is_object() {
        return Err(ApiError::Serialization(
            "Start of structure or map found where not expected.".into(),
        ));
    }
    let blocking_read: Option<BlockingRead> = match operation {
        "Query" => Some(query::query),
        "Scan" => Some(scan::scan),
        "BatchGetItem" => Some(batch::batch_get_item),
        "DynamoDBStreams_20120810.ListStreams" => Some(streams::list_streams),
        "DynamoDBStreams_20120810.DescribeStream" => Some(streams::describe_stream),
        "DynamoDBStreams_20120810.GetShardIterator" => Some(streams::get_shard_iterator),
        "DynamoDBStreams_20120810.GetRecords" => Some(streams::get_records),
        // With digests, it reads every group's state.
        "CirrusAdmin_20261207.DescribeNode" => Some(admin::describe_node),
        _ => None,
    };
    if let Some(read) = blocking_read {
        return run_blocking(move || read(&state, request)).await;
    }
    let state = &state;
    match operation {
        "PutItem" => items::put_item(state, request).await,
        "GetItem" => items::get_item(state, request).await,
        "DeleteItem" => items::delete_item(state, request).await,
        "UpdateItem" => items::update_item(state, request).await,
        "BatchWriteItem" => batch::batch_write_item(state, request).await,
        "TransactGetItems" => transactions::transact_get_items(state, request).await,
        "TransactWriteItems" => json(transactions::transact_write_items(state, request).await),
        "CreateTable" => json(tables::create_table(state, request).await),
        "DescribeTable" => json(tables::describe_table(state, request)),
        "ListTables" => json(tables::list_tables(state, request)),
        "DeleteTable" => json(tables::delete_table(state, request).await),
        "UpdateTable" => json(tables::update_table(state, request).await),
        "TagResource" => tags::tag_resource(state, request).await,
        "UntagResource" => tags::untag_resource(state, request).await,
        "ListTagsOfResource" => json(tags::list_tags_of_resource(state, request)),
        "DescribeEndpoints" => json(Ok(account::describe_endpoints(state))),
        "DescribeLimits" => json(Ok(account::describe_limits())),
        "UpdateTimeToLive" => json(time_to_live::update_time_to_live(state, request).await),
        "DescribeTimeToLive" => json(time_to_live::describe_time_to_live(state, request)),
        "CirrusAdmin_20261207.AddNode" => json(admin::add_node(state, request).await),
        "CirrusAdmin_20261207.RemoveNode" => json(admin::remove_node(state, request).await),
        _ => Err(ApiError::UnknownOperation(String::new())),
    }
}

/// The body of an operation whose response holds no items, built as a `Value`.
fn json(response: Result<Value, ApiError>) -> Result<Vec<u8>, ApiError> {
    response.map(|response| response.to_string().into_bytes())
}
