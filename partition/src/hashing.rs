//! Which partition owns a partition-key value.
//!
//! Each partition owns a contiguous range of a 64-bit hash space, so that a partition
//! can later be split in two without rehashing every other partition's keys.

use std::ops::RangeInclusive;

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

/// The hash range of segment `segment` of `total_segments` equal ranges: a parallel
/// Scan's segment.
pub fn segment_range(segment: u32, total_segments: u32) -> RangeInclusive<u64> {
    let total = u128::from(total_segments.max(1));
    let low = ((u128::from(segment) << 64) / total) as u64;
    let high = (((u128::from(segment) + 1) << 64) / total).saturating_sub(1) as u64;
    low..=high
}

/// The partitions, of `partitions` equal hash ranges, that hold some of `range`.
pub fn partitions_of(range: &RangeInclusive<u64>, partitions: u16) -> RangeInclusive<u16> {
    partition_of(*range.start(), partitions)..=partition_of(*range.end(), partitions)
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
    fn segments_cover_the_hash_space_and_map_to_their_partitions() {
        assert_eq!(segment_range(0, 1), 0..=u64::MAX);
        assert_eq!(segment_range(0, 2), 0..=u64::MAX / 2);
        assert_eq!(segment_range(1, 2), u64::MAX / 2 + 1..=u64::MAX);
        // Segments aligned with partitions read only their own.
        assert_eq!(partitions_of(&segment_range(1, 4), 4), 1..=1);
        assert_eq!(partitions_of(&segment_range(3, 8), 4), 1..=1);
        // A segment straddling a partition boundary reads both partitions.
        assert_eq!(partitions_of(&segment_range(1, 3), 4), 1..=2);
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
