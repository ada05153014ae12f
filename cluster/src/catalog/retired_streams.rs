//! The catalog's record of a deleted table's streams, which DynamoDB keeps readable
//! (disabled) until their records age out. `cirrus-streams` lists and forgets them.

use serde::{Deserialize, Serialize};

use cirrus_partition::catalog::{KeySchema, StreamDescriptor, TableDescriptor};
use cirrus_partition::error::PartitionError;
use cirrus_partition::meta_keys;

/// What the Streams API needs to know about a table with streams.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamOwner {
    pub table_name: String,
    /// The table's region; empty only in records written before regions existed, which
    /// `Node::open` assigns to the default region once.
    #[serde(default)]
    pub region: String,
    pub table_id: u32,
    pub partitions: u16,
    pub key_schema: KeySchema,
    pub streams: Vec<StreamDescriptor>,
    /// Epoch seconds when the table was deleted; `None` for a live table.
    pub deleted_at: Option<f64>,
}

impl StreamOwner {
    pub fn of(descriptor: &TableDescriptor) -> StreamOwner {
        StreamOwner {
            table_name: descriptor.name.clone(),
            region: descriptor.region.clone(),
            table_id: descriptor.table_id,
            partitions: descriptor.partitions,
            key_schema: descriptor.key_schema.clone(),
            streams: descriptor.streams.clone(),
            deleted_at: None,
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<StreamOwner, PartitionError> {
        serde_json::from_slice(bytes).map_err(|e| PartitionError::Corrupt(e.to_string()))
    }

    /// The catalog record that keeps a deleted table's streams (all disabled now), and
    /// with them their records.
    pub(crate) fn retired_record(
        descriptor: &TableDescriptor,
        now: f64,
    ) -> Result<(Vec<u8>, Vec<u8>), PartitionError> {
        let mut owner = StreamOwner::of(descriptor);
        for stream in &mut owner.streams {
            stream.disabled_at.get_or_insert(now);
        }
        owner.deleted_at = Some(now);
        let bytes =
            serde_json::to_vec(&owner).map_err(|e| PartitionError::Corrupt(e.to_string()))?;
        Ok((meta_keys::retired_streams(descriptor.table_id), bytes))
    }
}
