//! Secondary indexes created with the table: CreateTable validation of GSI/LSI definitions,
//! DescribeTable's index descriptions, sparse indexes and index key type checks on writes,
//! and Query/Scan with IndexName (key conditions, order, paging, filters, projections,
//! Select, parallel scan), with writes to the base table reflected in every index.
//!
//! Expected behaviour and messages come from the DynamoDB API reference (CreateTable,
//! GlobalSecondaryIndex, LocalSecondaryIndex, Projection: "the total count of
//! NonKeyAttributes summed across all of the secondary indexes, must not exceed 100";
//! Query: "Strongly consistent reads are not supported on global secondary indexes",
//! "ALL_ATTRIBUTES … If you query a local secondary index, then for each matching item in
//! the index, DynamoDB fetches the entire item from the parent table", "ALL_PROJECTED_
//! ATTRIBUTES - Allowed only when querying an index"), from dynalite's test-suite, which is
//! run against the real service (test/createTable.js and test/query.js: "Duplicate index
//! name: …", "Table KeySchema does not have a range key, which is required when specifying
//! a LocalSecondaryIndex", "Index KeySchema does not have the same leading hash key as
//! table KeySchema for index: …", "GlobalSecondaryIndex count exceeds the per-table limit
//! of 20", "Number of LocalSecondaryIndexes exceeds per-table limit of 5", "ProjectionType
//! is ALL, but NonKeyAttributes is specified", "Unknown ProjectionType: null", "The table
//! does not have the specified index: …", "Consistent reads are not supported on global
//! secondary indexes", "Select type ALL_ATTRIBUTES is not supported for global secondary
//! index … because its projection type is not ALL", "Query condition missed key schema
//! element: …"), from ScyllaDB's Alternator tests checked against DynamoDB (test_gsi.py,
//! test_lsi.py: sparse indexes; a write with a wrong-typed index key is rejected and changes
//! nothing, even in a BatchWriteItem; KEYS_ONLY/INCLUDE projections carry the table and
//! index keys), and from error texts DynamoDB users reported verbatim ("Type mismatch for
//! Index Key … Expected: S Actual: N IndexName: …", "A value specified for a secondary
//! index key is not supported. The AttributeValue for a key attribute cannot contain an
//! empty string value. IndexName: …, IndexKey: …", "ProjectionType is INCLUDE, but
//! NonKeyAttributes is not specified", "Some AttributeDefinitions are not used",
//! "ProvisionedThroughput is not specified for index: …").

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, PutRequest,
    ReturnValue, ScalarAttributeType, Select, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;
use serde_json::{json, Value};

const VALIDATION: &str = "ValidationException";
const NOT_FOUND: &str = "ResourceNotFoundException";
const TABLE_KEYS: [&str; 2] = ["pk", "sk"];

// ---------------------------------------------------------------------------------------
// Index definitions
// ---------------------------------------------------------------------------------------

fn projection(kind: ProjectionType, include: &[&str]) -> Projection {
    let mut p = Projection::builder().projection_type(kind);
    for a in include {
        p = p.non_key_attributes(*a);
    }
    p.build()
}

fn proj_all() -> Projection {
    projection(ProjectionType::All, &[])
}

fn proj_keys() -> Projection {
    projection(ProjectionType::KeysOnly, &[])
}

fn proj_include(attrs: &[&str]) -> Projection {
    projection(ProjectionType::Include, attrs)
}

fn gsi(name: &str, hash: &str, range: Option<&str>, p: Projection) -> GlobalSecondaryIndex {
    let mut b = GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .projection(p);
    if let Some(r) = range {
        b = b.key_schema(key(r, KeyType::Range));
    }
    b.build().unwrap()
}

fn lsi(name: &str, hash: &str, range: &str, p: Projection) -> LocalSecondaryIndex {
    LocalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
        .projection(p)
        .build()
        .unwrap()
}

fn throughput(r: i64, w: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(r)
        .write_capacity_units(w)
        .build()
        .unwrap()
}

fn key_pairs(ks: &[KeySchemaElement]) -> Vec<(String, String)> {
    ks.iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect()
}

fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn non_key_attrs(p: Option<&Projection>) -> Option<BTreeSet<String>> {
    p.and_then(|p| p.non_key_attributes.clone())
        .map(|v| v.into_iter().collect())
}

/// One secondary index of a test table, and what it should contain.
struct Spec {
    name: &'static str,
    global: bool,
    keys: Vec<(&'static str, ScalarAttributeType)>,
    /// `None`: ProjectionType ALL.
    include: Option<Vec<&'static str>>,
}

impl Spec {
    fn expected(&self, items: &[Attrs]) -> Vec<Attrs> {
        expected_index_entries(items, &TABLE_KEYS, &self.keys, self.include.as_deref())
    }

    /// The attributes of a LastEvaluatedKey from this index: index key plus table key.
    fn lek_attrs(&self) -> BTreeSet<String> {
        TABLE_KEYS
            .iter()
            .copied()
            .chain(self.keys.iter().map(|(k, _)| *k))
            .map(str::to_owned)
            .collect()
    }

    fn hash(&self) -> &'static str {
        self.keys[0].0
    }

    fn range(&self) -> Option<&'static str> {
        self.keys.get(1).map(|(k, _)| *k)
    }
}

// ---------------------------------------------------------------------------------------
// The query table: pk S / sk N with four GSIs and three LSIs
// ---------------------------------------------------------------------------------------

const Q: &str = "ix_q";
const Q_PARTITIONS: usize = 4;
const Q_PER_PARTITION: usize = 40;

fn q_specs() -> Vec<Spec> {
    use ScalarAttributeType::{N, S};
    vec![
        Spec {
            name: "by_g_all",
            global: true,
            keys: vec![("gpk", S), ("gsk", N)],
            include: None,
        },
        Spec {
            name: "by_g_keys",
            global: true,
            keys: vec![("gpk", S), ("gsk", N)],
            include: Some(vec![]),
        },
        Spec {
            name: "by_g_incl",
            global: true,
            keys: vec![("gpk", S), ("gsk", N)],
            include: Some(vec!["inc"]),
        },
        Spec {
            name: "by_gpk",
            global: true,
            keys: vec![("gpk", S)],
            include: None,
        },
        Spec {
            name: "by_l_all",
            global: false,
            keys: vec![("pk", S), ("lsk", S)],
            include: None,
        },
        Spec {
            name: "by_l_keys",
            global: false,
            keys: vec![("pk", S), ("lsk", S)],
            include: Some(vec![]),
        },
        Spec {
            name: "by_l_incl",
            global: false,
            keys: vec![("pk", S), ("lsk", S)],
            include: Some(vec!["inc"]),
        },
    ]
}

fn q_spec(name: &str) -> Spec {
    q_specs()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no spec {name}"))
}

/// 160 items in four partitions. Every item has `other`; `gpk` (3 values), `gsk` (4
/// values: many ties), `lsk` (13 values: ties within a partition) and `inc` are each
/// missing from some items, so every index is sparse.
fn q_items() -> Vec<Attrs> {
    let mut out = Vec::new();
    for p in 0..Q_PARTITIONS {
        for i in 0..Q_PER_PARTITION {
            let mut it = item(&[
                ("pk", s(&format!("p{p}"))),
                ("sk", n(&i.to_string())),
                ("other", s(&format!("other-{p}-{i}"))),
            ]);
            if i % 10 != 9 {
                it.insert("gpk".into(), s(&format!("g{}", (i + p) % 3)));
            }
            if i % 10 != 8 {
                it.insert("gsk".into(), n(&(i % 4).to_string()));
            }
            if i % 7 != 6 {
                it.insert("lsk".into(), s(&format!("l{:02}", (i * 7) % 13)));
            }
            if i % 5 != 4 {
                it.insert("inc".into(), s(&format!("inc-{p}-{i}")));
            }
            out.push(it);
        }
    }
    out
}

async fn create_q_table(client: &Client) {
    let mut req = client
        .create_table()
        .table_name(Q)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("gpk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gsk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("lsk", ScalarAttributeType::S));
    for spec in q_specs() {
        let p = match &spec.include {
            None => proj_all(),
            Some(v) if v.is_empty() => proj_keys(),
            Some(v) => proj_include(v),
        };
        if spec.global {
            req = req.global_secondary_indexes(gsi(spec.name, spec.hash(), spec.range(), p));
        } else {
            req =
                req.local_secondary_indexes(lsi(spec.name, spec.hash(), spec.range().unwrap(), p));
        }
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {Q}: {e:?}"));
    wait_active(client, Q).await;
    wait_gsis_active(client, Q).await;
}

/// The query table, loaded; returns its items.
async fn q_table(client: &Client) -> Vec<Attrs> {
    create_q_table(client).await;
    let items = q_items();
    batch_put_all(client, Q, &items).await;
    items
}

// ---------------------------------------------------------------------------------------
// Query/Scan helpers
// ---------------------------------------------------------------------------------------

/// DynamoDB's order of key values: numbers by value, strings by UTF-8 bytes, binary by
/// unsigned bytes.
fn cmp_key_values(a: &AttributeValue, b: &AttributeValue) -> Ordering {
    match (a, b) {
        (AttributeValue::N(x), AttributeValue::N(y)) => {
            let x: f64 = x.parse().unwrap_or_else(|_| panic!("bad number {x:?}"));
            let y: f64 = y.parse().unwrap_or_else(|_| panic!("bad number {y:?}"));
            x.partial_cmp(&y).unwrap()
        }
        (AttributeValue::S(x), AttributeValue::S(y)) => x.as_bytes().cmp(y.as_bytes()),
        (AttributeValue::B(x), AttributeValue::B(y)) => x.as_ref().cmp(y.as_ref()),
        _ => panic!("key values of different types: {a:?} and {b:?}"),
    }
}

/// A description of the first pair of items out of `attr` order, if any.
fn order_problem(items: &[Attrs], attr: &str, forward: bool) -> Option<String> {
    for (i, w) in items.windows(2).enumerate() {
        let (Some(a), Some(b)) = (w[0].get(attr), w[1].get(attr)) else {
            return Some(format!("item {i} or {} has no {attr}", i + 1));
        };
        let ord = cmp_key_values(a, b);
        if (forward && ord == Ordering::Greater) || (!forward && ord == Ordering::Less) {
            return Some(format!(
                "{attr} out of {} order at item {i}: {a:?} then {b:?}",
                if forward { "ascending" } else { "descending" }
            ));
        }
    }
    None
}

fn first_lines(lines: &[String]) -> String {
    let mut out = lines.iter().take(8).cloned().collect::<Vec<_>>().join("; ");
    if lines.len() > 8 {
        out.push_str(&format!("; … {} in all", lines.len()));
    }
    out
}

fn attr_names(it: &Attrs) -> BTreeSet<String> {
    it.keys().cloned().collect()
}

/// How a query's pages are checked beyond their contents.
#[derive(Clone, Copy)]
struct PageChecks<'a> {
    /// The index sort key and direction the concatenated items must be in.
    order: Option<(&'a str, bool)>,
    /// Each LastEvaluatedKey must have exactly these attributes.
    lek_attrs: Option<&'a BTreeSet<String>>,
    /// Each LastEvaluatedKey must equal the key of the last item of its page (true when
    /// nothing is filtered out).
    lek_is_last_item: bool,
}

const NO_CHECKS: PageChecks<'static> = PageChecks {
    order: None,
    lek_attrs: None,
    lek_is_last_item: false,
};

/// Run a Query to the end and compare what it returns with `expected` (by table key, with
/// every attribute), and check order, Count/ScannedCount and LastEvaluatedKeys.
async fn check_query(
    f: &mut Failures,
    what: &str,
    req: QueryFluentBuilder,
    expected: &[Attrs],
    checks: PageChecks<'_>,
) {
    let pages = match query_pages(&req).await {
        Ok(p) => p,
        Err(e) => {
            f.push(format!("{what}: {e}"));
            return;
        }
    };
    let mut items = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if page.count() as usize != page.items().len() {
            f.push(format!(
                "{what}: page {i} Count {} but {} items",
                page.count(),
                page.items().len()
            ));
        }
        if page.scanned_count() < page.count() {
            f.push(format!(
                "{what}: page {i} ScannedCount {} < Count {}",
                page.scanned_count(),
                page.count()
            ));
        }
        if let Some(lek) = page.last_evaluated_key().filter(|k| !k.is_empty()) {
            if let Some(want) = checks.lek_attrs {
                let got: BTreeSet<String> = lek.keys().cloned().collect();
                if &got != want {
                    f.push(format!(
                        "{what}: LastEvaluatedKey has attributes {got:?}, want {want:?}"
                    ));
                }
                if checks.lek_is_last_item {
                    if let Some(last) = page.items().last() {
                        let mismatched: Vec<&String> = want
                            .iter()
                            .filter(|a| last.get(*a) != lek.get(*a))
                            .collect();
                        if !mismatched.is_empty() {
                            f.push(format!(
                                "{what}: LastEvaluatedKey {lek:?} differs from the last item {last:?} in {mismatched:?}"
                            ));
                        }
                    }
                }
            }
        }
        items.extend(page.items().iter().cloned());
    }
    // Entries are matched by table key; projections without the table key as multisets.
    let keyed = expected
        .iter()
        .chain(&items)
        .all(|it| TABLE_KEYS.iter().all(|k| it.contains_key(*k)));
    let diffs = if keyed {
        index_differences(expected, &items, &TABLE_KEYS)
    } else {
        multiset_differences(expected, &items)
    };
    if !diffs.is_empty() {
        f.push(format!(
            "{what}: {} items, want {}: {}",
            items.len(),
            expected.len(),
            first_lines(&diffs)
        ));
    }
    if let Some((attr, forward)) = checks.order {
        if let Some(p) = order_problem(&items, attr, forward) {
            f.push(format!("{what}: {p}"));
        }
    }
}

