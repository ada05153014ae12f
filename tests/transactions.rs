//! TransactWriteItems and TransactGetItems: the four write actions (Put, Update, Delete,
//! ConditionCheck) across tables and partitions, all-or-nothing cancellation with one
//! CancellationReason per action, ReturnValuesOnConditionCheckFailure, apply-time
//! `ValidationError` reasons, ClientRequestToken idempotency, the request limits (100
//! actions, 4 MB), isolation against single-item writes and between transactions, and
//! transactional writes on tables with secondary indexes.
//!
//! Expected behaviour follows the TransactWriteItems / TransactGetItems API references and
//! the Developer Guide's "Amazon DynamoDB Transactions: How it works":
//! - "TransactWriteItems is a synchronous write operation that groups up to 100 action
//!   requests … no two actions can target the same item … The aggregate size of the items in
//!   the transaction cannot exceed 4 MB. The actions are completed atomically so that either
//!   all of them succeed, or all of them fail."
//! - TransactionCanceledException: "Transaction cancelled, please refer cancellation reasons
//!   for specific reasons [None, ConditionalCheckFailed]" with one CancellationReason per
//!   action, in order: `{"Code": "None"}` (no Message) for an action that would have
//!   succeeded, `ConditionalCheckFailed` / "The conditional request failed" (with `Item` when
//!   ReturnValuesOnConditionCheckFailure is ALL_OLD), `TransactionConflict`, `ValidationError`
//!   (a wire capture in aws/aws-sdk-net#1292: `[{"Code":"None"},{"Code":"ValidationError",
//!   "Message":"The provided expression refers to an attribute that does not exist in the
//!   item"}]`).
//! - The reason codes and messages as the API reference lists them: "Transaction cancellation
//!   reasons are ordered in the order of requested items, if an item has no error it will
//!   have None code and Null message"; TransactionConflict "Transaction is ongoing for the
//!   item"; ValidationError messages such as "An operand in the update expression has an
//!   incorrect data type", "Item size to update has exceeded the maximum allowed size", "The
//!   document path provided in the update expression is invalid for update", "The update
//!   expression attempted to update the secondary index key to unsupported type".
//! - ClientRequestToken: "multiple identical calls have the same effect as one single call …
//!   If you submit a request with the same client token but a change in other parameters
//!   within the 10-minute idempotency window, DynamoDB returns an IdempotentParameterMismatch
//!   exception." The token is 1 to 36 characters; a concurrent duplicate may get
//!   TransactionInProgressException; "A client request token is valid for 10 minutes after
//!   the first request that uses it is completed", so also across a server restart.
//! - Request-shape errors are top-level ValidationExceptions, not cancellation reasons:
//!   "Transaction request cannot include multiple operations on one item", "TransactItems can
//!   only contain one of Check, Put, Update or Delete", the coral length constraints "Member
//!   must have length greater than or equal to 1" / "less than or equal to 100".
//! - Isolation: "PutItem, UpdateItem, or DeleteItem request for an item conflicts with an
//!   ongoing TransactWriteItems request that includes the same item" → the single write fails
//!   with TransactionConflictException; conflicting transactions are cancelled with
//!   `TransactionConflict` reasons; TransactGetItems is serializable with TransactWriteItems.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::{
    ConditionCheckBuilder, DeleteBuilder, GetBuilder, PutBuilder, UpdateBuilder,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete, Get,
    GlobalSecondaryIndex, KeyType, LocalSecondaryIndex, Projection, ProjectionType, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TransactGetItem, TransactWriteItem,
    Update,
};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";
const NOT_FOUND: &str = "ResourceNotFoundException";
const CANCELED_PREFIX: &str =
    "Transaction cancelled, please refer cancellation reasons for specific reasons";
const SAME_ITEM: &str = "Transaction request cannot include multiple operations on one item";
const ONE_ACTION: &str = "TransactItems can only contain one of Check, Put, Update or Delete";
const CONDITION_FAILED: &str = "The conditional request failed";
const NO_SUCH_ATTRIBUTE: &str =
    "The provided expression refers to an attribute that does not exist in the item";
const WRONG_OPERAND: &str = "An operand in the update expression has an incorrect data type";
const BAD_PATH: &str = "The document path provided in the update expression is invalid for update";
const TOO_BIG: &str = "Item size to update has exceeded the maximum allowed size";
const ONGOING: &str = "Transaction is ongoing for the item";

const PARTITIONS: [&str; 2] = ["--partitions-per-table", "8"];

// ---------------------------------------------------------------------------------------
// Request builders
// ---------------------------------------------------------------------------------------

fn key1(pk: &str) -> Attrs {
    item(&[("pk", s(pk))])
}

fn key2(pk: &str, sk: i64) -> Attrs {
    item(&[("pk", s(pk)), ("sk", n(&sk.to_string()))])
}

fn put_b(table: &str, it: Attrs) -> PutBuilder {
    Put::builder().table_name(table).set_item(Some(it))
}

fn update_b(table: &str, key: Attrs, expr: &str) -> UpdateBuilder {
    Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(expr)
}

fn delete_b(table: &str, key: Attrs) -> DeleteBuilder {
    Delete::builder().table_name(table).set_key(Some(key))
}

fn check_b(table: &str, key: Attrs, cond: &str) -> ConditionCheckBuilder {
    ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(cond)
}

fn get_b(table: &str, key: Attrs) -> GetBuilder {
    Get::builder().table_name(table).set_key(Some(key))
}

fn w_put(b: PutBuilder) -> TransactWriteItem {
    TransactWriteItem::builder().put(b.build().unwrap()).build()
}

fn w_update(b: UpdateBuilder) -> TransactWriteItem {
    TransactWriteItem::builder()
        .update(b.build().unwrap())
        .build()
}

fn w_delete(b: DeleteBuilder) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(b.build().unwrap())
        .build()
}

fn w_check(b: ConditionCheckBuilder) -> TransactWriteItem {
    TransactWriteItem::builder()
        .condition_check(b.build().unwrap())
        .build()
}

fn g(b: GetBuilder) -> TransactGetItem {
    TransactGetItem::builder().get(b.build().unwrap()).build()
}

async fn transact(
    client: &Client,
    actions: Vec<TransactWriteItem>,
) -> Result<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
    SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
> {
    client
        .transact_write_items()
        .set_transact_items(Some(actions))
        .send()
        .await
}

async fn transact_ok(client: &Client, what: &str, actions: Vec<TransactWriteItem>) {
    if let Err(e) = transact(client, actions).await {
        panic!(
            "{what}: TransactWriteItems failed: {}",
            describe_write_err(&e)
        );
    }
}

/// All items of a TransactGetItems that must succeed, in request order (None = not found).
async fn transact_get_ok(
    client: &Client,
    what: &str,
    gets: Vec<TransactGetItem>,
) -> Vec<Option<Attrs>> {
    let want = gets.len();
    let out = client
        .transact_get_items()
        .set_transact_items(Some(gets))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: TransactGetItems failed: {}", describe_get_err(&e)));
    let responses = out.responses();
    assert_eq!(
        responses.len(),
        want,
        "{what}: TransactGetItems must return one ItemResponse per Get, in order"
    );
    responses
        .iter()
        .map(|r| r.item().filter(|i| !i.is_empty()).cloned())
        .collect()
}

fn describe_write_err<R: std::fmt::Debug>(e: &SdkError<TransactWriteItemsError, R>) -> String {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => format!(
            "TransactionCanceledException {:?} reasons {:?}",
            c.message(),
            reason_summary(c.cancellation_reasons())
        ),
        Some(other) => format!("{:?}: {:?}", other.code(), other.message()),
        None => format!("{e:?}"),
    }
}

fn describe_get_err<R: std::fmt::Debug>(e: &SdkError<TransactGetItemsError, R>) -> String {
    match e.as_service_error() {
        Some(TransactGetItemsError::TransactionCanceledException(c)) => format!(
            "TransactionCanceledException {:?} reasons {:?}",
            c.message(),
            reason_summary(c.cancellation_reasons())
        ),
        Some(other) => format!("{:?}: {:?}", other.code(), other.message()),
        None => format!("{e:?}"),
    }
}

/// "Code: message" of a service error, or the whole error for anything else.
fn short<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> String {
    match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
        None => format!("{e:?}"),
    }
}

fn reason_summary(reasons: &[CancellationReason]) -> Vec<String> {
    reasons
        .iter()
        .map(|r| match r.message() {
            Some(m) => format!("{}: {m}", r.code().unwrap_or("<no code>")),
            None => r.code().unwrap_or("<no code>").to_owned(),
        })
        .collect()
}

fn codes(reasons: &[CancellationReason]) -> Vec<String> {
    reasons
        .iter()
        .map(|r| r.code().unwrap_or("<no code>").to_owned())
        .collect()
}

