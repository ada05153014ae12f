//! ConditionExpression on PutItem, UpdateItem and DeleteItem: every comparator and function,
//! AND/OR/NOT precedence and parentheses, ConditionalCheckFailedException (with the old item
//! when ReturnValuesOnConditionCheckFailure=ALL_OLD), and that a failed condition changes
//! nothing.
//!
//! Semantics follow the Developer Guide ("Condition and filter expressions, operators, and
//! functions": precedence `= <> < <= > >=`, IN, BETWEEN, functions, NOT, AND, OR; comparisons
//! of different types are false; `<>` on a nosuch attribute is true) and the PutItem
//! API reference ("ReturnValuesOnConditionCheckFailure … ALL_OLD"); the error message
//! "The conditional request failed" is DynamoDB's (dynalite's assertConditional helper).

mod common;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use common::*;

const CCF_MESSAGE: &str = "The conditional request failed";

fn base_item() -> Attrs {
    item(&[
        ("pk", s("c")),
        ("n", n("10")),
        ("s", s("banana")),
        ("b", b(&[1, 2, 3])),
        ("flag", AttributeValue::Bool(true)),
        ("nul", AttributeValue::Null(true)),
        ("tags", ss(&["red", "green"])),
        ("nums", ns(&["1", "5"])),
        ("l", list(vec![s("a"), s("b"), n("3")])),
        (
            "m",
            map(&[
                ("nested", map(&[("deep", s("x"))])),
                (
                    "arr",
                    list(vec![map(&[("v", n("1"))]), map(&[("v", n("2"))])]),
                ),
            ]),
        ),
        ("dotted.name", s("yes")),
    ])
}

/// Whether `expr` holds for the base item, judged by a conditional PutItem that re-puts the
/// same item (so the item never changes). Any error other than a failed condition panics.
async fn holds(
    client: &Client,
    expr: &str,
    names: &[(&str, &str)],
    values: &[(&str, AttributeValue)],
) -> Result<bool, String> {
    let mut req = client
        .put_item()
        .table_name("cond")
        .set_item(Some(base_item()))
        .condition_expression(expr);
    for (k, v) in names {
        req = req.expression_attribute_names(*k, *v);
    }
    for (k, v) in values {
        req = req.expression_attribute_values(*k, v.clone());
    }
    match req.send().await {
        Ok(_) => Ok(true),
        Err(e) => match e.into_service_error() {
            PutItemError::ConditionalCheckFailedException(_) => Ok(false),
            other => Err(format!("{expr:?}: unexpected error {other:?}")),
        },
    }
}

