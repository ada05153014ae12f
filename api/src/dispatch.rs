//! Routing a request to its operation by `X-Amz-Target`.

use crate::error::ApiError;
use crate::operations::{
    account, batch, items, query, scan, streams, tables, tags, time_to_live, transactions,
};
use crate::state::ApiState;

const DYNAMODB_PREFIX: &str = "DynamoDB_20120810.";
const STREAMS_PREFIX: &str = "DynamoDBStreams_20120810.";

/// Runs one request; `Ok` holds the JSON response body.
pub async fn dispatch(state: &ApiState, target: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let operation = match (
        target.strip_prefix(DYNAMODB_PREFIX),
        target.strip_prefix(STREAMS_PREFIX),
    ) {
        (Some(operation), _) => operation,
        (None, Some(operation)) => match operation {
            "ListStreams" | "DescribeStream" | "GetShardIterator" | "GetRecords" => target,
            _ => return Err(ApiError::UnknownOperation(String::new())),
        },
        (None, None) => return Err(ApiError::UnknownOperation(String::new())),
    };
    let request: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::Serialization("Start of structure or map found where not expected.".into())
    })?;
    if !request.is_object() {
        return Err(ApiError::Serialization(
            "Start of structure or map found where not expected.".into(),
        ));
    }
    let response = match operation {
        "PutItem" => items::put_item(state, request).await?,
        "GetItem" => items::get_item(state, request)?,
        "DeleteItem" => items::delete_item(state, request).await?,
        "UpdateItem" => items::update_item(state, request).await?,
        "Query" => query::query(state, request)?,
        "Scan" => scan::scan(state, request)?,
        "BatchGetItem" => batch::batch_get_item(state, request)?,
        "BatchWriteItem" => batch::batch_write_item(state, request).await?,
        "TransactWriteItems" => transactions::transact_write_items(state, request).await?,
        "TransactGetItems" => transactions::transact_get_items(state, request).await?,
        "CreateTable" => tables::create_table(state, request).await?,
        "DescribeTable" => tables::describe_table(state, request)?,
        "ListTables" => tables::list_tables(state, request)?,
        "DeleteTable" => tables::delete_table(state, request).await?,
        "UpdateTable" => tables::update_table(state, request).await?,
        "TagResource" => tags::tag_resource(state, request).await?,
        "UntagResource" => tags::untag_resource(state, request).await?,
        "ListTagsOfResource" => tags::list_tags_of_resource(state, request)?,
        "DescribeEndpoints" => account::describe_endpoints(state),
        "DescribeLimits" => account::describe_limits(),
        "UpdateTimeToLive" => time_to_live::update_time_to_live(state, request).await?,
        "DescribeTimeToLive" => time_to_live::describe_time_to_live(state, request)?,
        "DynamoDBStreams_20120810.ListStreams" => streams::list_streams(state, request)?,
        "DynamoDBStreams_20120810.DescribeStream" => streams::describe_stream(state, request)?,
        "DynamoDBStreams_20120810.GetShardIterator" => streams::get_shard_iterator(state, request)?,
        "DynamoDBStreams_20120810.GetRecords" => streams::get_records(state, request)?,
        _ => return Err(ApiError::UnknownOperation(String::new())),
    };
    Ok(response.to_string().into_bytes())
}
