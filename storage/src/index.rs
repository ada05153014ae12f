//! Secondary-index entries: whether an item belongs in an index, the entry's key, and
//! the projected attributes it holds.
//!
//! An entry lives in the `indexes` column family, in the base item's partition:
//! `table_id u32 | partition u16 | index_id u16 | enc(index pk) | enc(index sk) |
//! table key` (the item's: `hash u64 | enc(table pk) | enc(table sk)`) → stored item of the projected attributes. Keeping
//! the entry next to its item lets one write batch change both, so an index can never
//! lose or duplicate an entry; the table key at the end keeps entries with equal index
//! keys distinct and in a stable order.

use serde::{Deserialize, Serialize};

use crate::codec::encode_item;
use crate::engine::{partition_prefix, StoredItem};
use crate::key::encode_key_value;
use crate::key_schema::KeySchema;
use crate::limits::{key_roles, oversized_key};
use crate::size::item_size;
use crate::value::{AttributeValue, Item};

/// The id under which a partition keeps, for a table with local indexes, the size of
/// each item collection (the items of one partition-key value and their local-index
/// entries): `table_id | partition | COLLECTION_SIZES | enc(pk)` → size, i64 LE. No
/// index gets this id.
pub const COLLECTION_SIZES: u16 = u16::MAX;

/// Which attributes an index entry holds besides the table and index keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projected {
    KeysOnly,
    Include(Vec<String>),
    All,
}

/// What the write path needs to know about one index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSpec {
    /// Unique within the table and never reused, so entries of a dropped index can
    /// never be mistaken for a new one's.
    pub id: u16,
    pub name: String,
    pub key_schema: KeySchema,
    pub projection: Projected,
}

/// An item whose index key attribute cannot be indexed; the message is DynamoDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexKeyError {
    #[error(
        "One or more parameter values were invalid: Type mismatch for Index Key {attribute} \
         Expected: {expected} Actual: {actual} IndexName: {index}"
    )]
    TypeMismatch {
        attribute: String,
        expected: &'static str,
        actual: &'static str,
        index: String,
    },
    #[error(
        "One or more parameter values are not valid. A value specified for a secondary index key \
         is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} \
         value. IndexName: {index}, IndexKey: {attribute}"
    )]
    Empty {
        kind: &'static str,
        attribute: String,
        index: String,
    },
    #[error(
        "One or more parameter values were invalid: Size limit exceeded for Index Key {attribute} \
         Actual Size: {actual} bytes Max Size: {max} bytes IndexName: {index}"
    )]
    TooLarge {
        attribute: String,
        actual: usize,
        max: usize,
        index: String,
    },
}

/// One index entry, ready for a write batch.
pub struct IndexEntry {
    pub key: Vec<u8>,
    /// A [`StoredItem`] of the projected attributes.
    pub value: Vec<u8>,
}

/// The prefix of every entry of one index in one partition.
pub fn index_prefix(table_id: u32, partition: u16, index_id: u16) -> [u8; 8] {
    let mut prefix = [0u8; 8];
    prefix[..6].copy_from_slice(&partition_prefix(table_id, partition));
    prefix[6..].copy_from_slice(&index_id.to_be_bytes());
    prefix
}

