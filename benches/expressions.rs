//! Micro-benchmarks of the expression language: parsing a condition, binding its
//! placeholders, and evaluating it against an item.
//!
//! Run with `cargo bench --bench expressions`.

use std::collections::BTreeMap;
use std::hint::black_box;

use cirrus_storage::expression::bind::Bindings;
use cirrus_storage::expression::eval::evaluate;
use cirrus_storage::expression::parser::parse_condition;
use cirrus_storage::expression::ExpressionKind;
use cirrus_storage::{AttributeValue, Item, Number};
use criterion::{criterion_group, criterion_main, Criterion};

const CONDITION: &str = "attribute_exists(#pk) AND #status IN (:a, :b) AND size(#name) > :len \
                         AND (begins_with(#name, :prefix) OR #score BETWEEN :low AND :high)";

fn benches(c: &mut Criterion) -> Result<(), Box<dyn std::error::Error>> {
    let names: BTreeMap<String, String> = [
        ("#pk", "pk"),
        ("#status", "status"),
        ("#name", "name"),
        ("#score", "score"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let values: BTreeMap<String, AttributeValue> = [
        (":a", AttributeValue::S("active".into())),
        (":b", AttributeValue::S("pending".into())),
        (":len", AttributeValue::N(Number::parse("3")?)),
        (":prefix", AttributeValue::S("zz".into())),
        (":low", AttributeValue::N(Number::parse("10")?)),
        (":high", AttributeValue::N(Number::parse("20")?)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let item: Item = [
        ("pk", AttributeValue::S("user#1".into())),
        ("status", AttributeValue::S("active".into())),
        ("name", AttributeValue::S("alice".into())),
        ("score", AttributeValue::N(Number::parse("12.5")?)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let parsed = parse_condition(CONDITION, ExpressionKind::Condition)?;
    let bound =
        Bindings::new(Some(&names), Some(&values)).condition(&parsed, ExpressionKind::Condition)?;
    c.bench_function("condition parse", |b| {
        b.iter(|| parse_condition(black_box(CONDITION), ExpressionKind::Condition))
    });
    c.bench_function("condition bind", |b| {
        b.iter(|| {
            Bindings::new(Some(&names), Some(&values))
                .condition(black_box(&parsed), ExpressionKind::Condition)
        })
    });
    c.bench_function("condition evaluate", |b| {
        b.iter(|| evaluate(black_box(&bound), black_box(&item)))
    });
    Ok(())
}

fn all(c: &mut Criterion) {
    if let Err(e) = benches(c) {
        eprintln!("benchmark setup failed: {e}");
    }
}

criterion_group!(expressions, all);
criterion_main!(expressions);
