//! The commands proposed to a partition's Raft group, and what applying one returns.
//! Items travel as stored-item bytes (see `cirrus_storage::engine::StoredItem`);
//! conditions and updates travel as bound expression ASTs, evaluated at apply time
//! against the item as it is then.

use cirrus_storage::expression::{Condition, UpdateActions};
use cirrus_storage::Item;
use serde::{Deserialize, Serialize};

/// Which images of the item the proposer wants back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WantedImages {
    /// The item before the command (ReturnValues ALL_OLD / UPDATED_OLD).
    pub old: bool,
    /// The item after the command (ReturnValues ALL_NEW / UPDATED_NEW).
    pub new: bool,
    /// The item as it was when the condition failed
    /// (ReturnValuesOnConditionCheckFailure ALL_OLD).
    pub old_on_condition_failure: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Replace the item at `key` (the full RocksDB item key) with `item`.
    Put {
        key: Vec<u8>,
        item: Vec<u8>,
        condition: Option<Condition>,
        wanted: WantedImages,
    },
    /// Delete the item at `key`, if any.
    Delete {
        key: Vec<u8>,
        condition: Option<Condition>,
        wanted: WantedImages,
    },
    /// Update (or create, from `key_attributes`) the item at `key`.
    Update {
        key: Vec<u8>,
        key_attributes: Item,
        actions: UpdateActions,
        condition: Option<Condition>,
        wanted: WantedImages,
    },
    /// Writes the entries of index `index_id` for up to `limit` items of the partition,
    /// in key order from after the item key `after` (from the start when `None`).
    /// Entries the write path already made are left as they are.
    BackfillIndex {
        index_id: u16,
        after: Option<Vec<u8>>,
        limit: u32,
    },
    /// Removes every entry of index `index_id` from the partition.
    DropIndex { index_id: u16 },
}

/// Why a command was applied as a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    /// The condition evaluated to false.
    ConditionFailed,
    /// The command is invalid against the item as it is (e.g. ADD to a string);
    /// the message is DynamoDB's.
    Invalid(String),
    /// The write would grow its item collection past the limit (tables with local
    /// indexes only).
    ItemCollectionTooLarge,
}

/// The result of applying one log entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// Stored bytes of the item before the command, when wanted.
    pub old_item: Option<Vec<u8>>,
    /// Stored bytes of the item after the command, when wanted.
    pub new_item: Option<Vec<u8>>,
    pub rejection: Option<Rejection>,
    /// For a table with local indexes: the size of the written item's collection after
    /// the command (ReturnItemCollectionMetrics).
    pub collection_size: Option<u64>,
    /// After a `BackfillIndex` that stopped at its limit: the item key to resume after.
    pub backfill_resume_after: Option<Vec<u8>>,
}
