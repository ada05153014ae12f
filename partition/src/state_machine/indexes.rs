//! What a partition's writes maintain besides the item: its entries in every secondary
//! index and the size of its item collection, and the schema changes that add and drop
//! indexes (setting the schema, backfilling an index, dropping one's entries).

use cirrus_storage::engine::{prefix_end, split_table_key, CF_INDEXES, CF_ITEMS, CF_META};
use cirrus_storage::index::{IndexEntry, COLLECTION_SIZES};
use cirrus_storage::key::decode_key_value;
use cirrus_storage::{Item, StorageError};
use openraft::ErrorVerb;
use rocksdb::WriteBatch;

use super::{
    encode, resume_after, sm_error, stored_size, Counts, KeyValues, StateMachine, StatsRecord,
};
use crate::capacity::write_units;
use crate::command::ApplyOutcome;
use crate::meta_keys::{self, GroupRecord};
use crate::raft_types::RaftStorageError;
use crate::write_schema::WriteSchema;

impl StateMachine {
    /// Replaces the item's entry in every index: the old item's entry goes (if the
    /// write path or a backfill made it), the new item's comes.
    pub(super) fn maintain_indexes(
        &self,
        indexes: &WriteSchema,
        item_key: &[u8],
        old: Option<&Item>,
        new: Option<&Item>,
        batch: &mut WriteBatch,
        delta: &mut StatsRecord,
    ) -> Result<Vec<(u16, u32)>, RaftStorageError> {
        let table_key = &item_key[self.prefix.len()..];
        let mut units = Vec::new();
        let cf = self
            .engine
            .cf(CF_INDEXES)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        for spec in &indexes.specs {
            let prefix = self.index_prefix(spec.id);
            let counts = delta.indexes.entry(spec.id).or_default();
            let mut removed = None;
            if let Some(old_key) = old.and_then(|item| spec.entry_key(&prefix, item, table_key)) {
                let existing = self
                    .engine
                    .get(CF_INDEXES, &old_key)
                    .map_err(|e| sm_error(ErrorVerb::Read, e))?;
                if let Some(existing) = existing {
                    counts.add(-1, -i64::from(stored_size(&existing)?));
                    batch.delete_cf(cf, &old_key);
                    removed = Some((old_key, existing.to_vec()));
                }
            }
            let entry =
                new.and_then(|item| spec.entry(&prefix, item, table_key, &indexes.table_keys));
            // DynamoDB's index writes: none if the entry is unchanged, one to put or
            // remove an entry or to update it in place, two when its key moves.
            let index_units = match (&removed, &entry) {
                (Some((key, value)), Some(new)) if *key == new.key && *value == new.value => 0,
                (Some((key, value)), Some(new)) if *key == new.key => {
                    write_units(u64::from(stored_size(value)?.max(stored_size(&new.value)?)))
                }
                (Some((_, value)), Some(new)) => {
                    write_units(u64::from(stored_size(value)?))
                        + write_units(u64::from(stored_size(&new.value)?))
                }
                (Some((_, value)), None) => write_units(u64::from(stored_size(value)?)),
                (None, Some(new)) => write_units(u64::from(stored_size(&new.value)?)),
                (None, None) => 0,
            };
            if index_units > 0 {
                units.push((spec.id, index_units));
            }
            if let Some(IndexEntry { key, value }) = entry {
                counts.add(1, i64::from(stored_size(&value)?));
                batch.put_cf(cf, key, value);
            }
        }
        Ok(units)
    }

    /// Records the change of the written item's collection size (its items and their
    /// local-index entries), returning the new size, or `None` when the write would
    /// grow the collection past the limit.
    pub(super) fn resize_collection(
        &self,
        indexes: &WriteSchema,
        item_key: &[u8],
        delta: &StatsRecord,
        enforce_limit: bool,
        batch: &mut WriteBatch,
    ) -> Result<Option<u64>, RaftStorageError> {
        let (_, key_values) = split_table_key(&item_key[self.prefix.len()..])
            .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        let (_, pk_length) = decode_key_value(indexes.table_keys.partition_key().ty, key_values)
            .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        let mut collection_key = self.index_prefix(COLLECTION_SIZES).to_vec();
        collection_key.extend_from_slice(&key_values[..pk_length]);
        let growth = delta.table.size_bytes
            + indexes
                .local_ids
                .iter()
                .filter_map(|id| delta.indexes.get(id))
                .map(|counts| counts.size_bytes)
                .sum::<i64>();
        let current = match self
            .engine
            .get(CF_INDEXES, &collection_key)
            .map_err(|e| sm_error(ErrorVerb::Read, e))?
        {
            Some(bytes) => i64::from_le_bytes(bytes.as_ref().try_into().map_err(|_| {
                sm_error(
                    ErrorVerb::Read,
                    StorageError::Corrupt("collection size".into()),
                )
            })?),
            None => 0,
        };
        let size = (current + growth).max(0) as u64;
        if enforce_limit && growth > 0 && size > self.collection_limit {
            return Ok(None);
        }
        let cf = self
            .engine
            .cf(CF_INDEXES)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        if size == 0 {
            batch.delete_cf(cf, &collection_key);
        } else {
            batch.put_cf(cf, &collection_key, (size as i64).to_le_bytes());
        }
        Ok(Some(size))
    }

