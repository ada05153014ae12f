//! Item operations: PutItem, GetItem, DeleteItem — every attribute type round-tripping,
//! number normalisation, ReturnValues, overwrite semantics, key types and sort keys.
//!
//! Expected values follow the DynamoDB API reference (PutItem, GetItem, DeleteItem,
//! AttributeValue) and dynalite's test-suite (checked against the real service), e.g. its
//! "should put really long numbers" and "should put multi attribute item" cases.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ScalarAttributeType};
use aws_sdk_dynamodb::Client;
use common::*;

type Item = HashMap<String, AttributeValue>;

async fn put(client: &Client, table: &str, it: &Item) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(it.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItem {it:?}: {e:?}"));
}

async fn get(client: &Client, table: &str, key: &[(&str, AttributeValue)]) -> Option<Item> {
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

fn all_types_item(pk: &str) -> Item {
    use AttributeValue as V;
    let nested_all = HashMap::from([
        ("s".to_owned(), s("nested")),
        ("n".to_owned(), n("-56.789")),
        ("b".to_owned(), b(b"b")),
        ("bool".to_owned(), V::Bool(true)),
        ("null".to_owned(), V::Null(true)),
        ("ss".to_owned(), V::Ss(vec!["a".into()])),
        ("ns".to_owned(), V::Ns(vec!["-56.789".into()])),
        (
            "bs".to_owned(),
            V::Bs(vec![aws_sdk_dynamodb::primitives::Blob::new(b"b".to_vec())]),
        ),
        ("l".to_owned(), V::L(vec![])),
        (
            "m".to_owned(),
            V::M(HashMap::from([
                ("a".to_owned(), V::M(HashMap::new())),
                ("b".to_owned(), V::L(vec![])),
            ])),
        ),
    ]);
    item(&[
        ("pk", s(pk)),
        ("str", s("héllo wörld ☃ 𝄞")),
        ("num", n("-56.789")),
        ("bin", b(&[0, 1, 2, 0xfe, 0xff])),
        ("t", V::Bool(true)),
        ("f", V::Bool(false)),
        ("nul", V::Null(true)),
        ("ss", V::Ss(vec!["z".into(), "a".into(), "ñ".into()])),
        ("ns", V::Ns(vec!["3".into(), "-1.5".into(), "100".into()])),
        (
            "bs",
            V::Bs(vec![
                aws_sdk_dynamodb::primitives::Blob::new(vec![1, 2]),
                aws_sdk_dynamodb::primitives::Blob::new(vec![0]),
                aws_sdk_dynamodb::primitives::Blob::new(vec![255]),
            ]),
        ),
        (
            "list",
            V::L(vec![
                s("a"),
                n("1"),
                b(b"x"),
                V::Bool(false),
                V::Null(true),
                V::Ss(vec!["q".into()]),
                V::Ns(vec!["7".into()]),
                V::Bs(vec![aws_sdk_dynamodb::primitives::Blob::new(vec![9])]),
                V::L(vec![V::L(vec![n("2")])]),
                V::M(HashMap::new()),
            ]),
        ),
        ("map", V::M(nested_all)),
        // Since 2020, empty strings and binaries are allowed outside keys.
        ("empty_s", s("")),
        ("empty_b", b(&[])),
        ("empty_l", V::L(vec![])),
        ("empty_m", V::M(HashMap::new())),
    ])
}

#[tokio::test]
async fn all_ten_attribute_types_round_trip() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "types", ("pk", ScalarAttributeType::S), None).await;

    let it = all_types_item("every-type");
    put(&client, "types", &it).await;
    let got = get(&client, "types", &[("pk", s("every-type"))])
        .await
        .expect("item should exist");
    assert_eq!(canonical_item(&got), canonical_item(&it));

    // Eventually consistent GetItem (the default) returns the same item on a single node.
    let got2 = client
        .get_item()
        .table_name("types")
        .key("pk", s("every-type"))
        .send()
        .await
        .expect("GetItem")
        .item()
        .cloned()
        .expect("item should exist");
    assert_eq!(canonical_item(&got2), canonical_item(&it));
}

