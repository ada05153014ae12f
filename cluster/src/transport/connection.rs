//! One established outgoing connection: callers register a request id, queue their
//! frame and wait; the connection task writes queued frames and hands each answer to
//! whoever registered its id, in whatever order answers come.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::codec::{decode, ErrorReply, Frame, FrameReader, OutFrame};
use super::config::Lane;
use super::error::TransportError;
use super::faults::Verdict;
use super::lifecycle::shut_down;
use super::{GroupId, NodeId};

const WRITE_BUFFER: usize = 64 * 1024;
/// Frames written between flushes when the queue is busy, so a steady stream still
/// reaches the socket promptly.
const MAX_BATCH: usize = 64;

type Reply = Result<Bytes, ErrorReply>;
type Pending = HashMap<u64, oneshot::Sender<Reply>>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these maps half-updated in a way that matters more
    // than refusing all further calls would.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct Conn {
    peer: NodeId,
    lane: Lane,
    tx: mpsc::Sender<OutFrame>,
    /// `None` once the connection is closed, so no call can register after the last
    /// waiters were failed.
    pending: Mutex<Option<Pending>>,
    next_id: AtomicU64,
    max_in_flight: usize,
    close: Notify,
    closed: AtomicBool,
}

/// A registered call; dropping it (answer, timeout, cancellation) forgets its id.
struct PendingCall<'a> {
    conn: &'a Conn,
    id: u64,
    rx: oneshot::Receiver<Reply>,
}

impl Drop for PendingCall<'_> {
    fn drop(&mut self) {
        if let Some(pending) = lock(&self.conn.pending).as_mut() {
            pending.remove(&self.id);
        }
    }
}

impl Conn {
    pub fn new(
        peer: NodeId,
        lane: Lane,
        queue: usize,
        max_in_flight: usize,
    ) -> (Arc<Self>, mpsc::Receiver<OutFrame>) {
        let (tx, rx) = mpsc::channel(queue);
        let conn = Arc::new(Self {
            peer,
            lane,
            tx,
            pending: Mutex::new(Some(HashMap::new())),
            next_id: AtomicU64::new(1),
            max_in_flight: max_in_flight.max(1),
            close: Notify::new(),
            closed: AtomicBool::new(false),
        });
        (conn, rx)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Asks the connection task to close; waiting calls then fail as unreachable.
    pub fn close(&self) {
        self.close.notify_one();
    }

    fn closed_error(&self) -> TransportError {
        TransportError::unreachable(self.peer, format!("{} connection closed", self.lane))
    }

    fn register(&self) -> Result<PendingCall<'_>, TransportError> {
        let mut guard = lock(&self.pending);
        let pending = guard.as_mut().ok_or_else(|| self.closed_error())?;
        if pending.len() >= self.max_in_flight {
            return Err(TransportError::QueueFull { peer: self.peer });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        pending.insert(id, tx);
        Ok(PendingCall { conn: self, id, rx })
    }

    /// Sends one request and waits for its answer (the caller bounds the wait).
    pub async fn call(
        &self,
        group: GroupId,
        kind: u8,
        payload: Bytes,
        verdict: Verdict,
    ) -> Result<Bytes, TransportError> {
        let mut call = self.register()?;
        if !verdict.drop {
            let frame = OutFrame::request(call.id, group, kind, payload);
            let duplicate = (verdict.copies > 1).then(|| frame.clone());
            match self.tx.try_send(frame) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    return Err(TransportError::QueueFull { peer: self.peer })
                }
                Err(TrySendError::Closed(_)) => return Err(self.closed_error()),
            }
            if let Some(copy) = duplicate {
                // A duplicate that does not fit is simply not sent.
                let _ = self.tx.try_send(copy);
            }
        }
        match (&mut call.rx).await {
            Ok(Ok(payload)) => Ok(payload),
            Ok(Err(ErrorReply::Remote(error))) => Err(TransportError::Remote {
                peer: self.peer,
                error,
            }),
            Ok(Err(ErrorReply::Busy)) => Err(TransportError::QueueFull { peer: self.peer }),
            Err(_) => Err(self.closed_error()),
        }
    }

    /// Hands an answer to its caller; answers nobody waits for (timed out, duplicated)
    /// are dropped.
    fn complete(&self, id: u64, reply: Reply) {
        let waiter = lock(&self.pending).as_mut().and_then(|p| p.remove(&id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(reply);
        }
    }

    fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
        // Dropping the senders fails every waiting call at once.
        let pending = lock(&self.pending).take();
        drop(pending);
    }

    /// Runs the connection until it breaks, is closed or the transport shuts down;
    /// returns why it ended.
    pub async fn run(
        &self,
        stream: TcpStream,
        queue: mpsc::Receiver<OutFrame>,
        max_frame: usize,
        mut shutdown: watch::Receiver<bool>,
    ) -> String {
        let (rd, wr) = stream.into_split();
        let mut reader = FrameReader::new(rd, max_frame);
        let reason = tokio::select! {
            r = self.read_answers(&mut reader) => r,
            r = write_loop(wr, queue) => r,
            _ = self.close.notified() => "closed locally".to_owned(),
            _ = shut_down(&mut shutdown) => "transport shut down".to_owned(),
        };
        self.mark_closed();
        reason
    }

    async fn read_answers(&self, reader: &mut FrameReader<OwnedReadHalf>) -> String {
        loop {
            let body = match reader.read_frame().await {
                Ok(Some(body)) => body,
                Ok(None) => return "peer closed the connection".to_owned(),
                Err(e) => return e.to_string(),
            };
            match decode(body) {
                Ok(Frame::Response { id, payload }) => self.complete(id, Ok(payload)),
                Ok(Frame::Error { id, reply }) => self.complete(id, Err(reply)),
                Ok(Frame::Request { .. }) => {
                    return "peer sent a request on an outgoing connection".to_owned()
                }
                Err(e) => return e.to_string(),
            }
        }
    }
}

/// Writes queued frames, flushing once the queue is drained (or every `MAX_BATCH`
/// frames), so bursts of small frames share system calls. Ends on a write error.
pub(crate) async fn write_loop(wr: OwnedWriteHalf, mut queue: mpsc::Receiver<OutFrame>) -> String {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, wr);
    while let Some(frame) = queue.recv().await {
        if let Err(e) = frame.write_to(&mut w).await {
            return format!("write failed: {e}");
        }
        for _ in 1..MAX_BATCH {
            let Ok(frame) = queue.try_recv() else { break };
            if let Err(e) = frame.write_to(&mut w).await {
                return format!("write failed: {e}");
            }
        }
        if let Err(e) = w.flush().await {
            return format!("write failed: {e}");
        }
    }
    "send queue closed".to_owned()
}
