//! Multi-attribute keys of global secondary indexes: a GSI's partition key and sort key
//! may each be made of up to four attributes (KeySchema with several HASH and several
//! RANGE elements, every HASH before every RANGE); tables and local indexes keep one
//! HASH and at most one RANGE.
//!
//! Expected behaviour: the Developer Guide ("Multi-attribute key schema" in GSI.md and the
//! "Multi-attribute keys pattern"), the API reference (CreateGlobalSecondaryIndexAction:
//! "Global secondary index supports up to 4 partition and up to 4 sort keys", KeySchema
//! of at least one element), and what tests run against DynamoDB observed (ScyllaDB's
//! Alternator test_gsi_composite_keys.py, moto's AWS-verified
//! test_dynamodb_multi_attribute_gsi.py, and a conformance suite checked in eu-west-2):
//! an item missing any key attribute is not indexed; a query needs an equality on every
//! partition-key attribute and takes the sort-key attributes left to right, a range
//! condition only on the last one named ("RANGE key attributes <a> must have equality
//! conditions specified in the query because a condition is present on key attribute
//! <b>"); entries sort by the sort-key attributes in order, each by its type;
//! LastEvaluatedKey holds the table key and every index key attribute; KeyConditions
//! works like KeyConditionExpression.

mod common;

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, ComparisonOperator, Condition, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, LocalSecondaryIndex, Projection, ProjectionType,
    ReturnConsumedCapacity, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;
use common::*;
use serde_json::{json, Value};

const VALIDATION: &str = "ValidationException";
use ScalarAttributeType::{B, N, S};

const INDEX: &str = "by_match";

/// Expression attribute values a query adds to `:t` and `:r`.
type Values<'a> = Vec<(&'a str, AttributeValue)>;

fn all() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn elements(hash: &[&str], range: &[&str]) -> Vec<KeySchemaElement> {
    hash.iter()
        .map(|h| key(h, KeyType::Hash))
        .chain(range.iter().map(|r| key(r, KeyType::Range)))
        .collect()
}

fn gsi(name: &str, hash: &[&str], range: &[&str]) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .set_key_schema(Some(elements(hash, range)))
        .projection(all())
        .build()
        .unwrap()
}

