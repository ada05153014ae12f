//! DynamoDB's JSON shape of attribute values (`{"S":"x"}`, `{"N":"1.5"}`, `{"M":{...}}`, ...)
//! and its conversion to [`AttributeValue`], with DynamoDB's validation and its error
//! types and messages. Responses are written by [`super::item_json`].
//!
//! DynamoDB answers in two stages, and so does this module:
//!
//! 1. Deserialization (`SerializationException`): a member of the wrong JSON type, such as
//!    `{"S":1}`, or a `B` that is not base64. DynamoDB deserializes the whole request
//!    before it validates anything, so a serialization error anywhere in a value wins
//!    over a validation error anywhere else in it.
//! 2. Validation (`ValidationException`): no type or several types set, empty sets,
//!    duplicate set members, invalid numbers, `{"NULL":false}`, too deep nesting.
//!
//! Sets are put in their canonical order as they are parsed (`cirrus_storage::sets`).
//!
//! Parsing is one pass that builds the value; only when that pass fails validation is the
//! value walked again for a serialization error that should take precedence.
//!
//! The messages are DynamoDB's own, as recorded by dynalite's test suite (run against
//! DynamoDB; `test/helpers.js` `assertType` for the deserializer's messages, the
//! `validations` tests for the rest) and by conformance suites captured against real
//! DynamoDB; see [`messages`] for each one's source. Members DynamoDB does not know
//! (`{"X":1}`) and members set to `null` are ignored, as DynamoDB's deserializer does.
//! Empty strings and binaries are valid: DynamoDB has allowed them in non-key attributes
//! and in sets since May 2020. Key attributes are the caller's to check.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use cirrus_storage::{sets, AttributeMap, AttributeValue, Item, Number, NumberError};
use serde_json::{Map, Value};

use crate::attribute_names::check_attribute_name;
use crate::error::ApiError;

pub use cirrus_storage::expression::update::MAX_NESTING_LEVELS;

/// How deep the search for a serialization error goes. DynamoDB's parser reads all the
/// JSON a request holds; every level of attribute value is at least two levels of JSON,
/// so serde_json's own limit of 128 keeps any parsed request within this bound. It only
/// protects the stack from a `Value` built in code.
const SERIALIZATION_CHECK_MAX_LEVELS: usize = 64;

/// DynamoDB's messages, verbatim (typos and double spaces included).
pub mod messages {
    // ValidationException. Sources: dynalite `validations/index.js` and its tests
    // (`test/putItem.js` "invalid values in Item"), real-DynamoDB captures noted per item.
    pub const EMPTY_VALUE: &str =
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes";
    pub const MULTIPLE_TYPES: &str = "Supplied AttributeValue has more than one datatypes set, \
         must contain exactly one of the supported datatypes";
    pub const NULL_NOT_TRUE: &str = "One or more parameter values were invalid: \
         Null attribute value types must have the value of true";
    pub const EMPTY_STRING_SET: &str =
        "One or more parameter values were invalid: An string set  may not be empty";
    pub const EMPTY_NUMBER_SET: &str =
        "One or more parameter values were invalid: An number set  may not be empty";
    pub const EMPTY_BINARY_SET: &str =
        "One or more parameter values were invalid: Binary sets should not be empty";
    /// DynamoDB Local's `LocalDBInputConverter` and ExtendDB's real-DynamoDB parity tests.
    pub const NULL_IN_STRING_SET: &str = "One or more parameter values were invalid: \
         An string set may not have a null string as a member";
    /// Not captured: DynamoDB answers a null NS member with "may not have a null"-style
    /// wording (ExtendDB's parity tests); this follows the string set's template.
    pub const NULL_IN_NUMBER_SET: &str = "One or more parameter values were invalid: \
         An number set may not have a null number as a member";
    pub const NULL_IN_BINARY_SET: &str = "One or more parameter values were invalid: \
         Binary sets may not contain null or empty values";
    /// Unlike SS and BS, DynamoDB names neither the prefix nor the members for NS
    /// (dynalite's tests; ExtendDB issue #100 quoting DynamoDB).
    pub const DUPLICATE_NUMBERS: &str = "Input collection contains duplicates";
    /// Also what an update that nests too deep fails with.
    pub use cirrus_storage::expression::update::NESTING_TOO_DEEP;

