//! The sweeper's cost is proportional to the number of expired items, not to the
//! table's size: on a table of a million items of which 1% have expired, one sweep
//! reads exactly the expired entries of the expiry index (a counter, not a timing) and
//! deletes exactly those items. Real node: RocksDB, Raft groups, the state machine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cirrus_cluster::transactions::TxItem;
use cirrus_cluster::{Node, NodeConfig};
use cirrus_partition::{
    BillingMode, KeyAttribute, KeySchema, TableDescriptor, Throughput, TxAction, TxWrite,
};
use cirrus_storage::codec::encode_item;
use cirrus_storage::engine::StoredItem;
use cirrus_storage::key::encode_key_value;
use cirrus_storage::size::item_size;
use cirrus_storage::{AttributeValue, Item, Number, ScalarType};

const ITEMS: u64 = 1_000_000;
/// One item in a hundred has expired.
const EXPIRED_EVERY: u64 = 100;
/// Items written per transaction: one Raft entry per partition writes them all.
const ITEMS_PER_WRITE: u64 = 100;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn descriptor() -> TableDescriptor {
    let pk = KeyAttribute {
        name: "pk".into(),
        ty: ScalarType::S,
    };
    TableDescriptor {
        name: "million".into(),
        region: "us-east-1".into(),
        table_id: 0,
        uuid: "u".into(),
        key_schema: KeySchema::simple(pk.clone(), None),
        attribute_definitions: vec![pk],
        billing_mode: BillingMode::PayPerRequest,
        throughput: Throughput::default(),
        pay_per_request_since: None,
        created_at: 0.0,
        partitions: 0,
        tags: BTreeMap::new(),
        indexes: Vec::new(),
        next_index_id: 0,
        streams: Vec::new(),
        ttl_attribute: None,
        ttl_ready: false,
        ttl_dropping: false,
        on_demand_max_read: None,
        on_demand_max_write: None,
        schema_version: 0,
        placement: None,
        item_collection_limit: None,
    }
}

/// The transaction action writing item `i`, which expires at `expires`.
fn put(
    table: &Arc<cirrus_cluster::Table>,
    position: u32,
    i: u64,
    expires: u64,
) -> Result<TxItem, Box<dyn std::error::Error>> {
    let pk = AttributeValue::S(format!("item-{i:07}"));
    let mut key = Vec::new();
    encode_key_value(&pk, &mut key)?;
    let item = Item::from([
        ("pk".to_string(), pk),
        (
            "expires".to_string(),
            AttributeValue::N(Number::parse(&expires.to_string())?),
        ),
    ]);
    let mut codec = Vec::new();
    encode_item(&item, &mut codec);
    let location = table.locate(&key, b"")?;
    Ok(TxItem {
        table: table.clone(),
        action: TxAction {
            position,
            key: location.key.clone(),
            write: TxWrite::Put(StoredItem::encode(item_size(&item) as u32, &codec)),
            condition: None,
            old_on_condition_failure: false,
        },
        location,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_reads_only_the_expired_entries() -> TestResult {
    let dir = tempfile::tempdir()?;
    let node = Node::open(NodeConfig {
        data_dir: dir.path().to_path_buf(),
        partitions_per_table: 4,
        item_collection_limit: u64::MAX,
        enforce_capacity: false,
        default_region: "us-east-1".into(),
        cluster: None,
    })
    .await?;
    node.create_table(descriptor()).await?;
    let table = node
        .set_time_to_live("us-east-1", "million", Some("expires".into()))
        .await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let writers: Vec<_> = (0..4u64)
        .map(|writer| {
            let node = node.clone();
            let table = table.clone();
            tokio::spawn(async move {
                let mut first = writer * ITEMS_PER_WRITE;
                while first < ITEMS {
                    let mut items = Vec::new();
                    for (position, i) in (first..first + ITEMS_PER_WRITE).enumerate() {
                        let expires = if i % EXPIRED_EVERY == 0 {
                            now - 60
                        } else {
                            now + 86_400
                        };
                        items.push(
                            put(&table, position as u32, i, expires).map_err(|e| e.to_string())?,
                        );
                    }
                    let failures = node
                        .transact_write(items, None)
                        .await
                        .map_err(|e| e.to_string())?
                        .failures;
                    if !failures.is_empty() {
                        return Err(format!("write refused: {failures:?}"));
                    }
                    first += 4 * ITEMS_PER_WRITE;
                }
                Ok(())
            })
        })
        .collect();
    for writer in writers {
        writer.await??;
    }
    let table = node.table("us-east-1", "million")?;
    assert_eq!(table.item_count(), ITEMS as i64);
    let report = cirrus_ttl::sweep_once(node.as_ref()).await?;
    let entries_read = report.entries_read;
    let expired = ITEMS / EXPIRED_EVERY;
    println!(
        "{ITEMS} items, {expired} expired: the sweep read {entries_read} expiry entries and \
         proposed {} deletions",
        report.proposed
    );
    assert_eq!(
        entries_read, expired,
        "the sweep read only the expired entries"
    );
    assert_eq!(report.proposed, expired);
    assert_eq!(table.expired_count(), expired as i64);
    assert_eq!(table.item_count(), (ITEMS - expired) as i64);
    // Nothing is left to sweep, and a second sweep reads nothing.
    let again = cirrus_ttl::sweep_once(node.as_ref()).await?;
    assert_eq!((again.proposed, again.entries_read), (0, 0));
    node.shutdown().await?;
    Ok(())
}
