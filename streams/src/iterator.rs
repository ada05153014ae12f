//! Shard iterators: an opaque string naming a shard and the next sequence to read,
//! valid for 15 minutes as in DynamoDB Streams.

use serde::{Deserialize, Serialize};

/// How long an iterator may be used.
pub const ITERATOR_LIFETIME_MS: u64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardIterator {
    pub table_id: u32,
    pub stream_id: u32,
    pub partition: u16,
    /// The next sequence to read.
    pub next: u64,
    /// Epoch milliseconds when the iterator was handed out.
    pub issued_ms: u64,
}

impl ShardIterator {
    pub fn encode(&self) -> String {
        let bytes = bincode::serialize(self).unwrap_or_default();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `None` for anything that is not an iterator this node handed out.
    pub fn decode(text: &str) -> Option<ShardIterator> {
        if !text.len().is_multiple_of(2) || !text.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect();
        bincode::deserialize(&bytes?).ok()
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.issued_ms) > ITERATOR_LIFETIME_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterators_round_trip_and_reject_garbage() {
        let iterator = ShardIterator {
            table_id: 3,
            stream_id: 2,
            partition: 7,
            next: 42,
            issued_ms: 1_000,
        };
        assert_eq!(ShardIterator::decode(&iterator.encode()), Some(iterator));
        assert_eq!(ShardIterator::decode("zz"), None);
        assert_eq!(ShardIterator::decode("abc"), None);
        assert!(iterator.expired(1_000 + ITERATOR_LIFETIME_MS + 1));
        assert!(!iterator.expired(2_000));
    }
}
