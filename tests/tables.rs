//! Table operations: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable,
//! tags, DescribeEndpoints, DescribeLimits, and tables surviving a graceful restart.
//!
//! Expected values come from the DynamoDB API reference (DescribeTable / TableDescription,
//! ListTables, UpdateTable, TagResource …) and from dynalite's test-suite, which is checked
//! against the real service.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType, TableDescription, TableStatus, Tag,
};
use aws_sdk_dynamodb::Client;
use common::*;

fn throughput(r: i64, w: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(r)
        .write_capacity_units(w)
        .build()
        .unwrap()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn describe(client: &Client, name: &str) -> TableDescription {
    client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeTable {name}: {e:?}"))
        .table()
        .cloned()
        .unwrap_or_else(|| panic!("DescribeTable {name}: no Table in response"))
}

fn key_schema_pairs(ks: &[KeySchemaElement]) -> Vec<(String, String)> {
    ks.iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect()
}

fn attr_def_pairs(ad: &[AttributeDefinition]) -> BTreeMap<String, String> {
    ad.iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect()
}

/// `arn:aws:dynamodb:us-east-1:<12-digit account>:table/<name>`
fn assert_table_arn(arn: &str, name: &str) {
    let prefix = "arn:aws:dynamodb:us-east-1:";
    assert!(
        arn.starts_with(prefix),
        "TableArn {arn:?} should start with {prefix:?}"
    );
    let rest = &arn[prefix.len()..];
    let (account, tail) = rest
        .split_once(':')
        .unwrap_or_else(|| panic!("TableArn {arn:?} has no account field"));
    assert!(
        account.len() == 12 && account.bytes().all(|c| c.is_ascii_digit()),
        "TableArn {arn:?}: account {account:?} should be 12 digits"
    );
    assert_eq!(
        tail,
        format!("table/{name}"),
        "TableArn {arn:?} resource part"
    );
}

/// TableId is a UUID: 8-4-4-4-12 hex digits.
fn assert_uuid(id: &str) {
    let parts: Vec<&str> = id.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    assert_eq!(lens, vec![8, 4, 4, 4, 12], "TableId {id:?} is not a UUID");
    assert!(
        parts
            .iter()
            .all(|p| p.bytes().all(|c| c.is_ascii_hexdigit())),
        "TableId {id:?} is not a UUID"
    );
}

#[tokio::test]
async fn create_hash_only_provisioned_table_and_describe_every_field() {
    let server = TestServer::start();
    let client = server.client();
    let before = now_secs();

    // BillingMode omitted: DynamoDB's default is PROVISIONED.
    let created = client
        .create_table()
        .table_name("Music.Catalog_1")
        .key_schema(key("Artist", KeyType::Hash))
        .attribute_definitions(attr_def("Artist", ScalarAttributeType::S))
        .provisioned_throughput(throughput(5, 7))
        .send()
        .await
        .expect("CreateTable");
    let desc = created
        .table_description()
        .expect("CreateTable returns TableDescription");
    assert_eq!(desc.table_name(), Some("Music.Catalog_1"));
    assert!(
        matches!(
            desc.table_status(),
            Some(TableStatus::Creating) | Some(TableStatus::Active)
        ),
        "CreateTable TableStatus should be CREATING (or already ACTIVE), got {:?}",
        desc.table_status()
    );
    assert_table_arn(
        desc.table_arn().expect("CreateTable TableArn"),
        "Music.Catalog_1",
    );
    let created_id = desc.table_id().expect("CreateTable TableId").to_owned();
    assert_uuid(&created_id);
    assert_eq!(
        key_schema_pairs(desc.key_schema()),
        vec![("Artist".to_owned(), "HASH".to_owned())],
        "CreateTable KeySchema"
    );
    assert_eq!(
        attr_def_pairs(desc.attribute_definitions()),
        BTreeMap::from([("Artist".to_owned(), "S".to_owned())]),
        "CreateTable AttributeDefinitions"
    );
    let pt = desc
        .provisioned_throughput()
        .expect("CreateTable ProvisionedThroughput");
    assert_eq!(
        (pt.read_capacity_units(), pt.write_capacity_units()),
        (Some(5), Some(7)),
        "CreateTable ProvisionedThroughput"
    );
    assert!(
        desc.creation_date_time().is_some(),
        "CreateTable CreationDateTime"
    );

    wait_active(&client, "Music.Catalog_1").await;
    let t = describe(&client, "Music.Catalog_1").await;
    assert_eq!(t.table_name(), Some("Music.Catalog_1"));
    assert_table_arn(t.table_arn().expect("TableArn"), "Music.Catalog_1");
    assert_eq!(t.table_id(), Some(created_id.as_str()), "TableId is stable");
    assert_eq!(
        key_schema_pairs(t.key_schema()),
        vec![("Artist".to_owned(), "HASH".to_owned())]
    );
    assert_eq!(
        attr_def_pairs(t.attribute_definitions()),
        BTreeMap::from([("Artist".to_owned(), "S".to_owned())])
    );
    assert_eq!(t.table_status(), Some(&TableStatus::Active));
    let created_at = t.creation_date_time().expect("CreationDateTime").secs();
    assert!(
        created_at >= before - 5 && created_at <= now_secs() + 5,
        "CreationDateTime {created_at} should be about now ({before}..{})",
        now_secs()
    );
    if let Some(summary) = t.billing_mode_summary() {
        assert_eq!(summary.billing_mode(), Some(&BillingMode::Provisioned));
    }
    let pt = t.provisioned_throughput().expect("ProvisionedThroughput");
    assert_eq!(pt.read_capacity_units(), Some(5));
    assert_eq!(pt.write_capacity_units(), Some(7));
    assert_eq!(pt.number_of_decreases_today(), Some(0));
    assert_eq!(t.item_count(), Some(0));
    assert_eq!(t.table_size_bytes(), Some(0));
}

#[tokio::test]
async fn pay_per_request_table_reports_billing_mode_summary_and_zero_throughput() {
    let server = TestServer::start();
    let client = server.client();
    create_table(
        &client,
        "ondemand",
        ("id", ScalarAttributeType::S),
        Some(("ts", ScalarAttributeType::N)),
    )
    .await;
    let t = describe(&client, "ondemand").await;
    let summary = t
        .billing_mode_summary()
        .expect("BillingModeSummary for a PAY_PER_REQUEST table");
    assert_eq!(summary.billing_mode(), Some(&BillingMode::PayPerRequest));
    // On-demand tables report ProvisionedThroughput with 0 read/write capacity units.
    let pt = t
        .provisioned_throughput()
        .expect("ProvisionedThroughput is present for on-demand tables too");
    assert_eq!(pt.read_capacity_units(), Some(0));
    assert_eq!(pt.write_capacity_units(), Some(0));
    assert_eq!(t.item_count(), Some(0));
    assert_eq!(t.table_size_bytes(), Some(0));
    assert_table_arn(t.table_arn().unwrap(), "ondemand");
    assert_uuid(t.table_id().unwrap());
}

#[tokio::test]
async fn create_tables_with_every_key_type_combination() {
    let server = TestServer::start();
    let client = server.client();
    use ScalarAttributeType::{B, N, S};
    type KeyDef = (&'static str, ScalarAttributeType);
    let cases: Vec<(&str, KeyDef, Option<KeyDef>)> = vec![
        ("hash-s", ("h", S), None),
        ("hash-n", ("h", N), None),
        ("hash-b", ("h", B), None),
        ("range-s-n", ("h", S), Some(("r", N))),
        ("range-n-b", ("h", N), Some(("r", B))),
        ("range-b-s", ("h", B), Some(("r", S))),
    ];
    for (name, hash, range) in &cases {
        create_table(&client, name, (hash.0, hash.1.clone()), range.clone()).await;
        let t = describe(&client, name).await;
        let mut want_ks = vec![(hash.0.to_owned(), "HASH".to_owned())];
        let mut want_ad = BTreeMap::from([(hash.0.to_owned(), hash.1.as_str().to_owned())]);
        if let Some((r, rt)) = range {
            want_ks.push((r.to_string(), "RANGE".to_owned()));
            want_ad.insert(r.to_string(), rt.as_str().to_owned());
        }
        assert_eq!(
            key_schema_pairs(t.key_schema()),
            want_ks,
            "KeySchema of {name}"
        );
        assert_eq!(
            attr_def_pairs(t.attribute_definitions()),
            want_ad,
            "AttributeDefinitions of {name}"
        );
    }
}

#[tokio::test]
async fn list_tables_is_sorted_and_pages_with_limit_and_exclusive_start() {
    let server = TestServer::start();
    let client = server.client();

    let empty = client.list_tables().send().await.expect("ListTables");
    assert!(
        empty.table_names().is_empty(),
        "fresh server lists no tables"
    );
    assert_eq!(empty.last_evaluated_table_name(), None);

    // Created out of order; ListTables returns names in ascending (byte) order.
    let names = [
        "gamma01",
        "Zeta-table",
        "beta-table",
        "Beta.table",
        "alpha_table",
    ];
    for name in names {
        create_table(&client, name, ("k", ScalarAttributeType::S), None).await;
    }
    let mut sorted: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            "Beta.table",
            "Zeta-table",
            "alpha_table",
            "beta-table",
            "gamma01"
        ]
    );

    let all = client.list_tables().send().await.expect("ListTables");
    assert_eq!(all.table_names(), sorted.as_slice());
    assert_eq!(all.last_evaluated_table_name(), None);

    let p1 = client.list_tables().limit(2).send().await.expect("page 1");
    assert_eq!(p1.table_names(), &sorted[0..2]);
    assert_eq!(p1.last_evaluated_table_name(), Some(sorted[1].as_str()));

    let p2 = client
        .list_tables()
        .limit(2)
        .exclusive_start_table_name(&sorted[1])
        .send()
        .await
        .expect("page 2");
    assert_eq!(p2.table_names(), &sorted[2..4]);
    assert_eq!(p2.last_evaluated_table_name(), Some(sorted[3].as_str()));

    let p3 = client
        .list_tables()
        .limit(2)
        .exclusive_start_table_name(&sorted[3])
        .send()
        .await
        .expect("page 3");
    assert_eq!(p3.table_names(), &sorted[4..5]);
    assert_eq!(
        p3.last_evaluated_table_name(),
        None,
        "a short last page has no LastEvaluatedTableName"
    );

    // Starting after the last table: nothing left.
    let after_last = client
        .list_tables()
        .exclusive_start_table_name(&sorted[4])
        .send()
        .await
        .expect("ListTables after the last table");
    assert!(after_last.table_names().is_empty());
    assert_eq!(after_last.last_evaluated_table_name(), None);

    // ExclusiveStartTableName need not name an existing table.
    let between = client
        .list_tables()
        .exclusive_start_table_name("Beta.tablf")
        .send()
        .await
        .expect("ListTables from a non-existent name");
    assert_eq!(between.table_names(), &sorted[1..]);

    // Paging one at a time visits every table exactly once, in order.
    let mut seen: Vec<String> = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..20 {
        let mut req = client.list_tables().limit(1);
        if let Some(s) = &start {
            req = req.exclusive_start_table_name(s);
        }
        let page = req.send().await.expect("ListTables page");
        seen.extend(page.table_names().iter().cloned());
        match page.last_evaluated_table_name() {
            Some(lek) => start = Some(lek.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, sorted);
}

#[tokio::test]
async fn list_tables_rejects_limit_outside_1_to_100() {
    let server = TestServer::start();
    let client = server.client();
    let mut f = Failures::new();
    for limit in [0, 101] {
        f.check(check_err(
            &format!("ListTables Limit={limit}"),
            client.list_tables().limit(limit).send().await,
            "ValidationException",
            Some("limit"),
        ));
    }
    f.check(
        client
            .list_tables()
            .limit(100)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("ListTables Limit=100 should succeed: {e:?}")),
    );
    f.assert_none();
}

#[tokio::test]
async fn delete_table_removes_table_and_its_items() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "doomed", ("pk", ScalarAttributeType::S), None).await;
    client
        .put_item()
        .table_name("doomed")
        .item("pk", s("a"))
        .item("v", n("1"))
        .send()
        .await
        .expect("PutItem");

    let out = client
        .delete_table()
        .table_name("doomed")
        .send()
        .await
        .expect("DeleteTable");
    let d = out
        .table_description()
        .expect("DeleteTable TableDescription");
    assert_eq!(d.table_name(), Some("doomed"));
    assert!(
        matches!(
            d.table_status(),
            Some(TableStatus::Deleting) | Some(TableStatus::Active)
        ),
        "DeleteTable TableStatus should be DELETING, got {:?}",
        d.table_status()
    );

    // Bounded wait for the table to be gone.
    let deadline = Instant::now() + TABLE_STATE_TIMEOUT;
    loop {
        match client.describe_table().table_name("doomed").send().await {
            Ok(_) => {
                assert!(Instant::now() < deadline, "table still exists after delete");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                let (code, msg) = expect_err("DescribeTable deleted", Err::<(), _>(e));
                assert_eq!(code, "ResourceNotFoundException", "{msg}");
                assert!(msg.contains("Requested resource not found"), "{msg}");
                break;
            }
        }
    }
    let list = client.list_tables().send().await.expect("ListTables");
    assert!(!list.table_names().contains(&"doomed".to_owned()));

    // Deleting again: ResourceNotFoundException.
    let (code, _) = expect_err(
        "DeleteTable missing",
        client.delete_table().table_name("doomed").send().await,
    );
    assert_eq!(code, "ResourceNotFoundException");

    // A new table with the same name starts empty, and is a different table.
    let old_id = d.table_id().map(str::to_owned);
    create_table(&client, "doomed", ("pk", ScalarAttributeType::S), None).await;
    let new_id = describe(&client, "doomed")
        .await
        .table_id()
        .map(str::to_owned);
    assert!(
        new_id.is_some() && new_id != old_id,
        "recreated table needs a new TableId ({old_id:?} vs {new_id:?})"
    );
    let got = client
        .get_item()
        .table_name("doomed")
        .key("pk", s("a"))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem");
    assert!(
        got.item().is_none(),
        "items of a deleted table must not reappear: {:?}",
        got.item()
    );
}