    // SerializationException. Source: dynalite `test/helpers.js` `assertType`, updated
    // for DynamoDB's current (Jackson-based) deserializer.
    pub const UNEXPECTED_VALUE_TYPE: &str = "Unexpected value type in payload";
    pub const UNEXPECTED_FIELD_TYPE: &str = "Unexpected field type";
    pub const START_OF_STRUCTURE: &str = "Start of structure or map found where not expected";
    pub const LIST_FOR_ATTRIBUTE_VALUE: &str =
        "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue";
    pub const LIST_FOR_MAP: &str = "Unrecognized collection type java.util.Map<java.lang.String, \
         com.amazonaws.dynamodb.v20120810.AttributeValue>";
    pub const LIST_FOR_STRING: &str = "Unrecognized collection type class java.lang.String";
    pub const LIST_FOR_BOOLEAN: &str = "Unrecognized collection type class java.lang.Boolean";
    pub const LIST_FOR_BLOB: &str = "Unrecognized collection type class java.nio.ByteBuffer";
    pub const NOT_A_BASE64_STRING: &str = "only base-64-encoded strings are convertible to bytes";
    pub const NOT_A_BOOLEAN_WORD: &str = "Unexpected token received from parser";
    pub const BASE64_BAD_LAST_CHARACTER: &str = "Invalid last non-pad Base64 character dectected";
}

use messages as msg;

/// Parses one DynamoDB-JSON attribute value.
pub fn parse_value(json: &Value) -> Result<AttributeValue, ApiError> {
    parse_attribute_value(json, 1)
        .map_err(|error| prefer_serialization_error(error, || find_serialization_error(json, 1)))
}

/// Parses a JSON object of attribute names to DynamoDB-JSON values (an `Item`, a `Key`).
pub fn parse_item(json: &Value) -> Result<Item, ApiError> {
    let fields = expect_map(json)?;
    parse_attributes(fields, 0).map_err(|error| {
        prefer_serialization_error(error, || {
            fields
                .values()
                .try_for_each(|value| find_serialization_error(value, 1))
        })
    })
}

fn serialization(message: impl Into<String>) -> ApiError {
    ApiError::Serialization(message.into())
}

fn prefer_serialization_error(
    error: ApiError,
    find: impl FnOnce() -> Result<(), ApiError>,
) -> ApiError {
    match error {
        ApiError::Validation(_) => find().err().unwrap_or(error),
        other => other,
    }
}

/// `level` is the nesting level of `json` itself; a top-level attribute is level 1.
fn parse_attribute_value(json: &Value, level: usize) -> Result<AttributeValue, ApiError> {
    let fields = match json {
        Value::Object(fields) => fields,
        Value::Null => return Err(ApiError::validation(msg::EMPTY_VALUE)),
        Value::Array(_) => return Err(serialization(msg::LIST_FOR_ATTRIBUTE_VALUE)),
        _ => return Err(serialization(msg::UNEXPECTED_VALUE_TYPE)),
    };
    // Each member set is checked as it comes, and only then the count of members, the
    // order in which DynamoDB reports (`{"S":"a","N":"x"}` is an invalid number).
    let mut parsed = None;
    let mut types_set = 0;
    for (type_name, body) in fields {
        if body.is_null() {
            continue;
        }
        let value = match type_name.as_str() {
            "S" => AttributeValue::S(expect_string(body)?.to_owned()),
            "N" => AttributeValue::N(parse_number(expect_string(body)?)?),
            "B" => AttributeValue::B(decode_base64(body)?),
            "BOOL" => AttributeValue::Bool(expect_boolean(body)?),
            "NULL" => {
                if !expect_boolean(body)? {
                    return Err(ApiError::validation(msg::NULL_NOT_TRUE));
                }
                AttributeValue::Null
            }
            "SS" => parse_string_set(body)?,
            "NS" => parse_number_set(body)?,
            "BS" => parse_binary_set(body)?,
            "L" => parse_list(body, level)?,
            "M" => AttributeValue::M(parse_attributes(expect_map(body)?, level)?),
            _ => continue,
        };
        types_set += 1;
        if parsed.is_none() {
            parsed = Some(value);
        }
    }
    match parsed {
        None => Err(ApiError::validation(msg::EMPTY_VALUE)),
        Some(_) if types_set > 1 => Err(ApiError::validation(msg::MULTIPLE_TYPES)),
        Some(value) => Ok(value),
    }
}