/// A table `pk` (S) with the index `by_match`: partition key (tournament S, area N),
/// sort key (round N, bracket B, player S).
async fn tournament_table(client: &Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", S))
        .attribute_definitions(attr_def("tournament", S))
        .attribute_definitions(attr_def("area", N))
        .attribute_definitions(attr_def("round", N))
        .attribute_definitions(attr_def("bracket", B))
        .attribute_definitions(attr_def("player", S))
        .global_secondary_indexes(gsi(
            INDEX,
            &["tournament", "area"],
            &["round", "bracket", "player"],
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
    wait_active(client, name).await;
}

fn matched(
    pk: &str,
    tournament: &str,
    area: &str,
    round: &str,
    bracket: u8,
    player: &str,
) -> Attrs {
    item(&[
        ("pk", s(pk)),
        ("tournament", s(tournament)),
        ("area", n(area)),
        ("round", n(round)),
        ("bracket", b(&[bracket])),
        ("player", s(player)),
    ])
}

/// The index's items in one partition (tournament "w", area 1), out of order, with
/// others around them; in index order they are m1..m7.
fn matches() -> Vec<Attrs> {
    vec![
        matched("m5", "w", "1", "10", 1, "amy"),
        matched("m1", "w", "1", "2", 9, "zed"),
        matched("m7", "w", "1", "10", 2, "amy"),
        matched("m3", "w", "1", "9", 1, "bob"),
        matched("m2", "w", "1", "9", 1, "amy"),
        matched("m6", "w", "1", "10", 1, "bo"),
        matched("m4", "w", "1", "9", 200, "amy"),
        // Another partition of the index: same tournament, another area, and the
        // area of another tournament.
        matched("x1", "w", "2", "9", 1, "amy"),
        matched("x2", "v", "1", "9", 1, "amy"),
    ]
}

fn pks(items: &[Attrs]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i.get("pk") {
            Some(AttributeValue::S(pk)) => pk.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Every page of a Query, with `limit` items per page; returns the items in order and
/// each page's LastEvaluatedKey.
async fn query_pages(
    base: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    limit: i32,
) -> (Vec<Attrs>, Vec<Attrs>) {
    let mut items = Vec::new();
    let mut keys = Vec::new();
    let mut start: Option<Attrs> = None;
    for _ in 0..MAX_PAGES {
        let page = base
            .clone()
            .limit(limit)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("Query page: {e:?}"));
        items.extend(page.items().iter().cloned());
        match page.last_evaluated_key().filter(|k| !k.is_empty()) {
            Some(k) => {
                keys.push(k.clone());
                start = Some(k.clone());
            }
            None => return (items, keys),
        }
    }
    panic!("Query did not finish within {MAX_PAGES} pages");
}

fn query_index(
    client: &Client,
    table: &str,
    condition: &str,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    client
        .query()
        .table_name(table)
        .index_name(INDEX)
        .key_condition_expression(condition)
        .expression_attribute_values(":t", s("w"))
        .expression_attribute_values(":r", n("1"))
}

#[tokio::test]
async fn key_schemas_of_up_to_four_attributes_per_part_are_created_and_described() {
    let server = TestServer::start();
    let client = server.client();
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    let base = |table: &str| {
        let mut request = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(attr_def("pk", S));
        for name in names {
            request = request.attribute_definitions(attr_def(name, S));
        }
        request
    };
    // Exactly four of each part: created, and described in the order given.
    base("max_key")
        .global_secondary_indexes(gsi("gsi1", &names[..4], &names[4..8]))
        .global_secondary_indexes(gsi("gsi2", &["i"], &[]))
        .send()
        .await
        .expect("a 4 HASH + 4 RANGE global index");
    let desc = describe_table(&client, "max_key").await;
    let gsi1 = desc
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("gsi1"))
        .expect("gsi1 described");
    let described: Vec<(String, String)> = gsi1
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    let wanted: Vec<(String, String)> = names[..8]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.to_string(),
                if i < 4 { "HASH" } else { "RANGE" }.to_owned(),
            )
        })
        .collect();
    assert_eq!(described, wanted);
    assert_eq!(desc.attribute_definitions().len(), 10);

    let mut f = Failures::new();
    let cases: Vec<(&str, Vec<KeySchemaElement>, &str)> = vec![
        (
            "five HASH attributes",
            elements(&names[..5], &[]),
            "Invalid KeySchema: The KeySchema has more than 4 HASH KeySchemaElements",
        ),
        (
            "five RANGE attributes",
            elements(&["a"], &names[1..6]),
            "Invalid KeySchema: The KeySchema has more than 4 RANGE KeySchemaElements",
        ),
        (
            "a HASH after a RANGE",
            elements(&["a"], &["b"])
                .into_iter()
                .chain([key("c", KeyType::Hash)])
                .collect(),
            "Invalid KeySchema: All HASH KeySchemaElements must precede the RANGE KeySchemaElements",
        ),
        (
            "a RANGE first",
            elements(&[], &["a", "b"]),
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
        (
            "one attribute twice as HASH",
            elements(&["a", "a"], &[]),
            "Invalid KeySchema: Two KeySchemaElements have the same name: a",
        ),
        (
            "one attribute as HASH and RANGE",
            elements(&["a", "b"], &["a"]),
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ),
        (
            "an undefined attribute",
            elements(&["a", "z"], &[]),
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [a, z]",
        ),
    ];
    for (i, (what, key_schema, message)) in cases.into_iter().enumerate() {
        let index = GlobalSecondaryIndex::builder()
            .index_name("bad")
            .set_key_schema(Some(key_schema))
            .projection(all())
            .build()
            .unwrap();
        f.check(check_err(
            what,
            base(&format!("bad_{i}"))
                .global_secondary_indexes(index)
                .send()
                .await,
            VALIDATION,
            Some(message),
        ));
    }
    // Tables and local indexes keep one attribute of each part.
    f.check(check_err(
        "a table key of two HASH attributes",
        client
            .create_table()
            .table_name("bad_table")
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(elements(&["a", "b"], &[])))
            .attribute_definitions(attr_def("a", S))
            .attribute_definitions(attr_def("b", S))
            .send()
            .await,
        VALIDATION,
        Some("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"),
    ));
    let lsi = LocalSecondaryIndex::builder()
        .index_name("lsi")
        .set_key_schema(Some(elements(&["pk"], &["a", "b"])))
        .projection(all())
        .build()
        .unwrap();
    f.check(check_err(
        "a local index of two RANGE attributes",
        client
            .create_table()
            .table_name("bad_lsi")
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(elements(&["pk"], &["sk"])))
            .attribute_definitions(attr_def("pk", S))
            .attribute_definitions(attr_def("sk", S))
            .attribute_definitions(attr_def("a", S))
            .attribute_definitions(attr_def("b", S))
            .local_secondary_indexes(lsi)
            .send()
            .await,
        VALIDATION,
        Some(
            "at 'localSecondaryIndexes.1.member.keySchema' failed to satisfy constraint: \
             Member must have length less than or equal to 2",
        ),
    ));
    let tables = client.list_tables().send().await.unwrap();
    if tables.table_names() != ["max_key"] {
        f.push(format!(
            "refused CreateTables must create nothing: {:?}",
            tables.table_names()
        ));
    }
    f.assert_none();
}

