//! What every request handler can reach.

use std::sync::Arc;
use std::time::Duration;

use cirrus_partition::Node;

use crate::expressions::ExpressionCache;
use crate::transaction_tokens::TransactionTokens;

pub struct ApiState {
    pub node: Arc<Node>,
    pub region: String,
    pub account_id: String,
    /// The address clients use to reach this server, reported by DescribeEndpoints.
    pub endpoint_address: String,
    pub expressions: ExpressionCache,
    pub transaction_tokens: TransactionTokens,
    /// How long stream records are kept.
    pub stream_retention: Duration,
}

impl ApiState {
    pub fn table_arn(&self, table_name: &str) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{}",
            self.region, self.account_id, table_name
        )
    }
}