#[tokio::test]
async fn numbers_are_normalised_on_output() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "nums", ("pk", ScalarAttributeType::S), None).await;

    // (input, DynamoDB's canonical output)
    let max_in = "0009.99999999999999999999999999999999999990000e125";
    let max_out = format!("{}{}", "9".repeat(38), "0".repeat(88));
    let min_out = format!("0.{}1", "0".repeat(129));
    let cases: Vec<(&str, String)> = vec![
        ("01.50", "1.5".into()),
        ("1.0", "1".into()),
        ("-0.5e1", "-5".into()),
        ("1e2", "100".into()),
        ("0.000", "0".into()),
        (
            "0000012345678901234567890123456789012345678",
            "12345678901234567890123456789012345678".into(),
        ),
        (
            "-00001.23456789012345678901234567890123456780000",
            "-1.2345678901234567890123456789012345678".into(),
        ),
        (max_in, max_out.clone()),
        (
            "-0009.99999999999999999999999999999999999990000e125",
            format!("-{max_out}"),
        ),
        ("0001.000e-130", min_out.clone()),
        ("-0001.000e-130", format!("-{min_out}")),
    ];

    let mut f = Failures::new();
    for (i, (input, want)) in cases.iter().enumerate() {
        let pk = format!("n{i}");
        let put_res = client
            .put_item()
            .table_name("nums")
            .item("pk", s(&pk))
            .item("v", n(input))
            .item("in_list", AttributeValue::L(vec![n(input)]))
            .item(
                "in_map",
                AttributeValue::M(HashMap::from([("x".to_owned(), n(input))])),
            )
            .send()
            .await;
        if let Err(e) = put_res {
            f.push(format!("PutItem N={input:?} should succeed: {e:?}"));
            continue;
        }
        let got = get(&client, "nums", &[("pk", s(&pk))])
            .await
            .unwrap_or_default();
        let want_item = item(&[
            ("pk", s(&pk)),
            ("v", n(want)),
            ("in_list", AttributeValue::L(vec![n(want)])),
            (
                "in_map",
                AttributeValue::M(HashMap::from([("x".to_owned(), n(want))])),
            ),
        ]);
        if got != want_item {
            f.push(format!(
                "N {input:?} should come back as {want:?}; got item {got:?}"
            ));
        }
    }

    // Number sets are normalised too.
    put(
        &client,
        "nums",
        &item(&[
            ("pk", s("set")),
            (
                "ns",
                AttributeValue::Ns(vec!["01.50".into(), "2e1".into(), "-0.10".into()]),
            ),
        ]),
    )
    .await;
    let got = get(&client, "nums", &[("pk", s("set"))])
        .await
        .unwrap_or_default();
    let want = item(&[
        ("pk", s("set")),
        (
            "ns",
            AttributeValue::Ns(vec!["1.5".into(), "20".into(), "-0.1".into()]),
        ),
    ]);
    if canonical_item(&got) != canonical_item(&want) {
        f.push(format!("NS should be normalised to {want:?}; got {got:?}"));
    }
    f.assert_none();
}

#[tokio::test]
async fn number_keys_are_compared_by_value() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "numkey", ("id", ScalarAttributeType::N), None).await;

    put(
        &client,
        "numkey",
        &item(&[("id", n("01.50")), ("v", s("first"))]),
    )
    .await;
    // The same number written differently addresses the same item.
    let got = get(&client, "numkey", &[("id", n("1.5"))]).await;
    assert_eq!(
        got,
        Some(item(&[("id", n("1.5")), ("v", s("first"))])),
        "key 01.50 should be stored as 1.5 and found by 1.5"
    );
    put(
        &client,
        "numkey",
        &item(&[("id", n("15e-1")), ("v", s("second"))]),
    )
    .await;
    let got = get(&client, "numkey", &[("id", n("1.500"))]).await;
    assert_eq!(got, Some(item(&[("id", n("1.5")), ("v", s("second"))])));
    // A different number is a different item.
    assert_eq!(get(&client, "numkey", &[("id", n("1.51"))]).await, None);
    assert_eq!(get(&client, "numkey", &[("id", n("-1.5"))]).await, None);
}

