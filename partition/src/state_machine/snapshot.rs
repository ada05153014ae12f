//! Raft snapshots of a partition, as files in `<data dir>/snapshots/<group>/`.
//!
//! **Building.** openraft asks for a builder between two applies. The builder's blocking
//! task takes a RocksDB view of the database ([`Engine::view`]) and says so, and only
//! then does the state machine go on applying: the view is the partition as of the last
//! applied entry, however long the build takes. The task streams the view's partition
//! ranges and the state machine's own records into a file (see [`format`]) one record
//! at a time, off the runtime's workers; the file is synced and renamed into place, the
//! group's `Snapshot` record names it (synced), and the file it supersedes goes.
//!
//! **Installing.** The received data is first copied into a file of our own and checked
//! record by record, so a damaged snapshot is refused before anything changes. Then the
//! `Snapshot` record names the new file with `installing` set (synced); the partition's
//! ranges are cleared and refilled in bounded write batches; the last batch writes the
//! state machine's records and clears `installing` (synced, which also makes every
//! batch before it durable: RocksDB's log is written in order). A crash in between
//! leaves `installing` set, and opening the state machine redoes the install from the
//! file before anything reads the partition: clearing and refilling is idempotent.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cirrus_storage::engine::{
    prefix_end, Engine, EngineView, CF_CHANGES, CF_EXPIRY, CF_INDEXES, CF_ITEMS, CF_META,
    CF_TRANSACTIONS,
};
use cirrus_storage::StorageError;
use openraft::{ErrorSubject, ErrorVerb, RaftSnapshotBuilder};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{read_record, AppliedRecord, StateMachine};
use crate::failpoint::crash_point;
use crate::group::METADATA_GROUP;
use crate::meta_keys::{self, GroupRecord};
use crate::raft_types::{io_error, RaftStorageError, Snapshot, SnapshotMeta, TypeConfig};

mod digest;
mod format;
pub use digest::StateDigest;
#[cfg(test)]
mod tests;

use format::{FrameReader, FrameWriter};

/// The state machine's own records in `meta`. They travel in the snapshot with the
/// partition's data, byte for byte: a new record is one more line here.
const STATE_RECORDS: [GroupRecord; 3] = [
    GroupRecord::Applied,
    GroupRecord::Stats,
    GroupRecord::Schema,
];

/// The column families holding a partition's data, under its prefix. A data frame's
/// tag is the position here plus one; its key is the key after the partition prefix.
const PARTITION_CFS: [&str; 5] = [CF_ITEMS, CF_INDEXES, CF_TRANSACTIONS, CF_CHANGES, CF_EXPIRY];

/// The tag of a state machine record's frame; its key is the record's id.
const RECORD: u8 = 0;

/// The tag of a metadata record's frame (the metadata group's snapshots only); its key
/// is the record's whole key in `meta`.
const METADATA: u8 = 0x80;

/// An install writes the partition in batches of about this size.
const INSTALL_BATCH_BYTES: usize = 4 << 20;

/// File buffers: large sequential writes and reads.
const FILE_BUFFER_BYTES: usize = 1 << 20;

/// The group's `Snapshot` record: which file holds its current snapshot.
#[derive(Clone, Serialize, Deserialize)]
struct SnapshotRecord {
    meta: SnapshotMeta,
    /// The file's name in the group's snapshot directory.
    file: String,
    /// Set, durably, before an install starts changing the partition, and cleared in
    /// the batch that finishes it: while set, the partition may be half old, half new.
    installing: bool,
}

