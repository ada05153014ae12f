//! Capacity units, in one place: DynamoDB's accounting rules, and the token buckets that
//! throttle a table, its global indexes and its key ranges (DynamoDB's partitions, see
//! `key_ranges`).
//!
//! Throttling is decided before a request does any work (`admit_*`: is there capacity
//! left?) and the actual consumption is charged after (`charge_*`), as DynamoDB does; a
//! bucket may go negative and then refuses until it refills. Buckets are a few atomics
//! each, per table, per index and per key range: no lock is shared by all requests.

mod bucket;
mod key_ranges;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use bucket::{Bucket, UsageCounters};
pub use key_ranges::{
    ranges_for_provisioned, ranges_serving, ON_DEMAND_INITIAL_READ_UNITS,
    ON_DEMAND_INITIAL_WRITE_UNITS, PARTITION_READ_UNITS, PARTITION_WRITE_UNITS,
};

use crate::catalog::{BillingMode, IndexKind, TableDescriptor};
use bucket::Pair;
use key_ranges::KeyRanges;

const READ_UNIT_BYTES: u64 = 4 * 1024;
const WRITE_UNIT_BYTES: u64 = 1024;
/// Unused provisioned capacity is kept for up to five minutes (burst capacity).
const BURST_SECONDS: u64 = 300;
/// DynamoDB's default per-table quota for on-demand tables, in request units a second
/// (DescribeLimits' TableMaxReadCapacityUnits and TableMaxWriteCapacityUnits).
pub const TABLE_QUOTA_UNITS: u64 = 40_000;

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

/// Which limit refused a request: DynamoDB's ThrottlingReason, `<resource><operation>
/// <limit>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// `None`: the table; `Some(id)`: that global index.
    pub index: Option<u16>,
    pub write: bool,
    pub limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// One key range (DynamoDB partition) is over its ceiling: a hot key.
    KeyRange,
    /// A provisioned table's or index's throughput.
    Provisioned,
    /// An on-demand table's per-table account quota.
    AccountLimit,
    /// An on-demand table's configured maximum (OnDemandThroughput).
    MaxOnDemand,
}

impl Throttled {
    /// DynamoDB's ThrottlingReason `reason`, e.g. `TableWriteKeyRangeThroughputExceeded`.
    pub fn reason(&self) -> String {
        let resource = if self.index.is_some() {
            "Index"
        } else {
            "Table"
        };
        let operation = if self.write { "Write" } else { "Read" };
        let limit = match self.limit {
            Limit::KeyRange => "KeyRangeThroughputExceeded",
            Limit::Provisioned => "ProvisionedThroughputExceeded",
            Limit::AccountLimit => "AccountLimitExceeded",
            Limit::MaxOnDemand => "MaxOnDemandThroughputExceeded",
        };
        format!("{resource}{operation}{limit}")
    }
}

/// The capacity state of one table; it outlives descriptor changes.
#[derive(Debug)]
pub struct TableCapacity {
    /// Whether any limit applies at all (`--no-throttle` turns them all off).
    enforce: bool,
    table: Pair,
    /// What the table's own buckets hold: provisioned throughput, or an on-demand
    /// table's quota or configured maximum.
    table_limit: std::sync::RwLock<(Limit, Limit)>,
    key_ranges: KeyRanges,
    /// The key-range count last written to the catalog (see `cirrus_cluster::spawn_remembering`).
    remembered_ranges: AtomicUsize,
    /// Global indexes' buckets, by index id.
    indexes: std::sync::RwLock<BTreeMap<u16, Arc<Pair>>>,
    pub usage: UsageCounters,
    index_usage: std::sync::RwLock<BTreeMap<u16, Arc<UsageCounters>>>,
}

impl TableCapacity {
    /// A table's capacity, with the key ranges its traffic split it into before a
    /// restart (`remembered_ranges`), which DynamoDB keeps too.
    pub fn new(
        descriptor: &TableDescriptor,
        enforce: bool,
        remembered_ranges: usize,
    ) -> Arc<TableCapacity> {
        let capacity = Arc::new(TableCapacity {
            enforce,
            table: Pair::unlimited(),
            table_limit: std::sync::RwLock::new((Limit::Provisioned, Limit::Provisioned)),
            key_ranges: KeyRanges::new(remembered_ranges.max(1)),
            remembered_ranges: AtomicUsize::new(remembered_ranges),
            indexes: Default::default(),
            usage: UsageCounters::default(),
            index_usage: Default::default(),
        });
        capacity.configure(descriptor);
        capacity
    }

    /// The key-range count, when it grew since it was last remembered.
    pub fn unremembered_key_ranges(&self) -> Option<usize> {
        let count = self.key_range_count();
        let before = self.remembered_ranges.swap(count, Ordering::Relaxed);
        (count > before).then_some(count)
    }

    /// How many key ranges (DynamoDB partitions) the table's throughput has now.
    pub fn key_range_count(&self) -> usize {
        self.key_ranges.count()
    }

