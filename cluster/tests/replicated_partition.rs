//! One partition's Raft group with three replicas on three "nodes" (each its own
//! RocksDB, WAL syncer and transport on a loopback port): writes acknowledged by the
//! leader are on every replica, a write proposed on a follower is forwarded to the
//! leader, the group elects a new leader when its leader stops and keeps every
//! acknowledged write, and the stopped replica catches up when it comes back.
//! Real openraft, real RocksDB, real TCP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cirrus_cluster::raft::{RaftService, TransportLink};
use cirrus_cluster::{ClusterSecret, NodeId, Transport, TransportConfig};
use cirrus_partition::command::{Command, WantedImages};
use cirrus_partition::group::{RaftGroup, Replicas};
use cirrus_partition::hashing::partition_key_hash;
use cirrus_partition::wal_sync::WalSyncer;
use cirrus_partition::write_schema::WriteSchema;
use cirrus_partition::KeySchema;
use cirrus_storage::codec::encode_item;
use cirrus_storage::engine::{
    item_key, partition_prefix, prefix_end, Engine, StoredItem, CF_ITEMS,
};
use cirrus_storage::key::encode_key_value;
use cirrus_storage::{AttributeValue, Item, KeyAttribute, ScalarType};
use openraft::BasicNode;

const CLUSTER: u64 = 7;
const TABLE: u32 = 1;
const PARTITION: u16 = 0;
const WAIT: Duration = Duration::from_secs(30);

type Error = Box<dyn std::error::Error + Send + Sync>;

fn schema() -> WriteSchema {
    let pk = KeyAttribute {
        name: "pk".into(),
        ty: ScalarType::S,
    };
    WriteSchema {
        version: 1,
        table_keys: KeySchema::simple(pk, None),
        specs: Vec::new(),
        local_ids: Vec::new(),
        stream: None,
        ttl_attribute: None,
    }
}

/// One node: its data directory, and while it runs, its engine, transport and replica.
struct Replica {
    id: NodeId,
    dir: PathBuf,
    addr: SocketAddr,
    running: Option<Running>,
}

struct Running {
    engine: Arc<Engine>,
    transport: Arc<Transport>,
    group: RaftGroup,
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

impl Replica {
    /// Starts the node's transport on `addr` (port 0: any) and returns it.
    async fn listen(
        id: NodeId,
        dir: PathBuf,
        addr: SocketAddr,
    ) -> Result<(Replica, Arc<Transport>, Arc<RaftService>), Error> {
        let service = Arc::new(RaftService::default());
        let transport = Arc::new(Transport::new(
            TransportConfig::new(CLUSTER, id, secret()?),
            service.clone(),
        ));
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
    async fn start(
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
            group: group_replica,
        });
        Ok(())
    }

    /// Stops the node as a crash would, as far as its peers can tell: its replica and
    /// its transport go away.
    async fn stop(&mut self) -> Result<(), Error> {
        if let Some(running) = self.running.take() {
            running.group.shutdown().await?;
            running.transport.shutdown().await;
        }
        Ok(())
    }

    fn running(&self) -> Result<&Running, Error> {
        self.running
            .as_ref()
            .ok_or_else(|| format!("node {} is stopped", self.id).into())
    }

    /// Every item this replica holds, key → stored bytes.
    fn items(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, Error> {
        let prefix = partition_prefix(TABLE, PARTITION);
        let mut items = BTreeMap::new();
        self.running()?
            .engine
            .scan(CF_ITEMS, &prefix, &prefix_end(&prefix), |key, value| {
                items.insert(key.to_vec(), value.to_vec());
                Ok(true)
            })?;
        Ok(items)
    }
}

fn put(pk: &str) -> Result<Command, Error> {
    let mut encoded = Vec::new();
    encode_key_value(&AttributeValue::S(pk.into()), &mut encoded)?;
    let key = item_key(
        TABLE,
        PARTITION,
        partition_key_hash(&encoded),
        &encoded,
        b"",
    );
    let item = Item::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("v".to_string(), AttributeValue::S(format!("value of {pk}"))),
    ]);
    let mut codec = Vec::new();
    encode_item(&item, &mut codec);
    Ok(Command::Put {
        key,
        item: StoredItem::encode(codec.len() as u32, &codec),
        condition: None,
        wanted: WantedImages::default(),
    })
}

