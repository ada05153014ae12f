//! cirrus-ttl owns the TTL sweeper: it walks each partition's expiry index (kept by
//! `cirrus-partition` in the same write batch as every item change) from its expired
//! head, and deletes those items through the partition's Raft group with a guard the
//! state machine evaluates at apply time, so an item rewritten with a later expiry in
//! between survives. Its work is proportional to the number of expired items, not to
//! the table's size. It must never write items except by proposing those guarded
//! deletes.

mod expired;
mod sweeper;

pub use expired::{expire_item, expired_count, expired_items, ExpiredItem};
pub use sweeper::{spawn, sweep_once, SweepReport};
