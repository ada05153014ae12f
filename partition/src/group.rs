//! One partition's Raft group: its openraft instance, its statistics, and the batcher
//! that proposes concurrent single-item writes together.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cirrus_storage::engine::Engine;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::command::{ApplyOutcome, Command, Proposal};
use crate::error::PartitionError;
use crate::log_store::LogStore;
use crate::network::{
    serve_forwarded, serve_read_index, GroupPeers, LeaderAnswer, PeerLink, RaftRpc,
};
use crate::raft_types::{NodeId, TypeConfig, LOCAL_NODE_ID};
use crate::read_index::ReadRounds;
use crate::state_machine::{PartitionStats, StateDigest, StateDigests, StateMachine, TxLocks};
use crate::wal_sync::WalSyncer;
use crate::write_schema::{AppliedSchema, WriteSchema};

/// How long a group may take to elect its leader at start-up.
const LEADER_WAIT: Duration = Duration::from_secs(30);

/// The Raft group id of a partition: unique per node, and a table's groups are contiguous.
pub fn group_id(table_id: u32, partition: u16) -> u64 {
    (u64::from(table_id) << 16) | u64::from(partition)
}

/// The metadata group's "table": table ids start at 1, so no table has it.
pub const METADATA_TABLE_ID: u32 = 0;

/// The metadata group, which replicates the catalog (`Command::Metadata`).
pub const METADATA_GROUP: u64 = 0;

pub struct RaftGroup {
    raft: Raft<TypeConfig>,
    group: u64,
    /// The link to the other replicas' nodes, when there are any.
    link: Option<Arc<dyn PeerLink>>,
    stats: Arc<PartitionStats>,
    locks: Arc<TxLocks>,
    schema: Arc<AppliedSchema>,
    digests: StateDigests,
    batcher: mpsc::Sender<Pending>,
    read_rounds: Arc<ReadRounds>,
}

/// A single-item write waiting to be proposed with others.
type Pending = (
    Command,
    oneshot::Sender<Result<ApplyOutcome, PartitionError>>,
);

/// Most writes in one batched log entry.
const MAX_BATCH: usize = 256;
/// Batched entries in flight at once per group: while they are, new writes queue up
/// and go together in the next one.
const BATCHES_IN_FLIGHT: usize = 4;
/// Writes waiting for the batcher per group; when full, proposers wait for room, so a
/// flood of writes queues in its requests' futures (bounded by the connections), not
/// in an ever-growing channel.
const QUEUED_WRITES: usize = 4 * MAX_BATCH;
/// Most bytes of writes in one batched entry (a single larger write still goes, alone).
/// A replicated entry must reach a follower in one AppendEntries, which openraft 0.9
/// gives one heartbeat interval (250 ms) and our transport one frame (64 MiB): 256
/// items of up to 400 KB each fit neither, and an entry that cannot be replicated
/// stalls its group for good. 1 MiB still makes one fsync cover hundreds of small
/// writes.
const MAX_BATCH_BYTES: u64 = 1 << 20;

/// What a write adds to its batched entry, about: its encoded size.
fn encoded_size(command: &Command) -> u64 {
    // Counting cannot fail for a command that can be encoded at all; one that cannot
    // fails when its entry is, whatever it is counted as here.
    bincode::serialized_size(command).unwrap_or(0)
}

/// How long a write waits for a replicated group to elect a leader.
const ELECTION_WAIT: Duration = Duration::from_secs(10);
/// How long a forwarded proposal may take at the leader.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// Leaders a proposal follows before giving up (each hop learned of a newer one).
const MOST_FORWARDS: usize = 3;

/// Proposes entries to a group: locally when this replica leads it, else to the leader
/// it knows of, over the link (following a few leader changes at most). A leader
/// change between the check and the proposal fails the write (retryably).
#[derive(Clone)]
struct Writer {
    raft: Raft<TypeConfig>,
    group: u64,
    link: Option<Arc<dyn PeerLink>>,
}