#[tokio::test]
async fn update_table_switches_billing_mode_both_ways() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("switcher")
        .billing_mode(BillingMode::Provisioned)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .provisioned_throughput(throughput(5, 5))
        .send()
        .await
        .expect("CreateTable");
    wait_active(&client, "switcher").await;

    let out = client
        .update_table()
        .table_name("switcher")
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("UpdateTable -> PAY_PER_REQUEST");
    assert_eq!(
        out.table_description().and_then(|d| d.table_name()),
        Some("switcher")
    );
    wait_active(&client, "switcher").await;
    let t = describe(&client, "switcher").await;
    assert_eq!(
        t.billing_mode_summary().and_then(|s| s.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let pt = t.provisioned_throughput().expect("ProvisionedThroughput");
    assert_eq!(pt.read_capacity_units(), Some(0));
    assert_eq!(pt.write_capacity_units(), Some(0));

    client
        .update_table()
        .table_name("switcher")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(7, 9))
        .send()
        .await
        .expect("UpdateTable -> PROVISIONED");
    wait_active(&client, "switcher").await;
    let t = describe(&client, "switcher").await;
    assert_eq!(
        t.billing_mode_summary().and_then(|s| s.billing_mode()),
        Some(&BillingMode::Provisioned)
    );
    let pt = t.provisioned_throughput().expect("ProvisionedThroughput");
    assert_eq!(pt.read_capacity_units(), Some(7));
    assert_eq!(pt.write_capacity_units(), Some(9));
}

