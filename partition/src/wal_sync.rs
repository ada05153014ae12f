//! Group commit: one fsync of the shared write-ahead log covers every Raft append that
//! arrived while the previous fsync was running, across all partitions of the node.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::thread;

use cirrus_storage::engine::Engine;
use openraft::storage::LogFlushed;

use crate::raft_types::TypeConfig;

/// Hands appended-but-unsynced Raft entries to the syncer thread.
#[derive(Clone)]
pub struct WalSyncer {
    pending: mpsc::Sender<LogFlushed<TypeConfig>>,
    fsyncs: Arc<AtomicU64>,
}

impl WalSyncer {
    /// The syncer holds the engine weakly, so that closing the node closes RocksDB
    /// without waiting for this thread.
    pub fn start(engine: Weak<Engine>) -> std::io::Result<WalSyncer> {
        let (pending, waiting) = mpsc::channel::<LogFlushed<TypeConfig>>();
        let fsyncs = Arc::new(AtomicU64::new(0));
        let counter = fsyncs.clone();
        thread::Builder::new()
            .name("wal-sync".into())
            .spawn(move || {
                // Ends when every sender (every log store) is gone.
                while let Ok(first) = waiting.recv() {
                    let mut group = vec![first];
                    group.extend(waiting.try_iter());
                    let result = match engine.upgrade() {
                        Some(engine) => engine.sync_wal(),
                        None => Err(cirrus_storage::StorageError::Corrupt(
                            "the node is closed".into(),
                        )),
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    for flushed in group {
                        let outcome = match &result {
                            Ok(()) => Ok(()),
                            Err(e) => Err(std::io::Error::other(e.to_string())),
                        };
                        flushed.log_io_completed(outcome);
                    }
                }
            })?;
        Ok(WalSyncer { pending, fsyncs })
    }

    /// How many group fsyncs have run: with concurrent writers, far fewer than appends.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Reports `flushed` once the WAL holding the caller's writes is on disk.
    pub fn sync_then_report(&self, flushed: LogFlushed<TypeConfig>) -> Result<(), std::io::Error> {
        self.pending
            .send(flushed)
            .map_err(|_| std::io::Error::other("the WAL syncer has stopped"))
    }
}
