//! The expiry index behind TTL: for a table with TTL enabled, an entry per item whose
//! TTL attribute makes it expire, ordered by expiry time, written in the same batch as
//! the item change. The sweeper reads only the index's expired head, so its work is
//! proportional to the number of expired items, not to the table's size.
//!
//! `expiry` column family: `table_id u32 · partition u16 · expiry u64 (epoch seconds) ·
//! item key suffix` → empty.

use cirrus_storage::engine::partition_prefix;
use cirrus_storage::{AttributeValue, Item};

/// DynamoDB ignores TTL values more than five years in the past.
pub const MAX_PAST_SECONDS: u64 = 5 * 365 * 24 * 3600;

/// When the item expires, by DynamoDB's rule: its TTL attribute is a Number of epoch
/// seconds no more than five years before `now`. Anything else never expires.
pub fn expiry_of(item: &Item, attribute: &str, now: u64) -> Option<u64> {
    let AttributeValue::N(number) = item.get(attribute)? else {
        return None;
    };
    let seconds = number.to_string().parse::<f64>().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    let seconds = seconds.floor() as u64;
    (seconds + MAX_PAST_SECONDS >= now).then_some(seconds)
}

/// The prefix of one partition's expiry entries.
pub fn expiry_prefix(table_id: u32, partition: u16) -> [u8; 6] {
    partition_prefix(table_id, partition)
}

/// The entry of an item (by its key below the partition prefix) expiring at `expiry`.
pub fn expiry_key(table_id: u32, partition: u16, expiry: u64, item_key_suffix: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(14 + item_key_suffix.len());
    key.extend_from_slice(&expiry_prefix(table_id, partition));
    key.extend_from_slice(&expiry.to_be_bytes());
    key.extend_from_slice(item_key_suffix);
    key
}

/// The expiry time and item key suffix of an entry key.
pub fn parse_expiry_key(key: &[u8]) -> Option<(u64, &[u8])> {
    let expiry = u64::from_be_bytes(key.get(6..14)?.try_into().ok()?);
    Some((expiry, &key[14..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cirrus_storage::Number;

    fn with_ttl(value: AttributeValue) -> Item {
        Item::from([("ttl".to_string(), value)])
    }

    fn number(text: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(text).unwrap_or(Number::ZERO))
    }

    #[test]
    fn only_recent_numbers_expire() {
        let now = 1_800_000_000;
        assert_eq!(
            expiry_of(&with_ttl(number("1800000005")), "ttl", now),
            Some(1_800_000_005)
        );
        assert_eq!(
            expiry_of(&with_ttl(number("1799999999.7")), "ttl", now),
            Some(1_799_999_999)
        );
        let six_years_ago = (now - 6 * 365 * 24 * 3600).to_string();
        assert_eq!(
            expiry_of(&with_ttl(number(&six_years_ago)), "ttl", now),
            None
        );
        assert_eq!(
            expiry_of(
                &with_ttl(AttributeValue::S("1800000005".into())),
                "ttl",
                now
            ),
            None
        );
        assert_eq!(expiry_of(&with_ttl(number("-5")), "ttl", now), None);
        assert_eq!(expiry_of(&Item::new(), "ttl", now), None);
    }

    #[test]
    fn entries_sort_by_expiry() {
        let early = expiry_key(1, 0, 5, b"zzz");
        let late = expiry_key(1, 0, 6, b"aaa");
        assert!(early < late);
        assert_eq!(parse_expiry_key(&late), Some((6, &b"aaa"[..])));
    }
}
