//! cirrus-ttl owns TTL's expiry index and its sweeper. The index (`index`: DynamoDB's
//! rule for when an item expires, and the entries ordered by expiry) is what the
//! partition state machine keeps in the same write batch as every item change; the
//! sweeper walks each led partition's index from its expired head and deletes those
//! items through the partition's Raft group with a guard the state machine evaluates at
//! apply time, so an item rewritten with a later expiry in between survives. Its work is
//! proportional to the number of expired items, not to the table's size. It reaches the
//! node only through `ExpiryHost`; it must never write items except by proposing those
//! guarded deletes.

mod expired;
mod host;
pub mod index;
mod sweeper;

pub use host::{ExpiringPartition, ExpiryHost};
pub use sweeper::{spawn, sweep_once, SweepReport};
