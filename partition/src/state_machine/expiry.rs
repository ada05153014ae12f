//! TTL in a partition: keeping the expiry index with every write, building it when TTL
//! is enabled, dropping it when disabled, and the guarded system delete of an expired
//! item.

use cirrus_storage::change_log::ChangeOrigin;
use cirrus_storage::engine::{prefix_end, CF_EXPIRY};
use cirrus_ttl::index::{expiry_key, expiry_of, expiry_prefix};
use openraft::ErrorVerb;
use rocksdb::WriteBatch;

use super::{resume_after, sm_error, ItemWrite, StateMachine, StatsRecord};
use crate::command::ApplyOutcome;
use crate::raft_types::RaftStorageError;

impl StateMachine {
    /// Moves the item's expiry entry from its old expiry to its new one.
    pub(super) fn maintain_expiry(
        &self,
        attribute: &str,
        write: &ItemWrite<'_>,
        batch: &mut WriteBatch,
    ) -> Result<(), RaftStorageError> {
        let now = self.applying_at_seconds();
        let old = write
            .old_item
            .and_then(|item| expiry_of(item, attribute, now));
        let new = write
            .new_item
            .and_then(|item| expiry_of(item, attribute, now));
        if old == new {
            return Ok(());
        }
        let cf = self
            .engine
            .cf(CF_EXPIRY)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let suffix = &write.key[self.prefix.len()..];
        if let Some(old) = old {
            batch.delete_cf(cf, expiry_key(self.table_id, self.partition, old, suffix));
        }
        if let Some(new) = new {
            batch.put_cf(
                cf,
                expiry_key(self.table_id, self.partition, new, suffix),
                [],
            );
        }
        Ok(())
    }

    /// Deletes the item as a TTL expiry if it is still expired as of `now` (the
    /// sweeper's clock, so every replica decides alike) and no transaction holds it.
    /// An index entry that no longer matches its item (left by an interrupted drop)
    /// is removed instead.
    pub(super) fn expire(
        &mut self,
        key: Vec<u8>,
        entry_expiry: u64,
        now: u64,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let schema = self.schema.get();
        let mut delta = StatsRecord::default();
        let Some(attribute) = &schema.ttl_attribute else {
            return Ok((ApplyOutcome::default(), delta));
        };
        if self.locks.holds(&key) {
            return Ok((ApplyOutcome::default(), delta));
        }
        let old = self.read_item(&key)?;
        let old_item = old.as_deref().map(Self::decode).transpose()?;
        let expiry = old_item
            .as_ref()
            .and_then(|item| expiry_of(item, attribute, now));
        if expiry != Some(entry_expiry) {
            let cf = self
                .engine
                .cf(CF_EXPIRY)
                .map_err(|e| sm_error(ErrorVerb::Write, e))?;
            let suffix = &key[self.prefix.len()..];
            batch.delete_cf(
                cf,
                expiry_key(self.table_id, self.partition, entry_expiry, suffix),
            );
        }
        let (Some(old), Some(old_item), Some(expiry)) = (old, old_item, expiry) else {
            return Ok((ApplyOutcome::default(), delta));
        };
        if expiry > now {
            return Ok((ApplyOutcome::default(), delta));
        }
        let write = ItemWrite {
            origin: ChangeOrigin::Service,
            key: &key,
            old: Some(&old),
            old_item: Some(&old_item),
            new: None,
            new_item: None,
        };
        // A delete never grows a collection, so it is never refused.
        let _ = self.write_item(&schema, write, false, batch, &mut delta)?;
        delta.expired += 1;
        Ok((ApplyOutcome::default(), delta))
    }

    /// One step of building the expiry index over existing items.
    pub(super) fn backfill_expiry(
        &mut self,
        after: Option<Vec<u8>>,
        limit: u32,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let schema = self.schema.get();
        let Some(attribute) = &schema.ttl_attribute else {
            return Ok((ApplyOutcome::default(), StatsRecord::default()));
        };
        let mut chunk = self.items_after(after, limit)?;
        let cf = self
            .engine
            .cf(CF_EXPIRY)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let now = self.applying_at_seconds();
        for (key, stored) in &chunk {
            let item = Self::decode(stored)?;
            if let Some(expiry) = expiry_of(&item, attribute, now) {
                let suffix = &key[self.prefix.len()..];
                batch.put_cf(
                    cf,
                    expiry_key(self.table_id, self.partition, expiry, suffix),
                    [],
                );
            }
        }
        let outcome = ApplyOutcome {
            backfill_resume_after: resume_after(&mut chunk, limit),
            ..Default::default()
        };
        Ok((outcome, StatsRecord::default()))
    }

    /// Drops the partition's expiry index, unless TTL was enabled again meanwhile
    /// (stale entries then fall to the guard of `expire`).
    pub(super) fn drop_expiry(
        &mut self,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        if self.schema.get().ttl_attribute.is_some() {
            return Ok((ApplyOutcome::default(), StatsRecord::default()));
        }
        let cf = self
            .engine
            .cf(CF_EXPIRY)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        let prefix = expiry_prefix(self.table_id, self.partition);
        batch.delete_range_cf(cf, &prefix[..], &prefix_end(&prefix)[..]);
        Ok((ApplyOutcome::default(), StatsRecord::default()))
    }
}