impl Writer {
    /// The group's leader as this replica knows it; a replicated group between leaders
    /// (or just formed) is given time to elect one.
    async fn leader(&self) -> Option<NodeId> {
        let leader = self.raft.metrics().borrow().current_leader;
        if leader.is_some() || self.link.is_none() {
            return leader;
        }
        self.raft
            .wait(Some(ELECTION_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a leader elected")
            .await
            .ok()
            .and_then(|m| m.current_leader)
    }

    /// Asks the group's leader, starting from `leader`: `local` when that is this
    /// replica, else `rpc` with `payload` over the link; follows the leaders it is
    /// told of, a few at most.
    async fn on_leader<T: serde::de::DeserializeOwned>(
        &self,
        link: &Arc<dyn PeerLink>,
        mut leader: Option<NodeId>,
        rpc: RaftRpc,
        payload: Vec<u8>,
        local: impl AsyncFnOnce() -> LeaderAnswer<T>,
    ) -> Result<T, PartitionError> {
        let mut local = Some(local);
        for _ in 0..MOST_FORWARDS {
            let Some(to) = leader else { break };
            let answer = match local.take_if(|_| to == link.node_id()) {
                Some(local) => local().await,
                None => {
                    let answer = link
                        .call(to, self.group, rpc, payload.clone(), FORWARD_TIMEOUT)
                        .await
                        .map_err(PartitionError::raft)?;
                    bincode::deserialize(&answer).map_err(PartitionError::raft)?
                }
            };
            match answer {
                LeaderAnswer::Done(done) => return Ok(done),
                LeaderAnswer::NotLeader(next) => leader = next,
                LeaderAnswer::Failed(message) => return Err(PartitionError::Raft(message)),
            }
        }
        Err(PartitionError::Raft(format!(
            "group {} has no leader to answer {rpc:?}",
            self.group
        )))
    }

    /// A read index of the group: the leader confirms with a quorum that it still leads
    /// and names its commit index (over the link, when the leader is another node).
    /// Once this replica has applied that far, it has applied every write acknowledged
    /// before the confirmation started.
    async fn read_index(&self, link: &Arc<dyn PeerLink>) -> Result<u64, PartitionError> {
        let leader = self.leader().await;
        let local = async || serve_read_index(&self.raft).await;
        self.on_leader(link, leader, RaftRpc::ReadIndex, Vec::new(), local)
            .await
    }

    async fn write(&self, proposal: Proposal) -> Result<ApplyOutcome, PartitionError> {
        let local = |proposal| async {
            self.raft
                .client_write(proposal)
                .await
                .map(|response| response.data)
                .map_err(PartitionError::raft)
        };
        // The only replica of its group needs to ask no one.
        let Some(link) = &self.link else {
            return local(proposal).await;
        };
        let leader = self.leader().await;
        if leader == Some(link.node_id()) {
            return local(proposal).await;
        }
        let payload = bincode::serialize(&proposal).map_err(PartitionError::raft)?;
        // Leadership may come here meanwhile.
        let here = async || serve_forwarded(&self.raft, proposal).await;
        self.on_leader(link, leader, RaftRpc::Propose, payload, here)
            .await
    }
}

/// Collects concurrent single-item writes into `Command::Batch` entries. A batch never
/// holds two writes of one item (the second waits for the next batch), because the
/// state machine reads items from RocksDB, which sees a batch's writes only at its end;
/// and never more than [`MAX_BATCH_BYTES`] of writes unless it is a single write.
async fn run_batcher(writer: Writer, mut queue: mpsc::Receiver<Pending>) {
    let permits = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let mut keys: HashSet<Vec<u8>> = HashSet::new();
        keys.extend(first.0.item_key().map(<[u8]>::to_vec));
        let mut bytes = encoded_size(&first.0);
        let mut pending = vec![first];
        while pending.len() < MAX_BATCH {
            let Ok(next) = queue.try_recv() else {
                break;
            };
            let size = encoded_size(&next.0);
            let key = next.0.item_key().map(<[u8]>::to_vec).unwrap_or_default();
            if bytes.saturating_add(size) > MAX_BATCH_BYTES || keys.contains(&key) {
                carried = Some(next);
                break;
            }
            keys.insert(key);
            bytes += size;
            pending.push(next);
        }
        let writer = writer.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if pending.len() == 1 {
                for (command, reply) in pending {
                    let _ = reply.send(writer.write(Proposal::now(command)).await);
                }
                return;
            }
            let (commands, replies): (Vec<Command>, Vec<_>) = pending.into_iter().unzip();
            match writer.write(Proposal::now(Command::Batch(commands))).await {
                Ok(outcome) => {
                    for (outcome, reply) in outcome.batch.into_iter().zip(replies) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(PartitionError::Raft(message.clone())));
                    }
                }
            }
        });
    }
}

/// How long a replica that is not a new group's first leader waits before initialising
/// the group itself: long enough for the first leader to win its first election. If
/// every replica initialised the group at once, each would campaign at once (openraft
/// campaigns on initialising) and they would split their votes, election after election.
const INITIALIZE_GRACE: Duration = Duration::from_secs(6);

/// The voter that initialises a new group, and so campaigns first and usually leads it:
/// chosen by group id, so that the groups' first leaders spread over the nodes.
fn first_leader(group: u64, voters: &BTreeMap<NodeId, BasicNode>) -> Option<NodeId> {
    let count = u64::try_from(voters.len())
        .ok()
        .filter(|count| *count > 0)?;
    voters.keys().nth((group % count) as usize).copied()
}

