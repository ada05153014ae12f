//! Validation: bad input gets DynamoDB's error code (always asserted) and, where DynamoDB's
//! wording is well established, a substring of its message; and bad input changes nothing.
//!
//! Sources for codes and messages: dynalite's test-suite (run against the real service;
//! test/createTable.js, test/putItem.js, test/getItem.js, test/listTables.js,
//! validations/*.js) and error texts reported by DynamoDB users, e.g.
//! "One or more parameter values are not valid. The AttributeValue for a key attribute
//! cannot contain an empty string value. Key: …".

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, KeyType, ProvisionedThroughput, ReturnValue, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";
const NOT_FOUND: &str = "ResourceNotFoundException";
const KEY_MISMATCH: &str = "The provided key element does not match the schema";

/// Attribute name/value pairs making up an item or a key.
type Attrs = Vec<(&'static str, AttributeValue)>;

fn throughput(r: i64, w: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(r)
        .write_capacity_units(w)
        .build()
        .unwrap()
}

/// A CreateTable for a hash-only on-demand table with key `k` (S).
fn simple_create(client: &Client, name: &str) -> CreateTableFluentBuilder {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("k", KeyType::Hash))
        .attribute_definitions(attr_def("k", ScalarAttributeType::S))
}

async fn table_names(client: &Client) -> Vec<String> {
    client
        .list_tables()
        .send()
        .await
        .expect("ListTables")
        .table_names()
        .to_vec()
}

async fn get(
    client: &Client,
    table: &str,
    key: &[(&str, AttributeValue)],
) -> Option<HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(item(key)))
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetItem {key:?}: {e:?}"))
        .item()
        .cloned()
}

