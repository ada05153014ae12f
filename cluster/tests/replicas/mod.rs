//! Shared scaffolding of the replicated-partition tests: one partition's Raft group
//! with a replica on each of a few in-process "nodes" (each its own RocksDB, WAL syncer
//! and transport on a loopback port, all obeying one set of fault rules), the items
//! the tests write, and a ledger of which writes were acknowledged.
//!
//! Real openraft, real RocksDB, real TCP on 127.0.0.1.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cirrus_cluster::raft::{RaftService, TransportLink};
use cirrus_cluster::{ClusterSecret, Faults, NodeId, Transport, TransportConfig};
use cirrus_partition::command::{Command, WantedImages};
use cirrus_partition::group::{RaftGroup, Replicas};
use cirrus_partition::hashing::partition_key_hash;
use cirrus_partition::raft_types::TypeConfig;
use cirrus_partition::wal_sync::WalSyncer;
use cirrus_partition::write_schema::WriteSchema;
use cirrus_partition::{Counts, IndexSpec, KeySchema, Projected};
use cirrus_storage::codec::encode_item;
use cirrus_storage::engine::{
    item_key, partition_prefix, prefix_end, Engine, StoredItem, CF_INDEXES, CF_ITEMS,
};
use cirrus_storage::key::encode_key_value;
use cirrus_storage::size::item_size;
use cirrus_storage::{AttributeValue, Item, KeyAttribute, ScalarType};
use openraft::{BasicNode, Raft, ServerState};

pub const CLUSTER: u64 = 7;
pub const TABLE: u32 = 1;
pub const PARTITION: u16 = 0;
/// The global index every test's table has, so index entries travel too.
pub const INDEX: u16 = 1;
/// How long any one thing (an election, a catch-up) may take before a test gives up.
pub const WAIT: Duration = Duration::from_secs(30);

pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn string_key(name: &str) -> KeyAttribute {
    KeyAttribute {
        name: name.into(),
        ty: ScalarType::S,
    }
}

/// A table keyed by `pk`, with a keys-only global index on `g`.
pub fn schema() -> WriteSchema {
    WriteSchema {
        version: 1,
        table_keys: KeySchema::simple(string_key("pk"), None),
        specs: vec![IndexSpec {
            id: INDEX,
            name: "by_g".into(),
            key_schema: KeySchema::simple(string_key("g"), None),
            projection: Projected::KeysOnly,
        }],
        local_ids: Vec::new(),
        stream: None,
        ttl_attribute: None,
    }
}

fn secret() -> Result<ClusterSecret, Error> {
    Ok(ClusterSecret::new("a secret shared by the test nodes")?)
}

