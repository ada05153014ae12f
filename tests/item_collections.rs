//! Item collections on tables with local secondary indexes (ItemCollectionMetrics and
//! ItemCollectionSizeLimitExceededException, with the limit lowered by
//! `--item-collection-limit-bytes` so a test can reach it; also for a transaction
//! writing to several collections), and how soon a write is visible through a global
//! index (printed as p50/p99 for docs/benchmarks.md).

mod common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    BillingMode, KeyType, LocalSecondaryIndex, Projection, ProjectionType, Put, PutRequest,
    ReturnItemCollectionMetrics, ScalarAttributeType, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;

async fn create_lsi_table(client: &Client, name: &str) {
    let lsi = LocalSecondaryIndex::builder()
        .index_name("by_l")
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("l", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .unwrap();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("l", ScalarAttributeType::S))
        .local_secondary_indexes(lsi)
        .send()
        .await
        .unwrap();
    wait_active(client, name).await;
}

fn padded(pk: &str, sk: u32, bytes: usize) -> Attrs {
    item(&[
        ("pk", s(pk)),
        ("sk", n(&sk.to_string())),
        ("l", s("x")),
        ("pad", s(&"z".repeat(bytes))),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_over_two_collections_sizes_each_by_its_own_items() {
    // Items count twice (item and ALL-projected LSI entry) against a 10,000-byte limit.
    // The transaction puts about 4.4 KB in each of two collections; each then takes
    // about 3 KB more, but not 6 KB more.
    let server = TestServer::start_with(&[
        "--partitions-per-table",
        "1",
        "--item-collection-limit-bytes",
        "10000",
    ]);
    let client = server.client_no_retry();
    create_lsi_table(&client, "coll").await;
    let put = |it: Attrs| {
        let put = Put::builder().table_name("coll").set_item(Some(it)).build();
        TransactWriteItem::builder().put(put.unwrap()).build()
    };
    client
        .transact_write_items()
        .transact_items(put(padded("a", 1, 2200)))
        .transact_items(put(padded("b", 1, 2200)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the transaction: {:?} {:?}", e.code(), e.message()));
    let put_item = |pk: &'static str, sk: u32| {
        client
            .put_item()
            .table_name("coll")
            .set_item(Some(padded(pk, sk, 1500)))
            .send()
    };
    for pk in ["a", "b"] {
        put_item(pk, 2).await.unwrap_or_else(|e| {
            panic!(
                "collection {pk} (about 7.5 KB of 10,000 bytes) refused a put: {:?} {:?}",
                e.code(),
                e.message()
            )
        });
    }
    let over = put_item("a", 3).await;
    assert_eq!(
        over.as_ref().err().and_then(|e| e.code()),
        Some("ItemCollectionSizeLimitExceededException"),
        "collection a would hold about 10.5 KB of 10,000 bytes: {over:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_collection_limit_and_metrics() {
    // Each item is ~1 KB and counted twice (the item and its ALL-projected LSI entry),
    // so a 5 KB limit admits two items per partition-key value.
    let server = TestServer::start_with(&["--item-collection-limit-bytes", "5000"]);
    let client = server.client_no_retry();
    create_lsi_table(&client, "coll").await;

    let first = client
        .put_item()
        .table_name("coll")
        .set_item(Some(padded("a", 1, 1000)))
        .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
        .send()
        .await
        .unwrap();
    let metrics = first.item_collection_metrics().expect("metrics with SIZE");
    assert_eq!(
        metrics.item_collection_key().unwrap().get("pk"),
        Some(&s("a"))
    );
    assert_eq!(metrics.size_estimate_range_gb(), &[0.0, 1.0]);

    let without = client
        .put_item()
        .table_name("coll")
        .set_item(Some(padded("a", 2, 1000)))
        .send()
        .await
        .unwrap();
    assert!(
        without.item_collection_metrics().is_none(),
        "NONE is the default"
    );

    let (code, message) = expect_err(
        "third 1 KB item of collection a",
        client
            .put_item()
            .table_name("coll")
            .set_item(Some(padded("a", 3, 1000)))
            .send()
            .await,
    );
    assert_eq!(code, "ItemCollectionSizeLimitExceededException");
    assert!(!message.is_empty());
    assert!(
        get_consistent(&client, "coll", item(&[("pk", s("a")), ("sk", n("3"))]))
            .await
            .is_none(),
        "the rejected item was not written"
    );

    // Other collections are independent; shrinking a collection makes room again.
    put_ok(&client, "coll", padded("b", 1, 1000)).await;
    let (code, _) = expect_err(
        "update that grows collection a",
        client
            .update_item()
            .table_name("coll")
            .key("pk", s("a"))
            .key("sk", n("1"))
            .update_expression("SET more = :m")
            .expression_attribute_values(":m", s(&"y".repeat(1500)))
            .send()
            .await,
    );
    assert_eq!(code, "ItemCollectionSizeLimitExceededException");
    let deleted = client
        .delete_item()
        .table_name("coll")
        .key("pk", s("a"))
        .key("sk", n("2"))
        .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
        .send()
        .await
        .unwrap();
    assert!(deleted.item_collection_metrics().is_some());
    put_ok(&client, "coll", padded("a", 3, 1000)).await;

    // BatchWriteItem reports metrics per table, and a batch of a bad index key
    // type writes nothing.
    let batch = client
        .batch_write_item()
        .request_items(
            "coll",
            vec![WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(padded("c", 1, 10)))
                        .build()
                        .unwrap(),
                )
                .build()],
        )
        .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
        .send()
        .await
        .unwrap();
    let per_table = batch
        .item_collection_metrics()
        .unwrap()
        .get("coll")
        .unwrap();
    assert_eq!(per_table.len(), 1);
    let bad = item(&[("pk", s("d")), ("sk", n("1")), ("l", n("5"))]);
    let (code, message) = expect_err(
        "batch with an index key of the wrong type",
        client
            .batch_write_item()
            .request_items(
                "coll",
                vec![
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(padded("d", 2, 10)))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                    WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(bad)).build().unwrap())
                        .build(),
                ],
            )
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("Type mismatch for Index Key l"),
        "{message}"
    );
    assert!(
        get_consistent(&client, "coll", item(&[("pk", s("d")), ("sk", n("2"))]))
            .await
            .is_none(),
        "nothing of the rejected batch was written"
    );

    // Collection sizes survive a restart, and the limit is the table's, recorded when
    // it was created: a node restarted with another flag (or a cluster's other
    // replicas) refuses the same writes.
    let mut server = server;
    server.restart_with(&["--item-collection-limit-bytes", "1000000"]);
    let client = server.client_no_retry();
    let (code, _) = expect_err(
        "collection a is still full after a restart with a larger flag",
        client
            .put_item()
            .table_name("coll")
            .set_item(Some(padded("a", 4, 1000)))
            .send()
            .await,
    );
    assert_eq!(code, "ItemCollectionSizeLimitExceededException");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// After a write is acknowledged, how long until a global-index Query returns it.
/// Cirrus writes index entries in the item's write batch, so the first Query after the
/// acknowledgement must already see it; the figures are printed for the benchmarks page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_visible_in_a_global_index_when_acknowledged() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("lag")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .global_secondary_indexes(
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
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
        .send()
        .await
        .unwrap();
    wait_active(&client, "lag").await;
    let mut lags = Vec::new();
    for i in 0..200 {
        let g = format!("g{i}");
        put_ok(
            &client,
            "lag",
            item(&[("pk", s(&format!("p{i}"))), ("g", s(&g))]),
        )
        .await;
        let acknowledged = Instant::now();
        let mut polls = 0;
        loop {
            polls += 1;
            let found = client
                .query()
                .table_name("lag")
                .index_name("by_g")
                .key_condition_expression("g = :g")
                .expression_attribute_values(":g", s(&g))
                .send()
                .await
                .unwrap()
                .count();
            if found == 1 {
                break;
            }
            assert!(
                polls < 100,
                "item {i} not in the index after {polls} queries"
            );
        }
        assert_eq!(polls, 1, "item {i} was not in the index when acknowledged");
        lags.push(acknowledged.elapsed());
    }
    lags.sort();
    println!(
        "write-to-GSI visibility over {} writes (ack to first Query returning it): p50 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags[lags.len() - 1]
    );
}
