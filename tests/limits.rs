//! DynamoDB's limits on attribute names and key values, each at its boundary (exactly at
//! the limit passes, one byte over fails), on every write path: PutItem, UpdateItem,
//! BatchWriteItem, and TransactWriteItems' Put and Update. An index backfill passes over
//! items whose index key is too large, as DynamoDB's does ("index key violations").

mod common;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    GlobalSecondaryIndex, KeyType, LocalSecondaryIndex, Projection, ProjectionType, Put,
    PutRequest, ScalarAttributeType, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;
use serde_json::{json, Value};

const VALIDATION: &str = "ValidationException";
const NAME_TOO_LARGE: &str =
    "1 validation error detected: Attribute name is too large, must be less than 65536 bytes";

fn keys_only() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build()
}

/// The ways an item gets written.
#[derive(Debug, Clone, Copy)]
enum WritePath {
    Put,
    Update,
    Batch,
    TransactPut,
    TransactUpdate,
}

const PATHS: [WritePath; 5] = [
    WritePath::Put,
    WritePath::Update,
    WritePath::Batch,
    WritePath::TransactPut,
    WritePath::TransactUpdate,
];

/// Writes `item` (whose key attributes are `keys`) along `path`; the error's message on
/// failure (a transaction's: its one cancellation reason's).
async fn write(
    client: &Client,
    table: &str,
    path: WritePath,
    keys: &[&str],
    item: &Attrs,
) -> Result<(), String> {
    let key: Attrs = item
        .iter()
        .filter(|(name, _)| keys.contains(&name.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rest: Vec<(&String, &aws_sdk_dynamodb::types::AttributeValue)> = item
        .iter()
        .filter(|(name, _)| !keys.contains(&name.as_str()))
        .collect();
    let update_expression = || {
        let sets: Vec<String> = (0..rest.len()).map(|i| format!("#n{i} = :v{i}")).collect();
        if sets.is_empty() {
            None
        } else {
            Some(format!("SET {}", sets.join(", ")))
        }
    };
    let message = |e: &dyn aws_sdk_dynamodb::error::ProvideErrorMetadata| {
        e.message().unwrap_or_default().to_owned()
    };
    match path {
        WritePath::Put => client
            .put_item()
            .table_name(table)
            .set_item(Some(item.clone()))
            .send()
            .await
            .map(drop)
            .map_err(|e| message(&e)),
        WritePath::Update => {
            let mut request = client
                .update_item()
                .table_name(table)
                .set_key(Some(key))
                .set_update_expression(update_expression());
            for (i, (name, value)) in rest.iter().enumerate() {
                request = request
                    .expression_attribute_names(format!("#n{i}"), name.as_str())
                    .expression_attribute_values(format!(":v{i}"), (*value).clone());
            }
            request.send().await.map(drop).map_err(|e| message(&e))
        }
        WritePath::Batch => {
            let put = PutRequest::builder()
                .set_item(Some(item.clone()))
                .build()
                .unwrap();
            let out = client
                .batch_write_item()
                .request_items(
                    table,
                    vec![WriteRequest::builder().put_request(put).build()],
                )
                .send()
                .await
                .map_err(|e| message(&e))?;
            assert!(
                out.unprocessed_items().is_none_or(|u| u.is_empty()),
                "unprocessed: {out:?}"
            );
            Ok(())
        }
        WritePath::TransactPut | WritePath::TransactUpdate => {
            let action = if matches!(path, WritePath::TransactPut) {
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(table)
                            .set_item(Some(item.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            } else {
                let mut update = Update::builder()
                    .table_name(table)
                    .set_key(Some(key))
                    .set_update_expression(update_expression().or(Some("REMOVE unused".into())));
                for (i, (name, value)) in rest.iter().enumerate() {
                    update = update
                        .expression_attribute_names(format!("#n{i}"), name.as_str())
                        .expression_attribute_values(format!(":v{i}"), (*value).clone());
                }
                TransactWriteItem::builder()
                    .update(update.build().unwrap())
                    .build()
            };
            match client
                .transact_write_items()
                .transact_items(action)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    let reason = match e.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                            .cancellation_reasons()
                            .first()
                            .and_then(|r| r.message().map(str::to_owned)),
                        _ => None,
                    };
                    Err(reason.unwrap_or_else(|| message(&e)))
                }
            }
        }
    }
}

const EMPTY_NAME: &str = "One or more parameter values were invalid: Empty attribute name";

fn check(f: &mut Failures, what: String, outcome: Result<(), String>, want: Result<(), &str>) {
    match (&outcome, want) {
        (Ok(()), Ok(())) => {}
        (Err(got), Err(want)) if got == want => {}
        _ => f.push(format!("{what}: got {outcome:?}, want {want:?}")),
    }
}

#[tokio::test]
async fn attribute_names_up_to_65535_bytes() {
    let server = TestServer::start();
    let client = server.client();
    let table = "names";
    create_table(&client, table, ("pk", ScalarAttributeType::S), None).await;
    let mut f = Failures::new();
    let longest = "n".repeat(65_535);
    let too_long = "n".repeat(65_536);
    // 32,768 two-byte characters are 65,536 bytes: the limit is in bytes.
    let too_long_wide = "é".repeat(32_768);
    for path in PATHS {
        for (label, name, want) in [
            ("65535-byte name", &longest, Ok(())),
            ("65536-byte name", &too_long, Err(NAME_TOO_LARGE)),
            (
                "65536 bytes in 32768 characters",
                &too_long_wide,
                Err(NAME_TOO_LARGE),
            ),
        ] {
            let top = item(&[("pk", s("top")), (name.as_str(), s("v"))]);
            check(
                &mut f,
                format!("{path:?} {label}"),
                write(&client, table, path, &["pk"], &top).await,
                want,
            );
            let nested = item(&[("pk", s("nested")), ("m", map(&[(name.as_str(), s("v"))]))]);
            check(
                &mut f,
                format!("{path:?} {label} in a map"),
                write(&client, table, path, &["pk"], &nested).await,
                want,
            );
        }
    }
    // An item's attribute needs a name (ScyllaDB's tests, run against DynamoDB, expect
    // "Empty attribute name"); an update names its attributes through expressions.
    for path in [WritePath::Put, WritePath::Batch, WritePath::TransactPut] {
        let empty = item(&[("pk", s("empty")), ("", s("v"))]);
        check(
            &mut f,
            format!("{path:?} empty name"),
            write(&client, table, path, &["pk"], &empty).await,
            Err(EMPTY_NAME),
        );
    }
    let key = json!({"pk": {"S": "top"}});
    for (operation, mut body) in [
        (
            "GetItem",
            json!({"Key": key, "ProjectionExpression": "#n", "ExpressionAttributeNames": {"#n": ""}}),
        ),
        ("GetItem", json!({"Key": key, "AttributesToGet": [""]})),
        (
            "UpdateItem",
            json!({"Key": key, "AttributeUpdates": {"": {"Value": {"S": "v"}}}}),
        ),
        (
            "UpdateItem",
            json!({"Key": key, "UpdateExpression": "SET #n = :v",
                   "ExpressionAttributeNames": {"#n": ""},
                   "ExpressionAttributeValues": {":v": {"S": "v"}}}),
        ),
    ] {
        body["TableName"] = json!(table);
        let response =
            server.raw_request(&format!("DynamoDB_20120810.{operation}"), &body.to_string());
        if response.error_message().as_deref() != Some(EMPTY_NAME) {
            f.push(format!("{operation} {body}: {}", response.body_str()));
        }
    }
    // Names that requests carry elsewhere: ExpressionAttributeNames, AttributesToGet,
    // AttributeUpdates, conditions, and map members in ExpressionAttributeValues (whose
    // message is not wrapped in ExpressionAttributeValues' own).
    let got = client
        .get_item()
        .table_name(table)
        .key("pk", s("top"))
        .attributes_to_get(&longest)
        .consistent_read(true)
        .send()
        .await
        .expect("AttributesToGet with the longest name");
    assert_eq!(got.item().map(|i| i.contains_key(&longest)), Some(true));
    let key = json!({"pk": {"S": "top"}});
    let requests = [
        (
            "GetItem",
            json!({"Key": key, "ProjectionExpression": "#n",
                   "ExpressionAttributeNames": {"#n": too_long}}),
        ),
        (
            "GetItem",
            json!({"Key": key, "AttributesToGet": [too_long]}),
        ),
        (
            "UpdateItem",
            json!({"Key": key, "AttributeUpdates": {too_long.as_str(): {"Value": {"S": "v"}}}}),
        ),
        (
            "DeleteItem",
            json!({"Key": key, "ConditionExpression": "attribute_exists(#n)",
                   "ExpressionAttributeNames": {"#n": too_long}}),
        ),
        (
            "UpdateItem",
            json!({"Key": key, "UpdateExpression": "SET m = :m",
                   "ExpressionAttributeValues": {":m": {"M": {too_long.as_str(): {"S": "v"}}}}}),
        ),
    ];
    for (operation, mut body) in requests {
        body["TableName"] = json!(table);
        let response =
            server.raw_request(&format!("DynamoDB_20120810.{operation}"), &body.to_string());
        if response.error_message().as_deref() != Some(NAME_TOO_LARGE) {
            let shown = body.to_string().replace(&too_long, "<65536 bytes>");
            f.push(format!("{operation} {shown}: {}", response.status));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn key_attribute_and_projected_names_up_to_255_characters() {
    let server = TestServer::start();
    let client = server.client();
    let mut f = Failures::new();
    let longest = "k".repeat(255);
    let too_long = "k".repeat(256);
    let g255 = "g".repeat(255);
    // At the limit: table, GSI and LSI keys and a projected name of 255 characters.
    client
        .create_table()
        .table_name("long_keys")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(key(&longest, KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def(&longest, ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def(&g255, ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_g")
                .key_schema(key(&g255, KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("p".repeat(255))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_l")
                .key_schema(key(&longest, KeyType::Hash))
                .key_schema(key(&g255, KeyType::Range))
                .projection(keys_only())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("255-character key and projected names");
    wait_active(&client, "long_keys").await;
    put_ok(
        &client,
        "long_keys",
        item(&[
            (longest.as_str(), s("p")),
            ("sk", s("s")),
            (g255.as_str(), s("g")),
        ]),
    )
    .await;

    let over = |member: &str| {
        format!(
            "1 validation error detected: Value '{too_long}' at '{member}' failed to satisfy \
             constraint: Member must have length less than or equal to 255"
        )
    };
    // CreateTable requests with one name too long, each with DynamoDB's answer.
    let definitions = |names: &[&str]| -> Vec<Value> {
        names
            .iter()
            .map(|n| json!({"AttributeName": n, "AttributeType": "S"}))
            .collect()
    };
    let index = |key_name: &str, projection: Value| {
        json!([{"IndexName": "by_g", "Projection": projection,
                "KeySchema": [{"AttributeName": key_name, "KeyType": "HASH"}]}])
    };
    let cases = [
        (
            json!({"KeySchema": [{"AttributeName": too_long, "KeyType": "HASH"}],
                   "AttributeDefinitions": definitions(&["pk"])}),
            over("keySchema.1.member.attributeName"),
        ),
        (
            json!({"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                   "AttributeDefinitions": definitions(&[&too_long])}),
            over("attributeDefinitions.1.member.attributeName"),
        ),
        (
            json!({"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                   "AttributeDefinitions": definitions(&["pk", "g"]),
                   "GlobalSecondaryIndexes": index(&too_long, json!({"ProjectionType": "ALL"}))}),
            over("globalSecondaryIndexes.1.member.keySchema.1.member.attributeName"),
        ),
        (
            json!({"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                   "AttributeDefinitions": definitions(&["pk", "g"]),
                   "GlobalSecondaryIndexes": index("g", json!({"ProjectionType": "INCLUDE",
                                                               "NonKeyAttributes": [too_long]}))}),
            format!(
                "1 validation error detected: Value '[{too_long}]' at \
                 'globalSecondaryIndexes.1.member.projection.nonKeyAttributes' failed to satisfy \
                 constraint: Member must satisfy constraint: [Member must have length less than \
                 or equal to 255, Member must have length greater than or equal to 1]"
            ),
        ),
    ];
    for (mut body, want) in cases {
        body["TableName"] = json!("too_long_keys");
        body["BillingMode"] = json!("PAY_PER_REQUEST");
        let response = server.raw_request("DynamoDB_20120810.CreateTable", &body.to_string());
        if response.error_message().as_deref() != Some(want.as_str()) {
            f.push(format!("{want:.80}…: {}", response.body_str()));
        }
    }
    let r = client
        .update_table()
        .table_name("long_keys")
        .attribute_definitions(attr_def(&too_long, ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action(
            "by_long",
            &too_long,
            None,
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        ))
        .send()
        .await;
    f.check(check_err(
        "UpdateTable GSI key name of 256",
        r,
        VALIDATION,
        Some("255"),
    ));
    let tables = client.list_tables().send().await.unwrap();
    assert_eq!(
        tables.table_names(),
        ["long_keys"],
        "nothing refused was created"
    );
    f.assert_none();
}

/// DynamoDB's message for an index key value past its limit.
fn index_too_large(attribute: &str, actual: usize, max: usize, index: &str) -> String {
    format!(
        "One or more parameter values were invalid: Size limit exceeded for Index Key {attribute} \
         Actual Size: {actual} bytes Max Size: {max} bytes IndexName: {index}"
    )
}

#[tokio::test]
async fn table_and_index_key_sizes_on_every_write_path() {
    let server = TestServer::start();
    let client = server.client();
    let table = "key_sizes";
    client
        .create_table()
        .table_name(table)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gp", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gs", ScalarAttributeType::B))
        .attribute_definitions(attr_def("ls", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_gp")
                .key_schema(key("gp", KeyType::Hash))
                .key_schema(key("gs", KeyType::Range))
                .projection(keys_only())
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_ls")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("ls", KeyType::Range))
                .projection(keys_only())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateTable");
    wait_active(&client, table).await;
    let mut f = Failures::new();
    let hash_too_large = "One or more parameter values were invalid: Size of hashkey has exceeded \
                          the maximum size limit of2048 bytes";
    let range_too_large =
        "One or more parameter values were invalid: Aggregated size of all range \
                           keys has exceeded the size limit of 1024 bytes";
    let gp_over = index_too_large("gp", 2049, 2048, "by_gp");
    let gs_over = index_too_large("gs", 1025, 1024, "by_gp");
    let ls_over = index_too_large("ls", 1025, 1024, "by_ls");
    // Two-byte characters: the limits count UTF-8 bytes.
    let ls_over_wide = index_too_large("ls", 1026, 1024, "by_ls");
    for (n, path) in PATHS.into_iter().enumerate() {
        let id = |case: &str| s(&format!("{n}-{case}"));
        let cases: Vec<(&str, Attrs, Result<(), &str>)> = vec![
            (
                "table pk 2048",
                item(&[("pk", s(&"p".repeat(2048))), ("sk", id("a")), ("x", s("v"))]),
                Ok(()),
            ),
            (
                "table pk 2049",
                item(&[("pk", s(&"p".repeat(2049))), ("sk", id("b")), ("x", s("v"))]),
                Err(hash_too_large),
            ),
            (
                "table sk 1024",
                item(&[("pk", id("c")), ("sk", s(&"s".repeat(1024))), ("x", s("v"))]),
                Ok(()),
            ),
            (
                "table sk 1025",
                item(&[("pk", id("d")), ("sk", s(&"s".repeat(1025))), ("x", s("v"))]),
                Err(range_too_large),
            ),
            (
                "GSI pk 2048",
                item(&[
                    ("pk", id("e")),
                    ("sk", s("1")),
                    ("gp", s(&"g".repeat(2048))),
                    ("gs", b(&[1])),
                ]),
                Ok(()),
            ),
            (
                "GSI pk 2049",
                item(&[
                    ("pk", id("f")),
                    ("sk", s("1")),
                    ("gp", s(&"g".repeat(2049))),
                    ("gs", b(&[1])),
                ]),
                Err(gp_over.as_str()),
            ),
            (
                "GSI binary sk 1024",
                item(&[
                    ("pk", id("g")),
                    ("sk", s("1")),
                    ("gp", s("g")),
                    ("gs", b(&[7; 1024])),
                ]),
                Ok(()),
            ),
            (
                "GSI binary sk 1025",
                item(&[
                    ("pk", id("h")),
                    ("sk", s("1")),
                    ("gp", s("g")),
                    ("gs", b(&[7; 1025])),
                ]),
                Err(gs_over.as_str()),
            ),
            (
                "LSI sk 1024",
                item(&[
                    ("pk", id("i")),
                    ("sk", s("1")),
                    ("ls", s(&"l".repeat(1024))),
                ]),
                Ok(()),
            ),
            (
                "LSI sk 1025",
                item(&[
                    ("pk", id("j")),
                    ("sk", s("1")),
                    ("ls", s(&"l".repeat(1025))),
                ]),
                Err(ls_over.as_str()),
            ),
            (
                "LSI sk 513 two-byte characters",
                item(&[("pk", id("k")), ("sk", s("1")), ("ls", s(&"é".repeat(513)))]),
                Err(ls_over_wide.as_str()),
            ),
        ];
        for (label, written, want) in cases {
            let outcome = write(&client, table, path, &["pk", "sk"], &written).await;
            check(&mut f, format!("{path:?} {label}"), outcome, want);
        }
    }
    // Nothing refused was written, to the table or to an index.
    let items = scan_everything(&client, table).await;
    assert_eq!(
        items.len(),
        5 * 5,
        "five accepted writes per path: {}",
        items.len()
    );
    let gsi_entries = scan_index_everything(&client, table, "by_gp").await;
    assert_eq!(gsi_entries.len(), 2 * 5);
    f.assert_none();
}

#[tokio::test]
async fn an_index_backfill_passes_over_items_whose_key_is_too_large() {
    let server = TestServer::start();
    let client = server.client();
    let table = "backfill_sizes";
    create_table(&client, table, ("pk", ScalarAttributeType::S), None).await;
    // Written before the index exists, so nothing refuses them.
    let written = [
        ("fits", s(&"g".repeat(2048))),
        ("too-large", s(&"g".repeat(2049))),
        ("wide-too-large", s(&"é".repeat(1025))),
        ("wrong-type", n("1")),
        ("small", s("g")),
    ];
    for (pk, g) in &written {
        put_ok(&client, table, item(&[("pk", s(pk)), ("g", g.clone())])).await;
    }
    client
        .update_table()
        .table_name(table)
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action("by_g", "g", None, keys_only()))
        .send()
        .await
        .expect("UpdateTable create GSI");
    wait_gsis_active(&client, table).await;
    let mut indexed: Vec<String> = scan_index_everything(&client, table, "by_g")
        .await
        .iter()
        .map(|entry| match &entry["pk"] {
            aws_sdk_dynamodb::types::AttributeValue::S(pk) => pk.clone(),
            other => panic!("pk {other:?}"),
        })
        .collect();
    indexed.sort();
    assert_eq!(
        indexed,
        ["fits", "small"],
        "violating items stay out of the index"
    );
    // The items stay in the table, and are still readable.
    assert_eq!(scan_everything(&client, table).await.len(), written.len());
    // Once the index is ACTIVE, writes that violate it are refused.
    let r = client
        .update_item()
        .table_name(table)
        .key("pk", s("small"))
        .update_expression("SET g = :g")
        .expression_attribute_values(":g", s(&"g".repeat(2049)))
        .send()
        .await;
    let mut f = Failures::new();
    f.check(check_err(
        "UpdateItem past the index key limit",
        r,
        VALIDATION,
        Some(&index_too_large("g", 2049, 2048, "by_g")),
    ));
    f.assert_none();
}
