//! Scan: FilterExpression (Count vs ScannedCount), Limit/ExclusiveStartKey paging, the 1 MB
//! page limit, Select and ProjectionExpression, and parallel scan (Segment/TotalSegments:
//! the segments are disjoint and together return every item exactly once).
//!
//! Expected behaviour follows the Scan API reference ("TotalSegments … greater than or equal
//! to 1, and less than or equal to 1000000"; "Segment … must be less than the value provided
//! for TotalSegments"; "If you provide Segment, you must also provide TotalSegments"; "A
//! single Scan operation reads up to … 1 MB of data and then apply any filtering") and the
//! Developer Guide ("Parallel scan").

mod common;

use std::collections::{BTreeSet, HashSet};

use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType, Select};
use aws_sdk_dynamodb::Client;
use common::*;

const VALIDATION: &str = "ValidationException";

async fn all_pages(base: &ScanFluentBuilder) -> Vec<ScanOutput> {
    scan_pages(base).await.unwrap_or_else(|e| panic!("{e}"))
}

fn pk_of(i: &Attrs) -> String {
    match i.get("pk") {
        Some(AttributeValue::S(v)) => v.clone(),
        other => panic!("item without an S pk: {other:?} in {i:?}"),
    }
}

/// A hash-key table with `count` items `k000…`, each with `n` = its index.
async fn filled_table(client: &Client, name: &str, count: usize) -> BTreeSet<String> {
    create_table(client, name, ("pk", ScalarAttributeType::S), None).await;
    let mut keys = BTreeSet::new();
    for i in 0..count {
        let k = format!("k{i:03}");
        put_ok(
            client,
            name,
            item(&[
                ("pk", s(&k)),
                ("n", n(&i.to_string())),
                ("parity", s(if i % 2 == 0 { "even" } else { "odd" })),
            ]),
        )
        .await;
        keys.insert(k);
    }
    keys
}

#[tokio::test]
async fn scan_returns_everything_and_filters_after_reading() {
    let server = TestServer::start();
    let client = server.client();
    let keys = filled_table(&client, "sc_t", 30).await;

    let out = client.scan().table_name("sc_t").send().await.expect("Scan");
    let got: BTreeSet<_> = out.items().iter().map(pk_of).collect();
    assert_eq!(got, keys);
    assert_eq!(out.count(), 30);
    assert_eq!(out.scanned_count(), 30);
    assert!(out.last_evaluated_key().is_none_or(|k| k.is_empty()));

    let out = client
        .scan()
        .table_name("sc_t")
        .filter_expression("#p = :odd AND n < :ten")
        .expression_attribute_names("#p", "parity")
        .expression_attribute_values(":odd", s("odd"))
        .expression_attribute_values(":ten", n("10"))
        .consistent_read(true)
        .send()
        .await
        .expect("Scan with a filter");
    let got: BTreeSet<_> = out.items().iter().map(pk_of).collect();
    let want: BTreeSet<_> = ["k001", "k003", "k005", "k007", "k009"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert_eq!(got, want);
    assert_eq!(out.count(), 5);
    assert_eq!(out.scanned_count(), 30);

    let out = client
        .scan()
        .table_name("sc_t")
        .filter_expression("n >= :x")
        .expression_attribute_values(":x", n("25"))
        .select(Select::Count)
        .send()
        .await
        .expect("Scan Select COUNT");
    assert_eq!(out.count(), 5);
    assert_eq!(out.scanned_count(), 30);
    assert!(out.items().is_empty());

    let out = client
        .scan()
        .table_name("sc_t")
        .projection_expression("n")
        .filter_expression("pk = :k")
        .expression_attribute_values(":k", s("k007"))
        .send()
        .await
        .expect("Scan with a projection and a filter on the key");
    assert_eq!(out.items().to_vec(), vec![item(&[("n", n("7"))])]);
}

#[tokio::test]
async fn limit_paging_returns_every_item_once() {
    let server = TestServer::start();
    let client = server.client();
    let keys = filled_table(&client, "sp_t", 37).await;
    let mut f = Failures::new();
    for limit in [1, 4, 10, 37, 50] {
        let base = client.scan().table_name("sp_t").limit(limit);
        let pages = all_pages(&base).await;
        let mut seen = Vec::new();
        for (i, p) in pages.iter().enumerate() {
            if p.items().len() > limit as usize {
                f.push(format!(
                    "limit {limit}: page {i} has {} items",
                    p.items().len()
                ));
            }
            if p.scanned_count() > limit {
                f.push(format!(
                    "limit {limit}: page {i} ScannedCount {}",
                    p.scanned_count()
                ));
            }
            if let (Some(lek), Some(last)) = (p.last_evaluated_key(), p.items().last()) {
                let want = item(&[("pk", last["pk"].clone())]);
                if lek != &want {
                    f.push(format!(
                        "limit {limit}: page {i} LastEvaluatedKey {lek:?}, want {want:?}"
                    ));
                }
            }
            seen.extend(p.items().iter().map(pk_of));
        }
        let distinct: BTreeSet<_> = seen.iter().cloned().collect();
        if seen.len() != distinct.len() {
            f.push(format!("limit {limit}: duplicates across pages: {seen:?}"));
        }
        if distinct != keys {
            f.push(format!(
                "limit {limit}: union of pages differs: missing {:?}, extra {:?}",
                keys.difference(&distinct).collect::<Vec<_>>(),
                distinct.difference(&keys).collect::<Vec<_>>()
            ));
        }
    }

    // A filtered, paged scan: each item read once, each match returned once.
    let base = client
        .scan()
        .table_name("sp_t")
        .filter_expression("parity = :e")
        .expression_attribute_values(":e", s("even"))
        .limit(6);
    let pages = all_pages(&base).await;
    let scanned: i32 = pages.iter().map(|p| p.scanned_count()).sum();
    let matched: Vec<_> = pages
        .iter()
        .flat_map(|p| p.items().iter().map(pk_of))
        .collect();
    if scanned != 37 {
        f.push(format!(
            "filtered paging: ScannedCount sums to {scanned}, want 37"
        ));
    }
    let want: BTreeSet<_> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, k)| k.clone())
        .collect();
    let got: BTreeSet<_> = matched.iter().cloned().collect();
    if got != want || matched.len() != want.len() {
        f.push(format!(
            "filtered paging returned {matched:?}, want {want:?}"
        ));
    }
    f.assert_none();
}

