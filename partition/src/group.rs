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
use crate::network::NoPeers;
use crate::raft_types::{TypeConfig, LOCAL_NODE_ID};
use crate::state_machine::{PartitionStats, StateMachine, TxLocks};
use crate::wal_sync::WalSyncer;
use crate::write_schema::{AppliedSchema, WriteSchema};

/// How long a group may take to elect its leader at start-up.
const LEADER_WAIT: Duration = Duration::from_secs(30);

/// The Raft group id of a partition: unique per node, and a table's groups are contiguous.
pub fn group_id(table_id: u32, partition: u16) -> u64 {
    (u64::from(table_id) << 16) | u64::from(partition)
}

pub struct RaftGroup {
    raft: Raft<TypeConfig>,
    stats: Arc<PartitionStats>,
    locks: Arc<TxLocks>,
    schema: Arc<AppliedSchema>,
    batcher: mpsc::Sender<Pending>,
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

/// Collects concurrent single-item writes into `Command::Batch` entries. A batch never
/// holds two writes of one item (the second waits for the next batch), because the
/// state machine reads items from RocksDB, which sees a batch's writes only at its end.
async fn run_batcher(raft: Raft<TypeConfig>, mut queue: mpsc::Receiver<Pending>) {
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
        let mut pending = vec![first];
        while pending.len() < MAX_BATCH {
            let Ok(next) = queue.try_recv() else {
                break;
            };
            let key = next.0.item_key().map(<[u8]>::to_vec).unwrap_or_default();
            if !keys.insert(key) {
                carried = Some(next);
                break;
            }
            pending.push(next);
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if pending.len() == 1 {
                for (command, reply) in pending {
                    let outcome = raft
                        .client_write(Proposal::now(command))
                        .await
                        .map(|response| response.data)
                        .map_err(PartitionError::raft);
                    let _ = reply.send(outcome);
                }
                return;
            }
            let (commands, replies): (Vec<Command>, Vec<_>) = pending.into_iter().unzip();
            match raft
                .client_write(Proposal::now(Command::Batch(commands)))
                .await
            {
                Ok(response) => {
                    for (outcome, reply) in response.data.batch.into_iter().zip(replies) {
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

fn raft_config() -> Result<Arc<Config>, PartitionError> {
    let config = Config {
        cluster_name: "cirrus".into(),
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        // A snapshot copies the partition; taking one every 20k writes bounds the log
        // while keeping that copy rare.
        snapshot_policy: SnapshotPolicy::LogsSinceLast(20_000),
        max_in_snapshot_log_to_keep: 1_000,
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(PartitionError::raft)?))
}

impl RaftGroup {
    /// Opens the group of one partition — creating it if it has never been initialised
    /// (a new table, or one whose creation a crash interrupted) — waits until this node
    /// leads it, and then until it has applied every entry its log held: only then do
    /// its locks, decisions and schema reflect everything that was committed.
    /// `initial_schema` is what the partition starts from if it has applied no schema
    /// entry yet.
    pub async fn open(
        engine: Arc<Engine>,
        syncer: WalSyncer,
        table_id: u32,
        partition: u16,
        initial_schema: WriteSchema,
        collection_limit: u64,
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
        let raft = Raft::new(
            LOCAL_NODE_ID,
            raft_config()?,
            NoPeers,
            log_store,
            state_machine,
        )
        .await
        .map_err(PartitionError::raft)?;
        if !raft.is_initialized().await.map_err(PartitionError::raft)? {
            let members = BTreeMap::from([(LOCAL_NODE_ID, BasicNode::default())]);
            raft.initialize(members)
                .await
                .map_err(PartitionError::raft)?;
        }
        raft.wait(Some(LEADER_WAIT))
            .current_leader(LOCAL_NODE_ID, "partition leader elected")
            .await
            .map_err(PartitionError::raft)?;
        // A new leader commits everything in its log (with a blank entry of its term):
        // wait until all of it is applied.
        let last_log_index = raft.metrics().borrow().last_log_index;
        raft.wait(Some(LEADER_WAIT))
            .applied_index_at_least(last_log_index, "committed log tail applied")
            .await
            .map_err(PartitionError::raft)?;
        let (batcher, queue) = mpsc::channel(QUEUED_WRITES);
        tokio::spawn(run_batcher(raft.clone(), queue));
        Ok(RaftGroup {
            raft,
            stats,
            locks,
            schema,
            batcher,
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

    /// Proposes `command`, returning once it is committed (durable) and applied.
    pub async fn propose(&self, command: Command) -> Result<ApplyOutcome, PartitionError> {
        self.raft
            .client_write(Proposal::now(command))
            .await
            .map(|response| response.data)
            .map_err(PartitionError::raft)
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
        self.raft.shutdown().await.map_err(PartitionError::raft)
    }
}