#[tokio::test]
async fn every_comparator_and_function() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "cond", ("pk", ScalarAttributeType::S), None).await;
    put_ok(&client, "cond", base_item()).await;

    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Vec<(&'static str, AttributeValue)>,
        bool,
    );
    let v = |k: &'static str, val: AttributeValue| (k, val);
    let cases: Vec<Case> = vec![
        // existence
        ("attribute_exists(n)", vec![], vec![], true),
        ("attribute_exists(nosuch)", vec![], vec![], false),
        ("attribute_not_exists(nosuch)", vec![], vec![], true),
        ("attribute_not_exists(n)", vec![], vec![], false),
        ("attribute_exists(nul)", vec![], vec![], true),
        ("attribute_exists(m.nested.deep)", vec![], vec![], true),
        ("attribute_exists(m.arr[1].v)", vec![], vec![], true),
        ("attribute_not_exists(l[9])", vec![], vec![], true),
        (
            "attribute_exists(#d)",
            vec![("#d", "dotted.name")],
            vec![],
            true,
        ),
        // numbers compare numerically (as strings "10" < "9")
        ("n = :v", vec![], vec![v(":v", n("10"))], true),
        ("n = :v", vec![], vec![v(":v", n("10.00"))], true),
        ("n <> :v", vec![], vec![v(":v", n("10"))], false),
        ("n <> :v", vec![], vec![v(":v", n("11"))], true),
        ("n < :v", vec![], vec![v(":v", n("11"))], true),
        ("n < :v", vec![], vec![v(":v", n("10"))], false),
        ("n <= :v", vec![], vec![v(":v", n("10"))], true),
        ("n > :v", vec![], vec![v(":v", n("9"))], true),
        ("n > :v", vec![], vec![v(":v", n("100"))], false),
        ("n >= :v", vec![], vec![v(":v", n("11"))], false),
        ("n >= :v", vec![], vec![v(":v", n("-1e3"))], true),
        // strings compare by bytes
        ("s = :v", vec![], vec![v(":v", s("banana"))], true),
        ("s > :v", vec![], vec![v(":v", s("apple"))], true),
        ("s < :v", vec![], vec![v(":v", s("banana_"))], true),
        ("s < :v", vec![], vec![v(":v", s("Banana"))], false),
        // binary compares unsigned bytewise
        ("b < :v", vec![], vec![v(":v", b(&[1, 2, 4]))], true),
        ("b < :v", vec![], vec![v(":v", b(&[0xff]))], true),
        ("b = :v", vec![], vec![v(":v", b(&[1, 2, 3]))], true),
        // different types never compare; <> is then true
        ("s > :v", vec![], vec![v(":v", n("1"))], false),
        ("s = :v", vec![], vec![v(":v", n("1"))], false),
        ("s <> :v", vec![], vec![v(":v", n("1"))], true),
        // a nosuch attribute: <> true, everything else false
        ("nosuch <> :v", vec![], vec![v(":v", n("1"))], true),
        ("nosuch = :v", vec![], vec![v(":v", n("1"))], false),
        ("nosuch < :v", vec![], vec![v(":v", n("1"))], false),
        // booleans, null, documents
        (
            "flag = :v",
            vec![],
            vec![v(":v", AttributeValue::Bool(true))],
            true,
        ),
        (
            "flag = :v",
            vec![],
            vec![v(":v", AttributeValue::Bool(false))],
            false,
        ),
        (
            "tags = :v",
            vec![],
            vec![v(":v", ss(&["green", "red"]))],
            true,
        ),
        ("m.nested.deep = :v", vec![], vec![v(":v", s("x"))], true),
        ("m.arr[1].v = :v", vec![], vec![v(":v", n("2"))], true),
        ("l[0] = :v", vec![], vec![v(":v", s("a"))], true),
        ("l[2] = :v", vec![], vec![v(":v", n("3"))], true),
        (
            "#m.#n.#d = :v",
            vec![("#m", "m"), ("#n", "nested"), ("#d", "deep")],
            vec![v(":v", s("x"))],
            true,
        ),
        (
            "#d = :v",
            vec![("#d", "dotted.name")],
            vec![v(":v", s("yes"))],
            true,
        ),
        // BETWEEN (inclusive)
        (
            "n BETWEEN :lo AND :hi",
            vec![],
            vec![v(":lo", n("10")), v(":hi", n("20"))],
            true,
        ),
        (
            "n BETWEEN :lo AND :hi",
            vec![],
            vec![v(":lo", n("2")), v(":hi", n("10"))],
            true,
        ),
        (
            "n BETWEEN :lo AND :hi",
            vec![],
            vec![v(":lo", n("11")), v(":hi", n("20"))],
            false,
        ),
        (
            "s BETWEEN :lo AND :hi",
            vec![],
            vec![v(":lo", s("a")), v(":hi", s("c"))],
            true,
        ),
        // IN
        (
            "s IN (:a, :b)",
            vec![],
            vec![v(":a", s("apple")), v(":b", s("banana"))],
            true,
        ),
        ("s IN (:a)", vec![], vec![v(":a", s("apple"))], false),
        (
            "n IN (:a, :b, :c)",
            vec![],
            vec![v(":a", n("1")), v(":b", s("10")), v(":c", n("10.0"))],
            true,
        ),
        // begins_with
        ("begins_with(s, :p)", vec![], vec![v(":p", s("ban"))], true),
        ("begins_with(s, :p)", vec![], vec![v(":p", s("nan"))], false),
        (
            "begins_with(b, :p)",
            vec![],
            vec![v(":p", b(&[1, 2]))],
            true,
        ),
        ("begins_with(b, :p)", vec![], vec![v(":p", b(&[2]))], false),
        ("begins_with(n, :p)", vec![], vec![v(":p", s("1"))], false),
        // contains
        ("contains(s, :x)", vec![], vec![v(":x", s("nan"))], true),
        ("contains(s, :x)", vec![], vec![v(":x", s("xyz"))], false),
        ("contains(tags, :x)", vec![], vec![v(":x", s("red"))], true),
        (
            "contains(tags, :x)",
            vec![],
            vec![v(":x", s("blue"))],
            false,
        ),
        ("contains(nums, :x)", vec![], vec![v(":x", n("5"))], true),
        ("contains(nums, :x)", vec![], vec![v(":x", s("5"))], false),
        ("contains(l, :x)", vec![], vec![v(":x", n("3"))], true),
        ("contains(l, :x)", vec![], vec![v(":x", s("a"))], true),
        ("contains(l, :x)", vec![], vec![v(":x", s("z"))], false),
        // size
        ("size(s) = :v", vec![], vec![v(":v", n("6"))], true),
        ("size(s) > :v", vec![], vec![v(":v", n("6"))], false),
        ("size(b) = :v", vec![], vec![v(":v", n("3"))], true),
        ("size(tags) = :v", vec![], vec![v(":v", n("2"))], true),
        ("size(l) = :v", vec![], vec![v(":v", n("3"))], true),
        ("size(m) = :v", vec![], vec![v(":v", n("2"))], true),
        ("size(m.arr) < :v", vec![], vec![v(":v", n("3"))], true),
        ("size(nosuch) = :v", vec![], vec![v(":v", n("0"))], false),
        // size() of a constant is its size (ScyllaDB's tests, run against DynamoDB)
        (
            "size(:x) = :v",
            vec![],
            vec![v(":x", s("abc")), v(":v", n("3"))],
            true,
        ),
        (
            "size(:x) > :v",
            vec![],
            vec![v(":x", list(vec![n("1")])), v(":v", n("1"))],
            false,
        ),
        // attribute_type
        ("attribute_type(n, :t)", vec![], vec![v(":t", s("N"))], true),
        (
            "attribute_type(n, :t)",
            vec![],
            vec![v(":t", s("S"))],
            false,
        ),
        ("attribute_type(s, :t)", vec![], vec![v(":t", s("S"))], true),
        ("attribute_type(b, :t)", vec![], vec![v(":t", s("B"))], true),
        (
            "attribute_type(flag, :t)",
            vec![],
            vec![v(":t", s("BOOL"))],
            true,
        ),
        (
            "attribute_type(nul, :t)",
            vec![],
            vec![v(":t", s("NULL"))],
            true,
        ),
        (
            "attribute_type(tags, :t)",
            vec![],
            vec![v(":t", s("SS"))],
            true,
        ),
        (
            "attribute_type(nums, :t)",
            vec![],
            vec![v(":t", s("NS"))],
            true,
        ),
        ("attribute_type(l, :t)", vec![], vec![v(":t", s("L"))], true),
        ("attribute_type(m, :t)", vec![], vec![v(":t", s("M"))], true),
        (
            "attribute_type(m, :t)",
            vec![],
            vec![v(":t", s("L"))],
            false,
        ),
        (
            "attribute_type(nosuch, :t)",
            vec![],
            vec![v(":t", s("S"))],
            false,
        ),
        // attribute_type of a constant (ScyllaDB's tests, run against DynamoDB)
        (
            "attribute_type(:x, :t)",
            vec![],
            vec![v(":x", n("0")), v(":t", s("N"))],
            true,
        ),
        (
            "attribute_type(:x, :t)",
            vec![],
            vec![v(":x", n("0")), v(":t", s("S"))],
            false,
        ),
        // NOT applies to NOT (ScyllaDB's tests, run against DynamoDB)
        (
            "NOT NOT NOT NOT n = :t",
            vec![],
            vec![v(":t", n("10"))],
            true,
        ),
        ("NOT NOT NOT n = :t", vec![], vec![v(":t", n("10"))], false),
        // logic, precedence (NOT > AND > OR) and parentheses
        (
            "n = :t OR n = :t AND n = :f",
            vec![],
            vec![v(":t", n("10")), v(":f", n("11"))],
            true,
        ),
        (
            "(n = :t OR n = :t) AND n = :f",
            vec![],
            vec![v(":t", n("10")), v(":f", n("11"))],
            false,
        ),
        (
            "n = :f AND n = :t OR n = :t",
            vec![],
            vec![v(":t", n("10")), v(":f", n("11"))],
            true,
        ),
        (
            "n = :f AND (n = :t OR n = :t)",
            vec![],
            vec![v(":t", n("10")), v(":f", n("11"))],
            false,
        ),
        (
            "NOT n = :f AND n = :t",
            vec![],
            vec![v(":t", n("10")), v(":f", n("11"))],
            true,
        ),
        ("NOT n = :t OR n = :t", vec![], vec![v(":t", n("10"))], true),
        (
            "NOT (n = :t OR n = :t)",
            vec![],
            vec![v(":t", n("10"))],
            false,
        ),
        (
            "NOT (n = :t AND n = :f)",
            vec![],
            vec![v(":t", n("10")), v(":f", n("11"))],
            true,
        ),
        ("NOT attribute_exists(nosuch)", vec![], vec![], true),
        (
            "attribute_exists(n) AND attribute_not_exists(nosuch) AND NOT contains(tags, :x)",
            vec![],
            vec![v(":x", s("blue"))],
            true,
        ),
        // keywords are case-insensitive
        (
            "n between :lo and :hi Or s in (:a) aNd not flag = :t",
            vec![],
            vec![
                v(":lo", n("1")),
                v(":hi", n("20")),
                v(":a", s("x")),
                v(":t", AttributeValue::Bool(false)),
            ],
            true,
        ),
    ];

    let mut f = Failures::new();
    for (expr, names, values, want) in &cases {
        match holds(&client, expr, names, values).await {
            Ok(got) if got == *want => {}
            Ok(got) => f.push(format!(
                "{expr:?} with {values:?}: condition evaluated to {got}, want {want}"
            )),
            Err(e) => f.push(e),
        }
    }
    // Every re-put wrote the same item; nothing else changed it.
    let stored = get_consistent(&client, "cond", item(&[("pk", s("c"))])).await;
    if stored.as_ref().map(canonical_item) != Some(canonical_item(&base_item())) {
        f.push(format!("item changed: {stored:?}"));
    }
    f.assert_none();
}