#[tokio::test]
async fn items_are_indexed_only_with_every_key_attribute_of_its_type() {
    let server = TestServer::start();
    let client = server.client();
    tournament_table(&client, "sparse").await;
    let full = matched("p1", "w", "1", "1", 1, "amy");
    put_ok(&client, "sparse", full.clone()).await;
    for missing in ["tournament", "area", "round", "bracket", "player"] {
        let mut sparse = matched(&format!("no_{missing}"), "w", "1", "1", 1, "amy");
        sparse.remove(missing);
        put_ok(&client, "sparse", sparse).await;
    }
    let indexed = scan_index_everything(&client, "sparse", INDEX).await;
    assert_eq!(
        pks(&indexed),
        ["p1"],
        "only the item with every key attribute"
    );

    let mut f = Failures::new();
    let mut wrong = full.clone();
    wrong.insert("area".into(), s("one"));
    f.check(check_err(
        "a partition-key attribute of the wrong type",
        client
            .put_item()
            .table_name("sparse")
            .set_item(Some(wrong))
            .send()
            .await,
        VALIDATION,
        Some(
            "One or more parameter values were invalid: Type mismatch for Index Key area \
             Expected: N Actual: S IndexName: by_match",
        ),
    ));
    let mut empty = full.clone();
    empty.insert("player".into(), s(""));
    f.check(check_err(
        "an empty sort-key attribute",
        client.put_item().table_name("sparse").set_item(Some(empty)).send().await,
        VALIDATION,
        Some("The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by_match, IndexKey: player"),
    ));

    // Adding the last missing attribute indexes the item; removing any one drops it.
    client
        .update_item()
        .table_name("sparse")
        .key("pk", s("no_round"))
        .update_expression("SET round = :r")
        .expression_attribute_values(":r", n("1"))
        .send()
        .await
        .unwrap();
    client
        .update_item()
        .table_name("sparse")
        .key("pk", s("p1"))
        .update_expression("REMOVE bracket")
        .send()
        .await
        .unwrap();
    let indexed = scan_index_everything(&client, "sparse", INDEX).await;
    if pks(&indexed) != ["no_round"] {
        f.push(format!(
            "after the updates the index holds {:?}",
            pks(&indexed)
        ));
    }
    client
        .delete_item()
        .table_name("sparse")
        .key("pk", s("no_round"))
        .send()
        .await
        .unwrap();
    let indexed = scan_index_everything(&client, "sparse", INDEX).await;
    if !indexed.is_empty() {
        f.push(format!(
            "after the delete the index holds {:?}",
            pks(&indexed)
        ));
    }
    f.assert_none();
}

