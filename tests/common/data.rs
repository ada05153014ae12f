//! Data-plane helpers: items, consistent reads, scans and pages, TTL.

use super::*;

/// An item or key: attribute name → value.
pub type Attrs = HashMap<String, AttributeValue>;

/// How many pages a paging loop in a test may fetch before it is considered runaway.
pub const MAX_PAGES: usize = 500;

/// UpdateTable's GlobalSecondaryIndexUpdates entry that creates an index.
pub fn gsi_create_action(
    name: &str,
    hash: &str,
    range: Option<&str>,
    projection: aws_sdk_dynamodb::types::Projection,
) -> aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate {
    let mut action = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .projection(projection);
    if let Some(range) = range {
        action = action.key_schema(key(range, KeyType::Range));
    }
    aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
        .create(action.build().unwrap())
        .build()
}

/// Every page of a Scan (ExclusiveStartKey replaced each time), bounded by `MAX_PAGES`.
pub async fn scan_pages(
    base: &aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
) -> Result<Vec<aws_sdk_dynamodb::operation::scan::ScanOutput>, String> {
    let mut pages = Vec::new();
    let mut start: Option<Attrs> = None;
    for _ in 0..MAX_PAGES {
        let page = base
            .clone()
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("Scan page {}: {e:?}", pages.len() + 1))?;
        let next = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        pages.push(page);
        match next {
            Some(k) => start = Some(k),
            None => return Ok(pages),
        }
    }
    Err(format!("Scan did not finish within {MAX_PAGES} pages"))
}

/// Every page of a Query (ExclusiveStartKey replaced each time), bounded by `MAX_PAGES`.
pub async fn query_pages(
    base: &aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<aws_sdk_dynamodb::operation::query::QueryOutput>, String> {
    let mut pages = Vec::new();
    let mut start: Option<Attrs> = None;
    for _ in 0..MAX_PAGES {
        let page = base
            .clone()
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("Query page {}: {e:?}", pages.len() + 1))?;
        let next = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        pages.push(page);
        match next {
            Some(k) => start = Some(k),
            None => return Ok(pages),
        }
    }
    Err(format!("Query did not finish within {MAX_PAGES} pages"))
}

pub fn ss(v: &[&str]) -> AttributeValue {
    AttributeValue::Ss(v.iter().map(|x| x.to_string()).collect())
}

pub fn ns(v: &[&str]) -> AttributeValue {
    AttributeValue::Ns(v.iter().map(|x| x.to_string()).collect())
}

pub fn bs(v: &[&[u8]]) -> AttributeValue {
    AttributeValue::Bs(
        v.iter()
            .map(|x| aws_sdk_dynamodb::primitives::Blob::new(x.to_vec()))
            .collect(),
    )
}

pub fn list(v: Vec<AttributeValue>) -> AttributeValue {
    AttributeValue::L(v)
}

pub fn map(pairs: &[(&str, AttributeValue)]) -> AttributeValue {
    AttributeValue::M(item(pairs))
}

/// PutItem that must succeed.
pub async fn put_ok(client: &Client, table: &str, it: Attrs) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(it.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItem {it:?} into {table}: {e:?}"));
}

/// Strongly consistent GetItem that must succeed.
pub async fn get_consistent(client: &Client, table: &str, key: Attrs) -> Option<Attrs> {
    try_get_consistent(client, table, key.clone())
        .await
        .unwrap_or_else(|e| panic!("GetItem {key:?} from {table}: {e}"))
}

/// A strongly consistent GetItem, or why it failed.
pub async fn try_get_consistent(
    client: &Client,
    table: &str,
    key: Attrs,
) -> Result<Option<Attrs>, String> {
    let got = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(got.item().cloned())
}

/// Enables TTL on `table` with attribute `attribute`.
pub async fn enable_ttl(client: &Client, table: &str, attribute: &str) {
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attribute)
                .build()
                .expect("a TTL specification"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTimeToLive {table}: {e:?}"));
}

/// Every item of a table, by paging a consistent Scan to the end (bounded by `MAX_PAGES`).
pub async fn scan_everything(client: &Client, table: &str) -> Vec<Attrs> {
    scan_to_the_end(client, table, None).await
}

/// Every item of a table (`index` `None`, read consistently) or every entry of one of
/// its secondary indexes (eventually consistent, as index scans must be), by paging a
/// Scan to the end (bounded by `MAX_PAGES`).
pub async fn scan_to_the_end(client: &Client, table: &str, index: Option<&str>) -> Vec<Attrs> {
    let what = match index {
        Some(index) => format!("{table} index {index}"),
        None => table.to_string(),
    };
    let mut out = Vec::new();
    let mut start: Option<Attrs> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .scan()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .set_consistent_read(index.is_none().then_some(true))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("Scan {what}: {e:?}"));
        out.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return out,
        }
    }
    panic!("Scan of {what} did not finish within {MAX_PAGES} pages");
}
