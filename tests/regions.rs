//! Regions: the region in a request's credential scope selects its own namespace of
//! tables, as in DynamoDB (and DynamoDB Local); an unsigned request gets `--region`.
//! Two real SDK clients, signing for two regions, share one server.

mod common;

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ScalarAttributeType, StreamSpecification, StreamViewType, Tag,
    TransactWriteItem,
};
use common::*;

const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

/// Who wrote the item `k` of the client's table `shared`.
async fn writer_of_shared(client: &aws_sdk_dynamodb::Client) -> Option<AttributeValue> {
    let got = client
        .get_item()
        .table_name("shared")
        .key("pk", s("k"))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem");
    got.item().and_then(|i| i.get("from")).cloned()
}

#[tokio::test]
async fn each_region_keeps_its_own_tables() {
    let mut server = TestServer::start_with(&["--region", EAST]);
    let east = server.client_in(EAST);
    let west = server.client_in(WEST);
    for client in [&east, &west] {
        create_table(client, "shared", ("pk", ScalarAttributeType::S), None).await;
    }
    create_table(&west, "west-only", ("pk", ScalarAttributeType::S), None).await;
    for (client, value) in [(&east, "east"), (&west, "west")] {
        client
            .put_item()
            .table_name("shared")
            .set_item(Some(item(&[("pk", s("k")), ("from", s(value))])))
            .send()
            .await
            .expect("PutItem");
    }

    let check = |server: &TestServer| {
        let (east, west) = (server.client_in(EAST), server.client_in(WEST));
        async move {
            for (client, region, value, tables) in [
                (&east, EAST, "east", vec!["shared"]),
                (&west, WEST, "west", vec!["shared", "west-only"]),
            ] {
                assert_eq!(
                    writer_of_shared(client).await,
                    Some(s(value)),
                    "{region} reads its own item"
                );
                let names = client.list_tables().send().await.expect("ListTables");
                assert_eq!(names.table_names(), tables, "ListTables in {region}");
                let description = client
                    .describe_table()
                    .table_name("shared")
                    .send()
                    .await
                    .expect("DescribeTable");
                let arn = description.table().and_then(|t| t.table_arn());
                assert_eq!(
                    arn,
                    Some(format!("arn:aws:dynamodb:{region}:000000000000:table/shared").as_str()),
                    "the ARN names {region}"
                );
            }
        }
    };
    check(&server).await;
    server.restart();
    check(&server).await;

    let (code, _) = expect_err(
        "DescribeTable of another region's table",
        east.describe_table().table_name("west-only").send().await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    west.delete_table()
        .table_name("shared")
        .send()
        .await
        .expect("DeleteTable in the west");
    assert_eq!(
        writer_of_shared(&east).await,
        Some(s("east")),
        "the east's table is still there"
    );
}

#[tokio::test]
async fn unsigned_requests_use_the_default_region() {
    let server = TestServer::start_with(&["--region", WEST]);
    let west = server.client_in(WEST);
    create_table(&west, "unsigned", ("pk", ScalarAttributeType::S), None).await;
    let list_tables = |authorization: Option<&str>| {
        let mut headers = vec![
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
        ];
        headers.extend(authorization.map(|a| ("Authorization", a)));
        raw_exchange(server.addr(), "POST", "/", &headers, b"{}", None).expect("ListTables")
    };
    let r = list_tables(None);
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.json()["TableNames"], serde_json::json!(["unsigned"]));
    let health = raw_exchange(server.addr(), "GET", "/", &[], b"", None).expect("GET /");
    assert_eq!(health.status, 200);

    // A scope whose region could not be one is refused.
    let r = list_tables(Some(
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/no_such:region/dynamodb/aws4_request, \
         SignedHeaders=host, Signature=0",
    ));
    assert_eq!(
        (r.status, r.error_type().as_deref()),
        (
            400,
            Some("com.amazon.coral.service#InvalidSignatureException")
        ),
        "{}",
        r.body_str()
    );
}

