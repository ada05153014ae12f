//! cirrus-ttl will own the sweeper that finds expired items through the expiry
//! index and deletes them through each partition's Raft group. It must never delete
//! an item behind Raft's back. Nothing is built here yet: see the TTL issue.
