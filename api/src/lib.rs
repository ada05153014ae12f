//! cirrus-api is the front door: the axum server, dispatch on `X-Amz-Target` (the
//! DynamoDB API and, on the same endpoint, the DynamoDB Streams API), DynamoDB's JSON
//! wire shapes, all request validation, and DynamoDB's error shapes. Everything a
//! request can get wrong is rejected here, before anything is proposed to a partition.
//! It must never touch RocksDB or Raft directly: it speaks to `cirrus-partition` in
//! typed commands and binary items.

pub mod dispatch;
pub mod error;
pub mod http;
pub mod region;
pub mod server;
pub mod state;
pub mod wire;

mod attribute_names;
mod blocking;
mod capacity;
mod consistency;
mod expressions;
mod keys;
mod legacy;
mod operations;
mod transaction_tokens;
mod validation;

pub use region::Region;
pub use server::{router, serve};
pub use state::{ApiState, ServerState};
pub use transaction_tokens::TransactionTokens;
