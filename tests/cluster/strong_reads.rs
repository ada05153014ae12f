//! A strongly consistent read through any node sees the write acknowledged just before
//! through another: several tasks at once each write versions of a few keys, each
//! version through the next node, and read it back at once through the two other nodes
//! with GetItem, Query, BatchGetItem and TransactGetItems, all consistent. Every read
//! must return exactly the version just written — not an older one, not nothing.

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::types::{Get, TransactGetItem};
use aws_sdk_dynamodb::Client;

use crate::common::cluster::*;
use crate::common::*;

const TABLE: &str = "strong";
/// Tasks writing and reading at once.
const TASKS: usize = 3;
/// Versions each task writes.
const VERSIONS: usize = 100;
/// Keys each task writes its versions to, in turn: a key's first version creates it,
/// the others overwrite it.
const KEYS_PER_TASK: usize = 8;

#[derive(Clone, Copy, Debug)]
enum Read {
    GetItem,
    Query,
    BatchGetItem,
    TransactGetItems,
}

const READS: [Read; 4] = [
    Read::GetItem,
    Read::Query,
    Read::BatchGetItem,
    Read::TransactGetItems,
];

/// The version (`v`) of `key` a strongly consistent `read` through `client` returns,
/// `None` when it finds no item.
async fn read_version(read: Read, client: &Client, key: &str) -> Result<Option<String>, String> {
    let pk = HashMap::from([("pk".to_owned(), s(key))]);
    let item: Option<Attrs> = match read {
        Read::GetItem => client
            .get_item()
            .table_name(TABLE)
            .set_key(Some(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?
            .item
            .clone(),
        Read::Query => {
            let out = client
                .query()
                .table_name(TABLE)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(key))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            match out.items() {
                [] => None,
                [one] => Some(one.clone()),
                more => return Err(format!("{} items for one key", more.len())),
            }
        }
        Read::BatchGetItem => batch_get_consistent(client, TABLE, &[key.to_owned()])
            .await?
            .remove(key),
        Read::TransactGetItems => {
            let get = Get::builder()
                .table_name(TABLE)
                .set_key(Some(pk))
                .build()
                .map_err(|e| e.to_string())?;
            let out = client
                .transact_get_items()
                .transact_items(TransactGetItem::builder().get(get).build())
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            out.responses()
                .first()
                .ok_or("no response for the one Get")?
                .item()
                .cloned()
        }
    };
    Ok(item.and_then(|it| it.get("v")?.as_n().ok().cloned()))
}

/// Task `task`'s writes and reads; what went wrong.
async fn write_then_read_elsewhere(task: usize, clients: Vec<Client>) -> Vec<String> {
    let mut wrong = Vec::new();
    for version in 0..VERSIONS {
        let key = format!("t{task}-k{}", version % KEYS_PER_TASK);
        let writer = (task + version) % MEMBERS;
        let v = version.to_string();
        let put = clients[writer]
            .put_item()
            .table_name(TABLE)
            .item("pk", s(&key))
            .item("v", n(&v))
            .send()
            .await;
        if let Err(e) = put {
            wrong.push(format!("{key} v{v} through node {}: {e:?}", writer + 1));
            continue;
        }
        for other in 1..MEMBERS {
            let reader = (writer + other) % MEMBERS;
            for read in READS {
                let got = read_version(read, &clients[reader], &key).await;
                if got.as_ref().map(Option::as_deref) != Ok(Some(v.as_str())) {
                    wrong.push(format!(
                        "{key} v{v} acknowledged through node {}; {read:?} through node {} returned {got:?}",
                        writer + 1,
                        reader + 1
                    ));
                }
            }
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strong_reads_through_every_node_see_the_last_acknowledged_write() {
    let cluster = Cluster::start();
    let clients = cluster.clients();
    create_served_table(&clients, TABLE).await;

    let load = Instant::now();
    let failures = all_at_once(TASKS, |task| {
        write_then_read_elsewhere(task, clients.clone())
    })
    .await;
    eprintln!(
        "{} writes, each read back {} ways, in {:.1?}",
        TASKS * VERSIONS,
        (MEMBERS - 1) * READS.len(),
        load.elapsed()
    );
    failures.assert_none();
    eprintln!("strong_reads took {:.1?}", cluster.started.elapsed());
}
