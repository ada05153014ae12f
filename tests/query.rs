//! Query: partition-key equality with every sort-key operator (`= < <= > >= BETWEEN
//! begins_with`) on S, N and B sort keys, ScanIndexForward, Limit with
//! ExclusiveStartKey/LastEvaluatedKey paging, the 1 MB page limit, FilterExpression (Count vs
//! ScannedCount), Select, ProjectionExpression; and GetItem's ProjectionExpression.
//!
//! Expected behaviour follows the Query API reference ("Limit … the maximum number of items
//! to evaluate (not necessarily the number of matching items)"; "A single Query operation
//! will read up to … a maximum of 1 MB of data and then apply any filtering"; "ScannedCount
//! … before any QueryFilter is applied"; "Select … COUNT - Returns the number of matching
//! items, rather than the matching items themselves"), the Developer Guide ("Key condition
//! expressions for query": the sort-key operators; B keys compare as unsigned bytes; N keys
//! numerically), and dynalite's test/query.js for error messages ("Query condition missed key
//! schema element: …", "Filter Expression can only contain non-primary key attributes:
//! Primary key attribute: …").

mod common;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType, Select};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";

/// Every page of `base` (ExclusiveStartKey is replaced each time), bounded by `MAX_PAGES`.
async fn all_pages(base: &QueryFluentBuilder) -> Vec<QueryOutput> {
    query_pages(base).await.unwrap_or_else(|e| panic!("{e}"))
}

fn sort_keys(items: &[Attrs]) -> Vec<AttributeValue> {
    items
        .iter()
        .map(|i| i.get("sk").cloned().expect("item without sk"))
        .collect()
}

/// Create a pk/sk table whose sort key has type `t`, fill partition "p" with `sks` (in any
/// order) and partition "other" with the first two of them.
async fn keyed_table(client: &Client, name: &str, t: ScalarAttributeType, sks: &[AttributeValue]) {
    create_table(
        client,
        name,
        ("pk", ScalarAttributeType::S),
        Some(("sk", t)),
    )
    .await;
    for (i, sk) in sks.iter().enumerate() {
        put_ok(
            client,
            name,
            item(&[
                ("pk", s("p")),
                ("sk", sk.clone()),
                ("val", n(&i.to_string())),
            ]),
        )
        .await;
    }
    for sk in sks.iter().take(2) {
        put_ok(
            client,
            name,
            item(&[("pk", s("other")), ("sk", sk.clone())]),
        )
        .await;
    }
}

