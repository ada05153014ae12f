//! The legacy (pre-expression) parameters that older SDK code and object mappers still send:
//! Expected (Value/Exists and ComparisonOperator/AttributeValueList), ConditionalOperator,
//! AttributeUpdates (PUT/ADD/DELETE), AttributesToGet, KeyConditions, QueryFilter and
//! ScanFilter — and DynamoDB's rule that legacy and expression parameters cannot be mixed in
//! one request.
//!
//! Semantics follow the Developer Guide's "Legacy conditional parameters" pages (Expected,
//! AttributeUpdates: "ADD … If no item with the specified key is found, … creates a new item",
//! "DELETE - If no value is specified, the attribute and its value are removed from the item";
//! "ConditionalOperator … OR - At least one of the conditions must evaluate to true") and the
//! Condition type reference (comparison operators and their argument counts). The mixing
//! error, "Can not use both expression and non-expression parameters in the same request:
//! Non-expression parameters: {…} Expression parameters: {…}", is DynamoDB's wording as
//! recorded by dynalite's validations (validateExpressionParams).

mod common;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeValue, AttributeValueUpdate, ComparisonOperator, Condition,
    ConditionalOperator, ExpectedAttributeValue, KeysAndAttributes, ReturnValue,
    ScalarAttributeType, Select,
};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";
const CCF: &str = "ConditionalCheckFailedException";
const MIXED: &str = "Can not use both expression and non-expression parameters in the same request";

fn expect_value(v: AttributeValue) -> ExpectedAttributeValue {
    ExpectedAttributeValue::builder().value(v).build()
}

fn expect_exists(exists: bool) -> ExpectedAttributeValue {
    ExpectedAttributeValue::builder().exists(exists).build()
}

fn expect_op(op: ComparisonOperator, args: Vec<AttributeValue>) -> ExpectedAttributeValue {
    ExpectedAttributeValue::builder()
        .comparison_operator(op)
        .set_attribute_value_list(if args.is_empty() { None } else { Some(args) })
        .build()
}

fn cond(op: ComparisonOperator, args: Vec<AttributeValue>) -> Condition {
    Condition::builder()
        .comparison_operator(op)
        .set_attribute_value_list(if args.is_empty() { None } else { Some(args) })
        .build()
        .unwrap()
}

fn upd(action: AttributeAction, v: Option<AttributeValue>) -> AttributeValueUpdate {
    AttributeValueUpdate::builder()
        .action(action)
        .set_value(v)
        .build()
}

fn base() -> Attrs {
    item(&[
        ("pk", s("k")),
        ("v", n("1")),
        ("str", s("abc")),
        ("tags", ss(&["red", "green"])),
    ])
}

/// Whether a PutItem re-putting `base()` with these Expected entries succeeds.
async fn put_holds(
    client: &Client,
    expected: Vec<(&str, ExpectedAttributeValue)>,
    op: Option<ConditionalOperator>,
) -> Result<bool, String> {
    let mut req = client
        .put_item()
        .table_name("leg")
        .set_item(Some(base()))
        .set_conditional_operator(op);
    for (k, e) in expected.iter() {
        req = req.expected(*k, e.clone());
    }
    match req.send().await {
        Ok(_) => Ok(true),
        Err(e) => match e.into_service_error() {
            PutItemError::ConditionalCheckFailedException(_) => Ok(false),
            other => Err(format!("Expected {expected:?}: unexpected error {other:?}")),
        },
    }
}

