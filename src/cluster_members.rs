//! `cirrus cluster add-node | remove-node | replace-node`: asks a node to change the
//! cluster's members (the admin API's `AddNode` and `RemoveNode`), then follows the
//! members' reports while the groups' leaders move replicas, with a progress bar, until
//! every group is placed as the members call for: each member holds a caught-up
//! replica, and the voters are the ones placement picks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cirrus_api::dispatch::ADMIN_PREFIX;
use cirrus_cluster::membership::placement::{self, CAUGHT_UP_WITHIN};
use cirrus_cluster::node::report::{MemberState, NodeReport};
use cirrus_partition::group::METADATA_GROUP;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::{
    AddNodeOptions, EndpointOptions, MembershipCall, RemoveNodeOptions, ReplaceNodeOptions,
};
use crate::cluster_status::{gather, groups};

/// How often the members are asked how far the moves got.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub fn add(options: AddNodeOptions) -> Result<(), String> {
    let request = json!({ "NodeId": options.node_id, "PeerAddress": options.peer_address });
    run(&options.call, async |endpoint| {
        admin(endpoint, "AddNode", request).await
    })
}

pub fn remove(options: RemoveNodeOptions) -> Result<(), String> {
    let request = json!({ "NodeId": options.node_id });
    run(&options.call, async |endpoint| {
        admin(endpoint, "RemoveNode", request).await
    })
}

/// Adds the new node, then removes the old one: voters move to the new node before
/// the old one gives up its own, so the groups never have fewer voters than before.
pub fn replace(options: ReplaceNodeOptions) -> Result<(), String> {
    let add = json!({ "NodeId": options.new_node_id, "PeerAddress": options.peer_address });
    let remove = json!({ "NodeId": options.old_node_id });
    run(&options.call, async |endpoint| {
        admin(endpoint, "AddNode", add).await?;
        admin(endpoint, "RemoveNode", remove).await
    })
}

/// Makes the change, then (unless told not to) waits until it is carried out.
fn run(
    call: &MembershipCall,
    change: impl AsyncFnOnce(&EndpointOptions) -> Result<(), String>,
) -> Result<(), String> {
    let endpoint = &call.endpoint;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        change(endpoint).await?;
        match call.wait.timeout() {
            Some(timeout) => wait_until_placed(endpoint, timeout).await,
            None => Ok(()),
        }
    })
}

/// Calls an admin operation.
async fn admin(
    endpoint: &EndpointOptions,
    operation: &str,
    request: serde_json::Value,
) -> Result<(), String> {
    let client = endpoint.client()?;
    let target = format!("{ADMIN_PREFIX}{operation}");
    let (status, body) = client.call(&target, request.to_string()).await?;
    if status.is_success() {
        return Ok(());
    }
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let message = answer
        .get("message")
        .or_else(|| answer.get("Message"))
        .and_then(serde_json::Value::as_str)
        .map_or_else(
            || String::from_utf8_lossy(&body).into_owned(),
            str::to_owned,
        );
    Err(format!("{operation}: {message}"))
}

async fn wait_until_placed(endpoint: &EndpointOptions, timeout: Duration) -> Result<(), String> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} groups ({elapsed})")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    bar.set_message("moving replicas");
    let started = Instant::now();
    loop {
        let reports = gather(endpoint, false).await?;
        let (placed, total) = progress(&reports);
        bar.set_length(total as u64);
        bar.set_position(placed as u64);
        if total > 0 && placed == total {
            bar.finish_and_clear();
            println!("every group is placed ({total} groups)");
            return Ok(());
        }
        if started.elapsed() > timeout {
            bar.abandon();
            return Err(format!(
                "{placed} of {total} groups placed after {timeout:?}; the leaders go on \
                 moving replicas (see cirrus cluster status)"
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// How many groups are placed as the members call for, of how many there are, as the
/// members that answered see them: a group counts once its leader reports the voters
/// placement picks and a caught-up replica on every member, and no other replica.
fn progress(reports: &BTreeMap<u64, Option<NodeReport>>) -> (usize, usize) {
    // The metadata leader's catalog is the newest; a removed member's stops changing.
    let mut answered = reports.values().flatten();
    let Some(any) = answered
        .clone()
        .find(|report| leads_metadata(report))
        .or_else(|| answered.next())
    else {
        return (0, 0);
    };
    let members: BTreeSet<u64> = any
        .members
        .iter()
        .filter(|member| {
            member
                .record
                .as_ref()
                .is_none_or(|record| record.state == MemberState::Active)
        })
        .map(|member| member.node_id)
        .collect();
    let ids: Vec<u64> = members.iter().copied().collect();
    let all = groups(reports);
    let placed = all
        .iter()
        .filter(|(group_id, views)| {
            let Some((leader_id, leader)) = views
                .iter()
                .find(|(node, view)| view.leader == Some(**node))
            else {
                return false;
            };
            let voters: BTreeSet<u64> = leader.voters.iter().copied().collect();
            let replicas: BTreeSet<u64> = voters.iter().chain(&leader.learners).copied().collect();
            let head = leader.last_log_index.unwrap_or(0);
            let caught_up = leader.matched.as_ref().is_some_and(|matched| {
                members.iter().filter(|id| *id != leader_id).all(|id| {
                    matched
                        .get(id)
                        .copied()
                        .flatten()
                        .is_some_and(|index| index + CAUGHT_UP_WITHIN >= head)
                })
            });
            voters == placement::voters(**group_id, &ids, any.replication_factor)
                && replicas == members
                && caught_up
        })
        .count();
    (placed, all.len())
}

fn leads_metadata(report: &NodeReport) -> bool {
    report
        .groups
        .iter()
        .any(|group| group.group_id == METADATA_GROUP && group.leader == Some(report.node_id))
}
