//! TransactWriteItems across crashes, failed steps, clients that go away and table
//! deletions, made reproducible with failpoints (the server runs with
//! `CIRRUS_FAILPOINTS`, see `cirrus_partition::failpoint`): a crash at each window of
//! the two-phase commit, a step that fails (or whose reply is lost) once, a pause
//! between two steps. Also an apply-side fact a transaction must keep: its stream
//! records come in the same order wherever the same transaction is applied.
//!
//! The expected behaviour is DynamoDB's: "The actions are completed atomically so that
//! either all of them succeed, or all of them fail"; a ClientRequestToken makes "multiple
//! identical calls have the same effect as one single call" for ten minutes, "the
//! responses to the calls might not be the same"; a write to an item that no transaction
//! holds any more must not get TransactionConflictException.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    BillingMode, KeyType, Put, ScalarAttributeType::S as STR, StreamSpecification, StreamViewType,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use common::*;

const PARTITIONS: [&str; 2] = ["--partitions-per-table", "4"];
const TOKEN: &str = "exactly-once";
/// How long a transaction that outlives its client may take to finish.
const FINISH_TIMEOUT: Duration = Duration::from_secs(30);

fn ctr() -> Attrs {
    item(&[("pk", s("ctr"))])
}

/// Tables (pk S) with a counter item `ctr` at n = 0 in each.
async fn counters(client: &Client, tables: &[&str]) {
    for table in tables {
        create_table(client, table, ("pk", STR), None).await;
        put_ok(client, table, item(&[("pk", s("ctr")), ("n", n("0"))])).await;
    }
}

fn add_one(table: &str) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(ctr()))
        .update_expression("ADD n :one")
        .expression_attribute_values(":one", n("1"))
        .build()
        .unwrap();
    TransactWriteItem::builder().update(update).build()
}

/// One transaction adding one to the counter of every table, with [`TOKEN`].
async fn add_to_all(client: &Client, tables: &[&str]) -> Result<(), String> {
    client
        .transact_write_items()
        .set_transact_items(Some(tables.iter().map(|t| add_one(t)).collect()))
        .client_request_token(TOKEN)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{:?}: {:?} ({e:?})", e.code(), e.message()))
}

/// The counter of every table.
async fn counter_values(client: &Client, tables: &[&str]) -> Vec<String> {
    let mut values = Vec::new();
    for table in tables {
        let got = get_consistent(client, table, ctr())
            .await
            .unwrap_or_else(|| panic!("{table}: the counter item is gone"));
        values.push(match got.get("n") {
            Some(aws_sdk_dynamodb::types::AttributeValue::N(v)) => v.clone(),
            other => panic!("{table}: counter n is {other:?}"),
        });
    }
    values
}

/// Every counter takes a single-item write: no transaction holds it any more.
async fn assert_unlocked(client: &Client, tables: &[&str], what: &str) {
    for table in tables {
        client
            .update_item()
            .table_name(*table)
            .set_key(Some(ctr()))
            .update_expression("ADD touched :one")
            .expression_attribute_values(":one", n("1"))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{what}: a write to {table}'s counter failed (still locked?): {:?} {:?}",
                    e.code(),
                    e.message()
                )
            });
    }
}

