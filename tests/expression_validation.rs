//! Expression validation: each kind of invalid UpdateExpression, ConditionExpression and
//! ProjectionExpression gets a ValidationException (code always asserted; the message where
//! DynamoDB's wording is well established), and a rejected request changes nothing.
//!
//! Sources: the Developer Guide (reserved words; "Expression attribute names", "Expression
//! attribute values"; "each action keyword can appear only once"; "IN … up to 100 values";
//! "Expression parameters: the maximum length of any expression string is 4 KB") and
//! dynalite's expression parsers and tests, whose messages were recorded against DynamoDB
//! (db/updateParser.pegjs, db/conditionParser.pegjs, actions/updateItem.js: "Attribute name
//! is a reserved keyword; reserved keyword: …", "An expression attribute name used in the
//! document path is not defined; attribute name: …", "Value provided in
//! ExpressionAttributeValues unused in expressions: keys: {…}", "The \"SET\" section can only be
//! used once in an update expression;", "Two document paths overlap with each other; …",
//! "Incorrect operand type for operator or function; operator: ADD, operand type: STRING",
//! "An operand in the update expression has an incorrect data type", "The BETWEEN operator
//! requires upper bound to be greater than or equal to lower bound; …").

mod common;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";

fn original() -> Attrs {
    item(&[
        ("pk", s("k")),
        ("str", s("text")),
        ("num", n("5")),
        ("lst", list(vec![n("1")])),
        ("tags", ss(&["a"])),
        ("mp", map(&[("a", n("1"))])),
    ])
}

/// One invalid request: an UpdateItem on the test item with an optional UpdateExpression
/// and ConditionExpression, names and values; the expected message substring.
struct Case {
    update: Option<&'static str>,
    condition: Option<&'static str>,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(String, AttributeValue)>,
    message: Option<String>,
}

fn upd(expr: &'static str, values: Vec<(&str, AttributeValue)>, message: Option<&str>) -> Case {
    Case {
        update: Some(expr),
        condition: None,
        names: vec![],
        values: values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        message: message.map(str::to_owned),
    }
}

fn cnd(expr: &'static str, values: Vec<(&str, AttributeValue)>, message: Option<&str>) -> Case {
    Case {
        update: None,
        condition: Some(expr),
        names: vec![],
        values: values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        message: message.map(str::to_owned),
    }
}

async fn run_cases(client: &Client, cases: Vec<Case>) {
    let mut f = Failures::new();
    for c in cases {
        let mut req = client
            .update_item()
            .table_name("ev_t")
            .key("pk", s("k"))
            .set_update_expression(c.update.map(str::to_owned))
            .set_condition_expression(c.condition.map(str::to_owned));
        for (k, v) in &c.names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in &c.values {
            req = req.expression_attribute_values(k, v.clone());
        }
        let what = format!(
            "UpdateExpression {:?} ConditionExpression {:?} names {:?}",
            c.update, c.condition, c.names
        );
        f.check(check_err(
            &what,
            req.send().await,
            VALIDATION,
            c.message.as_deref(),
        ));
    }
    let stored = get_consistent(client, "ev_t", item(&[("pk", s("k"))])).await;
    if stored.as_ref().map(canonical_item) != Some(canonical_item(&original())) {
        f.push(format!("rejected requests changed the item: {stored:?}"));
    }
    f.assert_none();
}

async fn setup(server: &TestServer) -> Client {
    let client = server.client();
    create_table(&client, "ev_t", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&client, "ev_t", original()).await;
    client
}

