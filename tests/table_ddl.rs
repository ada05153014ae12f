//! Table and index DDL messages: attribute definitions given twice or redefined with
//! another type, UpdateTable calls that change nothing or touch several indexes, a
//! global index added to a table with local indexes, and DeleteTable's description.
//!
//! Expected behaviour, as tests run against DynamoDB observed it: ScyllaDB's Alternator
//! (test_table.py: "Attribute Name is duplicated: <name>"; test_gsi_updatetable.py: a new
//! index giving a key attribute another type is "Attributes cannot be redefined. Please
//! check that your attribute has the same type as previously defined. Existing schema:
//! … New schema: …", its key attributes must be in the request's own
//! AttributeDefinitions, a GSI can be added to a table with an LSI, two creates or
//! deletes in one call are LimitExceededException, an empty call asks for nothing),
//! dynalite's DynamoDB-pinned messages ("One of GlobalSecondaryIndexUpdate.Update, …
//! must not be null", "Only one global secondary index update per index is allowed
//! simultaneously", an unchanged index throughput), DeleteTable answering DELETING
//! without the table's schema or indexes (ScyllaDB's tests, run against DynamoDB: no
//! CreationDateTime, KeySchema, AttributeDefinitions or secondary indexes), and a
//! conformance suite's eu-west-2 finding that a
//! redefinition of an attribute the new index does not use is ignored.

mod common;

use aws_sdk_dynamodb::types::{BillingMode, KeyType, ScalarAttributeType};
use common::*;
use serde_json::{json, Value};

const VALIDATION: &str = "ValidationException";
const P: &str = "One or more parameter values were invalid: ";

fn request(server: &TestServer, operation: &str, body: Value) -> RawResponse {
    server.raw_request(&format!("DynamoDB_20120810.{operation}"), &body.to_string())
}

fn ok(what: &str, response: &RawResponse) -> Result<(), String> {
    if response.status == 200 {
        return Ok(());
    }
    Err(format!(
        "{what}: expected 200, got {}: {}",
        response.status,
        response.body_str()
    ))
}

fn defs(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(name, ty)| json!({"AttributeName": name, "AttributeType": ty}))
        .collect()
}

fn hash(name: &str) -> Value {
    json!([{"AttributeName": name, "KeyType": "HASH"}])
}

fn create_index(name: &str, key: &str) -> Value {
    json!({"Create": {
        "IndexName": name,
        "KeySchema": hash(key),
        "Projection": {"ProjectionType": "ALL"},
    }})
}

/// An on-demand table `pk` (S) with the global index `by_x` on `x` (S).
fn indexed_table(server: &TestServer, name: &str) {
    let created = request(
        server,
        "CreateTable",
        json!({
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": hash("pk"),
            "AttributeDefinitions": defs(&[("pk", "S"), ("x", "S")]),
            "GlobalSecondaryIndexes": [{
                "IndexName": "by_x",
                "KeySchema": hash("x"),
                "Projection": {"ProjectionType": "ALL"},
            }],
        }),
    );
    assert_eq!(created.status, 200, "{}", created.body_str());
}

