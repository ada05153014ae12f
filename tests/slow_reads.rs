//! Slow reads must not stall the server: Query and Scan pages, batches of reads and
//! stream reads run off the async workers, so a GetItem is answered while they work
//! (issue 13, item 14).
//!
//! The server starts with the delay point `slow-scan-read` armed: every item a Scan
//! reads holds its thread for seconds, as a long scan on a slow disk would. More such
//! Scans than the server has worker threads are started; once all of them are inside the
//! delay, a GetItem must come back while none of them has finished.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::ScalarAttributeType;
use common::*;

const FAILPOINT: &str = "slow-scan-read";

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
    let server = TestServer::start_with_env(&[], &[("CIRRUS_FAILPOINTS", FAILPOINT)]);
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
    let marker = format!("failpoint {FAILPOINT}: delaying");
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
