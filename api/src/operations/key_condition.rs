//! A Query's key condition, from KeyConditionExpression or legacy KeyConditions, with
//! DynamoDB's checks of it, and the one byte range of index or table entries it admits.
//!
//! Every partition-key attribute needs an equality. The sort-key attributes are taken
//! left to right: each one before the last attribute named needs an equality, and only
//! the last may have a range condition. The entries that match are then exactly one
//! byte range: key encodings are order-preserving and self-delimiting, so equal
//! leading attributes are a common byte prefix, and the range on the next attribute
//! bounds what follows it.

use cirrus_partition::{KeyAttribute, KeySchema};
use cirrus_storage::engine::{prefix_end, prefix_successor};
use cirrus_storage::expression::{Comparator, Condition, Operand, PathElement};
use cirrus_storage::key::{encode_key_prefix, encode_key_value};
use cirrus_storage::AttributeValue;

use crate::error::ApiError;

/// The condition on one sort-key attribute.
pub enum SortCondition {
    Compare(Comparator, AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

/// A checked key condition: the partition key's values, and the sort key's.
pub struct KeyCondition {
    /// One value per partition-key attribute, in key-schema order.
    pub partition: Vec<AttributeValue>,
    /// Equalities on the leading sort-key attributes, in order.
    pub sort_prefix: Vec<AttributeValue>,
    /// The condition on the sort-key attribute after them, if any.
    pub sort: Option<SortCondition>,
}

fn key_condition_error(message: &str) -> ApiError {
    ApiError::validation(message.to_string())
}

fn one_condition_per_key() -> ApiError {
    key_condition_error("KeyConditionExpressions must only contain one condition per key")
}

fn attribute_of(operand: &Operand) -> Option<&str> {
    match operand {
        Operand::Path(path) => match path.0.as_slice() {
            [PathElement::Attribute(name)] => Some(name),
            _ => None,
        },
        _ => None,
    }
}

fn value_of(operand: &Operand) -> Option<&AttributeValue> {
    match operand {
        Operand::Value(value) => Some(value),
        _ => None,
    }
}

fn flip(comparator: Comparator) -> Comparator {
    match comparator {
        Comparator::Lt => Comparator::Gt,
        Comparator::Le => Comparator::Ge,
        Comparator::Gt => Comparator::Lt,
        Comparator::Ge => Comparator::Le,
        other => other,
    }
}

/// Whether an operand is a document path below the top level (`a.b`, `a[0]`).
fn is_nested(operand: &Operand) -> bool {
    matches!(operand, Operand::Path(path) if path.0.len() > 1)
}

/// The attribute one part of a key condition is about, and what it requires of it.
fn part_of(condition: &Condition) -> Result<(&str, SortCondition), ApiError> {
    let nested = match condition {
        Condition::Compare(a, _, b) | Condition::BeginsWith(a, b) => is_nested(a) || is_nested(b),
        Condition::Between(a, low, high) => [a, low, high].into_iter().any(is_nested),
        _ => false,
    };
    if nested {
        // DynamoDB's message, as captured against it (ExtendDB pull request 195).
        return Err(key_condition_error(
            "Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions \
             on nested attributes",
        ));
    }
    let unsupported = || key_condition_error("Query key condition not supported");
    let invalid = |operator: &str| {
        Err(ApiError::validation(format!(
            "Invalid operator used in KeyConditionExpression: {operator}"
        )))
    };
    match condition {
        Condition::Compare(left, comparator, right) => {
            match (attribute_of(left), value_of(right)) {
                (Some(name), Some(value)) => {
                    Ok((name, SortCondition::Compare(*comparator, value.clone())))
                }
                _ => match (value_of(left), attribute_of(right)) {
                    (Some(value), Some(name)) => Ok((
                        name,
                        SortCondition::Compare(flip(*comparator), value.clone()),
                    )),
                    _ => Err(unsupported()),
                },
            }
        }
        Condition::Between(subject, low, high) => {
            match (attribute_of(subject), value_of(low), value_of(high)) {
                (Some(name), Some(low), Some(high)) => {
                    Ok((name, SortCondition::Between(low.clone(), high.clone())))
                }
                _ => Err(unsupported()),
            }
        }
        Condition::BeginsWith(subject, prefix) => match (attribute_of(subject), value_of(prefix)) {
            (Some(name), Some(prefix)) => Ok((name, SortCondition::BeginsWith(prefix.clone()))),
            _ => Err(unsupported()),
        },
        Condition::Or(..) => invalid("OR"),
        Condition::Not(..) => invalid("NOT"),
        Condition::In(..) => invalid("IN"),
        Condition::AttributeExists(_) => invalid("attribute_exists"),
        Condition::AttributeNotExists(_) => invalid("attribute_not_exists"),
        Condition::AttributeType(..) | Condition::ValueType(..) => invalid("attribute_type"),
        Condition::Contains(..) => invalid("contains"),
        Condition::And(..) => Err(unsupported()),
    }
}

/// How many conditions a key condition may have: one per key attribute (and two even
/// when the key has one attribute, so that a second is reported for what it names).
pub fn most_conditions(schema: &KeySchema) -> usize {
    schema.attributes().count().max(2)
}

/// Checks a bound key condition against the key schema it queries and splits it into
/// the partition key's values and the sort key's conditions.
pub fn split_key_condition(
    condition: &Condition,
    schema: &KeySchema,
) -> Result<KeyCondition, ApiError> {
    let mut parts = Vec::new();
    let mut pending = vec![condition];
    while let Some(c) = pending.pop() {
        match c {
            Condition::And(a, b) => {
                pending.push(b);
                pending.push(a);
            }
            other => parts.push(other),
        }
    }
    if parts.len() > most_conditions(schema) {
        return Err(one_condition_per_key());
    }
    let partition_keys: Vec<&KeyAttribute> = schema.partition_keys().collect();
    let sort_keys = schema.sort_keys();
    let mut partition: Vec<Option<AttributeValue>> = vec![None; partition_keys.len()];
    let mut sort: Vec<Option<SortCondition>> = sort_keys.iter().map(|_| None).collect();
    let mut names_other_attribute = false;
    let condition_count = parts.len();
    for part in parts {
        let (name, condition) = part_of(part)?;
        if let Some(at) = partition_keys.iter().position(|key| key.name == name) {
            match condition {
                SortCondition::Compare(Comparator::Eq, _) if partition[at].is_some() => {
                    return Err(one_condition_per_key())
                }
                SortCondition::Compare(Comparator::Eq, value) => {
                    check_type(partition_keys[at], &value)?;
                    partition[at] = Some(value);
                }
                _ => return Err(key_condition_error("Query key condition not supported")),
            }
        } else if let Some(at) = sort_keys.iter().position(|key| key.name == name) {
            if sort[at].is_some() {
                return Err(one_condition_per_key());
            }
            check_sort_condition(&sort_keys[at], &condition)?;
            sort[at] = Some(condition);
        } else {
            names_other_attribute = true;
        }
    }
    // DynamoDB reports a condition on a non-key attribute as a missing key condition,
    // unless there are more conditions than keys.
    if names_other_attribute {
        if condition_count > schema.attributes().count() {
            return Err(key_condition_error("Query key condition not supported"));
        }
        let missed = partition_keys
            .iter()
            .zip(&partition)
            .map(|(key, value)| (*key, value.is_some()))
            .chain(sort_keys.iter().zip(sort.iter().map(Option::is_some)))
            .find(|(_, given)| !given)
            .map_or(schema.partition_key(), |(key, _)| key);
        return Err(missed_key(missed));
    }
    let partition = partition
        .into_iter()
        .zip(&partition_keys)
        .map(|(value, key)| value.ok_or_else(|| missed_key(key)))
        .collect::<Result<Vec<_>, _>>()?;
    let (sort_prefix, sort) = sort_prefix(sort_keys, sort)?;
    Ok(KeyCondition {
        partition,
        sort_prefix,
        sort,
    })
}

fn missed_key(key: &KeyAttribute) -> ApiError {
    ApiError::validation(format!(
        "Query condition missed key schema element: {}",
        key.name
    ))
}

/// The sort-key conditions, left to right: every attribute before the last one named
/// needs an equality.
fn sort_prefix(
    keys: &[KeyAttribute],
    mut conditions: Vec<Option<SortCondition>>,
) -> Result<(Vec<AttributeValue>, Option<SortCondition>), ApiError> {
    let Some(last) = conditions.iter().rposition(Option::is_some) else {
        return Ok((Vec::new(), None));
    };
    for (later, condition) in conditions.iter().enumerate().skip(1) {
        if condition.is_none() {
            continue;
        }
        let unequal = conditions[..later]
            .iter()
            .position(|c| !matches!(c, Some(SortCondition::Compare(Comparator::Eq, _))));
        if let Some(earlier) = unequal {
            return Err(ApiError::validation(format!(
                "RANGE key attributes {} must have equality conditions specified in the query \
                 because a condition is present on key attribute {}",
                keys[earlier].name, keys[later].name
            )));
        }
    }
    let sort = conditions[last].take();
    let prefix = conditions
        .into_iter()
        .take(last)
        .filter_map(|condition| match condition {
            Some(SortCondition::Compare(_, value)) => Some(value),
            _ => None,
        })
        .collect();
    Ok((prefix, sort))
}

fn check_type(attribute: &KeyAttribute, value: &AttributeValue) -> Result<(), ApiError> {
    if value.scalar_type() != Some(attribute.ty) {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ));
    }
    Ok(())
}

