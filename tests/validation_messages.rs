//! DynamoDB's exact validation answers: required parameters, batch and transaction
//! limits, TransactGetItems' per-action key errors, Select with AttributesToGet, the
//! legacy `Expected` parameter's rules, and a parallel Scan resumed with another
//! segment's key.

mod common;

use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::types::{
    ComparisonOperator, ExpectedAttributeValue, Get, KeysAndAttributes, PutRequest,
    ScalarAttributeType, Select, TransactGetItem, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";

/// The `__type` suffix and message of a raw request's error.
fn raw_error(server: &TestServer, operation: &str, body: &str) -> (String, String) {
    let response = server.raw_request(&format!("DynamoDB_20120810.{operation}"), body);
    assert_eq!(
        response.status,
        400,
        "{operation} {body}: {}",
        response.body_str()
    );
    let ty = response.error_type().unwrap_or_default();
    let ty = ty.rsplit('#').next().unwrap_or_default().to_owned();
    (ty, response.error_message().unwrap_or_default())
}

#[tokio::test]
async fn required_parameters_and_table_names() {
    let server = TestServer::start();
    let mut f = Failures::new();
    let required = "The parameter 'TableName' is required but was not present in the request";
    for operation in [
        "CreateTable",
        "DescribeTable",
        "DeleteTable",
        "UpdateTable",
        "DescribeTimeToLive",
    ] {
        // Reported on its own, before the other members' constraints.
        let (ty, message) = raw_error(&server, operation, r#"{"BillingMode":"NOPE"}"#);
        if (ty.as_str(), message.as_str()) != (VALIDATION, required) {
            f.push(format!("{operation} without TableName: {ty} {message}"));
        }
    }
    // Item operations name the member in the aggregated form, and check the name as
    // CreateTable does (ScyllaDB's tests, run against DynamoDB: "xx" and
    // "non!existent!table" are ValidationExceptions, not tables that do not exist).
    for (operation, body, want) in [
        (
            "PutItem",
            r#"{"Item":{"k":{"S":"x"}}}"#,
            "1 validation error detected: Value null at 'tableName' failed to satisfy \
             constraint: Member must not be null",
        ),
        (
            "PutItem",
            r#"{"TableName":"xx","Item":{"k":{"S":"x"}}}"#,
            "1 validation error detected: Value 'xx' at 'tableName' failed to satisfy \
             constraint: Member must have length greater than or equal to 3",
        ),
        (
            "GetItem",
            r#"{"TableName":"ab","Key":{"k":{"S":"x"}}}"#,
            "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy \
             constraint: Member must have length greater than or equal to 3",
        ),
        (
            "PutItem",
            r#"{"TableName":"non!existent!table","Item":{"k":{"S":"x"}}}"#,
            "1 validation error detected: Value 'non!existent!table' at 'tableName' failed \
             to satisfy constraint: Member must satisfy regular expression pattern: \
             [a-zA-Z0-9_.-]+",
        ),
        (
            "CreateTable",
            r#"{"TableName":"ab","KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],
               "AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],
               "BillingMode":"PAY_PER_REQUEST"}"#,
            "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy \
             constraint: Member must have length greater than or equal to 3",
        ),
    ] {
        let (ty, message) = raw_error(&server, operation, body);
        if (ty.as_str(), message.as_str()) != (VALIDATION, want) {
            f.push(format!("{operation} {body}: {ty} {message}"));
        }
    }
    // A valid name of no table: three characters are enough.
    let (ty, _) = raw_error(
        &server,
        "GetItem",
        r#"{"TableName":"abc","Key":{"k":{"S":"x"}}}"#,
    );
    if ty != "ResourceNotFoundException" {
        f.push(format!("GetItem from table \"abc\": {ty}"));
    }
    f.assert_none();
}

fn put_request(pk: &str) -> WriteRequest {
    WriteRequest::builder()
        .put_request(PutRequest::builder().item("pk", s(pk)).build().unwrap())
        .build()
}

fn keys(prefix: &str, count: usize) -> KeysAndAttributes {
    KeysAndAttributes::builder()
        .set_keys(Some(
            (0..count)
                .map(|i| item(&[("pk", s(&format!("{prefix}{i}")))]))
                .collect(),
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn batch_and_transaction_limits() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "batch_a", ("pk", ScalarAttributeType::S), None).await;
    create_table(&client, "batch_b", ("pk", ScalarAttributeType::S), None).await;
    let mut f = Failures::new();
    for (operation, want) in [
        (
            "BatchGetItem",
            "The requestItems parameter is required for BatchGetItem",
        ),
        (
            "BatchWriteItem",
            "The requestItems parameter is required for BatchWriteItem",
        ),
    ] {
        let (ty, message) = raw_error(&server, operation, r#"{"RequestItems":{}}"#);
        if (ty.as_str(), message.as_str()) != (VALIDATION, want) {
            f.push(format!("{operation} with no tables: {ty} {message}"));
        }
    }

    // BatchGetItem: 100 keys pass, 101 in one table or across tables do not.
    client
        .batch_get_item()
        .request_items("batch_a", keys("a", 50))
        .request_items("batch_b", keys("b", 50))
        .send()
        .await
        .expect("100 keys");
    let r = client
        .batch_get_item()
        .request_items("batch_a", keys("a", 101))
        .send()
        .await;
    f.check(check_err(
        "101 keys in one table",
        r,
        VALIDATION,
        Some(
            "1 validation error detected: Value at 'RequestItems.batch_a.member.Keys' failed to \
             satisfy constraint: Member must have length less than or equal to 100",
        ),
    ));
    let r = client
        .batch_get_item()
        .request_items("batch_a", keys("a", 51))
        .request_items("batch_b", keys("b", 50))
        .send()
        .await;
    f.check(check_err(
        "101 keys across tables",
        r,
        VALIDATION,
        Some("Too many items requested for the BatchGetItem call"),
    ));

    // BatchWriteItem: 25 writes pass, 26 in one table or across tables do not.
    let writes = |prefix: &str, count: usize| -> Vec<WriteRequest> {
        (0..count)
            .map(|i| put_request(&format!("{prefix}{i}")))
            .collect()
    };
    client
        .batch_write_item()
        .request_items("batch_a", writes("a", 25))
        .send()
        .await
        .expect("25 writes");
    let r = client
        .batch_write_item()
        .request_items("batch_a", writes("a", 26))
        .send()
        .await;
    let (code, message) = expect_err("26 writes in one table", r);
    assert_eq!(code, VALIDATION);
    assert!(
        message.starts_with("1 validation error detected: Value '{batch_a=[com.amazonaws.dynamodb.v20120810.WriteRequest@")
            && message.matches("WriteRequest@").count() == 26
            && message.ends_with(
                "]}' at 'requestItems' failed to satisfy constraint: Map value must satisfy \
                 constraint: [Member must have length less than or equal to 25, Member must \
                 have length greater than or equal to 1]"
            ),
        "{message}"
    );
    let r = client
        .batch_write_item()
        .request_items("batch_a", writes("a", 13))
        .request_items("batch_b", writes("b", 13))
        .send()
        .await;
    f.check(check_err(
        "26 writes across tables",
        r,
        VALIDATION,
        Some("Too many items requested for the BatchWriteItem call"),
    ));
    let r = client
        .batch_write_item()
        .request_items("batch_a", vec![])
        .send()
        .await;
    f.check(check_err(
        "no writes for a table",
        r,
        VALIDATION,
        Some(
            "1 validation error detected: Value '{batch_a=[]}' at 'requestItems' failed to \
             satisfy constraint: Map value must satisfy constraint: [Member must have length \
             less than or equal to 25, Member must have length greater than or equal to 1]",
        ),
    ));

    // Transactions: 100 actions pass, 0 and 101 do not.
    let gets = |count: usize| -> Vec<TransactGetItem> {
        (0..count)
            .map(|i| {
                TransactGetItem::builder()
                    .get(
                        Get::builder()
                            .table_name("batch_a")
                            .key("pk", s(&format!("a{i}")))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect()
    };
    client
        .transact_get_items()
        .set_transact_items(Some(gets(100)))
        .send()
        .await
        .expect("100 gets");
    for (count, constraint) in [
        (0, "greater than or equal to 1"),
        (101, "less than or equal to 100"),
    ] {
        let r = client
            .transact_get_items()
            .set_transact_items(Some(gets(count)))
            .send()
            .await;
        let (code, message) = expect_err("TransactGetItems", r);
        let shown = if count == 0 {
            "'[]'".to_owned()
        } else {
            "'[com.amazonaws.dynamodb.v20120810.TransactGetItem@".to_owned()
        };
        let ok = code == VALIDATION
            && message.starts_with(&format!("1 validation error detected: Value {shown}"))
            && message.ends_with(&format!(
                "' at 'transactItems' failed to satisfy constraint: Member must have length \
                 {constraint}"
            ));
        if !ok {
            f.push(format!("TransactGetItems of {count}: {code} {message}"));
        }
    }
    let puts = |count: usize| -> Vec<TransactWriteItem> {
        (0..count)
            .map(|i| {
                TransactWriteItem::builder()
                    .put(
                        aws_sdk_dynamodb::types::Put::builder()
                            .table_name("batch_b")
                            .item("pk", s(&format!("t{i}")))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect()
    };
    let (code, message) = expect_err(
        "TransactWriteItems of 0",
        client
            .transact_write_items()
            .set_transact_items(Some(puts(0)))
            .send()
            .await,
    );
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            VALIDATION,
            "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy \
             constraint: Member must have length greater than or equal to 1"
        )
    );
    f.assert_none();
}

#[tokio::test]
async fn transact_get_items_reports_a_bad_key_as_the_actions_reason() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "tget",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    let get = |key: Attrs| {
        TransactGetItem::builder()
            .get(
                Get::builder()
                    .table_name("tget")
                    .set_key(Some(key))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let good = || get(item(&[("pk", s("p")), ("sk", s("s"))]));
    let cases = [
        (vec![get(Attrs::new())], vec!["ValidationError"]),
        (
            vec![good(), get(item(&[("pk", s("p"))]))],
            vec!["None", "ValidationError"],
        ),
        (
            vec![get(item(&[("pk", n("1")), ("sk", s("s"))])), good()],
            vec!["ValidationError", "None"],
        ),
        (
            vec![get(item(&[("pk", s(&"p".repeat(2049))), ("sk", s("s"))]))],
            vec!["ValidationError"],
        ),
    ];
    for (actions, want) in cases {
        let r = client
            .transact_get_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        let Err(e) = r else {
            panic!("{want:?}: the request succeeded");
        };
        let Some(TransactGetItemsError::TransactionCanceledException(canceled)) =
            e.as_service_error()
        else {
            panic!("{want:?}: {e:?}");
        };
        let codes: Vec<&str> = canceled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or_default())
            .collect();
        assert_eq!(codes, want);
        assert_eq!(
            canceled.message(),
            Some(
                format!(
                    "Transaction cancelled, please refer cancellation reasons for specific \
                     reasons [{}]",
                    want.join(", ")
                )
                .as_str()
            )
        );
        let reason = canceled
            .cancellation_reasons()
            .iter()
            .find(|r| r.code() == Some("ValidationError"))
            .and_then(|r| r.message())
            .unwrap_or_default();
        assert!(
            reason.contains("does not match the schema") || reason.contains("hashkey"),
            "{reason}"
        );
    }
    // A projection is the request's own: a plain ValidationException.
    let r = client
        .transact_get_items()
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("tget")
                        .key("pk", s("p"))
                        .projection_expression("!!")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await;
    let mut f = Failures::new();
    f.check(check_err(
        "bad projection",
        r,
        VALIDATION,
        Some(r#"Invalid ProjectionExpression: Syntax error; token: "!", near: "!!""#),
    ));
    f.assert_none();
}

#[tokio::test]
async fn select_with_attributes_to_get() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "sel", ("pk", ScalarAttributeType::S), None).await;
    put_ok(
        &client,
        "sel",
        item(&[("pk", s("p")), ("a", n("1")), ("b", n("2"))]),
    )
    .await;
    let mut f = Failures::new();
    for select in [Select::AllAttributes, Select::Count] {
        let r = client
            .scan()
            .table_name("sel")
            .select(select.clone())
            .attributes_to_get("a")
            .send()
            .await;
        f.check(check_err(
            &format!("Scan {select:?} with AttributesToGet"),
            r,
            VALIDATION,
            Some(&format!(
                "Cannot specify the AttributesToGet when choosing to get {}",
                select.as_str()
            )),
        ));
        let r = client
            .scan()
            .table_name("sel")
            .select(select.clone())
            .projection_expression("a")
            .send()
            .await;
        f.check(check_err(
            &format!("Scan {select:?} with ProjectionExpression"),
            r,
            VALIDATION,
            Some(&format!(
                "Cannot specify the ProjectionExpression when choosing to get {}",
                select.as_str()
            )),
        ));
    }
    let r = client
        .scan()
        .table_name("sel")
        .select(Select::SpecificAttributes)
        .send()
        .await;
    f.check(check_err(
        "SPECIFIC_ATTRIBUTES alone",
        r,
        VALIDATION,
        Some("SPECIFIC_ATTRIBUTES requires either the ProjectionExpression or the AttributesToGet parameter"),
    ));
    let page = client
        .scan()
        .table_name("sel")
        .select(Select::SpecificAttributes)
        .attributes_to_get("b")
        .send()
        .await
        .expect("SPECIFIC_ATTRIBUTES with AttributesToGet");
    assert_eq!(page.items(), [item(&[("b", n("2"))])]);
    let r = client
        .query()
        .table_name("sel")
        .key_conditions(
            "pk",
            aws_sdk_dynamodb::types::Condition::builder()
                .comparison_operator(ComparisonOperator::Eq)
                .attribute_value_list(s("p"))
                .build()
                .unwrap(),
        )
        .select(Select::AllAttributes)
        .attributes_to_get("a")
        .send()
        .await;
    f.check(check_err(
        "Query ALL_ATTRIBUTES with AttributesToGet",
        r,
        VALIDATION,
        Some("Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES"),
    ));
    f.assert_none();
}

#[tokio::test]
async fn expected_parameter_rules() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "exp", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&client, "exp", item(&[("pk", s("p")), ("a", n("1"))])).await;
    let invalid = "One or more parameter values were invalid: ";
    let condition = |op: ComparisonOperator,
                     values: Vec<aws_sdk_dynamodb::types::AttributeValue>| {
        ExpectedAttributeValue::builder()
            .comparison_operator(op)
            .set_attribute_value_list(Some(values))
            .build()
    };
    let cases: Vec<(&str, ExpectedAttributeValue, String)> = vec![
        (
            "no Value and no Exists",
            ExpectedAttributeValue::builder().build(),
            format!("{invalid}Value must be provided when Exists is null for Attribute: a"),
        ),
        (
            "Exists true without Value",
            ExpectedAttributeValue::builder().exists(true).build(),
            format!("{invalid}Value must be provided when Exists is true for Attribute: a"),
        ),
        (
            "Exists false with Value",
            ExpectedAttributeValue::builder()
                .exists(false)
                .value(n("1"))
                .build(),
            format!("{invalid}Value cannot be used when Exists is false for Attribute: a"),
        ),
        (
            "Value and AttributeValueList",
            ExpectedAttributeValue::builder()
                .value(n("1"))
                .attribute_value_list(n("1"))
                .comparison_operator(ComparisonOperator::Eq)
                .build(),
            format!(
                "{invalid}Value and AttributeValueList cannot be used together for Attribute: a"
            ),
        ),
        (
            "Exists and ComparisonOperator",
            ExpectedAttributeValue::builder()
                .exists(true)
                .comparison_operator(ComparisonOperator::NotNull)
                .build(),
            format!(
                "{invalid}Exists and ComparisonOperator cannot be used together for Attribute: a"
            ),
        ),
        (
            "AttributeValueList without ComparisonOperator",
            ExpectedAttributeValue::builder()
                .attribute_value_list(n("1"))
                .build(),
            format!(
                "{invalid}AttributeValueList can only be used with a ComparisonOperator for \
                 Attribute: a"
            ),
        ),
        (
            "EQ without a value",
            ExpectedAttributeValue::builder()
                .comparison_operator(ComparisonOperator::Eq)
                .build(),
            format!(
                "{invalid}Value or AttributeValueList must be used with ComparisonOperator: EQ \
                 for Attribute: a"
            ),
        ),
        (
            "EQ with two values",
            condition(ComparisonOperator::Eq, vec![n("1"), n("2")]),
            format!("{invalid}Invalid number of argument(s) for the EQ ComparisonOperator"),
        ),
        (
            "NULL with a value",
            condition(ComparisonOperator::Null, vec![n("1")]),
            format!("{invalid}Invalid number of argument(s) for the NULL ComparisonOperator"),
        ),
        (
            "BETWEEN with one value",
            condition(ComparisonOperator::Between, vec![n("1")]),
            format!("{invalid}Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
        ),
        (
            "IN with no values",
            condition(ComparisonOperator::In, vec![]),
            format!("{invalid}Invalid number of argument(s) for the IN ComparisonOperator"),
        ),
        (
            "LT with a set",
            condition(ComparisonOperator::Lt, vec![ss(&["x"])]),
            format!("{invalid}ComparisonOperator LT is not valid for SS AttributeValue type"),
        ),
        (
            "BEGINS_WITH with a number",
            condition(ComparisonOperator::BeginsWith, vec![n("1")]),
            format!(
                "{invalid}ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"
            ),
        ),
        (
            "BETWEEN of mixed types",
            condition(ComparisonOperator::Between, vec![n("1"), s("x")]),
            format!("{invalid}AttributeValues inside AttributeValueList must be of same type"),
        ),
    ];
    let mut f = Failures::new();
    for (what, expected, message) in cases {
        let r = client
            .put_item()
            .table_name("exp")
            .item("pk", s("p"))
            .expected("a", expected)
            .send()
            .await;
        f.check(check_err(what, r, VALIDATION, Some(&message)));
    }
    // An unknown operator is the enum's constraint.
    let (ty, message) = raw_error(
        &server,
        "PutItem",
        r#"{"TableName":"exp","Item":{"pk":{"S":"p"}},
            "Expected":{"a":{"ComparisonOperator":"FOO","AttributeValueList":[{"N":"1"}]}}}"#,
    );
    if ty != VALIDATION
        || !message.starts_with(
            "1 validation error detected: Value 'FOO' at 'expected.a.member.comparisonOperator' \
             failed to satisfy constraint: Member must satisfy enum value set:",
        )
    {
        f.push(format!("unknown operator: {ty} {message}"));
    }
    // An empty Expected is no condition at all.
    let response = server.raw_request(
        "DynamoDB_20120810.PutItem",
        r#"{"TableName":"exp","Item":{"pk":{"S":"p"},"a":{"N":"1"}},"Expected":{}}"#,
    );
    if response.status != 200 {
        f.push(format!("empty Expected: {}", response.body_str()));
    }
    // Well-formed conditions are evaluated.
    client
        .put_item()
        .table_name("exp")
        .item("pk", s("p"))
        .item("a", n("2"))
        .expected(
            "a",
            condition(ComparisonOperator::Between, vec![n("0"), n("1")]),
        )
        .send()
        .await
        .expect("BETWEEN 0 AND 1 holds for 1");
    f.assert_none();
}

async fn segment_page(
    client: &Client,
    segment: i32,
    start: Option<Attrs>,
) -> Result<aws_sdk_dynamodb::operation::scan::ScanOutput, (String, String)> {
    client
        .scan()
        .table_name("segments")
        .segment(segment)
        .total_segments(4)
        .limit(1)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_dynamodb::error::ProvideErrorMetadata;
            (
                e.code().unwrap_or_default().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        })
}

#[tokio::test]
async fn a_parallel_scan_refuses_another_segments_start_key() {
    // One partition that four segments share: a segment still knows its own keys.
    let server = TestServer::start_with(&["--partitions-per-table", "1"]);
    let client = server.client();
    create_table(&client, "segments", ("pk", ScalarAttributeType::S), None).await;
    let written: Vec<Attrs> = (0..40)
        .map(|i| item(&[("pk", s(&format!("k{i}")))]))
        .collect();
    batch_put_all(&client, "segments", &written).await;
    // Each segment pages through its own items with its own keys.
    let mut last_keys = Vec::new();
    let mut seen = 0;
    for segment in 0..4 {
        let mut start = None;
        let mut last = None;
        for _ in 0..MAX_PAGES {
            let page = segment_page(&client, segment, start.take())
                .await
                .expect("a page of the segment");
            seen += page.items().len();
            match page.last_evaluated_key() {
                Some(key) => {
                    last = Some(key.clone());
                    start = Some(key.clone());
                }
                None => break,
            }
        }
        last_keys.push(last.expect("every segment has items"));
    }
    assert_eq!(
        seen,
        written.len(),
        "the segments together see every item once"
    );
    for segment in 0..4 {
        for (other, key) in last_keys.iter().enumerate() {
            if other == segment as usize {
                continue;
            }
            let want = format!(
                "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use \
                 ExclusiveStartKey with correct Segment. TotalSegments: 4 Segment: {segment}"
            );
            match segment_page(&client, segment, Some(key.clone())).await {
                Err((code, message)) if code == VALIDATION && message == want => {}
                r => panic!("segment {segment} resumed at segment {other}'s key: {r:?}"),
            }
        }
    }
}
