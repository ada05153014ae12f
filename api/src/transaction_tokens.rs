//! ClientRequestToken idempotency of TransactWriteItems: for ten minutes, a repeated
//! token with the same request returns the first response without applying it again;
//! with a different request it is refused. A committed transaction's token is recorded
//! durably together with its commit decision, so a client retrying after a crash at any
//! point past the commit is still recognised; the response replaces that record once
//! it is known (a crash before then replays an empty response, which DynamoDB allows:
//! "the responses to the calls might not be the same"). In a cluster a token is also
//! claimed cluster-wide (`Node::claim_client_token`) before the transaction runs, so
//! the same token sent to two nodes runs once: a node that finds another's claim
//! answers with the committed record its replica holds (written on every replica by
//! the commit decision), or TransactionInProgressException until it has one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use cirrus_cluster::{ClaimOutcome, Node};
use cirrus_partition::{PartitionError, TxToken};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::validation::now_epoch_seconds;

const WINDOW_MS: u64 = 10 * 60 * 1000;

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    fingerprint: u64,
    /// Epoch milliseconds of the first request.
    since_ms: u64,
    /// The response, once the transaction succeeded; `None` while it runs.
    response: Option<Value>,
}

impl Entry {
    fn record(&self) -> Result<Vec<u8>, ApiError> {
        serde_json::to_vec(self).map_err(|e| ApiError::Internal(e.to_string()))
    }
}

#[derive(Default)]
struct Tokens {
    entries: HashMap<String, Entry>,
    /// Every claim, oldest first, as (`since_ms`, token): expiry pops from the front,
    /// so a claim does work only for the tokens that expire.
    by_age: VecDeque<(u64, String)>,
}

impl Tokens {
    /// Drops the entries out of their window as of `now`, returning their tokens.
    fn expire(&mut self, now: u64) -> Vec<String> {
        let mut expired = Vec::new();
        while let Some((since_ms, _)) = self.by_age.front() {
            if now.saturating_sub(*since_ms) < WINDOW_MS {
                break;
            }
            let Some((since_ms, token)) = self.by_age.pop_front() else {
                break;
            };
            // A token released and claimed again has a newer entry, expiring later.
            if self
                .entries
                .get(&token)
                .is_some_and(|entry| entry.since_ms == since_ms)
            {
                self.entries.remove(&token);
                expired.push(token);
            }
        }
        expired
    }

    fn insert(&mut self, token: &str, entry: Entry) {
        self.by_age.push_back((entry.since_ms, token.to_string()));
        self.entries.insert(token.to_string(), entry);
    }
}

/// The tokens in their window; clones share them.
#[derive(Clone, Default)]
pub struct TransactionTokens(Arc<Mutex<Tokens>>);

/// What a request with a token must do.
pub enum TokenClaim {
    /// Run the transaction, committing it with this token record, then call
    /// [`TransactionTokens::finish`].
    Run(TxToken),
    /// The same request already succeeded: answer with its response.
    Replay(Value),
}

