//! Where a group's voters go: `replication_factor` of the cluster's members, chosen by
//! rendezvous hashing (each member scores each group; the highest scores vote). Every
//! node computes the same voters from the same members, and a member joining or leaving
//! changes the voters of only the groups whose top scores it takes or held — one voter
//! each — so a membership change moves as little as it can.
//!
//! Every member holds a replica of every group: the members that do not vote follow
//! as learners (see `docs/cluster.md`), so strongly consistent reads and any-node
//! routing work the same on every member.

use std::collections::BTreeSet;

use cirrus_partition::catalog::InitialPlacement;
use cirrus_partition::raft_types::NodeId;

/// How far behind its leader's log a replica may be and count as caught up: a learner
/// is made a voter only then (one that lags further would hold up commits under the new
/// configuration until it caught up), and a move is done only then. A caught-up replica
/// trails by the entries in flight.
pub const CAUGHT_UP_WITHIN: u64 = 1_000;

/// The voters a table's group was first placed with (see [`InitialPlacement`]).
pub fn first_voters(placement: &InitialPlacement, group: u64) -> BTreeSet<NodeId> {
    voters(group, &placement.members, placement.replication_factor)
}

/// How a member ranks for a group: a hash of both, so that ranks are independent
/// between groups and between members.
fn score(group: u64, member: NodeId) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&group.to_le_bytes());
    bytes[8..].copy_from_slice(&member.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// The voters of `group` among `members`: the `replication_factor` best scored (all of
/// them when there are fewer).
pub fn voters(group: u64, members: &[NodeId], replication_factor: u8) -> BTreeSet<NodeId> {
    let mut ranked: Vec<NodeId> = members.to_vec();
    ranked.sort_unstable();
    ranked.dedup();
    ranked.sort_by_key(|member| std::cmp::Reverse((score(group, *member), *member)));
    ranked
        .into_iter()
        .take(usize::from(replication_factor.max(1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cirrus_partition::group::group_id;

    fn groups() -> impl Iterator<Item = u64> {
        (1..=20u32).flat_map(|table| (0..8u16).map(move |p| group_id(table, p)))
    }

    #[test]
    fn three_members_all_vote() {
        for group in groups() {
            assert_eq!(voters(group, &[3, 1, 2], 3), BTreeSet::from([1, 2, 3]));
        }
    }

    #[test]
    fn the_order_members_come_in_does_not_matter() {
        for group in groups() {
            assert_eq!(
                voters(group, &[5, 1, 4, 2], 3),
                voters(group, &[1, 2, 4, 5], 3)
            );
        }
    }

    #[test]
    fn voters_spread_over_the_members() {
        let members = [1, 2, 3, 4, 5];
        let mut seats = std::collections::BTreeMap::<NodeId, usize>::new();
        let count = groups().count();
        for group in groups() {
            for voter in voters(group, &members, 3) {
                *seats.entry(voter).or_default() += 1;
            }
        }
        // 160 groups × 3 seats over 5 members: 96 each if perfectly even.
        let fair = count * 3 / members.len();
        for (member, seats) in seats {
            assert!(
                seats > fair * 3 / 4 && seats < fair * 5 / 4,
                "member {member} holds {seats} of about {fair} seats"
            );
        }
    }

    #[test]
    fn a_joining_member_takes_at_most_one_seat_per_group() {
        let mut moved = 0;
        for group in groups() {
            let before = voters(group, &[1, 2, 3, 4], 3);
            let after = voters(group, &[1, 2, 3, 4, 5], 3);
            let gone: Vec<_> = before.difference(&after).collect();
            let came: Vec<_> = after.difference(&before).collect();
            assert!(
                gone.len() <= 1 && came.len() == gone.len(),
                "{before:?} → {after:?}"
            );
            if let Some(came) = came.first() {
                assert_eq!(**came, 5);
                moved += 1;
            }
        }
        assert!(moved > 0, "the new member took no seat at all");
    }

    #[test]
    fn a_leaving_member_is_replaced_only_where_it_voted() {
        for group in groups() {
            let before = voters(group, &[1, 2, 3, 4, 5], 3);
            let after = voters(group, &[1, 2, 4, 5], 3);
            if before.contains(&3) {
                assert_eq!(before.intersection(&after).count(), 2);
            } else {
                assert_eq!(before, after);
            }
        }
    }

    #[test]
    fn fewer_members_than_the_factor_all_vote() {
        assert_eq!(voters(7, &[4, 9], 3), BTreeSet::from([4, 9]));
    }
}
