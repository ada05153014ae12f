//! Set elements (SS, NS, BS) come back in DynamoDB Local's order — sorted, strings and
//! binaries by their bytes, numbers numerically — wherever an item is returned, after
//! ADD and DELETE, and for sets stored before this order existed; set semantics (no
//! duplicates, equality regardless of order) hold everywhere.

mod common;

use aws_sdk_dynamodb::types::ScalarAttributeType::S;
use aws_sdk_dynamodb::types::{AttributeValue, AttributeValueUpdate, ReturnValue};
use cirrus_storage::codec::{decode_item, encode_item};
use cirrus_storage::engine::{StoredItem, CF_ITEMS};
use cirrus_storage::size::item_size;
use common::*;

fn strings(v: &AttributeValue) -> Vec<String> {
    match v {
        AttributeValue::Ss(x) | AttributeValue::Ns(x) => x.clone(),
        other => panic!("not a string or number set: {other:?}"),
    }
}

fn binaries(v: &AttributeValue) -> Vec<Vec<u8>> {
    match v {
        AttributeValue::Bs(x) => x.iter().map(|b| b.as_ref().to_vec()).collect(),
        other => panic!("not a binary set: {other:?}"),
    }
}

/// The sets every test writes, each in an order that is not the canonical one.
fn unsorted_sets() -> Attrs {
    item(&[
        (
            "ss",
            ss(&["pear", "apple", "Banana", "éclair", "apple pie", ""]),
        ),
        ("ns", ns(&["10", "-2", "3.5", "0", "-10.5", "1e2", "0.001"])),
        ("bs", bs(&[&[0xff], &[0x01, 0x02], &[0x01], &[0x80], &[]])),
        (
            "nested",
            map(&[
                ("inner", ss(&["z", "y", "x"])),
                ("list", list(vec![ns(&["3", "2", "1"])])),
            ]),
        ),
    ])
}

/// Checks that the sets of `unsorted_sets()` came back sorted.
fn assert_sorted(what: &str, got: &Attrs) {
    assert_eq!(
        strings(&got["ss"]),
        ["", "Banana", "apple", "apple pie", "pear", "éclair"],
        "{what}: SS by UTF-8 bytes"
    );
    assert_eq!(
        strings(&got["ns"]),
        ["-10.5", "-2", "0", "0.001", "3.5", "10", "100"],
        "{what}: NS numerically"
    );
    assert_eq!(
        binaries(&got["bs"]),
        [vec![], vec![0x01], vec![0x01, 0x02], vec![0x80], vec![0xff]],
        "{what}: BS by unsigned bytes"
    );
    let AttributeValue::M(nested) = &got["nested"] else {
        panic!("{what}: nested is not a map: {got:?}");
    };
    assert_eq!(
        strings(&nested["inner"]),
        ["x", "y", "z"],
        "{what}: nested SS"
    );
    let AttributeValue::L(inner_list) = &nested["list"] else {
        panic!("{what}: nested list is not a list");
    };
    assert_eq!(
        strings(&inner_list[0]),
        ["1", "2", "3"],
        "{what}: NS in a list"
    );
}