#[tokio::test]
async fn update_table_changes_provisioned_throughput() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("throughput")
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .provisioned_throughput(throughput(5, 5))
        .send()
        .await
        .expect("CreateTable");
    wait_active(&client, "throughput").await;
    let out = client
        .update_table()
        .table_name("throughput")
        .provisioned_throughput(throughput(10, 20))
        .send()
        .await
        .expect("UpdateTable");
    let d = out.table_description().expect("TableDescription");
    assert!(
        matches!(
            d.table_status(),
            Some(TableStatus::Updating) | Some(TableStatus::Active)
        ),
        "UpdateTable TableStatus should be UPDATING (or ACTIVE), got {:?}",
        d.table_status()
    );
    wait_active(&client, "throughput").await;
    let t = describe(&client, "throughput").await;
    let pt = t.provisioned_throughput().expect("ProvisionedThroughput");
    assert_eq!(pt.read_capacity_units(), Some(10));
    assert_eq!(pt.write_capacity_units(), Some(20));
    // Items still readable/writable after the update.
    client
        .put_item()
        .table_name("throughput")
        .item("pk", s("x"))
        .send()
        .await
        .expect("PutItem after UpdateTable");
}

#[tokio::test]
async fn update_table_errors() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("upd-errors")
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .provisioned_throughput(throughput(5, 5))
        .send()
        .await
        .expect("CreateTable");
    wait_active(&client, "upd-errors").await;
    create_table(
        &client,
        "upd-ondemand",
        ("pk", ScalarAttributeType::S),
        None,
    )
    .await;

    let mut f = Failures::new();
    f.check(check_err(
        "UpdateTable on a missing table",
        client
            .update_table()
            .table_name("no-such-table")
            .provisioned_throughput(throughput(1, 1))
            .send()
            .await,
        "ResourceNotFoundException",
        Some("Requested resource not found"),
    ));
    // DynamoDB: "The provisioned throughput for the table will not change. The requested
    // value equals the current value. …"
    f.check(check_err(
        "UpdateTable with unchanged throughput",
        client
            .update_table()
            .table_name("upd-errors")
            .provisioned_throughput(throughput(5, 5))
            .send()
            .await,
        "ValidationException",
        Some("will not change"),
    ));
    f.check(check_err(
        "UpdateTable with nothing to update",
        client.update_table().table_name("upd-errors").send().await,
        "ValidationException",
        None,
    ));
    f.check(check_err(
        "UpdateTable PAY_PER_REQUEST -> PROVISIONED without ProvisionedThroughput",
        client
            .update_table()
            .table_name("upd-ondemand")
            .billing_mode(BillingMode::Provisioned)
            .send()
            .await,
        "ValidationException",
        None,
    ));
    f.check(check_err(
        "UpdateTable -> PAY_PER_REQUEST with ProvisionedThroughput",
        client
            .update_table()
            .table_name("upd-errors")
            .billing_mode(BillingMode::PayPerRequest)
            .provisioned_throughput(throughput(6, 6))
            .send()
            .await,
        "ValidationException",
        None,
    ));
    f.assert_none();

    // Nothing changed.
    let t = describe(&client, "upd-errors").await;
    let pt = t.provisioned_throughput().unwrap();
    assert_eq!(
        (pt.read_capacity_units(), pt.write_capacity_units()),
        (Some(5), Some(5))
    );
}