#[tokio::test]
async fn reserved_words_names_and_values() {
    let server = TestServer::start();
    let client = setup(&server).await;
    let one = || n("1");
    let mut cases = vec![
        upd(
            "SET name = :v",
            vec![(":v", one())],
            Some("Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name"),
        ),
        // The reserved-word list is case-insensitive.
        upd(
            "SET Status = :v",
            vec![(":v", one())],
            Some("Attribute name is a reserved keyword; reserved keyword: Status"),
        ),
        upd(
            "SET mp.size = :v",
            vec![(":v", one())],
            Some("Attribute name is a reserved keyword; reserved keyword: size"),
        ),
        cnd(
            "attribute_exists(data)",
            vec![],
            Some("Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: data"),
        ),
        upd(
            "SET #nope = :v",
            vec![(":v", one())],
            Some("Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #nope"),
        ),
        upd(
            "SET a = :nope",
            vec![],
            Some("Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :nope"),
        ),
        cnd(
            "num = :nope",
            vec![],
            Some("Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"),
        ),
        upd(
            "SET a = :v",
            vec![(":v", one()), (":unused", one())],
            Some("Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"),
        ),
    ];
    cases.push(Case {
        update: Some("SET a = :v"),
        condition: None,
        names: vec![("#unused", "x")],
        values: vec![(":v".into(), one())],
        message: Some(
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}"
                .into(),
        ),
    });
    run_cases(&client, cases).await;

    // The same updates through placeholders are fine.
    client
        .update_item()
        .table_name("ev_t")
        .key("pk", s("k2"))
        .update_expression("SET #n = :v, #s = :v")
        .expression_attribute_names("#n", "name")
        .expression_attribute_names("#s", "Status")
        .expression_attribute_values(":v", n("1"))
        .send()
        .await
        .expect("reserved words through #names");
    // ProjectionExpression checks reserved words too.
    let (code, msg) = expect_err(
        "GetItem ProjectionExpression with a reserved word",
        client
            .get_item()
            .table_name("ev_t")
            .key("pk", s("k"))
            .projection_expression("str, name")
            .send()
            .await,
    );
    assert_eq!(code, VALIDATION, "{msg}");
    assert!(
        msg.contains("Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name"),
        "{msg}"
    );
}

