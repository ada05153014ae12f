//! One partition's Raft group: its openraft instance, its statistics, and the batcher
//! that proposes concurrent single-item writes together.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cirrus_storage::engine::Engine;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::command::{ApplyOutcome, Command};
use crate::error::PartitionError;
use crate::live_schema::LiveSchema;
use crate::log_store::LogStore;
use crate::network::NoPeers;
use crate::raft_types::{TypeConfig, LOCAL_NODE_ID};
use crate::state_machine::{PartitionStats, StateMachine, TxLocks};
use crate::wal_sync::WalSyncer;

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
    batcher: mpsc::UnboundedSender<Pending>,
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

/// Collects concurrent single-item writes into `Command::Batch` entries. A batch never
/// holds two writes of one item (the second waits for the next batch), because the
/// state machine reads items from RocksDB, which sees a batch's writes only at its end.
async fn run_batcher(raft: Raft<TypeConfig>, mut queue: mpsc::UnboundedReceiver<Pending>) {
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
                        .client_write(command)
                        .await
                        .map(|response| response.data)
                        .map_err(PartitionError::raft);
                    let _ = reply.send(outcome);
                }
                return;
            }
            let (commands, replies): (Vec<Command>, Vec<_>) = pending.into_iter().unzip();
            match raft.client_write(Command::Batch(commands)).await {
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
    /// Opens (or, with `fresh`, creates) the group of one partition and waits until this
    /// node leads it.
    pub async fn open(
        engine: Arc<Engine>,
        syncer: WalSyncer,
        table_id: u32,
        partition: u16,
        schema: Arc<LiveSchema>,
        fresh: bool,
    ) -> Result<RaftGroup, PartitionError> {
        let group = group_id(table_id, partition);
        let log_store = LogStore::new(engine.clone(), group, syncer);
        let state_machine = StateMachine::open(engine, table_id, partition, group, schema)?;
        let stats = state_machine.stats();
        let locks = state_machine.locks();
        let raft = Raft::new(
            LOCAL_NODE_ID,
            raft_config()?,
            NoPeers,
            log_store,
            state_machine,
        )
        .await
        .map_err(PartitionError::raft)?;
        if fresh {
            let members = BTreeMap::from([(LOCAL_NODE_ID, BasicNode::default())]);
            raft.initialize(members)
                .await
                .map_err(PartitionError::raft)?;
        }
        raft.wait(Some(LEADER_WAIT))
            .current_leader(LOCAL_NODE_ID, "partition leader elected")
            .await
            .map_err(PartitionError::raft)?;
        let (batcher, queue) = mpsc::unbounded_channel();
        tokio::spawn(run_batcher(raft.clone(), queue));
        Ok(RaftGroup {
            raft,
            stats,
            locks,
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
            .map_err(|_| PartitionError::Raft("the partition is shutting down".into()))?;
        outcome
            .await
            .map_err(|_| PartitionError::Raft("the partition is shutting down".into()))?
    }

    /// Proposes `command`, returning once it is committed (durable) and applied.
    pub async fn propose(&self, command: Command) -> Result<ApplyOutcome, PartitionError> {
        self.raft
            .client_write(command)
            .await
            .map(|response| response.data)
            .map_err(PartitionError::raft)
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
