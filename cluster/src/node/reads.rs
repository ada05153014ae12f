//! Reading a node's replicas: an item, the items (or index entries) of one partition
//! key in key order, and the read barrier that makes such a read strongly consistent
//! on a node whose partitions have replicas elsewhere. (Scans are `scan`'s.)

use cirrus_storage::engine::{prefix_end, RangeCursor, CF_ITEMS};

use crate::node::{ItemLocation, Node, ReadTarget, Table};
use cirrus_partition::catalog::IndexKind;
use cirrus_partition::error::PartitionError;
use cirrus_partition::hashing::partition_key_hash;

impl Node {
    /// Waits until this node's replicas of the given partitions of `table` (each once,
    /// however often it is named) have applied every write acknowledged before the
    /// call, so that reading them is strongly consistent. The partitions confirm
    /// concurrently, each sharing its read-index
    /// rounds with the other reads of its group.
    pub async fn read_barrier(
        &self,
        table: &Table,
        partitions: impl IntoIterator<Item = u16>,
    ) -> Result<(), PartitionError> {
        if !self.is_replicated() {
            return Ok(());
        }
        let partitions: std::collections::BTreeSet<u16> = partitions.into_iter().collect();
        let barriers = partitions
            .into_iter()
            .map(|partition| async move { table.group(partition)?.read_barrier().await });
        futures_util::future::try_join_all(barriers).await?;
        Ok(())
    }

    /// Reads an item's stored bytes from this node's replica (strongly consistent after
    /// [`Node::read_barrier`] of its partition, or on the embedded single node).
    pub fn get_item(&self, location: &ItemLocation) -> Result<Option<Vec<u8>>, PartitionError> {
        Ok(self
            .engine()
            .get(CF_ITEMS, &location.key)?
            .map(|v| v.to_vec()))
    }

    /// Visits the stored items (or index entries) of one encoded partition-key value
    /// of `target` whose remaining key (sort key, then for an index the table key) is
    /// in `[start, end)` (`None`: to the end), in key order or reversed, until `visit`
    /// returns false. A global index's entries live in every partition; their ranges
    /// are merged.
    #[allow(clippy::too_many_arguments)]
    pub fn query<E: From<PartitionError>>(
        &self,
        table: &Table,
        target: ReadTarget<'_>,
        partition_key: &[u8],
        start: &[u8],
        end: Option<&[u8]>,
        reverse: bool,
        mut visit: impl FnMut(&[u8]) -> Result<bool, E>,
    ) -> Result<(), E> {
        let partitions = match target {
            ReadTarget::Index(index) if index.kind == IndexKind::Global => {
                (0..table.descriptor.partitions).collect()
            }
            _ => vec![table.partition_of_key(partition_key)],
        };
        let mut cursors: Vec<(usize, RangeCursor<'_>)> = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let (cf, mut base) = table.target_prefix(target, partition);
            if let ReadTarget::Table = target {
                // Items are in hash order: the key's items follow its hash.
                base.extend_from_slice(&partition_key_hash(partition_key).to_be_bytes());
            }
            base.extend_from_slice(partition_key);
            let mut low = base.clone();
            low.extend_from_slice(start);
            let high = match end {
                Some(end) => [base.as_slice(), end].concat(),
                None => prefix_end(&base),
            };
            if low < high {
                let cursor = self
                    .engine()
                    .cursor(cf, &low, &high, reverse)
                    .map_err(|e| E::from(e.into()))?;
                cursors.push((base.len(), cursor));
            }
        }
        loop {
            // The next entry in read order is the first (or last) among the cursors'.
            let mut next: Option<(usize, &[u8])> = None;
            for (i, (skip, cursor)) in cursors.iter().enumerate() {
                let Some((key, _)) = cursor.current().map_err(|e| E::from(e.into()))? else {
                    continue;
                };
                let rest = &key[*skip..];
                let better =
                    next.is_none_or(|(_, best)| if reverse { rest > best } else { rest < best });
                if better {
                    next = Some((i, rest));
                }
            }
            let Some((i, _)) = next else {
                return Ok(());
            };
            let cursor = &mut cursors[i].1;
            let Some((_, value)) = cursor.current().map_err(|e| E::from(e.into()))? else {
                return Ok(());
            };
            if !visit(value)? {
                return Ok(());
            }
            cursor.advance();
        }
    }
}
