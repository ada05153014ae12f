//! `cirrus serve`: open the node, serve the API, shut down cleanly on SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use cirrus_api::{Region, ServerState, TransactionTokens};
use cirrus_cluster::{Node, NodeConfig};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::ServeOptions;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot open the data directory: {0}")]
    Open(#[from] cirrus_partition::PartitionError),
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("server failed: {0}")]
    Server(std::io::Error),
    #[error("--region {0:?} is not a region name (1-63 letters, digits and dashes)")]
    Region(String),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
}

fn default_partitions() -> u16 {
    std::thread::available_parallelism()
        .map(|n| n.get().clamp(1, 64) as u16)
        .unwrap_or(2)
}

pub fn run(options: ServeOptions) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(cirrus_storage::expression::EXPRESSION_STACK_BYTES)
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(serve(options))
}

async fn shutdown_signal() {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let default_region =
        Region::new(&options.region).ok_or_else(|| ServeError::Region(options.region.clone()))?;
    let (cluster, transport) = match options.node_id {
        Some(node_id) => {
            let (membership, transport) = crate::cluster::join(&options, node_id).await?;
            (Some(membership), Some(transport))
        }
        None => (None, None),
    };
    let node = Node::open(NodeConfig {
        data_dir: options.data_dir.clone(),
        partitions_per_table: options
            .partitions_per_table
            .unwrap_or_else(default_partitions),
        item_collection_limit: options.item_collection_limit_bytes,
        enforce_capacity: !options.no_throttle,
        default_region: options.region,
        cluster,
    })
    .await?;
    cirrus_streams::retention::spawn(node.clone(), Duration::from_secs(options.stream_retention));
    cirrus_cluster::spawn_remembering(node.clone(), Duration::from_secs(1));
    cirrus_ttl::spawn(
        node.clone(),
        Duration::from_secs(options.ttl_sweep_interval.max(1)),
    );
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| ServeError::Listen(options.listen, e))?;
    let state = Arc::new(ServerState {
        node: node.clone(),
        default_region,
        account_id: options.account_id,
        endpoint_address: options.listen.to_string(),
        expressions: Default::default(),
        transaction_tokens: TransactionTokens::load(&node)?,
        stream_retention: Duration::from_secs(options.stream_retention),
    });
    tracing::info!(
        "cirrus listening on http://{} with data in {}",
        options.listen,
        options.data_dir.display()
    );
    cirrus_api::serve(
        listener,
        state,
        options.request_bytes_in_flight,
        shutdown_signal(),
    )
    .await
    .map_err(ServeError::Server)?;
    node.shutdown().await?;
    if let Some(transport) = transport {
        transport.shutdown().await;
    }
    tracing::info!(
        writes = node.proposals(),
        wal_fsyncs = node.wal_fsyncs(),
        "stopped cleanly"
    );
    Ok(())
}