#[tokio::test]
async fn streams_tags_and_ttl_follow_the_region() {
    let server = TestServer::start();
    let east = server.client_in(EAST);
    let west = server.client_in(WEST);
    for client in [&east, &west] {
        client
            .create_table()
            .table_name("streamed")
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .key_schema(key("pk", aws_sdk_dynamodb::types::KeyType::Hash))
            .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .expect("a stream specification"),
            )
            .send()
            .await
            .expect("CreateTable");
        wait_active(client, "streamed").await;
    }

    let east_streams = streams_client_in(&server, EAST);
    let west_streams = streams_client_in(&server, WEST);
    let mut arns = Vec::new();
    for (client, region) in [(&east_streams, EAST), (&west_streams, WEST)] {
        let listed = client.list_streams().send().await.expect("ListStreams");
        let streams = listed.streams();
        assert_eq!(streams.len(), 1, "ListStreams in {region}: {streams:?}");
        let arn = streams[0].stream_arn().unwrap_or_default().to_string();
        assert!(
            arn.starts_with(&format!("arn:aws:dynamodb:{region}:")),
            "{arn}"
        );
        arns.push(arn);
    }
    // A stream of the other region is not this region's to read.
    let (code, _) = expect_err(
        "DescribeStream of the west's stream, signed for the east",
        east_streams
            .describe_stream()
            .stream_arn(&arns[1])
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    let described = west_streams
        .describe_stream()
        .stream_arn(&arns[1])
        .send()
        .await
        .expect("the west reads its own stream");
    let shard = described
        .stream_description()
        .and_then(|d| d.shards().first())
        .and_then(|shard| shard.shard_id())
        .expect("a shard")
        .to_string();
    let iterator = west_streams
        .get_shard_iterator()
        .stream_arn(&arns[1])
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("GetShardIterator in the west")
        .shard_iterator()
        .expect("an iterator")
        .to_string();
    let (code, _) = expect_err(
        "GetRecords with the west's iterator, signed for the east",
        east_streams
            .get_records()
            .shard_iterator(&iterator)
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    west_streams
        .get_records()
        .shard_iterator(&iterator)
        .send()
        .await
        .expect("the west reads its own shard");

    let west_arn = "arn:aws:dynamodb:eu-west-1:000000000000:table/streamed";
    west.tag_resource()
        .resource_arn(west_arn)
        .tags(
            Tag::builder()
                .key("k")
                .value("west")
                .build()
                .expect("a tag"),
        )
        .send()
        .await
        .expect("TagResource in the west");
    let (code, message) = expect_err(
        "TagResource of the west's table, signed for the east",
        east.tag_resource()
            .resource_arn(west_arn)
            .tags(
                Tag::builder()
                    .key("k")
                    .value("east")
                    .build()
                    .expect("a tag"),
            )
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        message,
        format!(
            "User: arn:aws:iam::000000000000:root is not authorized to perform: \
             dynamodb:TagResource on resource: {west_arn}"
        )
    );
    let east_tags = east
        .list_tags_of_resource()
        .resource_arn("arn:aws:dynamodb:us-east-1:000000000000:table/streamed")
        .send()
        .await
        .expect("ListTagsOfResource in the east");
    assert!(east_tags.tags().is_empty(), "the east's table has no tags");

    enable_ttl(&west, "streamed", "expires").await;
    let east_ttl = east
        .describe_time_to_live()
        .table_name("streamed")
        .send()
        .await
        .expect("DescribeTimeToLive in the east");
    assert_eq!(
        east_ttl
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status()),
        Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Disabled),
        "TTL in the west leaves the east's table alone"
    );
}

#[tokio::test]
async fn each_region_keeps_its_own_client_request_tokens() {
    let server = TestServer::start_with(&["--region", EAST]);
    for (region, value) in [(EAST, "east"), (WEST, "west")] {
        let client = server.client_in(region);
        create_table(&client, "shared", ("pk", ScalarAttributeType::S), None).await;
        // The same token with other parameters: in another region it is a new token.
        let put = Put::builder()
            .table_name("shared")
            .set_item(Some(item(&[("pk", s("k")), ("from", s(value))])))
            .build()
            .expect("a Put");
        client
            .transact_write_items()
            .client_request_token("one-token")
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("TransactWriteItems in {region}: {e:?}"));
        assert_eq!(writer_of_shared(&client).await, Some(s(value)));
    }
}
