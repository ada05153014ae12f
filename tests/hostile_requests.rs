//! One request must never take the server down (issue 13, items 11–13 and 15): hostile
//! but well-formed requests are answered — refused with DynamoDB's error, or served
//! within bounds — while the server stays up and keeps serving others.
//!
//! - Legacy condition maps (ScanFilter, QueryFilter, Expected) of 100,000 entries used
//!   to be chained into a tree as deep as their count and overflow the stack; they are
//!   refused like an expression with too many operators (the Developer Guide's limit of
//!   300 operators; DynamoDB documents no separate limit for the legacy maps).
//! - Deeply nested expressions, JSON and attribute values are refused; an update can no
//!   longer nest an item past DynamoDB's 32 levels by copying a document into itself.
//! - A parallel Scan of a table reads only its segment's items (they are stored in hash
//!   order); one of an index with many more segments than partitions counts the entries
//!   of other segments against the page's 1 MB read ("A single Scan operation reads up
//!   to the maximum number of items set … or a maximum of 1 MB of data"), without
//!   charging them.
//! - Request bodies: past DynamoDB's largest request (BatchWriteItem's 16 MB) a request
//!   is refused with HTTP 413 before its body is read, and the bodies being parsed at
//!   once are bounded (`--request-bytes-in-flight`), which bounds peak memory.

