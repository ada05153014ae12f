//! How a benchmark request ended.

use crate::client::SignedClient;

use super::workload::Request;

/// Success, or DynamoDB's error type (or a transport failure).
pub enum Outcome {
    Ok,
    Error(String),
}

/// Sends one workload request and classifies its response.
pub async fn send(client: &SignedClient, request: &Request) -> Outcome {
    let target = format!("DynamoDB_20120810.{}", request.operation);
    let (status, body) = match client.call(&target, request.body.clone()).await {
        Ok(response) => response,
        Err(e) if e.starts_with("signing") => return Outcome::Error(e),
        Err(_) => return Outcome::Error("connection".into()),
    };
    if status.is_success() {
        // BatchWriteItem reports writes it did not do rather than failing.
        if request.operation == "BatchWriteItem" && has_unprocessed(&body) {
            return Outcome::Error("UnprocessedItems".into());
        }
        return Outcome::Ok;
    }
    let kind = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["__type"].as_str().map(str::to_string))
        .map(|t| t.rsplit('#').next().unwrap_or_default().to_string())
        .unwrap_or_else(|| format!("HTTP {status}"));
    Outcome::Error(kind)
}

fn has_unprocessed(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["UnprocessedItems"].as_object().map(|m| !m.is_empty()))
        .unwrap_or(false)
}
