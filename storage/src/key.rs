//! Order-preserving, self-delimiting byte encoding of key values (S, N, B).
//!
//! memcmp order of the encodings is DynamoDB's order of the values: strings by UTF-8
//! bytes, binary by unsigned bytes, numbers numerically. No encoding is a prefix of
//! another value's encoding, so a partition key's encoding can be followed by a sort
//! key's in one RocksDB key, tuples sort as (pk, sk), and a prefix scan over
//! `… | enc(pk)` never matches a different pk.
//!
//! Strings and binary escape each 0x00 as 0x00 0xFF and end with 0x00 0x01: the
//! terminator sorts below every continuation (any byte ≥ 0x01, or an escaped zero),
//! so a shorter value sorts before its extensions. Numbers use
//! [`Number::encode_sortable`], which is self-delimiting on its own.

use crate::number::{Number, NumberError};
use crate::value::{AttributeValue, ScalarType};

const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

/// Why a value cannot be encoded as a key, or key bytes cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyEncodingError {
    #[error("key values must be of type S, N or B, not {0}")]
    UnsupportedType(&'static str),
    #[error("a key prefix must be of type S or B, not {0}")]
    UnsupportedPrefixType(&'static str),
    #[error("key bytes end inside a value")]
    Truncated,
    #[error("invalid escape sequence in key bytes")]
    InvalidEscape,
    #[error("string key bytes are not valid UTF-8")]
    InvalidUtf8,
    #[error("invalid number in key bytes: {0}")]
    Number(#[from] NumberError),
}

/// Appends the order-preserving encoding of a key value (S, N or B).
pub fn encode_key_value(value: &AttributeValue, out: &mut Vec<u8>) -> Result<(), KeyEncodingError> {
    match value {
        AttributeValue::S(text) => encode_bytes(text.as_bytes(), out),
        AttributeValue::B(bytes) => encode_bytes(bytes, out),
        AttributeValue::N(number) => number.encode_sortable(out),
        other => return Err(KeyEncodingError::UnsupportedType(other.type_name())),
    }
    Ok(())
}

/// Appends the encoding of an S or B value without its terminator. Every value
/// that starts with `prefix` encodes to bytes starting with these, so this is the
/// scan prefix for a `begins_with` sort-key condition.
pub fn encode_key_prefix(
    prefix: &AttributeValue,
    out: &mut Vec<u8>,
) -> Result<(), KeyEncodingError> {
    match prefix {
        AttributeValue::S(text) => escape_bytes(text.as_bytes(), out),
        AttributeValue::B(bytes) => escape_bytes(bytes, out),
        other => return Err(KeyEncodingError::UnsupportedPrefixType(other.type_name())),
    }
    Ok(())
}

/// Reads one encoded value of type `ty` from the front of `bytes`, returning it and
/// how many bytes it took.
pub fn decode_key_value(
    ty: ScalarType,
    bytes: &[u8],
) -> Result<(AttributeValue, usize), KeyEncodingError> {
    match ty {
        ScalarType::S => {
            let (raw, used) = decode_bytes(bytes)?;
            let text = String::from_utf8(raw).map_err(|_| KeyEncodingError::InvalidUtf8)?;
            Ok((AttributeValue::S(text), used))
        }
        ScalarType::B => {
            let (raw, used) = decode_bytes(bytes)?;
            Ok((AttributeValue::B(raw), used))
        }
        ScalarType::N => {
            let (number, used) = Number::decode_sortable(bytes)?;
            Ok((AttributeValue::N(number), used))
        }
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    escape_bytes(bytes, out);
    out.extend_from_slice(&[ESCAPE, TERMINATOR]);
}

fn escape_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() + 2);
    let mut chunks = bytes.split(|byte| *byte == ESCAPE);
    if let Some(first) = chunks.next() {
        out.extend_from_slice(first);
    }
    for chunk in chunks {
        out.extend_from_slice(&[ESCAPE, ESCAPED_ZERO]);
        out.extend_from_slice(chunk);
    }
}

fn decode_bytes(bytes: &[u8]) -> Result<(Vec<u8>, usize), KeyEncodingError> {
    let mut raw = Vec::new();
    let mut at = 0;
    loop {
        let rest = bytes.get(at..).unwrap_or_default();
        let zero = rest
            .iter()
            .position(|byte| *byte == ESCAPE)
            .ok_or(KeyEncodingError::Truncated)?;
        raw.extend_from_slice(&rest[..zero]);
        at += zero + 2;
        match rest.get(zero + 1) {
            Some(&TERMINATOR) => return Ok((raw, at)),
            Some(&ESCAPED_ZERO) => raw.push(0),
            Some(_) => return Err(KeyEncodingError::InvalidEscape),
            None => return Err(KeyEncodingError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(value: &AttributeValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key_value(value, &mut out).unwrap();
        out
    }

    fn number(text: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(text).unwrap())
    }

    #[test]
    fn escapes_and_terminates_bytes() {
        assert_eq!(encode(&AttributeValue::S(String::new())), [0x00, 0x01]);
        assert_eq!(
            encode(&AttributeValue::S("ab".into())),
            [b'a', b'b', 0x00, 0x01]
        );
        assert_eq!(
            encode(&AttributeValue::B(vec![0, 1, 0, 0, 0xFF])),
            [0x00, 0xFF, 0x01, 0x00, 0xFF, 0x00, 0xFF, 0xFF, 0x00, 0x01]
        );
    }

    #[test]
    fn orders_edge_cases() {
        let binaries: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![0, 1],
            vec![0, 0xFF],
            vec![1],
            vec![1, 0],
            vec![0xFF],
            vec![0xFF, 0],
        ];
        for pair in binaries.windows(2) {
            let (a, b) = (
                AttributeValue::B(pair[0].clone()),
                AttributeValue::B(pair[1].clone()),
            );
            assert!(encode(&a) < encode(&b), "{pair:?}");
        }
        // UTF-8 byte order, not UTF-16 order: U+FF61 sorts before U+1F600.
        let (a, b) = (
            AttributeValue::S("\u{FF61}".into()),
            AttributeValue::S("\u{1F600}".into()),
        );
        assert!(encode(&a) < encode(&b));
        assert!(encode(&number("-10")) < encode(&number("-9")));
        assert!(encode(&number("9")) < encode(&number("10")));
    }

    #[test]
    fn rejects_non_key_types() {
        let mut out = Vec::new();
        for value in [
            AttributeValue::Bool(true),
            AttributeValue::Null,
            AttributeValue::Ss(vec!["a".into()]),
            AttributeValue::L(vec![]),
        ] {
            assert_eq!(
                encode_key_value(&value, &mut out),
                Err(KeyEncodingError::UnsupportedType(value.type_name()))
            );
        }
        assert_eq!(
            encode_key_prefix(&number("1"), &mut out),
            Err(KeyEncodingError::UnsupportedPrefixType("N"))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn rejects_bad_bytes() {
        assert_eq!(
            decode_key_value(ScalarType::S, b"abc"),
            Err(KeyEncodingError::Truncated)
        );
        assert_eq!(
            decode_key_value(ScalarType::S, b"abc\0"),
            Err(KeyEncodingError::Truncated)
        );
        assert_eq!(
            decode_key_value(ScalarType::B, b"a\0\x02"),
            Err(KeyEncodingError::InvalidEscape)
        );
        assert_eq!(
            decode_key_value(ScalarType::S, b"\xFF\0\x01"),
            Err(KeyEncodingError::InvalidUtf8)
        );
        assert_eq!(
            decode_key_value(ScalarType::N, b"\x09"),
            Err(KeyEncodingError::Number(NumberError::Corrupt))
        );
    }

    #[test]
    fn prefix_matches_extensions_only() {
        let mut prefix = Vec::new();
        encode_key_prefix(&AttributeValue::S("ab".into()), &mut prefix).unwrap();
        assert!(encode(&AttributeValue::S("ab".into())).starts_with(&prefix));
        assert!(encode(&AttributeValue::S("abc".into())).starts_with(&prefix));
        assert!(!encode(&AttributeValue::S("a".into())).starts_with(&prefix));
        assert!(!encode(&AttributeValue::S("b".into())).starts_with(&prefix));
    }

    // ---- property tests ----

    /// Short strings over a small alphabet (NUL and multi-byte characters included)
    /// so shared prefixes and escapes are common.
    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(
                prop::sample::select(vec!['\0', '\u{1}', 'a', 'b', 'é', '\u{FF61}', '😀']),
                0..6
            )
            .prop_map(|chars| chars.into_iter().collect()),
            any::<String>(),
        ]
    }

    fn binary() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(prop::sample::select(vec![0u8, 1, 0x7F, 0xFE, 0xFF]), 0..6),
            proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    fn number_value() -> impl Strategy<Value = Number> {
        prop_oneof![
            (any::<bool>(), 0u128..1000, -3i32..=3).prop_map(|(negative, mantissa, exponent)| {
                Number::from_parts(negative, mantissa, exponent).unwrap()
            }),
            (any::<bool>(), 1u128..10u128.pow(38), -130i32..=88).prop_map(
                |(negative, mantissa, exponent)| {
                    Number::from_parts(negative, mantissa, exponent).unwrap_or(Number::ZERO)
                }
            ),
        ]
    }

    /// A key value of one type, with the type's own ordering as a comparator.
    #[derive(Debug, Clone)]
    enum Key {
        S(String),
        N(Number),
        B(Vec<u8>),
    }

    impl Key {
        fn value(&self) -> AttributeValue {
            match self {
                Key::S(text) => AttributeValue::S(text.clone()),
                Key::N(number) => AttributeValue::N(*number),
                Key::B(bytes) => AttributeValue::B(bytes.clone()),
            }
        }

        fn ty(&self) -> ScalarType {
            match self {
                Key::S(_) => ScalarType::S,
                Key::N(_) => ScalarType::N,
                Key::B(_) => ScalarType::B,
            }
        }

        fn dynamo_cmp(&self, other: &Key) -> std::cmp::Ordering {
            match (self, other) {
                (Key::S(a), Key::S(b)) => a.as_bytes().cmp(b.as_bytes()),
                (Key::N(a), Key::N(b)) => a.cmp(b),
                (Key::B(a), Key::B(b)) => a.cmp(b),
                _ => unreachable!("pairs are generated with one type"),
            }
        }
    }

    fn key_pair() -> impl Strategy<Value = (Key, Key)> {
        prop_oneof![
            (string(), string()).prop_map(|(a, b)| (Key::S(a), Key::S(b))),
            (number_value(), number_value()).prop_map(|(a, b)| (Key::N(a), Key::N(b))),
            (binary(), binary()).prop_map(|(a, b)| (Key::B(a), Key::B(b))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn encoding_order_is_dynamo_order((a, b) in key_pair()) {
            prop_assert_eq!(encode(&a.value()).cmp(&encode(&b.value())), a.dynamo_cmp(&b));
        }

        #[test]
        fn decode_inverts_encode((a, b) in key_pair()) {
            // Decoding the first of two concatenated values stops at its end.
            let first = encode(&a.value());
            let mut both = first.clone();
            both.extend(encode(&b.value()));
            let (decoded, used) = decode_key_value(a.ty(), &both).unwrap();
            prop_assert_eq!(decoded, a.value());
            prop_assert_eq!(used, first.len());
            let (decoded, rest) = decode_key_value(b.ty(), &both[used..]).unwrap();
            prop_assert_eq!(decoded, b.value());
            prop_assert_eq!(used + rest, both.len());
        }

        #[test]
        fn no_encoding_prefixes_another((a, b) in key_pair()) {
            if a.dynamo_cmp(&b) != std::cmp::Ordering::Equal {
                prop_assert!(!encode(&b.value()).starts_with(&encode(&a.value())));
            }
        }

        #[test]
        fn concatenation_orders_as_tuple((pk1, pk2) in key_pair(), (sk1, sk2) in key_pair()) {
            // pk and sk types are independent; within each, the two sides share a type.
            let mut left = encode(&pk1.value());
            left.extend(encode(&sk1.value()));
            let mut right = encode(&pk2.value());
            right.extend(encode(&sk2.value()));
            let expected = pk1.dynamo_cmp(&pk2).then_with(|| sk1.dynamo_cmp(&sk2));
            prop_assert_eq!(left.cmp(&right), expected);
        }

        /// A multi-attribute sort key is queried with equalities on its first
        /// attributes and a range on the next: one byte range must hold exactly the
        /// entries that match, whatever follows them (the table key).
        #[test]
        fn equal_prefix_and_range_are_one_byte_range(
            (first, other) in key_pair(),
            same_first in any::<bool>(),
            (second, low) in key_pair(),
            high in any::<u8>(),
            tail in binary(),
        ) {
            let wanted = if same_first { first.clone() } else { other };
            // `high` is a third value of the second attribute's type.
            let high = match &second {
                Key::S(_) => Key::S(char::from(high % 128).to_string()),
                Key::B(_) => Key::B(vec![high]),
                Key::N(_) => Key::N(Number::from_parts(false, u128::from(high), 0).unwrap()),
            };
            let equal = encode(&wanted.value());
            let start = [equal.as_slice(), &encode(&low.value())].concat();
            let end = [equal.as_slice(), &encode(&high.value())].concat();
            let mut entry = encode(&first.value());
            entry.extend(encode(&second.value()));
            entry.extend(&tail);
            let matches = first.dynamo_cmp(&wanted) == std::cmp::Ordering::Equal
                && second.dynamo_cmp(&low) != std::cmp::Ordering::Less
                && second.dynamo_cmp(&high) == std::cmp::Ordering::Less;
            prop_assert_eq!(start <= entry && entry < end, matches);
        }

        #[test]
        fn prefix_encoding_matches_begins_with(value in string(), prefix in string()) {
            let mut encoded_prefix = Vec::new();
            encode_key_prefix(&AttributeValue::S(prefix.clone()), &mut encoded_prefix).unwrap();
            let encoded = encode(&AttributeValue::S(value.clone()));
            prop_assert_eq!(encoded.starts_with(&encoded_prefix), value.starts_with(&prefix));
        }
    }
}
