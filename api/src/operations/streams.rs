//! The DynamoDB Streams API (`DynamoDBStreams_20120810.<Op>` on the same endpoint):
//! ListStreams, DescribeStream, GetShardIterator, GetRecords.

use cirrus_cluster::StreamOwner;
use cirrus_partition::StreamDescriptor;
use cirrus_storage::change_log::{ChangeKind, ChangeOrigin, ChangeRecord};
use cirrus_streams::change_log::{read_shard, shard_bounds, ShardBounds, ShardRef};
use cirrus_streams::iterator::ShardIterator;
use cirrus_streams::names::{self, parse_shard_id, parse_stream_arn, sequence_number, shard_id};
use cirrus_streams::owners::{stream_owner, stream_owners};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::key_schemas::key_schema_json;
use super::table_streams::view_type_name;
use crate::error::ApiError;
use crate::state::ApiState;
use crate::validation::{now_epoch_seconds, parse_input, Constraints};
use crate::wire::item_json::{response_body, StoredItemJson};

/// GetRecords returns at most 1 MB.
const PAGE_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListStreamsInput {
    table_name: Option<String>,
    limit: Option<i64>,
    exclusive_start_stream_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeStreamInput {
    stream_arn: Option<String>,
    limit: Option<i64>,
    exclusive_start_shard_id: Option<String>,
    shard_filter: Option<ShardFilterInput>,
}

/// DescribeStream's ShardFilter: only CHILD_SHARDS, the children of one shard.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ShardFilterInput {
    #[serde(rename = "Type")]
    kind: Option<String>,
    shard_id: Option<String>,
}