#[tokio::test]
async fn parallel_scan_segments_are_disjoint_and_complete() {
    let server = TestServer::start();
    let client = server.client();
    let keys = filled_table(&client, "par", 60).await;
    let mut f = Failures::new();
    for total in [1, 3, 7] {
        let mut union = BTreeSet::new();
        let mut owner: std::collections::HashMap<String, i32> = Default::default();
        for segment in 0..total {
            for limit in [None, Some(4)] {
                let base = client
                    .scan()
                    .table_name("par")
                    .segment(segment)
                    .total_segments(total)
                    .set_limit(limit);
                let pages = all_pages(&base).await;
                let got: Vec<String> = pages
                    .iter()
                    .flat_map(|p| p.items().iter().map(pk_of))
                    .collect();
                let distinct: HashSet<_> = got.iter().cloned().collect();
                if distinct.len() != got.len() {
                    f.push(format!(
                        "TotalSegments {total} segment {segment} limit {limit:?}: duplicates {got:?}"
                    ));
                }
                for k in got {
                    match owner.get(&k) {
                        Some(&other) if other != segment => f.push(format!(
                            "TotalSegments {total}: {k} returned by segments {other} and {segment}"
                        )),
                        _ => {
                            owner.insert(k.clone(), segment);
                        }
                    }
                    union.insert(k);
                }
            }
        }
        if union != keys {
            f.push(format!(
                "TotalSegments {total}: union misses {:?} / has extra {:?}",
                keys.difference(&union).collect::<Vec<_>>(),
                union.difference(&keys).collect::<Vec<_>>()
            ));
        }
    }
    f.assert_none();
}

#[tokio::test]
async fn parallel_scan_parameter_validation() {
    let server = TestServer::start();
    let client = server.client();
    filled_table(&client, "pv_t", 3).await;
    let mut f = Failures::new();
    let cases: Vec<(Option<i32>, Option<i32>, Option<&str>)> = vec![
        // Segment must be below TotalSegments.
        (
            Some(3),
            Some(3),
            Some(
                "The Segment parameter is zero-based and must be less than parameter TotalSegments",
            ),
        ),
        (Some(5), Some(2), None),
        // One without the other.
        (Some(0), None, None),
        (None, Some(2), None),
        // Ranges: Segment 0..=999999, TotalSegments 1..=1000000.
        (Some(0), Some(0), None),
        (Some(-1), Some(2), None),
        (Some(0), Some(1_000_001), None),
    ];
    for (segment, total, msg) in cases {
        f.check(check_err(
            &format!("Scan Segment {segment:?} TotalSegments {total:?}"),
            client
                .scan()
                .table_name("pv_t")
                .set_segment(segment)
                .set_total_segments(total)
                .send()
                .await,
            VALIDATION,
            msg,
        ));
    }
    // The largest TotalSegments is allowed (and most segments are simply empty).
    match client
        .scan()
        .table_name("pv_t")
        .segment(999_999)
        .total_segments(1_000_000)
        .send()
        .await
    {
        Ok(out) => {
            if out.items().len() > 3 {
                f.push(format!(
                    "segment 999999 of 1000000 returned {:?}",
                    out.items()
                ));
            }
        }
        Err(e) => f.push(format!("Segment 999999 TotalSegments 1000000: {e:?}")),
    }
    f.assert_none();
}

#[tokio::test]
async fn scan_pages_stop_near_one_megabyte() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "bigscan", ("pk", ScalarAttributeType::S), None).await;
    const ITEMS: usize = 25;
    let payload = "y".repeat(100_000);
    let mut keys = BTreeSet::new();
    for i in 0..ITEMS {
        let k = format!("k{i:03}");
        put_ok(
            &client,
            "bigscan",
            item(&[("pk", s(&k)), ("blob2", s(&payload))]),
        )
        .await;
        keys.insert(k);
    }
    let base = client.scan().table_name("bigscan");
    let pages = all_pages(&base).await;
    let first = pages[0].items().len();
    assert!(
        (9..=11).contains(&first),
        "first page has {first} items of ~100 KB; want it to stop near 1 MB"
    );
    assert!(pages[0].last_evaluated_key().is_some_and(|k| !k.is_empty()));
    assert!(
        pages.len() >= 3,
        "2.5 MB needs at least 3 pages, got {}",
        pages.len()
    );
    let got: Vec<_> = pages
        .iter()
        .flat_map(|p| p.items().iter().map(pk_of))
        .collect();
    let distinct: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), ITEMS, "{got:?}");
    assert_eq!(distinct, keys);

    // Select COUNT pages the same way: the limit is on data read, not returned.
    let counted = client
        .scan()
        .table_name("bigscan")
        .select(Select::Count)
        .send()
        .await
        .expect("Scan COUNT over large items");
    assert!(
        (9..=11).contains(&(counted.count() as usize)),
        "COUNT page counted {}",
        counted.count()
    );
    assert!(counted.last_evaluated_key().is_some_and(|k| !k.is_empty()));
}
