//! Token buckets and usage counters: a few atomics each, so that no lock is shared by
//! all requests.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A token bucket in thousandths of a unit: `rate` per second, holding at most
/// `burst`. An unlimited bucket always admits.
#[derive(Debug, Default)]
pub struct Bucket {
    unlimited: AtomicBool,
    rate_milli: AtomicU64,
    burst_milli: AtomicI64,
    tokens_milli: AtomicI64,
    refilled_us: AtomicU64,
}

impl Bucket {
    pub(super) fn unlimited() -> Bucket {
        let bucket = Bucket::default();
        bucket.unlimited.store(true, Ordering::Relaxed);
        bucket
    }

    /// A bucket of `rate` units a second holding `burst_seconds` of it, full.
    pub(super) fn limited(rate: u64, burst_seconds: u64) -> Bucket {
        let bucket = Bucket::unlimited();
        bucket.configure(Some(rate), burst_seconds);
        bucket
    }

    /// A bucket like `self` that starts with the tokens `self` has now, so a split
    /// never hands a hot key a fresh burst.
    pub(super) fn split_off(&self) -> Bucket {
        self.refill();
        let relaxed = Ordering::Relaxed;
        Bucket {
            unlimited: AtomicBool::new(self.unlimited.load(relaxed)),
            rate_milli: AtomicU64::new(self.rate_milli.load(relaxed)),
            burst_milli: AtomicI64::new(self.burst_milli.load(relaxed)),
            tokens_milli: AtomicI64::new(self.tokens_milli.load(relaxed)),
            refilled_us: AtomicU64::new(self.refilled_us.load(relaxed)),
        }
    }

    /// Sets the rate (units per second) and the burst (seconds of rate); `None`
    /// removes the limit. A new limit starts with a full bucket.
    pub(super) fn configure(&self, rate: Option<u64>, burst_seconds: u64) {
        match rate {
            None => self.unlimited.store(true, Ordering::Relaxed),
            Some(rate) => {
                let burst = (rate * burst_seconds.max(1) * 1000) as i64;
                let was_unlimited = self.unlimited.swap(false, Ordering::Relaxed);
                self.rate_milli.store(rate * 1000, Ordering::Relaxed);
                self.burst_milli.store(burst, Ordering::Relaxed);
                if was_unlimited {
                    self.tokens_milli.store(burst, Ordering::Relaxed);
                    self.refilled_us.store(now_micros(), Ordering::Relaxed);
                } else {
                    self.tokens_milli.fetch_min(burst, Ordering::Relaxed);
                }
            }
        }
    }

    fn refill(&self) {
        let now = now_micros();
        let last = self.refilled_us.load(Ordering::Relaxed);
        if now <= last
            || self
                .refilled_us
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let added = ((now - last) as u128 * u128::from(self.rate_milli.load(Ordering::Relaxed))
            / 1_000_000) as i64;
        let burst = self.burst_milli.load(Ordering::Relaxed);
        let _ = self
            .tokens_milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tokens| {
                Some(tokens.saturating_add(added).min(burst))
            });
    }

    /// Whether a request may start: some capacity is left.
    pub fn admits(&self) -> bool {
        if self.unlimited.load(Ordering::Relaxed) {
            return true;
        }
        self.refill();
        self.tokens_milli.load(Ordering::Relaxed) > 0
    }

    /// Takes `units`. The bucket may go into debt (requests admitted while a little
    /// capacity was left can consume more) and then refuses until it has refilled, so
    /// that concurrent requests cannot take more than the rate over time.
    pub fn charge(&self, units: f64) {
        if !self.unlimited.load(Ordering::Relaxed) {
            self.tokens_milli
                .fetch_sub((units * 1000.0) as i64, Ordering::Relaxed);
        }
    }
}

/// Read and write buckets of one table, index or key range.
#[derive(Debug)]
pub(super) struct Pair {
    pub read: Bucket,
    pub write: Bucket,
}

impl Pair {
    pub fn unlimited() -> Pair {
        Pair {
            read: Bucket::unlimited(),
            write: Bucket::unlimited(),
        }
    }

    pub fn split_off(&self) -> Pair {
        Pair {
            read: self.read.split_off(),
            write: self.write.split_off(),
        }
    }
}

/// Consumed and throttled units of a table or an index, for metrics.
#[derive(Debug, Default)]
pub struct UsageCounters {
    consumed_read_milli: AtomicU64,
    consumed_write_milli: AtomicU64,
    pub(super) throttled_requests: AtomicU64,
}

impl UsageCounters {
    pub(super) fn add_read(&self, units: f64) {
        self.consumed_read_milli
            .fetch_add((units * 1000.0) as u64, Ordering::Relaxed);
    }

    pub(super) fn add_write(&self, units: f64) {
        self.consumed_write_milli
            .fetch_add((units * 1000.0) as u64, Ordering::Relaxed);
    }

    /// (consumed read units, consumed write units, throttled requests).
    pub fn totals(&self) -> (f64, f64, u64) {
        (
            self.consumed_read_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            self.consumed_write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            self.throttled_requests.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_refuses() {
        let bucket = Bucket::limited(5, 2);
        let mut admitted = 0;
        while bucket.admits() && admitted < 100 {
            bucket.charge(1.0);
            admitted += 1;
        }
        assert!((10..=11).contains(&admitted), "admitted {admitted}");
    }
}