#[tokio::test]
async fn tag_untag_and_list_tags_of_resource() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "tagged", ("pk", ScalarAttributeType::S), None).await;
    let arn = describe(&client, "tagged")
        .await
        .table_arn()
        .unwrap()
        .to_owned();

    async fn tags_of(client: &Client, arn: &str) -> BTreeMap<String, String> {
        client
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsOfResource")
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    }

    assert!(
        tags_of(&client, &arn).await.is_empty(),
        "new table has no tags"
    );

    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "test"))
        .tags(tag("team", "storage"))
        .send()
        .await
        .expect("TagResource");
    assert_eq!(
        tags_of(&client, &arn).await,
        BTreeMap::from([
            ("env".to_owned(), "test".to_owned()),
            ("team".to_owned(), "storage".to_owned())
        ])
    );

    // Tagging an existing key replaces its value.
    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "prod"))
        .send()
        .await
        .expect("TagResource overwrite");
    assert_eq!(
        tags_of(&client, &arn).await,
        BTreeMap::from([
            ("env".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "storage".to_owned())
        ])
    );

    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .expect("UntagResource");
    assert_eq!(
        tags_of(&client, &arn).await,
        BTreeMap::from([("env".to_owned(), "prod".to_owned())])
    );

    // Untagging a key that is not there is not an error.
    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("absent")
        .send()
        .await
        .expect("UntagResource of an absent key");

    let missing_arn = arn.replace("table/tagged", "table/not-a-table");
    let mut f = Failures::new();
    f.check(check_err(
        "TagResource on a missing table",
        client
            .tag_resource()
            .resource_arn(&missing_arn)
            .tags(tag("a", "b"))
            .send()
            .await,
        "ResourceNotFoundException",
        None,
    ));
    f.check(check_err(
        "ListTagsOfResource on a missing table",
        client
            .list_tags_of_resource()
            .resource_arn(&missing_arn)
            .send()
            .await,
        "ResourceNotFoundException",
        None,
    ));
    f.check(check_err(
        "TagResource with a malformed ARN",
        client
            .tag_resource()
            .resource_arn("not-an-arn")
            .tags(tag("a", "b"))
            .send()
            .await,
        "ValidationException",
        None,
    ));
    f.assert_none();
}

