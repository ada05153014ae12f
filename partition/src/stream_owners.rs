//! Who owns streams: live tables, and deleted tables whose streams DynamoDB keeps
//! readable (disabled) until their records age out.

use cirrus_storage::engine::{prefix_end, CF_META};
use serde::{Deserialize, Serialize};

use crate::blocking;
use crate::catalog::{KeySchema, StreamDescriptor, TableDescriptor};
use crate::command::MetadataChange;
use crate::error::PartitionError;
use crate::meta_keys;
use crate::node::Node;
use crate::table_removal::remove_change_records;

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
}

fn decode(bytes: &[u8]) -> Result<StreamOwner, PartitionError> {
    serde_json::from_slice(bytes).map_err(|e| PartitionError::Corrupt(e.to_string()))
}

impl Node {
    /// Every table with streams: live ones first (by name), then deleted ones.
    pub fn stream_owners(&self) -> Result<Vec<StreamOwner>, PartitionError> {
        let mut owners: Vec<StreamOwner> = self
            .tables_snapshot()
            .iter()
            .filter(|t| !t.descriptor().streams.is_empty())
            .map(|t| StreamOwner::of(t.descriptor()))
            .collect();
        let start = meta_keys::RETIRED_STREAMS_PREFIX;
        let mut retired = Vec::new();
        self.engine()
            .scan(CF_META, start, &prefix_end(start), |_, value| {
                retired.push(value.to_vec());
                Ok(true)
            })?;
        for bytes in retired {
            owners.push(decode(&bytes)?);
        }
        Ok(owners)
    }

    /// The owner of the streams of table `table_id`, live or deleted.
    pub fn stream_owner(&self, table_id: u32) -> Result<Option<StreamOwner>, PartitionError> {
        if let Some(table) = self
            .tables_snapshot()
            .iter()
            .find(|t| t.descriptor().table_id == table_id)
        {
            return Ok(Some(StreamOwner::of(table.descriptor())));
        }
        match self
            .engine()
            .get(CF_META, &meta_keys::retired_streams(table_id))?
        {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The catalog record that keeps a deleted table's streams (all disabled now), and
    /// with them their records.
    pub(crate) fn retired_streams_record(
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

    /// Forgets a deleted table's streams (a catalog change, which every node follows by
    /// removing their remaining records) and removes their records here.
    pub async fn forget_retired_streams(&self, table_id: u32) -> Result<(), PartitionError> {
        let key = meta_keys::retired_streams(table_id);
        let Some(record) = self.engine().get(CF_META, &key)?.map(|v| v.to_vec()) else {
            return Ok(());
        };
        // Another node may forget them first; then there is nothing left to change.
        match self
            .change_metadata(MetadataChange {
                expect: vec![(key.clone(), Some(record))],
                put: Vec::new(),
                delete: vec![key],
            })
            .await
        {
            Ok(()) | Err(PartitionError::CatalogConflict) => {}
            Err(e) => return Err(e),
        }
        let engine = self.engine().clone();
        blocking::run(move || remove_change_records(&engine, table_id)).await
    }
}