#[tokio::test]
async fn table_name_rules() {
    let server = TestServer::start();
    let client = server.client();
    let mut f = Failures::new();

    let long = "a".repeat(256);
    // Length 3..=255: DynamoDB names the constraint on tableName (older: "TableName must be
    // at least 3 characters long and at most 255 characters long"; newer: "Value '…' at
    // 'tableName' failed to satisfy constraint: Member must have length …"). (The SDK
    // itself refuses an empty name, so "" cannot be sent from here.)
    for bad in ["ab", long.as_str()] {
        f.check(check_err(
            &format!("CreateTable name of length {}", bad.len()),
            simple_create(&client, bad).send().await,
            VALIDATION,
            None,
        ));
    }
    for bad in ["bad name", "semi;colon", "slash/es", "tåble", "star*"] {
        f.check(check_err(
            &format!("CreateTable name {bad:?}"),
            simple_create(&client, bad).send().await,
            VALIDATION,
            Some("Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
        ));
    }
    // Other operations validate the name before looking the table up.
    f.check(check_err(
        "DescribeTable with name \"ab\"",
        client.describe_table().table_name("ab").send().await,
        VALIDATION,
        None,
    ));
    f.check(check_err(
        "GetItem with table name \"a;b\"",
        client
            .get_item()
            .table_name("a;b")
            .key("k", s("x"))
            .send()
            .await,
        VALIDATION,
        Some("regular expression pattern"),
    ));
    f.check(check_err(
        "PutItem with a 256-character table name",
        client
            .put_item()
            .table_name(&long)
            .item("k", s("x"))
            .send()
            .await,
        VALIDATION,
        None,
    ));
    // Nothing was created by the rejected requests.
    let names = table_names(&client).await;
    if !names.is_empty() {
        f.push(format!("rejected CreateTables created tables: {names:?}"));
    }

    // The boundaries are valid.
    let max = "Z".repeat(255);
    for good in ["abc", "a-b_c.D9", max.as_str(), "0.-_"] {
        if let Err(e) = simple_create(&client, good).send().await {
            f.push(format!("CreateTable {good:?} should succeed: {e:?}"));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn key_schema_must_match_attribute_definitions() {
    let server = TestServer::start();
    let client = server.client();
    let mut f = Failures::new();
    use KeyType::{Hash, Range};
    use ScalarAttributeType::S;

    let base = |name: &str| {
        client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
    };

    f.check(check_err(
        "key attribute not in AttributeDefinitions",
        base("ks1")
            .key_schema(key("a", Hash))
            .attribute_definitions(attr_def("b", S))
            .send()
            .await,
        VALIDATION,
        Some("Some index key attributes are not defined in AttributeDefinitions"),
    ));
    // "Invalid KeySchema: Some index key attribute have no definition" (more keys than
    // definitions) or "… Some index key attributes are not defined …": both start so.
    f.check(check_err(
        "range key attribute not defined",
        base("ks2")
            .key_schema(key("a", Hash))
            .key_schema(key("b", Range))
            .attribute_definitions(attr_def("a", S))
            .send()
            .await,
        VALIDATION,
        Some("Some index key attribute"),
    ));
    f.check(check_err(
        "an AttributeDefinition that is not a key",
        base("ks3")
            .key_schema(key("a", Hash))
            .attribute_definitions(attr_def("a", S))
            .attribute_definitions(attr_def("b", S))
            .send()
            .await,
        VALIDATION,
        Some("Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"),
    ));
    f.check(check_err(
        "first key element is RANGE",
        base("ks4")
            .key_schema(key("a", Range))
            .key_schema(key("b", Hash))
            .attribute_definitions(attr_def("a", S))
            .attribute_definitions(attr_def("b", S))
            .send()
            .await,
        VALIDATION,
        Some("Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
    ));
    f.check(check_err(
        "two HASH key elements",
        base("ks5")
            .key_schema(key("a", Hash))
            .key_schema(key("b", Hash))
            .attribute_definitions(attr_def("a", S))
            .attribute_definitions(attr_def("b", S))
            .send()
            .await,
        VALIDATION,
        Some("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"),
    ));
    f.check(check_err(
        "hash and range key with the same name",
        base("ks6")
            .key_schema(key("a", Hash))
            .key_schema(key("a", Range))
            .attribute_definitions(attr_def("a", S))
            .attribute_definitions(attr_def("b", S))
            .send()
            .await,
        VALIDATION,
        Some("Both the Hash Key and the Range Key element in the KeySchema have the same name"),
    ));
    f.check(check_err(
        "empty KeySchema",
        base("ks7")
            .set_key_schema(Some(vec![]))
            .attribute_definitions(attr_def("a", S))
            .send()
            .await,
        VALIDATION,
        None,
    ));
    f.check(check_err(
        "three key elements",
        base("ks8")
            .key_schema(key("a", Hash))
            .key_schema(key("b", Range))
            .key_schema(key("c", Range))
            .attribute_definitions(attr_def("a", S))
            .attribute_definitions(attr_def("b", S))
            .attribute_definitions(attr_def("c", S))
            .send()
            .await,
        VALIDATION,
        Some("Member must have length less than or equal to 2"),
    ));
    f.check(check_err(
        "AttributeType SS",
        base("ks9")
            .key_schema(key("a", Hash))
            .attribute_definitions(attr_def("a", ScalarAttributeType::from("SS")))
            .send()
            .await,
        VALIDATION,
        Some("Member must satisfy enum value set: [B, N, S]"),
    ));
    f.check(check_err(
        "PAY_PER_REQUEST with ProvisionedThroughput",
        base("ks10")
            .key_schema(key("a", Hash))
            .attribute_definitions(attr_def("a", S))
            .provisioned_throughput(throughput(1, 1))
            .send()
            .await,
        VALIDATION,
        Some("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"),
    ));
    f.check(check_err(
        "PROVISIONED (the default) without ProvisionedThroughput",
        client
            .create_table()
            .table_name("ks11")
            .key_schema(key("a", Hash))
            .attribute_definitions(attr_def("a", S))
            .send()
            .await,
        VALIDATION,
        Some("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"),
    ));
    f.check(check_err(
        "ReadCapacityUnits 0",
        client
            .create_table()
            .table_name("ks12")
            .key_schema(key("a", Hash))
            .attribute_definitions(attr_def("a", S))
            .provisioned_throughput(throughput(0, 1))
            .send()
            .await,
        VALIDATION,
        Some("Member must have value greater than or equal to 1"),
    ));

    let names = table_names(&client).await;
    if !names.is_empty() {
        f.push(format!("rejected CreateTables created tables: {names:?}"));
    }
    f.assert_none();
}

#[tokio::test]
async fn duplicate_create_table_is_resource_in_use() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "dup", ("k", ScalarAttributeType::S), None).await;
    let id_before = client
        .describe_table()
        .table_name("dup")
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.table_id().map(str::to_owned));
    let (code, msg) = expect_err(
        "second CreateTable dup",
        client
            .create_table()
            .table_name("dup")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("other", KeyType::Hash))
            .attribute_definitions(attr_def("other", ScalarAttributeType::N))
            .send()
            .await,
    );
    assert_eq!(code, "ResourceInUseException", "{msg}");
    assert!(msg.contains("Table already exists: dup"), "message {msg:?}");
    // The original table is unchanged.
    let t = client
        .describe_table()
        .table_name("dup")
        .send()
        .await
        .unwrap()
        .table()
        .cloned()
        .unwrap();
    assert_eq!(t.table_id().map(str::to_owned), id_before);
    assert_eq!(t.key_schema()[0].attribute_name(), "k");
}

#[tokio::test]
async fn missing_table_is_resource_not_found() {
    let server = TestServer::start();
    let client = server.client();
    let mut f = Failures::new();
    let msg = Some("Requested resource not found");
    f.check(check_err(
        "DescribeTable",
        client.describe_table().table_name("nope").send().await,
        NOT_FOUND,
        msg,
    ));
    f.check(check_err(
        "DeleteTable",
        client.delete_table().table_name("nope").send().await,
        NOT_FOUND,
        msg,
    ));
    f.check(check_err(
        "PutItem",
        client
            .put_item()
            .table_name("nope")
            .item("k", s("x"))
            .send()
            .await,
        NOT_FOUND,
        msg,
    ));
    f.check(check_err(
        "GetItem",
        client
            .get_item()
            .table_name("nope")
            .key("k", s("x"))
            .send()
            .await,
        NOT_FOUND,
        msg,
    ));
    f.check(check_err(
        "DeleteItem",
        client
            .delete_item()
            .table_name("nope")
            .key("k", s("x"))
            .send()
            .await,
        NOT_FOUND,
        msg,
    ));
    f.check(check_err(
        "UpdateTable",
        client
            .update_table()
            .table_name("nope")
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await,
        NOT_FOUND,
        msg,
    ));
    f.assert_none();
}

#[tokio::test]
async fn put_item_key_attribute_validation() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "keys",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    create_table(
        &client,
        "bkeys",
        ("h", ScalarAttributeType::B),
        Some(("r", ScalarAttributeType::B)),
    )
    .await;
    let mut f = Failures::new();

    let cases: Vec<(&str, Attrs, &str)> = vec![
        (
            "no key attributes",
            vec![("other", s("x"))],
            "One or more parameter values were invalid: Missing the key pk in the item",
        ),
        (
            "missing sort key",
            vec![("pk", s("a"))],
            "One or more parameter values were invalid: Missing the key sk in the item",
        ),
        (
            "partition key of type N",
            vec![("pk", n("1")), ("sk", n("1"))],
            "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N",
        ),
        (
            "partition key of type SS",
            vec![("pk", AttributeValue::Ss(vec!["a".into()])), ("sk", n("1"))],
            "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: SS",
        ),
        (
            "sort key of type S",
            vec![("pk", s("a")), ("sk", s("1"))],
            "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S",
        ),
        (
            "sort key of type BOOL",
            vec![("pk", s("a")), ("sk", AttributeValue::Bool(true))],
            "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: BOOL",
        ),
        (
            "empty string partition key",
            vec![("pk", s("")), ("sk", n("1"))],
            "The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
        ),
    ];
    for (what, it, want) in &cases {
        f.check(check_err(
            &format!("PutItem {what}"),
            client
                .put_item()
                .table_name("keys")
                .set_item(Some(item(it)))
                .send()
                .await,
            VALIDATION,
            Some(want),
        ));
    }
    f.check(check_err(
        "PutItem empty binary partition key",
        client
            .put_item()
            .table_name("bkeys")
            .item("h", b(&[]))
            .item("r", b(&[1]))
            .send()
            .await,
        VALIDATION,
        Some("The AttributeValue for a key attribute cannot contain an empty binary value. Key: h"),
    ));
    f.check(check_err(
        "PutItem empty binary sort key",
        client
            .put_item()
            .table_name("bkeys")
            .item("h", b(&[1]))
            .item("r", b(&[]))
            .send()
            .await,
        VALIDATION,
        Some("The AttributeValue for a key attribute cannot contain an empty binary value. Key: r"),
    ));
    // None of the rejected writes landed.
    for key in [
        vec![("pk", s("a")), ("sk", n("1"))],
        vec![("pk", s("a")), ("sk", n("2"))],
    ] {
        if let Some(it) = get(&client, "keys", &key).await {
            f.push(format!("a rejected PutItem wrote {it:?}"));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn key_parameter_must_match_the_schema_exactly() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "kkt",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    create_table(&client, "hkt", ("pk", ScalarAttributeType::S), None).await;
    client
        .put_item()
        .table_name("kkt")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .send()
        .await
        .expect("PutItem");
    client
        .put_item()
        .table_name("hkt")
        .item("pk", s("a"))
        .send()
        .await
        .expect("PutItem");
    let mut f = Failures::new();

    let cases: Vec<(&str, &str, Attrs)> = vec![
        ("empty key", "hkt", vec![]),
        ("wrong attribute name", "hkt", vec![("other", s("a"))]),
        (
            "extra attribute",
            "hkt",
            vec![("pk", s("a")), ("extra", s("b"))],
        ),
        ("partition key of type N", "hkt", vec![("pk", n("1"))]),
        ("partition key of type B", "hkt", vec![("pk", b(b"a"))]),
        ("missing sort key", "kkt", vec![("pk", s("a"))]),
        (
            "sort key of type S",
            "kkt",
            vec![("pk", s("a")), ("sk", s("1"))],
        ),
        (
            "extra attribute with full key",
            "kkt",
            vec![("pk", s("a")), ("sk", n("1")), ("x", n("1"))],
        ),
    ];
    for (what, table, key) in &cases {
        f.check(check_err(
            &format!("GetItem {table} {what}"),
            client
                .get_item()
                .table_name(*table)
                .set_key(Some(item(key)))
                .send()
                .await,
            VALIDATION,
            Some(KEY_MISMATCH),
        ));
        f.check(check_err(
            &format!("DeleteItem {table} {what}"),
            client
                .delete_item()
                .table_name(*table)
                .set_key(Some(item(key)))
                .send()
                .await,
            VALIDATION,
            Some(KEY_MISMATCH),
        ));
    }
    f.check(check_err(
        "GetItem empty string key",
        client
            .get_item()
            .table_name("hkt")
            .key("pk", s(""))
            .send()
            .await,
        VALIDATION,
        Some(
            "The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
        ),
    ));
    // The rejected DeleteItems deleted nothing.
    if get(&client, "hkt", &[("pk", s("a"))]).await.is_none() {
        f.push("a rejected DeleteItem deleted hk/a");
    }
    if get(&client, "kkt", &[("pk", s("a")), ("sk", n("1"))])
        .await
        .is_none()
    {
        f.push("a rejected DeleteItem deleted kk/a/1");
    }
    f.assert_none();
}

#[tokio::test]
async fn malformed_attribute_values() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "vals", ("pk", ScalarAttributeType::S), None).await;
    let mut f = Failures::new();
    use AttributeValue as V;
    let blob = |x: &[u8]| Blob::new(x.to_vec());

    // Unparseable numbers: DynamoDB has said both "The parameter cannot be converted to a
    // numeric value: …" (dynalite's recordings) and, today, "A value provided cannot be
    // converted into a number"; only the common part is asserted.
    let digits39 = "123456789012345678901234567890123456789";
    let cases: Vec<(&str, AttributeValue, &str)> = vec![
        ("empty SS", V::Ss(vec![]), "may not be empty"),
        ("empty NS", V::Ns(vec![]), "may not be empty"),
        ("empty BS", V::Bs(vec![]), "should not be empty"),
        ("duplicate SS", V::Ss(vec!["a".into(), "a".into()]), "contains duplicates"),
        ("duplicate NS", V::Ns(vec!["1".into(), "1".into()]), "contains duplicates"),
        ("duplicate BS", V::Bs(vec![blob(b"b"), blob(b"b")]), "contains duplicates"),
        ("N not a number", n("abc"), "cannot be converted"),
        ("N empty", n(""), "cannot be converted"),
        ("N two dots", n("1.2.3"), "cannot be converted"),
        ("NS with a bad member", V::Ns(vec!["1".into(), "x".into()]), "cannot be converted"),
        ("N with 39 significant digits", n(digits39), "Attempting to store more than 38 significant digits in a Number"),
        (
            "N with 39 significant digits after the point",
            n("-1.23456789012345678901234567890123456789"),
            "Attempting to store more than 38 significant digits in a Number",
        ),
        ("N 1e126", n("1e126"), "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("N -1e126", n("-1e126"), "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("N 1e-131", n("1e-131"), "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("N -1e-131", n("-1e-131"), "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("NULL false", V::Null(false), "Null attribute value types must have the value of true"),
        ("bad N inside L", V::L(vec![s("ok"), n("1e126")]), "Number overflow"),
        (
            "bad N inside M",
            V::M(HashMap::from([("x".to_owned(), n("abc"))])),
            "cannot be converted",
        ),
        (
            "empty SS inside M",
            V::M(HashMap::from([("x".to_owned(), V::Ss(vec![]))])),
            "may not be empty",
        ),
    ];
    for (i, (what, value, want)) in cases.iter().enumerate() {
        let pk = format!("bad-{i}");
        f.check(check_err(
            &format!("PutItem with {what}"),
            client
                .put_item()
                .table_name("vals")
                .item("pk", s(&pk))
                .item("v", value.clone())
                .send()
                .await,
            VALIDATION,
            Some(want),
        ));
        if let Some(it) = get(&client, "vals", &[("pk", s(&pk))]).await {
            f.push(format!("rejected PutItem with {what} wrote {it:?}"));
        }
    }

    // The extremes of the valid range are accepted.
    let good: Vec<(&str, &str)> = vec![
        ("38 digits", "12345678901234567890123456789012345678"),
        ("largest", "9.9999999999999999999999999999999999999e125"),
        (
            "most negative",
            "-9.9999999999999999999999999999999999999e125",
        ),
        ("smallest positive", "1e-130"),
        ("smallest negative", "-1e-130"),
        (
            "38 digits with leading/trailing zeros",
            "000.1234567890123456789012345678901234567800",
        ),
    ];
    for (what, num) in good {
        if let Err(e) = client
            .put_item()
            .table_name("vals")
            .item("pk", s(what))
            .item("v", n(num))
            .send()
            .await
        {
            f.push(format!("PutItem N {num} ({what}) should succeed: {e:?}"));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn item_and_key_size_limits() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "szt", ("a", ScalarAttributeType::S), None).await;
    create_table(
        &client,
        "szrt",
        ("a", ScalarAttributeType::S),
        Some(("b", ScalarAttributeType::S)),
    )
    .await;
    create_table(&client, "szbt", ("a", ScalarAttributeType::B), None).await;
    let mut f = Failures::new();
    const MAX: usize = 409_600;
    const TOO_BIG: &str = "Item size has exceeded the maximum allowed size";

    // Size = sum of UTF-8 attribute-name lengths + value sizes (strings: UTF-8 bytes).
    // "a"+"k1" = 3, "b" = 1: value of MAX-4+1 bytes makes MAX+1.
    f.check(check_err(
        "item of 409601 bytes",
        client
            .put_item()
            .table_name("szt")
            .item("a", s("k1"))
            .item("b", s(&"x".repeat(MAX - 4 + 1)))
            .send()
            .await,
        VALIDATION,
        Some(TOO_BIG),
    ));
    // Attribute names count: 27-byte name.
    let long_name = "b".repeat(27);
    f.check(check_err(
        "item of 409601 bytes with a long attribute name",
        client
            .put_item()
            .table_name("szt")
            .item("a", s("k2"))
            .item(&long_name, s(&"x".repeat(MAX - 3 - 27 + 1)))
            .send()
            .await,
        VALIDATION,
        Some(TOO_BIG),
    ));
    if let Err(e) = client
        .put_item()
        .table_name("szt")
        .item("a", s("k3"))
        .item(&long_name, s(&"x".repeat(MAX - 3 - 27)))
        .send()
        .await
    {
        f.push(format!(
            "item of exactly 409600 bytes with a long name should succeed: {e:?}"
        ));
    }
    // Strings are measured in UTF-8 bytes, not characters: 150000 'é' are 300000 bytes.
    f.check(check_err(
        "item over 400 KB only when measured in UTF-8 bytes",
        client
            .put_item()
            .table_name("szt")
            .item("a", s("k4"))
            .item("b", s(&"é".repeat(150_000)))
            .item("c", s(&"é".repeat(60_000)))
            .send()
            .await,
        VALIDATION,
        Some(TOO_BIG),
    ));
    // Binary values are measured in raw bytes (not base64 characters): 409600-3-1 raw bytes fit.
    if let Err(e) = client
        .put_item()
        .table_name("szt")
        .item("a", s("k5"))
        .item("b", b(&vec![7u8; MAX - 3 - 1]))
        .send()
        .await
    {
        f.push(format!(
            "binary item of exactly 409600 bytes should succeed: {e:?}"
        ));
    }
    for k in ["k1", "k2", "k4"] {
        if let Some(it) = get(&client, "szt", &[("a", s(k))]).await {
            f.push(format!(
                "rejected oversized PutItem {k} wrote an item of {} attributes",
                it.len()
            ));
        }
    }

    const HASH_TOO_BIG: &str = "Size of hashkey has exceeded the maximum size limit of";
    const RANGE_TOO_BIG: &str =
        "Aggregated size of all range keys has exceeded the size limit of 1024 bytes";
    f.check(check_err(
        "partition key of 2049 bytes",
        client
            .put_item()
            .table_name("szt")
            .item("a", s(&"p".repeat(2049)))
            .send()
            .await,
        VALIDATION,
        Some(HASH_TOO_BIG),
    ));
    f.check(check_err(
        "partition key of 1025 two-byte characters (2050 bytes)",
        client
            .put_item()
            .table_name("szt")
            .item("a", s(&"é".repeat(1025)))
            .send()
            .await,
        VALIDATION,
        Some(HASH_TOO_BIG),
    ));
    f.check(check_err(
        "binary partition key of 2049 bytes",
        client
            .put_item()
            .table_name("szbt")
            .item("a", b(&[1u8; 2049]))
            .send()
            .await,
        VALIDATION,
        Some(HASH_TOO_BIG),
    ));
    f.check(check_err(
        "sort key of 1025 bytes",
        client
            .put_item()
            .table_name("szrt")
            .item("a", s("p"))
            .item("b", s(&"r".repeat(1025)))
            .send()
            .await,
        VALIDATION,
        Some(RANGE_TOO_BIG),
    ));
    f.check(check_err(
        "sort key of 513 two-byte characters (1026 bytes)",
        client
            .put_item()
            .table_name("szrt")
            .item("a", s("p"))
            .item("b", s(&"é".repeat(513)))
            .send()
            .await,
        VALIDATION,
        Some(RANGE_TOO_BIG),
    ));
    for (what, table, it) in [
        (
            "partition key of 2048 bytes",
            "szt",
            item(&[("a", s(&"p".repeat(2048)))]),
        ),
        (
            "binary partition key of 2048 bytes",
            "szbt",
            item(&[("a", b(&[1u8; 2048]))]),
        ),
        (
            "sort key of 1024 bytes",
            "szrt",
            item(&[("a", s("p")), ("b", s(&"r".repeat(1024)))]),
        ),
    ] {
        if let Err(e) = client
            .put_item()
            .table_name(table)
            .set_item(Some(it))
            .send()
            .await
        {
            f.push(format!("PutItem with {what} should succeed: {e:?}"));
        }
    }
    f.assert_none();
}

/// Item size as the developer guide defines it ("DynamoDB item sizes and formats"): names
/// and strings in UTF-8 bytes; BOOL and NULL 1 byte; List and Map 3 bytes plus their
/// elements, each element 1 byte more. The limit is 400 KB = 409600 bytes, inclusive.
#[tokio::test]
async fn item_size_counts_bools_lists_and_maps_as_documented() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "docsize", ("a", ScalarAttributeType::S), None).await;
    let mut f = Failures::new();
    const MAX: usize = 409_600;
    const TOO_BIG: &str = "Item size has exceeded the maximum allowed size";
    use AttributeValue as V;

    // (case, fixed bytes besides the padding string's own bytes, builder)
    type Build = fn(&str, String) -> HashMap<String, AttributeValue>;
    let cases: Vec<(&str, usize, Build)> = vec![
        // a:"kN" = 1+2, c:BOOL = 1+1, b:S = 1+len
        ("BOOL", 3 + 2 + 1, |k, pad| {
            item(&[("a", s(k)), ("c", V::Bool(true)), ("b", s(&pad))])
        }),
        // a:"kN" = 3, c:NULL = 2, b:S = 1+len
        ("NULL", 3 + 2 + 1, |k, pad| {
            item(&[("a", s(k)), ("c", V::Null(true)), ("b", s(&pad))])
        }),
        // a:"kN" = 3, l:L[S pad] = 1 + 3 + (len + 1)
        ("L", 3 + 1 + 3 + 1, |k, pad| {
            item(&[("a", s(k)), ("l", V::L(vec![s(&pad)]))])
        }),
        // a:"kN" = 3, m:M{xy: S pad} = 1 + 3 + (2 + len + 1)
        ("M", 3 + 1 + 3 + 2 + 1, |k, pad| {
            item(&[
                ("a", s(k)),
                ("m", V::M(HashMap::from([("xy".to_owned(), s(&pad))]))),
            ])
        }),
    ];
    for (i, (what, fixed, build)) in cases.iter().enumerate() {
        let fits = format!("f{i}");
        let over = format!("o{i}");
        if let Err(e) = client
            .put_item()
            .table_name("docsize")
            .set_item(Some(build(&fits, "x".repeat(MAX - fixed))))
            .send()
            .await
        {
            f.push(format!(
                "{what}: an item of exactly 409600 bytes should be accepted: {e:?}"
            ));
        }
        f.check(check_err(
            &format!("{what}: an item of 409601 bytes"),
            client
                .put_item()
                .table_name("docsize")
                .set_item(Some(build(&over, "x".repeat(MAX - fixed + 1))))
                .send()
                .await,
            VALIDATION,
            Some(TOO_BIG),
        ));
    }
    f.assert_none();
}

/// PutItem and DeleteItem only take ReturnValues NONE or ALL_OLD; DynamoDB answers the
/// other (valid enum) values with "ReturnValues can only be ALL_OLD or NONE" (dynalite's
/// recordings; also checked against us-east-1 by the ExtendDB project's parity tests).
#[tokio::test]
async fn put_and_delete_only_take_return_values_none_or_all_old() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "retvals", ("pk", ScalarAttributeType::S), None).await;
    client
        .put_item()
        .table_name("retvals")
        .item("pk", s("kept"))
        .item("v", n("1"))
        .send()
        .await
        .expect("PutItem");
    let mut f = Failures::new();
    for rv in [
        ReturnValue::AllNew,
        ReturnValue::UpdatedOld,
        ReturnValue::UpdatedNew,
    ] {
        f.check(check_err(
            &format!("PutItem ReturnValues {}", rv.as_str()),
            client
                .put_item()
                .table_name("retvals")
                .item("pk", s("new"))
                .return_values(rv.clone())
                .send()
                .await,
            VALIDATION,
            Some("ReturnValues can only be ALL_OLD or NONE"),
        ));
        f.check(check_err(
            &format!("DeleteItem ReturnValues {}", rv.as_str()),
            client
                .delete_item()
                .table_name("retvals")
                .key("pk", s("kept"))
                .return_values(rv.clone())
                .send()
                .await,
            VALIDATION,
            Some("ReturnValues can only be ALL_OLD or NONE"),
        ));
    }
    if let Some(it) = get(&client, "retvals", &[("pk", s("new"))]).await {
        f.push(format!("a rejected PutItem wrote {it:?}"));
    }
    if get(&client, "retvals", &[("pk", s("kept"))])
        .await
        .is_none()
    {
        f.push("a rejected DeleteItem deleted the item");
    }
    f.assert_none();
}