/// Initialises the group if it never was: at once on its first leader; on the other
/// replicas only if it still is not after the grace period (the first leader is down),
/// with the same voters, which openraft allows.
async fn initialize(
    raft: &Raft<TypeConfig>,
    group: u64,
    replicas: &Replicas,
) -> Result<(), PartitionError> {
    if raft.is_initialized().await.map_err(PartitionError::raft)? {
        return Ok(());
    }
    if first_leader(group, &replicas.voters) == Some(replicas.local) {
        return raft
            .initialize(replicas.voters.clone())
            .await
            .map_err(PartitionError::raft);
    }
    let (raft, voters) = (raft.clone(), replicas.voters.clone());
    tokio::spawn(async move {
        tokio::time::sleep(INITIALIZE_GRACE).await;
        if raft
            .is_initialized()
            .await
            .is_ok_and(|initialized| !initialized)
        {
            tracing::info!(group, "initialising a group its first leader did not");
            // Another replica may initialise it meanwhile; then this one is refused.
            let _ = raft.initialize(voters).await;
        }
    });
    Ok(())
}

/// Who replicates a group, and how this node reaches the other replicas.
#[derive(Clone)]
pub struct Replicas {
    /// This node's id in the group.
    pub local: NodeId,
    /// Every voter and its address (the embedded single node needs none).
    pub voters: BTreeMap<NodeId, BasicNode>,
    /// Whether this node may initialise the group when its log is empty (with the same
    /// voters as every other replica is told of): its first leader does at once, the
    /// others only if it has not after a while (`initialize`).
    pub bootstrap: bool,
    /// The link to the other voters' nodes (none for the single node).
    pub link: Option<Arc<dyn PeerLink>>,
}

impl Replicas {
    /// The embedded single node: the only replica of every group.
    pub fn single() -> Self {
        Replicas {
            local: LOCAL_NODE_ID,
            voters: BTreeMap::from([(LOCAL_NODE_ID, BasicNode::default())]),
            bootstrap: true,
            link: None,
        }
    }
}

fn raft_config(replicated: bool) -> Result<Arc<Config>, PartitionError> {
    let config = if replicated {
        // Across a network: openraft 0.9 times an AppendEntries out after one heartbeat
        // interval and a snapshot chunk after `install_snapshot_timeout` (installing the
        // last chunk included), so both get room for a loaded machine and real data;
        // elections wait for four missed heartbeats at least. A follower refuses votes
        // for `election_timeout_max` after its last heartbeat (openraft's leader lease),
        // so a failover takes about one to two of it: 2–4 s here.
        Config {
            cluster_name: "cirrus".into(),
            heartbeat_interval: 250,
            election_timeout_min: 1_000,
            election_timeout_max: 2_000,
            install_snapshot_timeout: 30_000,
            snapshot_max_chunk_size: 1024 * 1024,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(20_000),
            max_in_snapshot_log_to_keep: 1_000,
            ..Default::default()
        }
    } else {
        Config {
            cluster_name: "cirrus".into(),
            heartbeat_interval: 100,
            election_timeout_min: 300,
            election_timeout_max: 600,
            // A snapshot copies the partition; taking one every 20k writes bounds the log
            // while keeping that copy rare.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(20_000),
            max_in_snapshot_log_to_keep: 1_000,
            ..Default::default()
        }
    };
    Ok(Arc::new(config.validate().map_err(PartitionError::raft)?))
}

impl RaftGroup {
    /// Opens this node's replica of one partition's group — initialising the group if
    /// this node bootstraps it and it has never been initialised (a new table, or one
    /// whose creation a crash interrupted). The only replica of a group (the embedded
    /// single node) then waits until it leads and has applied every entry its log held:
    /// only then do its locks, decisions and schema reflect everything committed. A
    /// replica among several returns at once; its group elects a leader on its own.
    /// `initial_schema` is what the partition starts from if it has applied no schema
    /// entry yet.
    pub async fn open(
        engine: Arc<Engine>,
        syncer: WalSyncer,
        table_id: u32,
        partition: u16,
        initial_schema: WriteSchema,
        collection_limit: u64,
        replicas: Replicas,
    ) -> Result<RaftGroup, PartitionError> {
        let group = group_id(table_id, partition);
        let log_store = LogStore::new(engine.clone(), group, syncer);
        let state_machine = StateMachine::open(
            engine,
            table_id,
            partition,
            group,
            initial_schema,
            collection_limit,
        )?;
        let stats = state_machine.stats();
        let locks = state_machine.locks();
        let schema = state_machine.schema();
        let digests = state_machine.digests();
        let single = replicas.voters.len() == 1 && replicas.voters.contains_key(&replicas.local);
        let raft = Raft::new(
            replicas.local,
            raft_config(!single)?,
            GroupPeers::new(replicas.link.clone(), group),
            log_store,
            state_machine,
        )
        .await
        .map_err(PartitionError::raft)?;
        if replicas.bootstrap {
            initialize(&raft, group, &replicas).await?;
        }
        if single {
            raft.wait(Some(LEADER_WAIT))
                .current_leader(replicas.local, "partition leader elected")
                .await
                .map_err(PartitionError::raft)?;
            // A new leader commits everything in its log (with a blank entry of its
            // term): wait until all of it is applied.
            let last_log_index = raft.metrics().borrow().last_log_index;
            raft.wait(Some(LEADER_WAIT))
                .applied_index_at_least(last_log_index, "committed log tail applied")
                .await
                .map_err(PartitionError::raft)?;
        }
        if let Some(link) = &replicas.link {
            link.serve(group, raft.clone());
        }
        let (batcher, queue) = mpsc::channel(QUEUED_WRITES);
        let writer = Writer {
            raft: raft.clone(),
            group,
            link: replicas.link.clone(),
        };
        tokio::spawn(run_batcher(writer, queue));
        Ok(RaftGroup {
            raft,
            group,
            link: replicas.link,
            stats,
            locks,
            schema,
            digests,
            batcher,
            read_rounds: Arc::default(),
        })
    }

