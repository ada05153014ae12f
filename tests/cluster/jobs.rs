//! Background work after its node dies: an index backfill run by the metadata group's
//! leader is finished by the next leader when that node is killed mid-way, and the TTL
//! sweep of a partition whose leader's node is killed is taken over by the new leader.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{Projection, ProjectionType, ScalarAttributeType};

use crate::common::cluster::*;
use crate::common::*;

const ITEMS: usize = 200;

/// The index of the member with node id `node_id`.
fn member(node_id: u64) -> usize {
    node_id as usize - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_backfill_is_finished_by_the_next_metadata_leader() {
    // Every backfill waits a few seconds before it starts: time to kill its node.
    let mut cluster = Cluster::start_armed("slow_backfill");
    let clients = cluster.clients();
    let table = "backfilled";
    create_served_table(&clients, table).await;
    let items: Vec<Attrs> = (0..ITEMS)
        .map(|i| {
            item(&[
                ("pk", s(&format!("k{i}"))),
                ("g", s(&format!("g{}", i % 7))),
            ])
        })
        .collect();
    batch_put_all(&clients[0], table, &items).await;
    let leader = eventually("the metadata group has a leader", || async {
        cluster.leader_of(0)
    })
    .await;
    let other = (member(leader) + 1) % clients.len();
    clients[other]
        .update_table()
        .table_name(table)
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action(
            "by_g",
            "g",
            None,
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        ))
        .send()
        .await
        .expect("UpdateTable creates the index");
    // The backfill is paused on the leader: kill it there.
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.nodes[member(leader)].kill9();
    let survivor = &clients[other];
    wait_gsis_active(survivor, table).await;
    index_holds_every_item(survivor, table).await;
    let new_leader = cluster.leader_of(0).expect("a new metadata leader");
    assert_ne!(new_leader, leader, "the killed node cannot lead");

    // The killed node comes back and its replicas hold the whole index too.
    cluster.nodes[member(leader)].start_again();
    index_holds_every_item(&cluster.nodes[member(leader)].client(), table).await;
}

/// Waits until the index `by_g` of `table` read through `client` has an entry per item.
async fn index_holds_every_item(client: &aws_sdk_dynamodb::Client, table: &str) {
    eventually("the index holds every item", || async {
        let pages = scan_pages(&client.scan().table_name(table).index_name("by_g")).await?;
        let entries: usize = pages.iter().map(|page| page.items().len()).sum();
        (entries == ITEMS)
            .then_some(())
            .ok_or(format!("{entries} of {ITEMS} entries"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ttl_sweep_goes_on_after_a_partition_leader_dies() {
    let mut cluster = Cluster::start();
    let clients = cluster.clients();
    let table = "expiring";
    create_served_table(&clients, table).await;
    enable_ttl(&clients[0], table, "expires").await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    // Expiring a few seconds from now: after the kill below.
    let expires = (now + 6).to_string();
    let mut items = Vec::new();
    for i in 0..ITEMS {
        let mut it = item(&[("pk", s(&format!("k{i}")))]);
        if i % 2 == 0 {
            it.insert("expires".into(), n(&expires));
        }
        items.push(it);
    }
    batch_put_all(&clients[1], table, &items).await;
    // Kill the leader of the table's first partition (group 1 << 16, table id 1).
    let leader = eventually("the partition has a leader", || async {
        cluster.leader_of(1 << 16)
    })
    .await;
    cluster.nodes[member(leader)].kill9();
    let survivor = &clients[(member(leader) + 1) % clients.len()];
    eventually("every expired item is swept", || async {
        let left = scan_eventual(survivor, table).await?;
        let expiring = left.iter().filter(|it| it.contains_key("expires")).count();
        (left.len() == ITEMS / 2 && expiring == 0)
            .then_some(())
            .ok_or(format!(
                "{} items left, {expiring} of them expiring",
                left.len()
            ))
    })
    .await;
}
