//! BatchWriteItem and BatchGetItem: puts and deletes across tables, per-table projections and
//! ConsistentRead, missing keys simply absent, and the request limits (25 writes, 100 keys)
//! and duplicate-key rejection.
//!
//! Expected behaviour follows the BatchWriteItem and BatchGetItem API references ("There are
//! more than 25 requests in the batch", "Your request contains at least two items with
//! identical hash and range keys (which essentially is two put operations)", "If you request
//! more than 100 items, BatchGetItem returns a ValidationException with the message \"Too
//! many items requested for the BatchGetItem call.\"") and dynalite's test/batchGetItem.js and
//! test/batchWriteItem.js ("Provided list of item keys contains duplicates").

mod common;

use aws_sdk_dynamodb::types::{
    DeleteRequest, KeysAndAttributes, PutRequest, ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";
const DUPLICATES: &str = "Provided list of item keys contains duplicates";

fn put_req(it: Attrs) -> WriteRequest {
    WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(it)).build().unwrap())
        .build()
}

fn del_req(key: Attrs) -> WriteRequest {
    WriteRequest::builder()
        .delete_request(DeleteRequest::builder().set_key(Some(key)).build().unwrap())
        .build()
}

fn keys_and_attrs(keys: Vec<Attrs>) -> KeysAndAttributes {
    KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .build()
        .unwrap()
}

