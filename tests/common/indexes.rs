//! Secondary-index helpers: waiting for indexes, reading them whole, and the entries an index should hold.

use super::*;

/// How long a new GSI may take to become ACTIVE, or a deleted one to disappear.
pub const INDEX_STATE_TIMEOUT: Duration = Duration::from_secs(120);

/// DescribeTable that must succeed; returns the TableDescription.
pub async fn describe_table(
    client: &Client,
    name: &str,
) -> aws_sdk_dynamodb::types::TableDescription {
    client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeTable {name}: {e:?}"))
        .table()
        .cloned()
        .unwrap_or_else(|| panic!("DescribeTable {name}: no Table in the response"))
}

/// Poll DescribeTable (bounded by `INDEX_STATE_TIMEOUT`) until the table is ACTIVE and every
/// global secondary index is ACTIVE and not backfilling; returns the last description.
pub async fn wait_gsis_active(
    client: &Client,
    name: &str,
) -> aws_sdk_dynamodb::types::TableDescription {
    use aws_sdk_dynamodb::types::IndexStatus;
    let deadline = Instant::now() + INDEX_STATE_TIMEOUT;
    loop {
        let desc = describe_table(client, name).await;
        let pending: Vec<String> = desc
            .global_secondary_indexes()
            .iter()
            .filter(|g| {
                g.index_status() != Some(&IndexStatus::Active) || g.backfilling() == Some(true)
            })
            .map(|g| {
                format!(
                    "{:?} {:?} backfilling={:?}",
                    g.index_name(),
                    g.index_status(),
                    g.backfilling()
                )
            })
            .collect();
        if desc.table_status() == Some(&TableStatus::Active) && pending.is_empty() {
            return desc;
        }
        assert!(
            Instant::now() < deadline,
            "table {name}: indexes not ACTIVE within {INDEX_STATE_TIMEOUT:?} (table {:?}, pending {pending:?})",
            desc.table_status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every entry of a secondary index, by paging an eventually consistent Scan with
/// IndexName to the end (bounded by `MAX_PAGES`).
pub async fn scan_index_everything(client: &Client, table: &str, index: &str) -> Vec<Attrs> {
    scan_to_the_end(client, table, Some(index)).await
}

/// Put every item with BatchWriteItem, 25 at a time, resubmitting UnprocessedItems
/// (bounded: at most 50 attempts per batch).
pub async fn batch_put_all(client: &Client, table: &str, items: &[Attrs]) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    for chunk in items.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|it| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(it.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        for attempt in 0.. {
            assert!(
                attempt < 50,
                "BatchWriteItem into {table}: items stay unprocessed"
            );
            let out = client
                .batch_write_item()
                .request_items(table, requests.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("BatchWriteItem into {table}: {e:?}"));
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Whether `v` can be an index key value of type `t`: the right type and, for S and B,
/// not empty. (An item whose index key is missing, of another type or empty is not in the
/// index; items written before a GSI existed can be like that.)
pub fn is_index_key_value(v: &AttributeValue, t: &ScalarAttributeType) -> bool {
    match (v, t) {
        (AttributeValue::S(x), ScalarAttributeType::S) => !x.is_empty(),
        (AttributeValue::N(_), ScalarAttributeType::N) => true,
        (AttributeValue::B(x), ScalarAttributeType::B) => !x.as_ref().is_empty(),
        _ => false,
    }
}

/// What a secondary index must hold for the table `items`: one entry per item whose
/// index key attributes are all usable index key values, projected to the table key,
/// the index key and `include` (`None` means ProjectionType ALL: the whole item).
pub fn expected_index_entries(
    items: &[Attrs],
    table_keys: &[&str],
    index_keys: &[(&str, ScalarAttributeType)],
    include: Option<&[&str]>,
) -> Vec<Attrs> {
    items
        .iter()
        .filter(|it| {
            index_keys
                .iter()
                .all(|(k, t)| it.get(*k).is_some_and(|v| is_index_key_value(v, t)))
        })
        .map(|it| match include {
            None => it.clone(),
            Some(extra) => it
                .iter()
                .filter(|(k, _)| {
                    table_keys.contains(&k.as_str())
                        || index_keys.iter().any(|(ik, _)| ik == k)
                        || extra.contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .collect()
}

/// A printable identity of an item: the values of its table key attributes.
pub fn table_key_of(it: &Attrs, table_keys: &[&str]) -> String {
    table_keys
        .iter()
        .map(|k| format!("{k}={:?}", it.get(*k)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Compares index entries with the expected ones, matched by table key. Returns one line
/// per missing, unexpected, duplicated or differing entry (empty when they agree exactly).
pub fn index_differences(expected: &[Attrs], got: &[Attrs], table_keys: &[&str]) -> Vec<String> {
    let mut want: HashMap<String, Attrs> = HashMap::new();
    for it in expected {
        want.insert(table_key_of(it, table_keys), canonical_item(it));
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut bad = Vec::new();
    for it in got {
        let k = table_key_of(it, table_keys);
        if !seen.insert(k.clone()) {
            bad.push(format!("duplicate entry {k}"));
            continue;
        }
        match want.get(&k) {
            None => bad.push(format!("unexpected entry {it:?}")),
            Some(w) if *w != canonical_item(it) => {
                bad.push(format!("entry {k} is {it:?}, want {w:?}"))
            }
            Some(_) => {}
        }
    }
    for (k, w) in &want {
        if !seen.contains(k) {
            bad.push(format!("missing entry {w:?}"));
        }
    }
    bad.sort();
    bad
}
