//! Frames on an established connection, laid out by hand so the hot path neither
//! serialises nor copies a payload:
//!
//! ```text
//! u32 length of what follows (big-endian), at most the frame limit
//! u8  type: 1 request, 2 response, 3 error
//! u64 request id, chosen by the caller, echoed by the answer
//! request:  u64 group, u8 kind, payload
//! response: payload
//! error:    u8 status (1 handler error, 2 busy), u8 error kind, u16 application code,
//!           UTF-8 message
//! ```
//!
//! Frames carry no node or cluster ids: the handshake bound the connection to both.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::{RemoteError, RemoteErrorKind};
use super::GroupId;

const TYPE_REQUEST: u8 = 1;
const TYPE_RESPONSE: u8 = 2;
const TYPE_ERROR: u8 = 3;

const STATUS_REMOTE: u8 = 1;
const STATUS_BUSY: u8 = 2;

const LEN_PREFIX: usize = 4;
/// Type and request id, common to every frame.
const COMMON: usize = 1 + 8;
/// Bytes a request adds to its payload on the wire (length prefix included).
pub(crate) const REQUEST_OVERHEAD: usize = LEN_PREFIX + COMMON + 8 + 1;
const RESPONSE_OVERHEAD: usize = LEN_PREFIX + COMMON;
const ERROR_OVERHEAD: usize = LEN_PREFIX + COMMON + 1 + 1 + 2;
const HEAD_MAX: usize = REQUEST_OVERHEAD;

/// Error messages are for logs; a longer one is cut (on a character boundary).
pub(crate) const MAX_ERROR_MESSAGE: usize = 1024;

/// Spare room kept in the read buffer so small frames arrive in few reads.
const READ_CHUNK: usize = 64 * 1024;
const MIN_SPARE: usize = 4 * 1024;

/// A frame ready to be written: its header inline, its payload shared, not copied.
#[derive(Debug, Clone)]
pub(crate) struct OutFrame {
    head: [u8; HEAD_MAX],
    head_len: u8,
    body: Bytes,
}

impl OutFrame {
    fn build(overhead: usize, body: Bytes, fill: impl FnOnce(&mut &mut [u8])) -> Self {
        let mut head = [0u8; HEAD_MAX];
        let len = overhead - LEN_PREFIX + body.len();
        {
            let mut cursor: &mut [u8] = &mut head[..overhead];
            // Callers check the frame limit, which is far below u32::MAX.
            cursor.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
            fill(&mut cursor);
        }
        Self {
            head,
            head_len: overhead as u8,
            body,
        }
    }

    pub fn request(id: u64, group: GroupId, kind: u8, payload: Bytes) -> Self {
        Self::build(REQUEST_OVERHEAD, payload, |c| {
            c.put_u8(TYPE_REQUEST);
            c.put_u64(id);
            c.put_u64(group);
            c.put_u8(kind);
        })
    }

    pub fn response(id: u64, payload: Bytes) -> Self {
        Self::build(RESPONSE_OVERHEAD, payload, |c| {
            c.put_u8(TYPE_RESPONSE);
            c.put_u64(id);
        })
    }

    pub fn remote_error(id: u64, error: &RemoteError) -> Self {
        let (tag, code) = kind_to_wire(error.kind);
        let message = truncate(&error.message, MAX_ERROR_MESSAGE);
        Self::build(
            ERROR_OVERHEAD,
            Bytes::copy_from_slice(message.as_bytes()),
            |c| {
                c.put_u8(TYPE_ERROR);
                c.put_u64(id);
                c.put_u8(STATUS_REMOTE);
                c.put_u8(tag);
                c.put_u16(code);
            },
        )
    }

    pub fn busy(id: u64) -> Self {
        Self::build(ERROR_OVERHEAD, Bytes::new(), |c| {
            c.put_u8(TYPE_ERROR);
            c.put_u64(id);
            c.put_u8(STATUS_BUSY);
            c.put_u8(0);
            c.put_u16(0);
        })
    }

    /// The frame's size on the wire, length prefix included.
    #[cfg(test)]
    pub fn wire_len(&self) -> usize {
        usize::from(self.head_len) + self.body.len()
    }

