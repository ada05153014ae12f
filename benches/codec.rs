//! Micro-benchmarks of the storage hot path: the binary item codec, DynamoDB's item
//! size rule, and the order-preserving key encoding.
//!
//! Run with `cargo bench --bench codec`.

use std::collections::BTreeMap;
use std::hint::black_box;

use cirrus_storage::codec::{decode_item, encode_item};
use cirrus_storage::key::encode_key_value;
use cirrus_storage::size::item_size;
use cirrus_storage::{AttributeValue, Item, Number};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A typical ~1 KB item: a few scalars, a set, a small list and a nested map.
fn sample_item() -> Result<Item, Box<dyn std::error::Error>> {
    let mut item = BTreeMap::new();
    item.insert("pk".to_string(), AttributeValue::S("user#000123".into()));
    item.insert(
        "sk".to_string(),
        AttributeValue::N(Number::parse("1700000000")?),
    );
    item.insert("name".to_string(), AttributeValue::S("x".repeat(600)));
    item.insert(
        "score".to_string(),
        AttributeValue::N(Number::parse("-12.375")?),
    );
    item.insert("active".to_string(), AttributeValue::Bool(true));
    item.insert("blob".to_string(), AttributeValue::B(vec![7u8; 200]));
    item.insert(
        "tags".to_string(),
        AttributeValue::Ss(vec!["a".into(), "bb".into(), "ccc".into()]),
    );
    let mut nested = BTreeMap::new();
    nested.insert("city".to_string(), AttributeValue::S("Lisbon".into()));
    nested.insert("zip".to_string(), AttributeValue::N(Number::parse("1100")?));
    item.insert(
        "address".to_string(),
        AttributeValue::L(vec![AttributeValue::M(nested), AttributeValue::Null]),
    );
    Ok(item)
}

fn codec(c: &mut Criterion) {
    let Ok(item) = sample_item() else {
        return;
    };
    let mut encoded = Vec::new();
    encode_item(&item, &mut encoded);
    let mut group = c.benchmark_group("item_codec");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode_1kb", |b| {
        let mut out = Vec::with_capacity(encoded.len());
        b.iter(|| {
            out.clear();
            encode_item(black_box(&item), &mut out);
        })
    });
    group.bench_function("decode_1kb", |b| {
        b.iter(|| decode_item(black_box(&encoded)))
    });
    group.bench_function("dynamodb_size_1kb", |b| {
        b.iter(|| item_size(black_box(&item)))
    });
    group.finish();
}

fn keys(c: &mut Criterion) {
    let string_key = AttributeValue::S("user#000123/orders".into());
    let Ok(number) = Number::parse("-1234567.891") else {
        return;
    };
    let number_key = AttributeValue::N(number);
    let mut group = c.benchmark_group("key_encoding");
    let mut out = Vec::with_capacity(64);
    group.bench_function("string", |b| {
        b.iter(|| {
            out.clear();
            encode_key_value(black_box(&string_key), &mut out)
        })
    });
    group.bench_function("number", |b| {
        b.iter(|| {
            out.clear();
            encode_key_value(black_box(&number_key), &mut out)
        })
    });
    group.finish();
}

criterion_group!(benches, codec, keys);
criterion_main!(benches);
