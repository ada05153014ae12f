//! DynamoDB Streams under a mixed write load: several tasks put, update, delete, batch
//! and transact over a few hundred items of a NEW_AND_OLD_IMAGES table with several
//! shards; then every shard is read from TRIM_HORIZON to its end and replayed in
//! sequence order. The replay must equal a Scan of the table exactly, every item's record
//! chain must be consistent (each record's OldImage is the previous record's NewImage,
//! INSERT only when the item did not exist, no MODIFY that changes nothing), and every
//! acknowledged write must have exactly one record (refused writes none). The second test
//! SIGKILLs the server mid-load, starts it again, writes some more, and checks the same.
//!
//! Every write carries a unique tag in attribute `w`, so a record can be traced to the
//! write that made it. The clients never retry, so "acknowledged" means one attempt
//! returned success.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, DeleteRequest, KeyType, Put, PutRequest, ReturnValue,
    ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem, Update,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodbstreams::types::{OperationType, Record, Shard, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client as Streams;
use common::*;

const TABLE: &str = "load";
const PARTITIONS: &str = "4";
/// Items are (pk, sk) with pk in 0..PKS and sk in 0..SKS.
const PKS: u64 = 120;
const SKS: u64 = 3;
const WRITERS: usize = 8;
/// Writes per task in a load that is not ended by a kill.
const OPS_PER_TASK: usize = 400;
/// Writes per task after the restart in the kill test.
const OPS_AFTER_RESTART: usize = 150;
/// The kill comes after at least this long and this many acknowledged writes...
const MIN_LOAD_BEFORE_KILL: Duration = Duration::from_millis(1500);
const MIN_ACKS_BEFORE_KILL: usize = 400;
/// ...or, failing the count, after this long.
const MAX_LOAD_BEFORE_KILL: Duration = Duration::from_secs(30);
/// Writer tasks must all finish within this.
const WRITERS_TIMEOUT: Duration = Duration::from_secs(180);
const MAX_STREAM_PAGES: usize = 20_000;

// ---------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------

/// xorshift64*: a small deterministic generator, one per task.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key_of(pk: u64, sk: u64) -> Attrs {
    item(&[("pk", s(&format!("p{pk:03}"))), ("sk", n(&sk.to_string()))])
}

fn random_key(rng: &mut Rng) -> Attrs {
    key_of(rng.below(PKS), rng.below(SKS))
}

/// A printable identity of an item key that does not depend on HashMap order.
fn key_string(keys: &Attrs) -> String {
    let sorted: BTreeMap<&String, AttributeValue> = keys
        .iter()
        .filter(|(k, _)| *k == "pk" || *k == "sk")
        .map(|(k, v)| (k, canonical(v)))
        .collect();
    format!("{sorted:?}")
}

fn tag_of(image: &Attrs) -> Option<String> {
    match image.get("w") {
        Some(AttributeValue::S(t)) => Some(t.clone()),
        _ => None,
    }
}

/// What the writers learned about their writes.
#[derive(Default)]
struct Outcomes {
    /// Acknowledged writes by tag, with the NewImage their record must carry when known.
    acked: HashMap<String, Option<Attrs>>,
    /// Writes whose outcome is unknown (the call failed without saying it was refused).
    unknown: HashSet<String>,
    /// Writes refused (condition failed, transaction cancelled, unprocessed): no record.
    refused: HashSet<String>,
    /// What acknowledged deletes returned as the removed item (ReturnValues ALL_OLD).
    deleted: Vec<Attrs>,
    /// Failures nobody expected; allowed only once the server has been killed.
    unexpected: Vec<String>,
}

impl Outcomes {
    fn merge(&mut self, other: Outcomes) {
        self.acked.extend(other.acked);
        self.unknown.extend(other.unknown);
        self.refused.extend(other.refused);
        self.deleted.extend(other.deleted);
        self.unexpected.extend(other.unexpected);
    }

    /// A failed call: refused if DynamoDB says nothing was written, otherwise unknown
    /// (and unexpected unless the server has been killed).
    fn failed(
        &mut self,
        what: &str,
        tags: &[String],
        code: Option<&str>,
        err: String,
        killed: bool,
    ) {
        match code {
            Some("ConditionalCheckFailedException")
            | Some("TransactionCanceledException")
            | Some("TransactionConflictException") => self.refused.extend(tags.iter().cloned()),
            _ => {
                self.unknown.extend(tags.iter().cloned());
                if !killed {
                    self.unexpected.push(format!("{what}: {err}"));
                }
            }
        }
    }
}

