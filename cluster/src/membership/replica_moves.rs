//! Moving replicas as members come and go. Each group's leader brings its group's
//! membership to what the catalog's members call for, one Raft membership change at a
//! time: every member gets a replica (a learner first), the voters become the ones
//! `placement` picks once the new ones have caught up, and the replicas of removed
//! members are dropped. A leader that loses its vote stays leader (openraft 0.9 lets a
//! learner lead; the voters are the quorum) until its member is removed, when it drops
//! its own replica and steps down, and the next leader carries on. A removed member
//! keeps its metadata replica while it leads some table's group, so that it can still
//! read the catalog that says it must move that group's replicas away. Nothing here is remembered
//! between passes, so a failover mid-way loses nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, ChangeMembers, Raft};

use crate::membership::placement::{self, CAUGHT_UP_WITHIN};
use crate::node::Node;
use cirrus_partition::error::PartitionError;
use cirrus_partition::group::RaftGroup;
use cirrus_partition::raft_types::{NodeId, TypeConfig};

/// How often a node looks at the groups it leads.
const PASS_INTERVAL: Duration = Duration::from_secs(1);

/// Looks at the groups this node leads every [`PASS_INTERVAL`], while the node lives.
pub(crate) fn spawn_replica_moves(node: &Arc<Node>) {
    let node = Arc::downgrade(node);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PASS_INTERVAL).await;
            let Some(node) = node.upgrade() else { return };
            if let Err(e) = node.move_replicas().await {
                tracing::debug!("moving replicas: {e}");
            }
        }
    });
}

/// One step of a group toward its placement, as its leader sees it now.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    AddLearner(NodeId),
    ReplaceVoters(BTreeSet<NodeId>),
    RemoveReplicas(BTreeSet<NodeId>),
    /// A new voter is still catching up.
    Wait,
    Placed,
}

/// The next step for a group whose membership has `voters` and `replicas` (voters and
/// learners), toward `target` voters among `members`; `caught_up` tells whether a
/// replica has matched enough of the leader's log to vote, and the replicas in `keep`
/// stay until they are not in it any more.
fn next_step(
    voters: &BTreeSet<NodeId>,
    replicas: &BTreeSet<NodeId>,
    members: &BTreeSet<NodeId>,
    target: &BTreeSet<NodeId>,
    keep: &BTreeSet<NodeId>,
    caught_up: impl Fn(NodeId) -> bool,
) -> Step {
    if let Some(missing) = members.difference(replicas).next() {
        return Step::AddLearner(*missing);
    }
    if voters != target {
        if target.difference(voters).all(|id| caught_up(*id)) {
            return Step::ReplaceVoters(target.clone());
        }
        return Step::Wait;
    }
    let gone: BTreeSet<NodeId> = replicas.difference(members).copied().collect();
    if gone.is_empty() {
        Step::Placed
    } else if gone.is_subset(keep) {
        Step::Wait
    } else {
        Step::RemoveReplicas(gone.difference(keep).copied().collect())
    }
}

impl Node {
    /// One pass: every group this node leads takes its next step.
    async fn move_replicas(&self) -> Result<(), PartitionError> {
        if self.membership().is_none() {
            return Ok(());
        }
        // Act on the catalog as it is now: a leader reading a stale one would put a
        // removed member back.
        self.metadata().read_barrier().await?;
        let members = self.active_members()?;
        if members.is_empty() {
            // A catalog that names no member (a joining node's, before it was added)
            // places nothing.
            return Ok(());
        }
        let factor = self.replication_factor()?;
        let ids: Vec<NodeId> = members.keys().copied().collect();
        let tables = self.tables_snapshot();
        let table_groups = || tables.iter().flat_map(|table| table.groups.iter());
        // The members leading some table's group (as this node's replicas know), which
        // keep their metadata replica meanwhile. (A removed member's replicas of groups
        // it no longer belongs to never learn of it: who leads is what it knows for sure.)
        let leading: BTreeSet<NodeId> = table_groups()
            .filter_map(|group| group.leader_known())
            .collect();
        let none = BTreeSet::new();
        let groups = std::iter::once((self.metadata(), &leading))
            .chain(table_groups().map(|group| (group, &none)));
        for (group, keep) in groups.filter(|(group, _)| group.is_leader()) {
            let target = placement::voters(group.id(), &ids, factor);
            if let Err(e) = move_group(group, &members, &target, keep).await {
                tracing::info!(group = group.id(), "moving replicas: {e}");
            }
        }
        Ok(())
    }
}