type KeyCase = (
    &'static str,
    Vec<(&'static str, AttributeValue)>,
    Vec<AttributeValue>,
);

/// Run each (sort-key condition, values, expected sort keys in ascending order) forwards
/// and backwards.
async fn check_key_cases(client: &Client, table: &str, cases: Vec<KeyCase>) {
    let mut f = Failures::new();
    for (cond, values, want) in cases {
        for forward in [true, false] {
            let mut req = client
                .query()
                .table_name(table)
                .key_condition_expression(format!("pk = :pk AND {cond}"))
                .expression_attribute_values(":pk", s("p"))
                .scan_index_forward(forward);
            for (k, v) in &values {
                req = req.expression_attribute_values(*k, v.clone());
            }
            let what = format!("{table}: {cond} with {values:?}, forward={forward}");
            match req.send().await {
                Err(e) => f.push(format!("{what}: {e:?}")),
                Ok(out) => {
                    let mut want = want.clone();
                    if !forward {
                        want.reverse();
                    }
                    let got = sort_keys(out.items());
                    if got != want {
                        f.push(format!("{what}: got {got:?}, want {want:?}"));
                    }
                    if out.count() as usize != want.len() || out.scanned_count() != out.count() {
                        f.push(format!(
                            "{what}: Count {} ScannedCount {}, want both {}",
                            out.count(),
                            out.scanned_count(),
                            want.len()
                        ));
                    }
                    if out.last_evaluated_key().is_some_and(|k| !k.is_empty()) {
                        f.push(format!("{what}: unexpected LastEvaluatedKey"));
                    }
                }
            }
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn every_sort_key_operator_on_string_keys() {
    let server = TestServer::start();
    let client = server.client();
    let sks: Vec<_> = ["c", "ab", "a", "ba", "abc", "b", "B"].map(s).to_vec();
    keyed_table(&client, "qs_t", ScalarAttributeType::S, &sks).await;
    let v = |k: &'static str, x: &str| (k, s(x));
    let l = |x: &[&str]| x.iter().map(|y| s(y)).collect::<Vec<_>>();
    let cases: Vec<KeyCase> = vec![
        ("sk = :v", vec![v(":v", "ab")], l(&["ab"])),
        ("sk = :v", vec![v(":v", "zz")], l(&[])),
        ("sk < :v", vec![v(":v", "b")], l(&["B", "a", "ab", "abc"])),
        (
            "sk <= :v",
            vec![v(":v", "b")],
            l(&["B", "a", "ab", "abc", "b"]),
        ),
        ("sk > :v", vec![v(":v", "b")], l(&["ba", "c"])),
        ("sk >= :v", vec![v(":v", "b")], l(&["b", "ba", "c"])),
        (
            "sk BETWEEN :lo AND :hi",
            vec![v(":lo", "ab"), v(":hi", "b")],
            l(&["ab", "abc", "b"]),
        ),
        (
            "sk BETWEEN :lo AND :hi",
            vec![v(":lo", "b"), v(":hi", "b")],
            l(&["b"]),
        ),
        (
            "begins_with(sk, :v)",
            vec![v(":v", "ab")],
            l(&["ab", "abc"]),
        ),
        ("begins_with(sk, :v)", vec![v(":v", "b")], l(&["b", "ba"])),
        ("begins_with(sk, :v)", vec![v(":v", "x")], l(&[])),
    ];
    check_key_cases(&client, "qs_t", cases).await;
}

#[tokio::test]
async fn every_sort_key_operator_on_number_keys() {
    let server = TestServer::start();
    let client = server.client();
    // Inserted out of order; numeric order is -5 0 1.5 2 10 100 (string order would differ).
    let sks: Vec<_> = ["10", "2", "-5", "100", "0", "1.5"].map(n).to_vec();
    keyed_table(&client, "qn_t", ScalarAttributeType::N, &sks).await;
    let v = |k: &'static str, x: &str| (k, n(x));
    let l = |x: &[&str]| x.iter().map(|y| n(y)).collect::<Vec<_>>();
    let cases: Vec<KeyCase> = vec![
        ("sk = :v", vec![v(":v", "1.5")], l(&["1.5"])),
        ("sk = :v", vec![v(":v", "1.50")], l(&["1.5"])),
        ("sk < :v", vec![v(":v", "2")], l(&["-5", "0", "1.5"])),
        ("sk <= :v", vec![v(":v", "2")], l(&["-5", "0", "1.5", "2"])),
        ("sk > :v", vec![v(":v", "2")], l(&["10", "100"])),
        ("sk >= :v", vec![v(":v", "2")], l(&["2", "10", "100"])),
        (
            "sk > :v",
            vec![v(":v", "-10")],
            l(&["-5", "0", "1.5", "2", "10", "100"]),
        ),
        (
            "sk BETWEEN :lo AND :hi",
            vec![v(":lo", "0"), v(":hi", "10")],
            l(&["0", "1.5", "2", "10"]),
        ),
        (
            "sk BETWEEN :lo AND :hi",
            vec![v(":lo", "-4.99"), v(":hi", "1e1")],
            l(&["0", "1.5", "2", "10"]),
        ),
    ];
    check_key_cases(&client, "qn_t", cases).await;
}

#[tokio::test]
async fn every_sort_key_operator_on_binary_keys() {
    let server = TestServer::start();
    let client = server.client();
    // Unsigned byte order: 00 < 01 < 01 02 < 02 < 7f < 80 < ff.
    let sks: Vec<_> = vec![
        b(&[0xff]),
        b(&[0x01, 0x02]),
        b(&[0x80]),
        b(&[0x00]),
        b(&[0x7f]),
        b(&[0x02]),
        b(&[0x01]),
    ];
    keyed_table(&client, "qb_t", ScalarAttributeType::B, &sks).await;
    let v = |k: &'static str, x: &[u8]| (k, b(x));
    let l = |x: &[&[u8]]| x.iter().map(|y| b(y)).collect::<Vec<_>>();
    let cases: Vec<KeyCase> = vec![
        ("sk = :v", vec![v(":v", &[0x01, 0x02])], l(&[&[0x01, 0x02]])),
        (
            "sk < :v",
            vec![v(":v", &[0x02])],
            l(&[&[0x00], &[0x01], &[0x01, 0x02]]),
        ),
        (
            "sk <= :v",
            vec![v(":v", &[0x02])],
            l(&[&[0x00], &[0x01], &[0x01, 0x02], &[0x02]]),
        ),
        ("sk > :v", vec![v(":v", &[0x7f])], l(&[&[0x80], &[0xff]])),
        (
            "sk >= :v",
            vec![v(":v", &[0x7f])],
            l(&[&[0x7f], &[0x80], &[0xff]]),
        ),
        (
            "sk BETWEEN :lo AND :hi",
            vec![v(":lo", &[0x01]), v(":hi", &[0x7f])],
            l(&[&[0x01], &[0x01, 0x02], &[0x02], &[0x7f]]),
        ),
        (
            "begins_with(sk, :v)",
            vec![v(":v", &[0x01])],
            l(&[&[0x01], &[0x01, 0x02]]),
        ),
    ];
    check_key_cases(&client, "qb_t", cases).await;
}

#[tokio::test]
async fn partition_only_names_order_and_consistent_read() {
    let server = TestServer::start();
    let client = server.client();
    let sks: Vec<_> = ["c", "a", "b"].map(s).to_vec();
    keyed_table(&client, "qp_t", ScalarAttributeType::S, &sks).await;

    let out = client
        .query()
        .table_name("qp_t")
        .key_condition_expression("#p = :pk")
        .expression_attribute_names("#p", "pk")
        .expression_attribute_values(":pk", s("p"))
        .consistent_read(true)
        .send()
        .await
        .expect("Query on the partition key only");
    assert_eq!(sort_keys(out.items()), ["a", "b", "c"].map(s).to_vec());
    assert!(out.items().iter().all(|i| i.get("pk") == Some(&s("p"))));
    assert_eq!(out.count(), 3);

    // Key conditions in either order, parenthesised, with names for both keys.
    let out = client
        .query()
        .table_name("qp_t")
        .key_condition_expression("(#s > :lo) AND (#p = :pk)")
        .expression_attribute_names("#p", "pk")
        .expression_attribute_names("#s", "sk")
        .expression_attribute_values(":pk", s("p"))
        .expression_attribute_values(":lo", s("a"))
        .send()
        .await
        .expect("Query with swapped key conditions");
    assert_eq!(sort_keys(out.items()), ["b", "c"].map(s).to_vec());

    // A partition with no items: an empty result, not an error.
    let out = client
        .query()
        .table_name("qp_t")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s("nobody"))
        .send()
        .await
        .expect("Query on an empty partition");
    assert_eq!(out.count(), 0);
    assert!(out.items().is_empty());
    assert!(out.last_evaluated_key().is_none_or(|k| k.is_empty()));
}

#[tokio::test]
async fn limit_and_last_evaluated_key_paging_forwards_and_backwards() {
    let server = TestServer::start();
    let client = server.client();
    let names: Vec<String> = (0..23).map(|i| format!("k{i:03}")).collect();
    let sks: Vec<_> = names.iter().map(|x| s(x)).collect();
    keyed_table(&client, "pg_t", ScalarAttributeType::S, &sks).await;

    let mut f = Failures::new();
    for limit in [1, 2, 5, 23, 100] {
        for forward in [true, false] {
            let base = client
                .query()
                .table_name("pg_t")
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s("p"))
                .scan_index_forward(forward)
                .limit(limit);
            let pages = all_pages(&base).await;
            let mut want = sks.clone();
            if !forward {
                want.reverse();
            }
            let mut got = Vec::new();
            for (i, page) in pages.iter().enumerate() {
                if page.items().len() > limit as usize {
                    f.push(format!(
                        "limit {limit} forward={forward}: page {i} has {} items",
                        page.items().len()
                    ));
                }
                // A LastEvaluatedKey is the key of the last item returned (pk and sk only).
                if let (Some(lek), Some(last)) = (page.last_evaluated_key(), page.items().last()) {
                    let want_lek = item(&[("pk", last["pk"].clone()), ("sk", last["sk"].clone())]);
                    if lek != &want_lek {
                        f.push(format!(
                            "limit {limit} forward={forward}: page {i} LastEvaluatedKey {lek:?}, want {want_lek:?}"
                        ));
                    }
                }
                got.extend(sort_keys(page.items()));
            }
            if got != want {
                f.push(format!(
                    "limit {limit} forward={forward}: pages gave {got:?}, want {want:?}"
                ));
            }
            let want_pages = 23usize.div_ceil(limit as usize);
            if pages.len() < want_pages || pages.len() > want_pages + 1 {
                f.push(format!(
                    "limit {limit} forward={forward}: {} pages, want {want_pages} (or one more, empty)",
                    pages.len()
                ));
            }
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn reaching_limit_exactly_returns_a_last_evaluated_key() {
    let server = TestServer::start();
    let client = server.client();
    let sks: Vec<_> = ["a", "b", "c"].map(s).to_vec();
    keyed_table(&client, "lim", ScalarAttributeType::S, &sks).await;
    let base = client
        .query()
        .table_name("lim")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s("p"))
        .limit(3);
    let first = base.clone().send().await.expect("Query Limit 3");
    assert_eq!(sort_keys(first.items()), sks);
    let lek = first
        .last_evaluated_key()
        .cloned()
        .expect("Limit reached: LastEvaluatedKey must be returned");
    assert_eq!(lek, item(&[("pk", s("p")), ("sk", s("c"))]));
    let second = base
        .clone()
        .set_exclusive_start_key(Some(lek))
        .send()
        .await
        .expect("Query after the last item");
    assert!(second.items().is_empty(), "{:?}", second.items());
    assert_eq!(second.count(), 0);
    assert!(second.last_evaluated_key().is_none_or(|k| k.is_empty()));

    // ExclusiveStartKey in the middle, both directions.
    let after_a = base
        .clone()
        .exclusive_start_key("pk", s("p"))
        .exclusive_start_key("sk", s("a"))
        .send()
        .await
        .expect("Query from a");
    assert_eq!(sort_keys(after_a.items()), ["b", "c"].map(s).to_vec());
    let before_c = base
        .clone()
        .scan_index_forward(false)
        .exclusive_start_key("pk", s("p"))
        .exclusive_start_key("sk", s("c"))
        .send()
        .await
        .expect("Query backwards from c");
    assert_eq!(sort_keys(before_c.items()), ["b", "a"].map(s).to_vec());
}

#[tokio::test]
async fn filter_expression_is_applied_after_reading() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "flt",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    for i in 0..10 {
        let mut it = item(&[("pk", s("p")), ("sk", n(&i.to_string()))]);
        if i % 2 == 0 {
            it.insert("even".into(), AttributeValue::Bool(true));
        }
        it.insert("v".into(), n(&(i * 10).to_string()));
        put_ok(&client, "flt", it).await;
    }

    let out = client
        .query()
        .table_name("flt")
        .key_condition_expression("pk = :pk")
        .filter_expression("attribute_exists(even) AND v >= :min")
        .expression_attribute_values(":pk", s("p"))
        .expression_attribute_values(":min", n("30"))
        .send()
        .await
        .expect("Query with a filter");
    assert_eq!(sort_keys(out.items()), ["4", "6", "8"].map(n).to_vec());
    assert_eq!(out.count(), 3);
    assert_eq!(out.scanned_count(), 10);

    // Limit bounds the items read, before the filter: 4 read, of which 0 2 match.
    let out = client
        .query()
        .table_name("flt")
        .key_condition_expression("pk = :pk")
        .filter_expression("even = :t")
        .expression_attribute_values(":pk", s("p"))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .limit(4)
        .send()
        .await
        .expect("Query with a filter and Limit");
    assert_eq!(sort_keys(out.items()), ["0", "2"].map(n).to_vec());
    assert_eq!(out.count(), 2);
    assert_eq!(out.scanned_count(), 4);
    assert_eq!(
        out.last_evaluated_key().cloned(),
        Some(item(&[("pk", s("p")), ("sk", n("3"))]))
    );

    // Paging a filtered query still yields every match exactly once.
    let base = client
        .query()
        .table_name("flt")
        .key_condition_expression("pk = :pk")
        .filter_expression("attribute_not_exists(even)")
        .expression_attribute_values(":pk", s("p"))
        .limit(3);
    let pages = all_pages(&base).await;
    let got: Vec<_> = pages.iter().flat_map(|p| sort_keys(p.items())).collect();
    assert_eq!(got, ["1", "3", "5", "7", "9"].map(n).to_vec());
    let scanned: i32 = pages.iter().map(|p| p.scanned_count()).sum();
    assert_eq!(
        scanned, 10,
        "every item is read exactly once over all pages"
    );
}

/// A FilterExpression may not name a key attribute (dynalite's test/query.js, recorded
/// against DynamoDB: "Filter Expression can only contain non-primary key attributes: Primary
/// key attribute: …").
#[tokio::test]
async fn filter_on_a_key_attribute_is_rejected() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "flt",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    put_ok(&client, "flt", item(&[("pk", s("p")), ("sk", n("1"))])).await;
    let (code, msg) = expect_err(
        "FilterExpression on the sort key",
        client
            .query()
            .table_name("flt")
            .key_condition_expression("pk = :pk")
            .filter_expression("sk > :x")
            .expression_attribute_values(":pk", s("p"))
            .expression_attribute_values(":x", n("1"))
            .send()
            .await,
    );
    assert_eq!(code, VALIDATION, "{msg}");
    assert!(
        msg.contains("Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"),
        "{msg}"
    );
}

/// A document path below the top level in a key condition: DynamoDB's message, as
/// captured against it (ExtendDB pull request 195; ScyllaDB's tests, run against
/// DynamoDB, match "nested").
#[tokio::test]
async fn key_condition_on_a_nested_path_is_rejected() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "nst",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let mut f = Failures::new();
    for condition in [
        "pk = :p AND a.b < :v",
        "pk = :p AND sk[0] = :v",
        "pk.x = :p AND sk = :v",
        "pk = :p AND sk.x BETWEEN :v AND :v",
    ] {
        let result = client
            .query()
            .table_name("nst")
            .key_condition_expression(condition)
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":v", n("1"))
            .send()
            .await;
        f.check(check_err(
            condition,
            result,
            VALIDATION,
            Some(
                "Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions \
                 on nested attributes",
            ),
        ));
    }
    f.assert_none();
}