/// The node the running replicas agree leads the group, once they do.
async fn leader(replicas: &[Replica]) -> Result<NodeId, Error> {
    let started = Instant::now();
    loop {
        let seen: Vec<Option<NodeId>> = replicas
            .iter()
            .filter_map(|r| r.running.as_ref())
            .map(|r| r.group.raft().metrics().borrow().current_leader)
            .collect();
        if let Some(Some(first)) = seen.first() {
            let running = replicas.iter().filter(|r| r.running.is_some());
            let agreed = seen.iter().all(|s| *s == Some(*first));
            if agreed && running.clone().any(|r| r.id == *first) {
                return Ok(*first);
            }
        }
        if started.elapsed() > WAIT {
            return Err(format!("no agreed leader within {WAIT:?}: {seen:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every running replica has applied what the leader has.
async fn converged(replicas: &[Replica], leader: NodeId) -> Result<(), Error> {
    let lead = replicas
        .iter()
        .find(|r| r.id == leader)
        .ok_or("no such leader")?;
    let applied = lead
        .running()?
        .group
        .raft()
        .metrics()
        .borrow()
        .last_applied
        .map_or(0, |id| id.index);
    for replica in replicas.iter().filter(|r| r.running.is_some()) {
        replica
            .running()?
            .group
            .raft()
            .wait(Some(WAIT))
            .applied_index_at_least(Some(applied), "caught up with the leader")
            .await?;
    }
    Ok(())
}

async fn write_all(replicas: &[Replica], leader: NodeId, keys: &[String]) -> Result<(), Error> {
    let lead = replicas
        .iter()
        .find(|r| r.id == leader)
        .ok_or("no such leader")?;
    for key in keys {
        lead.running()?.group.propose(put(key)?).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_replica_group_keeps_acknowledged_writes_through_a_leader_failure(
) -> Result<(), Error> {
    let dirs = tempfile::tempdir()?;
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let mut replicas = Vec::new();
    let mut transports = Vec::new();
    for id in 1..=3 {
        let (replica, transport, service) =
            Replica::listen(id, dirs.path().join(format!("node{id}")), any).await?;
        replicas.push(replica);
        transports.push((transport, service));
    }
    let voters: BTreeMap<NodeId, SocketAddr> = replicas.iter().map(|r| (r.id, r.addr)).collect();
    for (replica, (transport, service)) in replicas.iter_mut().zip(transports) {
        let bootstrap = replica.id == 1;
        replica
            .start(transport, service, &voters, bootstrap)
            .await?;
    }

    let first = leader(&replicas).await?;
    let keys: Vec<String> = (0..50).map(|i| format!("before-{i}")).collect();
    write_all(&replicas, first, &keys).await?;
    // A write proposed on a follower goes to the leader, and is everywhere once
    // acknowledged.
    let follower = replicas
        .iter()
        .find(|r| r.id != first)
        .ok_or("no follower")?;
    follower.running()?.group.propose(put("forwarded")?).await?;
    converged(&replicas, first).await?;
    let everywhere = replicas[0].items()?;
    assert_eq!(everywhere.len(), 51);
    for replica in &replicas[1..] {
        assert_eq!(replica.items()?, everywhere, "node {} differs", replica.id);
    }

    // The leader goes away: the other two elect one of themselves and keep serving.
    let stopped = replicas
        .iter()
        .position(|r| r.id == first)
        .ok_or("no leader")?;
    replicas[stopped].stop().await?;
    let second = leader(&replicas).await?;
    assert_ne!(second, first);
    let more: Vec<String> = (0..50).map(|i| format!("after-{i}")).collect();
    write_all(&replicas, second, &more).await?;

    // The stopped node comes back on its address and catches up.
    let (dir, addr, id) = {
        let r = &replicas[stopped];
        (r.dir.clone(), r.addr, r.id)
    };
    let (mut back, transport, service) = Replica::listen(id, dir, addr).await?;
    back.start(transport, service, &voters, false).await?;
    replicas[stopped] = back;
    let now = leader(&replicas).await?;
    converged(&replicas, now).await?;
    let everywhere = replicas[0].items()?;
    assert_eq!(everywhere.len(), 101, "every acknowledged write, once");
    for replica in &replicas[1..] {
        assert_eq!(replica.items()?, everywhere, "node {} differs", replica.id);
    }
    for replica in &mut replicas {
        replica.stop().await?;
    }
    Ok(())
}
