//! UpdateItem: every UpdateExpression action (SET with nested paths, list indexes, `+`/`-`,
//! `if_not_exists`, `list_append`; REMOVE including list elements; ADD on numbers and sets;
//! DELETE on sets), creating the item when absent, every ReturnValues option, and the
//! rejection of updates to key attributes.
//!
//! Expected behaviour follows the DynamoDB Developer Guide ("Using update expressions in
//! DynamoDB": SET/REMOVE/ADD/DELETE, "if the element does not already exist, SET appends the
//! new element to the end of the list", "if a set becomes empty after DELETE the attribute is
//! removed"), the UpdateItem API reference (ReturnValues: "UPDATED_OLD - Returns only the
//! updated attributes, as they appeared before the UpdateItem operation"), and dynalite's
//! test/updateItem.js (run against the real service), e.g. its "Cannot update attribute …
//! This attribute is part of the key" and "document path provided in the update expression
//! is invalid for update" cases.

mod common;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ScalarAttributeType};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";

/// An UpdateItem on `pk = key` in `table` with the given expression, names and values;
/// returns the attributes for `rv`.
async fn update(
    client: &Client,
    table: &str,
    key: &str,
    expr: &str,
    names: &[(&str, &str)],
    values: &[(&str, AttributeValue)],
    rv: ReturnValue,
) -> Option<Attrs> {
    let mut req = client
        .update_item()
        .table_name(table)
        .key("pk", s(key))
        .update_expression(expr)
        .return_values(rv);
    for (k, v) in names {
        req = req.expression_attribute_names(*k, *v);
    }
    for (k, v) in values {
        req = req.expression_attribute_values(*k, v.clone());
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("UpdateItem {expr:?}: {e:?}"))
        .attributes()
        .cloned()
}

async fn setup(client: &Client, table: &str) {
    create_table(client, table, ("pk", ScalarAttributeType::S), None).await;
}

fn assert_same(what: &str, got: Option<Attrs>, want: Attrs) {
    let got = got.unwrap_or_else(|| panic!("{what}: no attributes returned"));
    assert_eq!(
        canonical_item(&got),
        canonical_item(&want),
        "{what}: got {got:#?}\nwant {want:#?}"
    );
}

#[tokio::test]
async fn set_top_level_nested_map_and_list_index() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[
            ("pk", s("a")),
            ("m", map(&[("x", n("1")), ("kid", map(&[("y", s("old"))]))])),
            ("l", list(vec![n("1"), n("2"), n("3")])),
            ("keep", s("k")),
        ]),
    )
    .await;

    let got = update(
        &client,
        "upd",
        "a",
        "SET fresh = :v, m.x = :two, m.kid.y = :new, m.added = :v, l[1] = :z, #n = :v",
        &[("#n", "name")],
        &[
            (":v", s("v")),
            (":two", n("2")),
            (":new", s("new")),
            (":z", n("0")),
        ],
        ReturnValue::AllNew,
    )
    .await;
    let want = item(&[
        ("pk", s("a")),
        ("fresh", s("v")),
        ("name", s("v")),
        (
            "m",
            map(&[
                ("x", n("2")),
                ("kid", map(&[("y", s("new"))])),
                ("added", s("v")),
            ]),
        ),
        ("l", list(vec![n("1"), n("0"), n("3")])),
        ("keep", s("k")),
    ]);
    assert_same("ALL_NEW after SET", got, want.clone());
    assert_same(
        "GetItem after SET",
        get_consistent(&client, "upd", item(&[("pk", s("a"))])).await,
        want,
    );
}

#[tokio::test]
async fn set_list_index_past_the_end_appends() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[("pk", s("a")), ("l", list(vec![n("1"), n("2")]))]),
    )
    .await;
    let got = update(
        &client,
        "upd",
        "a",
        "SET l[10] = :v",
        &[],
        &[(":v", s("end"))],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "SET l[10] on a two-element list",
        got,
        item(&[("pk", s("a")), ("l", list(vec![n("1"), n("2"), s("end")]))]),
    );
}

