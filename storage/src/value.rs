//! The ten DynamoDB attribute types, as they live in memory below `api`.

use std::collections::BTreeMap;

use crate::number::Number;

/// A map of attribute names to values: both a whole item and an `M` value.
pub type AttributeMap = BTreeMap<String, AttributeValue>;

/// A whole item.
pub type Item = AttributeMap;

/// One DynamoDB attribute value.
///
/// Sets keep the order in which they were written; `api` guarantees they are
/// non-empty and free of duplicates before a value gets here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
    L(Vec<AttributeValue>),
    M(AttributeMap),
}

/// The type of a key attribute (and, later, of an index key): only S, N and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ScalarType {
    S,
    N,
    B,
}

impl AttributeValue {
    /// DynamoDB's name of this value's type (`"S"`, `"SS"`, `"BOOL"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
            AttributeValue::L(_) => "L",
            AttributeValue::M(_) => "M",
        }
    }

    /// The scalar key type of this value, if it is one of S, N, B.
    pub fn scalar_type(&self) -> Option<ScalarType> {
        match self {
            AttributeValue::S(_) => Some(ScalarType::S),
            AttributeValue::N(_) => Some(ScalarType::N),
            AttributeValue::B(_) => Some(ScalarType::B),
            _ => None,
        }
    }
}

impl ScalarType {
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }
}
