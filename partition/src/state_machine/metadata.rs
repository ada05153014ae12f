//! The metadata group's writes: compare-and-set changes of the catalog records in
//! `meta`, applied in the entry's batch with its applied log id, so every replica of
//! the metadata group holds the same catalog as of the same entry.

use cirrus_storage::engine::CF_META;
use openraft::ErrorVerb;
use rocksdb::WriteBatch;

use super::{sm_error, StateMachine, StatsRecord};
use crate::command::{ApplyOutcome, MetadataChange, Rejection};
use crate::group::METADATA_GROUP;
use crate::meta_keys;
use crate::raft_types::RaftStorageError;

fn rejected(rejection: Rejection) -> (ApplyOutcome, StatsRecord) {
    let outcome = ApplyOutcome {
        rejection: Some(rejection),
        ..Default::default()
    };
    (outcome, StatsRecord::default())
}

impl StateMachine {
    pub(super) fn apply_metadata(
        &self,
        change: MetadataChange,
        batch: &mut WriteBatch,
    ) -> Result<(ApplyOutcome, StatsRecord), RaftStorageError> {
        let keys = change
            .expect
            .iter()
            .map(|(key, _)| key)
            .chain(change.put.iter().map(|(key, _)| key))
            .chain(change.delete.iter());
        if self.group != METADATA_GROUP || !keys.clone().all(|key| meta_keys::is_replicated(key)) {
            return Ok(rejected(Rejection::Invalid(
                "only the metadata group changes metadata records".into(),
            )));
        }
        for (key, expected) in &change.expect {
            let current = self
                .engine
                .get(CF_META, key)
                .map_err(|e| sm_error(ErrorVerb::Read, e))?;
            if current.as_deref() != expected.as_deref() {
                return Ok(rejected(Rejection::ConditionFailed));
            }
        }
        let meta = self
            .engine
            .cf(CF_META)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        for key in &change.delete {
            batch.delete_cf(meta, key);
        }
        for (key, value) in &change.put {
            batch.put_cf(meta, key, value);
        }
        Ok((ApplyOutcome::default(), StatsRecord::default()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use cirrus_storage::engine::{prefix_end, Engine, CF_META};
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
    use openraft::{CommittedLeaderId, EntryPayload};
    use tokio::io::AsyncWriteExt;

    use crate::command::{ApplyOutcome, Command, MetadataChange, Proposal, Rejection};
    use crate::group::{group_id, METADATA_GROUP, METADATA_TABLE_ID};
    use crate::meta_keys;
    use crate::raft_types::{Entry, LogId, LOCAL_NODE_ID};
    use crate::state_machine::{KeyValues, StateMachine};
    use crate::write_schema::WriteSchema;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    struct Replica {
        sm: StateMachine,
        engine: Arc<Engine>,
        next_index: u64,
    }

    impl Replica {
        fn open(dir: &Path, group: u64) -> Result<Replica, Box<dyn std::error::Error>> {
            let engine = Engine::open(&dir.join("db"))?;
            let (table, partition) = ((group >> 16) as u32, group as u16);
            let sm = StateMachine::open(
                engine.clone(),
                table,
                partition,
                group,
                WriteSchema::metadata(),
                u64::MAX,
            )?;
            Ok(Replica {
                sm,
                engine,
                next_index: 1,
            })
        }

        async fn change(
            &mut self,
            change: MetadataChange,
        ) -> Result<ApplyOutcome, Box<dyn std::error::Error>> {
            let entry = Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, LOCAL_NODE_ID), self.next_index),
                payload: EntryPayload::Normal(Proposal {
                    command: Command::Metadata(change),
                    at_ms: 1_700_000_000_000,
                }),
            };
            self.next_index += 1;
            Ok(self.sm.apply([entry]).await?.remove(0))
        }

        /// Every replicated metadata record.
        fn catalog(&self) -> Result<KeyValues, Box<dyn std::error::Error>> {
            let mut records = Vec::new();
            for prefix in meta_keys::REPLICATED_PREFIXES {
                self.engine
                    .scan(CF_META, prefix, &prefix_end(prefix), |key, value| {
                        records.push((key.to_vec(), value.to_vec()));
                        Ok(true)
                    })?;
            }
            Ok(records)
        }
    }