#[tokio::test]
async fn set_arithmetic_plus_and_minus() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[("pk", s("a")), ("n", n("10")), ("f", n("0.1"))]),
    )
    .await;
    let got = update(
        &client,
        "upd",
        "a",
        "SET plus = n + :five, diff = n - :three, lits = :one + :two, f = f + :f, neg = :three - n",
        &[],
        &[
            (":five", n("5")),
            (":three", n("3")),
            (":one", n("1")),
            (":two", n("2")),
            (":f", n("0.2")),
        ],
        ReturnValue::AllNew,
    )
    .await;
    // Numbers are exact decimals: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
    assert_same(
        "SET with + and -",
        got,
        item(&[
            ("pk", s("a")),
            ("n", n("10")),
            ("f", n("0.3")),
            ("plus", n("15")),
            ("diff", n("7")),
            ("lits", n("3")),
            ("neg", n("-7")),
        ]),
    );
}

#[tokio::test]
async fn set_operands_read_the_item_as_it_was_before_the_update() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[("pk", s("a")), ("x", s("X")), ("y", s("Y"))]),
    )
    .await;
    let got = update(
        &client,
        "upd",
        "a",
        "SET x = y, y = x",
        &[],
        &[],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "swap with SET x = y, y = x",
        got,
        item(&[("pk", s("a")), ("x", s("Y")), ("y", s("X"))]),
    );
}

#[tokio::test]
async fn set_if_not_exists() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(&client, "upd", item(&[("pk", s("a")), ("got", n("7"))])).await;
    let got = update(
        &client,
        "upd",
        "a",
        "SET got = if_not_exists(got, :zero), fresh = if_not_exists(fresh, :zero), \
         cnt = if_not_exists(cnt, :zero) + :one, m = if_not_exists(m, :emptymap)",
        &[],
        &[
            (":zero", n("0")),
            (":one", n("1")),
            (":emptymap", AttributeValue::M(Default::default())),
        ],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "if_not_exists",
        got,
        item(&[
            ("pk", s("a")),
            ("got", n("7")),
            ("fresh", n("0")),
            ("cnt", n("1")),
            ("m", AttributeValue::M(Default::default())),
        ]),
    );
    // Run the counter again: now it exists.
    let got = update(
        &client,
        "upd",
        "a",
        "SET cnt = if_not_exists(cnt, :zero) + :one",
        &[],
        &[(":zero", n("0")), (":one", n("1"))],
        ReturnValue::UpdatedNew,
    )
    .await;
    assert_same(
        "if_not_exists counter, second run",
        got,
        item(&[("cnt", n("2"))]),
    );
}

#[tokio::test]
async fn set_list_append() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[("pk", s("a")), ("l", list(vec![n("1"), n("2")]))]),
    )
    .await;
    let got = update(
        &client,
        "upd",
        "a",
        "SET l = list_append(l, :tail), front = list_append(:head, l), \
         alt = list_append(if_not_exists(alt, :empty), :tail)",
        &[],
        &[
            (":tail", list(vec![s("t")])),
            (":head", list(vec![s("h"), s("i")])),
            (":empty", list(vec![])),
        ],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "list_append",
        got,
        item(&[
            ("pk", s("a")),
            ("l", list(vec![n("1"), n("2"), s("t")])),
            ("front", list(vec![s("h"), s("i"), n("1"), n("2")])),
            ("alt", list(vec![s("t")])),
        ]),
    );
}

#[tokio::test]
async fn remove_attributes_nested_attributes_and_list_elements() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[
            ("pk", s("a")),
            ("gone", s("x")),
            ("m", map(&[("x", n("1")), ("y", n("2"))])),
            ("l", list(vec![n("1"), n("2"), n("3"), n("4")])),
            ("l2", list(vec![s("a"), s("b")])),
        ]),
    )
    .await;
    // List indexes refer to the list as it was before the update: removing [0] and [2]
    // from [1,2,3,4] leaves [2,4]. Removing an absent attribute or an index past the end
    // is not an error.
    let got = update(
        &client,
        "upd",
        "a",
        "REMOVE gone, m.x, l[0], l[2], never_there, l2[5], #nm",
        &[("#nm", "name")],
        &[],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "REMOVE",
        got,
        item(&[
            ("pk", s("a")),
            ("m", map(&[("y", n("2"))])),
            ("l", list(vec![n("2"), n("4")])),
            ("l2", list(vec![s("a"), s("b")])),
        ]),
    );
}