/// The attributes of an item (`parent_level` 0) or of an M at `parent_level`.
fn parse_attributes(
    fields: &Map<String, Value>,
    parent_level: usize,
) -> Result<AttributeMap, ApiError> {
    let level = nested_level(parent_level, fields.is_empty())?;
    let mut map = AttributeMap::new();
    for (name, value) in fields {
        // An item's attributes need a name; a map's members may have an empty one.
        if !(name.is_empty() && parent_level > 0) {
            check_attribute_name(name)?;
        }
        map.insert(name.clone(), parse_attribute_value(value, level)?);
    }
    Ok(map)
}

fn parse_list(body: &Value, parent_level: usize) -> Result<AttributeValue, ApiError> {
    let elements = expect_list(body)?;
    let level = nested_level(parent_level, elements.is_empty())?;
    let list = elements
        .iter()
        .map(|element| parse_attribute_value(element, level))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AttributeValue::L(list))
}

/// The level of the elements of a document at `parent_level`. Checked before any element
/// is parsed, which also bounds the recursion.
fn nested_level(parent_level: usize, is_empty: bool) -> Result<usize, ApiError> {
    let level = parent_level + 1;
    if level > MAX_NESTING_LEVELS && !is_empty {
        return Err(ApiError::validation(msg::NESTING_TOO_DEEP));
    }
    Ok(level)
}

fn parse_number(text: &str) -> Result<Number, ApiError> {
    Number::parse(text).map_err(|error| match error {
        // DynamoDB names the offending text when it is not a number at all.
        NumberError::Malformed => ApiError::validation(format!(
            "The parameter cannot be converted to a numeric value: {text}"
        )),
        other => ApiError::validation(other.to_string()),
    })
}

fn parse_string_set(body: &Value) -> Result<AttributeValue, ApiError> {
    let members = expect_list(body)?;
    if members.is_empty() {
        return Err(ApiError::validation(msg::EMPTY_STRING_SET));
    }
    let mut set = Vec::with_capacity(members.len());
    for member in members {
        if member.is_null() {
            return Err(ApiError::validation(msg::NULL_IN_STRING_SET));
        }
        set.push(expect_string(member)?.to_owned());
    }
    let set = sets::canonical(set);
    if sets::has_duplicates(&set) {
        // DynamoDB lists the members as sent.
        let sent: Vec<&str> = members.iter().filter_map(Value::as_str).collect();
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Input collection [{}] contains duplicates.",
            sent.join(", ")
        )));
    }
    Ok(AttributeValue::Ss(set))
}

fn parse_number_set(body: &Value) -> Result<AttributeValue, ApiError> {
    let members = expect_list(body)?;
    if members.is_empty() {
        return Err(ApiError::validation(msg::EMPTY_NUMBER_SET));
    }
    let mut set = Vec::with_capacity(members.len());
    for member in members {
        if member.is_null() {
            return Err(ApiError::validation(msg::NULL_IN_NUMBER_SET));
        }
        set.push(parse_number(expect_string(member)?)?);
    }
    // Numbers are normalised, so equality is numeric: "1" and "1.0" are duplicates.
    let set = sets::canonical(set);
    if sets::has_duplicates(&set) {
        return Err(ApiError::validation(msg::DUPLICATE_NUMBERS));
    }
    Ok(AttributeValue::Ns(set))
}

fn parse_binary_set(body: &Value) -> Result<AttributeValue, ApiError> {
    let members = expect_list(body)?;
    if members.is_empty() {
        return Err(ApiError::validation(msg::EMPTY_BINARY_SET));
    }
    let mut set = Vec::with_capacity(members.len());
    for member in members {
        if member.is_null() {
            return Err(ApiError::validation(msg::NULL_IN_BINARY_SET));
        }
        set.push(decode_base64(member)?);
    }
    let set = sets::canonical(set);
    if sets::has_duplicates(&set) {
        // DynamoDB quotes the members as sent, in base64, and omits the space before "of".
        let sent: Vec<&str> = members.iter().filter_map(Value::as_str).collect();
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Input collection [{}]of type BS contains duplicates.",
            sent.join(", ")
        )));
    }
    Ok(AttributeValue::Bs(set))
}