#[tokio::test]
async fn select_count_specific_attributes_and_projection() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "sel",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    for k in ["a", "b", "c", "d"] {
        put_ok(
            &client,
            "sel",
            item(&[
                ("pk", s("p")),
                ("sk", s(k)),
                ("x", s(&format!("x-{k}"))),
                ("y", n("1")),
                ("m", map(&[("in", s(k)), ("other2", s("o"))])),
            ]),
        )
        .await;
    }

    let out = client
        .query()
        .table_name("sel")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s("p"))
        .select(Select::Count)
        .send()
        .await
        .expect("Query Select COUNT");
    assert_eq!(out.count(), 4);
    assert_eq!(out.scanned_count(), 4);
    assert!(
        out.items().is_empty(),
        "COUNT returns no items: {:?}",
        out.items()
    );

    let out = client
        .query()
        .table_name("sel")
        .key_condition_expression("pk = :pk AND sk > :a")
        .filter_expression("y = :one")
        .expression_attribute_values(":pk", s("p"))
        .expression_attribute_values(":a", s("a"))
        .expression_attribute_values(":one", n("1"))
        .select(Select::Count)
        .send()
        .await
        .expect("Query Select COUNT with a filter");
    assert_eq!(out.count(), 3);

    let out = client
        .query()
        .table_name("sel")
        .key_condition_expression("pk = :pk AND sk = :b")
        .expression_attribute_values(":pk", s("p"))
        .expression_attribute_values(":b", s("b"))
        .select(Select::SpecificAttributes)
        .projection_expression("#x, m.#in")
        .expression_attribute_names("#x", "x")
        .expression_attribute_names("#in", "in")
        .send()
        .await
        .expect("Query Select SPECIFIC_ATTRIBUTES");
    assert_eq!(
        out.items().to_vec(),
        vec![item(&[("x", s("x-b")), ("m", map(&[("in", s("b"))]))])]
    );

    // ProjectionExpression without Select; the key is not added unless asked for.
    let out = client
        .query()
        .table_name("sel")
        .key_condition_expression("pk = :pk AND sk = :b")
        .expression_attribute_values(":pk", s("p"))
        .expression_attribute_values(":b", s("b"))
        .projection_expression("y, sk, nosuch")
        .send()
        .await
        .expect("Query with ProjectionExpression");
    assert_eq!(
        out.items().to_vec(),
        vec![item(&[("y", n("1")), ("sk", s("b"))])]
    );

    let out = client
        .query()
        .table_name("sel")
        .key_condition_expression("pk = :pk AND sk = :b")
        .expression_attribute_values(":pk", s("p"))
        .expression_attribute_values(":b", s("b"))
        .select(Select::AllAttributes)
        .send()
        .await
        .expect("Query Select ALL_ATTRIBUTES");
    assert_eq!(out.items().len(), 1);
    assert_eq!(out.items()[0].len(), 5);
}

