//! The wire protocol, over raw HTTP/1.1 (for what the SDK cannot express): malformed JSON,
//! unknown operations, malformed attribute values, error body shape, and the
//! `x-amzn-RequestId` / `x-amz-crc32` headers every response carries.
//!
//! Sources: the DynamoDB developer guide ("Error handling": `__type` and `message`, HTTP 400
//! for client errors; the low-level API's `x-amz-crc32` header), dynalite's index.js and
//! test/listTables.js (checked against the real service: malformed JSON →
//! `com.amazon.coral.service#SerializationException`, unknown target →
//! `com.amazon.coral.service#UnknownOperationException`), and DynamoDB's
//! "SerializationException: NUMBER_VALUE cannot be converted to String" for `{"N": 5}`.

mod common;

use common::*;
use serde_json::json;

const PREFIX: &str = "DynamoDB_20120810.";

fn target(op: &str) -> String {
    format!("{PREFIX}{op}")
}

/// Every response carries a request id and a CRC32 of its body.
fn check_common_headers(what: &str, r: &RawResponse, f: &mut Failures) {
    match r.header("x-amzn-RequestId") {
        Some(id) if !id.is_empty() => {}
        _ => f.push(format!(
            "{what}: missing or empty x-amzn-RequestId ({:?})",
            r.headers
        )),
    }
    let want = crc32(&r.body);
    match r.header("x-amz-crc32") {
        Some(v) if v.trim().parse::<u32>().ok() == Some(want) => {}
        Some(v) => f.push(format!(
            "{what}: x-amz-crc32 is {v:?}, but CRC32 of the {}-byte body is {want}",
            r.body.len()
        )),
        None => f.push(format!("{what}: no x-amz-crc32 header ({:?})", r.headers)),
    }
}

/// A client error: HTTP 400 and a JSON body whose `__type` ends with `#<code>`.
fn check_error(what: &str, r: &RawResponse, code: &str, msg: Option<&str>, f: &mut Failures) {
    check_common_headers(what, r, f);
    if r.status != 400 {
        f.push(format!(
            "{what}: expected HTTP 400, got {} with body {:?}",
            r.status,
            r.body_str()
        ));
    }
    match r.error_type() {
        Some(t) if t.ends_with(&format!("#{code}")) => {}
        other => f.push(format!(
            "{what}: expected __type ending in #{code}, got {other:?} (body {:?})",
            r.body_str()
        )),
    }
    if let Some(m) = msg {
        let got = r.error_message().unwrap_or_default();
        if !got.contains(m) {
            f.push(format!("{what}: message {got:?} should contain {m:?}"));
        }
    }
}

fn create_table_body(name: &str) -> String {
    json!({
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    })
    .to_string()
}

#[tokio::test]
async fn malformed_json_is_a_serialization_exception() {
    let server = TestServer::start();
    let mut f = Failures::new();
    for (what, op, body) in [
        ("truncated object", "ListTables", "{\"Limit\": 1"),
        ("not JSON at all", "PutItem", "this is not json"),
        ("trailing garbage", "GetItem", "{}}"),
        ("JSON array instead of object", "ListTables", "[1, 2]"),
        ("empty body", "ListTables", ""),
    ] {
        let r = server.raw_request(&target(op), body);
        check_error(what, &r, "SerializationException", None, &mut f);
    }
    f.assert_none();
}

#[tokio::test]
async fn unknown_operation_is_an_unknown_operation_exception() {
    let server = TestServer::start();
    let mut f = Failures::new();
    for (what, t) in [
        ("unknown operation", target("NoSuchOperation")),
        (
            "wrong API version",
            "DynamoDB_20991231.ListTables".to_owned(),
        ),
        ("no version prefix", "ListTables".to_owned()),
        ("lower-case operation", target("listtables")),
        ("missing X-Amz-Target", String::new()),
    ] {
        let r = server.raw_request(&t, "{}");
        check_error(what, &r, "UnknownOperationException", None, &mut f);
    }
    f.assert_none();
}

