//! A slow disk (a write stall, a read that misses every cache) on one partition must
//! stall only the requests that wait for it, never the server: blocking RocksDB work
//! stays off the async workers. A delay failpoint makes applying writes take seconds.

mod common;

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
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
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