/// The API's length constraints on a shard id.
const SHARD_ID_LENGTH: (usize, usize) = (28, 65);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetShardIteratorInput {
    stream_arn: Option<String>,
    shard_id: Option<String>,
    shard_iterator_type: Option<String>,
    sequence_number: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordsInput {
    shard_iterator: Option<String>,
    limit: Option<i64>,
}

fn now_ms() -> u64 {
    (now_epoch_seconds() * 1000.0) as u64
}

fn missing() -> ApiError {
    ApiError::Internal("validated members missing".into())
}

fn stream_not_found(arn: &str) -> ApiError {
    ApiError::ResourceNotFound(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

/// Whether a disabled stream's records have all aged out, so the stream is gone.
fn aged_out(state: &ApiState, stream: &StreamDescriptor) -> bool {
    stream
        .disabled_at
        .is_some_and(|at| now_epoch_seconds() - at > state.stream_retention.as_secs_f64())
}

/// The table and stream an ARN names (the table may have been deleted since).
fn find_stream(state: &ApiState, arn: &str) -> Result<(StreamOwner, StreamDescriptor), ApiError> {
    let (table_name, label) = parse_stream_arn(arn)
        .ok_or_else(|| ApiError::validation(format!("Invalid StreamArn: {arn}")))?;
    if names::stream_arn(&state.table_arn(table_name), label) != arn {
        return Err(stream_not_found(arn));
    }
    stream_owners(&state.node)?
        .into_iter()
        .filter(|owner| owner.region == *state.region && owner.table_name == table_name)
        .find_map(|owner| {
            let stream = owner
                .streams
                .iter()
                .find(|s| s.label == label && !aged_out(state, s))
                .cloned()?;
            Some((owner, stream))
        })
        .ok_or_else(|| stream_not_found(arn))
}

fn shard_ref(owner: &StreamOwner, stream: &StreamDescriptor, partition: u16) -> ShardRef {
    ShardRef {
        table_id: owner.table_id,
        partition,
        stream_id: stream.stream_id,
    }
}

pub fn list_streams(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: ListStreamsInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.at_least(input.limit, "limit", 1);
    constraints.at_most(input.limit, "limit", 100);
    if input.table_name.is_some() {
        constraints.table_name(&input.table_name, "tableName");
    }
    constraints.finish()?;
    // Paging resumes after a position in (table name, label) order rather than after an
    // entry that must still exist, so it survives tables deleted between pages (whose
    // streams move to the deleted tables' list, or age out).
    let start = input
        .exclusive_start_stream_arn
        .as_deref()
        .map(|start| {
            parse_stream_arn(start).ok_or_else(|| {
                ApiError::validation(format!("Invalid ExclusiveStartStreamArn: {start}"))
            })
        })
        .transpose()?;
    let limit = input.limit.map_or(100, |l| l as usize);
    let mut streams = Vec::new();
    for owner in stream_owners(&state.node)? {
        if owner.region != *state.region
            || input
                .table_name
                .as_ref()
                .is_some_and(|name| *name != owner.table_name)
        {
            continue;
        }
        let table_arn = state.table_arn(&owner.table_name);
        for stream in owner.streams.iter().filter(|s| !aged_out(state, s)) {
            if start
                .is_some_and(|start| (owner.table_name.as_str(), stream.label.as_str()) <= start)
            {
                continue;
            }
            let position = (owner.table_name.clone(), stream.label.clone());
            streams.push((
                position,
                json!({
                    "StreamArn": names::stream_arn(&table_arn, &stream.label),
                    "TableName": owner.table_name,
                    "StreamLabel": stream.label,
                }),
            ));
        }
    }
    streams.sort_by(|a, b| a.0.cmp(&b.0));
    let more = streams.len() > limit;
    let streams: Vec<Value> = streams
        .into_iter()
        .take(limit)
        .map(|(_, stream)| stream)
        .collect();
    let mut response = json!({});
    if more {
        if let Some(last) = streams.last() {
            response["LastEvaluatedStreamArn"] = last["StreamArn"].clone();
        }
    }
    response["Streams"] = Value::Array(streams);
    response_body(&response)
}

/// A shard's SequenceNumberRange: from its first record (or where records would
/// start) and, once the stream is disabled, to its last.
fn sequence_range(bounds: &ShardBounds, closed: bool) -> Value {
    let start = bounds.first.unwrap_or(bounds.trim_horizon.max(1));
    let mut range = json!({ "StartingSequenceNumber": sequence_number(start) });
    if closed {
        range["EndingSequenceNumber"] = json!(sequence_number(bounds.last.unwrap_or(start)));
    }
    range
}

impl ShardFilterInput {
    fn check(&self, constraints: &mut Constraints) {
        constraints.one_of(&self.kind, "shardFilter.type", &["CHILD_SHARDS"]);
        if let Some(id) = &self.shard_id {
            let (min, max) = SHARD_ID_LENGTH;
            constraints.length_between(
                Some(id.len()),
                &format!("'{id}'"),
                "shardFilter.shardId",
                min,
                max,
            );
        }
    }

    /// The parent whose children are asked for.
    fn parent(&self) -> Result<&str, ApiError> {
        match (&self.kind, &self.shard_id) {
            (Some(_), Some(id)) => Ok(id),
            _ => Err(ApiError::validation(
                "ShardFilter requires both Type and ShardId; Type CHILD_SHARDS asks for the \
                 children of the shard ShardId names",
            )),
        }
    }
}

pub fn describe_stream(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: DescribeStreamInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.not_null(&input.stream_arn, "streamArn");
    constraints.at_least(input.limit, "limit", 1);
    constraints.at_most(input.limit, "limit", 100);
    if let Some(filter) = &input.shard_filter {
        filter.check(&mut constraints);
    }
    constraints.finish()?;
    let children_of = input
        .shard_filter
        .as_ref()
        .map(|f| f.parent())
        .transpose()?;
    let arn = input.stream_arn.as_deref().ok_or_else(missing)?;
    let (owner, stream) = find_stream(state, arn)?;
    let closed = stream.disabled_at.is_some();
    let limit = input.limit.map_or(100, |l| l as usize);
    let mut shards = Vec::new();
    let mut last_evaluated = None;
    // A shard per partition, for the stream's whole life: no shard has children. Shard
    // ids sort like partitions, and ExclusiveStartShardId is a position in that order,
    // whether or not a shard has that id (DynamoDB returns no shards after one it does
    // not know).
    let partitions = (0..owner.partitions).filter(|_| children_of.is_none());
    for partition in partitions {
        let id = shard_id(&stream, partition);
        if input
            .exclusive_start_shard_id
            .as_deref()
            .is_some_and(|start| id.as_str() <= start)
        {
            continue;
        }
        if shards.len() == limit {
            last_evaluated = shards
                .last()
                .and_then(|shard: &Value| shard["ShardId"].as_str().map(str::to_owned));
            break;
        }
        let bounds = shard_bounds(&state.node, shard_ref(&owner, &stream, partition))?;
        shards.push(json!({
            "ShardId": id,
            "SequenceNumberRange": sequence_range(&bounds, closed),
        }));
    }
    let mut description = json!({
        "StreamArn": arn,
        "StreamLabel": stream.label,
        "StreamStatus": if closed { "DISABLED" } else { "ENABLED" },
        "StreamViewType": view_type_name(stream.view),
        "CreationRequestDateTime": stream.created_at,
        "TableName": owner.table_name,
        "KeySchema": key_schema_json(&owner.key_schema),
        "Shards": shards,
    });
    if let Some(id) = last_evaluated {
        description["LastEvaluatedShardId"] = json!(id);
    }
    response_body(&json!({ "StreamDescription": description }))
}

fn parse_sequence(text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>()
        .map_err(|_| ApiError::validation(format!("Invalid SequenceNumber: {text}")))
}

fn trimmed(sequence: u64) -> ApiError {
    ApiError::TrimmedDataAccess(format!(
        "Attempted to access data that has been trimmed: the sequence number {} is beyond the \
         trim horizon of the shard",
        sequence_number(sequence)
    ))
}

pub fn get_shard_iterator(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: GetShardIteratorInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.not_null(&input.stream_arn, "streamArn");
    constraints.not_null(&input.shard_id, "shardId");
    constraints.not_null(&input.shard_iterator_type, "shardIteratorType");
    constraints.one_of(
        &input.shard_iterator_type,
        "shardIteratorType",
        &[
            "TRIM_HORIZON",
            "LATEST",
            "AT_SEQUENCE_NUMBER",
            "AFTER_SEQUENCE_NUMBER",
        ],
    );
    constraints.finish()?;
    let arn = input.stream_arn.as_deref().ok_or_else(missing)?;
    let id = input.shard_id.as_deref().ok_or_else(missing)?;
    let kind = input.shard_iterator_type.as_deref().ok_or_else(missing)?;
    let (owner, stream) = find_stream(state, arn)?;
    let partition = parse_shard_id(&stream, id)
        .filter(|p| *p < owner.partitions)
        .ok_or_else(|| {
            ApiError::ResourceNotFound(format!(
                "Requested resource not found: Shard: {id} in Stream: {arn} not found"
            ))
        })?;
    let shard = shard_ref(&owner, &stream, partition);
    let bounds = shard_bounds(&state.node, shard)?;
    let next = match (kind, input.sequence_number.as_deref()) {
        ("TRIM_HORIZON" | "LATEST", Some(_)) => {
            return Err(ApiError::validation(format!(
                "Invalid Request: SequenceNumber must not be provided for ShardIteratorType {kind}"
            )))
        }
        ("TRIM_HORIZON", None) => bounds.trim_horizon.max(1),
        ("LATEST", None) => bounds
            .last
            .map_or(bounds.trim_horizon.max(1), |last| last + 1),
        (_, None) => {
            return Err(ApiError::validation(format!(
                "Must specify a sequence number for iterator type {kind}"
            )))
        }
        (_, Some(text)) => {
            let sequence = parse_sequence(text)?;
            if sequence < bounds.trim_horizon {
                return Err(trimmed(sequence));
            }
            if kind == "AT_SEQUENCE_NUMBER" {
                sequence
            } else {
                sequence + 1
            }
        }
    };
    let iterator = ShardIterator {
        table_id: shard.table_id,
        stream_id: stream.stream_id,
        partition,
        next,
        issued_ms: now_ms(),
    };
    response_body(&json!({ "ShardIterator": iterator.encode() }))
}

/// A stream record as DynamoDB shapes it.
#[derive(Serialize)]
struct RecordOutput<'a> {
    #[serde(rename = "eventID")]
    event_id: String,
    #[serde(rename = "eventName")]
    event_name: &'static str,
    #[serde(rename = "eventVersion")]
    event_version: &'static str,
    #[serde(rename = "eventSource")]
    event_source: &'static str,
    #[serde(rename = "awsRegion")]
    aws_region: &'a str,
    dynamodb: ChangeOutput<'a>,
    #[serde(rename = "userIdentity", skip_serializing_if = "Option::is_none")]
    user_identity: Option<UserIdentity>,
}

/// The `dynamodb` member of a stream record: the change itself.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeOutput<'a> {
    approximate_creation_date_time: f64,
    keys: StoredItemJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_image: Option<StoredItemJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_image: Option<StoredItemJson<'a>>,
    sequence_number: String,
    size_bytes: u32,
    stream_view_type: &'static str,
}

/// Who made a change that no client request made: TTL's deletes.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserIdentity {
    #[serde(rename = "Type")]
    kind: &'static str,
    principal_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordsOutput<'a> {
    records: Vec<RecordOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_shard_iterator: Option<String>,
}