#[tokio::test]
async fn every_response_has_request_id_and_correct_crc32() {
    let server = TestServer::start();
    let mut f = Failures::new();

    let r = server.raw_request(&target("CreateTable"), &create_table_body("crc"));
    if r.status != 200 {
        panic!("CreateTable failed: {} {}", r.status, r.body_str());
    }
    check_common_headers("CreateTable", &r, &mut f);
    // Wait for ACTIVE through the SDK (bounded).
    wait_active(&server.client(), "crc").await;

    let put = json!({
        "TableName": "crc",
        "Item": {
            "pk": {"S": "ünïcödé ☃"},
            "n": {"N": "01.50"},
            "l": {"L": [{"S": "𝄞"}, {"NULL": true}]},
        },
    })
    .to_string();
    let requests: Vec<(&str, String, String)> =
        vec![
        ("ListTables", target("ListTables"), "{}".into()),
        ("DescribeTable", target("DescribeTable"), json!({"TableName": "crc"}).to_string()),
        ("PutItem", target("PutItem"), put),
        (
            "GetItem (non-ASCII body)",
            target("GetItem"),
            json!({"TableName": "crc", "Key": {"pk": {"S": "ünïcödé ☃"}}, "ConsistentRead": true})
                .to_string(),
        ),
        (
            "GetItem of a missing item",
            target("GetItem"),
            json!({"TableName": "crc", "Key": {"pk": {"S": "none"}}}).to_string(),
        ),
        ("DescribeEndpoints", target("DescribeEndpoints"), "{}".into()),
        ("DescribeLimits", target("DescribeLimits"), "{}".into()),
        // Errors carry them too.
        (
            "ValidationException",
            target("GetItem"),
            json!({"TableName": "crc", "Key": {"wrong": {"S": "x"}}}).to_string(),
        ),
        (
            "ResourceNotFoundException",
            target("DescribeTable"),
            json!({"TableName": "missing"}).to_string(),
        ),
        ("SerializationException", target("ListTables"), "{".into()),
        ("UnknownOperationException", target("Frobnicate"), "{}".into()),
    ];
    for (what, t, body) in &requests {
        let r = server.raw_request(t, body);
        check_common_headers(what, &r, &mut f);
        if what.starts_with("GetItem (non") {
            let v = r.json();
            if v["Item"]["pk"]["S"] != json!("ünïcödé ☃") || v["Item"]["n"]["N"] != json!("1.5")
            {
                f.push(format!("GetItem returned {v}"));
            }
        }
    }

    // Two requests get two different request ids.
    let a = server.raw_request(&target("ListTables"), "{}");
    let b = server.raw_request(&target("ListTables"), "{}");
    if a.header("x-amzn-RequestId").is_some()
        && a.header("x-amzn-RequestId") == b.header("x-amzn-RequestId")
    {
        f.push("two responses share one x-amzn-RequestId".to_string());
    }
    f.assert_none();
}

