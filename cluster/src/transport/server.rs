//! The listening side: accepts connections, authenticates them, and runs each request
//! in its own task, so answers leave in whatever order handlers finish.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::task::JoinSet;

use super::codec::{decode, response_wire_len, Frame, FrameReader, OutFrame};
use super::connection::write_loop;
use super::error::RemoteError;
use super::handler::ErasedHandler;
use super::handshake::{self, Accepted};
use super::lifecycle::shut_down;
use super::{GroupId, Inner, NodeId};

/// Pause after a failed accept (out of descriptors, say) instead of spinning.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

pub(crate) async fn listen(inner: &Arc<Inner>, addr: SocketAddr) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(node = inner.identity.node_id, addr = %local, "transport listening");
    inner
        .lifecycle
        .spawn(accept_loop(Arc::clone(inner), listener));
    Ok(local)
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let mut shutdown = inner.lifecycle.watcher();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shut_down(&mut shutdown) => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                let Ok(permit) = Arc::clone(&inner.incoming).try_acquire_owned() else {
                    tracing::warn!(%remote, "too many incoming connections; dropping one");
                    continue;
                };
                inner
                    .lifecycle
                    .spawn(serve(Arc::clone(&inner), stream, remote, permit));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_PAUSE) => {}
                    _ = shut_down(&mut shutdown) => return,
                }
            }
        }
    }
}

async fn serve(
    inner: Arc<Inner>,
    mut stream: TcpStream,
    remote: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let mut shutdown = inner.lifecycle.watcher();
    let handshake = tokio::time::timeout(
        inner.config.handshake_timeout,
        handshake::respond(&mut stream, &inner.identity),
    );
    let outcome = tokio::select! {
        r = handshake => r,
        _ = shut_down(&mut shutdown) => return,
    };
    // Nothing is read past the handshake until it succeeded, so no frame of a refused
    // connection ever reaches the handler.
    let Accepted { peer, lane } = match outcome {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(error)) => {
            tracing::warn!(%remote, %error, "refused an incoming connection");
            return;
        }
        Err(_) => {
            tracing::warn!(%remote, "incoming handshake timed out");
            return;
        }
    };
    tracing::debug!(peer, %lane, %remote, "accepted a connection");

    let (rd, wr) = stream.into_split();
    let (tx, queue) = mpsc::channel(inner.config.queue_for(lane));
    let dispatch = Dispatch {
        handler: Arc::clone(&inner.handler),
        me: inner.identity.node_id,
        peer,
        tx,
        inner: Arc::clone(&inner),
    };
    let reader = FrameReader::new(rd, inner.config.max_frame);
    let reason = tokio::select! {
        r = dispatch.read_requests(reader) => r,
        r = write_loop(wr, queue) => r,
        _ = shut_down(&mut shutdown) => "transport shut down".to_owned(),
    };
    tracing::info!(peer, %lane, %remote, %reason, "incoming connection closed");
}

struct Dispatch {
    handler: Arc<dyn ErasedHandler>,
    me: NodeId,
    peer: NodeId,
    tx: mpsc::Sender<OutFrame>,
    inner: Arc<Inner>,
}

impl Dispatch {
    /// Reads requests and starts a task for each; returns why the connection ended.
    /// The handler tasks live in a `JoinSet` owned by this future, so they end with the
    /// connection.
    async fn read_requests(&self, mut reader: FrameReader<OwnedReadHalf>) -> String {
        let mut handlers = JoinSet::new();
        let mut running: HashMap<tokio::task::Id, u64> = HashMap::new();
        let limit = self.inner.config.max_handlers_per_connection.max(1);
        loop {
            tokio::select! {
                frame = reader.read_frame() => {
                    let body = match frame {
                        Ok(Some(body)) => body,
                        Ok(None) => return "peer closed the connection".to_owned(),
                        Err(e) => return e.to_string(),
                    };
                    match decode(body) {
                        Ok(Frame::Request { id, group, kind, payload }) => {
                            if handlers.len() >= limit {
                                // Never block the reader on a full queue: the caller
                                // times out if even "busy" cannot be sent.
                                let _ = self.tx.try_send(OutFrame::busy(id));
                                continue;
                            }
                            let task = handlers.spawn(self.handle(id, group, kind, payload));
                            running.insert(task.id(), id);
                        }
                        Ok(_) => return "peer sent an answer on an incoming connection".to_owned(),
                        Err(e) => return e.to_string(),
                    }
                }
                Some(done) = handlers.join_next_with_id(), if !handlers.is_empty() => {
                    match done {
                        Ok((task, ())) => {
                            running.remove(&task);
                        }
                        Err(e) => {
                            if let Some(id) = running.remove(&e.id()) {
                                if e.is_panic() {
                                    tracing::error!(peer = self.peer, "request handler panicked");
                                    let error = RemoteError::internal("the handler panicked");
                                    let _ = self.tx.try_send(OutFrame::remote_error(id, &error));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn handle(
        &self,
        id: u64,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let handler = Arc::clone(&self.handler);
        let tx = self.tx.clone();
        let inner = Arc::clone(&self.inner);
        let (me, peer) = (self.me, self.peer);
        async move {
            let answer = handler.call(peer, group, kind, payload).await;
            let max = inner.config.max_frame;
            let frame = match answer {
                Ok(payload) if response_wire_len(payload.len()) <= max => {
                    OutFrame::response(id, payload)
                }
                Ok(payload) => OutFrame::remote_error(
                    id,
                    &RemoteError::internal(format!(
                        "answer of {} bytes exceeds the frame limit of {max}",
                        payload.len()
                    )),
                ),
                Err(error) => OutFrame::remote_error(id, &error),
            };
            let verdict = inner.config.faults.decide(me, peer);
            if verdict.drop {
                return;
            }
            if let Some(delay) = verdict.delay {
                tokio::time::sleep(delay).await;
            }
            for _ in 0..verdict.copies {
                // Waits for room: answers are bounded by the handler limit, and a
                // closed connection makes this fail at once.
                if tx.send(frame.clone()).await.is_err() {
                    return;
                }
            }
        }
    }
}
