//! DynamoDB Streams: StreamSpecification on CreateTable/UpdateTable/DescribeTable, the
//! Streams API (ListStreams, DescribeStream, GetShardIterator, GetRecords) and its
//! validation, the records each write produces under each StreamViewType, iterator
//! positions, the 1 MB / 1000 record page limits, closed shards of disabled streams,
//! restarts, retention (`--stream-retention`), and how soon an acknowledged write can be
//! read from the stream (printed as p50/p99 for docs/benchmarks.md).
//!
//! DynamoDB's behaviour is the specification; where a message text is DynamoDB's own
//! (as observed against the real service) the test asserts it, otherwise it asserts the
//! error code and a stable substring.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeyType, LocalSecondaryIndex, Projection, ProjectionType, Put, PutRequest, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableDescription, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodbstreams::types::{
    OperationType, Record, Shard, ShardIteratorType, StreamStatus, StreamViewType as RecordViewType,
};
use aws_sdk_dynamodbstreams::Client as Streams;
use common::*;

const REGION: &str = "us-east-1";
/// How many pages a paging loop over the Streams API may fetch before it counts as runaway.
const MAX_STREAM_PAGES: usize = 5_000;
/// How long a stream may take to become ENABLED or DISABLED after an UpdateTable.
const STREAM_STATE_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn spec(view: StreamViewType) -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(view)
        .build()
        .unwrap()
}

fn spec_enabled_only() -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(true)
        .build()
        .unwrap()
}

fn spec_disabled() -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(false)
        .build()
        .unwrap()
}

fn record_view(view: &StreamViewType) -> RecordViewType {
    RecordViewType::from(view.as_str())
}

/// Create an on-demand table (hash `pk` S, with `range` also range `sk` N) with a stream
/// of `view`, wait until it is ACTIVE, and return CreateTable's TableDescription.
async fn create_stream_table(
    client: &Client,
    name: &str,
    view: StreamViewType,
    range: bool,
) -> TableDescription {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .stream_specification(spec(view));
    if range {
        req = req
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(attr_def("sk", ScalarAttributeType::N));
    }
    let out = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name} with a stream: {e:?}"));
    wait_active(client, name).await;
    out.table_description()
        .cloned()
        .unwrap_or_else(|| panic!("CreateTable {name}: no TableDescription"))
}

async fn latest_stream_arn(client: &Client, table: &str) -> String {
    describe_table(client, table)
        .await
        .latest_stream_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("DescribeTable {table}: no LatestStreamArn"))
}

