//! SDK helpers: error assertions, table builders, attribute-value builders and canonical forms.

use super::*;

/// The error code and message of a failed SDK call; panics (with the response) if it succeeded.
pub fn expect_err<
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
>(
    what: &str,
    result: Result<T, SdkError<E, R>>,
) -> (String, String) {
    match result {
        Ok(v) => panic!("{what}: expected an error, but the request succeeded: {v:?}"),
        Err(err) => {
            let code = err.code().map(str::to_owned);
            let message = err.message().unwrap_or_default().to_owned();
            match code {
                Some(code) => (code, message),
                None => {
                    panic!("{what}: expected a service error, got a non-service error: {err:?}")
                }
            }
        }
    }
}

/// Like `expect_err`, but returns a description of the mismatch instead of panicking,
/// so a test can check many cases and report every failing one.
pub fn check_err<
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
>(
    what: &str,
    result: Result<T, SdkError<E, R>>,
    want_code: &str,
    want_message_contains: Option<&str>,
) -> Result<(), String> {
    match result {
        Ok(v) => Err(format!(
            "{what}: expected {want_code}{}, but the request succeeded: {v:?}",
            want_message_contains
                .map(|m| format!(" containing {m:?}"))
                .unwrap_or_default()
        )),
        Err(err) => {
            let Some(code) = err.code().map(str::to_owned) else {
                return Err(format!(
                    "{what}: expected {want_code}, got a non-service error: {err:?}"
                ));
            };
            let message = err.message().unwrap_or_default().to_owned();
            if code != want_code {
                return Err(format!(
                    "{what}: expected code {want_code}, got {code} with message {message:?}"
                ));
            }
            if let Some(m) = want_message_contains {
                if !message.contains(m) {
                    return Err(format!(
                        "{what}: code {code} as expected, but message {message:?} does not contain {m:?}"
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Like `check_err`, for a raw response: HTTP 400, an `__type` ending in `#code`, and a
/// message containing every part.
pub fn check_raw_error(
    what: &str,
    r: &RawResponse,
    code: &str,
    msg: &[&str],
) -> Result<(), String> {
    let t = r.error_type().unwrap_or_default();
    let m = r.error_message().unwrap_or_default();
    if r.status != 400 || !t.ends_with(&format!("#{code}")) {
        return Err(format!(
            "{what}: expected 400 {code}, got {} {t:?}: {m:?}",
            r.status
        ));
    }
    for part in msg {
        if !m.contains(part) {
            return Err(format!(
                "{what}: {code} as expected, but message {m:?} does not contain {part:?}"
            ));
        }
    }
    Ok(())
}

/// Collects failures from many cases and panics once with all of them.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn check(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            self.0.push(e);
        }
    }
    pub fn push(&mut self, e: impl Into<String>) {
        self.0.push(e.into());
    }
    pub fn assert_none(self) {
        if !self.0.is_empty() {
            panic!(
                "{} failing case(s):\n  - {}",
                self.0.len(),
                self.0.join("\n  - ")
            );
        }
    }
}

pub fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .unwrap()
}

pub fn attr_def(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .unwrap()
}

/// CreateTable of an on-demand table with the given hash key and optional range key.
pub fn create_table_request(
    client: &Client,
    name: &str,
    hash: (&str, ScalarAttributeType),
    range: Option<(&str, ScalarAttributeType)>,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(hash.0, KeyType::Hash))
        .attribute_definitions(attr_def(hash.0, hash.1));
    if let Some((r, t)) = range {
        req = req
            .key_schema(key(r, KeyType::Range))
            .attribute_definitions(attr_def(r, t));
    }
    req
}

/// Create an on-demand table with the given hash key and optional range key, and wait
/// until it is ACTIVE.
pub async fn create_table(
    client: &Client,
    name: &str,
    hash: (&str, ScalarAttributeType),
    range: Option<(&str, ScalarAttributeType)>,
) {
    create_table_request(client, name, hash, range)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name} failed: {e:?}"));
    wait_active(client, name).await;
}

/// Poll DescribeTable until the table is ACTIVE (bounded by `TABLE_STATE_TIMEOUT`).
pub async fn wait_active(client: &Client, name: &str) {
    let deadline = Instant::now() + TABLE_STATE_TIMEOUT;
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTable {name} failed: {e:?}"));
        let status = out.table().and_then(|t| t.table_status()).cloned();
        if status == Some(TableStatus::Active) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "table {name} not ACTIVE within {TABLE_STATE_TIMEOUT:?} (status {status:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

pub fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(v.to_vec()))
}

pub fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Sets are unordered in DynamoDB: sort set members (recursively) so items compare by value.
pub fn canonical(v: &AttributeValue) -> AttributeValue {
    match v {
        AttributeValue::Ss(x) => {
            let mut x = x.clone();
            x.sort();
            AttributeValue::Ss(x)
        }
        AttributeValue::Ns(x) => {
            let mut x = x.clone();
            x.sort();
            AttributeValue::Ns(x)
        }
        AttributeValue::Bs(x) => {
            let mut x = x.clone();
            x.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
            AttributeValue::Bs(x)
        }
        AttributeValue::L(x) => AttributeValue::L(x.iter().map(canonical).collect()),
        AttributeValue::M(x) => {
            AttributeValue::M(x.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

pub fn canonical_item(i: &HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue> {
    i.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()
}

/// A table name unique within this test process (tests may share nothing, but this keeps
/// names distinct even when one test creates several tables).
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
