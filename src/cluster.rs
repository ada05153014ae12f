//! `cirrus serve` as a cluster member: the peer transport, its Raft service, and the
//! membership the node opens its groups with.

use std::collections::BTreeMap;
use std::sync::Arc;

use cirrus_cluster::raft::{RaftService, TransportLink};
use cirrus_cluster::{ClusterSecret, Transport, TransportConfig};
use cirrus_partition::ClusterMembership;

use crate::cli::ServeOptions;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("--node-id {0} is not among the --member nodes")]
    NotAMember(u64),
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
    if !members.contains_key(&node_id) {
        return Err(ClusterError::NotAMember(node_id));
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
    tracing::info!(node_id, %listen, members = members.len(), "cluster member");
    let link = TransportLink::new(transport.clone(), service);
    let membership = ClusterMembership {
        cluster_id: options.cluster_id,
        link,
        members,
        api_address: options.listen,
    };
    Ok((membership, transport))
}
