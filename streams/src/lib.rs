//! cirrus-streams will own the DynamoDB Streams API over the change log and the
//! stream triggers (event source mappings delivering batches to functions, with
//! checkpoints). It reads the change log through `cirrus-partition`; it must never
//! write item data itself. Nothing is built here yet: see the change-streams issue.