#[tokio::test]
async fn describe_endpoints_and_describe_limits() {
    let server = TestServer::start();
    let client = server.client();

    let ep = client
        .describe_endpoints()
        .send()
        .await
        .expect("DescribeEndpoints");
    assert!(
        !ep.endpoints().is_empty(),
        "DescribeEndpoints returns an endpoint"
    );
    for e in ep.endpoints() {
        assert!(!e.address().is_empty(), "endpoint Address is non-empty");
        assert!(
            e.cache_period_in_minutes() > 0,
            "CachePeriodInMinutes should be positive, got {}",
            e.cache_period_in_minutes()
        );
    }

    let limits = client
        .describe_limits()
        .send()
        .await
        .expect("DescribeLimits");
    let account_r = limits
        .account_max_read_capacity_units()
        .expect("AccountMaxReadCapacityUnits");
    let account_w = limits
        .account_max_write_capacity_units()
        .expect("AccountMaxWriteCapacityUnits");
    let table_r = limits
        .table_max_read_capacity_units()
        .expect("TableMaxReadCapacityUnits");
    let table_w = limits
        .table_max_write_capacity_units()
        .expect("TableMaxWriteCapacityUnits");
    assert!(table_r > 0 && table_w > 0, "per-table limits are positive");
    assert!(
        table_r <= account_r && table_w <= account_w,
        "a table's limits cannot exceed the account's: {limits:?}"
    );
}