#[tokio::test]
async fn put_with_return_values_all_old_and_overwrite_semantics() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "rvt", ("pk", ScalarAttributeType::S), None).await;

    let first = item(&[("pk", s("k")), ("a", s("1")), ("b", n("01.0"))]);
    let out = client
        .put_item()
        .table_name("rvt")
        .set_item(Some(first.clone()))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("PutItem ALL_OLD on a new item");
    assert_eq!(
        out.attributes(),
        None,
        "ALL_OLD on a new item returns no Attributes"
    );

    // Overwrite with a different attribute set: Put replaces the whole item.
    let second = item(&[("pk", s("k")), ("c", AttributeValue::Bool(true))]);
    let out = client
        .put_item()
        .table_name("rvt")
        .set_item(Some(second.clone()))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("PutItem ALL_OLD overwrite");
    assert_eq!(
        out.attributes(),
        Some(&item(&[("pk", s("k")), ("a", s("1")), ("b", n("1"))])),
        "ALL_OLD returns the whole previous item (numbers normalised)"
    );
    assert_eq!(
        get(&client, "rvt", &[("pk", s("k"))]).await,
        Some(second.clone())
    );

    // ReturnValues NONE (explicit and default) returns no Attributes.
    let out = client
        .put_item()
        .table_name("rvt")
        .set_item(Some(first.clone()))
        .return_values(ReturnValue::None)
        .send()
        .await
        .expect("PutItem NONE");
    assert_eq!(out.attributes(), None);
    let out = client
        .put_item()
        .table_name("rvt")
        .set_item(Some(second.clone()))
        .send()
        .await
        .expect("PutItem default ReturnValues");
    assert_eq!(out.attributes(), None);
    assert_eq!(get(&client, "rvt", &[("pk", s("k"))]).await, Some(second));
}