#[tokio::test]
async fn error_body_shape() {
    let server = TestServer::start();
    let mut f = Failures::new();
    let r = server.raw_request(&target("CreateTable"), &create_table_body("shape"));
    assert_eq!(r.status, 200, "CreateTable: {}", r.body_str());
    wait_active(&server.client(), "shape").await;

    // ValidationException: {"__type": "...#ValidationException", "message": "..."}, HTTP 400.
    let r = server.raw_request(
        &target("GetItem"),
        &json!({"TableName": "shape", "Key": {"pk": {"N": "1"}}}).to_string(),
    );
    check_error(
        "GetItem wrong key type",
        &r,
        "ValidationException",
        Some("The provided key element does not match the schema"),
        &mut f,
    );
    let v = r.json();
    match v.as_object() {
        Some(o) => {
            let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
            keys.sort();
            if keys != ["__type", "message"] {
                f.push(format!(
                    "ValidationException body should have exactly __type and message: {v}"
                ));
            }
            if !o.get("message").is_some_and(|m| m.is_string()) {
                f.push(format!(
                    "ValidationException message should be a string: {v}"
                ));
            }
        }
        None => f.push(format!("error body is not a JSON object: {v}")),
    }
    match r.header("Content-Type") {
        Some(ct) if ct.starts_with("application/x-amz-json-1.0") => {}
        other => f.push(format!(
            "error Content-Type should be application/x-amz-json-1.0, got {other:?}"
        )),
    }

    // ResourceNotFoundException has DynamoDB's own namespace.
    let r = server.raw_request(
        &target("DescribeTable"),
        &json!({"TableName": "absent"}).to_string(),
    );
    check_error(
        "DescribeTable missing",
        &r,
        "ResourceNotFoundException",
        Some("Requested resource not found"),
        &mut f,
    );
    if r.error_type().as_deref()
        != Some("com.amazonaws.dynamodb.v20120810#ResourceNotFoundException")
    {
        f.push(format!(
            "ResourceNotFoundException __type: {:?}",
            r.error_type()
        ));
    }

    // ResourceInUseException likewise.
    let r = server.raw_request(&target("CreateTable"), &create_table_body("shape"));
    check_error(
        "CreateTable duplicate",
        &r,
        "ResourceInUseException",
        Some("Table already exists"),
        &mut f,
    );
    if r.error_type().as_deref() != Some("com.amazonaws.dynamodb.v20120810#ResourceInUseException")
    {
        f.push(format!(
            "ResourceInUseException __type: {:?}",
            r.error_type()
        ));
    }
    f.assert_none();
}