    /// Makes `schema` what the partition's writes maintain from the next entry on, if it
    /// is newer than the current one; it is recorded with the applied log id, so a
    /// restart resumes under the schema its next entry was proposed under.
    pub(super) fn set_schema(
        &mut self,
        schema: WriteSchema,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        if schema.version > self.schema.get().version {
            let meta = self
                .engine
                .cf(CF_META)
                .map_err(|e| sm_error(ErrorVerb::Write, e))?;
            batch.put_cf(
                meta,
                meta_keys::group(self.group, GroupRecord::Schema),
                encode(&schema)?,
            );
            self.schema.set(schema);
        }
        Ok((ApplyOutcome::default(), StatsRecord::default()))
    }

    /// One step of building an index over the items that existed before it.
    pub(super) fn backfill_index(
        &self,
        index_id: u16,
        after: Option<Vec<u8>>,
        limit: u32,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let indexes = self.schema.get();
        let mut delta = StatsRecord::default();
        // A dropped index needs no more entries.
        let Some(spec) = indexes.spec(index_id) else {
            return Ok((ApplyOutcome::default(), delta));
        };
        let mut chunk = self.items_after(after, limit)?;
        let cf = self
            .engine
            .cf(CF_INDEXES)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let prefix = self.index_prefix(index_id);
        let counts = delta.indexes.entry(index_id).or_default();
        for (key, stored) in &chunk {
            let item = Self::decode(stored)?;
            let table_key = &key[self.prefix.len()..];
            // Items whose index key has the wrong type stay out of the index, as in
            // DynamoDB's backfill.
            let Some(entry) = spec.entry(&prefix, &item, table_key, &indexes.table_keys) else {
                continue;
            };
            let exists = self
                .engine
                .get(CF_INDEXES, &entry.key)
                .map_err(|e| sm_error(ErrorVerb::Read, e))?
                .is_some();
            if !exists {
                counts.add(1, i64::from(stored_size(&entry.value)?));
                batch.put_cf(cf, entry.key, entry.value);
            }
        }
        let outcome = ApplyOutcome {
            backfill_resume_after: resume_after(&mut chunk, limit),
            ..Default::default()
        };
        Ok((outcome, delta))
    }

    /// Up to `limit` items of the partition in key order, from after the item key
    /// `after` (from the start when `None`): one step of a backfill.
    pub(super) fn items_after(
        &self,
        after: Option<Vec<u8>>,
        limit: u32,
    ) -> Result<KeyValues, RaftStorageError> {
        let start = match after {
            // Keys are self-delimiting: the first key after `k` is at least `k · 0x00`.
            Some(mut key) => {
                key.push(0);
                key
            }
            None => self.prefix.to_vec(),
        };
        let mut chunk = Vec::new();
        self.engine
            .scan(CF_ITEMS, &start, &prefix_end(&self.prefix), |key, value| {
                chunk.push((key.to_vec(), value.to_vec()));
                Ok(chunk.len() < limit as usize)
            })
            .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        Ok(chunk)
    }

    pub(super) fn drop_index(
        &self,
        index_id: u16,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let cf = self
            .engine
            .cf(CF_INDEXES)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let prefix = self.index_prefix(index_id);
        batch.delete_range_cf(cf, &prefix[..], &prefix_end(&prefix)[..]);
        let mut delta = StatsRecord::default();
        let counts = self.stats.index(index_id);
        delta.indexes.insert(
            index_id,
            Counts {
                item_count: -counts.item_count,
                size_bytes: -counts.size_bytes,
            },
        );
        Ok((ApplyOutcome::default(), delta))
    }
}