mod common;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::types::{
    Projection, ProjectionType, ReturnConsumedCapacity, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

const VALIDATION: &str = "com.amazon.coral.validate#ValidationException";
const SERIALIZATION: &str = "com.amazon.coral.service#SerializationException";
const NESTING_TOO_DEEP: &str = "Nesting Levels have exceeded supported limits";

fn call(server: &TestServer, operation: &str, body: &Value) -> RawResponse {
    server.raw_request(&format!("DynamoDB_20120810.{operation}"), &body.to_string())
}

/// Asserts a 400 with `__type` and a message containing `message`.
fn assert_refused(what: &str, response: &RawResponse, error_type: &str, message: &str) {
    assert_eq!(
        (response.status, response.error_type().as_deref()),
        (400, Some(error_type)),
        "{what}: {}",
        response.body_str()
    );
    let text = response.error_message().unwrap_or_default();
    assert!(text.contains(message), "{what}: {text}");
}

/// `{"a0": {...}, ...}`: `count` legacy conditions `a<i> = "x"`.
fn legacy_conditions(count: usize) -> Value {
    let entries: serde_json::Map<String, Value> = (0..count)
        .map(|i| {
            let condition = json!({
                "ComparisonOperator": "EQ",
                "AttributeValueList": [{"S": "x"}],
            });
            (format!("a{i}"), condition)
        })
        .collect();
    Value::Object(entries)
}

/// An on-demand table keyed by the strings `pk` and `sk`.
async fn keyed_table(client: &Client, name: &str) {
    create_table(
        client,
        name,
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
}

/// The server answers, and writes and reads as before.
async fn still_serving(server: &mut TestServer, client: &Client, table: &str) {
    assert!(server.is_running(), "the server is still running");
    put_ok(client, table, item(&[("pk", s("alive")), ("sk", s("1"))])).await;
    let got = get_consistent(client, table, item(&[("pk", s("alive")), ("sk", s("1"))])).await;
    assert!(got.is_some(), "the item just written is read back");
}

#[tokio::test]
async fn a_hundred_thousand_legacy_conditions_are_refused_and_the_server_keeps_serving() {
    let mut server = TestServer::start();
    let client = server.client();
    let table = "legacy_huge";
    keyed_table(&client, table).await;
    let huge = legacy_conditions(100_000);
    // DynamoDB stops counting at the first operator past the limit.
    let too_many = "The expression contains too many operators; operator count: 301";

    let r = call(
        &server,
        "Scan",
        &json!({"TableName": table, "ScanFilter": huge}),
    );
    assert_refused(
        "Scan",
        &r,
        VALIDATION,
        &format!("Invalid ScanFilter: {too_many}"),
    );

    let key_conditions =
        json!({"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}});
    let r = call(
        &server,
        "Query",
        &json!({"TableName": table, "KeyConditions": key_conditions, "QueryFilter": huge}),
    );
    assert_refused(
        "Query",
        &r,
        VALIDATION,
        &format!("Invalid QueryFilter: {too_many}"),
    );

    let key = json!({"pk": {"S": "p"}, "sk": {"S": "s"}});
    for (operation, body) in [
        (
            "PutItem",
            json!({"TableName": table, "Item": key, "Expected": huge}),
        ),
        (
            "DeleteItem",
            json!({"TableName": table, "Key": key, "Expected": huge}),
        ),
        (
            "UpdateItem",
            json!({"TableName": table, "Key": key, "Expected": huge}),
        ),
    ] {
        let r = call(&server, operation, &body);
        assert_refused(
            operation,
            &r,
            VALIDATION,
            &format!("Invalid Expected: {too_many}"),
        );
    }

    // At the limit the filter still works: 150 conditions, 149 ANDs.
    put_ok(
        &client,
        table,
        item(&[("pk", s("p")), ("sk", s("s")), ("a0", s("x"))]),
    )
    .await;
    let mut filter = legacy_conditions(150);
    for i in 1..150 {
        filter[format!("a{i}")] = json!({"ComparisonOperator": "NULL"});
    }
    let r = call(
        &server,
        "Scan",
        &json!({"TableName": table, "ScanFilter": filter}),
    );
    assert_eq!(r.status, 200, "150 conditions: {}", r.body_str());
    assert_eq!(r.json()["Count"], 1);

    still_serving(&mut server, &client, table).await;
}

#[tokio::test]
async fn deeply_nested_expressions_json_and_values_are_refused_and_the_server_keeps_serving() {
    let mut server = TestServer::start();
    let client = server.client();
    let table = "deep";
    keyed_table(&client, table).await;
    let key = json!({"pk": {"S": "p"}, "sk": {"S": "s"}});
    let values = json!({":v": {"S": "x"}, ":l": {"L": []}});
    let condition = |expression: String| {
        json!({"TableName": table, "Key": key, "ConditionExpression": expression,
               "ExpressionAttributeValues": {":v": {"S": "x"}}})
    };
    let cases = [
        (
            "2,000 parentheses",
            condition(format!("{}a = :v{}", "(".repeat(2000), ")".repeat(2000))),
            "Invalid ConditionExpression:",
        ),
        (
            "1,000 NOTs",
            condition(format!("{}a = :v", "NOT ".repeat(1000))),
            "Invalid ConditionExpression:",
        ),
        (
            "372 comparisons in one chain",
            condition(vec!["a = :v"; 372].join(" AND ")),
            "Invalid ConditionExpression: The expression contains too many operators; \
             operator count: 301",
        ),
        (
            "680 nested size()s",
            condition(format!("{}a{} = :v", "size(".repeat(680), ")".repeat(680))),
            "Invalid ConditionExpression:",
        ),
    ];
    for (what, body, message) in cases {
        let r = call(&server, "DeleteItem", &body);
        assert_refused(what, &r, VALIDATION, message);
    }
    let appends = json!({"TableName": table, "Key": key,
        "UpdateExpression": format!("SET l = {}l{}", "list_append(".repeat(200), ", :l)".repeat(200)),
        "ExpressionAttributeValues": values});
    assert_refused(
        "200 nested list_appends",
        &call(&server, "UpdateItem", &appends),
        VALIDATION,
        "Invalid UpdateExpression:",
    );

    // JSON nested 200,000 deep stops at the parser's depth limit; a value 33 levels deep
    // at DynamoDB's.
    let deep_json = format!(
        r#"{{"TableName":"{table}","Item":{{"pk":{{"S":"p"}},"sk":{{"S":"s"}},"a":{}{{"S":"x"}}{}}}}}"#,
        r#"{"M":{"m":"#.repeat(200_000),
        "}}".repeat(200_000)
    );
    let r = server.raw_request("DynamoDB_20120810.PutItem", &deep_json);
    assert_eq!(
        (r.status, r.error_type().as_deref()),
        (400, Some(SERIALIZATION)),
        "{}",
        r.body_str()
    );
    let mut value = json!({"S": "x"});
    for _ in 0..32 {
        value = json!({"M": {"m": value}});
    }
    let r = call(
        &server,
        "PutItem",
        &json!({"TableName": table, "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}, "a": value}}),
    );
    assert_refused("a value 33 levels deep", &r, VALIDATION, NESTING_TOO_DEEP);

    // Copying a document below itself nests it deeper with each update; DynamoDB's 32
    // levels stop it, and the item stays readable.
    let mut ten = json!({"S": "x"});
    for _ in 0..10 {
        ten = json!({"M": {"m": ten}});
    }
    let r = call(
        &server,
        "PutItem",
        &json!({"TableName": table, "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}, "d": ten}}),
    );
    assert_eq!(r.status, 200, "{}", r.body_str());
    let copy = json!({"TableName": table, "Key": key,
        "UpdateExpression": format!("SET d{} = d", ".m".repeat(10))});
    let mut refused = 0;
    for step in 0..15 {
        let r = call(&server, "UpdateItem", &copy);
        if r.status == 200 {
            continue;
        }
        assert_refused(&format!("copy {step}"), &r, VALIDATION, NESTING_TOO_DEEP);
        refused += 1;
    }
    assert!(refused > 0, "an update past 32 levels is refused");
    let r = call(
        &server,
        "GetItem",
        &json!({"TableName": table, "Key": key, "ConsistentRead": true}),
    );
    assert_eq!(
        r.status,
        200,
        "the item is still readable: {}",
        r.body_str()
    );

    still_serving(&mut server, &client, table).await;
}

#[tokio::test]
async fn attributes_to_get_is_capped_at_255_names() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "atg", ("pk", ScalarAttributeType::S), None).await;
    let names = |count: usize| -> Vec<String> { (0..count).map(|i| format!("a{i}")).collect() };
    let get = |count: usize| json!({"TableName": "atg", "Key": {"pk": {"S": "p"}}, "AttributesToGet": names(count)});
    assert_eq!(call(&server, "GetItem", &get(255)).status, 200);
    let r = call(&server, "GetItem", &get(256));
    assert_refused(
        "256 names",
        &r,
        VALIDATION,
        "at 'attributesToGet' failed to satisfy constraint: Member must have length less than \
         or equal to 255",
    );
}

/// `count` items of about `size` bytes each in `table`, keys `k000`….
async fn fill(client: &Client, table: &str, count: usize, size: usize) -> Vec<String> {
    let keys: Vec<String> = (0..count).map(|i| format!("k{i:03}")).collect();
    let items: Vec<Attrs> = keys
        .iter()
        .map(|k| item(&[("pk", s(k)), ("v", s(&"x".repeat(size)))]))
        .collect();
    batch_put_all(client, table, &items).await;
    keys
}

/// Every item of a Scan of `base`, counted by partition key.
async fn pages_by_key(base: &ScanFluentBuilder) -> (usize, BTreeMap<String, usize>) {
    let pages = scan_pages(base).await.unwrap_or_else(|e| panic!("{e}"));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for page in &pages {
        for found in page.items() {
            let Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) = found.get("pk") else {
                panic!("item without pk: {found:?}");
            };
            *seen.entry(pk.clone()).or_default() += 1;
        }
    }
    (pages.len(), seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_scan_pages_count_other_segments_index_entries_against_one_megabyte() {
    // One partition, which every segment shares.
    let server = TestServer::start_with(&["--partitions-per-table", "1", "--no-throttle"]);
    let client = server.client();
    create_table(&client, "segments", ("pk", ScalarAttributeType::S), None).await;
    create_table(&client, "empty", ("pk", ScalarAttributeType::S), None).await;
    // About 2.5 MB, and an index holding all of it.
    let keys = fill(&client, "segments", 100, 25_000).await;
    let all = Projection::builder()
        .projection_type(ProjectionType::All)
        .build();
    client
        .update_table()
        .table_name("segments")
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action("copy", "pk", None, all))
        .send()
        .await
        .expect("an index on the table");
    wait_gsis_active(&client, "segments").await;
    let expected: BTreeMap<String, usize> = keys.into_iter().map(|k| (k, 1)).collect();

    // The table's items are in hash order: each segment reads only its own, a quarter
    // of 2.5 MB, and together the segments return every item exactly once.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for segment in 0..4 {
        let base = client
            .scan()
            .table_name("segments")
            .segment(segment)
            .total_segments(4);
        let (pages, items) = pages_by_key(&base).await;
        assert!(pages <= 2, "segment {segment} took {pages} pages");
        for (k, n) in items {
            *seen.entry(k).or_default() += n;
        }
    }
    assert_eq!(
        seen, expected,
        "every item exactly once across the segments"
    );
    // A segment of a million holds nothing here, and reads nothing.
    let nothing = client
        .scan()
        .table_name("empty")
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("Scan of an empty table");
    let nothing_units = nothing.consumed_capacity().and_then(|c| c.capacity_units());
    let one_in_a_million = |index: Option<&str>| {
        client
            .scan()
            .table_name("segments")
            .set_index_name(index.map(str::to_owned))
            .segment(123_456)
            .total_segments(1_000_000)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
    };
    let page = one_in_a_million(None)
        .send()
        .await
        .expect("Scan of one segment in a million");
    assert_eq!(
        (page.scanned_count(), page.last_evaluated_key().is_some()),
        (0, false),
        "{page:?}"
    );
    assert_eq!(
        page.consumed_capacity().and_then(|c| c.capacity_units()),
        nothing_units
    );

    // The index's entries are in index-key order: a segment reads its partition's and
    // passes over the others', which count toward the page's 1 MB read. A page of a
    // segment that holds nothing stops after 1 MB of other segments' entries, with a
    // LastEvaluatedKey, and is charged like a page that read nothing.
    let page = one_in_a_million(Some("copy"))
        .send()
        .await
        .expect("Scan of one index segment in a million");
    assert!(
        page.last_evaluated_key().is_some_and(|k| !k.is_empty()),
        "the page ends after 1 MB read: {page:?}"
    );
    if page.scanned_count() == 0 {
        assert_eq!(
            page.consumed_capacity().and_then(|c| c.capacity_units()),
            nothing_units,
            "other segments' entries are not charged"
        );
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for segment in 0..4 {
        let base = client
            .scan()
            .table_name("segments")
            .index_name("copy")
            .segment(segment)
            .total_segments(4);
        let (pages, items) = pages_by_key(&base).await;
        assert_eq!(pages, 3, "index segment {segment}");
        for (k, n) in items {
            *seen.entry(k).or_default() += n;
        }
    }
    assert_eq!(
        seen, expected,
        "every entry exactly once across the segments"
    );

    // Any segment of any segment count reads the 2.5 MB index in pages of 1 MB read:
    // 42, 42 and 16 entries of 25,007 bytes, whichever segment they belong to.
    let runtime = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config::with_cases(12));
    let cases = (1u32..=1_000_000).prop_flat_map(|total| (Just(total), 0..total));
    runner
        .run(&cases, |(total, segment)| {
            let base = client
                .scan()
                .table_name("segments")
                .index_name("copy")
                .segment(segment as i32)
                .total_segments(total as i32);
            let pages = tokio::task::block_in_place(|| runtime.block_on(scan_pages(&base)))
                .map_err(TestCaseError::fail)?;
            prop_assert_eq!(pages.len(), 3, "segment {} of {}", segment, total);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
}

#[tokio::test]
async fn a_body_past_16_mb_is_refused_with_413_before_it_is_read() {
    let mut server = TestServer::start();
    let client = server.client();
    keyed_table(&client, "big").await;
    // Announced, not sent: the server answers from the headers.
    let r = server
        .raw_request_declaring(
            &[
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", "DynamoDB_20120810.PutItem"),
            ],
            17 * 1024 * 1024,
            b"",
        )
        .expect("a response to the headers alone");
    assert_eq!(
        (r.status, r.error_type().as_deref()),
        (
            413,
            Some("com.amazon.coral.service#RequestEntityTooLargeException")
        ),
        "{}",
        r.body_str()
    );
    still_serving(&mut server, &client, "big").await;
}

/// A legal BatchWriteItem of about `bytes` bytes that parses into far more memory than
/// its size: two items of many NULL attributes (each item under 400 KB).
fn amplifying_batch(table: &str, request: usize, bytes: usize) -> String {
    let attribute = r#""a000000":{"NULL":true},"#.len();
    let per_item = bytes / 2 / attribute;
    let items: Vec<Value> = (0..2)
        .map(|i| {
            let mut fields = serde_json::Map::new();
            fields.insert("pk".into(), json!({"S": format!("r{request}-{i}")}));
            fields.insert("sk".into(), json!({"S": "s"}));
            for a in 0..per_item {
                fields.insert(format!("a{a:06}"), json!({"NULL": true}));
            }
            json!({"PutRequest": {"Item": fields}})
        })
        .collect();
    let mut request_items = serde_json::Map::new();
    request_items.insert(table.to_owned(), Value::Array(items));
    json!({ "RequestItems": request_items }).to_string()
}

/// How many of `count` concurrent amplifying BatchWriteItems of `body_bytes` each (sent
/// gzipped when `gzipped`) the server works on at once with `--request-bytes-in-flight
/// budget`: every admitted request is held for seconds at a delay point, and the server's
/// log says which got there.
async fn admitted_at_once(body_bytes: usize, budget: usize, count: usize, gzipped: bool) -> usize {
    let mut server = TestServer::start_armed(
        "request_admitted",
        &[
            "--request-bytes-in-flight",
            &budget.to_string(),
            "--no-throttle",
        ],
    );
    let client = server.client();
    keyed_table(&client, "wide").await;
    let bodies: Vec<Vec<u8>> = (0..count)
        .map(|request| amplifying_batch("wide", request, body_bytes).into_bytes())
        .map(|body| if gzipped { gzip(&body) } else { body })
        .collect();
    let coding = if gzipped { "gzip" } else { "identity" };
    let headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "DynamoDB_20120810.BatchWriteItem"),
        ("Content-Encoding", coding),
    ];
    // Every request is held there, the set-up's too: count only the batches.
    let marker = "failpoint request_admitted: delaying";
    let before = server.logs().matches(marker).count();
    let admitted = std::thread::scope(|scope| {
        let sent: Vec<_> = bodies
            .iter()
            .map(|body| scope.spawn(|| server.raw_request_with(&headers, body)))
            .collect();
        // The first admitted requests are held for seconds: count who got in meanwhile,
        // once the count has stayed put for a second.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut seen = 0;
        let mut steady_since = std::time::Instant::now();
        while std::time::Instant::now() < deadline {
            let now = server.logs().matches(marker).count() - before;
            if now != seen {
                seen = now;
                steady_since = std::time::Instant::now();
            } else if seen > 0 && steady_since.elapsed() > std::time::Duration::from_secs(1) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for request in sent {
            let r = request.join().expect("client thread").expect("a response");
            assert_eq!(r.status, 200, "{}", r.body_str());
        }
        seen
    });
    still_serving(&mut server, &client, "wide").await;
    admitted
}

#[tokio::test]
async fn concurrent_large_requests_do_not_all_expand_at_once() {
    let body_bytes = 1900 * 1024;
    // Room for two of these requests at a time, against room for all of them.
    let bounded = admitted_at_once(body_bytes, 2 * body_bytes + 64 * 1024, 6, false).await;
    let unbounded = admitted_at_once(body_bytes, 64 * body_bytes, 6, false).await;
    assert_eq!(bounded, 2, "requests worked on at once with room for two");
    assert_eq!(unbounded, 6, "requests worked on at once with room for all");
}

/// A compressed body takes its decoded size from the budget: a few KB on the wire do
/// not let six 1.9 MB requests expand at once.
#[tokio::test]
async fn compressed_requests_count_their_decoded_size() {
    let body_bytes = 1900 * 1024;
    let admitted = admitted_at_once(body_bytes, 2 * body_bytes + 64 * 1024, 6, true).await;
    assert_eq!(
        admitted, 2,
        "compressed requests worked on at once with room for two"
    );
}
