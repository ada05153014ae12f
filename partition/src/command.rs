//! The commands proposed to a partition's Raft group, and what applying one returns.
//! Items travel as stored-item bytes (see `cirrus_storage::engine::StoredItem`);
//! conditions and updates travel as bound expression ASTs, evaluated at apply time
//! against the item as it is then.

use cirrus_storage::expression::{Condition, UpdateActions};
use cirrus_storage::Item;

use crate::capacity::WriteConsumption;
use crate::write_schema::WriteSchema;
use serde::{Deserialize, Serialize};

/// What a Raft log entry carries: a command and the proposer's clock when it was
/// proposed. Applying uses this time, never the applier's clock, wherever a time
/// lands in the state (stream records' creation times, the expiry index's horizon), so
/// a replay after a crash, or another replica, writes exactly the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proposal {
    pub command: Command,
    /// Epoch milliseconds.
    pub at_ms: u64,
}

impl Proposal {
    /// The command, stamped with this node's clock.
    pub fn now(command: Command) -> Proposal {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Proposal { command, at_ms }
    }
}

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
    /// Phase one of a transaction in this partition: checks every action (its
    /// condition, no other transaction holding the item, the update being valid) and,
    /// only if all pass, locks the items with their pending writes.
    TxPrepare {
        tx: TxId,
        /// Where the transaction's decision is recorded.
        coordinator: PartitionRef,
        actions: Vec<TxAction>,
    },
    /// Records the decision on the transaction, in the coordinator partition: the first
    /// decision applied stands. After a commit decision, every participant's prepared
    /// writes are applied even across crashes. Applied as a no-op with
    /// `Rejection::TransactionConflict` when the opposite decision was recorded first.
    TxDecide {
        tx: TxId,
        commit: bool,
        participants: Vec<PartitionRef>,
        /// The request's ClientRequestToken, recorded with a commit decision so that a
        /// retry after any crash past the commit point is recognised.
        token: Option<TxToken>,
    },
    /// Applies the transaction's pending writes in this partition and unlocks them.
    TxCommit { tx: TxId },
    /// Drops the transaction's locks in this partition without writing.
    TxAbort { tx: TxId },
    /// Forgets the transaction's decision record once every participant finished.
    TxForget { tx: TxId },
    /// Deletes the item at `key` as TTL expiry (a system delete), if at apply time it is
    /// still expired as of `now` (epoch seconds): a rewrite with a later expiry wins.
    /// `expiry` is the index entry's time; a stale entry is removed.
    Expire { key: Vec<u8>, expiry: u64, now: u64 },
    /// Writes the expiry entries of up to `limit` items of the partition, in key order
    /// from after the item key `after` (TTL was just enabled).
    BackfillExpiry { after: Option<Vec<u8>>, limit: u32 },
    /// Removes every expiry entry of the partition (TTL was disabled).
    DropExpiry,
    /// From this entry on, the partition's writes maintain what `schema` says (if it is
    /// newer than the schema the partition has).
    SetSchema(WriteSchema),
    /// Several single-item writes proposed together: one log entry, one fsync, one
    /// write batch; each is applied as if it were its own entry, in order.
    Batch(Vec<Command>),
    /// A change to the metadata records (the catalog); only the metadata group applies
    /// it (see `metadata`).
    Metadata(MetadataChange),
    /// Removes the partition's records of stream `stream_id` with sequences below
    /// `before`, which becomes the shard's trim horizon (stream retention).
    TrimStream { stream_id: u32, before: u64 },
}

/// A compare-and-set of metadata records (keys of the `meta` column family under
/// [`crate::meta_keys::REPLICATED_PREFIXES`]): applied whole if every `expect`ed record
/// holds the expected value (`None`: absent), else not at all (a `ConditionFailed`
/// rejection), so that concurrent catalog changes cannot overwrite each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataChange {
    pub expect: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub put: Vec<(Vec<u8>, Vec<u8>)>,
    pub delete: Vec<Vec<u8>>,
}

impl Command {
    /// Whether the command may share a log entry with others: single-item writes,
    /// whose rejections never undo anything already in the entry's write batch.
    pub fn batchable(&self) -> bool {
        self.item_key().is_some()
    }

    /// The item a single-item write acts on.
    pub fn item_key(&self) -> Option<&[u8]> {
        match self {
            Command::Put { key, .. }
            | Command::Delete { key, .. }
            | Command::Update { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A transaction's id: unique on this node across restarts.
pub type TxId = u128;

/// A partition of some table: `(table_id, partition)`.
pub type PartitionRef = (u32, u16);

/// A ClientRequestToken and the record that marks its transaction committed (opaque
/// here: `api` owns its meaning).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxToken {
    pub token: String,
    pub record: Vec<u8>,
}

/// One action of a transaction on one item of the partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxAction {
    /// The action's position in the request (for cancellation reasons).
    pub position: u32,
    pub key: Vec<u8>,
    pub write: TxWrite,
    pub condition: Option<Condition>,
    /// ReturnValuesOnConditionCheckFailure=ALL_OLD.
    pub old_on_condition_failure: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TxWrite {
    Put(Vec<u8>),
    Delete,
    Update {
        key_attributes: Item,
        actions: UpdateActions,
    },
    /// Only the condition; the item is locked but not written.
    Check,
}

/// Why one action of a transaction cannot go ahead.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxFailure {
    pub position: u32,
    pub rejection: Rejection,
    /// The item when its condition failed and the action asked for it.
    pub old_item: Option<Vec<u8>>,
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
    /// The item is part of a transaction in progress.
    TransactionConflict,
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
    /// After a `TxPrepare` that locked nothing: why.
    pub tx_failures: Vec<TxFailure>,
    /// The write units the command consumed (also when its condition failed).
    pub consumed: WriteConsumption,
    /// For a `Batch`: each command's outcome, in order.
    pub batch: Vec<ApplyOutcome>,
}
