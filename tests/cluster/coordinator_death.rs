//! A transaction whose coordinator's node dies mid-way is all-or-nothing afterwards: the
//! leaders of the partitions it holds find it stalled and finish it with the decision
//! that stands — an abort when the node died before deciding, a commit when it died
//! right after recording the commit — and the node, restarted, agrees.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use crate::common::cluster::*;
use crate::common::*;

const TABLE: &str = "coordinated";

/// Runs a transaction through member 0, armed to crash at `crash_point`, that sets
/// `v = 1` on one item of each partition; then checks through the other members, and
/// through member 0 restarted, that either every item has it (`committed`) or none.
async fn coordinator_dies_at(crash_point: &str, committed: bool) {
    let mut cluster = Cluster::start_armed_on(0, crash_point);
    let clients = cluster.clients();
    create_served_table(&clients, TABLE).await;
    let keys = key_per_partition("tx");
    for key in &keys {
        put_ok(&clients[1], TABLE, item(&[("pk", s(key))])).await;
    }
    let updates = keys.iter().map(|key| {
        let update = Update::builder()
            .table_name(TABLE)
            .key("pk", s(key))
            .update_expression("SET v = :one")
            .expression_attribute_values(":one", n("1"))
            .build()
            .expect("an update");
        TransactWriteItem::builder().update(update).build()
    });
    let sent = cluster.nodes[0]
        .client_no_retry()
        .transact_write_items()
        .set_transact_items(Some(updates.collect()))
        .send()
        .await;
    assert!(sent.is_err(), "the coordinator crashed before answering");
    // The survivors finish it: every item readable transactionally again, all alike.
    let survivor = &clients[1];
    let values = |client: aws_sdk_dynamodb::Client| {
        let keys = keys.clone();
        async move {
            let mut values = Vec::new();
            for key in &keys {
                let got = try_get_consistent(&client, TABLE, item(&[("pk", s(key))])).await?;
                values.push(got.is_some_and(|it| it.contains_key("v")));
            }
            Ok::<_, String>(values)
        }
    };
    eventually("the stalled transaction is finished", || async {
        let gets = keys.iter().map(|key| {
            aws_sdk_dynamodb::types::TransactGetItem::builder()
                .get(
                    aws_sdk_dynamodb::types::Get::builder()
                        .table_name(TABLE)
                        .key("pk", s(key))
                        .build()
                        .expect("a get"),
                )
                .build()
        });
        survivor
            .transact_get_items()
            .set_transact_items(Some(gets.collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    })
    .await;
    let expected = vec![committed; keys.len()];
    assert_eq!(values(survivor.clone()).await, Ok(expected.clone()));
    cluster.nodes[0].restart_after_crash();
    let back = cluster.nodes[0].client();
    let seen = eventually("the restarted coordinator serves", || async {
        values(back.clone()).await
    })
    .await;
    assert_eq!(seen, expected, "the restarted coordinator agrees");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_dead_before_deciding_leaves_nothing_applied() {
    coordinator_dies_at("tx_after_prepare", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_dead_after_deciding_to_commit_leaves_everything_applied() {
    coordinator_dies_at("tx_after_decide", true).await;
}
