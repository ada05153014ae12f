//! Capacity units, in one place: DynamoDB's accounting rules, and the token buckets that
//! throttle a table, its global indexes and its partitions.
//!
//! Throttling is decided before a request does any work (`admit_*`: is there capacity
//! left?) and the actual consumption is charged after (`charge_*`), as DynamoDB does; a
//! bucket may go negative and then refuses until it refills. Buckets are a few atomics
//! each, per table, per index and per partition: no lock is shared by all requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::catalog::{BillingMode, IndexKind, TableDescriptor};

const READ_UNIT_BYTES: u64 = 4 * 1024;
const WRITE_UNIT_BYTES: u64 = 1024;
/// DynamoDB's per-partition ceilings.
pub const PARTITION_READ_UNITS: u64 = 3_000;
pub const PARTITION_WRITE_UNITS: u64 = 1_000;
/// Unused provisioned capacity is kept for up to five minutes (burst capacity).
const BURST_SECONDS: u64 = 300;

/// Units of one read of `bytes` (at least one unit): 4 KB each, half when eventually
/// consistent, double when transactional.
pub fn read_units(bytes: u64, consistency: ReadConsistency) -> f64 {
    let units = bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64;
    match consistency {
        ReadConsistency::Eventual => units / 2.0,
        ReadConsistency::Strong => units,
        ReadConsistency::Transactional => units * 2.0,
    }
}

/// Units of one item write of `bytes` (at least one unit): 1 KB each.
pub fn write_units(bytes: u64) -> u32 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadConsistency {
    Eventual,
    Strong,
    Transactional,
}

/// The write units one applied command consumed: on the item (the larger of the old
/// and new item; a failed condition still costs the write) and on each index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteConsumption {
    pub item_units: u32,
    pub index_units: BTreeMap<u16, u32>,
}

/// A request refused for lack of capacity, and whose limit it hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// A provisioned table or index, or a partition's ceiling.
    Provisioned,
    /// An on-demand table's maximum (OnDemandThroughput).
    OnDemandMaximum,
}

