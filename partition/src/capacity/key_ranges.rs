//! DynamoDB's partitions as a table's throughput sees them.
//!
//! DynamoDB caps each of its partitions at 3,000 read and 1,000 write units a second,
//! and gives a table as many partitions as its throughput needs: a new on-demand table
//! serves 12,000 reads and 4,000 writes a second at once, an on-demand table serves
//! twice its previous peak, a provisioned table has room for what it is provisioned
//! (read units / 3,000 + write units / 1,000 partitions), and partitions only ever
//! split. Cirrus follows those rules with key ranges: equal slices of the
//! partition-key hash space, each with one DynamoDB partition's ceilings. Their number
//! is the table's capacity, not how many Raft groups hold it, so a hot partition key
//! is throttled where DynamoDB would throttle it and a table is never throttled for
//! having few Raft groups.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;

use super::bucket::{now_micros, Pair};
use super::Bucket;

/// One DynamoDB partition's ceilings, per second.
pub const PARTITION_READ_UNITS: u64 = 3_000;
pub const PARTITION_WRITE_UNITS: u64 = 1_000;
/// What a new on-demand table serves at once, per second.
pub const ON_DEMAND_INITIAL_READ_UNITS: u64 = 12_000;
pub const ON_DEMAND_INITIAL_WRITE_UNITS: u64 = 4_000;
/// DynamoDB never splits a table into more partitions than its quotas could use
/// (40,000 read and 40,000 write units); the bound keeps the buckets small.
const MAX_RANGES: usize = 1_024;

/// The key ranges provisioned throughput needs: DynamoDB's published sizing.
pub fn ranges_for_provisioned(read_units: u64, write_units: u64) -> usize {
    let exact = read_units as f64 / PARTITION_READ_UNITS as f64
        + write_units as f64 / PARTITION_WRITE_UNITS as f64;
    (exact.ceil() as usize).clamp(1, MAX_RANGES)
}

/// The key ranges that serve `read_units` and `write_units` a second at once.
pub fn ranges_serving(read_units: u64, write_units: u64) -> usize {
    (read_units.div_ceil(PARTITION_READ_UNITS))
        .max(write_units.div_ceil(PARTITION_WRITE_UNITS))
        .clamp(1, MAX_RANGES as u64) as usize
}

/// The busiest second so far of a table's reads or writes.
#[derive(Debug, Default)]
struct Peak {
    second: AtomicU64,
    units_milli: AtomicU64,
    peak_milli: AtomicU64,
}

impl Peak {
    /// Counts `units` in the current second; returns the new peak (in units) when the
    /// second that just ended beat every earlier one.
    fn record(&self, units: f64) -> Option<u64> {
        let now = now_micros() / 1_000_000;
        let second = self.second.load(Ordering::Relaxed);
        let mut new_peak = None;
        if now != second
            && self
                .second
                .compare_exchange(second, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let ended = self.units_milli.swap(0, Ordering::Relaxed);
            if ended > self.peak_milli.fetch_max(ended, Ordering::Relaxed) {
                new_peak = Some(ended.div_ceil(1000));
            }
        }
        self.units_milli
            .fetch_add((units * 1000.0) as u64, Ordering::Relaxed);
        new_peak
    }

    fn units(&self) -> u64 {
        self.peak_milli.load(Ordering::Relaxed).div_ceil(1000)
    }
}

/// Which key range a request hits, and whether it was refused there.
#[derive(Debug)]
pub(super) struct KeyRanges {
    ranges: RwLock<Vec<Pair>>,
    count: AtomicUsize,
    read_peak: Peak,
    write_peak: Peak,
}

/// The range, of `count` equal slices of the hash space, that holds `hash`.
fn range_of(hash: u64, count: usize) -> usize {
    (((u128::from(hash) * count as u128) >> 64) as usize).min(count.saturating_sub(1))
}

fn full_range() -> Pair {
    Pair {
        read: Bucket::limited(PARTITION_READ_UNITS, 1),
        write: Bucket::limited(PARTITION_WRITE_UNITS, 1),
    }
}

