//! The handshake that opens every connection. Both sides prove they know the cluster
//! secret without sending it: each contributes a fresh random nonce, and each answers
//! with an HMAC-SHA256, keyed by the secret, over everything said so far (protocol
//! version, lane, cluster id, both node ids, both nonces) and its own role. A recorded
//! handshake is useless later (the other side's nonce will differ) and one side's proof
//! cannot be reflected back as the other's (the role is in the MAC).
//!
//! ```text
//! client → server  hello:   magic, version, lane, cluster id, client id, server id, client nonce
//! server → client  hello:   magic, version, status, cluster id, server id, server nonce, server MAC
//! client → server  proof:   client MAC
//! server → client  verdict: status
//! ```
//!
//! The server checks the cluster and its own id before it proves anything, and says why
//! it refuses (status ≠ 0) so a misconfigured node learns what is wrong. Every message
//! has a fixed size, read exactly, so nothing past the handshake is consumed here.
//! After it, frames are not authenticated one by one: the secret keeps strangers out,
//! not an attacker on the path (that would need TLS).

use std::io;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::config::{ClusterSecret, Lane};
use super::error::Refusal;
use super::NodeId;

type HmacSha256 = Hmac<Sha256>;

const MAGIC: [u8; 4] = *b"CRTX";
pub(crate) const VERSION: u16 = 1;
const NONCE_LEN: usize = 32;
const MAC_LEN: usize = 32;
const CLIENT_HELLO_LEN: usize = 4 + 2 + 1 + 8 + 8 + 8 + NONCE_LEN;
const SERVER_HELLO_LEN: usize = 4 + 2 + 1 + 8 + 8 + NONCE_LEN + MAC_LEN;
const STATUS_OK: u8 = 0;
const DOMAIN: &[u8] = b"cirrus-transport-handshake-v1";
const ROLE_SERVER: u8 = b'S';
const ROLE_CLIENT: u8 = b'C';

/// What a node proves about itself.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub cluster_id: u64,
    pub node_id: NodeId,
    pub secret: ClusterSecret,
}

/// A connection the listening side accepted: who connected, for which lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub peer: NodeId,
    pub lane: Lane,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    /// One side refused the other; the refusing side may be either.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The other side does not speak this protocol at all.
    #[error("not a Cirrus transport peer")]
    NotCirrus,
    #[error("malformed handshake: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Everything both MACs cover.
struct Transcript {
    lane: Lane,
    cluster_id: u64,
    client: NodeId,
    server: NodeId,
    client_nonce: [u8; NONCE_LEN],
    server_nonce: [u8; NONCE_LEN],
}

impl Transcript {
    fn mac(&self, secret: &ClusterSecret, role: u8) -> Option<HmacSha256> {
        // HMAC takes keys of any length; the error case is unreachable but typed.
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
        mac.update(DOMAIN);
        mac.update(&[role, self.lane.code()]);
        mac.update(&VERSION.to_be_bytes());
        mac.update(&self.cluster_id.to_be_bytes());
        mac.update(&self.client.to_be_bytes());
        mac.update(&self.server.to_be_bytes());
        mac.update(&self.client_nonce);
        mac.update(&self.server_nonce);
        Some(mac)
    }

    fn tag(&self, secret: &ClusterSecret, role: u8) -> Result<[u8; MAC_LEN], HandshakeError> {
        let mac = self
            .mac(secret, role)
            .ok_or(HandshakeError::Refused(Refusal::AuthenticationFailed))?;
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&mac.finalize().into_bytes());
        Ok(out)
    }

    /// Constant-time comparison, courtesy of the `hmac` crate.
    fn verify(&self, secret: &ClusterSecret, role: u8, tag: &[u8]) -> bool {
        self.mac(secret, role)
            .is_some_and(|mac| mac.verify_slice(tag).is_ok())
    }
}

fn fresh_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    // ThreadRng is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

/// A little cursor over a fixed-size message; lengths are constants, so no reads fail.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
}

/// The connecting side's first message: who it is, whom it wants, on which lane, and
/// its nonce.
fn client_hello(
    cluster_id: u64,
    client: NodeId,
    server: NodeId,
    lane: Lane,
    nonce: &[u8; NONCE_LEN],
) -> Vec<u8> {
    let mut hello = Vec::with_capacity(CLIENT_HELLO_LEN);
    hello.extend_from_slice(&MAGIC);
    hello.extend_from_slice(&VERSION.to_be_bytes());
    hello.push(lane.code());
    hello.extend_from_slice(&cluster_id.to_be_bytes());
    hello.extend_from_slice(&client.to_be_bytes());
    hello.extend_from_slice(&server.to_be_bytes());
    hello.extend_from_slice(nonce);
    hello
}

