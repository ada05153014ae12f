//! Durable records of committed transactions' ClientRequestTokens, so that a retry
//! after a crash is still recognised. A transaction's commit decision writes its
//! token's first record (see `TxDecide`); `api` may then replace it with the response.
//! The record itself is opaque here: `api` owns its meaning and its ten-minute window.

use cirrus_storage::engine::{prefix_end, CF_META};
use rocksdb::WriteBatch;

use crate::error::PartitionError;
use crate::meta_keys;
use crate::node::Node;

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
}
