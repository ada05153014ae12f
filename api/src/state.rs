//! What every request handler can reach: the server's state, seen from the region the
//! request is for.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use cirrus_cluster::{Node, Table};
use cirrus_partition::PartitionError;

use crate::expressions::ExpressionCache;
use crate::region::Region;
use crate::transaction_tokens::TransactionTokens;

/// The state every request shares.
pub struct ServerState {
    pub node: Arc<Node>,
    /// The region of requests that name none (unsigned tools).
    pub default_region: Region,
    pub account_id: String,
    /// The address clients use to reach this server, reported by DescribeEndpoints.
    pub endpoint_address: String,
    pub expressions: ExpressionCache,
    pub transaction_tokens: TransactionTokens,
    /// How long stream records are kept.
    pub stream_retention: Duration,
}

/// One request's view of the server: the shared state and the region whose tables the
/// request sees. Cheap to make and to clone (an `Arc` and an inline region name); it
/// dereferences to the shared state.
#[derive(Clone)]
pub struct ApiState {
    shared: Arc<ServerState>,
    pub region: Region,
}

impl Deref for ApiState {
    type Target = ServerState;

    fn deref(&self) -> &ServerState {
        &self.shared
    }
}

impl ApiState {
    pub fn new(shared: Arc<ServerState>, region: Region) -> Self {
        ApiState { shared, region }
    }

    pub fn table_arn(&self, table_name: &str) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{}",
            self.region, self.account_id, table_name
        )
    }

    /// The table of this name in the request's region.
    pub fn table(&self, name: &str) -> Result<Arc<Table>, PartitionError> {
        self.node.table(&self.region, name)
    }
}