/// The record as it was when a snapshot was one RocksDB value.
#[derive(Deserialize)]
struct LegacySnapshotRecord {
    _meta: SnapshotMeta,
    _data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
enum SnapshotError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("snapshot file: {0}")]
    Io(#[from] io::Error),
    #[error("snapshot record: {0}")]
    Encoding(#[from] bincode::Error),
    #[error("snapshot task: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("snapshot: {0}")]
    Invalid(String),
}

impl From<SnapshotError> for StorageError {
    fn from(error: SnapshotError) -> StorageError {
        match error {
            SnapshotError::Storage(e) => e,
            other => StorageError::Corrupt(other.to_string()),
        }
    }
}

fn raft_error(verb: ErrorVerb, error: SnapshotError) -> RaftStorageError {
    io_error(ErrorSubject::Snapshot(None), verb, error)
}

/// A name no other snapshot file of this node has had: its time, then a count.
fn unique_suffix() -> String {
    static TAKEN: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", TAKEN.fetch_add(1, Ordering::Relaxed))
}

fn snapshot_file_name(meta: &SnapshotMeta) -> String {
    let index = meta.last_log_id.map_or(0, |id| id.index);
    format!("{index:020}-{}.snap", unique_suffix())
}

/// Makes a written and synced file durable under its final name.
fn persist(temp: &Path, path: &Path) -> Result<(), SnapshotError> {
    std::fs::rename(temp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), SnapshotError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Writes a snapshot file at `temp` with `write`, then moves it to `path`; a failure
/// leaves nothing behind.
fn write_file(
    temp: &Path,
    path: &Path,
    write: impl FnOnce(&mut FrameWriter<BufWriter<File>>) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let written = (|| {
        let file = BufWriter::with_capacity(FILE_BUFFER_BYTES, File::create(temp)?);
        let mut out = FrameWriter::new(file)?;
        write(&mut out)?;
        let file = out.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        persist(temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    written
}

/// The state machine record a frame of tag [`RECORD`] holds.
fn state_record(key: &[u8]) -> Result<GroupRecord, SnapshotError> {
    STATE_RECORDS
        .into_iter()
        .find(|record| [*record as u8] == key)
        .ok_or_else(|| SnapshotError::Invalid(format!("unknown state record {key:?}")))
}

/// The column family a data frame's tag names.
fn partition_cf(tag: u8) -> Result<&'static str, SnapshotError> {
    usize::from(tag)
        .checked_sub(1)
        .and_then(|position| PARTITION_CFS.get(position).copied())
        .ok_or_else(|| SnapshotError::Invalid(format!("unknown record tag {tag}")))
}

/// A partition's snapshot files and its `Snapshot` record.
pub(super) struct Snapshots {
    engine: Arc<Engine>,
    group: u64,
    prefix: [u8; 6],
    dir: PathBuf,
    /// Held while the `Snapshot` record changes: a build finishes in its own task while
    /// the state machine may be installing.
    record_lock: Mutex<()>,
    /// Runs in a build once its view is taken and its records are written.
    #[cfg(test)]
    build_hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

/// Where the node keeps every group's snapshot files: `<data dir>/snapshots/`.
fn snapshots_dir(engine: &Engine) -> Result<std::path::PathBuf, StorageError> {
    let data_dir = engine
        .path()
        .parent()
        .ok_or_else(|| StorageError::Corrupt("the database directory has no parent".into()))?;
    Ok(data_dir.join("snapshots"))
}

/// Removes the snapshot files of every group of a deleted table.
pub(crate) fn remove_table_snapshots(engine: &Engine, table_id: u32) -> Result<(), StorageError> {
    let dir = snapshots_dir(engine)?;
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::Corrupt(format!("{}: {e}", dir.display()))),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let group = name
            .to_str()
            .and_then(|name| u64::from_str_radix(name, 16).ok());
        if group.is_some_and(|group| group >> 16 == u64::from(table_id)) {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| StorageError::Corrupt(format!("{}: {e}", entry.path().display())))?;
        }
    }
    Ok(())
}

impl Snapshots {
    /// Finishes an install a crash cut short and removes files no record names. Runs
    /// before the state machine reads anything of the partition.
    pub(super) fn open(
        engine: Arc<Engine>,
        group: u64,
        prefix: [u8; 6],
    ) -> Result<Arc<Snapshots>, StorageError> {
        let dir = snapshots_dir(&engine)?.join(format!("{group:016x}"));
        let snapshots = Snapshots {
            engine,
            group,
            prefix,
            dir,
            record_lock: Mutex::new(()),
            #[cfg(test)]
            build_hook: Mutex::new(None),
        };
        snapshots.drop_legacy_record()?;
        let current = snapshots.record()?;
        if let Some(record) = current.as_ref().filter(|record| record.installing) {
            // Its file was synced before the record named it.
            snapshots.apply_file(record)?;
        }
        snapshots.remove_files_except(current.as_ref().map(|record| record.file.as_str()))?;
        Ok(Arc::new(snapshots))
    }

    fn record_key(&self) -> [u8; 10] {
        meta_keys::group(self.group, GroupRecord::Snapshot)
    }

    fn record(&self) -> Result<Option<SnapshotRecord>, SnapshotError> {
        match self.engine.get(CF_META, &self.record_key())? {
            Some(bytes) => Ok(Some(bincode::deserialize(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Removes a record from before snapshots were files. Without a snapshot, openraft
    /// builds one at start-up if the log was purged.
    fn drop_legacy_record(&self) -> Result<(), SnapshotError> {
        let Some(bytes) = self.engine.get(CF_META, &self.record_key())? else {
            return Ok(());
        };
        let legacy = bincode::deserialize::<SnapshotRecord>(&bytes).is_err()
            && bincode::deserialize::<LegacySnapshotRecord>(&bytes).is_ok();
        drop(bytes);
        if legacy {
            let mut batch = WriteBatch::default();
            batch.delete_cf(self.engine.cf(CF_META)?, self.record_key());
            self.engine.write_synced(batch)?;
        }
        Ok(())
    }

    fn remove_files_except(&self, keep: Option<&str>) -> Result<(), SnapshotError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            if Some(entry.file_name().as_os_str()) != keep.map(std::ffi::OsStr::new) {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Creates the group's snapshot directory, durably: a record must never name a
    /// file in a directory a power loss can take away.
    fn create_dir(&self) -> io::Result<()> {
        if self.dir.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        for created in self.dir.ancestors().skip(1).take(2) {
            File::open(created)?.sync_all()?;
        }
        Ok(())
    }

    /// Makes `record` the group's current snapshot, durably, and removes the file it
    /// supersedes. A build that is not newer than the current snapshot (or an install
    /// under way) is dropped instead.
    fn publish(&self, record: &SnapshotRecord) -> Result<(), SnapshotError> {
        let _guard = self
            .record_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.record()?;
        if let Some(current) = &current {
            if !record.installing && current.meta.last_log_id >= record.meta.last_log_id {
                return remove_if_present(&self.dir.join(&record.file));
            }
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.engine.cf(CF_META)?,
            self.record_key(),
            bincode::serialize(record)?,
        );
        // Synced before the superseded file goes: the record never names a missing file.
        self.engine.write_synced(batch)?;
        match current {
            Some(current) if current.file != record.file => {
                remove_if_present(&self.dir.join(&current.file))
            }
            _ => Ok(()),
        }
    }

    /// Starts building a snapshot; returns once the state it captures is fixed, so the
    /// state machine may apply again.
    pub(super) async fn builder(self: &Arc<Self>) -> SnapshotBuilder {
        let (taken, view_taken) = oneshot::channel();
        let snapshots = self.clone();
        let build = tokio::task::spawn_blocking(move || snapshots.build(taken));
        // An error means the task ended before taking its view; `build_snapshot` says why.
        let _ = view_taken.await;
        SnapshotBuilder { build: Some(build) }
    }

    /// The applied record as `view` sees it.
    fn applied(&self, view: &EngineView<'_>) -> Result<AppliedRecord, SnapshotError> {
        Ok(view
            .get(CF_META, &meta_keys::group(self.group, GroupRecord::Applied))?
            .map(|bytes| bincode::deserialize(&bytes))
            .transpose()?
            .unwrap_or_default())
    }

    fn build(&self, taken: oneshot::Sender<()>) -> Result<(SnapshotMeta, File), SnapshotError> {
        let view = self.engine.view();
        let _ = taken.send(());
        let applied = self.applied(&view)?;
        let last = applied.last_applied;
        let mut meta = SnapshotMeta {
            last_log_id: last,
            last_membership: applied.membership,
            snapshot_id: String::new(),
        };
        let file = snapshot_file_name(&meta);
        meta.snapshot_id = format!(
            "{}-{}-{file}",
            self.group,
            last.map_or(0, |id| id.leader_id.term)
        );
        self.create_dir()?;
        let path = self.dir.join(&file);
        write_file(&path.with_extension("tmp"), &path, |out| {
            self.write_view(&view, out)
        })?;
        drop(view);
        // Opened before publishing: a build dropped as stale still returns readable data.
        let data = File::open(&path)?;
        self.publish(&SnapshotRecord {
            meta: meta.clone(),
            file,
            installing: false,
        })?;
        Ok((meta, data))
    }

    /// Writes everything a snapshot of the group holds, as `view` sees it.
    fn write_view<W: io::Write>(
        &self,
        view: &EngineView<'_>,
        out: &mut FrameWriter<W>,
    ) -> Result<(), SnapshotError> {
        for record in STATE_RECORDS {
            if let Some(value) = view.get(CF_META, &meta_keys::group(self.group, record))? {
                out.frame(RECORD, &[record as u8], &value)?;
            }
        }
        #[cfg(test)]
        {
            let hook = self
                .build_hook
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(hook) = hook {
                hook();
            }
        }
        let end = prefix_end(&self.prefix);
        for (tag, cf) in (RECORD + 1..).zip(PARTITION_CFS) {
            view.scan(cf, &self.prefix, &end, |key, value| {
                out.frame(tag, &key[self.prefix.len()..], value)?;
                Ok::<_, SnapshotError>(true)
            })?;
        }
        for prefix in self.metadata_prefixes() {
            view.scan(CF_META, prefix, &prefix_end(prefix), |key, value| {
                out.frame(METADATA, key, value)?;
                Ok::<_, SnapshotError>(true)
            })?;
        }
        Ok(())
    }

    /// The ranges of `meta` this group's state holds besides its partition's: the
    /// replicated metadata records, for the metadata group only.
    fn metadata_prefixes(&self) -> &'static [&'static [u8]] {
        if self.group == METADATA_GROUP {
            &meta_keys::REPLICATED_PREFIXES
        } else {
            &[]
        }
    }

    /// A metadata frame is only ever the metadata group's, and only of its records.
    fn check_metadata_key(&self, key: &[u8]) -> Result<(), SnapshotError> {
        if self.group == METADATA_GROUP && meta_keys::is_replicated(key) {
            Ok(())
        } else {
            Err(SnapshotError::Invalid(format!(
                "group {} got a metadata record {key:02x?}",
                self.group
            )))
        }
    }

    /// A file to receive a snapshot into. Only its handle is needed: with the name gone
    /// at once, an abandoned or crashed transfer leaves nothing behind (the install
    /// copies what it keeps).
    pub(super) async fn receive(&self) -> Result<Box<tokio::fs::File>, RaftStorageError> {
        let receive = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            let path = self.dir.join(format!("receiving-{}.tmp", unique_suffix()));
            let file = tokio::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .await?;
            tokio::fs::remove_file(&path).await?;
            Ok::<_, io::Error>(Box::new(file))
        };
        receive
            .await
            .map_err(|e| raft_error(ErrorVerb::Write, e.into()))
    }

    pub(super) async fn current(&self) -> Result<Option<Snapshot>, RaftStorageError> {
        let read = |e: SnapshotError| raft_error(ErrorVerb::Read, e);
        let Some(record) = self.record().map_err(read)? else {
            return Ok(None);
        };
        let file = tokio::fs::File::open(self.dir.join(&record.file))
            .await
            .map_err(|e| read(e.into()))?;
        Ok(Some(Snapshot {
            meta: record.meta,
            snapshot: Box::new(file),
        }))
    }

    /// Installs the snapshot in `source`; blocking.
    fn install(&self, meta: SnapshotMeta, source: File) -> Result<(), SnapshotError> {
        let record = self.stage(meta, source)?;
        self.apply_file(&record)
    }

    /// Keeps a checked copy of the snapshot and records, durably, that its install has
    /// begun.
    fn stage(&self, meta: SnapshotMeta, mut source: File) -> Result<SnapshotRecord, SnapshotError> {
        source.seek(SeekFrom::Start(0))?;
        let mut input = FrameReader::new(BufReader::with_capacity(FILE_BUFFER_BYTES, source))?;
        let file = snapshot_file_name(&meta);
        self.create_dir()?;
        let path = self.dir.join(&file);
        write_file(&path.with_extension("tmp"), &path, |out| {
            let mut applied = None;
            while let Some(frame) = input.next_frame()? {
                if frame.tag == RECORD {
                    if let GroupRecord::Applied = state_record(&frame.key)? {
                        applied = Some(bincode::deserialize::<AppliedRecord>(&frame.value)?);
                    }
                } else if frame.tag == METADATA {
                    self.check_metadata_key(&frame.key)?;
                } else {
                    partition_cf(frame.tag)?;
                }
                out.frame(frame.tag, &frame.key, &frame.value)?;
            }
            match applied {
                Some(applied)
                    if applied.last_applied == meta.last_log_id
                        && applied.membership == meta.last_membership =>
                {
                    Ok(())
                }
                _ => Err(SnapshotError::Invalid(format!(
                    "the data is not of the state the snapshot's meta names ({meta})"
                ))),
            }
        })?;
        let record = SnapshotRecord {
            meta,
            file,
            installing: true,
        };
        self.publish(&record)?;
        Ok(record)
    }

    /// Replaces the partition's ranges and the state machine's records with the
    /// snapshot in the record's file, in bounded batches; the last one, synced, clears
    /// the record's `installing`.
    fn apply_file(&self, record: &SnapshotRecord) -> Result<(), SnapshotError> {
        let file = File::open(self.dir.join(&record.file))?;
        let mut input = FrameReader::new(BufReader::with_capacity(FILE_BUFFER_BYTES, file))?;
        let meta_cf = self.engine.cf(CF_META)?;
        let end = prefix_end(&self.prefix);
        let mut batch = WriteBatch::default();
        for cf in PARTITION_CFS {
            batch.delete_range_cf(self.engine.cf(cf)?, &self.prefix[..], &end[..]);
        }
        for prefix in self.metadata_prefixes() {
            batch.delete_range_cf(meta_cf, *prefix, &prefix_end(prefix)[..]);
        }
        // A record absent from the snapshot is absent after the install.
        let mut records = WriteBatch::default();
        for state in STATE_RECORDS {
            records.delete_cf(meta_cf, meta_keys::group(self.group, state));
        }
        let mut key = self.prefix.to_vec();
        while let Some(frame) = input.next_frame()? {
            if frame.tag == RECORD {
                let state = state_record(&frame.key)?;
                records.put_cf(meta_cf, meta_keys::group(self.group, state), &frame.value);
                continue;
            }
            if frame.tag == METADATA {
                self.check_metadata_key(&frame.key)?;
                batch.put_cf(meta_cf, &frame.key, &frame.value);
                continue;
            }
            key.truncate(self.prefix.len());
            key.extend_from_slice(&frame.key);
            batch.put_cf(
                self.engine.cf(partition_cf(frame.tag)?)?,
                &key,
                &frame.value,
            );
            if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
                self.engine.write(std::mem::take(&mut batch))?;
                crash_point("snapshot-install-batch");
            }
        }
        self.engine.write(batch)?;
        let finished = SnapshotRecord {
            installing: false,
            ..record.clone()
        };
        records.put_cf(meta_cf, self.record_key(), bincode::serialize(&finished)?);
        let _guard = self
            .record_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.engine.write_synced(records)?;
        Ok(())
    }
}

/// Builds the snapshot whose state [`Snapshots::builder`] fixed.
pub struct SnapshotBuilder {
    build: Option<JoinHandle<Result<(SnapshotMeta, File), SnapshotError>>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, RaftStorageError> {
        let write = |e: SnapshotError| raft_error(ErrorVerb::Write, e);
        let build = self.build.take().ok_or_else(|| {
            write(SnapshotError::Invalid(
                "this builder's snapshot was already built".into(),
            ))
        })?;
        let (meta, file) = build.await.map_err(|e| write(e.into()))?.map_err(write)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }
}

impl StateMachine {
    /// Installs a snapshot off the runtime's workers, then reloads what the state
    /// machine keeps in memory.
    pub(super) async fn install_snapshot_file(
        &mut self,
        meta: &SnapshotMeta,
        data: Box<tokio::fs::File>,
    ) -> Result<(), RaftStorageError> {
        let write = |e: SnapshotError| raft_error(ErrorVerb::Write, e);
        let source = (*data).into_std().await;
        let snapshots = self.snapshots.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || snapshots.install(meta, source))
            .await
            .map_err(|e| write(e.into()))?
            .map_err(write)?;
        let read = |e: StorageError| raft_error(ErrorVerb::Read, e.into());
        self.applied = read_record(&self.engine, self.group, GroupRecord::Applied)
            .map_err(read)?
            .unwrap_or_default();
        self.stats.store(
            read_record(&self.engine, self.group, GroupRecord::Stats)
                .map_err(read)?
                .unwrap_or_default(),
        );
        if let Some(schema) =
            read_record(&self.engine, self.group, GroupRecord::Schema).map_err(read)?
        {
            self.schema.set(schema);
        }
        self.locks.clear();
        self.load_locks().map_err(read)?;
        Ok(())
    }
}