    /// Proposes a single-item write together with whatever other writes arrive
    /// meanwhile; returns once it is committed (durable) and applied.
    pub async fn propose_batched(&self, command: Command) -> Result<ApplyOutcome, PartitionError> {
        if !command.batchable() {
            return self.propose(command).await;
        }
        let (reply, outcome) = oneshot::channel();
        self.batcher
            .send((command, reply))
            .await
            .map_err(|_| PartitionError::Raft("the partition is shutting down".into()))?;
        outcome
            .await
            .map_err(|_| PartitionError::Raft("the partition is shutting down".into()))?
    }

    /// Proposes `command` (through the group's leader, wherever it is), returning once
    /// it is committed (durable) and applied there.
    pub async fn propose(&self, command: Command) -> Result<ApplyOutcome, PartitionError> {
        self.writer().write(Proposal::now(command)).await
    }

    /// Waits until this replica has applied every write acknowledged before the call:
    /// a read after it is strongly consistent. Concurrent calls share read-index rounds
    /// (`read_index`); the only replica of a group has applied every acknowledged write
    /// already.
    pub async fn read_barrier(&self) -> Result<(), PartitionError> {
        let Some(link) = self.link.clone() else {
            return Ok(());
        };
        let writer = self.writer();
        let index = self
            .read_rounds
            .read_index(move || {
                let (writer, link) = (writer.clone(), link.clone());
                async move { writer.read_index(&link).await }
            })
            .await?;
        self.raft
            .wait(Some(FORWARD_TIMEOUT))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map_err(PartitionError::raft)?;
        Ok(())
    }

    fn writer(&self) -> Writer {
        Writer {
            raft: self.raft.clone(),
            group: self.group,
            link: self.link.clone(),
        }
    }

    /// The group's id.
    pub fn id(&self) -> u64 {
        self.group
    }

    /// The group's leader as this replica knows it, after waiting a while for one to be
    /// elected if there is none.
    pub async fn leader(&self) -> Option<NodeId> {
        self.writer().leader().await
    }

    /// Whether this replica leads its group, as far as it knows: a deposed leader may
    /// believe it until it hears from the next one, so what it proposes meanwhile fails
    /// or must be guarded.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state.is_leader()
    }

    /// The group's leader as this replica knows it now, without waiting. (A leader that
    /// removed its own replica keeps naming itself in openraft's metrics after it
    /// stepped down; it is not the leader then.)
    pub fn leader_known(&self) -> Option<NodeId> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics
            .current_leader
            .filter(|leader| *leader != metrics.id || metrics.state.is_leader())
    }

    /// The digest of this replica's state (reads all of it: a blocking call).
    pub fn digest(&self) -> Result<StateDigest, PartitionError> {
        Ok(self.digests.digest()?)
    }

    /// The write schema the partition has applied.
    pub fn schema(&self) -> Arc<WriteSchema> {
        self.schema.get()
    }

    pub fn stats(&self) -> &PartitionStats {
        &self.stats
    }

    /// The partition's items held by prepared transactions.
    pub fn locks(&self) -> &TxLocks {
        &self.locks
    }

    pub async fn shutdown(&self) -> Result<(), PartitionError> {
        if let Some(link) = &self.link {
            link.forget(self.group);
        }
        self.raft.shutdown().await.map_err(PartitionError::raft)
    }

    /// The group's openraft instance, for the transport that delivers its peers' RPCs
    /// and for waiting on its metrics.
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }
}
