//! The YCSB-style workloads: which operation each request is, and its JSON body.
//!
//! Records are items `{pk: "user<i / 10>", sk: <i % 10>, field0: <item-size bytes>}`:
//! ten items per partition key, so `q` (a Query of one partition key) returns 10.

use rand::Rng;
use rand_distr::{Distribution, Zipf};
use serde_json::{json, Value};

use super::options::{KeyDistribution, Workload};

/// Items per partition key.
pub const ITEMS_PER_KEY: u64 = 10;
/// Items per BatchWriteItem in workload `s`.
const BATCH_SIZE: u64 = 25;

/// Picks record numbers uniformly or by a Zipf law (YCSB's constant 0.99).
pub enum KeyChooser {
    Uniform(u64),
    Zipfian(u64, Zipf<f64>),
}

impl KeyChooser {
    pub fn new(distribution: KeyDistribution, records: u64) -> Result<KeyChooser, String> {
        let records = records.max(1);
        Ok(match distribution {
            KeyDistribution::Uniform => KeyChooser::Uniform(records),
            KeyDistribution::Zipfian => KeyChooser::Zipfian(
                records,
                Zipf::new(records as f64, 0.99).map_err(|e| e.to_string())?,
            ),
        })
    }

    pub fn next(&self, rng: &mut impl Rng) -> u64 {
        match self {
            KeyChooser::Uniform(records) => rng.random_range(0..*records),
            // Zipf yields 1..=n; rank 1 is the hottest record.
            KeyChooser::Zipfian(records, zipf) => (zipf.sample(rng) as u64 - 1).min(records - 1),
        }
    }
}

fn key(record: u64) -> Value {
    json!({
        "pk": { "S": format!("user{}", record / ITEMS_PER_KEY) },
        "sk": { "N": (record % ITEMS_PER_KEY).to_string() },
    })
}

fn item(record: u64, payload: &str) -> Value {
    let mut item = key(record);
    item["field0"] = json!({ "S": payload });
    item
}

/// One request: the operation's name (`X-Amz-Target` suffix) and its body.
pub struct Request {
    pub operation: &'static str,
    pub body: String,
}

pub fn create_table(table: &str) -> Request {
    Request {
        operation: "CreateTable",
        body: json!({
            "TableName": table,
            "KeySchema": [
                { "AttributeName": "pk", "KeyType": "HASH" },
                { "AttributeName": "sk", "KeyType": "RANGE" },
            ],
            "AttributeDefinitions": [
                { "AttributeName": "pk", "AttributeType": "S" },
                { "AttributeName": "sk", "AttributeType": "N" },
            ],
            "BillingMode": "PAY_PER_REQUEST",
        })
        .to_string(),
    }
}

pub fn put(table: &str, record: u64, payload: &str) -> Request {
    Request {
        operation: "PutItem",
        body: json!({ "TableName": table, "Item": item(record, payload) }).to_string(),
    }
}

/// The next request of a running workload (`load` is driven by a counter instead).
pub fn next_request(
    workload: Workload,
    table: &str,
    keys: &KeyChooser,
    payload: &str,
    rng: &mut impl Rng,
) -> Request {
    let record = keys.next(rng);
    let get = || Request {
        operation: "GetItem",
        body: json!({ "TableName": table, "Key": key(record) }).to_string(),
    };
    let update = || Request {
        operation: "UpdateItem",
        body: json!({
            "TableName": table,
            "Key": key(record),
            "UpdateExpression": "SET field0 = :v",
            "ExpressionAttributeValues": { ":v": { "S": payload } },
        })
        .to_string(),
    };
    match workload {
        Workload::A if rng.random_bool(0.5) => update(),
        Workload::B if rng.random_bool(0.05) => update(),
        Workload::A | Workload::B | Workload::C => get(),
        Workload::W | Workload::Load => put(table, record, payload),
        Workload::Q => Request {
            operation: "Query",
            body: json!({
                "TableName": table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {
                    ":pk": { "S": format!("user{}", record / ITEMS_PER_KEY) }
                },
            })
            .to_string(),
        },
        Workload::S => {
            let first = record - record % BATCH_SIZE;
            let writes: Vec<Value> = (first..first + BATCH_SIZE)
                .map(|r| json!({ "PutRequest": { "Item": item(r, payload) } }))
                .collect();
            Request {
                operation: "BatchWriteItem",
                body: json!({ "RequestItems": { table: writes } }).to_string(),
            }
        }
    }
}
