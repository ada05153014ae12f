//! What a node does with the requests its peers send: the [`Handler`] trait, and its
//! type-erased form so [`Transport`](super::Transport) needs no type parameter.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use super::error::RemoteError;
use super::{GroupId, NodeId};

/// Serves incoming requests. Each request runs in its own task, so a slow answer for
/// one group never holds up another. Implementations may write `async fn handle`.
///
/// An unknown group is the handler's to answer (with [`RemoteError::unknown_group`]);
/// the transport knows nothing of groups. A handler may be cancelled mid-way when the
/// connection its request came on closes, as no answer could be delivered anyway.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        from: NodeId,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    ) -> impl Future<Output = Result<Bytes, RemoteError>> + Send;
}

pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<Bytes, RemoteError>> + Send>>;

/// Object-safe form of [`Handler`]; one box per request is small beside its task.
pub(crate) trait ErasedHandler: Send + Sync + 'static {
    fn call(
        self: Arc<Self>,
        from: NodeId,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    ) -> HandlerFuture;
}

impl<H: Handler> ErasedHandler for H {
    fn call(
        self: Arc<Self>,
        from: NodeId,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    ) -> HandlerFuture {
        Box::pin(async move { self.handle(from, group, kind, payload).await })
    }
}
