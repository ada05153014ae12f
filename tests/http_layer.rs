//! The HTTP layer, over raw HTTP/1.1 (what the SDK cannot send): compressed requests and
//! responses, the 16 MB request limit however a body arrives, the health check, CORS,
//! the `Server` header, the body types DynamoDB takes, malformed JSON, and the empty
//! bodies of TagResource and UntagResource.
//!
//! DynamoDB's answers come from ScyllaDB's Alternator tests (test_compressed_request.py,
//! test_compressed_response.py, test_cors.py, test_manual_requests.py, all run against
//! DynamoDB) and dynalite's test/connection.js (checked against DynamoDB).

mod common;

use aws_sdk_dynamodb::types::ScalarAttributeType;
use common::*;
use serde_json::{json, Value};

const PUT: &str = "DynamoDB_20120810.PutItem";
const GET: &str = "DynamoDB_20120810.GetItem";
const LIST: &str = "DynamoDB_20120810.ListTables";
const AMZ_JSON: &str = "application/x-amz-json-1.0";
const MB16: usize = 16 * 1024 * 1024;

async fn table(server: &TestServer) {
    create_table(
        &server.client(),
        "http",
        ("pk", ScalarAttributeType::S),
        None,
    )
    .await;
}

fn put_body(pk: &str) -> Vec<u8> {
    json!({"TableName": "http", "Item": {"pk": {"S": pk}, "v": {"S": "x"}}})
        .to_string()
        .into_bytes()
}

/// POSTs `body` for `target` with these extra headers (and the default signature).
fn post(server: &TestServer, target: &str, extra: &[(&str, &str)], body: &[u8]) -> RawResponse {
    let mut headers = vec![("Content-Type", AMZ_JSON), ("X-Amz-Target", target)];
    headers.extend_from_slice(extra);
    server
        .raw_request_with(&headers, body)
        .unwrap_or_else(|e| panic!("{target}: {e}"))
}

fn stored(server: &TestServer, pk: &str) -> Option<Value> {
    let key = json!({"TableName": "http", "Key": {"pk": {"S": pk}}, "ConsistentRead": true});
    let r = server.raw_request(GET, &key.to_string());
    assert_eq!(r.status, 200, "GetItem {pk}: {}", r.body_str());
    r.json().get("Item").cloned()
}

fn assert_crc_of_wire_bytes(what: &str, r: &RawResponse) {
    assert_eq!(
        r.header("x-amz-crc32").and_then(|v| v.parse::<u32>().ok()),
        Some(crc32(&r.body)),
        "{what}: x-amz-crc32 is the CRC32 of the bytes sent"
    );
}

#[tokio::test]
async fn compressed_requests_are_decoded_whatever_the_codings() {
    let server = TestServer::start();
    table(&server).await;
    let mut members = gzip(&put_body("members")[..10]);
    members.extend(gzip(&put_body("members")[10..]));
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "gzip",
            vec![("Content-Encoding", "gzip")],
            gzip(&put_body("gzip")),
        ),
        (
            "deflate",
            vec![("Content-Encoding", "deflate")],
            deflate(&put_body("deflate")),
        ),
        (
            "GZIP",
            vec![("Content-Encoding", "GZIP")],
            gzip(&put_body("GZIP")),
        ),
        (
            "gzip, then deflate, in one header",
            vec![("Content-Encoding", "gzip, deflate")],
            deflate(&gzip(&put_body("chain"))),
        ),
        (
            "deflate, then gzip, in two headers",
            vec![
                ("Content-Encoding", "deflate"),
                ("Content-Encoding", "gzip"),
            ],
            gzip(&deflate(&put_body("two headers"))),
        ),
        (
            "identity",
            vec![("Content-Encoding", "identity")],
            put_body("identity"),
        ),
        (
            "two gzip members",
            vec![("Content-Encoding", "gzip")],
            members,
        ),
    ];
    for (what, headers, body) in cases {
        let r = post(&server, PUT, &headers, &body);
        assert_eq!(r.status, 200, "{what}: {}", r.body_str());
    }
    for pk in [
        "gzip",
        "deflate",
        "GZIP",
        "chain",
        "two headers",
        "identity",
        "members",
    ] {
        assert_eq!(
            stored(&server, pk),
            Some(json!({"pk": {"S": pk}, "v": {"S": "x"}})),
            "{pk}"
        );
    }
}