#[tokio::test]
async fn delete_item_with_return_values() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "del", ("pk", ScalarAttributeType::S), None).await;

    let it = item(&[
        ("pk", s("gone")),
        ("x", n("3")),
        ("ss", AttributeValue::Ss(vec!["p".into()])),
    ]);
    put(&client, "del", &it).await;

    let out = client
        .delete_item()
        .table_name("del")
        .key("pk", s("gone"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("DeleteItem ALL_OLD");
    assert_eq!(
        out.attributes(),
        Some(&it),
        "ALL_OLD returns the deleted item"
    );
    assert_eq!(get(&client, "del", &[("pk", s("gone"))]).await, None);

    // Deleting a missing item succeeds and returns nothing.
    let out = client
        .delete_item()
        .table_name("del")
        .key("pk", s("gone"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("DeleteItem of a missing item");
    assert_eq!(out.attributes(), None);

    put(&client, "del", &it).await;
    let out = client
        .delete_item()
        .table_name("del")
        .key("pk", s("gone"))
        .send()
        .await
        .expect("DeleteItem default ReturnValues");
    assert_eq!(
        out.attributes(),
        None,
        "ReturnValues NONE returns no Attributes"
    );
    assert_eq!(get(&client, "del", &[("pk", s("gone"))]).await, None);

    // Other items are untouched.
    put(&client, "del", &item(&[("pk", s("stay"))])).await;
    client
        .delete_item()
        .table_name("del")
        .key("pk", s("other"))
        .send()
        .await
        .expect("DeleteItem other");
    assert_eq!(
        get(&client, "del", &[("pk", s("stay"))]).await,
        Some(item(&[("pk", s("stay"))]))
    );
}

#[tokio::test]
async fn get_item_of_missing_item_returns_no_item() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "sparse",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let out = client
        .get_item()
        .table_name("sparse")
        .key("pk", s("nobody"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("GetItem missing");
    assert!(
        out.item().is_none(),
        "no Item for a missing key: {:?}",
        out.item()
    );

    put(&client, "sparse", &item(&[("pk", s("a")), ("sk", n("1"))])).await;
    // Same partition key, different sort key: still missing.
    assert_eq!(
        get(&client, "sparse", &[("pk", s("a")), ("sk", n("2"))]).await,
        None
    );
    assert!(get(&client, "sparse", &[("pk", s("a")), ("sk", n("1"))])
        .await
        .is_some());
}

#[tokio::test]
async fn string_number_and_binary_keys() {
    let server = TestServer::start_with(&["--partitions-per-table", "4"]);
    let client = server.client();
    create_table(&client, "k-s", ("k", ScalarAttributeType::S), None).await;
    create_table(&client, "k-n", ("k", ScalarAttributeType::N), None).await;
    create_table(&client, "k-b", ("k", ScalarAttributeType::B), None).await;

    // Keys in DynamoDB's canonical number form (1e100 and -1e-100), so items compare equal.
    let big = format!("1{}", "0".repeat(100));
    let tiny = format!("-0.{}1", "0".repeat(99));
    let keys: Vec<(&str, Vec<AttributeValue>)> = vec![
        (
            "k-s",
            vec![
                s("a"),
                s("A"),
                s("a "),
                s("ü"),
                s("0"),
                s(&"x".repeat(2048)),
            ],
        ),
        (
            "k-n",
            vec![
                n("0"),
                n("-1"),
                n("1"),
                n(&big),
                n(&tiny),
                n("12345678901234567890123456789012345678"),
            ],
        ),
        (
            "k-b",
            vec![b(&[0]), b(&[0, 0]), b(&[255]), b(b"a"), b(&[1; 2048])],
        ),
    ];
    for (table, ks) in &keys {
        for (i, k) in ks.iter().enumerate() {
            put(
                &client,
                table,
                &item(&[("k", k.clone()), ("i", n(&i.to_string()))]),
            )
            .await;
        }
        for (i, k) in ks.iter().enumerate() {
            let got = get(&client, table, &[("k", k.clone())]).await;
            assert_eq!(
                got,
                Some(item(&[("k", k.clone()), ("i", n(&i.to_string()))])),
                "{table}: key #{i} should map to its own item"
            );
        }
    }
}

#[tokio::test]
async fn sort_keys_make_distinct_items_within_a_partition() {
    let server = TestServer::start_with(&["--partitions-per-table", "2"]);
    let client = server.client();
    create_table(
        &client,
        "sorted-n",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    create_table(
        &client,
        "sorted-b",
        ("pk", ScalarAttributeType::N),
        Some(("sk", ScalarAttributeType::B)),
    )
    .await;
    create_table(
        &client,
        "sorted-s",
        ("pk", ScalarAttributeType::B),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;

    let cases: Vec<(&str, AttributeValue, Vec<AttributeValue>)> = vec![
        (
            "sorted-n",
            s("p"),
            vec![n("-10"), n("-1"), n("0"), n("1"), n("2"), n("10"), n("1.5")],
        ),
        (
            "sorted-b",
            n("7"),
            vec![b(&[0]), b(&[1]), b(&[0, 1]), b(&[255])],
        ),
        (
            "sorted-s",
            b(&[1, 2]),
            vec![s("a"), s("b"), s("B"), s("ab"), s(&"z".repeat(1024))],
        ),
    ];
    for (table, pk, sks) in &cases {
        for (i, sk) in sks.iter().enumerate() {
            put(
                &client,
                table,
                &item(&[
                    ("pk", pk.clone()),
                    ("sk", sk.clone()),
                    ("i", n(&i.to_string())),
                ]),
            )
            .await;
        }
        for (i, sk) in sks.iter().enumerate() {
            assert_eq!(
                get(&client, table, &[("pk", pk.clone()), ("sk", sk.clone())]).await,
                Some(item(&[
                    ("pk", pk.clone()),
                    ("sk", sk.clone()),
                    ("i", n(&i.to_string()))
                ])),
                "{table}: sort key #{i}"
            );
        }
        // Deleting one sort key leaves the others.
        client
            .delete_item()
            .table_name(*table)
            .key("pk", pk.clone())
            .key("sk", sks[0].clone())
            .send()
            .await
            .expect("DeleteItem");
        assert_eq!(
            get(
                &client,
                table,
                &[("pk", pk.clone()), ("sk", sks[0].clone())]
            )
            .await,
            None
        );
        for sk in &sks[1..] {
            assert!(
                get(&client, table, &[("pk", pk.clone()), ("sk", sk.clone())])
                    .await
                    .is_some(),
                "{table}: deleting one sort key removed another"
            );
        }
    }
}

#[tokio::test]
async fn item_of_exactly_400_kb_round_trips() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "big", ("a", ScalarAttributeType::S), None).await;
    // Item size = sum over attributes of (UTF-8 name length + value size).
    // "a" + "key" = 4 bytes; "b" + value = 1 + len. Total 409600 = 400 KB, the maximum.
    let value = "v".repeat(409_600 - 4 - 1);
    let it = item(&[("a", s("key")), ("b", s(&value))]);
    put(&client, "big", &it).await;
    assert_eq!(get(&client, "big", &[("a", s("key"))]).await, Some(it));
}
