//! Expression limits: 4 KB per expression string (exactly 4,096 bytes passes, 4,097
//! fails) for every kind of expression, deeply nested expressions answered with
//! DynamoDB's ValidationException (never a SerializationException, a crash or a stall),
//! and literals of a type an operator cannot take refused, while item attributes of
//! such a type only make the comparison false.

mod common;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use aws_sdk_dynamodb::Client;
use common::*;
use serde_json::json;

const VALIDATION: &str = "ValidationException";
const TABLE: &str = "exprs";

async fn table_with_item(client: &Client) {
    create_table(
        client,
        TABLE,
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    put_ok(
        client,
        TABLE,
        item(&[
            ("pk", s("p")),
            ("sk", s("s")),
            ("a", n("1")),
            ("b", n("2")),
            ("greeting", s("hello")),
            ("l", list(vec![n("1")])),
        ]),
    )
    .await;
}

/// `lhs`, spaces, then `rhs`: exactly `length` bytes.
fn padded(lhs: &str, rhs: &str, length: usize) -> String {
    format!("{lhs}{}{rhs}", " ".repeat(length - lhs.len() - rhs.len()))
}

fn size_error(parameter: &str, size: usize) -> String {
    format!(
        "Invalid {parameter}: Expression size has exceeded the maximum allowed size; expression \
         size: {size}"
    )
}

#[tokio::test]
async fn every_expression_may_be_4096_bytes_and_no_more() {
    let server = TestServer::start();
    let client = server.client();
    table_with_item(&client).await;
    let mut f = Failures::new();
    let key = json!({"pk": {"S": "p"}, "sk": {"S": "s"}});
    let one = json!({":v": {"N": "1"}});
    for length in [4096, 4097] {
        // (operation, the expression's parameter, the request with it)
        let requests = [
            (
                "UpdateItem",
                "UpdateExpression",
                json!({"Key": key, "UpdateExpression": padded("SET", "a = :v", length),
                       "ExpressionAttributeValues": one}),
            ),
            (
                "UpdateItem",
                "ConditionExpression",
                json!({"Key": key, "UpdateExpression": "SET a = :v",
                       "ConditionExpression": padded("a", "= :v", length),
                       "ExpressionAttributeValues": one}),
            ),
            (
                "GetItem",
                "ProjectionExpression",
                json!({"Key": key, "ProjectionExpression": padded("a,", "b", length)}),
            ),
            (
                "Query",
                "KeyConditionExpression",
                json!({"KeyConditionExpression": padded("pk", "= :p", length),
                       "ExpressionAttributeValues": {":p": {"S": "p"}}}),
            ),
            (
                "Scan",
                "FilterExpression",
                json!({"FilterExpression": padded("a", "= :v", length),
                       "ExpressionAttributeValues": one}),
            ),
        ];
        for (operation, parameter, mut body) in requests {
            body["TableName"] = json!(TABLE);
            let response =
                server.raw_request(&format!("DynamoDB_20120810.{operation}"), &body.to_string());
            let refused = response.error_message() == Some(size_error(parameter, length));
            let as_expected = match length {
                4096 => response.status == 200,
                _ => response.status == 400 && refused,
            };
            if !as_expected {
                f.push(format!(
                    "{parameter} of {length} bytes: {} {}",
                    response.status,
                    response.body_str()
                ));
            }
        }
    }
    f.assert_none();
}

fn expect_err_pair<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> (String, String)
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    (
        e.code().unwrap_or("(no code)").to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

/// A conditional update of the item with `expression`, `:v` standing for `value`.
async fn condition_with(
    client: &Client,
    expression: &str,
    value: Option<AttributeValue>,
) -> Result<(), (String, String)> {
    client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("p"))
        .key("sk", s("s"))
        .update_expression("SET z = :z")
        .condition_expression(expression)
        .set_expression_attribute_values(Some(
            [(":z".to_owned(), n("1"))]
                .into_iter()
                .chain(value.map(|v| (":v".to_owned(), v)))
                .collect(),
        ))
        .send()
        .await
        .map(drop)
        .map_err(expect_err_pair)
}

async fn condition(client: &Client, expression: &str) -> Result<(), (String, String)> {
    condition_with(client, expression, None).await
}

#[tokio::test]
async fn deeply_nested_expressions_are_validation_errors() {
    let server = TestServer::start();
    let client = server.client();
    table_with_item(&client).await;
    let mut f = Failures::new();
    let prefix = "Invalid ConditionExpression: ";
    let cases: Vec<(String, Option<String>)> = vec![
        // Longer than 4 KB: the size is reported before anything is parsed.
        (
            format!("a<b {}{}", "and (a<b ".repeat(20_000), ")".repeat(20_000)),
            Some(size_error("ConditionExpression", 200_004)),
        ),
        (
            "(".repeat(15_000),
            Some(size_error("ConditionExpression", 15_000)),
        ),
        // Within 4 KB, nested deeper than the parser follows.
        (
            format!("{}a<b{}", "(".repeat(2046), ")".repeat(2046)),
            Some(format!("{prefix}The expression has redundant parentheses;")),
        ),
        (
            format!("a<b {}{}", "or (a<b ".repeat(454), ")".repeat(454)),
            Some(format!(
                "{prefix}The expression contains too many operators; operator count: 301"
            )),
        ),
        (
            format!("a < {}b{}", "f(".repeat(1355), ")".repeat(1355)),
            Some(format!("{prefix}Invalid function name; function: f")),
        ),
        (
            format!("a < {}b{}", "size(".repeat(680), ")".repeat(680)),
            Some(format!(
                "{prefix}The expression contains too many operators; operator count: 301"
            )),
        ),
        // Unparseable however deep: some ValidationException.
        ("(".repeat(4096), None),
        (format!("{}a<b", "not ".repeat(1000)), None),
    ];
    for (expression, want) in cases {
        let what = format!("{:.30}… ({} bytes)", expression, expression.len());
        match condition(&client, &expression).await {
            Err((code, message))
                if code == VALIDATION
                    && message.starts_with(prefix)
                    && want.as_ref().is_none_or(|w| *w == message) => {}
            other => f.push(format!("{what}: got {other:?}, want {want:?}")),
        }
    }
    // A flat chain of more than 300 operators, also within 4 KB.
    let flat = format!("a<b {}", "or a<b ".repeat(584));
    assert!(flat.len() < 4096);
    match condition(&client, &flat).await {
        Err((_, message))
            if message
                == format!(
                    "{prefix}The expression contains too many operators; operator count: 301"
                ) => {}
        other => f.push(format!("584 ORs: {other:?}")),
    }
    // 299 operators, nested 149 deep, is a condition like any other (DynamoDB takes it).
    let nested_ok = format!("a<b {}{}", "or (a<b ".repeat(149), ")".repeat(149));
    if let Err(e) = condition(&client, &nested_ok).await {
        f.push(format!("149 levels of nesting refused: {e:?}"));
    }
    // The server is still there and well.
    get_consistent(&client, TABLE, item(&[("pk", s("p")), ("sk", s("s"))]))
        .await
        .expect("the item");
    f.assert_none();
}

#[tokio::test]
async fn literals_of_the_wrong_type_are_refused_item_values_only_compare_false() {
    let server = TestServer::start();
    let client = server.client();
    table_with_item(&client).await;
    let mut f = Failures::new();
    let wrong = |operator: &str, ty: &str| {
        format!(
            "Invalid ConditionExpression: Incorrect operand type for operator or function; \
             operator or function: {operator}, operand type: {ty}"
        )
    };
    let literals = [
        ("L", list(vec![n("1"), n("2")])),
        ("M", map(&[("k", n("1"))])),
        ("BOOL", AttributeValue::Bool(true)),
        ("NULL", AttributeValue::Null(true)),
        ("SS", ss(&["x"])),
        ("NS", ns(&["1"])),
        ("BS", bs(&[b"x"])),
    ];
    for (ty, literal) in &literals {
        for (expression, operator) in [
            ("a < :v", "<"),
            (":v <= a", "<="),
            ("a > :v", ">"),
            ("a >= :v", ">="),
            ("a BETWEEN :v AND :v", "BETWEEN"),
        ] {
            let r = condition_with(&client, expression, Some(literal.clone())).await;
            if r != Err((VALIDATION.to_owned(), wrong(operator, ty))) {
                f.push(format!("{expression} with {ty}: {r:?}"));
            }
        }
        let r = client
            .scan()
            .table_name(TABLE)
            .filter_expression("begins_with(greeting, :v)")
            .expression_attribute_values(":v", literal.clone())
            .send()
            .await;
        f.check(check_err(
            &format!("begins_with with {ty}"),
            r,
            VALIDATION,
            Some(&format!(
                "Invalid FilterExpression: Incorrect operand type for operator or function; \
                     operator or function: begins_with, operand type: {ty}"
            )),
        ));
    }
    // A number where begins_with wants a string or binary.
    let r = client
        .scan()
        .table_name(TABLE)
        .filter_expression("begins_with(greeting, :n)")
        .expression_attribute_values(":n", n("1"))
        .send()
        .await;
    f.check(check_err(
        "begins_with with N",
        r,
        VALIDATION,
        Some("operand type: N"),
    ));
    // Item attributes of a type the operator cannot take make the condition false.
    for (expression, value) in [
        ("l < :v", n("1")),
        (":v > l", n("1")),
        ("l BETWEEN :v AND :v", n("1")),
        ("begins_with(a, :v)", s("1")),
    ] {
        match condition_with(&client, expression, Some(value)).await {
            Err((code, _)) if code == "ConditionalCheckFailedException" => {}
            r => f.push(format!("{expression}: {r:?}, want a failed condition")),
        }
    }
    // Equality takes literals of every type.
    for (ty, literal) in &literals {
        let r = client
            .scan()
            .table_name(TABLE)
            .filter_expression("a = :v OR a <> :v")
            .expression_attribute_values(":v", literal.clone())
            .send()
            .await;
        if let Err(e) = r {
            f.push(format!("= with {ty}: {e:?}"));
        }
    }
    f.assert_none();
}