    fn put(key: &[u8], value: &[u8]) -> MetadataChange {
        MetadataChange {
            put: vec![(key.to_vec(), value.to_vec())],
            ..Default::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_apply_only_as_compare_and_set_and_only_in_the_metadata_group() -> TestResult {
        let dir = tempfile::tempdir()?;
        let mut metadata = Replica::open(dir.path(), METADATA_GROUP)?;
        let table = meta_keys::table("us-east-1", "t");
        let first = metadata.change(put(&table, b"one")).await?;
        assert_eq!(first.rejection, None);
        // Expecting the record absent when it is not: nothing changes.
        let conflicting = MetadataChange {
            expect: vec![(table.clone(), None)],
            put: vec![(table.clone(), b"two".to_vec())],
            delete: Vec::new(),
        };
        let outcome = metadata.change(conflicting).await?;
        assert_eq!(outcome.rejection, Some(Rejection::ConditionFailed));
        assert_eq!(metadata.catalog()?, vec![(table.clone(), b"one".to_vec())]);
        // Expecting what is there: it applies.
        let expected = MetadataChange {
            expect: vec![(table.clone(), Some(b"one".to_vec()))],
            put: vec![(table.clone(), b"two".to_vec())],
            delete: Vec::new(),
        };
        assert_eq!(metadata.change(expected).await?.rejection, None);
        assert_eq!(metadata.catalog()?, vec![(table.clone(), b"two".to_vec())]);
        // A node's own records are not the metadata group's to change.
        let own = metadata
            .change(put(&meta_keys::key_ranges(1), b"9"))
            .await?;
        assert!(matches!(own.rejection, Some(Rejection::Invalid(_))));
        drop(metadata);

        // Nor is the catalog any partition's to change.
        let other_dir = tempfile::tempdir()?;
        let mut partition = Replica::open(other_dir.path(), group_id(METADATA_TABLE_ID + 1, 0))?;
        let refused = partition.change(put(&table, b"three")).await?;
        assert!(matches!(refused.rejection, Some(Rejection::Invalid(_))));
        assert!(partition.catalog()?.is_empty());
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_metadata_snapshot_carries_the_catalog() -> TestResult {
        let source_dir = tempfile::tempdir()?;
        let mut source = Replica::open(source_dir.path(), METADATA_GROUP)?;
        for name in ["a", "b", "c"] {
            let change = put(&meta_keys::table("us-east-1", name), name.as_bytes());
            source.change(change).await?;
        }
        source
            .change(put(meta_keys::NEXT_TABLE_ID, &4u32.to_be_bytes()))
            .await?;
        source
            .change(put(&meta_keys::retired_streams(2), b"{}"))
            .await?;
        let mut snapshot = source
            .sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await?;

        // The target's own stale catalog goes; its node-local records stay.
        let target_dir = tempfile::tempdir()?;
        let mut target = Replica::open(target_dir.path(), METADATA_GROUP)?;
        target
            .change(put(&meta_keys::table("us-east-1", "stale"), b"x"))
            .await?;
        target
            .engine
            .put(CF_META, &meta_keys::key_ranges(7), b"own")?;
        let mut received = target.sm.begin_receiving_snapshot().await?;
        tokio::io::copy(&mut snapshot.snapshot, &mut received).await?;
        received.flush().await?;
        target.sm.install_snapshot(&snapshot.meta, received).await?;
        assert_eq!(target.catalog()?, source.catalog()?);
        assert_eq!(source.catalog()?.len(), 5);
        assert_eq!(
            target
                .engine
                .get(CF_META, &meta_keys::key_ranges(7))?
                .map(|v| v.to_vec()),
            Some(b"own".to_vec())
        );
        Ok(())
    }
}
