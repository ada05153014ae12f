//! Capacity accounting and throttling: ReturnConsumedCapacity (NONE / TOTAL / INDEXES) on
//! every data-plane operation checked against hand-computed DynamoDB units, the charges
//! that ConsumedCapacity cannot show (failed conditional writes, local-index writes,
//! transactions) measured through a provisioned table's burst, provisioned and on-demand
//! throttling, the per-partition ceiling, and `--no-throttle`.
//!
//! The rules, from the DynamoDB Developer Guide ("Read/write capacity unit consumption",
//! "Managing throughput settings on provisioned tables", "Global secondary indexes:
//! provisioned throughput considerations", "Transactions: capacity management") and the API
//! reference (ReturnConsumedCapacity, ConsumedCapacity, OnDemandThroughput):
//! - Item size: "the sum of the lengths of its attribute names and values"; a string is
//!   its UTF-8 bytes.
//! - Reads: "Item sizes for reads are rounded up to the next 4 KB multiple"; "For an
//!   eventually consistent read (the default), divide this number by two"; "A transactional
//!   read request of an item up to 4 KB requires two read units"; "If you perform a read
//!   operation on an item that does not exist, DynamoDB still consumes provisioned read
//!   throughput: A strongly consistent read request consumes one read capacity unit, while
//!   an eventually consistent read request consumes 0.5".
//! - BatchGetItem: "DynamoDB first rounds up the size of each item to the next 4 KB
//!   boundary, and then calculates the total size". Query: "All items returned are treated
//!   as a single read operation, where DynamoDB computes the total size of all items and
//!   then rounds up to the next 4 KB boundary". Scan: "DynamoDB considers the size of the
//!   items that are evaluated, not the size of the items returned". Projections and
//!   Select=COUNT do not change the units.
//! - Writes: "Item sizes for writes are rounded up to the next 1 KB multiple"; PutItem over
//!   an existing item: "the item size that matters is the larger of the two"; UpdateItem:
//!   "the larger of the 'before' and 'after' item sizes"; DeleteItem: "based on the size of
//!   the deleted item"; BatchWriteItem rounds each item up on its own.
//! - Failed conditional writes: "If the expression evaluates to false, DynamoDB still
//!   consumes write capacity units from the table: For an existing item, the number of
//!   write capacity units consumed depends on the size of the new item. ... For a new item,
//!   DynamoDB consumes one write capacity unit." (An older revision: "If the item exists,
//!   the number of write capacity units consumed depends on the size of the item".)
//! - Transactions: "DynamoDB performs two underlying reads or writes of every item in the
//!   transaction: one to prepare the transaction and one to commit the transaction".
//!   TransactWriteItems' ConsumedCapacity: "The values of the list are ordered according to
//!   the ordering of the TransactItems request parameter."
//! - Global secondary indexes: index updates "consume write capacity units from the index,
//!   not from the base table"; one write to put or to delete an entry, "two writes are
//!   required" when an indexed key attribute changes, "one write is required to update the
//!   values of the projected attributes", none when the item is in the index neither before
//!   nor after; "Larger index entries will require additional write capacity units". A
//!   Query on an index consumes the index's read capacity and is "based on the sizes of the
//!   index entries, rather than the size of the item in the base table". "In order for a
//!   table write to succeed, the provisioned throughput settings for the table and all of
//!   its global secondary indexes must have enough write capacity". Local secondary index
//!   writes consume the table's write capacity.
//! - ReturnConsumedCapacity: "INDEXES - The response includes the aggregate
//!   ConsumedCapacity for the operation, together with ConsumedCapacity for each table and
//!   secondary index that was accessed ... TOTAL - The response includes only the aggregate
//!   ConsumedCapacity for the operation. NONE - No ConsumedCapacity details are included".
//! - Throttling: "When DynamoDB throttles a read or write, it returns a
//!   ProvisionedThroughputExceededException"; "DynamoDB currently retains up to five
//!   minutes (300 seconds) of unused read and write capacity" (burst); "Each partition on
//!   the table can serve up to 3,000 read request units or 1,000 write request units";
//!   on-demand maxima (OnDemandThroughput MaxReadRequestUnits / MaxWriteRequestUnits,
//!   "-1" removes one): "throughput requests that exceed the maximum amount specified will
//!   be throttled" (ThrottlingException).
//!
//! Item sizes in these tests avoid the 1 KB boundaries wherever an index entry's size is
//! involved, so the 100 bytes of per-entry storage overhead DynamoDB documents for index
//! storage cannot change an expected unit count either way.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, ConsumedCapacity, Delete, DeleteRequest, Get,
    GlobalSecondaryIndex, KeyType, KeysAndAttributes, LocalSecondaryIndex, OnDemandThroughput,
    Projection, ProjectionType, ProvisionedThroughput, Put, PutRequest, ReturnConsumedCapacity,
    ScalarAttributeType, Select, TransactGetItem, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;

const PTEE: &str = "ProvisionedThroughputExceededException";
const THROTTLING: &str = "ThrottlingException";
const VALIDATION: &str = "ValidationException";
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

const TOTAL: ReturnConsumedCapacity = ReturnConsumedCapacity::Total;
const INDEXES: ReturnConsumedCapacity = ReturnConsumedCapacity::Indexes;

// ---------------------------------------------------------------------------------------
// Sizes and units
// ---------------------------------------------------------------------------------------

/// DynamoDB's size of an item made of S and B attributes (names plus values).
fn size_of(it: &Attrs) -> usize {
    it.iter()
        .map(|(name, v)| {
            name.len()
                + match v {
                    AttributeValue::S(x) => x.len(),
                    AttributeValue::B(x) => x.as_ref().len(),
                    other => {
                        panic!("size_of: only S and B attributes are used here, got {other:?}")
                    }
                }
        })
        .sum()
}

/// `it` with attribute `d` (a string of 'x') added or resized so the whole item is
/// exactly `total` bytes by DynamoDB's rule.
fn padded(mut it: Attrs, total: usize) -> Attrs {
    it.remove("d");
    let fixed = size_of(&it) + "d".len();
    assert!(total >= fixed, "cannot pad {it:?} to {total} bytes");
    it.insert("d".into(), s(&"x".repeat(total - fixed)));
    assert_eq!(size_of(&it), total);
    it
}

/// `{pk, d}` of exactly `total` bytes.
fn sized(pk: &str, total: usize) -> Attrs {
    padded(item(&[("pk", s(pk))]), total)
}

/// `{pk, sk, d}` of exactly `total` bytes.
fn sized2(pk: &str, sk: &str, total: usize) -> Attrs {
    padded(item(&[("pk", s(pk)), ("sk", s(sk))]), total)
}

/// Write units of an item of `bytes`: 1 KB each, at least one.
fn wu(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Strongly consistent read units of `bytes`: 4 KB each, at least one.
fn ru(bytes: usize) -> f64 {
    bytes.div_ceil(4096).max(1) as f64
}

fn key1(pk: &str) -> Attrs {
    item(&[("pk", s(pk))])
}

fn key2(pk: &str, sk: &str) -> Attrs {
    item(&[("pk", s(pk)), ("sk", s(sk))])
}

fn values(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    item(pairs)
}

// ---------------------------------------------------------------------------------------
// ConsumedCapacity checks
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Read,
    Write,
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The per-kind field (ReadCapacityUnits / WriteCapacityUnits) of a ConsumedCapacity.
fn kind_units(cc: &ConsumedCapacity, kind: Kind) -> Option<f64> {
    match kind {
        Kind::Read => cc.read_capacity_units(),
        Kind::Write => cc.write_capacity_units(),
    }
}

fn capacity_units_of(c: &aws_sdk_dynamodb::types::Capacity, kind: Kind) -> Option<f64> {
    match kind {
        Kind::Read => c.read_capacity_units(),
        Kind::Write => c.write_capacity_units(),
    }
}

/// The aggregate of a ConsumedCapacity: TableName, CapacityUnits and the per-kind field.
fn check_aggregate(
    what: &str,
    cc: &ConsumedCapacity,
    table: &str,
    kind: Kind,
    want: f64,
) -> Result<(), String> {
    if cc.table_name() != Some(table) {
        return Err(format!(
            "{what}: ConsumedCapacity.TableName is {:?}, want {table:?} ({cc:?})",
            cc.table_name()
        ));
    }
    match cc.capacity_units() {
        Some(u) if approx(u, want) => {}
        other => {
            return Err(format!(
                "{what}: CapacityUnits is {other:?}, want {want} ({cc:?})"
            ))
        }
    }
    match kind_units(cc, kind) {
        Some(u) if approx(u, want) => Ok(()),
        other => Err(format!(
            "{what}: {kind:?}CapacityUnits is {other:?}, want {want} (same as CapacityUnits) ({cc:?})"
        )),
    }
}

/// ReturnConsumedCapacity=TOTAL: the aggregate only, no Table / index breakdown.
fn check_total(
    what: &str,
    cc: Option<&ConsumedCapacity>,
    table: &str,
    kind: Kind,
    want: f64,
) -> Result<(), String> {
    let Some(cc) = cc else {
        return Err(format!(
            "{what}: no ConsumedCapacity with ReturnConsumedCapacity=TOTAL (want {want})"
        ));
    };
    check_aggregate(what, cc, table, kind, want)?;
    if cc.table().is_some()
        || cc.global_secondary_indexes().is_some()
        || cc.local_secondary_indexes().is_some()
    {
        return Err(format!(
            "{what}: TOTAL must not break the units down by table and index: {cc:?}"
        ));
    }
    Ok(())
}

/// What ReturnConsumedCapacity=INDEXES must report.
struct Want<'a> {
    total: f64,
    table: f64,
    gsi: &'a [(&'a str, f64)],
    lsi: &'a [(&'a str, f64)],
}

