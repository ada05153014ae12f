//! `cirrus cluster status`: asks the node at `--endpoint` for its report, which names
//! every member and its API address (the node registry), then asks every member for its
//! own, and prints the members (up, or unreachable) and every group: its leader, term,
//! and each replica's applied index and lag behind the leader's log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use cirrus_api::dispatch::ADMIN_PREFIX;
use cirrus_cluster::node::report::{GroupReport, MemberState, NodeReport};

use crate::cli::{EndpointOptions, StatusOptions};

/// How long a member may take to answer before it counts as unreachable.
const ANSWER_WAIT: Duration = Duration::from_secs(3);
/// How long a member may take to answer with its digests, which read all its data.
const DIGESTS_WAIT: Duration = Duration::from_secs(120);

pub fn run(options: StatusOptions) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let reports = runtime.block_on(gather(&options.endpoint, options.digests))?;
    if options.json {
        let reports: Vec<&NodeReport> = reports.values().flatten().collect();
        let text = serde_json::to_string_pretty(&reports).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", render(&reports));
    }
    Ok(())
}

/// Asks a node for its report.
async fn describe(
    options: &EndpointOptions,
    endpoint: &str,
    digests: bool,
) -> Result<NodeReport, String> {
    let client = options.client_for(endpoint)?;
    let target = format!("{ADMIN_PREFIX}DescribeNode");
    let request = serde_json::json!({ "Digests": digests }).to_string();
    let call = client.call(&target, request);
    let wait = if digests { DIGESTS_WAIT } else { ANSWER_WAIT };
    let (status, body) = tokio::time::timeout(wait, call)
        .await
        .map_err(|_| format!("{endpoint} did not answer within {wait:?}"))??;
    if !status.is_success() {
        return Err(format!(
            "{endpoint} answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{endpoint}'s report: {e}"))
}

/// Every member's report (`None`: it did not answer), by node id.
pub async fn gather(
    options: &EndpointOptions,
    digests: bool,
) -> Result<BTreeMap<u64, Option<NodeReport>>, String> {
    let first = describe(options, &options.endpoint, digests).await?;
    let mut reports = BTreeMap::new();
    for member in &first.members {
        if member.node_id == first.node_id {
            continue;
        }
        let report = match &member.record {
            Some(record) if !record.api_address.is_empty() => {
                let endpoint = format!("http://{}", record.api_address);
                describe(options, &endpoint, digests).await.ok()
            }
            _ => None,
        };
        reports.insert(member.node_id, report);
    }
    reports.insert(first.node_id, Some(first));
    Ok(reports)
}

/// The members table, then the groups table.
fn render(reports: &BTreeMap<u64, Option<NodeReport>>) -> String {
    let mut out = String::new();
    let known = reports.values().flatten().next();
    let members = known
        .map(|report| report.members.clone())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{:<6} {:<12} {:<22} {:<22} {:>6}",
        "NODE", "STATUS", "API ADDRESS", "PEER ADDRESS", "LEADS"
    );
    for member in &members {
        let report = reports.get(&member.node_id).and_then(Option::as_ref);
        let leads = report.map_or(0, |report| {
            report
                .groups
                .iter()
                .filter(|group| group.leader == Some(report.node_id))
                .count()
        });
        let (api, peer) = member.record.as_ref().map_or(("-", "-"), |record| {
            let api = Some(record.api_address.as_str()).filter(|api| !api.is_empty());
            (api.unwrap_or("-"), record.peer_address.as_str())
        });
        let removed = member
            .record
            .as_ref()
            .is_some_and(|record| record.state == MemberState::Removed);
        let status = match (removed, report.is_some()) {
            (true, _) => "removed",
            (false, true) => "up",
            (false, false) => "unreachable",
        };
        let _ = writeln!(
            out,
            "{:<6} {:<12} {:<22} {:<22} {:>6}",
            member.node_id, status, api, peer, leads
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<10} {:<32} {:>6} {:>6}  REPLICAS (node: applied index/lag behind the leader; * learner)",
        "GROUP", "TABLE/PARTITION", "LEADER", "TERM"
    );
    for (group_id, views) in groups(reports) {
        let Some(any) = views.values().next() else {
            continue;
        };
        let name = match (&any.table, any.partition) {
            (Some(table), Some(partition)) => format!("{table}#{partition}"),
            _ => "(metadata)".to_string(),
        };
        // The leader's own view when it answered, else the newest term's.
        let newest = views.values().copied().max_by_key(|view| view.term);
        let leader = newest.and_then(|view| view.leader);
        let leading = leader.and_then(|id| views.get(&id).copied()).or(newest);
        let term = leading.map_or(0, |view| view.term);
        let head = leading.and_then(|view| view.last_log_index).unwrap_or(0);
        let mut replicas = String::new();
        let voters = leading.map(|view| view.voters.clone()).unwrap_or_default();
        let learners = leading
            .map(|view| view.learners.clone())
            .unwrap_or_default();
        let marked = voters
            .into_iter()
            .map(|id| (id, ""))
            .chain(learners.into_iter().map(|id| (id, "*")));
        for (replica, mark) in marked {
            let _ = match views.get(&replica).and_then(|view| view.applied_index) {
                Some(applied) => write!(
                    replicas,
                    "  {replica}{mark}: {applied}/{}",
                    head.saturating_sub(applied)
                ),
                None => write!(replicas, "  {replica}{mark}: -"),
            };
        }
        let leader = leader.map_or_else(|| "-".to_string(), |id| id.to_string());
        let _ = writeln!(
            out,
            "{group_id:<10} {name:<32} {leader:>6} {term:>6}  {}",
            replicas.trim_start()
        );
    }
    out
}

/// Each group's reports, by the node that reported it.
pub fn groups(
    reports: &BTreeMap<u64, Option<NodeReport>>,
) -> BTreeMap<u64, BTreeMap<u64, &GroupReport>> {
    let mut groups: BTreeMap<u64, BTreeMap<u64, &GroupReport>> = BTreeMap::new();
    for report in reports.values().flatten() {
        for group in &report.groups {
            groups
                .entry(group.group_id)
                .or_default()
                .insert(report.node_id, group);
        }
    }
    groups
}