#[tokio::test]
async fn queries_take_every_partition_attribute_and_sort_attributes_left_to_right() {
    let server = TestServer::start();
    let client = server.client();
    tournament_table(&client, "matches").await;
    for it in matches() {
        put_ok(&client, "matches", it).await;
    }
    let all_in_order = ["m1", "m2", "m3", "m4", "m5", "m6", "m7"];
    let mut f = Failures::new();
    let cases: Vec<(&str, Values, Vec<&str>)> = vec![
        // Rounds compare numerically, brackets by unsigned bytes, players by UTF-8.
        ("tournament = :t AND area = :r", vec![], all_in_order.to_vec()),
        ("area = :r AND round = :n AND tournament = :t", vec![(":n", n("9"))], vec!["m2", "m3", "m4"]),
        ("tournament = :t AND area = :r AND round > :n", vec![(":n", n("9"))], vec!["m5", "m6", "m7"]),
        ("tournament = :t AND area = :r AND round <= :n", vec![(":n", n("9"))], vec!["m1", "m2", "m3", "m4"]),
        (
            "tournament = :t AND area = :r AND round = :n AND bracket = :b",
            vec![(":n", n("10")), (":b", b(&[1]))],
            vec!["m5", "m6"],
        ),
        (
            "tournament = :t AND area = :r AND round = :n AND bracket BETWEEN :lo AND :hi",
            vec![(":n", n("9")), (":lo", b(&[2])), (":hi", b(&[255]))],
            vec!["m4"],
        ),
        (
            "tournament = :t AND area = :r AND round = :n AND bracket = :b AND begins_with(player, :p)",
            vec![(":n", n("10")), (":b", b(&[1])), (":p", s("b"))],
            vec!["m6"],
        ),
        (
            "tournament = :t AND area = :r AND round = :n AND bracket = :b AND player >= :p",
            vec![(":n", n("9")), (":b", b(&[1])), (":p", s("b"))],
            vec!["m3"],
        ),
        (
            ":n > round AND tournament = :t AND area = :r",
            vec![(":n", n("9"))],
            vec!["m1"],
        ),
    ];
    for (condition, values, want) in &cases {
        let mut request = query_index(&client, "matches", condition);
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        for forward in [true, false] {
            match request.clone().scan_index_forward(forward).send().await {
                Ok(out) => {
                    let mut want: Vec<&str> = want.clone();
                    if !forward {
                        want.reverse();
                    }
                    if pks(out.items()) != want {
                        f.push(format!(
                            "{condition} (forward {forward}): got {:?}, want {want:?}",
                            pks(out.items())
                        ));
                    }
                }
                Err(e) => f.push(format!("{condition}: {e:?}")),
            }
        }
    }

    f.check(check_err(
        "one of two partition-key attributes",
        client
            .query()
            .table_name("matches")
            .index_name(INDEX)
            .key_condition_expression("tournament = :t")
            .expression_attribute_values(":t", s("w"))
            .send()
            .await,
        VALIDATION,
        Some("Query condition missed key schema element: area"),
    ));
    let rejected: Vec<(&str, Values, &str)> = vec![
        (
            "tournament = :t AND area > :r",
            vec![],
            "Query key condition not supported",
        ),
        (
            "tournament = :t AND area = :r AND bracket = :b",
            vec![(":b", b(&[1]))],
            "RANGE key attributes round must have equality conditions specified in the query \
             because a condition is present on key attribute bracket",
        ),
        (
            "tournament = :t AND area = :r AND round = :n AND player = :p",
            vec![(":n", n("9")), (":p", s("amy"))],
            "RANGE key attributes bracket must have equality conditions specified in the query \
             because a condition is present on key attribute player",
        ),
        (
            "tournament = :t AND area = :r AND round > :n AND bracket = :b",
            vec![(":n", n("9")), (":b", b(&[1]))],
            "RANGE key attributes round must have equality conditions specified in the query \
             because a condition is present on key attribute bracket",
        ),
        (
            "tournament = :t AND area = :r AND begins_with(round, :n)",
            vec![(":n", n("9"))],
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; \
             operator or function: begins_with, operand type: N",
        ),
        (
            "tournament = :t AND area = :r AND round = :n",
            vec![(":n", s("9"))],
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "tournament = :t AND area = :r AND area = :r",
            vec![],
            "KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "tournament = :t AND area = :r AND colour = :c",
            vec![(":c", s("red"))],
            "Query condition missed key schema element: round",
        ),
    ];
    for (condition, values, message) in rejected {
        let mut request = query_index(&client, "matches", condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        f.check(check_err(
            condition,
            request.send().await,
            VALIDATION,
            Some(message),
        ));
    }
    f.check(check_err(
        "a filter on a sort-key attribute",
        query_index(&client, "matches", "tournament = :t AND area = :r")
            .filter_expression("player = :p")
            .expression_attribute_values(":p", s("amy"))
            .send()
            .await,
        VALIDATION,
        Some("Filter Expression can only contain non-primary key attributes: Primary key attribute: player"),
    ));
    f.check(check_err(
        "a consistent read",
        query_index(&client, "matches", "tournament = :t AND area = :r")
            .consistent_read(true)
            .send()
            .await,
        VALIDATION,
        Some("Consistent reads are not supported on global secondary indexes"),
    ));

    // KeyConditions says the same as KeyConditionExpression.
    let eq = |value: AttributeValue| {
        Condition::builder()
            .comparison_operator(ComparisonOperator::Eq)
            .attribute_value_list(value)
            .build()
            .unwrap()
    };
    let legacy = || {
        client
            .query()
            .table_name("matches")
            .index_name(INDEX)
            .key_conditions("tournament", eq(s("w")))
            .key_conditions("area", eq(n("1")))
    };
    let gt = Condition::builder()
        .comparison_operator(ComparisonOperator::Gt)
        .attribute_value_list(s("amy"))
        .build()
        .unwrap();
    match legacy()
        .key_conditions("round", eq(n("10")))
        .key_conditions("bracket", eq(b(&[1])))
        .key_conditions("player", gt.clone())
        .send()
        .await
    {
        Ok(out) if pks(out.items()) == ["m6"] => {}
        other => f.push(format!("KeyConditions on five attributes: {other:?}")),
    }
    f.check(check_err(
        "KeyConditions skipping a sort-key attribute",
        legacy()
            .key_conditions("round", eq(n("10")))
            .key_conditions("player", gt)
            .send()
            .await,
        VALIDATION,
        Some(
            "RANGE key attributes bracket must have equality conditions specified in the query \
             because a condition is present on key attribute player",
        ),
    ));
    f.check(check_err(
        "KeyConditions without a partition-key attribute",
        client
            .query()
            .table_name("matches")
            .index_name(INDEX)
            .key_conditions("tournament", eq(s("w")))
            .send()
            .await,
        VALIDATION,
        Some("Query condition missed key schema element: area"),
    ));
    // KeyConditions may have one condition per key attribute of what is queried: five
    // for this index, but still two for the table.
    let count = "Conditions can be of length 1 or 2 only";
    let mut six = legacy();
    for (name, value) in [
        ("round", n("10")),
        ("bracket", b(&[1])),
        ("player", s("bo")),
        ("colour", s("red")),
    ] {
        six = six.key_conditions(name, eq(value));
    }
    f.check(check_err(
        "six KeyConditions on a five-attribute key",
        six.send().await,
        VALIDATION,
        Some(count),
    ));
    f.check(check_err(
        "three KeyConditions on a table",
        client
            .query()
            .table_name("matches")
            .key_conditions("pk", eq(s("m1")))
            .key_conditions("tournament", eq(s("w")))
            .key_conditions("area", eq(n("1")))
            .send()
            .await,
        VALIDATION,
        Some(count),
    ));
    f.assert_none();
}

#[tokio::test]
async fn pages_resume_after_the_last_evaluated_key_of_every_index_attribute() {
    let server = TestServer::start();
    let client = server.client();
    tournament_table(&client, "paging").await;
    for it in matches() {
        put_ok(&client, "paging", it).await;
    }
    let mut f = Failures::new();
    for forward in [true, false] {
        let base = query_index(&client, "paging", "tournament = :t AND area = :r")
            .scan_index_forward(forward);
        let (items, keys) = query_pages(base, 2).await;
        let mut want = vec!["m1", "m2", "m3", "m4", "m5", "m6", "m7"];
        if !forward {
            want.reverse();
        }
        if pks(&items) != want {
            f.push(format!("forward {forward}: pages gave {:?}", pks(&items)));
        }
        for key in &keys {
            let mut names: Vec<&str> = key.keys().map(String::as_str).collect();
            names.sort_unstable();
            if names != ["area", "bracket", "pk", "player", "round", "tournament"] {
                f.push(format!("LastEvaluatedKey {key:?}"));
            }
        }
    }
    // A range on a later attribute pages within it too.
    let base = query_index(
        &client,
        "paging",
        "tournament = :t AND area = :r AND round = :n AND bracket = :b AND player > :p",
    )
    .expression_attribute_values(":n", n("10"))
    .expression_attribute_values(":b", b(&[1]))
    .expression_attribute_values(":p", s("a"));
    let (items, _) = query_pages(base, 1).await;
    if pks(&items) != ["m5", "m6"] {
        f.push(format!("one item per page: {:?}", pks(&items)));
    }
    let mut incomplete = matched("m1", "w", "1", "2", 9, "zed");
    incomplete.remove("bracket");
    f.check(check_err(
        "an ExclusiveStartKey without a sort-key attribute",
        query_index(&client, "paging", "tournament = :t AND area = :r")
            .set_exclusive_start_key(Some(incomplete))
            .send()
            .await,
        VALIDATION,
        Some("The provided starting key is invalid: The provided key element does not match the schema"),
    ));
    // A Scan of the index pages through every entry, each once.
    let scanned = scan_pages(
        &client
            .scan()
            .table_name("paging")
            .index_name(INDEX)
            .limit(2),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut scanned: Vec<String> = scanned.iter().flat_map(|p| pks(p.items())).collect();
    scanned.sort();
    if scanned != ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "x1", "x2"] {
        f.push(format!("index scan gave {scanned:?}"));
    }
    f.assert_none();
}

#[tokio::test]
async fn an_index_created_online_is_backfilled_and_survives_a_restart() {
    let mut server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("online")
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(elements(&["pk"], &["sk"])))
        .attribute_definitions(attr_def("pk", S))
        .attribute_definitions(attr_def("sk", S))
        .attribute_definitions(attr_def("lsk", S))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("local")
                .set_key_schema(Some(elements(&["pk"], &["lsk"])))
                .projection(all())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    wait_active(&client, "online").await;
    let row = |pk: &str, t: &str, round: &str, player: &str| {
        item(&[
            ("pk", s(pk)),
            ("sk", s("0")),
            ("tournament", s(t)),
            ("area", n("1")),
            ("round", n(round)),
            ("bracket", b(&[1])),
            ("player", s(player)),
        ])
    };
    let rows = [
        row("a", "w", "3", "x"),
        row("b", "w", "1", "y"),
        row("c", "w", "2", "z"),
        row("d", "v", "1", "y"),
    ];
    for it in &rows {
        put_ok(&client, "online", it.clone()).await;
    }
    let create = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
        .index_name(INDEX)
        .set_key_schema(Some(elements(
            &["tournament", "area"],
            &["round", "player"],
        )))
        .projection(all())
        .build()
        .unwrap();
    client
        .update_table()
        .table_name("online")
        .attribute_definitions(attr_def("tournament", S))
        .attribute_definitions(attr_def("area", N))
        .attribute_definitions(attr_def("round", N))
        .attribute_definitions(attr_def("player", S))
        .global_secondary_index_updates(
            aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                .create(create)
                .build(),
        )
        .send()
        .await
        .expect("a multi-attribute index created on a table with a local index");
    let desc = wait_gsis_active(&client, "online").await;
    assert_eq!(
        desc.global_secondary_indexes()[0].key_schema().len(),
        4,
        "{desc:?}"
    );
    let query = || {
        query_index(
            &client,
            "online",
            "tournament = :t AND area = :r AND round >= :n",
        )
        .expression_attribute_values(":n", n("2"))
    };
    let out = query().send().await.unwrap();
    assert_eq!(
        pks(out.items()),
        ["c", "a"],
        "backfilled entries in index order"
    );

    server.restart();
    let client = server.client();
    put_ok(&client, "online", row("e", "w", "9", "q")).await;
    let out = query_index(
        &client,
        "online",
        "tournament = :t AND area = :r AND round >= :n",
    )
    .expression_attribute_values(":n", n("2"))
    .send()
    .await
    .unwrap();
    assert_eq!(pks(out.items()), ["c", "a", "e"], "after a restart");
    let keys = describe_table(&client, "online")
        .await
        .global_secondary_indexes()[0]
        .key_schema()
        .iter()
        .map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str()))
        .collect::<Vec<_>>();
    assert_eq!(
        keys,
        [
            "tournament:HASH",
            "area:HASH",
            "round:RANGE",
            "player:RANGE"
        ]
    );
}