#[tokio::test]
async fn tables_items_and_tags_survive_graceful_restart() {
    let mut server = TestServer::start_with(&["--partitions-per-table", "3"]);
    let client = server.client();

    client
        .create_table()
        .table_name("persist-a")
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .provisioned_throughput(throughput(3, 4))
        .send()
        .await
        .expect("CreateTable persist-a");
    wait_active(&client, "persist-a").await;
    create_table(
        &client,
        "persist-b",
        ("h", ScalarAttributeType::N),
        Some(("r", ScalarAttributeType::B)),
    )
    .await;

    let mut a_items = Vec::new();
    for i in 0..30 {
        let it = item(&[
            ("pk", s(&format!("key-{i}"))),
            ("n", n(&format!("{i}.5"))),
            (
                "l",
                aws_sdk_dynamodb::types::AttributeValue::L(vec![s("x"), n("1")]),
            ),
        ]);
        client
            .put_item()
            .table_name("persist-a")
            .set_item(Some(it.clone()))
            .send()
            .await
            .expect("PutItem persist-a");
        a_items.push(it);
    }
    let b_item = item(&[
        ("h", n("42")),
        ("r", b(&[0, 1, 2, 255])),
        ("flag", aws_sdk_dynamodb::types::AttributeValue::Bool(true)),
    ]);
    client
        .put_item()
        .table_name("persist-b")
        .set_item(Some(b_item.clone()))
        .send()
        .await
        .expect("PutItem persist-b");
    // A delete before restart must stay deleted after it.
    client
        .delete_item()
        .table_name("persist-a")
        .key("pk", s("key-0"))
        .send()
        .await
        .expect("DeleteItem");

    let before_a = describe(&client, "persist-a").await;
    let before_b = describe(&client, "persist-b").await;
    client
        .tag_resource()
        .resource_arn(before_a.table_arn().unwrap())
        .tags(tag("keep", "me"))
        .send()
        .await
        .expect("TagResource");

    server.restart();
    let client = server.client();

    for before in [&before_a, &before_b] {
        let name = before.table_name().unwrap();
        let after = describe(&client, name).await;
        assert_eq!(after.table_status(), Some(&TableStatus::Active), "{name}");
        assert_eq!(after.table_arn(), before.table_arn(), "{name} TableArn");
        assert_eq!(after.table_id(), before.table_id(), "{name} TableId");
        assert_eq!(
            after.creation_date_time().map(|d| d.secs()),
            before.creation_date_time().map(|d| d.secs()),
            "{name} CreationDateTime"
        );
        assert_eq!(
            key_schema_pairs(after.key_schema()),
            key_schema_pairs(before.key_schema()),
            "{name} KeySchema"
        );
        assert_eq!(
            attr_def_pairs(after.attribute_definitions()),
            attr_def_pairs(before.attribute_definitions()),
            "{name} AttributeDefinitions"
        );
        assert_eq!(
            after.billing_mode_summary().and_then(|s| s.billing_mode()),
            before.billing_mode_summary().and_then(|s| s.billing_mode()),
            "{name} billing mode"
        );
        let (pa, pb) = (
            after.provisioned_throughput().unwrap(),
            before.provisioned_throughput().unwrap(),
        );
        assert_eq!(
            (pa.read_capacity_units(), pa.write_capacity_units()),
            (pb.read_capacity_units(), pb.write_capacity_units()),
            "{name} ProvisionedThroughput"
        );
    }
    let list = client.list_tables().send().await.expect("ListTables");
    assert_eq!(list.table_names(), &["persist-a", "persist-b"]);

    for (i, it) in a_items.iter().enumerate() {
        let got = client
            .get_item()
            .table_name("persist-a")
            .key("pk", it["pk"].clone())
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem after restart");
        if i == 0 {
            assert!(
                got.item().is_none(),
                "deleted item came back: {:?}",
                got.item()
            );
        } else {
            assert_eq!(got.item(), Some(it), "item {i} after restart");
        }
    }
    let got = client
        .get_item()
        .table_name("persist-b")
        .key("h", n("42"))
        .key("r", b(&[0, 1, 2, 255]))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem persist-b after restart");
    assert_eq!(got.item(), Some(&b_item));

    let tags = client
        .list_tags_of_resource()
        .resource_arn(before_a.table_arn().unwrap())
        .send()
        .await
        .expect("ListTagsOfResource after restart");
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, vec![("keep", "me")]);

    // Still writable after the restart.
    client
        .put_item()
        .table_name("persist-a")
        .item("pk", s("after-restart"))
        .send()
        .await
        .expect("PutItem after restart");
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let mut server = TestServer::start();
    let client = server.client();
    create_table(&client, "bye", ("pk", ScalarAttributeType::S), None).await;
    let status = server.stop_graceful();
    assert!(
        status.success(),
        "SIGTERM should shut cirrus down cleanly with exit status 0, got {status}\n{}",
        server.logs()
    );
}

