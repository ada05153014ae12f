//! A cluster of three real `cirrus serve` processes on loopback (issue 15, first
//! steps): it forms from one command per node, a table created through one node is
//! served by all three, writes and reads go through any node (a strongly consistent
//! read through one node sees a write acknowledged through another), and when a node is
//! killed (`kill -9`) the other two keep taking writes; the killed node comes back and
//! converges, with every acknowledged write on every node. A data directory serves only
//! the node it belongs to. Under load (`cluster/failover.rs`): each node in turn is
//! killed and restarted while six writers write, and no acknowledged write is lost;
//! strongly consistent reads of every kind through every node see the write just
//! acknowledged through another (`cluster/strong_reads.rs`); a stream read through any
//! node has the same records (`cluster/streams.rs`).

mod common;
#[path = "cluster/coordinator_death.rs"]
mod coordinator_death;
#[path = "cluster/failover.rs"]
mod failover;
#[path = "cluster/jobs.rs"]
mod jobs;
#[path = "cluster/membership.rs"]
mod membership;
#[path = "cluster/status.rs"]
mod status;
#[path = "cluster/streams.rs"]
mod streams;
#[path = "cluster/strong_reads.rs"]
mod strong_reads;
#[path = "cluster/tokens.rs"]
mod tokens;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use common::cluster::*;
use common::*;

const TABLE: &str = "clustered";

/// The partition keys a node's Scan returns.
async fn keys_on(client: &Client) -> Result<BTreeSet<String>, String> {
    let items = scan_eventual(client, TABLE).await?;
    Ok(items
        .iter()
        .filter_map(|item| item.get("pk")?.as_s().ok().cloned())
        .collect())
}

/// Waits until every node's Scan returns exactly the acknowledged writes.
async fn every_node_holds(clients: &[Client], acknowledged: &BTreeSet<String>) {
    for (i, client) in clients.iter().enumerate() {
        eventually(
            &format!("node {} holds every acknowledged write", i + 1),
            || async {
                let keys = keys_on(client).await?;
                (keys == *acknowledged).then_some(()).ok_or(format!(
                    "{} of {} keys",
                    keys.len(),
                    acknowledged.len()
                ))
            },
        )
        .await;
    }
}

/// Writes `key` through `client`, retrying the retryable errors a failover may give,
/// for at most `WAIT`.
async fn put_acknowledged(client: &Client, key: &str) -> Result<Duration, String> {
    until_acknowledged(WAIT, || {
        client
            .put_item()
            .table_name(TABLE)
            .item("pk", s(key))
            .send()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_one_table_and_survive_a_killed_node() {
    let mut cluster = Cluster::start();
    let clients = cluster.clients();
    create_served_table(&clients, TABLE).await;

    // Writes through every node; a strongly consistent read through the next node sees
    // each at once, and every node then serves all of them.
    let mut acknowledged = BTreeSet::new();
    for i in 0..30 {
        let key = format!("before-{i}");
        put_acknowledged(&clients[i % 3], &key)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let read = clients[(i + 1) % 3]
            .get_item()
            .table_name(TABLE)
            .key("pk", s(&key))
            .consistent_read(true)
            .send()
            .await
            .expect("a strongly consistent GetItem");
        assert!(
            read.item().is_some(),
            "{key}, written through node {}, not seen by a strong read through node {}",
            i % 3 + 1,
            (i + 1) % 3 + 1
        );
        acknowledged.insert(key);
    }
    every_node_holds(&clients, &acknowledged).await;

    // Node 1 dies; the other two elect leaders for what it led and keep writing.
    cluster.nodes[0].kill9();
    for i in 0..30 {
        let key = format!("after-{i}");
        let through = &clients[1 + i % 2];
        put_acknowledged(through, &key)
            .await
            .unwrap_or_else(|e| panic!("{key} with node 1 down: {e}"));
        acknowledged.insert(key);
    }
    cluster.nodes[0].start_again();
    let clients = cluster.clients();
    every_node_holds(&clients, &acknowledged).await;
}

/// `cirrus serve` on `data_dir` with `args`, expected to refuse to start: its log.
fn refused_start(data_dir: &std::path::Path, args: &[&str]) -> String {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["serve", "--listen", &listen, "--data-dir"])
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run cirrus serve");
    assert!(!output.status.success(), "started with {args:?}");
    let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&output.stderr));
    log
}

#[tokio::test]
async fn a_data_directory_serves_only_the_node_it_belongs_to() {
    let (_secret, secret_file) = secret_file();
    let secret = secret_file.to_str().expect("a UTF-8 path").to_string();
    // The flags of member `id` of a cluster of one.
    let member = |id: u64| -> Vec<String> {
        let peer = format!("127.0.0.1:{}", free_port());
        let member = format!("{id}={peer}");
        [
            "--node-id",
            &id.to_string(),
            "--peer-listen",
            &peer,
            "--member",
            &member,
        ]
        .into_iter()
        .map(str::to_owned)
        .chain(["--cluster-secret-file".to_owned(), secret.clone()])
        .collect()
    };
    let (one, two) = (member(1), member(2));
    let one: Vec<&str> = one.iter().map(String::as_str).collect();
    let two: Vec<&str> = two.iter().map(String::as_str).collect();

    // The single node's directory cannot become a member's.
    let mut single = TestServer::start();
    single.stop_graceful();
    let stderr = refused_start(single.data_dir(), &one);
    assert!(
        stderr.contains("belongs to the embedded single node"),
        "{stderr}"
    );

    // A member's directory serves that member only: not another id, not the single node.
    let mut node = TestServer::start_with(&one);
    node.stop_graceful();
    let stderr = refused_start(node.data_dir(), &two);
    assert!(
        stderr.contains("belongs to node 1 of cluster 1"),
        "{stderr}"
    );
    let stderr = refused_start(node.data_dir(), &[]);
    assert!(
        stderr.contains("belongs to node 1 of cluster 1"),
        "{stderr}"
    );
    node.start_again();
}