/// Compares two lists of items as multisets (for items that lack the table key).
fn multiset_differences(expected: &[Attrs], got: &[Attrs]) -> Vec<String> {
    let count = |items: &[Attrs]| {
        let mut m: BTreeMap<String, i64> = BTreeMap::new();
        for it in items {
            let sorted: BTreeMap<&String, AttributeValue> =
                it.iter().map(|(k, v)| (k, canonical(v))).collect();
            *m.entry(format!("{sorted:?}")).or_default() += 1;
        }
        m
    };
    let (want, have) = (count(expected), count(got));
    let mut bad = Vec::new();
    for (k, w) in &want {
        let h = have.get(k).copied().unwrap_or(0);
        if h != *w {
            bad.push(format!("{k}: {h} returned, want {w}"));
        }
    }
    for (k, h) in &have {
        if !want.contains_key(k) {
            bad.push(format!("unexpected {k} ({h} returned)"));
        }
    }
    bad
}

fn only_attrs(items: &[Attrs], attrs: &[&str]) -> Vec<Attrs> {
    items
        .iter()
        .map(|it| {
            it.iter()
                .filter(|(k, _)| attrs.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect()
}

fn where_eq(items: &[Attrs], attr: &str, v: &AttributeValue) -> Vec<Attrs> {
    items
        .iter()
        .filter(|it| it.get(attr) == Some(v))
        .cloned()
        .collect()
}

fn num_of(it: &Attrs, attr: &str) -> Option<i64> {
    match it.get(attr) {
        Some(AttributeValue::N(x)) => x.parse().ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// CreateTable / DescribeTable
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_table_with_gsis_and_lsis_and_describe_them() {
    let server = TestServer::start();
    let client = server.client();
    let created = client
        .create_table()
        .table_name("ix_desc")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("g1", ScalarAttributeType::S))
        .attribute_definitions(attr_def("g2", ScalarAttributeType::N))
        .attribute_definitions(attr_def("gb", ScalarAttributeType::B))
        .attribute_definitions(attr_def("l1", ScalarAttributeType::S))
        .global_secondary_indexes(gsi("g_keys", "g1", Some("g2"), proj_keys()))
        .global_secondary_indexes(gsi("g_incl", "gb", None, proj_include(&["a", "b"])))
        .global_secondary_indexes(gsi("g_all", "g2", Some("sk"), proj_all()))
        .local_secondary_indexes(lsi("l_all", "pk", "l1", proj_all()))
        .local_secondary_indexes(lsi("l_incl", "pk", "g2", proj_include(&["c"])))
        .send()
        .await
        .expect("CreateTable with 3 GSIs and 2 LSIs");
    let mut f = Failures::new();
    let desc = created.table_description().expect("TableDescription");
    if desc.global_secondary_indexes().len() != 3 || desc.local_secondary_indexes().len() != 2 {
        f.push(format!(
            "CreateTable response: {} GSIs and {} LSIs, want 3 and 2",
            desc.global_secondary_indexes().len(),
            desc.local_secondary_indexes().len()
        ));
    }
    for g in desc.global_secondary_indexes() {
        if !matches!(
            g.index_status(),
            Some(IndexStatus::Creating) | Some(IndexStatus::Active)
        ) {
            f.push(format!(
                "CreateTable response: GSI {:?} IndexStatus {:?}, want CREATING (or ACTIVE)",
                g.index_name(),
                g.index_status()
            ));
        }
    }

    wait_active(&client, "ix_desc").await;
    let desc = wait_gsis_active(&client, "ix_desc").await;
    let table_arn = desc.table_arn().expect("TableArn").to_owned();
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
    let want_defs: BTreeMap<String, String> = [
        ("pk", "S"),
        ("sk", "N"),
        ("g1", "S"),
        ("g2", "N"),
        ("gb", "B"),
        ("l1", "S"),
    ]
    .iter()
    .map(|(a, t)| (a.to_string(), t.to_string()))
    .collect();
    if defs != want_defs {
        f.push(format!("AttributeDefinitions {defs:?}, want {want_defs:?}"));
    }

    type Want = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        ProjectionType,
        Option<Vec<&'static str>>,
    );
    let want_gsis: Vec<Want> = vec![
        (
            "g_keys",
            vec![("g1", "HASH"), ("g2", "RANGE")],
            ProjectionType::KeysOnly,
            None,
        ),
        (
            "g_incl",
            vec![("gb", "HASH")],
            ProjectionType::Include,
            Some(vec!["a", "b"]),
        ),
        (
            "g_all",
            vec![("g2", "HASH"), ("sk", "RANGE")],
            ProjectionType::All,
            None,
        ),
    ];
    let gsis = desc.global_secondary_indexes();
    if gsis.len() != want_gsis.len() {
        f.push(format!("DescribeTable: {} GSIs, want 3", gsis.len()));
    }
    for (name, ks, ptype, nka) in &want_gsis {
        let Some(g) = gsis.iter().find(|g| g.index_name() == Some(*name)) else {
            f.push(format!("DescribeTable: GSI {name} missing"));
            continue;
        };
        if key_pairs(g.key_schema()) != owned_pairs(ks) {
            f.push(format!("GSI {name}: KeySchema {:?}", g.key_schema()));
        }
        let p = g.projection();
        if p.and_then(|p| p.projection_type()) != Some(ptype) {
            f.push(format!("GSI {name}: Projection {p:?}, want {ptype:?}"));
        }
        let want_nka = nka
            .as_ref()
            .map(|v| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
        if non_key_attrs(p) != want_nka {
            f.push(format!(
                "GSI {name}: NonKeyAttributes {:?}, want {want_nka:?}",
                non_key_attrs(p)
            ));
        }
        if g.index_status() != Some(&IndexStatus::Active) {
            f.push(format!("GSI {name}: IndexStatus {:?}", g.index_status()));
        }
        if g.backfilling() == Some(true) {
            f.push(format!("GSI {name}: Backfilling true while ACTIVE"));
        }
        if g.index_size_bytes() != Some(0) || g.item_count() != Some(0) {
            f.push(format!(
                "GSI {name}: IndexSizeBytes {:?} ItemCount {:?}, want 0 and 0 for an empty table",
                g.index_size_bytes(),
                g.item_count()
            ));
        }
        let want_arn = format!("{table_arn}/index/{name}");
        if g.index_arn() != Some(want_arn.as_str()) {
            f.push(format!(
                "GSI {name}: IndexArn {:?}, want {want_arn:?}",
                g.index_arn()
            ));
        }
        match g.provisioned_throughput() {
            None => f.push(format!("GSI {name}: no ProvisionedThroughput")),
            Some(t) => {
                if t.read_capacity_units() != Some(0) || t.write_capacity_units() != Some(0) {
                    f.push(format!(
                        "GSI {name} of a PAY_PER_REQUEST table: ProvisionedThroughput {t:?}, want 0/0"
                    ));
                }
            }
        }
    }

    let want_lsis: Vec<Want> = vec![
        (
            "l_all",
            vec![("pk", "HASH"), ("l1", "RANGE")],
            ProjectionType::All,
            None,
        ),
        (
            "l_incl",
            vec![("pk", "HASH"), ("g2", "RANGE")],
            ProjectionType::Include,
            Some(vec!["c"]),
        ),
    ];
    let lsis = desc.local_secondary_indexes();
    if lsis.len() != want_lsis.len() {
        f.push(format!("DescribeTable: {} LSIs, want 2", lsis.len()));
    }
    for (name, ks, ptype, nka) in &want_lsis {
        let Some(l) = lsis.iter().find(|l| l.index_name() == Some(*name)) else {
            f.push(format!("DescribeTable: LSI {name} missing"));
            continue;
        };
        if key_pairs(l.key_schema()) != owned_pairs(ks) {
            f.push(format!("LSI {name}: KeySchema {:?}", l.key_schema()));
        }
        let p = l.projection();
        if p.and_then(|p| p.projection_type()) != Some(ptype) {
            f.push(format!("LSI {name}: Projection {p:?}, want {ptype:?}"));
        }
        let want_nka = nka
            .as_ref()
            .map(|v| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
        if non_key_attrs(p) != want_nka {
            f.push(format!(
                "LSI {name}: NonKeyAttributes {:?}, want {want_nka:?}",
                non_key_attrs(p)
            ));
        }
        if l.index_size_bytes() != Some(0) || l.item_count() != Some(0) {
            f.push(format!(
                "LSI {name}: IndexSizeBytes {:?} ItemCount {:?}, want 0 and 0",
                l.index_size_bytes(),
                l.item_count()
            ));
        }
        let want_arn = format!("{table_arn}/index/{name}");
        if l.index_arn() != Some(want_arn.as_str()) {
            f.push(format!(
                "LSI {name}: IndexArn {:?}, want {want_arn:?}",
                l.index_arn()
            ));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn gsi_of_a_provisioned_table_reports_its_own_throughput() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("ix_prov")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(5, 6))
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("g_idx")
                .key_schema(key("g", KeyType::Hash))
                .projection(proj_keys())
                .provisioned_throughput(throughput(3, 4))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateTable PROVISIONED with a GSI");
    let desc = wait_gsis_active(&client, "ix_prov").await;
    let g = desc
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("g_idx"))
        .expect("GSI g_idx in DescribeTable");
    let t = g
        .provisioned_throughput()
        .expect("GSI ProvisionedThroughput");
    assert_eq!(
        (t.read_capacity_units(), t.write_capacity_units()),
        (Some(3), Some(4)),
        "GSI throughput {t:?}"
    );
    let table_t = desc.provisioned_throughput().expect("table throughput");
    assert_eq!(
        (
            table_t.read_capacity_units(),
            table_t.write_capacity_units()
        ),
        (Some(5), Some(6))
    );
}

/// Like `check_err`, with every one of `parts` required in the message.
fn check_err_parts<
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
>(
    what: &str,
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
    code: &str,
    parts: &[&str],
) -> Result<(), String> {
    let (got_code, message) = match result {
        Ok(v) => {
            return Err(format!(
                "{what}: expected {code}, but the request succeeded: {v:?}"
            ))
        }
        Err(e) => match e.code() {
            Some(c) => (c.to_owned(), e.message().unwrap_or_default().to_owned()),
            None => return Err(format!("{what}: expected {code}, got {e:?}")),
        },
    };
    if got_code != code {
        return Err(format!(
            "{what}: expected {code}, got {got_code}: {message:?}"
        ));
    }
    for part in parts {
        if !message.contains(part) {
            return Err(format!(
                "{what}: {code} as expected, but message {message:?} does not contain {part:?}"
            ));
        }
    }
    Ok(())
}

fn raw_create(server: &TestServer, body: &Value) -> RawResponse {
    server.raw_request("DynamoDB_20120810.CreateTable", &body.to_string())
}

fn ks_json(hash: &str, range: Option<&str>) -> Value {
    let mut v = vec![json!({"AttributeName": hash, "KeyType": "HASH"})];
    if let Some(r) = range {
        v.push(json!({"AttributeName": r, "KeyType": "RANGE"}));
    }
    Value::Array(v)
}

fn defs_json(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| json!({"AttributeName": n, "AttributeType": "S"}))
            .collect(),
    )
}

fn index_json(name: &str, hash: &str, range: Option<&str>, projection: Value) -> Value {
    json!({"IndexName": name, "KeySchema": ks_json(hash, range), "Projection": projection})
}

fn all_json() -> Value {
    json!({"ProjectionType": "ALL"})
}

/// A CreateTable body for an on-demand table `pk` (+ `sk` if `range`) with the given
/// attribute definitions (all S) and `extra` members merged in.
fn create_body(name: &str, range: bool, defs: &[&str], extra: Value) -> Value {
    let mut body = json!({
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": ks_json("pk", range.then_some("sk")),
        "AttributeDefinitions": defs_json(defs),
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

#[tokio::test]
async fn invalid_index_definitions_are_rejected_with_dynamodbs_messages() {
    let server = TestServer::start();
    let client = server.client();
    const P: &str = "One or more parameter values were invalid: ";
    let twenty_one: Vec<Value> = (0..21)
        .map(|i| index_json(&format!("g{i:02}"), "g", None, all_json()))
        .collect();
    let six_lsis: Vec<Value> = (0..6)
        .map(|i| index_json(&format!("l{i:02}"), "pk", Some("l"), all_json()))
        .collect();
    let six_incl: Vec<Value> = (0..6)
        .map(|i| {
            let attrs: Vec<String> = (0..17).map(|a| format!("i{i}a{a}")).collect();
            index_json(
                &format!("g{i:02}"),
                "g",
                None,
                json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": attrs}),
            )
        })
        .collect();
    let long_name = "n".repeat(256);
    type Case = (&'static str, Value, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            "GSI key attribute not in AttributeDefinitions",
            create_body(
                "iv_a",
                false,
                &["pk"],
                json!({"GlobalSecondaryIndexes": [index_json("gs1", "g", None, all_json())]}),
            ),
            vec![format!(
                "{P}Some index key attributes are not defined in AttributeDefinitions. Keys: [g], AttributeDefinitions: [pk]"
            )],
        ),
        (
            "LSI key attribute not in AttributeDefinitions",
            create_body(
                "iv_b",
                true,
                &["pk", "sk"],
                json!({"LocalSecondaryIndexes": [index_json("ls1", "pk", Some("l"), all_json())]}),
            ),
            vec![format!(
                "{P}Some index key attributes are not defined in AttributeDefinitions"
            )],
        ),
        (
            "attribute defined but used by no key",
            create_body(
                "iv_c",
                false,
                &["pk", "g", "unused"],
                json!({"GlobalSecondaryIndexes": [index_json("gs1", "g", None, all_json())]}),
            ),
            vec![format!("{P}Some AttributeDefinitions are not used")],
        ),
        (
            "two GSIs with one name",
            create_body(
                "iv_d",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [
                    index_json("dup", "g", None, all_json()),
                    index_json("dup", "g", None, all_json()),
                ]}),
            ),
            vec![format!("{P}Duplicate index name: dup")],
        ),
        (
            "two LSIs with one name",
            create_body(
                "iv_e",
                true,
                &["pk", "sk", "l"],
                json!({"LocalSecondaryIndexes": [
                    index_json("dup", "pk", Some("l"), all_json()),
                    index_json("dup", "pk", Some("l"), all_json()),
                ]}),
            ),
            vec![format!("{P}Duplicate index name: dup")],
        ),
        (
            "a GSI and an LSI with one name",
            create_body(
                "iv_f",
                true,
                &["pk", "sk", "l"],
                json!({
                    "LocalSecondaryIndexes": [index_json("dup", "pk", Some("l"), all_json())],
                    "GlobalSecondaryIndexes": [index_json("dup", "l", None, all_json())],
                }),
            ),
            vec![format!("{P}Duplicate index name: dup")],
        ),
        (
            "LSI on a table without a sort key",
            create_body(
                "iv_g",
                false,
                &["pk", "l"],
                json!({"LocalSecondaryIndexes": [index_json("ls1", "pk", Some("l"), all_json())]}),
            ),
            vec![format!(
                "{P}Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"
            )],
        ),
        (
            "LSI with another partition key",
            create_body(
                "iv_h",
                true,
                &["pk", "sk", "o"],
                json!({"LocalSecondaryIndexes": [index_json("lsi_x", "o", Some("sk"), all_json())]}),
            ),
            vec![format!(
                "{P}Index KeySchema does not have the same leading hash key as table KeySchema for index: lsi_x. index hash key: o, table hash key: pk"
            )],
        ),
        (
            "LSI without a sort key",
            create_body(
                "iv_i",
                true,
                &["pk", "sk"],
                json!({"LocalSecondaryIndexes": [index_json("lsi_x", "pk", None, all_json())]}),
            ),
            vec![format!(
                "{P}Index KeySchema does not have a range key for index: lsi_x"
            )],
        ),
        (
            "21 GSIs",
            create_body(
                "iv_j",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": twenty_one}),
            ),
            vec![format!(
                "{P}GlobalSecondaryIndex count exceeds the per-table limit of 20"
            )],
        ),
        (
            "6 LSIs",
            create_body(
                "iv_k",
                true,
                &["pk", "sk", "l"],
                json!({"LocalSecondaryIndexes": six_lsis}),
            ),
            vec![format!(
                "{P}Number of LocalSecondaryIndexes exceeds per-table limit of 5"
            )],
        ),
        (
            "102 NonKeyAttributes across six GSIs",
            create_body(
                "iv_l",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": six_incl}),
            ),
            vec![],
        ),
        (
            "GSI INCLUDE without NonKeyAttributes",
            create_body(
                "iv_m",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json("gs1", "g", None, json!({"ProjectionType": "INCLUDE"}))]}),
            ),
            vec![format!(
                "{P}ProjectionType is INCLUDE, but NonKeyAttributes is not specified"
            )],
        ),
        (
            "LSI INCLUDE without NonKeyAttributes",
            create_body(
                "iv_n",
                true,
                &["pk", "sk", "l"],
                json!({"LocalSecondaryIndexes": [index_json("ls1", "pk", Some("l"), json!({"ProjectionType": "INCLUDE"}))]}),
            ),
            vec![format!(
                "{P}ProjectionType is INCLUDE, but NonKeyAttributes is not specified"
            )],
        ),
        (
            "GSI KEYS_ONLY with NonKeyAttributes",
            create_body(
                "iv_o",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json("gs1", "g", None,
                    json!({"ProjectionType": "KEYS_ONLY", "NonKeyAttributes": ["a"]}))]}),
            ),
            vec![format!(
                "{P}ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified"
            )],
        ),
        (
            "LSI ALL with NonKeyAttributes",
            create_body(
                "iv_p",
                true,
                &["pk", "sk", "l"],
                json!({"LocalSecondaryIndexes": [index_json("ls1", "pk", Some("l"),
                    json!({"ProjectionType": "ALL", "NonKeyAttributes": ["a"]}))]}),
            ),
            vec![format!(
                "{P}ProjectionType is ALL, but NonKeyAttributes is specified"
            )],
        ),
        (
            "GSI of a PROVISIONED table without ProvisionedThroughput",
            json!({
                "TableName": "iv_q",
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                "KeySchema": ks_json("pk", None),
                "AttributeDefinitions": defs_json(&["pk", "g"]),
                "GlobalSecondaryIndexes": [index_json("gs1", "g", None, all_json())],
            }),
            vec![format!(
                "{P}ProvisionedThroughput is not specified for index: gs1"
            )],
        ),
        (
            "GSI of a PAY_PER_REQUEST table with ProvisionedThroughput",
            create_body(
                "iv_r",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [{
                    "IndexName": "gs1",
                    "KeySchema": ks_json("g", None),
                    "Projection": all_json(),
                    "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                }]}),
            ),
            vec![format!(
                "{P}ProvisionedThroughput should not be specified for index: gs1 when BillingMode is PAY_PER_REQUEST"
            )],
        ),
        (
            "GSI name of 2 characters",
            create_body(
                "iv_s",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json("ab", "g", None, all_json())]}),
            ),
            vec!["Value 'ab' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3".to_owned()],
        ),
        (
            "GSI name of 256 characters",
            create_body(
                "iv_t",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json(&long_name, "g", None, all_json())]}),
            ),
            vec!["at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must have length less than or equal to 255".to_owned()],
        ),
        (
            "LSI name of 2 characters",
            create_body(
                "iv_u",
                true,
                &["pk", "sk", "l"],
                json!({"LocalSecondaryIndexes": [index_json("ab", "pk", Some("l"), all_json())]}),
            ),
            vec!["Value 'ab' at 'localSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3".to_owned()],
        ),
        (
            "GSI name with a character outside [a-zA-Z0-9_.-]",
            create_body(
                "iv_v",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json("bad;name", "g", None, all_json())]}),
            ),
            vec!["Value 'bad;name' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".to_owned()],
        ),
        (
            "empty GlobalSecondaryIndexes list",
            create_body("iv_w", false, &["pk"], json!({"GlobalSecondaryIndexes": []})),
            vec![format!("{P}List of GlobalSecondaryIndexes is empty")],
        ),
        (
            "empty LocalSecondaryIndexes list",
            create_body("iv_x", true, &["pk", "sk"], json!({"LocalSecondaryIndexes": []})),
            vec![format!("{P}List of LocalSecondaryIndexes is empty")],
        ),
        (
            "Projection without ProjectionType",
            create_body(
                "iv_y",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json("gs1", "g", None, json!({}))]}),
            ),
            vec![format!("{P}Unknown ProjectionType: null")],
        ),
        (
            "unknown ProjectionType",
            create_body(
                "iv_z",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json("gs1", "g", None, json!({"ProjectionType": "abc"}))]}),
            ),
            vec!["Value 'abc' at 'globalSecondaryIndexes.1.member.projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]".to_owned()],
        ),
        (
            "GSI without Projection",
            create_body(
                "iv_0",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [{"IndexName": "gs1", "KeySchema": ks_json("g", None)}]}),
            ),
            vec!["Value null at 'globalSecondaryIndexes.1.member.projection' failed to satisfy constraint: Member must not be null".to_owned()],
        ),
        (
            "GSI with an empty KeySchema",
            create_body(
                "iv_1",
                false,
                &["pk"],
                json!({"GlobalSecondaryIndexes": [{"IndexName": "gs1", "KeySchema": [], "Projection": all_json()}]}),
            ),
            vec!["Value '[]' at 'globalSecondaryIndexes.1.member.keySchema' failed to satisfy constraint: Member must have length greater than or equal to 1".to_owned()],
        ),
        (
            "GSI hash and range key with one name",
            create_body(
                "iv_2",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json("gs1", "g", Some("g"), all_json())]}),
            ),
            vec!["Both the Hash Key and the Range Key element in the KeySchema have the same name".to_owned()],
        ),
        (
            "GSI whose first key is a RANGE key",
            create_body(
                "iv_3",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [{
                    "IndexName": "gs1",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "RANGE"}],
                    "Projection": all_json(),
                }]}),
            ),
            vec!["Invalid KeySchema: The first KeySchemaElement is not a HASH key type".to_owned()],
        ),
        (
            "LSI whose second key is a HASH key",
            create_body(
                "iv_4",
                true,
                &["pk", "sk", "l"],
                json!({"LocalSecondaryIndexes": [{
                    "IndexName": "ls1",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "l", "KeyType": "HASH"},
                    ],
                    "Projection": all_json(),
                }]}),
            ),
            vec!["Invalid KeySchema: The second KeySchemaElement is not a RANGE key type".to_owned()],
        ),
        (
            "duplicate NonKeyAttributes",
            create_body(
                "iv_5",
                false,
                &["pk", "g"],
                json!({"GlobalSecondaryIndexes": [index_json("gs1", "g", None,
                    json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "a"]}))]}),
            ),
            vec!["Duplicate".to_owned()],
        ),
    ];
    let mut f = Failures::new();
    let mut names = Vec::new();
    for (what, body, msgs) in &cases {
        names.push(body["TableName"].as_str().unwrap_or_default().to_owned());
        let r = raw_create(&server, body);
        let parts: Vec<&str> = msgs.iter().map(String::as_str).collect();
        f.check(check_raw_error(what, &r, VALIDATION, &parts));
    }
    // A rejected CreateTable creates nothing.
    let listed = client
        .list_tables()
        .send()
        .await
        .expect("ListTables")
        .table_names()
        .to_vec();
    for name in names {
        if listed.contains(&name) {
            f.push(format!("rejected CreateTable still created table {name}"));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn index_limits_are_inclusive() {
    let server = TestServer::start();
    let client = server.client();
    let mut f = Failures::new();

    // 20 GSIs and 5 LSIs on one table.
    let mut defs: Vec<&str> = vec!["pk", "sk"];
    let g_attrs: Vec<String> = (0..20).map(|i| format!("g{i:02}")).collect();
    let l_attrs: Vec<String> = (0..5).map(|i| format!("l{i}")).collect();
    defs.extend(g_attrs.iter().map(String::as_str));
    defs.extend(l_attrs.iter().map(String::as_str));
    let gsis: Vec<Value> = g_attrs
        .iter()
        .map(|a| {
            index_json(
                &format!("by_{a}"),
                a,
                Some("sk"),
                json!({"ProjectionType": "KEYS_ONLY"}),
            )
        })
        .collect();
    let lsis: Vec<Value> = l_attrs
        .iter()
        .map(|a| index_json(&format!("by_{a}"), "pk", Some(a), all_json()))
        .collect();
    let body = create_body(
        "ix_max",
        true,
        &defs,
        json!({"GlobalSecondaryIndexes": gsis, "LocalSecondaryIndexes": lsis}),
    );
    let r = raw_create(&server, &body);
    if r.status != 200 {
        f.push(format!(
            "CreateTable with 20 GSIs and 5 LSIs: {} {}",
            r.status,
            r.body_str()
        ));
    } else {
        let desc = wait_gsis_active(&client, "ix_max").await;
        if desc.global_secondary_indexes().len() != 20 || desc.local_secondary_indexes().len() != 5
        {
            f.push(format!(
                "ix_max: DescribeTable lists {} GSIs and {} LSIs",
                desc.global_secondary_indexes().len(),
                desc.local_secondary_indexes().len()
            ));
        }
        // One item with every index key lands in every index.
        let mut it = item(&[("pk", s("p")), ("sk", s("s"))]);
        for a in g_attrs.iter().chain(&l_attrs) {
            it.insert(a.clone(), s(&format!("v-{a}")));
        }
        put_ok(&client, "ix_max", it.clone()).await;
        for a in g_attrs.iter().chain(&l_attrs) {
            let got = scan_index_everything(&client, "ix_max", &format!("by_{a}")).await;
            if got.len() != 1 {
                f.push(format!(
                    "ix_max index by_{a}: {} entries, want 1",
                    got.len()
                ));
            }
        }
    }

    // Exactly 100 NonKeyAttributes across the indexes (5 x 20) is allowed.
    let incl: Vec<Value> = (0..5)
        .map(|i| {
            let attrs: Vec<String> = (0..20).map(|a| format!("i{i}a{a}")).collect();
            index_json(
                &format!("gi{i}"),
                "g",
                None,
                json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": attrs}),
            )
        })
        .collect();
    let r = raw_create(
        &server,
        &create_body(
            "ix_100",
            false,
            &["pk", "g"],
            json!({"GlobalSecondaryIndexes": incl}),
        ),
    );
    if r.status != 200 {
        f.push(format!(
            "CreateTable with 100 NonKeyAttributes: {} {}",
            r.status,
            r.body_str()
        ));
    }

    // Index names of 3 and of 255 characters.
    let long = "x".repeat(255);
    let r = raw_create(
        &server,
        &create_body(
            "ix_names",
            true,
            &["pk", "sk", "g"],
            json!({
                "GlobalSecondaryIndexes": [index_json("abc", "g", None, all_json())],
                "LocalSecondaryIndexes": [index_json(&long, "pk", Some("g"), all_json())],
            }),
        ),
    );
    if r.status != 200 {
        f.push(format!(
            "CreateTable with index names of 3 and 255 characters: {} {}",
            r.status,
            r.body_str()
        ));
    } else {
        let desc = wait_gsis_active(&client, "ix_names").await;
        let names: BTreeSet<String> = desc
            .global_secondary_indexes()
            .iter()
            .filter_map(|g| g.index_name().map(str::to_owned))
            .chain(
                desc.local_secondary_indexes()
                    .iter()
                    .filter_map(|l| l.index_name().map(str::to_owned)),
            )
            .collect();
        let want: BTreeSet<String> = ["abc".to_owned(), long.clone()].into_iter().collect();
        if names != want {
            f.push(format!("ix_names: index names {names:?}"));
        }
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Index keys of every scalar type
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn index_keys_of_type_s_n_and_b_are_ordered_like_dynamodb() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_table()
        .table_name("ix_types")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("kb", ScalarAttributeType::B))
        .attribute_definitions(attr_def("kn", ScalarAttributeType::N))
        .attribute_definitions(attr_def("ks", ScalarAttributeType::S))
        .global_secondary_indexes(gsi("by_b_n", "kb", Some("kn"), proj_keys()))
        .global_secondary_indexes(gsi("by_n_s", "kn", Some("ks"), proj_all()))
        .global_secondary_indexes(gsi("by_s_b", "ks", Some("kb"), proj_include(&["x"])))
        .local_secondary_indexes(lsi("l_b", "pk", "kb", proj_keys()))
        .local_secondary_indexes(lsi("l_n", "pk", "kn", proj_all()))
        .send()
        .await
        .expect("CreateTable with B, N and S index keys");
    wait_gsis_active(&client, "ix_types").await;

    // Orders that differ from naive ones: numbers (not strings), unsigned bytes (not
    // signed), UTF-8 bytes.
    let bins: [&[u8]; 6] = [&[0x00], &[0x01], &[0x01, 0x00], &[0x7f], &[0x80], &[0xff]];
    let nums = ["-10", "-1.5", "0", "2", "10", "100", "1e3"];
    let strs = ["B", "a", "ab", "b", "é", "z"];
    let mut items = Vec::new();
    for i in 0..42usize {
        items.push(item(&[
            ("pk", s(if i % 2 == 0 { "p0" } else { "p1" })),
            ("sk", n(&i.to_string())),
            ("kb", b(bins[i % bins.len()])),
            ("kn", n(nums[(i * 5) % nums.len()])),
            ("ks", s(strs[(i * 11) % strs.len()])),
            ("x", n(&(i * 3).to_string())),
        ]));
    }
    batch_put_all(&client, "ix_types", &items).await;
    // The server returns numbers normalised ("1e3" as "1000"); compare by value.
    let norm = |items: &[Attrs]| -> Vec<Attrs> {
        items
            .iter()
            .map(|it| {
                let mut it = it.clone();
                if let Some(AttributeValue::N(v)) = it.get("kn") {
                    let x: f64 = v.parse().unwrap();
                    it.insert("kn".into(), n(&format!("{x}")));
                }
                it
            })
            .collect()
    };
    use ScalarAttributeType::{B, N, S};
    let mut f = Failures::new();
    type TypeCase = (
        &'static str,
        &'static str,
        &'static str,
        Vec<(&'static str, ScalarAttributeType)>,
        Option<Vec<&'static str>>,
        Vec<AttributeValue>,
    );
    let cases: Vec<TypeCase> = vec![
        (
            "by_b_n",
            "kb",
            "kn",
            vec![("kb", B), ("kn", N)],
            Some(vec![]),
            bins.iter().map(|x| b(x)).collect(),
        ),
        (
            "by_n_s",
            "kn",
            "ks",
            vec![("kn", N), ("ks", S)],
            None,
            nums.iter().map(|x| n(x)).collect(),
        ),
        (
            "by_s_b",
            "ks",
            "kb",
            vec![("ks", S), ("kb", B)],
            Some(vec!["x"]),
            strs.iter().map(|x| s(x)).collect(),
        ),
        (
            "l_b",
            "pk",
            "kb",
            vec![("pk", S), ("kb", B)],
            Some(vec![]),
            vec![s("p0"), s("p1")],
        ),
        (
            "l_n",
            "pk",
            "kn",
            vec![("pk", S), ("kn", N)],
            None,
            vec![s("p0"), s("p1")],
        ),
    ];
    for (index, hash, range, keys, include, hash_values) in &cases {
        let all = expected_index_entries(&items, &TABLE_KEYS, keys, include.as_deref());
        for hv in hash_values {
            let want = where_eq(&all, hash, hv);
            for forward in [true, false] {
                let what = format!("{index}: {hash} = {hv:?} forward={forward}");
                let pages = query_pages(
                    &client
                        .query()
                        .table_name("ix_types")
                        .index_name(*index)
                        .key_condition_expression("#h = :h")
                        .expression_attribute_names("#h", *hash)
                        .expression_attribute_values(":h", hv.clone())
                        .scan_index_forward(forward),
                )
                .await;
                let got: Vec<Attrs> = match pages {
                    Ok(p) => p.iter().flat_map(|p| p.items().to_vec()).collect(),
                    Err(e) => {
                        f.push(format!("{what}: {e}"));
                        continue;
                    }
                };
                let diffs = index_differences(&norm(&want), &norm(&got), &TABLE_KEYS);
                if !diffs.is_empty() {
                    f.push(format!("{what}: {}", first_lines(&diffs)));
                }
                if let Some(p) = order_problem(&got, range, forward) {
                    f.push(format!("{what}: {p}"));
                }
            }
        }
    }
    // A range condition on a B index sort key compares unsigned bytes.
    for p in ["p0", "p1"] {
        let want: Vec<Attrs> =
            expected_index_entries(&items, &TABLE_KEYS, &[("pk", S), ("kb", B)], Some(&[]))
                .into_iter()
                .filter(|it| it.get("pk") == Some(&s(p)))
                .filter(|it| {
                    matches!(it.get("kb"), Some(AttributeValue::B(x)) if x.as_ref() > [0x7f].as_slice())
                })
                .collect();
        check_query(
            &mut f,
            &format!("l_b: pk = {p} AND kb > 0x7f"),
            client
                .query()
                .table_name("ix_types")
                .index_name("l_b")
                .key_condition_expression("pk = :p AND kb > :b")
                .expression_attribute_values(":p", s(p))
                .expression_attribute_values(":b", b(&[0x7f])),
            &want,
            PageChecks {
                order: Some(("kb", true)),
                ..NO_CHECKS
            },
        )
        .await;
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Sparse indexes and index key validation on writes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_index_holds_exactly_the_items_with_its_keys() {
    let server = TestServer::start();
    let client = server.client();
    let items = q_table(&client).await;
    let table = scan_everything(&client, Q).await;
    assert_eq!(
        table.len(),
        items.len(),
        "the table itself holds every item, with or without index keys"
    );
    let mut f = Failures::new();
    for spec in q_specs() {
        let want = spec.expected(&items);
        assert!(
            want.len() < items.len() && !want.is_empty(),
            "test data must make {} sparse",
            spec.name
        );
        let got = scan_index_everything(&client, Q, spec.name).await;
        let diffs = index_differences(&want, &got, &TABLE_KEYS);
        if !diffs.is_empty() {
            f.push(format!(
                "Scan of {}: {} entries, want {}: {}",
                spec.name,
                got.len(),
                want.len(),
                first_lines(&diffs)
            ));
        }
        if !spec.global {
            // LSIs allow strongly consistent scans.
            match client
                .scan()
                .table_name(Q)
                .index_name(spec.name)
                .consistent_read(true)
                .send()
                .await
            {
                Ok(out) if out.items().len() == want.len() => {}
                Ok(out) => f.push(format!(
                    "consistent Scan of LSI {}: {} entries, want {}",
                    spec.name,
                    out.items().len(),
                    want.len()
                )),
                Err(e) => f.push(format!("consistent Scan of LSI {}: {e:?}", spec.name)),
            }
        }
    }
    // An item without the index key is not found through the index.
    let no_gpk = items
        .iter()
        .find(|it| !it.contains_key("gpk"))
        .expect("an item without gpk");
    for g in ["g0", "g1", "g2"] {
        let out = client
            .query()
            .table_name(Q)
            .index_name("by_gpk")
            .key_condition_expression("gpk = :g")
            .expression_attribute_values(":g", s(g))
            .send()
            .await
            .expect("Query by_gpk");
        if out
            .items()
            .iter()
            .any(|it| it.get("pk") == no_gpk.get("pk") && it.get("sk") == no_gpk.get("sk"))
        {
            f.push(format!("item without gpk {no_gpk:?} found under gpk {g}"));
        }
    }
    f.assert_none();
}

async fn create_t_table(client: &Client) {
    client
        .create_table()
        .table_name("ix_t")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gs", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gn", ScalarAttributeType::N))
        .attribute_definitions(attr_def("gb", ScalarAttributeType::B))
        .attribute_definitions(attr_def("ls", ScalarAttributeType::S))
        .global_secondary_indexes(gsi("by_s", "gs", None, proj_all()))
        .global_secondary_indexes(gsi("by_n", "gn", None, proj_keys()))
        .global_secondary_indexes(gsi("by_b", "gb", None, proj_all()))
        .local_secondary_indexes(lsi("by_l", "pk", "ls", proj_all()))
        .send()
        .await
        .expect("CreateTable ix_t");
    wait_gsis_active(client, "ix_t").await;
}

fn t_key(sk: &str) -> Attrs {
    item(&[("pk", s("p")), ("sk", s(sk))])
}

#[tokio::test]
async fn writes_with_a_wrong_typed_or_empty_index_key_are_rejected_and_change_nothing() {
    let server = TestServer::start();
    let client = server.client();
    create_t_table(&client).await;
    let keep = item(&[
        ("pk", s("p")),
        ("sk", s("keep")),
        ("gs", s("x")),
        ("gn", n("1")),
        ("gb", b(&[1])),
        ("ls", s("y")),
        ("other", s("o")),
    ]);
    put_ok(&client, "ix_t", keep.clone()).await;
    // Sparse: no index key at all is fine.
    put_ok(&client, "ix_t", item(&[("pk", s("p")), ("sk", s("bare"))])).await;

    const P: &str = "One or more parameter values were invalid: ";
    const EMPTY: &str =
        "The AttributeValue for a key attribute cannot contain an empty string value";
    let mismatch = |attr: &str, want: &str, got: &str, index: &str| {
        format!("{P}Type mismatch for Index Key {attr} Expected: {want} Actual: {got} IndexName: {index}")
    };
    // (attribute, bad value, message parts for PutItem, message parts for UpdateItem)
    type BadCase = (&'static str, AttributeValue, Vec<String>, Vec<String>);
    let cases: Vec<BadCase> = vec![
        ("gs", n("5"), vec![mismatch("gs", "S", "N", "by_s")], vec!["Type mismatch for Index Key gs Expected: S Actual: N".into()]),
        ("gn", s("5"), vec![mismatch("gn", "N", "S", "by_n")], vec!["Type mismatch for Index Key gn Expected: N Actual: S".into()]),
        ("gb", s("5"), vec![mismatch("gb", "B", "S", "by_b")], vec!["Type mismatch for Index Key gb Expected: B Actual: S".into()]),
        ("ls", n("5"), vec![mismatch("ls", "S", "N", "by_l")], vec!["Type mismatch for Index Key ls Expected: S Actual: N".into()]),
        ("gs", map(&[("a", s("b"))]), vec![mismatch("gs", "S", "M", "by_s")], vec!["Type mismatch for Index Key gs Expected: S Actual: M".into()]),
        ("gn", ns(&["1", "2"]), vec![mismatch("gn", "N", "NS", "by_n")], vec!["Type mismatch for Index Key gn Expected: N Actual: NS".into()]),
        (
            "gs",
            s(""),
            vec![
                "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by_s, IndexKey: gs".into(),
            ],
            vec![EMPTY.into()],
        ),
        (
            "ls",
            s(""),
            vec![
                "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by_l, IndexKey: ls".into(),
            ],
            vec![EMPTY.into()],
        ),
        (
            "gb",
            b(&[]),
            vec![
                "A value specified for a secondary index key is not supported".into(),
                "IndexName: by_b, IndexKey: gb".into(),
            ],
            vec!["secondary index key".into()],
        ),
    ];
    let mut f = Failures::new();
    for (i, (attr, bad, put_msg, update_msg)) in cases.iter().enumerate() {
        let put_parts: Vec<&str> = put_msg.iter().map(String::as_str).collect();
        let upd_parts: Vec<&str> = update_msg.iter().map(String::as_str).collect();
        // PutItem of a new item, and PutItem replacing an existing one.
        let new_sk = format!("new{i}");
        let mut fresh = t_key(&new_sk);
        fresh.insert("other".into(), s("o"));
        for (what, mut it) in [("a new item", fresh), ("replacing an item", keep.clone())] {
            it.insert(attr.to_string(), bad.clone());
            let r = client
                .put_item()
                .table_name("ix_t")
                .set_item(Some(it))
                .send()
                .await;
            f.check(check_err_parts(
                &format!("PutItem {what} with {attr}={bad:?}"),
                r,
                VALIDATION,
                &put_parts,
            ));
        }
        // UpdateItem of the existing item, and of a missing one (which would create it).
        for sk in ["keep", new_sk.as_str()] {
            let r = client
                .update_item()
                .table_name("ix_t")
                .set_key(Some(t_key(sk)))
                .update_expression("SET #a = :v")
                .expression_attribute_names("#a", *attr)
                .expression_attribute_values(":v", bad.clone())
                .send()
                .await;
            f.check(check_err_parts(
                &format!("UpdateItem {sk} SET {attr} = {bad:?}"),
                r,
                VALIDATION,
                &upd_parts,
            ));
        }
        if get_consistent(&client, "ix_t", t_key(&new_sk))
            .await
            .is_some()
        {
            f.push(format!(
                "a rejected write with {attr}={bad:?} created item {new_sk}"
            ));
        }
        let now = get_consistent(&client, "ix_t", t_key("keep")).await;
        if now.as_ref().map(canonical_item) != Some(canonical_item(&keep)) {
            f.push(format!(
                "a rejected write with {attr}={bad:?} changed the item: {now:?}"
            ));
        }
    }

    // BatchWriteItem with one bad item among good ones writes none of them.
    let mut reqs = Vec::new();
    for (sk, gs) in [("b1", s("ok1")), ("b2", n("7")), ("b3", s("ok3"))] {
        let mut it = t_key(sk);
        it.insert("gs".into(), gs);
        reqs.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(it)).build().unwrap())
                .build(),
        );
    }
    let r = client
        .batch_write_item()
        .request_items("ix_t", reqs)
        .send()
        .await;
    f.check(check_err(
        "BatchWriteItem with one wrong-typed index key",
        r,
        VALIDATION,
        Some("Type mismatch for Index Key gs Expected: S Actual: N IndexName: by_s"),
    ));
    for sk in ["b1", "b2", "b3"] {
        if get_consistent(&client, "ix_t", t_key(sk)).await.is_some() {
            f.push(format!("rejected BatchWriteItem wrote {sk}"));
        }
    }

    // The indexes hold exactly the two good items' entries.
    let table = scan_everything(&client, "ix_t").await;
    if table.len() != 2 {
        f.push(format!(
            "ix_t holds {} items, want 2: {table:?}",
            table.len()
        ));
    }
    use ScalarAttributeType::{B, N, S};
    type IndexCase = (
        &'static str,
        Vec<(&'static str, ScalarAttributeType)>,
        Option<Vec<&'static str>>,
    );
    let specs: Vec<IndexCase> = vec![
        ("by_s", vec![("gs", S)], None),
        ("by_n", vec![("gn", N)], Some(vec![])),
        ("by_b", vec![("gb", B)], None),
        ("by_l", vec![("pk", S), ("ls", S)], None),
    ];
    for (index, keys, include) in specs {
        let want = expected_index_entries(&table, &TABLE_KEYS, &keys, include.as_deref());
        let got = scan_index_everything(&client, "ix_t", index).await;
        let diffs = index_differences(&want, &got, &TABLE_KEYS);
        if !diffs.is_empty() {
            f.push(format!(
                "index {index} after rejected writes: {}",
                first_lines(&diffs)
            ));
        }
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Query with IndexName
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn gsi_queries_return_matching_entries_in_index_sort_key_order() {
    let server = TestServer::start();
    let client = server.client();
    let items = q_table(&client).await;
    let mut f = Failures::new();
    // (condition on gsk, values, predicate on gsk)
    type RangeCase = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        fn(i64) -> bool,
    );
    let range_cases: Vec<RangeCase> = vec![
        ("", vec![], |_| true),
        (" AND gsk = :a", vec![(":a", "2")], |x| x == 2),
        (" AND gsk < :a", vec![(":a", "2")], |x| x < 2),
        (" AND gsk <= :a", vec![(":a", "2")], |x| x <= 2),
        (" AND gsk > :a", vec![(":a", "1")], |x| x > 1),
        (" AND gsk >= :a", vec![(":a", "1")], |x| x >= 1),
        (
            " AND gsk BETWEEN :a AND :b",
            vec![(":a", "1"), (":b", "2")],
            |x| (1..=2).contains(&x),
        ),
    ];
    for name in ["by_g_all", "by_g_keys", "by_g_incl"] {
        let spec = q_spec(name);
        let entries = spec.expected(&items);
        for g in ["g0", "g1", "g2"] {
            for (cond, values, pred) in &range_cases {
                let want: Vec<Attrs> = where_eq(&entries, "gpk", &s(g))
                    .into_iter()
                    .filter(|it| num_of(it, "gsk").is_some_and(pred))
                    .collect();
                for forward in [true, false] {
                    let mut req = client
                        .query()
                        .table_name(Q)
                        .index_name(name)
                        .key_condition_expression(format!("gpk = :g{cond}"))
                        .expression_attribute_values(":g", s(g))
                        .scan_index_forward(forward);
                    for (k, v) in values {
                        req = req.expression_attribute_values(*k, n(v));
                    }
                    check_query(
                        &mut f,
                        &format!("{name}: gpk = {g}{cond} {values:?} forward={forward}"),
                        req,
                        &want,
                        PageChecks {
                            order: Some(("gsk", forward)),
                            ..NO_CHECKS
                        },
                    )
                    .await;
                }
            }
        }
    }
    // A hash-only GSI: every entry with that hash value.
    let spec = q_spec("by_gpk");
    let entries = spec.expected(&items);
    for g in ["g0", "g1", "g2", "g9"] {
        check_query(
            &mut f,
            &format!("by_gpk: gpk = {g}"),
            client
                .query()
                .table_name(Q)
                .index_name("by_gpk")
                .key_condition_expression("gpk = :g")
                .expression_attribute_values(":g", s(g)),
            &where_eq(&entries, "gpk", &s(g)),
            NO_CHECKS,
        )
        .await;
    }
    f.assert_none();
}

#[tokio::test]
async fn lsi_queries_return_the_partition_in_index_sort_key_order() {
    let server = TestServer::start();
    let client = server.client();
    let items = q_table(&client).await;
    let mut f = Failures::new();
    type LsiCase = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        fn(&str) -> bool,
    );
    let cases: Vec<LsiCase> = vec![
        ("", vec![], |_| true),
        (" AND lsk = :a", vec![(":a", "l05")], |x| x == "l05"),
        (" AND lsk < :a", vec![(":a", "l05")], |x| x < "l05"),
        (" AND lsk >= :a", vec![(":a", "l05")], |x| x >= "l05"),
        (
            " AND lsk BETWEEN :a AND :b",
            vec![(":a", "l03"), (":b", "l09")],
            |x| ("l03"..="l09").contains(&x),
        ),
        (" AND begins_with(lsk, :a)", vec![(":a", "l1")], |x| {
            x.starts_with("l1")
        }),
    ];
    for name in ["by_l_all", "by_l_keys", "by_l_incl"] {
        let spec = q_spec(name);
        let entries = spec.expected(&items);
        for p in 0..Q_PARTITIONS {
            let pk = format!("p{p}");
            for (cond, values, pred) in &cases {
                let want: Vec<Attrs> = where_eq(&entries, "pk", &s(&pk))
                    .into_iter()
                    .filter(|it| matches!(it.get("lsk"), Some(AttributeValue::S(x)) if pred(x)))
                    .collect();
                for (forward, consistent) in [(true, false), (false, true)] {
                    let mut req = client
                        .query()
                        .table_name(Q)
                        .index_name(name)
                        .key_condition_expression(format!("pk = :p{cond}"))
                        .expression_attribute_values(":p", s(&pk))
                        .scan_index_forward(forward)
                        .consistent_read(consistent);
                    for (k, v) in values {
                        req = req.expression_attribute_values(*k, s(v));
                    }
                    check_query(
                        &mut f,
                        &format!("{name}: pk = {pk}{cond} {values:?} forward={forward} consistent={consistent}"),
                        req,
                        &want,
                        PageChecks {
                            order: Some(("lsk", forward)),
                            ..NO_CHECKS
                        },
                    )
                    .await;
                }
            }
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn paging_index_queries_and_scans_loses_and_repeats_nothing() {
    let server = TestServer::start();
    let client = server.client();
    let items = q_table(&client).await;
    let mut f = Failures::new();
    for name in ["by_g_all", "by_g_keys", "by_gpk", "by_l_keys", "by_l_incl"] {
        let spec = q_spec(name);
        let entries = spec.expected(&items);
        let lek_attrs = spec.lek_attrs();
        let (hash_values, order) = if spec.global {
            (vec!["g0", "g1", "g2"], spec.range())
        } else {
            (vec!["p0", "p3"], spec.range())
        };
        for hv in hash_values {
            let want = where_eq(&entries, spec.hash(), &s(hv));
            for limit in [1, 2, 3, 7, 50] {
                for forward in [true, false] {
                    check_query(
                        &mut f,
                        &format!(
                            "{name}: {} = {hv} Limit {limit} forward={forward}",
                            spec.hash()
                        ),
                        client
                            .query()
                            .table_name(Q)
                            .index_name(name)
                            .key_condition_expression("#h = :h")
                            .expression_attribute_names("#h", spec.hash())
                            .expression_attribute_values(":h", s(hv))
                            .scan_index_forward(forward)
                            .limit(limit),
                        &want,
                        PageChecks {
                            order: order.map(|o| (o, forward)),
                            lek_attrs: Some(&lek_attrs),
                            lek_is_last_item: true,
                        },
                    )
                    .await;
                }
            }
            // With a filter, pages may come back short (even empty) but still continue.
            // (KEYS_ONLY entries do not carry the filtered attribute.)
            if spec.include.as_ref().is_some_and(|i| i.is_empty()) {
                continue;
            }
            let filtered: Vec<Attrs> = want
                .iter()
                .filter(|it| it.contains_key("inc"))
                .cloned()
                .collect();
            check_query(
                &mut f,
                &format!(
                    "{name}: {} = {hv} Limit 4 with FilterExpression",
                    spec.hash()
                ),
                client
                    .query()
                    .table_name(Q)
                    .index_name(name)
                    .key_condition_expression("#h = :h")
                    .expression_attribute_names("#h", spec.hash())
                    .expression_attribute_values(":h", s(hv))
                    .filter_expression("attribute_exists(inc)")
                    .limit(4),
                &filtered,
                PageChecks {
                    order: order.map(|o| (o, true)),
                    lek_attrs: Some(&lek_attrs),
                    lek_is_last_item: false,
                },
            )
            .await;
        }
        // Scan of the index with Limit.
        for limit in [1, 5, 33] {
            let what = format!("Scan {name} Limit {limit}");
            match scan_pages(&client.scan().table_name(Q).index_name(name).limit(limit)).await {
                Err(e) => f.push(format!("{what}: {e}")),
                Ok(pages) => {
                    let mut got = Vec::new();
                    for page in &pages {
                        if page.items().len() > limit as usize {
                            f.push(format!("{what}: a page of {} items", page.items().len()));
                        }
                        if let Some(lek) = page.last_evaluated_key().filter(|k| !k.is_empty()) {
                            let attrs: BTreeSet<String> = lek.keys().cloned().collect();
                            if attrs != lek_attrs {
                                f.push(format!("{what}: LastEvaluatedKey attributes {attrs:?}, want {lek_attrs:?}"));
                            }
                        }
                        got.extend(page.items().iter().cloned());
                    }
                    let diffs = index_differences(&entries, &got, &TABLE_KEYS);
                    if !diffs.is_empty() {
                        f.push(format!("{what}: {}", first_lines(&diffs)));
                    }
                }
            }
        }
    }
    // Many entries share one index key value (gpk, gsk): a restart inside the run of ties
    // continues right after the last returned entry.
    let spec = q_spec("by_g_all");
    let ties: Vec<Attrs> = spec
        .expected(&items)
        .into_iter()
        .filter(|it| it.get("gpk") == Some(&s("g1")) && it.get("gsk") == Some(&n("3")))
        .collect();
    assert!(
        ties.len() >= 8,
        "test data must have many ties, has {}",
        ties.len()
    );
    check_query(
        &mut f,
        "by_g_all: gpk = g1 AND gsk = 3 Limit 1",
        client
            .query()
            .table_name(Q)
            .index_name("by_g_all")
            .key_condition_expression("gpk = :g AND gsk = :v")
            .expression_attribute_values(":g", s("g1"))
            .expression_attribute_values(":v", n("3"))
            .limit(1),
        &ties,
        PageChecks {
            order: None,
            lek_attrs: Some(&spec.lek_attrs()),
            lek_is_last_item: true,
        },
    )
    .await;
    f.assert_none();
}

#[tokio::test]
async fn projections_select_and_filters_on_index_queries() {
    let server = TestServer::start();
    let client = server.client();
    let items = q_table(&client).await;
    let mut f = Failures::new();
    let query = |index: &str, g: &str| {
        client
            .query()
            .table_name(Q)
            .index_name(index)
            .key_condition_expression("gpk = :g")
            .expression_attribute_values(":g", s(g))
    };
    let lquery = |index: &str, p: &str| {
        client
            .query()
            .table_name(Q)
            .index_name(index)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(p))
    };
    let full_g1 = where_eq(&q_spec("by_g_all").expected(&items), "gpk", &s("g1"));
    let full_p2 = where_eq(&q_spec("by_l_all").expected(&items), "pk", &s("p2"));

    // Default Select on an index is ALL_PROJECTED_ATTRIBUTES; so is asking for it.
    for name in ["by_g_keys", "by_g_incl", "by_g_all"] {
        let want = where_eq(&q_spec(name).expected(&items), "gpk", &s("g1"));
        check_query(
            &mut f,
            &format!("{name} default Select"),
            query(name, "g1"),
            &want,
            NO_CHECKS,
        )
        .await;
        check_query(
            &mut f,
            &format!("{name} Select ALL_PROJECTED_ATTRIBUTES"),
            query(name, "g1").select(Select::AllProjectedAttributes),
            &want,
            NO_CHECKS,
        )
        .await;
    }
    for name in ["by_l_keys", "by_l_incl", "by_l_all"] {
        let want = where_eq(&q_spec(name).expected(&items), "pk", &s("p2"));
        check_query(
            &mut f,
            &format!("{name} default Select"),
            lquery(name, "p2"),
            &want,
            NO_CHECKS,
        )
        .await;
        check_query(
            &mut f,
            &format!("{name} Select ALL_PROJECTED_ATTRIBUTES"),
            lquery(name, "p2").select(Select::AllProjectedAttributes),
            &want,
            NO_CHECKS,
        )
        .await;
    }
    // A KEYS_ONLY entry has exactly the table and index key attributes.
    if let Ok(out) = query("by_g_keys", "g0").send().await {
        let want: BTreeSet<String> = ["pk", "sk", "gpk", "gsk"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        for it in out.items() {
            if attr_names(it) != want {
                f.push(format!(
                    "by_g_keys entry {it:?} should have exactly {want:?}"
                ));
            }
        }
    }

    // ALL_ATTRIBUTES: fine on an ALL GSI, rejected on KEYS_ONLY/INCLUDE GSIs, fetched
    // from the table for LSIs.
    check_query(
        &mut f,
        "by_g_all Select ALL_ATTRIBUTES",
        query("by_g_all", "g1").select(Select::AllAttributes),
        &full_g1,
        NO_CHECKS,
    )
    .await;
    for name in ["by_g_keys", "by_g_incl"] {
        let msg = format!(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {name} because its projection type is not ALL"
        );
        let r = query(name, "g1").select(Select::AllAttributes).send().await;
        f.check(check_err(
            &format!("Query {name} Select ALL_ATTRIBUTES"),
            r,
            VALIDATION,
            Some(&msg),
        ));
        let r = client
            .scan()
            .table_name(Q)
            .index_name(name)
            .select(Select::AllAttributes)
            .send()
            .await;
        f.check(check_err(
            &format!("Scan {name} Select ALL_ATTRIBUTES"),
            r,
            VALIDATION,
            Some(&msg),
        ));
    }
    for name in ["by_l_keys", "by_l_incl"] {
        for consistent in [false, true] {
            check_query(
                &mut f,
                &format!("{name} Select ALL_ATTRIBUTES consistent={consistent}"),
                lquery(name, "p2")
                    .select(Select::AllAttributes)
                    .consistent_read(consistent),
                &full_p2,
                PageChecks {
                    order: Some(("lsk", true)),
                    ..NO_CHECKS
                },
            )
            .await;
        }
        // Attributes outside the projection come from the table.
        check_query(
            &mut f,
            &format!("{name} ProjectionExpression naming unprojected attributes"),
            lquery(name, "p2")
                .projection_expression("sk, #o, inc")
                .expression_attribute_names("#o", "other"),
            &only_attrs(&full_p2, &["sk", "other", "inc"]),
            NO_CHECKS,
        )
        .await;
        match scan_pages(
            &client
                .scan()
                .table_name(Q)
                .index_name(name)
                .select(Select::AllAttributes),
        )
        .await
        {
            Ok(pages) => {
                let got: Vec<Attrs> = pages.iter().flat_map(|p| p.items().to_vec()).collect();
                let want = q_spec("by_l_all").expected(&items);
                let diffs = index_differences(&want, &got, &TABLE_KEYS);
                if !diffs.is_empty() {
                    f.push(format!(
                        "Scan {name} Select ALL_ATTRIBUTES: {}",
                        first_lines(&diffs)
                    ));
                }
            }
            Err(e) => f.push(format!("Scan {name} Select ALL_ATTRIBUTES: {e}")),
        }
    }

    // ProjectionExpression on a GSI, with a name placeholder for the index key.
    check_query(
        &mut f,
        "by_g_incl ProjectionExpression pk, #k, inc",
        query("by_g_incl", "g1")
            .projection_expression("pk, #k, inc")
            .expression_attribute_names("#k", "gsk"),
        &only_attrs(&full_g1, &["pk", "gsk", "inc"]),
        NO_CHECKS,
    )
    .await;
    // …which with Select SPECIFIC_ATTRIBUTES means the same.
    check_query(
        &mut f,
        "by_g_all Select SPECIFIC_ATTRIBUTES",
        query("by_g_all", "g1")
            .select(Select::SpecificAttributes)
            .projection_expression("#o, sk")
            .expression_attribute_names("#o", "other"),
        &only_attrs(&full_g1, &["other", "sk"]),
        NO_CHECKS,
    )
    .await;

    // FilterExpression on projected non-key attributes; Count vs ScannedCount.
    let with_inc: Vec<Attrs> = where_eq(&q_spec("by_g_incl").expected(&items), "gpk", &s("g1"))
        .into_iter()
        .filter(|it| it.contains_key("inc"))
        .collect();
    let all_g1_incl = where_eq(&q_spec("by_g_incl").expected(&items), "gpk", &s("g1"));
    check_query(
        &mut f,
        "by_g_incl FilterExpression attribute_exists(inc)",
        query("by_g_incl", "g1").filter_expression("attribute_exists(inc)"),
        &with_inc,
        PageChecks {
            order: Some(("gsk", true)),
            ..NO_CHECKS
        },
    )
    .await;
    match query("by_g_incl", "g1")
        .filter_expression("attribute_exists(inc)")
        .select(Select::Count)
        .send()
        .await
    {
        Ok(out) => {
            if out.count() as usize != with_inc.len()
                || out.scanned_count() as usize != all_g1_incl.len()
                || !out.items().is_empty()
            {
                f.push(format!(
                    "by_g_incl Select COUNT with filter: Count {} ScannedCount {} items {}, want {} {} 0",
                    out.count(),
                    out.scanned_count(),
                    out.items().len(),
                    with_inc.len(),
                    all_g1_incl.len()
                ));
            }
        }
        Err(e) => f.push(format!("by_g_incl Select COUNT: {e:?}")),
    }
    check_query(
        &mut f,
        "by_g_all FilterExpression on an attribute outside the index key",
        query("by_g_all", "g1")
            .filter_expression("begins_with(#o, :o) AND contains(#o, :seven)")
            .expression_attribute_names("#o", "other")
            .expression_attribute_values(":o", s("other-"))
            .expression_attribute_values(":seven", s("7")),
        &full_g1
            .iter()
            .filter(|it| matches!(it.get("other"), Some(AttributeValue::S(o)) if o.contains('7')))
            .cloned()
            .collect::<Vec<_>>(),
        NO_CHECKS,
    )
    .await;
    // Select COUNT on an LSI and on a scan of a GSI.
    match lquery("by_l_keys", "p1").select(Select::Count).send().await {
        Ok(out) => {
            let want = where_eq(&q_spec("by_l_keys").expected(&items), "pk", &s("p1")).len();
            if out.count() as usize != want || !out.items().is_empty() {
                f.push(format!(
                    "by_l_keys Select COUNT: Count {} items {}, want {want}",
                    out.count(),
                    out.items().len()
                ));
            }
        }
        Err(e) => f.push(format!("by_l_keys Select COUNT: {e:?}")),
    }
    match client
        .scan()
        .table_name(Q)
        .index_name("by_g_keys")
        .select(Select::Count)
        .send()
        .await
    {
        Ok(out) => {
            let want = q_spec("by_g_keys").expected(&items).len();
            if out.count() as usize != want || !out.items().is_empty() {
                f.push(format!(
                    "Scan by_g_keys Select COUNT: Count {}, want {want}",
                    out.count()
                ));
            }
        }
        Err(e) => f.push(format!("Scan by_g_keys Select COUNT: {e:?}")),
    }
    // ALL_PROJECTED_ATTRIBUTES needs an index.
    let r = client
        .query()
        .table_name(Q)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p1"))
        .select(Select::AllProjectedAttributes)
        .send()
        .await;
    f.check(check_err(
        "Query of the table with Select ALL_PROJECTED_ATTRIBUTES",
        r,
        VALIDATION,
        Some("ALL_PROJECTED_ATTRIBUTES"),
    ));
    f.assert_none();
}

#[tokio::test]
async fn index_query_and_scan_errors() {
    let server = TestServer::start();
    let client = server.client();
    q_table(&client).await;
    let mut f = Failures::new();
    let r = client
        .query()
        .table_name(Q)
        .index_name("nope")
        .key_condition_expression("gpk = :g")
        .expression_attribute_values(":g", s("g1"))
        .send()
        .await;
    f.check(check_err(
        "Query a missing index",
        r,
        VALIDATION,
        Some("The table does not have the specified index: nope"),
    ));
    let r = client.scan().table_name(Q).index_name("nope").send().await;
    f.check(check_err(
        "Scan a missing index",
        r,
        VALIDATION,
        Some("The table does not have the specified index: nope"),
    ));
    let r = client
        .query()
        .table_name("ix_no_such_table")
        .index_name("by_gpk")
        .key_condition_expression("gpk = :g")
        .expression_attribute_values(":g", s("g1"))
        .send()
        .await;
    f.check(check_err(
        "Query an index of a missing table",
        r,
        NOT_FOUND,
        None,
    ));

    for name in ["by_g_all", "by_gpk"] {
        let r = client
            .query()
            .table_name(Q)
            .index_name(name)
            .key_condition_expression("gpk = :g")
            .expression_attribute_values(":g", s("g1"))
            .consistent_read(true)
            .send()
            .await;
        f.check(check_err(
            &format!("consistent Query of GSI {name}"),
            r,
            VALIDATION,
            Some("Consistent reads are not supported on global secondary indexes"),
        ));
        let r = client
            .scan()
            .table_name(Q)
            .index_name(name)
            .consistent_read(true)
            .send()
            .await;
        f.check(check_err(
            &format!("consistent Scan of GSI {name}"),
            r,
            VALIDATION,
            Some("Consistent reads are not supported on global secondary indexes"),
        ));
    }
    // The key condition must name the index's partition key.
    let r = client
        .query()
        .table_name(Q)
        .index_name("by_g_all")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p1"))
        .send()
        .await;
    f.check(check_err(
        "Query GSI by the table's key",
        r,
        VALIDATION,
        Some("Query condition missed key schema element: gpk"),
    ));
    let r = client
        .query()
        .table_name(Q)
        .index_name("by_l_all")
        .key_condition_expression("pk = :p AND sk = :s")
        .expression_attribute_values(":p", s("p1"))
        .expression_attribute_values(":s", n("1"))
        .send()
        .await;
    f.check(check_err(
        "Query LSI with a condition on the table sort key",
        r,
        VALIDATION,
        None,
    ));
    // Key condition values must have the index key's type.
    let r = client
        .query()
        .table_name(Q)
        .index_name("by_g_all")
        .key_condition_expression("gpk = :g")
        .expression_attribute_values(":g", n("1"))
        .send()
        .await;
    f.check(check_err(
        "Query GSI with an N value for an S key",
        r,
        VALIDATION,
        Some("Condition parameter type does not match schema type"),
    ));
    // An ExclusiveStartKey without the index key attributes is not a position in the index.
    let r = client
        .query()
        .table_name(Q)
        .index_name("by_g_all")
        .key_condition_expression("gpk = :g")
        .expression_attribute_values(":g", s("g1"))
        .exclusive_start_key("pk", s("p1"))
        .exclusive_start_key("sk", n("1"))
        .send()
        .await;
    f.check(check_err(
        "Query GSI with a table-only ExclusiveStartKey",
        r,
        VALIDATION,
        None,
    ));
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Writes are reflected in the indexes
// ---------------------------------------------------------------------------------------

async fn check_all_q_indexes(client: &Client, f: &mut Failures, when: &str) -> Vec<Attrs> {
    let table = scan_everything(client, Q).await;
    for spec in q_specs() {
        let want = spec.expected(&table);
        let got = scan_index_everything(client, Q, spec.name).await;
        let diffs = index_differences(&want, &got, &TABLE_KEYS);
        if !diffs.is_empty() {
            f.push(format!(
                "{when}: index {}: {}",
                spec.name,
                first_lines(&diffs)
            ));
        }
    }
    table
}

async fn gsi_keys_under(client: &Client, index: &str, g: &str) -> Vec<(String, String)> {
    let out = client
        .query()
        .table_name(Q)
        .index_name(index)
        .key_condition_expression("gpk = :g")
        .expression_attribute_values(":g", s(g))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Query {index} gpk = {g}: {e:?}"));
    out.items()
        .iter()
        .map(|it| (format!("{:?}", it.get("pk")), format!("{:?}", it.get("sk"))))
        .collect()
}

#[tokio::test]
async fn updates_and_deletes_of_items_move_and_remove_index_entries() {
    let server = TestServer::start();
    let client = server.client();
    q_table(&client).await;
    let mut f = Failures::new();
    let k = |p: &str, sk: i64| item(&[("pk", s(p)), ("sk", n(&sk.to_string()))]);
    let id = |p: &str, sk: i64| {
        (
            format!("{:?}", Some(s(p))),
            format!("{:?}", Some(n(&sk.to_string()))),
        )
    };

    // p0/0 has gpk g0 and gsk 0. Move it to g2 with UpdateItem.
    let before = get_consistent(&client, Q, k("p0", 0)).await.expect("p0/0");
    assert_eq!(before.get("gpk"), Some(&s("g0")));
    client
        .update_item()
        .table_name(Q)
        .set_key(Some(k("p0", 0)))
        .update_expression("SET gpk = :g, inc = :i")
        .expression_attribute_values(":g", s("g2"))
        .expression_attribute_values(":i", s("moved"))
        .send()
        .await
        .expect("UpdateItem move p0/0");
    for index in ["by_g_all", "by_g_keys", "by_g_incl", "by_gpk"] {
        if gsi_keys_under(&client, index, "g0")
            .await
            .contains(&id("p0", 0))
        {
            f.push(format!("{index}: p0/0 still under its old gpk g0"));
        }
        if !gsi_keys_under(&client, index, "g2")
            .await
            .contains(&id("p0", 0))
        {
            f.push(format!("{index}: p0/0 not under its new gpk g2"));
        }
    }
    // REMOVE the index sort key: gone from the (gpk, gsk) GSIs, still in the hash-only one.
    client
        .update_item()
        .table_name(Q)
        .set_key(Some(k("p0", 0)))
        .update_expression("REMOVE gsk")
        .send()
        .await
        .expect("UpdateItem REMOVE gsk");
    if gsi_keys_under(&client, "by_g_all", "g2")
        .await
        .contains(&id("p0", 0))
    {
        f.push("by_g_all: p0/0 still indexed without gsk");
    }
    if !gsi_keys_under(&client, "by_gpk", "g2")
        .await
        .contains(&id("p0", 0))
    {
        f.push("by_gpk: p0/0 missing although it still has gpk");
    }
    // Change only a projected non-key attribute: the ALL/INCLUDE entries follow.
    client
        .update_item()
        .table_name(Q)
        .set_key(Some(k("p1", 1)))
        .update_expression("SET inc = :i, #o = :o")
        .expression_attribute_names("#o", "other")
        .expression_attribute_values(":i", s("new-inc"))
        .expression_attribute_values(":o", s("new-other"))
        .send()
        .await
        .expect("UpdateItem non-key attributes");
    // Setting an index key to the value it already has keeps the entry.
    client
        .update_item()
        .table_name(Q)
        .set_key(Some(k("p1", 2)))
        .update_expression("SET gpk = gpk, gsk = gsk, lsk = lsk")
        .send()
        .await
        .expect("UpdateItem same index key values");
    // PutItem replaces an item without index keys: it leaves every index.
    put_ok(
        &client,
        Q,
        item(&[("pk", s("p1")), ("sk", n("3")), ("other", s("bare"))]),
    )
    .await;
    // PutItem gives a bare item index keys: it joins them.
    put_ok(
        &client,
        Q,
        item(&[
            ("pk", s("p1")),
            ("sk", n("9")),
            ("gpk", s("g1")),
            ("gsk", n("7")),
            ("lsk", s("l99")),
            ("inc", s("i")),
            ("other", s("o")),
        ]),
    )
    .await;
    // A new item.
    put_ok(
        &client,
        Q,
        item(&[
            ("pk", s("p9")),
            ("sk", n("1")),
            ("gpk", s("g0")),
            ("gsk", n("-1")),
            ("lsk", s("l00")),
            ("other", s("o")),
        ]),
    )
    .await;
    // Changing the LSI sort key moves the LSI entry.
    client
        .update_item()
        .table_name(Q)
        .set_key(Some(k("p2", 0)))
        .update_expression("SET lsk = :l")
        .expression_attribute_values(":l", s("l77"))
        .send()
        .await
        .expect("UpdateItem lsk");
    // DeleteItem, and a delete inside BatchWriteItem.
    client
        .delete_item()
        .table_name(Q)
        .set_key(Some(k("p2", 1)))
        .send()
        .await
        .expect("DeleteItem");
    client
        .batch_write_item()
        .request_items(
            Q,
            vec![WriteRequest::builder()
                .delete_request(
                    aws_sdk_dynamodb::types::DeleteRequest::builder()
                        .set_key(Some(k("p2", 2)))
                        .build()
                        .unwrap(),
                )
                .build()],
        )
        .send()
        .await
        .expect("BatchWriteItem delete");
    // A failed conditional update changes no index.
    let r = client
        .update_item()
        .table_name(Q)
        .set_key(Some(k("p3", 0)))
        .update_expression("SET gpk = :g")
        .condition_expression("attribute_not_exists(pk)")
        .expression_attribute_values(":g", s("g9"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    f.check(check_err(
        "conditional update that fails",
        r,
        "ConditionalCheckFailedException",
        None,
    ));
    if !gsi_keys_under(&client, "by_gpk", "g9").await.is_empty() {
        f.push("a failed conditional update created index entries under g9");
    }
    let table = check_all_q_indexes(&client, &mut f, "after updates, puts and deletes").await;
    let p1_1 = table
        .iter()
        .find(|it| it.get("pk") == Some(&s("p1")) && it.get("sk") == Some(&n("1")))
        .expect("p1/1");
    assert_eq!(p1_1.get("inc"), Some(&s("new-inc")));

    // Delete every item: every index becomes empty.
    for it in &table {
        client
            .delete_item()
            .table_name(Q)
            .key("pk", it["pk"].clone())
            .key("sk", it["sk"].clone())
            .send()
            .await
            .expect("DeleteItem");
    }
    for spec in q_specs() {
        let got = scan_index_everything(&client, Q, spec.name).await;
        if !got.is_empty() {
            f.push(format!(
                "index {} not empty after deleting every item: {} entries",
                spec.name,
                got.len()
            ));
        }
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Parallel scan
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn parallel_scan_of_an_index_returns_every_entry_exactly_once() {
    let server = TestServer::start();
    let client = server.client();
    let items = q_table(&client).await;
    let mut f = Failures::new();
    for name in ["by_g_all", "by_gpk", "by_l_incl"] {
        let want = q_spec(name).expected(&items);
        for total in [1, 3, 7] {
            let mut got = Vec::new();
            for segment in 0..total {
                let what = format!("Scan {name} segment {segment}/{total}");
                match scan_pages(
                    &client
                        .scan()
                        .table_name(Q)
                        .index_name(name)
                        .segment(segment)
                        .total_segments(total)
                        .limit(6),
                )
                .await
                {
                    Ok(pages) => got.extend(pages.iter().flat_map(|p| p.items().to_vec())),
                    Err(e) => f.push(format!("{what}: {e}")),
                }
            }
            let diffs = index_differences(&want, &got, &TABLE_KEYS);
            if !diffs.is_empty() {
                f.push(format!(
                    "parallel Scan of {name} in {total} segments: {} entries, want {}: {}",
                    got.len(),
                    want.len(),
                    first_lines(&diffs)
                ));
            }
        }
    }
    f.assert_none();
}

// ---------------------------------------------------------------------------------------
// Lifecycle: restart, delete and re-create
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn indexes_survive_a_graceful_restart() {
    let mut server = TestServer::start();
    let client = server.client();
    let items = q_table(&client).await;
    server.restart();
    let client = server.client();
    let desc = describe_table(&client, Q).await;
    assert_eq!(
        desc.global_secondary_indexes().len(),
        4,
        "GSIs after restart"
    );
    assert_eq!(
        desc.local_secondary_indexes().len(),
        3,
        "LSIs after restart"
    );
    let mut f = Failures::new();
    for spec in q_specs() {
        let want = spec.expected(&items);
        let got = scan_index_everything(&client, Q, spec.name).await;
        let diffs = index_differences(&want, &got, &TABLE_KEYS);
        if !diffs.is_empty() {
            f.push(format!(
                "index {} after restart: {}",
                spec.name,
                first_lines(&diffs)
            ));
        }
    }
    // Index maintenance still works after the restart.
    put_ok(
        &client,
        Q,
        item(&[
            ("pk", s("p0")),
            ("sk", n("100")),
            ("gpk", s("g7")),
            ("gsk", n("1")),
        ]),
    )
    .await;
    let out = client
        .query()
        .table_name(Q)
        .index_name("by_g_keys")
        .key_condition_expression("gpk = :g")
        .expression_attribute_values(":g", s("g7"))
        .send()
        .await
        .expect("Query after restart");
    if out.items().len() != 1 {
        f.push(format!("new entry after restart: {:?}", out.items()));
    }
    f.assert_none();
}

#[tokio::test]
async fn a_deleted_and_recreated_table_starts_with_empty_indexes() {
    let server = TestServer::start();
    let client = server.client();
    q_table(&client).await;
    client
        .delete_table()
        .table_name(Q)
        .send()
        .await
        .expect("DeleteTable");
    let deadline = std::time::Instant::now() + TABLE_STATE_TIMEOUT;
    while client.describe_table().table_name(Q).send().await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "table not deleted in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    create_q_table(&client).await;
    let mut f = Failures::new();
    for spec in q_specs() {
        let got = scan_index_everything(&client, Q, spec.name).await;
        if !got.is_empty() {
            f.push(format!(
                "index {} of the re-created table has {} stale entries, e.g. {:?}",
                spec.name,
                got.len(),
                got.first()
            ));
        }
    }
    f.assert_none();
}
