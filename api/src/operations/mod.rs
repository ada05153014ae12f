//! One module per operation family.

pub mod account;
pub mod admin;
pub mod batch;
pub mod index_updates;
pub mod items;
pub mod key_condition;
pub mod key_schemas;
pub mod paging;
pub mod query;
pub mod scan;
pub mod streams;
pub mod table_indexes;
pub mod table_streams;
pub mod tables;
pub mod tags;
pub mod time_to_live;
pub mod transactions;