#[tokio::test]
async fn malformed_attribute_values_on_the_wire() {
    let server = TestServer::start();
    let r = server.raw_request(&target("CreateTable"), &create_table_body("wire"));
    assert_eq!(r.status, 200, "CreateTable: {}", r.body_str());
    wait_active(&server.client(), "wire").await;
    let mut f = Failures::new();

    let put = |v: serde_json::Value| {
        json!({"TableName": "wire", "Item": {"pk": {"S": "k"}, "v": v}}).to_string()
    };
    // Wrong JSON types inside an AttributeValue are rejected while deserialising.
    for (what, v) in [
        ("{\"S\": 1}", json!({"S": 1})),
        ("{\"N\": 5}", json!({"N": 5})),
        ("{\"BOOL\": \"yes\"}", json!({"BOOL": "yes"})),
        ("{\"SS\": \"a\"}", json!({"SS": "a"})),
        ("{\"L\": {}}", json!({"L": {}})),
        ("{\"M\": []}", json!({"M": []})),
        ("{\"B\": \"not base64!\"}", json!({"B": "not base64!"})),
        ("{\"S\": {\"S\": \"x\"}}", json!({"S": {"S": "x"}})),
    ] {
        let r = server.raw_request(&target("PutItem"), &put(v));
        check_error(
            &format!("PutItem v={what}"),
            &r,
            "SerializationException",
            None,
            &mut f,
        );
    }
    // Well-formed JSON, but not exactly one data type.
    for (what, v, msg) in [
        (
            "two types",
            json!({"S": "a", "N": "1"}),
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ),
        (
            "no type",
            json!({}),
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
        (
            "two types nested in a map",
            json!({"M": {"x": {"BOOL": true, "NULL": true}}}),
            "Supplied AttributeValue has more than one datatypes set",
        ),
    ] {
        let r = server.raw_request(&target("PutItem"), &put(v));
        check_error(&format!("PutItem v {what}"), &r, "ValidationException", Some(msg), &mut f);
    }
    // Two types in a key attribute of GetItem.
    let r = server.raw_request(
        &target("GetItem"),
        &json!({"TableName": "wire", "Key": {"pk": {"S": "k", "N": "1"}}}).to_string(),
    );
    check_error(
        "GetItem key with two types",
        &r,
        "ValidationException",
        Some("Supplied AttributeValue has more than one datatypes set"),
        &mut f,
    );

    // None of these wrote anything.
    let r = server.raw_request(
        &target("GetItem"),
        &json!({"TableName": "wire", "Key": {"pk": {"S": "k"}}, "ConsistentRead": true})
            .to_string(),
    );
    if r.status != 200 || r.json().get("Item").is_some() {
        f.push(format!(
            "after rejected PutItems, GetItem returned {} {}",
            r.status,
            r.body_str()
        ));
    }
    f.assert_none();
}

#[tokio::test]
async fn content_types() {
    let server = TestServer::start();
    let mut f = Failures::new();
    let r = server
        .raw_request_with(
            &[
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", &target("ListTables")),
            ],
            b"{}",
        )
        .expect("ListTables");
    if r.status != 200 {
        f.push(format!("ListTables: {} {}", r.status, r.body_str()));
    }
    match r.header("Content-Type") {
        Some(ct) if ct.starts_with("application/x-amz-json-1.0") => {}
        other => f.push(format!(
            "Content-Type should be application/x-amz-json-1.0, got {other:?}"
        )),
    }
    if r.json()["TableNames"] != json!([]) {
        f.push(format!("ListTables body: {}", r.body_str()));
    }
    // Unknown members are ignored and null members count as absent.
    for body in [
        json!({"hi": "yo", "stuff": "things"}),
        json!({"ExclusiveStartTableName": null, "Limit": null}),
    ] {
        let r = server.raw_request(&target("ListTables"), &body.to_string());
        if r.status != 200 {
            f.push(format!("ListTables {body}: {} {}", r.status, r.body_str()));
        }
    }
    // DynamoDB also accepts plain application/json.
    let r = server
        .raw_request_with(
            &[
                ("Content-Type", "application/json"),
                ("X-Amz-Target", &target("ListTables")),
            ],
            b"{}",
        )
        .expect("ListTables application/json");
    if r.status != 200 {
        f.push(format!(
            "ListTables with application/json: {} {}",
            r.status,
            r.body_str()
        ));
    }
    f.assert_none();
}

#[tokio::test]
async fn oversized_request_body_is_rejected_and_server_survives() {
    let server = TestServer::start();
    let r = server.raw_request(&target("CreateTable"), &create_table_body("limit"));
    assert_eq!(r.status, 200, "CreateTable: {}", r.body_str());
    wait_active(&server.client(), "limit").await;

    // 20 MB: far more than any valid request (items are at most 400 KB).
    let big = "x".repeat(20 * 1024 * 1024);
    let body =
        json!({"TableName": "limit", "Item": {"pk": {"S": "big"}, "v": {"S": big}}}).to_string();
    let result = server.raw_request_with(
        &[
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", &target("PutItem")),
        ],
        body.as_bytes(),
    );
    match result {
        Ok(r) => assert!(
            (400..500).contains(&r.status),
            "a 20 MB request should be refused with a 4xx, got {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        ),
        // The server may close the connection after refusing the body.
        Err(e) => eprintln!("oversized request: connection closed early ({e})"),
    }
    // A request that is valid except for its size: `{}` padded with 20 MB of whitespace.
    let mut padded = Vec::with_capacity(20 * 1024 * 1024 + 2);
    padded.push(b'{');
    padded.resize(20 * 1024 * 1024 + 1, b' ');
    padded.push(b'}');
    let result = server.raw_request_with(
        &[
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", &target("ListTables")),
        ],
        &padded,
    );
    match result {
        Ok(r) => assert!(
            (400..500).contains(&r.status),
            "a 20 MB ListTables request should be refused (request body limit) with a 4xx, got {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        ),
        Err(e) => eprintln!("oversized ListTables: connection closed early ({e})"),
    }

    // Still serving, and nothing was written.
    let r = server.raw_request(
        &target("GetItem"),
        &json!({"TableName": "limit", "Key": {"pk": {"S": "big"}}, "ConsistentRead": true})
            .to_string(),
    );
    assert_eq!(
        r.status,
        200,
        "server should keep serving: {}",
        r.body_str()
    );
    assert!(
        r.json().get("Item").is_none(),
        "oversized PutItem must not be stored"
    );
}

/// Guards the harness itself: the CRC32 used to check `x-amz-crc32` is IEEE CRC-32
/// (check value from the CRC catalogue: CRC-32 of "123456789" is 0xCBF43926).
#[test]
fn crc32_helper_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
    assert_eq!(
        crc32(b"The quick brown fox jumps over the lazy dog"),
        0x414F_A339
    );
}
