//! The storage engine and the full request path in process: RocksDB put/get of a
//! stored item, and GetItem, PutItem, UpdateItem and Query from request JSON to
//! response bytes (dispatch, validation, Raft proposal with its WAL fsync, apply), with
//! no network in between.
//!
//! Run with `cargo bench --bench request_path`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cirrus_api::dispatch::dispatch;
use cirrus_api::{ApiState, Region, ServerState, TransactionTokens};
use cirrus_cluster::{Node, NodeConfig};
use cirrus_storage::engine::{Engine, CF_ITEMS};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

fn item_json(i: u32) -> serde_json::Value {
    json!({
        "pk": { "S": format!("user{}", i / 10) },
        "sk": { "N": (i % 10).to_string() },
        "field0": { "S": "x".repeat(1000) },
    })
}

fn storage(c: &mut Criterion) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path())?;
    let value = vec![7u8; 1024];
    let mut i = 0u32;
    c.bench_function("rocksdb put 1 KB (no fsync)", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            engine.put(CF_ITEMS, &i.to_be_bytes(), black_box(&value))
        })
    });
    c.bench_function("rocksdb get 1 KB", |b| {
        b.iter(|| {
            engine
                .get(CF_ITEMS, black_box(&7u32.to_be_bytes()))
                .map(|v| v.map(|v| v.len()))
        })
    });
    Ok(())
}

fn request_path(c: &mut Criterion) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let dir = tempfile::tempdir()?;
    let state = runtime.block_on(async {
        let node = Node::open(NodeConfig {
            data_dir: dir.path().to_path_buf(),
            partitions_per_table: 2,
            item_collection_limit: u64::MAX,
            enforce_capacity: false,
            default_region: "us-east-1".into(),
            cluster: None,
        })
        .await?;
        let tokens = TransactionTokens::load(&node)?;
        let region = Region::new("us-east-1").ok_or("a region")?;
        let shared = Arc::new(ServerState {
            node,
            default_region: region,
            account_id: "000000000000".into(),
            endpoint_address: "127.0.0.1:0".into(),
            expressions: Default::default(),
            transaction_tokens: tokens,
            stream_retention: Duration::from_secs(86_400),
        });
        Ok::<_, Box<dyn std::error::Error>>(ApiState::new(shared, region))
    })?;
    let call = |target: &str, body: &serde_json::Value| {
        let bytes = body.to_string().into_bytes();
        runtime.block_on(dispatch(
            state.clone(),
            &format!("DynamoDB_20120810.{target}"),
            &bytes,
        ))
    };
    let create = json!({
        "TableName": "bench",
        "KeySchema": [
            { "AttributeName": "pk", "KeyType": "HASH" },
            { "AttributeName": "sk", "KeyType": "RANGE" },
        ],
        "AttributeDefinitions": [
            { "AttributeName": "pk", "AttributeType": "S" },
            { "AttributeName": "sk", "AttributeType": "N" },
        ],
        "BillingMode": "PAY_PER_REQUEST",
    });
    call("CreateTable", &create).map_err(|e| e.to_string())?;
    for i in 0..1000 {
        call(
            "PutItem",
            &json!({ "TableName": "bench", "Item": item_json(i) }),
        )
        .map_err(|e| e.to_string())?;
    }
    let get =
        json!({ "TableName": "bench", "Key": { "pk": { "S": "user7" }, "sk": { "N": "3" } } });
    c.bench_function("GetItem request (in process)", |b| {
        b.iter(|| call("GetItem", black_box(&get)))
    });
    let mut i = 0;
    c.bench_function("PutItem request (in process, fsync'd)", |b| {
        b.iter(|| {
            i = (i + 1) % 1000;
            call(
                "PutItem",
                &json!({ "TableName": "bench", "Item": item_json(i) }),
            )
        })
    });
    let update = json!({
        "TableName": "bench",
        "Key": { "pk": { "S": "user7" }, "sk": { "N": "3" } },
        "UpdateExpression": "SET field1 = :v ADD hits :one",
        "ExpressionAttributeValues": { ":v": { "S": "y" }, ":one": { "N": "1" } },
    });
    c.bench_function("UpdateItem request (in process, fsync'd)", |b| {
        b.iter(|| call("UpdateItem", black_box(&update)))
    });
    let query = json!({
        "TableName": "bench",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": { ":pk": { "S": "user7" } },
    });
    c.bench_function("Query of 10 items (in process)", |b| {
        b.iter(|| call("Query", black_box(&query)))
    });
    runtime.block_on(state.node.shutdown())?;
    Ok(())
}

fn all(c: &mut Criterion) {
    if let Err(e) = storage(c) {
        eprintln!("storage benchmark setup failed: {e}");
    }
    if let Err(e) = request_path(c) {
        eprintln!("request path benchmark setup failed: {e}");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = all
}
criterion_main!(benches);
