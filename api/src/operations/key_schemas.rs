//! Key schemas and attribute definitions as CreateTable and UpdateTable take them:
//! their wire shapes, DynamoDB's checks of them, and how DescribeTable shows a key
//! schema.
//!
//! A table's or a local index's key is one HASH element and at most one RANGE element;
//! a global index's may be up to four of each (multi-attribute keys), every HASH
//! element before every RANGE element.

use cirrus_partition::{KeyAttribute, KeySchema};
use cirrus_storage::key_schema::MAX_KEY_PART_ATTRIBUTES;
use cirrus_storage::ScalarType;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::validation::Constraints;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    attribute_name: Option<String>,
    key_type: Option<String>,
}

impl KeySchemaElement {
    pub fn check(&self, constraints: &mut Constraints, member: &str) {
        constraints.not_null(&self.key_type, &format!("{member}.keyType"));
        constraints.one_of(
            &self.key_type,
            &format!("{member}.keyType"),
            &["HASH", "RANGE"],
        );
        constraints.not_null(&self.attribute_name, &format!("{member}.attributeName"));
        constraints.key_attribute_name(&self.attribute_name, &format!("{member}.attributeName"));
    }

    fn is_hash(&self) -> bool {
        self.key_type.as_deref() == Some("HASH")
    }
}

/// How many attributes a key may have: one of each part, or several (global indexes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyShape {
    Single,
    MultiAttribute,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    attribute_name: Option<String>,
    attribute_type: Option<String>,
}

pub fn check_attribute_definitions(
    constraints: &mut Constraints,
    definitions: &Option<Vec<AttributeDefinition>>,
) {
    for (i, definition) in definitions.iter().flatten().enumerate() {
        let member = format!("attributeDefinitions.{}.member", i + 1);
        constraints.not_null(
            &definition.attribute_type,
            &format!("{member}.attributeType"),
        );
        constraints.one_of(
            &definition.attribute_type,
            &format!("{member}.attributeType"),
            &["B", "N", "S"],
        );
        constraints.not_null(
            &definition.attribute_name,
            &format!("{member}.attributeName"),
        );
        constraints.key_attribute_name(
            &definition.attribute_name,
            &format!("{member}.attributeName"),
        );
    }
}

fn scalar_type(name: &str) -> Option<ScalarType> {
    match name {
        "S" => Some(ScalarType::S),
        "N" => Some(ScalarType::N),
        "B" => Some(ScalarType::B),
        _ => None,
    }
}

/// Validated attribute definitions, each name once: DynamoDB could not tell which of
/// two definitions of one name was meant.
pub fn attribute_definitions(
    definitions: &[AttributeDefinition],
) -> Result<Vec<KeyAttribute>, ApiError> {
    let mut parsed: Vec<KeyAttribute> = Vec::with_capacity(definitions.len());
    for definition in definitions {
        let (Some(name), Some(ty)) = (
            &definition.attribute_name,
            definition.attribute_type.as_deref().and_then(scalar_type),
        ) else {
            continue;
        };
        if parsed.iter().any(|seen| seen.name == *name) {
            return Err(ApiError::validation(format!(
                "Attribute Name is duplicated: {name}"
            )));
        }
        parsed.push(KeyAttribute {
            name: name.clone(),
            ty,
        });
    }
    Ok(parsed)
}

/// Builds a table's or an index's key schema from validated elements, with DynamoDB's
/// checks.
pub fn parse_key_schema(
    elements: &[KeySchemaElement],
    definitions: &[KeyAttribute],
    shape: KeyShape,
) -> Result<KeySchema, ApiError> {
    if !elements.first().is_some_and(KeySchemaElement::is_hash) {
        return Err(ApiError::validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    let hash_count = elements.iter().take_while(|e| e.is_hash()).count();
    match shape {
        KeyShape::Single => check_single(elements)?,
        KeyShape::MultiAttribute => check_multi_attribute(elements, hash_count)?,
    }
    let key_names: Vec<&str> = elements
        .iter()
        .filter_map(|e| e.attribute_name.as_deref())
        .collect();
    let find = |name: &str| definitions.iter().find(|d| d.name == name).cloned();
    if key_names.iter().any(|name| find(name).is_none()) {
        let defined: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in \
             AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            key_names.join(", "),
            defined.join(", ")
        )));
    }
    let mut attributes: Vec<KeyAttribute> =
        key_names.iter().filter_map(|name| find(name)).collect();
    let sort_keys = attributes.split_off(hash_count.min(attributes.len()));
    KeySchema::multi(attributes, sort_keys)
        .ok_or_else(|| ApiError::Internal("validated key schema is empty".into()))
}

/// A table's or a local index's key: the constraints allow at most two elements.
fn check_single(elements: &[KeySchemaElement]) -> Result<(), ApiError> {
    let [hash, range] = elements else {
        return Ok(());
    };
    if range.key_type.as_deref() != Some("RANGE") {
        return Err(ApiError::validation(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ));
    }
    if hash.attribute_name == range.attribute_name {
        return Err(same_hash_and_range_name());
    }
    Ok(())
}

fn same_hash_and_range_name() -> ApiError {
    ApiError::validation(
        "Both the Hash Key and the Range Key element in the KeySchema have the same name",
    )
}

