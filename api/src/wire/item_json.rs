//! DynamoDB JSON of items, written straight into a response body.
//!
//! Responses never hold a `serde_json::Value` per attribute: that costs hundreds of bytes
//! for every one-byte NULL (one 400 KB item of 200,000 of them took ~128 MB). Instead the
//! types here implement [`Serialize`] over an [`Item`] or over stored-item bytes, and a
//! response is a `#[derive(Serialize)]` struct written once into its output buffer. A
//! page of stored items is kept as bytes and each item is decoded (and projected) only
//! while it is being written, so no more than one decoded item lives at a time.

use std::borrow::Borrow;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD as BASE64;
use cirrus_storage::codec::decode_item;
use cirrus_storage::engine::StoredItem;
use cirrus_storage::expression::projection::project;
use cirrus_storage::expression::Projection;
use cirrus_storage::{AttributeValue, Item};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::error::ApiError;

/// Writes a typed response as its JSON body.
pub fn response_body<T: Serialize>(response: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(response).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Decodes stored-item bytes into an item.
pub fn decode_stored(stored: &[u8]) -> Result<Item, ApiError> {
    let bytes = StoredItem::codec_bytes(stored).map_err(|e| ApiError::Internal(e.to_string()))?;
    decode_item(bytes).map_err(|e| ApiError::Internal(e.to_string()))
}

/// An item as DynamoDB JSON: an object of attribute names to values. Holds the item or
/// a reference to it.
pub struct ItemJson<I>(pub I);

impl<I: Borrow<Item>> Serialize for ItemJson<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let item = self.0.borrow();
        let mut map = serializer.serialize_map(Some(item.len()))?;
        for (name, value) in item {
            map.serialize_entry(name, &ValueJson(value))?;
        }
        map.end()
    }
}

/// One attribute value as DynamoDB JSON (`{"S":"x"}`, `{"N":"1.5"}`, ...); numbers in
/// their normalised text, binaries in base64.
pub struct ValueJson<'a>(pub &'a AttributeValue);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        let name = self.0.type_name();
        match self.0 {
            AttributeValue::S(s) => map.serialize_entry(name, s)?,
            AttributeValue::N(n) => map.serialize_entry(name, &Text(n))?,
            AttributeValue::B(b) => map.serialize_entry(name, &Base64(b))?,
            AttributeValue::Bool(b) => map.serialize_entry(name, b)?,
            AttributeValue::Null => map.serialize_entry(name, &true)?,
            AttributeValue::Ss(set) => map.serialize_entry(name, set)?,
            AttributeValue::Ns(set) => map.serialize_entry(name, &Each(set, Text))?,
            AttributeValue::Bs(set) => map.serialize_entry(name, &Each(set, Base64))?,
            AttributeValue::L(list) => map.serialize_entry(name, &Each(list, ValueJson))?,
            AttributeValue::M(fields) => map.serialize_entry(name, &ItemJson(fields))?,
        }
        map.end()
    }
}

/// A value's `Display` text as a JSON string, written without an intermediate `String`.
struct Text<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for Text<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// Bytes as a base64 JSON string, encoded as they are written.
struct Base64<'a>(&'a Vec<u8>);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0, &BASE64))
    }
}

/// A JSON array of the elements of a slice, each wrapped for writing.
struct Each<'a, T, F>(&'a [T], F);

impl<'a, T, F, W> Serialize for Each<'a, T, F>
where
    F: Fn(&'a T) -> W,
    W: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for element in self.0 {
            seq.serialize_element(&(self.1)(element))?;
        }
        seq.end()
    }
}

/// A stored item written as DynamoDB JSON: decoded, and projected when a projection is
/// given, only while it is written.
pub struct StoredItemJson<'a> {
    pub stored: &'a [u8],
    pub projection: Option<&'a Projection>,
}

impl<'a> StoredItemJson<'a> {
    pub fn new(stored: &'a [u8], projection: Option<&'a Projection>) -> Self {
        StoredItemJson { stored, projection }
    }
}

impl Serialize for StoredItemJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A stored item that does not decode is corruption; `response_body` reports it
        // as an internal error.
        let item = decode_stored(self.stored).map_err(S::Error::custom)?;
        match self.projection {
            Some(projection) => ItemJson(project(&item, &projection.0)).serialize(serializer),
            None => ItemJson(&item).serialize(serializer),
        }
    }
}

/// Stored items kept back to back in one buffer until the response is written: a page
/// of 1 MB of tiny items costs about 1 MB here, not one allocation per item.
#[derive(Default)]
pub struct StoredItems {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl StoredItems {
    pub fn push(&mut self, stored: &[u8]) {
        self.bytes.extend_from_slice(stored);
        self.ends.push(self.bytes.len());
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }

