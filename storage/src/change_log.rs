//! The change log behind DynamoDB Streams: one record per item change, written in the
//! same write batch as the change, so a record exists if and only if the change did.
//!
//! `changes` column family: `table_id u32 · partition u16 · stream_id u32 · sequence u64`
//! → [`ChangeRecord`] (bincode). A stream's records in one partition form one shard.
//! The sequence is the Raft log index of the entry that made the change: increasing
//! within a partition, and the same when a crash replays the entry (the replay rewrites
//! the same record), so a shard has no duplicates. Sequence 0 is never a log index; its
//! key holds the shard's trim horizon (the first sequence not trimmed).

use serde::{Deserialize, Serialize};

use crate::engine::partition_prefix;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewType {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl ViewType {
    pub fn keeps_new(self) -> bool {
        matches!(self, ViewType::NewImage | ViewType::NewAndOldImages)
    }

    pub fn keeps_old(self) -> bool {
        matches!(self, ViewType::OldImage | ViewType::NewAndOldImages)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// Who made a change: a client, or the service itself (TTL expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeOrigin {
    Client,
    Service,
}

/// One item change. Items are stored-item bytes (a DynamoDB size, then the codec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub kind: ChangeKind,
    pub origin: ChangeOrigin,
    /// Epoch milliseconds when the change was applied.
    pub created_at_ms: u64,
    pub view: ViewType,
    /// The item's key attributes.
    pub keys: Vec<u8>,
    /// The item before the change, when the view type keeps it.
    pub old: Option<Vec<u8>>,
    /// The item after the change, when the view type keeps it.
    pub new: Option<Vec<u8>>,
    /// DynamoDB's SizeBytes: the keys and the images the record holds.
    pub size_bytes: u32,
}

/// The prefix of every record of one shard (one stream in one partition).
pub fn shard_prefix(table_id: u32, partition: u16, stream_id: u32) -> [u8; 10] {
    let mut prefix = [0u8; 10];
    prefix[..6].copy_from_slice(&partition_prefix(table_id, partition));
    prefix[6..].copy_from_slice(&stream_id.to_be_bytes());
    prefix
}

pub fn change_key(table_id: u32, partition: u16, stream_id: u32, sequence: u64) -> [u8; 18] {
    let mut key = [0u8; 18];
    key[..10].copy_from_slice(&shard_prefix(table_id, partition, stream_id));
    key[10..].copy_from_slice(&sequence.to_be_bytes());
    key
}

/// The sequence number at the end of a change key.
pub fn sequence_of(key: &[u8]) -> Option<u64> {
    key.get(10..18)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_be_bytes)
}