fn check_index_map(
    what: &str,
    member: &str,
    got: Option<&HashMap<String, aws_sdk_dynamodb::types::Capacity>>,
    want: &[(&str, f64)],
    kind: Kind,
) -> Result<(), String> {
    // An index with no units may be left out or reported with 0.
    let got_nonzero: BTreeMap<String, (Option<f64>, Option<f64>)> = got
        .into_iter()
        .flatten()
        .filter(|(_, c)| c.capacity_units().is_none_or(|u| !approx(u, 0.0)))
        .map(|(name, c)| {
            (
                name.clone(),
                (c.capacity_units(), capacity_units_of(c, kind)),
            )
        })
        .collect();
    let want_map: BTreeMap<String, f64> = want
        .iter()
        .filter(|(_, u)| !approx(*u, 0.0))
        .map(|(n, u)| (n.to_string(), *u))
        .collect();
    let same = got_nonzero.len() == want_map.len()
        && want_map.iter().all(|(name, w)| {
            got_nonzero.get(name).is_some_and(|(total, by_kind)| {
                total.is_some_and(|t| approx(t, *w)) && by_kind.is_some_and(|t| approx(t, *w))
            })
        });
    if same {
        Ok(())
    } else {
        Err(format!(
            "{what}: {member} is {got_nonzero:?} (CapacityUnits, {kind:?}CapacityUnits), want {want_map:?}"
        ))
    }
}

/// ReturnConsumedCapacity=INDEXES: the aggregate, the table's own units and each index's.
fn check_indexes(
    what: &str,
    cc: Option<&ConsumedCapacity>,
    table: &str,
    kind: Kind,
    want: Want<'_>,
) -> Result<(), String> {
    let Some(cc) = cc else {
        return Err(format!(
            "{what}: no ConsumedCapacity with ReturnConsumedCapacity=INDEXES"
        ));
    };
    check_aggregate(what, cc, table, kind, want.total)?;
    match cc.table() {
        Some(t)
            if t.capacity_units().is_some_and(|u| approx(u, want.table))
                && capacity_units_of(t, kind).is_some_and(|u| approx(u, want.table)) => {}
        // Reading only an index: a Table of 0 units may be reported or left out.
        None if approx(want.table, 0.0) => {}
        other => {
            return Err(format!(
                "{what}: ConsumedCapacity.Table is {other:?}, want {} units",
                want.table
            ))
        }
    }
    check_index_map(
        what,
        "GlobalSecondaryIndexes",
        cc.global_secondary_indexes(),
        want.gsi,
        kind,
    )?;
    check_index_map(
        what,
        "LocalSecondaryIndexes",
        cc.local_secondary_indexes(),
        want.lsi,
        kind,
    )
}

/// A multi-table ConsumedCapacity list: exactly one entry per table, each with its units.
fn check_per_table(
    what: &str,
    list: Option<&[ConsumedCapacity]>,
    kind: Kind,
    want: &[(&str, f64)],
) -> Result<(), String> {
    let Some(list) = list else {
        return Err(format!("{what}: no ConsumedCapacity list (want {want:?})"));
    };
    if list.len() != want.len() {
        return Err(format!(
            "{what}: {} ConsumedCapacity entries, want one per table {want:?}: {list:?}",
            list.len()
        ));
    }
    for (table, units) in want {
        let entries: Vec<&ConsumedCapacity> = list
            .iter()
            .filter(|c| c.table_name() == Some(*table))
            .collect();
        match entries.as_slice() {
            [one] => check_aggregate(what, one, table, kind, *units)?,
            _ => {
                return Err(format!(
                    "{what}: want exactly one entry for table {table}, got {list:?}"
                ))
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------

fn throughput(read: i64, write: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .unwrap()
}

/// Create a table (hash key `pk` S, optional range key `sk` S) on demand or provisioned
/// (read, write), and wait until it is ACTIVE.
async fn create(client: &Client, name: &str, with_sort: bool, provisioned: Option<(i64, i64)>) {
    let mut req = client
        .create_table()
        .table_name(name)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S));
    if with_sort {
        req = req
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(attr_def("sk", ScalarAttributeType::S));
    }
    req = match provisioned {
        None => req.billing_mode(BillingMode::PayPerRequest),
        Some((r, w)) => req
            .billing_mode(BillingMode::Provisioned)
            .provisioned_throughput(throughput(r, w)),
    };
    req.send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
    wait_active(client, name).await;
}

fn gsi(
    name: &str,
    hash: &str,
    projection: ProjectionType,
    provisioned: Option<(i64, i64)>,
) -> GlobalSecondaryIndex {
    let mut b = GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .projection(Projection::builder().projection_type(projection).build());
    if let Some((r, w)) = provisioned {
        b = b.provisioned_throughput(throughput(r, w));
    }
    b.build().unwrap()
}

fn lsi(name: &str, range: &str) -> LocalSecondaryIndex {
    LocalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Requests that report their outcome instead of panicking
// ---------------------------------------------------------------------------------------

/// The error code of a failed call (or a description of a non-service error).
fn code_of<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> String {
    match e.code() {
        Some(c) => c.to_owned(),
        None => format!("non-service error: {e:?}"),
    }
}

async fn try_put(client: &Client, table: &str, it: Attrs) -> Result<(), String> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(it))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code_of(&e))
}

/// Writes small new items until one fails (at most `max`); returns its code and message.
async fn first_write_error(
    client: &Client,
    table: &str,
    prefix: &str,
    max: usize,
) -> Option<(String, String)> {
    for i in 0..max {
        let r = client
            .put_item()
            .table_name(table)
            .set_item(Some(sized(&format!("{prefix}-{i:04}"), 1000)))
            .send()
            .await;
        if let Err(e) = r {
            return Some((code_of(&e), e.message().unwrap_or_default().to_owned()));
        }
    }
    None
}

async fn put_total(client: &Client, table: &str, it: Attrs) -> Option<ConsumedCapacity> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(it))
        .return_consumed_capacity(TOTAL)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItem into {table}: {e:?}"))
        .consumed_capacity
}

async fn get_cc(
    client: &Client,
    table: &str,
    key: Attrs,
    consistent: Option<bool>,
    detail: ReturnConsumedCapacity,
) -> Option<ConsumedCapacity> {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .set_consistent_read(consistent)
        .return_consumed_capacity(detail)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetItem from {table}: {e:?}"))
        .consumed_capacity
}

async fn update_cc(
    client: &Client,
    table: &str,
    key: Attrs,
    expr: &str,
    vals: Option<HashMap<String, AttributeValue>>,
    detail: ReturnConsumedCapacity,
) -> Option<ConsumedCapacity> {
    client
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(expr)
        .set_expression_attribute_values(vals)
        .return_consumed_capacity(detail)
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateItem {expr} on {table}: {e:?}"))
        .consumed_capacity
}

async fn delete_cc(
    client: &Client,
    table: &str,
    key: Attrs,
    detail: ReturnConsumedCapacity,
) -> Option<ConsumedCapacity> {
    client
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .return_consumed_capacity(detail)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteItem from {table}: {e:?}"))
        .consumed_capacity
}

// ---------------------------------------------------------------------------------------
// 1. Accounting
// ---------------------------------------------------------------------------------------

