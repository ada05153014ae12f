//! Online index changes and index crash safety.
//!
//! - UpdateTable GlobalSecondaryIndexUpdates Create on a table of a few thousand items while
//!   writers keep putting, updating and deleting: the index is CREATING (reads of it are
//!   refused while it backfills) and then ACTIVE, and once the writers stop it holds
//!   exactly what a fresh computation from a Scan of the table says.
//! - UpdateTable Delete: the index disappears, and reading it is a ValidationException;
//!   creating an index that exists and deleting one that does not are errors.
//! - `kill -9` while writers are busy on a table with GSIs and an LSI: after the restart
//!   every index equals a fresh computation from the table (no lost, duplicated or stale
//!   entries), DescribeTable's ItemCount of each index is its number of entries, and every
//!   acknowledged write is there.
//!
//! Expected behaviour: the UpdateTable API reference (GlobalSecondaryIndexUpdates; "You can
//! create or delete only one global secondary index per UpdateTable operation"; new index
//! key attributes go in AttributeDefinitions; ResourceNotFoundException: "The operation
//! tried to access a nonexistent table or index"), the Developer Guide ("Adding a global
//! secondary index to an existing table": IndexStatus CREATING with Backfilling, then
//! ACTIVE; items whose index key has the wrong type are not indexed), ScyllaDB's Alternator
//! tests checked against DynamoDB (test_gsi.py: test_gsi_backfill — wrong-typed and missing
//! keys are skipped; "already exists" on re-creating an index; test_gsi_delete — a query
//! of a deleted index is a ValidationException naming it; test_gsi_backfill_empty_string —
//! empty strings are skipped), and the text DynamoDB returns while an index backfills:
//! "Cannot read from backfilling global secondary index: <name>".

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    IndexStatus, KeyType, LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";
const NOT_FOUND: &str = "ResourceNotFoundException";
const TABLE_KEYS: [&str; 2] = ["pk", "sk"];

fn projection(kind: ProjectionType, include: &[&str]) -> Projection {
    let mut p = Projection::builder().projection_type(kind);
    for a in include {
        p = p.non_key_attributes(*a);
    }
    p.build()
}

fn throughput(r: i64, w: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(r)
        .write_capacity_units(w)
        .build()
        .unwrap()
}

fn delete_action(name: &str) -> GlobalSecondaryIndexUpdate {
    GlobalSecondaryIndexUpdate::builder()
        .delete(
            DeleteGlobalSecondaryIndexAction::builder()
                .index_name(name)
                .build()
                .unwrap(),
        )
        .build()
}

fn first_lines(lines: &[String]) -> String {
    let mut out = lines
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n    ");
    if lines.len() > 10 {
        out.push_str(&format!("\n    … {} in all", lines.len()));
    }
    out
}

fn where_eq(items: &[Attrs], attr: &str, v: &AttributeValue) -> Vec<Attrs> {
    items
        .iter()
        .filter(|it| it.get(attr) == Some(v))
        .cloned()
        .collect()
}

fn num(v: Option<&AttributeValue>) -> Option<f64> {
    match v {
        Some(AttributeValue::N(x)) => x.parse().ok(),
        _ => None,
    }
}

/// Every item of a Query, paged to the end.
async fn query_all(
    client: &Client,
    table: &str,
    index: &str,
    hash: &str,
    v: AttributeValue,
) -> Result<Vec<Attrs>, String> {
    let mut out = Vec::new();
    let mut start: Option<Attrs> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", hash)
            .expression_attribute_values(":h", v.clone())
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("Query {index} {hash} = {v:?}: {e:?}"))?;
        out.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(out),
        }
    }
    Err(format!(
        "Query {index} did not finish within {MAX_PAGES} pages"
    ))
}

fn gsi_status(
    desc: &aws_sdk_dynamodb::types::TableDescription,
    name: &str,
) -> Option<(Option<IndexStatus>, Option<bool>)> {
    desc.global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some(name))
        .map(|g| (g.index_status().cloned(), g.backfilling()))
}

/// A small deterministic pseudo-random generator (no external crates in tests).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------------------
// UpdateTable Create: backfill under concurrent writes
// ---------------------------------------------------------------------------------------

const BF: &str = "ix_backfill";
const BF_ITEMS: usize = 3000;
/// Writers pick keys among the loaded ones and some new ones.
const BF_KEY_SPACE: u64 = 3600;
const BF_WRITERS: usize = 3;
const BF_MAX_OPS_PER_WRITER: usize = 100_000;

fn bf_key(i: u64) -> Attrs {
    item(&[
        ("pk", s(&format!("p{:02}", i % 60))),
        ("sk", n(&i.to_string())),
    ])
}

/// The loaded items. Of the `cat` values, a tenth are missing, a tenth are numbers (the
/// wrong type for the index created later) and a tenth are empty strings: none of those
/// may end up in the index.
fn bf_item(i: usize) -> Attrs {
    let mut it = bf_key(i as u64);
    match i % 10 {
        0 => {}
        1 => {
            it.insert("cat".into(), n(&(i % 7).to_string()));
        }
        2 => {
            it.insert("cat".into(), s(""));
        }
        _ => {
            it.insert("cat".into(), s(&format!("c{}", i % 7)));
        }
    }
    if !i.is_multiple_of(13) {
        it.insert("rank".into(), n(&(i % 100).to_string()));
    }
    it.insert("payload".into(), s(&format!("payload-{i}")));
    it.insert("version".into(), n("0"));
    it.insert("junk".into(), s("not projected"));
    it
}

