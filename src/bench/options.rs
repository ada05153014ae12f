//! `cirrus bench`'s command line.

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Bulk insert of `--records` items.
    Load,
    /// 50% GetItem, 50% UpdateItem.
    A,
    /// 95% GetItem, 5% UpdateItem.
    B,
    /// 100% GetItem.
    C,
    /// 100% PutItem.
    W,
    /// Query of the 10 items of one partition key.
    Q,
    /// BatchWriteItem of 25 items.
    S,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyDistribution {
    Uniform,
    Zipfian,
}

/// Load generator for any DynamoDB endpoint (requests are SigV4-signed).
#[derive(Args, Debug)]
pub struct BenchOptions {
    #[command(flatten)]
    pub endpoint: crate::cli::EndpointOptions,

    #[arg(long, value_enum, default_value = "c")]
    pub workload: Workload,

    /// Concurrent requests (each on its own keep-alive connection).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// Seconds to run (ignored by `load`, which stops when every record is written).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,

    /// Number of records the workload addresses.
    #[arg(long, default_value_t = 10_000)]
    pub records: u64,

    /// Bytes of payload per item.
    #[arg(long, default_value_t = 1024)]
    pub item_size: usize,

    #[arg(long, value_enum, default_value = "uniform")]
    pub distribution: KeyDistribution,

    #[arg(long, default_value = "cirrus_bench")]
    pub table: String,

    /// The server's process id, to report its CPU time per operation (from /proc);
    /// repeat it for a cluster's nodes, whose CPU times add up.
    #[arg(long)]
    pub server_pid: Vec<u32>,

    /// Print the progress (operations and errors in each second) on a line of its own
    /// every second, for scripts that time an outage.
    #[arg(long)]
    pub timeline: bool,
}