async fn update_stream(client: &Client, table: &str, spec: StreamSpecification) {
    client
        .update_table()
        .table_name(table)
        .stream_specification(spec.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTable {table} {spec:?}: {e:?}"));
    wait_active(client, table).await;
}

async fn describe_stream(
    streams: &Streams,
    arn: &str,
) -> aws_sdk_dynamodbstreams::types::StreamDescription {
    streams
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeStream {arn}: {e:?}"))
        .stream_description()
        .cloned()
        .unwrap_or_else(|| panic!("DescribeStream {arn}: no StreamDescription"))
}

/// Poll DescribeStream (bounded) until the stream has `status`.
async fn wait_stream_status(streams: &Streams, arn: &str, status: StreamStatus) {
    let deadline = Instant::now() + STREAM_STATE_TIMEOUT;
    loop {
        let desc = describe_stream(streams, arn).await;
        if desc.stream_status() == Some(&status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stream {arn} not {status:?} within {STREAM_STATE_TIMEOUT:?} (is {:?})",
            desc.stream_status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every shard of the stream, paging DescribeStream with ExclusiveStartShardId.
async fn all_shards(streams: &Streams, arn: &str) -> Vec<Shard> {
    let mut shards = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..MAX_STREAM_PAGES {
        let out = streams
            .describe_stream()
            .stream_arn(arn)
            .set_exclusive_start_shard_id(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeStream {arn}: {e:?}"));
        let desc = out
            .stream_description()
            .unwrap_or_else(|| panic!("DescribeStream {arn}: no StreamDescription"));
        shards.extend(desc.shards().iter().cloned());
        match desc.last_evaluated_shard_id() {
            Some(id) => start = Some(id.to_owned()),
            None => return shards,
        }
    }
    panic!("DescribeStream {arn} did not finish within {MAX_STREAM_PAGES} pages");
}

async fn shard_iterator(
    streams: &Streams,
    arn: &str,
    shard_id: &str,
    kind: ShardIteratorType,
    seq: Option<&str>,
) -> String {
    streams
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard_id)
        .shard_iterator_type(kind.clone())
        .set_sequence_number(seq.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetShardIterator {arn} {shard_id} {kind:?} {seq:?}: {e:?}"))
        .shard_iterator()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("GetShardIterator {arn} {shard_id} {kind:?}: no ShardIterator"))
}

struct ShardRead {
    records: Vec<Record>,
    /// The iterator to go on reading with; `None` once a closed shard is exhausted.
    next: Option<String>,
}

/// GetRecords from `iterator` until caught up (two consecutive empty pages) or until a
/// closed shard ends (no NextShardIterator).
async fn read_from(streams: &Streams, iterator: String, limit: Option<i32>) -> ShardRead {
    let mut records = Vec::new();
    let mut iter = iterator;
    let mut empty_pages = 0;
    for _ in 0..MAX_STREAM_PAGES {
        let out = streams
            .get_records()
            .shard_iterator(&iter)
            .set_limit(limit)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetRecords: {e:?}"));
        let page = out.records();
        if let Some(l) = limit {
            assert!(
                page.len() <= l as usize,
                "GetRecords with Limit {l} returned {} records",
                page.len()
            );
        }
        records.extend(page.iter().cloned());
        match out.next_shard_iterator() {
            None => {
                return ShardRead {
                    records,
                    next: None,
                }
            }
            Some(next) => iter = next.to_owned(),
        }
        if page.is_empty() {
            empty_pages += 1;
            if empty_pages >= 2 {
                return ShardRead {
                    records,
                    next: Some(iter),
                };
            }
        } else {
            empty_pages = 0;
        }
    }
    panic!("GetRecords did not catch up within {MAX_STREAM_PAGES} pages");
}

/// Every record of every shard of the stream from TRIM_HORIZON: (shard, its records, the
/// iterator after them or `None` if the shard is closed and exhausted), in DescribeStream order.
async fn read_stream(streams: &Streams, arn: &str) -> Vec<(Shard, ShardRead)> {
    let mut out = Vec::new();
    for shard in all_shards(streams, arn).await {
        let id = shard.shard_id().expect("ShardId").to_owned();
        let it = shard_iterator(streams, arn, &id, ShardIteratorType::TrimHorizon, None).await;
        out.push((shard, read_from(streams, it, None).await));
    }
    out
}

/// The records of a whole stream, concatenated shard after shard.
async fn stream_records(streams: &Streams, arn: &str) -> Vec<Record> {
    read_stream(streams, arn)
        .await
        .into_iter()
        .flat_map(|(_, r)| r.records)
        .collect()
}

fn rec_keys(r: &Record) -> Attrs {
    from_stream_item(
        r.dynamodb()
            .and_then(|d| d.keys())
            .unwrap_or_else(|| panic!("record without dynamodb.Keys: {r:?}")),
    )
}

fn rec_seq(r: &Record) -> String {
    r.dynamodb()
        .and_then(|d| d.sequence_number())
        .unwrap_or_else(|| panic!("record without dynamodb.SequenceNumber: {r:?}"))
        .to_owned()
}

fn rec_new(r: &Record) -> Option<Attrs> {
    r.dynamodb()
        .and_then(|d| d.new_image())
        .map(from_stream_item)
}

fn rec_old(r: &Record) -> Option<Attrs> {
    r.dynamodb()
        .and_then(|d| d.old_image())
        .map(from_stream_item)
}

fn rec_size(r: &Record) -> i64 {
    r.dynamodb().and_then(|d| d.size_bytes()).unwrap_or(0)
}

/// A printable identity of an item key that does not depend on HashMap order.
fn key_string(keys: &Attrs) -> String {
    let sorted: std::collections::BTreeMap<&String, AttributeValue> =
        keys.iter().map(|(k, v)| (k, canonical(v))).collect();
    format!("{sorted:?}")
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// A valid sequence number as the API documents it: numeric characters only, 21 to 40 long.
fn valid_seq(s: &str) -> bool {
    is_decimal(s) && (21..=40).contains(&s.len())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Problems with the parts of a record that do not depend on which write made it:
/// the envelope, the StreamRecord fields, and which images the view type carries.
fn record_shape_problems(r: &Record, view: &StreamViewType, since_secs: i64) -> Vec<String> {
    let mut bad = Vec::new();
    let id = r.event_id().unwrap_or_default();
    if id.is_empty() {
        bad.push("eventID missing".to_string());
    }
    if r.event_version() != Some("1.1") {
        bad.push(format!(
            "eventVersion {:?}, want \"1.1\"",
            r.event_version()
        ));
    }
    if r.event_source() != Some("aws:dynamodb") {
        bad.push(format!(
            "eventSource {:?}, want \"aws:dynamodb\"",
            r.event_source()
        ));
    }
    if r.aws_region() != Some(REGION) {
        bad.push(format!("awsRegion {:?}, want {REGION:?}", r.aws_region()));
    }
    if r.user_identity().is_some() {
        bad.push(format!(
            "userIdentity {:?} on a user's write",
            r.user_identity()
        ));
    }
    let name = r.event_name().cloned();
    if !matches!(
        name,
        Some(OperationType::Insert) | Some(OperationType::Modify) | Some(OperationType::Remove)
    ) {
        bad.push(format!("eventName {name:?}"));
    }
    let Some(d) = r.dynamodb() else {
        bad.push("no dynamodb member".to_string());
        return bad;
    };
    match d.approximate_creation_date_time() {
        None => bad.push("ApproximateCreationDateTime missing".to_string()),
        Some(t) => {
            let now = now_secs();
            if t.secs() < since_secs - 2 || t.secs() > now + 2 {
                bad.push(format!(
                    "ApproximateCreationDateTime {} outside [{}, {}]",
                    t.secs(),
                    since_secs - 2,
                    now + 2
                ));
            }
        }
    }
    if d.keys().is_none_or(|k| k.is_empty()) {
        bad.push("Keys missing".to_string());
    }
    match d.sequence_number() {
        Some(s) if valid_seq(s) => {}
        other => bad.push(format!(
            "SequenceNumber {other:?} is not 21-40 decimal digits"
        )),
    }
    if d.size_bytes().is_none_or(|n| n <= 0) {
        bad.push(format!("SizeBytes {:?}", d.size_bytes()));
    }
    let want_view = record_view(view);
    if d.stream_view_type() != Some(&want_view) {
        bad.push(format!(
            "StreamViewType {:?}, want {want_view:?}",
            d.stream_view_type()
        ));
    }
    let (new_allowed, old_allowed) = match view {
        StreamViewType::KeysOnly => (false, false),
        StreamViewType::NewImage => (true, false),
        StreamViewType::OldImage => (false, true),
        _ => (true, true),
    };
    let new_expected = new_allowed && name != Some(OperationType::Remove);
    let old_expected = old_allowed && name != Some(OperationType::Insert);
    if d.new_image().is_some() != new_expected {
        bad.push(format!(
            "{name:?} under {view:?}: NewImage present={}, want {new_expected}",
            d.new_image().is_some()
        ));
    }
    if d.old_image().is_some() != old_expected {
        bad.push(format!(
            "{name:?} under {view:?}: OldImage present={}, want {old_expected}",
            d.old_image().is_some()
        ));
    }
    bad
}

/// One expected stream record.
#[derive(Clone, Debug)]
struct Expected {
    name: OperationType,
    keys: Attrs,
    old: Option<Attrs>,
    new: Option<Attrs>,
}

fn insert(keys: &Attrs, new: Attrs) -> Expected {
    Expected {
        name: OperationType::Insert,
        keys: keys.clone(),
        old: None,
        new: Some(new),
    }
}

fn modify(keys: &Attrs, old: Attrs, new: Attrs) -> Expected {
    Expected {
        name: OperationType::Modify,
        keys: keys.clone(),
        old: Some(old),
        new: Some(new),
    }
}

fn remove(keys: &Attrs, old: Attrs) -> Expected {
    Expected {
        name: OperationType::Remove,
        keys: keys.clone(),
        old: Some(old),
        new: None,
    }
}

fn canon(i: &Option<Attrs>) -> Option<Attrs> {
    i.as_ref().map(canonical_item)
}

/// Compares the records of one item with the expected ones under `view`; one line per
/// difference.
fn event_differences(got: &[&Record], want: &[Expected], view: &StreamViewType) -> Vec<String> {
    let mut bad = Vec::new();
    if got.len() != want.len() {
        bad.push(format!(
            "{} records, want {}: got {:?}, want {:?}",
            got.len(),
            want.len(),
            got.iter()
                .map(|r| (r.event_name().cloned(), rec_old(r), rec_new(r)))
                .collect::<Vec<_>>(),
            want
        ));
    }
    for (i, (r, w)) in got.iter().zip(want).enumerate() {
        if r.event_name() != Some(&w.name) {
            bad.push(format!(
                "record {i}: eventName {:?}, want {:?}",
                r.event_name(),
                w.name
            ));
        }
        if canonical_item(&rec_keys(r)) != canonical_item(&w.keys) {
            bad.push(format!(
                "record {i}: Keys {:?}, want {:?}",
                rec_keys(r),
                w.keys
            ));
        }
        let (want_new, want_old) = match view {
            StreamViewType::KeysOnly => (None, None),
            StreamViewType::NewImage => (w.new.clone(), None),
            StreamViewType::OldImage => (None, w.old.clone()),
            _ => (w.new.clone(), w.old.clone()),
        };
        if canon(&rec_new(r)) != canon(&want_new) {
            bad.push(format!(
                "record {i} ({:?}): NewImage {:?}, want {want_new:?}",
                w.name,
                rec_new(r)
            ));
        }
        if canon(&rec_old(r)) != canon(&want_old) {
            bad.push(format!(
                "record {i} ({:?}): OldImage {:?}, want {want_old:?}",
                w.name,
                rec_old(r)
            ));
        }
    }
    bad
}

/// Like `check_err`, but the message must contain `needle` ignoring ASCII case.
fn check_err_ci<
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
>(
    what: &str,
    result: Result<T, SdkError<E, R>>,
    want_code: &str,
    needle: &str,
) -> Result<(), String> {
    match result {
        Ok(v) => Err(format!(
            "{what}: expected {want_code}, but the request succeeded: {v:?}"
        )),
        Err(err) => {
            let code = err.code().unwrap_or_default().to_owned();
            let message = err.message().unwrap_or_default().to_owned();
            if code != want_code {
                return Err(format!(
                    "{what}: expected code {want_code}, got {code:?} with message {message:?} ({err:?})"
                ));
            }
            if !message
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase())
            {
                return Err(format!(
                    "{what}: code {code} as expected, but message {message:?} does not mention {needle:?}"
                ));
            }
            Ok(())
        }
    }
}

/// A raw Streams API request; returns the response (status, body).
fn raw_streams(server: &TestServer, op: &str, body: &serde_json::Value) -> RawResponse {
    server.raw_request(&format!("DynamoDBStreams_20120810.{op}"), &body.to_string())
}

fn check_raw_err(what: &str, resp: &RawResponse, want_type: &str) -> Result<(), String> {
    let ty = resp.error_type().unwrap_or_default();
    if resp.status == 400 && (ty == want_type || ty.ends_with(&format!("#{want_type}"))) {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected 400 {want_type}, got {} {}",
            resp.status,
            resp.body_str()
        ))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

// ---------------------------------------------------------------------------------------
// StreamSpecification on the table
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_descriptions_carry_the_stream_specification() {
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();

    let created =
        create_stream_table(&client, "described", StreamViewType::NewAndOldImages, false).await;
    let want_spec = spec(StreamViewType::NewAndOldImages);
    if created.stream_specification() != Some(&want_spec) {
        f.push(format!(
            "CreateTable: StreamSpecification {:?}, want {want_spec:?}",
            created.stream_specification()
        ));
    }
    let arn = created
        .latest_stream_arn()
        .expect("CreateTable: LatestStreamArn")
        .to_owned();
    let label = created
        .latest_stream_label()
        .expect("CreateTable: LatestStreamLabel")
        .to_owned();
    let desc = describe_table(&client, "described").await;
    let table_arn = desc.table_arn().expect("TableArn");
    if arn != format!("{table_arn}/stream/{label}") {
        f.push(format!(
            "LatestStreamArn {arn} is not <TableArn>/stream/<LatestStreamLabel> ({table_arn}, {label})"
        ));
    }
    if !(37..=1024).contains(&arn.len()) {
        f.push(format!("LatestStreamArn {arn} is not 37-1024 characters"));
    }
    if desc.stream_specification() != Some(&want_spec) {
        f.push(format!(
            "DescribeTable: StreamSpecification {:?}, want {want_spec:?}",
            desc.stream_specification()
        ));
    }
    if desc.latest_stream_arn() != Some(arn.as_str())
        || desc.latest_stream_label() != Some(label.as_str())
    {
        f.push(format!(
            "DescribeTable: LatestStreamArn {:?} / LatestStreamLabel {:?}, want {arn} / {label}",
            desc.latest_stream_arn(),
            desc.latest_stream_label()
        ));
    }
    let listed = streams
        .list_streams()
        .table_name("described")
        .send()
        .await
        .unwrap();
    let got: Vec<_> = listed
        .streams()
        .iter()
        .map(|s| (s.stream_arn(), s.table_name(), s.stream_label()))
        .collect();
    if got != vec![(Some(arn.as_str()), Some("described"), Some(label.as_str()))] {
        f.push(format!(
            "ListStreams(described): {got:?}, want the one stream {arn}"
        ));
    }
    let sd = describe_stream(&streams, &arn).await;
    if sd.stream_status() != Some(&StreamStatus::Enabled) {
        f.push(format!("DescribeStream: status {:?}", sd.stream_status()));
    }

    // A table without a stream has none of it.
    create_table(&client, "plain", ("pk", ScalarAttributeType::S), None).await;
    let plain = describe_table(&client, "plain").await;
    if plain.stream_specification().is_some()
        || plain.latest_stream_arn().is_some()
        || plain.latest_stream_label().is_some()
    {
        f.push(format!(
            "table without a stream: StreamSpecification {:?}, LatestStreamArn {:?}, LatestStreamLabel {:?}",
            plain.stream_specification(),
            plain.latest_stream_arn(),
            plain.latest_stream_label()
        ));
    }
    let none = streams
        .list_streams()
        .table_name("plain")
        .send()
        .await
        .unwrap();
    if !none.streams().is_empty() {
        f.push(format!("ListStreams(plain) lists {:?}", none.streams()));
    }

    // StreamEnabled=false on CreateTable creates no stream.
    client
        .create_table()
        .table_name("off")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .stream_specification(spec_disabled())
        .send()
        .await
        .unwrap();
    wait_active(&client, "off").await;
    let off = describe_table(&client, "off").await;
    if off.latest_stream_arn().is_some()
        || off
            .stream_specification()
            .is_some_and(|s| s.stream_enabled())
    {
        f.push(format!(
            "CreateTable with StreamEnabled=false: StreamSpecification {:?}, LatestStreamArn {:?}",
            off.stream_specification(),
            off.latest_stream_arn()
        ));
    }

    // UpdateTable enabling a stream reports it in its own TableDescription.
    let updated = client
        .update_table()
        .table_name("plain")
        .stream_specification(spec(StreamViewType::KeysOnly))
        .send()
        .await
        .unwrap();
    let td = updated
        .table_description()
        .expect("UpdateTable TableDescription");
    let want_keys_only = spec(StreamViewType::KeysOnly);
    if td.stream_specification() != Some(&want_keys_only) || td.latest_stream_arn().is_none() {
        f.push(format!(
            "UpdateTable enabling KEYS_ONLY: StreamSpecification {:?}, LatestStreamArn {:?}",
            td.stream_specification(),
            td.latest_stream_arn()
        ));
    }
    wait_active(&client, "plain").await;
    let plain_arn = latest_stream_arn(&client, "plain").await;
    if plain_arn == arn {
        f.push("two tables share a stream ARN".to_string());
    }
    wait_stream_status(&streams, &plain_arn, StreamStatus::Enabled).await;
    let all = streams.list_streams().send().await.unwrap();
    let mut all_arns: Vec<&str> = all
        .streams()
        .iter()
        .filter_map(|s| s.stream_arn())
        .collect();
    all_arns.sort();
    let mut want_arns = vec![arn.as_str(), plain_arn.as_str()];
    want_arns.sort();
    if all_arns != want_arns {
        f.push(format!("ListStreams(): {all_arns:?}, want {want_arns:?}"));
    }
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_specification_validation() {
    let server = TestServer::start();
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();

    let create = |name: &str, spec: StreamSpecification| {
        client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
            .stream_specification(spec)
            .send()
    };
    f.check(check_err(
        "CreateTable StreamEnabled=true without StreamViewType",
        create("cre1", spec_enabled_only()).await,
        "ValidationException",
        Some("One or more parameter values were invalid: Table is being created with a stream enabled, UpdateViewType is required"),
    ));
    f.check(check_err(
        "CreateTable StreamEnabled=false with a StreamViewType",
        create(
            "cre2",
            StreamSpecification::builder()
                .stream_enabled(false)
                .stream_view_type(StreamViewType::KeysOnly)
                .build()
                .unwrap(),
        )
        .await,
        "ValidationException",
        Some("One or more parameter values were invalid: Table is being created with a stream disabled, UpdateViewType should not be specified"),
    ));
    f.check(check_err(
        "CreateTable with StreamViewType Fisk",
        create("cre3", spec(StreamViewType::from("Fisk"))).await,
        "ValidationException",
        Some("failed to satisfy constraint: Member must satisfy enum value set"),
    ));
    let resp = server.raw_request(
        "DynamoDB_20120810.CreateTable",
        &serde_json::json!({
            "TableName": "cre4",
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "StreamSpecification": {"StreamViewType": "KEYS_ONLY"}
        })
        .to_string(),
    );
    let msg = resp.error_message().unwrap_or_default();
    if resp
        .error_type()
        .as_deref()
        .is_none_or(|t| !t.ends_with("ValidationException"))
        || !msg.contains("streamSpecification.streamEnabled")
        || !msg.contains("Member must not be null")
    {
        f.push(format!(
            "CreateTable with StreamSpecification lacking StreamEnabled: {} {}",
            resp.status,
            resp.body_str()
        ));
    }
    for name in ["cre1", "cre2", "cre3", "cre4"] {
        f.check(check_err(
            &format!("table {name} of a refused CreateTable"),
            client.describe_table().table_name(name).send().await,
            "ResourceNotFoundException",
            None,
        ));
    }

    create_table(&client, "tbl", ("pk", ScalarAttributeType::S), None).await;
    let update = |spec: StreamSpecification| {
        client
            .update_table()
            .table_name("tbl")
            .stream_specification(spec)
            .send()
    };
    f.check(check_err(
        "UpdateTable disabling a stream the table does not have",
        update(spec_disabled()).await,
        "ValidationException",
        Some("Table has no stream to disable: TableName: tbl"),
    ));
    f.check(check_err(
        "UpdateTable StreamEnabled=true without StreamViewType",
        update(spec_enabled_only()).await,
        "ValidationException",
        Some("One or more parameter values were invalid: If stream is being enabled then UpdateViewType is required"),
    ));
    f.check(check_err(
        "UpdateTable with StreamViewType Fisk",
        update(spec(StreamViewType::from("Fisk"))).await,
        "ValidationException",
        Some("failed to satisfy constraint: Member must satisfy enum value set"),
    ));
    if describe_table(&client, "tbl")
        .await
        .latest_stream_arn()
        .is_some()
    {
        f.push("a refused UpdateTable left a stream behind".to_string());
    }
    update_stream(&client, "tbl", spec(StreamViewType::NewImage)).await;
    let arn = latest_stream_arn(&client, "tbl").await;
    for view in [StreamViewType::NewImage, StreamViewType::OldImage] {
        f.check(check_err(
            &format!("UpdateTable enabling {view:?} on a table with an enabled stream"),
            update(spec(view.clone())).await,
            "ValidationException",
            Some("Table already has an enabled stream: TableName: tbl"),
        ));
    }
    f.check(check_err(
        "UpdateTable disabling with a StreamViewType",
        update(
            StreamSpecification::builder()
                .stream_enabled(false)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .await,
        "ValidationException",
        Some("One or more parameter values were invalid: If stream is being disabled, then UpdateViewType must not be specified"),
    ));
    f.check(check_err(
        "UpdateTable disabling the stream and creating an index at once",
        client
            .update_table()
            .table_name("tbl")
            .attribute_definitions(attr_def("g", ScalarAttributeType::S))
            .global_secondary_index_updates(
                aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                    .create(
                        aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                            .index_name("by_g")
                            .key_schema(key("g", KeyType::Hash))
                            .projection(
                                Projection::builder()
                                    .projection_type(ProjectionType::KeysOnly)
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .stream_specification(spec_disabled())
            .send()
            .await,
        "ValidationException",
        Some("One or more parameter values were invalid: You cannot create or delete index while changing stream status"),
    ));
    // None of the refused updates changed the stream.
    let desc = describe_table(&client, "tbl").await;
    if desc.stream_specification() != Some(&spec(StreamViewType::NewImage))
        || desc.latest_stream_arn() != Some(arn.as_str())
    {
        f.push(format!(
            "after refused updates: StreamSpecification {:?}, LatestStreamArn {:?} (want NEW_IMAGE, {arn})",
            desc.stream_specification(),
            desc.latest_stream_arn()
        ));
    }
    let listed = streams
        .list_streams()
        .table_name("tbl")
        .send()
        .await
        .unwrap();
    if listed.streams().len() != 1 {
        f.push(format!(
            "after refused updates ListStreams(t) lists {:?}",
            listed.streams()
        ));
    }
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_closes_the_stream_and_reenabling_makes_a_new_one() {
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let since = now_secs();

    // Writes before the stream exists are in no stream.
    create_table(&client, "tbl", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&client, "tbl", item(&[("pk", s("before"))])).await;
    update_stream(&client, "tbl", spec(StreamViewType::NewImage)).await;
    let desc = describe_table(&client, "tbl").await;
    let arn1 = desc
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_owned();
    let label1 = desc
        .latest_stream_label()
        .expect("LatestStreamLabel")
        .to_owned();
    wait_stream_status(&streams, &arn1, StreamStatus::Enabled).await;
    let open_shards = all_shards(&streams, &arn1).await;
    let latest_before: Vec<(String, String)> = {
        let mut v = Vec::new();
        for sh in &open_shards {
            let id = sh.shard_id().unwrap().to_owned();
            let it = shard_iterator(&streams, &arn1, &id, ShardIteratorType::Latest, None).await;
            v.push((id, it));
        }
        v
    };
    let a_items: Vec<Attrs> = (0..6)
        .map(|i| item(&[("pk", s(&format!("a{i}"))), ("v", n(&i.to_string()))]))
        .collect();
    for it in &a_items {
        put_ok(&client, "tbl", it.clone()).await;
    }

    // Disable: the stream stays, DISABLED, with closed shards.
    update_stream(&client, "tbl", spec_disabled()).await;
    wait_stream_status(&streams, &arn1, StreamStatus::Disabled).await;
    let desc = describe_table(&client, "tbl").await;
    if desc.stream_specification().is_some() {
        f.push(format!(
            "DescribeTable after disabling: StreamSpecification {:?}, want it absent (as DynamoDB does)",
            desc.stream_specification()
        ));
    }
    if desc.latest_stream_arn() != Some(arn1.as_str())
        || desc.latest_stream_label() != Some(label1.as_str())
    {
        f.push(format!(
            "DescribeTable after disabling: LatestStreamArn {:?} LatestStreamLabel {:?}, want the disabled stream's {arn1} {label1}",
            desc.latest_stream_arn(),
            desc.latest_stream_label()
        ));
    }
    f.check(check_err(
        "disabling again",
        client
            .update_table()
            .table_name("tbl")
            .stream_specification(spec_disabled())
            .send()
            .await,
        "ValidationException",
        Some("Table has no stream to disable: TableName: tbl"),
    ));
    put_ok(&client, "tbl", item(&[("pk", s("while-disabled"))])).await;

    let sd = describe_stream(&streams, &arn1).await;
    if sd.stream_view_type() != Some(&RecordViewType::NewImage) || sd.table_name() != Some("tbl") {
        f.push(format!(
            "disabled stream: view {:?} table {:?}",
            sd.stream_view_type(),
            sd.table_name()
        ));
    }
    let closed = all_shards(&streams, &arn1).await;
    let ids = |v: &[Shard]| -> Vec<String> {
        v.iter()
            .map(|s| s.shard_id().unwrap_or_default().to_owned())
            .collect()
    };
    if ids(&closed) != ids(&open_shards) {
        f.push(format!(
            "disabling changed the shards: {:?} -> {:?}",
            ids(&open_shards),
            ids(&closed)
        ));
    }
    let mut seen: Vec<Attrs> = Vec::new();
    for (shard, read) in read_stream(&streams, &arn1).await {
        let range = shard.sequence_number_range().expect("SequenceNumberRange");
        let start = range.starting_sequence_number().unwrap_or_default();
        let Some(end) = range.ending_sequence_number() else {
            f.push(format!(
                "shard {:?} of a disabled stream has no EndingSequenceNumber",
                shard.shard_id()
            ));
            continue;
        };
        if !valid_seq(end) || seq_cmp(end, start).is_lt() {
            f.push(format!(
                "shard {:?}: EndingSequenceNumber {end} invalid or before StartingSequenceNumber {start}",
                shard.shard_id()
            ));
        }
        for r in &read.records {
            if seq_cmp(&rec_seq(r), end).is_gt() {
                f.push(format!(
                    "record {} after EndingSequenceNumber {end}",
                    rec_seq(r)
                ));
            }
            for p in record_shape_problems(r, &StreamViewType::NewImage, since) {
                f.push(format!("disabled stream record: {p}"));
            }
            seen.extend(rec_new(r));
        }
        if read.next.is_some() {
            f.push(format!(
                "reading closed shard {:?} to its end still returned a NextShardIterator",
                shard.shard_id()
            ));
        }
        // LATEST of a closed shard reads nothing and ends.
        let it = shard_iterator(
            &streams,
            &arn1,
            shard.shard_id().unwrap(),
            ShardIteratorType::Latest,
            None,
        )
        .await;
        let out = streams
            .get_records()
            .shard_iterator(it)
            .send()
            .await
            .unwrap();
        if !out.records().is_empty() || out.next_shard_iterator().is_some() {
            f.push(format!(
                "LATEST of closed shard {:?}: {} records, NextShardIterator {:?}",
                shard.shard_id(),
                out.records().len(),
                out.next_shard_iterator()
            ));
        }
    }
    let mut seen_c: Vec<Attrs> = seen.iter().map(canonical_item).collect();
    let mut want_c: Vec<Attrs> = a_items.iter().map(canonical_item).collect();
    let sort_key = |i: &Attrs| format!("{:?}", i.get("pk"));
    seen_c.sort_by_key(sort_key);
    want_c.sort_by_key(sort_key);
    if seen_c != want_c {
        f.push(format!(
            "disabled stream holds {seen_c:?}, want exactly the writes made while it was enabled {want_c:?}"
        ));
    }
    // Iterators taken before the stream was disabled still read it, and end.
    let mut via_old_iterators = 0;
    for (id, it) in latest_before {
        let read = read_from(&streams, it, None).await;
        via_old_iterators += read.records.len();
        if read.next.is_some() {
            f.push(format!(
                "iterator from before disabling: shard {id} did not end"
            ));
        }
    }
    if via_old_iterators != a_items.len() {
        f.push(format!(
            "iterators from before disabling read {via_old_iterators} records, want {}",
            a_items.len()
        ));
    }

    // Re-enable with another view type: a new stream.
    update_stream(&client, "tbl", spec(StreamViewType::KeysOnly)).await;
    let desc = describe_table(&client, "tbl").await;
    let arn2 = desc
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_owned();
    let label2 = desc
        .latest_stream_label()
        .expect("LatestStreamLabel")
        .to_owned();
    if arn2 == arn1 || label2 == label1 {
        f.push(format!(
            "re-enabling kept the stream: {arn1} {label1} -> {arn2} {label2}"
        ));
    }
    if desc.stream_specification() != Some(&spec(StreamViewType::KeysOnly)) {
        f.push(format!(
            "after re-enabling: StreamSpecification {:?}",
            desc.stream_specification()
        ));
    }
    wait_stream_status(&streams, &arn2, StreamStatus::Enabled).await;
    let new_shards = all_shards(&streams, &arn2).await;
    for sh in &new_shards {
        if sh
            .sequence_number_range()
            .and_then(|r| r.ending_sequence_number())
            .is_some()
        {
            f.push(format!("new stream's shard {:?} is closed", sh.shard_id()));
        }
    }
    let listed = streams
        .list_streams()
        .table_name("tbl")
        .send()
        .await
        .unwrap();
    let mut got: Vec<(String, String)> = listed
        .streams()
        .iter()
        .map(|s| {
            (
                s.stream_arn().unwrap_or_default().to_owned(),
                s.stream_label().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (arn1.clone(), label1.clone()),
        (arn2.clone(), label2.clone()),
    ];
    want.sort();
    if got != want {
        f.push(format!("ListStreams(tbl): {got:?}, want {want:?}"));
    }
    put_ok(&client, "tbl", item(&[("pk", s("c")), ("v", n("1"))])).await;
    let new_records = stream_records(&streams, &arn2).await;
    let keys: Vec<Attrs> = new_records.iter().map(rec_keys).collect();
    if keys != vec![item(&[("pk", s("c"))])] {
        f.push(format!(
            "new stream holds records of {keys:?}, want only the write made after re-enabling"
        ));
    }
    for r in &new_records {
        for p in record_shape_problems(r, &StreamViewType::KeysOnly, since) {
            f.push(format!("new stream record: {p}"));
        }
    }
    let old_again = stream_records(&streams, &arn1).await;
    if old_again.len() != a_items.len() {
        f.push(format!(
            "the disabled stream changed after re-enabling: {} records",
            old_again.len()
        ));
    }
    let sd = describe_stream(&streams, &arn1).await;
    if sd.stream_status() != Some(&StreamStatus::Disabled) {
        f.push(format!(
            "old stream after re-enabling: status {:?}",
            sd.stream_status()
        ));
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// ListStreams, DescribeStream, GetShardIterator, GetRecords: shapes and validation
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_streams_filters_and_pages() {
    let server = TestServer::start_with(&["--partitions-per-table", "1"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let mut want: HashMap<String, (String, String)> = HashMap::new();
    for i in 0..5 {
        let name = format!("str{i}");
        let td = create_stream_table(&client, &name, StreamViewType::KeysOnly, false).await;
        want.insert(
            td.latest_stream_arn().unwrap().to_owned(),
            (name, td.latest_stream_label().unwrap().to_owned()),
        );
    }
    create_table(&client, "nostream", ("pk", ScalarAttributeType::S), None).await;

    let all = streams.list_streams().send().await.unwrap();
    let got: HashMap<String, (String, String)> = all
        .streams()
        .iter()
        .map(|s| {
            (
                s.stream_arn().unwrap_or_default().to_owned(),
                (
                    s.table_name().unwrap_or_default().to_owned(),
                    s.stream_label().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect();
    if got != want || all.streams().len() != want.len() {
        f.push(format!("ListStreams(): {got:?}, want {want:?}"));
    }
    if all.last_evaluated_stream_arn().is_some() {
        f.push(format!(
            "ListStreams() of 5 streams has LastEvaluatedStreamArn {:?}",
            all.last_evaluated_stream_arn()
        ));
    }
    let one = streams
        .list_streams()
        .table_name("str3")
        .send()
        .await
        .unwrap();
    let arns: Vec<_> = one.streams().iter().map(|s| s.stream_arn()).collect();
    let s3_arn = want
        .iter()
        .find(|(_, (t, _))| t == "str3")
        .unwrap()
        .0
        .clone();
    if arns != vec![Some(s3_arn.as_str())] {
        f.push(format!("ListStreams(str3): {arns:?}, want [{s3_arn}]"));
    }

    // Paging with Limit 1 and 2 covers every stream exactly once.
    for limit in [1, 2] {
        let mut seen: Vec<String> = Vec::new();
        let mut start: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= 20, "ListStreams Limit {limit} paging does not end");
            let page = streams
                .list_streams()
                .limit(limit)
                .set_exclusive_start_stream_arn(start.take())
                .send()
                .await
                .unwrap();
            if page.streams().len() > limit as usize {
                f.push(format!(
                    "ListStreams Limit {limit} returned {}",
                    page.streams().len()
                ));
            }
            let page_arns: Vec<String> = page
                .streams()
                .iter()
                .filter_map(|s| s.stream_arn().map(str::to_owned))
                .collect();
            seen.extend(page_arns.iter().cloned());
            match page.last_evaluated_stream_arn() {
                Some(last) => {
                    if page_arns.last().map(String::as_str) != Some(last) {
                        f.push(format!(
                            "ListStreams Limit {limit}: LastEvaluatedStreamArn {last} is not the page's last stream {page_arns:?}"
                        ));
                    }
                    start = Some(last.to_owned());
                }
                None => break,
            }
        }
        let unique: HashSet<&String> = seen.iter().collect();
        let want_set: HashSet<&String> = want.keys().collect();
        if unique.len() != seen.len() || unique != want_set {
            f.push(format!(
                "ListStreams paged by {limit}: {seen:?}, want each of {want_set:?} once"
            ));
        }
    }
    let limited = streams.list_streams().limit(100).send().await;
    if limited.is_err() {
        f.push(format!("ListStreams Limit 100: {limited:?}"));
    }
    for bad in [0, 101, -1] {
        f.check(check_err_ci(
            &format!("ListStreams Limit {bad}"),
            streams.list_streams().limit(bad).send().await,
            "ValidationException",
            "limit",
        ));
    }
    f.check(check_err(
        "ListStreams with a malformed ExclusiveStartStreamArn",
        streams
            .list_streams()
            .exclusive_start_stream_arn("kossaapaaasdafsdaasdasdasdasasdasfadfadfasdasdas")
            .send()
            .await,
        "ValidationException",
        None,
    ));
    let empty = streams
        .list_streams()
        .table_name("nostream")
        .send()
        .await
        .unwrap();
    if !empty.streams().is_empty() {
        f.push(format!("ListStreams(nostream): {:?}", empty.streams()));
    }
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_stream_shape_paging_and_errors() {
    let server = TestServer::start_with(&["--partitions-per-table", "4"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let td = create_stream_table(&client, "shaped", StreamViewType::NewImage, true).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    let label = td.latest_stream_label().unwrap().to_owned();
    let table_arn = td.table_arn().unwrap().to_owned();

    let desc = describe_stream(&streams, &arn).await;
    if desc.stream_arn() != Some(arn.as_str()) || desc.stream_label() != Some(label.as_str()) {
        f.push(format!(
            "DescribeStream StreamArn {:?} StreamLabel {:?}, want {arn} {label}",
            desc.stream_arn(),
            desc.stream_label()
        ));
    }
    if desc.stream_status() != Some(&StreamStatus::Enabled) {
        f.push(format!("StreamStatus {:?}", desc.stream_status()));
    }
    if desc.stream_view_type() != Some(&RecordViewType::NewImage) {
        f.push(format!("StreamViewType {:?}", desc.stream_view_type()));
    }
    if desc.table_name() != Some("shaped") {
        f.push(format!("TableName {:?}", desc.table_name()));
    }
    let ks: Vec<(String, String)> = desc
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    let want_ks = vec![
        ("pk".to_string(), "HASH".to_string()),
        ("sk".to_string(), "RANGE".to_string()),
    ];
    if ks != want_ks {
        f.push(format!("KeySchema {ks:?}, want {want_ks:?}"));
    }
    let shards = desc.shards().to_vec();
    if shards.len() != 4 || desc.last_evaluated_shard_id().is_some() {
        f.push(format!(
            "{} shards (LastEvaluatedShardId {:?}) for a table of 4 partitions, want 4 in one page",
            shards.len(),
            desc.last_evaluated_shard_id()
        ));
    }
    let mut ids = HashSet::new();
    for sh in &shards {
        let id = sh.shard_id().unwrap_or_default();
        if !(28..=65).contains(&id.len()) || !ids.insert(id.to_owned()) {
            f.push(format!("ShardId {id:?} is not 28-65 characters or repeats"));
        }
        if sh.parent_shard_id().is_some() {
            f.push(format!(
                "shard {id} has ParentShardId {:?}",
                sh.parent_shard_id()
            ));
        }
        let range = sh.sequence_number_range();
        let start = range.and_then(|r| r.starting_sequence_number());
        if !start.is_some_and(valid_seq) {
            f.push(format!("shard {id}: StartingSequenceNumber {start:?}"));
        }
        if range.and_then(|r| r.ending_sequence_number()).is_some() {
            f.push(format!("open shard {id} has an EndingSequenceNumber"));
        }
    }
    let all_ids: Vec<String> = shards
        .iter()
        .map(|s| s.shard_id().unwrap_or_default().to_owned())
        .collect();

    // Paging with Limit walks the same shards in the same order.
    for limit in [1, 3] {
        let mut paged = Vec::new();
        let mut start: Option<String> = None;
        for page_no in 0.. {
            assert!(
                page_no < 20,
                "DescribeStream Limit {limit} paging does not end"
            );
            let page = streams
                .describe_stream()
                .stream_arn(&arn)
                .limit(limit)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .unwrap();
            let d = page.stream_description().unwrap();
            if d.shards().len() > limit as usize {
                f.push(format!(
                    "DescribeStream Limit {limit} returned {} shards",
                    d.shards().len()
                ));
            }
            let page_ids: Vec<String> = d
                .shards()
                .iter()
                .map(|s| s.shard_id().unwrap_or_default().to_owned())
                .collect();
            paged.extend(page_ids.iter().cloned());
            match d.last_evaluated_shard_id() {
                Some(last) => {
                    if page_ids.last().map(String::as_str) != Some(last) {
                        f.push(format!(
                            "LastEvaluatedShardId {last} is not the page's last shard {page_ids:?}"
                        ));
                    }
                    start = Some(last.to_owned());
                }
                None => break,
            }
        }
        if paged != all_ids {
            f.push(format!(
                "DescribeStream paged by {limit}: {paged:?}, want {all_ids:?}"
            ));
        }
    }
    if let Some(last) = all_ids.last() {
        let after_last = streams
            .describe_stream()
            .stream_arn(&arn)
            .exclusive_start_shard_id(last)
            .send()
            .await
            .unwrap();
        let d = after_last.stream_description().unwrap();
        if !d.shards().is_empty() || d.last_evaluated_shard_id().is_some() {
            f.push(format!(
                "DescribeStream after the last shard: {:?} {:?}",
                d.shards(),
                d.last_evaluated_shard_id()
            ));
        }
    }
    for bad in [0, 101] {
        f.check(check_err_ci(
            &format!("DescribeStream Limit {bad}"),
            streams
                .describe_stream()
                .stream_arn(&arn)
                .limit(bad)
                .send()
                .await,
            "ValidationException",
            "limit",
        ));
    }
    let ghost =
        "arn:aws:dynamodb:us-east-1:000000000000:table/ghost/stream/2024-01-01T00:00:00.000";
    f.check(check_err(
        "DescribeStream of a stream that does not exist",
        streams.describe_stream().stream_arn(ghost).send().await,
        "ResourceNotFoundException",
        Some(&format!(
            "Requested resource not found: Stream: {ghost} not found"
        )),
    ));
    let wrong_label = format!("{table_arn}/stream/2000-01-01T00:00:00.000");
    f.check(check_err(
        "DescribeStream of an existing table's ARN with another label",
        streams
            .describe_stream()
            .stream_arn(&wrong_label)
            .send()
            .await,
        "ResourceNotFoundException",
        None,
    ));
    f.check(check_err(
        "DescribeStream of a malformed ARN",
        streams
            .describe_stream()
            .stream_arn("sdfadfsdfnlfkajakfgjalksfgklasjklasdjfklasdfasdfgasf")
            .send()
            .await,
        "ValidationException",
        None,
    ));
    f.check(check_raw_err(
        "DescribeStream without StreamArn",
        &raw_streams(&server, "DescribeStream", &serde_json::json!({})),
        "ValidationException",
    ));
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_shard_iterator_validation() {
    let server = TestServer::start_with(&["--partitions-per-table", "1"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let td = create_stream_table(&client, "gsi", StreamViewType::KeysOnly, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    put_ok(&client, "gsi", item(&[("pk", s("x"))])).await;
    let shards = all_shards(&streams, &arn).await;
    assert_eq!(shards.len(), 1, "one partition, one shard: {shards:?}");
    let shard_id = shards[0].shard_id().unwrap().to_owned();
    let start = shards[0]
        .sequence_number_range()
        .and_then(|r| r.starting_sequence_number())
        .expect("StartingSequenceNumber")
        .to_owned();
    let records = stream_records(&streams, &arn).await;
    assert_eq!(records.len(), 1, "one write, one record: {records:?}");
    let seq = rec_seq(&records[0]);

    let get = |kind: ShardIteratorType, shard: &str, seq: Option<&str>, arn: &str| {
        streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(seq.map(str::to_owned))
            .send()
    };
    for (kind, seq) in [
        (ShardIteratorType::TrimHorizon, None),
        (ShardIteratorType::Latest, None),
        (ShardIteratorType::AtSequenceNumber, Some(seq.as_str())),
        (ShardIteratorType::AfterSequenceNumber, Some(seq.as_str())),
        (ShardIteratorType::AtSequenceNumber, Some(start.as_str())),
    ] {
        match get(kind.clone(), &shard_id, seq, &arn).await {
            Ok(out) if out.shard_iterator().is_some_and(|i| !i.is_empty()) => {}
            other => f.push(format!("GetShardIterator {kind:?} {seq:?}: {other:?}")),
        }
    }
    for kind in [ShardIteratorType::TrimHorizon, ShardIteratorType::Latest] {
        f.check(check_err(
            &format!("GetShardIterator {kind:?} with a SequenceNumber"),
            get(kind.clone(), &shard_id, Some(&seq), &arn).await,
            "ValidationException",
            None,
        ));
    }
    for kind in [
        ShardIteratorType::AtSequenceNumber,
        ShardIteratorType::AfterSequenceNumber,
    ] {
        f.check(check_err(
            &format!("GetShardIterator {kind:?} without a SequenceNumber"),
            get(kind.clone(), &shard_id, None, &arn).await,
            "ValidationException",
            None,
        ));
    }
    f.check(check_err(
        "GetShardIterator AT_SEQUENCE_NUMBER with a malformed SequenceNumber",
        get(
            ShardIteratorType::AtSequenceNumber,
            &shard_id,
            Some("sdfsafglldfngjdafnasdflgnaldklkafdsgklnasdlv"),
            &arn,
        )
        .await,
        "ValidationException",
        None,
    ));
    f.check(check_err(
        "GetShardIterator with ShardIteratorType bulle",
        get(ShardIteratorType::from("bulle"), &shard_id, None, &arn).await,
        "ValidationException",
        None,
    ));
    f.check(check_err(
        "GetShardIterator of a shard that does not exist",
        get(
            ShardIteratorType::Latest,
            "shardId-00000000000000000000-00000000",
            None,
            &arn,
        )
        .await,
        "ResourceNotFoundException",
        None,
    ));
    f.check(check_err(
        "GetShardIterator on a malformed stream ARN",
        get(
            ShardIteratorType::Latest,
            &shard_id,
            None,
            "sdfadfsddafgdafsgjnadflkgnalngalsdfnlkasnlkasdfasdfasf",
        )
        .await,
        "ValidationException",
        None,
    ));
    f.check(check_err(
        "GetShardIterator on a stream that does not exist",
        get(
            ShardIteratorType::Latest,
            &shard_id,
            None,
            "arn:aws:dynamodb:us-east-1:000000000000:table/ghost/stream/2024-01-01T00:00:00.000",
        )
        .await,
        "ResourceNotFoundException",
        None,
    ));
    f.check(check_raw_err(
        "GetShardIterator without ShardId",
        &raw_streams(
            &server,
            "GetShardIterator",
            &serde_json::json!({"StreamArn": arn, "ShardIteratorType": "LATEST"}),
        ),
        "ValidationException",
    ));
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_records_validation() {
    let server = TestServer::start_with(&["--partitions-per-table", "1"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let td = create_stream_table(&client, "grec", StreamViewType::KeysOnly, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    let shard_id = all_shards(&streams, &arn).await[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let it = shard_iterator(&streams, &arn, &shard_id, ShardIteratorType::Latest, None).await;

    match streams
        .get_records()
        .shard_iterator(&it)
        .limit(1000)
        .send()
        .await
    {
        Ok(out) if out.records().is_empty() && out.next_shard_iterator().is_some() => {}
        other => f.push(format!(
            "GetRecords Limit 1000 on an empty LATEST: {other:?}"
        )),
    }
    for bad in [1001, 0, -1] {
        f.check(check_err_ci(
            &format!("GetRecords Limit {bad}"),
            streams
                .get_records()
                .shard_iterator(&it)
                .limit(bad)
                .send()
                .await,
            "ValidationException",
            "limit",
        ));
    }
    f.check(check_err(
        "GetRecords with a garbage iterator",
        streams
            .get_records()
            .shard_iterator("sdfsdfsgagaddafgagasgasgasdfasdfasdfasdfasdgasdasdgasdg")
            .send()
            .await,
        "ValidationException",
        None,
    ));
    f.check(check_err(
        "GetRecords with an iterator longer than 2048",
        streams
            .get_records()
            .shard_iterator("A".repeat(2049))
            .send()
            .await,
        "ValidationException",
        None,
    ));
    f.check(check_raw_err(
        "GetRecords with an empty ShardIterator",
        &raw_streams(
            &server,
            "GetRecords",
            &serde_json::json!({"ShardIterator": ""}),
        ),
        "ValidationException",
    ));
    f.check(check_raw_err(
        "GetRecords without ShardIterator",
        &raw_streams(&server, "GetRecords", &serde_json::json!({})),
        "ValidationException",
    ));
    // Nothing to read: Records is an empty list (not absent), and there is a NextShardIterator.
    let resp = raw_streams(
        &server,
        "GetRecords",
        &serde_json::json!({"ShardIterator": it}),
    );
    let body = if resp.status == 200 {
        resp.json()
    } else {
        serde_json::Value::Null
    };
    if body.get("Records") != Some(&serde_json::json!([]))
        || !body.get("NextShardIterator").is_some_and(|v| v.is_string())
    {
        f.push(format!(
            "raw GetRecords with nothing to read: {} {}",
            resp.status,
            resp.body_str()
        ));
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// Every kind of write against one item (and a second one in transactions), under each
/// StreamViewType: which writes make a record, its event name, keys and images.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_for_every_kind_of_write_under_each_view_type() {
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let since = now_secs();
    let views = [
        StreamViewType::KeysOnly,
        StreamViewType::NewImage,
        StreamViewType::OldImage,
        StreamViewType::NewAndOldImages,
    ];
    for view in views {
        let table = format!("v-{}", view.as_str().to_ascii_lowercase().replace('_', "-"));
        let t = table.as_str();
        let td = create_stream_table(&client, t, view.clone(), true).await;
        let arn = td.latest_stream_arn().unwrap().to_owned();
        let k = item(&[("pk", s("item")), ("sk", n("1"))]);
        let k2 = item(&[("pk", s("other")), ("sk", n("2"))]);
        let with = |base: &Attrs, extra: &[(&str, AttributeValue)]| {
            let mut i = base.clone();
            i.extend(item(extra));
            i
        };
        let mut want: Vec<Expected> = Vec::new();

        // PutItem: new item, identical item (no record), different item, failed condition.
        put_ok(&client, t, with(&k, &[("x", n("2"))])).await;
        want.push(insert(&k, with(&k, &[("x", n("2"))])));
        put_ok(&client, t, with(&k, &[("x", n("2"))])).await;
        put_ok(&client, t, with(&k, &[("y", n("3"))])).await;
        want.push(modify(
            &k,
            with(&k, &[("x", n("2"))]),
            with(&k, &[("y", n("3"))]),
        ));
        let (code, _) = expect_err(
            "conditional put",
            client
                .put_item()
                .table_name(t)
                .set_item(Some(with(&k, &[("z", n("9"))])))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await,
        );
        assert_eq!(code, "ConditionalCheckFailedException");
        let (code, _) = expect_err(
            "conditional update",
            client
                .update_item()
                .table_name(t)
                .set_key(Some(k.clone()))
                .update_expression("SET z = :z")
                .condition_expression("attribute_not_exists(pk)")
                .expression_attribute_values(":z", n("9"))
                .send()
                .await,
        );
        assert_eq!(code, "ConditionalCheckFailedException");
        // DeleteItem: existing, then missing (no record).
        client
            .delete_item()
            .table_name(t)
            .set_key(Some(k.clone()))
            .send()
            .await
            .unwrap();
        want.push(remove(&k, with(&k, &[("y", n("3"))])));
        client
            .delete_item()
            .table_name(t)
            .set_key(Some(k.clone()))
            .send()
            .await
            .unwrap();
        // UpdateItem: creating, changing, setting the same value and removing an absent
        // attribute (no records for those two).
        let upd = |expr: &'static str, vals: Vec<(&'static str, AttributeValue)>| {
            let mut r = client
                .update_item()
                .table_name(t)
                .set_key(Some(k.clone()))
                .update_expression(expr);
            for (name, v) in vals {
                r = r.expression_attribute_values(name, v);
            }
            r.send()
        };
        upd("SET b = :v", vec![(":v", n("4"))]).await.unwrap();
        want.push(insert(&k, with(&k, &[("b", n("4"))])));
        upd("SET x = :v", vec![(":v", n("5"))]).await.unwrap();
        want.push(modify(
            &k,
            with(&k, &[("b", n("4"))]),
            with(&k, &[("b", n("4")), ("x", n("5"))]),
        ));
        upd("SET x = :v", vec![(":v", n("5"))]).await.unwrap();
        upd("REMOVE nope", vec![]).await.unwrap();
        // BatchWriteItem put replacing the item.
        client
            .batch_write_item()
            .request_items(
                t,
                vec![WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(with(&k, &[("x", n("5"))])))
                            .build()
                            .unwrap(),
                    )
                    .build()],
            )
            .send()
            .await
            .unwrap();
        want.push(modify(
            &k,
            with(&k, &[("b", n("4")), ("x", n("5"))]),
            with(&k, &[("x", n("5"))]),
        ));
        // TransactWriteItems: an update of the item and a put of another one.
        client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(t)
                            .set_key(Some(k.clone()))
                            .update_expression("SET t = :t")
                            .expression_attribute_values(":t", n("1"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(t)
                            .set_item(Some(with(&k2, &[("o", s("a"))])))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        want.push(modify(
            &k,
            with(&k, &[("x", n("5"))]),
            with(&k, &[("x", n("5")), ("t", n("1"))]),
        ));
        let mut want2 = vec![insert(&k2, with(&k2, &[("o", s("a"))]))];
        // A cancelled transaction writes nothing.
        let (code, _) = expect_err(
            "cancelled transaction",
            client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(
                            ConditionCheck::builder()
                                .table_name(t)
                                .set_key(Some(k2.clone()))
                                .condition_expression("attribute_not_exists(pk)")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(
                            Update::builder()
                                .table_name(t)
                                .set_key(Some(k.clone()))
                                .update_expression("SET t = :t")
                                .expression_attribute_values(":t", n("2"))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await,
        );
        assert_eq!(code, "TransactionCanceledException");
        // Removing every non-key attribute leaves a key-only image; adding one to it.
        upd("REMOVE x, t", vec![]).await.unwrap();
        want.push(modify(
            &k,
            with(&k, &[("x", n("5")), ("t", n("1"))]),
            k.clone(),
        ));
        upd("SET z = :v", vec![(":v", n("4"))]).await.unwrap();
        want.push(modify(&k, k.clone(), with(&k, &[("z", n("4"))])));
        // Deletes inside a transaction and a batch.
        client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(t)
                            .set_key(Some(k2.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        want2.push(remove(&k2, with(&k2, &[("o", s("a"))])));
        client
            .batch_write_item()
            .request_items(
                t,
                vec![WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(k.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()],
            )
            .send()
            .await
            .unwrap();
        want.push(remove(&k, with(&k, &[("z", n("4"))])));

        // Read everything back.
        let mut ids = HashSet::new();
        let mut per_key: HashMap<String, (String, Vec<Record>)> = HashMap::new();
        for (shard, read) in read_stream(&streams, &arn).await {
            let shard_id = shard.shard_id().unwrap_or_default().to_owned();
            let mut prev: Option<String> = None;
            for r in read.records {
                for p in record_shape_problems(&r, &view, since) {
                    f.push(format!("{t}: {p} in {r:?}"));
                }
                if !ids.insert(r.event_id().unwrap_or_default().to_owned()) {
                    f.push(format!("{t}: eventID {:?} repeats", r.event_id()));
                }
                let seq = rec_seq(&r);
                if let Some(p) = &prev {
                    if !seq_cmp(p, &seq).is_lt() {
                        f.push(format!(
                            "{t}: shard {shard_id}: SequenceNumber {seq} after {p}"
                        ));
                    }
                }
                prev = Some(seq);
                let key = key_string(&rec_keys(&r));
                let entry = per_key
                    .entry(key)
                    .or_insert_with(|| (shard_id.clone(), Vec::new()));
                if entry.0 != shard_id {
                    f.push(format!(
                        "{t}: records of one item in shards {} and {shard_id}",
                        entry.0
                    ));
                }
                entry.1.push(r);
            }
        }
        for (keys, expected) in [(&k, &want), (&k2, &want2)] {
            let key = key_string(keys);
            let records = per_key.remove(&key).map(|(_, v)| v).unwrap_or_default();
            let got: Vec<&Record> = records.iter().collect();
            for d in event_differences(&got, expected, &view) {
                f.push(format!("{t} {keys:?}: {d}"));
            }
        }
        if !per_key.is_empty() {
            f.push(format!(
                "{t}: records of unexpected items {:?}",
                per_key.keys()
            ));
        }
    }
    f.assert_none();
}

/// Several items of one transaction or one batch in the same partition (one shard): one
/// record per changed item, in the shard's order, with distinct sequence numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_item_writes_in_one_partition_make_one_record_per_item() {
    let server = TestServer::start_with(&["--partitions-per-table", "1"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let td = create_stream_table(&client, "multi", StreamViewType::NewAndOldImages, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    let k = |p: &str| item(&[("pk", s(p))]);
    let v = |p: &str, x: &str| item(&[("pk", s(p)), ("x", s(x))]);
    put_ok(&client, "multi", v("u", "0")).await;
    put_ok(&client, "multi", v("d", "0")).await;
    client
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("multi")
                        .set_item(Some(v("p", "1")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("multi")
                        .set_key(Some(k("u")))
                        .update_expression("SET x = :x")
                        .expression_attribute_values(":x", s("1"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("multi")
                        .set_key(Some(k("d")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let batch: Vec<Attrs> = ["b1", "b2", "b3"].iter().map(|p| v(p, "1")).collect();
    batch_put_all(&client, "multi", &batch).await;

    let records = stream_records(&streams, &arn).await;
    let mut seqs = HashSet::new();
    for r in &records {
        if !seqs.insert(rec_seq(r)) {
            f.push(format!("SequenceNumber {} repeats", rec_seq(r)));
        }
    }
    let mut got: Vec<(String, Option<OperationType>)> = records
        .iter()
        .map(|r| (key_string(&rec_keys(r)), r.event_name().cloned()))
        .collect();
    // The first two records are the setup puts; the order within one transaction or one
    // batch is not specified.
    let tail = got.split_off(2.min(got.len()));
    let mut tail_sorted = tail.clone();
    tail_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, Option<OperationType>)> = vec![
        (key_string(&k("p")), Some(OperationType::Insert)),
        (key_string(&k("u")), Some(OperationType::Modify)),
        (key_string(&k("d")), Some(OperationType::Remove)),
        (key_string(&k("b1")), Some(OperationType::Insert)),
        (key_string(&k("b2")), Some(OperationType::Insert)),
        (key_string(&k("b3")), Some(OperationType::Insert)),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    if got.len() != 2 || tail_sorted != want {
        f.push(format!(
            "records after a 3-item transaction and a 3-item batch in one partition: {:?} then {tail:?}, want the 2 setup INSERTs then {want:?}",
            got
        ));
    }
    f.assert_none();
}

/// Tables with global and local secondary indexes: index maintenance adds no records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_maintenance_adds_no_records() {
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    let streams = streams_client(&server);
    let projection = || {
        Projection::builder()
            .projection_type(ProjectionType::All)
            .build()
    };
    client
        .create_table()
        .table_name("idx")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .attribute_definitions(attr_def("l", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_g")
                .key_schema(key("g", KeyType::Hash))
                .projection(projection())
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_l")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("l", KeyType::Range))
                .projection(projection())
                .build()
                .unwrap(),
        )
        .stream_specification(spec(StreamViewType::NewAndOldImages))
        .send()
        .await
        .unwrap();
    wait_gsis_active(&client, "idx").await;
    let arn = latest_stream_arn(&client, "idx").await;
    let k = item(&[("pk", s("p")), ("sk", n("1"))]);
    let v1 = item(&[
        ("pk", s("p")),
        ("sk", n("1")),
        ("g", s("g1")),
        ("l", s("l1")),
    ]);
    let v2 = item(&[
        ("pk", s("p")),
        ("sk", n("1")),
        ("g", s("g2")),
        ("l", s("l2")),
    ]);
    put_ok(&client, "idx", v1.clone()).await;
    client
        .update_item()
        .table_name("idx")
        .set_key(Some(k.clone()))
        .update_expression("SET g = :g, l = :l")
        .expression_attribute_values(":g", s("g2"))
        .expression_attribute_values(":l", s("l2"))
        .send()
        .await
        .unwrap();
    client
        .delete_item()
        .table_name("idx")
        .set_key(Some(k.clone()))
        .send()
        .await
        .unwrap();
    let records = stream_records(&streams, &arn).await;
    let got: Vec<&Record> = records.iter().collect();
    let want = vec![
        insert(&k, v1.clone()),
        modify(&k, v1, v2.clone()),
        remove(&k, v2),
    ];
    let bad = event_differences(&got, &want, &StreamViewType::NewAndOldImages);
    assert!(bad.is_empty(), "records of an indexed table: {bad:#?}");
}

/// LATEST, TRIM_HORIZON, AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER start where they
/// should; Limit pages; a NextShardIterator of a caught-up read picks up later writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterator_types_start_where_they_should() {
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let td = create_stream_table(&client, "pos", StreamViewType::NewImage, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    let shards = all_shards(&streams, &arn).await;
    let mut latest = Vec::new();
    for sh in &shards {
        let id = sh.shard_id().unwrap().to_owned();
        let it = shard_iterator(&streams, &arn, &id, ShardIteratorType::Latest, None).await;
        latest.push((id, it));
    }
    for v in 1..=5 {
        put_ok(
            &client,
            "pos",
            item(&[("pk", s("a")), ("v", n(&v.to_string()))]),
        )
        .await;
    }
    for v in 1..=2 {
        put_ok(
            &client,
            "pos",
            item(&[("pk", s("b")), ("v", n(&v.to_string()))]),
        )
        .await;
    }

    // LATEST iterators from before the writes read exactly the writes.
    let mut by_shard: HashMap<String, Vec<Record>> = HashMap::new();
    for (id, it) in &latest {
        let read = read_from(&streams, it.clone(), None).await;
        by_shard.insert(id.clone(), read.records);
    }
    let total: usize = by_shard.values().map(Vec::len).sum();
    if total != 7 {
        f.push(format!(
            "LATEST iterators from before 7 writes read {total} records"
        ));
    }
    let a_shard = by_shard
        .iter()
        .find(|(_, v)| v.iter().any(|r| rec_keys(r) == item(&[("pk", s("a"))])))
        .map(|(id, _)| id.clone())
        .expect("a shard with the records of item a");
    let trim = read_from(
        &streams,
        shard_iterator(
            &streams,
            &arn,
            &a_shard,
            ShardIteratorType::TrimHorizon,
            None,
        )
        .await,
        None,
    )
    .await
    .records;
    let ids_of = |v: &[Record]| -> Vec<(String, String)> {
        v.iter()
            .map(|r| (r.event_id().unwrap_or_default().to_owned(), rec_seq(r)))
            .collect()
    };
    if ids_of(&trim) != ids_of(&by_shard[&a_shard]) {
        f.push(format!(
            "TRIM_HORIZON of a new stream {:?} differs from LATEST-before-writes {:?}",
            ids_of(&trim),
            ids_of(&by_shard[&a_shard])
        ));
    }
    let a_values: Vec<Option<AttributeValue>> = trim
        .iter()
        .filter(|r| rec_keys(r) == item(&[("pk", s("a"))]))
        .map(|r| rec_new(r).and_then(|i| i.get("v").cloned()))
        .collect();
    let want_values: Vec<Option<AttributeValue>> =
        (1..=5).map(|v| Some(n(&v.to_string()))).collect();
    if a_values != want_values {
        f.push(format!(
            "item a's records carry {a_values:?}, want {want_values:?}"
        ));
    }
    // AT and AFTER each record.
    for (i, r) in trim.iter().enumerate() {
        let seq = rec_seq(r);
        for (kind, from) in [
            (ShardIteratorType::AtSequenceNumber, i),
            (ShardIteratorType::AfterSequenceNumber, i + 1),
        ] {
            let it = shard_iterator(&streams, &arn, &a_shard, kind.clone(), Some(&seq)).await;
            let got = read_from(&streams, it, None).await.records;
            if ids_of(&got) != ids_of(&trim[from..]) {
                f.push(format!(
                    "{kind:?} {seq}: read {:?}, want {:?}",
                    ids_of(&got),
                    ids_of(&trim[from..])
                ));
            }
        }
    }
    // AT the shard's StartingSequenceNumber reads everything.
    for sh in &shards {
        let id = sh.shard_id().unwrap();
        let start = sh
            .sequence_number_range()
            .and_then(|r| r.starting_sequence_number())
            .unwrap();
        let it = shard_iterator(
            &streams,
            &arn,
            id,
            ShardIteratorType::AtSequenceNumber,
            Some(start),
        )
        .await;
        let got = read_from(&streams, it, None).await.records;
        if ids_of(&got) != ids_of(&by_shard[id]) {
            f.push(format!(
                "AT_SEQUENCE_NUMBER StartingSequenceNumber of {id}: {} records, want {}",
                got.len(),
                by_shard[id].len()
            ));
        }
    }
    // LATEST now reads nothing, then exactly the next write, then nothing again.
    let it = shard_iterator(&streams, &arn, &a_shard, ShardIteratorType::Latest, None).await;
    let out = streams
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap();
    if !out.records().is_empty() {
        f.push(format!("LATEST read {} old records", out.records().len()));
    }
    let next = out
        .next_shard_iterator()
        .expect("NextShardIterator of an open shard");
    put_ok(&client, "pos", item(&[("pk", s("a")), ("v", n("6"))])).await;
    let out = streams
        .get_records()
        .shard_iterator(next)
        .send()
        .await
        .unwrap();
    let got: Vec<Option<Attrs>> = out.records().iter().map(rec_new).collect();
    if got != vec![Some(item(&[("pk", s("a")), ("v", n("6"))]))] {
        f.push(format!("continuing an empty read after a write: {got:?}"));
    }
    let next = out
        .next_shard_iterator()
        .expect("NextShardIterator of an open shard");
    let out = streams
        .get_records()
        .shard_iterator(next)
        .send()
        .await
        .unwrap();
    if !out.records().is_empty() {
        f.push(format!("read the last record again: {:?}", out.records()));
    }
    // Limit 1 pages one record at a time through the whole shard.
    let it = shard_iterator(
        &streams,
        &arn,
        &a_shard,
        ShardIteratorType::TrimHorizon,
        None,
    )
    .await;
    let paged = read_from(&streams, it, Some(1)).await.records;
    let all = read_from(
        &streams,
        shard_iterator(
            &streams,
            &arn,
            &a_shard,
            ShardIteratorType::TrimHorizon,
            None,
        )
        .await,
        None,
    )
    .await
    .records;
    if ids_of(&paged) != ids_of(&all) || all.len() != trim.len() + 1 {
        f.push(format!(
            "Limit 1 paging read {} records, unlimited {} (want {})",
            paged.len(),
            all.len(),
            trim.len() + 1
        ));
    }
    f.assert_none();
}

/// GetRecords returns at most 1 MB of records and at most 1000 records per call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_records_pages_are_at_most_1_mb_and_1000_records() {
    let server = TestServer::start_with(&["--partitions-per-table", "1"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();

    let td = create_stream_table(&client, "big", StreamViewType::NewImage, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    const BIG: usize = 200_000;
    for i in 0..8 {
        put_ok(
            &client,
            "big",
            item(&[("pk", s(&format!("b{i}"))), ("pad", s(&"p".repeat(BIG)))]),
        )
        .await;
    }
    let shard_id = all_shards(&streams, &arn).await[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let it = shard_iterator(
        &streams,
        &arn,
        &shard_id,
        ShardIteratorType::TrimHorizon,
        None,
    )
    .await;
    let first = streams
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap();
    let page_bytes: i64 = first.records().iter().map(rec_size).sum();
    if first.records().is_empty() || first.records().len() >= 8 || page_bytes > 1_048_576 {
        f.push(format!(
            "first page over 8 records of {BIG} bytes: {} records, {page_bytes} SizeBytes (want 1..8 records within 1 MB)",
            first.records().len()
        ));
    }
    let mut all: Vec<Record> = first.records().to_vec();
    if let Some(next) = first.next_shard_iterator() {
        all.extend(read_from(&streams, next.to_owned(), None).await.records);
    }
    let keys: Vec<Attrs> = all.iter().map(rec_keys).collect();
    let want: Vec<Attrs> = (0..8)
        .map(|i| item(&[("pk", s(&format!("b{i}")))]))
        .collect();
    if keys != want {
        f.push(format!("big records read back as {keys:?}"));
    }
    for r in &all {
        if rec_size(r) < BIG as i64 {
            f.push(format!(
                "SizeBytes {} of a record whose NewImage holds {BIG} bytes",
                rec_size(r)
            ));
        }
    }

    let td = create_stream_table(&client, "many", StreamViewType::KeysOnly, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    let items: Vec<Attrs> = (0..1100)
        .map(|i| item(&[("pk", s(&format!("m{i:05}")))]))
        .collect();
    batch_put_all(&client, "many", &items).await;
    let shard_id = all_shards(&streams, &arn).await[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let it = shard_iterator(
        &streams,
        &arn,
        &shard_id,
        ShardIteratorType::TrimHorizon,
        None,
    )
    .await;
    for limit in [None, Some(1000), Some(7)] {
        let out = streams
            .get_records()
            .shard_iterator(&it)
            .set_limit(limit)
            .send()
            .await
            .unwrap();
        let max = limit.unwrap_or(1000) as usize;
        if out.records().is_empty() || out.records().len() > max {
            f.push(format!(
                "GetRecords Limit {limit:?} over 1100 records returned {}",
                out.records().len()
            ));
        }
    }
    let total = read_from(&streams, it, None).await.records.len();
    if total != 1100 {
        f.push(format!("read {total} records of 1100 writes"));
    }
    f.assert_none();
}

/// Records, shards and iterators survive a graceful restart; sequence numbers go on rising.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_iterators_survive_a_restart() {
    let mut server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let td = create_stream_table(&client, "rst", StreamViewType::NewAndOldImages, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    for i in 0..10 {
        put_ok(
            &client,
            "rst",
            item(&[("pk", s(&format!("k{i}"))), ("v", n("1"))]),
        )
        .await;
    }
    let before = read_stream(&streams, &arn).await;
    let summary = |v: &[(Shard, ShardRead)]| -> Vec<(String, Vec<(String, String)>)> {
        v.iter()
            .map(|(sh, r)| {
                (
                    sh.shard_id().unwrap_or_default().to_owned(),
                    r.records
                        .iter()
                        .map(|r| (r.event_id().unwrap_or_default().to_owned(), rec_seq(r)))
                        .collect(),
                )
            })
            .collect()
    };
    let before_summary = summary(&before);

    server.restart();
    let client = server.client();
    let streams = streams_client(&server);
    if latest_stream_arn(&client, "rst").await != arn {
        f.push("the table's LatestStreamArn changed across a restart".to_string());
    }
    let sd = describe_stream(&streams, &arn).await;
    if sd.stream_status() != Some(&StreamStatus::Enabled) {
        f.push(format!("after restart: status {:?}", sd.stream_status()));
    }
    let after = read_stream(&streams, &arn).await;
    if summary(&after) != before_summary {
        f.push(format!(
            "records changed across a restart: {before_summary:?} -> {:?}",
            summary(&after)
        ));
    }
    for i in 0..10 {
        client
            .update_item()
            .table_name("rst")
            .key("pk", s(&format!("k{i}")))
            .update_expression("SET v = :v")
            .expression_attribute_values(":v", n("2"))
            .send()
            .await
            .unwrap();
    }
    // Iterators from before the restart go on where they were.
    let mut continued = 0;
    for (sh, read) in before {
        let id = sh.shard_id().unwrap_or_default().to_owned();
        let Some(next) = read.next else {
            f.push(format!("open shard {id} ended"));
            continue;
        };
        match streams.get_records().shard_iterator(&next).send().await {
            Err(e) => f.push(format!(
                "an iterator from before the restart (shard {id}) failed: {e:?}"
            )),
            Ok(out) => {
                for r in out.records() {
                    continued += 1;
                    if rec_old(r).and_then(|o| o.get("v").cloned()) != Some(n("1")) {
                        f.push(format!("continued read got {r:?}"));
                    }
                }
            }
        }
    }
    if continued != 10 {
        f.push(format!(
            "iterators from before the restart read {continued} of the 10 new records"
        ));
    }
    let now = read_stream(&streams, &arn).await;
    for (sh, read) in &now {
        let id = sh.shard_id().unwrap_or_default();
        let seqs: Vec<String> = read.records.iter().map(rec_seq).collect();
        if seqs.windows(2).any(|w| !seq_cmp(&w[0], &w[1]).is_lt()) {
            f.push(format!(
                "shard {id}: sequence numbers not rising across the restart: {seqs:?}"
            ));
        }
    }
    let total: usize = now.iter().map(|(_, r)| r.records.len()).sum();
    if total != 20 {
        f.push(format!("{total} records after 20 writes around a restart"));
    }
    f.assert_none();
}

/// With `--stream-retention`, old records are trimmed: TRIM_HORIZON skips them and
/// positions at them are TrimmedDataAccessException.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_older_than_the_retention_are_trimmed() {
    let server =
        TestServer::start_with(&["--partitions-per-table", "1", "--stream-retention", "3"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let td = create_stream_table(&client, "ret", StreamViewType::KeysOnly, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    let shard_id = all_shards(&streams, &arn).await[0]
        .shard_id()
        .unwrap()
        .to_owned();
    for i in 0..3 {
        put_ok(&client, "ret", item(&[("pk", s(&format!("old{i}")))])).await;
    }
    let old = stream_records(&streams, &arn).await;
    assert_eq!(
        old.len(),
        3,
        "the new records are readable at once: {old:?}"
    );
    let first_seq = rec_seq(&old[0]);
    let at_old = shard_iterator(
        &streams,
        &arn,
        &shard_id,
        ShardIteratorType::AtSequenceNumber,
        Some(&first_seq),
    )
    .await;

    // Wait (bounded) until TRIM_HORIZON no longer returns the old records.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = stream_records(&streams, &arn).await;
        if now.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records older than a 3 s retention still readable after 30 s: {} left",
            now.len()
        );
    }
    put_ok(&client, "ret", item(&[("pk", s("new"))])).await;
    let now = stream_records(&streams, &arn).await;
    let keys: Vec<Attrs> = now.iter().map(rec_keys).collect();
    if keys != vec![item(&[("pk", s("new"))])] {
        f.push(format!("after trimming TRIM_HORIZON reads {keys:?}"));
    }
    f.check(check_err(
        "GetShardIterator AT_SEQUENCE_NUMBER of a trimmed record",
        streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard_id)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(&first_seq)
            .send()
            .await,
        "TrimmedDataAccessException",
        None,
    ));
    f.check(check_err(
        "GetRecords with an iterator at a record trimmed since",
        streams.get_records().shard_iterator(&at_old).send().await,
        "TrimmedDataAccessException",
        None,
    ));

    // A disabled stream's records age out too.
    update_stream(&client, "ret", spec_disabled()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let gone = match streams.describe_stream().stream_arn(&arn).send().await {
            Err(e) if e.code() == Some("ResourceNotFoundException") => true,
            Err(e) => panic!("DescribeStream of an aging disabled stream: {e:?}"),
            Ok(_) => stream_records(&streams, &arn).await.is_empty(),
        };
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a disabled stream's records outlive a 3 s retention by 30 s"
        );
    }
    f.assert_none();
}

/// DeleteTable leaves the stream DISABLED and readable, as DynamoDB does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tables_stream_stays_readable() {
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    let streams = streams_client(&server);
    let mut f = Failures::new();
    let td = create_stream_table(&client, "gone", StreamViewType::NewImage, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    for i in 0..3 {
        put_ok(&client, "gone", item(&[("pk", s(&format!("g{i}")))])).await;
    }
    client
        .delete_table()
        .table_name("gone")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + TABLE_STATE_TIMEOUT;
    while client
        .describe_table()
        .table_name("gone")
        .send()
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "table not deleted in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = streams.list_streams().send().await.unwrap();
    if !listed
        .streams()
        .iter()
        .any(|s| s.stream_arn() == Some(arn.as_str()))
    {
        f.push(format!(
            "ListStreams after DeleteTable: {:?}",
            listed.streams()
        ));
    }
    wait_stream_status(&streams, &arn, StreamStatus::Disabled).await;
    let read = read_stream(&streams, &arn).await;
    let mut n_records = 0;
    for (sh, r) in &read {
        if sh
            .sequence_number_range()
            .and_then(|x| x.ending_sequence_number())
            .is_none()
        {
            f.push(format!(
                "shard {:?} of a deleted table is open",
                sh.shard_id()
            ));
        }
        if r.next.is_some() {
            f.push(format!(
                "shard {:?} of a deleted table did not end",
                sh.shard_id()
            ));
        }
        n_records += r.records.len();
    }
    if n_records != 3 {
        f.push(format!("{n_records} records of 3 writes after DeleteTable"));
    }
    // A new table of the same name gets a new stream.
    let td = create_stream_table(&client, "gone", StreamViewType::NewImage, false).await;
    let arn2 = td.latest_stream_arn().unwrap().to_owned();
    if arn2 == arn {
        f.push("a re-created table reuses the deleted table's stream ARN".to_string());
    }
    if !stream_records(&streams, &arn2).await.is_empty() {
        f.push("a re-created table's stream has records".to_string());
    }
    if stream_records(&streams, &arn).await.len() != 3 {
        f.push("re-creating the table changed the old stream".to_string());
    }
    f.assert_none();
}

/// After a write is acknowledged, how long until a poller holding iterators of every shard
/// reads its record. The record must be there at the first poll after the acknowledgement;
/// the figures are printed for the benchmarks page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_are_readable_from_the_stream_at_once() {
    let server = TestServer::start_with(&["--partitions-per-table", "4"]);
    let client = server.client();
    let streams = streams_client(&server);
    let td = create_stream_table(&client, "lag", StreamViewType::NewImage, false).await;
    let arn = td.latest_stream_arn().unwrap().to_owned();
    let mut iters = Vec::new();
    for sh in all_shards(&streams, &arn).await {
        let id = sh.shard_id().unwrap().to_owned();
        iters.push(shard_iterator(&streams, &arn, &id, ShardIteratorType::Latest, None).await);
    }
    let mut lags = Vec::new();
    for i in 0..200 {
        let key = format!("p{i}");
        put_ok(
            &client,
            "lag",
            item(&[("pk", s(&key)), ("v", n(&i.to_string()))]),
        )
        .await;
        let acknowledged = Instant::now();
        // One poll of every shard at once.
        let mut handles = Vec::new();
        for it in &iters {
            let (streams, it) = (streams.clone(), it.clone());
            handles.push(tokio::spawn(async move {
                let out = streams.get_records().shard_iterator(it).send().await;
                (out, Instant::now())
            }));
        }
        let mut found = Vec::new();
        for (slot, h) in handles.into_iter().enumerate() {
            let (out, at) = h.await.unwrap();
            let out = out.unwrap_or_else(|e| panic!("GetRecords while polling: {e:?}"));
            for r in out.records() {
                found.push((rec_keys(r), at));
            }
            iters[slot] = out
                .next_shard_iterator()
                .expect("NextShardIterator of an open shard")
                .to_owned();
        }
        assert_eq!(
            found.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            vec![item(&[("pk", s(&key))])],
            "write {i}: the first poll after the acknowledgement must read exactly its record"
        );
        lags.push(found[0].1.duration_since(acknowledged));
    }
    lags.sort();
    println!(
        "write-to-stream visibility over {} writes, 4 shards polled at once (ack to the GetRecords response holding the record): p50 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags[lags.len() - 1]
    );
}