impl KeyRanges {
    pub fn new(count: usize) -> KeyRanges {
        let count = count.clamp(1, MAX_RANGES);
        KeyRanges {
            ranges: RwLock::new((0..count).map(|_| full_range()).collect()),
            count: AtomicUsize::new(count),
            read_peak: Peak::default(),
            write_peak: Peak::default(),
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Splits into at least `count` ranges; never merges. Each new range starts with
    /// the tokens of the range its keys come from, so a hot key stays throttled.
    pub fn grow_to(&self, count: usize) {
        let count = count.min(MAX_RANGES);
        if count <= self.count() {
            return;
        }
        let mut ranges = self
            .ranges
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if count > ranges.len() {
            let split: Vec<Pair> = (0..count)
                .map(|i| {
                    let first_hash = ((i as u128) << 64) / count as u128;
                    ranges[range_of(first_hash as u64, ranges.len())].split_off()
                })
                .collect();
            *ranges = split;
            self.count.store(count, Ordering::Relaxed);
        }
    }

    fn with_range<T>(&self, hash: u64, f: impl FnOnce(&Pair) -> T) -> T {
        let ranges = self
            .ranges
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&ranges[range_of(hash, ranges.len())])
    }

    pub fn admits_read(&self, hash: u64) -> bool {
        self.with_range(hash, |range| range.read.admits())
    }

    pub fn admits_write(&self, hash: u64) -> bool {
        self.with_range(hash, |range| range.write.admits())
    }

    /// Charges a read of the range of `hash` (none: a scan, spread over all of them),
    /// and splits when the table's busiest second says DynamoDB would have.
    pub fn charge_read(&self, hash: Option<u64>, units: f64) {
        if let Some(hash) = hash {
            self.with_range(hash, |range| range.read.charge(units));
        }
        if self.read_peak.record(units).is_some() {
            self.follow_peaks();
        }
    }

    /// Takes (or, negative, gives back) write units of the range of `hash` without
    /// counting them as traffic: a reservation until the actual charge.
    pub fn hold_write(&self, hash: u64, units: f64) {
        self.with_range(hash, |range| range.write.charge(units));
    }

    pub fn charge_write(&self, hash: u64, units: f64) {
        self.with_range(hash, |range| range.write.charge(units));
        if self.write_peak.record(units).is_some() {
            self.follow_peaks();
        }
    }

    /// DynamoDB serves twice a table's previous peak at once: split so that the
    /// ranges do.
    fn follow_peaks(&self) {
        self.grow_to(ranges_serving(
            2 * self.read_peak.units(),
            2 * self.write_peak.units(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_follows_dynamodb() {
        assert_eq!(
            ranges_serving(ON_DEMAND_INITIAL_READ_UNITS, ON_DEMAND_INITIAL_WRITE_UNITS),
            4
        );
        assert_eq!(ranges_for_provisioned(5, 5), 1);
        assert_eq!(ranges_for_provisioned(3_000, 1_000), 2);
        assert_eq!(ranges_for_provisioned(3_001, 0), 2);
        assert_eq!(ranges_for_provisioned(40_000, 40_000), 54);
    }

    #[test]
    fn a_hot_key_is_held_to_one_range_while_others_are_free() {
        let ranges = KeyRanges::new(4);
        let hot = 0u64;
        let mut admitted = 0.0;
        while ranges.admits_write(hot) && admitted < 10_000.0 {
            ranges.with_range(hot, |range| range.write.charge(100.0));
            admitted += 100.0;
        }
        assert!(
            (1_000.0..=1_100.0).contains(&admitted),
            "one range admits one second of 1,000 units, admitted {admitted}"
        );
        assert!(ranges.admits_write(u64::MAX), "another range is untouched");
    }

    #[test]
    fn ranges_only_split_and_a_split_keeps_a_hot_key_throttled() {
        let ranges = KeyRanges::new(4);
        ranges.with_range(0, |range| range.write.charge(5_000.0));
        assert!(!ranges.admits_write(0));
        ranges.grow_to(2);
        assert_eq!(ranges.count(), 4);
        ranges.grow_to(9);
        assert_eq!(ranges.count(), 9);
        assert!(
            !ranges.admits_write(0),
            "the hot key's range keeps its debt"
        );
        assert!(ranges.admits_write(u64::MAX));
    }

    #[test]
    fn a_busy_second_splits_ranges_to_serve_twice_its_peak() {
        let next_second = || {
            let started = now_micros() / 1_000_000;
            while now_micros() / 1_000_000 == started {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        let ranges = KeyRanges::new(4);
        let spread = |i: u64| i.wrapping_mul(u64::MAX / 8);
        // All in one second, then the peak is known once that second has ended.
        next_second();
        for i in 0..8 {
            ranges.charge_write(spread(i), 375.0);
        }
        next_second();
        ranges.charge_write(0, 1.0);
        assert_eq!(
            ranges.count(),
            6,
            "3,000 units in one second: room for 6,000"
        );
    }
}