#[tokio::test]
async fn add_to_numbers_and_sets() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[
            ("pk", s("a")),
            ("cnt", n("1")),
            ("tags", ss(&["a", "b"])),
            ("nums", ns(&["1", "2"])),
            ("bins", bs(&[b"\x01"])),
            ("m", map(&[("kid", n("10"))])),
        ]),
    )
    .await;
    let got = update(
        &client,
        "upd",
        "a",
        "ADD cnt :five, fresh :neg, tags :more, nums :morenums, bins :morebins, newset :ss, m.kid :five",
        &[],
        &[
            (":five", n("5")),
            (":neg", n("-2.5")),
            (":more", ss(&["b", "c"])),
            (":morenums", ns(&["2", "3"])),
            (":morebins", bs(&[b"\x01", b"\x02"])),
            (":ss", ss(&["only"])),
        ],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "ADD",
        got,
        item(&[
            ("pk", s("a")),
            ("cnt", n("6")),
            ("fresh", n("-2.5")),
            ("tags", ss(&["a", "b", "c"])),
            ("nums", ns(&["1", "2", "3"])),
            ("bins", bs(&[b"\x01", b"\x02"])),
            ("newset", ss(&["only"])),
            ("m", map(&[("kid", n("15"))])),
        ]),
    );
}

#[tokio::test]
async fn delete_set_elements_and_emptying_a_set_removes_the_attribute() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[
            ("pk", s("a")),
            ("tags", ss(&["a", "b", "c"])),
            ("nums", ns(&["1", "2"])),
            ("bins", bs(&[b"\x01", b"\x02"])),
        ]),
    )
    .await;
    // Deleting members (and one that is not there) keeps the rest.
    let got = update(
        &client,
        "upd",
        "a",
        "DELETE tags :ab, nums :one, bins :b1",
        &[],
        &[
            (":ab", ss(&["a", "b", "zz"])),
            (":one", ns(&["1.0"])),
            (":b1", bs(&[b"\x01"])),
        ],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "DELETE some members",
        got,
        item(&[
            ("pk", s("a")),
            ("tags", ss(&["c"])),
            ("nums", ns(&["2"])),
            ("bins", bs(&[b"\x02"])),
        ]),
    );
    // Deleting the last members removes the attributes: sets are never empty.
    let got = update(
        &client,
        "upd",
        "a",
        "DELETE tags :c, nums :two, bins :b2",
        &[],
        &[
            (":c", ss(&["c"])),
            (":two", ns(&["2"])),
            (":b2", bs(&[b"\x02"])),
        ],
        ReturnValue::AllNew,
    )
    .await;
    assert_same("DELETE the last members", got, item(&[("pk", s("a"))]));
    assert_same(
        "GetItem after emptying every set",
        get_consistent(&client, "upd", item(&[("pk", s("a"))])).await,
        item(&[("pk", s("a"))]),
    );
}

#[tokio::test]
async fn all_four_clauses_in_one_expression_in_any_order() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    put_ok(
        &client,
        "upd",
        item(&[
            ("pk", s("a")),
            ("cnt", n("1")),
            ("stale", s("x")),
            ("tags", ss(&["a", "b"])),
        ]),
    )
    .await;
    let got = update(
        &client,
        "upd",
        "a",
        "delete tags :a add cnt :one remove stale set v = :v",
        &[],
        &[
            (":a", ss(&["a"])),
            (":one", n("1")),
            (":v", AttributeValue::Bool(true)),
        ],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "SET/REMOVE/ADD/DELETE together",
        got,
        item(&[
            ("pk", s("a")),
            ("cnt", n("2")),
            ("tags", ss(&["b"])),
            ("v", AttributeValue::Bool(true)),
        ]),
    );
}