/// PutItem, GetItem, UpdateItem and DeleteItem against the 1 KB / 4 KB boundaries, both
/// read consistencies, and the NONE / TOTAL / INDEXES shapes.
#[tokio::test]
async fn single_item_operations_consume_dynamodbs_units() {
    let server = TestServer::start();
    let client = server.client();
    let t = "cap-items";
    create(&client, t, false, None).await;
    let mut f = Failures::new();

    // New items on each side of the boundaries.
    for (pk, size) in [("a1", 1024), ("a2", 1025), ("a4", 4096), ("a5", 4097)] {
        let cc = put_total(&client, t, sized(pk, size)).await;
        f.check(check_total(
            &format!("PutItem new {size}-byte item"),
            cc.as_ref(),
            t,
            Kind::Write,
            wu(size),
        ));
    }
    let cc = put_total(&client, t, key1("tiny")).await;
    f.check(check_total(
        "PutItem of a 7-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        1.0,
    ));
    // Overwrites cost the larger of the old and the new item.
    let cc = put_total(&client, t, sized("a1", 3000)).await;
    f.check(check_total(
        "PutItem of 3000 bytes over 1024",
        cc.as_ref(),
        t,
        Kind::Write,
        3.0,
    ));
    let cc = put_total(&client, t, sized("a1", 1024)).await;
    f.check(check_total(
        "PutItem of 1024 bytes over 3000",
        cc.as_ref(),
        t,
        Kind::Write,
        3.0,
    ));

    // Reads: 4 KB units, half when eventually consistent (the default).
    for (pk, size) in [("a1", 1024), ("a2", 1025), ("a4", 4096), ("a5", 4097)] {
        for (consistent, factor, label) in [
            (Some(true), 1.0, "consistent"),
            (Some(false), 0.5, "eventually consistent"),
            (None, 0.5, "default (eventually consistent)"),
        ] {
            let cc = get_cc(&client, t, key1(pk), consistent, TOTAL).await;
            f.check(check_total(
                &format!("GetItem {label} of a {size}-byte item"),
                cc.as_ref(),
                t,
                Kind::Read,
                ru(size) * factor,
            ));
        }
    }
    let cc = get_cc(&client, t, key1("missing"), Some(true), TOTAL).await;
    f.check(check_total(
        "GetItem consistent of a missing item",
        cc.as_ref(),
        t,
        Kind::Read,
        1.0,
    ));
    let cc = get_cc(&client, t, key1("missing"), None, TOTAL).await;
    f.check(check_total(
        "GetItem eventually consistent of a missing item",
        cc.as_ref(),
        t,
        Kind::Read,
        0.5,
    ));
    let out = client
        .get_item()
        .table_name(t)
        .set_key(Some(key1("a5")))
        .consistent_read(true)
        .projection_expression("pk")
        .return_consumed_capacity(TOTAL)
        .send()
        .await
        .expect("GetItem with a projection");
    f.check(check_total(
        "GetItem consistent of a 4097-byte item projected to its key",
        out.consumed_capacity(),
        t,
        Kind::Read,
        2.0,
    ));

    // UpdateItem: the larger of the item before and after.
    put_ok(&client, t, sized("u", 500)).await;
    let big = "y".repeat(3000); // the item becomes 2+1 + 1+3000 = 3004 bytes
    let cc = update_cc(
        &client,
        t,
        key1("u"),
        "SET d = :v",
        Some(values(&[(":v", s(&big))])),
        TOTAL,
    )
    .await;
    f.check(check_total(
        "UpdateItem growing 500 → 3004 bytes",
        cc.as_ref(),
        t,
        Kind::Write,
        3.0,
    ));
    let cc = update_cc(
        &client,
        t,
        key1("u"),
        "SET d = :v",
        Some(values(&[(":v", s("y"))])),
        TOTAL,
    )
    .await;
    f.check(check_total(
        "UpdateItem shrinking 3004 → 5 bytes",
        cc.as_ref(),
        t,
        Kind::Write,
        3.0,
    ));
    let cc = update_cc(
        &client,
        t,
        key1("u"),
        "SET e = :v",
        Some(values(&[(":v", s("z"))])),
        TOTAL,
    )
    .await;
    f.check(check_total(
        "UpdateItem of a 5-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        1.0,
    ));
    let cc = update_cc(
        &client,
        t,
        key1("nu"),
        "SET d = :v",
        Some(values(&[(":v", s(&"y".repeat(2000)))])),
        TOTAL,
    )
    .await;
    f.check(check_total(
        "UpdateItem creating a 2005-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        2.0,
    ));

    // DeleteItem: the deleted item's size; 1 when there is none.
    let cc = delete_cc(&client, t, key1("a5"), TOTAL).await;
    f.check(check_total(
        "DeleteItem of a 4097-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        5.0,
    ));
    let cc = delete_cc(&client, t, key1("a2"), TOTAL).await;
    f.check(check_total(
        "DeleteItem of a 1025-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        2.0,
    ));
    let cc = delete_cc(&client, t, key1("missing"), TOTAL).await;
    f.check(check_total(
        "DeleteItem of a missing item",
        cc.as_ref(),
        t,
        Kind::Write,
        1.0,
    ));

    // NONE, or no ReturnConsumedCapacity at all: nothing reported.
    let out = client
        .put_item()
        .table_name(t)
        .set_item(Some(sized("n", 100)))
        .return_consumed_capacity(ReturnConsumedCapacity::None)
        .send()
        .await
        .expect("PutItem NONE");
    if out.consumed_capacity.is_some() {
        f.push(format!(
            "PutItem with NONE reported {:?}",
            out.consumed_capacity
        ));
    }
    let out = client
        .put_item()
        .table_name(t)
        .set_item(Some(sized("n", 100)))
        .send()
        .await
        .expect("PutItem");
    if out.consumed_capacity.is_some() {
        f.push(format!(
            "PutItem without ReturnConsumedCapacity reported {:?}",
            out.consumed_capacity
        ));
    }
    let cc = get_cc(&client, t, key1("n"), None, ReturnConsumedCapacity::None).await;
    if cc.is_some() {
        f.push(format!("GetItem with NONE reported {cc:?}"));
    }
    let cc = update_cc(
        &client,
        t,
        key1("n"),
        "SET e = :v",
        Some(values(&[(":v", s("1"))])),
        ReturnConsumedCapacity::None,
    )
    .await;
    if cc.is_some() {
        f.push(format!("UpdateItem with NONE reported {cc:?}"));
    }

    // INDEXES on a table without indexes: the table's own units, no index maps.
    let out = client
        .put_item()
        .table_name(t)
        .set_item(Some(sized("i", 2000)))
        .return_consumed_capacity(INDEXES)
        .send()
        .await
        .expect("PutItem INDEXES");
    f.check(check_indexes(
        "PutItem INDEXES of a 2000-byte item",
        out.consumed_capacity(),
        t,
        Kind::Write,
        Want {
            total: 2.0,
            table: 2.0,
            gsi: &[],
            lsi: &[],
        },
    ));
    let cc = get_cc(&client, t, key1("i"), None, INDEXES).await;
    f.check(check_indexes(
        "GetItem INDEXES eventually consistent of a 2000-byte item",
        cc.as_ref(),
        t,
        Kind::Read,
        Want {
            total: 0.5,
            table: 0.5,
            gsi: &[],
            lsi: &[],
        },
    ));
    let cc = delete_cc(&client, t, key1("i"), INDEXES).await;
    f.check(check_indexes(
        "DeleteItem INDEXES of a 2000-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 2.0,
            table: 2.0,
            gsi: &[],
            lsi: &[],
        },
    ));

    // ReturnConsumedCapacity is an enum.
    let r = client
        .put_item()
        .table_name(t)
        .set_item(Some(key1("v")))
        .return_consumed_capacity(ReturnConsumedCapacity::from("EVERYTHING"))
        .send()
        .await;
    f.check(check_err(
        "PutItem with ReturnConsumedCapacity=EVERYTHING",
        r,
        VALIDATION,
        Some("returnConsumedCapacity"),
    ));
    let r = client
        .get_item()
        .table_name(t)
        .set_key(Some(key1("v")))
        .return_consumed_capacity(ReturnConsumedCapacity::from("total"))
        .send()
        .await;
    f.check(check_err(
        "GetItem with ReturnConsumedCapacity=total (lower case)",
        r,
        VALIDATION,
        Some("returnConsumedCapacity"),
    ));
    f.assert_none();
}

/// Query and Scan: the total size of the items read (before any filter, whatever the
/// projection or Select), rounded up to 4 KB once.
#[tokio::test]
async fn query_and_scan_round_the_total_read_once() {
    let server = TestServer::start();
    let client = server.client();
    let t = "cap-query";
    create(&client, t, true, None).await;
    let mut f = Failures::new();

    // Three 1500-byte items under "q": 4500 bytes in all → 2 units (3 if each item were
    // rounded up on its own).
    for sk in ["1", "2", "3"] {
        put_ok(&client, t, sized2("q", sk, 1500)).await;
    }
    put_ok(&client, t, sized2("r", "1", 5000)).await;
    put_ok(&client, t, sized2("s", "1", 100)).await;
    let table_bytes = 4500 + 5000 + 100;

    struct Case {
        what: &'static str,
        pk: &'static str,
        sk_from: Option<&'static str>,
        filter_nothing: bool,
        count: bool,
        project: bool,
        limit: Option<i32>,
        consistent: bool,
        want: f64,
    }
    let base = Case {
        what: "",
        pk: "q",
        sk_from: None,
        filter_nothing: false,
        count: false,
        project: false,
        limit: None,
        consistent: true,
        want: 0.0,
    };
    let cases = [
        Case {
            what: "Query consistent of 3 × 1500 bytes",
            want: 2.0,
            ..base
        },
        Case {
            what: "Query eventually consistent of 3 × 1500 bytes",
            consistent: false,
            want: 1.0,
            ..base
        },
        Case {
            what: "Query consistent of 3 × 1500 bytes, filter matching nothing",
            filter_nothing: true,
            want: 2.0,
            ..base
        },
        Case {
            what: "Query consistent of 3 × 1500 bytes, Select=COUNT",
            count: true,
            want: 2.0,
            ..base
        },
        Case {
            what: "Query consistent of 3 × 1500 bytes, projected to the key",
            project: true,
            want: 2.0,
            ..base
        },
        Case {
            what: "Query consistent, Limit 1 (1500 bytes)",
            limit: Some(1),
            want: 1.0,
            ..base
        },
        Case {
            what: "Query eventually consistent, Limit 1 (1500 bytes)",
            limit: Some(1),
            consistent: false,
            want: 0.5,
            ..base
        },
        Case {
            what: "Query consistent, sk >= 2 (2 × 1500 bytes)",
            sk_from: Some("2"),
            want: 1.0,
            ..base
        },
        Case {
            what: "Query consistent of one 5000-byte item",
            pk: "r",
            want: 2.0,
            ..base
        },
        Case {
            what: "Query eventually consistent of one 5000-byte item",
            pk: "r",
            consistent: false,
            want: 1.0,
            ..base
        },
        Case {
            what: "Query consistent matching no item",
            pk: "none",
            want: 1.0,
            ..base
        },
        Case {
            what: "Query eventually consistent matching no item",
            pk: "none",
            consistent: false,
            want: 0.5,
            ..base
        },
    ];
    for c in &cases {
        let mut vals = values(&[(":p", s(c.pk))]);
        let mut cond = "pk = :p".to_string();
        if let Some(from) = c.sk_from {
            cond.push_str(" AND sk >= :f");
            vals.insert(":f".into(), s(from));
        }
        let mut req = client
            .query()
            .table_name(t)
            .key_condition_expression(cond)
            .consistent_read(c.consistent)
            .return_consumed_capacity(TOTAL)
            .set_limit(c.limit);
        if c.filter_nothing {
            req = req.filter_expression("d = :nope");
            vals.insert(":nope".into(), s("nope"));
        }
        if c.count {
            req = req.select(Select::Count);
        }
        if c.project {
            req = req.projection_expression("pk");
        }
        let out = req
            .set_expression_attribute_values(Some(vals))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", c.what));
        f.check(check_total(
            c.what,
            out.consumed_capacity(),
            t,
            Kind::Read,
            c.want,
        ));
    }

    // Scan: every item evaluated, 9600 bytes → 3 units.
    let want = ru(table_bytes);
    for (what, consistent, filter, count, factor) in [
        ("Scan consistent", true, false, false, 1.0),
        ("Scan eventually consistent", false, false, false, 0.5),
        (
            "Scan consistent, filter matching nothing",
            true,
            true,
            false,
            1.0,
        ),
        ("Scan consistent, Select=COUNT", true, false, true, 1.0),
    ] {
        let mut req = client
            .scan()
            .table_name(t)
            .consistent_read(consistent)
            .return_consumed_capacity(TOTAL);
        if filter {
            req = req
                .filter_expression("d = :nope")
                .expression_attribute_values(":nope", s("nope"));
        }
        if count {
            req = req.select(Select::Count);
        }
        let out = req.send().await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert!(
            out.last_evaluated_key().is_none(),
            "{what}: a 9600-byte table fits one page"
        );
        f.check(check_total(
            &format!("{what} of {table_bytes} bytes"),
            out.consumed_capacity(),
            t,
            Kind::Read,
            want * factor,
        ));
    }

    // INDEXES on a table read: the table's units, no index maps.
    let out = client
        .query()
        .table_name(t)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("q"))
        .return_consumed_capacity(INDEXES)
        .send()
        .await
        .expect("Query INDEXES");
    f.check(check_indexes(
        "Query INDEXES eventually consistent of 3 × 1500 bytes",
        out.consumed_capacity(),
        t,
        Kind::Read,
        Want {
            total: 1.0,
            table: 1.0,
            gsi: &[],
            lsi: &[],
        },
    ));
    let out = client
        .query()
        .table_name(t)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("q"))
        .return_consumed_capacity(ReturnConsumedCapacity::None)
        .send()
        .await
        .expect("Query NONE");
    if out.consumed_capacity.is_some() {
        f.push(format!(
            "Query with NONE reported {:?}",
            out.consumed_capacity
        ));
    }
    let out = client.scan().table_name(t).send().await.expect("Scan");
    if out.consumed_capacity.is_some() {
        f.push(format!(
            "Scan without ReturnConsumedCapacity reported {:?}",
            out.consumed_capacity
        ));
    }
    f.assert_none();
}