#[tokio::test]
async fn syntax_errors_and_empty_expressions() {
    let server = TestServer::start();
    let client = setup(&server).await;
    let one = || n("1");
    let cases = vec![
        upd(
            "SET a = ",
            vec![],
            Some("Invalid UpdateExpression: Syntax error; token:"),
        ),
        upd(
            "SET a :v",
            vec![(":v", one())],
            Some("Invalid UpdateExpression: Syntax error; token:"),
        ),
        upd(
            "SET",
            vec![],
            Some("Invalid UpdateExpression: Syntax error; token:"),
        ),
        upd(
            "FOO a = :v",
            vec![(":v", one())],
            Some("Invalid UpdateExpression: Syntax error; token:"),
        ),
        upd(
            "SET a = :v,",
            vec![(":v", one())],
            Some("Invalid UpdateExpression: Syntax error; token:"),
        ),
        upd(
            "REMOVE a = :v",
            vec![(":v", one())],
            Some("Invalid UpdateExpression: Syntax error; token:"),
        ),
        cnd(
            "num = = :v",
            vec![(":v", one())],
            Some("Invalid ConditionExpression: Syntax error; token:"),
        ),
        cnd(
            "(num = :v",
            vec![(":v", one())],
            Some("Invalid ConditionExpression: Syntax error; token:"),
        ),
        cnd(
            "num = :v AND",
            vec![(":v", one())],
            Some("Invalid ConditionExpression: Syntax error; token:"),
        ),
        cnd(
            "num BETWEEN :v",
            vec![(":v", one())],
            Some("Invalid ConditionExpression: Syntax error; token:"),
        ),
        // A bare name may not start with `_` or a digit; `_` is a token of its own
        // (ScyllaDB's tests, run against DynamoDB).
        upd(
            "SET _123 = :v",
            vec![(":v", one())],
            Some(r#"Invalid UpdateExpression: Syntax error; token: "_", near: "SET _123""#),
        ),
        upd(
            "SET _abc = :v",
            vec![(":v", one())],
            Some(r#"Syntax error; token: "_", near: "SET _abc""#),
        ),
        upd(
            "SET 123a = :v",
            vec![(":v", one())],
            Some(r#"Syntax error; token: "123", near: "SET 123a""#),
        ),
        upd(
            "SET a = _f(num)",
            vec![],
            Some(r#"Syntax error; token: "_", near: "= _f""#),
        ),
        cnd(
            "_num = :v",
            vec![(":v", one())],
            Some(r#"Invalid ConditionExpression: Syntax error; token: "_", near: "_num""#),
        ),
        upd(
            "",
            vec![],
            Some("Invalid UpdateExpression: The expression can not be empty;"),
        ),
        cnd(
            "",
            vec![],
            Some("Invalid ConditionExpression: The expression can not be empty;"),
        ),
    ];
    run_cases(&client, cases).await;
}

#[tokio::test]
async fn repeated_clauses_and_overlapping_paths() {
    let server = TestServer::start();
    let client = setup(&server).await;
    let one = || n("1");
    let cases = vec![
        upd(
            "SET a = :v SET b = :v",
            vec![(":v", one())],
            Some("The \"SET\" section can only be used once in an update expression"),
        ),
        upd(
            "REMOVE a REMOVE b",
            vec![],
            Some("The \"REMOVE\" section can only be used once in an update expression"),
        ),
        upd(
            "ADD num :v SET a = :v ADD b :v",
            vec![(":v", one())],
            Some("The \"ADD\" section can only be used once in an update expression"),
        ),
        upd(
            "SET a = :x, a.b = :y",
            vec![(":x", map(&[])), (":y", one())],
            Some("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"),
        ),
        upd(
            "SET a = :v, a = :v",
            vec![(":v", one())],
            Some("Two document paths overlap with each other"),
        ),
        upd(
            "SET a = :v REMOVE a",
            vec![(":v", one())],
            Some("Two document paths overlap with each other"),
        ),
        upd(
            "SET lst[0] = :v REMOVE lst[0]",
            vec![(":v", one())],
            Some("Two document paths overlap with each other"),
        ),
        upd(
            "REMOVE mp ADD mp.a :v",
            vec![(":v", one())],
            Some("Two document paths overlap with each other"),
        ),
        upd(
            "SET mp.a = :v, mp[0] = :v",
            vec![(":v", one())],
            Some("Two document paths conflict with each other"),
        ),
    ];
    run_cases(&client, cases).await;

    // Sibling paths do not overlap.
    client
        .update_item()
        .table_name("ev_t")
        .key("pk", s("k3"))
        .update_expression("SET a = :m, b = :v REMOVE c, d")
        .expression_attribute_values(":m", map(&[]))
        .expression_attribute_values(":v", n("1"))
        .send()
        .await
        .expect("non-overlapping paths");
}

#[tokio::test]
async fn operand_type_errors() {
    let server = TestServer::start();
    let client = setup(&server).await;
    let one = || n("1");
    let cases = vec![
        // size() of a constant without a size is an error in the request, not a false
        // condition (ScyllaDB's tests, run against DynamoDB).
        cnd(
            "size(:x) >= :v",
            vec![(":x", n("123")), (":v", one())],
            Some(
                "Invalid ConditionExpression: Incorrect operand type for operator or function; \
                 operator or function: size, operand type: N",
            ),
        ),
        cnd(
            "size(:x) >= :v",
            vec![(":x", AttributeValue::Bool(true)), (":v", one())],
            Some("operator or function: size, operand type: BOOL"),
        ),
        cnd(
            "size(size(str)) >= :v",
            vec![(":v", one())],
            Some("operator or function: size, operand type: N"),
        ),
        // ADD on a string attribute; ADD of a non-number, non-set value.
        upd(
            "ADD str :v",
            vec![(":v", one())],
            Some("An operand in the update expression has an incorrect data type"),
        ),
        upd(
            "ADD num :v",
            vec![(":v", ss(&["x"]))],
            Some("An operand in the update expression has an incorrect data type"),
        ),
        upd(
            "ADD tags :v",
            vec![(":v", ns(&["1"]))],
            Some("An operand in the update expression has an incorrect data type"),
        ),
        upd(
            "ADD num :v",
            vec![(":v", s("x"))],
            Some("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING"),
        ),
        upd(
            "ADD lst :v",
            vec![(":v", list(vec![one()]))],
            Some("Incorrect operand type for operator or function; operator: ADD, operand type: LIST"),
        ),
        // Arithmetic on non-numbers.
        upd(
            "SET a = str + :v",
            vec![(":v", one())],
            Some("An operand in the update expression has an incorrect data type"),
        ),
        upd(
            "SET a = lst - :v",
            vec![(":v", one())],
            Some("An operand in the update expression has an incorrect data type"),
        ),
        upd(
            "SET a = :s + :v",
            vec![(":s", s("x")), (":v", one())],
            Some("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"),
        ),
        upd(
            "SET a = :v - :t",
            vec![(":v", one()), (":t", AttributeValue::Bool(true))],
            Some("Incorrect operand type for operator or function; operator or function: -, operand type: BOOL"),
        ),
        upd(
            "SET a = nosuch + :v",
            vec![(":v", one())],
            Some("The provided expression refers to an attribute that does not exist in the item"),
        ),
        // DELETE from a non-set, or with a non-set operand.
        upd(
            "DELETE str :v",
            vec![(":v", ss(&["text"]))],
            Some("An operand in the update expression has an incorrect data type"),
        ),
        upd(
            "DELETE tags :v",
            vec![(":v", ns(&["1"]))],
            Some("An operand in the update expression has an incorrect data type"),
        ),
        upd(
            "DELETE tags :v",
            vec![(":v", s("a"))],
            Some("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: STRING"),
        ),
        upd(
            "DELETE num :v",
            vec![(":v", one())],
            Some("Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"),
        ),
        // list_append needs lists.
        upd(
            "SET lst = list_append(lst, :v)",
            vec![(":v", s("x"))],
            Some("Incorrect operand type for operator or function; operator or function: list_append, operand type: S"),
        ),
        upd(
            "SET a = list_append(str, :v)",
            vec![(":v", list(vec![]))],
            Some("An operand in the update expression has an incorrect data type"),
        ),
        // Functions: unknown, wrong arity, wrong place, bad attribute_type name.
        upd(
            "SET a = foo(:v)",
            vec![(":v", one())],
            Some("Invalid UpdateExpression: Invalid function name; function: foo"),
        ),
        cnd(
            "starts_with(str, :v)",
            vec![(":v", s("t"))],
            Some("Invalid ConditionExpression: Invalid function name; function: starts_with"),
        ),
        cnd(
            "attribute_exists(str, :v)",
            vec![(":v", s("t"))],
            Some("Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"),
        ),
        cnd(
            "attribute_type(str, :t)",
            vec![(":t", s("STRING"))],
            Some("Invalid attribute type name found; type: STRING"),
        ),
        cnd(
            "begins_with(str, :v) = :t",
            vec![(":v", s("t")), (":t", AttributeValue::Bool(true))],
            Some("The function is not allowed to be used this way in an expression; function: begins_with"),
        ),
        cnd(
            "begins_with(str, :v)",
            vec![(":v", one())],
            Some("Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ),
        cnd(
            "size(num)",
            vec![],
            None,
        ),
    ];
    run_cases(&client, cases).await;
}

#[tokio::test]
async fn in_operand_limit_between_bounds_and_expression_length() {
    let server = TestServer::start();
    let client = setup(&server).await;

    // IN takes at most 100 operands.
    let in_list = |count: usize| {
        let keys: Vec<String> = (0..count).map(|i| format!(":v{i}")).collect();
        (
            format!("num IN ({})", keys.join(", ")),
            keys.into_iter()
                .enumerate()
                .map(|(i, k)| (k, n(&(i + 100).to_string())))
                .collect::<Vec<_>>(),
        )
    };
    let (expr100, values100) = in_list(100);
    let mut ok = client
        .update_item()
        .table_name("ev_t")
        .key("pk", s("k"))
        .condition_expression(expr100)
        .update_expression("SET lst = :lst");
    for (k, v) in values100 {
        ok = ok.expression_attribute_values(k, v);
    }
    ok = ok.expression_attribute_values(":lst", list(vec![n("1")]));
    let (code, _) = expect_err("IN with 100 operands, none matching", ok.send().await);
    assert_eq!(
        code, "ConditionalCheckFailedException",
        "IN with 100 operands is valid (and false here)"
    );

    let (expr101, values101) = in_list(101);
    let mut bad = client
        .update_item()
        .table_name("ev_t")
        .key("pk", s("k"))
        .condition_expression(expr101);
    for (k, v) in values101 {
        bad = bad.expression_attribute_values(k, v);
    }
    let mut f = Failures::new();
    f.check(check_err(
        "IN with 101 operands",
        bad.send().await,
        VALIDATION,
        Some("too many operands"),
    ));

    // BETWEEN with the lower bound above the upper bound, or of different types.
    let between = |lo: AttributeValue, hi: AttributeValue| {
        client
            .update_item()
            .table_name("ev_t")
            .key("pk", s("k"))
            .condition_expression("num BETWEEN :lo AND :hi")
            .expression_attribute_values(":lo", lo)
            .expression_attribute_values(":hi", hi)
            .send()
    };
    f.check(check_err(
        "BETWEEN 5 AND 1",
        between(n("5"), n("1")).await,
        VALIDATION,
        Some("Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}"),
    ));
    f.check(check_err(
        "BETWEEN 'b' AND 'a'",
        between(s("b"), s("a")).await,
        VALIDATION,
        Some(
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
        ),
    ));
    f.check(check_err(
        "BETWEEN 1 AND 'a'",
        between(n("1"), s("a")).await,
        VALIDATION,
        Some("The BETWEEN operator requires same data type for lower and upper bounds"),
    ));
    // Equal bounds are fine: num is 5, so the condition holds and the update goes through.
    if let Err(e) = between(n("5"), n("5")).await {
        f.push(format!("BETWEEN 5 AND 5: {e:?}"));
    }

    // Expression strings are limited to 4 KB.
    let long = format!(
        "attribute_exists(str) OR {}",
        vec!["num = :v"; 500].join(" OR ")
    );
    assert!(long.len() > 4096);
    f.check(check_err(
        "ConditionExpression over 4 KB",
        client
            .update_item()
            .table_name("ev_t")
            .key("pk", s("k"))
            .condition_expression(long)
            .expression_attribute_values(":v", n("5"))
            .send()
            .await,
        VALIDATION,
        None,
    ));

    // Empty maps of names or values are rejected.
    f.check(check_err(
        "empty ExpressionAttributeValues",
        client
            .update_item()
            .table_name("ev_t")
            .key("pk", s("k"))
            .update_expression("SET a = b")
            .set_expression_attribute_values(Some(Default::default()))
            .send()
            .await,
        VALIDATION,
        Some("ExpressionAttributeValues must not be empty"),
    ));
    f.check(check_err(
        "empty ExpressionAttributeNames",
        client
            .update_item()
            .table_name("ev_t")
            .key("pk", s("k"))
            .update_expression("SET a = :v")
            .expression_attribute_values(":v", n("1"))
            .set_expression_attribute_names(Some(Default::default()))
            .send()
            .await,
        VALIDATION,
        Some("ExpressionAttributeNames must not be empty"),
    ));

    let stored = get_consistent(&client, "ev_t", item(&[("pk", s("k"))])).await;
    if stored.as_ref().map(canonical_item) != Some(canonical_item(&original())) {
        f.push(format!("rejected requests changed the item: {stored:?}"));
    }
    f.assert_none();
}

#[tokio::test]
async fn projection_expression_errors() {
    let server = TestServer::start();
    let client = setup(&server).await;
    let mut f = Failures::new();
    let get = |proj: &'static str| {
        client
            .get_item()
            .table_name("ev_t")
            .key("pk", s("k"))
            .projection_expression(proj)
            .send()
    };
    f.check(check_err(
        "ProjectionExpression a, a.b",
        get("mp, mp.a").await,
        VALIDATION,
        Some("Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [mp], path two: [mp, a]"),
    ));
    f.check(check_err(
        "ProjectionExpression with a syntax error",
        get("str,, num").await,
        VALIDATION,
        Some("Invalid ProjectionExpression: Syntax error; token:"),
    ));
    f.check(check_err(
        "ProjectionExpression with an undefined name",
        get("#x").await,
        VALIDATION,
        Some("An expression attribute name used in the document path is not defined; attribute name: #x"),
    ));
    f.assert_none();
}