#[tokio::test]
async fn update_creates_the_item_when_absent() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;

    // ALL_OLD of an item that did not exist: no attributes.
    let old = update(
        &client,
        "upd",
        "new1",
        "SET v = :v ADD cnt :one",
        &[],
        &[(":v", s("x")), (":one", n("1"))],
        ReturnValue::AllOld,
    )
    .await;
    assert!(
        old.as_ref().is_none_or(|a| a.is_empty()),
        "ALL_OLD when creating: {old:?}"
    );
    assert_same(
        "item created by UpdateItem",
        get_consistent(&client, "upd", item(&[("pk", s("new1"))])).await,
        item(&[("pk", s("new1")), ("v", s("x")), ("cnt", n("1"))]),
    );

    let new = update(
        &client,
        "upd",
        "new2",
        "SET v = :v",
        &[],
        &[(":v", n("2"))],
        ReturnValue::AllNew,
    )
    .await;
    assert_same(
        "ALL_NEW when creating",
        new,
        item(&[("pk", s("new2")), ("v", n("2"))]),
    );

    // An UpdateItem with no UpdateExpression at all still creates the item (key only).
    client
        .update_item()
        .table_name("upd")
        .key("pk", s("bare"))
        .send()
        .await
        .expect("UpdateItem without an UpdateExpression");
    assert_same(
        "item created by a bare UpdateItem",
        get_consistent(&client, "upd", item(&[("pk", s("bare"))])).await,
        item(&[("pk", s("bare"))]),
    );
}

