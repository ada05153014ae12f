//! Trimming a stream's records in a partition. A trim is an entry of the partition's
//! log, so every replica drops the same records at the same point of its history and
//! names the same trim horizon: GetRecords answers the same whichever replica serves it.

use cirrus_storage::change_log::change_key;
use cirrus_storage::engine::CF_CHANGES;
use openraft::ErrorVerb;
use rocksdb::WriteBatch;

use super::{sm_error, StateMachine, StatsRecord};
use crate::command::ApplyOutcome;
use crate::raft_types::RaftStorageError;

impl StateMachine {
    /// Removes the records of stream `stream_id` with sequences below `before`, which
    /// becomes the shard's trim horizon (unless it already is past it).
    pub(super) fn trim_stream(
        &self,
        stream_id: u32,
        before: u64,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let horizon_key = change_key(self.table_id, self.partition, stream_id, 0);
        let horizon = self
            .engine
            .get(CF_CHANGES, &horizon_key)
            .map_err(|e| sm_error(ErrorVerb::Read, e))?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        if before > horizon {
            let cf = self
                .engine
                .cf(CF_CHANGES)
                .map_err(|e| sm_error(ErrorVerb::Write, e))?;
            let first = change_key(self.table_id, self.partition, stream_id, 1);
            let end = change_key(self.table_id, self.partition, stream_id, before);
            batch.delete_range_cf(cf, first, end);
            batch.put_cf(cf, horizon_key, before.to_be_bytes());
        }
        Ok((ApplyOutcome::default(), StatsRecord::default()))
    }
}