impl IndexSpec {
    /// Checks the item's index key attributes, when present, against their declared
    /// types. An item without them is simply not in the index (a sparse index).
    pub fn check(&self, item: &Item) -> Result<(), IndexKeyError> {
        for (attribute, role) in key_roles(&self.key_schema) {
            let Some(value) = item.get(&attribute.name) else {
                continue;
            };
            if value.scalar_type() != Some(attribute.ty) {
                return Err(IndexKeyError::TypeMismatch {
                    attribute: attribute.name.clone(),
                    expected: attribute.ty.name(),
                    actual: value.type_name(),
                    index: self.name.clone(),
                });
            }
            let empty = match value {
                AttributeValue::S(_) => "string",
                _ => "binary",
            };
            if is_empty(value) {
                return Err(IndexKeyError::Empty {
                    kind: empty,
                    attribute: attribute.name.clone(),
                    index: self.name.clone(),
                });
            }
            if let Some(actual) = oversized_key(value, role) {
                return Err(IndexKeyError::TooLarge {
                    attribute: attribute.name.clone(),
                    actual,
                    max: role.max_bytes(),
                    index: self.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// The key of the item's entry, or `None` when the item is not in the index.
    /// `table_key` is the item's table key (see [`crate::engine::append_table_key`]).
    pub fn entry_key(&self, prefix: &[u8; 8], item: &Item, table_key: &[u8]) -> Option<Vec<u8>> {
        let mut key = Vec::with_capacity(prefix.len() + 32 + table_key.len());
        key.extend_from_slice(prefix);
        for (attribute, role) in key_roles(&self.key_schema) {
            let value = item.get(&attribute.name)?;
            // Items whose index key is of the wrong type, empty or too large (written
            // before the index existed) stay out of it, as in DynamoDB: a backfill
            // passes over them ("index key violations").
            if value.scalar_type() != Some(attribute.ty)
                || is_empty(value)
                || oversized_key(value, role).is_some()
            {
                return None;
            }
            encode_key_value(value, &mut key).ok()?;
        }
        key.extend_from_slice(table_key);
        Some(key)
    }

    /// The item's entry, or `None` when the item is not in the index.
    pub fn entry(
        &self,
        prefix: &[u8; 8],
        item: &Item,
        table_key: &[u8],
        table_keys: &KeySchema,
    ) -> Option<IndexEntry> {
        let key = self.entry_key(prefix, item, table_key)?;
        let value = match &self.projection {
            Projected::All => stored(item),
            _ => stored(&self.project(item, table_keys)),
        };
        Some(IndexEntry { key, value })
    }

    /// The attributes of `item` this index holds: the table and index keys, plus the
    /// projected attributes.
    pub fn project(&self, item: &Item, table_keys: &KeySchema) -> Item {
        if self.projection == Projected::All {
            return item.clone();
        }
        let included = match &self.projection {
            Projected::Include(names) => names.as_slice(),
            _ => &[],
        };
        let names = table_keys
            .attributes()
            .chain(self.key_schema.attributes())
            .map(|attribute| &attribute.name)
            .chain(included);
        let mut projected = Item::new();
        for name in names {
            if let Some(value) = item.get(name) {
                projected.insert(name.clone(), value.clone());
            }
        }
        projected
    }

    /// Whether the attribute `name` is in this index's entries.
    pub fn projects(&self, name: &str, table_keys: &KeySchema) -> bool {
        let is_key = table_keys.is_key_attribute(name) || self.key_schema.is_key_attribute(name);
        match &self.projection {
            Projected::All => true,
            Projected::Include(names) => is_key || names.iter().any(|n| n == name),
            Projected::KeysOnly => is_key,
        }
    }
}

fn is_empty(value: &AttributeValue) -> bool {
    match value {
        AttributeValue::S(s) => s.is_empty(),
        AttributeValue::B(b) => b.is_empty(),
        _ => false,
    }
}

impl IndexKeyError {
    /// The attribute with the bad value.
    pub fn attribute(&self) -> &str {
        match self {
            IndexKeyError::TypeMismatch { attribute, .. }
            | IndexKeyError::Empty { attribute, .. }
            | IndexKeyError::TooLarge { attribute, .. } => attribute,
        }
    }

    /// The message when an UpdateItem (rather than a put) set the bad value.
    pub fn update_message(&self) -> String {
        match self {
            IndexKeyError::Empty { kind, .. } => format!(
                "One or more parameter values are not valid. The update expression attempted to \
                 update a secondary index key to a value that is not supported. The AttributeValue \
                 for a key attribute cannot contain an empty {kind} value."
            ),
            other => other.to_string(),
        }
    }
}

fn stored(item: &Item) -> Vec<u8> {
    let size = item_size(item);
    let mut codec_bytes = Vec::with_capacity(size + 16);
    encode_item(item, &mut codec_bytes);
    // An index entry is never larger than its item, which is at most 400 KB.
    StoredItem::encode(size as u32, &codec_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_schema::KeyAttribute;
    use crate::value::ScalarType;

    fn string(name: &str) -> KeyAttribute {
        KeyAttribute {
            name: name.into(),
            ty: ScalarType::S,
        }
    }

    fn schema(pk: &str, sk: Option<&str>) -> KeySchema {
        KeySchema::simple(string(pk), sk.map(string))
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    #[test]
    fn multi_attribute_entries_are_sparse_and_sort_by_each_attribute() {
        let number = |name: &str| KeyAttribute {
            name: name.into(),
            ty: ScalarType::N,
        };
        let spec = IndexSpec {
            id: 1,
            name: "g".into(),
            key_schema: KeySchema::multi(
                vec![string("h1"), string("h2")],
                vec![number("r1"), string("r2")],
            )
            .unwrap(),
            projection: Projected::KeysOnly,
        };
        let table = schema("pk", None);
        let prefix = index_prefix(1, 0, 1);
        let n = |v: &str| AttributeValue::N(crate::Number::parse(v).unwrap());
        let full = |r1: &str, r2: &str| {
            item(&[
                ("pk", s("p")),
                ("h1", s("a")),
                ("h2", s("b")),
                ("r1", n(r1)),
                ("r2", s(r2)),
            ])
        };
        // Numbers compare numerically before the next attribute is looked at.
        let keys: Vec<Vec<u8>> = [("9", "z"), ("10", "a"), ("10", "b")]
            .iter()
            .map(|(r1, r2)| spec.entry_key(&prefix, &full(r1, r2), b"k").unwrap())
            .collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        for missing in ["h1", "h2", "r1", "r2"] {
            let mut sparse = full("1", "a");
            sparse.remove(missing);
            assert!(
                spec.entry_key(&prefix, &sparse, b"k").is_none(),
                "{missing}"
            );
        }
        let projected = spec.project(&full("1", "a"), &table);
        assert_eq!(
            projected.keys().collect::<Vec<_>>(),
            ["h1", "h2", "pk", "r1", "r2"]
        );
    }

    #[test]
    fn sparse_items_have_no_entry_and_projection_keeps_keys() {
        let table = schema("pk", None);
        let spec = IndexSpec {
            id: 1,
            name: "g".into(),
            key_schema: schema("gpk", Some("gsk")),
            projection: Projected::Include(vec!["a".into()]),
        };
        let prefix = index_prefix(1, 0, 1);
        let sparse = item(&[("pk", s("1")), ("gpk", s("x"))]);
        assert!(spec.entry(&prefix, &sparse, b"k", &table).is_none());
        let full = item(&[
            ("pk", s("1")),
            ("gpk", s("x")),
            ("gsk", s("y")),
            ("a", s("kept")),
            ("b", s("dropped")),
        ]);
        let projected = spec.project(&full, &table);
        assert_eq!(
            projected.keys().collect::<Vec<_>>(),
            ["a", "gpk", "gsk", "pk"]
        );
        assert!(spec.entry(&prefix, &full, b"k", &table).is_some());
        let wrong = item(&[("pk", s("1")), ("gpk", AttributeValue::Bool(true))]);
        assert!(matches!(
            spec.check(&wrong),
            Err(IndexKeyError::TypeMismatch { .. })
        ));
        assert!(matches!(
            spec.check(&item(&[("gsk", s(""))])),
            Err(IndexKeyError::Empty { .. })
        ));
    }

    #[test]
    fn oversized_index_keys_are_refused_and_never_indexed() {
        let table = schema("pk", None);
        let spec = IndexSpec {
            id: 1,
            name: "g".into(),
            key_schema: schema("gpk", Some("gsk")),
            projection: Projected::KeysOnly,
        };
        let prefix = index_prefix(1, 0, 1);
        let at_limit = item(&[("gpk", s(&"p".repeat(2048))), ("gsk", s(&"s".repeat(1024)))]);
        assert_eq!(spec.check(&at_limit), Ok(()));
        assert!(spec.entry(&prefix, &at_limit, b"k", &table).is_some());
        let big_sort = item(&[("gpk", s("p")), ("gsk", s(&"s".repeat(1025)))]);
        assert_eq!(
            spec.check(&big_sort).unwrap_err().to_string(),
            "One or more parameter values were invalid: Size limit exceeded for Index Key gsk \
             Actual Size: 1025 bytes Max Size: 1024 bytes IndexName: g"
        );
        assert!(spec.entry(&prefix, &big_sort, b"k", &table).is_none());
        let big_partition = item(&[("gpk", s(&"p".repeat(2049))), ("gsk", s("s"))]);
        assert!(matches!(
            spec.check(&big_partition),
            Err(IndexKeyError::TooLarge {
                actual: 2049,
                max: 2048,
                ..
            })
        ));
        assert!(spec.entry(&prefix, &big_partition, b"k", &table).is_none());
    }
}
