//! openraft over the transport: each partition's Raft group reaches its peers through
//! [`GroupNetworkFactory`], and [`RaftService`] delivers their RPCs to this node's
//! replicas. One transport carries every group; each frame names its group.

mod network;
mod service;

pub use network::GroupNetworkFactory;
pub use service::RaftService;

/// What a frame asks of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum RaftRpc {
    AppendEntries = 1,
    Vote = 2,
    InstallSnapshot = 3,
}

impl RaftRpc {
    fn of(kind: u8) -> Option<RaftRpc> {
        match kind {
            1 => Some(RaftRpc::AppendEntries),
            2 => Some(RaftRpc::Vote),
            3 => Some(RaftRpc::InstallSnapshot),
            _ => None,
        }
    }
}