/// One writer: puts, updates (moving items between index keys, removing the index key,
/// changing projected and unprojected attributes) and deletes until told to stop.
/// Returns the number of writes and the errors seen.
async fn bf_writer(client: Client, task: usize, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let mut rng = Lcg(0x5eed_0000 + task as u64);
    let mut errors = Vec::new();
    let mut done = 0;
    let mut rejected = 0;
    let started = Instant::now();
    for seq in 0..BF_MAX_OPS_PER_WRITER {
        if stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(240) {
            break;
        }
        let i = rng.below(BF_KEY_SPACE);
        let k = bf_key(i);
        let cat = s(&format!("c{}", rng.below(7)));
        let rank = n(&rng.below(100).to_string());
        let version = n(&format!("{}", seq + 1));
        let res = match rng.below(20) {
            0..=6 => {
                let mut it = k.clone();
                if rng.below(5) != 0 {
                    it.insert("cat".into(), cat);
                }
                if rng.below(8) != 0 {
                    it.insert("rank".into(), rank);
                }
                it.insert("payload".into(), s(&format!("w{task}-{seq}")));
                it.insert("version".into(), version);
                it.insert("junk".into(), s("still not projected"));
                client
                    .put_item()
                    .table_name(BF)
                    .set_item(Some(it))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("PutItem: {e:?}"))
            }
            7..=11 => client
                .update_item()
                .table_name(BF)
                .set_key(Some(k))
                .update_expression("SET cat = :c, #r = :r, version = :v")
                .expression_attribute_names("#r", "rank")
                .expression_attribute_values(":c", cat)
                .expression_attribute_values(":r", rank)
                .expression_attribute_values(":v", version)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("UpdateItem SET cat: {e:?}")),
            12..=13 => client
                .update_item()
                .table_name(BF)
                .set_key(Some(k))
                .update_expression("REMOVE cat SET version = :v")
                .expression_attribute_values(":v", version)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("UpdateItem REMOVE cat: {e:?}")),
            14..=16 => client
                .update_item()
                .table_name(BF)
                .set_key(Some(k))
                .update_expression("SET payload = :p, junk = :j")
                .expression_attribute_values(":p", s(&format!("u{task}-{seq}")))
                .expression_attribute_values(":j", s(&format!("junk{seq}")))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("UpdateItem SET payload: {e:?}")),
            _ => client
                .delete_item()
                .table_name(BF)
                .set_key(Some(k))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("DeleteItem: {e:?}")),
        };
        match res {
            Ok(()) => done += 1,
            // Once the index exists, a write that leaves an item with a wrong-typed or empty
            // `cat` (loaded before the index) is rejected: "After the backfill phase
            // completes, all writes to items that violate the new index key schema are
            // rejected" (Developer Guide, index key violations). Only the update that leaves
            // `cat` alone can meet one.
            Err(e)
                if e.starts_with("UpdateItem SET payload") && e.contains("IndexName: by_cat") =>
            {
                rejected += 1;
            }
            Err(e) => {
                if errors.len() < 5 {
                    errors.push(e);
                }
            }
        }
    }
    if rejected > 0 {
        eprintln!("writer {task}: {rejected} updates of index-violating items rejected");
    }
    (done, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creating_a_gsi_backfills_a_loaded_table_while_writers_run() {
    let server = TestServer::start_with(&["--partitions-per-table", "4"]);
    let client = server.client();
    create_table(
        &client,
        BF,
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let items: Vec<Attrs> = (0..BF_ITEMS).map(bf_item).collect();
    let mut loaders = Vec::new();
    for part in items.chunks(BF_ITEMS / 4) {
        let client = client.clone();
        let part = part.to_vec();
        loaders.push(tokio::spawn(async move {
            batch_put_all(&client, BF, &part).await
        }));
    }
    for l in loaders {
        l.await.expect("loader panicked");
    }
    assert_eq!(scan_everything(&client, BF).await.len(), BF_ITEMS);

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..BF_WRITERS)
        .map(|t| tokio::spawn(bf_writer(client.clone(), t, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut f = Failures::new();
    let include = ["payload", "version"];
    let out = client
        .update_table()
        .table_name(BF)
        .attribute_definitions(attr_def("cat", ScalarAttributeType::S))
        .attribute_definitions(attr_def("rank", ScalarAttributeType::N))
        .global_secondary_index_updates(gsi_create_action(
            "by_cat",
            "cat",
            Some("rank"),
            projection(ProjectionType::Include, &include),
        ))
        .send()
        .await
        .expect("UpdateTable Create GSI by_cat");
    let desc = out
        .table_description()
        .expect("UpdateTable TableDescription");
    match gsi_status(desc, "by_cat") {
        Some((Some(IndexStatus::Creating), _)) => {}
        other => f.push(format!(
            "UpdateTable response: by_cat status {other:?}, want CREATING"
        )),
    }
    if !matches!(
        desc.table_status(),
        Some(TableStatus::Updating) | Some(TableStatus::Active)
    ) {
        f.push(format!(
            "UpdateTable response: TableStatus {:?}",
            desc.table_status()
        ));
    }

    // Poll until ACTIVE: CREATING (perhaps backfilling) first, never anything else, and the
    // index refuses reads while it is not ACTIVE.
    let deadline = Instant::now() + INDEX_STATE_TIMEOUT;
    let mut seen = Vec::new();
    let mut refused_reads = 0;
    loop {
        let d = describe_table(&client, BF).await;
        let st = gsi_status(&d, "by_cat");
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        match st {
            Some((Some(IndexStatus::Active), backfilling)) => {
                if backfilling == Some(true) {
                    f.push("by_cat ACTIVE with Backfilling true".to_owned());
                }
                break;
            }
            Some((Some(IndexStatus::Creating), _)) => {
                let r = client
                    .query()
                    .table_name(BF)
                    .index_name("by_cat")
                    .key_condition_expression("cat = :c")
                    .expression_attribute_values(":c", s("c1"))
                    .send()
                    .await;
                match r {
                    Err(e) => {
                        let msg = e.message().unwrap_or_default().to_owned();
                        if e.code() != Some(VALIDATION)
                            || !msg.contains("Cannot read from backfilling global secondary index")
                        {
                            f.push(format!(
                                "Query of the CREATING index: {:?} {msg:?}, want ValidationException \"Cannot read from backfilling global secondary index: by_cat\"",
                                e.code()
                            ));
                        }
                        refused_reads += 1;
                    }
                    Ok(_) => {
                        // Allowed only if the index became ACTIVE meanwhile.
                        let again = gsi_status(&describe_table(&client, BF).await, "by_cat");
                        if !matches!(again, Some((Some(IndexStatus::Active), _))) {
                            f.push(format!("Query of by_cat succeeded while it is {again:?}"));
                        }
                    }
                }
            }
            other => {
                f.push(format!("by_cat status {other:?} while being created"));
                break;
            }
        }
        if Instant::now() > deadline {
            stop.store(true, Ordering::SeqCst);
            panic!("by_cat not ACTIVE within {INDEX_STATE_TIMEOUT:?}; statuses seen {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("by_cat statuses: {seen:?}; {refused_reads} reads refused while CREATING");

    // Writes keep going for a moment against the ACTIVE index, then stop.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    let mut writes = 0;
    for w in writers {
        let (done, errors) = tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("writer did not stop")
            .expect("writer panicked");
        writes += done;
        for e in errors {
            f.push(format!("writer error: {e}"));
        }
    }
    eprintln!("{writes} concurrent writes");
    assert!(writes > 0, "the writers wrote nothing");

    let desc = describe_table(&client, BF).await;
    let defs: BTreeMap<String, String> = desc
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    if defs.get("cat").map(String::as_str) != Some("S")
        || defs.get("rank").map(String::as_str) != Some("N")
    {
        f.push(format!("AttributeDefinitions after the create: {defs:?}"));
    }

    // The index equals a fresh computation from the table.
    let table = scan_everything(&client, BF).await;
    let keys = [
        ("cat", ScalarAttributeType::S),
        ("rank", ScalarAttributeType::N),
    ];
    let want = expected_index_entries(&table, &TABLE_KEYS, &keys, Some(&include));
    let skipped = table
        .iter()
        .filter(|it| {
            matches!(it.get("cat"), Some(AttributeValue::N(_))) || it.get("cat") == Some(&s(""))
        })
        .count();
    assert!(
        skipped > 0,
        "test data must keep some wrong-typed or empty cat values"
    );
    let got = scan_index_everything(&client, BF, "by_cat").await;
    let diffs = index_differences(&want, &got, &TABLE_KEYS);
    if !diffs.is_empty() {
        f.push(format!(
            "Scan of by_cat ({} entries) vs the table ({} expected entries of {} items):\n    {}",
            got.len(),
            want.len(),
            table.len(),
            first_lines(&diffs)
        ));
    }
    for c in 0..7 {
        let cat = s(&format!("c{c}"));
        match query_all(&client, BF, "by_cat", "cat", cat.clone()).await {
            Ok(got) => {
                let d = index_differences(&where_eq(&want, "cat", &cat), &got, &TABLE_KEYS);
                if !d.is_empty() {
                    f.push(format!("Query by_cat cat = c{c}: {}", first_lines(&d)));
                }
                let ranks: Vec<f64> = got.iter().filter_map(|it| num(it.get("rank"))).collect();
                if ranks.windows(2).any(|w| w[0] > w[1]) || ranks.len() != got.len() {
                    f.push(format!("Query by_cat cat = c{c}: not in rank order"));
                }
            }
            Err(e) => f.push(e),
        }
    }
    let count = describe_table(&client, BF)
        .await
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("by_cat"))
        .and_then(|g| g.item_count());
    if count != Some(want.len() as i64) {
        f.push(format!(
            "DescribeTable ItemCount of by_cat {count:?}, want {}",
            want.len()
        ));
    }
    // Now that the index exists, it constrains writes.
    let mut bad = bf_key(BF_KEY_SPACE + 1);
    bad.insert("cat".into(), n("1"));
    let r = client
        .put_item()
        .table_name(BF)
        .set_item(Some(bad))
        .send()
        .await;
    f.check(check_err(
        "PutItem with an N cat after by_cat exists",
        r,
        VALIDATION,
        Some("Type mismatch for Index Key cat Expected: S Actual: N IndexName: by_cat"),
    ));
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// UpdateTable Delete, and UpdateTable index errors
// ---------------------------------------------------------------------------------------

const BD: &str = "ix_delete";

async fn wait_gsi_gone(client: &Client, table: &str, index: &str, f: &mut Failures) {
    let deadline = Instant::now() + INDEX_STATE_TIMEOUT;
    loop {
        let d = describe_table(client, table).await;
        match gsi_status(&d, index) {
            None => return,
            Some((Some(IndexStatus::Deleting), _)) => {}
            other => f.push(format!("{index} is {other:?} while being deleted")),
        }
        assert!(
            Instant::now() < deadline,
            "{index} still listed {INDEX_STATE_TIMEOUT:?} after its deletion"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn deleting_a_gsi_removes_it_and_index_updates_are_validated() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name(BD)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("a", ScalarAttributeType::S))
        .attribute_definitions(attr_def("b", ScalarAttributeType::N))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_a")
                .key_schema(key("a", KeyType::Hash))
                .projection(projection(ProjectionType::All, &[]))
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_b")
                .key_schema(key("b", KeyType::Hash))
                .key_schema(key("sk", KeyType::Range))
                .projection(projection(ProjectionType::KeysOnly, &[]))
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_lb")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("b", KeyType::Range))
                .projection(projection(ProjectionType::KeysOnly, &[]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateTable ix_delete");
    wait_gsis_active(&client, BD).await;
    let items: Vec<Attrs> = (0..300)
        .map(|i| {
            let mut it = item(&[
                ("pk", s(&format!("p{}", i % 10))),
                ("sk", n(&i.to_string())),
                ("b", n(&(i % 9).to_string())),
            ]);
            if i % 4 != 0 {
                it.insert("a".into(), s(&format!("a{}", i % 5)));
            }
            it
        })
        .collect();
    batch_put_all(&client, BD, &items).await;
    let mut f = Failures::new();

    // Errors, none of which may change the table.
    let r = client
        .update_table()
        .table_name(BD)
        .attribute_definitions(attr_def("b", ScalarAttributeType::N))
        .global_secondary_index_updates(gsi_create_action(
            "by_b",
            "b",
            None,
            projection(ProjectionType::All, &[]),
        ))
        .send()
        .await;
    f.check(check_err(
        "Create an index that exists",
        r,
        VALIDATION,
        Some("already exists"),
    ));
    let r = client
        .update_table()
        .table_name(BD)
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .global_secondary_index_updates(gsi_create_action(
            "by_lb",
            "sk",
            None,
            projection(ProjectionType::All, &[]),
        ))
        .send()
        .await;
    f.check(check_err(
        "Create a GSI named like an existing LSI",
        r,
        VALIDATION,
        Some("already exists"),
    ));
    let r = client
        .update_table()
        .table_name(BD)
        .global_secondary_index_updates(delete_action("nope"))
        .send()
        .await;
    f.check(check_err(
        "Delete an index that does not exist",
        r,
        NOT_FOUND,
        None,
    ));
    let r = client
        .update_table()
        .table_name("ix_no_such_table")
        .global_secondary_index_updates(delete_action("by_a"))
        .send()
        .await;
    f.check(check_err(
        "Delete an index of a missing table",
        r,
        NOT_FOUND,
        None,
    ));
    let r = client
        .update_table()
        .table_name(BD)
        .global_secondary_index_updates(gsi_create_action(
            "by_c",
            "c",
            None,
            projection(ProjectionType::All, &[]),
        ))
        .send()
        .await;
    f.check(check_err(
        "Create an index on an undefined attribute",
        r,
        VALIDATION,
        None,
    ));
    let r = client
        .update_table()
        .table_name(BD)
        .attribute_definitions(attr_def("c", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action(
            "by_c",
            "c",
            None,
            projection(ProjectionType::Include, &[]),
        ))
        .send()
        .await;
    f.check(check_err(
        "Create an INCLUDE index without NonKeyAttributes",
        r,
        VALIDATION,
        Some("NonKeyAttributes"),
    ));
    let r = client
        .update_table()
        .table_name(BD)
        .attribute_definitions(attr_def("c", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action(
            "xy",
            "c",
            None,
            projection(ProjectionType::All, &[]),
        ))
        .send()
        .await;
    f.check(check_err(
        "Create an index with a 2-character name",
        r,
        VALIDATION,
        None,
    ));
    // One online index change per UpdateTable.
    const ONE_AT_A_TIME: &str =
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table";
    let r = client
        .update_table()
        .table_name(BD)
        .attribute_definitions(attr_def("c", ScalarAttributeType::S))
        .attribute_definitions(attr_def("d", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action(
            "by_c",
            "c",
            None,
            projection(ProjectionType::All, &[]),
        ))
        .global_secondary_index_updates(gsi_create_action(
            "by_d",
            "d",
            None,
            projection(ProjectionType::All, &[]),
        ))
        .send()
        .await;
    f.check(check_err(
        "Create two indexes in one UpdateTable",
        r,
        "LimitExceededException",
        Some(ONE_AT_A_TIME),
    ));
    let r = client
        .update_table()
        .table_name(BD)
        .attribute_definitions(attr_def("c", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action(
            "by_c",
            "c",
            None,
            projection(ProjectionType::All, &[]),
        ))
        .global_secondary_index_updates(delete_action("by_b"))
        .send()
        .await;
    f.check(check_err(
        "Create one index and delete another in one UpdateTable",
        r,
        "LimitExceededException",
        Some(ONE_AT_A_TIME),
    ));
    let desc = describe_table(&client, BD).await;
    let names: BTreeSet<&str> = desc
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name())
        .collect();
    if names != ["by_a", "by_b"].into_iter().collect() {
        f.push(format!("GSIs after rejected updates: {names:?}"));
    }

    // Delete by_a.
    let out = client
        .update_table()
        .table_name(BD)
        .global_secondary_index_updates(delete_action("by_a"))
        .send()
        .await
        .expect("UpdateTable Delete by_a");
    if let Some(st) = out.table_description().and_then(|d| gsi_status(d, "by_a")) {
        if st.0 != Some(IndexStatus::Deleting) {
            f.push(format!(
                "UpdateTable Delete response: by_a is {st:?}, want DELETING"
            ));
        }
    }
    wait_gsi_gone(&client, BD, "by_a", &mut f).await;
    let r = client
        .query()
        .table_name(BD)
        .index_name("by_a")
        .key_condition_expression("a = :a")
        .expression_attribute_values(":a", s("a1"))
        .send()
        .await;
    f.check(check_err(
        "Query a deleted index",
        r,
        VALIDATION,
        Some("The table does not have the specified index: by_a"),
    ));
    let r = client.scan().table_name(BD).index_name("by_a").send().await;
    f.check(check_err(
        "Scan a deleted index",
        r,
        VALIDATION,
        Some("The table does not have the specified index: by_a"),
    ));
    let r = client
        .update_table()
        .table_name(BD)
        .global_secondary_index_updates(delete_action("by_a"))
        .send()
        .await;
    f.check(check_err("Delete an index twice", r, NOT_FOUND, None));
    // The other indexes are untouched.
    let table = scan_everything(&client, BD).await;
    let by_b = expected_index_entries(
        &table,
        &TABLE_KEYS,
        &[
            ("b", ScalarAttributeType::N),
            ("sk", ScalarAttributeType::N),
        ],
        Some(&[]),
    );
    let d = index_differences(
        &by_b,
        &scan_index_everything(&client, BD, "by_b").await,
        &TABLE_KEYS,
    );
    if !d.is_empty() {
        f.push(format!("by_b after deleting by_a: {}", first_lines(&d)));
    }
    let by_lb = expected_index_entries(
        &table,
        &TABLE_KEYS,
        &[
            ("pk", ScalarAttributeType::S),
            ("b", ScalarAttributeType::N),
        ],
        Some(&[]),
    );
    let d = index_differences(
        &by_lb,
        &scan_index_everything(&client, BD, "by_lb").await,
        &TABLE_KEYS,
    );
    if !d.is_empty() {
        f.push(format!("by_lb after deleting by_a: {}", first_lines(&d)));
    }
    // `a` is no longer an index key, so any type goes.
    let odd = item(&[
        ("pk", s("p0")),
        ("sk", n("1000")),
        ("a", n("5")),
        ("b", n("1")),
    ]);
    if let Err(e) = client
        .put_item()
        .table_name(BD)
        .set_item(Some(odd))
        .send()
        .await
    {
        f.push(format!(
            "PutItem with an N `a` after by_a was deleted: {e:?}"
        ));
    }

    // Re-create by_a (a new index under the old name): it backfills from the table and
    // skips the item whose `a` is now a number.
    client
        .update_table()
        .table_name(BD)
        .attribute_definitions(attr_def("a", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action(
            "by_a",
            "a",
            None,
            projection(ProjectionType::Include, &["b"]),
        ))
        .send()
        .await
        .expect("UpdateTable re-create by_a");
    let desc = wait_gsis_active(&client, BD).await;
    let p = desc
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("by_a"))
        .and_then(|g| g.projection())
        .and_then(|p| p.projection_type())
        .cloned();
    if p != Some(ProjectionType::Include) {
        f.push(format!(
            "re-created by_a has projection {p:?}, want INCLUDE"
        ));
    }
    let table = scan_everything(&client, BD).await;
    let want = expected_index_entries(
        &table,
        &TABLE_KEYS,
        &[("a", ScalarAttributeType::S)],
        Some(&["b"]),
    );
    let d = index_differences(
        &want,
        &scan_index_everything(&client, BD, "by_a").await,
        &TABLE_KEYS,
    );
    if !d.is_empty() {
        f.push(format!("re-created by_a: {}", first_lines(&d)));
    }
    f.assert_none();
}

#[tokio::test]
async fn creating_a_gsi_on_a_provisioned_table_needs_its_throughput() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("ix_prov_upd")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(5, 5))
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .send()
        .await
        .expect("CreateTable");
    wait_active(&client, "ix_prov_upd").await;
    put_ok(
        &client,
        "ix_prov_upd",
        item(&[("pk", s("k")), ("g", s("v"))]),
    )
    .await;
    let mut f = Failures::new();
    let r = client
        .update_table()
        .table_name("ix_prov_upd")
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .global_secondary_index_updates(gsi_create_action(
            "by_g",
            "g",
            None,
            projection(ProjectionType::All, &[]),
        ))
        .send()
        .await;
    f.check(check_err(
        "Create a GSI without ProvisionedThroughput on a PROVISIONED table",
        r,
        VALIDATION,
        Some("ProvisionedThroughput"),
    ));
    let action = CreateGlobalSecondaryIndexAction::builder()
        .index_name("by_g")
        .key_schema(key("g", KeyType::Hash))
        .projection(projection(ProjectionType::All, &[]))
        .provisioned_throughput(throughput(2, 3))
        .build()
        .unwrap();
    client
        .update_table()
        .table_name("ix_prov_upd")
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(action).build(),
        )
        .send()
        .await
        .expect("Create a GSI with ProvisionedThroughput");
    let desc = wait_gsis_active(&client, "ix_prov_upd").await;
    let t = desc
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("by_g"))
        .and_then(|g| g.provisioned_throughput())
        .map(|t| (t.read_capacity_units(), t.write_capacity_units()));
    if t != Some((Some(2), Some(3))) {
        f.push(format!("by_g throughput {t:?}, want 2/3"));
    }
    let got = scan_index_everything(&client, "ix_prov_upd", "by_g").await;
    if got.len() != 1 {
        f.push(format!("by_g after backfill: {got:?}"));
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// kill -9 during writes
// ---------------------------------------------------------------------------------------

const KC: &str = "ix_crash";
const KC_WRITERS: usize = 6;
/// Keys per writer; writers own disjoint keys, so each key's history is one writer's.
const KC_KEYS_PER_WRITER: u64 = 90;
const KC_MAX_OPS_PER_WRITER: usize = 200_000;
const KC_MIN_LOAD: Duration = Duration::from_millis(2000);
const KC_MIN_ACKS: usize = 300;
const KC_MAX_LOAD: Duration = Duration::from_secs(30);

/// The three indexes of the crash table: (name, index key, projected non-key attributes).
type KcIndex = (
    &'static str,
    Vec<(&'static str, ScalarAttributeType)>,
    Option<Vec<&'static str>>,
);

fn kc_indexes() -> Vec<KcIndex> {
    use ScalarAttributeType::{N, S};
    vec![
        (
            "by_owner",
            vec![("owner", S), ("ts", N)],
            Some(vec!["payload"]),
        ),
        ("by_tag", vec![("tag", S)], Some(vec![])),
        ("by_ts", vec![("pk", S), ("ts", N)], Some(vec![])),
    ]
}

fn kc_key(task: usize, k: u64) -> Attrs {
    item(&[
        ("pk", s(&format!("t{task}-{}", k / 3))),
        ("sk", n(&(k % 3).to_string())),
    ])
}

/// A write and how it changes an item (`None`: absent).
#[derive(Clone, Debug)]
enum KcOp {
    Put(Attrs),
    /// UpdateItem SET owner, ts (creates the item when missing).
    Move(AttributeValue, AttributeValue),
    /// UpdateItem REMOVE owner, only if the item exists.
    Unown,
    /// UpdateItem SET payload, only if the item exists.
    Touch(AttributeValue),
    Delete,
}

impl KcOp {
    fn apply(&self, key: &Attrs, prev: &Option<Attrs>) -> Option<Attrs> {
        match self {
            KcOp::Put(it) => Some(it.clone()),
            KcOp::Move(o, t) => {
                let mut it = prev.clone().unwrap_or_else(|| key.clone());
                it.insert("owner".into(), o.clone());
                it.insert("ts".into(), t.clone());
                Some(it)
            }
            KcOp::Unown => prev.clone().map(|mut it| {
                it.remove("owner");
                it
            }),
            KcOp::Touch(p) => prev.clone().map(|mut it| {
                it.insert("payload".into(), p.clone());
                it
            }),
            KcOp::Delete => None,
        }
    }
}

/// The states an item may be in: one after an acknowledged write, more after writes whose
/// outcome is unknown (the kill).
type Possible = BTreeMap<String, Vec<Option<Attrs>>>;

fn key_id(key: &Attrs) -> String {
    table_key_of(key, &TABLE_KEYS)
}

fn push_state(states: &mut Vec<Option<Attrs>>, st: Option<Attrs>) {
    let c = st.as_ref().map(canonical_item);
    if !states.iter().any(|x| x.as_ref().map(canonical_item) == c) {
        states.push(st);
    }
}

async fn kc_writer(
    client: Client,
    task: usize,
    round: usize,
    mut possible: Possible,
    killed: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> (Possible, Vec<String>) {
    let mut rng = Lcg(0xc0ffee + (round * 100 + task) as u64);
    let mut errors = Vec::new();
    let started = Instant::now();
    for seq in 0..KC_MAX_OPS_PER_WRITER {
        if killed.load(Ordering::SeqCst) || started.elapsed() > KC_MAX_LOAD * 2 {
            break;
        }
        let key = kc_key(task, rng.below(KC_KEYS_PER_WRITER));
        let owner = s(&format!("o{}", rng.below(5)));
        let ts = n(&rng.below(1000).to_string());
        let op = match rng.below(10) {
            0..=3 => {
                let mut it = key.clone();
                if rng.below(6) != 0 {
                    it.insert("owner".into(), owner);
                    it.insert("ts".into(), ts);
                }
                if rng.below(3) != 0 {
                    it.insert("tag".into(), s(&format!("g{}", rng.below(3))));
                }
                it.insert("payload".into(), s(&format!("r{round}-t{task}-{seq}")));
                it.insert("other".into(), s("unprojected"));
                KcOp::Put(it)
            }
            4..=5 => KcOp::Move(owner, ts),
            6 => KcOp::Unown,
            7..=8 => KcOp::Touch(s(&format!("touch-r{round}-t{task}-{seq}"))),
            _ => KcOp::Delete,
        };
        let res = match &op {
            KcOp::Put(it) => client
                .put_item()
                .table_name(KC)
                .set_item(Some(it.clone()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            KcOp::Move(o, t) => client
                .update_item()
                .table_name(KC)
                .set_key(Some(key.clone()))
                .update_expression("SET #o = :o, ts = :t")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_values(":o", o.clone())
                .expression_attribute_values(":t", t.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            KcOp::Unown => client
                .update_item()
                .table_name(KC)
                .set_key(Some(key.clone()))
                .update_expression("REMOVE #o")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#o", "owner")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            KcOp::Touch(p) => client
                .update_item()
                .table_name(KC)
                .set_key(Some(key.clone()))
                .update_expression("SET payload = :p")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":p", p.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            KcOp::Delete => client
                .delete_item()
                .table_name(KC)
                .set_key(Some(key.clone()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
        };
        let states = possible.entry(key_id(&key)).or_insert_with(|| vec![None]);
        match res {
            Ok(()) => {
                let mut next = Vec::new();
                for st in states.iter() {
                    push_state(&mut next, op.apply(&key, st));
                }
                *states = next;
                acks.fetch_add(1, Ordering::SeqCst);
            }
            // The condition was evaluated against the stored item: nothing was written.
            Err((Some(code), _)) if code == "ConditionalCheckFailedException" => {
                acks.fetch_add(1, Ordering::SeqCst);
            }
            Err((_, e)) => {
                // Unknown outcome: the write may or may not have happened.
                let applied: Vec<Option<Attrs>> =
                    states.iter().map(|st| op.apply(&key, st)).collect();
                for st in applied {
                    push_state(states, st);
                }
                if killed.load(Ordering::SeqCst) {
                    break;
                }
                if errors.len() < 5 {
                    errors.push(e);
                }
            }
        }
    }
    (possible, errors)
}

/// Run the writers, SIGKILL the server mid-load, restart it; returns the possible states.
async fn kc_round(
    server: &mut TestServer,
    round: usize,
    before: &[Possible],
) -> (Vec<Possible>, Vec<String>) {
    let client = server.client_no_retry();
    let killed = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..KC_WRITERS)
        .map(|t| {
            tokio::spawn(kc_writer(
                client.clone(),
                t,
                round,
                before[t].clone(),
                killed.clone(),
                acks.clone(),
            ))
        })
        .collect();
    while started.elapsed() < KC_MIN_LOAD || acks.load(Ordering::SeqCst) < KC_MIN_ACKS {
        if started.elapsed() > KC_MAX_LOAD {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked_at_kill = acks.load(Ordering::SeqCst);
    killed.store(true, Ordering::SeqCst);
    server.kill9();
    let mut after = Vec::new();
    let mut errors = Vec::new();
    for h in handles {
        let (p, e) = tokio::time::timeout(Duration::from_secs(60), h)
            .await
            .expect("writer did not stop after the kill")
            .expect("writer panicked");
        after.push(p);
        errors.extend(e);
    }
    eprintln!(
        "round {round}: {acked_at_kill} writes acknowledged when SIGKILL was sent after {:?}",
        started.elapsed()
    );
    assert!(
        acked_at_kill > 0,
        "round {round}: no write was acknowledged before the kill"
    );
    server.start_again();
    (after, errors)
}

/// After a restart: every item is in one of its possible states, every index equals a
/// fresh computation from the table, and each index's ItemCount is its number of entries.
/// Returns the table's items.
async fn kc_verify(client: &Client, possible: &[Possible], when: &str) -> Vec<Attrs> {
    let mut f = Failures::new();
    let table = scan_everything(client, KC).await;
    let mut by_key: BTreeMap<String, Attrs> = BTreeMap::new();
    for it in &table {
        by_key.insert(key_id(it), it.clone());
    }
    let mut known = BTreeSet::new();
    for p in possible {
        for (k, states) in p {
            known.insert(k.clone());
            let actual = by_key.get(k).map(canonical_item);
            if !states
                .iter()
                .any(|st| st.as_ref().map(canonical_item) == actual)
            {
                f.push(format!(
                    "{when}: item {k} is {actual:?}, but its writes allow only {states:?}"
                ));
            }
        }
    }
    for k in by_key.keys() {
        if !known.contains(k) {
            f.push(format!("{when}: item {k} was never written"));
        }
    }
    let desc = describe_table(client, KC).await;
    for (name, keys, include) in kc_indexes() {
        let want = expected_index_entries(&table, &TABLE_KEYS, &keys, include.as_deref());
        let got = scan_index_everything(client, KC, name).await;
        let diffs = index_differences(&want, &got, &TABLE_KEYS);
        if !diffs.is_empty() {
            f.push(format!(
                "{when}: index {name} ({} entries, {} expected from {} items):\n    {}",
                got.len(),
                want.len(),
                table.len(),
                first_lines(&diffs)
            ));
        }
        let count = desc
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(name))
            .and_then(|g| g.item_count())
            .or_else(|| {
                desc.local_secondary_indexes()
                    .iter()
                    .find(|l| l.index_name() == Some(name))
                    .and_then(|l| l.item_count())
            });
        if count != Some(want.len() as i64) {
            f.push(format!(
                "{when}: DescribeTable ItemCount of {name} is {count:?}, want {}",
                want.len()
            ));
        }
    }
    // Queries by owner return that owner's entries in ts order.
    let (_, keys, include) = kc_indexes().remove(0);
    let entries = expected_index_entries(&table, &TABLE_KEYS, &keys, include.as_deref());
    for o in 0..5 {
        let owner = s(&format!("o{o}"));
        match query_all(client, KC, "by_owner", "owner", owner.clone()).await {
            Ok(got) => {
                let d = index_differences(&where_eq(&entries, "owner", &owner), &got, &TABLE_KEYS);
                if !d.is_empty() {
                    f.push(format!("{when}: Query by_owner o{o}: {}", first_lines(&d)));
                }
                let ts: Vec<f64> = got.iter().filter_map(|it| num(it.get("ts"))).collect();
                if ts.windows(2).any(|w| w[0] > w[1]) {
                    f.push(format!("{when}: Query by_owner o{o} not in ts order"));
                }
            }
            Err(e) => f.push(format!("{when}: {e}")),
        }
    }
    f.assert_none();
    table
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn indexes_match_the_table_after_sigkill_during_writes() {
    let mut server = TestServer::start_with(&["--partitions-per-table", "4"]);
    {
        let client = server.client();
        let mut req = client
            .create_table()
            .table_name(KC)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
            .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
            .attribute_definitions(attr_def("owner", ScalarAttributeType::S))
            .attribute_definitions(attr_def("ts", ScalarAttributeType::N))
            .attribute_definitions(attr_def("tag", ScalarAttributeType::S));
        for (name, keys, include) in kc_indexes() {
            let p = match include.as_deref() {
                Some([]) => projection(ProjectionType::KeysOnly, &[]),
                Some(attrs) => projection(ProjectionType::Include, attrs),
                None => projection(ProjectionType::All, &[]),
            };
            if keys[0].0 == "pk" {
                req = req.local_secondary_indexes(
                    LocalSecondaryIndex::builder()
                        .index_name(name)
                        .key_schema(key("pk", KeyType::Hash))
                        .key_schema(key(keys[1].0, KeyType::Range))
                        .projection(p)
                        .build()
                        .unwrap(),
                );
            } else {
                let mut g = GlobalSecondaryIndex::builder()
                    .index_name(name)
                    .key_schema(key(keys[0].0, KeyType::Hash))
                    .projection(p);
                if let Some((r, _)) = keys.get(1) {
                    g = g.key_schema(key(r, KeyType::Range));
                }
                req = req.global_secondary_indexes(g.build().unwrap());
            }
        }
        req.send().await.expect("CreateTable ix_crash");
        wait_gsis_active(&client, KC).await;
    }

    let mut possible: Vec<Possible> = vec![Possible::new(); KC_WRITERS];
    for round in 1..=2 {
        let (after, errors) = kc_round(&mut server, round, &possible).await;
        if !errors.is_empty() {
            eprintln!("round {round}: write errors before the kill: {errors:?}");
        }
        let client = server.client();
        let table = kc_verify(&client, &after, &format!("after SIGKILL round {round}")).await;
        // The next round starts from what is actually stored.
        let stored: BTreeMap<String, Attrs> =
            table.into_iter().map(|it| (key_id(&it), it)).collect();
        possible = after
            .into_iter()
            .map(|p| {
                p.into_keys()
                    .map(|k| {
                        let st = stored.get(&k).cloned();
                        (k, vec![st])
                    })
                    .collect()
            })
            .collect();
    }
    // And the indexes keep working after the restarts.
    let client = server.client();
    put_ok(
        &client,
        KC,
        item(&[
            ("pk", s("final")),
            ("sk", n("0")),
            ("owner", s("o-final")),
            ("ts", n("1")),
            ("payload", s("p")),
        ]),
    )
    .await;
    let got = query_all(&client, KC, "by_owner", "owner", s("o-final"))
        .await
        .expect("Query by_owner after the restarts");
    assert_eq!(got.len(), 1, "new entry after the restarts: {got:?}");
}
