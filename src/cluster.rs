//! `cirrus serve` as a cluster member: the peer transport, its Raft service, and the
//! membership the node opens its groups with.

use std::collections::BTreeMap;
use std::sync::Arc;

use cirrus_cluster::raft::{RaftService, TransportLink};
use cirrus_cluster::ClusterMembership;
use cirrus_cluster::{ClusterSecret, Transport, TransportConfig};

use crate::cli::ServeOptions;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("--node-id {0} is not among the --member nodes (a node that joins a running cluster is started with --join)")]
    NotAMember(u64),
    #[error("--node-id {0} is among the --member nodes, which founded the cluster; a joining node has a new id")]
    JoinsAsFounder(u64),
    #[error("--replication-factor must be 1 to 7")]
    ReplicationFactor,
    #[error("a cluster member needs --peer-listen")]
    NoPeerListen,
    #[error("cannot read the cluster secret {0}: {1}")]
    Secret(std::path::PathBuf, std::io::Error),
    #[error("the cluster secret: {0}")]
    WeakSecret(cirrus_cluster::ConfigError),
    #[error("cannot listen for peers on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
}

/// Starts the peer transport of node `node_id` and returns the membership to open the
/// node with (and the transport, which must live as long as the node).
pub async fn join(
    options: &ServeOptions,
    node_id: u64,
) -> Result<(ClusterMembership, Arc<Transport>), ClusterError> {
    let members: BTreeMap<u64, std::net::SocketAddr> = options.member.iter().copied().collect();
    match (options.join, members.contains_key(&node_id)) {
        (false, false) => return Err(ClusterError::NotAMember(node_id)),
        (true, true) => return Err(ClusterError::JoinsAsFounder(node_id)),
        _ => {}
    }
    if !(1..=7).contains(&options.replication_factor) {
        return Err(ClusterError::ReplicationFactor);
    }
    let listen = options.peer_listen.ok_or(ClusterError::NoPeerListen)?;
    let secret_file = options.cluster_secret_file.clone().unwrap_or_default();
    let secret = std::fs::read(&secret_file).map_err(|e| ClusterError::Secret(secret_file, e))?;
    let secret = ClusterSecret::new(secret.trim_ascii()).map_err(ClusterError::WeakSecret)?;
    let service = Arc::new(RaftService::default());
    let transport = Arc::new(Transport::new(
        TransportConfig::new(options.cluster_id, node_id, secret),
        service.clone(),
    ));
    transport
        .listen(listen)
        .await
        .map_err(|e| ClusterError::Listen(listen, e))?;
    for (id, addr) in &members {
        if *id != node_id {
            transport.set_peer(*id, *addr);
        }
    }
    tracing::info!(node_id, %listen, founders = members.len(), joining = options.join, "cluster member");
    if options.join {
        tracing::info!(
            "node {node_id} waits to be added: cirrus cluster add-node {node_id} --peer-address ADDRESS"
        );
    }
    let link = TransportLink::new(transport.clone(), service);
    let membership = ClusterMembership {
        cluster_id: options.cluster_id,
        link,
        founders: members,
        joining: options.join,
        replication_factor: options.replication_factor,
        api_address: options.listen,
    };
    Ok((membership, transport))
}