/// BatchGetItem rounds each item up on its own; BatchWriteItem too; one entry per table.
#[tokio::test]
async fn batch_operations_round_each_item_and_report_each_table() {
    let server = TestServer::start();
    let client = server.client();
    let (ta, tb) = ("cap-batch-a", "cap-batch-b");
    create(&client, ta, false, None).await;
    create(&client, tb, false, None).await;
    let mut f = Failures::new();
    put_ok(&client, ta, sized("a1", 1024)).await;
    put_ok(&client, ta, sized("a5", 4097)).await;
    put_ok(&client, tb, sized("b4", 4096)).await;

    let keys = |pks: &[&str], consistent: Option<bool>| {
        KeysAndAttributes::builder()
            .set_keys(Some(pks.iter().map(|p| key1(p)).collect()))
            .set_consistent_read(consistent)
            .build()
            .unwrap()
    };
    // Table a: 1024 (1), 4097 (2) and a missing key (1): 4 consistent units, 2 eventual —
    // rounding the 5121 bytes once would give 2 and 1.
    let out = client
        .batch_get_item()
        .request_items(ta, keys(&["a1", "a5", "gone"], None))
        .request_items(tb, keys(&["b4"], Some(true)))
        .return_consumed_capacity(TOTAL)
        .send()
        .await
        .expect("BatchGetItem");
    assert!(
        out.unprocessed_keys().is_none_or(|u| u.is_empty()),
        "BatchGetItem left keys unprocessed: {:?}",
        out.unprocessed_keys()
    );
    f.check(check_per_table(
        "BatchGetItem TOTAL (a eventually consistent, b consistent)",
        out.consumed_capacity.as_deref(),
        Kind::Read,
        &[(ta, 2.0), (tb, 1.0)],
    ));
    let out = client
        .batch_get_item()
        .request_items(ta, keys(&["a1", "a5", "gone"], Some(true)))
        .return_consumed_capacity(INDEXES)
        .send()
        .await
        .expect("BatchGetItem consistent");
    f.check(check_per_table(
        "BatchGetItem INDEXES consistent of 1024 + 4097 + missing",
        out.consumed_capacity.as_deref(),
        Kind::Read,
        &[(ta, 4.0)],
    ));
    if let Some([one]) = out.consumed_capacity.as_deref() {
        f.check(check_indexes(
            "BatchGetItem INDEXES entry",
            Some(one),
            ta,
            Kind::Read,
            Want {
                total: 4.0,
                table: 4.0,
                gsi: &[],
                lsi: &[],
            },
        ));
    }
    let out = client
        .batch_get_item()
        .request_items(ta, keys(&["a1"], None))
        .send()
        .await
        .expect("BatchGetItem without ReturnConsumedCapacity");
    if out.consumed_capacity.is_some() {
        f.push(format!(
            "BatchGetItem without ReturnConsumedCapacity reported {:?}",
            out.consumed_capacity
        ));
    }

    // BatchWriteItem: a: put 1025 (2) + put 4097 (5) + delete 1024 (1) + delete missing
    // (1) = 9; b: put 100 bytes over 4096 (4).
    let put = |it: Attrs| {
        WriteRequest::builder()
            .put_request(PutRequest::builder().set_item(Some(it)).build().unwrap())
            .build()
    };
    let del = |k: Attrs| {
        WriteRequest::builder()
            .delete_request(DeleteRequest::builder().set_key(Some(k)).build().unwrap())
            .build()
    };
    let out = client
        .batch_write_item()
        .request_items(
            ta,
            vec![
                put(sized("n2", 1025)),
                put(sized("n5", 4097)),
                del(key1("a1")),
                del(key1("gone")),
            ],
        )
        .request_items(tb, vec![put(sized("b4", 100))])
        .return_consumed_capacity(TOTAL)
        .send()
        .await
        .expect("BatchWriteItem");
    assert!(
        out.unprocessed_items().is_none_or(|u| u.is_empty()),
        "BatchWriteItem left items unprocessed: {:?}",
        out.unprocessed_items()
    );
    f.check(check_per_table(
        "BatchWriteItem TOTAL",
        out.consumed_capacity.as_deref(),
        Kind::Write,
        &[(ta, 9.0), (tb, 4.0)],
    ));
    let out = client
        .batch_write_item()
        .request_items(ta, vec![put(sized("n6", 300))])
        .return_consumed_capacity(ReturnConsumedCapacity::None)
        .send()
        .await
        .expect("BatchWriteItem NONE");
    if out.consumed_capacity.is_some() {
        f.push(format!(
            "BatchWriteItem with NONE reported {:?}",
            out.consumed_capacity
        ));
    }
    f.assert_none();
}

fn tx_put(table: &str, it: Attrs) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(it))
                .build()
                .unwrap(),
        )
        .build()
}

fn tx_update(
    table: &str,
    key: Attrs,
    expr: &str,
    vals: &[(&str, AttributeValue)],
) -> TransactWriteItem {
    TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key))
                .update_expression(expr)
                .set_expression_attribute_values(Some(values(vals)))
                .build()
                .unwrap(),
        )
        .build()
}

fn tx_delete(table: &str, key: Attrs) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key))
                .build()
                .unwrap(),
        )
        .build()
}

fn tx_get(table: &str, key: Attrs) -> TransactGetItem {
    TransactGetItem::builder()
        .get(
            Get::builder()
                .table_name(table)
                .set_key(Some(key))
                .build()
                .unwrap(),
        )
        .build()
}

async fn transact_cc(
    client: &Client,
    what: &str,
    items: Vec<TransactWriteItem>,
    detail: ReturnConsumedCapacity,
) -> Option<Vec<ConsumedCapacity>> {
    client
        .transact_write_items()
        .set_transact_items(Some(items))
        .return_consumed_capacity(detail)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: TransactWriteItems failed: {e:?}"))
        .consumed_capacity
}

/// TransactWriteItems and TransactGetItems cost twice their single-item equivalents.
#[tokio::test]
async fn transactions_cost_double() {
    let server = TestServer::start();
    let client = server.client();
    // "zz" comes first in the requests below and last alphabetically.
    let (tz, ta) = ("zz-cap-tx", "aa-cap-tx");
    create(&client, tz, false, None).await;
    create(&client, ta, false, None).await;
    let mut f = Failures::new();
    put_ok(&client, tz, sized("p500", 500)).await;
    put_ok(&client, tz, sized("d4097", 4097)).await;
    put_ok(&client, tz, sized("u500", 500)).await;
    put_ok(&client, ta, sized("g1024", 1024)).await;
    put_ok(&client, ta, sized("g4097", 4097)).await;

    let cc = transact_cc(
        &client,
        "two new items",
        vec![
            tx_put(tz, sized("n1025", 1025)),
            tx_put(ta, sized("a100", 100)),
        ],
        TOTAL,
    )
    .await;
    f.check(check_per_table(
        "TransactWriteItems Put 1025 bytes into zz, 100 bytes into aa",
        cc.as_deref(),
        Kind::Write,
        &[(tz, 4.0), (ta, 2.0)],
    ));
    if let Some(list) = &cc {
        let order: Vec<Option<&str>> = list.iter().map(|c| c.table_name()).collect();
        if list.len() == 2 && order != [Some(tz), Some(ta)] {
            f.push(format!(
                "TransactWriteItems ConsumedCapacity must follow the order of TransactItems \
                 ([{tz}, {ta}]), got {order:?}"
            ));
        }
    }
    let cc = transact_cc(&client, "delete", vec![tx_delete(tz, key1("d4097"))], TOTAL).await;
    f.check(check_per_table(
        "TransactWriteItems Delete of a 4097-byte item",
        cc.as_deref(),
        Kind::Write,
        &[(tz, 10.0)],
    ));
    let cc = transact_cc(
        &client,
        "overwrite",
        vec![tx_put(tz, sized("p500", 3000))],
        TOTAL,
    )
    .await;
    f.check(check_per_table(
        "TransactWriteItems Put of 3000 bytes over 500",
        cc.as_deref(),
        Kind::Write,
        &[(tz, 6.0)],
    ));
    let big = "y".repeat(3000);
    let cc = transact_cc(
        &client,
        "growing update",
        vec![tx_update(
            tz,
            key1("u500"),
            "SET d = :v",
            &[(":v", s(&big))],
        )],
        TOTAL,
    )
    .await;
    f.check(check_per_table(
        "TransactWriteItems Update growing 500 → 3004 bytes (the larger is 3 units, ×2)",
        cc.as_deref(),
        Kind::Write,
        &[(tz, 6.0)],
    ));
    let cc = transact_cc(
        &client,
        "creating update",
        vec![tx_update(
            tz,
            key1("nu"),
            "SET d = :v",
            &[(":v", s(&"y".repeat(2000)))],
        )],
        TOTAL,
    )
    .await;
    f.check(check_per_table(
        "TransactWriteItems Update creating a 2005-byte item (2 units, ×2)",
        cc.as_deref(),
        Kind::Write,
        &[(tz, 4.0)],
    ));
    let cc = transact_cc(
        &client,
        "NONE",
        vec![tx_put(tz, sized("n2", 100))],
        ReturnConsumedCapacity::None,
    )
    .await;
    if cc.is_some() {
        f.push(format!("TransactWriteItems with NONE reported {cc:?}"));
    }

    // TransactGetItems: 1024 (1 ×2), 4097 (2 ×2), missing (1 ×2).
    let out = client
        .transact_get_items()
        .transact_items(tx_get(ta, key1("g1024")))
        .transact_items(tx_get(ta, key1("g4097")))
        .transact_items(tx_get(tz, key1("gone")))
        .return_consumed_capacity(TOTAL)
        .send()
        .await
        .expect("TransactGetItems");
    f.check(check_per_table(
        "TransactGetItems of 1024 + 4097 bytes from aa and a missing item from zz",
        out.consumed_capacity.as_deref(),
        Kind::Read,
        &[(ta, 6.0), (tz, 2.0)],
    ));
    let out = client
        .transact_get_items()
        .transact_items(tx_get(ta, key1("g1024")))
        .send()
        .await
        .expect("TransactGetItems without ReturnConsumedCapacity");
    if out.consumed_capacity.is_some() {
        f.push(format!(
            "TransactGetItems without ReturnConsumedCapacity reported {:?}",
            out.consumed_capacity
        ));
    }
    f.assert_none();
}

