//! Scan, parallel or not: reading a segment of a table's hash space.
//!
//! A table's items are stored in partition-key-hash order, so a segment of the hash
//! space is one contiguous key range in each partition it touches: a segment reads
//! only its own items, and every page ends on one of them. Index entries are ordered
//! by their index key instead; a segment reads its partitions' entries and passes over
//! those of other segments.

use std::ops::RangeInclusive;

use cirrus_storage::engine::{prefix_end, split_table_key};
use cirrus_storage::key::decode_key_value;
use cirrus_storage::StorageError;

use crate::node::{Node, ReadTarget, Table};
use cirrus_partition::catalog::IndexDescriptor;
use cirrus_partition::error::PartitionError;
use cirrus_partition::hashing::{partition_key_hash, partitions_of, segment_range};

/// What a scan hands its visitor: a stored item (or index entry) of the segment, or an
/// index entry it read only to pass over, because its item's partition key hashes to
/// another segment. Passed-over entries count toward a page's 1 MB of data read like
/// the others: a segment far smaller than its partition would otherwise read the whole
/// partition's index for a page.
pub enum Scanned<'a> {
    Item(&'a [u8]),
    Skipped(&'a [u8]),
}

/// Where a Scan resumes: after the item or entry with this key (below the partition's
/// or index's prefix), whose item has this encoded table partition key.
pub struct ScanResume {
    pub table_partition_key: Vec<u8>,
    pub key: Vec<u8>,
}

/// Where a scan of one partition starts: after `resume`, or at the segment's first
/// hash, in the partition `partition` that the resume point lies in.
struct Start {
    partition: u16,
    key: Vec<u8>,
}

impl Node {
    /// Visits, in a stable order, the stored items (or index entries) of `target` whose
    /// table partition-key hash falls in segment `segment` of `total_segments` equal
    /// hash ranges, starting after `resume`, until `visit` returns false. Segments are
    /// disjoint and together cover everything exactly once.
    pub fn scan<E: From<PartitionError>>(
        &self,
        table: &Table,
        target: ReadTarget<'_>,
        segment: u32,
        total_segments: u32,
        resume: Option<&ScanResume>,
        visit: impl FnMut(Scanned<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let hashes = segment_range(segment, total_segments);
        let outside = || PartitionError::StartKeyOutsideSegment {
            segment,
            total_segments,
        };
        match target {
            ReadTarget::Table => {
                // Every page of the segment ends on one of its own items.
                let start = match resume {
                    Some(resume) => {
                        let hash = partition_key_hash(&resume.table_partition_key);
                        if !hashes.contains(&hash) {
                            return Err(outside().into());
                        }
                        Some(Start {
                            partition: table.partition_of_key(&resume.table_partition_key),
                            key: after(&resume.key),
                        })
                    }
                    None => None,
                };
                self.scan_items(table, &hashes, start, visit)
            }
            ReadTarget::Index(index) => {
                // A page can end on an entry of another segment that the segment
                // passed over in a partition they share, but never on one in a
                // partition the segment does not read.
                let start = match resume {
                    Some(resume) => {
                        let partition = table.partition_of_key(&resume.table_partition_key);
                        if !partitions_of(&hashes, table.descriptor().partitions)
                            .contains(&partition)
                        {
                            return Err(outside().into());
                        }
                        Some(Start {
                            partition,
                            key: after(&resume.key),
                        })
                    }
                    None => None,
                };
                self.scan_index_entries(table, index, &hashes, start, visit)
            }
        }
    }

    /// The table's items with hashes in `hashes`: one contiguous range per partition.
    fn scan_items<E: From<PartitionError>>(
        &self,
        table: &Table,
        hashes: &RangeInclusive<u64>,
        start: Option<Start>,
        visit: impl FnMut(Scanned<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let bounds = |prefix: &[u8]| {
            let low = [prefix, &hashes.start().to_be_bytes()].concat();
            let high = match hashes.end().checked_add(1) {
                Some(end) => [prefix, &end.to_be_bytes()].concat(),
                None => prefix_end(prefix),
            };
            (low, high)
        };
        let in_segment = |_: &[u8]| Ok(true);
        let target = ReadTarget::Table;
        self.scan_partitions(table, target, hashes, start, bounds, in_segment, visit)
    }

    /// An index's entries in the partitions that hold `hashes`, those of items with
    /// other hashes handed over as [`Scanned::Skipped`].
    fn scan_index_entries<E: From<PartitionError>>(
        &self,
        table: &Table,
        index: &IndexDescriptor,
        hashes: &RangeInclusive<u64>,
        start: Option<Start>,
        visit: impl FnMut(Scanned<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let index_key_types: Vec<_> = index.spec.key_schema.attributes().map(|a| a.ty).collect();
        // An entry is the index key, then its item's table key, which starts with the hash.
        let in_segment = |entry: &[u8]| -> Result<bool, StorageError> {
            let mut at = 0;
            for ty in &index_key_types {
                let rest = entry.get(at..).unwrap_or_default();
                at += decode_key_value(*ty, rest)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?
                    .1;
            }
            let (hash, _) = split_table_key(entry.get(at..).unwrap_or_default())?;
            Ok(hashes.contains(&hash))
        };
        let bounds = |prefix: &[u8]| (prefix.to_vec(), prefix_end(prefix));
        let target = ReadTarget::Index(index);
        self.scan_partitions(table, target, hashes, start, bounds, in_segment, visit)
    }

    /// Reads `target` in each partition that holds some of `hashes`, from `bounds` of
    /// the partition's prefix (or after `start`), handing each entry to `visit` as the
    /// segment's when `in_segment` says so (given the key below the prefix).
    #[allow(clippy::too_many_arguments)]
    fn scan_partitions<E: From<PartitionError>>(
        &self,
        table: &Table,
        target: ReadTarget<'_>,
        hashes: &RangeInclusive<u64>,
        start: Option<Start>,
        bounds: impl Fn(&[u8]) -> (Vec<u8>, Vec<u8>),
        in_segment: impl Fn(&[u8]) -> Result<bool, StorageError>,
        mut visit: impl FnMut(Scanned<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let mut failure = None;
        for partition in partitions_of(hashes, table.descriptor().partitions) {
            let (cf, prefix) = table.target_prefix(target, partition);
            let (mut low, high) = bounds(&prefix);
            match &start {
                Some(start) if start.partition > partition => continue,
                Some(start) if start.partition == partition => {
                    low = [prefix.as_slice(), &start.key].concat();
                }
                _ => {}
            }
            let mut finished = false;
            self.engine()
                .scan(cf, &low, &high, |key, value| {
                    let scanned = if in_segment(&key[prefix.len()..])? {
                        Scanned::Item(value)
                    } else {
                        Scanned::Skipped(value)
                    };
                    let more = visit(scanned).unwrap_or_else(|e| {
                        failure = Some(e);
                        false
                    });
                    finished = !more;
                    Ok(more)
                })
                .map_err(|e| E::from(e.into()))?;
            if finished {
                break;
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

/// The next possible key after `key`: keys are self-delimiting, so it is `key · 0x00`.
fn after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}
