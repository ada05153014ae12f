//! ClientRequestToken idempotency of TransactWriteItems: for ten minutes, a repeated
//! token with the same request returns the first response without applying it again;
//! with a different request it is refused.
//!
//! Tokens are kept in memory: a restart forgets them (DynamoDB keeps them for the
//! window whatever happens; a durable record is future work).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::ApiError;

const WINDOW: Duration = Duration::from_secs(600);

enum Progress {
    Running,
    Done(Value),
}

struct Entry {
    fingerprint: u64,
    since: Instant,
    progress: Progress,
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

/// A fingerprint of the request without its token.
pub fn fingerprint(request: &Value) -> u64 {
    let mut request = request.clone();
    if let Value::Object(members) = &mut request {
        members.remove("ClientRequestToken");
    }
    let mut hasher = DefaultHasher::new();
    request.to_string().hash(&mut hasher);
    hasher.finish()
}

impl TransactionTokens {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Entries are replaced whole, so a poisoned map is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn claim(&self, token: &str, fingerprint: u64) -> Result<TokenClaim, ApiError> {
        let mut entries = self.entries();
        entries.retain(|_, entry| entry.since.elapsed() < WINDOW);
        match entries.get(token) {
            Some(entry) if entry.fingerprint != fingerprint => {
                Err(ApiError::IdempotentParameterMismatch(
                    "Specified idempotent token was used with different request parameters within \
                     the 10 minute idempotency window"
                        .into(),
                ))
            }
            Some(Entry {
                progress: Progress::Running,
                ..
            }) => Err(ApiError::TransactionInProgress(
                "Transaction with the specified idempotency token is still in progress".into(),
            )),
            Some(Entry {
                progress: Progress::Done(response),
                ..
            }) => Ok(TokenClaim::Replay(response.clone())),
            None => {
                entries.insert(
                    token.to_string(),
                    Entry {
                        fingerprint,
                        since: Instant::now(),
                        progress: Progress::Running,
                    },
                );
                Ok(TokenClaim::Run)
            }
        }
    }

    /// Records a claimed token's outcome: a response to replay, or `None` when the
    /// transaction did not happen (the token may then be used again).
    pub fn finish(&self, token: &str, response: Option<&Value>) {
        let mut entries = self.entries();
        match response {
            Some(response) => {
                if let Some(entry) = entries.get_mut(token) {
                    entry.progress = Progress::Done(response.clone());
                }
            }
            None => {
                entries.remove(token);
            }
        }
    }
}