#[tokio::test]
async fn bodies_that_do_not_decode_are_server_errors_and_write_nothing() {
    let server = TestServer::start();
    table(&server).await;
    let compressed = gzip(&put_body("truncated"));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("an unknown coding", "garbage", put_body("garbage")),
        ("a coding a list ends in", "gzip, br", gzip(&put_body("br"))),
        ("plain JSON called gzip", "gzip", put_body("plain")),
        (
            "a truncated gzip",
            "gzip",
            compressed[..compressed.len() - 1].to_vec(),
        ),
        ("an empty gzip", "gzip", Vec::new()),
        ("gzip called deflate", "deflate", gzip(&put_body("wrong"))),
    ];
    for (what, coding, body) in cases {
        let r = post(&server, PUT, &[("Content-Encoding", coding)], &body);
        assert_eq!(
            (r.status, r.error_type().as_deref()),
            (
                500,
                Some("com.amazonaws.dynamodb.v20120810#InternalServerError")
            ),
            "{what}: {}",
            r.body_str()
        );
    }
    for pk in ["garbage", "br", "plain", "truncated", "wrong"] {
        assert_eq!(stored(&server, pk), None, "{pk} was not written");
    }
}

/// `{}` padded with spaces to exactly `len` bytes: a ListTables request of that size.
fn padded(len: usize) -> Vec<u8> {
    let mut body = vec![b' '; len];
    body[0] = b'{';
    body[len - 1] = b'}';
    body
}

fn assert_413(what: &str, r: std::io::Result<RawResponse>) {
    match r {
        Ok(r) => assert_eq!(
            (r.status, r.error_type().as_deref()),
            (
                413,
                Some("com.amazon.coral.service#RequestEntityTooLargeException")
            ),
            "{what}: {}",
            r.body_str()
        ),
        Err(e) => panic!("{what}: no response ({e})"),
    }
}

#[tokio::test]
async fn requests_may_be_16_mb_however_they_arrive_and_not_a_byte_more() {
    let server = TestServer::start();
    let list = [("Content-Type", AMZ_JSON), ("X-Amz-Target", LIST)];
    let at_limit = padded(MB16);
    let over = padded(MB16 + 1);

    let r = post(&server, LIST, &[], &at_limit);
    assert_eq!(
        r.status,
        200,
        "16 MB with a Content-Length: {}",
        r.body_str()
    );
    // Announced, not sent: refused from the headers.
    assert_413(
        "16 MB + 1 with a Content-Length",
        server.raw_request_declaring(&list[..], MB16 + 1, b""),
    );

    let chunked = |body: &[u8]| {
        let mut headers = list.to_vec();
        headers.push(("Authorization", "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"));
        raw_exchange(server.addr(), "POST", "/", &headers, body, Some(1 << 20))
    };
    let r = chunked(&at_limit).expect("a response");
    assert_eq!(r.status, 200, "16 MB chunked: {}", r.body_str());
    assert_413("16 MB + 1 chunked", chunked(&over));

    // The limit is on the decoded body: a small gzip of too much is refused.
    let r = post(
        &server,
        LIST,
        &[("Content-Encoding", "gzip")],
        &gzip(&at_limit),
    );
    assert_eq!(r.status, 200, "16 MB once decoded: {}", r.body_str());
    let small = gzip(&over);
    assert!(small.len() < 100 * 1024, "{} bytes compressed", small.len());
    assert_413(
        "16 MB + 1 once decoded",
        server.raw_request_with(&[list[0], list[1], ("Content-Encoding", "gzip")], &small),
    );
    // A gzip bomb: 64 MB of spaces in some 64 KB; decoding stops past 16 MB.
    let bomb = gzip(&padded(64 * 1024 * 1024));
    assert_413(
        "64 MB once decoded",
        server.raw_request_with(&[list[0], list[1], ("Content-Encoding", "gzip")], &bomb),
    );
    let r = post(&server, LIST, &[], b"{}");
    assert_eq!(r.status, 200, "still serving: {}", r.body_str());
}

