//! DynamoDB's limits on attribute names and key values, shared by the request checks
//! in `api` and by index maintenance here.

use crate::key_schema::{KeyAttribute, KeySchema};
use crate::size::value_size;
use crate::value::AttributeValue;

/// The longest attribute name, in UTF-8 bytes. The Developer Guide says 64 KB, but
/// DynamoDB refuses a name of exactly 65,536 bytes.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 65_535;
/// The longest name of a key attribute (of the table or of an index) and of an
/// attribute an index projects by name, in characters as the API's length
/// constraints count them.
pub const MAX_KEY_ATTRIBUTE_NAME_LENGTH: usize = 255;
/// The largest partition-key value, of the table or of an index.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// The largest sort-key value, of the table or of an index.
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// The part a key attribute plays, which sets how large its value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    Partition,
    Sort,
}

impl KeyRole {
    pub fn max_bytes(self) -> usize {
        match self {
            KeyRole::Partition => MAX_PARTITION_KEY_BYTES,
            KeyRole::Sort => MAX_SORT_KEY_BYTES,
        }
    }
}

/// The key attributes of `schema` with their roles: the partition-key attributes, then
/// the sort-key attributes (a multi-attribute index key has several of each, and each
/// is held to its role's limit).
pub fn key_roles(schema: &KeySchema) -> impl Iterator<Item = (&KeyAttribute, KeyRole)> {
    schema
        .partition_keys()
        .map(|attribute| (attribute, KeyRole::Partition))
        .chain(schema.sort_keys().iter().map(|sort| (sort, KeyRole::Sort)))
}

/// The size DynamoDB counts for `value` as a key, when it is larger than `role` allows.
pub fn oversized_key(value: &AttributeValue, role: KeyRole) -> Option<usize> {
    let size = value_size(value);
    (size > role.max_bytes()).then_some(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ScalarType;

    #[test]
    fn key_values_are_limited_by_role_at_the_byte() {
        let s = |n: usize| AttributeValue::S("é".repeat(n / 2));
        assert_eq!(oversized_key(&s(2048), KeyRole::Partition), None);
        assert_eq!(oversized_key(&s(2050), KeyRole::Partition), Some(2050));
        assert_eq!(oversized_key(&s(1024), KeyRole::Sort), None);
        assert_eq!(oversized_key(&s(1026), KeyRole::Sort), Some(1026));
        let b = |n: usize| AttributeValue::B(vec![0; n]);
        assert_eq!(oversized_key(&b(1025), KeyRole::Sort), Some(1025));
    }

    #[test]
    fn roles_follow_the_schema() {
        let attribute = |name: &str| KeyAttribute {
            name: name.into(),
            ty: ScalarType::S,
        };
        let schema = KeySchema::simple(attribute("p"), Some(attribute("s")));
        let roles: Vec<(&str, KeyRole)> = key_roles(&schema)
            .map(|(a, role)| (a.name.as_str(), role))
            .collect();
        assert_eq!(roles, [("p", KeyRole::Partition), ("s", KeyRole::Sort)]);
    }
}
