//! Account-level operations: DescribeEndpoints and DescribeLimits.

use serde_json::{json, Value};

use crate::state::ApiState;

pub fn describe_endpoints(state: &ApiState) -> Value {
    json!({
        "Endpoints": [{ "Address": state.endpoint_address, "CachePeriodInMinutes": 1440 }]
    })
}

/// DynamoDB's default account quotas.
pub fn describe_limits() -> Value {
    json!({
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000
    })
}
