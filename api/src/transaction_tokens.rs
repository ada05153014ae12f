//! ClientRequestToken idempotency of TransactWriteItems: for ten minutes, a repeated
//! token with the same request returns the first response without applying it again;
//! with a different request it is refused. Completed tokens are recorded durably on
//! the node (before the response goes out), so a client retrying after a crash is
//! still recognised.

use std::collections::HashMap;
use std::sync::Mutex;

use cirrus_partition::{Node, PartitionError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

#[derive(Default)]
pub struct TransactionTokens(Mutex<HashMap<String, Entry>>);

/// What a request with a token must do.
pub enum TokenClaim {
    /// Run the transaction, then call [`TransactionTokens::finish`].
    Run,
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
    pub fn load(node: &Node) -> Result<TransactionTokens, PartitionError> {
        let now = now_ms();
        let mut entries = HashMap::new();
        for (token, record) in node.client_tokens()? {
            match serde_json::from_slice::<Entry>(&record) {
                Ok(entry) if now.saturating_sub(entry.since_ms) < WINDOW_MS => {
                    entries.insert(token, entry);
                }
                _ => node.forget_client_token(&token)?,
            }
        }
        Ok(TransactionTokens(Mutex::new(entries)))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Entries are replaced whole, so a poisoned map is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn claim(&self, token: &str, fingerprint: u64) -> Result<TokenClaim, ApiError> {
        let now = now_ms();
        let mut entries = self.entries();
        entries.retain(|_, entry| now.saturating_sub(entry.since_ms) < WINDOW_MS);
        match entries.get(token) {
            Some(entry) if entry.fingerprint != fingerprint => {
                Err(ApiError::IdempotentParameterMismatch(
                    "Specified idempotent token was used with different request parameters within \
                     the 10 minute idempotency window"
                        .into(),
                ))
            }
            Some(Entry { response: None, .. }) => Err(ApiError::TransactionInProgress(
                "Transaction with the specified idempotency token is still in progress".into(),
            )),
            Some(Entry {
                response: Some(response),
                ..
            }) => Ok(TokenClaim::Replay(response.clone())),
            None => {
                entries.insert(
                    token.to_string(),
                    Entry {
                        fingerprint,
                        since_ms: now,
                        response: None,
                    },
                );
                Ok(TokenClaim::Run)
            }
        }
    }

    /// Records a claimed token's outcome: a response to replay (recorded durably), or
    /// `None` when the transaction did not happen (the token may then be used again).
    pub fn finish(
        &self,
        node: &Node,
        token: &str,
        response: Option<&Value>,
    ) -> Result<(), ApiError> {
        let mut entries = self.entries();
        let Some(response) = response else {
            entries.remove(token);
            return Ok(());
        };
        let Some(entry) = entries.get_mut(token) else {
            return Ok(());
        };
        entry.response = Some(response.clone());
        let record = serde_json::to_vec(entry).map_err(|e| ApiError::Internal(e.to_string()))?;
        node.save_client_token(token, &record)?;
        Ok(())
    }
}