#[tokio::test]
async fn expected_value_exists_and_comparison_operators() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "leg", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&client, "leg", base()).await;
    use ComparisonOperator as Op;

    type Case = (Vec<(&'static str, ExpectedAttributeValue)>, bool);
    let cases: Vec<Case> = vec![
        // Value alone means Exists = true and equal.
        (vec![("v", expect_value(n("1")))], true),
        (vec![("v", expect_value(n("2")))], false),
        (vec![("nosuch", expect_value(n("1")))], false),
        (
            vec![(
                "v",
                ExpectedAttributeValue::builder()
                    .exists(true)
                    .value(n("1.0"))
                    .build(),
            )],
            true,
        ),
        (vec![("nosuch", expect_exists(false))], true),
        (vec![("v", expect_exists(false))], false),
        // ComparisonOperator with AttributeValueList.
        (vec![("v", expect_op(Op::Eq, vec![n("1")]))], true),
        (vec![("v", expect_op(Op::Ne, vec![n("1")]))], false),
        (vec![("v", expect_op(Op::Lt, vec![n("2")]))], true),
        (vec![("v", expect_op(Op::Le, vec![n("1")]))], true),
        (vec![("v", expect_op(Op::Gt, vec![n("1")]))], false),
        (vec![("v", expect_op(Op::Ge, vec![n("1")]))], true),
        (
            vec![("v", expect_op(Op::Between, vec![n("0"), n("1")]))],
            true,
        ),
        (
            vec![("v", expect_op(Op::Between, vec![n("2"), n("3")]))],
            false,
        ),
        (vec![("v", expect_op(Op::In, vec![n("5"), n("1")]))], true),
        (vec![("v", expect_op(Op::In, vec![n("5"), n("6")]))], false),
        (vec![("nosuch", expect_op(Op::Null, vec![]))], true),
        (vec![("v", expect_op(Op::Null, vec![]))], false),
        (vec![("v", expect_op(Op::NotNull, vec![]))], true),
        (vec![("nosuch", expect_op(Op::NotNull, vec![]))], false),
        (
            vec![("str", expect_op(Op::BeginsWith, vec![s("ab")]))],
            true,
        ),
        (
            vec![("str", expect_op(Op::BeginsWith, vec![s("bc")]))],
            false,
        ),
        (vec![("str", expect_op(Op::Contains, vec![s("bc")]))], true),
        (
            vec![("str", expect_op(Op::NotContains, vec![s("bc")]))],
            false,
        ),
        (
            vec![("tags", expect_op(Op::Contains, vec![s("red")]))],
            true,
        ),
        (
            vec![("tags", expect_op(Op::NotContains, vec![s("blue")]))],
            true,
        ),
        // Unlike NE, NOT_CONTAINS fails on an absent attribute (ScyllaDB's tests, run
        // against DynamoDB).
        (
            vec![("nosuch", expect_op(Op::NotContains, vec![n("1")]))],
            false,
        ),
        (vec![("nosuch", expect_op(Op::Ne, vec![n("1")]))], true),
        // Several entries: all must hold (AND is the default ConditionalOperator).
        (
            vec![
                ("v", expect_value(n("1"))),
                ("str", expect_op(Op::Eq, vec![s("abc")])),
            ],
            true,
        ),
        (
            vec![
                ("v", expect_value(n("1"))),
                ("str", expect_op(Op::Eq, vec![s("zzz")])),
            ],
            false,
        ),
    ];
    let mut f = Failures::new();
    for (expected, want) in cases {
        let what = format!("{expected:?}");
        match put_holds(&client, expected, None).await {
            Ok(got) if got == want => {}
            Ok(got) => f.push(format!("Expected {what}: held={got}, want {want}")),
            Err(e) => f.push(e),
        }
    }

    // ConditionalOperator: OR needs one entry to hold, AND needs all.
    let mixed = || {
        vec![
            ("v", expect_op(Op::Eq, vec![n("1")])),
            ("str", expect_op(Op::Eq, vec![s("zzz")])),
        ]
    };
    for (op, want) in [
        (Some(ConditionalOperator::Or), true),
        (Some(ConditionalOperator::And), false),
        (None, false),
    ] {
        match put_holds(&client, mixed(), op.clone()).await {
            Ok(got) if got == want => {}
            Ok(got) => f.push(format!(
                "ConditionalOperator {op:?}: held={got}, want {want}"
            )),
            Err(e) => f.push(e),
        }
    }
    let stored = get_consistent(&client, "leg", item(&[("pk", s("k"))])).await;
    if stored.as_ref().map(canonical_item) != Some(canonical_item(&base())) {
        f.push(format!("item changed: {stored:?}"));
    }
    f.assert_none();
}

#[tokio::test]
async fn expected_on_update_and_delete() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "leg", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&client, "leg", base()).await;

    let (code, _) = expect_err(
        "UpdateItem with a false Expected",
        client
            .update_item()
            .table_name("leg")
            .key("pk", s("k"))
            .attribute_updates("v", upd(AttributeAction::Put, Some(n("100"))))
            .expected("v", expect_value(n("2")))
            .send()
            .await,
    );
    assert_eq!(code, CCF);
    let (code, _) = expect_err(
        "DeleteItem with a false Expected",
        client
            .delete_item()
            .table_name("leg")
            .key("pk", s("k"))
            .expected("str", expect_exists(false))
            .send()
            .await,
    );
    assert_eq!(code, CCF);
    assert_eq!(
        get_consistent(&client, "leg", item(&[("pk", s("k"))]))
            .await
            .map(|i| canonical_item(&i)),
        Some(canonical_item(&base())),
        "failed legacy conditions changed the item"
    );

    client
        .update_item()
        .table_name("leg")
        .key("pk", s("k"))
        .attribute_updates("v", upd(AttributeAction::Put, Some(n("100"))))
        .expected("v", expect_value(n("1")))
        .send()
        .await
        .expect("UpdateItem with a true Expected");
    let out = client
        .delete_item()
        .table_name("leg")
        .key("pk", s("k"))
        .expected("v", expect_op(ComparisonOperator::Gt, vec![n("50")]))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("DeleteItem with a true Expected");
    assert_eq!(
        out.attributes().and_then(|a| a.get("v")).cloned(),
        Some(n("100"))
    );
    assert_eq!(
        get_consistent(&client, "leg", item(&[("pk", s("k"))])).await,
        None
    );
}