/// Index units with INDEXES: a GSI with ALL projection (entry = item), an LSI and a GSI
/// with KEYS_ONLY projection; puts, in-place updates, key moves, removals, deletes, and
/// reads of indexes by entry size.
#[tokio::test]
async fn index_writes_and_reads_report_each_index() {
    let server = TestServer::start();
    let client = server.client();
    let t = "cap-indexes";
    client
        .create_table()
        .table_name(t)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("hk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("lk", ScalarAttributeType::S))
        .global_secondary_indexes(gsi("gall", "gk", ProjectionType::All, None))
        .global_secondary_indexes(gsi("gkeys", "hk", ProjectionType::KeysOnly, None))
        .local_secondary_indexes(lsi("lkeys", "lk"))
        .send()
        .await
        .expect("CreateTable with indexes");
    wait_gsis_active(&client, t).await;
    let mut f = Failures::new();

    let put_indexes = |it: Attrs| {
        let client = client.clone();
        async move {
            client
                .put_item()
                .table_name(t)
                .set_item(Some(it))
                .return_consumed_capacity(INDEXES)
                .send()
                .await
                .expect("PutItem INDEXES")
                .consumed_capacity
        }
    };
    let upd = |expr: &'static str, vals: Option<HashMap<String, AttributeValue>>| {
        update_cc(&client, t, key2("p", "1"), expr, vals, INDEXES)
    };

    // a. A new 500-byte item in gall (1) and lkeys (1; keys only: 9 bytes).
    let i1 = padded(
        item(&[
            ("pk", s("p")),
            ("sk", s("1")),
            ("gk", s("A")),
            ("lk", s("L")),
        ]),
        500,
    );
    let cc = put_indexes(i1).await;
    f.check(check_indexes(
        "a. PutItem of a new 500-byte item with gk and lk",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 3.0,
            table: 1.0,
            gsi: &[("gall", 1.0)],
            lsi: &[("lkeys", 1.0)],
        },
    ));
    // b. Grow to 2500 bytes: the gall entry is rewritten in place (3); lkeys unchanged.
    // 12 bytes of key attributes (pk, sk, gk, lk), "d" and 2487 bytes: 2500.
    let grown = "x".repeat(2487);
    let cc = upd("SET d = :v", Some(values(&[(":v", s(&grown))]))).await;
    f.check(check_indexes(
        "b. UpdateItem growing 500 → 2500 bytes, index keys unchanged",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 6.0,
            table: 3.0,
            gsi: &[("gall", 3.0)],
            lsi: &[],
        },
    ));
    // c. Move the gall key: delete the old entry (3) and put the new one (3).
    let cc = upd("SET gk = :v", Some(values(&[(":v", s("B"))]))).await;
    f.check(check_indexes(
        "c. UpdateItem changing gk A → B on a 2500-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 9.0,
            table: 3.0,
            gsi: &[("gall", 6.0)],
            lsi: &[],
        },
    ));
    // d. Remove gk: one write deletes the entry.
    let cc = upd("REMOVE gk", None).await;
    f.check(check_indexes(
        "d. UpdateItem removing gk from a 2500-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 6.0,
            table: 3.0,
            gsi: &[("gall", 3.0)],
            lsi: &[],
        },
    ));
    // e. Set gk again: one write puts the entry.
    let cc = upd("SET gk = :v", Some(values(&[(":v", s("C"))]))).await;
    f.check(check_indexes(
        "e. UpdateItem adding gk back to a 2497-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 6.0,
            table: 3.0,
            gsi: &[("gall", 3.0)],
            lsi: &[],
        },
    ));
    // f. Move the lkeys key: two writes on the LSI; gall (ALL) rewritten in place.
    let cc = upd("SET lk = :v", Some(values(&[(":v", s("M"))]))).await;
    f.check(check_indexes(
        "f. UpdateItem changing lk L → M on a 2500-byte item",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 8.0,
            table: 3.0,
            gsi: &[("gall", 3.0)],
            lsi: &[("lkeys", 2.0)],
        },
    ));
    // g. An item in no index.
    let cc = put_indexes(sized2("p", "2", 500)).await;
    f.check(check_indexes(
        "g. PutItem of a 500-byte item without index keys",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 1.0,
            table: 1.0,
            gsi: &[],
            lsi: &[],
        },
    ));
    // h. Delete: the item and both entries.
    let cc = delete_cc(&client, t, key2("p", "1"), INDEXES).await;
    f.check(check_indexes(
        "h. DeleteItem of a 2500-byte item in gall and lkeys",
        cc.as_ref(),
        t,
        Kind::Write,
        Want {
            total: 7.0,
            table: 3.0,
            gsi: &[("gall", 3.0)],
            lsi: &[("lkeys", 1.0)],
        },
    ));
    // i. A KEYS_ONLY GSI entry of a 3000-byte item is small: 1 unit.
    for sk in ["1", "2", "3"] {
        let it = padded(
            item(&[
                ("pk", s("h")),
                ("sk", s(sk)),
                ("hk", s("H")),
                ("lk", s("K")),
            ]),
            3000,
        );
        let cc = put_indexes(it).await;
        f.check(check_indexes(
            &format!("i. PutItem of a 3000-byte item in gkeys and lkeys (sk {sk})"),
            cc.as_ref(),
            t,
            Kind::Write,
            Want {
                total: 5.0,
                table: 3.0,
                gsi: &[("gkeys", 1.0)],
                lsi: &[("lkeys", 1.0)],
            },
        ));
    }
    // Three 1500-byte items in gall under "Q": 4500 bytes of entries.
    for sk in ["q1", "q2", "q3"] {
        let it = padded(item(&[("pk", s("g")), ("sk", s(sk)), ("gk", s("Q"))]), 1500);
        put_ok(&client, t, it).await;
    }

    // Reads of indexes: eventually consistent, on the entries' sizes, on the index.
    let query_index = |index: &'static str, cond: &'static str, v: &'static str| {
        let client = client.clone();
        async move {
            client
                .query()
                .table_name(t)
                .index_name(index)
                .key_condition_expression(cond)
                .expression_attribute_values(":v", s(v))
                .select(Select::AllProjectedAttributes)
                .return_consumed_capacity(INDEXES)
                .send()
                .await
                .unwrap_or_else(|e| panic!("Query {index}: {e:?}"))
        }
    };
    let out = query_index("gall", "gk = :v", "Q").await;
    f.check(check_indexes(
        "Query gall (ALL) of 3 × 1500-byte entries",
        out.consumed_capacity(),
        t,
        Kind::Read,
        Want {
            total: 1.0,
            table: 0.0,
            gsi: &[("gall", 1.0)],
            lsi: &[],
        },
    ));
    let out = query_index("gkeys", "hk = :v", "H").await;
    assert_eq!(out.count(), 3, "gkeys holds the three items with hk");
    f.check(check_indexes(
        "Query gkeys (KEYS_ONLY) of the entries of 3 × 3000-byte items",
        out.consumed_capacity(),
        t,
        Kind::Read,
        Want {
            total: 0.5,
            table: 0.0,
            gsi: &[("gkeys", 0.5)],
            lsi: &[],
        },
    ));
    let out = query_index("lkeys", "pk = :v", "h").await;
    assert_eq!(out.count(), 3, "lkeys holds the three items under h");
    f.check(check_indexes(
        "Query lkeys (KEYS_ONLY, projected attributes only) of the entries of 3 × 3000-byte items",
        out.consumed_capacity(),
        t,
        Kind::Read,
        Want {
            total: 0.5,
            table: 0.0,
            gsi: &[],
            lsi: &[("lkeys", 0.5)],
        },
    ));
    let out_total = client
        .query()
        .table_name(t)
        .index_name("gall")
        .key_condition_expression("gk = :v")
        .expression_attribute_values(":v", s("Q"))
        .return_consumed_capacity(TOTAL)
        .send()
        .await
        .expect("Query gall TOTAL");
    f.check(check_total(
        "Query gall TOTAL",
        out_total.consumed_capacity(),
        t,
        Kind::Read,
        1.0,
    ));
    let out = client
        .scan()
        .table_name(t)
        .index_name("gall")
        .return_consumed_capacity(INDEXES)
        .send()
        .await
        .expect("Scan gall");
    f.check(check_indexes(
        "Scan gall of 3 × 1500-byte entries",
        out.consumed_capacity(),
        t,
        Kind::Read,
        Want {
            total: 1.0,
            table: 0.0,
            gsi: &[("gall", 1.0)],
            lsi: &[],
        },
    ));
    // GetItem never reads an index.
    let cc = get_cc(&client, t, key2("g", "q1"), Some(true), INDEXES).await;
    f.check(check_indexes(
        "GetItem INDEXES on a table with indexes",
        cc.as_ref(),
        t,
        Kind::Read,
        Want {
            total: 1.0,
            table: 1.0,
            gsi: &[],
            lsi: &[],
        },
    ));

    // A transactional put updates gall and lkeys too; the index writes are consumed
    // (at least the standard 1 unit each; the table's own write costs 2).
    let it = padded(
        item(&[
            ("pk", s("t")),
            ("sk", s("1")),
            ("gk", s("T")),
            ("lk", s("T")),
        ]),
        500,
    );
    let cc = transact_cc(&client, "indexed put", vec![tx_put(t, it)], INDEXES).await;
    match cc.as_deref() {
        Some([one]) => {
            let table_units = one.table().and_then(|c| c.capacity_units());
            if !table_units.is_some_and(|u| approx(u, 2.0)) {
                f.push(format!(
                    "TransactWriteItems INDEXES Put of a 500-byte item: Table is {table_units:?}, want 2"
                ));
            }
            let g = one
                .global_secondary_indexes()
                .and_then(|m| m.get("gall"))
                .and_then(|c| c.capacity_units());
            let l = one
                .local_secondary_indexes()
                .and_then(|m| m.get("lkeys"))
                .and_then(|c| c.capacity_units());
            if !g.is_some_and(|u| u >= 1.0) || !l.is_some_and(|u| u >= 1.0) {
                f.push(format!(
                    "TransactWriteItems INDEXES Put of an item with gk and lk: the index writes \
                     must be reported (gall {g:?}, lkeys {l:?}); got {one:?}"
                ));
            }
        }
        other => f.push(format!(
            "TransactWriteItems INDEXES on one table: want one entry, got {other:?}"
        )),
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Charges seen through a provisioned table's burst
// ---------------------------------------------------------------------------------------

/// A write that costs exactly one unit (a new, tiny item), for spending a burst.
fn probe_item(with_sort: bool, i: usize) -> Attrs {
    let mut it = key1(&format!("probe-{i:04}"));
    if with_sort {
        it.insert("sk".into(), s("0"));
    }
    it
}

/// Spends what is left of a 1-WCU table's write burst with one-unit writes, one at a
/// time, and returns how many were admitted before the first throttle. A fresh table
/// admits 300 (its 300-second burst) plus whatever refilled meanwhile.
async fn writes_until_throttled(client: &Client, table: &str, with_sort: bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..1000 {
        assert!(
            Instant::now() < deadline,
            "{table}: burst not spent within 30 s"
        );
        match try_put(client, table, probe_item(with_sort, i)).await {
            Ok(()) => {}
            Err(code) if code == PTEE => return i,
            Err(other) => panic!("{table}: probe write {i} failed with {other}"),
        }
    }
    panic!("{table}: 1000 one-unit writes were never throttled (1 WCU table)");
}

/// Runs `spend` on a fresh 1-WCU table and measures, through the burst left, how many
/// write units it consumed: within [`want` - refill - 1, `want`].
async fn measure_write_units<Fut: std::future::Future<Output = ()>>(
    client: Client,
    table: &'static str,
    with_sort: bool,
    want: f64,
    what: &'static str,
    spend: impl FnOnce(Client) -> Fut,
) -> Result<(), String> {
    let created = Instant::now();
    spend(client.clone()).await;
    let admitted = writes_until_throttled(&client, table, with_sort).await;
    let consumed = 300.0 - admitted as f64;
    // Refill at 1 unit per second since the table was created, plus one for rounding.
    let slack = created.elapsed().as_secs_f64().ceil() + 1.0;
    if consumed > want + 0.5 || consumed < want - slack - 0.5 {
        Err(format!(
            "{what}: consumed about {consumed} write units of {table}'s burst (300 - {admitted} \
             one-unit writes admitted after), want {want} (-{slack} for refill)"
        ))
    } else {
        Ok(())
    }
}

fn expect_condition_failed<T: std::fmt::Debug, E, R>(
    what: &str,
    r: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    if let Err(e) = check_err(what, r, CONDITION_FAILED, None) {
        panic!("{e}");
    }
}

/// What ConsumedCapacity cannot show: failed conditional writes, local-index writes
/// (charged to the table), global-index writes (not charged to the table) and
/// transactional writes, measured on 1-WCU tables (a 300-unit burst).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hidden_charges_are_taken_from_the_burst() {
    let server = TestServer::start();
    let client = server.client_no_retry();
    let admin = server.client();
    for t in [
        "burst-control",
        "burst-cond-missing-put",
        "burst-cond-missing-update",
        "burst-cond-existing",
        "burst-tx",
    ] {
        create(&admin, t, false, Some((1, 1))).await;
    }
    admin
        .create_table()
        .table_name("burst-lsi")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(1, 1))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("lk", ScalarAttributeType::S))
        .local_secondary_indexes(lsi("lsi1", "lk"))
        .send()
        .await
        .expect("CreateTable burst-lsi");
    wait_active(&admin, "burst-lsi").await;
    admin
        .create_table()
        .table_name("burst-gsi")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(1, 1))
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gk", ScalarAttributeType::S))
        .global_secondary_indexes(gsi("gsi1", "gk", ProjectionType::All, Some((1, 1000))))
        .send()
        .await
        .expect("CreateTable burst-gsi");
    wait_gsis_active(&admin, "burst-gsi").await;

    const N: usize = 40;
    let results = tokio::join!(
        measure_write_units(
            client.clone(),
            "burst-control",
            false,
            0.0,
            "nothing spent (the probe itself)",
            |_| async {},
        ),
        measure_write_units(
            client.clone(),
            "burst-cond-missing-put",
            false,
            N as f64,
            "40 PutItems of 3000-byte items on missing keys failing attribute_exists(pk) \
             (\"For a new item, DynamoDB consumes one write capacity unit\")",
            |c| async move {
                for i in 0..N {
                    let r = c
                        .put_item()
                        .table_name("burst-cond-missing-put")
                        .set_item(Some(sized(&format!("m{i}"), 3000)))
                        .condition_expression("attribute_exists(pk)")
                        .send()
                        .await;
                    expect_condition_failed("conditional put on a missing item", r);
                }
            },
        ),
        measure_write_units(
            client.clone(),
            "burst-cond-missing-update",
            false,
            N as f64,
            "40 UpdateItems (SET d = 3000 bytes) on missing keys failing attribute_exists(pk)",
            |c| async move {
                for i in 0..N {
                    let r = c
                        .update_item()
                        .table_name("burst-cond-missing-update")
                        .set_key(Some(key1(&format!("m{i}"))))
                        .update_expression("SET d = :v")
                        .expression_attribute_values(":v", s(&"x".repeat(3000)))
                        .condition_expression("attribute_exists(pk)")
                        .send()
                        .await;
                    expect_condition_failed("conditional update on a missing item", r);
                }
            },
        ),
        measure_write_units(
            client.clone(),
            "burst-cond-existing",
            false,
            3.0 + 30.0 * 3.0 + 30.0 * 3.0,
            "a 3000-byte put, then 30 failing conditional PutItems of 3000 bytes and 30 \
             failing conditional DeleteItems on it (3 units each)",
            |c| async move {
                let t = "burst-cond-existing";
                try_put(&c, t, sized("e", 3000)).await.expect("put e");
                for _ in 0..30 {
                    let r = c
                        .put_item()
                        .table_name(t)
                        .set_item(Some(sized("e", 3000)))
                        .condition_expression("attribute_not_exists(pk)")
                        .send()
                        .await;
                    expect_condition_failed("conditional put on an existing item", r);
                    let r = c
                        .delete_item()
                        .table_name(t)
                        .set_key(Some(key1("e")))
                        .condition_expression("d = :nope")
                        .expression_attribute_values(":nope", s("nope"))
                        .send()
                        .await;
                    expect_condition_failed("conditional delete of an existing item", r);
                }
            },
        ),
        measure_write_units(
            client.clone(),
            "burst-tx",
            false,
            2.0 * N as f64,
            "40 TransactWriteItems each putting one new 100-byte item (2 units each)",
            |c| async move {
                for i in 0..N {
                    c.transact_write_items()
                        .transact_items(tx_put("burst-tx", sized(&format!("t{i}"), 100)))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("TransactWriteItems {i}: {e:?}"));
                }
            },
        ),
        measure_write_units(
            client.clone(),
            "burst-lsi",
            true,
            2.0 * N as f64,
            "40 puts of new tiny items with an LSI key (1 table + 1 LSI unit each, both the \
             table's)",
            |c| async move {
                for i in 0..N {
                    let it = item(&[("pk", s(&format!("l{i}"))), ("sk", s("0")), ("lk", s("k"))]);
                    try_put(&c, "burst-lsi", it)
                        .await
                        .unwrap_or_else(|e| panic!("put {i} into burst-lsi: {e}"));
                }
            },
        ),
        measure_write_units(
            client.clone(),
            "burst-gsi",
            false,
            N as f64,
            "40 puts of new tiny items with a GSI key (the GSI's unit is the index's, not the \
             table's)",
            |c| async move {
                for i in 0..N {
                    let it = item(&[("pk", s(&format!("g{i}"))), ("gk", s("k"))]);
                    try_put(&c, "burst-gsi", it)
                        .await
                        .unwrap_or_else(|e| panic!("put {i} into burst-gsi: {e}"));
                }
            },
        ),
    );
    let mut f = Failures::new();
    let (a, b, c, d, e, g, h) = results;
    for r in [a, b, c, d, e, g, h] {
        f.check(r);
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// 2. Provisioned throttling
// ---------------------------------------------------------------------------------------

/// A 5-WCU table admits its 300-second burst (1500 one-KB writes), then throttles with
/// ProvisionedThroughputExceededException, recovers at about 5 writes a second, and the
/// SDK's standard retries get a write through while it is throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioned_table_bursts_then_throttles_then_recovers() {
    // Eight partitions keep the 1000 WCU/s partition ceiling out of the way.
    let server = TestServer::start_with(&["--partitions-per-table", "8"]);
    let admin = server.client();
    let client = server.client_no_retry();
    let t = "prov-5";
    create(&admin, t, false, Some((5, 5))).await;
    let created = Instant::now();

    // Phase 1: waves of 16 concurrent one-unit writes until a wave sees a throttle.
    const WAVE: usize = 16;
    let mut ok = 0usize;
    let mut throttled = 0usize;
    let mut next = 0usize;
    let deadline = Instant::now() + Duration::from_secs(40);
    while throttled == 0 {
        assert!(
            next < 4000 && Instant::now() < deadline,
            "{next} writes in {:?} and no throttle: the 5-WCU table's burst is 1500 units",
            created.elapsed()
        );
        let wave: Vec<_> = (next..next + WAVE)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(
                    async move { try_put(&client, t, sized(&format!("w{i:05}"), 1024)).await },
                )
            })
            .collect();
        next += WAVE;
        for h in wave {
            match h.await.expect("writer task") {
                Ok(()) => ok += 1,
                Err(code) if code == PTEE => throttled += 1,
                Err(other) => panic!("write to {t} failed with {other}"),
            }
        }
    }
    let burst_time = created.elapsed().as_secs_f64();
    eprintln!("prov-5: {ok} writes admitted, then {throttled} throttled, in {burst_time:.2} s");
    let max_ok = 1500.0 + 5.0 * burst_time.ceil() + WAVE as f64 + 1.0;
    assert!(
        ok >= 1500 && (ok as f64) <= max_ok,
        "a new 5-WCU table admitted {ok} one-unit writes in {burst_time:.1} s before throttling; \
         want its 1500-unit burst plus at most the refill (≤ {max_ok})"
    );

    // Phase 2: still throttled right after.
    let phase2 = Instant::now();
    let mut later_ok = 0;
    for i in 0..20 {
        match try_put(&client, t, sized(&format!("x{i:03}"), 1024)).await {
            Ok(()) => later_ok += 1,
            Err(code) if code == PTEE => {}
            Err(other) => panic!("write to {t} failed with {other}"),
        }
    }
    let phase2_secs = phase2.elapsed().as_secs_f64();
    assert!(
        later_ok as f64 <= 5.0 * phase2_secs + 2.0,
        "{later_ok} of 20 immediate writes after the burst succeeded in {phase2_secs:.2} s; \
         5 WCU refill 5 a second"
    );
    let (code, message) = first_write_error(&client, t, "y", 50)
        .await
        .expect("the table stays throttled right after its burst");
    assert_eq!(code, PTEE, "throttled write: {message}");
    assert!(!message.is_empty(), "the throttling error has a message");

    // Phase 3: recovers within a few seconds (the bucket may be a wave's worth negative).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let waited = Instant::now();
    let mut recovered = false;
    for i in 0..60 {
        match try_put(&client, t, sized(&format!("r{i:03}"), 1024)).await {
            Ok(()) => {
                recovered = true;
                break;
            }
            Err(code) if code == PTEE => {}
            Err(other) => panic!("write to {t} failed with {other}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "no write succeeded within {:?} after the burst was spent (5 WCU refill)",
        waited.elapsed() + Duration::from_secs(1)
    );

    // Phase 4: the sustained rate is about 5 writes a second. Start from an empty bucket.
    let (code, _) = first_write_error(&client, t, "e", 100)
        .await
        .expect("the 5-WCU table is throttled again after a few writes");
    assert_eq!(code, PTEE);
    let window = Instant::now();
    let mut sustained = 0;
    let mut attempts = 0;
    while window.elapsed() < Duration::from_secs(2) && attempts < 5000 {
        attempts += 1;
        match try_put(&client, t, sized(&format!("s{attempts:05}"), 1024)).await {
            Ok(()) => sustained += 1,
            Err(code) if code == PTEE => {}
            Err(other) => panic!("write to {t} failed with {other}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = window.elapsed().as_secs_f64();
    eprintln!("prov-5: {sustained} of {attempts} writes admitted in {secs:.2} s once throttled");
    assert!(
        sustained >= 4 && sustained as f64 <= 5.0 * secs + 3.0,
        "{sustained} of {attempts} back-to-back writes succeeded in {secs:.1} s on a throttled \
         5-WCU table; want about 5 a second"
    );

    // Phase 5: with the table throttled, the standard retry policy gets a write through.
    let mut saw_throttle = false;
    for i in 0..50 {
        match try_put(&client, t, sized(&format!("z{i:03}"), 1024)).await {
            Err(code) if code == PTEE => {
                saw_throttle = true;
                break;
            }
            Err(other) => panic!("write to {t} failed with {other}"),
            Ok(()) => {}
        }
    }
    assert!(saw_throttle, "the table should be throttled again");
    let retrying = server.client_with_max_attempts(10);
    let started = Instant::now();
    retrying
        .put_item()
        .table_name(t)
        .set_item(Some(sized("retried", 1024)))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "a write with the SDK's standard retries on a throttled table failed after \
                 {:?}: {e:?}",
                started.elapsed()
            )
        });
    assert!(
        get_consistent(&admin, t, key1("retried")).await.is_some(),
        "the retried write is stored"
    );
}

/// Reads spend a provisioned table's read burst (a consistent read of a 4097-byte item is
/// 2 units); a global index has its own read and write buckets: index writes are throttled
/// by the index's write capacity, index queries spend the index's read capacity, not the
/// table's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_and_index_buckets_throttle() {
    let server = TestServer::start();
    let admin = server.client();
    let client = server.client_no_retry();
    let mut f = Failures::new();

    // Table reads: RCU 1 → a 300-unit burst → 150 consistent reads of 2 units.
    let t = "prov-reads";
    create(&admin, t, false, Some((1, 50))).await;
    let created = Instant::now();
    put_ok(&admin, t, sized("big", 4097)).await;
    let mut reads = 0usize;
    loop {
        assert!(
            reads < 2000,
            "2000 reads on a 1-RCU table were never throttled"
        );
        let r = client
            .get_item()
            .table_name(t)
            .set_key(Some(key1("big")))
            .consistent_read(true)
            .send()
            .await;
        match r {
            Ok(_) => reads += 1,
            Err(e) if code_of(&e) == PTEE => break,
            Err(e) => panic!("GetItem from {t}: {e:?}"),
        }
    }
    let slack = created.elapsed().as_secs_f64().ceil() / 2.0 + 1.0;
    if (reads as f64) < 150.0 || reads as f64 > 150.0 + slack {
        f.push(format!(
            "a 1-RCU table admitted {reads} consistent reads of a 4097-byte item (2 units each) \
             before throttling; want 150 (+{slack} for refill)"
        ));
    }

    // Index writes: the table has plenty (WCU 1000), the GSI has 1 WCU → 300 entries.
    let g = "prov-gsi";
    admin
        .create_table()
        .table_name(g)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(1, 1000))
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gk", ScalarAttributeType::S))
        .global_secondary_indexes(gsi("gsi1", "gk", ProjectionType::KeysOnly, Some((1, 1))))
        .send()
        .await
        .expect("CreateTable prov-gsi");
    wait_gsis_active(&admin, g).await;
    let created = Instant::now();
    let mut writes = 0usize;
    let mut throttle_code = None;
    while writes < 2000 {
        let it = item(&[("pk", s(&format!("k{writes:04}"))), ("gk", s("v"))]);
        match try_put(&client, g, it).await {
            Ok(()) => writes += 1,
            Err(code) => {
                throttle_code = Some(code);
                break;
            }
        }
    }
    let slack = created.elapsed().as_secs_f64().ceil() + 1.0;
    if throttle_code.as_deref() != Some(PTEE) || writes < 300 || writes as f64 > 300.0 + slack {
        f.push(format!(
            "writes to a 1000-WCU table whose GSI has 1 WCU: {writes} admitted, then {throttle_code:?}; \
             want 300 (+{slack}) then {PTEE}"
        ));
    }

    // Index reads: the GSI has 1 RCU → 300 units → 600 eventually consistent queries of
    // small entries; the table's own read bucket is untouched.
    let mut queries = 0usize;
    let created = Instant::now();
    loop {
        assert!(
            queries < 3000,
            "3000 queries of a 1-RCU index were never throttled"
        );
        let r = client
            .query()
            .table_name(g)
            .index_name("gsi1")
            .key_condition_expression("gk = :v")
            .expression_attribute_values(":v", s("none"))
            .send()
            .await;
        match r {
            Ok(_) => queries += 1,
            Err(e) if code_of(&e) == PTEE => break,
            Err(e) => panic!("Query index gsi1: {e:?}"),
        }
    }
    let slack = 2.0 * created.elapsed().as_secs_f64().ceil() + 2.0;
    if (queries as f64) < 600.0 || queries as f64 > 600.0 + slack {
        f.push(format!(
            "a GSI with 1 RCU admitted {queries} eventually consistent 0.5-unit queries before \
             throttling; want 600 (+{slack})"
        ));
    }
    let r = client
        .get_item()
        .table_name(g)
        .set_key(Some(key1("k0000")))
        .consistent_read(true)
        .send()
        .await;
    if let Err(e) = r {
        f.push(format!(
            "GetItem on the table after its GSI's reads were throttled: {} (index reads must \
             not spend the table's read capacity)",
            code_of(&e)
        ));
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// 3. A hot partition
// ---------------------------------------------------------------------------------------

/// The hot item is 390 KB; each hot write is a small UpdateItem of it, which costs the
/// larger of the item before and after: 391 units. Three such updates a second exceed the
/// partition's 1000 WCU/s, without the test having to push megabytes a second through the
/// server.
const HOT_BYTES: usize = 390 * 1024;
const HOT_UNITS: usize = 391;

#[derive(Default)]
struct Outcomes {
    ok: usize,
    throttled: usize,
    other: Vec<String>,
    /// When each throttle and each success happened (since the start).
    throttled_at: Vec<Duration>,
    ok_at: Vec<Duration>,
}

/// One partition key written far beyond 1000 WCU/s (updates of a 390 KB item, 391 units each) on an
/// on-demand table with no maximum: that partition is throttled, while writes to partition
/// keys elsewhere keep succeeding in the same window.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_partition_is_throttled_while_others_are_not() {
    // One Raft group: the ceiling is DynamoDB's per key range, not Cirrus's per group.
    let server = TestServer::start_with(&["--partitions-per-table", "1"]);
    let admin = server.client();
    let client = server.client_no_retry();
    let t = "hot";
    create(&admin, t, false, None).await;
    put_ok(&admin, t, sized("hot", HOT_BYTES)).await;

    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let hot = Arc::new(Mutex::new(Outcomes::default()));
    let cold: Arc<Mutex<BTreeMap<String, Outcomes>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let cold_keys: Vec<String> = (0..16).map(|i| format!("cold-{i:02}")).collect();

    let mut tasks = Vec::new();
    for writer in 0..8 {
        let (client, stop, hot) = (client.clone(), stop.clone(), hot.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..2000 {
                if stop.load(Ordering::SeqCst) || start.elapsed() > Duration::from_secs(12) {
                    break;
                }
                let r = client
                    .update_item()
                    .table_name(t)
                    .set_key(Some(key1("hot")))
                    .update_expression("SET c = :v")
                    .expression_attribute_values(":v", s(&format!("{writer}-{n}")))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| code_of(&e));
                let at = start.elapsed();
                let mut h = hot.lock().unwrap();
                match r {
                    Ok(()) => {
                        h.ok += 1;
                        h.ok_at.push(at);
                    }
                    Err(code) if code == PTEE => {
                        h.throttled += 1;
                        h.throttled_at.push(at);
                    }
                    Err(other) => h.other.push(other),
                }
            }
        }));
    }
    for chunk in cold_keys.chunks(4) {
        let keys = chunk.to_vec();
        let (client, stop, cold) = (client.clone(), stop.clone(), cold.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..2000 {
                if stop.load(Ordering::SeqCst) || start.elapsed() > Duration::from_secs(12) {
                    break;
                }
                let k = &keys[round % keys.len()];
                let r = try_put(&client, t, sized(k, 1000)).await;
                let at = start.elapsed();
                {
                    let mut c = cold.lock().unwrap();
                    let o = c.entry(k.clone()).or_default();
                    match r {
                        Ok(()) => {
                            o.ok += 1;
                            o.ok_at.push(at);
                        }
                        Err(code) if code == PTEE => {
                            o.throttled += 1;
                            o.throttled_at.push(at);
                        }
                        Err(other) => o.other.push(other),
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    // Run until the hot key has been throttled a while (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let h = hot.lock().unwrap();
        if h.throttled >= 50 && start.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("writer task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let h = hot.lock().unwrap();
    let c = cold.lock().unwrap();
    let mut f = Failures::new();
    if !h.other.is_empty() {
        f.push(format!(
            "hot-key writes failed with other errors: {:?}",
            &h.other[..h.other.len().min(5)]
        ));
    }
    if h.throttled == 0 {
        f.push(format!(
            "{} writes of {HOT_UNITS} units to one partition key in {elapsed:.1} s were never \
             throttled (the partition ceiling is 1000 WCU/s)",
            h.ok
        ));
    }
    // The partition admits 1000 units a second plus its one-second burst, plus the writes
    // already admitted (by the 8 writers) when the bucket ran dry.
    let per_second = 1000.0 / HOT_UNITS as f64;
    let max_hot = (per_second * (1.0 + elapsed.ceil())).ceil() + 8.0 + 2.0;
    if h.ok as f64 > max_hot {
        f.push(format!(
            "{} writes of {HOT_UNITS} units to one partition key succeeded in {elapsed:.1} s; the \
             partition ceiling (1000 WCU/s) allows about {max_hot}",
            h.ok
        ));
    }
    let (first_throttle, last_throttle) = (
        h.throttled_at.iter().min().copied(),
        h.throttled_at.iter().max().copied(),
    );
    let mut never_throttled = 0;
    let mut cold_ok_in_window = 0;
    for (k, o) in c.iter() {
        if !o.other.is_empty() {
            f.push(format!("cold key {k}: other errors {:?}", o.other));
        }
        if o.throttled == 0 && o.ok > 0 {
            never_throttled += 1;
        }
        if let (Some(a), Some(b)) = (first_throttle, last_throttle) {
            cold_ok_in_window += o.ok_at.iter().filter(|t| **t >= a && **t <= b).count();
        }
    }
    eprintln!(
        "hot: {} ok, {} throttled in {elapsed:.2} s (throttles {first_throttle:?}..{last_throttle:?}); \
         {never_throttled} of 16 cold keys never throttled; {cold_ok_in_window} cold writes \
         succeeded in the window",
        h.ok, h.throttled
    );
    // A new on-demand table has 4 key ranges: about 12 of the 16 cold keys live outside
    // the hot one.
    if never_throttled < 8 {
        f.push(format!(
            "only {never_throttled} of 16 cold keys were never throttled while one key was hot: {:?}",
            c.iter()
                .map(|(k, o)| format!("{k}: {} ok, {} throttled", o.ok, o.throttled))
                .collect::<Vec<_>>()
        ));
    }
    if h.throttled > 0 && cold_ok_in_window == 0 {
        f.push(format!(
            "no write to another partition key succeeded while the hot key was being throttled \
             ({first_throttle:?}..{last_throttle:?})"
        ));
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// 4. On-demand maximum throughput
// ---------------------------------------------------------------------------------------

/// PAY_PER_REQUEST with OnDemandThroughput MaxWriteRequestUnits=5: DescribeTable reports
/// it, writes beyond about 5 units a second get ThrottlingException, reads are not
/// limited, and -1 removes the maximum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_maximum_throttles_with_throttling_exception() {
    let server = TestServer::start();
    let admin = server.client();
    let client = server.client_no_retry();
    let t = "od-max";
    admin
        .create_table()
        .table_name(t)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .on_demand_throughput(
            OnDemandThroughput::builder()
                .max_write_request_units(5)
                .build(),
        )
        .send()
        .await
        .expect("CreateTable with OnDemandThroughput");
    wait_active(&admin, t).await;
    let desc = describe_table(&admin, t).await;
    let odt = desc
        .on_demand_throughput()
        .unwrap_or_else(|| panic!("DescribeTable must report OnDemandThroughput: {desc:?}"));
    assert_eq!(
        odt.max_write_request_units(),
        Some(5),
        "OnDemandThroughput.MaxWriteRequestUnits: {odt:?}"
    );
    assert!(
        matches!(odt.max_read_request_units(), None | Some(-1)),
        "no read maximum was set: {odt:?}"
    );

    // A burst of back-to-back one-unit writes.
    let started = Instant::now();
    let (mut ok, mut throttled) = (0usize, 0usize);
    for i in 0..40 {
        match try_put(&client, t, sized(&format!("b{i:02}"), 1000)).await {
            Ok(()) => ok += 1,
            Err(code) if code == THROTTLING => throttled += 1,
            Err(other) => panic!("write {i} to {t}: {other} (want success or {THROTTLING})"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("od-max: {ok} ok, {throttled} throttled in {secs:.2} s");
    assert!(
        throttled > 0,
        "40 back-to-back writes in {secs:.2} s to a 5-unit maximum were never throttled"
    );
    assert!(
        ok >= 5 && ok as f64 <= 5.0 + 5.0 * secs.ceil() + 2.0,
        "{ok} of 40 back-to-back writes succeeded in {secs:.2} s under MaxWriteRequestUnits=5"
    );
    let (code, message) = first_write_error(&client, t, "more", 50)
        .await
        .expect("writes beyond the on-demand maximum are throttled");
    assert_eq!(code, THROTTLING, "{message}");
    assert!(!message.is_empty(), "the throttling error has a message");

    // Reads have no maximum.
    for i in 0..100 {
        client
            .get_item()
            .table_name(t)
            .set_key(Some(key1("b00")))
            .consistent_read(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("read {i} of a table with only a write maximum: {e:?}"));
    }

    // The maximum refills: a write succeeds again after a moment.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut recovered = false;
    for i in 0..25 {
        match try_put(&client, t, key1(&format!("r{i}"))).await {
            Ok(()) => {
                recovered = true;
                break;
            }
            Err(code) if code == THROTTLING => {}
            Err(other) => panic!("write to {t}: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "no write succeeded within 6 s under a 5-unit-per-second maximum"
    );

    // While throttled, the SDK's standard retries get through.
    let (code, _) = first_write_error(&client, t, "d", 50)
        .await
        .expect("throttled again");
    assert_eq!(code, THROTTLING);
    server
        .client_with_max_attempts(10)
        .put_item()
        .table_name(t)
        .set_item(Some(key1("retried")))
        .send()
        .await
        .expect("a write with standard retries under an on-demand maximum");

    // -1 removes the maximum.
    admin
        .update_table()
        .table_name(t)
        .on_demand_throughput(
            OnDemandThroughput::builder()
                .max_write_request_units(-1)
                .build(),
        )
        .send()
        .await
        .expect("UpdateTable MaxWriteRequestUnits=-1");
    wait_active(&admin, t).await;
    let desc = describe_table(&admin, t).await;
    if let Some(odt) = desc.on_demand_throughput() {
        assert!(
            matches!(odt.max_write_request_units(), None | Some(-1)),
            "after removing the maximum: {odt:?}"
        );
    }
    for i in 0..200 {
        try_put(&client, t, sized(&format!("u{i:03}"), 1000))
            .await
            .unwrap_or_else(|code| panic!("write {i} after removing the maximum: {code}"));
    }
}

// ---------------------------------------------------------------------------------------
// 5. --no-throttle
// ---------------------------------------------------------------------------------------

/// With `--no-throttle` nothing is ever throttled: a 5-WCU table takes 3000 one-KB writes
/// (twice its burst) as fast as they come, and an on-demand maximum of 5 is not enforced;
/// ConsumedCapacity is still reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_throttle_server_never_throttles() {
    let server = TestServer::start_with(&["--no-throttle"]);
    let admin = server.client();
    let client = server.client_no_retry();
    let t = "nothrottle-5";
    create(&admin, t, false, Some((5, 5))).await;

    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let (client, next, failures) = (client.clone(), next.clone(), failures.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= 3000 || started.elapsed() > Duration::from_secs(40) {
                        break;
                    }
                    if let Err(code) = try_put(&client, t, sized(&format!("w{i:05}"), 1024)).await {
                        failures.lock().unwrap().push(format!("write {i}: {code}"));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer task");
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} of 3000 writes to a 5-WCU table failed under --no-throttle, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        next.load(Ordering::SeqCst) >= 3000,
        "only {} writes were attempted within 40 s",
        next.load(Ordering::SeqCst)
    );
    let cc = put_total(&client, t, sized("reported", 1025)).await;
    check_total(
        "PutItem TOTAL under --no-throttle",
        cc.as_ref(),
        t,
        Kind::Write,
        2.0,
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let od = "nothrottle-od";
    admin
        .create_table()
        .table_name(od)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .on_demand_throughput(
            OnDemandThroughput::builder()
                .max_write_request_units(5)
                .max_read_request_units(5)
                .build(),
        )
        .send()
        .await
        .expect("CreateTable with OnDemandThroughput");
    wait_active(&admin, od).await;
    for i in 0..200 {
        try_put(&client, od, key1(&format!("k{i:03}")))
            .await
            .unwrap_or_else(|code| panic!("write {i} under --no-throttle: {code}"));
        client
            .get_item()
            .table_name(od)
            .set_key(Some(key1(&format!("k{i:03}"))))
            .consistent_read(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("read {i} under --no-throttle: {e:?}"));
    }
}