    /// Applies the descriptor's billing mode and throughput to the buckets. Key ranges
    /// only ever split, so a table keeps what it once had, as in DynamoDB.
    pub fn configure(&self, descriptor: &TableDescriptor) {
        if !self.enforce {
            return;
        }
        let (read, write, burst, limits) = match descriptor.billing_mode {
            BillingMode::Provisioned => {
                let t = &descriptor.throughput;
                self.key_ranges.grow_to(ranges_for_provisioned(
                    t.read_capacity_units,
                    t.write_capacity_units,
                ));
                (
                    t.read_capacity_units,
                    t.write_capacity_units,
                    BURST_SECONDS,
                    (Limit::Provisioned, Limit::Provisioned),
                )
            }
            BillingMode::PayPerRequest => {
                self.key_ranges.grow_to(ranges_serving(
                    ON_DEMAND_INITIAL_READ_UNITS,
                    ON_DEMAND_INITIAL_WRITE_UNITS,
                ));
                let bounded = |maximum: Option<u64>| match maximum {
                    Some(max) if max < TABLE_QUOTA_UNITS => (max, Limit::MaxOnDemand),
                    _ => (TABLE_QUOTA_UNITS, Limit::AccountLimit),
                };
                let (read, read_limit) = bounded(descriptor.on_demand_max_read);
                let (write, write_limit) = bounded(descriptor.on_demand_max_write);
                (read, write, 1, (read_limit, write_limit))
            }
        };
        self.table.read.configure(Some(read), burst);
        self.table.write.configure(Some(write), burst);
        *self
            .table_limit
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = limits;
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

    fn throttled(&self, index: Option<u16>, write: bool, limit: Limit) -> Throttled {
        self.usage
            .throttled_requests
            .fetch_add(1, Ordering::Relaxed);
        Throttled {
            index,
            write,
            limit,
        }
    }

    fn table_throttled(&self, write: bool) -> Throttled {
        let (read_limit, write_limit) = *self
            .table_limit
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.throttled(None, write, if write { write_limit } else { read_limit })
    }

    /// Whether a read may start: of the key with partition-key hash `hash` (or, for a
    /// scan, of the whole table), or of global index `index`.
    pub fn admit_read(&self, hash: Option<u64>, index: Option<u16>) -> Result<(), Throttled> {
        if !self.enforce {
            return Ok(());
        }
        if let Some(pair) = index.and_then(|id| self.index_pair(id)) {
            if !pair.read.admits() {
                return Err(self.throttled(index, false, Limit::Provisioned));
            }
            return Ok(());
        }
        if !self.table.read.admits() {
            return Err(self.table_throttled(false));
        }
        if let Some(hash) = hash {
            if !self.key_ranges.admits_read(hash) {
                return Err(self.throttled(None, false, Limit::KeyRange));
            }
        }
        Ok(())
    }

    /// Whether a write of the key with partition-key hash `hash` may start: the table,
    /// its key range and every global index (which a write may have to update) must
    /// have capacity left.
    pub fn admit_write(&self, hash: u64) -> Result<(), Throttled> {
        if !self.enforce {
            return Ok(());
        }
        if !self.table.write.admits() {
            return Err(self.table_throttled(true));
        }
        if !self.key_ranges.admits_write(hash) {
            return Err(self.throttled(None, true, Limit::KeyRange));
        }
        let indexes = self
            .indexes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((id, _)) = indexes.iter().find(|(_, pair)| !pair.write.admits()) {
            let id = *id;
            drop(indexes);
            return Err(self.throttled(Some(id), true, Limit::Provisioned));
        }
        Ok(())
    }

    /// Sets `units` aside in the table's and the key range's write buckets, so that the
    /// writes of one batch admitted after this one see what it will take; `release_write`
    /// gives them back when the actual charge is known. Without it a batch of large
    /// writes would all be admitted at once and lock their key ranges out for seconds,
    /// where DynamoDB returns the writes past the capacity unprocessed.
    pub fn reserve_write(&self, hash: u64, units: f64) {
        if self.enforce {
            self.table.write.charge(units);
            self.key_ranges.hold_write(hash, units);
        }
    }

    pub fn release_write(&self, hash: u64, units: f64) {
        self.reserve_write(hash, -units);
    }

    /// Charges a read of the table (of the key with partition-key hash `hash`, if one)
    /// or of global index `index`.
    pub fn charge_read(&self, hash: Option<u64>, index: Option<u16>, units: f64) {
        match index.and_then(|id| self.index_pair(id).map(|pair| (id, pair))) {
            Some((id, pair)) => {
                pair.read.charge(units);
                self.index_counters(id).add_read(units);
            }
            None => {
                self.table.read.charge(units);
                self.usage.add_read(units);
                if self.enforce {
                    self.key_ranges.charge_read(hash, units);
                }
            }
        }
    }

    /// Charges a write: the item's units to the table and its key range, each global
    /// index's units to that index.
    pub fn charge_write(&self, hash: u64, table_units: f64, index_units: &[(u16, f64)]) {
        self.table.write.charge(table_units);
        self.usage.add_write(table_units);
        if self.enforce {
            self.key_ranges.charge_write(hash, table_units);
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
    fn reasons_are_dynamodbs() {
        let hot = Throttled {
            index: None,
            write: true,
            limit: Limit::KeyRange,
        };
        assert_eq!(hot.reason(), "TableWriteKeyRangeThroughputExceeded");
        let index = Throttled {
            index: Some(3),
            write: false,
            limit: Limit::Provisioned,
        };
        assert_eq!(index.reason(), "IndexReadProvisionedThroughputExceeded");
    }
}