fn check_sort_condition(sort: &KeyAttribute, condition: &SortCondition) -> Result<(), ApiError> {
    match condition {
        SortCondition::Compare(Comparator::Ne, _) => Err(key_condition_error(
            "Unsupported operator on KeyCondition: <>",
        )),
        SortCondition::Compare(_, value) => check_type(sort, value),
        SortCondition::Between(low, high) => {
            check_type(sort, low)?;
            check_type(sort, high)
        }
        SortCondition::BeginsWith(prefix) => {
            if sort.ty == cirrus_storage::ScalarType::N {
                return Err(key_condition_error(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; \
                     operator or function: begins_with, operand type: N",
                ));
            }
            check_type(sort, prefix)
        }
    }
}

fn encode_into(value: &AttributeValue, out: &mut Vec<u8>) -> Result<(), ApiError> {
    encode_key_value(value, out).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The encoded partition key: its attributes' encodings in order.
pub fn encoded_partition(values: &[AttributeValue]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    for value in values {
        encode_into(value, &mut out)?;
    }
    Ok(out)
}

/// `[start, end)` of the keys after the partition key that the sort conditions admit
/// (`None`: to the end of the partition key). An index entry's key goes on with the
/// table key after the index sort key, so "after `k`" means after every key that
/// starts with `k`.
pub fn sort_range(
    prefix: &[AttributeValue],
    condition: Option<&SortCondition>,
) -> Result<(Vec<u8>, Option<Vec<u8>>), ApiError> {
    let mut equal = Vec::new();
    for value in prefix {
        encode_into(value, &mut equal)?;
    }
    let with = |value: &AttributeValue| -> Result<Vec<u8>, ApiError> {
        let mut key = equal.clone();
        encode_into(value, &mut key)?;
        Ok(key)
    };
    // Every key that starts with the equalities; with none, the whole partition key.
    let whole = || (!equal.is_empty()).then(|| prefix_end(&equal));
    Ok(match condition {
        None => (equal.clone(), whole()),
        Some(SortCondition::Compare(comparator, value)) => {
            let key = with(value)?;
            match comparator {
                Comparator::Eq => (key.clone(), Some(prefix_end(&key))),
                Comparator::Lt => (equal.clone(), Some(key)),
                Comparator::Le => (equal.clone(), Some(prefix_end(&key))),
                Comparator::Gt => (prefix_end(&key), whole()),
                Comparator::Ge => (key, whole()),
                Comparator::Ne => {
                    return Err(ApiError::validation(
                        "Unsupported operator on KeyCondition: <>",
                    ))
                }
            }
        }
        Some(SortCondition::Between(low, high)) => (with(low)?, Some(prefix_end(&with(high)?))),
        Some(SortCondition::BeginsWith(value)) => {
            let mut start = equal.clone();
            encode_key_prefix(value, &mut start).map_err(|e| ApiError::Internal(e.to_string()))?;
            // An all-0xFF prefix has no successor: the range then runs to the end of
            // the partition-key value.
            let end = prefix_successor(&start);
            (start, end)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cirrus_storage::expression::Path;
    use cirrus_storage::ScalarType;

    fn string(name: &str) -> KeyAttribute {
        KeyAttribute {
            name: name.into(),
            ty: ScalarType::S,
        }
    }

    fn schema() -> KeySchema {
        KeySchema::multi(
            vec![string("h1"), string("h2")],
            vec![string("a"), string("b"), string("c")],
        )
        .unwrap()
    }

    fn path(name: &str) -> Operand {
        Operand::Path(Path(vec![PathElement::Attribute(name.into())]))
    }

    fn s(value: &str) -> Operand {
        Operand::Value(AttributeValue::S(value.into()))
    }

    fn compare(name: &str, comparator: Comparator) -> Condition {
        Condition::Compare(path(name), comparator, s(name))
    }

    fn all(conditions: Vec<Condition>) -> Condition {
        conditions
            .into_iter()
            .reduce(|a, b| Condition::And(Box::new(a), Box::new(b)))
            .unwrap()
    }

    fn error(conditions: Vec<Condition>) -> String {
        match split_key_condition(&all(conditions), &schema()) {
            Err(ApiError::Validation(message)) => message,
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn leading_equalities_and_a_last_range_are_accepted() {
        let condition = all(vec![
            compare("b", Comparator::Gt),
            compare("h2", Comparator::Eq),
            compare("a", Comparator::Eq),
            compare("h1", Comparator::Eq),
        ]);
        let split = split_key_condition(&condition, &schema()).unwrap();
        assert_eq!(
            split.partition,
            [
                AttributeValue::S("h1".into()),
                AttributeValue::S("h2".into())
            ]
        );
        assert_eq!(split.sort_prefix, [AttributeValue::S("a".into())]);
        assert!(matches!(
            split.sort,
            Some(SortCondition::Compare(Comparator::Gt, _))
        ));
    }

    #[test]
    fn sort_attributes_go_left_to_right() {
        let hash = || vec![compare("h1", Comparator::Eq), compare("h2", Comparator::Eq)];
        let with = |more: Vec<Condition>| [hash(), more].concat();
        let needs_equality = |earlier: &str, later: &str| {
            format!(
                "RANGE key attributes {earlier} must have equality conditions specified in the \
                 query because a condition is present on key attribute {later}"
            )
        };
        let cases = [
            (vec![compare("b", Comparator::Eq)], ("a", "b")),
            (
                vec![compare("a", Comparator::Eq), compare("c", Comparator::Eq)],
                ("b", "c"),
            ),
            (
                vec![compare("a", Comparator::Lt), compare("b", Comparator::Eq)],
                ("a", "b"),
            ),
        ];
        for (sort, (earlier, later)) in cases {
            assert_eq!(error(with(sort)), needs_equality(earlier, later));
        }
        assert_eq!(
            error(vec![compare("h1", Comparator::Eq)]),
            "Query condition missed key schema element: h2"
        );
        assert_eq!(
            error(with(vec![compare("h2", Comparator::Eq)])),
            "KeyConditionExpressions must only contain one condition per key"
        );
        assert_eq!(
            error(vec![
                compare("h1", Comparator::Eq),
                compare("h2", Comparator::Gt)
            ]),
            "Query key condition not supported"
        );
    }

    #[test]
    fn the_range_is_the_equal_prefix_then_the_last_condition() {
        let values = |names: &[&str]| -> Vec<AttributeValue> {
            names
                .iter()
                .map(|v| AttributeValue::S((*v).into()))
                .collect()
        };
        let encoded = |names: &[&str]| encoded_partition(&values(names)).unwrap();
        let (start, end) = sort_range(&values(&["x"]), None).unwrap();
        assert_eq!(start, encoded(&["x"]));
        assert_eq!(end, Some(prefix_end(&encoded(&["x"]))));
        let less = SortCondition::Compare(Comparator::Lt, AttributeValue::S("m".into()));
        let (start, end) = sort_range(&values(&["x"]), Some(&less)).unwrap();
        assert_eq!(start, encoded(&["x"]));
        assert_eq!(end, Some(encoded(&["x", "m"])));
        let (start, end) = sort_range(&[], None).unwrap();
        assert!(start.is_empty() && end.is_none());
    }
}