/// Takes `group`'s next step toward `target` voters among `members` (id → address).
async fn move_group(
    group: &RaftGroup,
    members: &BTreeMap<NodeId, String>,
    target: &BTreeSet<NodeId>,
    keep: &BTreeSet<NodeId>,
) -> Result<(), PartitionError> {
    let raft = group.raft();
    let step = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let replicas: BTreeSet<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
        let last = metrics.last_log_index.unwrap_or(0);
        let matched = |id: NodeId| {
            metrics
                .replication
                .as_ref()
                .and_then(|replication| replication.get(&id).copied().flatten())
                .is_some_and(|log_id| log_id.index + CAUGHT_UP_WITHIN >= last)
        };
        let ids: BTreeSet<NodeId> = members.keys().copied().collect();
        next_step(&voters, &replicas, &ids, target, keep, matched)
    };
    let changed = match &step {
        Step::Placed | Step::Wait => return Ok(()),
        Step::AddLearner(id) => {
            let address = members.get(id).cloned().unwrap_or_default();
            raft.add_learner(*id, BasicNode::new(address), false).await
        }
        Step::ReplaceVoters(voters) => {
            change(raft, ChangeMembers::ReplaceAllVoters(voters.clone())).await
        }
        Step::RemoveReplicas(gone) => change(raft, ChangeMembers::RemoveNodes(gone.clone())).await,
    };
    changed.map_err(PartitionError::raft)?;
    tracing::info!(group = group.id(), ?step, "moved replicas");
    Ok(())
}

type ChangeResult = Result<
    openraft::raft::ClientWriteResponse<TypeConfig>,
    openraft::error::RaftError<NodeId, openraft::error::ClientWriteError<NodeId, BasicNode>>,
>;

/// A membership change; voters it drops stay on as learners until removed.
async fn change(
    raft: &Raft<TypeConfig>,
    changes: ChangeMembers<NodeId, BasicNode>,
) -> ChangeResult {
    raft.change_membership(changes, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_new_member_first_becomes_a_learner() {
        let step = next_step(
            &set(&[1, 2, 3]),
            &set(&[1, 2, 3]),
            &set(&[1, 2, 3, 4]),
            &set(&[1, 2, 4]),
            &set(&[]),
            |_| true,
        );
        assert_eq!(step, Step::AddLearner(4));
    }

    #[test]
    fn voters_change_only_once_the_new_ones_caught_up() {
        let (voters, replicas, members, target) = (
            set(&[1, 2, 3]),
            set(&[1, 2, 3, 4]),
            set(&[1, 2, 3, 4]),
            set(&[1, 2, 4]),
        );
        assert_eq!(
            next_step(&voters, &replicas, &members, &target, &set(&[]), |id| id
                != 4),
            Step::Wait
        );
        assert_eq!(
            next_step(&voters, &replicas, &members, &target, &set(&[]), |_| true),
            Step::ReplaceVoters(target.clone())
        );
    }

    #[test]
    fn a_removed_member_loses_its_vote_then_its_replica() {
        let members = set(&[1, 2, 4]);
        let target = set(&[1, 2, 4]);
        assert_eq!(
            next_step(
                &set(&[1, 2, 3]),
                &set(&[1, 2, 3, 4]),
                &members,
                &target,
                &set(&[]),
                |_| true
            ),
            Step::ReplaceVoters(target.clone())
        );
        assert_eq!(
            next_step(
                &set(&[1, 2, 4]),
                &set(&[1, 2, 3, 4]),
                &members,
                &target,
                &set(&[]),
                |_| true
            ),
            Step::RemoveReplicas(set(&[3]))
        );
        assert_eq!(
            next_step(
                &set(&[1, 2, 4]),
                &set(&[1, 2, 4]),
                &members,
                &target,
                &set(&[]),
                |_| true
            ),
            Step::Placed
        );
    }

    #[test]
    fn a_kept_replica_stays_until_released() {
        let members = set(&[2, 3, 4]);
        let keep = set(&[1]);
        assert_eq!(
            next_step(
                &members,
                &set(&[1, 2, 3, 4]),
                &members,
                &members,
                &keep,
                |_| true
            ),
            Step::Wait
        );
        assert_eq!(
            next_step(
                &members,
                &set(&[1, 2, 3, 4, 5]),
                &members,
                &members,
                &keep,
                |_| true
            ),
            Step::RemoveReplicas(set(&[5]))
        );
    }
}