async fn two_tables(client: &Client) {
    create_table(client, "one", ("pk", ScalarAttributeType::S), None).await;
    create_table(
        client,
        "two",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
}

#[tokio::test]
async fn batch_write_puts_and_deletes_across_two_tables() {
    let server = TestServer::start();
    let client = server.client();
    two_tables(&client).await;
    put_ok(&client, "one", item(&[("pk", s("old1")), ("v", n("1"))])).await;
    put_ok(
        &client,
        "one",
        item(&[("pk", s("replaced")), ("v", n("1"))]),
    )
    .await;
    put_ok(&client, "two", item(&[("pk", s("old2")), ("sk", n("1"))])).await;
    put_ok(&client, "two", item(&[("pk", s("old2")), ("sk", n("2"))])).await;

    let out = client
        .batch_write_item()
        .request_items(
            "one",
            vec![
                put_req(item(&[("pk", s("a")), ("v", n("1"))])),
                put_req(item(&[("pk", s("b")), ("l", list(vec![s("x")]))])),
                put_req(item(&[("pk", s("replaced")), ("w", n("2"))])),
                del_req(item(&[("pk", s("old1"))])),
                del_req(item(&[("pk", s("never-existed"))])),
            ],
        )
        .request_items(
            "two",
            vec![
                put_req(item(&[("pk", s("new")), ("sk", n("1")), ("x", s("y"))])),
                del_req(item(&[("pk", s("old2")), ("sk", n("1"))])),
            ],
        )
        .send()
        .await
        .expect("BatchWriteItem");
    assert!(
        out.unprocessed_items().is_none_or(|u| u.is_empty()),
        "UnprocessedItems: {:?}",
        out.unprocessed_items()
    );

    let one = |k: &str| item(&[("pk", s(k))]);
    assert_eq!(
        get_consistent(&client, "one", one("a")).await,
        Some(item(&[("pk", s("a")), ("v", n("1"))]))
    );
    assert_eq!(
        get_consistent(&client, "one", one("b")).await,
        Some(item(&[("pk", s("b")), ("l", list(vec![s("x")]))]))
    );
    assert_eq!(
        get_consistent(&client, "one", one("replaced")).await,
        Some(item(&[("pk", s("replaced")), ("w", n("2"))])),
        "a batch put replaces the whole item"
    );
    assert_eq!(get_consistent(&client, "one", one("old1")).await, None);
    assert_eq!(
        get_consistent(&client, "one", one("never-existed")).await,
        None
    );
    assert_eq!(
        get_consistent(&client, "two", item(&[("pk", s("new")), ("sk", n("1"))])).await,
        Some(item(&[("pk", s("new")), ("sk", n("1")), ("x", s("y"))]))
    );
    assert_eq!(
        get_consistent(&client, "two", item(&[("pk", s("old2")), ("sk", n("1"))])).await,
        None
    );
    assert!(
        get_consistent(&client, "two", item(&[("pk", s("old2")), ("sk", n("2"))]))
            .await
            .is_some(),
        "an item not named in the batch was deleted"
    );
}

#[tokio::test]
async fn batch_write_limits_and_duplicates() {
    let server = TestServer::start();
    let client = server.client();
    two_tables(&client).await;
    let mut f = Failures::new();

    // 25 requests are fine (split over two tables or not).
    let ok25: Vec<_> = (0..25)
        .map(|i| put_req(item(&[("pk", s(&format!("ok{i}")))])))
        .collect();
    if let Err(e) = client
        .batch_write_item()
        .request_items("one", ok25)
        .send()
        .await
    {
        f.push(format!("25 requests rejected: {e:?}"));
    }

    // 26 requests in one table.
    let reqs: Vec<_> = (0..26)
        .map(|i| put_req(item(&[("pk", s(&format!("x{i}")))])))
        .collect();
    f.check(check_err(
        "BatchWriteItem with 26 requests",
        client
            .batch_write_item()
            .request_items("one", reqs)
            .send()
            .await,
        VALIDATION,
        Some("Member must have length less than or equal to 25"),
    ));
    // 26 requests over two tables.
    let a: Vec<_> = (0..13)
        .map(|i| put_req(item(&[("pk", s(&format!("y{i}")))])))
        .collect();
    let b2: Vec<_> = (0..13)
        .map(|i| put_req(item(&[("pk", s("y")), ("sk", n(&i.to_string()))])))
        .collect();
    f.check(check_err(
        "BatchWriteItem with 13 + 13 requests",
        client
            .batch_write_item()
            .request_items("one", a)
            .request_items("two", b2)
            .send()
            .await,
        VALIDATION,
        None,
    ));

    // The same key twice: two puts, a put and a delete, two deletes.
    let dup_cases: Vec<(&str, Vec<WriteRequest>)> = vec![
        (
            "two puts of one key",
            vec![
                put_req(item(&[("pk", s("d")), ("v", n("1"))])),
                put_req(item(&[("pk", s("d")), ("v", n("2"))])),
            ],
        ),
        (
            "a put and a delete of one key",
            vec![
                put_req(item(&[("pk", s("d"))])),
                del_req(item(&[("pk", s("d"))])),
            ],
        ),
        (
            "two deletes of one key",
            vec![
                del_req(item(&[("pk", s("ok1"))])),
                del_req(item(&[("pk", s("ok1"))])),
            ],
        ),
    ];
    for (what, reqs) in dup_cases {
        f.check(check_err(
            what,
            client
                .batch_write_item()
                .request_items("one", reqs)
                .send()
                .await,
            VALIDATION,
            Some(DUPLICATES),
        ));
    }
    // Same hash key with different range keys is not a duplicate.
    if let Err(e) = client
        .batch_write_item()
        .request_items(
            "two",
            vec![
                put_req(item(&[("pk", s("same")), ("sk", n("1"))])),
                put_req(item(&[("pk", s("same")), ("sk", n("2"))])),
            ],
        )
        .send()
        .await
    {
        f.push(format!("distinct range keys rejected: {e:?}"));
    }

    // Rejected batches wrote nothing.
    for k in ["x0", "y0", "d"] {
        if let Some(it) = get_consistent(&client, "one", item(&[("pk", s(k))])).await {
            f.push(format!("a rejected batch wrote {it:?}"));
        }
    }
    if get_consistent(&client, "one", item(&[("pk", s("ok1"))]))
        .await
        .is_none()
    {
        f.push("a rejected batch deleted ok1");
    }

    // A missing table.
    f.check(check_err(
        "BatchWriteItem to a missing table",
        client
            .batch_write_item()
            .request_items("nosuchtable", vec![put_req(item(&[("pk", s("z"))]))])
            .send()
            .await,
        "ResourceNotFoundException",
        None,
    ));
    f.assert_none();
}

#[tokio::test]
async fn batch_get_across_tables_with_projections() {
    let server = TestServer::start();
    let client = server.client();
    two_tables(&client).await;
    for i in 0..5 {
        put_ok(
            &client,
            "one",
            item(&[
                ("pk", s(&format!("k{i}"))),
                ("a", n(&i.to_string())),
                ("m", map(&[("x", s("mx")), ("y", s("my"))])),
                ("name", s("nm")),
            ]),
        )
        .await;
        put_ok(
            &client,
            "two",
            item(&[("pk", s("p")), ("sk", n(&i.to_string())), ("b", s("bee"))]),
        )
        .await;
    }

    let out = client
        .batch_get_item()
        .request_items(
            "one",
            KeysAndAttributes::builder()
                .keys(item(&[("pk", s("k1"))]))
                .keys(item(&[("pk", s("k3"))]))
                .keys(item(&[("pk", s("missing-key"))]))
                .projection_expression("a, m.x, #n")
                .expression_attribute_names("#n", "name")
                .consistent_read(true)
                .build()
                .unwrap(),
        )
        .request_items(
            "two",
            keys_and_attrs(vec![
                item(&[("pk", s("p")), ("sk", n("0"))]),
                item(&[("pk", s("p")), ("sk", n("4"))]),
                item(&[("pk", s("p")), ("sk", n("99"))]),
            ]),
        )
        .send()
        .await
        .expect("BatchGetItem");
    assert!(
        out.unprocessed_keys().is_none_or(|u| u.is_empty()),
        "UnprocessedKeys: {:?}",
        out.unprocessed_keys()
    );
    let responses = out.responses().cloned().unwrap_or_default();
    let mut one: Vec<Attrs> = responses.get("one").cloned().unwrap_or_default();
    one.sort_by_key(|i| format!("{:?}", i.get("a")));
    assert_eq!(
        one,
        vec![
            item(&[
                ("a", n("1")),
                ("m", map(&[("x", s("mx"))])),
                ("name", s("nm"))
            ]),
            item(&[
                ("a", n("3")),
                ("m", map(&[("x", s("mx"))])),
                ("name", s("nm"))
            ]),
        ],
        "table one: projected items, missing key absent"
    );
    let mut two: Vec<Attrs> = responses.get("two").cloned().unwrap_or_default();
    two.sort_by_key(|i| format!("{:?}", i.get("sk")));
    assert_eq!(
        two,
        vec![
            item(&[("pk", s("p")), ("sk", n("0")), ("b", s("bee"))]),
            item(&[("pk", s("p")), ("sk", n("4")), ("b", s("bee"))]),
        ],
        "table two: whole items, missing key absent"
    );

    // Only missing keys: the table's response is empty (or absent), not an error.
    let out = client
        .batch_get_item()
        .request_items("one", keys_and_attrs(vec![item(&[("pk", s("nope"))])]))
        .send()
        .await
        .expect("BatchGetItem of a missing key");
    let got = out
        .responses()
        .and_then(|r| r.get("one"))
        .cloned()
        .unwrap_or_default();
    assert!(got.is_empty(), "{got:?}");
}

#[tokio::test]
async fn batch_get_limits_and_duplicates() {
    let server = TestServer::start();
    let client = server.client();
    two_tables(&client).await;
    let mut f = Failures::new();
    let hk = |i: usize| item(&[("pk", s(&format!("k{i}")))]);
    let rk = |i: usize| item(&[("pk", s("p")), ("sk", n(&i.to_string()))]);

    // Exactly 100 keys is allowed.
    match client
        .batch_get_item()
        .request_items("one", keys_and_attrs((0..60).map(hk).collect()))
        .request_items("two", keys_and_attrs((0..40).map(rk).collect()))
        .send()
        .await
    {
        Ok(out) => {
            let n_items: usize = out
                .responses()
                .map(|r| r.values().map(Vec::len).sum())
                .unwrap_or(0);
            if n_items != 0 {
                f.push(format!("100 missing keys returned {n_items} items"));
            }
        }
        Err(e) => f.push(format!("BatchGetItem with 100 keys: {e:?}")),
    }

    f.check(check_err(
        "BatchGetItem with 101 keys in one table",
        client
            .batch_get_item()
            .request_items("one", keys_and_attrs((0..101).map(hk).collect()))
            .send()
            .await,
        VALIDATION,
        None,
    ));
    f.check(check_err(
        "BatchGetItem with 60 + 41 keys",
        client
            .batch_get_item()
            .request_items("one", keys_and_attrs((0..60).map(hk).collect()))
            .request_items("two", keys_and_attrs((0..41).map(rk).collect()))
            .send()
            .await,
        VALIDATION,
        Some("Too many items requested for the BatchGetItem call"),
    ));

    f.check(check_err(
        "BatchGetItem with a duplicate key",
        client
            .batch_get_item()
            .request_items("one", keys_and_attrs(vec![hk(1), hk(2), hk(1)]))
            .send()
            .await,
        VALIDATION,
        Some(DUPLICATES),
    ));
    f.check(check_err(
        "BatchGetItem with a duplicate composite key",
        client
            .batch_get_item()
            .request_items("two", keys_and_attrs(vec![rk(3), rk(3)]))
            .send()
            .await,
        VALIDATION,
        Some(DUPLICATES),
    ));
    // The same key value in two different tables is not a duplicate.
    if let Err(e) = client
        .batch_get_item()
        .request_items("one", keys_and_attrs(vec![item(&[("pk", s("p"))])]))
        .request_items(
            "two",
            keys_and_attrs(vec![item(&[("pk", s("p")), ("sk", n("1"))])]),
        )
        .send()
        .await
    {
        f.push(format!("same key in two tables rejected: {e:?}"));
    }
    f.check(check_err(
        "BatchGetItem from a missing table",
        client
            .batch_get_item()
            .request_items("nosuchtable", keys_and_attrs(vec![hk(1)]))
            .send()
            .await,
        "ResourceNotFoundException",
        None,
    ));
    f.check(check_err(
        "BatchGetItem with a key that does not match the schema",
        client
            .batch_get_item()
            .request_items("two", keys_and_attrs(vec![item(&[("pk", s("p"))])]))
            .send()
            .await,
        VALIDATION,
        Some("The provided key element does not match the schema"),
    ));
    f.assert_none();
}