/// The connecting side: proves itself to node `server` for `lane`.
pub(crate) async fn initiate<S>(
    io: &mut S,
    me: &Identity,
    server: NodeId,
    lane: Lane,
) -> Result<(), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let client_nonce = fresh_nonce();
    let hello = client_hello(me.cluster_id, me.node_id, server, lane, &client_nonce);
    io.write_all(&hello).await?;

    let mut reply = [0u8; SERVER_HELLO_LEN];
    io.read_exact(&mut reply).await?;
    let mut f = Fields(&reply);
    if f.take::<4>() != MAGIC {
        return Err(HandshakeError::NotCirrus);
    }
    let version = f.u16();
    let status = f.u8();
    if status != STATUS_OK {
        return Err(HandshakeError::Refused(Refusal::from_code(status)));
    }
    if version != VERSION {
        return Err(HandshakeError::Refused(Refusal::BadVersion));
    }
    if f.u64() != me.cluster_id {
        return Err(HandshakeError::Refused(Refusal::WrongCluster));
    }
    if f.u64() != server {
        return Err(HandshakeError::Refused(Refusal::WrongNode));
    }
    let transcript = Transcript {
        lane,
        cluster_id: me.cluster_id,
        client: me.node_id,
        server,
        client_nonce,
        server_nonce: f.take(),
    };
    let server_mac: [u8; MAC_LEN] = f.take();
    if !transcript.verify(&me.secret, ROLE_SERVER, &server_mac) {
        return Err(HandshakeError::Refused(Refusal::AuthenticationFailed));
    }
    io.write_all(&transcript.tag(&me.secret, ROLE_CLIENT)?)
        .await?;

    let mut verdict = [0u8; 1];
    io.read_exact(&mut verdict).await?;
    match verdict[0] {
        STATUS_OK => Ok(()),
        code => Err(HandshakeError::Refused(Refusal::from_code(code))),
    }
}