#[tokio::test]
async fn every_read_returns_sets_sorted() {
    let server = TestServer::start();
    let client = server.client();
    let table = "sets_read";
    create_table(&client, table, ("pk", S), Some(("sk", S))).await;
    let mut written = unsorted_sets();
    written.insert("pk".into(), s("p"));
    written.insert("sk".into(), s("1"));
    let old = client
        .put_item()
        .table_name(table)
        .set_item(Some(written.clone()))
        .send()
        .await
        .expect("PutItem");
    assert!(old.attributes().is_none());
    let key = item(&[("pk", s("p")), ("sk", s("1"))]);

    let got = get_consistent(&client, table, key.clone())
        .await
        .expect("item");
    assert_sorted("GetItem", &got);

    let query = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .send()
        .await
        .expect("Query");
    assert_sorted("Query", &query.items()[0]);

    let scanned = scan_everything(&client, table).await;
    assert_sorted("Scan", &scanned[0]);

    let batch = client
        .batch_get_item()
        .request_items(
            table,
            aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .keys(key.clone())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("BatchGetItem");
    assert_sorted("BatchGetItem", &batch.responses().unwrap()[table][0]);

    // A put over the item returns the old one, sorted too.
    let replaced = client
        .put_item()
        .table_name(table)
        .set_item(Some(written))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("PutItem ALL_OLD");
    assert_sorted("PutItem ALL_OLD", replaced.attributes().unwrap());
}

#[tokio::test]
async fn add_and_delete_keep_sets_sorted() {
    let server = TestServer::start();
    let client = server.client();
    let table = "sets_update";
    create_table(&client, table, ("pk", S), None).await;
    put_ok(
        &client,
        table,
        item(&[
            ("pk", s("p")),
            ("ss", ss(&["m", "c"])),
            ("ns", ns(&["5", "1"])),
            ("bs", bs(&[&[9], &[3]])),
        ]),
    )
    .await;
    let key = item(&[("pk", s("p"))]);
    let added = client
        .update_item()
        .table_name(table)
        .set_key(Some(key.clone()))
        .update_expression("ADD ss :ss, ns :ns, bs :bs, fresh :fresh")
        .expression_attribute_values(":ss", ss(&["z", "a", "m"]))
        .expression_attribute_values(":ns", ns(&["-1", "3", "5.0", "100"]))
        .expression_attribute_values(":bs", bs(&[&[0xf0], &[0]]))
        .expression_attribute_values(":fresh", ss(&["y", "b"]))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("UpdateItem ADD");
    let new = added.attributes().unwrap();
    assert_eq!(strings(&new["ss"]), ["a", "c", "m", "z"]);
    assert_eq!(strings(&new["ns"]), ["-1", "1", "3", "5", "100"]);
    assert_eq!(
        binaries(&new["bs"]),
        [vec![0], vec![3], vec![9], vec![0xf0]]
    );
    assert_eq!(strings(&new["fresh"]), ["b", "y"]);

    let deleted = client
        .update_item()
        .table_name(table)
        .set_key(Some(key.clone()))
        .update_expression("DELETE ss :ss, ns :ns")
        .expression_attribute_values(":ss", ss(&["m", "q"]))
        .expression_attribute_values(":ns", ns(&["3"]))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .expect("UpdateItem DELETE");
    let new = deleted.attributes().unwrap();
    assert_eq!(strings(&new["ss"]), ["a", "c", "z"]);
    assert_eq!(strings(&new["ns"]), ["-1", "1", "5", "100"]);

    // The legacy AttributeUpdates ADD goes through the same path.
    client
        .update_item()
        .table_name(table)
        .set_key(Some(key.clone()))
        .attribute_updates(
            "ss",
            AttributeValueUpdate::builder()
                .action(aws_sdk_dynamodb::types::AttributeAction::Add)
                .value(ss(&["b", "zz"]))
                .build(),
        )
        .send()
        .await
        .expect("UpdateItem AttributeUpdates ADD");
    let got = get_consistent(&client, table, key).await.unwrap();
    assert_eq!(strings(&got["ss"]), ["a", "b", "c", "z", "zz"]);
}

#[tokio::test]
async fn set_semantics_do_not_depend_on_order() {
    let server = TestServer::start();
    let client = server.client();
    let table = "sets_semantics";
    create_table(&client, table, ("pk", S), None).await;
    put_ok(
        &client,
        table,
        item(&[
            ("pk", s("p")),
            ("ss", ss(&["b", "a", "c"])),
            ("ns", ns(&["2", "1"])),
        ]),
    )
    .await;
    // Equality is set equality, whatever order either side was written in.
    client
        .update_item()
        .table_name(table)
        .key("pk", s("p"))
        .update_expression("SET matched = :t")
        .condition_expression("ss = :same AND ns = :nums AND contains(ss, :b)")
        .expression_attribute_values(":same", ss(&["c", "a", "b"]))
        .expression_attribute_values(":nums", ns(&["1.0", "2"]))
        .expression_attribute_values(":b", s("b"))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .expect("condition on sets in another order holds");
    let (code, _) = expect_err(
        "different sets",
        client
            .update_item()
            .table_name(table)
            .key("pk", s("p"))
            .update_expression("SET matched = :t")
            .condition_expression("ss = :other")
            .expression_attribute_values(":other", ss(&["a", "b"]))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await,
    );
    assert_eq!(code, "ConditionalCheckFailedException");

    // Duplicates are still refused, with the members listed as they were sent.
    let (code, message) = expect_err(
        "duplicate strings",
        client
            .put_item()
            .table_name(table)
            .item("pk", s("q"))
            .item("ss", ss(&["b", "a", "b"]))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "One or more parameter values were invalid: Input collection [b, a, b] contains duplicates."
    );
    let (_, message) = expect_err(
        "numerically equal numbers",
        client
            .put_item()
            .table_name(table)
            .item("pk", s("q"))
            .item("ns", ns(&["1", "2", "1.00"]))
            .send()
            .await,
    );
    assert_eq!(message, "Input collection contains duplicates");
}

#[tokio::test]
async fn sets_stored_in_insertion_order_come_back_sorted() {
    let mut server = TestServer::start();
    let client = server.client();
    let table = "sets_old_data";
    create_table(&client, table, ("pk", S), None).await;
    put_ok(
        &client,
        table,
        item(&[
            ("pk", s("p")),
            ("ss", ss(&["a", "b", "c"])),
            ("ns", ns(&["1", "2"])),
        ]),
    )
    .await;
    server.stop_graceful();

    // Rewrite the stored item as a server that kept insertion order would have.
    {
        let engine = stored::open(server.data_dir());
        let mut rows = Vec::new();
        engine
            .scan(CF_ITEMS, &[], &[0xff; 8], |key, value| {
                rows.push((key.to_vec(), value.to_vec()));
                Ok(true)
            })
            .expect("scan items");
        assert_eq!(rows.len(), 1, "one item stored");
        let (key, value) = &rows[0];
        let mut stored = decode_item(StoredItem::codec_bytes(value).unwrap()).unwrap();
        stored.insert(
            "ss".into(),
            cirrus_storage::AttributeValue::Ss(vec!["c".into(), "a".into(), "b".into()]),
        );
        stored.insert(
            "ns".into(),
            cirrus_storage::AttributeValue::Ns(vec![
                cirrus_storage::Number::parse("2").unwrap(),
                cirrus_storage::Number::parse("1").unwrap(),
            ]),
        );
        let mut codec_bytes = Vec::new();
        encode_item(&stored, &mut codec_bytes);
        let size = u32::try_from(item_size(&stored)).unwrap();
        engine
            .put(CF_ITEMS, key, &StoredItem::encode(size, &codec_bytes))
            .expect("rewrite the item");
    }
    server.start_again();
    let client = server.client();
    let key = item(&[("pk", s("p"))]);
    let got = get_consistent(&client, table, key.clone()).await.unwrap();
    assert_eq!(strings(&got["ss"]), ["a", "b", "c"]);
    assert_eq!(strings(&got["ns"]), ["1", "2"]);

    let added = client
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression("ADD ss :more DELETE ns :one")
        .expression_attribute_values(":more", ss(&["d", "0"]))
        .expression_attribute_values(":one", ns(&["1"]))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("UpdateItem on old data");
    let new = added.attributes().unwrap();
    assert_eq!(strings(&new["ss"]), ["0", "a", "b", "c", "d"]);
    assert_eq!(strings(&new["ns"]), ["2"]);
}
