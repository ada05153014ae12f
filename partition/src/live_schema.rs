//! What a table's writes maintain besides the item right now: its indexes, its
//! stream and its expiry index. The node changes them together with the catalog; the table's state machines
//! read them at every apply, so every write applied after a change (in each
//! partition's log order) sees it.

use std::sync::{Arc, RwLock};

use cirrus_storage::index::{IndexKeyError, IndexSpec};
use cirrus_storage::{Item, KeySchema};

use crate::catalog::{IndexKind, TableDescriptor, ViewType};

/// The stream a write feeds: its id and what its records keep.
#[derive(Debug, Clone, Copy)]
pub struct StreamTarget {
    pub stream_id: u32,
    pub view: ViewType,
}

/// One version of what a table's writes maintain.
pub struct WriteSchema {
    pub table_keys: KeySchema,
    pub specs: Vec<IndexSpec>,
    /// The local indexes among `specs`; with any, item-collection sizes are kept.
    pub local_ids: Vec<u16>,
    /// The largest item collection a write may leave (DynamoDB: 10 GB).
    pub collection_limit: u64,
    pub stream: Option<StreamTarget>,
    /// The TTL attribute, while TTL is enabled: writes keep the expiry index.
    pub ttl_attribute: Option<String>,
}

impl WriteSchema {
    pub fn spec(&self, id: u16) -> Option<&IndexSpec> {
        self.specs.iter().find(|spec| spec.id == id)
    }

    /// Whether applying a write needs the old and new items decoded.
    pub fn needs_items(&self) -> bool {
        !self.specs.is_empty() || self.ttl_attribute.is_some()
    }

    /// Checks an item about to be written against every index's key types.
    pub fn check(&self, item: &Item) -> Result<(), IndexKeyError> {
        self.specs.iter().try_for_each(|spec| spec.check(item))
    }
}

pub struct LiveSchema {
    current: RwLock<Arc<WriteSchema>>,
    collection_limit: u64,
}

impl LiveSchema {
    pub fn new(descriptor: &TableDescriptor, collection_limit: u64) -> Arc<LiveSchema> {
        Arc::new(LiveSchema {
            current: RwLock::new(Arc::new(Self::set_of(descriptor, collection_limit))),
            collection_limit,
        })
    }

    fn set_of(descriptor: &TableDescriptor, collection_limit: u64) -> WriteSchema {
        WriteSchema {
            table_keys: descriptor.key_schema.clone(),
            specs: descriptor.maintained_indexes(),
            local_ids: descriptor
                .indexes
                .iter()
                .filter(|index| index.kind == IndexKind::Local)
                .map(|index| index.spec.id)
                .collect(),
            collection_limit,
            stream: descriptor.enabled_stream().map(|stream| StreamTarget {
                stream_id: stream.stream_id,
                view: stream.view,
            }),
            ttl_attribute: descriptor.ttl_attribute.clone(),
        }
    }

    pub fn get(&self) -> Arc<WriteSchema> {
        // The lock guards a single pointer swap, so a poisoned lock is still consistent.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn update(&self, descriptor: &TableDescriptor) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Arc::new(Self::set_of(descriptor, self.collection_limit));
    }
}
