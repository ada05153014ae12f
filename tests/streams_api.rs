//! The Streams API's edges: DescribeStream's ShardFilter and its validation,
//! ExclusiveStartShardId as a position (also for ids no shard has), ListStreams paging
//! that survives a table deleted between pages, and updates of a missing item that only
//! remove attributes: they create nothing and write no record.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeValueUpdate, ReturnValue, StreamViewType, TransactWriteItem, Update,
};
use aws_sdk_dynamodbstreams::types::{ShardFilter, ShardFilterType};
use aws_sdk_dynamodbstreams::Client as Streams;
use common::*;

const VALIDATION: &str = "ValidationException";

async fn shard_ids(streams: &Streams, arn: &str, start: Option<&str>) -> Vec<String> {
    streams
        .describe_stream()
        .stream_arn(arn)
        .set_exclusive_start_shard_id(start.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeStream after {start:?}: {e:?}"))
        .stream_description()
        .unwrap()
        .shards()
        .iter()
        .map(|shard| shard.shard_id().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn exclusive_start_shard_id_is_a_position() {
    let server = TestServer::start_with(&["--partitions-per-table", "4"]);
    let client = server.client();
    let streams = streams_client(&server);
    let arn = create_stream_table(&client, "shards", StreamViewType::NewAndOldImages).await;
    let all = shard_ids(&streams, &arn, None).await;
    assert_eq!(all.len(), 4);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "shards are listed in id order");
    assert_eq!(shard_ids(&streams, &arn, Some(&all[1])).await, all[2..]);
    assert!(shard_ids(&streams, &arn, Some(&all[3])).await.is_empty());
    // An id no shard has is a position all the same: DynamoDB answers with the shards
    // after it rather than an error.
    let between = format!("{}0", all[1]);
    assert_eq!(shard_ids(&streams, &arn, Some(&between)).await, all[2..]);
    let after_all = "zzzzzzzzzzzzzzzzzzzzzzzzsfasdgagadfadfgagkjsdfsfsdjfjks";
    assert!(shard_ids(&streams, &arn, Some(after_all)).await.is_empty());
    let before_all = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_eq!(shard_ids(&streams, &arn, Some(before_all)).await, all);
    // Paging with Limit visits each shard once.
    let mut paged = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..10 {
        let out = streams
            .describe_stream()
            .stream_arn(&arn)
            .limit(3)
            .set_exclusive_start_shard_id(start.take())
            .send()
            .await
            .expect("DescribeStream page");
        let description = out.stream_description().unwrap();
        paged.extend(
            description
                .shards()
                .iter()
                .map(|s| s.shard_id().unwrap().to_owned()),
        );
        match description.last_evaluated_shard_id() {
            Some(last) => start = Some(last.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, all);
}

#[tokio::test]
async fn shard_filter_child_shards() {
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    let streams = streams_client(&server);
    let arn = create_stream_table(&client, "filtered", StreamViewType::NewAndOldImages).await;
    let all = shard_ids(&streams, &arn, None).await;
    let filter = |kind: Option<ShardFilterType>, id: Option<&str>| {
        ShardFilter::builder()
            .set_type(kind)
            .set_shard_id(id.map(str::to_owned))
            .build()
    };
    // Shards never split here, so no shard has children.
    for parent in &all {
        let out = streams
            .describe_stream()
            .stream_arn(&arn)
            .shard_filter(filter(Some(ShardFilterType::ChildShards), Some(parent)))
            .send()
            .await
            .expect("DescribeStream with CHILD_SHARDS");
        let description = out.stream_description().unwrap();
        assert!(description.shards().is_empty(), "{description:?}");
        assert!(description.last_evaluated_shard_id().is_none());
        assert_eq!(description.stream_arn(), Some(arn.as_str()));
    }
    let mut f = Failures::new();
    let r = streams
        .describe_stream()
        .stream_arn(&arn)
        .shard_filter(filter(
            Some(ShardFilterType::from("PARENT_SHARDS")),
            Some(&all[0]),
        ))
        .send()
        .await;
    f.check(check_err(
        "unknown filter type",
        r,
        VALIDATION,
        Some(
            "1 validation error detected: Value 'PARENT_SHARDS' at 'shardFilter.type' failed to \
             satisfy constraint: Member must satisfy enum value set: [CHILD_SHARDS]",
        ),
    ));
    for (id, constraint) in [
        ("shardId-000", "greater than or equal to 28"),
        (&*"s".repeat(66), "less than or equal to 65"),
    ] {
        let r = streams
            .describe_stream()
            .stream_arn(&arn)
            .shard_filter(filter(Some(ShardFilterType::ChildShards), Some(id)))
            .send()
            .await;
        f.check(check_err(
            &format!("shard id of {} characters", id.len()),
            r,
            VALIDATION,
            Some(&format!(
                "1 validation error detected: Value '{id}' at 'shardFilter.shardId' failed to \
                 satisfy constraint: Member must have length {constraint}"
            )),
        ));
    }
    let r = streams
        .describe_stream()
        .stream_arn(&arn)
        .shard_filter(filter(Some(ShardFilterType::ChildShards), None))
        .send()
        .await;
    f.check(check_err(
        "CHILD_SHARDS without a ShardId",
        r,
        VALIDATION,
        Some("ShardId"),
    ));
    f.assert_none();
}

async fn list_page(streams: &Streams, start: Option<String>) -> (Vec<String>, Option<String>) {
    let out = streams
        .list_streams()
        .limit(1)
        .set_exclusive_start_stream_arn(start)
        .send()
        .await
        .expect("ListStreams");
    let tables = out
        .streams()
        .iter()
        .map(|s| s.table_name().unwrap().to_owned())
        .collect();
    (tables, out.last_evaluated_stream_arn().map(str::to_owned))
}

#[tokio::test]
async fn list_streams_paging_survives_a_deleted_table() {
    // Streams of deleted tables age out after a second here.
    let server = TestServer::start_with(&["--stream-retention", "1"]);
    let client = server.client();
    let streams = streams_client(&server);
    for name in ["tab_a", "tab_b", "tab_c", "tab_d"] {
        create_stream_table(&client, name, StreamViewType::NewAndOldImages).await;
    }
    let (first, after_first) = list_page(&streams, None).await;
    let (second, after_second) = list_page(&streams, after_first).await;
    assert_eq!([first, second].concat(), ["tab_a", "tab_b"]);
    // The table whose stream the next page starts after goes away; its stream is first
    // kept (disabled), then ages out.
    client
        .delete_table()
        .table_name("tab_b")
        .send()
        .await
        .expect("DeleteTable");
    let (third, _) = list_page(&streams, after_second.clone()).await;
    assert_eq!(
        third,
        ["tab_c"],
        "paging goes on after the deleted table's stream"
    );
    let deadline = std::time::Instant::now() + TABLE_STATE_TIMEOUT;
    loop {
        let all = streams.list_streams().send().await.expect("ListStreams");
        if !all
            .streams()
            .iter()
            .any(|s| s.table_name() == Some("tab_b"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tab_b's stream never aged out"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut rest = Vec::new();
    let mut start = after_second;
    for _ in 0..10 {
        let (page, next) = list_page(&streams, start).await;
        rest.extend(page);
        match next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    assert_eq!(
        rest,
        ["tab_c", "tab_d"],
        "a stream that is gone still marks the position"
    );
    // A malformed ARN is refused.
    let r = streams
        .list_streams()
        .exclusive_start_stream_arn("not-an-arn")
        .send()
        .await;
    let mut f = Failures::new();
    f.check(check_err(
        "malformed ARN",
        r,
        VALIDATION,
        Some("ExclusiveStartStreamArn"),
    ));
    f.assert_none();
}

#[tokio::test]
async fn removing_from_a_missing_item_creates_nothing_and_writes_no_record() {
    let server = TestServer::start();
    let client = server.client();
    let streams = streams_client(&server);
    let arn = create_stream_table(&client, "noop", StreamViewType::NewAndOldImages).await;
    let key = |pk: &str| item(&[("pk", s(pk))]);
    let update = |pk: &str| {
        client
            .update_item()
            .table_name("noop")
            .set_key(Some(key(pk)))
    };
    let out = update("removed")
        .update_expression("REMOVE a, b.c")
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("REMOVE on a missing item");
    assert!(out.attributes().is_none());
    update("deleted")
        .update_expression("DELETE s :s")
        .expression_attribute_values(":s", ss(&["x"]))
        .send()
        .await
        .expect("DELETE on a missing item");
    update("legacy")
        .attribute_updates(
            "a",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Delete)
                .build(),
        )
        .send()
        .await
        .expect("AttributeUpdates DELETE on a missing item");
    client
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("noop")
                        .set_key(Some(key("in-transaction")))
                        .update_expression("REMOVE a")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("transactional REMOVE on a missing item");
    for pk in ["removed", "deleted", "legacy", "in-transaction"] {
        assert_eq!(get_consistent(&client, "noop", key(pk)).await, None, "{pk}");
    }
    // An update that sets something, or none at all, does create the item.
    update("empty")
        .send()
        .await
        .expect("UpdateItem with no update");
    update("mixed")
        .update_expression("SET a = :a REMOVE b")
        .expression_attribute_values(":a", n("1"))
        .send()
        .await
        .expect("SET and REMOVE");
    assert_eq!(
        get_consistent(&client, "noop", key("empty")).await,
        Some(key("empty"))
    );
    let mut created: Vec<(String, String)> = stream_records(&streams, &arn)
        .await
        .iter()
        .map(|record| {
            let keys = from_stream_item(record.dynamodb().unwrap().keys().unwrap());
            let pk = match &keys["pk"] {
                aws_sdk_dynamodb::types::AttributeValue::S(pk) => pk.clone(),
                other => panic!("{other:?}"),
            };
            (record.event_name().unwrap().as_str().to_owned(), pk)
        })
        .collect();
    created.sort();
    assert_eq!(
        created,
        [
            ("INSERT".to_owned(), "empty".to_owned()),
            ("INSERT".to_owned(), "mixed".to_owned())
        ]
    );
}