fn record_output<'a>(
    region: &'a str,
    shard: ShardRef,
    sequence: u64,
    record: &'a ChangeRecord,
) -> RecordOutput<'a> {
    let image = |stored: &'a Option<Vec<u8>>| {
        stored
            .as_deref()
            .map(|stored| StoredItemJson::new(stored, None))
    };
    RecordOutput {
        event_id: format!(
            "{:08x}{:04x}{:016x}",
            shard.table_id, shard.partition, sequence
        ),
        event_name: match record.kind {
            ChangeKind::Insert => "INSERT",
            ChangeKind::Modify => "MODIFY",
            ChangeKind::Remove => "REMOVE",
        },
        event_version: "1.1",
        event_source: "aws:dynamodb",
        aws_region: region,
        dynamodb: ChangeOutput {
            approximate_creation_date_time: (record.created_at_ms / 1000) as f64,
            keys: StoredItemJson::new(&record.keys, None),
            new_image: image(&record.new),
            old_image: image(&record.old),
            sequence_number: sequence_number(sequence),
            size_bytes: record.size_bytes,
            stream_view_type: view_type_name(record.view),
        },
        user_identity: (record.origin == ChangeOrigin::Service).then_some(UserIdentity {
            kind: "Service",
            principal_id: "dynamodb.amazonaws.com",
        }),
    }
}

