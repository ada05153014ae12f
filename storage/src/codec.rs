//! The compact binary codec for items and attribute values: the bytes an item occupies in
//! RocksDB, in the change log and in backups. It is not JSON: JSON is `api`'s business.
//!
//! Layout (every encoding starts with [`FORMAT_VERSION`], so the format can evolve while
//! old bytes stay readable):
//!
//! ```text
//! item  := version:u8  count:varint  (name value)*count     names strictly ascending
//! value := version:u8  body                                  (encode_value / decode_value)
//! body  := tag:u8 payload
//!   S     bytes            N   number            B   bytes
//!   FALSE / TRUE / NULL    (no payload)
//!   SS    count:varint bytes*count     NS  count:varint number*count
//!   BS    count:varint bytes*count
//!   L     count:varint body*count      M   count:varint (name body)*count
//! bytes := len:varint raw     name := bytes (UTF-8)     number := Number::encode_compact
//! ```
//!
//! Set elements are decoded in their canonical order (`sets`), whatever order they
//! were written in.
//!
//! Varints are unsigned LEB128. Map names are written in the map's (byte-wise) order and
//! the decoder insists on strictly ascending names, so every item has exactly one
//! encoding and corrupt or duplicated entries are caught rather than silently merged.
//! Decoding treats its input as untrusted: every length is checked against the bytes
//! that remain, nesting is bounded, and nothing panics.

use crate::number::{Number, NumberError};
use crate::sets;
use crate::value::{AttributeMap, AttributeValue, Item};

/// The version byte written at the start of every encoding.
pub const FORMAT_VERSION: u8 = 1;

/// How deep the decoder follows nested L and M values. Far above DynamoDB's own limit of
/// 32 levels (which `api` enforces before anything is stored), and low enough that corrupt
/// input cannot exhaust the stack.
pub const MAX_DECODE_DEPTH: usize = 128;

mod tag {
    pub const S: u8 = 0x01;
    pub const N: u8 = 0x02;
    pub const B: u8 = 0x03;
    pub const FALSE: u8 = 0x04;
    pub const TRUE: u8 = 0x05;
    pub const NULL: u8 = 0x06;
    pub const SS: u8 = 0x07;
    pub const NS: u8 = 0x08;
    pub const BS: u8 = 0x09;
    pub const L: u8 = 0x0a;
    pub const M: u8 = 0x0b;
}

/// Why bytes are not a valid encoding. Offsets are byte positions in the decoded input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("encoded data is empty")]
    Empty,
    #[error("unsupported codec format version {0}")]
    UnsupportedVersion(u8),
    #[error("encoded data ends early at byte {0}")]
    UnexpectedEnd(usize),
    #[error("unknown type tag {tag:#04x} at byte {offset}")]
    UnknownTag { tag: u8, offset: usize },
    #[error("malformed varint at byte {0}")]
    MalformedVarint(usize),
    #[error("length or count at byte {0} exceeds the remaining data")]
    LengthOutOfRange(usize),
    #[error("invalid UTF-8 in a string at byte {0}")]
    InvalidUtf8(usize),
    #[error("invalid number at byte {offset}: {source}")]
    InvalidNumber { offset: usize, source: NumberError },
    #[error("map names not strictly ascending at byte {0}")]
    UnorderedNames(usize),
    #[error("values nested deeper than {MAX_DECODE_DEPTH} levels at byte {0}")]
    TooDeep(usize),
    #[error("{0} unexpected bytes after the encoded data")]
    TrailingBytes(usize),
}

/// Appends the encoding of `item` to `out`.
pub fn encode_item(item: &Item, out: &mut Vec<u8>) {
    out.reserve(1 + map_len_hint(item));
    out.push(FORMAT_VERSION);
    write_map(item, out);
}

/// Decodes an item written by [`encode_item`]; the whole of `bytes` must be one item.
pub fn decode_item(bytes: &[u8]) -> Result<Item, CodecError> {
    let mut reader = Reader::new(bytes);
    reader.version()?;
    let item = reader.map(0)?;
    reader.finish()?;
    Ok(item)
}

/// Appends the encoding of a single value to `out`.
pub fn encode_value(value: &AttributeValue, out: &mut Vec<u8>) {
    out.reserve(1 + value_len_hint(value));
    out.push(FORMAT_VERSION);
    write_value(value, out);
}

