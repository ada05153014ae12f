//! cirrus-streams owns DynamoDB Streams over the change log: which tables own streams
//! (live ones and deleted ones still readable), stream labels and ARNs, shard ids,
//! reading a shard's records and bounds from this node's replica, shard iterators, and
//! the retention sweep that trims old records through each partition's leader. The
//! records themselves are written by the partition state machine in the same batch as
//! each change (`cirrus_storage::change_log`); this crate must never write item data,
//! and never shape wire JSON (that is `cirrus-api`'s job). Triggers (event source
//! mappings) will live here too.

pub mod change_log;
pub mod iterator;
pub mod names;
pub mod owners;
pub mod retention;