/// Opens the node's RocksDB, retrying while a stopped instance's tasks still hold it.
async fn open_engine(dir: &Path) -> Result<Arc<Engine>, Error> {
    let started = Instant::now();
    loop {
        match Engine::open(&dir.join("db")) {
            Ok(engine) => return Ok(engine),
            Err(e) if started.elapsed() > WAIT => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// One node: its data directory, and while it runs, its engine, transport and replica.
pub struct Replica {
    pub id: NodeId,
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub running: Option<Running>,
}

pub struct Running {
    pub engine: Arc<Engine>,
    pub transport: Arc<Transport>,
    /// Shared, so tests can propose from several tasks at once.
    pub group: Arc<RaftGroup>,
}

impl Replica {
    /// Starts the node's transport on `addr` (port 0: any), obeying `faults`, and
    /// returns it.
    pub async fn listen(
        id: NodeId,
        dir: PathBuf,
        addr: SocketAddr,
        faults: &Faults,
    ) -> Result<(Replica, Arc<Transport>, Arc<RaftService>), Error> {
        let service = Arc::new(RaftService::default());
        let mut config = TransportConfig::new(CLUSTER, id, secret()?);
        config.faults = faults.clone();
        let transport = Arc::new(Transport::new(config, service.clone()));
        let addr = transport.listen(addr).await?;
        let replica = Replica {
            id,
            dir,
            addr,
            running: None,
        };
        Ok((replica, transport, service))
    }

    /// Opens the replica of the group, with `voters` (every node's address).
    pub async fn start(
        &mut self,
        transport: Arc<Transport>,
        service: Arc<RaftService>,
        voters: &BTreeMap<NodeId, SocketAddr>,
        bootstrap: bool,
    ) -> Result<(), Error> {
        for (node, addr) in voters {
            if *node != self.id {
                transport.set_peer(*node, *addr);
            }
        }
        let engine = open_engine(&self.dir).await?;
        let syncer = WalSyncer::start(Arc::downgrade(&engine))?;
        let replicas = Replicas {
            local: self.id,
            voters: voters
                .iter()
                .map(|(node, addr)| (*node, BasicNode::new(addr.to_string())))
                .collect(),
            bootstrap,
            link: Some(TransportLink::new(transport.clone(), service)),
        };
        let group_replica = RaftGroup::open(
            engine.clone(),
            syncer,
            TABLE,
            PARTITION,
            schema(),
            u64::MAX,
            replicas,
        )
        .await?;
        self.running = Some(Running {
            engine,
            transport,
            group: Arc::new(group_replica),
        });
        Ok(())
    }

    /// Stops the node as a crash would, as far as its peers can tell: its replica and
    /// its transport go away.
    pub async fn stop(&mut self) -> Result<(), Error> {
        if let Some(running) = self.running.take() {
            running.group.shutdown().await?;
            running.transport.shutdown().await;
        }
        Ok(())
    }

    pub fn running(&self) -> Result<&Running, Error> {
        self.running
            .as_ref()
            .ok_or_else(|| format!("node {} is stopped", self.id).into())
    }

    pub fn group(&self) -> Result<&Arc<RaftGroup>, Error> {
        Ok(&self.running()?.group)
    }

    pub fn raft(&self) -> Result<&Raft<TypeConfig>, Error> {
        Ok(self.running()?.group.raft())
    }

    /// Every key → value this replica holds in one column family, under the partition.
    fn range(&self, cf: &'static str) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, Error> {
        let prefix = partition_prefix(TABLE, PARTITION);
        let mut entries = BTreeMap::new();
        self.running()?
            .engine
            .scan(cf, &prefix, &prefix_end(&prefix), |key, value| {
                entries.insert(key.to_vec(), value.to_vec());
                Ok(true)
            })?;
        Ok(entries)
    }

    /// Every item this replica holds, key → stored bytes.
    pub fn items(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, Error> {
        self.range(CF_ITEMS)
    }

    /// Every index entry this replica holds, key → projected bytes.
    pub fn index_entries(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, Error> {
        self.range(CF_INDEXES)
    }

    /// The partition's statistics as this replica's state machine keeps them: the
    /// table's and the index's.
    pub fn counts(&self) -> Result<(Counts, Counts), Error> {
        let stats = self.group()?.stats();
        Ok((stats.table(), stats.index(INDEX)))
    }
}

/// One item a test writes: unique key, value derived from the key (so a replica holding
/// the key with any other bytes is wrong), `filler` bytes of payload.
#[derive(Clone, Debug)]
pub struct Write {
    pub pk: String,
    pub key: Vec<u8>,
    pub stored: Vec<u8>,
}

impl Write {
    pub fn new(pk: &str, filler: usize) -> Result<Write, Error> {
        let mut encoded = Vec::new();
        encode_key_value(&AttributeValue::S(pk.into()), &mut encoded)?;
        let hash = partition_key_hash(&encoded);
        let key = item_key(TABLE, PARTITION, hash, &encoded, b"");
        let mut item = Item::from([
            ("pk".to_string(), AttributeValue::S(pk.into())),
            ("v".to_string(), AttributeValue::S(format!("value of {pk}"))),
            // A few index partition keys, so entries share them.
            ("g".to_string(), AttributeValue::S(format!("g{}", hash % 8))),
        ]);
        if filler > 0 {
            // Incompressible-looking bytes, different for every item.
            let bytes = (0..filler)
                .map(|i| (hash.rotate_left((i % 64) as u32) as u8) ^ (i as u8))
                .collect();
            item.insert("data".to_string(), AttributeValue::B(bytes));
        }
        let mut codec = Vec::new();
        encode_item(&item, &mut codec);
        let stored = StoredItem::encode(item_size(&item) as u32, &codec);
        Ok(Write {
            pk: pk.to_string(),
            key,
            stored,
        })
    }

    pub fn command(&self) -> Command {
        Command::Put {
            key: self.key.clone(),
            item: self.stored.clone(),
            condition: None,
            wanted: WantedImages::default(),
        }
    }
}

/// A small item's put.
pub fn put(pk: &str) -> Result<Command, Error> {
    Ok(Write::new(pk, 0)?.command())
}

/// The node the running replicas agree leads the group, once they do.
pub async fn leader(replicas: &[Replica]) -> Result<NodeId, Error> {
    let ids: Vec<NodeId> = replicas
        .iter()
        .filter(|r| r.running.is_some())
        .map(|r| r.id)
        .collect();
    leader_among(replicas, &ids).await
}

/// The node that the replicas of `ids` (all running) agree leads the group, once they
/// do and it is one of them. Replicas outside `ids` are not asked: a node cut off from
/// the others may still believe it leads.
pub async fn leader_among(replicas: &[Replica], ids: &[NodeId]) -> Result<NodeId, Error> {
    let started = Instant::now();
    loop {
        let mut seen = Vec::new();
        for replica in replicas.iter().filter(|r| ids.contains(&r.id)) {
            seen.push(replica.raft()?.metrics().borrow().current_leader);
        }
        if let Some(Some(first)) = seen.first() {
            let agreed = seen.iter().all(|s| *s == Some(*first));
            let leads = replicas
                .iter()
                .find(|r| r.id == *first && ids.contains(&r.id))
                .and_then(|r| r.running.as_ref())
                .is_some_and(|r| r.group.raft().metrics().borrow().state == ServerState::Leader);
            if agreed && leads {
                return Ok(*first);
            }
        }
        if started.elapsed() > WAIT {
            return Err(format!("no agreed leader among {ids:?} within {WAIT:?}: {seen:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn replica(replicas: &[Replica], id: NodeId) -> Result<&Replica, Error> {
    replicas
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| format!("no node {id}").into())
}

/// Waits until every running replica has applied what the leader has.
pub async fn converged(replicas: &[Replica], leader: NodeId) -> Result<(), Error> {
    // The leader's log holds every acknowledged write; its applied index, as its
    // metrics report it, may still lag the last acknowledgement for a moment.
    let applied = replica(replicas, leader)?
        .raft()?
        .metrics()
        .borrow()
        .last_log_index
        .unwrap_or(0);
    for replica in replicas.iter().filter(|r| r.running.is_some()) {
        replica
            .raft()?
            .wait(Some(WAIT))
            .applied_index_at_least(Some(applied), "caught up with the leader")
            .await?;
    }
    Ok(())
}

/// Proposes a small item per key through `leader`, one after another; every one must
/// be acknowledged.
pub async fn write_all(replicas: &[Replica], leader: NodeId, keys: &[String]) -> Result<(), Error> {
    let group = replica(replicas, leader)?.group()?;
    for key in keys {
        group.propose(put(key)?).await?;
    }
    Ok(())
}

/// Proposes `writes` through `group`'s write batcher, `in_flight` at a time (so they
/// go in batched entries, as the node's writes do); every one must be acknowledged.
pub async fn write_concurrently(
    group: &Arc<RaftGroup>,
    writes: &[Write],
    in_flight: usize,
) -> Result<(), Error> {
    let mut tasks = tokio::task::JoinSet::new();
    for write in writes {
        if tasks.len() >= in_flight {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        let group = group.clone();
        let command = write.command();
        tasks.spawn(async move { group.propose_batched(command).await.map(|_| ()) });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// What became of one write, as its proposer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed and applied: it must be on every replica from now on.
    Acknowledged,
    /// The proposal returned an error. Not proof that it was not applied: a leader that
    /// steps down with the entry in its log answers with an error, and the next leader
    /// may still commit the entry.
    Failed(String),
    /// No answer within the time given: it may or may not be applied.
    TimedOut,
}

/// Proposes one write through `group`, waiting at most `timeout`.
pub async fn try_write(group: &RaftGroup, write: &Write, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, group.propose(write.command())).await {
        Ok(Ok(_)) => Outcome::Acknowledged,
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        Err(_) => Outcome::TimedOut,
    }
}

/// Every write a test attempted and what its proposer was told. Checks what replicas
/// hold against it: every acknowledged write is there with its value, and nothing is
/// there that was never attempted.
#[derive(Default)]
pub struct Ledger {
    attempted: BTreeMap<Vec<u8>, (Write, Outcome)>,
}

impl Ledger {
    pub fn record(&mut self, write: &Write, outcome: Outcome) {
        self.attempted
            .insert(write.key.clone(), (write.clone(), outcome));
    }

    /// Records writes that were all acknowledged (e.g. by [`write_concurrently`]).
    pub fn acknowledged(&mut self, writes: &[Write]) {
        for write in writes {
            self.record(write, Outcome::Acknowledged);
        }
    }

    pub fn count(&self, wanted: impl Fn(&Outcome) -> bool) -> usize {
        self.attempted
            .values()
            .filter(|(_, outcome)| wanted(outcome))
            .count()
    }

    pub fn acknowledged_count(&self) -> usize {
        self.count(|o| *o == Outcome::Acknowledged)
    }

    /// Checks one replica's items against the ledger.
    pub fn check(&self, node: NodeId, items: &BTreeMap<Vec<u8>, Vec<u8>>) -> Result<(), Error> {
        let mut lost = Vec::new();
        for (key, (write, outcome)) in &self.attempted {
            if *outcome == Outcome::Acknowledged && items.get(key) != Some(&write.stored) {
                lost.push(write.pk.clone());
            }
        }
        if !lost.is_empty() {
            return Err(format!(
                "node {node} lacks {} acknowledged writes (or holds other bytes), e.g. {:?}",
                lost.len(),
                &lost[..lost.len().min(5)]
            )
            .into());
        }
        for (key, value) in items {
            match self.attempted.get(key) {
                Some((write, _)) if write.stored == *value => {}
                Some((write, _)) => {
                    return Err(format!("node {node} holds other bytes for {}", write.pk).into())
                }
                None => return Err(format!("node {node} holds an item nobody wrote").into()),
            }
        }
        Ok(())
    }

    /// The writes the proposer was not told were applied.
    pub fn unacknowledged(&self) -> impl Iterator<Item = &Write> {
        self.attempted
            .values()
            .filter(|(_, outcome)| *outcome != Outcome::Acknowledged)
            .map(|(write, _)| write)
    }
}

/// Describes how two maps differ, briefly (the maps can hold megabytes).
fn difference(a: &BTreeMap<Vec<u8>, Vec<u8>>, b: &BTreeMap<Vec<u8>, Vec<u8>>) -> String {
    let a_keys: BTreeSet<&Vec<u8>> = a.keys().collect();
    let b_keys: BTreeSet<&Vec<u8>> = b.keys().collect();
    let only_a = a_keys.difference(&b_keys).count();
    let only_b = b_keys.difference(&a_keys).count();
    let changed = a_keys
        .intersection(&b_keys)
        .filter(|k| a.get(**k) != b.get(**k))
        .count();
    format!(
        "{} vs {} entries: {only_a} only in the first, {only_b} only in the second, \
         {changed} with other bytes",
        a.len(),
        b.len()
    )
}

/// Three nodes on loopback ports sharing one set of fault rules, a replica of the
/// group on each; each may initialise the group, as cluster members do (its first
/// leader does at once).
pub struct Cluster {
    pub replicas: Vec<Replica>,
    pub voters: BTreeMap<NodeId, SocketAddr>,
    pub faults: Faults,
    dirs: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(nodes: u64) -> Result<Cluster, Error> {
        let dirs = tempfile::tempdir()?;
        let faults = Faults::default();
        let any: SocketAddr = "127.0.0.1:0".parse()?;
        let mut replicas = Vec::new();
        let mut transports = Vec::new();
        for id in 1..=nodes {
            let dir = dirs.path().join(format!("node{id}"));
            let (replica, transport, service) = Replica::listen(id, dir, any, &faults).await?;
            replicas.push(replica);
            transports.push((transport, service));
        }
        let voters: BTreeMap<NodeId, SocketAddr> =
            replicas.iter().map(|r| (r.id, r.addr)).collect();
        let mut cluster = Cluster {
            replicas,
            voters,
            faults,
            dirs,
        };
        for (replica, (transport, service)) in cluster.replicas.iter_mut().zip(transports) {
            if let Err(e) = replica
                .start(transport, service, &cluster.voters, true)
                .await
            {
                cluster.stop_all().await;
                return Err(e);
            }
        }
        Ok(cluster)
    }

    pub fn replica(&self, id: NodeId) -> Result<&Replica, Error> {
        replica(&self.replicas, id)
    }

    pub fn group(&self, id: NodeId) -> Result<&Arc<RaftGroup>, Error> {
        self.replica(id)?.group()
    }

    pub fn raft(&self, id: NodeId) -> Result<&Raft<TypeConfig>, Error> {
        self.replica(id)?.raft()
    }

    /// The other nodes' ids.
    pub fn others(&self, id: NodeId) -> Vec<NodeId> {
        self.voters.keys().copied().filter(|n| *n != id).collect()
    }

    pub async fn leader(&self) -> Result<NodeId, Error> {
        leader(&self.replicas).await
    }

    pub async fn leader_among(&self, ids: &[NodeId]) -> Result<NodeId, Error> {
        leader_among(&self.replicas, ids).await
    }

    pub async fn converged(&self, leader: NodeId) -> Result<(), Error> {
        converged(&self.replicas, leader).await
    }

    pub async fn stop(&mut self, id: NodeId) -> Result<(), Error> {
        let position = self.position(id)?;
        self.replicas[position].stop().await
    }

    /// Brings a stopped node back on its address and data directory.
    pub async fn restart(&mut self, id: NodeId) -> Result<(), Error> {
        let position = self.position(id)?;
        let (dir, addr) = {
            let r = &self.replicas[position];
            if r.running.is_some() {
                return Err(format!("node {id} is running").into());
            }
            (r.dir.clone(), r.addr)
        };
        let (mut back, transport, service) = Replica::listen(id, dir, addr, &self.faults).await?;
        back.start(transport, service, &self.voters, false).await?;
        self.replicas[position] = back;
        Ok(())
    }

    /// Cuts `id` off from every other node, both ways.
    pub fn isolate(&self, id: NodeId) {
        for other in self.others(id) {
            self.faults.partition(id, other);
        }
    }

    /// Stops every node, whatever state the test left them in; for the end of a test,
    /// failed or not.
    pub async fn stop_all(&mut self) {
        self.faults.clear_all();
        for replica in &mut self.replicas {
            if let Err(e) = replica.stop().await {
                eprintln!("stopping node {}: {e}", replica.id);
            }
        }
    }

    fn position(&self, id: NodeId) -> Result<usize, Error> {
        self.replicas
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| format!("no node {id}").into())
    }

    /// Checks that every running replica holds the same items, index entries and
    /// statistics, byte for byte; returns the items.
    pub fn identical(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, Error> {
        let mut running = self.replicas.iter().filter(|r| r.running.is_some());
        let first = running.next().ok_or("no node is running")?;
        let (items, entries, counts) = (first.items()?, first.index_entries()?, first.counts()?);
        for other in running {
            let other_items = other.items()?;
            if other_items != items {
                let diff = difference(&items, &other_items);
                return Err(format!("items of nodes {} and {}: {diff}", first.id, other.id).into());
            }
            let other_entries = other.index_entries()?;
            if other_entries != entries {
                let diff = difference(&entries, &other_entries);
                let (a, b) = (first.id, other.id);
                return Err(format!("index entries of nodes {a} and {b}: {diff}").into());
            }
            let other_counts = other.counts()?;
            if other_counts != counts {
                let (a, b) = (first.id, other.id);
                return Err(format!(
                    "statistics of nodes {a} and {b}: {counts:?} vs {other_counts:?}"
                )
                .into());
            }
        }
        // The statistics are the data's: not merely equal, but right.
        let size: i64 = items
            .values()
            .map(|stored| StoredItem::size(stored).map(i64::from))
            .sum::<Result<i64, _>>()?;
        if counts.0.item_count != items.len() as i64 || counts.0.size_bytes != size {
            return Err(format!("statistics {counts:?} for {} items", items.len()).into());
        }
        if counts.1.item_count != entries.len() as i64 {
            return Err(
                format!("index statistics {counts:?} for {} entries", entries.len()).into(),
            );
        }
        Ok(items)
    }
}
