//! One module per operation family.

pub mod account;
pub mod items;
pub mod tables;
pub mod tags;
