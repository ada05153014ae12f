//! A digest of a group's replicated state: a hash of everything a snapshot of it would
//! hold, with the log index it was taken at. Replicas that applied the same entries —
//! one by one or through a snapshot — have equal digests at equal indexes; tests compare
//! them across nodes (`cirrus cluster status --digests`).

use std::io;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::{FrameWriter, SnapshotError, Snapshots};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateDigest {
    /// The last log index the state reflects.
    pub applied_index: Option<u64>,
    /// 128 bits of XXH3 over the snapshot's records, in hex.
    pub digest: String,
}

/// Feeds what is written to the hash.
struct Hashing(Xxh3);

impl io::Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Snapshots {
    /// The group's state digest as of now (it reads a RocksDB snapshot: one applied
    /// index, whatever is applied meanwhile).
    pub(crate) fn digest(&self) -> Result<StateDigest, cirrus_storage::StorageError> {
        let view = self.engine.view();
        let applied = self.applied(&view)?;
        let mut out = FrameWriter::new(Hashing(Xxh3::new())).map_err(SnapshotError::from)?;
        self.write_view(&view, &mut out)?;
        let Hashing(hasher) = out.finish().map_err(SnapshotError::from)?;
        Ok(StateDigest {
            applied_index: applied.last_applied.map(|id| id.index),
            digest: format!("{:032x}", hasher.digest128()),
        })
    }
}