#[tokio::test]
async fn attribute_updates_put_add_delete() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "leg", ("pk", ScalarAttributeType::S), None).await;
    put_ok(
        &client,
        "leg",
        item(&[
            ("pk", s("k")),
            ("a", s("x")),
            ("cnt", n("1")),
            ("tags", ss(&["a", "b"])),
            ("nums", ns(&["1", "2"])),
            ("single", ss(&["only"])),
            ("gone", s("g")),
        ]),
    )
    .await;
    let out = client
        .update_item()
        .table_name("leg")
        .key("pk", s("k"))
        .attribute_updates("a", upd(AttributeAction::Put, Some(s("y"))))
        .attribute_updates(
            "defaulted",
            AttributeValueUpdate::builder().value(s("put")).build(),
        )
        .attribute_updates("cnt", upd(AttributeAction::Add, Some(n("5"))))
        .attribute_updates("newnum", upd(AttributeAction::Add, Some(n("-3"))))
        .attribute_updates("tags", upd(AttributeAction::Add, Some(ss(&["b", "c"]))))
        .attribute_updates("newset", upd(AttributeAction::Add, Some(ns(&["7"]))))
        .attribute_updates("nums", upd(AttributeAction::Delete, Some(ns(&["1"]))))
        .attribute_updates("single", upd(AttributeAction::Delete, Some(ss(&["only"]))))
        .attribute_updates("gone", upd(AttributeAction::Delete, None))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("UpdateItem with AttributeUpdates");
    let want = item(&[
        ("pk", s("k")),
        ("a", s("y")),
        ("defaulted", s("put")),
        ("cnt", n("6")),
        ("newnum", n("-3")),
        ("tags", ss(&["a", "b", "c"])),
        ("newset", ns(&["7"])),
        ("nums", ns(&["2"])),
    ]);
    assert_eq!(
        out.attributes().map(canonical_item),
        Some(canonical_item(&want))
    );
    assert_eq!(
        get_consistent(&client, "leg", item(&[("pk", s("k"))]))
            .await
            .map(|i| canonical_item(&i)),
        Some(canonical_item(&want))
    );

    // UPDATED_OLD with AttributeUpdates: the updated attributes as they were.
    let out = client
        .update_item()
        .table_name("leg")
        .key("pk", s("k"))
        .attribute_updates("cnt", upd(AttributeAction::Add, Some(n("1"))))
        .attribute_updates("fresh", upd(AttributeAction::Put, Some(s("f"))))
        .return_values(ReturnValue::UpdatedOld)
        .send()
        .await
        .expect("UpdateItem AttributeUpdates UPDATED_OLD");
    assert_eq!(out.attributes().cloned(), Some(item(&[("cnt", n("6"))])));

    // AttributeUpdates on an absent item creates it.
    client
        .update_item()
        .table_name("leg")
        .key("pk", s("created"))
        .attribute_updates("cnt", upd(AttributeAction::Add, Some(n("1"))))
        .attribute_updates("s", upd(AttributeAction::Put, Some(s("v"))))
        .send()
        .await
        .expect("UpdateItem AttributeUpdates on an absent item");
    assert_eq!(
        get_consistent(&client, "leg", item(&[("pk", s("created"))])).await,
        Some(item(&[
            ("pk", s("created")),
            ("cnt", n("1")),
            ("s", s("v"))
        ]))
    );

    // ADD or DELETE of a set onto an attribute of another type: DynamoDB's legacy
    // message (ScyllaDB's tests, run against DynamoDB, match "mismatch").
    let mut f = Failures::new();
    for (attribute, action, value) in [
        ("s", AttributeAction::Add, ss(&["x"])),
        ("s", AttributeAction::Delete, ss(&["x"])),
        ("cnt", AttributeAction::Add, ss(&["x"])),
        ("cnt", AttributeAction::Delete, ns(&["1"])),
    ] {
        let result = client
            .update_item()
            .table_name("leg")
            .key("pk", s("created"))
            .attribute_updates(attribute, upd(action.clone(), Some(value)))
            .send()
            .await;
        f.check(check_err(
            &format!("{action:?} on {attribute}"),
            result,
            "ValidationException",
            Some("Type mismatch for attribute to update"),
        ));
    }
    f.assert_none();
}