fn now_micros() -> u64 {
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
    fn unlimited() -> Bucket {
        let bucket = Bucket::default();
        bucket.unlimited.store(true, Ordering::Relaxed);
        bucket
    }

    /// Sets the rate (units per second) and the burst (seconds of rate); `None`
    /// removes the limit. A new limit starts with a full bucket.
    fn configure(&self, rate: Option<u64>, burst_seconds: u64) {
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

    pub fn charge(&self, units: f64) {
        if !self.unlimited.load(Ordering::Relaxed) {
            self.tokens_milli
                .fetch_sub((units * 1000.0) as i64, Ordering::Relaxed);
        }
    }
}

/// Consumed and throttled units of a table or an index, for metrics.
#[derive(Debug, Default)]
pub struct UsageCounters {
    consumed_read_milli: AtomicU64,
    consumed_write_milli: AtomicU64,
    throttled_requests: AtomicU64,
}

impl UsageCounters {
    fn add_read(&self, units: f64) {
        self.consumed_read_milli
            .fetch_add((units * 1000.0) as u64, Ordering::Relaxed);
    }

    fn add_write(&self, units: f64) {
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

/// Read and write buckets of one table, index or partition.
#[derive(Debug)]
struct Pair {
    read: Bucket,
    write: Bucket,
}

impl Pair {
    fn unlimited() -> Pair {
        Pair {
            read: Bucket::unlimited(),
            write: Bucket::unlimited(),
        }
    }
}

/// The capacity state of one table; it outlives descriptor changes.
#[derive(Debug)]
pub struct TableCapacity {
    enforce: bool,
    table: Pair,
    /// Whether the table's own limit is an on-demand maximum.
    on_demand: AtomicBool,
    partitions: Vec<Pair>,
    /// Global indexes' buckets, by index id.
    indexes: std::sync::RwLock<BTreeMap<u16, Arc<Pair>>>,
    pub usage: UsageCounters,
    index_usage: std::sync::RwLock<BTreeMap<u16, Arc<UsageCounters>>>,
}

impl TableCapacity {
    pub fn new(descriptor: &TableDescriptor, enforce: bool) -> Arc<TableCapacity> {
        let capacity = Arc::new(TableCapacity {
            enforce,
            table: Pair::unlimited(),
            on_demand: AtomicBool::new(false),
            partitions: (0..descriptor.partitions)
                .map(|_| {
                    let pair = Pair::unlimited();
                    if enforce {
                        pair.read.configure(Some(PARTITION_READ_UNITS), 1);
                        pair.write.configure(Some(PARTITION_WRITE_UNITS), 1);
                    }
                    pair
                })
                .collect(),
            indexes: Default::default(),
            usage: UsageCounters::default(),
            index_usage: Default::default(),
        });
        capacity.configure(descriptor);
        capacity
    }

    /// Applies the descriptor's billing mode and throughput to the buckets.
    pub fn configure(&self, descriptor: &TableDescriptor) {
        if !self.enforce {
            return;
        }
        let (read, write, burst) = match descriptor.billing_mode {
            BillingMode::Provisioned => (
                Some(descriptor.throughput.read_capacity_units),
                Some(descriptor.throughput.write_capacity_units),
                BURST_SECONDS,
            ),
            BillingMode::PayPerRequest => (
                descriptor.on_demand_max_read,
                descriptor.on_demand_max_write,
                1,
            ),
        };
        self.on_demand.store(
            descriptor.billing_mode == BillingMode::PayPerRequest,
            Ordering::Relaxed,
        );
        self.table.read.configure(read, burst);
        self.table.write.configure(write, burst);
        let mut indexes = self
            .indexes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        indexes.clear();
        for index in &descriptor.indexes {
            if index.kind != IndexKind::Global {
                continue;
            }
            let pair = Pair::unlimited();
            if let (BillingMode::Provisioned, Some(t)) =
                (descriptor.billing_mode, &index.throughput)
            {
                pair.read
                    .configure(Some(t.read_capacity_units), BURST_SECONDS);
                pair.write
                    .configure(Some(t.write_capacity_units), BURST_SECONDS);
            }
            indexes.insert(index.spec.id, Arc::new(pair));
        }
    }

    fn index_pair(&self, index_id: u16) -> Option<Arc<Pair>> {
        self.indexes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&index_id)
            .cloned()
    }

    fn index_counters(&self, index_id: u16) -> Arc<UsageCounters> {
        if let Some(counters) = self
            .index_usage
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&index_id)
        {
            return counters.clone();
        }
        self.index_usage
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(index_id)
            .or_default()
            .clone()
    }

    fn throttled(&self, table_limit: bool) -> Throttled {
        self.usage
            .throttled_requests
            .fetch_add(1, Ordering::Relaxed);
        if table_limit && self.on_demand.load(Ordering::Relaxed) {
            Throttled::OnDemandMaximum
        } else {
            Throttled::Provisioned
        }
    }

    /// Whether a read of `partition` (of the table, or of global index `index`) may start.
    pub fn admit_read(&self, partitions: &[u16], index: Option<u16>) -> Result<(), Throttled> {
        if !self.table.read.admits() && index.is_none() {
            return Err(self.throttled(true));
        }
        if let Some(pair) = index.and_then(|id| self.index_pair(id)) {
            if !pair.read.admits() {
                return Err(self.throttled(false));
            }
        }
        for partition in partitions {
            if let Some(pair) = self.partitions.get(usize::from(*partition)) {
                if !pair.read.admits() {
                    return Err(self.throttled(false));
                }
            }
        }
        Ok(())
    }

    /// Whether a write to `partition` may start: the table, the partition and every
    /// global index (which a write may have to update) must have capacity left.
    pub fn admit_write(&self, partition: u16) -> Result<(), Throttled> {
        if !self.table.write.admits() {
            return Err(self.throttled(true));
        }
        if let Some(pair) = self.partitions.get(usize::from(partition)) {
            if !pair.write.admits() {
                return Err(self.throttled(false));
            }
        }
        let indexes = self
            .indexes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if indexes.values().any(|pair| !pair.write.admits()) {
            drop(indexes);
            return Err(self.throttled(false));
        }
        Ok(())
    }

    /// Charges a read of the table (or of global index `index`).
    pub fn charge_read(&self, partition: Option<u16>, index: Option<u16>, units: f64) {
        match index.and_then(|id| self.index_pair(id).map(|pair| (id, pair))) {
            Some((id, pair)) => {
                pair.read.charge(units);
                self.index_counters(id).add_read(units);
            }
            None => {
                self.table.read.charge(units);
                self.usage.add_read(units);
            }
        }
        if let Some(pair) = partition.and_then(|p| self.partitions.get(usize::from(p))) {
            pair.read.charge(units);
        }
    }

    /// Charges a write: the item's units to the table and the partition, each global
    /// index's units to that index.
    pub fn charge_write(&self, partition: u16, table_units: f64, index_units: &[(u16, f64)]) {
        self.table.write.charge(table_units);
        self.usage.add_write(table_units);
        if let Some(pair) = self.partitions.get(usize::from(partition)) {
            pair.write.charge(table_units);
        }
        for (id, units) in index_units {
            if let Some(pair) = self.index_pair(*id) {
                pair.write.charge(*units);
            }
            self.index_counters(*id).add_write(*units);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_dynamodbs_rules() {
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(read_units(4096, ReadConsistency::Strong), 1.0);
        assert_eq!(read_units(4097, ReadConsistency::Strong), 2.0);
        assert_eq!(read_units(4097, ReadConsistency::Eventual), 1.0);
        assert_eq!(read_units(1, ReadConsistency::Eventual), 0.5);
        assert_eq!(read_units(4097, ReadConsistency::Transactional), 4.0);
    }

    #[test]
    fn a_bucket_admits_its_burst_then_refuses() {
        let bucket = Bucket::unlimited();
        bucket.configure(Some(5), 2);
        let mut admitted = 0;
        while bucket.admits() && admitted < 100 {
            bucket.charge(1.0);
            admitted += 1;
        }
        assert!((10..=11).contains(&admitted), "admitted {admitted}");
    }
}