/// The JSON token name DynamoDB's deserializer reports for a scalar of the wrong type.
fn token_name(json: &Value) -> &'static str {
    match json {
        Value::Bool(true) => "TRUE_VALUE",
        Value::Bool(false) => "FALSE_VALUE",
        Value::Number(n) if n.is_f64() => "DECIMAL_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::String(_) => "STRING_VALUE",
        Value::Null => "VALUE_NULL",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// A String member (`S`, `N`, an `SS` or `NS` member); never called on `null`.
fn expect_string(json: &Value) -> Result<&str, ApiError> {
    match json {
        Value::String(s) => Ok(s),
        Value::Array(_) => Err(serialization(msg::LIST_FOR_STRING)),
        Value::Object(_) => Err(serialization(msg::START_OF_STRUCTURE)),
        scalar => Err(serialization(format!(
            "{} cannot be converted to String",
            token_name(scalar)
        ))),
    }
}

/// A Boolean member (`BOOL`, `NULL`). DynamoDB also takes the words true and false, in
/// any case, as strings.
fn expect_boolean(json: &Value) -> Result<bool, ApiError> {
    match json {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Value::String(_) => Err(serialization(msg::NOT_A_BOOLEAN_WORD)),
        Value::Array(_) => Err(serialization(msg::LIST_FOR_BOOLEAN)),
        Value::Object(_) => Err(serialization(msg::START_OF_STRUCTURE)),
        scalar => Err(serialization(format!(
            "{} cannot be converted to Boolean",
            token_name(scalar)
        ))),
    }
}

/// A List member (`SS`, `NS`, `BS`, `L`).
fn expect_list(json: &Value) -> Result<&[Value], ApiError> {
    match json {
        Value::Array(elements) => Ok(elements),
        Value::Object(_) => Err(serialization(msg::START_OF_STRUCTURE)),
        _ => Err(serialization(msg::UNEXPECTED_FIELD_TYPE)),
    }
}

/// A Map member (`M`, or a whole item).
fn expect_map(json: &Value) -> Result<&Map<String, Value>, ApiError> {
    match json {
        Value::Object(fields) => Ok(fields),
        Value::Array(_) => Err(serialization(msg::LIST_FOR_MAP)),
        _ => Err(serialization(msg::UNEXPECTED_FIELD_TYPE)),
    }
}

/// A Blob member (`B`, a `BS` member): standard base64 with padding, strictly: DynamoDB
/// rejects a length that is not a multiple of 4, characters outside the alphabet,
/// misplaced padding and non-zero unused bits in the last character.
fn decode_base64(json: &Value) -> Result<Vec<u8>, ApiError> {
    let text = match json {
        Value::String(s) => s.as_str(),
        Value::Array(_) => return Err(serialization(msg::LIST_FOR_BLOB)),
        Value::Object(_) => return Err(serialization(msg::START_OF_STRUCTURE)),
        _ => return Err(serialization(msg::NOT_A_BASE64_STRING)),
    };
    check_base64(text)?;
    BASE64
        .decode(text)
        .map_err(|_| serialization(msg::BASE64_BAD_LAST_CHARACTER))
}

fn check_base64(text: &str) -> Result<(), ApiError> {
    // DynamoDB measures the text in Java chars (UTF-16 units), not in bytes.
    let length = text.encode_utf16().count();
    if !length.is_multiple_of(4) {
        return Err(serialization(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {length}"
        )));
    }
    let bytes = text.as_bytes();
    let padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return Err(serialization(msg::BASE64_BAD_LAST_CHARACTER));
    }
    let data = &text[..bytes.len() - padding];
    let mut last_sextet = 0u8;
    for c in data.chars() {
        last_sextet = match c {
            'A'..='Z' => c as u8 - b'A',
            'a'..='z' => c as u8 - b'a' + 26,
            '0'..='9' => c as u8 - b'0' + 52,
            '+' => 62,
            '/' => 63,
            // Padding before the end is a misplaced last character, not a foreign one.
            '=' => return Err(serialization(msg::BASE64_BAD_LAST_CHARACTER)),
            other => {
                return Err(serialization(format!(
                    "Invalid Base64 character: '{other}'"
                )))
            }
        };
    }
    // With one '=' the last character carries 4 data bits and 2 unused ones, with two it
    // carries 2 and 4 unused; the unused bits must be zero.
    let unused_bits_mask = match padding {
        1 => 0b0011,
        2 => 0b1111,
        _ => 0,
    };
    if last_sextet & unused_bits_mask != 0 {
        return Err(serialization(msg::BASE64_BAD_LAST_CHARACTER));
    }
    Ok(())
}