#[tokio::test]
async fn responses_are_compressed_when_accepted_and_large_enough() {
    let server = TestServer::start();
    table(&server).await;
    let big = "x".repeat(5000);
    let item = json!({"TableName": "http", "Item": {"pk": {"S": "big"}, "v": {"S": big}}});
    assert_eq!(server.raw_request(PUT, &item.to_string()).status, 200);
    let get = |projection: &str| {
        json!({"TableName": "http", "Key": {"pk": {"S": "big"}}, "ProjectionExpression": projection})
            .to_string()
            .into_bytes()
    };
    let expected = json!({"Item": {"pk": {"S": "big"}, "v": {"S": big}}});

    for (accept, coding, decode) in [
        (
            "gzip",
            "gzip",
            gunzip as fn(&[u8]) -> std::io::Result<Vec<u8>>,
        ),
        ("deflate", "deflate", inflate),
        ("br, deflate;q=0.9, gzip;q=0.5", "deflate", inflate),
        ("*", "gzip", gunzip),
    ] {
        let r = post(&server, GET, &[("Accept-Encoding", accept)], &get("pk, v"));
        assert_eq!(r.status, 200, "{accept}: {}", r.body_str());
        assert_eq!(r.header("Content-Encoding"), Some(coding), "{accept}");
        assert_crc_of_wire_bytes(accept, &r);
        let body = decode(&r.body).unwrap_or_else(|e| panic!("{accept}: {e}"));
        assert!(body.len() > r.body.len() * 10, "{accept}: compressed");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body, expected, "{accept}");
    }

    // Several headers: DynamoDB reads only the first.
    let r = post(
        &server,
        GET,
        &[("Accept-Encoding", "gzip"), ("Accept-Encoding", "identity")],
        &get("pk, v"),
    );
    assert_eq!(
        r.header("Content-Encoding"),
        Some("gzip"),
        "the first header says gzip"
    );
    let body = gunzip(&r.body).expect("gzip");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("JSON"),
        expected
    );
    let r = post(
        &server,
        GET,
        &[("Accept-Encoding", "identity"), ("Accept-Encoding", "gzip")],
        &get("pk, v"),
    );
    assert_eq!(
        r.header("Content-Encoding"),
        None,
        "the first header says identity"
    );
    assert_eq!(r.json(), expected);

    // Small responses, and clients that accept no coding, get plain JSON.
    for (what, accept, projection) in [
        ("under 4 KB", "gzip", "pk"),
        ("gzip refused", "gzip;q=0", "pk, v"),
        ("unknown codings", "br, zstd", "pk, v"),
    ] {
        let r = post(
            &server,
            GET,
            &[("Accept-Encoding", accept)],
            &get(projection),
        );
        assert_eq!(r.status, 200, "{what}");
        assert_eq!(r.header("Content-Encoding"), None, "{what}");
        assert_crc_of_wire_bytes(what, &r);
        assert!(r.json().get("Item").is_some(), "{what}");
    }
}

