//! What a table's writes maintain besides the item — its indexes, its stream and its
//! expiry index — as each partition's Raft log says. A schema change is a
//! `Command::SetSchema` entry in every partition's log, so each write is applied (and
//! replayed after a crash, or on another replica) under exactly the schema that preceded
//! it in that log, never under whatever the catalog held when the apply happened to run.

use std::sync::{Arc, RwLock};

use cirrus_storage::index::{IndexKeyError, IndexSpec};
use cirrus_storage::{Item, KeyAttribute, KeySchema, ScalarType};
use serde::{Deserialize, Serialize};

use crate::catalog::{IndexKind, TableDescriptor, ViewType};

/// The stream a write feeds: its id and what its records keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamTarget {
    pub stream_id: u32,
    pub view: ViewType,
}

/// One version of what a table's writes maintain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteSchema {
    /// The table descriptor's `schema_version` this was made from; a group applies a
    /// `SetSchema` only when it is newer than what it has.
    pub version: u64,
    pub table_keys: KeySchema,
    pub specs: Vec<IndexSpec>,
    /// The local indexes among `specs`; with any, item-collection sizes are kept.
    pub local_ids: Vec<u16>,
    pub stream: Option<StreamTarget>,
    /// The TTL attribute, while TTL is enabled: writes keep the expiry index.
    pub ttl_attribute: Option<String>,
}

impl WriteSchema {
    pub fn of(descriptor: &TableDescriptor) -> WriteSchema {
        WriteSchema {
            version: descriptor.schema_version,
            table_keys: descriptor.key_schema.clone(),
            specs: descriptor.maintained_indexes(),
            local_ids: descriptor
                .indexes
                .iter()
                .filter(|index| index.kind == IndexKind::Local)
                .map(|index| index.spec.id)
                .collect(),
            stream: descriptor.enabled_stream().map(|stream| StreamTarget {
                stream_id: stream.stream_id,
                view: stream.view,
            }),
            ttl_attribute: descriptor.ttl_attribute.clone(),
        }
    }

    /// What the metadata group's writes maintain: nothing but their records. (Its state
    /// machine is a partition's; the key schema is never used, as it holds no items.)
    pub fn metadata() -> WriteSchema {
        let key = KeyAttribute {
            name: "key".into(),
            ty: ScalarType::B,
        };
        WriteSchema {
            version: 1,
            table_keys: KeySchema::simple(key, None),
            specs: Vec::new(),
            local_ids: Vec::new(),
            stream: None,
            ttl_attribute: None,
        }
    }

    /// Whether two schemas make writes maintain the same things, whatever their versions.
    pub fn same_maintenance(&self, other: &WriteSchema) -> bool {
        WriteSchema {
            version: other.version,
            ..self.clone()
        } == *other
    }

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

/// The schema a partition's state machine has applied, shared read-only with the node
/// (which compares versions with the catalog at start-up).
#[derive(Debug)]
pub struct AppliedSchema(RwLock<Arc<WriteSchema>>);

impl AppliedSchema {
    pub fn new(schema: WriteSchema) -> Arc<AppliedSchema> {
        Arc::new(AppliedSchema(RwLock::new(Arc::new(schema))))
    }

    pub fn get(&self) -> Arc<WriteSchema> {
        // The lock guards a single pointer swap, so a poisoned lock is still consistent.
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Only the state machine calls this, when it applies a `SetSchema` entry.
    pub(crate) fn set(&self, schema: WriteSchema) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(schema);
    }
}
