//! A partition's Raft log, in the `raft_log` column family under `group | index`.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use cirrus_storage::engine::{Engine, CF_META, CF_RAFT_LOG};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftLogReader};
use rocksdb::WriteBatch;

use crate::blocking;
use crate::command::{Command, Proposal};
use crate::failpoint;
use crate::meta_keys::{self, GroupRecord};
use crate::raft_types::{io_error, Entry, LogId, RaftStorageError, TypeConfig, Vote};
use crate::wal_sync::WalSyncer;

/// Crash point: a transaction's prepare is durable in the log, and nothing more.
const PREPARE_IN_LOG_ONLY: &str = "tx_prepare_in_log_only";

/// Most bytes of entries a leader sends a follower in one AppendEntries (at least one
/// entry goes, whatever its size). openraft 0.9 sends up to 300 entries at once and
/// times the call out after one heartbeat interval, retrying the same range: a follower
/// far behind on large entries would be sent more than can arrive in time (or than one
/// transport frame holds), again and again, and never catch up.
const APPEND_BYTES: usize = 1 << 20;

#[derive(Clone)]
pub struct LogStore {
    engine: Arc<Engine>,
    group: u64,
    syncer: WalSyncer,
}

fn log_key(group: u64, index: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&group.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

fn logs_error(verb: ErrorVerb, e: impl std::error::Error + 'static) -> RaftStorageError {
    io_error(ErrorSubject::Logs, verb, e)
}

impl LogStore {
    pub fn new(engine: Arc<Engine>, group: u64, syncer: WalSyncer) -> LogStore {
        LogStore {
            engine,
            group,
            syncer,
        }
    }

    /// `[start, end)` of this group's log keys, covering every index.
    pub fn group_range(group: u64) -> ([u8; 16], [u8; 16]) {
        (log_key(group, 0), log_key(group + 1, 0))
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        record: GroupRecord,
    ) -> Result<Option<T>, RaftStorageError> {
        let key = meta_keys::group(self.group, record);
        match self.engine.get(CF_META, &key) {
            Ok(Some(bytes)) => bincode::deserialize(&bytes)
                .map(Some)
                .map_err(|e| logs_error(ErrorVerb::Read, e)),
            Ok(None) => Ok(None),
            Err(e) => Err(logs_error(ErrorVerb::Read, e)),
        }
    }

    fn write_meta<T: serde::Serialize>(
        &self,
        record: GroupRecord,
        value: &T,
    ) -> Result<(), RaftStorageError> {
        let bytes = bincode::serialize(value).map_err(|e| logs_error(ErrorVerb::Write, e))?;
        self.engine
            .put(CF_META, &meta_keys::group(self.group, record), &bytes)
            .map_err(|e| logs_error(ErrorVerb::Write, e))
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, RaftStorageError> {
        let (start, end) = Self::group_range(self.group);
        let mut last = None;
        self.engine
            .scan_reverse(CF_RAFT_LOG, &start, &end, |_, value| {
                let entry: Entry = bincode::deserialize(value)
                    .map_err(|e| cirrus_storage::StorageError::Corrupt(e.to_string()))?;
                last = Some(entry.log_id);
                Ok(false)
            })
            .map_err(|e| logs_error(ErrorVerb::Read, e))?;
        Ok(last)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, RaftStorageError> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => log_key(self.group, i + 1),
            Bound::Excluded(&i) => log_key(self.group, i),
            Bound::Unbounded => log_key(self.group + 1, 0),
        };
        let mut entries = Vec::new();
        self.engine
            .scan(
                CF_RAFT_LOG,
                &log_key(self.group, start),
                &end,
                |_, value| {
                    let entry: Entry = bincode::deserialize(value)
                        .map_err(|e| cirrus_storage::StorageError::Corrupt(e.to_string()))?;
                    entries.push(entry);
                    Ok(true)
                },
            )
            .map_err(|e| logs_error(ErrorVerb::Read, e))?;
        Ok(entries)
    }

    /// The entries from `start` on, up to `end` (exclusive) or as many as fit in
    /// [`APPEND_BYTES`] (at least one): what replication sends a follower in one
    /// request.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, RaftStorageError> {
        let mut entries = Vec::new();
        let mut bytes = 0;
        self.engine
            .scan(
                CF_RAFT_LOG,
                &log_key(self.group, start),
                &log_key(self.group, end),
                |_, value| {
                    if !entries.is_empty() && bytes + value.len() > APPEND_BYTES {
                        return Ok(false);
                    }
                    let entry: Entry = bincode::deserialize(value)
                        .map_err(|e| cirrus_storage::StorageError::Corrupt(e.to_string()))?;
                    entries.push(entry);
                    bytes += value.len();
                    Ok(true)
                },
            )
            .map_err(|e| logs_error(ErrorVerb::Read, e))?;
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(GroupRecord::Purged)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), RaftStorageError> {
        self.write_meta(GroupRecord::Vote, vote)?;
        self.engine
            .sync_wal()
            .map_err(|e| io_error(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, RaftStorageError> {
        self.read_meta(GroupRecord::Vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), RaftStorageError> {
        self.write_meta(GroupRecord::Committed, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, RaftStorageError> {
        Ok(self
            .read_meta::<Option<LogId>>(GroupRecord::Committed)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let raft_log = self
            .engine
            .cf(CF_RAFT_LOG)
            .map_err(|e| logs_error(ErrorVerb::Write, e))?;
        let mut batch = WriteBatch::default();
        let mut holds_prepare = false;
        for entry in entries {
            holds_prepare |= matches!(
                &entry.payload,
                EntryPayload::Normal(Proposal {
                    command: Command::TxPrepare { .. },
                    ..
                })
            );
            let bytes = bincode::serialize(&entry).map_err(|e| logs_error(ErrorVerb::Write, e))?;
            batch.put_cf(&raft_log, log_key(self.group, entry.log_id.index), bytes);
        }
        // A write stall must not hold the worker.
        blocking::in_place(|| self.engine.write(batch))
            .map_err(|e| logs_error(ErrorVerb::Write, e))?;
        if holds_prepare && failpoint::is_armed(PREPARE_IN_LOG_ONLY) {
            // Durable in the log, but neither known committed nor applied.
            let _ = self.engine.sync_wal();
            failpoint::crash_point(PREPARE_IN_LOG_ONLY);
        }
        // Durable once the syncer's next fsync completes; openraft commits only then.
        self.syncer
            .sync_then_report(callback)
            .map_err(|e| logs_error(ErrorVerb::Write, e))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), RaftStorageError> {
        self.engine
            .delete_range(
                CF_RAFT_LOG,
                &log_key(self.group, log_id.index),
                &log_key(self.group + 1, 0),
            )
            .map_err(|e| logs_error(ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), RaftStorageError> {
        self.write_meta(GroupRecord::Purged, &log_id)?;
        self.engine
            .delete_range(
                CF_RAFT_LOG,
                &log_key(self.group, 0),
                &log_key(self.group, log_id.index + 1),
            )
            .map_err(|e| logs_error(ErrorVerb::Delete, e))
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::command::WantedImages;
    use crate::raft_types::LogId;

    fn entry(index: u64, bytes: usize) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Proposal::now(Command::Put {
                key: vec![1],
                item: vec![7; bytes],
                condition: None,
                wanted: WantedImages::default(),
            })),
        }
    }

    /// Replication reads at most `APPEND_BYTES` of entries at once, and always at
    /// least one, however large.
    #[tokio::test(flavor = "multi_thread")]
    async fn replication_reads_a_bounded_number_of_bytes() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let engine = Engine::open(&dir.path().join("db"))?;
        let syncer = WalSyncer::start(Arc::downgrade(&engine))?;
        let group = 5;
        // Entries 1..=10 of 300 KB, then one of 3 MB, then small ones.
        let sizes = (1..=10)
            .map(|i| (i, 300_000))
            .chain([(11, 3_000_000)])
            .chain((12..=20).map(|i| (i, 100)));
        for (index, bytes) in sizes {
            let value = bincode::serialize(&entry(index, bytes))?;
            engine.put(CF_RAFT_LOG, &log_key(group, index), &value)?;
        }
        let mut store = LogStore::new(engine, group, syncer);
        let indexes =
            |entries: &[Entry]| entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>();

        let first = store.limited_get_log_entries(1, 21).await?;
        assert_eq!(
            indexes(&first),
            vec![1, 2, 3],
            "three of 300 KB fit in 1 MiB"
        );
        let large = store.limited_get_log_entries(11, 21).await?;
        assert_eq!(
            indexes(&large),
            vec![11],
            "an entry larger than the limit goes alone"
        );
        let small = store.limited_get_log_entries(12, 21).await?;
        assert_eq!(indexes(&small), (12..=20).collect::<Vec<_>>());
        let bounded = store.limited_get_log_entries(12, 15).await?;
        assert_eq!(indexes(&bounded), vec![12, 13, 14], "the end is exclusive");
        Ok(())
    }
}