/// A global index's key: the HASH elements (at most four), then the RANGE elements (at
/// most four), no attribute twice.
fn check_multi_attribute(elements: &[KeySchemaElement], hash_count: usize) -> Result<(), ApiError> {
    let range = &elements[hash_count..];
    if range.iter().any(KeySchemaElement::is_hash) {
        return Err(ApiError::validation(
            "Invalid KeySchema: All HASH KeySchemaElements must precede the RANGE KeySchemaElements",
        ));
    }
    for (count, key_type) in [(hash_count, "HASH"), (range.len(), "RANGE")] {
        if count > MAX_KEY_PART_ATTRIBUTES {
            return Err(ApiError::validation(format!(
                "Invalid KeySchema: The KeySchema has more than {MAX_KEY_PART_ATTRIBUTES} \
                 {key_type} KeySchemaElements"
            )));
        }
    }
    for (i, element) in elements.iter().enumerate() {
        let Some(twin) = elements[i + 1..]
            .iter()
            .find(|other| other.attribute_name == element.attribute_name)
        else {
            continue;
        };
        if element.is_hash() != twin.is_hash() {
            return Err(same_hash_and_range_name());
        }
        return Err(ApiError::validation(format!(
            "Invalid KeySchema: Two KeySchemaElements have the same name: {}",
            element.attribute_name.as_deref().unwrap_or_default()
        )));
    }
    Ok(())
}

/// DescribeTable's KeySchema: the HASH elements, then the RANGE elements, in the order
/// they were given.
pub fn key_schema_json(schema: &KeySchema) -> Value {
    let hash = schema
        .partition_keys()
        .map(|key| json!({ "AttributeName": key.name, "KeyType": "HASH" }));
    let range = schema
        .sort_keys()
        .iter()
        .map(|key| json!({ "AttributeName": key.name, "KeyType": "RANGE" }));
    Value::Array(hash.chain(range).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(name: &str, key_type: &str) -> KeySchemaElement {
        KeySchemaElement {
            attribute_name: Some(name.into()),
            key_type: Some(key_type.into()),
        }
    }

    fn defined(names: &[&str]) -> Vec<KeyAttribute> {
        names
            .iter()
            .map(|name| KeyAttribute {
                name: (*name).into(),
                ty: ScalarType::S,
            })
            .collect()
    }

    fn message(result: Result<KeySchema, ApiError>) -> String {
        match result {
            Err(ApiError::Validation(message)) => message,
            other => panic!("expected a validation error, got {:?}", other.ok()),
        }
    }

    #[test]
    fn global_keys_take_up_to_four_attributes_of_each_part() {
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        let definitions = defined(&names);
        let elements: Vec<KeySchemaElement> = names[..4]
            .iter()
            .map(|n| element(n, "HASH"))
            .chain(names[4..8].iter().map(|n| element(n, "RANGE")))
            .collect();
        let schema = parse_key_schema(&elements, &definitions, KeyShape::MultiAttribute).unwrap();
        assert_eq!(schema.partition_keys().count(), 4);
        assert_eq!(schema.sort_keys().len(), 4);
        assert_eq!(key_schema_json(&schema).as_array().map(Vec::len), Some(8));

        let mut five_hash: Vec<KeySchemaElement> =
            names[..5].iter().map(|n| element(n, "HASH")).collect();
        assert!(message(parse_key_schema(
            &five_hash,
            &definitions,
            KeyShape::MultiAttribute
        ))
        .contains("more than 4 HASH"));
        five_hash.remove(0);
        five_hash.extend(names[4..].iter().map(|n| element(n, "RANGE")));
        assert!(message(parse_key_schema(
            &five_hash,
            &definitions,
            KeyShape::MultiAttribute
        ))
        .contains("more than 4 RANGE"));
    }

    #[test]
    fn malformed_global_keys_are_refused() {
        let definitions = defined(&["a", "b", "c"]);
        let cases = [
            (
                vec![element("a", "RANGE"), element("b", "HASH")],
                "The first KeySchemaElement is not a HASH key type",
            ),
            (
                vec![
                    element("a", "HASH"),
                    element("b", "RANGE"),
                    element("c", "HASH"),
                ],
                "All HASH KeySchemaElements must precede the RANGE KeySchemaElements",
            ),
            (
                vec![element("a", "HASH"), element("a", "HASH")],
                "Two KeySchemaElements have the same name: a",
            ),
            (
                vec![
                    element("a", "HASH"),
                    element("b", "HASH"),
                    element("a", "RANGE"),
                ],
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ),
            (
                vec![element("a", "HASH"), element("z", "HASH")],
                "Keys: [a, z], AttributeDefinitions: [a, b, c]",
            ),
        ];
        for (elements, expected) in cases {
            let got = message(parse_key_schema(
                &elements,
                &definitions,
                KeyShape::MultiAttribute,
            ));
            assert!(got.contains(expected), "{got}");
        }
        // A table's key keeps DynamoDB's one-attribute messages.
        let two_hash = [element("a", "HASH"), element("b", "HASH")];
        assert!(
            message(parse_key_schema(&two_hash, &definitions, KeyShape::Single))
                .contains("The second KeySchemaElement is not a RANGE key type")
        );
    }

    #[test]
    fn a_name_defined_twice_is_refused() {
        let definitions = [
            AttributeDefinition {
                attribute_name: Some("xyz".into()),
                attribute_type: Some("S".into()),
            },
            AttributeDefinition {
                attribute_name: Some("xyz".into()),
                attribute_type: Some("N".into()),
            },
        ];
        match attribute_definitions(&definitions) {
            Err(ApiError::Validation(message)) => {
                assert_eq!(message, "Attribute Name is duplicated: xyz")
            }
            other => panic!("expected a validation error, got {:?}", other.ok()),
        }
    }
}