/// The listening side: checks the hello, proves itself, checks the client's proof.
pub(crate) async fn respond<S>(io: &mut S, me: &Identity) -> Result<Accepted, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hello = [0u8; CLIENT_HELLO_LEN];
    io.read_exact(&mut hello).await?;
    let mut f = Fields(&hello);
    if f.take::<4>() != MAGIC {
        return Err(HandshakeError::NotCirrus);
    }
    let version = f.u16();
    let lane_code = f.u8();
    let cluster_id = f.u64();
    let client = f.u64();
    let target = f.u64();
    let client_nonce: [u8; NONCE_LEN] = f.take();

    let refusal = if version != VERSION {
        Some(Refusal::BadVersion)
    } else if cluster_id != me.cluster_id {
        Some(Refusal::WrongCluster)
    } else if target != me.node_id {
        Some(Refusal::WrongNode)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        let mut reply = [0u8; SERVER_HELLO_LEN];
        reply[..4].copy_from_slice(&MAGIC);
        reply[4..6].copy_from_slice(&VERSION.to_be_bytes());
        reply[6] = refusal.code();
        io.write_all(&reply).await?;
        return Err(HandshakeError::Refused(refusal));
    }
    let lane = Lane::from_code(lane_code).ok_or(HandshakeError::Malformed("unknown lane"))?;

    let transcript = Transcript {
        lane,
        cluster_id,
        client,
        server: me.node_id,
        client_nonce,
        server_nonce: fresh_nonce(),
    };
    let mut reply = Vec::with_capacity(SERVER_HELLO_LEN);
    reply.extend_from_slice(&MAGIC);
    reply.extend_from_slice(&VERSION.to_be_bytes());
    reply.push(STATUS_OK);
    reply.extend_from_slice(&me.cluster_id.to_be_bytes());
    reply.extend_from_slice(&me.node_id.to_be_bytes());
    reply.extend_from_slice(&transcript.server_nonce);
    reply.extend_from_slice(&transcript.tag(&me.secret, ROLE_SERVER)?);
    io.write_all(&reply).await?;

    let mut proof = [0u8; MAC_LEN];
    io.read_exact(&mut proof).await?;
    if !transcript.verify(&me.secret, ROLE_CLIENT, &proof) {
        io.write_all(&[Refusal::AuthenticationFailed.code()])
            .await?;
        return Err(HandshakeError::Refused(Refusal::AuthenticationFailed));
    }
    io.write_all(&[STATUS_OK]).await?;
    Ok(Accepted { peer: client, lane })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(cluster_id: u64, node_id: NodeId, secret: &str) -> Identity {
        Identity {
            cluster_id,
            node_id,
            secret: ClusterSecret::new(secret).expect("secret"),
        }
    }

    const SECRET: &str = "0123456789abcdef-secret";

    async fn run(
        client: Identity,
        server: Identity,
        target: NodeId,
    ) -> (Result<(), HandshakeError>, Result<Accepted, HandshakeError>) {
        let (mut a, mut b) = tokio::io::duplex(256);
        let server_side = tokio::spawn(async move { respond(&mut b, &server).await });
        let client_side = initiate(&mut a, &client, target, Lane::Bulk).await;
        drop(a);
        (client_side, server_side.await.expect("join"))
    }

    #[tokio::test]
    async fn matching_nodes_agree() {
        let (c, s) = run(identity(9, 1, SECRET), identity(9, 2, SECRET), 2).await;
        assert!(c.is_ok(), "{c:?}");
        assert_eq!(
            s.expect("accepted"),
            Accepted {
                peer: 1,
                lane: Lane::Bulk
            }
        );
    }

    #[tokio::test]
    async fn each_mismatch_is_refused_on_both_sides() {
        let cases = [
            (
                identity(9, 1, SECRET),
                identity(8, 2, SECRET),
                2,
                Refusal::WrongCluster,
            ),
            (
                identity(9, 1, SECRET),
                identity(9, 3, SECRET),
                2,
                Refusal::WrongNode,
            ),
            (
                identity(9, 1, SECRET),
                identity(9, 2, "another-secret-entirely"),
                2,
                Refusal::AuthenticationFailed,
            ),
        ];
        for (client, server, target, want) in cases {
            let (c, s) = run(client, server, target).await;
            assert!(
                matches!(c, Err(HandshakeError::Refused(r)) if r == want),
                "client: {c:?}, wanted {want:?}"
            );
            // With a wrong secret the client spots the server's bad MAC first and hangs
            // up; the server sees the connection end instead of a proof.
            assert!(s.is_err(), "server accepted: {s:?}");
        }
    }

    #[tokio::test]
    async fn a_replayed_proof_is_refused() {
        let client = identity(9, 1, SECRET);
        let server = identity(9, 2, SECRET);
        let client_nonce = [7u8; NONCE_LEN];
        let hello = client_hello(9, 1, 2, Lane::Control, &client_nonce);

        // First session: an honest client proof for the server's first nonce.
        let mut recorded = None;
        for attempt in 0..2 {
            let (mut a, mut b) = tokio::io::duplex(256);
            let srv = server.clone();
            let server_side = tokio::spawn(async move { respond(&mut b, &srv).await });
            a.write_all(&hello).await.expect("hello");
            let mut reply = [0u8; SERVER_HELLO_LEN];
            a.read_exact(&mut reply).await.expect("server hello");
            let server_nonce: [u8; NONCE_LEN] =
                reply[23..23 + NONCE_LEN].try_into().expect("nonce");
            let proof = match (attempt, recorded) {
                (0, _) => {
                    let transcript = Transcript {
                        lane: Lane::Control,
                        cluster_id: 9,
                        client: client.node_id,
                        server: 2,
                        client_nonce,
                        server_nonce,
                    };
                    let tag = transcript.tag(&client.secret, ROLE_CLIENT).expect("tag");
                    recorded = Some(tag);
                    tag
                }
                (_, Some(tag)) => tag,
                _ => unreachable!(),
            };
            a.write_all(&proof).await.expect("proof");
            let mut verdict = [0u8; 1];
            a.read_exact(&mut verdict).await.expect("verdict");
            let outcome = server_side.await.expect("join");
            if attempt == 0 {
                assert_eq!(verdict[0], STATUS_OK);
                assert!(outcome.is_ok());
            } else {
                assert_eq!(verdict[0], Refusal::AuthenticationFailed.code());
                assert!(matches!(
                    outcome,
                    Err(HandshakeError::Refused(Refusal::AuthenticationFailed))
                ));
            }
        }
    }

    #[tokio::test]
    async fn a_server_mac_cannot_be_reflected_as_a_client_proof() {
        let server = identity(9, 2, SECRET);
        let (mut a, mut b) = tokio::io::duplex(256);
        let server_side = tokio::spawn(async move { respond(&mut b, &server).await });
        let hello = client_hello(9, 1, 2, Lane::Control, &[1u8; NONCE_LEN]);
        a.write_all(&hello).await.expect("hello");
        let mut reply = [0u8; SERVER_HELLO_LEN];
        a.read_exact(&mut reply).await.expect("server hello");
        a.write_all(&reply[SERVER_HELLO_LEN - MAC_LEN..])
            .await
            .expect("reflected");
        assert!(matches!(
            server_side.await.expect("join"),
            Err(HandshakeError::Refused(Refusal::AuthenticationFailed))
        ));
    }

    #[tokio::test]
    async fn garbage_is_not_cirrus() {
        let server = identity(9, 2, SECRET);
        let (mut a, mut b) = tokio::io::duplex(256);
        let server_side = tokio::spawn(async move { respond(&mut b, &server).await });
        a.write_all(&[0x55; CLIENT_HELLO_LEN]).await.expect("write");
        assert!(matches!(
            server_side.await.expect("join"),
            Err(HandshakeError::NotCirrus)
        ));
    }
}