/// Walks `json` for the first serialization error, for when parsing stopped at a
/// validation error first. Checks types only; `level` as in [`parse_attribute_value`].
fn find_serialization_error(json: &Value, level: usize) -> Result<(), ApiError> {
    if level > SERIALIZATION_CHECK_MAX_LEVELS {
        return Ok(());
    }
    let fields = match json {
        Value::Object(fields) => fields,
        Value::Null => return Ok(()),
        Value::Array(_) => return Err(serialization(msg::LIST_FOR_ATTRIBUTE_VALUE)),
        _ => return Err(serialization(msg::UNEXPECTED_VALUE_TYPE)),
    };
    for (type_name, body) in fields {
        if body.is_null() {
            continue;
        }
        match type_name.as_str() {
            "S" | "N" => {
                expect_string(body)?;
            }
            "B" => check_base64_member(body)?,
            "BOOL" | "NULL" => {
                expect_boolean(body)?;
            }
            "SS" | "NS" => {
                for member in expect_list(body)?.iter().filter(|m| !m.is_null()) {
                    expect_string(member)?;
                }
            }
            "BS" => {
                for member in expect_list(body)?.iter().filter(|m| !m.is_null()) {
                    check_base64_member(member)?;
                }
            }
            "L" => {
                for element in expect_list(body)? {
                    find_serialization_error(element, level + 1)?;
                }
            }
            "M" => {
                for value in expect_map(body)?.values() {
                    find_serialization_error(value, level + 1)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_base64_member(json: &Value) -> Result<(), ApiError> {
    match json {
        Value::String(text) => check_base64(text),
        other => decode_base64(other).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn number(text: &str) -> Number {
        Number::parse(text).expect("test number parses")
    }

    fn validation(message: &str) -> Result<AttributeValue, ApiError> {
        Err(ApiError::Validation(message.to_owned()))
    }

    fn serialization_err(message: &str) -> Result<AttributeValue, ApiError> {
        Err(ApiError::Serialization(message.to_owned()))
    }

    fn invalid(detail: &str) -> String {
        format!("One or more parameter values were invalid: {detail}")
    }

    fn nested_maps(wraps: usize) -> Value {
        let mut value = json!({"S": "leaf"});
        for _ in 0..wraps {
            value = json!({"M": {"n": value}});
        }
        value
    }

    fn nested_lists(wraps: usize) -> Value {
        let mut value = json!({"NULL": true});
        for _ in 0..wraps {
            value = json!({"L": [value]});
        }
        value
    }

    #[test]
    fn parses_every_type() {
        let cases = [
            (json!({"S": "x"}), AttributeValue::S("x".to_owned())),
            (json!({"S": ""}), AttributeValue::S(String::new())),
            (json!({"N": "1.50"}), AttributeValue::N(number("1.5"))),
            (json!({"B": "AAEC"}), AttributeValue::B(vec![0, 1, 2])),
            (json!({"B": ""}), AttributeValue::B(Vec::new())),
            (json!({"BOOL": true}), AttributeValue::Bool(true)),
            (json!({"BOOL": false}), AttributeValue::Bool(false)),
            (json!({"NULL": true}), AttributeValue::Null),
            // Sets come out in their canonical order (`cirrus_storage::sets`).
            (
                json!({"SS": ["b", "a", ""]}),
                AttributeValue::Ss(vec![String::new(), "a".to_owned(), "b".to_owned()]),
            ),
            (
                json!({"NS": ["2", "-1e3"]}),
                AttributeValue::Ns(vec![number("-1000"), number("2")]),
            ),
            (
                json!({"BS": ["AAE=", "AA==", ""]}),
                AttributeValue::Bs(vec![Vec::new(), vec![0], vec![0, 1]]),
            ),
            (
                json!({"L": [{"S": "a"}, {"NULL": true}]}),
                AttributeValue::L(vec![
                    AttributeValue::S("a".to_owned()),
                    AttributeValue::Null,
                ]),
            ),
            (json!({"L": []}), AttributeValue::L(Vec::new())),
            (
                json!({"M": {"k": {"N": "7"}}}),
                AttributeValue::M(
                    [("k".to_owned(), AttributeValue::N(number("7")))]
                        .into_iter()
                        .collect(),
                ),
            ),
            (json!({"M": {}}), AttributeValue::M(AttributeMap::new())),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_value(&input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn boolean_members_accept_true_and_false_words() {
        assert_eq!(
            parse_value(&json!({"BOOL": "TRUE"})),
            Ok(AttributeValue::Bool(true))
        );
        assert_eq!(
            parse_value(&json!({"BOOL": "false"})),
            Ok(AttributeValue::Bool(false))
        );
        assert_eq!(
            parse_value(&json!({"NULL": "true"})),
            Ok(AttributeValue::Null)
        );
        assert_eq!(
            parse_value(&json!({"BOOL": "yes please"})),
            serialization_err("Unexpected token received from parser")
        );
    }

    #[test]
    fn unknown_and_null_members_are_ignored() {
        assert_eq!(
            parse_value(&json!({"S": "x", "X": 1, "N": null})),
            Ok(AttributeValue::S("x".to_owned()))
        );
    }

    #[test]
    fn no_type_set_is_empty() {
        for input in [
            json!({}),
            json!({"a": ""}),
            json!({"S": null}),
            json!({"M": {"a": {}}}),
            json!({"L": [{}]}),
            json!({"L": [{"a": {}}]}),
            json!({"L": [null]}),
        ] {
            assert_eq!(parse_value(&input), validation(msg::EMPTY_VALUE), "{input}");
        }
        assert_eq!(
            msg::EMPTY_VALUE,
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        );
    }

    #[test]
    fn two_types_set() {
        assert_eq!(
            parse_value(&json!({"S": "a", "N": "1"})),
            validation(
                "Supplied AttributeValue has more than one datatypes set, \
                 must contain exactly one of the supported datatypes"
            )
        );
        // A member's own problem is reported before the count of members.
        assert_eq!(
            parse_value(&json!({"S": "a", "N": "b"})),
            validation("The parameter cannot be converted to a numeric value: b")
        );
    }

    #[test]
    fn wrong_json_types_are_serialization_errors() {
        let cases = [
            (json!({"S": 1}), "NUMBER_VALUE cannot be converted to String"),
            (json!({"S": 1.5}), "DECIMAL_VALUE cannot be converted to String"),
            (json!({"S": true}), "TRUE_VALUE cannot be converted to String"),
            (json!({"N": false}), "FALSE_VALUE cannot be converted to String"),
            (json!({"N": 23}), "NUMBER_VALUE cannot be converted to String"),
            (json!({"S": []}), "Unrecognized collection type class java.lang.String"),
            (json!({"S": {}}), "Start of structure or map found where not expected"),
            (json!({"BOOL": 1}), "NUMBER_VALUE cannot be converted to Boolean"),
            (json!({"NULL": 34.56}), "DECIMAL_VALUE cannot be converted to Boolean"),
            (json!({"BOOL": []}), "Unrecognized collection type class java.lang.Boolean"),
            (json!({"BOOL": {}}), "Start of structure or map found where not expected"),
            (json!({"B": 5}), "only base-64-encoded strings are convertible to bytes"),
            (json!({"B": true}), "only base-64-encoded strings are convertible to bytes"),
            (json!({"B": []}), "Unrecognized collection type class java.nio.ByteBuffer"),
            (json!({"B": {}}), "Start of structure or map found where not expected"),
            (json!({"SS": "a"}), "Unexpected field type"),
            (json!({"NS": 1}), "Unexpected field type"),
            (json!({"BS": {}}), "Start of structure or map found where not expected"),
            (json!({"L": true}), "Unexpected field type"),
            (json!({"L": {}}), "Start of structure or map found where not expected"),
            (json!({"SS": [1]}), "NUMBER_VALUE cannot be converted to String"),
            (json!({"NS": [{}]}), "Start of structure or map found where not expected"),
            (json!({"BS": [true]}), "only base-64-encoded strings are convertible to bytes"),
            (json!({"M": "x"}), "Unexpected field type"),
            (
                json!({"M": []}),
                "Unrecognized collection type java.util.Map<java.lang.String, \
                 com.amazonaws.dynamodb.v20120810.AttributeValue>",
            ),
            (json!({"L": ["x"]}), "Unexpected value type in payload"),
            (json!({"M": {"a": 5}}), "Unexpected value type in payload"),
            (
                json!({"L": [[]]}),
                "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue",
            ),
            (json!("x"), "Unexpected value type in payload"),
            (json!(5), "Unexpected value type in payload"),
        ];
        for (input, message) in cases {
            assert_eq!(parse_value(&input), serialization_err(message), "{input}");
        }
    }

    #[test]
    fn invalid_base64_is_a_serialization_error() {
        let cases = [
            (
                "23456",
                "Base64 encoded length is expected a multiple of 4 bytes but found: 5",
            ),
            ("=+/=", "Invalid last non-pad Base64 character dectected"),
            ("+/+=", "Invalid last non-pad Base64 character dectected"),
            ("AB==", "Invalid last non-pad Base64 character dectected"),
            ("A===", "Invalid last non-pad Base64 character dectected"),
            ("ab!d", "Invalid Base64 character: '!'"),
            ("YWJj-A==", "Invalid Base64 character: '-'"),
            (
                "éé",
                "Base64 encoded length is expected a multiple of 4 bytes but found: 2",
            ),
            ("AAéA", "Invalid Base64 character: 'é'"),
        ];
        for (text, message) in cases {
            assert_eq!(
                parse_value(&json!({ "B": text })),
                serialization_err(message),
                "{text}"
            );
            assert_eq!(
                parse_value(&json!({ "BS": ["AA==", text] })),
                serialization_err(message),
                "BS {text}"
            );
        }
        assert_eq!(
            parse_value(&json!({"B": "AA=="})),
            Ok(AttributeValue::B(vec![0]))
        );
        assert_eq!(
            parse_value(&json!({"B": "/w=="})),
            Ok(AttributeValue::B(vec![255]))
        );
    }

    #[test]
    fn null_must_be_true() {
        assert_eq!(
            parse_value(&json!({"NULL": false})),
            validation(&invalid(
                "Null attribute value types must have the value of true"
            ))
        );
    }

    #[test]
    fn empty_sets_are_rejected() {
        assert_eq!(
            parse_value(&json!({"SS": []})),
            validation(&invalid("An string set  may not be empty"))
        );
        assert_eq!(
            parse_value(&json!({"NS": []})),
            validation(&invalid("An number set  may not be empty"))
        );
        assert_eq!(
            parse_value(&json!({"BS": []})),
            validation(&invalid("Binary sets should not be empty"))
        );
        assert_eq!(
            parse_value(&json!({"M": {"a": {"L": [{"SS": []}]}}})),
            validation(&invalid("An string set  may not be empty"))
        );
    }

    #[test]
    fn null_set_members_are_rejected() {
        assert_eq!(
            parse_value(&json!({"SS": ["a", null]})),
            validation(&invalid(
                "An string set may not have a null string as a member"
            ))
        );
        assert_eq!(
            parse_value(&json!({"NS": ["1", null]})),
            validation(&invalid(
                "An number set may not have a null number as a member"
            ))
        );
        assert_eq!(
            parse_value(&json!({"BS": ["QQ==", null]})),
            validation(&invalid("Binary sets may not contain null or empty values"))
        );
    }

    #[test]
    fn duplicate_set_members_are_rejected() {
        assert_eq!(
            parse_value(&json!({"SS": ["a", "b", "a"]})),
            validation(&invalid("Input collection [a, b, a] contains duplicates."))
        );
        assert_eq!(
            parse_value(&json!({"BS": ["Yg==", "Yg=="]})),
            validation(&invalid(
                "Input collection [Yg==, Yg==]of type BS contains duplicates."
            ))
        );
        assert_eq!(
            parse_value(&json!({"NS": ["1", "1"]})),
            validation("Input collection contains duplicates")
        );
        // Numbers compare by value, not by text.
        for pair in [
            ["1", "1.0"],
            ["100", "1e2"],
            ["-0.5", "-5E-1"],
            ["0", "-0.00"],
        ] {
            assert_eq!(
                parse_value(&json!({ "NS": pair })),
                validation("Input collection contains duplicates"),
                "{pair:?}"
            );
        }
        // "" and "a" differ; so do the byte strings [] and [0].
        assert!(parse_value(&json!({"SS": ["", "a"]})).is_ok());
        assert!(parse_value(&json!({"BS": ["", "AA=="]})).is_ok());
    }

    #[test]
    fn duplicates_in_large_sets_are_found() {
        let mut members: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert!(parse_value(&json!({ "NS": members })).is_ok());
        members.push("42.000".to_owned());
        assert_eq!(
            parse_value(&json!({ "NS": members })),
            validation("Input collection contains duplicates")
        );
    }

    #[test]
    fn malformed_numbers_are_named_in_the_message() {
        for text in ["", "abc", "1e", "0x10"] {
            assert_eq!(
                parse_value(&json!({ "N": text })),
                validation(&format!(
                    "The parameter cannot be converted to a numeric value: {text}"
                ))
            );
        }
    }

    #[test]
    fn invalid_numbers_carry_the_number_error() {
        for text in ["1e126", "1e-131", "123456789012345678901234567890123456789"] {
            let expected = Number::parse(text).expect_err("invalid").to_string();
            assert_eq!(
                parse_value(&json!({ "N": text })),
                validation(&expected),
                "{text}"
            );
            assert_eq!(
                parse_value(&json!({ "NS": ["1", text] })),
                validation(&expected),
                "NS {text}"
            );
        }
        assert_eq!(
            parse_value(&json!({"N": "1e126"})),
            validation(
                "Number overflow. Attempting to store a number with magnitude larger than supported range"
            )
        );
    }

    #[test]
    fn nesting_limit_is_32_levels() {
        // A value wrapped in 31 maps has its leaf at level 32: accepted.
        assert!(parse_value(&nested_maps(31)).is_ok());
        assert!(parse_value(&nested_lists(31)).is_ok());
        let too_deep = validation(msg::NESTING_TOO_DEEP);
        assert_eq!(parse_value(&nested_maps(32)), too_deep);
        assert_eq!(parse_value(&nested_lists(32)), too_deep);
        // Empty documents add no level below themselves.
        let mut empty_at_32 = json!({"M": {}});
        for _ in 0..31 {
            empty_at_32 = json!({"L": [empty_at_32]});
        }
        assert!(parse_value(&empty_at_32).is_ok());
        // In an item, the attribute is level 1 too.
        let item = json!({ "deep": nested_maps(32), "ok": {"S": "x"} });
        assert_eq!(
            parse_item(&item),
            Err(ApiError::Validation(msg::NESTING_TOO_DEEP.to_owned()))
        );
        assert!(parse_item(&json!({ "deep": nested_maps(31) })).is_ok());
        assert!(msg::NESTING_TOO_DEEP.starts_with("Nesting Levels have exceeded supported limits"));
    }

    #[test]
    fn absurd_nesting_does_not_overflow_the_stack() {
        // Built in code, deeper than serde_json would ever parse.
        let mut value = json!({"S": 1});
        for _ in 0..200 {
            value = json!({"L": [value]});
        }
        assert_eq!(parse_value(&value), validation(msg::NESTING_TOO_DEEP));
    }

    #[test]
    fn serialization_errors_win_over_validation_errors() {
        // The validation error comes first in the walk; DynamoDB still reports the
        // serialization error, because it deserializes everything before validating.
        assert_eq!(
            parse_value(&json!({"L": [{"SS": []}, {"S": 1}]})),
            serialization_err("NUMBER_VALUE cannot be converted to String")
        );
        assert_eq!(
            parse_value(&json!({"M": {"a": {"NULL": false}, "b": {"B": "!!!!"}}})),
            serialization_err("Invalid Base64 character: '!'")
        );
        assert_eq!(
            parse_item(&json!({"a": {}, "b": {"BOOL": 3}})),
            Err(ApiError::Serialization(
                "NUMBER_VALUE cannot be converted to Boolean".to_owned()
            ))
        );
        assert_eq!(
            parse_value(&json!({"SS": [null, 5]})),
            serialization_err("NUMBER_VALUE cannot be converted to String")
        );
    }

    #[test]
    fn items_parse_and_reject_non_objects() {
        let item = parse_item(
            &json!({"pk": {"S": "a"}, "n": {"N": "-0.0"}, "m": {"M": {"": {"NULL": true}}}}),
        )
        .expect("valid item");
        assert_eq!(item.len(), 3);
        // An item's attribute needs a name; a map member does not.
        assert_eq!(
            parse_item(&json!({"pk": {"S": "a"}, "": {"NULL": true}})),
            Err(ApiError::validation(
                "One or more parameter values were invalid: Empty attribute name"
            ))
        );
        assert_eq!(item["n"], AttributeValue::N(number("0")));
        assert_eq!(parse_item(&json!({})), Ok(Item::new()));
        for input in [json!("x"), json!(1), json!(true), json!(null)] {
            assert_eq!(
                parse_item(&input),
                Err(ApiError::Serialization("Unexpected field type".to_owned())),
                "{input}"
            );
        }
        assert_eq!(
            parse_item(&json!([])),
            Err(ApiError::Serialization(msg::LIST_FOR_MAP.to_owned()))
        );
        assert_eq!(
            parse_item(&json!({"a": 1})),
            Err(ApiError::Serialization(
                "Unexpected value type in payload".to_owned()
            ))
        );
        assert_eq!(
            parse_item(&json!({"a": {}})),
            Err(ApiError::Validation(msg::EMPTY_VALUE.to_owned()))
        );
    }

    #[test]
    fn error_types_are_dynamodbs() {
        let Err(error) = parse_value(&json!({"S": 1})) else {
            panic!("expected an error")
        };
        assert_eq!(
            error.type_name(),
            "com.amazon.coral.service#SerializationException"
        );
        let Err(error) = parse_value(&json!({})) else {
            panic!("expected an error")
        };
        assert_eq!(
            error.type_name(),
            "com.amazon.coral.validate#ValidationException"
        );
    }
}