pub fn get_records(state: &ApiState, request: Value) -> Result<Vec<u8>, ApiError> {
    let input: GetRecordsInput = parse_input(request)?;
    let mut constraints = Constraints::new();
    constraints.not_null(&input.shard_iterator, "shardIterator");
    constraints.at_least(input.limit, "limit", 1);
    constraints.at_most(input.limit, "limit", 1000);
    constraints.finish()?;
    let text = input.shard_iterator.as_deref().ok_or_else(missing)?;
    let iterator =
        ShardIterator::decode(text).ok_or_else(|| ApiError::validation("Invalid ShardIterator"))?;
    if iterator.expired(now_ms()) {
        return Err(ApiError::ExpiredIterator(
            "Iterator expired. The iterator was created more than 15 minutes ago".into(),
        ));
    }
    let gone = || ApiError::ResourceNotFound("Requested resource not found".into());
    // An iterator reads only in the region that handed it out.
    let owner = stream_owner(&state.node, iterator.table_id)?
        .filter(|owner| owner.region == *state.region)
        .ok_or_else(gone)?;
    let stream = owner
        .streams
        .iter()
        .find(|s| s.stream_id == iterator.stream_id && !aged_out(state, s))
        .cloned()
        .ok_or_else(gone)?;
    let shard = shard_ref(&owner, &stream, iterator.partition);
    let bounds = shard_bounds(&state.node, shard)?;
    if iterator.next < bounds.trim_horizon {
        return Err(trimmed(iterator.next));
    }
    let limit = input.limit.map_or(1000, |l| l as usize);
    let mut records = Vec::new();
    let mut bytes = 0;
    let mut next = iterator.next;
    read_shard(&state.node, shard, iterator.next, |sequence, record| {
        // A page holds at most 1 MB (but always at least one record).
        if !records.is_empty() && bytes + record.size_bytes as usize > PAGE_BYTES {
            return false;
        }
        bytes += record.size_bytes as usize;
        records.push((sequence, record));
        next = sequence + 1;
        records.len() < limit
    })?;
    // A closed shard read to its end has no next iterator.
    let exhausted = stream.disabled_at.is_some() && bounds.last.is_none_or(|last| next > last);
    let next_shard_iterator = (!exhausted).then(|| {
        ShardIterator {
            next,
            issued_ms: now_ms(),
            ..iterator
        }
        .encode()
    });
    response_body(&GetRecordsOutput {
        records: records
            .iter()
            .map(|(sequence, record)| record_output(&state.region, shard, *sequence, record))
            .collect(),
        next_shard_iterator,
    })
}
