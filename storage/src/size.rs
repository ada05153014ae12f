//! DynamoDB's item size: what the 400 KB item limit and capacity units are measured in.
//!
//! The rule, from the DynamoDB Developer Guide, "DynamoDB item sizes and formats"
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>),
//! and matching dynalite's `itemSize`/`valSize` (`db/index.js`), an emulator whose
//! sizes are tested against DynamoDB's "Item size has exceeded the maximum allowed
//! size" boundary:
//!
//! - an item is the sum over its attributes of (UTF-8 bytes of the name) + (value size);
//! - S: its UTF-8 bytes; B: its raw (decoded) bytes;
//! - N: [`Number::size_in_bytes`](crate::Number::size_in_bytes), about one byte per two
//!   significant digits plus one;
//! - BOOL and NULL: 1 byte;
//! - SS, NS, BS: the sum of their elements' sizes;
//! - L and M: 3 bytes of overhead regardless of contents, plus 1 byte per element, plus
//!   the elements: an L element is its value size, an M element is its name's UTF-8
//!   bytes plus its value size. So an empty L or M is 3 bytes.

use crate::value::{AttributeMap, AttributeValue, Item};

/// Bytes an L or M costs before any of its elements.
const DOCUMENT_OVERHEAD: usize = 3;
/// Bytes each element of an L or M costs on top of its own size.
const DOCUMENT_ELEMENT_OVERHEAD: usize = 1;

/// DynamoDB's maximum item size, attribute names and values included.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The DynamoDB size of a whole item.
pub fn item_size(item: &Item) -> usize {
    attributes_size(item)
}

/// The DynamoDB size of one value, without the name of the attribute holding it.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.size_in_bytes(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Bool(_) | AttributeValue::Null => 1,
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| n.size_in_bytes()).sum(),
        AttributeValue::Bs(set) => set.iter().map(Vec::len).sum(),
        AttributeValue::L(list) => {
            DOCUMENT_OVERHEAD
                + list
                    .iter()
                    .map(|element| DOCUMENT_ELEMENT_OVERHEAD + value_size(element))
                    .sum::<usize>()
        }
        AttributeValue::M(map) => {
            DOCUMENT_OVERHEAD + map.len() * DOCUMENT_ELEMENT_OVERHEAD + attributes_size(map)
        }
    }
}

fn attributes_size(map: &AttributeMap) -> usize {
    map.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::Number;

    fn number(text: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(text).expect("test number parses"))
    }

    fn item(attributes: Vec<(&str, AttributeValue)>) -> Item {
        attributes
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    #[test]
    fn strings_count_utf8_bytes() {
        assert_eq!(value_size(&AttributeValue::S("abc".to_owned())), 3);
        assert_eq!(value_size(&AttributeValue::S(String::new())), 0);
        // "é" is 2 bytes, "€" 3, "😀" 4: bytes, not characters or UTF-16 units.
        assert_eq!(value_size(&AttributeValue::S("é€😀".to_owned())), 9);
    }

    #[test]
    fn binary_counts_raw_bytes() {
        assert_eq!(value_size(&AttributeValue::B(vec![0; 10])), 10);
        assert_eq!(value_size(&AttributeValue::B(Vec::new())), 0);
    }

    #[test]
    fn bool_and_null_are_one_byte() {
        assert_eq!(value_size(&AttributeValue::Bool(false)), 1);
        assert_eq!(value_size(&AttributeValue::Null), 1);
    }

    #[test]
    fn numbers_use_the_number_rule() {
        for text in ["0", "1", "-1", "12345", "1.5", "1e125", "-9.99e-130"] {
            let value = number(text);
            let AttributeValue::N(n) = &value else {
                unreachable!()
            };
            assert_eq!(value_size(&value), n.size_in_bytes(), "{text}");
        }
    }

    #[test]
    fn sets_are_the_sum_of_their_members() {
        let ss = AttributeValue::Ss(vec!["ab".to_owned(), "cde".to_owned(), String::new()]);
        assert_eq!(value_size(&ss), 5);
        let bs = AttributeValue::Bs(vec![vec![1, 2], vec![3]]);
        assert_eq!(value_size(&bs), 3);
        let ns = AttributeValue::Ns(vec![
            Number::parse("1").expect("parses"),
            Number::parse("-12.5").expect("parses"),
        ]);
        let expected = Number::parse("1").expect("parses").size_in_bytes()
            + Number::parse("-12.5").expect("parses").size_in_bytes();
        assert_eq!(value_size(&ns), expected);
    }

    #[test]
    fn empty_list_and_map_are_three_bytes() {
        assert_eq!(value_size(&AttributeValue::L(Vec::new())), 3);
        assert_eq!(value_size(&AttributeValue::M(AttributeMap::new())), 3);
    }

    #[test]
    fn list_adds_one_byte_per_element() {
        // 3 overhead + (1 + 3 for "abc") + (1 + 1 for true) = 9
        let list = AttributeValue::L(vec![
            AttributeValue::S("abc".to_owned()),
            AttributeValue::Bool(true),
        ]);
        assert_eq!(value_size(&list), 9);
    }

    #[test]
    fn map_adds_one_byte_per_element_and_counts_names() {
        // 3 overhead + (1 + "ab" 2 + "xyz" 3) + (1 + "c" 1 + NULL 1) = 12
        let map = AttributeValue::M(item(vec![
            ("ab", AttributeValue::S("xyz".to_owned())),
            ("c", AttributeValue::Null),
        ]));
        assert_eq!(value_size(&map), 12);
    }

    #[test]
    fn nested_documents_add_up() {
        // inner M {"k": S "v"}: 3 + 1 + 1 + 1 = 6
        // L [inner, NULL]: 3 + (1 + 6) + (1 + 1) = 12
        let inner = AttributeValue::M(item(vec![("k", AttributeValue::S("v".to_owned()))]));
        let list = AttributeValue::L(vec![inner, AttributeValue::Null]);
        assert_eq!(value_size(&list), 12);
    }

    #[test]
    fn item_is_names_plus_values() {
        // "id"(2) + "abc"(3) + "flag"(4) + BOOL(1) + "tags"(4) + SS "a","bb"(3)
        // + "doc"(3) + M {"x": NULL} (3 + 1 + 1 + 1 = 6) = 26
        let it = item(vec![
            ("id", AttributeValue::S("abc".to_owned())),
            ("flag", AttributeValue::Bool(true)),
            (
                "tags",
                AttributeValue::Ss(vec!["a".to_owned(), "bb".to_owned()]),
            ),
            (
                "doc",
                AttributeValue::M(item(vec![("x", AttributeValue::Null)])),
            ),
        ]);
        assert_eq!(item_size(&it), 26);
        assert_eq!(item_size(&Item::new()), 0);
    }

    #[test]
    fn item_with_number_matches_the_guide() {
        // "n" (1) + N "12345": five significant digits are ceil(5 / 2) = 3 bytes plus 1,
        // by the guide's rule and by dynalite's exact one alike.
        let it = item(vec![("n", number("12345"))]);
        assert_eq!(item_size(&it), 5);
    }
}