    /// The items as a JSON array, each projected when a projection is given.
    pub fn json<'a>(&'a self, projection: Option<&'a Projection>) -> StoredItemsJson<'a> {
        StoredItemsJson {
            items: self,
            projection,
        }
    }
}

pub struct StoredItemsJson<'a> {
    items: &'a StoredItems,
    projection: Option<&'a Projection>,
}

impl Serialize for StoredItemsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.items.ends.len()))?;
        for stored in self.items.iter() {
            seq.serialize_element(&StoredItemJson::new(stored, self.projection))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use cirrus_storage::codec::encode_item;
    use cirrus_storage::expression::{Path, PathElement};
    use cirrus_storage::Number;
    use serde_json::{json, Value};

    use super::*;
    use crate::wire::attribute_value::{parse_item, parse_value};

    fn to_json<T: Serialize>(value: &T) -> Value {
        let bytes = response_body(value).expect("serializes");
        serde_json::from_slice(&bytes).expect("valid JSON")
    }

    fn stored(item: &Item) -> Vec<u8> {
        let mut codec_bytes = Vec::new();
        encode_item(item, &mut codec_bytes);
        StoredItem::encode(7, &codec_bytes)
    }

    fn number(text: &str) -> Number {
        Number::parse(text).expect("test number parses")
    }

    #[test]
    fn output_uses_wire_shapes_and_normalised_numbers() {
        let value = parse_value(&json!({"M": {
            "n": {"N": "0001.500"},
            "ns": {"NS": ["1e2", "-0.25"]},
            "b": {"B": "AAEC"},
            "bs": {"BS": ["/w==", ""]},
            "null": {"NULL": "TRUE"},
            "bool": {"BOOL": false},
            "ss": {"SS": ["z", "a"]},
            "l": {"L": [{"S": ""}]},
        }}))
        .expect("valid value");
        let expected_number = number("1.5").to_string();
        // Sets are written in their canonical order.
        let expected_ns = [number("-0.25").to_string(), number("100").to_string()];
        assert_eq!(
            to_json(&ValueJson(&value)),
            json!({"M": {
                "n": {"N": expected_number},
                "ns": {"NS": expected_ns},
                "b": {"B": "AAEC"},
                "bs": {"BS": ["", "/w=="]},
                "null": {"NULL": true},
                "bool": {"BOOL": false},
                "ss": {"SS": ["a", "z"]},
                "l": {"L": [{"S": ""}]},
            }})
        );
    }

    #[test]
    fn items_round_trip_through_json() {
        let json = json!({
            "pk": {"S": "user#1 \"quoted\" \\ \u{1F600}"},
            "age": {"N": "42"},
            "blob": {"B": "aGVsbG8="},
            "tags": {"SS": ["x", "y"]},
            "scores": {"NS": ["1", "2.5"]},
            "chunks": {"BS": ["AQ==", "Ag=="]},
            "ok": {"BOOL": true},
            "gone": {"NULL": true},
            "doc": {"M": {"list": {"L": [{"N": "3"}, {"M": {}}, {"L": []}]}}},
        });
        let item = parse_item(&json).expect("valid item");
        let written = to_json(&ItemJson(&item));
        assert_eq!(written, json);
        assert_eq!(parse_item(&written), Ok(item.clone()));
        assert_eq!(to_json(&StoredItemJson::new(&stored(&item), None)), json);
    }

    #[test]
    fn stored_items_are_written_in_order_and_projected() {
        let items: Vec<Item> = (0..3)
            .map(|i| {
                parse_item(&json!({"pk": {"N": i.to_string()}, "v": {"S": "x"}}))
                    .expect("valid item")
            })
            .collect();
        let mut page = StoredItems::default();
        for item in &items {
            page.push(&stored(item));
        }
        assert_eq!(
            to_json(&page.json(None)),
            json!([
                {"pk": {"N": "0"}, "v": {"S": "x"}},
                {"pk": {"N": "1"}, "v": {"S": "x"}},
                {"pk": {"N": "2"}, "v": {"S": "x"}},
            ])
        );
        let only_pk = Projection(vec![Path(vec![PathElement::Attribute("pk".into())])]);
        assert_eq!(
            to_json(&page.json(Some(&only_pk))),
            json!([{"pk": {"N": "0"}}, {"pk": {"N": "1"}}, {"pk": {"N": "2"}}])
        );
        assert_eq!(to_json(&StoredItems::default().json(None)), json!([]));
    }

    #[test]
    fn corrupt_stored_items_are_internal_errors() {
        let corrupt = StoredItem::encode(1, &[0xEE]);
        assert!(matches!(
            response_body(&StoredItemJson::new(&corrupt, None)),
            Err(ApiError::Internal(_))
        ));
    }
}