/// Decodes a value written by [`encode_value`]; the whole of `bytes` must be one value.
pub fn decode_value(bytes: &[u8]) -> Result<AttributeValue, CodecError> {
    let mut reader = Reader::new(bytes);
    reader.version()?;
    let value = reader.value(0)?;
    reader.finish()?;
    Ok(value)
}

fn write_value(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(s) => {
            out.push(tag::S);
            write_bytes(s.as_bytes(), out);
        }
        AttributeValue::N(n) => {
            out.push(tag::N);
            n.encode_compact(out);
        }
        AttributeValue::B(b) => {
            out.push(tag::B);
            write_bytes(b, out);
        }
        AttributeValue::Bool(false) => out.push(tag::FALSE),
        AttributeValue::Bool(true) => out.push(tag::TRUE),
        AttributeValue::Null => out.push(tag::NULL),
        AttributeValue::Ss(set) => {
            out.push(tag::SS);
            write_varint(set.len() as u64, out);
            for s in set {
                write_bytes(s.as_bytes(), out);
            }
        }
        AttributeValue::Ns(set) => {
            out.push(tag::NS);
            write_varint(set.len() as u64, out);
            for n in set {
                n.encode_compact(out);
            }
        }
        AttributeValue::Bs(set) => {
            out.push(tag::BS);
            write_varint(set.len() as u64, out);
            for b in set {
                write_bytes(b, out);
            }
        }
        AttributeValue::L(list) => {
            out.push(tag::L);
            write_varint(list.len() as u64, out);
            for element in list {
                write_value(element, out);
            }
        }
        AttributeValue::M(map) => {
            out.push(tag::M);
            write_map(map, out);
        }
    }
}

fn write_map(map: &AttributeMap, out: &mut Vec<u8>) {
    write_varint(map.len() as u64, out);
    for (name, value) in map {
        write_bytes(name.as_bytes(), out);
        write_value(value, out);
    }
}

fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    write_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: usize) -> usize {
    let bits = usize::BITS - (v | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

// Sizing the output once up front avoids the repeated grow-and-copy of a Vec that
// doubles its way up to a 400 KB item. Numbers are estimated by DynamoDB's size rule,
// which tracks the compact encoding closely; an estimate only costs a late reallocation.
fn map_len_hint(map: &AttributeMap) -> usize {
    varint_len(map.len())
        + map
            .iter()
            .map(|(name, value)| varint_len(name.len()) + name.len() + value_len_hint(value))
            .sum::<usize>()
}

fn value_len_hint(value: &AttributeValue) -> usize {
    1 + match value {
        AttributeValue::S(s) => varint_len(s.len()) + s.len(),
        AttributeValue::N(n) => n.size_in_bytes() + 1,
        AttributeValue::B(b) => varint_len(b.len()) + b.len(),
        AttributeValue::Bool(_) | AttributeValue::Null => 0,
        AttributeValue::Ss(set) => {
            varint_len(set.len())
                + set
                    .iter()
                    .map(|s| varint_len(s.len()) + s.len())
                    .sum::<usize>()
        }
        AttributeValue::Ns(set) => {
            varint_len(set.len()) + set.iter().map(|n| n.size_in_bytes() + 1).sum::<usize>()
        }
        AttributeValue::Bs(set) => {
            varint_len(set.len())
                + set
                    .iter()
                    .map(|b| varint_len(b.len()) + b.len())
                    .sum::<usize>()
        }
        AttributeValue::L(list) => {
            varint_len(list.len()) + list.iter().map(value_len_hint).sum::<usize>()
        }
        AttributeValue::M(map) => map_len_hint(map),
    }
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn version(&mut self) -> Result<(), CodecError> {
        match self.bytes.first() {
            None => Err(CodecError::Empty),
            Some(&FORMAT_VERSION) => {
                self.pos = 1;
                Ok(())
            }
            Some(&other) => Err(CodecError::UnsupportedVersion(other)),
        }
    }

    fn finish(&self) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(CodecError::TrailingBytes(extra)),
        }
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or(CodecError::UnexpectedEnd(self.pos))?;
        self.pos += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may only carry the single bit that is left of a u64.
            if shift == 63 && bits > 1 {
                return Err(CodecError::MalformedVarint(start));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::MalformedVarint(start))
    }

    /// A length or element count. Every byte string costs its bytes and every element at
    /// least one byte, so anything beyond the remaining input is corrupt; checking here
    /// also keeps a corrupt count from reserving a huge allocation.
    fn count(&mut self) -> Result<usize, CodecError> {
        let start = self.pos;
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(CodecError::LengthOutOfRange(start)),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let len = self.count()?;
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let start = self.pos;
        let raw = self.bytes()?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| CodecError::InvalidUtf8(start))
    }

    fn number(&mut self) -> Result<Number, CodecError> {
        let offset = self.pos;
        let (number, used) = Number::decode_compact(&self.bytes[self.pos..])
            .map_err(|source| CodecError::InvalidNumber { offset, source })?;
        // Guards the cursor against a decoder that claims more than it was given.
        if used == 0 || used > self.remaining() {
            return Err(CodecError::InvalidNumber {
                offset,
                source: NumberError::Corrupt,
            });
        }
        self.pos += used;
        Ok(number)
    }

    fn value(&mut self, depth: usize) -> Result<AttributeValue, CodecError> {
        let offset = self.pos;
        let value = match self.byte()? {
            tag::S => AttributeValue::S(self.string()?),
            tag::N => AttributeValue::N(self.number()?),
            tag::B => AttributeValue::B(self.bytes()?.to_vec()),
            tag::FALSE => AttributeValue::Bool(false),
            tag::TRUE => AttributeValue::Bool(true),
            tag::NULL => AttributeValue::Null,
            tag::SS => {
                let n = self.count()?;
                let mut set = Vec::with_capacity(n);
                for _ in 0..n {
                    set.push(self.string()?);
                }
                AttributeValue::Ss(sets::canonical(set))
            }
            tag::NS => {
                let n = self.count()?;
                let mut set = Vec::with_capacity(n);
                for _ in 0..n {
                    set.push(self.number()?);
                }
                AttributeValue::Ns(sets::canonical(set))
            }
            tag::BS => {
                let n = self.count()?;
                let mut set = Vec::with_capacity(n);
                for _ in 0..n {
                    set.push(self.bytes()?.to_vec());
                }
                AttributeValue::Bs(sets::canonical(set))
            }
            tag::L => {
                let depth = self.nested(depth, offset)?;
                let n = self.count()?;
                let mut list = Vec::with_capacity(n);
                for _ in 0..n {
                    list.push(self.value(depth)?);
                }
                AttributeValue::L(list)
            }
            tag::M => {
                let depth = self.nested(depth, offset)?;
                AttributeValue::M(self.map(depth)?)
            }
            other => return Err(CodecError::UnknownTag { tag: other, offset }),
        };
        Ok(value)
    }

    fn nested(&self, depth: usize, offset: usize) -> Result<usize, CodecError> {
        if depth >= MAX_DECODE_DEPTH {
            return Err(CodecError::TooDeep(offset));
        }
        Ok(depth + 1)
    }

    fn map(&mut self, depth: usize) -> Result<AttributeMap, CodecError> {
        let n = self.count()?;
        // Entries arrive sorted, so collecting them first lets the map be built in one
        // bulk pass instead of a tree search per insert.
        let mut entries: Vec<(String, AttributeValue)> = Vec::with_capacity(n);
        for _ in 0..n {
            let offset = self.pos;
            let name = self.string()?;
            if let Some((last, _)) = entries.last() {
                if name.as_str() <= last.as_str() {
                    return Err(CodecError::UnorderedNames(offset));
                }
            }
            let value = self.value(depth)?;
            entries.push((name, value));
        }
        Ok(entries.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn number(text: &str) -> Number {
        Number::parse(text).expect("test number parses")
    }

    fn sample_item() -> Item {
        let mut nested = AttributeMap::new();
        nested.insert("inner".to_owned(), AttributeValue::Ns(vec![number("-1.5")]));
        nested.insert("".to_owned(), AttributeValue::S(String::new()));
        let mut item = Item::new();
        item.insert("pk".to_owned(), AttributeValue::S("user#1".to_owned()));
        item.insert("n".to_owned(), AttributeValue::N(number("12345.678")));
        item.insert("b".to_owned(), AttributeValue::B(vec![0, 1, 255]));
        item.insert("t".to_owned(), AttributeValue::Bool(true));
        item.insert("f".to_owned(), AttributeValue::Bool(false));
        item.insert("z".to_owned(), AttributeValue::Null);
        item.insert(
            "ss".to_owned(),
            AttributeValue::Ss(vec!["a".to_owned(), "b".to_owned()]),
        );
        item.insert(
            "bs".to_owned(),
            AttributeValue::Bs(vec![vec![], vec![7; 200]]),
        );
        item.insert(
            "l".to_owned(),
            AttributeValue::L(vec![AttributeValue::Null, AttributeValue::M(nested)]),
        );
        item.insert("ü".to_owned(), AttributeValue::S("é".repeat(100)));
        item
    }

    #[test]
    fn item_round_trips() {
        let item = sample_item();
        let mut bytes = Vec::new();
        encode_item(&item, &mut bytes);
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode_item(&bytes), Ok(item));
    }

    #[test]
    fn encode_appends_to_existing_output() {
        let item = sample_item();
        let mut bytes = vec![0xaa, 0xbb];
        encode_item(&item, &mut bytes);
        assert_eq!(&bytes[..2], &[0xaa, 0xbb]);
        assert_eq!(decode_item(&bytes[2..]), Ok(item));
    }

    #[test]
    fn empty_item_is_two_bytes() {
        let mut bytes = Vec::new();
        encode_item(&Item::new(), &mut bytes);
        assert_eq!(bytes, vec![FORMAT_VERSION, 0]);
        assert_eq!(decode_item(&bytes), Ok(Item::new()));
    }

    #[test]
    fn scalar_layouts_are_compact() {
        let mut bytes = Vec::new();
        encode_value(&AttributeValue::S("hi".to_owned()), &mut bytes);
        assert_eq!(bytes, vec![FORMAT_VERSION, tag::S, 2, b'h', b'i']);
        bytes.clear();
        encode_value(&AttributeValue::Bool(true), &mut bytes);
        assert_eq!(bytes, vec![FORMAT_VERSION, tag::TRUE]);
    }

    #[test]
    fn sets_written_in_another_order_decode_sorted() {
        // Sets stored before sets were kept sorted come back in canonical order.
        let unsorted = AttributeValue::L(vec![
            AttributeValue::Ss(vec!["b".to_owned(), "a".to_owned()]),
            AttributeValue::Ns(vec![number("10"), number("-1"), number("2")]),
            AttributeValue::Bs(vec![vec![0xff], vec![0x00, 0x01]]),
        ]);
        let mut bytes = Vec::new();
        encode_value(&unsorted, &mut bytes);
        assert_eq!(
            decode_value(&bytes),
            Ok(AttributeValue::L(vec![
                AttributeValue::Ss(vec!["a".to_owned(), "b".to_owned()]),
                AttributeValue::Ns(vec![number("-1"), number("2"), number("10")]),
                AttributeValue::Bs(vec![vec![0x00, 0x01], vec![0xff]]),
            ]))
        );
    }

    #[test]
    fn value_round_trips() {
        let value = AttributeValue::M(sample_item());
        let mut bytes = Vec::new();
        encode_value(&value, &mut bytes);
        assert_eq!(decode_value(&bytes), Ok(value));
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [
            0,
            1,
            127,
            128,
            255,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut bytes = Vec::new();
            write_varint(v, &mut bytes);
            assert_eq!(bytes.len(), varint_len_u64(v));
            let mut reader = Reader::new(&bytes);
            assert_eq!(reader.varint(), Ok(v));
            assert_eq!(reader.remaining(), 0);
        }
    }

    fn varint_len_u64(v: u64) -> usize {
        let bits = 64 - (v | 1).leading_zeros();
        bits.div_ceil(7) as usize
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let bytes = [0xff; 11];
        assert_eq!(
            Reader::new(&bytes).varint(),
            Err(CodecError::MalformedVarint(0))
        );
        // Ten bytes whose last carries more than the one bit a u64 has left.
        let mut bytes = vec![0xff; 9];
        bytes.push(0x02);
        assert_eq!(
            Reader::new(&bytes).varint(),
            Err(CodecError::MalformedVarint(0))
        );
    }

    #[test]
    fn corrupt_inputs_give_errors() {
        assert_eq!(decode_item(&[]), Err(CodecError::Empty));
        assert_eq!(decode_item(&[9, 0]), Err(CodecError::UnsupportedVersion(9)));
        assert_eq!(decode_item(&[1]), Err(CodecError::UnexpectedEnd(1)));
        assert_eq!(decode_item(&[1, 0, 0]), Err(CodecError::TrailingBytes(1)));
        // One attribute "a" whose tag is unknown.
        assert_eq!(
            decode_item(&[1, 1, 1, b'a', 0x7f]),
            Err(CodecError::UnknownTag {
                tag: 0x7f,
                offset: 4
            })
        );
        // A string claiming more bytes than remain.
        assert_eq!(
            decode_value(&[1, tag::S, 5, b'a']),
            Err(CodecError::LengthOutOfRange(2))
        );
        // A set claiming a huge count.
        assert_eq!(
            decode_value(&[1, tag::SS, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(CodecError::LengthOutOfRange(2))
        );
        assert_eq!(
            decode_value(&[1, tag::S, 2, 0xc3, 0x28]),
            Err(CodecError::InvalidUtf8(2))
        );
    }

    #[test]
    fn unordered_or_duplicate_names_are_rejected() {
        let duplicate = [1, 2, 1, b'a', tag::NULL, 1, b'a', tag::NULL];
        assert_eq!(decode_item(&duplicate), Err(CodecError::UnorderedNames(5)));
        let descending = [1, 2, 1, b'b', tag::NULL, 1, b'a', tag::NULL];
        assert_eq!(decode_item(&descending), Err(CodecError::UnorderedNames(5)));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut bytes = vec![FORMAT_VERSION];
        for _ in 0..=MAX_DECODE_DEPTH {
            bytes.extend_from_slice(&[tag::L, 1]);
        }
        bytes.push(tag::NULL);
        assert!(matches!(decode_value(&bytes), Err(CodecError::TooDeep(_))));

        let mut value = AttributeValue::Null;
        for _ in 0..MAX_DECODE_DEPTH {
            value = AttributeValue::L(vec![value]);
        }
        let mut bytes = Vec::new();
        encode_value(&value, &mut bytes);
        assert_eq!(decode_value(&bytes), Ok(value));
    }

    #[test]
    fn every_truncation_of_a_valid_item_is_an_error() {
        let mut bytes = Vec::new();
        encode_item(&sample_item(), &mut bytes);
        for end in 0..bytes.len() {
            assert!(decode_item(&bytes[..end]).is_err(), "prefix of {end} bytes");
        }
    }

    fn arb_number() -> impl Strategy<Value = Number> {
        prop_oneof![
            Just("0".to_owned()),
            (any::<bool>(), 1u64..1_000_000, -20i32..20)
                .prop_map(|(neg, m, e)| format!("{}{m}e{e}", if neg { "-" } else { "" })),
            (any::<bool>(), "[1-9][0-9]{0,37}", -125i32..90)
                .prop_map(|(neg, m, e)| format!("{}{m}e{e}", if neg { "-" } else { "" })),
        ]
        .prop_filter_map("outside DynamoDB's range", |text| Number::parse(&text).ok())
    }

    fn arb_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{0,6}",
            any::<String>().prop_map(|s| s.chars().take(8).collect()),
        ]
    }

    fn arb_value() -> impl Strategy<Value = AttributeValue> {
        let leaf = prop_oneof![
            any::<String>().prop_map(AttributeValue::S),
            arb_number().prop_map(AttributeValue::N),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(AttributeValue::B),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::Null),
            proptest::collection::btree_set(any::<String>(), 0..5)
                .prop_map(|set| AttributeValue::Ss(set.into_iter().collect())),
            proptest::collection::btree_set(arb_number(), 0..5)
                .prop_map(|set| AttributeValue::Ns(set.into_iter().collect())),
            proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..10), 0..5)
                .prop_map(|set| AttributeValue::Bs(set.into_iter().collect())),
        ];
        // Depth 3 below a top-level attribute: items are at most 4 levels deep.
        leaf.prop_recursive(3, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(AttributeValue::L),
                proptest::collection::btree_map(arb_name(), inner, 0..6)
                    .prop_map(AttributeValue::M),
            ]
        })
    }

    fn arb_item() -> impl Strategy<Value = Item> {
        proptest::collection::btree_map(arb_name(), arb_value(), 0..8)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_items_round_trip(item in arb_item()) {
            let mut bytes = Vec::new();
            encode_item(&item, &mut bytes);
            prop_assert_eq!(decode_item(&bytes), Ok(item));
        }

        #[test]
        fn random_values_round_trip(value in arb_value()) {
            let mut bytes = Vec::new();
            encode_value(&value, &mut bytes);
            prop_assert_eq!(decode_value(&bytes), Ok(value));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_item(&bytes);
            let _ = decode_value(&bytes);
        }

        #[test]
        fn random_bytes_after_a_version_byte_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut bytes = vec![FORMAT_VERSION];
            bytes.extend_from_slice(&body);
            let _ = decode_item(&bytes);
            let _ = decode_value(&bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(item in arb_item(), index in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let mut bytes = Vec::new();
            encode_item(&item, &mut bytes);
            let at = index.index(bytes.len());
            bytes[at] ^= flip;
            let _ = decode_item(&bytes);
        }
    }
}
