//! Peak memory of responses that carry items: a response is written from the stored
//! items into its body, never built first as a tree of JSON values (issue 13, item 13).
//!
//! The server's peak resident set (`VmHWM` in `/proc/<pid>/status`) is read before and
//! after a GetItem of one legal 400 KB item holding 200,000 NULLs, and after a Scan of a
//! full 1 MB page of tiny items. With a `serde_json::Value` per attribute the first took
//! well over 100 MB and the second several hundred; written straight from the stored
//! bytes, each costs its body and little more.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use common::*;

/// How far one request may raise the server's peak resident set. A few times what the
/// responses' bodies need, far below what a tree of JSON values took.
const PEAK_GROWTH_BOUND_KIB: u64 = 48 * 1024;

/// NULL elements of the big item's list: 2 bytes each by DynamoDB's measure (the value
/// and its element overhead), so the item is just under 400 KB.
const NULLS: usize = 200_000;

/// NULL attributes (`a0` to `a39`) of each tiny item: about 155 bytes an item.
const TINY_ATTRIBUTES: usize = 40;

/// Tiny items written: a little over 1 MB, so the first Scan page stops at the 1 MB
/// limit.
const TINY_ITEMS: usize = 7_500;

/// The server's peak resident set so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"))
}

fn tiny_item(i: usize) -> Attrs {
    let mut item: Attrs = (0..TINY_ATTRIBUTES)
        .map(|a| (format!("a{a}"), AttributeValue::Null(true)))
        .collect();
    item.insert("pk".into(), n(&i.to_string()));
    item
}

/// Writes the tiny items with a few concurrent batch writers.
async fn write_tiny_items(client: &aws_sdk_dynamodb::Client, table: &str) {
    let items: Arc<Vec<Attrs>> = Arc::new((0..TINY_ITEMS).map(tiny_item).collect());
    let writers = 4;
    let share = TINY_ITEMS.div_ceil(writers);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (client, table, items) = (client.clone(), table.to_string(), items.clone());
            tokio::spawn(async move {
                let end = ((w + 1) * share).min(items.len());
                batch_put_all(&client, &table, &items[w * share..end]).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("batch writer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_responses_are_written_without_a_value_per_attribute() {
    let mut server = TestServer::start();
    let client = server.client();
    create_table(&client, "big", ("pk", ScalarAttributeType::S), None).await;
    create_table(&client, "tiny", ("pk", ScalarAttributeType::N), None).await;
    let nulls = list(vec![AttributeValue::Null(true); NULLS]);
    put_ok(&client, "big", item(&[("pk", s("big")), ("l", nulls)])).await;
    write_tiny_items(&client, "tiny").await;

    // A fresh process, so that its peak is its start-up's, not that of the writes.
    server.restart();
    let client = server.client();
    let pid = server.pid();
    let baseline = peak_rss_kib(pid);

    let got = get_consistent(&client, "big", item(&[("pk", s("big"))]))
        .await
        .expect("the big item exists");
    match got.get("l") {
        Some(AttributeValue::L(elements)) => {
            assert_eq!(elements.len(), NULLS);
            assert!(elements.iter().all(|e| *e == AttributeValue::Null(true)));
        }
        other => panic!("the big item's list came back as {other:?}"),
    }
    let after_get = peak_rss_kib(pid);
    assert!(
        after_get.saturating_sub(baseline) < PEAK_GROWTH_BOUND_KIB,
        "GetItem of a 400 KB item of {NULLS} NULLs raised the server's peak memory from \
         {baseline} KiB to {after_get} KiB"
    );

    let page = client
        .scan()
        .table_name("tiny")
        .consistent_read(true)
        .send()
        .await
        .expect("Scan of the tiny items");
    let items = page.items();
    assert!(
        page.last_evaluated_key().is_some_and(|key| !key.is_empty()),
        "the page should stop at 1 MB, before the last of {TINY_ITEMS} items"
    );
    assert!(
        items.len() > 6_000,
        "a 1 MB page held {} items",
        items.len()
    );
    assert_eq!(page.count() as usize, items.len());
    let want: HashMap<String, AttributeValue> = tiny_item(0);
    for got in items {
        assert_eq!(got.len(), want.len(), "{got:?}");
        assert!(got.keys().all(|name| want.contains_key(name)), "{got:?}");
    }
    let after_scan = peak_rss_kib(pid);
    assert!(
        after_scan.saturating_sub(baseline) < PEAK_GROWTH_BOUND_KIB,
        "a Scan page of 1 MB of tiny items raised the server's peak memory from {baseline} KiB \
         to {after_scan} KiB"
    );
}
