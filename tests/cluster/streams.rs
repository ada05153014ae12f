//! A table's stream read through any node: writes (puts, updates, deletes) go through
//! all three nodes at once; afterwards DescribeStream, GetShardIterator and GetRecords
//! through each node return the same shards and the same records — same event ids,
//! sequence numbers, images, order — and the records say what happened to each key.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::StreamViewType;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodbstreams::types::{OperationType, Record};

use crate::common::cluster::*;
use crate::common::*;

const TABLE: &str = "streamed";
/// Keys written through each node.
const KEYS_PER_NODE: usize = 15;
/// Every `DELETE_EVERY`th key is deleted at the end.
const DELETE_EVERY: usize = 3;

/// What one stream record says happened to its key: the operation and the images' `v`.
#[derive(Clone, Debug, PartialEq)]
struct Event {
    operation: OperationType,
    old: Option<String>,
    new: Option<String>,
}

impl Event {
    fn new(operation: OperationType, old: Option<&str>, new: Option<&str>) -> Event {
        let (old, new) = (old.map(str::to_owned), new.map(str::to_owned));
        Event {
            operation,
            old,
            new,
        }
    }

    /// The key (`pk`) of `record` and what it says.
    fn of(record: &Record) -> (String, Event) {
        let stream = record.dynamodb();
        let string = |value: Option<&aws_sdk_dynamodbstreams::types::AttributeValue>| {
            let value = from_stream_value(value?);
            value.as_s().or(value.as_n()).ok().cloned()
        };
        let key = string(stream.and_then(|s| s.keys()?.get("pk")));
        let event = Event {
            operation: record
                .event_name()
                .cloned()
                .unwrap_or(OperationType::Insert),
            old: string(stream.and_then(|s| s.old_image()?.get("v"))),
            new: string(stream.and_then(|s| s.new_image()?.get("v"))),
        };
        (key.unwrap_or_default(), event)
    }
}

/// Whether key `k` of a node is deleted at the end of its history.
fn deleted(k: usize) -> bool {
    k.is_multiple_of(DELETE_EVERY)
}

/// The records key `k` of a node must leave: an INSERT, a MODIFY, and for every
/// `DELETE_EVERY`th key a REMOVE.
fn events_of(k: usize) -> Vec<Event> {
    let mut events = vec![
        Event::new(OperationType::Insert, None, Some("0")),
        Event::new(OperationType::Modify, Some("0"), Some("1")),
    ];
    if deleted(k) {
        events.push(Event::new(OperationType::Remove, Some("1"), None));
    }
    events
}

/// Through node `node`'s client, then the next nodes': puts `n{node}-{k}` with `v` 0,
/// sets `v` to 1, and deletes every `DELETE_EVERY`th; what failed.
async fn history(node: usize, clients: Vec<Client>) -> Vec<String> {
    let through = |step: usize| &clients[(node + step) % MEMBERS];
    let mut failed = Vec::new();
    let mut note = |what: String, result: Result<(), String>| {
        if let Err(e) = result {
            failed.push(format!("{what}: {e}"));
        }
    };
    for k in 0..KEYS_PER_NODE {
        let key = format!("n{node}-{k}");
        let put = through(0)
            .put_item()
            .table_name(TABLE)
            .item("pk", s(&key))
            .item("v", n("0"))
            .send()
            .await;
        note(
            format!("put {key}"),
            put.map(drop).map_err(|e| format!("{e:?}")),
        );
        let update = through(1)
            .update_item()
            .table_name(TABLE)
            .key("pk", s(&key))
            .update_expression("SET v = :one")
            .expression_attribute_values(":one", n("1"))
            .send()
            .await;
        note(
            format!("update {key}"),
            update.map(drop).map_err(|e| format!("{e:?}")),
        );
        if deleted(k) {
            let delete = through(2)
                .delete_item()
                .table_name(TABLE)
                .key("pk", s(&key))
                .send()
                .await;
            note(
                format!("delete {key}"),
                delete.map(drop).map_err(|e| format!("{e:?}")),
            );
        }
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_read_through_any_node_has_the_same_records() {
    let cluster = Cluster::start();
    let clients = cluster.clients();
    let table = create_stream_table_request(&clients[0], TABLE, StreamViewType::NewAndOldImages);
    create_served(&clients, table).await;
    let arn = stream_arn(&clients[0], TABLE).await;

    let failures = all_at_once(MEMBERS, |node| history(node, clients.clone())).await;
    failures.assert_none();

    let expected: usize = (0..KEYS_PER_NODE)
        .map(|k| events_of(k).len())
        .sum::<usize>()
        * MEMBERS;
    let mut per_node = Vec::new();
    for (i, streams) in cluster.streams_clients().iter().enumerate() {
        let records = eventually(
            &format!("node {} streams {expected} records", i + 1),
            || async {
                let records = try_stream_records(streams, &arn).await?;
                match records.len() == expected {
                    true => Ok(records),
                    false => Err(format!("{} records", records.len())),
                }
            },
        )
        .await;
        let shards = try_stream_shards(streams, &arn)
            .await
            .expect("DescribeStream");
        per_node.push((shards, records));
    }

    let mut failures = Failures::new();
    let (shards, records) = &per_node[0];
    for (i, (other_shards, other)) in per_node.iter().enumerate().skip(1) {
        if other_shards != shards {
            failures.push(format!(
                "DescribeStream: node 1 lists {shards:?}, node {} {other_shards:?}",
                i + 1
            ));
        }
        if let Some(at) = (0..expected).find(|&at| records[at] != other[at]) {
            failures.push(format!(
                "record {at} read through node 1 is {:?}, through node {}: {:?}",
                records[at],
                i + 1,
                other[at]
            ));
        }
    }

    // Each key's records, in stream order (a key is on one shard), tell its history.
    let mut by_key: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut sequence_of: BTreeMap<String, String> = BTreeMap::new();
    for record in records {
        let (key, event) = Event::of(record);
        let seq = record
            .dynamodb()
            .and_then(|s| s.sequence_number())
            .unwrap_or_default()
            .to_owned();
        if let Some(before) = sequence_of.insert(key.clone(), seq.clone()) {
            if seq_cmp(&before, &seq) != std::cmp::Ordering::Less {
                failures.push(format!("{key}: sequence number {seq} after {before}"));
            }
        }
        by_key.entry(key).or_default().push(event);
    }
    for node in 0..MEMBERS {
        for k in 0..KEYS_PER_NODE {
            let key = format!("n{node}-{k}");
            let (got, want) = (by_key.remove(&key).unwrap_or_default(), events_of(k));
            if got != want {
                failures.push(format!("{key}: records {got:?}, want {want:?}"));
            }
        }
    }
    if !by_key.is_empty() {
        failures.push(format!("records of keys nobody wrote: {by_key:?}"));
    }
    failures.assert_none();
    eprintln!("streams took {:.1?}", cluster.started.elapsed());
}
