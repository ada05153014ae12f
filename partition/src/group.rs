//! One partition's Raft group: its openraft instance and its statistics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cirrus_storage::engine::Engine;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};

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
        Ok(RaftGroup { raft, stats, locks })
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