#[tokio::test]
async fn get_item_projection_expression_with_nested_paths_and_names() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "proj", ("pk", ScalarAttributeType::S), None).await;
    put_ok(
        &client,
        "proj",
        item(&[
            ("pk", s("p")),
            ("a", map(&[("b", n("1")), ("c", n("2"))])),
            ("l", list(vec![s("x"), s("y"), s("z")])),
            ("name", s("reserved")),
            (
                "deep",
                map(&[(
                    "arr",
                    list(vec![
                        map(&[("v", n("1")), ("w", n("9"))]),
                        map(&[("v", n("2")), ("w", n("8"))]),
                    ]),
                )]),
            ),
            ("dotted.attr", s("dot")),
            ("skip", s("s")),
        ]),
    )
    .await;
    let out = client
        .get_item()
        .table_name("proj")
        .key("pk", s("p"))
        .projection_expression("a.c, l[2], l[0], #n, deep.arr[1].v, #d, nosuch, a.nosuch")
        .expression_attribute_names("#n", "name")
        .expression_attribute_names("#d", "dotted.attr")
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem with ProjectionExpression");
    // List elements keep their list order, whatever the order in the projection.
    let want = item(&[
        ("a", map(&[("c", n("2"))])),
        ("l", list(vec![s("x"), s("z")])),
        ("name", s("reserved")),
        ("deep", map(&[("arr", list(vec![map(&[("v", n("2"))])]))])),
        ("dotted.attr", s("dot")),
    ]);
    assert_eq!(out.item().cloned(), Some(want));

    // Projecting only attributes the item lacks gives an empty item, not an absent one.
    let out = client
        .get_item()
        .table_name("proj")
        .key("pk", s("p"))
        .projection_expression("nosuch")
        .send()
        .await
        .expect("GetItem projecting a missing attribute");
    assert!(out.item().is_none_or(|i| i.is_empty()), "{:?}", out.item());
}