#[tokio::test]
async fn the_health_check_and_what_is_not_an_api_request() {
    let server = TestServer::start();
    let r = raw_exchange(server.addr(), "GET", "/", &[], b"", None).expect("GET /");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), format!("healthy: {} ", server.addr()));
    assert_crc_of_wire_bytes("GET /", &r);
    assert!(r
        .header("x-amzn-RequestId")
        .is_some_and(|id| id.len() == 52));

    for (method, path) in [
        ("GET", "/health"),
        ("PUT", "/"),
        ("DELETE", "/"),
        ("OPTIONS", "/"),
    ] {
        let r = raw_exchange(server.addr(), method, path, &[], b"", None).expect(method);
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(
            r.body_str(),
            "<UnknownOperationException/>\n",
            "{method} {path}"
        );
        assert_eq!(
            r.header("x-amz-crc32"),
            Some("3552371480"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn every_response_names_its_server() {
    let server = TestServer::start();
    let ok = server.raw_request(LIST, "{}");
    let error = server.raw_request(
        "DynamoDB_20120810.DescribeTable",
        r#"{"TableName":"missing"}"#,
    );
    let health = raw_exchange(server.addr(), "GET", "/", &[], b"", None).expect("GET /");
    for (what, r) in [("success", &ok), ("error", &error), ("health", &health)] {
        assert_eq!(r.header("Server"), Some("Server"), "{what}");
    }
    assert_eq!(error.status, 400);
}

#[tokio::test]
async fn cors_lets_a_browser_page_call() {
    let server = TestServer::start();
    let preflight = raw_exchange(
        server.addr(),
        "OPTIONS",
        "/",
        &[
            ("Origin", "http://page.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type, x-amz-date, x-amz-target",
            ),
        ],
        b"",
        None,
    )
    .expect("preflight");
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        preflight.header("Access-Control-Allow-Methods"),
        Some("POST")
    );
    assert_eq!(
        preflight.header("Access-Control-Allow-Headers"),
        Some("authorization, content-type, x-amz-date, x-amz-target")
    );
    assert_eq!(preflight.header("Access-Control-Max-Age"), Some("172800"));
    assert!(preflight.body.is_empty());

    let r = post(&server, LIST, &[("Origin", "http://page.example")], b"{}");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert!(r
        .header("Access-Control-Expose-Headers")
        .is_some_and(|h| h.contains("x-amzn-RequestId")));
    assert_eq!(r.header("Access-Control-Max-Age"), None, "only preflights");

    let r = post(&server, LIST, &[], b"{}");
    for cors in [
        "Access-Control-Allow-Origin",
        "Access-Control-Expose-Headers",
        "Access-Control-Max-Age",
        "Access-Control-Allow-Methods",
    ] {
        assert_eq!(r.header(cors), None, "{cors} without an Origin");
    }
}

#[tokio::test]
async fn the_body_types_dynamodb_takes() {
    let server = TestServer::start();
    let list = |content_type: Option<&str>, body: &[u8]| {
        let mut headers = vec![("X-Amz-Target", LIST)];
        headers.extend(content_type.map(|t| ("Content-Type", t)));
        server.raw_request_with(&headers, body).expect("ListTables")
    };
    for (content_type, answered) in [
        ("application/x-amz-json-1.0", "application/x-amz-json-1.0"),
        (
            "application/x-amz-json-1.0; charset=utf-8",
            "application/x-amz-json-1.0",
        ),
        ("application/json", "application/json"),
        ("application/json;charset=asfdsaf", "application/json"),
    ] {
        let r = list(Some(content_type), b"{}");
        assert_eq!(r.status, 200, "{content_type}: {}", r.body_str());
        assert_eq!(r.header("Content-Type"), Some(answered), "{content_type}");
    }
    for (what, content_type) in [
        (
            "application/x-amz-json-1.1",
            Some("application/x-amz-json-1.1"),
        ),
        ("a look-alike", Some("application/jsonasdf")),
        ("no type", None),
    ] {
        let r = list(content_type, b"{}");
        assert_eq!(r.status, 404, "{what}: {}", r.body_str());
        assert_eq!(r.body_str(), "<UnknownOperationException/>\n", "{what}");
    }
    // An empty body is an API request whatever its type: it is no JSON object.
    let r = list(None, b"");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"__type": "com.amazon.coral.service#SerializationException"})
    );
}

#[tokio::test]
async fn malformed_json_is_a_bare_serialization_exception() {
    let server = TestServer::start();
    for (target, body) in [
        (LIST, "{\"Limit\": 1"),
        (PUT, "this is not json"),
        (GET, "{}}"),
        ("DynamoDB_20120810.NoSuchOperation", "{"),
    ] {
        let r = server.raw_request(target, body);
        assert_eq!(r.status, 400, "{body:?}");
        assert_eq!(
            r.json(),
            json!({"__type": "com.amazon.coral.service#SerializationException"}),
            "{target} {body:?}"
        );
    }
}

#[tokio::test]
async fn tagging_answers_with_an_empty_body() {
    let server = TestServer::start();
    table(&server).await;
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/http";
    for (target, body) in [
        (
            "DynamoDB_20120810.TagResource",
            json!({"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]}),
        ),
        (
            "DynamoDB_20120810.UntagResource",
            json!({"ResourceArn": arn, "TagKeys": ["k"]}),
        ),
    ] {
        let r = server.raw_request(target, &body.to_string());
        assert_eq!(r.status, 200, "{target}: {}", r.body_str());
        assert!(r.body.is_empty(), "{target}: {:?}", r.body_str());
        assert_eq!(r.header("x-amz-crc32"), Some("0"), "{target}");
        assert_eq!(r.header("Content-Length"), Some("0"), "{target}");
    }
}
