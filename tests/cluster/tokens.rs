//! A ClientRequestToken holds across the cluster: a TransactWriteItems retried through
//! another node is not applied again (it replays), and the same token with another
//! request through a third node is refused.

use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;

use crate::common::cluster::*;
use crate::common::*;

const TABLE: &str = "tokens";
const TOKEN: &str = "one-token-for-three-nodes";

/// A transaction adding `amount` to the counter of every key, with the shared token.
fn add(client: &Client, keys: &[String], amount: &str) -> TransactWriteItemsFluentBuilder {
    let updates = keys.iter().map(|key| {
        let update = Update::builder()
            .table_name(TABLE)
            .key("pk", s(key))
            .update_expression("ADD tally :amount")
            .expression_attribute_values(":amount", n(amount))
            .build()
            .expect("an update");
        TransactWriteItem::builder().update(update).build()
    });
    client
        .transact_write_items()
        .set_transact_items(Some(updates.collect()))
        .client_request_token(TOKEN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_holds_across_nodes() {
    let cluster = Cluster::start();
    let clients = cluster.clients_no_retry();
    create_served_table(&cluster.clients(), TABLE).await;
    let keys = key_per_partition("counted");
    add(&clients[0], &keys, "1")
        .send()
        .await
        .expect("the first request commits");
    // Through the second node: a replay once its replica has the commit (until then the
    // token is in progress there, which a client retries), never a second application.
    eventually("the retry through node 2 replays", || async {
        add(&clients[1], &keys, "1")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    })
    .await;
    for key in &keys {
        let got = try_get_consistent(&clients[2], TABLE, item(&[("pk", s(key))]))
            .await
            .expect("a consistent read");
        let tally = got.and_then(|it| it.get("tally").cloned());
        assert_eq!(tally, Some(n("1")), "{key} was added to once");
    }
    // Another request with the token, through the third node.
    let refused = add(&clients[2], &keys, "5")
        .send()
        .await
        .expect_err("the token belongs to another request");
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("IdempotentParameterMismatchException")
    );
}
