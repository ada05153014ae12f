//! A slow disk (a write stall, a read that misses every cache) must stall only the
//! requests that wait for it, never the server: blocking RocksDB work — applying
//! writes, Query and Scan pages, batches of reads, stream reads — stays off the async
//! workers. Delay failpoints make applying writes, or reading a Scan's items, take
//! seconds; meanwhile a GetItem must be answered.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::ScalarAttributeType;
use common::*;

#[tokio::test]
async fn a_stalled_apply_does_not_stall_other_requests() {
    // More partitions than the server has workers, so the stalled applies could hold
    // every worker if they ran on them.
    let server = TestServer::start_armed("apply_put", &["--partitions-per-table", "8"]);
    let client = server.client();
    create_table(&client, "slow", ("pk", ScalarAttributeType::S), None).await;
    let writes: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                put_ok(&client, "slow", item(&[("pk", s(&format!("k{i}")))])).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let read = get_consistent(&client, "slow", item(&[("pk", s("absent"))])).await;
    assert_eq!(read, None);
    let finished = writes.iter().filter(|w| w.is_finished()).count();
    assert_eq!(
        finished, 0,
        "the read waited for stalled writes to finish: it was held up behind them"
    );
    for write in writes {
        write.await.unwrap();
    }
    let tables = client.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["slow"]);
}

/// Every item a Scan reads holds its thread for seconds.
const SLOW_SCAN: &str = "slow-scan-read";

/// How long the Scans may take to reach the delay point together.
const REACH_TIMEOUT: Duration = Duration::from_secs(60);

/// Threads of the server named like tokio's runtime threads (`tokio-rt-worker`): its
/// workers, and any blocking-pool threads alive at the moment, so at least as many as
/// it has workers.
fn runtime_threads(pid: u32) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap_or_else(|e| panic!("list /proc/{pid}/task: {e}"));
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("tokio-"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_get_item_is_answered_while_slow_scans_outnumber_the_workers() {
    let server = TestServer::start_armed(SLOW_SCAN, &[]);
    let client = server.client();
    create_table(&client, "slow", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&client, "slow", item(&[("pk", s("a"))])).await;

    let workers = runtime_threads(server.pid());
    assert!(workers > 0, "no tokio runtime threads found in the server");
    let scans = workers + 1;
    let finished = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..scans)
        .map(|_| {
            let (client, finished) = (client.clone(), finished.clone());
            tokio::spawn(async move {
                let page = client.scan().table_name("slow").send().await;
                finished.fetch_add(1, Ordering::SeqCst);
                page
            })
        })
        .collect();

    // Every Scan in flight at once, each inside the delay.
    let marker = format!("failpoint {SLOW_SCAN}: delaying");
    let deadline = Instant::now() + REACH_TIMEOUT;
    loop {
        let reached = server.logs().matches(&marker).count();
        if reached >= scans {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {reached} of {scans} Scans reached the delay point within {REACH_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let got = get_consistent(&client, "slow", item(&[("pk", s("a"))])).await;
    assert_eq!(got, Some(item(&[("pk", s("a"))])));
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "the GetItem was answered only after a slow Scan finished: the Scans held the \
         server's {workers} runtime threads"
    );

    for task in tasks {
        let page = task
            .await
            .expect("scan task")
            .unwrap_or_else(|e| panic!("Scan: {e:?}"));
        assert_eq!(page.count(), 1);
    }
}
