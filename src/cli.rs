//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Cirrus: a DynamoDB-compatible key-value database.
#[derive(Parser)]
#[command(name = "cirrus", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a Cirrus node serving the DynamoDB API (one node, embedded, by default).
    Serve(ServeOptions),
    /// Drive a DynamoDB endpoint with a YCSB-style workload and report throughput and
    /// latency.
    Bench(crate::bench::options::BenchOptions),
    /// Inspect a running cluster and change its members.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Show every member (up or not) and every group: its leader, term, and each
    /// replica's applied index and lag behind the leader's log.
    Status(StatusOptions),
    /// Add a node (started with `cirrus serve --join`) to the cluster, and wait while it
    /// gets a replica of every group and its share of the voters.
    AddNode(AddNodeOptions),
    /// Remove a node from the cluster, and wait while its replicas move to the other
    /// members. Its id is never used again.
    RemoveNode(RemoveNodeOptions),
    /// Replace a node with a new one (started with `cirrus serve --join`): adds the new
    /// node, then removes the old one, and waits while replicas move.
    ReplaceNode(ReplaceNodeOptions),
}

/// How long a membership command waits for the replicas to move.
#[derive(Args)]
pub struct WaitOptions {
    /// Return once the change is recorded, without waiting for the replicas to move.
    #[arg(long)]
    pub no_wait: bool,

    /// Give up waiting after this many seconds (the moves go on).
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

impl WaitOptions {
    pub fn timeout(&self) -> Option<std::time::Duration> {
        (!self.no_wait).then(|| std::time::Duration::from_secs(self.timeout))
    }
}

/// Which node a membership command asks, and how long it waits.
#[derive(Args)]
pub struct MembershipCall {
    #[command(flatten)]
    pub endpoint: EndpointOptions,

    #[command(flatten)]
    pub wait: WaitOptions,
}

#[derive(Args)]
pub struct AddNodeOptions {
    /// The new node's id (its `--node-id`): never one the cluster had before.
    pub node_id: u64,

    /// Where the other members reach the new node's peer port (its `--peer-listen`).
    #[arg(long)]
    pub peer_address: String,

    #[command(flatten)]
    pub call: MembershipCall,
}

#[derive(Args)]
pub struct RemoveNodeOptions {
    pub node_id: u64,

    #[command(flatten)]
    pub call: MembershipCall,
}

#[derive(Args)]
pub struct ReplaceNodeOptions {
    /// The node leaving.
    pub old_node_id: u64,

    /// The node taking its place (started with `cirrus serve --join`).
    pub new_node_id: u64,

    /// Where the other members reach the new node's peer port.
    #[arg(long)]
    pub peer_address: String,

    #[command(flatten)]
    pub call: MembershipCall,
}

#[derive(Args)]
pub struct StatusOptions {
    #[command(flatten)]
    pub endpoint: EndpointOptions,

    /// Print every member's report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,

    /// Include each replica's state digest (with its applied index) in the JSON: equal
    /// at equal indexes on every replica. Reads every group's state.
    #[arg(long, requires = "json")]
    pub digests: bool,
}

/// Where a client command sends its (SigV4-signed) requests.
#[derive(Args, Debug)]
pub struct EndpointOptions {
    /// A node's API endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub endpoint: String,

    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// Credentials to sign with (any value works for local servers).
    #[arg(long, default_value = "bench")]
    pub access_key: String,
    #[arg(long, default_value = "bench")]
    pub secret_key: String,
}

impl EndpointOptions {
    pub fn client(&self) -> Result<crate::client::SignedClient, String> {
        self.client_for(&self.endpoint)
    }

    /// A client for another endpoint, signing as this one does.
    pub fn client_for(&self, endpoint: &str) -> Result<crate::client::SignedClient, String> {
        crate::client::SignedClient::new(endpoint, &self.region, &self.access_key, &self.secret_key)
    }
}

#[derive(Args)]
pub struct ServeOptions {
    /// Address to listen on for DynamoDB API requests.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// Directory holding the node's data (created if missing).
    #[arg(long, default_value = "./cirrus-data")]
    pub data_dir: PathBuf,

    /// The region of requests that are not signed. A signed request's region is the one
    /// its credentials are scoped to; each region keeps its own tables (and ARNs, streams
    /// and tags), as in DynamoDB.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// AWS account id this endpoint reports in ARNs.
    #[arg(long, default_value = "000000000000")]
    pub account_id: String,

    /// Partitions (Raft groups) per new table [default: the number of CPU cores, 1-64].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub partitions_per_table: Option<u16>,

    /// Largest item collection (the items of one partition-key value and their
    /// local-index entries) in bytes, on tables with local secondary indexes; lower it
    /// to test an application against ItemCollectionSizeLimitExceededException.
    #[arg(long, default_value_t = 10 * 1024 * 1024 * 1024)]
    pub item_collection_limit_bytes: u64,

    /// How long stream records are kept, in seconds (DynamoDB: 24 hours).
    #[arg(long, default_value_t = 24 * 3600)]
    pub stream_retention: u64,

    /// Seconds between TTL sweeps, which delete items whose TTL attribute has passed.
    #[arg(long, default_value_t = 2)]
    pub ttl_sweep_interval: u64,

    /// Never throttle (DynamoDB Local's behaviour); by default provisioned throughput,
    /// on-demand maxima and per-partition ceilings are enforced as DynamoDB does.
    #[arg(long)]
    pub no_throttle: bool,

    /// Request-body bytes the server works on at once, across all connections; further
    /// requests wait. Parsing makes a body about fifty times larger in memory, so this
    /// bounds what concurrent large requests can take; the default fits two of the
    /// largest (16 MB) requests.
    #[arg(long, default_value_t = cirrus_api::server::DEFAULT_REQUEST_BYTES_IN_FLIGHT)]
    pub request_bytes_in_flight: usize,

    /// This node's id in a cluster (never reused: a replaced machine joins under a new
    /// id). Without it, Cirrus runs as the embedded single node.
    #[arg(long, requires_all = ["peer_listen", "member", "cluster_secret_file"])]
    pub node_id: Option<u64>,

    /// Address to listen on for other nodes' Raft traffic (cluster only).
    #[arg(long)]
    pub peer_listen: Option<SocketAddr>,

    /// A founding member of the cluster, as `ID=HOST:PORT` (its peer address); repeat
    /// for each founder, this node included unless it joins. Members added later need no
    /// flag: the cluster records them.
    #[arg(long, value_parser = parse_member)]
    pub member: Vec<(u64, SocketAddr)>,

    /// This node joins a running cluster (the `--member` nodes, which it reaches first)
    /// instead of founding it; it takes part once `cirrus cluster add-node` adds it.
    #[arg(long, requires = "node_id")]
    pub join: bool,

    /// How many replicas of each group vote (a write is acknowledged once a majority of
    /// them has it); every member holds a replica of every group. Recorded when the
    /// cluster forms: later values are ignored.
    #[arg(long, default_value_t = 3)]
    pub replication_factor: u8,

    /// A file holding the secret every member shares (at least 16 bytes); peers that
    /// cannot prove it are refused.
    #[arg(long)]
    pub cluster_secret_file: Option<PathBuf>,

    /// The cluster's id, which peers check before anything else.
    #[arg(long, default_value_t = 1)]
    pub cluster_id: u64,
}

fn parse_member(text: &str) -> Result<(u64, SocketAddr), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ID=HOST:PORT"))?;
    let id = id.parse().map_err(|e| format!("node id {id:?}: {e}"))?;
    let addr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    Ok((id, addr))
}