#[tokio::test]
async fn writes_are_charged_per_index_and_stream_records_keep_the_table_key() {
    let server = TestServer::start();
    let client = server.client();
    tournament_table(&client, "charged").await;
    let updated = client
        .update_table()
        .table_name("charged")
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::KeysOnly)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = updated
        .table_description()
        .and_then(|d| d.latest_stream_arn())
        .expect("LatestStreamArn")
        .to_owned();
    let out = client
        .put_item()
        .table_name("charged")
        .set_item(Some(matched("c1", "w", "1", "1", 1, "amy")))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let consumed = out.consumed_capacity().expect("ConsumedCapacity");
    let index_units = consumed
        .global_secondary_indexes()
        .and_then(|g| g.get(INDEX))
        .and_then(|c| c.capacity_units());
    assert_eq!(index_units, Some(1.0), "{consumed:?}");
    assert_eq!(consumed.capacity_units(), Some(2.0), "{consumed:?}");

    let records = stream_records(&streams_client(&server), &arn).await;
    let keys: Vec<Vec<String>> = records
        .iter()
        .filter_map(|r| r.dynamodb())
        .map(|d| {
            d.keys()
                .map(|k| k.keys().cloned().collect())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(keys, [vec!["pk".to_owned()]], "{records:?}");
}

/// DescribeTable lists a multi-attribute key schema exactly as CreateTable gave it.
#[tokio::test]
async fn raw_key_schemas_are_listed_in_the_order_given() {
    let server = TestServer::start();
    let body = json!({
        "TableName": "raw",
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "z", "AttributeType": "S"},
            {"AttributeName": "a", "AttributeType": "N"},
            {"AttributeName": "m", "AttributeType": "B"},
        ],
        "GlobalSecondaryIndexes": [{
            "IndexName": "zam",
            "KeySchema": [
                {"AttributeName": "z", "KeyType": "HASH"},
                {"AttributeName": "a", "KeyType": "HASH"},
                {"AttributeName": "m", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    });
    let created = server.raw_request("DynamoDB_20120810.CreateTable", &body.to_string());
    assert_eq!(created.status, 200, "{}", created.body_str());
    let described =
        server.raw_request("DynamoDB_20120810.DescribeTable", r#"{"TableName": "raw"}"#);
    let index: &Value = &described.json()["Table"]["GlobalSecondaryIndexes"][0];
    assert_eq!(
        index["KeySchema"],
        body["GlobalSecondaryIndexes"][0]["KeySchema"]
    );
    assert_eq!(index["IndexStatus"], "ACTIVE");
}
