//! openraft over the transport: [`TransportLink`] is the `PeerLink` through which every
//! partition's Raft group reaches its peers (and forwards proposals to its leader), and
//! [`RaftService`] delivers peers' calls to this node's replicas. One transport carries
//! every group; each frame names its group.

mod link;
mod service;

pub use link::TransportLink;
pub use service::RaftService;