#[tokio::test]
async fn put_item_condition() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "cond", ("pk", ScalarAttributeType::S), None).await;
    let old = item(&[("pk", s("k")), ("v", n("1")), ("tags", ss(&["a"]))]);

    // attribute_not_exists on an absent item: succeeds and creates it.
    client
        .put_item()
        .table_name("cond")
        .set_item(Some(old.clone()))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("PutItem attribute_not_exists(pk) on an absent item");

    // attribute_exists on an absent item: fails, creates nothing; no item to return.
    let err = client
        .put_item()
        .table_name("cond")
        .item("pk", s("absent"))
        .condition_expression("attribute_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("PutItem attribute_exists(pk) on an absent item must fail");
    match err.into_service_error() {
        PutItemError::ConditionalCheckFailedException(e) => {
            assert_eq!(e.message(), Some(CCF_MESSAGE));
            assert!(
                e.item().is_none_or(|i| i.is_empty()),
                "no old item exists, yet the exception carries {:?}",
                e.item()
            );
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }
    assert_eq!(
        get_consistent(&client, "cond", item(&[("pk", s("absent"))])).await,
        None
    );

    // A failing condition with ALL_OLD: the exception carries the current item.
    let err = client
        .put_item()
        .table_name("cond")
        .item("pk", s("k"))
        .item("v", n("2"))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("PutItem attribute_not_exists(pk) on an existing item must fail");
    match err.into_service_error() {
        PutItemError::ConditionalCheckFailedException(e) => {
            assert_eq!(e.message(), Some(CCF_MESSAGE));
            let got = e
                .item()
                .cloned()
                .expect("ALL_OLD: the exception carries the item");
            assert_eq!(canonical_item(&got), canonical_item(&old));
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }

    // Without ALL_OLD (or with NONE) the exception carries no item.
    for rv in [None, Some(ReturnValuesOnConditionCheckFailure::None)] {
        let err = client
            .put_item()
            .table_name("cond")
            .item("pk", s("k"))
            .item("v", n("3"))
            .condition_expression("v = :v")
            .expression_attribute_values(":v", n("999"))
            .set_return_values_on_condition_check_failure(rv.clone())
            .send()
            .await
            .expect_err("PutItem with a false condition must fail");
        match err.into_service_error() {
            PutItemError::ConditionalCheckFailedException(e) => {
                assert!(
                    e.item().is_none_or(|i| i.is_empty()),
                    "ReturnValuesOnConditionCheckFailure {rv:?}: item {:?}",
                    e.item()
                );
            }
            other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
        }
    }

    // Nothing changed.
    let stored = get_consistent(&client, "cond", item(&[("pk", s("k"))])).await;
    assert_eq!(
        stored.map(|i| canonical_item(&i)),
        Some(canonical_item(&old))
    );

    // A true condition replaces the item (and ReturnValues ALL_OLD still works).
    let out = client
        .put_item()
        .table_name("cond")
        .item("pk", s("k"))
        .item("v", n("2"))
        .condition_expression("v = :one AND contains(tags, :a)")
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":a", s("a"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("PutItem with a true condition");
    assert_eq!(
        out.attributes().map(canonical_item),
        Some(canonical_item(&old))
    );
    assert_eq!(
        get_consistent(&client, "cond", item(&[("pk", s("k"))])).await,
        Some(item(&[("pk", s("k")), ("v", n("2"))]))
    );
}

#[tokio::test]
async fn update_item_condition() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "cond", ("pk", ScalarAttributeType::S), None).await;
    let old = item(&[("pk", s("k")), ("v", n("1")), ("s", s("x"))]);
    put_ok(&client, "cond", old.clone()).await;

    let err = client
        .update_item()
        .table_name("cond")
        .key("pk", s("k"))
        .update_expression("SET v = :new REMOVE s")
        .condition_expression("v > :min")
        .expression_attribute_values(":new", n("100"))
        .expression_attribute_values(":min", n("5"))
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("UpdateItem with a false condition must fail");
    match err.into_service_error() {
        UpdateItemError::ConditionalCheckFailedException(e) => {
            assert_eq!(e.message(), Some(CCF_MESSAGE));
            let got = e
                .item()
                .cloned()
                .expect("ALL_OLD: the exception carries the item");
            assert_eq!(canonical_item(&got), canonical_item(&old));
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }
    assert_eq!(
        get_consistent(&client, "cond", item(&[("pk", s("k"))])).await,
        Some(old.clone()),
        "a failed conditional update changed the item"
    );

    // The condition sees the item before the update.
    let out = client
        .update_item()
        .table_name("cond")
        .key("pk", s("k"))
        .update_expression("SET v = v + :one")
        .condition_expression("v = :one AND attribute_exists(s)")
        .expression_attribute_values(":one", n("1"))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .expect("UpdateItem with a true condition");
    assert_eq!(out.attributes().cloned(), Some(item(&[("v", n("2"))])));

    // On an absent item the condition is evaluated against no item, and nothing is created.
    let err = client
        .update_item()
        .table_name("cond")
        .key("pk", s("absent"))
        .update_expression("SET v = :one")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":one", n("1"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("UpdateItem attribute_exists(pk) on an absent item must fail");
    match err.into_service_error() {
        UpdateItemError::ConditionalCheckFailedException(e) => {
            assert!(e.item().is_none_or(|i| i.is_empty()), "item {:?}", e.item());
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }
    assert_eq!(
        get_consistent(&client, "cond", item(&[("pk", s("absent"))])).await,
        None,
        "a failed conditional update created the item"
    );

    // attribute_not_exists on an absent item lets UpdateItem create it.
    client
        .update_item()
        .table_name("cond")
        .key("pk", s("created"))
        .update_expression("SET v = :one")
        .condition_expression("attribute_not_exists(pk)")
        .expression_attribute_values(":one", n("1"))
        .send()
        .await
        .expect("UpdateItem attribute_not_exists(pk) on an absent item");
    assert_eq!(
        get_consistent(&client, "cond", item(&[("pk", s("created"))])).await,
        Some(item(&[("pk", s("created")), ("v", n("1"))]))
    );
}

#[tokio::test]
async fn delete_item_condition() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "cond", ("pk", ScalarAttributeType::S), None).await;
    let old = item(&[("pk", s("k")), ("state", s("open")), ("n", n("3"))]);
    put_ok(&client, "cond", old.clone()).await;

    let err = client
        .delete_item()
        .table_name("cond")
        .key("pk", s("k"))
        .condition_expression("#st = :closed OR n < :two")
        .expression_attribute_names("#st", "state")
        .expression_attribute_values(":closed", s("closed"))
        .expression_attribute_values(":two", n("2"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("DeleteItem with a false condition must fail");
    match err.into_service_error() {
        DeleteItemError::ConditionalCheckFailedException(e) => {
            assert_eq!(e.message(), Some(CCF_MESSAGE));
            let got = e
                .item()
                .cloned()
                .expect("ALL_OLD: the exception carries the item");
            assert_eq!(canonical_item(&got), canonical_item(&old));
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }
    assert_eq!(
        get_consistent(&client, "cond", item(&[("pk", s("k"))])).await,
        Some(old.clone()),
        "a failed conditional delete removed the item"
    );

    // Deleting an absent item under attribute_exists fails too.
    let err = client
        .delete_item()
        .table_name("cond")
        .key("pk", s("absent"))
        .condition_expression("attribute_exists(pk)")
        .send()
        .await
        .expect_err("DeleteItem attribute_exists(pk) on an absent item must fail");
    assert!(
        matches!(
            err.into_service_error(),
            DeleteItemError::ConditionalCheckFailedException(_)
        ),
        "expected ConditionalCheckFailedException"
    );

    let out = client
        .delete_item()
        .table_name("cond")
        .key("pk", s("k"))
        .condition_expression("#st = :open AND n BETWEEN :one AND :five")
        .expression_attribute_names("#st", "state")
        .expression_attribute_values(":open", s("open"))
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":five", n("5"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("DeleteItem with a true condition");
    assert_eq!(out.attributes().cloned(), Some(old));
    assert_eq!(
        get_consistent(&client, "cond", item(&[("pk", s("k"))])).await,
        None
    );
}
