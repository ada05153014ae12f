//! The commands proposed to a partition's Raft group, and what applying one returns.
//! Items travel as stored-item bytes (see `cirrus_storage::engine::StoredItem`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Replace the item at `key` (the full RocksDB item key) with `item`.
    Put {
        key: Vec<u8>,
        item: Vec<u8>,
        return_old: bool,
    },
    /// Delete the item at `key`, if any.
    Delete { key: Vec<u8>, return_old: bool },
}

/// The result of applying one log entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// The stored bytes of the item before the command, when the command asked for it.
    pub old_item: Option<Vec<u8>>,
}
