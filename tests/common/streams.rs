//! DynamoDB Streams helpers: clients, stream tables, and reading every record of a stream.

use super::*;

/// A DynamoDB Streams SDK client for `server`, configured like `TestServer::client` (same
/// endpoint, region, test credentials, plain HTTP, standard retries, bounded timeouts).
pub fn streams_client(server: &TestServer) -> aws_sdk_dynamodbstreams::Client {
    streams_client_in(server, "us-east-1")
}

/// A DynamoDB Streams SDK client like `streams_client` that signs for `region`.
pub fn streams_client_in(server: &TestServer, region: &str) -> aws_sdk_dynamodbstreams::Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new(region.to_string()))
        .credentials_provider(test_credentials())
        .http_client(http)
        .retry_config(RetryConfig::standard())
        .timeout_config(test_timeouts())
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// CreateTable of an on-demand table `name` with hash key `pk` (S) and an enabled
/// stream of `view`.
pub fn create_stream_table_request(
    client: &Client,
    name: &str,
    view: aws_sdk_dynamodb::types::StreamViewType,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    create_table_request(client, name, ("pk", ScalarAttributeType::S), None).stream_specification(
        aws_sdk_dynamodb::types::StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(view)
            .build()
            .unwrap(),
    )
}

/// Creates an on-demand table `name` with hash key `pk` (S) and an enabled stream of
/// `view`, waits until it is ACTIVE, and returns the stream's ARN.
pub async fn create_stream_table(
    client: &Client,
    name: &str,
    view: aws_sdk_dynamodb::types::StreamViewType,
) -> String {
    create_stream_table_request(client, name, view)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
    wait_active(client, name).await;
    stream_arn(client, name).await
}

/// The latest stream ARN of table `name`.
pub async fn stream_arn(client: &Client, name: &str) -> String {
    describe_table(client, name)
        .await
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_owned()
}

/// A stream record's attribute value as the DynamoDB SDK's type, to compare with items.
pub fn from_stream_value(v: &aws_sdk_dynamodbstreams::types::AttributeValue) -> AttributeValue {
    use aws_sdk_dynamodbstreams::types::AttributeValue as V;
    match v {
        V::S(x) => AttributeValue::S(x.clone()),
        V::N(x) => AttributeValue::N(x.clone()),
        V::B(x) => AttributeValue::B(x.clone()),
        V::Ss(x) => AttributeValue::Ss(x.clone()),
        V::Ns(x) => AttributeValue::Ns(x.clone()),
        V::Bs(x) => AttributeValue::Bs(x.clone()),
        V::Bool(x) => AttributeValue::Bool(*x),
        V::Null(x) => AttributeValue::Null(*x),
        V::L(x) => AttributeValue::L(x.iter().map(from_stream_value).collect()),
        V::M(x) => AttributeValue::M(from_stream_item(x)),
        other => panic!("unknown attribute value in a stream record: {other:?}"),
    }
}

/// A stream record's Keys, NewImage or OldImage as an item of the DynamoDB SDK's type.
pub fn from_stream_item(
    m: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Attrs {
    m.iter()
        .map(|(k, v)| (k.clone(), from_stream_value(v)))
        .collect()
}

/// Every record of every shard of the stream, from TRIM_HORIZON until caught up.
pub async fn stream_records(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
    try_stream_records(streams, arn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// How many pages a stream paging loop may fetch before it counts as runaway.
const MAX_STREAM_PAGES: usize = 1_000;

/// The stream's shards, as DescribeStream lists them (all pages).
pub async fn try_stream_shards(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Result<Vec<aws_sdk_dynamodbstreams::types::Shard>, String> {
    let mut shards = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..MAX_STREAM_PAGES {
        let out = streams
            .describe_stream()
            .stream_arn(arn)
            .set_exclusive_start_shard_id(start.take())
            .send()
            .await
            .map_err(|e| format!("DescribeStream {arn}: {e:?}"))?;
        let desc = out
            .stream_description()
            .ok_or("DescribeStream: no StreamDescription")?;
        shards.extend(desc.shards().iter().cloned());
        match desc.last_evaluated_shard_id() {
            Some(id) => start = Some(id.to_owned()),
            None => return Ok(shards),
        }
    }
    Err(format!("DescribeStream {arn}: runaway paging"))
}

/// Like `stream_records`, but says what failed instead of panicking.
pub async fn try_stream_records(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Result<Vec<aws_sdk_dynamodbstreams::types::Record>, String> {
    let mut records = Vec::new();
    for shard in try_stream_shards(streams, arn).await? {
        let shard_id = shard
            .shard_id()
            .ok_or("a shard without ShardId")?
            .to_owned();
        let mut iter = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(&shard_id)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| format!("GetShardIterator {shard_id}: {e:?}"))?
            .shard_iterator()
            .ok_or("GetShardIterator: no ShardIterator")?
            .to_owned();
        let mut empty = 0;
        for page in 0.. {
            if page == MAX_STREAM_PAGES {
                return Err(format!("GetRecords {shard_id}: runaway paging"));
            }
            let out = streams
                .get_records()
                .shard_iterator(&iter)
                .send()
                .await
                .map_err(|e| format!("GetRecords {shard_id}: {e:?}"))?;
            records.extend(out.records().iter().cloned());
            empty = if out.records().is_empty() {
                empty + 1
            } else {
                0
            };
            match out.next_shard_iterator() {
                Some(next) if empty < 2 => iter = next.to_owned(),
                _ => break,
            }
        }
    }
    Ok(records)
}

/// Compares two stream sequence numbers (decimal strings) as big integers.
pub fn seq_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}
