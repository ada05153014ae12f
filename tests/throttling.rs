//! Throttling follows DynamoDB's capacity model, never the number of Raft groups a table
//! happens to have: a new on-demand table serves "up to 4,000 writes per second and
//! 12,000 reads per second" at once, "each partition on the table can serve up to 3,000
//! read request units or 1,000 write request units", and a throttled request carries
//! ThrottlingReasons (`<Table|Index><Read|Write><limit>` and the resource's ARN), as the
//! Developer Guide ("On-demand capacity mode: initial throughput", "Throttling
//! diagnostics") and the API reference (ThrottlingReason) describe.
//!
//! Every server here has ONE Raft group per table, which the old model throttled at a
//! single partition's 1,000 write units a second.

mod common;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{PutRequest, ScalarAttributeType, WriteRequest};
use common::*;

const ONE_GROUP: &[&str] = &["--partitions-per-table", "1"];

/// An item of about `kilobytes` KB: that many write units, plus one.
fn item_of(pk: &str, kilobytes: usize) -> Attrs {
    item(&[("pk", s(pk)), ("pad", s(&"x".repeat(kilobytes * 1024)))])
}

/// Eight writes of 391 units each (3,128 units, within DynamoDB's 4,000 a second for a
/// new on-demand table, two or three per key range) all succeed at once, with no retry;
/// one Raft group's old ceiling of 1,000 a second refused the fourth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_on_demand_table_takes_its_initial_throughput_on_one_raft_group() {
    let server = TestServer::start_with(ONE_GROUP);
    let admin = server.client();
    let client = server.client_no_retry();
    create_table(&admin, "bulk", ("pk", ScalarAttributeType::S), None).await;
    let mut failures = Vec::new();
    for i in 0..8 {
        let outcome = client
            .put_item()
            .table_name("bulk")
            .set_item(Some(item_of(&format!("bulk-{i:02}"), 390)))
            .send()
            .await;
        if let Err(e) = outcome {
            failures.push(format!("item {i}: {:?}", e.code()));
        }
    }
    assert!(
        failures.is_empty(),
        "a bulk load within DynamoDB's initial on-demand throughput was refused: {failures:?}"
    );
}

/// One partition key updated far past 1,000 write units a second is throttled with
/// ProvisionedThroughputExceededException and the reason TableWriteKeyRangeThroughput
/// Exceeded on the table's ARN, while other partition keys keep being written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_key_is_throttled_with_dynamodbs_reason_and_others_are_not() {
    let server = TestServer::start_with(ONE_GROUP);
    let admin = server.client();
    let client = server.client_no_retry();
    create_table(&admin, "hot", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&admin, "hot", item_of("hot", 390)).await;
    // Each update rewrites a 390 KB item: 391 write units.
    let mut throttle = None;
    for round in 0..50 {
        let outcome = client
            .update_item()
            .table_name("hot")
            .key("pk", s("hot"))
            .update_expression("SET n = :n")
            .expression_attribute_values(":n", n(&round.to_string()))
            .send()
            .await;
        if let Err(e) = outcome {
            throttle = Some(e.into_service_error());
            break;
        }
    }
    let Some(UpdateItemError::ProvisionedThroughputExceededException(e)) = throttle else {
        panic!("50 updates of 391 units to one key: expected a throttle, got {throttle:?}");
    };
    let reasons = e.throttling_reasons();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(
        reasons[0].reason(),
        Some("TableWriteKeyRangeThroughputExceeded")
    );
    let resource = reasons[0].resource().unwrap_or_default();
    assert!(
        resource.starts_with("arn:aws:dynamodb:") && resource.ends_with(":table/hot"),
        "resource {resource}"
    );
    // A new on-demand table has four key ranges: of eight other keys, some are in
    // another range than the hot key and are written at once.
    let mut written = 0;
    for i in 0..8 {
        if client
            .put_item()
            .table_name("hot")
            .set_item(Some(item(&[("pk", s(&format!("cold-{i}")))])))
            .send()
            .await
            .is_ok()
        {
            written += 1;
        }
    }
    assert!(
        written > 0,
        "no other key could be written while one was hot"
    );
}

/// A BatchWriteItem takes no more of a key range than it has: of 16 writes of 391 units
/// to one partition key, those past the range's 1,000 units come back in
/// UnprocessedItems (as DynamoDB returns throttled batch writes), instead of all being
/// accepted and locking the range out for seconds afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_takes_no_more_of_a_key_range_than_it_has() {
    let server = TestServer::start_with(ONE_GROUP);
    let admin = server.client();
    let client = server.client_no_retry();
    create_table(
        &admin,
        "batch",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let requests: Vec<WriteRequest> = (0..16)
        .map(|i| {
            let mut it = item_of("hot", 390);
            it.insert("sk".into(), n(&i.to_string()));
            let put = PutRequest::builder()
                .set_item(Some(it))
                .build()
                .expect("PutRequest");
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let out = client
        .batch_write_item()
        .request_items("batch", requests)
        .send()
        .await
        .expect("BatchWriteItem: some writes fit");
    let unprocessed = out
        .unprocessed_items()
        .and_then(|items| items.get("batch"))
        .map_or(0, Vec::len);
    let processed = 16 - unprocessed;
    assert!(
        (1..=4).contains(&processed),
        "one key range holds 1,000 units, about three writes of 391: {processed} were processed"
    );
}