#[tokio::test]
async fn invalid_key_conditions_are_rejected() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "kc_t",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let mut f = Failures::new();
    type Case<'a> = (&'a str, Vec<(&'a str, AttributeValue)>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "sk = :n",
            vec![(":n", n("1"))],
            Some("Query condition missed key schema element: pk"),
        ),
        ("pk > :s", vec![(":s", s("p"))], None),
        (
            "pk = :s OR sk = :n",
            vec![(":s", s("p")), (":n", n("1"))],
            None,
        ),
        (
            "pk = :s AND other2 = :n",
            vec![(":s", s("p")), (":n", n("1"))],
            None,
        ),
        (
            "pk = :s AND sk <> :n",
            vec![(":s", s("p")), (":n", n("1"))],
            None,
        ),
        (
            "pk = :s AND begins_with(sk, :n)",
            vec![(":s", s("p")), (":n", n("1"))],
            None,
        ),
        (
            "pk = :s AND sk > :n AND sk < :m",
            vec![(":s", s("p")), (":n", n("1")), (":m", n("5"))],
            None,
        ),
        (
            "pk = :s AND sk = :t",
            vec![(":s", s("p")), (":t", s("not-a-number"))],
            None,
        ),
    ];
    for (cond, values, msg) in cases {
        let mut req = client
            .query()
            .table_name("kc_t")
            .key_condition_expression(cond);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        f.check(check_err(cond, req.send().await, VALIDATION, msg));
    }
    f.assert_none();
}