async fn query_table(client: &Client) {
    create_table(
        client,
        "lq_t",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    for i in 1..=6 {
        put_ok(
            client,
            "lq_t",
            item(&[
                ("pk", s("p")),
                ("sk", n(&i.to_string())),
                ("color", s(if i % 2 == 0 { "red" } else { "blue" })),
                ("x", n(&(i * 10).to_string())),
            ]),
        )
        .await;
    }
    put_ok(client, "lq_t", item(&[("pk", s("q")), ("sk", n("1"))])).await;
}

fn sks(items: &[Attrs]) -> Vec<AttributeValue> {
    items.iter().map(|i| i["sk"].clone()).collect()
}

#[tokio::test]
async fn key_conditions_query_filter_and_attributes_to_get() {
    let server = TestServer::start();
    let client = server.client();
    query_table(&client).await;
    use ComparisonOperator as Op;
    let nums = |x: &[&str]| x.iter().map(|v| n(v)).collect::<Vec<_>>();

    let mut f = Failures::new();
    let cases: Vec<(Condition, Vec<AttributeValue>)> = vec![
        (cond(Op::Eq, vec![n("3")]), nums(&["3"])),
        (cond(Op::Lt, vec![n("3")]), nums(&["1", "2"])),
        (cond(Op::Le, vec![n("3")]), nums(&["1", "2", "3"])),
        (cond(Op::Gt, vec![n("4")]), nums(&["5", "6"])),
        (cond(Op::Ge, vec![n("4")]), nums(&["4", "5", "6"])),
        (
            cond(Op::Between, vec![n("2"), n("5")]),
            nums(&["2", "3", "4", "5"]),
        ),
    ];
    for (sk_cond, want) in cases {
        let what = format!("KeyConditions sk {sk_cond:?}");
        match client
            .query()
            .table_name("lq_t")
            .key_conditions("pk", cond(Op::Eq, vec![s("p")]))
            .key_conditions("sk", sk_cond)
            .send()
            .await
        {
            Ok(out) if sks(out.items()) == want => {}
            Ok(out) => f.push(format!("{what}: got {:?}, want {want:?}", sks(out.items()))),
            Err(e) => f.push(format!("{what}: {e:?}")),
        }
    }

    // Hash key only, backwards.
    match client
        .query()
        .table_name("lq_t")
        .key_conditions("pk", cond(Op::Eq, vec![s("p")]))
        .scan_index_forward(false)
        .send()
        .await
    {
        Ok(out) if sks(out.items()) == nums(&["6", "5", "4", "3", "2", "1"]) => {}
        Ok(out) => f.push(format!("KeyConditions pk only: {:?}", sks(out.items()))),
        Err(e) => f.push(format!("KeyConditions pk only: {e:?}")),
    }

    // QueryFilter: Count vs ScannedCount; ConditionalOperator OR.
    match client
        .query()
        .table_name("lq_t")
        .key_conditions("pk", cond(Op::Eq, vec![s("p")]))
        .query_filter("color", cond(Op::Eq, vec![s("red")]))
        .send()
        .await
    {
        Ok(out) => {
            if sks(out.items()) != nums(&["2", "4", "6"])
                || out.count() != 3
                || out.scanned_count() != 6
            {
                f.push(format!(
                    "QueryFilter color=red: {:?} Count {} ScannedCount {}",
                    sks(out.items()),
                    out.count(),
                    out.scanned_count()
                ));
            }
        }
        Err(e) => f.push(format!("QueryFilter: {e:?}")),
    }
    for (op, want) in [
        (ConditionalOperator::Or, nums(&["1", "2", "4", "6"])),
        (ConditionalOperator::And, nums(&[])),
    ] {
        match client
            .query()
            .table_name("lq_t")
            .key_conditions("pk", cond(Op::Eq, vec![s("p")]))
            .query_filter("color", cond(Op::Eq, vec![s("red")]))
            .query_filter("x", cond(Op::Lt, vec![n("15")]))
            .conditional_operator(op.clone())
            .send()
            .await
        {
            Ok(out) if sks(out.items()) == want => {}
            Ok(out) => f.push(format!(
                "QueryFilter with ConditionalOperator {op:?}: {:?}, want {want:?}",
                sks(out.items())
            )),
            Err(e) => f.push(format!("QueryFilter {op:?}: {e:?}")),
        }
    }

    // AttributesToGet on Query (with Select SPECIFIC_ATTRIBUTES), GetItem and BatchGetItem.
    match client
        .query()
        .table_name("lq_t")
        .key_conditions("pk", cond(Op::Eq, vec![s("p")]))
        .key_conditions("sk", cond(Op::Eq, vec![n("2")]))
        .select(Select::SpecificAttributes)
        .attributes_to_get("color")
        .attributes_to_get("nosuch")
        .send()
        .await
    {
        Ok(out) if out.items() == [item(&[("color", s("red"))])] => {}
        Ok(out) => f.push(format!("Query AttributesToGet: {:?}", out.items())),
        Err(e) => f.push(format!("Query AttributesToGet: {e:?}")),
    }
    match client
        .get_item()
        .table_name("lq_t")
        .key("pk", s("p"))
        .key("sk", n("3"))
        .attributes_to_get("x")
        .attributes_to_get("sk")
        .send()
        .await
    {
        Ok(out) if out.item() == Some(&item(&[("x", n("30")), ("sk", n("3"))])) => {}
        Ok(out) => f.push(format!("GetItem AttributesToGet: {:?}", out.item())),
        Err(e) => f.push(format!("GetItem AttributesToGet: {e:?}")),
    }
    match client
        .batch_get_item()
        .request_items(
            "lq_t",
            KeysAndAttributes::builder()
                .keys(item(&[("pk", s("p")), ("sk", n("4"))]))
                .attributes_to_get("color")
                .build()
                .unwrap(),
        )
        .send()
        .await
    {
        Ok(out) => {
            let got = out
                .responses()
                .and_then(|r| r.get("lq_t"))
                .cloned()
                .unwrap_or_default();
            if got != vec![item(&[("color", s("red"))])] {
                f.push(format!("BatchGetItem AttributesToGet: {got:?}"));
            }
        }
        Err(e) => f.push(format!("BatchGetItem AttributesToGet: {e:?}")),
    }
    f.assert_none();
}

#[tokio::test]
async fn scan_filter_and_conditional_operator() {
    let server = TestServer::start();
    let client = server.client();
    query_table(&client).await;
    use ComparisonOperator as Op;
    let mut f = Failures::new();
    let sorted_sks = |items: &[Attrs]| {
        let mut v: Vec<String> = items
            .iter()
            .map(|i| format!("{:?}/{:?}", i["pk"], i["sk"]))
            .collect();
        v.sort();
        v
    };
    let cases: Vec<(Option<ConditionalOperator>, usize)> = vec![
        // red AND x > 30: sk 4, 6.
        (None, 2),
        (Some(ConditionalOperator::And), 2),
        // red OR x > 30: sk 2, 4, 5, 6.
        (Some(ConditionalOperator::Or), 4),
    ];
    for (op, want) in cases {
        match client
            .scan()
            .table_name("lq_t")
            .scan_filter("color", cond(Op::Eq, vec![s("red")]))
            .scan_filter("x", cond(Op::Gt, vec![n("30")]))
            .set_conditional_operator(op.clone())
            .send()
            .await
        {
            Ok(out) => {
                if out.items().len() != want || out.count() as usize != want {
                    f.push(format!(
                        "ScanFilter {op:?}: {:?}, want {want} items",
                        sorted_sks(out.items())
                    ));
                }
                if out.scanned_count() != 7 {
                    f.push(format!(
                        "ScanFilter {op:?}: ScannedCount {}",
                        out.scanned_count()
                    ));
                }
            }
            Err(e) => f.push(format!("ScanFilter {op:?}: {e:?}")),
        }
    }
    match client
        .scan()
        .table_name("lq_t")
        .scan_filter("color", cond(Op::Null, vec![]))
        .attributes_to_get("pk")
        .send()
        .await
    {
        Ok(out) if out.items() == [item(&[("pk", s("q"))])] => {}
        Ok(out) => f.push(format!(
            "ScanFilter NULL + AttributesToGet: {:?}",
            out.items()
        )),
        Err(e) => f.push(format!("ScanFilter NULL: {e:?}")),
    }
    f.assert_none();
}

#[tokio::test]
async fn mixing_legacy_and_expression_parameters_is_rejected() {
    let server = TestServer::start();
    let client = server.client();
    query_table(&client).await;
    let original = get_consistent(&client, "lq_t", item(&[("pk", s("p")), ("sk", n("1"))])).await;
    use ComparisonOperator as Op;
    let mut f = Failures::new();
    let m = Some(MIXED);

    f.check(check_err(
        "PutItem Expected + ConditionExpression",
        client
            .put_item()
            .table_name("lq_t")
            .item("pk", s("p"))
            .item("sk", n("1"))
            .expected(
                "color",
                ExpectedAttributeValue::builder()
                    .exists(true)
                    .value(s("blue"))
                    .build(),
            )
            .condition_expression("attribute_exists(pk)")
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "UpdateItem AttributeUpdates + UpdateExpression",
        client
            .update_item()
            .table_name("lq_t")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .attribute_updates("a", upd(AttributeAction::Put, Some(s("x"))))
            .update_expression("SET b = :v")
            .expression_attribute_values(":v", s("y"))
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "UpdateItem AttributeUpdates + ConditionExpression",
        client
            .update_item()
            .table_name("lq_t")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .attribute_updates("a", upd(AttributeAction::Put, Some(s("x"))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "UpdateItem Expected + UpdateExpression",
        client
            .update_item()
            .table_name("lq_t")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .expected("color", expect_value(s("blue")))
            .update_expression("SET b = :v")
            .expression_attribute_values(":v", s("y"))
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "DeleteItem Expected + ConditionExpression",
        client
            .delete_item()
            .table_name("lq_t")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .expected("color", expect_value(s("blue")))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "GetItem AttributesToGet + ProjectionExpression",
        client
            .get_item()
            .table_name("lq_t")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .attributes_to_get("color")
            .projection_expression("x")
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "Query KeyConditions + KeyConditionExpression",
        client
            .query()
            .table_name("lq_t")
            .key_conditions("pk", cond(Op::Eq, vec![s("p")]))
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "Query QueryFilter + FilterExpression",
        client
            .query()
            .table_name("lq_t")
            .key_condition_expression("pk = :p")
            .query_filter("color", cond(Op::Eq, vec![s("red")]))
            .filter_expression("x > :x")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":x", n("1"))
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "Query QueryFilter + KeyConditionExpression",
        client
            .query()
            .table_name("lq_t")
            .key_condition_expression("pk = :p")
            .query_filter("color", cond(Op::Eq, vec![s("red")]))
            .expression_attribute_values(":p", s("p"))
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "Query AttributesToGet + ProjectionExpression",
        client
            .query()
            .table_name("lq_t")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .attributes_to_get("color")
            .projection_expression("x")
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "Scan ScanFilter + FilterExpression",
        client
            .scan()
            .table_name("lq_t")
            .scan_filter("color", cond(Op::Eq, vec![s("red")]))
            .filter_expression("x > :x")
            .expression_attribute_values(":x", n("1"))
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "Scan AttributesToGet + ProjectionExpression",
        client
            .scan()
            .table_name("lq_t")
            .attributes_to_get("color")
            .projection_expression("x")
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "BatchGetItem AttributesToGet + ProjectionExpression",
        client
            .batch_get_item()
            .request_items(
                "lq_t",
                KeysAndAttributes::builder()
                    .keys(item(&[("pk", s("p")), ("sk", n("1"))]))
                    .attributes_to_get("color")
                    .projection_expression("x")
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        VALIDATION,
        m,
    ));
    f.check(check_err(
        "PutItem ConditionalOperator + ConditionExpression",
        client
            .put_item()
            .table_name("lq_t")
            .item("pk", s("p"))
            .item("sk", n("1"))
            .conditional_operator(ConditionalOperator::Or)
            .condition_expression("attribute_exists(pk)")
            .send()
            .await,
        VALIDATION,
        None,
    ));
    // Expression attribute names/values are only for expressions.
    f.check(check_err(
        "PutItem Expected + ExpressionAttributeNames",
        client
            .put_item()
            .table_name("lq_t")
            .item("pk", s("p"))
            .item("sk", n("1"))
            .expected("color", expect_value(s("blue")))
            .expression_attribute_names("#c", "color")
            .send()
            .await,
        VALIDATION,
        Some("ExpressionAttributeNames can only be specified when using expressions"),
    ));
    f.check(check_err(
        "PutItem with ExpressionAttributeValues and no expression",
        client
            .put_item()
            .table_name("lq_t")
            .item("pk", s("p"))
            .item("sk", n("1"))
            .expression_attribute_values(":v", s("blue"))
            .send()
            .await,
        VALIDATION,
        Some("ExpressionAttributeValues can only be specified when using expressions"),
    ));

    let after = get_consistent(&client, "lq_t", item(&[("pk", s("p")), ("sk", n("1"))])).await;
    if after != original {
        f.push(format!(
            "rejected requests changed the item: {original:?} -> {after:?}"
        ));
    }
    f.assert_none();
}

/// ConditionalOperator combines Expected's conditions, so DynamoDB refuses it without
/// any (ScyllaDB's tests, run against DynamoDB), while an empty Expected alone is fine.
#[tokio::test]
async fn conditional_operator_needs_expected_conditions() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "leg", ("pk", ScalarAttributeType::S), None).await;
    let put =
        |extra: &str| format!(r#"{{"TableName": "leg", "Item": {{"pk": {{"S": "k"}}}}{extra}}}"#);
    let mut f = Failures::new();
    for extra in [
        r#", "ConditionalOperator": "OR""#,
        r#", "Expected": {}, "ConditionalOperator": "AND""#,
    ] {
        let response = server.raw_request("DynamoDB_20120810.PutItem", &put(extra));
        let error = response.error_type().unwrap_or_default();
        let message = response.error_message().unwrap_or_default();
        if !error.ends_with("ValidationException") || !message.contains("ConditionalOperator") {
            f.push(format!("PutItem{extra}: {error} {message}"));
        }
    }
    let response = server.raw_request("DynamoDB_20120810.PutItem", &put(r#", "Expected": {}"#));
    if response.status != 200 {
        f.push(format!(
            "PutItem with an empty Expected: {}",
            response.body_str()
        ));
    }
    f.assert_none();
}
