//! Durable records of committed transactions' ClientRequestTokens, so that a retry
//! after a crash is still recognised. A transaction's commit decision writes its
//! token's first record (see `TxDecide`) on every replica of its coordinator group;
//! `api` may then replace it with the response on the node that ran it. In a cluster,
//! a token is also claimed cluster-wide before its transaction runs — a compare-and-set
//! of a `c/` record in the metadata group — so that the same token sent to two nodes
//! runs once. The records themselves are opaque here: `api` owns their meaning and
//! its ten-minute window; a claim only starts with the time it was made, so that an
//! expired claim can be taken over, and swept.

use std::sync::Arc;
use std::time::Duration;

use cirrus_storage::engine::{prefix_end, CF_META};
use rocksdb::WriteBatch;

use crate::node::Node;
use cirrus_partition::command::MetadataChange;
use cirrus_partition::error::PartitionError;
use cirrus_partition::meta_keys;

/// How a cluster-wide claim of a token went.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This request holds the token now.
    Claimed,
    /// A claim within its window holds it: its record.
    Held(Vec<u8>),
}

/// How often the metadata leader sweeps expired claims.
const CLAIM_SWEEP: Duration = Duration::from_secs(60);
/// Claims swept each time at most (the rest wait for the next sweep).
const MOST_SWEPT: usize = 1_000;

/// A claim's stored value: when it was made (epoch milliseconds), then `api`'s record.
fn claim_value(since_ms: u64, record: &[u8]) -> Vec<u8> {
    [&since_ms.to_be_bytes()[..], record].concat()
}

/// When a stored claim was made, and its record.
fn parse_claim(value: &[u8]) -> Option<(u64, &[u8])> {
    let (since, record) = value.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*since), record))
}

impl Node {
    /// Replaces a committed transaction's token record. Not synced: the commit decision
    /// recorded the token durably already, and a crash only loses the refinement.
    pub fn save_client_token(&self, token: &str, record: &[u8]) -> Result<(), PartitionError> {
        let engine = self.engine();
        let mut batch = WriteBatch::default();
        batch.put_cf(engine.cf(CF_META)?, meta_keys::client_token(token), record);
        Ok(engine.write(batch)?)
    }

    pub fn forget_client_token(&self, token: &str) -> Result<(), PartitionError> {
        let engine = self.engine();
        let mut batch = WriteBatch::default();
        batch.delete_cf(engine.cf(CF_META)?, meta_keys::client_token(token));
        Ok(engine.write(batch)?)
    }

    /// Every recorded token and its record.
    pub fn client_tokens(&self) -> Result<Vec<(String, Vec<u8>)>, PartitionError> {
        let start = meta_keys::CLIENT_TOKEN_PREFIX;
        let mut tokens = Vec::new();
        self.engine()
            .scan(CF_META, start, &prefix_end(start), |key, value| {
                let token = String::from_utf8_lossy(&key[start.len()..]).into_owned();
                tokens.push((token, value.to_vec()));
                Ok(true)
            })?;
        Ok(tokens)
    }

    /// Claims `token` across the cluster for a request made at `now_ms`: a claim older
    /// than `window_ms` no longer holds it and is taken over.
    pub async fn claim_client_token(
        &self,
        token: &str,
        record: &[u8],
        now_ms: u64,
        window_ms: u64,
    ) -> Result<ClaimOutcome, PartitionError> {
        let key = meta_keys::client_claim(token);
        // A lost race makes this replica catch up, then look again (twice at most).
        for _ in 0..3 {
            let current = self.engine().get(CF_META, &key)?.map(|v| v.to_vec());
            if let Some((since_ms, held)) = current.as_deref().and_then(parse_claim) {
                if now_ms.saturating_sub(since_ms) < window_ms {
                    return Ok(ClaimOutcome::Held(held.to_vec()));
                }
            }
            let change = MetadataChange {
                expect: vec![(key.clone(), current)],
                put: vec![(key.clone(), claim_value(now_ms, record))],
                delete: Vec::new(),
            };
            match self.change_metadata(change).await {
                Ok(()) => return Ok(ClaimOutcome::Claimed),
                Err(PartitionError::CatalogConflict) => self.metadata().read_barrier().await?,
                Err(e) => return Err(e),
            }
        }
        Err(PartitionError::CatalogConflict)
    }

    /// Releases this node's claim of `token` (made at `since_ms` with `record`): its
    /// transaction did not happen, so the token may be used again.
    pub async fn release_client_token(
        &self,
        token: &str,
        record: &[u8],
        since_ms: u64,
    ) -> Result<(), PartitionError> {
        let key = meta_keys::client_claim(token);
        let change = MetadataChange {
            expect: vec![(key.clone(), Some(claim_value(since_ms, record)))],
            put: Vec::new(),
            delete: vec![key],
        };
        match self.change_metadata(change).await {
            // Taken over meanwhile (it had expired): nothing of ours to release.
            Ok(()) | Err(PartitionError::CatalogConflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The committed-transaction record of `token` on this node, if any.
    pub fn client_token(&self, token: &str) -> Result<Option<Vec<u8>>, PartitionError> {
        Ok(self
            .engine()
            .get(CF_META, &meta_keys::client_token(token))?
            .map(|v| v.to_vec()))
    }

    /// Deletes the claims older than `window_ms` as of `now_ms` (some at most).
    async fn sweep_client_claims(&self, now_ms: u64, window_ms: u64) -> Result<(), PartitionError> {
        let start = meta_keys::CLIENT_CLAIM_PREFIX;
        let mut expired = Vec::new();
        self.engine()
            .scan(CF_META, start, &prefix_end(start), |key, value| {
                let old = parse_claim(value)
                    .is_none_or(|(since_ms, _)| now_ms.saturating_sub(since_ms) >= window_ms);
                if old {
                    expired.push((key.to_vec(), value.to_vec()));
                }
                Ok(expired.len() < MOST_SWEPT)
            })?;
        for (key, value) in expired {
            let change = MetadataChange {
                expect: vec![(key.clone(), Some(value))],
                put: Vec::new(),
                delete: vec![key],
            };
            match self.change_metadata(change).await {
                Ok(()) | Err(PartitionError::CatalogConflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sweeps the claims older than `window_ms` from the metadata group while the node
    /// lives, whenever it leads the group (cluster members).
    pub fn sweep_client_claims_in_background(self: &Arc<Self>, window_ms: u64) {
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CLAIM_SWEEP).await;
                let Some(node) = node.upgrade() else { return };
                if !node.leads_metadata() {
                    continue;
                }
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                if let Err(e) = node.sweep_client_claims(now_ms, window_ms).await {
                    tracing::warn!("sweeping expired token claims: {e}");
                }
            }
        });
    }
}
