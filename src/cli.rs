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
    /// Inspect a running cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Show every member (up or not) and every group: its leader, term, and each
    /// replica's applied index and lag behind the leader's log.
    Status(StatusOptions),
}

#[derive(Args)]
pub struct StatusOptions {
    #[command(flatten)]
    pub endpoint: EndpointOptions,

    /// Print every member's report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
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

    /// A cluster member, as `ID=HOST:PORT` (its peer address); repeat for each member,
    /// this node included. Every member replicates every group.
    #[arg(long, value_parser = parse_member)]
    pub member: Vec<(u64, SocketAddr)>,

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
