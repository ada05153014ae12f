//! Apply is a pure function of the log entry and the state: replaying a partition's
//! whole log from its first entry, in another process and at another time, rebuilds
//! exactly the bytes the first apply wrote — items, index entries, change records and
//! their times, expiry entries, statistics — across schema changes made while writes
//! went on. (Replicas will rely on the same property.) A data directory in the key
//! layout before items were stored in hash order is upgraded to the very same bytes.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, StreamSpecification,
    StreamViewType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use common::stored;
use common::*;

const TABLE: &str = "replayed";
const PARTITIONS: u16 = 2;

fn stream(enabled: bool) -> StreamSpecification {
    let spec = StreamSpecification::builder().stream_enabled(enabled);
    let spec = if enabled {
        spec.stream_view_type(StreamViewType::NewAndOldImages)
    } else {
        spec
    };
    spec.build().unwrap()
}

async fn set_stream(client: &Client, enabled: bool) {
    client
        .update_table()
        .table_name(TABLE)
        .stream_specification(stream(enabled))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTable stream {enabled}: {e:?}"));
}

/// A round of every kind of write: puts (half with a TTL a day ahead, some with one
/// so old that it is never indexed), updates, deletes, and multi-item transactions
/// (several items of one partition in one commit).
async fn write_round(client: &Client, round: u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for i in 0..20u32 {
        let mut it = item(&[
            ("pk", s(&format!("p{}", i % 5))),
            ("sk", n(&format!("{round}{i:03}"))),
            ("v", n(&i.to_string())),
        ]);
        match i % 3 {
            0 => it.insert("exp".into(), n(&(now + 86_400 + u64::from(i)).to_string())),
            1 => it.insert("exp".into(), n("1000")),
            _ => None,
        };
        put_ok(client, TABLE, it).await;
    }
    for i in (0..20u32).step_by(4) {
        client
            .update_item()
            .table_name(TABLE)
            .set_key(Some(item(&[
                ("pk", s(&format!("p{}", i % 5))),
                ("sk", n(&format!("{round}{i:03}"))),
            ])))
            .update_expression("ADD v :one")
            .expression_attribute_values(":one", n("1"))
            .send()
            .await
            .unwrap();
    }
    for i in (1..20u32).step_by(6) {
        client
            .delete_item()
            .table_name(TABLE)
            .set_key(Some(item(&[
                ("pk", s(&format!("p{}", i % 5))),
                ("sk", n(&format!("{round}{i:03}"))),
            ])))
            .send()
            .await
            .unwrap();
    }
    for t in 0..3u32 {
        let mut transaction = client.transact_write_items();
        for i in 0..8u32 {
            let put = Put::builder()
                .table_name(TABLE)
                .set_item(Some(item(&[
                    ("pk", s(&format!("t{t}"))),
                    ("sk", n(&format!("{round}{i:03}"))),
                    ("v", n(&(i * 7).to_string())),
                ])))
                .build()
                .unwrap();
            transaction = transaction.transact_items(TransactWriteItem::builder().put(put).build());
        }
        transaction.send().await.unwrap();
    }
}

/// A server whose table went through every kind of write and schema change.
async fn server_after_workload() -> TestServer {
    let partitions = PARTITIONS.to_string();
    let server = TestServer::start_with(&["--partitions-per-table", &partitions]);
    let client = server.client();
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .stream_specification(stream(true))
        .send()
        .await
        .unwrap();
    wait_active(&client, TABLE).await;
    enable_ttl(&client, TABLE, "exp").await;
    write_round(&client, 1).await;
    // Schema changes while writes go on: each write must be replayed under the schema
    // that preceded it in its partition's log, not the one current at replay.
    let concurrent = {
        let client = client.clone();
        tokio::spawn(async move { write_round(&client, 2).await })
    };
    set_stream(&client, false).await;
    concurrent.await.unwrap();
    write_round(&client, 3).await;
    set_stream(&client, true).await;
    client
        .update_table()
        .table_name(TABLE)
        .attribute_definitions(attr_def("v", ScalarAttributeType::N))
        .global_secondary_index_updates(gsi_create_action(
            "byV",
            "v",
            None,
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        ))
        .send()
        .await
        .unwrap();
    wait_gsis_active(&client, TABLE).await;
    write_round(&client, 4).await;
    server
}

#[tokio::test]
async fn replaying_every_log_from_the_start_rebuilds_the_same_bytes() {
    let mut server = server_after_workload().await;
    server.stop_graceful();

    let engine = stored::open(server.data_dir());
    // The first table of a data directory has id 1.
    let applied = stored::table_data(&engine, 1);
    let applied_stats = stored::stats_records(&engine, 1, PARTITIONS);
    assert!(
        applied.keys().any(|(cf, _)| *cf == "changes")
            && applied.keys().any(|(cf, _)| *cf == "expiry"),
        "the workload wrote change records and expiry entries"
    );
    stored::forget_applied_state(&engine, 1, PARTITIONS);
    drop(engine);
    // Another process, a later clock.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.start_again();
    server.stop_graceful();

    let engine = stored::open(server.data_dir());
    let replayed = stored::table_data(&engine, 1);
    stored::assert_same(&applied, &replayed, "after replay");
    assert_eq!(stored::stats_records(&engine, 1, PARTITIONS), applied_stats);
}

#[tokio::test]
async fn a_directory_in_the_old_key_layout_is_upgraded_to_the_same_bytes() {
    let mut server = server_after_workload().await;
    let client = server.client();
    let scanned = scan_everything(&client, TABLE).await.len();
    server.stop_graceful();
    let engine = stored::open(server.data_dir());
    let current = stored::table_data(&engine, 1);
    // The index's key is `v`, a number.
    stored::to_key_layout_1(&engine, 1, &[cirrus_storage::ScalarType::N]);
    assert!(
        !stored::differences(&current, &stored::table_data(&engine, 1)).is_empty(),
        "layout 1 keys differ"
    );
    drop(engine);
    server.start_again();
    let client = server.client();
    assert_eq!(scan_everything(&client, TABLE).await.len(), scanned);
    let got = get_consistent(&client, TABLE, item(&[("pk", s("t1")), ("sk", n("4003"))]))
        .await
        .expect("a transaction's item");
    assert_eq!(got.get("v"), Some(&n("21")));
    let by_v = client
        .query()
        .table_name(TABLE)
        .index_name("byV")
        .key_condition_expression("v = :v")
        .expression_attribute_values(":v", n("21"))
        .send()
        .await
        .expect("Query on the index");
    assert!(by_v.count() > 0, "the index's entries moved too");
    server.stop_graceful();
    let engine = stored::open(server.data_dir());
    let upgraded = stored::table_data(&engine, 1);
    stored::assert_same(&current, &upgraded, "after the upgrade");
}