#[tokio::test]
async fn every_return_values_option() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    let base = item(&[
        ("pk", s("a")),
        ("a", n("1")),
        ("b", map(&[("c", n("2")), ("d", n("3"))])),
        ("r", s("to-remove")),
        ("untouched", s("u")),
    ]);
    let expr = "SET a = :a, b.c = :c, newone = :k REMOVE r";
    let values = [(":a", n("10")), (":c", n("20")), (":k", s("k"))];
    let after = item(&[
        ("pk", s("a")),
        ("a", n("10")),
        ("b", map(&[("c", n("20")), ("d", n("3"))])),
        ("newone", s("k")),
        ("untouched", s("u")),
    ]);

    let cases: Vec<(ReturnValue, Option<Attrs>)> = vec![
        (ReturnValue::None, None),
        (ReturnValue::AllOld, Some(base.clone())),
        (ReturnValue::AllNew, Some(after.clone())),
        // Only the updated attributes, as they were before: `newone` did not exist, and the
        // nested path returns just the updated part of the map.
        (
            ReturnValue::UpdatedOld,
            Some(item(&[
                ("a", n("1")),
                ("b", map(&[("c", n("2"))])),
                ("r", s("to-remove")),
            ])),
        ),
        // Only the updated attributes, as they are after: the removed one is gone.
        (
            ReturnValue::UpdatedNew,
            Some(item(&[
                ("a", n("10")),
                ("b", map(&[("c", n("20"))])),
                ("newone", s("k")),
            ])),
        ),
    ];
    let mut f = Failures::new();
    for (rv, want) in cases {
        put_ok(&client, "upd", base.clone()).await;
        let got = update(&client, "upd", "a", expr, &[], &values, rv.clone()).await;
        let got = got.filter(|a| !a.is_empty());
        if got.as_ref().map(canonical_item) != want.as_ref().map(canonical_item) {
            f.push(format!(
                "ReturnValues {}: got {got:?}, want {want:?}",
                rv.as_str()
            ));
        }
        let stored = get_consistent(&client, "upd", item(&[("pk", s("a"))])).await;
        if stored.as_ref().map(canonical_item) != Some(canonical_item(&after)) {
            f.push(format!(
                "ReturnValues {}: stored item {stored:?}, want {after:?}",
                rv.as_str()
            ));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn updating_a_key_attribute_is_rejected() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "keyed",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let original = item(&[("pk", s("p")), ("sk", n("1")), ("v", s("v"))]);
    put_ok(&client, "keyed", original.clone()).await;

    let mut f = Failures::new();
    type Case<'a> = (&'a str, Vec<(&'a str, AttributeValue)>, &'a str);
    let cases: Vec<Case> = vec![
        ("SET sk = :v", vec![(":v", n("2"))], "sk"),
        ("SET pk = :v", vec![(":v", s("q"))], "pk"),
        ("ADD sk :v", vec![(":v", n("1"))], "sk"),
        ("REMOVE sk", vec![], "sk"),
        (
            "SET v = :v, pk = :p",
            vec![(":v", s("w")), (":p", s("q"))],
            "pk",
        ),
    ];
    for (expr, values, attr) in cases {
        let mut req = client
            .update_item()
            .table_name("keyed")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .update_expression(expr);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        f.check(check_err(
            expr,
            req.send().await,
            VALIDATION,
            Some(&format!(
                "Cannot update attribute {attr}. This attribute is part of the key"
            )),
        ));
    }
    let stored = get_consistent(&client, "keyed", item(&[("pk", s("p")), ("sk", n("1"))])).await;
    if stored.as_ref() != Some(&original) {
        f.push(format!("rejected updates changed the item: {stored:?}"));
    }
    f.assert_none();
}

#[tokio::test]
async fn nested_set_under_a_missing_parent_is_invalid() {
    let server = TestServer::start();
    let client = server.client();
    setup(&client, "upd").await;
    let original = item(&[("pk", s("a")), ("l", list(vec![n("1")])), ("str", s("x"))]);
    put_ok(&client, "upd", original.clone()).await;
    let mut f = Failures::new();
    for expr in [
        "SET nope.child = :v",
        "SET nope[0] = :v",
        "SET str.child = :v",
        "SET l.child = :v",
    ] {
        f.check(check_err(
            expr,
            client
                .update_item()
                .table_name("upd")
                .key("pk", s("a"))
                .update_expression(expr)
                .expression_attribute_values(":v", n("1"))
                .send()
                .await,
            VALIDATION,
            Some("The document path provided in the update expression is invalid for update"),
        ));
    }
    let stored = get_consistent(&client, "upd", item(&[("pk", s("a"))])).await;
    if stored.as_ref() != Some(&original) {
        f.push(format!("rejected updates changed the item: {stored:?}"));
    }
    f.assert_none();
}

/// Concurrent writes are proposed together in one Raft entry per partition; updates of
/// one item must still each see the one before (none lost), and writes of different
/// items in one entry must all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_of_one_item_lose_nothing() {
    const TASKS: usize = 16;
    const ROUNDS: usize = 40;
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    setup(&client, "hot").await;
    let mut writers = Vec::new();
    for task in 0..TASKS {
        let client = client.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                for pk in ["shared".to_string(), format!("own-{task}")] {
                    client
                        .update_item()
                        .table_name("hot")
                        .key("pk", s(&pk))
                        .update_expression("ADD hits :one SET latest = :round")
                        .expression_attribute_values(":one", n("1"))
                        .expression_attribute_values(":round", n(&round.to_string()))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("update {pk}: {e:?}"));
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap_or_else(|e| panic!("writer: {e}"));
    }
    let shared = get_consistent(&client, "hot", item(&[("pk", s("shared"))]))
        .await
        .unwrap_or_else(|| panic!("shared item missing"));
    assert_eq!(shared.get("hits"), Some(&n(&(TASKS * ROUNDS).to_string())));
    for task in 0..TASKS {
        let own = get_consistent(&client, "hot", item(&[("pk", s(&format!("own-{task}")))]))
            .await
            .unwrap_or_else(|| panic!("own-{task} missing"));
        assert_eq!(own.get("hits"), Some(&n(&ROUNDS.to_string())), "own-{task}");
    }
}
