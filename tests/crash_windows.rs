//! Crashes in the windows between two durable steps that `kill -9` cannot hit
//! reliably, reached with failpoints (`partition/src/failpoint.rs`): the server aborts
//! at the named point and must come back whole.

mod common;

use aws_sdk_dynamodb::types::{
    Put, ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem,
};
use common::stored;
use common::*;

const TABLE: &str = "crashy";

async fn create_simple_table(client: &aws_sdk_dynamodb::Client) {
    create_table(client, TABLE, ("pk", ScalarAttributeType::S), None).await;
}

fn put_of(pk: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(TABLE)
                .set_item(Some(item(&[("pk", s(pk))])))
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn create_table_interrupted_after_the_catalog_write_is_finished_at_restart() {
    let mut server = TestServer::start_armed("create_table_after_catalog", &[]);
    let client = server.client_no_retry();
    let created = client
        .create_table()
        .table_name(TABLE)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(key("pk", aws_sdk_dynamodb::types::KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .send()
        .await;
    assert!(created.is_err(), "the server answered instead of crashing");
    server.restart_after_crash();
    let client = server.client();
    wait_active(&client, TABLE).await;
    put_ok(&client, TABLE, item(&[("pk", s("a")), ("v", n("1"))])).await;
    let got = get_consistent(&client, TABLE, item(&[("pk", s("a"))])).await;
    assert_eq!(got, Some(item(&[("pk", s("a")), ("v", n("1"))])));
}

#[tokio::test]
async fn delete_table_interrupted_after_the_catalog_write_leaves_nothing_behind() {
    let mut server = TestServer::start_armed("delete_table_after_catalog", &[]);
    let client = server.client_no_retry();
    create_simple_table(&client).await;
    for i in 0..50 {
        put_ok(&client, TABLE, item(&[("pk", s(&format!("k{i}")))])).await;
    }
    let deleted = client.delete_table().table_name(TABLE).send().await;
    assert!(deleted.is_err(), "the server answered instead of crashing");
    server.restart_after_crash();
    let tables = server.client().list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty(), "{tables:?}");
    server.stop_graceful();
    let engine = stored::open(server.data_dir());
    // The first table of a data directory has id 1.
    let left = stored::everything_of_table(&engine, 1);
    assert!(
        left.is_empty(),
        "{} keys of the deleted table left",
        left.len()
    );
}

#[tokio::test]
async fn a_transaction_prepare_durable_only_in_the_log_is_applied_then_recovered() {
    let mut server =
        TestServer::start_armed("tx_prepare_in_log_only", &["--partitions-per-table", "1"]);
    let client = server.client_no_retry();
    create_simple_table(&client).await;
    let transaction = client
        .transact_write_items()
        .transact_items(put_of("x"))
        .transact_items(put_of("y"))
        .send()
        .await;
    assert!(
        transaction.is_err(),
        "the server answered instead of crashing"
    );
    server.restart_after_crash();
    // The restarted leader commits and applies the prepare (its locks come back), and
    // only then recovery runs: no decision was recorded, so the transaction is aborted
    // and its items are free at once — a write to them is no TransactionConflict.
    let client = server.client_no_retry();
    for pk in ["x", "y"] {
        assert_eq!(
            get_consistent(&client, TABLE, item(&[("pk", s(pk))])).await,
            None
        );
        client
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item(&[("pk", s(pk))])))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {pk} after recovery: {e:?}"));
    }
}

#[tokio::test]
async fn a_schema_change_interrupted_after_the_catalog_write_is_rolled_forward() {
    let mut server = TestServer::start_armed("schema_change_after_catalog", &[]);
    let client = server.client_no_retry();
    create_simple_table(&client).await;
    let enabled = client
        .update_table()
        .table_name(TABLE)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await;
    assert!(enabled.is_err(), "the server answered instead of crashing");
    server.restart_after_crash();
    let client = server.client();
    put_ok(&client, TABLE, item(&[("pk", s("after"))])).await;
    let streams = streams_client(&server);
    let arn = client
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.latest_stream_arn().map(str::to_owned))
        .expect("the stream survived the crash");
    let records = stream_records(&streams, &arn).await;
    assert_eq!(records.len(), 1, "{records:?}");
}