/// The message and CancellationReasons of a TransactWriteItems that must fail with
/// TransactionCanceledException.
fn cancellation<T: std::fmt::Debug, R: std::fmt::Debug>(
    what: &str,
    result: Result<T, SdkError<TransactWriteItemsError, R>>,
) -> (String, Vec<CancellationReason>) {
    match result {
        Ok(v) => panic!("{what}: expected TransactionCanceledException, but it succeeded: {v:?}"),
        Err(e) => match e.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => (
                c.message().unwrap_or_default().to_owned(),
                c.cancellation_reasons().to_vec(),
            ),
            _ => panic!(
                "{what}: expected TransactionCanceledException, got {}",
                describe_write_err(&e)
            ),
        },
    }
}

/// Checks a cancellation against the expected reason codes (in order): the message lists
/// them, `None` reasons carry no message and no item, `ConditionalCheckFailed` reasons carry
/// "The conditional request failed".
fn check_cancellation(
    what: &str,
    message: &str,
    reasons: &[CancellationReason],
    want: &[&str],
) -> Result<(), String> {
    let got = codes(reasons);
    if got != want {
        return Err(format!(
            "{what}: CancellationReasons codes {got:?} (full: {:?}), want {want:?}",
            reason_summary(reasons)
        ));
    }
    let want_message = format!("{CANCELED_PREFIX} [{}]", want.join(", "));
    if message != want_message {
        return Err(format!(
            "{what}: message {message:?}, want {want_message:?}"
        ));
    }
    for (i, r) in reasons.iter().enumerate() {
        let has_item = r.item().is_some_and(|i| !i.is_empty());
        match r.code() {
            Some("None") if r.message().is_some() || has_item => {
                return Err(format!(
                    "{what}: reason {i} is None but carries message {:?} / item {:?}",
                    r.message(),
                    r.item()
                ));
            }
            Some("ConditionalCheckFailed") if r.message() != Some(CONDITION_FAILED) => {
                return Err(format!(
                    "{what}: reason {i} ConditionalCheckFailed has message {:?}, \
                     want {CONDITION_FAILED:?}",
                    r.message()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_raw(
    server: &TestServer,
    what: &str,
    op: &str,
    body: serde_json::Value,
    want_code: &str,
    want_message_contains: Option<&str>,
) -> Result<(), String> {
    let r = server.raw_request(&format!("DynamoDB_20120810.{op}"), &body.to_string());
    let Some(ty) = r.error_type() else {
        return Err(format!(
            "{what}: expected {want_code}, got status {} body {}",
            r.status,
            r.body_str()
        ));
    };
    let code = ty.rsplit('#').next().unwrap_or_default().to_owned();
    let message = r.error_message().unwrap_or_default();
    if code != want_code {
        return Err(format!(
            "{what}: expected {want_code}, got {code} with message {message:?}"
        ));
    }
    if r.status != 400 {
        return Err(format!(
            "{what}: {code} with HTTP status {}, want 400",
            r.status
        ));
    }
    if let Some(m) = want_message_contains {
        if !message.contains(m) {
            return Err(format!(
                "{what}: {code} as expected, but message {message:?} does not contain {m:?}"
            ));
        }
    }
    Ok(())
}

/// Two tables: `one` (pk S) and `two` (pk S, sk N).
async fn two_tables(client: &Client) {
    create_table(client, "one", ("pk", ScalarAttributeType::S), None).await;
    create_table(
        client,
        "two",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
}

/// Consistent GetItem of every (table, key), for before/after comparisons.
async fn snapshot(client: &Client, keys: &[(&str, Attrs)]) -> Vec<Option<Attrs>> {
    let mut out = Vec::new();
    for (table, k) in keys {
        out.push(get_consistent(client, table, k.clone()).await);
    }
    out
}

/// A small deterministic generator (xorshift64*), so concurrent tests need no extra crates.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn num(it: &Attrs, attr: &str) -> i64 {
    match it.get(attr) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .unwrap_or_else(|_| panic!("{attr} of {it:?} is not an integer")),
        other => panic!("{attr} of {it:?} is not a number: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The four actions
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_update_delete_and_condition_check_across_tables() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client();
    two_tables(&client).await;
    put_ok(
        &client,
        "one",
        item(&[
            ("pk", s("a")),
            ("v", n("1")),
            ("tag", s("x")),
            ("gone", s("bye")),
        ]),
    )
    .await;
    put_ok(&client, "one", item(&[("pk", s("c")), ("v", n("3"))])).await;
    put_ok(&client, "one", item(&[("pk", s("d")), ("v", n("4"))])).await;
    put_ok(
        &client,
        "two",
        item(&[("pk", s("p")), ("sk", n("1")), ("v", n("10"))]),
    )
    .await;

    let out = transact(
        &client,
        vec![
            w_put(
                put_b("one", item(&[("pk", s("new")), ("v", n("100"))]))
                    .condition_expression("attribute_not_exists(pk)"),
            ),
            w_update(
                update_b(
                    "one",
                    key1("a"),
                    "SET v = v + :inc, #t = :t ADD cnt :one REMOVE gone",
                )
                .condition_expression("v = :old")
                .expression_attribute_names("#t", "tag")
                .expression_attribute_values(":inc", n("5"))
                .expression_attribute_values(":t", s("y"))
                .expression_attribute_values(":one", n("1"))
                .expression_attribute_values(":old", n("1")),
            ),
            w_delete(
                delete_b("one", key1("d"))
                    .condition_expression("attribute_exists(pk) AND v = :four")
                    .expression_attribute_values(":four", n("4")),
            ),
            w_check(
                check_b("one", key1("c"), "v = :three")
                    .expression_attribute_values(":three", n("3")),
            ),
            // Same partition key as the next two actions, other sort keys: different items.
            w_update(
                update_b("two", key2("p", 1), "SET v = :twenty")
                    .expression_attribute_values(":twenty", n("20")),
            ),
            w_update(
                update_b("two", key2("p", 2), "SET v = :two")
                    .condition_expression("attribute_not_exists(pk)")
                    .expression_attribute_values(":two", n("2")),
            ),
            w_put(put_b(
                "two",
                item(&[("pk", s("p")), ("sk", n("3")), ("v", n("30"))]),
            )),
            w_delete(delete_b("two", key2("q", 9))),
        ],
    )
    .await;
    if let Err(e) = &out {
        panic!("TransactWriteItems failed: {}", describe_write_err(e));
    }

    let mut f = Failures::new();
    let expect = [
        (
            "one",
            key1("new"),
            Some(item(&[("pk", s("new")), ("v", n("100"))])),
        ),
        (
            "one",
            key1("a"),
            Some(item(&[
                ("pk", s("a")),
                ("v", n("6")),
                ("tag", s("y")),
                ("cnt", n("1")),
            ])),
        ),
        ("one", key1("d"), None),
        (
            "one",
            key1("c"),
            Some(item(&[("pk", s("c")), ("v", n("3"))])),
        ),
        (
            "two",
            key2("p", 1),
            Some(item(&[("pk", s("p")), ("sk", n("1")), ("v", n("20"))])),
        ),
        (
            "two",
            key2("p", 2),
            Some(item(&[("pk", s("p")), ("sk", n("2")), ("v", n("2"))])),
        ),
        (
            "two",
            key2("p", 3),
            Some(item(&[("pk", s("p")), ("sk", n("3")), ("v", n("30"))])),
        ),
        ("two", key2("q", 9), None),
    ];
    for (table, k, want) in expect {
        let got = get_consistent(&client, table, k.clone()).await;
        if got != want {
            f.push(format!("{table} {k:?}: got {got:?}, want {want:?}"));
        }
    }
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_actions_over_many_partitions_and_two_tables() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client();
    two_tables(&client).await;

    let items: Vec<(&str, Attrs)> = (0..100)
        .map(|i| {
            if i % 2 == 0 {
                (
                    "one",
                    item(&[("pk", s(&format!("k{i:03}"))), ("n", n(&i.to_string()))]),
                )
            } else {
                (
                    "two",
                    item(&[
                        ("pk", s(&format!("g{}", i % 7))),
                        ("sk", n(&i.to_string())),
                        ("n", n(&i.to_string())),
                    ]),
                )
            }
        })
        .collect();
    let key_of = |table: &str, it: &Attrs| -> Attrs {
        if table == "one" {
            item(&[("pk", it["pk"].clone())])
        } else {
            item(&[("pk", it["pk"].clone()), ("sk", it["sk"].clone())])
        }
    };
    let all_gets = || -> Vec<TransactGetItem> {
        items
            .iter()
            .map(|(t, it)| g(get_b(t, key_of(t, it))))
            .collect()
    };

    transact_ok(
        &client,
        "100 Puts",
        items
            .iter()
            .map(|(t, it)| w_put(put_b(t, it.clone())))
            .collect(),
    )
    .await;
    let got = transact_get_ok(&client, "100 Gets after 100 Puts", all_gets()).await;
    for ((t, want), got) in items.iter().zip(&got) {
        assert_eq!(
            got.as_ref(),
            Some(want),
            "{t} item after the 100-Put transaction"
        );
    }
    let in_t1 = scan_everything(&client, "one").await.len();
    let in_t2 = scan_everything(&client, "two").await.len();
    assert_eq!((in_t1, in_t2), (50, 50), "Scan counts after 100 Puts");

    // 101 actions: rejected before anything is written.
    let mut too_many: Vec<TransactWriteItem> = items
        .iter()
        .map(|(t, it)| {
            w_update(
                update_b(t, key_of(t, it), "SET marker = :m")
                    .expression_attribute_values(":m", s("101")),
            )
        })
        .collect();
    too_many.push(w_put(put_b("one", item(&[("pk", s("extra"))]))));
    let (code, message) = expect_err("101 actions", transact(&client, too_many).await);
    assert_eq!(code, VALIDATION, "101 actions: {message}");
    assert!(
        message.contains("Member must have length less than or equal to 100"),
        "101 actions: message {message:?}"
    );

    // 100 actions whose last condition fails: 99 `None` reasons, then ConditionalCheckFailed,
    // and none of the 99 other writes is visible.
    let mixed = |fail_last: bool| -> Vec<TransactWriteItem> {
        items
            .iter()
            .enumerate()
            .map(|(i, (t, it))| {
                let k = key_of(t, it);
                if i == 99 {
                    let cond = if fail_last {
                        "n = :wrong"
                    } else {
                        "n = :right"
                    };
                    w_update(
                        update_b(t, k, "ADD n :one")
                            .condition_expression(cond)
                            .expression_attribute_values(":one", n("1"))
                            .expression_attribute_values(
                                if fail_last { ":wrong" } else { ":right" },
                                n(if fail_last { "-1" } else { "99" }),
                            ),
                    )
                } else if i % 3 == 0 {
                    w_delete(delete_b(t, k).condition_expression("attribute_exists(n)"))
                } else {
                    w_update(
                        update_b(t, k, "ADD n :one").expression_attribute_values(":one", n("1")),
                    )
                }
            })
            .collect()
    };
    let (message, reasons) = cancellation(
        "100 actions, last condition false",
        transact(&client, mixed(true)).await,
    );
    let mut want = vec!["None"; 99];
    want.push("ConditionalCheckFailed");
    check_cancellation(
        "100 actions, last condition false",
        &message,
        &reasons,
        &want,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let got = transact_get_ok(
        &client,
        "100 Gets after the cancelled transaction",
        all_gets(),
    )
    .await;
    for ((t, want), got) in items.iter().zip(&got) {
        assert_eq!(
            got.as_ref(),
            Some(want),
            "{t} item changed by a cancelled transaction"
        );
    }

    transact_ok(&client, "100 mixed actions", mixed(false)).await;
    let got = transact_get_ok(&client, "100 Gets after the mixed transaction", all_gets()).await;
    for (i, ((t, orig), got)) in items.iter().zip(&got).enumerate() {
        let want = if i % 3 == 0 && i != 99 {
            None
        } else {
            let mut w = orig.clone();
            w.insert("n".into(), n(&(i + 1).to_string()));
            Some(w)
        };
        assert_eq!(got.as_ref(), want.as_ref(), "{t} action {i}");
    }
}

// ---------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------

/// Five actions (Put, Update, Delete, ConditionCheck, Put) over both tables; the ones in
/// `failing` get a condition that is false.
fn five_actions(failing: &[usize]) -> Vec<TransactWriteItem> {
    let f = |i: usize| failing.contains(&i);
    vec![
        w_put(
            put_b("one", item(&[("pk", s("fresh")), ("v", n("1"))])).condition_expression(
                if f(0) {
                    "attribute_exists(pk)"
                } else {
                    "attribute_not_exists(pk)"
                },
            ),
        ),
        w_update(
            update_b("two", key2("u", 1), "SET v = v + :one")
                .condition_expression("v = :v")
                .expression_attribute_values(":one", n("1"))
                .expression_attribute_values(":v", n(if f(1) { "999" } else { "10" })),
        ),
        w_delete(
            delete_b("one", key1("del"))
                .condition_expression("v = :v")
                .expression_attribute_values(":v", n(if f(2) { "999" } else { "20" })),
        ),
        w_check(
            check_b("two", key2("chk", 7), "contains(tags, :t)")
                .expression_attribute_values(":t", s(if f(3) { "zzz" } else { "red" })),
        ),
        w_put(
            put_b(
                "two",
                item(&[("pk", s("u")), ("sk", n("2")), ("v", n("5"))]),
            )
            .condition_expression(if f(4) {
                "attribute_exists(pk)"
            } else {
                "attribute_not_exists(pk)"
            }),
        ),
    ]
}

fn five_keys() -> Vec<(&'static str, Attrs)> {
    vec![
        ("one", key1("fresh")),
        ("two", key2("u", 1)),
        ("one", key1("del")),
        ("two", key2("chk", 7)),
        ("two", key2("u", 2)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_condition_cancels_every_action_with_one_reason_each() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    put_ok(
        &client,
        "two",
        item(&[("pk", s("u")), ("sk", n("1")), ("v", n("10"))]),
    )
    .await;
    put_ok(&client, "one", item(&[("pk", s("del")), ("v", n("20"))])).await;
    put_ok(
        &client,
        "two",
        item(&[
            ("pk", s("chk")),
            ("sk", n("7")),
            ("tags", ss(&["red", "blue"])),
        ]),
    )
    .await;
    let keys = five_keys();
    let before = snapshot(&client, &keys).await;

    let mut f = Failures::new();
    let cases: Vec<Vec<usize>> = vec![vec![0], vec![1], vec![2], vec![3], vec![4], vec![1, 3]];
    for failing in cases {
        let what = format!("actions {failing:?} failing");
        let result = transact(&client, five_actions(&failing)).await;
        let (message, reasons) = match result {
            Err(ref e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                cancellation(&what, result)
            }
            other => {
                f.push(format!(
                    "{what}: expected TransactionCanceledException, got {:?}",
                    other.map_err(|e| describe_write_err(&e))
                ));
                continue;
            }
        };
        let want: Vec<&str> = (0..5)
            .map(|i| {
                if failing.contains(&i) {
                    "ConditionalCheckFailed"
                } else {
                    "None"
                }
            })
            .collect();
        f.check(check_cancellation(&what, &message, &reasons, &want));
        for r in &reasons {
            if r.item().is_some_and(|i| !i.is_empty()) {
                f.push(format!(
                    "{what}: a reason carries an Item without ReturnValuesOnConditionCheckFailure: {:?}",
                    r.item()
                ));
            }
        }
        let after = snapshot(&client, &keys).await;
        if after != before {
            f.push(format!(
                "{what}: the cancelled transaction changed items: before {before:?}, after {after:?}"
            ));
        }
    }
    f.assert_none();

    // With every condition true, everything applies.
    transact_ok(&client, "no condition failing", five_actions(&[])).await;
    let after = snapshot(&client, &keys).await;
    assert_eq!(
        after,
        vec![
            Some(item(&[("pk", s("fresh")), ("v", n("1"))])),
            Some(item(&[("pk", s("u")), ("sk", n("1")), ("v", n("11"))])),
            None,
            before[3].clone(),
            Some(item(&[("pk", s("u")), ("sk", n("2")), ("v", n("5"))])),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_values_on_condition_check_failure_all_old() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    let stored = item(&[
        ("pk", s("r")),
        ("v", n("1")),
        ("extra", s("e")),
        ("m", map(&[("x", list(vec![n("1"), s("two")]))])),
    ]);
    put_ok(&client, "one", stored.clone()).await;
    let stored2 = item(&[("pk", s("r2")), ("sk", n("5")), ("w", b(b"\x00\x01"))]);
    put_ok(&client, "two", stored2.clone()).await;
    let all_old = ReturnValuesOnConditionCheckFailure::AllOld;
    let mut f = Failures::new();

    // Each failing action type returns the whole item when asked to.
    let failing: Vec<(&str, TransactWriteItem, Attrs)> = vec![
        (
            "Update",
            w_update(
                update_b("one", key1("r"), "SET v = :two")
                    .condition_expression("v = :two")
                    .expression_attribute_values(":two", n("2"))
                    .return_values_on_condition_check_failure(all_old.clone()),
            ),
            stored.clone(),
        ),
        (
            "Put",
            w_put(
                put_b("one", item(&[("pk", s("r")), ("v", n("9"))]))
                    .condition_expression("attribute_not_exists(pk)")
                    .return_values_on_condition_check_failure(all_old.clone()),
            ),
            stored.clone(),
        ),
        (
            "Delete",
            w_delete(
                delete_b("two", key2("r2", 5))
                    .condition_expression("attribute_not_exists(w)")
                    .return_values_on_condition_check_failure(all_old.clone()),
            ),
            stored2.clone(),
        ),
        (
            "ConditionCheck",
            w_check(
                check_b("two", key2("r2", 5), "size(w) > :big")
                    .expression_attribute_values(":big", n("100"))
                    .return_values_on_condition_check_failure(all_old.clone()),
            ),
            stored2.clone(),
        ),
    ];
    for (kind, action, want_item) in failing {
        let what = format!("failing {kind} with ALL_OLD");
        let ok_put = w_put(put_b("one", item(&[("pk", s("side")), ("v", n("1"))])));
        let (message, reasons) = cancellation(&what, transact(&client, vec![ok_put, action]).await);
        f.check(check_cancellation(
            &what,
            &message,
            &reasons,
            &["None", "ConditionalCheckFailed"],
        ));
        if let Some(r) = reasons.get(1) {
            if r.item() != Some(&want_item) {
                f.push(format!(
                    "{what}: reason Item {:?}, want {want_item:?}",
                    r.item()
                ));
            }
        }
    }

    // NONE (explicit) carries no item.
    let (_, reasons) = cancellation(
        "failing Update with NONE",
        transact(
            &client,
            vec![w_update(
                update_b("one", key1("r"), "SET v = :two")
                    .condition_expression("v = :two")
                    .expression_attribute_values(":two", n("2"))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::None,
                    ),
            )],
        )
        .await,
    );
    if reasons
        .first()
        .and_then(|r| r.item())
        .is_some_and(|i| !i.is_empty())
    {
        f.push(format!(
            "failing Update with NONE: reason carries an Item {:?}",
            reasons[0].item()
        ));
    }

    // A condition failing on an item that does not exist has no item to return.
    let (message, reasons) = cancellation(
        "failing ConditionCheck on a missing item with ALL_OLD",
        transact(
            &client,
            vec![w_check(
                check_b("one", key1("missing"), "attribute_exists(pk)")
                    .return_values_on_condition_check_failure(all_old.clone()),
            )],
        )
        .await,
    );
    f.check(check_cancellation(
        "failing ConditionCheck on a missing item",
        &message,
        &reasons,
        &["ConditionalCheckFailed"],
    ));
    if reasons
        .first()
        .and_then(|r| r.item())
        .is_some_and(|i| !i.is_empty())
    {
        f.push(format!(
            "ConditionCheck on a missing item: reason carries an Item {:?}",
            reasons[0].item()
        ));
    }

    assert_eq!(get_consistent(&client, "one", key1("side")).await, None);
    assert_eq!(
        get_consistent(&client, "one", key1("r")).await,
        Some(stored)
    );
    assert_eq!(
        get_consistent(&client, "two", key2("r2", 5)).await,
        Some(stored2)
    );
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_errors_at_apply_time_are_validation_error_reasons() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    put_ok(
        &client,
        "one",
        item(&[("pk", s("x")), ("name", s("text")), ("v", n("1"))]),
    )
    .await;
    let big = item(&[("pk", s("big")), ("pad", s(&"p".repeat(300_000)))]);
    put_ok(&client, "one", big.clone()).await;
    let mut f = Failures::new();

    let cases: Vec<(&str, TransactWriteItem, &str)> = vec![
        (
            "SET from a missing attribute",
            w_update(
                update_b("one", key1("x"), "SET v = nothere + :one")
                    .expression_attribute_values(":one", n("1")),
            ),
            NO_SUCH_ATTRIBUTE,
        ),
        (
            "ADD a number to a string",
            w_update(
                update_b("one", key1("x"), "ADD #n :one")
                    .expression_attribute_names("#n", "name")
                    .expression_attribute_values(":one", n("1")),
            ),
            WRONG_OPERAND,
        ),
        (
            "SET below a map that does not exist",
            w_update(
                update_b("one", key1("x"), "SET nomap.deeper = :one")
                    .expression_attribute_values(":one", n("1")),
            ),
            BAD_PATH,
        ),
        (
            "an update growing the item past 400 KB",
            w_update(
                update_b("one", key1("big"), "SET more = :more")
                    .expression_attribute_values(":more", s(&"m".repeat(200_000))),
            ),
            TOO_BIG,
        ),
    ];
    for (what, action, want_message) in cases {
        let side = w_put(put_b("two", item(&[("pk", s("side")), ("sk", n("1"))])));
        let result = transact(&client, vec![side, action]).await;
        let (message, reasons) = match result {
            Err(ref e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                cancellation(what, result)
            }
            other => {
                f.push(format!(
                    "{what}: expected TransactionCanceledException [None, ValidationError], got {:?}",
                    other.map_err(|e| describe_write_err(&e))
                ));
                continue;
            }
        };
        f.check(check_cancellation(
            what,
            &message,
            &reasons,
            &["None", "ValidationError"],
        ));
        let m = reasons.get(1).and_then(|r| r.message()).unwrap_or_default();
        if !m.contains(want_message) {
            f.push(format!(
                "{what}: ValidationError reason message {m:?} does not contain {want_message:?}"
            ));
        }
    }
    assert_eq!(
        get_consistent(&client, "two", key2("side", 1)).await,
        None,
        "a cancelled transaction wrote its other action"
    );
    assert_eq!(
        get_consistent(&client, "one", key1("x")).await,
        Some(item(&[("pk", s("x")), ("name", s("text")), ("v", n("1"))]))
    );
    assert_eq!(get_consistent(&client, "one", key1("big")).await, Some(big));
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_shape_errors_are_validation_exceptions_and_write_nothing() {
    use serde_json::json;
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    create_table(&client, "one_b", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&client, "one", item(&[("pk", s("dup")), ("v", n("1"))])).await;
    put_ok(
        &client,
        "two",
        item(&[("pk", s("dup")), ("sk", n("1")), ("v", n("1"))]),
    )
    .await;
    let twi = "TransactWriteItems";
    // A valid Put of a fresh key, added to every bad request: it must never be written.
    let probe = || json!({"Put": {"TableName": "one", "Item": {"pk": {"S": "probe"}}}});
    let mut f = Failures::new();

    f.check(check_raw(
        &server,
        "empty TransactItems",
        twi,
        json!({"TransactItems": []}),
        VALIDATION,
        Some("Member must have length greater than or equal to 1"),
    ));
    f.check(check_raw(
        &server,
        "no TransactItems",
        twi,
        json!({}),
        VALIDATION,
        None,
    ));
    f.check(check_raw(
        &server,
        "an action with no operation",
        twi,
        json!({"TransactItems": [probe(), {}]}),
        VALIDATION,
        None,
    ));
    f.check(check_raw(
        &server,
        "an action with Put and Delete",
        twi,
        json!({"TransactItems": [probe(), {
            "Put": {"TableName": "one", "Item": {"pk": {"S": "two-ops"}}},
            "Delete": {"TableName": "one", "Key": {"pk": {"S": "other"}}}
        }]}),
        VALIDATION,
        Some(ONE_ACTION),
    ));
    f.check(check_raw(
        &server,
        "an action with Update and ConditionCheck",
        twi,
        json!({"TransactItems": [probe(), {
            "Update": {"TableName": "one", "Key": {"pk": {"S": "u"}},
                       "UpdateExpression": "SET a = :a",
                       "ExpressionAttributeValues": {":a": {"S": "x"}}},
            "ConditionCheck": {"TableName": "one", "Key": {"pk": {"S": "c"}},
                               "ConditionExpression": "attribute_exists(pk)"}
        }]}),
        VALIDATION,
        Some(ONE_ACTION),
    ));
    f.check(check_raw(
        &server,
        "ConditionCheck without ConditionExpression",
        twi,
        json!({"TransactItems": [probe(), {
            "ConditionCheck": {"TableName": "one", "Key": {"pk": {"S": "c"}}}
        }]}),
        VALIDATION,
        None,
    ));

    // Two actions on one item.
    let same_item_cases: Vec<(&str, Vec<TransactWriteItem>)> = vec![
        (
            "Put and Update of one item",
            vec![
                w_put(put_b("one", item(&[("pk", s("probe"))]))),
                w_put(put_b("one", item(&[("pk", s("dup")), ("v", n("2"))]))),
                w_update(
                    update_b("one", key1("dup"), "SET v = :v")
                        .expression_attribute_values(":v", n("3")),
                ),
            ],
        ),
        (
            "ConditionCheck and Delete of one item",
            vec![
                w_check(check_b("one", key1("dup"), "attribute_exists(pk)")),
                w_put(put_b("one", item(&[("pk", s("probe"))]))),
                w_delete(delete_b("one", key1("dup"))),
            ],
        ),
        (
            "two Deletes of one (pk, sk) item",
            vec![
                w_put(put_b("one", item(&[("pk", s("probe"))]))),
                w_delete(delete_b("two", key2("dup", 1))),
                w_delete(delete_b("two", key2("dup", 1))),
            ],
        ),
        (
            "two Puts of one missing item",
            vec![
                w_put(put_b("one", item(&[("pk", s("probe"))]))),
                w_put(put_b(
                    "two",
                    item(&[("pk", s("nu")), ("sk", n("4")), ("a", n("1"))]),
                )),
                w_put(put_b(
                    "two",
                    item(&[("pk", s("nu")), ("sk", n("4")), ("a", n("2"))]),
                )),
            ],
        ),
    ];
    for (what, actions) in same_item_cases {
        f.check(check_err(
            what,
            transact(&client, actions).await,
            VALIDATION,
            Some(SAME_ITEM),
        ));
    }

    // Other request errors, each with the probe Put in front.
    let bad: Vec<(&str, TransactWriteItem, &str, Option<&str>)> = vec![
        (
            "a table that does not exist",
            w_update(
                update_b("nope", key1("x"), "SET a = :a").expression_attribute_values(":a", n("1")),
            ),
            NOT_FOUND,
            Some("Requested resource not found"),
        ),
        (
            "a key without its sort key",
            w_delete(delete_b("two", key1("dup"))),
            VALIDATION,
            Some("The provided key element does not match the schema"),
        ),
        (
            "a key attribute of the wrong type",
            w_put(put_b("one", item(&[("pk", n("5"))]))),
            VALIDATION,
            Some("One or more parameter values were invalid"),
        ),
        (
            "a bad UpdateExpression",
            w_update(update_b("one", key1("dup"), "SET = v")),
            VALIDATION,
            Some("Invalid UpdateExpression"),
        ),
        (
            "an undefined expression attribute value",
            w_check(check_b("one", key1("dup"), "v = :nope")),
            VALIDATION,
            Some("Invalid ConditionExpression"),
        ),
        (
            "a Put without its key",
            w_put(put_b("one", item(&[("other", s("x"))]))),
            VALIDATION,
            Some("One or more parameter values were invalid"),
        ),
        (
            "an unused expression attribute value",
            w_update(
                update_b("one", key1("dup"), "SET v = :v")
                    .expression_attribute_values(":v", n("1"))
                    .expression_attribute_values(":extra", n("2")),
            ),
            VALIDATION,
            Some("Value provided in ExpressionAttributeValues unused in expressions"),
        ),
        (
            "an update of a key attribute",
            w_update(
                update_b("one", key1("dup"), "SET pk = :v")
                    .expression_attribute_values(":v", s("moved")),
            ),
            VALIDATION,
            Some("This attribute is part of the key"),
        ),
    ];
    for (what, action, code, message) in bad {
        let probe = w_put(put_b("one", item(&[("pk", s("probe"))])));
        f.check(check_err(
            what,
            transact(&client, vec![probe, action]).await,
            code,
            message,
        ));
    }

    // ClientRequestToken is 1 to 36 characters.
    f.check(check_err(
        "a 37-character ClientRequestToken",
        client
            .transact_write_items()
            .transact_items(w_put(put_b("one", item(&[("pk", s("probe"))]))))
            .client_request_token("x".repeat(37))
            .send()
            .await,
        VALIDATION,
        Some("Member must have length less than or equal to 36"),
    ));

    // The same key in two different tables is two items.
    transact_ok(
        &client,
        "one key in two tables",
        vec![
            w_update(
                update_b("one", key1("dup"), "SET v = :v")
                    .expression_attribute_values(":v", n("7")),
            ),
            w_put(put_b("one_b", item(&[("pk", s("dup")), ("v", n("8"))]))),
        ],
    )
    .await;
    assert_eq!(
        get_consistent(&client, "one_b", key1("dup")).await,
        Some(item(&[("pk", s("dup")), ("v", n("8"))]))
    );

    if get_consistent(&client, "one", key1("probe"))
        .await
        .is_some()
    {
        f.push("the probe Put of a rejected request was written");
    }
    for (table, k) in [("one", key1("two-ops")), ("two", key2("nu", 4))] {
        if get_consistent(&client, table, k.clone()).await.is_some() {
            f.push(format!("{table} {k:?} of a rejected request was written"));
        }
    }
    assert_eq!(
        get_consistent(&client, "two", key2("dup", 1)).await,
        Some(item(&[("pk", s("dup")), ("sk", n("1")), ("v", n("1"))])),
        "a rejected request changed t2"
    );
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_size_limit_of_four_megabytes() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    create_table(&client, "big", ("pk", ScalarAttributeType::S), None).await;
    let blob = "z".repeat(390_000);
    let puts = |count: usize, prefix: &str| -> Vec<TransactWriteItem> {
        (0..count)
            .map(|i| {
                w_put(put_b(
                    "big",
                    item(&[("pk", s(&format!("{prefix}{i:02}"))), ("pad", s(&blob))]),
                ))
            })
            .collect()
    };

    // 11 items of 390 KB: 4.29 MB, over the limit.
    let (code, message) = expect_err("11 × 390 KB", transact(&client, puts(11, "over")).await);
    assert_eq!(code, VALIDATION, "11 × 390 KB: {message}");
    assert!(
        scan_everything(&client, "big").await.is_empty(),
        "the over-size transaction wrote items"
    );

    // 10 items of 390 KB: 3.9 MB, within it.
    transact_ok(&client, "10 × 390 KB", puts(10, "fits")).await;
    let got = scan_everything(&client, "big").await;
    assert_eq!(got.len(), 10, "items after the 3.9 MB transaction");
    assert!(got.iter().all(|it| it.get("pad") == Some(&s(&blob))));
}

// ---------------------------------------------------------------------------------------
// TransactGetItems
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transact_get_items_in_order_with_projections() {
    use serde_json::json;
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    let a = item(&[
        ("pk", s("a")),
        ("v", n("1")),
        ("name", s("alpha")),
        ("map", map(&[("deep", s("i")), ("other", n("2"))])),
        ("l", list(vec![s("l0"), s("l1"), s("l2")])),
    ]);
    put_ok(&client, "one", a.clone()).await;
    let p = item(&[
        ("pk", s("p")),
        ("sk", n("1")),
        ("v", n("10")),
        ("w", s("wide")),
    ]);
    put_ok(&client, "two", p.clone()).await;
    put_ok(
        &client,
        "two",
        item(&[
            ("pk", s("p")),
            ("sk", n("2")),
            ("w", s("wide2")),
            ("x", n("0")),
        ]),
    )
    .await;

    let got = transact_get_ok(
        &client,
        "four Gets",
        vec![
            g(get_b("two", key2("p", 1))),
            g(get_b("one", key1("missing"))),
            g(get_b("one", key1("a"))
                .projection_expression("v, #m.deep, l[1], #n")
                .expression_attribute_names("#m", "map")
                .expression_attribute_names("#n", "name")),
            g(get_b("two", key2("p", 2)).projection_expression("w")),
        ],
    )
    .await
    .into_iter()
    .collect::<Vec<_>>();
    assert_eq!(got[0].as_ref(), Some(&p), "Get 0: whole item");
    assert_eq!(
        got[1], None,
        "Get 1: a missing item has an empty ItemResponse"
    );
    assert_eq!(
        got[2].as_ref(),
        Some(&item(&[
            ("v", n("1")),
            ("name", s("alpha")),
            ("map", map(&[("deep", s("i"))])),
            ("l", list(vec![s("l1")])),
        ])),
        "Get 2: projection"
    );
    assert_eq!(
        got[3].as_ref(),
        Some(&item(&[("w", s("wide2"))])),
        "Get 3: projection"
    );

    // 100 Gets are allowed, 101 are not.
    for i in 0..100 {
        put_ok(
            &client,
            "two",
            item(&[("pk", s(&format!("h{}", i % 9))), ("sk", n(&i.to_string()))]),
        )
        .await;
    }
    let gets = |count: i64| -> Vec<TransactGetItem> {
        (0..count)
            .map(|i| g(get_b("two", key2(&format!("h{}", i % 9), i))))
            .collect()
    };
    let got = transact_get_ok(&client, "100 Gets", gets(100)).await;
    for (i, it) in got.iter().enumerate() {
        assert_eq!(
            it.as_ref(),
            Some(&key2(&format!("h{}", i % 9), i as i64)),
            "Get {i} of 100"
        );
    }

    let mut f = Failures::new();
    f.check(check_err(
        "101 Gets",
        client
            .transact_get_items()
            .set_transact_items(Some(gets(101)))
            .send()
            .await,
        VALIDATION,
        Some("Member must have length less than or equal to 100"),
    ));
    f.check(check_raw(
        &server,
        "no Gets",
        "TransactGetItems",
        json!({"TransactItems": []}),
        VALIDATION,
        Some("Member must have length greater than or equal to 1"),
    ));
    f.check(check_err(
        "a Get of a table that does not exist",
        client
            .transact_get_items()
            .transact_items(g(get_b("one", key1("a"))))
            .transact_items(g(get_b("nope", key1("a"))))
            .send()
            .await,
        NOT_FOUND,
        Some("Requested resource not found"),
    ));
    // A key that does not fit its table is the action's own failure, reported as its
    // cancellation reason (tests/validation_messages.rs has the reasons).
    f.check(check_err(
        "a Get whose key misses the sort key",
        client
            .transact_get_items()
            .transact_items(g(get_b("two", key1("p"))))
            .send()
            .await,
        "TransactionCanceledException",
        Some("[ValidationError]"),
    ));
    f.check(check_err(
        "a Get with an undefined #name in its projection",
        client
            .transact_get_items()
            .transact_items(g(
                get_b("one", key1("a")).projection_expression("#undefined")
            ))
            .send()
            .await,
        VALIDATION,
        None,
    ));
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// ClientRequestToken
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_request_token_makes_a_transaction_idempotent() {
    use serde_json::json;
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    put_ok(&client, "one", item(&[("pk", s("ctr")), ("n", n("0"))])).await;

    let actions = |step: &str| {
        vec![
            w_update(
                update_b("one", key1("ctr"), "ADD n :step")
                    .expression_attribute_values(":step", n(step)),
            ),
            w_put(put_b(
                "two",
                item(&[("pk", s("log")), ("sk", n("1")), ("step", n(step))]),
            )),
        ]
    };
    let send = |token: &str, actions: Vec<TransactWriteItem>| {
        client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .client_request_token(token)
            .send()
    };
    let counter = || async {
        num(
            &get_consistent(&client, "one", key1("ctr")).await.unwrap(),
            "n",
        )
    };

    send("token-1", actions("1"))
        .await
        .unwrap_or_else(|e| panic!("first send: {}", describe_write_err(&e)));
    assert_eq!(counter().await, 1);
    for i in 0..3 {
        send("token-1", actions("1"))
            .await
            .unwrap_or_else(|e| panic!("identical resend {i}: {}", describe_write_err(&e)));
    }
    assert_eq!(
        counter().await,
        1,
        "identical resends with one token applied again"
    );

    let mut f = Failures::new();
    f.check(check_err(
        "same token, another value",
        send("token-1", actions("2")).await,
        "IdempotentParameterMismatchException",
        None,
    ));
    f.check(check_err(
        "same token, one action fewer",
        send("token-1", actions("1").into_iter().take(1).collect()).await,
        "IdempotentParameterMismatchException",
        None,
    ));
    f.assert_none();
    assert_eq!(counter().await, 1, "a mismatched request was applied");

    // Another token is another transaction.
    send("token-2", actions("1"))
        .await
        .unwrap_or_else(|e| panic!("token-2: {}", describe_write_err(&e)));
    assert_eq!(counter().await, 2);

    // Without a token (raw JSON: the SDK always adds one) every request applies.
    let body = json!({"TransactItems": [{"Update": {
        "TableName": "one", "Key": {"pk": {"S": "ctr"}},
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}}
    }}]})
    .to_string();
    for _ in 0..2 {
        let r = server.raw_request("DynamoDB_20120810.TransactWriteItems", &body);
        assert_eq!(
            r.status,
            200,
            "tokenless TransactWriteItems: {}",
            r.body_str()
        );
    }
    assert_eq!(counter().await, 4, "two tokenless requests must both apply");

    // A replay does not re-apply even after the item changed since: the Put of the first
    // request must not overwrite the later PutItem.
    let put_x = |v: &str| vec![w_put(put_b("one", item(&[("pk", s("px")), ("v", n(v))])))];
    send("token-3", put_x("1"))
        .await
        .unwrap_or_else(|e| panic!("token-3: {}", describe_write_err(&e)));
    put_ok(&client, "one", item(&[("pk", s("px")), ("v", n("2"))])).await;
    send("token-3", put_x("1"))
        .await
        .unwrap_or_else(|e| panic!("token-3 replay: {}", describe_write_err(&e)));
    assert_eq!(
        get_consistent(&client, "one", key1("px")).await,
        Some(item(&[("pk", s("px")), ("v", n("2"))])),
        "the replayed Put was applied again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_token_apply_once() {
    // TransactionInProgressException: "The transaction with the given request token is
    // already in progress." Either that or success, and the update applies exactly once.
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    put_ok(&client, "one", item(&[("pk", s("ctr")), ("n", n("0"))])).await;
    for round in 0..5 {
        let token = format!("concurrent-{round}");
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (client, token) = (client.clone(), token.clone());
            handles.push(tokio::spawn(async move {
                client
                    .transact_write_items()
                    .transact_items(w_update(
                        update_b("one", key1("ctr"), "ADD n :one")
                            .expression_attribute_values(":one", n("1")),
                    ))
                    .transact_items(w_put(put_b(
                        "two",
                        item(&[("pk", s("log")), ("sk", n("1"))]),
                    )))
                    .client_request_token(token)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| describe_write_err(&e))
            }));
        }
        let mut ok = 0;
        for h in handles {
            match h.await.expect("sender panicked") {
                Ok(()) => ok += 1,
                Err(e) if e.contains("TransactionInProgressException") => {}
                Err(e) => panic!("round {round}: unexpected outcome {e}"),
            }
        }
        assert!(
            ok >= 1,
            "round {round}: no request with the token succeeded"
        );
        let counter = num(
            &get_consistent(&client, "one", key1("ctr")).await.unwrap(),
            "n",
        );
        assert_eq!(
            counter,
            round + 1,
            "round {round}: 8 concurrent requests with one token must apply once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_request_token_outlives_a_restart() {
    // "A client request token is valid for 10 minutes after the first request that uses it
    // is completed": an SDK that lost the response to a crash retries with the same token,
    // and must not apply the transaction twice.
    let mut server = TestServer::start_with(&PARTITIONS);
    two_tables(&server.client()).await;
    put_ok(
        &server.client(),
        "one",
        item(&[("pk", s("ctr")), ("n", n("0"))]),
    )
    .await;
    let send = |client: Client, token: &'static str| async move {
        client
            .transact_write_items()
            .transact_items(w_update(
                update_b("one", key1("ctr"), "ADD n :one")
                    .expression_attribute_values(":one", n("1")),
            ))
            .client_request_token(token)
            .send()
            .await
            .map_err(|e| describe_write_err(&e))
    };
    send(server.client(), "survives-restart")
        .await
        .unwrap_or_else(|e| panic!("first send: {e}"));
    server.restart();
    send(server.client(), "survives-restart")
        .await
        .unwrap_or_else(|e| panic!("replay after a graceful restart: {e}"));
    send(server.client(), "survives-kill")
        .await
        .unwrap_or_else(|e| panic!("first send: {e}"));
    server.kill9();
    server.start_again();
    send(server.client(), "survives-kill")
        .await
        .unwrap_or_else(|e| panic!("replay after SIGKILL: {e}"));
    let got = get_consistent(&server.client(), "one", key1("ctr")).await;
    assert_eq!(
        got,
        Some(item(&[("pk", s("ctr")), ("n", n("2"))])),
        "two tokens, each replayed once across a restart, must add 2"
    );
}

// ---------------------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------------------

const HOT: [&str; 4] = ["hot-a", "hot-b", "hot-c", "hot-d"];
const HOT_START: i64 = 1000;
const CONTENTION_TIME: Duration = Duration::from_secs(4);
const MAX_OPS_PER_TASK: usize = 5_000;
const TASK_FINISH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct HotOutcome {
    /// (from, to) of every transaction that succeeded.
    moves: Vec<(usize, usize)>,
    /// Successful single-item UpdateItems per hot item.
    touches: [i64; 4],
    txn_conflicts: usize,
    single_conflicts: usize,
    audits_ok: usize,
    audit_conflicts: usize,
    failures: Vec<String>,
}

/// Whether every reason is `None` or `TransactionConflict` ("Transaction is ongoing for the
/// item"), with at least one conflict.
fn only_conflicts(reasons: &[CancellationReason], want_len: usize) -> bool {
    reasons.len() == want_len
        && reasons.iter().all(|r| match r.code() {
            Some("None") => true,
            Some("TransactionConflict") => r.message().is_some_and(|m| m.contains(ONGOING)),
            _ => false,
        })
        && reasons
            .iter()
            .any(|r| r.code() == Some("TransactionConflict"))
}

/// TransactionConflictException "Transaction is ongoing for the item".
fn is_conflict<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("TransactionConflictException")
        && e.message().is_some_and(|m| m.contains(ONGOING))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_item_writes_conflict_with_transactions_on_hot_items() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    for h in HOT {
        put_ok(
            &client,
            "one",
            item(&[
                ("pk", s(h)),
                ("n", n(&HOT_START.to_string())),
                ("touch_count", n("0")),
            ]),
        )
        .await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut handles = Vec::new();

    // Transactions: move one unit between two hot items, and check that a third exists.
    for task in 0..4u64 {
        let (client, stop) = (client.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut out = HotOutcome::default();
            let mut rng = Rng::new(task + 1);
            for _ in 0..MAX_OPS_PER_TASK {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let from = rng.below(4);
                let to = (from + 1 + rng.below(3)) % 4;
                let third = (0..4).find(|i| *i != from && *i != to).unwrap();
                let r = transact(
                    &client,
                    vec![
                        w_update(
                            update_b("one", key1(HOT[from]), "SET n = n - :one")
                                .expression_attribute_values(":one", n("1")),
                        ),
                        w_update(
                            update_b("one", key1(HOT[to]), "SET n = n + :one")
                                .expression_attribute_values(":one", n("1")),
                        ),
                        w_check(check_b("one", key1(HOT[third]), "attribute_exists(pk)")),
                    ],
                )
                .await;
                match r {
                    Ok(_) => out.moves.push((from, to)),
                    Err(e) => match e.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(c))
                            if only_conflicts(c.cancellation_reasons(), 3) =>
                        {
                            out.txn_conflicts += 1
                        }
                        _ => out
                            .failures
                            .push(format!("transaction: {}", describe_write_err(&e))),
                    },
                }
            }
            out
        }));
    }

    // Single-item writes on the same items: an UpdateItem that always applies unless it
    // conflicts, and a PutItem / DeleteItem whose conditions never hold.
    for task in 0..3u64 {
        let (client, stop) = (client.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut out = HotOutcome::default();
            let mut rng = Rng::new(100 + task);
            for op in 0..MAX_OPS_PER_TASK {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let h = rng.below(4);
                match op % 3 {
                    0 => match client
                        .update_item()
                        .table_name("one")
                        .key("pk", s(HOT[h]))
                        .update_expression("ADD touch_count :one")
                        .expression_attribute_values(":one", n("1"))
                        .send()
                        .await
                    {
                        Ok(_) => out.touches[h] += 1,
                        Err(e) if is_conflict(&e) => out.single_conflicts += 1,
                        Err(e) => out.failures.push(format!("UpdateItem: {}", short(&e))),
                    },
                    1 => match client
                        .put_item()
                        .table_name("one")
                        .item("pk", s(HOT[h]))
                        .item("n", n("0"))
                        .condition_expression("attribute_not_exists(pk)")
                        .send()
                        .await
                    {
                        Ok(_) => out.failures.push(format!(
                            "PutItem on {} with a false condition applied",
                            HOT[h]
                        )),
                        Err(e) if is_conflict(&e) => out.single_conflicts += 1,
                        Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                        Err(e) => out.failures.push(format!("PutItem: {}", short(&e))),
                    },
                    _ => match client
                        .delete_item()
                        .table_name("one")
                        .key("pk", s(HOT[h]))
                        .condition_expression("n < :zero")
                        .expression_attribute_values(":zero", n("0"))
                        .send()
                        .await
                    {
                        Ok(_) => out.failures.push(format!(
                            "DeleteItem on {} with a false condition applied",
                            HOT[h]
                        )),
                        Err(e) if is_conflict(&e) => out.single_conflicts += 1,
                        Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                        Err(e) => out.failures.push(format!("DeleteItem: {}", short(&e))),
                    },
                }
            }
            out
        }));
    }

    // Audits: every TransactGetItems sees the conserved sum.
    for _ in 0..2 {
        let (client, stop) = (client.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut out = HotOutcome::default();
            for _ in 0..MAX_OPS_PER_TASK {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = client
                    .transact_get_items()
                    .set_transact_items(Some(
                        HOT.iter().map(|h| g(get_b("one", key1(h)))).collect(),
                    ))
                    .send()
                    .await;
                match r {
                    Ok(o) => {
                        let items: Vec<Option<&Attrs>> =
                            o.responses().iter().map(|r| r.item()).collect();
                        if items.len() != 4 || items.iter().any(|i| i.is_none()) {
                            out.failures.push(format!("audit saw {items:?}"));
                            continue;
                        }
                        let sum: i64 = items.iter().map(|i| num(i.unwrap(), "n")).sum();
                        if sum != 4 * HOT_START {
                            out.failures.push(format!(
                                "audit saw a partial transaction: sum {sum}, items {items:?}"
                            ));
                        }
                        out.audits_ok += 1;
                    }
                    Err(e) => match e.as_service_error() {
                        Some(TransactGetItemsError::TransactionCanceledException(c))
                            if only_conflicts(c.cancellation_reasons(), 4) =>
                        {
                            out.audit_conflicts += 1
                        }
                        _ => out
                            .failures
                            .push(format!("audit: {}", describe_get_err(&e))),
                    },
                }
            }
            out
        }));
    }

    tokio::time::sleep(CONTENTION_TIME).await;
    stop.store(true, Ordering::SeqCst);
    let mut total = HotOutcome::default();
    for h in handles {
        let o = tokio::time::timeout(TASK_FINISH_TIMEOUT, h)
            .await
            .expect("a task did not finish")
            .expect("a task panicked");
        total.moves.extend(o.moves);
        for i in 0..4 {
            total.touches[i] += o.touches[i];
        }
        total.txn_conflicts += o.txn_conflicts;
        total.single_conflicts += o.single_conflicts;
        total.audits_ok += o.audits_ok;
        total.audit_conflicts += o.audit_conflicts;
        total.failures.extend(o.failures);
    }
    eprintln!(
        "hot items, {:?}: {} transactions applied, {} cancelled by conflicts; {} single writes \
         conflicted; updates applied {:?}; {} audits ok, {} cancelled",
        started.elapsed(),
        total.moves.len(),
        total.txn_conflicts,
        total.single_conflicts,
        total.touches,
        total.audits_ok,
        total.audit_conflicts
    );
    let mut f = Failures::new();
    for e in total.failures.iter().take(20) {
        f.push(e.clone());
    }
    if total.moves.is_empty() {
        f.push("no transaction succeeded");
    }
    if total.touches.iter().sum::<i64>() == 0 {
        f.push("no single-item UpdateItem succeeded");
    }
    if total.audits_ok == 0 {
        f.push("no TransactGetItems audit succeeded");
    }
    for (i, h) in HOT.iter().enumerate() {
        let want_n = HOT_START + total.moves.iter().filter(|(_, to)| *to == i).count() as i64
            - total.moves.iter().filter(|(from, _)| *from == i).count() as i64;
        let got = get_consistent(&client, "one", key1(h)).await;
        let want = item(&[
            ("pk", s(h)),
            ("n", n(&want_n.to_string())),
            ("touch_count", n(&total.touches[i].to_string())),
        ]);
        if got.as_ref() != Some(&want) {
            f.push(format!(
                "{h}: final {got:?}, want {want:?} from the acknowledged writes"
            ));
        }
    }
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transact_get_items_never_sees_a_partial_transaction() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    two_tables(&client).await;
    // Ten items, five per table, spread over partitions.
    let keys: Vec<(&str, Attrs)> = (0..10)
        .map(|i| {
            if i < 5 {
                ("one", key1(&format!("snap-{i}")))
            } else {
                ("two", key2(&format!("snap-{i}"), i))
            }
        })
        .collect();
    let full = |k: &Attrs, ver: i64| -> Attrs {
        let mut it = k.clone();
        it.insert("ver".into(), n(&ver.to_string()));
        it.insert("padding".into(), s(&format!("version {ver}")));
        it
    };
    transact_ok(
        &client,
        "initial versions",
        keys.iter()
            .map(|(t, k)| w_put(put_b(t, full(k, 0))))
            .collect(),
    )
    .await;

    let keys = Arc::new(keys);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2i64 {
        let (client, stop, keys) = (client.clone(), stop.clone(), keys.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut failures = Vec::new();
            for round in 1..=MAX_OPS_PER_TASK as i64 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                // Versions are unique per writer: 2·round + w.
                let ver = 2 * round + w;
                let actions: Vec<TransactWriteItem> = keys
                    .iter()
                    .map(|(t, k)| {
                        if round % 2 == 0 {
                            w_put(put_b(t, full(k, ver)))
                        } else {
                            w_update(
                                update_b(t, k.clone(), "SET ver = :v, padding = :p")
                                    .expression_attribute_values(":v", n(&ver.to_string()))
                                    .expression_attribute_values(
                                        ":p",
                                        s(&format!("version {ver}")),
                                    ),
                            )
                        }
                    })
                    .collect();
                match transact(&client, actions).await {
                    Ok(_) => acked.push(ver),
                    Err(e) => match e.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(c))
                            if only_conflicts(c.cancellation_reasons(), 10) => {}
                        _ => failures.push(format!("writer {w}: {}", describe_write_err(&e))),
                    },
                }
            }
            (acked, failures)
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (client, stop, keys) = (client.clone(), stop.clone(), keys.clone());
        readers.push(tokio::spawn(async move {
            let (mut ok, mut failures) = (0usize, Vec::new());
            for _ in 0..MAX_OPS_PER_TASK {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = client
                    .transact_get_items()
                    .set_transact_items(Some(
                        keys.iter().map(|(t, k)| g(get_b(t, k.clone()))).collect(),
                    ))
                    .send()
                    .await;
                match r {
                    Ok(o) => {
                        let vers: Vec<Option<String>> = o
                            .responses()
                            .iter()
                            .map(|r| {
                                r.item()
                                    .and_then(|i| i.get("ver"))
                                    .and_then(|v| v.as_n().ok().cloned())
                            })
                            .collect();
                        if vers.len() != 10 || vers.iter().any(|v| v.is_none() || *v != vers[0]) {
                            failures.push(format!("a read saw mixed versions {vers:?}"));
                        }
                        ok += 1;
                    }
                    Err(e) => match e.as_service_error() {
                        Some(TransactGetItemsError::TransactionCanceledException(c))
                            if only_conflicts(c.cancellation_reasons(), 10) => {}
                        _ => failures.push(format!("reader: {}", describe_get_err(&e))),
                    },
                }
            }
            (ok, failures)
        }));
    }
    tokio::time::sleep(CONTENTION_TIME).await;
    stop.store(true, Ordering::SeqCst);

    let mut f = Failures::new();
    let mut acked: Vec<i64> = Vec::new();
    for h in writers {
        let (a, fails) = tokio::time::timeout(TASK_FINISH_TIMEOUT, h)
            .await
            .expect("a writer did not finish")
            .expect("a writer panicked");
        acked.extend(a);
        for e in fails.into_iter().take(10) {
            f.push(e);
        }
    }
    let mut reads_ok = 0;
    for h in readers {
        let (ok, fails) = tokio::time::timeout(TASK_FINISH_TIMEOUT, h)
            .await
            .expect("a reader did not finish")
            .expect("a reader panicked");
        reads_ok += ok;
        for e in fails.into_iter().take(10) {
            f.push(e);
        }
    }
    eprintln!(
        "{} transactions applied, {reads_ok} consistent TransactGetItems",
        acked.len()
    );
    if acked.is_empty() {
        f.push("no writer transaction succeeded");
    }
    if reads_ok == 0 {
        f.push("no TransactGetItems succeeded");
    }
    // The final state is one acknowledged version on all ten items.
    let finals = transact_get_ok(
        &client,
        "final read",
        keys.iter().map(|(t, k)| g(get_b(t, k.clone()))).collect(),
    )
    .await;
    let final_ver = finals[0].as_ref().map(|i| num(i, "ver"));
    for ((t, k), got) in keys.iter().zip(&finals) {
        let want = final_ver.map(|v| full(k, v));
        if got != &want {
            f.push(format!("{t} {k:?}: final {got:?}, want {want:?}"));
        }
    }
    if let Some(v) = final_ver {
        if !acked.contains(&v) {
            f.push(format!(
                "final version {v} was never acknowledged (acknowledged: {} versions)",
                acked.len()
            ));
        }
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Secondary indexes
// ---------------------------------------------------------------------------------------

const GSI_TIMEOUT: Duration = Duration::from_secs(30);

fn sorted_by_key(mut items: Vec<Attrs>) -> Vec<Attrs> {
    items.sort_by_key(|i| format!("{:?}/{:?}", i.get("pk"), i.get("sk")));
    items
}

/// Poll the GSI (bounded by `GSI_TIMEOUT`) until it holds exactly the table items that
/// have `g`; returns the last difference on timeout.
async fn gsi_matches(client: &Client, table: &str, index: &str) -> Result<(), String> {
    let deadline = Instant::now() + GSI_TIMEOUT;
    loop {
        let want: Vec<Attrs> = sorted_by_key(
            scan_everything(client, table)
                .await
                .into_iter()
                .filter(|i| i.contains_key("g"))
                .collect(),
        );
        let got = sorted_by_key(scan_index_everything(client, table, index).await);
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "index {index} after {GSI_TIMEOUT:?}: {got:?}, want {want:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_on_a_table_with_global_and_local_indexes() {
    let server = TestServer::start_with(&PARTITIONS);
    let client = server.client_no_retry();
    let all = || {
        Projection::builder()
            .projection_type(ProjectionType::All)
            .build()
    };
    client
        .create_table()
        .table_name("idx")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .attribute_definitions(attr_def("l", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_g")
                .key_schema(key("g", KeyType::Hash))
                .projection(all())
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_l")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("l", KeyType::Range))
                .projection(all())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable idx: {e:?}"));
    wait_active(&client, "idx").await;
    let it = |pk: &str, sk: i64, g: Option<&str>, l: &str| -> Attrs {
        let mut i = key2(pk, sk);
        if let Some(g) = g {
            i.insert("g".into(), s(g));
        }
        i.insert("l".into(), s(l));
        i
    };
    put_ok(&client, "idx", it("p", 9, Some("old"), "l9")).await;
    put_ok(&client, "idx", it("q", 1, Some("keep"), "l1")).await;
    put_ok(&client, "idx", it("c", 1, Some("chk"), "l1")).await;

    transact_ok(
        &client,
        "writes to an indexed table",
        vec![
            w_put(put_b("idx", it("p", 1, Some("red"), "la"))),
            w_put(put_b("idx", it("p", 2, Some("red"), "lb"))),
            w_put(put_b("idx", it("r", 1, None, "lc"))),
            w_update(
                update_b("idx", key2("q", 1), "SET g = :g, l = :l")
                    .expression_attribute_values(":g", s("blue"))
                    .expression_attribute_values(":l", s("lz")),
            ),
            w_delete(delete_b("idx", key2("p", 9))),
            w_check(
                check_b("idx", key2("c", 1), "g = :chk")
                    .expression_attribute_values(":chk", s("chk")),
            ),
        ],
    )
    .await;
    let mut f = Failures::new();
    if let Err(e) = gsi_matches(&client, "idx", "by_g").await {
        f.push(e);
    }

    // The LSI (strongly consistent Query) of partition p holds exactly p's items by l.
    let lsi = client
        .query()
        .table_name("idx")
        .index_name("by_l")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("Query by_l: {e:?}"));
    let got: Vec<Attrs> = lsi.items().to_vec();
    let want = vec![it("p", 1, Some("red"), "la"), it("p", 2, Some("red"), "lb")];
    if got != want {
        f.push(format!("LSI by_l of p: {got:?}, want {want:?}"));
    }

    // A cancelled transaction leaves both indexes alone; a later one shows up in them.
    let (message, reasons) = cancellation(
        "cancelled write to an indexed table",
        transact(
            &client,
            vec![
                w_put(put_b("idx", it("p", 3, Some("red"), "lc"))),
                w_update(
                    update_b("idx", key2("p", 1), "SET g = :g")
                        .expression_attribute_values(":g", s("green")),
                ),
                w_check(check_b("idx", key2("q", 1), "attribute_not_exists(pk)")),
            ],
        )
        .await,
    );
    f.check(check_cancellation(
        "cancelled write to an indexed table",
        &message,
        &reasons,
        &["None", "None", "ConditionalCheckFailed"],
    ));
    transact_ok(
        &client,
        "marker write",
        vec![w_put(put_b("idx", it("m", 1, Some("marker"), "lm")))],
    )
    .await;
    if let Err(e) = gsi_matches(&client, "idx", "by_g").await {
        f.push(format!("after the cancelled transaction: {e}"));
    }
    let red = client
        .query()
        .table_name("idx")
        .index_name("by_g")
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", s("red"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Query by_g: {e:?}"));
    let got = sorted_by_key(red.items().to_vec());
    let want = vec![it("p", 1, Some("red"), "la"), it("p", 2, Some("red"), "lb")];
    if got != want {
        f.push(format!("GSI by_g = red: {got:?}, want {want:?}"));
    }

    // An index key of the wrong type: in a Put it is a request error (ValidationException,
    // as PutItem's "One or more parameter values were invalid: Type mismatch for Index
    // Key"); produced by an update expression it is a `ValidationError` cancellation reason
    // ("The update expression attempted to update the secondary index key to unsupported
    // type").
    f.check(check_err(
        "a Put with a numeric GSI key",
        transact(
            &client,
            vec![
                w_put(put_b("idx", it("probe", 1, Some("fine"), "lp"))),
                w_put(put_b(
                    "idx",
                    item(&[("pk", s("p")), ("sk", n("7")), ("g", n("5"))]),
                )),
            ],
        )
        .await,
        VALIDATION,
        Some("One or more parameter values were invalid"),
    ));
    let result = transact(
        &client,
        vec![
            w_put(put_b("idx", it("probe", 1, Some("fine"), "lp"))),
            w_update(
                update_b("idx", key2("p", 2), "SET g = :num")
                    .expression_attribute_values(":num", n("5")),
            ),
        ],
    )
    .await;
    match result {
        Err(ref e)
            if matches!(
                e.as_service_error(),
                Some(TransactWriteItemsError::TransactionCanceledException(_))
            ) =>
        {
            let (message, reasons) = cancellation("an Update to a numeric GSI key", result);
            f.check(check_cancellation(
                "an Update to a numeric GSI key",
                &message,
                &reasons,
                &["None", "ValidationError"],
            ));
        }
        other => f.push(format!(
            "an Update to a numeric GSI key: expected TransactionCanceledException \
             [None, ValidationError], got {:?}",
            other.map_err(|e| describe_write_err(&e))
        )),
    }
    for k in [key2("probe", 1), key2("p", 7)] {
        if let Some(found) = get_consistent(&client, "idx", k).await {
            f.push(format!("a rejected transaction wrote {found:?}"));
        }
    }
    assert_eq!(
        get_consistent(&client, "idx", key2("p", 2)).await,
        Some(it("p", 2, Some("red"), "lb"))
    );
    f.assert_none();
}