#[tokio::test]
async fn startup_log_line_names_listen_address_and_data_dir() {
    let server = TestServer::start();
    // The line is written when the server listens; allow a moment for it to be flushed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = format!("127.0.0.1:{}", server.port);
    let dir = server.data_dir().display().to_string();
    loop {
        let logs = server.logs();
        if logs.lines().any(|l| l.contains(&addr) && l.contains(&dir)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no startup log line mentions both {addr} and {dir}:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn table_names_are_case_sensitive() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "Orders", ("id", ScalarAttributeType::S), None).await;
    create_table(&client, "orders", ("id", ScalarAttributeType::N), None).await;
    client
        .put_item()
        .table_name("Orders")
        .item("id", s("upper"))
        .send()
        .await
        .expect("PutItem Orders");
    client
        .put_item()
        .table_name("orders")
        .item("id", n("1"))
        .send()
        .await
        .expect("PutItem orders");
    let upper = describe(&client, "Orders").await;
    let lower = describe(&client, "orders").await;
    assert_ne!(upper.table_id(), lower.table_id());
    assert_eq!(
        upper.attribute_definitions()[0].attribute_type(),
        &ScalarAttributeType::S
    );
    assert_eq!(
        lower.attribute_definitions()[0].attribute_type(),
        &ScalarAttributeType::N
    );
    let list = client.list_tables().send().await.expect("ListTables");
    assert_eq!(list.table_names(), &["Orders", "orders"]);
    let (code, _) = expect_err(
        "DescribeTable ORDERS",
        client.describe_table().table_name("ORDERS").send().await,
    );
    assert_eq!(code, "ResourceNotFoundException");
}

/// A table's partitioning is fixed when it is created: restarting the server with a
/// different `--partitions-per-table` must not make existing items unreachable.
#[tokio::test]
async fn existing_tables_keep_their_items_when_partitions_per_table_changes() {
    let mut server = TestServer::start_with(&["--partitions-per-table", "4"]);
    let client = server.client();
    create_table(&client, "repart", ("pk", ScalarAttributeType::S), None).await;
    for i in 0..64 {
        client
            .put_item()
            .table_name("repart")
            .item("pk", s(&format!("key-{i}")))
            .item("i", n(&i.to_string()))
            .send()
            .await
            .expect("PutItem");
    }
    for args in [
        &["--partitions-per-table", "1"][..],
        &["--partitions-per-table", "7"][..],
        &[][..],
    ] {
        server.restart_with(args);
        let client = server.client();
        let mut missing = Vec::new();
        for i in 0..64 {
            let got = client
                .get_item()
                .table_name("repart")
                .key("pk", s(&format!("key-{i}")))
                .consistent_read(true)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GetItem after restart with {args:?}: {e:?}"));
            if got.item()
                != Some(&item(&[
                    ("pk", s(&format!("key-{i}"))),
                    ("i", n(&i.to_string())),
                ]))
            {
                missing.push(i);
            }
        }
        assert!(
            missing.is_empty(),
            "after restarting with {args:?}, items {missing:?} are missing or wrong"
        );
        // New writes and reads still agree.
        client
            .put_item()
            .table_name("repart")
            .item("pk", s("new"))
            .send()
            .await
            .expect("PutItem after restart");
        let got = client
            .get_item()
            .table_name("repart")
            .key("pk", s("new"))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        assert!(got.item().is_some());
    }
}
