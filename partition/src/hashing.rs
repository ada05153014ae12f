//! Which partition owns a partition-key value.
//!
//! Each partition owns a contiguous range of a 64-bit hash space, so that a partition
//! can later be split in two without rehashing every other partition's keys.

use xxhash_rust::xxh3::xxh3_64;

/// The stable 64-bit hash of an encoded partition key. xxh3 is fixed by its
/// specification, so the same key maps to the same partition across versions.
pub fn partition_key_hash(encoded_partition_key: &[u8]) -> u64 {
    xxh3_64(encoded_partition_key)
}

/// The partition, of `partitions` equal hash ranges, that owns `hash`.
pub fn partition_of(hash: u64, partitions: u16) -> u16 {
    ((u128::from(hash) * u128::from(partitions)) >> 64) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ranges_cover_every_partition_in_order() {
        assert_eq!(partition_of(0, 4), 0);
        assert_eq!(partition_of(u64::MAX, 4), 3);
        assert_eq!(partition_of(u64::MAX / 4, 4), 0);
        assert_eq!(partition_of(u64::MAX / 4 + 1, 4), 1);
        assert_eq!(partition_of(12345, 1), 0);
    }

    #[test]
    fn keys_spread_over_partitions() {
        let mut counts = [0u32; 8];
        for i in 0..8000u32 {
            let key = format!("user#{i}");
            counts[usize::from(partition_of(partition_key_hash(key.as_bytes()), 8))] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
