//! cirrus-storage owns everything one replica knows about its data: attribute values
//! and DynamoDB numbers, the compact binary item codec, DynamoDB's item-size rule, the
//! order-preserving key encoding, the canonical order of set elements, key schemas and
//! DynamoDB's limits on names and key values, secondary-index entries, the change log,
//! and the RocksDB engine (column families, write batches,
//! per-partition key ranges). It must never know about HTTP, JSON wire shapes, Raft or
//! which node leads what: callers hand it typed values and byte keys.

pub mod change_log;
pub mod codec;
pub mod engine;
pub mod error;
pub mod expression;
pub mod index;
pub mod key;
pub mod key_schema;
pub mod limits;
pub mod number;
pub mod sets;
pub mod size;
pub mod value;

pub use error::StorageError;
pub use key_schema::{KeyAttribute, KeySchema};
pub use number::{Number, NumberError};
pub use value::{AttributeMap, AttributeValue, Item, ScalarType};