#[tokio::test]
async fn attribute_definitions_are_named_once_and_keep_their_type() {
    let server = TestServer::start();
    let client = server.client();
    let mut f = Failures::new();
    for types in [["S", "N"], ["S", "S"]] {
        let response = request(
            &server,
            "CreateTable",
            json!({
                "TableName": "twice",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": hash("xyz"),
                "AttributeDefinitions": defs(&[("xyz", types[0]), ("xyz", types[1])]),
            }),
        );
        f.check(check_raw_error(
            &format!("CreateTable defining xyz as {types:?}"),
            &response,
            VALIDATION,
            &["Attribute Name is duplicated: xyz"],
        ));
    }

    indexed_table(&server, "typed");
    let update = |definitions: Value, index: Value| {
        request(
            &server,
            "UpdateTable",
            json!({
                "TableName": "typed",
                "AttributeDefinitions": definitions,
                "GlobalSecondaryIndexUpdates": [index],
            }),
        )
    };
    f.check(check_raw_error(
        "UpdateTable defining y twice",
        &update(defs(&[("y", "S"), ("y", "S")]), create_index("by_y", "y")),
        VALIDATION,
        &["Attribute Name is duplicated: y"],
    ));
    f.check(check_raw_error(
        "a new index giving x another type",
        &update(defs(&[("x", "N")]), create_index("by_x_number", "x")),
        VALIDATION,
        &[&format!(
            "{P}Attributes cannot be redefined. Please check that your attribute has the same \
             type as previously defined. Existing schema: Schema:[SchemaElement: key{{x:S:HASH}}] \
             New schema: Schema:[SchemaElement: key{{x:N:HASH}}]"
        )],
    ));
    f.check(check_raw_error(
        "a new index on the table key without defining it in the request",
        &update(defs(&[("y", "S")]), create_index("by_pk", "pk")),
        VALIDATION,
        &[&format!(
            "{P}Some index key attributes are not defined in AttributeDefinitions. Keys: [pk], \
             AttributeDefinitions: [y]"
        )],
    ));
    // Redefining an attribute the new index does not use is ignored.
    f.check(ok(
        "a new index while pk is redefined",
        &update(defs(&[("pk", "N"), ("y", "S")]), create_index("by_y", "y")),
    ));
    let desc = wait_gsis_active(&client, "typed").await;
    let mut defined: Vec<(String, String)> = desc
        .attribute_definitions()
        .iter()
        .map(|d| {
            (
                d.attribute_name().to_owned(),
                d.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    defined.sort();
    let want = [("pk", "S"), ("x", "S"), ("y", "S")].map(|(n, t)| (n.to_owned(), t.to_owned()));
    if defined != want {
        f.push(format!(
            "AttributeDefinitions after the update: {defined:?}"
        ));
    }
    put_ok(
        &client,
        "typed",
        item(&[("pk", s("still a string")), ("y", s("y"))]),
    )
    .await;
    f.assert_none();
}

#[tokio::test]
async fn update_table_must_change_something_and_one_index_at_a_time() {
    let server = TestServer::start();
    let mut f = Failures::new();
    let created = request(
        &server,
        "CreateTable",
        json!({
            "TableName": "prov",
            "KeySchema": hash("pk"),
            "AttributeDefinitions": defs(&[("pk", "S"), ("x", "S")]),
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            "GlobalSecondaryIndexes": [{
                "IndexName": "by_x",
                "KeySchema": hash("x"),
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
            }],
        }),
    );
    assert_eq!(created.status, 200, "{}", created.body_str());
    let update = |extra: Value| {
        let mut body = json!({"TableName": "prov"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        request(&server, "UpdateTable", body)
    };
    let nothing = "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, \
                   GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required";
    f.check(check_raw_error(
        "UpdateTable with only a name",
        &update(json!({})),
        VALIDATION,
        &[nothing],
    ));
    f.check(check_raw_error(
        "UpdateTable with an empty list of index updates",
        &update(json!({"GlobalSecondaryIndexUpdates": []})),
        VALIDATION,
        &[nothing],
    ));
    let unchanged = |read: u32, write: u32| {
        format!(
            "The provisioned throughput for the table will not change. The requested value \
             equals the current value. Current ReadCapacityUnits provisioned for the table: \
             {read}. Requested ReadCapacityUnits: {read}. Current WriteCapacityUnits \
             provisioned for the table: {write}. Requested WriteCapacityUnits: {write}."
        )
    };
    f.check(check_raw_error(
        "the table's own throughput",
        &update(json!({
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        })),
        VALIDATION,
        &[&unchanged(5, 5)],
    ));
    let index_throughput = |read: u32, write: u32| {
        json!({"Update": {
            "IndexName": "by_x",
            "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write},
        }})
    };
    f.check(check_raw_error(
        "the index's own throughput",
        &update(json!({"GlobalSecondaryIndexUpdates": [index_throughput(3, 4)]})),
        VALIDATION,
        &[&unchanged(3, 4)],
    ));
    f.check(check_raw_error(
        "two updates of one index",
        &update(json!({"GlobalSecondaryIndexUpdates": [
            index_throughput(6, 6),
            index_throughput(7, 7),
        ]})),
        VALIDATION,
        &[&format!(
            "{P}Only one global secondary index update per index is allowed simultaneously. \
             Index: by_x"
        )],
    ));
    f.check(check_raw_error(
        "an update naming no action",
        &update(json!({"GlobalSecondaryIndexUpdates": [{}]})),
        VALIDATION,
        &[&format!(
            "{P}One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, \
             GlobalSecondaryIndexUpdate.Delete must not be null"
        )],
    ));
    f.check(check_raw_error(
        "an update naming two actions",
        &update(json!({
            "AttributeDefinitions": defs(&[("y", "S")]),
            "GlobalSecondaryIndexUpdates": [{
                "Create": create_index("by_y", "y")["Create"],
                "Delete": {"IndexName": "by_x"},
            }],
        })),
        VALIDATION,
        &[&format!(
            "{P}Only one of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, \
             GlobalSecondaryIndexUpdate.Delete can be specified"
        )],
    ));
    let one_at_a_time =
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table";
    let provisioned = |mut index: Value| {
        index["Create"]["ProvisionedThroughput"] =
            json!({"ReadCapacityUnits": 1, "WriteCapacityUnits": 1});
        index
    };
    for (what, updates) in [
        (
            "two creates",
            json!([
                provisioned(create_index("by_y", "y")),
                provisioned(create_index("by_z", "z"))
            ]),
        ),
        (
            "a create and a delete",
            json!([provisioned(create_index("by_y", "y")), {"Delete": {"IndexName": "by_x"}}]),
        ),
    ] {
        f.check(check_raw_error(
            what,
            &update(json!({
                "AttributeDefinitions": defs(&[("y", "S"), ("z", "S")]),
                "GlobalSecondaryIndexUpdates": updates,
            })),
            "LimitExceededException",
            &[one_at_a_time],
        ));
    }
    // The refused calls changed nothing.
    let described = request(&server, "DescribeTable", json!({"TableName": "prov"})).json();
    let indexes = &described["Table"]["GlobalSecondaryIndexes"];
    if indexes.as_array().map(Vec::len) != Some(1)
        || indexes[0]["ProvisionedThroughput"]["ReadCapacityUnits"] != 3
    {
        f.push(format!("after the refused updates: {indexes}"));
    }
    f.assert_none();
}

#[tokio::test]
async fn a_global_index_can_be_added_to_a_table_with_local_indexes() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("with_lsi")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("l", ScalarAttributeType::S))
        .local_secondary_indexes(
            aws_sdk_dynamodb::types::LocalSecondaryIndex::builder()
                .index_name("local")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("l", KeyType::Range))
                .projection(
                    aws_sdk_dynamodb::types::Projection::builder()
                        .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    wait_active(&client, "with_lsi").await;
    put_ok(
        &client,
        "with_lsi",
        item(&[("pk", s("p")), ("sk", s("1")), ("l", s("a")), ("g", s("v"))]),
    )
    .await;
    let update = |index: &str| {
        request(
            &server,
            "UpdateTable",
            json!({
                "TableName": "with_lsi",
                "AttributeDefinitions": defs(&[("g", "S")]),
                "GlobalSecondaryIndexUpdates": [create_index(index, "g")],
            }),
        )
    };
    let mut f = Failures::new();
    f.check(check_raw_error(
        "a global index named like the local one",
        &update("local"),
        VALIDATION,
        &[&format!("{P}Index with name: local already exists")],
    ));
    let added = update("global");
    f.check(ok("a global index next to a local one", &added));
    if added.status == 200 {
        wait_gsis_active(&client, "with_lsi").await;
        let out = client
            .query()
            .table_name("with_lsi")
            .index_name("global")
            .key_condition_expression("g = :g")
            .expression_attribute_values(":g", s("v"))
            .send()
            .await
            .unwrap();
        if out.count() != 1 {
            f.push(format!("the new index holds {:?}", out.items()));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn delete_table_describes_the_table_deleting_without_its_schema_or_indexes() {
    let server = TestServer::start();
    let created = request(
        &server,
        "CreateTable",
        json!({
            "TableName": "doomed",
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": defs(&[("pk", "S"), ("sk", "S"), ("l", "S"), ("x", "S")]),
            "GlobalSecondaryIndexes": [{
                "IndexName": "by_x",
                "KeySchema": hash("x"),
                "Projection": {"ProjectionType": "ALL"},
            }],
            "LocalSecondaryIndexes": [{
                "IndexName": "by_l",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "l", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }],
        }),
    );
    assert_eq!(created.status, 200, "{}", created.body_str());
    let deleted = request(&server, "DeleteTable", json!({"TableName": "doomed"}));
    assert_eq!(deleted.status, 200, "{}", deleted.body_str());
    let description = &deleted.json()["TableDescription"];
    let mut f = Failures::new();
    if description["TableStatus"] != "DELETING" {
        f.push(format!("TableStatus {}", description["TableStatus"]));
    }
    for member in [
        "CreationDateTime",
        "KeySchema",
        "AttributeDefinitions",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
    ] {
        if description.get(member).is_some() {
            f.push(format!("{member} listed: {description}"));
        }
    }
    for member in [
        "TableName",
        "TableArn",
        "TableId",
        "ItemCount",
        "TableSizeBytes",
        "ProvisionedThroughput",
        "BillingModeSummary",
    ] {
        if description.get(member).is_none() {
            f.push(format!("{member} missing: {description}"));
        }
    }
    let described = request(&server, "DescribeTable", json!({"TableName": "doomed"}));
    f.check(check_raw_error(
        "DescribeTable after DeleteTable",
        &described,
        "ResourceNotFoundException",
        &["Requested resource not found: Table: doomed not found"],
    ));
    f.assert_none();
}
