//! Reading and trimming the change log (see `cirrus_storage::change_log`, whose records
//! the partition state machine writes in the same batch as each change): what the
//! Streams API and the retention sweep read from this node's replicas. Any replica
//! serves the same records, as every one applied the same log.

use cirrus_storage::change_log::{change_key, sequence_of, shard_prefix, ChangeRecord};
use cirrus_storage::engine::{prefix_end, CF_CHANGES};
use cirrus_storage::StorageError;

use cirrus_cluster::Node;
use cirrus_partition::command::Command;
use cirrus_partition::error::PartitionError;

/// A shard: one stream's records in one partition of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRef {
    pub table_id: u32,
    pub partition: u16,
    pub stream_id: u32,
}

/// What a shard holds now.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShardBounds {
    /// Records before this sequence were trimmed (0: none ever were).
    pub trim_horizon: u64,
    pub first: Option<u64>,
    pub last: Option<u64>,
}

fn decode_record(bytes: &[u8]) -> Result<ChangeRecord, StorageError> {
    bincode::deserialize(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn horizon_key(shard: ShardRef) -> [u8; 18] {
    change_key(shard.table_id, shard.partition, shard.stream_id, 0)
}

pub fn shard_bounds(node: &Node, shard: ShardRef) -> Result<ShardBounds, PartitionError> {
    let engine = node.engine();
    let trim_horizon = match engine.get(CF_CHANGES, &horizon_key(shard))? {
        Some(bytes) => u64::from_be_bytes(
            bytes
                .as_ref()
                .try_into()
                .map_err(|_| PartitionError::Corrupt("shard trim horizon".into()))?,
        ),
        None => 0,
    };
    let prefix = shard_prefix(shard.table_id, shard.partition, shard.stream_id);
    let start = change_key(shard.table_id, shard.partition, shard.stream_id, 1);
    let end = prefix_end(&prefix);
    let mut first = None;
    engine.scan(CF_CHANGES, &start, &end, |key, _| {
        first = sequence_of(key);
        Ok(false)
    })?;
    let mut last = None;
    engine.scan_reverse(CF_CHANGES, &start, &end, |key, _| {
        last = sequence_of(key);
        Ok(false)
    })?;
    Ok(ShardBounds {
        trim_horizon,
        first,
        last,
    })
}

/// Visits the shard's records from sequence `from` on, in order, until `visit`
/// returns false.
pub fn read_shard(
    node: &Node,
    shard: ShardRef,
    from: u64,
    mut visit: impl FnMut(u64, ChangeRecord) -> bool,
) -> Result<(), PartitionError> {
    let start = change_key(
        shard.table_id,
        shard.partition,
        shard.stream_id,
        from.max(1),
    );
    let end = prefix_end(&shard_prefix(
        shard.table_id,
        shard.partition,
        shard.stream_id,
    ));
    node.engine().scan(CF_CHANGES, &start, &end, |key, value| {
        let sequence =
            sequence_of(key).ok_or_else(|| StorageError::Corrupt("change key".into()))?;
        Ok(visit(sequence, decode_record(value)?))
    })?;
    Ok(())
}

/// The sequence below which the shard's records were made before `before_ms`
/// (epoch milliseconds), and how many they are; `None` when there are none. Reads
/// only those records.
fn trim_cutoff(
    node: &Node,
    shard: ShardRef,
    before_ms: u64,
) -> Result<Option<(u64, u64)>, PartitionError> {
    let mut cutoff = None;
    let mut count = 0;
    read_shard(node, shard, 1, |sequence, record| {
        if record.created_at_ms >= before_ms {
            return false;
        }
        cutoff = Some(sequence + 1);
        count += 1;
        true
    })?;
    Ok(cutoff.map(|cutoff| (cutoff, count)))
}

/// Trims the shard's records made before `before_ms`; returns how many went. A
/// live table's shard is trimmed through its partition's log, by the partition's
/// leader only (elsewhere this does nothing); the shard of a deleted table's
/// retired stream, which has no group any more, is trimmed here, with one range
/// tombstone.
pub async fn trim_shard(
    node: &Node,
    shard: ShardRef,
    before_ms: u64,
) -> Result<u64, PartitionError> {
    let live = node.live_table(shard.table_id);
    if live
        .as_ref()
        .is_some_and(|table| !table.leads(shard.partition))
    {
        return Ok(0);
    }
    let Some((cutoff, count)) = trim_cutoff(node, shard, before_ms)? else {
        return Ok(0);
    };
    if let Some(table) = live {
        let command = Command::TrimStream {
            stream_id: shard.stream_id,
            before: cutoff,
        };
        node.propose_to(&table, shard.partition, command).await?;
        return Ok(count);
    }
    let engine = node.engine();
    let start = change_key(shard.table_id, shard.partition, shard.stream_id, 1);
    let end = change_key(shard.table_id, shard.partition, shard.stream_id, cutoff);
    let cf = engine.cf(CF_CHANGES)?;
    let mut batch = rocksdb::WriteBatch::default();
    batch.delete_range_cf(cf, start, end);
    batch.put_cf(cf, horizon_key(shard), cutoff.to_be_bytes());
    engine.write_synced(batch)?;
    Ok(count)
}
