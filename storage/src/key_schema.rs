//! Key schemas: which attributes form a table's or an index's key, and their types.
//!
//! A table or a local index has one partition-key attribute and at most one sort-key
//! attribute. A global index may have up to four of each (DynamoDB's multi-attribute
//! keys): its partition key is the tuple of its partition-key attributes, and its
//! entries sort by the sort-key attributes in order, each by its own type.
//!
//! The serialized form stays readable by (and, for one-attribute keys, identical to)
//! the form of the one-attribute schema this replaced, because it lives in catalogs
//! (JSON), in Raft log entries and in every partition's applied write schema (bincode)
//! of existing data directories; see [`KeySchema`]'s `Serialize` impl.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::value::ScalarType;

/// The most attributes a global index's partition key, or its sort key, may have.
pub const MAX_KEY_PART_ATTRIBUTES: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttribute {
    pub name: String,
    pub ty: ScalarType,
}

/// The attributes of a key, in the order the key schema lists them: the partition
/// key's, then the sort key's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    partition_key: KeyAttribute,
    /// The partition key's attributes after the first (global indexes only).
    more_partition_keys: Vec<KeyAttribute>,
    sort_keys: Vec<KeyAttribute>,
}

impl KeySchema {
    /// A key of one partition-key attribute and at most one sort-key attribute: every
    /// table's and every local index's.
    pub fn simple(partition_key: KeyAttribute, sort_key: Option<KeyAttribute>) -> KeySchema {
        KeySchema {
            partition_key,
            more_partition_keys: Vec::new(),
            sort_keys: sort_key.into_iter().collect(),
        }
    }

    /// A key of several partition-key and sort-key attributes, in order; `None` without
    /// a partition-key attribute.
    pub fn multi(
        partition_keys: Vec<KeyAttribute>,
        sort_keys: Vec<KeyAttribute>,
    ) -> Option<KeySchema> {
        let mut partition_keys = partition_keys.into_iter();
        Some(KeySchema {
            partition_key: partition_keys.next()?,
            more_partition_keys: partition_keys.collect(),
            sort_keys,
        })
    }

    /// The first partition-key attribute: a table's or a local index's only one.
    pub fn partition_key(&self) -> &KeyAttribute {
        &self.partition_key
    }

    /// The first sort-key attribute: a table's or a local index's only one.
    pub fn sort_key(&self) -> Option<&KeyAttribute> {
        self.sort_keys.first()
    }

    /// Every partition-key attribute, in order.
    pub fn partition_keys(&self) -> impl Iterator<Item = &KeyAttribute> {
        std::iter::once(&self.partition_key).chain(&self.more_partition_keys)
    }

    /// Every sort-key attribute, in order.
    pub fn sort_keys(&self) -> &[KeyAttribute] {
        &self.sort_keys
    }

    /// Whether either part of the key has more than one attribute.
    pub fn is_multi_attribute(&self) -> bool {
        !self.more_partition_keys.is_empty() || self.sort_keys.len() > 1
    }

    /// Whether `name` is one of the key's attributes.
    pub fn is_key_attribute(&self, name: &str) -> bool {
        self.attributes().any(|attribute| attribute.name == name)
    }

    /// The partition-key attributes, then the sort-key attributes.
    pub fn attributes(&self) -> impl Iterator<Item = &KeyAttribute> {
        self.partition_keys().chain(&self.sort_keys)
    }
}

/// The serialized form of a human-readable format (the catalog's JSON): the fields of
/// the one-attribute schema, plus the further attributes only when there are any.
#[derive(Serialize, Deserialize)]
struct KeySchemaDocument {
    partition_key: KeyAttribute,
    sort_key: Option<KeyAttribute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    more_partition_keys: Vec<KeyAttribute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    more_sort_keys: Vec<KeyAttribute>,
}

/// In a binary format (bincode), the one-attribute schema was the tuple `(partition
/// key, Option<sort key>)`, whose option tag is a byte: 0 (no sort key) or 1 (a sort
/// key follows). Tag 2 extends it: the further partition-key attributes and all the
/// sort-key attributes follow, as two sequences. A one-attribute schema is written
/// exactly as before.
const NO_SORT_KEY: u8 = 0;
const ONE_SORT_KEY: u8 = 1;
const MULTI_ATTRIBUTE: u8 = 2;

impl Serialize for KeySchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let mut sort_keys = self.sort_keys.iter().cloned();
            return KeySchemaDocument {
                partition_key: self.partition_key.clone(),
                sort_key: sort_keys.next(),
                more_partition_keys: self.more_partition_keys.clone(),
                more_sort_keys: sort_keys.collect(),
            }
            .serialize(serializer);
        }
        if self.is_multi_attribute() {
            let mut tuple = serializer.serialize_tuple(4)?;
            tuple.serialize_element(&self.partition_key)?;
            tuple.serialize_element(&MULTI_ATTRIBUTE)?;
            tuple.serialize_element(&self.more_partition_keys)?;
            tuple.serialize_element(&self.sort_keys)?;
            return tuple.end();
        }
        let sort_key = self.sort_key();
        let mut tuple = serializer.serialize_tuple(2 + usize::from(sort_key.is_some()))?;
        tuple.serialize_element(&self.partition_key)?;
        match sort_key {
            Some(sort_key) => {
                tuple.serialize_element(&ONE_SORT_KEY)?;
                tuple.serialize_element(sort_key)?;
            }
            None => tuple.serialize_element(&NO_SORT_KEY)?,
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for KeySchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeySchema, D::Error> {
        if deserializer.is_human_readable() {
            let document = KeySchemaDocument::deserialize(deserializer)?;
            let sort_keys = document
                .sort_key
                .into_iter()
                .chain(document.more_sort_keys)
                .collect();
            return Ok(KeySchema {
                partition_key: document.partition_key,
                more_partition_keys: document.more_partition_keys,
                sort_keys,
            });
        }
        deserializer.deserialize_tuple(4, BinaryKeySchema)
    }
}

