//! The node's own tests, and the table they and other modules' tests create.

use super::*;
use crate::node::scan::Scanned;
use cirrus_partition::command::WantedImages;
use cirrus_storage::engine::StoredItem;

fn descriptor(name: &str) -> TableDescriptor {
    test_descriptor(name, "us-east-1")
}

/// The order-preserving encoding of a string partition key.
fn encoded(key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = cirrus_storage::key::encode_key_value(
        &cirrus_storage::AttributeValue::S(key.into()),
        &mut out,
    );
    out
}

async fn put(node: &Node, table: &Table, key: &str) -> Result<(), PartitionError> {
    let location = table.locate(&encoded(key), b"")?;
    let command = Command::Put {
        key: location.key.clone(),
        item: StoredItem::encode(10, key.as_bytes()),
        condition: None,
        wanted: WantedImages::default(),
    };
    node.propose(table, &location, command).await.map(|_| ())
}

fn get(
    node: &Node,
    table: &Table,
    key: &str,
) -> Result<Option<Vec<u8>>, Box<dyn std::error::Error>> {
    let stored = node.get_item(&table.locate(&encoded(key), b"")?)?;
    Ok(stored
        .map(|s| StoredItem::codec_bytes(&s).map(<[u8]>::to_vec))
        .transpose()?)
}

/// Opens the node, retrying while the previous instance's tasks still hold RocksDB.
async fn open(dir: &std::path::Path) -> Result<Arc<Node>, PartitionError> {
    let mut attempts = 0;
    loop {
        let config = NodeConfig {
            data_dir: dir.to_path_buf(),
            partitions_per_table: 4,
            item_collection_limit: u64::MAX,
            enforce_capacity: true,
            default_region: "us-east-1".into(),
            cluster: None,
        };
        match Node::open(config).await {
            Err(PartitionError::Storage(_)) if attempts < 50 => attempts += 1,
            outcome => return outcome,
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_a_restart_and_share_fsyncs() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let node = open(dir.path()).await?;
    let table = node.create_table(descriptor("t1")).await?;
    let writers: Vec<_> = (0..200u32)
        .map(|i| {
            let node = node.clone();
            let table = table.clone();
            tokio::spawn(async move { put(&node, &table, &format!("k{i}")).await })
        })
        .collect();
    for writer in writers {
        writer.await??;
    }
    let fsyncs = node.wal_fsyncs();
    println!("200 concurrent writes, {fsyncs} WAL fsyncs");
    assert!(fsyncs < 200, "200 concurrent writes took {fsyncs} fsyncs");
    assert_eq!(table.item_count(), 200);
    assert_eq!(table.size_bytes(), 2000);
    let location = table.locate(&encoded("k7"), b"")?;
    let delete = Command::Delete {
        key: location.key.clone(),
        condition: None,
        wanted: WantedImages {
            old: true,
            ..Default::default()
        },
    };
    let outcome = node.propose(&table, &location, delete).await?;
    let old = outcome
        .old_item
        .map(|s| StoredItem::codec_bytes(&s).map(<[u8]>::to_vec))
        .transpose()?;
    assert_eq!(old.as_deref(), Some(&b"k7"[..]));
    node.shutdown().await?;
    drop((node, table));

    let node = open(dir.path()).await?;
    let table = node.table("us-east-1", "t1")?;
    assert_eq!(table.item_count(), 199);
    assert_eq!(get(&node, &table, "k8")?.as_deref(), Some(&b"k8"[..]));
    assert_eq!(get(&node, &table, "k7")?, None);
    let mut scanned = 0;
    for segment in 0..3 {
        node.scan::<PartitionError>(&table, ReadTarget::Table, segment, 3, None, |item| {
            scanned += usize::from(matches!(item, Scanned::Item(_)));
            Ok(true)
        })?;
    }
    assert_eq!(scanned, 199, "three segments together see every item once");
    node.delete_table("us-east-1", "t1", 0.0).await?;
    assert!(matches!(
        node.table("us-east-1", "t1"),
        Err(PartitionError::TableNotFound(_))
    ));
    node.shutdown().await?;
    Ok(())
}

/// A table of one string partition key `pk`, on demand, for tests.
pub(crate) fn test_descriptor(name: &str, region: &str) -> TableDescriptor {
    let pk = cirrus_partition::KeyAttribute {
        name: "pk".into(),
        ty: cirrus_storage::ScalarType::S,
    };
    TableDescriptor {
        name: name.into(),
        region: region.into(),
        table_id: 0,
        uuid: "u".into(),
        key_schema: cirrus_partition::KeySchema::simple(pk.clone(), None),
        attribute_definitions: vec![pk],
        billing_mode: cirrus_partition::BillingMode::PayPerRequest,
        throughput: cirrus_partition::Throughput::default(),
        pay_per_request_since: None,
        created_at: 0.0,
        partitions: 0,
        tags: std::collections::BTreeMap::new(),
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
