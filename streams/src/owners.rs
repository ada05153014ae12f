//! Which tables own streams: live tables, and deleted tables whose streams DynamoDB
//! keeps readable (disabled) until their records age out (the catalog's retired-stream
//! records).

use cirrus_cluster::{Node, StreamOwner};
use cirrus_partition::blocking;
use cirrus_partition::command::MetadataChange;
use cirrus_partition::error::PartitionError;
use cirrus_partition::meta_keys;
use cirrus_partition::table_removal::remove_change_records;
use cirrus_storage::engine::{prefix_end, CF_META};

/// Every table with streams: live ones first (by name), then deleted ones.
pub fn stream_owners(node: &Node) -> Result<Vec<StreamOwner>, PartitionError> {
    let mut owners: Vec<StreamOwner> = node
        .tables_snapshot()
        .iter()
        .filter(|t| !t.descriptor().streams.is_empty())
        .map(|t| StreamOwner::of(t.descriptor()))
        .collect();
    let start = meta_keys::RETIRED_STREAMS_PREFIX;
    let mut retired = Vec::new();
    node.engine()
        .scan(CF_META, start, &prefix_end(start), |_, value| {
            retired.push(value.to_vec());
            Ok(true)
        })?;
    for bytes in retired {
        owners.push(StreamOwner::decode(&bytes)?);
    }
    Ok(owners)
}

/// The owner of the streams of table `table_id`, live or deleted.
pub fn stream_owner(node: &Node, table_id: u32) -> Result<Option<StreamOwner>, PartitionError> {
    if let Some(table) = node.live_table(table_id) {
        return Ok(Some(StreamOwner::of(table.descriptor())));
    }
    match node
        .engine()
        .get(CF_META, &meta_keys::retired_streams(table_id))?
    {
        Some(bytes) => StreamOwner::decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Forgets a deleted table's streams (a catalog change, which every node follows by
/// removing their remaining records) and removes their records here.
pub async fn forget_retired_streams(node: &Node, table_id: u32) -> Result<(), PartitionError> {
    let key = meta_keys::retired_streams(table_id);
    let Some(record) = node.engine().get(CF_META, &key)?.map(|v| v.to_vec()) else {
        return Ok(());
    };
    // Another node may forget them first; then there is nothing left to change.
    match node
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
    let engine = node.engine().clone();
    blocking::run(move || remove_change_records(&engine, table_id)).await
}