struct Shared {
    stop: AtomicBool,
    killed: AtomicBool,
    acks: AtomicUsize,
}

fn put_request(it: &Attrs) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(it.clone()))
                .build()
                .unwrap(),
        )
        .build()
}

fn delete_request(k: &Attrs) -> WriteRequest {
    WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .set_key(Some(k.clone()))
                .build()
                .unwrap(),
        )
        .build()
}

fn random_item(rng: &mut Rng, k: &Attrs, tag: &str) -> Attrs {
    let mut it = k.clone();
    it.insert("w".into(), s(tag));
    it.insert("n".into(), n(&rng.below(1_000_000).to_string()));
    if rng.below(2) == 0 {
        it.insert("pad".into(), s(&"x".repeat(1 + rng.below(400) as usize)));
    }
    if rng.below(3) == 0 {
        let g = format!("g{}", rng.below(4));
        it.insert("tags".into(), ss(&["a", &g]));
    }
    it
}

/// Distinct random keys.
fn distinct_keys(rng: &mut Rng, count: usize) -> Vec<Attrs> {
    let mut keys: Vec<Attrs> = Vec::new();
    for _ in 0..1000 {
        if keys.len() == count {
            break;
        }
        let k = random_key(rng);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    assert_eq!(keys.len(), count, "could not pick {count} distinct keys");
    keys
}

async fn writer(
    client: Client,
    task: usize,
    phase: usize,
    ops: usize,
    shared: Arc<Shared>,
) -> Outcomes {
    let mut rng = Rng::new((phase as u64 + 1) * 1_000_003 + task as u64 * 7919);
    let mut out = Outcomes::default();
    for i in 0..ops {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let tag = format!("ph{phase}-t{task}-{i}");
        let killed = || shared.killed.load(Ordering::SeqCst);
        let dice = rng.below(100);
        if dice < 35 {
            // PutItem, sometimes only if the item is new.
            let k = random_key(&mut rng);
            let it = random_item(&mut rng, &k, &tag);
            let mut req = client
                .put_item()
                .table_name(TABLE)
                .set_item(Some(it.clone()));
            if rng.below(4) == 0 {
                req = req.condition_expression("attribute_not_exists(pk)");
            }
            match req.send().await {
                Ok(_) => {
                    out.acked.insert(tag, Some(it));
                    shared.acks.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    let (code, text) = (e.code().map(str::to_owned), format!("{e:?}"));
                    out.failed("PutItem", &[tag], code.as_deref(), text, killed());
                }
            }
        } else if dice < 65 {
            // UpdateItem (always changes the item: a new tag and counter), sometimes only
            // if the item exists; ALL_NEW tells what the record's NewImage must be.
            let k = random_key(&mut rng);
            let remove = rng.below(3) == 0;
            let expr = if remove {
                "SET w = :w, c = if_not_exists(c, :zero) + :one ADD tags :t REMOVE n"
            } else {
                "SET w = :w, c = if_not_exists(c, :zero) + :one ADD tags :t"
            };
            let g = format!("g{}", rng.below(4));
            let mut req = client
                .update_item()
                .table_name(TABLE)
                .set_key(Some(k))
                .update_expression(expr)
                .expression_attribute_values(":w", s(&tag))
                .expression_attribute_values(":zero", n("0"))
                .expression_attribute_values(":one", n("1"))
                .expression_attribute_values(":t", ss(&[&g]))
                .return_values(ReturnValue::AllNew);
            if rng.below(4) == 0 {
                req = req.condition_expression("attribute_exists(pk)");
            }
            match req.send().await {
                Ok(resp) => {
                    out.acked.insert(tag, resp.attributes().cloned());
                    shared.acks.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    let (code, text) = (e.code().map(str::to_owned), format!("{e:?}"));
                    out.failed("UpdateItem", &[tag], code.as_deref(), text, killed());
                }
            }
        } else if dice < 83 {
            // DeleteItem, sometimes only if the item has a counter; ALL_OLD says whether
            // it removed something (and so made a record).
            let k = random_key(&mut rng);
            let mut req = client
                .delete_item()
                .table_name(TABLE)
                .set_key(Some(k))
                .return_values(ReturnValue::AllOld);
            if rng.below(4) == 0 {
                req = req.condition_expression("attribute_exists(c)");
            }
            match req.send().await {
                Ok(resp) => {
                    if let Some(old) = resp.attributes().filter(|o| !o.is_empty()) {
                        out.deleted.push(old.clone());
                    }
                    shared.acks.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    let (code, text) = (e.code().map(str::to_owned), format!("{e:?}"));
                    out.failed("DeleteItem", &[], code.as_deref(), text, killed());
                }
            }
        } else if dice < 92 {
            // BatchWriteItem: two puts and a delete of distinct items.
            let keys = distinct_keys(&mut rng, 3);
            let mut pending: Vec<(Option<(String, Attrs)>, WriteRequest)> = Vec::new();
            for (j, k) in keys[..2].iter().enumerate() {
                let t = format!("{tag}-b{j}");
                let it = random_item(&mut rng, k, &t);
                pending.push((Some((t, it.clone())), put_request(&it)));
            }
            pending.push((None, delete_request(&keys[2])));
            for attempt in 0.. {
                if pending.is_empty() {
                    break;
                }
                if attempt >= 20 {
                    out.refused.extend(
                        pending
                            .iter()
                            .filter_map(|(t, _)| t.clone())
                            .map(|(t, _)| t),
                    );
                    break;
                }
                let reqs: Vec<WriteRequest> = pending.iter().map(|(_, r)| r.clone()).collect();
                match client
                    .batch_write_item()
                    .request_items(TABLE, reqs)
                    .send()
                    .await
                {
                    Ok(resp) => {
                        let unprocessed: Vec<WriteRequest> = resp
                            .unprocessed_items()
                            .and_then(|u| u.get(TABLE))
                            .cloned()
                            .unwrap_or_default();
                        let (still, done): (Vec<_>, Vec<_>) = pending
                            .into_iter()
                            .partition(|(_, r)| unprocessed.contains(r));
                        for (t, _) in done {
                            if let Some((t, it)) = t {
                                out.acked.insert(t, Some(it));
                            }
                            shared.acks.fetch_add(1, Ordering::SeqCst);
                        }
                        pending = still;
                        if !pending.is_empty() {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    Err(e) => {
                        let tags: Vec<String> = pending
                            .iter()
                            .filter_map(|(t, _)| t.clone())
                            .map(|(t, _)| t)
                            .collect();
                        let (code, text) = (e.code().map(str::to_owned), format!("{e:?}"));
                        out.failed("BatchWriteItem", &tags, code.as_deref(), text, killed());
                        break;
                    }
                }
            }
        } else {
            // TransactWriteItems: an update of one item and a put of another.
            let keys = distinct_keys(&mut rng, 2);
            let (ta, tb) = (format!("{tag}-a"), format!("{tag}-b"));
            let put_item = random_item(&mut rng, &keys[1], &tb);
            let result = client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .update(
                            Update::builder()
                                .table_name(TABLE)
                                .set_key(Some(keys[0].clone()))
                                .update_expression("SET w = :w, c = if_not_exists(c, :zero) + :one")
                                .expression_attribute_values(":w", s(&ta))
                                .expression_attribute_values(":zero", n("0"))
                                .expression_attribute_values(":one", n("1"))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(TABLE)
                                .set_item(Some(put_item.clone()))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await;
            match result {
                Ok(_) => {
                    out.acked.insert(ta, None);
                    out.acked.insert(tb, Some(put_item));
                    shared.acks.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    let (code, text) = (e.code().map(str::to_owned), format!("{e:?}"));
                    out.failed(
                        "TransactWriteItems",
                        &[ta, tb],
                        code.as_deref(),
                        text,
                        killed(),
                    );
                }
            }
        }
    }
    out
}

fn spawn_writers(
    client: &Client,
    phase: usize,
    ops: usize,
    shared: &Arc<Shared>,
) -> Vec<tokio::task::JoinHandle<Outcomes>> {
    (0..WRITERS)
        .map(|task| tokio::spawn(writer(client.clone(), task, phase, ops, shared.clone())))
        .collect()
}

async fn join_writers(handles: Vec<tokio::task::JoinHandle<Outcomes>>) -> Outcomes {
    let mut all = Outcomes::default();
    let deadline = Instant::now() + WRITERS_TIMEOUT;
    for h in handles {
        let left = deadline.saturating_duration_since(Instant::now());
        let out = tokio::time::timeout(left, h)
            .await
            .unwrap_or_else(|_| panic!("writer tasks did not finish within {WRITERS_TIMEOUT:?}"))
            .expect("writer task panicked");
        all.merge(out);
    }
    all
}

fn assert_no_unexpected(o: &Outcomes, when: &str) {
    assert!(
        o.unexpected.is_empty(),
        "{} unexpected write failures {when}; first ones:\n  {}",
        o.unexpected.len(),
        o.unexpected
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

async fn create_load_table(client: &Client) {
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {TABLE}: {e:?}"));
    wait_active(client, TABLE).await;
}

// ---------------------------------------------------------------------------------------
// Reading the stream back and checking it
// ---------------------------------------------------------------------------------------

async fn all_shards(streams: &Streams, arn: &str) -> Vec<Shard> {
    let mut shards = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..MAX_STREAM_PAGES {
        let out = streams
            .describe_stream()
            .stream_arn(arn)
            .set_exclusive_start_shard_id(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeStream {arn}: {e:?}"));
        let desc = out.stream_description().expect("StreamDescription");
        shards.extend(desc.shards().iter().cloned());
        match desc.last_evaluated_shard_id() {
            Some(id) => start = Some(id.to_owned()),
            None => return shards,
        }
    }
    panic!("DescribeStream {arn} did not finish within {MAX_STREAM_PAGES} pages");
}

/// Every record of one shard from TRIM_HORIZON until caught up (two consecutive empty
/// pages) or, for a closed shard, its end.
async fn read_shard(streams: &Streams, arn: &str, shard_id: &str) -> Vec<Record> {
    let mut iter = streams
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetShardIterator {shard_id}: {e:?}"))
        .shard_iterator()
        .expect("ShardIterator")
        .to_owned();
    let mut records = Vec::new();
    let mut empty_pages = 0;
    for _ in 0..MAX_STREAM_PAGES {
        let out = streams
            .get_records()
            .shard_iterator(&iter)
            .limit(1000)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetRecords of {shard_id}: {e:?}"));
        let page = out.records();
        records.extend(page.iter().cloned());
        match out.next_shard_iterator() {
            None => return records,
            Some(next) => iter = next.to_owned(),
        }
        if page.is_empty() {
            empty_pages += 1;
            if empty_pages >= 2 {
                return records;
            }
        } else {
            empty_pages = 0;
        }
    }
    panic!("shard {shard_id} not read to its end within {MAX_STREAM_PAGES} pages");
}

fn image(
    m: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
) -> Option<Attrs> {
    m.map(from_stream_item)
}

/// Reads the whole stream, replays it and checks it against the table and the writers'
/// outcomes; panics with every problem found.
async fn verify(server: &TestServer, o: &Outcomes, label: &str) {
    let client = server.client();
    let streams = streams_client(server);
    let arn = describe_table(&client, TABLE)
        .await
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_owned();
    let shards = all_shards(&streams, &arn).await;
    let mut problems: Vec<String> = Vec::new();
    let mut state: HashMap<String, Option<Attrs>> = HashMap::new();
    let mut key_shard: HashMap<String, String> = HashMap::new();
    let mut event_ids: HashSet<String> = HashSet::new();
    let mut by_tag: HashMap<String, Vec<Attrs>> = HashMap::new();
    let mut removed: HashMap<String, Vec<Attrs>> = HashMap::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut total = 0;

    for shard in &shards {
        let shard_id = shard.shard_id().expect("ShardId").to_owned();
        let records = read_shard(&streams, &arn, &shard_id).await;
        let mut prev_seq: Option<String> = None;
        for r in &records {
            total += 1;
            let where_ = format!("shard {shard_id} record {}", r.event_id().unwrap_or("?"));
            let Some(d) = r.dynamodb() else {
                problems.push(format!("{where_}: no dynamodb member"));
                continue;
            };
            if r.event_source() != Some("aws:dynamodb")
                || r.event_version() != Some("1.1")
                || r.aws_region() != Some("us-east-1")
            {
                problems.push(format!(
                    "{where_}: eventSource {:?} eventVersion {:?} awsRegion {:?}",
                    r.event_source(),
                    r.event_version(),
                    r.aws_region()
                ));
            }
            if !event_ids.insert(r.event_id().unwrap_or_default().to_owned()) {
                problems.push(format!("{where_}: eventID repeats"));
            }
            if d.size_bytes().is_none_or(|b| b <= 0)
                || d.approximate_creation_date_time().is_none()
                || d.stream_view_type()
                    != Some(&aws_sdk_dynamodbstreams::types::StreamViewType::NewAndOldImages)
            {
                problems.push(format!(
                    "{where_}: SizeBytes {:?} ApproximateCreationDateTime {:?} StreamViewType {:?}",
                    d.size_bytes(),
                    d.approximate_creation_date_time(),
                    d.stream_view_type()
                ));
            }
            let seq = d.sequence_number().unwrap_or_default().to_owned();
            if !(21..=40).contains(&seq.len()) || !seq.bytes().all(|c| c.is_ascii_digit()) {
                problems.push(format!("{where_}: SequenceNumber {seq:?}"));
            }
            if let Some(p) = &prev_seq {
                if !seq_cmp(p, &seq).is_lt() {
                    problems.push(format!("{where_}: SequenceNumber {seq} not after {p}"));
                }
            }
            prev_seq = Some(seq);

            let keys = image(d.keys()).unwrap_or_default();
            let key = key_string(&keys);
            if keys.len() != 2 {
                problems.push(format!("{where_}: Keys {keys:?}"));
            }
            if let Some(other) = key_shard.insert(key.clone(), shard_id.clone()) {
                if other != shard_id {
                    problems.push(format!(
                        "{where_}: item {key} has records in shards {other} and {shard_id}"
                    ));
                }
            }
            let (old, new) = (image(d.old_image()), image(d.new_image()));
            for img in old.iter().chain(new.iter()) {
                if key_string(img) != key {
                    problems.push(format!("{where_}: image {img:?} is not of item {key}"));
                }
            }
            let prev = state.get(&key).cloned().flatten();
            let canon = |i: &Option<Attrs>| i.as_ref().map(canonical_item);
            let name = r.event_name().cloned();
            *counts.entry(format!("{name:?}")).or_default() += 1;
            match name {
                Some(OperationType::Insert) => {
                    if prev.is_some() || old.is_some() || new.is_none() {
                        problems.push(format!(
                            "{where_}: INSERT of {key} with OldImage {old:?} NewImage {new:?} while the replay holds {prev:?}"
                        ));
                    }
                }
                Some(OperationType::Modify) => {
                    if prev.is_none()
                        || canon(&old) != canon(&prev)
                        || new.is_none()
                        || canon(&old) == canon(&new)
                    {
                        problems.push(format!(
                            "{where_}: MODIFY of {key} with OldImage {old:?} NewImage {new:?} while the replay holds {prev:?}"
                        ));
                    }
                }
                Some(OperationType::Remove) => {
                    if prev.is_none() || canon(&old) != canon(&prev) || new.is_some() {
                        problems.push(format!(
                            "{where_}: REMOVE of {key} with OldImage {old:?} NewImage {new:?} while the replay holds {prev:?}"
                        ));
                    }
                    if let Some(t) = old.as_ref().and_then(tag_of) {
                        removed.entry(t).or_default().push(old.clone().unwrap());
                    }
                }
                other => problems.push(format!("{where_}: eventName {other:?}")),
            }
            if let Some(img) = &new {
                match tag_of(img) {
                    Some(t) => by_tag.entry(t).or_default().push(img.clone()),
                    None => problems.push(format!("{where_}: NewImage without a tag: {img:?}")),
                }
            }
            state.insert(key, new);
        }
    }

    // The replay is the table.
    let replayed: HashMap<String, Attrs> = state
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, canonical_item(&v))))
        .collect();
    let scanned = scan_everything(&client, TABLE).await;
    let mut in_table: HashMap<String, Attrs> = HashMap::new();
    for it in &scanned {
        in_table.insert(key_string(it), canonical_item(it));
    }
    for (k, want) in &in_table {
        match replayed.get(k) {
            None => problems.push(format!(
                "item {k} is in the table but not in the replay: {want:?}"
            )),
            Some(got) if got != want => {
                problems.push(format!("item {k}: replay {got:?}, table {want:?}"))
            }
            Some(_) => {}
        }
    }
    for (k, got) in &replayed {
        if !in_table.contains_key(k) {
            problems.push(format!(
                "item {k} is in the replay but not in the table: {got:?}"
            ));
        }
    }

    // Every acknowledged write has exactly one record; refused ones none.
    for (t, want) in &o.acked {
        let got = by_tag.get(t).map(Vec::as_slice).unwrap_or_default();
        if got.len() != 1 {
            problems.push(format!("acknowledged write {t} has {} records", got.len()));
        } else if let Some(want) = want {
            if canonical_item(&got[0]) != canonical_item(want) {
                problems.push(format!(
                    "acknowledged write {t}: record NewImage {:?}, the write made {want:?}",
                    got[0]
                ));
            }
        }
    }
    for t in &o.unknown {
        let c = by_tag.get(t).map_or(0, Vec::len);
        if c > 1 {
            problems.push(format!("write {t} of unknown outcome has {c} records"));
        }
    }
    for t in &o.refused {
        if by_tag.contains_key(t) {
            problems.push(format!("refused write {t} has records"));
        }
    }
    for t in by_tag.keys() {
        if !o.acked.contains_key(t) && !o.unknown.contains(t) && !o.refused.contains(t) {
            problems.push(format!("record of a write nobody made: tag {t}"));
        }
    }
    for (t, olds) in &removed {
        if olds.len() > 1 {
            problems.push(format!("item version {t} removed {} times", olds.len()));
        }
    }
    for old in &o.deleted {
        let t = tag_of(old).unwrap_or_default();
        match removed.get(&t).map(Vec::as_slice) {
            Some([got]) if canonical_item(got) == canonical_item(old) => {}
            other => problems.push(format!(
                "acknowledged delete of {old:?} has REMOVE records {other:?}"
            )),
        }
    }
    println!(
        "{label}: {total} records in {} shards ({counts:?}), {} items, {} acknowledged tagged writes, {} acknowledged deletes, {} refused, {} unknown",
        shards.len(),
        in_table.len(),
        o.acked.len(),
        o.deleted.len(),
        o.refused.len(),
        o.unknown.len()
    );
    if !problems.is_empty() {
        problems.sort();
        panic!(
            "{label}: {} problems; first ones:\n  {}",
            problems.len(),
            problems
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_load_replays_to_the_table() {
    let server = TestServer::start_with(&["--partitions-per-table", PARTITIONS]);
    let client = server.client_no_retry();
    create_load_table(&server.client()).await;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        killed: AtomicBool::new(false),
        acks: AtomicUsize::new(0),
    });
    let started = Instant::now();
    let outcomes = join_writers(spawn_writers(&client, 0, OPS_PER_TASK, &shared)).await;
    println!(
        "load: {} acknowledged writes in {:?}",
        shared.acks.load(Ordering::SeqCst),
        started.elapsed()
    );
    assert_no_unexpected(&outcomes, "without a kill");
    assert!(
        outcomes.acked.len() > WRITERS * OPS_PER_TASK / 3,
        "too few acknowledged writes to mean anything: {}",
        outcomes.acked.len()
    );
    verify(&server, &outcomes, "mixed load").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_load_replays_to_the_table_across_sigkill() {
    let mut server = TestServer::start_with(&["--partitions-per-table", PARTITIONS]);
    create_load_table(&server.client()).await;

    // Load until killed.
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        killed: AtomicBool::new(false),
        acks: AtomicUsize::new(0),
    });
    let handles = spawn_writers(&server.client_no_retry(), 0, 1_000_000, &shared);
    let started = Instant::now();
    loop {
        let acks = shared.acks.load(Ordering::SeqCst);
        let elapsed = started.elapsed();
        if (elapsed >= MIN_LOAD_BEFORE_KILL && acks >= MIN_ACKS_BEFORE_KILL)
            || elapsed >= MAX_LOAD_BEFORE_KILL
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acks_at_kill = shared.acks.load(Ordering::SeqCst);
    shared.killed.store(true, Ordering::SeqCst);
    server.kill9();
    shared.stop.store(true, Ordering::SeqCst);
    let mut outcomes = join_writers(handles).await;
    assert_no_unexpected(&outcomes, "before the kill");
    println!(
        "killed after {:?} and {acks_at_kill} acknowledged writes ({} of unknown outcome)",
        started.elapsed(),
        outcomes.unknown.len()
    );
    assert!(
        acks_at_kill >= 50,
        "only {acks_at_kill} acknowledged writes before the kill"
    );

    // Start again; everything acknowledged must be in the stream, and the stream must go
    // on (new records after the old ones, in every shard).
    server.start_again();
    let ready = server.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready
        .scan()
        .table_name(TABLE)
        .consistent_read(true)
        .limit(1)
        .send()
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the table is not readable after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    verify(&server, &outcomes, "after SIGKILL").await;

    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        killed: AtomicBool::new(false),
        acks: AtomicUsize::new(0),
    });
    let after = join_writers(spawn_writers(
        &server.client_no_retry(),
        1,
        OPS_AFTER_RESTART,
        &shared,
    ))
    .await;
    assert_no_unexpected(&after, "after the restart");
    outcomes.merge(after);
    verify(&server, &outcomes, "after SIGKILL and more writes").await;
}