struct BinaryKeySchema;

impl<'de> Visitor<'de> for BinaryKeySchema {
    type Value = KeySchema;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a key schema")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeySchema, A::Error> {
        let missing = |at| de::Error::invalid_length(at, &self);
        let partition_key: KeyAttribute = seq.next_element()?.ok_or_else(|| missing(0))?;
        let tag: u8 = seq.next_element()?.ok_or_else(|| missing(1))?;
        let (more_partition_keys, sort_keys) = match tag {
            NO_SORT_KEY => (Vec::new(), Vec::new()),
            ONE_SORT_KEY => (
                Vec::new(),
                vec![seq.next_element()?.ok_or_else(|| missing(2))?],
            ),
            MULTI_ATTRIBUTE => (
                seq.next_element()?.ok_or_else(|| missing(2))?,
                seq.next_element()?.ok_or_else(|| missing(3))?,
            ),
            other => {
                return Err(de::Error::invalid_value(
                    de::Unexpected::Unsigned(u64::from(other)),
                    &"a key schema tag of 0, 1 or 2",
                ))
            }
        };
        Ok(KeySchema {
            partition_key,
            more_partition_keys,
            sort_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-attribute schema as it was serialized before multi-attribute keys.
    #[derive(Debug, Serialize, Deserialize)]
    struct LegacyKeySchema {
        partition_key: KeyAttribute,
        sort_key: Option<KeyAttribute>,
    }

    /// What a write schema holds around a key schema, so that decoding must stop
    /// exactly at its end.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Framed<T> {
        before: u32,
        schema: T,
        after: String,
    }

    fn attribute(name: &str, ty: ScalarType) -> KeyAttribute {
        KeyAttribute {
            name: name.into(),
            ty,
        }
    }

    fn simple_schemas() -> Vec<(LegacyKeySchema, KeySchema)> {
        let pk = attribute("pk", ScalarType::S);
        let sk = attribute("sk", ScalarType::N);
        vec![
            (
                LegacyKeySchema {
                    partition_key: pk.clone(),
                    sort_key: None,
                },
                KeySchema::simple(pk.clone(), None),
            ),
            (
                LegacyKeySchema {
                    partition_key: pk.clone(),
                    sort_key: Some(sk.clone()),
                },
                KeySchema::simple(pk, Some(sk)),
            ),
        ]
    }

    fn multi_schema() -> KeySchema {
        KeySchema::multi(
            vec![
                attribute("h1", ScalarType::S),
                attribute("h2", ScalarType::N),
            ],
            vec![
                attribute("r1", ScalarType::B),
                attribute("r2", ScalarType::S),
                attribute("r3", ScalarType::N),
            ],
        )
        .unwrap()
    }

    fn framed<T>(schema: T) -> Framed<T> {
        Framed {
            before: 7,
            schema,
            after: "tail".into(),
        }
    }

    #[test]
    fn one_attribute_schemas_serialize_as_before() {
        for (legacy, schema) in simple_schemas() {
            let old = bincode::serialize(&framed(&legacy)).unwrap();
            assert_eq!(bincode::serialize(&framed(&schema)).unwrap(), old);
            let decoded: Framed<KeySchema> = bincode::deserialize(&old).unwrap();
            assert_eq!(decoded, framed(schema.clone()));

            let old = serde_json::to_string(&legacy).unwrap();
            assert_eq!(serde_json::to_string(&schema).unwrap(), old);
            assert_eq!(serde_json::from_str::<KeySchema>(&old).unwrap(), schema);
        }
    }

    #[test]
    fn multi_attribute_schemas_round_trip() {
        let schema = multi_schema();
        let bytes = bincode::serialize(&framed(&schema)).unwrap();
        let decoded: Framed<KeySchema> = bincode::deserialize(&bytes).unwrap();
        assert_eq!(decoded, framed(schema.clone()));
        let json = serde_json::to_string(&schema).unwrap();
        assert_eq!(serde_json::from_str::<KeySchema>(&json).unwrap(), schema);
        assert_eq!(
            schema
                .attributes()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>(),
            ["h1", "h2", "r1", "r2", "r3"]
        );
    }

    #[test]
    fn corrupt_binary_tag_is_an_error() {
        let mut bytes =
            bincode::serialize(&KeySchema::simple(attribute("pk", ScalarType::S), None)).unwrap();
        let tag = bytes.len() - 1;
        bytes[tag] = 9;
        assert!(bincode::deserialize::<KeySchema>(&bytes).is_err());
    }

    #[test]
    fn a_key_needs_a_partition_key_attribute() {
        assert!(KeySchema::multi(Vec::new(), vec![attribute("r", ScalarType::S)]).is_none());
    }
}