/// A fingerprint of the request without its token. FNV-1a over the canonical JSON
/// text (serde_json orders object members), so it is the same after a restart.
pub fn fingerprint(request: &Value) -> u64 {
    let mut request = request.clone();
    if let Value::Object(members) = &mut request {
        members.remove("ClientRequestToken");
    }
    request
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

fn now_ms() -> u64 {
    (now_epoch_seconds() * 1000.0) as u64
}

impl TransactionTokens {
    /// The tokens recorded on the node that are still in their window.
    pub fn load(node: &Arc<Node>) -> Result<TransactionTokens, PartitionError> {
        let now = now_ms();
        let mut live = Vec::new();
        for (token, record) in node.client_tokens()? {
            match serde_json::from_slice::<Entry>(&record) {
                Ok(entry) if now.saturating_sub(entry.since_ms) < WINDOW_MS => {
                    live.push((token, entry));
                }
                _ => node.forget_client_token(&token)?,
            }
        }
        live.sort_by_key(|(_, entry)| entry.since_ms);
        let mut tokens = Tokens::default();
        for (token, entry) in live {
            tokens.insert(&token, entry);
        }
        if node.is_replicated() {
            node.sweep_client_claims_in_background(WINDOW_MS);
        }
        Ok(TransactionTokens(Arc::new(Mutex::new(tokens))))
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        // Entries are replaced whole, so a poisoned map is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Claims `token` for a request with `fingerprint`: run it, replay the response of
    /// the request that used it before, or refuse.
    pub async fn claim(
        &self,
        node: &Node,
        token: &str,
        fingerprint: u64,
    ) -> Result<TokenClaim, ApiError> {
        let now = now_ms();
        let expired = self.tokens().expire(now);
        for token in &expired {
            node.forget_client_token(token)?;
        }
        let committed = Entry {
            fingerprint,
            since_ms: now,
            response: Some(json!({})),
        };
        let running = Entry {
            response: None,
            ..committed.clone()
        };
        {
            let mut tokens = self.tokens();
            if let Some(entry) = tokens.entries.get(token) {
                return answer(entry, fingerprint);
            }
            tokens.insert(token, running.clone());
        }
        if node.is_replicated() {
            let claimed = node
                .claim_client_token(token, &running.record()?, now, WINDOW_MS)
                .await;
            if !matches!(claimed, Ok(ClaimOutcome::Claimed)) {
                self.tokens().entries.remove(token);
            }
            if let ClaimOutcome::Held(held) = claimed? {
                return held_elsewhere(node, token, &held, fingerprint);
            }
        }
        Ok(TokenClaim::Run(TxToken {
            token: token.to_string(),
            record: committed.record()?,
        }))
    }

    /// Records a claimed token's outcome: the response to replay, or `None` when the
    /// transaction did not happen (the token may then be used again).
    pub async fn finish(
        &self,
        node: &Node,
        token: &str,
        response: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(response) = response else {
            let released = self.tokens().entries.remove(token);
            if let (Some(entry), true) = (released, node.is_replicated()) {
                node.release_client_token(token, &entry.record()?, entry.since_ms)
                    .await?;
            }
            return Ok(());
        };
        let record = {
            let mut tokens = self.tokens();
            let Some(entry) = tokens.entries.get_mut(token) else {
                return Ok(());
            };
            entry.response = Some(response.clone());
            entry.record()?
        };
        node.save_client_token(token, &record)?;
        Ok(())
    }
}

/// What a request with `fingerprint` gets for a token this node has an entry for.
fn answer(entry: &Entry, fingerprint: u64) -> Result<TokenClaim, ApiError> {
    match entry {
        entry if entry.fingerprint != fingerprint => Err(mismatch()),
        Entry { response: None, .. } => Err(in_progress()),
        Entry {
            response: Some(response),
            ..
        } => Ok(TokenClaim::Replay(response.clone())),
    }
}

/// What a request gets for a token another node claimed (`held`, its claim record):
/// the committed record this node's replica holds for that claim, if any.
fn held_elsewhere(
    node: &Node,
    token: &str,
    held: &[u8],
    fingerprint: u64,
) -> Result<TokenClaim, ApiError> {
    let held: Entry =
        serde_json::from_slice(held).map_err(|e| ApiError::Internal(e.to_string()))?;
    if held.fingerprint != fingerprint {
        return Err(mismatch());
    }
    let committed = node
        .client_token(token)?
        .and_then(|record| serde_json::from_slice::<Entry>(&record).ok())
        .filter(|entry| entry.since_ms == held.since_ms);
    match committed {
        Some(entry) => answer(&entry, fingerprint),
        None => Err(in_progress()),
    }
}

fn mismatch() -> ApiError {
    ApiError::IdempotentParameterMismatch(
        "Specified idempotent token was used with different request parameters within the 10 \
         minute idempotency window"
            .into(),
    )
}

fn in_progress() -> ApiError {
    ApiError::TransactionInProgress(
        "Transaction with the specified idempotency token is still in progress".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(since_ms: u64) -> Entry {
        Entry {
            fingerprint: 7,
            since_ms,
            response: None,
        }
    }

    #[test]
    fn tokens_expire_oldest_first_and_only_once_out_of_their_window() {
        let mut tokens = Tokens::default();
        tokens.insert("old", entry(1_000));
        tokens.insert("released", entry(2_000));
        tokens.insert("young", entry(3_000));
        // "released" finished without committing and was claimed again later: its first
        // claim's expiry must not drop the second.
        tokens.entries.remove("released");
        tokens.insert("released", entry(WINDOW_MS));
        assert!(tokens.expire(1_000 + WINDOW_MS - 1).is_empty());
        assert_eq!(tokens.expire(2_000 + WINDOW_MS), ["old"]);
        assert!(tokens.entries.contains_key("released"));
        assert_eq!(tokens.expire(3_000 + WINDOW_MS), ["young"]);
        assert_eq!(tokens.expire(2 * WINDOW_MS), ["released"]);
        assert!(tokens.entries.is_empty() && tokens.by_age.is_empty());
    }
}