#[tokio::test]
async fn pages_stop_near_one_megabyte() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "big",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    const ITEMS: usize = 25;
    const PAYLOAD: usize = 100_000;
    let payload = "x".repeat(PAYLOAD);
    for i in 0..ITEMS {
        put_ok(
            &client,
            "big",
            item(&[
                ("pk", s("p")),
                ("sk", n(&i.to_string())),
                ("data2", s(&payload)),
            ]),
        )
        .await;
    }
    let base = client
        .query()
        .table_name("big")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s("p"));
    let pages = all_pages(&base).await;
    let first = &pages[0];
    // 1 MB of ~100 KB items: about ten items, and a LastEvaluatedKey.
    let n_first = first.items().len();
    assert!(
        (9..=11).contains(&n_first),
        "first page has {n_first} items of ~100 KB; want the page to stop near 1 MB"
    );
    assert!(
        first.last_evaluated_key().is_some_and(|k| !k.is_empty()),
        "a page cut by the 1 MB limit must carry LastEvaluatedKey"
    );
    assert!(
        pages.len() >= 3,
        "2.5 MB needs at least 3 pages, got {}",
        pages.len()
    );
    let got: Vec<_> = pages.iter().flat_map(|p| sort_keys(p.items())).collect();
    let want: Vec<_> = (0..ITEMS).map(|i| n(&i.to_string())).collect();
    assert_eq!(got, want, "pages together return every item once, in order");

    // A filter that matches nothing still stops each page at 1 MB read.
    let filtered = client
        .query()
        .table_name("big")
        .key_condition_expression("pk = :pk")
        .filter_expression("attribute_not_exists(data2)")
        .expression_attribute_values(":pk", s("p"))
        .send()
        .await
        .expect("filtered Query over large items");
    assert_eq!(filtered.count(), 0);
    assert!(
        (9..=11).contains(&(filtered.scanned_count() as usize)),
        "ScannedCount {} for a filtered page of ~100 KB items",
        filtered.scanned_count()
    );
    assert!(filtered.last_evaluated_key().is_some_and(|k| !k.is_empty()));
}
