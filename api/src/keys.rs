//! Primary keys: checking an item's or a `Key`'s attributes against the table's key
//! schema, DynamoDB's key limits, and encoding them for storage.

use cirrus_partition::KeySchema;
use cirrus_storage::key::encode_key_value;
use cirrus_storage::limits::{key_roles, oversized_key, KeyRole};
use cirrus_storage::{AttributeMap, AttributeValue};

use crate::error::ApiError;

/// An item's primary key (or an index key), encoded (order-preserving,
/// self-delimiting): each part is its attributes' encodings one after another.
pub struct EncodedKey {
    pub partition: Vec<u8>,
    pub sort: Vec<u8>,
}

fn is_empty_key_value(value: &AttributeValue) -> Option<&'static str> {
    match value {
        AttributeValue::S(s) if s.is_empty() => Some("string"),
        AttributeValue::B(b) if b.is_empty() => Some("binary"),
        _ => None,
    }
}

fn encode_into(value: &AttributeValue, out: &mut Vec<u8>) -> Result<(), ApiError> {
    encode_key_value(value, out).map_err(|e| ApiError::Internal(e.to_string()))
}

fn check_sizes(
    schema: &KeySchema,
    attributes: &AttributeMap,
    prefix: &str,
) -> Result<(), ApiError> {
    for (attribute, role) in key_roles(schema) {
        let Some(value) = attributes.get(&attribute.name) else {
            continue;
        };
        if oversized_key(value, role).is_some() {
            let max = role.max_bytes();
            return Err(ApiError::validation(match role {
                KeyRole::Partition => format!(
                    "{prefix}Size of hashkey has exceeded the maximum size limit of{max} bytes"
                ),
                KeyRole::Sort => format!(
                    "{prefix}Aggregated size of all range keys has exceeded the size limit of {max} bytes"
                ),
            }));
        }
    }
    Ok(())
}

/// Encodes the key attributes of `attributes` that are present (missing ones encode
/// as empty).
pub fn encode_key(schema: &KeySchema, attributes: &AttributeMap) -> Result<EncodedKey, ApiError> {
    let mut partition = Vec::with_capacity(16);
    for attribute in schema.partition_keys() {
        if let Some(value) = attributes.get(&attribute.name) {
            encode_into(value, &mut partition)?;
        }
    }
    let mut sort = Vec::new();
    for attribute in schema.sort_keys() {
        if let Some(value) = attributes.get(&attribute.name) {
            encode_into(value, &mut sort)?;
        }
    }
    Ok(EncodedKey { partition, sort })
}

/// The key of an item being written (PutItem): every key attribute present, of its
/// declared type, non-empty and within the size limits.
pub fn key_of_item(schema: &KeySchema, item: &AttributeMap) -> Result<EncodedKey, ApiError> {
    for attribute in schema.attributes() {
        let Some(value) = item.get(&attribute.name) else {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Missing the key {} in the item",
                attribute.name
            )));
        };
        if value.scalar_type() != Some(attribute.ty) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
                attribute.name,
                attribute.ty.name(),
                value.type_name()
            )));
        }
        if let Some(kind) = is_empty_key_value(value) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: One or more parameter values are not valid. \
                 The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {}",
                attribute.name
            )));
        }
    }
    check_sizes(schema, item, "One or more parameter values were invalid: ")?;
    encode_key(schema, item)
}

/// A `Key` parameter (GetItem, DeleteItem): exactly the key attributes, of their types.
pub fn key_of_key_map(schema: &KeySchema, key: &AttributeMap) -> Result<EncodedKey, ApiError> {
    let expected = schema.attributes().count();
    let matches = key.len() == expected
        && schema.attributes().all(|attribute| {
            key.get(&attribute.name)
                .is_some_and(|value| value.scalar_type() == Some(attribute.ty))
        });
    if !matches {
        return Err(ApiError::validation(
            "The provided key element does not match the schema",
        ));
    }
    for attribute in schema.attributes() {
        if let Some(kind) = key.get(&attribute.name).and_then(is_empty_key_value) {
            return Err(ApiError::validation(format!(
                "One or more parameter values are not valid. The AttributeValue for a key attribute \
                 cannot contain an empty {kind} value. Key: {}",
                attribute.name
            )));
        }
    }
    check_sizes(schema, key, "One or more parameter values were invalid: ")?;
    encode_key(schema, key)
}
