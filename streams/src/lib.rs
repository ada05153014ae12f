//! cirrus-streams owns the model of DynamoDB Streams over the change log: stream labels
//! and ARNs, shard ids, shard iterators, and the retention sweep that trims old
//! records. It reads the change log through `cirrus-partition` (records are written by
//! the partition state machine, in the same batch as each change); it must never
//! write item data, and never shape wire JSON (that is `cirrus-api`'s job). Triggers
//! (event source mappings) will live here too.

pub mod iterator;
pub mod names;
pub mod retention;
