//! Generated hostile expressions and values — deep parentheses, NOT and function chains,
//! long AND/OR chains, deep paths, updates that nest documents into themselves — must be
//! refused or handled on half the stack the server gives its threads
//! ([`EXPRESSION_STACK_BYTES`]), from parsing through binding to evaluation or applying. A
//! stack overflow aborts this test binary, so CI finds any input that recurses without
//! bound. (The deepest expression the parser follows, 301 levels, takes about 2.6 MB in a
//! debug build.)

use std::collections::BTreeMap;

use cirrus_storage::codec::{decode_item, encode_item};
use cirrus_storage::expression::bind::Bindings;
use cirrus_storage::expression::eval::evaluate;
use cirrus_storage::expression::parser::{parse_condition, parse_projection, parse_update};
use cirrus_storage::expression::projection::project;
use cirrus_storage::expression::update::{apply_update, MAX_NESTING_LEVELS};
use cirrus_storage::expression::{
    ExpressionKind, Path, PathElement, SetOperand, SetValue, UpdateActions, EXPRESSION_STACK_BYTES,
};
use cirrus_storage::{AttributeValue, Item, Number};
use proptest::prelude::*;

/// Half the stack of the server's threads.
const SMALL_STACK: usize = EXPRESSION_STACK_BYTES / 2;

/// Runs `work` on a thread with [`SMALL_STACK`]; an overflow there aborts the process.
fn on_small_stack(work: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(work)
        .expect("spawn a thread")
        .join()
        .expect("the work does not panic");
}

fn number(text: &str) -> AttributeValue {
    AttributeValue::N(Number::parse(text).expect("a number"))
}

/// `inner` wrapped in `levels` maps `{"b": ...}`.
fn wrapped(levels: usize, inner: AttributeValue) -> AttributeValue {
    (0..levels).fold(inner, |value, _| {
        AttributeValue::M(BTreeMap::from([("b".to_owned(), value)]))
    })
}

/// The item hostile expressions run against: `a` a number, `b` a deep document, `l` a
/// list.
fn sample_item() -> Item {
    Item::from([
        ("a".to_owned(), number("1")),
        ("b".to_owned(), wrapped(30, number("2"))),
        ("l".to_owned(), AttributeValue::L(vec![number("3")])),
    ])
}

fn values() -> BTreeMap<String, AttributeValue> {
    BTreeMap::from([
        (":v".to_owned(), number("1")),
        (":l".to_owned(), AttributeValue::L(vec![number("4")])),
    ])
}

/// `count` comparisons joined by AND or OR as `seed`'s bits say, every eighth one
/// opening a parenthesis that closes at the end.
fn chain(count: usize, seed: u64) -> String {
    let mut text = String::new();
    let mut open = 0;
    for i in 0..count {
        if i > 0 {
            text.push_str(if seed.rotate_left(i as u32) & 1 == 0 {
                " AND "
            } else {
                " OR "
            });
        }
        if i % 8 == 7 {
            text.push('(');
            open += 1;
        }
        text.push_str("a = :v");
    }
    text.push_str(&")".repeat(open));
    text
}

fn hostile_condition() -> impl Strategy<Value = String> {
    let depth = 0usize..1500;
    prop_oneof![
        depth
            .clone()
            .prop_map(|d| format!("{}a = :v{}", "(".repeat(d), ")".repeat(d))),
        depth
            .clone()
            .prop_map(|d| format!("{}a = :v", "NOT ".repeat(d))),
        depth
            .clone()
            .prop_map(|d| format!("{}a = :v{}", "NOT (".repeat(d), ")".repeat(d))),
        depth
            .clone()
            .prop_map(|d| format!("{}b{} > :v", "size(".repeat(d), ")".repeat(d))),
        depth
            .clone()
            .prop_map(|d| format!("{}a = :v{}", "(a = :v AND ".repeat(d), ")".repeat(d))),
        depth.clone().prop_map(|d| format!(
            "{}b{}) = :v",
            "attribute_exists(".repeat(d),
            ")".repeat(d)
        )),
        depth.prop_map(|d| format!("b{} = :v", ".b".repeat(d))),
        (1usize..800, any::<u64>()).prop_map(|(count, seed)| chain(count, seed)),
        "[a:v() =<>,ANDORNT]{0,4200}",
    ]
}

