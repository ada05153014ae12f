//! `cirrus cluster status` against a running cluster: every member registers its
//! addresses, every member names the same leader for each group, and the first leaders
//! of a table's partitions are spread over the members; a killed member shows as
//! unreachable while the others still answer.

use std::collections::BTreeMap;

use crate::common::cluster::*;

const TABLE: &str = "status";

/// The active members each report names, with their API addresses.
fn registered(report: &serde_json::Value) -> BTreeMap<u64, String> {
    report["Members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|member| {
            let id = member["NodeId"].as_u64()?;
            let record = &member["Record"];
            if record["State"] != "Active" {
                return None;
            }
            let api = record["ApiAddress"].as_str()?;
            Some((id, api.to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_every_member_and_spread_leaders() {
    let mut cluster = Cluster::start();
    let clients = cluster.clients();
    create_served_table(&clients, TABLE).await;
    let expected: BTreeMap<u64, String> = cluster
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (i as u64 + 1, node.addr().to_string()))
        .collect();
    // Every member reports, and each knows every member's API address.
    let reports = eventually("every member registered", || async {
        let reports = cluster.status(0)?;
        let complete = reports.len() == expected.len()
            && reports.iter().all(|report| registered(report) == expected);
        if complete {
            Ok(reports)
        } else {
            Err(format!("{reports:?}"))
        }
    })
    .await;
    // The table's partitions are groups 1 << 16 + partition (table id 1): each member
    // leads one of them, as each new group's first leader is chosen by its id.
    let table_groups: Vec<u64> = (0..u64::from(PARTITIONS)).map(|p| (1 << 16) + p).collect();
    let leaders = eventually("every member names the same leaders", || async {
        table_groups
            .iter()
            .map(|group| cluster.leader_of(*group))
            .collect::<Result<Vec<u64>, String>>()
    })
    .await;
    let mut spread = leaders.clone();
    spread.sort_unstable();
    spread.dedup();
    assert_eq!(
        spread.len(),
        cluster.nodes.len(),
        "the partitions' leaders {leaders:?} are spread over the members"
    );
    for report in &reports {
        let groups = report["Groups"].as_array().expect("groups");
        assert_eq!(groups.len(), 1 + table_groups.len(), "{report}");
        assert!(groups
            .iter()
            .any(|g| g["Table"].is_null() && g["GroupId"] == 0));
    }

    // A killed member is unreachable; the others still answer, and name the new
    // leaders of the groups it led.
    cluster.nodes[2].kill9();
    let text = cluster.cli(0, &["status"]).expect("cirrus cluster status");
    let member_lines: Vec<&str> = text.lines().skip(1).take(3).collect();
    assert!(
        member_lines[2].starts_with('3') && member_lines[2].contains("unreachable"),
        "{text}"
    );
    assert!(
        member_lines[..2].iter().all(|l| l.contains(" up ")),
        "{text}"
    );
    eventually("the groups node 3 led have new leaders", || async {
        for group in &table_groups {
            let leader = cluster.leader_of(*group)?;
            if leader == 3 {
                return Err(format!("group {group} still names node 3"));
            }
        }
        Ok(())
    })
    .await;
}
