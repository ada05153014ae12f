//! Legacy condition maps and AttributesToGet at and past their limits: a map of 100,000
//! conditions is refused before any of them is converted, a map within the limit becomes
//! a balanced tree, and the generated property tests look for any map size that slips
//! through or nests deep.

use cirrus_storage::expression::eval::evaluate;
use cirrus_storage::{AttributeValue, Item, Number};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;

/// `{"a0": {...}, "a1": {...}, ...}`: `count` legacy conditions `a<i> <operator> 1`.
fn condition_map(count: usize, operator: &str) -> Value {
    let entries: Map<String, Value> = (0..count)
        .map(|i| {
            let condition = match operator {
                "NULL" | "NOT_NULL" => json!({ "ComparisonOperator": operator }),
                _ => json!({ "ComparisonOperator": operator, "AttributeValueList": [{"N": "1"}] }),
            };
            (format!("a{i}"), condition)
        })
        .collect();
    Value::Object(entries)
}

/// How deep a condition nests; only ever called on the bounded trees built here.
fn depth(condition: &Condition) -> usize {
    match condition {
        Condition::And(a, b) | Condition::Or(a, b) => 1 + depth(a).max(depth(b)),
        Condition::Not(a) => 1 + depth(a),
        _ => 1,
    }
}

fn too_many(parameter: &str) -> Result<Option<Condition>, ApiError> {
    Err(ApiError::Validation(format!(
        "Invalid {parameter}: The expression contains too many operators; operator count: 301"
    )))
}

fn filter(
    parameter: FilterParameter,
    map: &Value,
    or: bool,
) -> Result<Option<Condition>, ApiError> {
    filter_to_condition(parameter, map, or.then_some("OR"))
}

#[test]
fn a_map_within_the_operator_limit_is_a_balanced_tree() {
    // 150 conditions and 149 ANDs: 299 operators, as many as an expression may hold.
    let condition = filter(
        FilterParameter::ScanFilter,
        &condition_map(150, "EQ"),
        false,
    )
    .expect("150 conditions are accepted")
    .expect("a condition");
    assert_eq!(depth(&condition), 9, "150 leaves under 8 levels of AND");
}

#[test]
fn a_hundred_thousand_conditions_are_refused_in_dynamodb_words() {
    let huge = condition_map(100_000, "EQ");
    assert_eq!(
        filter(FilterParameter::ScanFilter, &huge, false),
        too_many("ScanFilter")
    );
    assert_eq!(
        filter(FilterParameter::QueryFilter, &huge, true),
        too_many("QueryFilter")
    );
    assert_eq!(
        expected_to_condition(&condition_map(100_000, "NE"), None),
        too_many("Expected")
    );
    // The first map past the limit: 151 comparisons and 150 ANDs.
    assert_eq!(
        filter(
            FilterParameter::ScanFilter,
            &condition_map(151, "EQ"),
            false
        ),
        too_many("ScanFilter")
    );
}

#[test]
fn bad_entries_are_still_reported_before_the_count() {
    let mut map = condition_map(200, "EQ");
    map["a7"] = json!({ "ComparisonOperator": "EQUALS", "AttributeValueList": [{"N": "1"}] });
    let Err(ApiError::Validation(message)) = filter(FilterParameter::ScanFilter, &map, false)
    else {
        panic!("expected a ValidationException");
    };
    assert!(
        message.starts_with("1 validation error detected: Value 'EQUALS'"),
        "{message}"
    );
}

#[test]
fn attributes_to_get_holds_at_most_255_names() {
    let names = |count: usize| -> Value {
        Value::Array((0..count).map(|i| json!(format!("a{i}"))).collect())
    };
    let projection = attributes_to_get_to_projection(&names(255)).expect("255 names");
    assert_eq!(projection.0.len(), 255);
    let Err(ApiError::Validation(message)) = attributes_to_get_to_projection(&names(256)) else {
        panic!("expected a ValidationException");
    };
    assert!(
        message.starts_with("1 validation error detected: Value '[a0, a1, a2,"),
        "{message}"
    );
    assert!(
        message.ends_with(
            "a255]' at 'attributesToGet' failed to satisfy constraint: Member must have \
             length less than or equal to 255"
        ),
        "{message}"
    );
    // The duplicate check names the first name seen twice, however long the list.
    let mut repeated = names(255);
    repeated[254] = json!("a3");
    assert_eq!(
        attributes_to_get_to_projection(&repeated),
        Err(ApiError::Validation(msg::duplicate_attribute_name("a3")))
    );
}

/// An item where `a<i>` is 1 for the indexes in `ones` and 2 elsewhere.
fn item_with_ones(count: usize, ones: &[bool]) -> Item {
    (0..count)
        .map(|i| {
            let value = if ones.get(i).copied().unwrap_or(false) {
                "1"
            } else {
                "2"
            };
            (
                format!("a{i}"),
                AttributeValue::N(Number::parse(value).expect("a number")),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any map size: refused with the operator count past the limit, otherwise a tree no
    /// deeper than ⌈log2 n⌉ + 1 that means exactly "all (or any) of the conditions".
    #[test]
    fn legacy_maps_of_any_size_are_refused_or_balanced(
        count in prop_oneof![0usize..=160, 160usize..20_000],
        or in any::<bool>(),
        ones in proptest::collection::vec(any::<bool>(), 0..160),
    ) {
        let map = condition_map(count, "EQ");
        let outcome = filter(FilterParameter::ScanFilter, &map, or);
        if 2 * count > MAX_OPERATORS + 1 {
            prop_assert_eq!(outcome, too_many("ScanFilter"));
            return Ok(());
        }
        let Ok(condition) = outcome else {
            return Err(TestCaseError::fail(format!("{count} conditions refused")));
        };
        let Some(condition) = condition else {
            prop_assert_eq!(count, 0);
            return Ok(());
        };
        let levels = usize::BITS - (count - 1).leading_zeros();
        prop_assert!(depth(&condition) <= levels as usize + 1);
        let item = item_with_ones(count, &ones);
        let holds: Vec<bool> = (0..count).map(|i| ones.get(i).copied().unwrap_or(false)).collect();
        let expected = if or { holds.iter().any(|h| *h) } else { holds.iter().all(|h| *h) };
        prop_assert_eq!(evaluate(&condition, &item).ok(), Some(expected));
    }
}