fn hostile_update() -> impl Strategy<Value = String> {
    let depth = 0usize..1500;
    prop_oneof![
        depth
            .clone()
            .prop_map(|d| format!("SET a = {}a{}", "(".repeat(d), ")".repeat(d))),
        depth.clone().prop_map(|d| format!(
            "SET l = {}l{}",
            "list_append(".repeat(d),
            ", :l)".repeat(d)
        )),
        depth.clone().prop_map(|d| format!(
            "SET a = {}a{}",
            "if_not_exists(a, ".repeat(d),
            ")".repeat(d)
        )),
        depth.prop_map(|d| format!("SET b{} = b", ".b".repeat(d))),
        (1usize..700).prop_map(|n| {
            let sums: Vec<String> = (0..n).map(|i| format!("c{i}=a+:v")).collect();
            format!("SET {}", sums.join(","))
        }),
        "[a:vl() =+,SETREMOVlist_pnd]{0,4200}",
    ]
}

/// How deep `value` nests documents with elements, counting from `level`; stops past
/// `limit`, so it is safe on any value.
fn nesting(value: &AttributeValue, level: usize, limit: usize) -> usize {
    if level > limit {
        return level;
    }
    let deeper = |element: &AttributeValue| nesting(element, level + 1, limit);
    match value {
        AttributeValue::L(list) => list.iter().map(deeper).max().unwrap_or(level),
        AttributeValue::M(map) => map.values().map(deeper).max().unwrap_or(level),
        _ => level,
    }
}

/// A path `x.b.b...` of `length` elements.
fn path(length: usize) -> Path {
    let mut elements = vec![PathElement::Attribute("x".into())];
    elements.extend((1..length).map(|_| PathElement::Attribute("b".into())));
    Path(elements)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn hostile_conditions_are_refused_or_evaluated_on_a_small_stack(text in hostile_condition()) {
        on_small_stack(move || {
            let Ok(parsed) = parse_condition(&text, ExpressionKind::Filter) else {
                return;
            };
            let values = values();
            let mut bindings = Bindings::new(None, Some(&values));
            if let Ok(bound) = bindings.condition(&parsed, ExpressionKind::Filter) {
                let _ = evaluate(&bound, &sample_item());
            }
        });
    }

    #[test]
    fn hostile_updates_and_projections_are_refused_or_applied_on_a_small_stack(
        text in hostile_update(),
        projection in "[abl.\\[\\]0-9, ]{0,4200}",
    ) {
        on_small_stack(move || {
            if let Ok(parsed) = parse_update(&text) {
                let values = values();
                let mut bindings = Bindings::new(None, Some(&values));
                if let Ok(bound) = bindings.update(&parsed) {
                    let mut item = sample_item();
                    let _ = apply_update(&mut item, &bound);
                }
            }
            if let Ok(paths) = parse_projection(&projection) {
                let _ = project(&sample_item(), &paths.0);
            }
        });
    }

    /// Updates that hang documents below deep paths, or copy an attribute into itself,
    /// never leave an item nested deeper than DynamoDB allows, so it always encodes and
    /// decodes (the decoder refuses 128 levels).
    #[test]
    fn updates_never_nest_an_item_past_the_limit(
        steps in proptest::collection::vec((1usize..=32, 0usize..=40, any::<bool>()), 1..24),
    ) {
        let mut item = Item::from([("x".to_owned(), wrapped(8, number("0")))]);
        for (length, levels, copy) in steps {
            let value = if copy {
                SetOperand::Path(path(1))
            } else {
                SetOperand::Value(wrapped(levels, number("1")))
            };
            let actions = UpdateActions {
                set: vec![(path(length), SetValue::Operand(value))],
                ..UpdateActions::default()
            };
            let _ = apply_update(&mut item, &actions);
            for value in item.values() {
                prop_assert!(nesting(value, 1, MAX_NESTING_LEVELS + 1) <= MAX_NESTING_LEVELS);
            }
            let mut bytes = Vec::new();
            encode_item(&item, &mut bytes);
            prop_assert_eq!(decode_item(&bytes).ok(), Some(item.clone()));
        }
    }
}