    pub async fn write_to<W: AsyncWrite + Unpin>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(&self.head[..usize::from(self.head_len)])
            .await?;
        if !self.body.is_empty() {
            w.write_all(&self.body).await?;
        }
        Ok(())
    }
}

/// The wire size of a response carrying `payload_len` bytes.
pub(crate) fn response_wire_len(payload_len: usize) -> usize {
    RESPONSE_OVERHEAD + payload_len
}

/// A frame as read, its payload a slice of the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Request {
        id: u64,
        group: GroupId,
        kind: u8,
        payload: Bytes,
    },
    Response {
        id: u64,
        payload: Bytes,
    },
    Error {
        id: u64,
        reply: ErrorReply,
    },
}

/// What an error frame says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorReply {
    Remote(RemoteError),
    Busy,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("peer announced a frame of {len} bytes, over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Decodes one frame body (what follows the length prefix). Never panics: every length
/// is checked before the bytes are taken.
pub(crate) fn decode(mut body: Bytes) -> Result<Frame, ReadError> {
    if body.len() < COMMON {
        return Err(ReadError::Malformed("frame shorter than its header"));
    }
    let ty = body.get_u8();
    let id = body.get_u64();
    match ty {
        TYPE_REQUEST => {
            if body.len() < 9 {
                return Err(ReadError::Malformed("request shorter than its header"));
            }
            let group = body.get_u64();
            let kind = body.get_u8();
            Ok(Frame::Request {
                id,
                group,
                kind,
                payload: body,
            })
        }
        TYPE_RESPONSE => Ok(Frame::Response { id, payload: body }),
        TYPE_ERROR => {
            if body.len() < 4 {
                return Err(ReadError::Malformed("error shorter than its header"));
            }
            let status = body.get_u8();
            let tag = body.get_u8();
            let code = body.get_u16();
            let reply = match status {
                STATUS_BUSY => ErrorReply::Busy,
                STATUS_REMOTE => {
                    let text = &body[..body.len().min(MAX_ERROR_MESSAGE)];
                    ErrorReply::Remote(RemoteError::new(
                        kind_from_wire(tag, code),
                        String::from_utf8_lossy(text).into_owned(),
                    ))
                }
                _ => return Err(ReadError::Malformed("unknown error status")),
            };
            Ok(Frame::Error { id, reply })
        }
        _ => Err(ReadError::Malformed("unknown frame type")),
    }
}

fn kind_to_wire(kind: RemoteErrorKind) -> (u8, u16) {
    match kind {
        RemoteErrorKind::UnknownGroup => (1, 0),
        RemoteErrorKind::Unavailable => (2, 0),
        RemoteErrorKind::Internal => (3, 0),
        RemoteErrorKind::Application(code) => (4, code),
    }
}

/// A kind from a newer peer reads as internal rather than failing the frame.
fn kind_from_wire(tag: u8, code: u16) -> RemoteErrorKind {
    match tag {
        1 => RemoteErrorKind::UnknownGroup,
        2 => RemoteErrorKind::Unavailable,
        4 => RemoteErrorKind::Application(code),
        _ => RemoteErrorKind::Internal,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reads length-prefixed frames. The announced length is checked against the limit
/// before any room is made for it, so a hostile length costs nothing. `read_frame` is
/// cancel-safe: all progress lives in the buffer.
pub(crate) struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    max_frame: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R, max_frame: usize) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            max_frame,
        }
    }

    /// The next frame's body, or `None` when the peer closed between frames.
    pub async fn read_frame(&mut self) -> Result<Option<Bytes>, ReadError> {
        loop {
            if self.buf.len() >= LEN_PREFIX {
                let mut prefix = [0u8; LEN_PREFIX];
                prefix.copy_from_slice(&self.buf[..LEN_PREFIX]);
                let len = u32::from_be_bytes(prefix) as usize;
                // The limit counts the whole frame, as the sender's check does.
                if len.saturating_add(LEN_PREFIX) > self.max_frame {
                    return Err(ReadError::TooLarge {
                        len,
                        max: self.max_frame,
                    });
                }
                let need = LEN_PREFIX + len;
                if self.buf.len() >= need {
                    self.buf.advance(LEN_PREFIX);
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
                self.buf.reserve(need - self.buf.len());
            }
            if self.buf.capacity() - self.buf.len() < MIN_SPARE {
                self.buf.reserve(READ_CHUNK);
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated)
                };
            }
        }
    }

    #[cfg(test)]
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    async fn roundtrip(frames: &[OutFrame], max: usize) -> Vec<Frame> {
        let (mut a, b) = tokio::io::duplex(7);
        let owned: Vec<OutFrame> = frames.to_vec();
        let writer = tokio::spawn(async move {
            for f in &owned {
                f.write_to(&mut a).await.expect("write");
            }
        });
        let mut reader = FrameReader::new(b, max);
        let mut out = Vec::new();
        while let Some(body) = reader.read_frame().await.expect("read") {
            out.push(decode(body).expect("decode"));
        }
        writer.await.expect("writer");
        out
    }

    #[tokio::test]
    async fn frames_roundtrip_through_partial_reads() {
        let frames = vec![
            OutFrame::request(7, 42, 3, Bytes::from_static(b"hello")),
            OutFrame::response(7, Bytes::from_static(b"world")),
            OutFrame::response(8, Bytes::new()),
            OutFrame::remote_error(9, &RemoteError::application(513, "nope")),
            OutFrame::remote_error(10, &RemoteError::unknown_group(5)),
            OutFrame::busy(11),
        ];
        let got = roundtrip(&frames, 1 << 20).await;
        assert_eq!(
            got,
            vec![
                Frame::Request {
                    id: 7,
                    group: 42,
                    kind: 3,
                    payload: Bytes::from_static(b"hello")
                },
                Frame::Response {
                    id: 7,
                    payload: Bytes::from_static(b"world")
                },
                Frame::Response {
                    id: 8,
                    payload: Bytes::new()
                },
                Frame::Error {
                    id: 9,
                    reply: ErrorReply::Remote(RemoteError::application(513, "nope"))
                },
                Frame::Error {
                    id: 10,
                    reply: ErrorReply::Remote(RemoteError::unknown_group(5))
                },
                Frame::Error {
                    id: 11,
                    reply: ErrorReply::Busy
                },
            ]
        );
        assert_eq!(frames[0].wire_len(), REQUEST_OVERHEAD + 5);
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_allocating() {
        let (mut a, b) = tokio::io::duplex(64);
        // A 4 GiB announcement followed by a little data: the reader must refuse on the
        // prefix alone, holding no more than its ordinary read buffer.
        a.write_all(&u32::MAX.to_be_bytes()).await.expect("write");
        a.write_all(&[0u8; 16]).await.expect("write");
        let mut reader = FrameReader::new(b, 64 * 1024 * 1024);
        match reader.read_frame().await {
            Err(ReadError::TooLarge { len, .. }) => assert_eq!(len, u32::MAX as usize),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(reader.buffer_capacity() <= 2 * READ_CHUNK);
    }

    #[tokio::test]
    async fn the_limit_counts_the_whole_frame() {
        let frame = OutFrame::response(1, Bytes::from(vec![0u8; 100]));
        let limit = frame.wire_len();
        assert_eq!(
            roundtrip(std::slice::from_ref(&frame), limit).await.len(),
            1
        );
        let (mut a, b) = tokio::io::duplex(1024);
        frame.write_to(&mut a).await.expect("write");
        let mut reader = FrameReader::new(b, limit - 1);
        assert!(matches!(
            reader.read_frame().await,
            Err(ReadError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn eof_inside_a_frame_is_truncation() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(&[0, 0, 0, 20, 1, 2]).await.expect("write");
        drop(a);
        let mut reader = FrameReader::new(b, 1024);
        assert!(matches!(
            reader.read_frame().await,
            Err(ReadError::Truncated)
        ));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let message = "é".repeat(MAX_ERROR_MESSAGE);
        let frame = OutFrame::remote_error(1, &RemoteError::internal(message));
        assert!(frame.body.len() <= MAX_ERROR_MESSAGE);
        assert!(std::str::from_utf8(&frame.body).is_ok());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(Bytes::from(bytes));
        }
    }
}
