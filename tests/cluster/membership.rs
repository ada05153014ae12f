//! Membership changes under load, through the admin CLI: a fourth node joins (`serve
//! --join`, then `cirrus cluster add-node`) and takes its share of the voters; a founder
//! is removed (`remove-node`) and then killed; another is replaced by a fifth node
//! (`replace-node`) and killed. Two writers put distinct keys through a node that stays
//! throughout; afterwards every acknowledged put is read back strongly consistently
//! through each of the three remaining nodes, and their replicas agree. Each command
//! returns only once every group is placed, which the test checks in the members'
//! reports; refusals (a removed id added again, a removal that would leave fewer members
//! than the replication factor) change nothing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;

use crate::common::cluster::*;
use crate::common::*;

const TABLE: &str = "moves";
/// How long a membership command may take to place every group.
const PLACE_TIMEOUT: &str = "120";
/// How many puts one writer makes at most (the test stops them long before).
const MAX_PUTS: usize = 50_000;

/// What a writer did: the keys acknowledged, and the failures a client may not retry.
#[derive(Default)]
struct Written {
    acknowledged: BTreeSet<String>,
    rejected: Vec<String>,
}

/// Puts keys `w{id}-{seq}` through `client` until `stop`.
async fn writer(id: usize, client: Client, stop: Arc<AtomicBool>) -> Written {
    let mut written = Written::default();
    for seq in 0..MAX_PUTS {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("w{id}-{seq}");
        let put = client
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item(&[("pk", s(&key)), ("seq", n(&seq.to_string()))])))
            .send()
            .await;
        match put {
            Ok(_) => {
                written.acknowledged.insert(key);
            }
            Err(e) => match retryable(&e) {
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(bug) => written.rejected.push(format!("put {key}: {bug}")),
            },
        }
    }
    written
}

/// Every group's replicas (voters and learners) and voters, as node `node`'s replicas
/// see them.
fn memberships(cluster: &Cluster, node: usize) -> Vec<(u64, BTreeSet<u64>, BTreeSet<u64>)> {
    let reports = cluster.status(node).expect("cluster status");
    let ids = |value: &serde_json::Value| -> BTreeSet<u64> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_u64)
            .collect()
    };
    let own = reports
        .iter()
        .find(|report| report["NodeId"] == cluster_node_id(node))
        .expect("the node's own report");
    own["Groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|group| {
            let voters = ids(&group["Voters"]);
            let replicas = voters.union(&ids(&group["Learners"])).copied().collect();
            (
                group["GroupId"].as_u64().expect("group id"),
                replicas,
                voters,
            )
        })
        .collect()
}

/// Node ids are 1-based positions in `nodes` in this test.
fn cluster_node_id(node: usize) -> u64 {
    node as u64 + 1
}

/// Asserts that, seen from `node`, every group has a replica on exactly `members` and
/// its voters among them.
fn assert_placed(cluster: &Cluster, node: usize, members: &[u64]) {
    let members: BTreeSet<u64> = members.iter().copied().collect();
    for (group, replicas, voters) in memberships(cluster, node) {
        assert_eq!(replicas, members, "group {group}'s replicas");
        assert_eq!(voters.len(), 3, "group {group}'s voters {voters:?}");
        assert!(
            voters.is_subset(&members),
            "group {group}'s voters {voters:?}"
        );
    }
}

/// Starts the node that `command` (ending with its id) brings in, with `--join`, and
/// runs the command through node `through`; returns the new node's peer address.
fn join(cluster: &mut Cluster, through: usize, command: &[&str]) -> String {
    let id = command
        .last()
        .and_then(|id| id.parse().ok())
        .expect("a node id");
    let joined = cluster.join(id);
    let address = cluster.peer_addresses[joined].clone();
    let mut args = command.to_vec();
    args.extend(["--peer-address", &address, "--timeout", PLACE_TIMEOUT]);
    if let Err(e) = cluster.cli(through, &args) {
        panic!("{command:?}: {e}");
    }
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_join_leave_and_are_replaced_under_load_losing_no_write() {
    let mut cluster = Cluster::start();
    let clients = cluster.clients();
    create_served_table(&clients, TABLE).await;
    let stop = Arc::new(AtomicBool::new(false));
    // Node 3 stays a member throughout.
    let writers: Vec<_> = (0..2)
        .map(|id| tokio::spawn(writer(id, clients[2].clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let address = join(&mut cluster, 0, &["add-node", "4"]);
    assert_placed(&cluster, 0, &[1, 2, 3, 4]);
    let voting: Vec<u64> = memberships(&cluster, 0)
        .into_iter()
        .filter(|(_, _, voters)| voters.contains(&4))
        .map(|(group, _, _)| group)
        .collect();
    assert!(!voting.is_empty(), "node 4 votes in no group");
    eprintln!("node 4 votes in groups {voting:?}");

    let removed = cluster.cli(1, &["remove-node", "1", "--timeout", PLACE_TIMEOUT]);
    removed.unwrap_or_else(|e| panic!("remove-node 1: {e}"));
    assert_placed(&cluster, 1, &[2, 3, 4]);
    cluster.nodes[0].kill9();
    let reused = cluster.cli(
        1,
        &["add-node", "1", "--peer-address", &address, "--no-wait"],
    );
    let refusal = reused.expect_err("a removed id is added again");
    assert!(refusal.contains("never reused"), "{refusal}");

    join(&mut cluster, 2, &["replace-node", "2", "5"]);
    assert_placed(&cluster, 2, &[3, 4, 5]);
    cluster.nodes[1].kill9();
    let refused = cluster.cli(2, &["remove-node", "3", "--no-wait"]);
    let refusal = refused.expect_err("a removal below the replication factor");
    assert!(refusal.contains("add a node first"), "{refusal}");

    // Writes go on with the founders 1 and 2 gone.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        let written = writer.await.expect("writer");
        assert!(written.rejected.is_empty(), "{:?}", written.rejected);
        acknowledged.extend(written.acknowledged);
    }
    assert!(
        acknowledged.len() > 20,
        "only {} puts acknowledged",
        acknowledged.len()
    );
    let keys: Vec<String> = acknowledged.iter().cloned().collect();
    let remaining = &cluster.clients()[2..];
    for (i, client) in remaining.iter().enumerate() {
        let found = batch_get_consistent(client, TABLE, &keys)
            .await
            .unwrap_or_else(|e| panic!("node {}: {e}", i + 3));
        let missing: Vec<&String> = keys.iter().filter(|k| !found.contains_key(*k)).collect();
        assert!(missing.is_empty(), "node {} lost {missing:?}", i + 3);
    }
    let items = converged_items(remaining, TABLE).await;
    assert!(items.len() >= acknowledged.len());
    cluster.equal_state_digests().await;
}