/// Waits (bounded) until the server's logs show that the failpoint `name` fired.
fn wait_fired(server: &TestServer, name: &str) {
    let deadline = Instant::now() + FINISH_TIMEOUT;
    while !server.logs().contains(&format!("failpoint {name}: fired")) {
        assert!(
            Instant::now() < deadline,
            "failpoint {name} did not fire within {FINISH_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_retry_after_a_crash_applies_the_transaction_once() {
    // A crash before the decision aborts the transaction, after it commits it; either
    // way the client's retry with its token must leave each counter at exactly one.
    let tables = ["one", "two"];
    for window in [
        "tx_after_prepare",
        "tx_after_decide",
        "tx_after_first_commit",
    ] {
        let mut server = TestServer::start_armed(window, &PARTITIONS);
        counters(&server.client(), &tables).await;
        let lost = add_to_all(&server.client_no_retry(), &tables).await;
        assert!(lost.is_err(), "{window}: the server answered {lost:?}");
        server.restart_after_crash();
        let client = server.client();
        add_to_all(&client, &tables)
            .await
            .unwrap_or_else(|e| panic!("{window}: the retry with the token failed: {e}"));
        assert_eq!(
            counter_values(&client, &tables).await,
            ["1", "1"],
            "{window}: the transaction must apply exactly once"
        );
        assert_unlocked(&client, &tables, window).await;
    }
}

/// Arms `failpoint` (a step that fails, or whose reply is lost, once), runs the
/// transaction, and checks that it was applied everywhere or nowhere, as `commits`
/// says, was reported so, left no locks, and that the token's retry ends with each
/// counter at exactly one.
async fn check_failed_step(failpoint: &str, commits: bool) {
    let tables = ["one", "two"];
    let server = TestServer::start_armed(failpoint, &PARTITIONS);
    let client = server.client_no_retry();
    counters(&client, &tables).await;
    let first = add_to_all(&client, &tables).await;
    assert_eq!(
        first.is_ok(),
        commits,
        "{failpoint}: the transaction was reported as {first:?}"
    );
    let applied = if commits { "1" } else { "0" };
    assert_eq!(
        counter_values(&client, &tables).await,
        [applied, applied],
        "{failpoint}: the transaction must apply everywhere or nowhere"
    );
    assert_unlocked(&client, &tables, failpoint).await;
    add_to_all(&client, &tables)
        .await
        .unwrap_or_else(|e| panic!("{failpoint}: the retry with the token failed: {e}"));
    assert_eq!(
        counter_values(&client, &tables).await,
        ["1", "1"],
        "{failpoint}: after the retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepare_whose_reply_is_lost_is_aborted() {
    check_failed_step("tx_prepare_reply_lost", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_decision_aborts_every_participant() {
    check_failed_step("tx_decide_fails", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_whose_reply_is_lost_stands() {
    check_failed_step("tx_decide_reply_lost", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_after_the_decision_is_retried() {
    check_failed_step("tx_commit_fails", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_forget_does_not_fail_a_committed_transaction() {
    check_failed_step("tx_forget_fails", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_transaction_leaves_no_locks() {
    // The transaction pauses once prepared; its client hangs up meanwhile (the server
    // notices at once and drops the request). The transaction must still finish (here:
    // commit), not keep its items locked.
    let tables = ["one", "two"];
    let server = TestServer::start_armed("tx_pause_after_prepare", &PARTITIONS);
    let client = server.client();
    counters(&client, &tables).await;
    let body = serde_json::json!({
        "TransactItems": tables.iter().map(|table| serde_json::json!({
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "ctr"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        })).collect::<Vec<_>>(),
    });
    let connection =
        server.send_and_leave_open("DynamoDB_20120810.TransactWriteItems", &body.to_string());
    wait_fired(&server, "tx_pause_after_prepare");
    connection
        .shutdown(std::net::Shutdown::Both)
        .expect("hang up");
    let deadline = Instant::now() + FINISH_TIMEOUT;
    loop {
        let values = counter_values(&client, &tables).await;
        if values == ["1", "1"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the transaction of a client that hung up did not finish: counters {values:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_unlocked(&client, &tables, "after the client hung up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_coordinating_table_keeps_a_decided_transaction_whole() {
    // The transaction is decided (its commit recorded in table "one", the coordinator)
    // but not yet committed in "two" and "three" when "one" is deleted; the process then
    // crashes after the first commit. Deleting "one" must not lose the decision that the
    // other participants still need: after the restart both counters show the commit.
    let tables = ["one", "two", "three"];
    let mut server =
        TestServer::start_armed("tx_pause_after_decide,tx_after_first_commit", &PARTITIONS);
    let client = server.client_no_retry();
    counters(&client, &tables).await;
    let running = tokio::spawn({
        let client = client.clone();
        async move { add_to_all(&client, &tables).await }
    });
    wait_fired(&server, "tx_pause_after_decide");
    client
        .delete_table()
        .table_name("one")
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteTable one: {e:?}"));
    server.restart_after_crash();
    let lost = running.await.expect("the transaction task");
    assert!(lost.is_err(), "the crashed server answered {lost:?}");
    let client = server.client();
    let participants = ["two", "three"];
    assert_eq!(
        counter_values(&client, &participants).await,
        ["1", "1"],
        "a transaction decided before its coordinating table was deleted must commit everywhere"
    );
    assert_unlocked(&client, &participants, "after the restart").await;
}

fn put_item(table: &str, it: Attrs) -> TransactWriteItem {
    let put = Put::builder().table_name(table).set_item(Some(it)).build();
    TransactWriteItem::builder().put(put.unwrap()).build()
}

/// The items' keys in the order of their records in the table's stream.
async fn stream_order(server: &TestServer, client: &Client, table: &str) -> Vec<String> {
    let arn = describe_table(client, table)
        .await
        .latest_stream_arn()
        .unwrap_or_else(|| panic!("{table} has no stream"))
        .to_owned();
    let mut records = stream_records(&streams_client(server), &arn).await;
    records.sort_by(|a, b| {
        let seq = |r: &aws_sdk_dynamodbstreams::types::Record| {
            r.dynamodb()
                .and_then(|d| d.sequence_number())
                .unwrap_or_default()
                .to_owned()
        };
        seq_cmp(&seq(a), &seq(b))
    });
    records
        .iter()
        .map(|r| {
            let keys = from_stream_item(r.dynamodb().and_then(|d| d.keys()).expect("Keys"));
            format!("{:?}", keys.get("pk"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_streams_its_items_in_the_same_order_wherever_it_is_applied() {
    // The same transaction on two identical tables, one before and one after a restart
    // (as two replicas would apply one log entry): its stream records must come in the
    // same order, whatever the process.
    let mut server = TestServer::start_with(&["--partitions-per-table", "1"]);
    let keys: Vec<String> = (0..25).map(|i| format!("k{:02}", (i * 7) % 25)).collect();
    let mut orders = Vec::new();
    for (round, table) in ["first", "second"].into_iter().enumerate() {
        if round > 0 {
            server.restart();
        }
        let client = server.client();
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(attr_def("pk", STR))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::KeysOnly)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTable {table}: {e:?}"));
        wait_active(&client, table).await;
        let puts = keys
            .iter()
            .map(|k| put_item(table, item(&[("pk", s(k))])))
            .collect();
        client
            .transact_write_items()
            .set_transact_items(Some(puts))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{table}: {:?} {:?}", e.code(), e.message()));
        orders.push(stream_order(&server, &client, table).await);
    }
    assert_eq!(orders[0].len(), keys.len(), "one record per item");
    assert_eq!(
        orders[0], orders[1],
        "one transaction applied in two processes streamed its items in different orders"
    );
}
