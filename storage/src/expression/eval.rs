//! Evaluating a bound condition, filter or key-condition expression against an item.
//!
//! DynamoDB's rules, from the Developer Guide's "Comparison operator and function
//! reference" (Expressions.OperatorsAndFunctions) and from behaviour that ScyllaDB
//! Alternator's conformance tests (`test/alternator/test_condition_expression.py`)
//! pinned down against real DynamoDB:
//!
//! - An operand whose path is missing is not equal to anything, not even another
//!   missing operand: `=`, `<`, `<=`, `>`, `>=`, `BETWEEN` and `IN` are false and `<>`
//!   is true.
//! - Values of different types are never equal, so `=` is false and `<>` true.
//! - `<`, `<=`, `>`, `>=` and `BETWEEN` order N numerically, S by UTF-8 bytes and B by
//!   unsigned bytes; on any other type (even two equal BOOLs) they are false.
//! - `=` compares sets ignoring element order, and lists and maps structurally.
//! - Type problems in values that come from the item never raise an error; they make
//!   the test false. Type problems in request constants (`:v`) are ValidationExceptions,
//!   but those are raised by `bind` before any item is read, so evaluation itself only
//!   fails on an AST that was not bound (an internal error).
//! - `size()` of N, BOOL or NULL read from the item is "no value" (comparisons with it
//!   behave as with a missing attribute), not an error: Alternator's
//!   `test_update_condition_size` shows `size(f) = :one` with `f` a number failing the
//!   condition rather than the request.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::{Comparator, Condition, ExpressionError, Operand, Path, PathElement};
use crate::number::Number;
use crate::value::{AttributeMap, AttributeValue, Item};

/// The type names `attribute_type` accepts, listed in the order DynamoDB's message
/// lists them.
const TYPE_NAMES: [&str; 10] = ["B", "NULL", "SS", "BOOL", "L", "BS", "N", "NS", "S", "M"];

/// The value at `path` in `item`, or `None` if any step of the path is missing or
/// steps into a value of the wrong kind (a member of a non-map, an index of a
/// non-list). An unbound `#name` step also yields `None`; `evaluate` reports those as
/// errors before resolving.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttributeValue> {
    let mut elements = path.0.iter();
    let mut current = match elements.next()? {
        PathElement::Attribute(name) => item.get(name)?,
        PathElement::Name(_) | PathElement::Index(_) => return None,
    };
    for element in elements {
        current = match (element, current) {
            (PathElement::Attribute(name), AttributeValue::M(map)) => map.get(name)?,
            (PathElement::Index(index), AttributeValue::L(list)) => {
                list.get(usize::try_from(*index).ok()?)?
            }
            _ => return None,
        };
    }
    Some(current)
}

/// Whether `condition` holds for `item` (an absent item is an empty map).
pub fn evaluate(condition: &Condition, item: &Item) -> Result<bool, ExpressionError> {
    match condition {
        Condition::Compare(left, comparator, right) => {
            let left = operand_value(left, item)?;
            let right = operand_value(right, item)?;
            Ok(compare(left.as_deref(), *comparator, right.as_deref()))
        }
        Condition::Between(value, low, high) => {
            let value = operand_value(value, item)?;
            let low = operand_value(low, item)?;
            let high = operand_value(high, item)?;
            Ok(match (value.as_deref(), low.as_deref(), high.as_deref()) {
                (Some(value), Some(low), Some(high)) => {
                    matches!(order(low, value), Some(Ordering::Less | Ordering::Equal))
                        && matches!(order(value, high), Some(Ordering::Less | Ordering::Equal))
                }
                _ => false,
            })
        }
        Condition::In(value, candidates) => {
            let value = operand_value(value, item)?;
            let mut found = false;
            // Every candidate is still checked for binding, so a malformed AST fails
            // the same way whichever candidate happens to match.
            for candidate in candidates {
                let candidate = operand_value(candidate, item)?;
                if let (Some(value), Some(candidate)) = (value.as_deref(), candidate.as_deref()) {
                    found = found || values_equal(value, candidate);
                }
            }
            Ok(found)
        }
        Condition::And(left, right) => Ok(evaluate(left, item)? && evaluate(right, item)?),
        Condition::Or(left, right) => Ok(evaluate(left, item)? || evaluate(right, item)?),
        Condition::Not(inner) => Ok(!evaluate(inner, item)?),
        Condition::AttributeExists(path) => Ok(bound_path(path, item)?.is_some()),
        Condition::AttributeNotExists(path) => Ok(bound_path(path, item)?.is_none()),
        Condition::AttributeType(path, type_name) => {
            let value = bound_path(path, item)?;
            let type_name = type_name_operand(type_name, item)?;
            Ok(value.is_some_and(|value| value.type_name() == type_name))
        }
        Condition::ValueType(value, type_name) => {
            let value = operand_value(value, item)?;
            let type_name = type_name_operand(type_name, item)?;
            Ok(value.is_some_and(|value| value.type_name() == type_name))
        }
        Condition::BeginsWith(value, prefix) => {
            let value = operand_value(value, item)?;
            let prefix = operand_value(prefix, item)?;
            Ok(match (value.as_deref(), prefix.as_deref()) {
                (Some(AttributeValue::S(value)), Some(AttributeValue::S(prefix))) => {
                    value.starts_with(prefix.as_str())
                }
                (Some(AttributeValue::B(value)), Some(AttributeValue::B(prefix))) => {
                    value.starts_with(prefix)
                }
                _ => false,
            })
        }
        Condition::Contains(haystack, needle) => {
            let haystack = operand_value(haystack, item)?;
            let needle = operand_value(needle, item)?;
            Ok(match (haystack.as_deref(), needle.as_deref()) {
                (Some(haystack), Some(needle)) => contains(haystack, needle),
                _ => false,
            })
        }
    }
}

/// Whether two values are equal under DynamoDB's `=`: same type, sets compared as
/// sets, lists element by element in order, maps member by member.
pub fn values_equal(left: &AttributeValue, right: &AttributeValue) -> bool {
    use AttributeValue as V;
    match (left, right) {
        (V::S(a), V::S(b)) => a == b,
        // Numbers are kept normalised, so `1.0` and `1` are the same value here.
        (V::N(a), V::N(b)) => a == b,
        (V::B(a), V::B(b)) => a == b,
        (V::Bool(a), V::Bool(b)) => a == b,
        (V::Null, V::Null) => true,
        (V::Ss(a), V::Ss(b)) => same_elements(a, b),
        (V::Ns(a), V::Ns(b)) => same_elements(a, b),
        (V::Bs(a), V::Bs(b)) => same_elements(a, b),
        (V::L(a), V::L(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| values_equal(a, b))
        }
        (V::M(a), V::M(b)) => maps_equal(a, b),
        _ => false,
    }
}

/// The number `size()` gives for a value, or `None` for the types it is not defined on.
pub fn size_of(value: &AttributeValue) -> Option<usize> {
    match value {
        AttributeValue::S(s) => Some(s.len()),
        AttributeValue::B(b) => Some(b.len()),
        AttributeValue::Ss(set) => Some(set.len()),
        AttributeValue::Ns(set) => Some(set.len()),
        AttributeValue::Bs(set) => Some(set.len()),
        AttributeValue::L(list) => Some(list.len()),
        AttributeValue::M(map) => Some(map.len()),
        AttributeValue::N(_) | AttributeValue::Bool(_) | AttributeValue::Null => None,
    }
}

/// The error for an AST that still holds a placeholder. `bind` removes them all, so
/// reaching this is a bug in the caller, not a client error.
pub(crate) fn unbound(placeholder: &str) -> ExpressionError {
    ExpressionError(format!(
        "internal error: expression placeholder {placeholder} is unbound; expressions must be bound before evaluation"
    ))
}

/// Fails if `path` still holds a `#name` placeholder.
pub(crate) fn check_bound(path: &Path) -> Result<(), ExpressionError> {
    match path.0.iter().find_map(|element| match element {
        PathElement::Name(name) => Some(name),
        PathElement::Attribute(_) | PathElement::Index(_) => None,
    }) {
        Some(name) => Err(unbound(name)),
        None => Ok(()),
    }
}

fn bound_path<'a>(
    path: &Path,
    item: &'a Item,
) -> Result<Option<&'a AttributeValue>, ExpressionError> {
    check_bound(path)?;
    Ok(resolve(item, path))
}

/// An operand's value, `None` when it names a missing attribute or is the `size()` of
/// a value that has no size. `size()` builds a new value, hence the `Cow`.
fn operand_value<'a>(
    operand: &'a Operand,
    item: &'a Item,
) -> Result<Option<Cow<'a, AttributeValue>>, ExpressionError> {
    Ok(match operand {
        Operand::Path(path) => bound_path(path, item)?.map(Cow::Borrowed),
        Operand::Value(value) => Some(Cow::Borrowed(value)),
        Operand::Placeholder(name) => return Err(unbound(name)),
        Operand::Size(path) => bound_path(path, item)?.and_then(size_value).map(Cow::Owned),
        Operand::ValueSize(value) => operand_value(value, item)?
            .as_deref()
            .and_then(size_value)
            .map(Cow::Owned),
    })
}

/// `size()` of a value as a number, `None` for the types it is not defined on.
fn size_value(value: &AttributeValue) -> Option<AttributeValue> {
    size_of(value)
        .and_then(|size| i64::try_from(size).ok())
        .map(|size| AttributeValue::N(Number::from_i64(size)))
}

/// The type name `attribute_type` tests for. `bind` rejects bad constants with
/// DynamoDB's message (prefixed with the expression's name); this is the fallback for
/// an AST that bypassed it.
fn type_name_operand<'a>(operand: &'a Operand, item: &'a Item) -> Result<&'a str, ExpressionError> {
    match operand_value(operand, item)? {
        Some(Cow::Borrowed(AttributeValue::S(name))) => {
            if TYPE_NAMES.contains(&name.as_str()) {
                Ok(name)
            } else {
                Err(ExpressionError(format!(
                    "Invalid attribute type name found; type: {name}, valid types: {{{}}}",
                    TYPE_NAMES.join(",")
                )))
            }
        }
        other => Err(ExpressionError(format!(
            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {}",
            other.as_deref().map_or("missing", AttributeValue::type_name)
        ))),
    }
}

fn compare(
    left: Option<&AttributeValue>,
    comparator: Comparator,
    right: Option<&AttributeValue>,
) -> bool {
    let (Some(left), Some(right)) = (left, right) else {
        // A missing operand is unequal to everything, including another missing one.
        return comparator == Comparator::Ne;
    };
    match comparator {
        Comparator::Eq => values_equal(left, right),
        Comparator::Ne => !values_equal(left, right),
        Comparator::Lt => order(left, right) == Some(Ordering::Less),
        Comparator::Le => matches!(order(left, right), Some(Ordering::Less | Ordering::Equal)),
        Comparator::Gt => order(left, right) == Some(Ordering::Greater),
        Comparator::Ge => matches!(
            order(left, right),
            Some(Ordering::Greater | Ordering::Equal)
        ),
    }
}

/// DynamoDB's ordering, defined only between two N, two S or two B values.
fn order(left: &AttributeValue, right: &AttributeValue) -> Option<Ordering> {
    match (left, right) {
        (AttributeValue::N(a), AttributeValue::N(b)) => Some(a.cmp(b)),
        // `str` orders by UTF-8 bytes, which is DynamoDB's order (not UTF-16's).
        (AttributeValue::S(a), AttributeValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (AttributeValue::B(a), AttributeValue::B(b)) => Some(a.as_slice().cmp(b.as_slice())),
        _ => None,
    }
}

/// Set equality. Sorting copies of references keeps this O(n log n): sets can hold
/// tens of thousands of elements, and a pairwise search would be quadratic.
fn same_elements<T: Ord>(left: &[T], right: &[T]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let mut left: Vec<&T> = left.iter().collect();
    let mut right: Vec<&T> = right.iter().collect();
    left.sort_unstable();
    right.sort_unstable();
    left == right
}

fn maps_equal(left: &AttributeMap, right: &AttributeMap) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .all(|((left_name, left), (right_name, right))| {
                left_name == right_name && values_equal(left, right)
            })
}

/// `contains(haystack, needle)`: a substring of an S, a byte substring of a B, an
/// element of a set of the needle's type, or an element of a list (any type).
fn contains(haystack: &AttributeValue, needle: &AttributeValue) -> bool {
    use AttributeValue as V;
    match (haystack, needle) {
        (V::S(haystack), V::S(needle)) => haystack.contains(needle.as_str()),
        (V::B(haystack), V::B(needle)) => contains_bytes(haystack, needle),
        (V::Ss(set), V::S(needle)) => set.contains(needle),
        (V::Ns(set), V::N(needle)) => set.contains(needle),
        (V::Bs(set), V::B(needle)) => set.contains(needle),
        (V::L(list), needle) => list.iter().any(|element| values_equal(element, needle)),
        _ => false,
    }
}

/// Knuth-Morris-Pratt substring search: linear time, because both sides can be
/// hundreds of kilobytes and a naive search is quadratic on inputs like `aaa…ab`.
fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > haystack.len() {
        return false;
    }
    // failure[i]: length of the longest proper prefix of needle[..=i] that is also
    // its suffix.
    let mut failure = vec![0usize; needle.len()];
    let mut matched = 0;
    for (i, &byte) in needle.iter().enumerate().skip(1) {
        while matched > 0 && needle.get(matched) != Some(&byte) {
            matched = failure.get(matched - 1).copied().unwrap_or(0);
        }
        if needle.get(matched) == Some(&byte) {
            matched += 1;
        }
        if let Some(slot) = failure.get_mut(i) {
            *slot = matched;
        }
    }
    matched = 0;
    for &byte in haystack {
        while matched > 0 && needle.get(matched) != Some(&byte) {
            matched = failure.get(matched - 1).copied().unwrap_or(0);
        }
        if needle.get(matched) == Some(&byte) {
            matched += 1;
            if matched == needle.len() {
                return true;
            }
        }
    }
    false
}

/// Builders shared by the expression modules' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    pub fn n(text: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(text).expect("test number parses"))
    }

    pub fn num(text: &str) -> Number {
        Number::parse(text).expect("test number parses")
    }

    pub fn b(bytes: &[u8]) -> AttributeValue {
        AttributeValue::B(bytes.to_vec())
    }

    pub fn ss(elements: &[&str]) -> AttributeValue {
        AttributeValue::Ss(elements.iter().map(|e| (*e).to_owned()).collect())
    }

    pub fn ns(elements: &[&str]) -> AttributeValue {
        AttributeValue::Ns(elements.iter().map(|e| num(e)).collect())
    }

    pub fn bs(elements: &[&[u8]]) -> AttributeValue {
        AttributeValue::Bs(elements.iter().map(|e| e.to_vec()).collect())
    }

    pub fn l(elements: Vec<AttributeValue>) -> AttributeValue {
        AttributeValue::L(elements)
    }

    pub fn m(members: Vec<(&str, AttributeValue)>) -> AttributeValue {
        AttributeValue::M(
            members
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }

    pub fn item(members: Vec<(&str, AttributeValue)>) -> Item {
        members
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// A bound path from test notation: `a.b[2].c`.
    pub fn path(text: &str) -> Path {
        let mut elements = Vec::new();
        for part in text.split('.') {
            let mut pieces = part.split('[');
            let name = pieces.next().unwrap_or_default();
            if !name.is_empty() {
                elements.push(PathElement::Attribute(name.to_owned()));
            }
            for index in pieces {
                let index = index.trim_end_matches(']');
                elements.push(PathElement::Index(index.parse().expect("test index")));
            }
        }
        Path(elements)
    }

    pub fn at(text: &str) -> Operand {
        Operand::Path(path(text))
    }

    pub fn val(value: AttributeValue) -> Operand {
        Operand::Value(value)
    }

    pub fn size(text: &str) -> Operand {
        Operand::Size(path(text))
    }

    /// One value of each of the ten types.
    pub fn one_of_each_type() -> Vec<AttributeValue> {
        vec![
            s("x"),
            n("1"),
            b(b"x"),
            AttributeValue::Bool(true),
            AttributeValue::Null,
            ss(&["x"]),
            ns(&["1"]),
            bs(&[b"x"]),
            l(vec![s("x")]),
            m(vec![("x", s("x"))]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use AttributeValue::{Bool, Null};
    use Comparator::{Eq, Ge, Gt, Le, Lt, Ne};

    const ALL_COMPARATORS: [Comparator; 6] = [Eq, Ne, Lt, Le, Gt, Ge];

    fn eval(condition: &Condition, item: &Item) -> bool {
        evaluate(condition, item).expect("evaluation succeeds")
    }

    fn cmp(left: Operand, comparator: Comparator, right: Operand) -> Condition {
        Condition::Compare(left, comparator, right)
    }

    /// Compares two constants with every comparator, returning the six results.
    fn all_results(left: &AttributeValue, right: &AttributeValue) -> [bool; 6] {
        let empty = Item::new();
        ALL_COMPARATORS.map(|comparator| {
            eval(
                &cmp(val(left.clone()), comparator, val(right.clone())),
                &empty,
            )
        })
    }

    fn sample() -> Item {
        item(vec![
            ("s", s("hello")),
            ("n", n("42")),
            ("b", b(&[1, 2, 3])),
            ("bool", Bool(true)),
            ("null", Null),
            ("ss", ss(&["a", "b"])),
            ("ns", ns(&["1", "2.5"])),
            ("bs", bs(&[b"x", b"y"])),
            (
                "l",
                l(vec![s("zero"), m(vec![("deep", n("7"))]), l(vec![n("1")])]),
            ),
            (
                "m",
                m(vec![("inner", m(vec![("x", s("y"))])), ("k", n("1"))]),
            ),
        ])
    }

    // ---- resolve -------------------------------------------------------------------

    #[test]
    fn resolve_walks_maps_and_lists() {
        let item = sample();
        assert_eq!(resolve(&item, &path("s")), Some(&s("hello")));
        assert_eq!(resolve(&item, &path("m.inner.x")), Some(&s("y")));
        assert_eq!(resolve(&item, &path("l[0]")), Some(&s("zero")));
        assert_eq!(resolve(&item, &path("l[1].deep")), Some(&n("7")));
        assert_eq!(resolve(&item, &path("l[2][0]")), Some(&n("1")));
    }

    #[test]
    fn resolve_misses_are_none() {
        let item = sample();
        for missing in [
            "absent",
            "m.absent",
            "m.inner.x.y",
            "l[3]",
            "l[4294967295]",
            "s[0]",
            "s.x",
            "m[0]",
            "l.x",
            "ss[0]",
            "absent.x",
        ] {
            assert_eq!(resolve(&item, &path(missing)), None, "{missing}");
        }
        let index_first = Path(vec![PathElement::Index(0)]);
        assert_eq!(resolve(&item, &index_first), None);
        let unbound = Path(vec![PathElement::Name("#s".to_owned())]);
        assert_eq!(resolve(&item, &unbound), None);
        assert_eq!(resolve(&Item::new(), &path("s")), None);
    }

    // ---- = and <> ------------------------------------------------------------------

    #[test]
    fn every_type_equals_itself() {
        for value in one_of_each_type() {
            let results = all_results(&value, &value.clone());
            assert!(results[0], "{value:?} = itself");
            assert!(!results[1], "{value:?} <> itself");
        }
    }

    #[test]
    fn different_types_are_never_equal() {
        let values = one_of_each_type();
        for (i, left) in values.iter().enumerate() {
            for (j, right) in values.iter().enumerate() {
                if i == j {
                    continue;
                }
                assert_eq!(
                    all_results(left, right),
                    [false, true, false, false, false, false],
                    "{left:?} vs {right:?}"
                );
            }
        }
        // Same text, different types.
        assert_eq!(all_results(&s("1"), &n("1"))[..2], [false, true]);
        assert_eq!(all_results(&s("x"), &b(b"x"))[..2], [false, true]);
        assert_eq!(all_results(&ss(&["1"]), &ns(&["1"]))[..2], [false, true]);
        assert_eq!(all_results(&l(vec![]), &m(vec![]))[..2], [false, true]);
    }

    #[test]
    fn equality_of_scalars_compares_values() {
        assert_eq!(all_results(&s("a"), &s("b"))[..2], [false, true]);
        assert_eq!(all_results(&n("1"), &n("1.000"))[..2], [true, false]);
        assert_eq!(all_results(&n("1"), &n("2"))[..2], [false, true]);
        assert_eq!(all_results(&b(b"a"), &b(b"b"))[..2], [false, true]);
        assert_eq!(all_results(&Bool(true), &Bool(false))[..2], [false, true]);
        assert_eq!(all_results(&s(""), &s(""))[..2], [true, false]);
    }

    #[test]
    fn set_equality_ignores_order() {
        assert!(all_results(&ss(&["a", "b", "c"]), &ss(&["c", "a", "b"]))[0]);
        assert!(all_results(&ns(&["1", "2.50"]), &ns(&["2.5", "1.0"]))[0]);
        assert!(all_results(&bs(&[b"x", b"y"]), &bs(&[b"y", b"x"]))[0]);
        assert!(!all_results(&ss(&["a", "b"]), &ss(&["a", "c"]))[0]);
        assert!(!all_results(&ss(&["a", "b"]), &ss(&["a"]))[0]);
        assert!(!all_results(&ns(&["1"]), &ns(&["1", "2"]))[0]);
        assert!(!all_results(&bs(&[b"x"]), &bs(&[b"z"]))[0]);
    }

    #[test]
    fn list_equality_is_ordered_and_structural() {
        let list = l(vec![s("a"), n("1"), ss(&["x", "y"])]);
        assert!(all_results(&list, &l(vec![s("a"), n("1.0"), ss(&["y", "x"])]))[0]);
        assert!(!all_results(&list, &l(vec![n("1"), s("a"), ss(&["x", "y"])]))[0]);
        assert!(!all_results(&list, &l(vec![s("a"), n("1")]))[0]);
        assert!(all_results(&l(vec![]), &l(vec![]))[0]);
    }

    #[test]
    fn map_equality_is_structural() {
        let map = m(vec![("a", n("1")), ("b", m(vec![("c", ns(&["1", "2"]))]))]);
        assert!(
            all_results(
                &map,
                &m(vec![("b", m(vec![("c", ns(&["2", "1"]))])), ("a", n("1"))])
            )[0]
        );
        assert!(!all_results(&map, &m(vec![("a", n("1"))]))[0]);
        assert!(!all_results(&map, &m(vec![("a", n("1")), ("b", m(vec![]))]))[0]);
        assert!(!all_results(&map, &m(vec![("a", n("1")), ("x", m(vec![]))]))[0]);
        assert!(all_results(&m(vec![]), &m(vec![]))[0]);
    }

    #[test]
    fn missing_operands_compare_false_except_not_equal() {
        let item = sample();
        for comparator in ALL_COMPARATORS {
            let expected = comparator == Ne;
            for (left, right) in [
                (at("absent"), val(n("1"))),
                (val(n("1")), at("absent")),
                (at("absent"), at("other_absent")),
                (at("absent"), at("absent")),
                (at("m.absent"), at("n")),
                (at("l[9]"), at("n")),
            ] {
                assert_eq!(
                    eval(&cmp(left.clone(), comparator, right.clone()), &item),
                    expected,
                    "{left:?} {comparator:?} {right:?}"
                );
            }
        }
    }

    #[test]
    fn paths_compare_with_paths_and_values() {
        let item = item(vec![("a", n("1")), ("b", n("2")), ("c", n("1"))]);
        assert!(eval(&cmp(at("a"), Eq, at("c")), &item));
        assert!(eval(&cmp(at("a"), Lt, at("b")), &item));
        assert!(eval(&cmp(val(n("3")), Gt, at("b")), &item));
        assert!(!eval(&cmp(at("a"), Eq, at("b")), &item));
    }

    // ---- < <= > >= -----------------------------------------------------------------

    #[test]
    fn numbers_order_numerically() {
        // [=, <>, <, <=, >, >=]
        assert_eq!(
            all_results(&n("2"), &n("10")),
            [false, true, true, true, false, false]
        );
        assert_eq!(
            all_results(&n("-5"), &n("-0.5")),
            [false, true, true, true, false, false]
        );
        assert_eq!(
            all_results(&n("1E+2"), &n("99.999")),
            [false, true, false, false, true, true]
        );
        assert_eq!(
            all_results(&n("0.10"), &n("0.1")),
            [true, false, false, true, false, true]
        );
        assert_eq!(
            all_results(
                &n("12345678901234567890123456789012345678"),
                &n("12345678901234567890123456789012345679")
            ),
            [false, true, true, true, false, false]
        );
    }

    #[test]
    fn strings_order_by_utf8_bytes() {
        assert_eq!(
            all_results(&s("apple"), &s("banana")),
            [false, true, true, true, false, false]
        );
        // Upper case sorts before lower case in byte order.
        assert!(all_results(&s("Z"), &s("a"))[2]);
        // A prefix sorts first.
        assert!(all_results(&s("ab"), &s("abc"))[2]);
        assert!(all_results(&s(""), &s("a"))[2]);
        // U+FF61 is above the surrogate range in UTF-16 (so UTF-16 order would put it
        // after the emoji) but below U+1F600 in UTF-8 bytes, which is DynamoDB's order.
        assert!(all_results(&s("\u{FF61}"), &s("\u{1F600}"))[2]);
        assert!(all_results(&s("é"), &s("z"))[4]);
        assert_eq!(
            all_results(&s("same"), &s("same")),
            [true, false, false, true, false, true]
        );
    }

    #[test]
    fn binary_orders_by_unsigned_bytes() {
        assert_eq!(
            all_results(&b(&[0x7f]), &b(&[0x80])),
            [false, true, true, true, false, false]
        );
        assert!(all_results(&b(&[0xff]), &b(&[0x00, 0x00]))[4]);
        assert!(all_results(&b(&[]), &b(&[0]))[2]);
        assert_eq!(
            all_results(&b(&[1, 2]), &b(&[1, 2])),
            [true, false, false, true, false, true]
        );
    }

    #[test]
    fn ordering_is_undefined_on_other_types() {
        let unorderable = [
            Bool(false),
            Null,
            ss(&["a"]),
            ns(&["1"]),
            bs(&[b"a"]),
            l(vec![n("1")]),
            m(vec![("a", n("1"))]),
        ];
        for value in &unorderable {
            // Even a value compared with itself: = holds but <= and >= do not.
            assert_eq!(
                all_results(value, value),
                [true, false, false, false, false, false],
                "{value:?}"
            );
        }
        assert_eq!(
            all_results(&Bool(false), &Bool(true)),
            [false, true, false, false, false, false]
        );
    }

    #[test]
    fn ordering_across_types_is_false() {
        assert_eq!(
            all_results(&n("1"), &s("2")),
            [false, true, false, false, false, false]
        );
        assert_eq!(
            all_results(&s("a"), &b(b"a")),
            [false, true, false, false, false, false]
        );
        let item = item(vec![("list", l(vec![n("1")])), ("n", n("1"))]);
        assert!(!eval(&cmp(at("list"), Lt, val(n("2"))), &item));
        assert!(!eval(&cmp(val(n("0")), Lt, at("list")), &item));
    }

    // ---- BETWEEN -------------------------------------------------------------------

    fn between(value: Operand, low: Operand, high: Operand) -> Condition {
        Condition::Between(value, low, high)
    }

    #[test]
    fn between_is_inclusive_for_orderable_types() {
        let empty = Item::new();
        let cases = [
            (n("5"), n("1"), n("10"), true),
            (n("1"), n("1"), n("10"), true),
            (n("10"), n("1"), n("10"), true),
            (n("10.01"), n("1"), n("10"), false),
            (n("-1"), n("1"), n("10"), false),
            (s("cat"), s("aardvark"), s("dog"), true),
            (s("cat"), s("cat"), s("cat"), true),
            (s("zebra"), s("aardvark"), s("dog"), false),
            (b(b"cat"), b(b"aardvark"), b(b"dog"), true),
            (b(b"cat"), b(b"cat"), b(b"cat"), true),
            (b(&[0x80]), b(&[0x00]), b(&[0x7f]), false),
            // An inverted range holds nothing (bind rejects constant ones; item
            // values can still produce it).
            (n("5"), n("10"), n("1"), false),
            // Mixed types.
            (n("5"), s("1"), s("9"), false),
            (s("5"), n("1"), n("9"), false),
            (n("5"), n("1"), s("9"), false),
            // Types without an order.
            (Bool(true), Bool(false), Bool(true), false),
            (Null, Null, Null, false),
            (ss(&["a"]), ss(&["a"]), ss(&["a"]), false),
            (l(vec![]), l(vec![]), l(vec![]), false),
            (m(vec![]), m(vec![]), m(vec![]), false),
        ];
        for (value, low, high, expected) in cases {
            assert_eq!(
                eval(
                    &between(val(value.clone()), val(low.clone()), val(high.clone())),
                    &empty
                ),
                expected,
                "{value:?} BETWEEN {low:?} AND {high:?}"
            );
        }
    }

    #[test]
    fn between_with_missing_operands_is_false() {
        let item = item(vec![("a", n("2")), ("lo", n("1")), ("hi", n("3"))]);
        assert!(eval(&between(at("a"), at("lo"), at("hi")), &item));
        assert!(!eval(&between(at("x"), at("lo"), at("hi")), &item));
        assert!(!eval(&between(at("a"), at("x"), at("hi")), &item));
        assert!(!eval(&between(at("a"), at("lo"), at("x")), &item));
    }

    // ---- IN ------------------------------------------------------------------------

    #[test]
    fn in_matches_any_candidate_of_any_type() {
        let item = sample();
        let candidates = vec![val(s("dog")), val(n("42")), val(Null)];
        assert!(eval(&Condition::In(at("n"), candidates.clone()), &item));
        assert!(eval(&Condition::In(at("null"), candidates.clone()), &item));
        assert!(!eval(&Condition::In(at("s"), candidates.clone()), &item));
        assert!(!eval(&Condition::In(at("absent"), candidates), &item));
        // Sets match regardless of order; lists and maps structurally.
        assert!(eval(
            &Condition::In(at("ss"), vec![val(ss(&["b", "a"]))]),
            &item
        ));
        assert!(eval(
            &Condition::In(
                at("m.inner"),
                vec![val(n("1")), val(m(vec![("x", s("y"))]))]
            ),
            &item
        ));
        // Candidates may be paths; a missing one matches nothing.
        assert!(!eval(
            &Condition::In(at("m.k"), vec![at("absent"), at("ns[0]"), at("bool")]),
            &item
        ));
        assert!(eval(
            &Condition::In(val(n("1")), vec![at("absent"), at("m.k")]),
            &item
        ));
        assert!(!eval(
            &Condition::In(at("absent"), vec![at("absent")]),
            &item
        ));
    }

    #[test]
    fn in_with_each_type() {
        let empty = Item::new();
        let values = one_of_each_type();
        for (i, value) in values.iter().enumerate() {
            let others: Vec<Operand> = values
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, other)| val(other.clone()))
                .collect();
            assert!(!eval(
                &Condition::In(val(value.clone()), others.clone()),
                &empty
            ));
            let mut with_self = others;
            with_self.push(val(value.clone()));
            assert!(eval(&Condition::In(val(value.clone()), with_self), &empty));
        }
    }

    // ---- AND, OR, NOT --------------------------------------------------------------

    #[test]
    fn logical_operators() {
        let empty = Item::new();
        let yes = || cmp(val(n("1")), Eq, val(n("1")));
        let no = || cmp(val(n("1")), Eq, val(n("2")));
        let and = |a: Condition, b: Condition| Condition::And(Box::new(a), Box::new(b));
        let or = |a: Condition, b: Condition| Condition::Or(Box::new(a), Box::new(b));
        let not = |a: Condition| Condition::Not(Box::new(a));
        assert!(eval(&and(yes(), yes()), &empty));
        assert!(!eval(&and(yes(), no()), &empty));
        assert!(!eval(&and(no(), yes()), &empty));
        assert!(!eval(&and(no(), no()), &empty));
        assert!(eval(&or(yes(), no()), &empty));
        assert!(eval(&or(no(), yes()), &empty));
        assert!(eval(&or(yes(), yes()), &empty));
        assert!(!eval(&or(no(), no()), &empty));
        assert!(!eval(&not(yes()), &empty));
        assert!(eval(&not(no()), &empty));
        assert!(eval(&not(not(not(not(yes())))), &empty));
        // NOT of a comparison with a missing operand is true.
        assert!(eval(&not(cmp(at("absent"), Lt, val(n("1")))), &empty));
    }

    // ---- attribute_exists / attribute_not_exists ------------------------------------

    #[test]
    fn attribute_existence() {
        let item = sample();
        for present in [
            "s",
            "null",
            "bool",
            "m.inner",
            "m.inner.x",
            "l[0]",
            "l[1].deep",
        ] {
            assert!(
                eval(&Condition::AttributeExists(path(present)), &item),
                "{present}"
            );
            assert!(
                !eval(&Condition::AttributeNotExists(path(present)), &item),
                "{present}"
            );
        }
        for absent in ["absent", "m.absent", "l[3]", "s.x", "m[0]", "l.x"] {
            assert!(
                !eval(&Condition::AttributeExists(path(absent)), &item),
                "{absent}"
            );
            assert!(
                eval(&Condition::AttributeNotExists(path(absent)), &item),
                "{absent}"
            );
        }
        assert!(eval(
            &Condition::AttributeNotExists(path("s")),
            &Item::new()
        ));
    }

    // ---- attribute_type ------------------------------------------------------------

    #[test]
    fn attribute_type_matches_each_type() {
        let item = sample();
        let names = [
            ("s", "S"),
            ("n", "N"),
            ("b", "B"),
            ("bool", "BOOL"),
            ("null", "NULL"),
            ("ss", "SS"),
            ("ns", "NS"),
            ("bs", "BS"),
            ("l", "L"),
            ("m", "M"),
        ];
        for (attribute, type_name) in names {
            for (_, candidate) in names {
                assert_eq!(
                    eval(
                        &Condition::AttributeType(path(attribute), val(s(candidate))),
                        &item
                    ),
                    candidate == type_name,
                    "attribute_type({attribute}, {candidate})"
                );
            }
            assert!(!eval(
                &Condition::AttributeType(path("absent"), val(s(type_name))),
                &item
            ));
        }
        assert!(eval(
            &Condition::AttributeType(path("l[1].deep"), val(s("N"))),
            &item
        ));
    }

    #[test]
    fn attribute_type_rejects_unknown_type_names() {
        let err = evaluate(
            &Condition::AttributeType(path("s"), val(s("DOG"))),
            &sample(),
        )
        .expect_err("unknown type");
        assert_eq!(
            err.0,
            "Invalid attribute type name found; type: DOG, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
        );
        // Type names are case-sensitive.
        assert!(evaluate(&Condition::AttributeType(path("s"), val(s("s"))), &sample()).is_err());
        let err = evaluate(&Condition::AttributeType(path("s"), val(n("1"))), &sample())
            .expect_err("non-string type operand");
        assert!(err.0.contains("attribute_type"), "{err}");
    }

    // ---- begins_with ---------------------------------------------------------------

    #[test]
    fn begins_with_strings_and_binary() {
        let item = sample();
        let check =
            |value: Operand, prefix: Operand| eval(&Condition::BeginsWith(value, prefix), &item);
        assert!(check(at("s"), val(s("hell"))));
        assert!(check(at("s"), val(s("hello"))));
        assert!(check(at("s"), val(s(""))));
        assert!(!check(at("s"), val(s("hello!"))));
        assert!(!check(at("s"), val(s("ello"))));
        assert!(!check(at("s"), val(s("H"))));
        assert!(check(at("b"), val(b(&[1, 2]))));
        assert!(check(at("b"), val(b(&[]))));
        assert!(!check(at("b"), val(b(&[2]))));
        assert!(!check(at("b"), val(b(&[1, 2, 3, 4]))));
        // Either side may be the path.
        assert!(check(val(s("hello world")), at("s")));
        // Type mismatches and other types are false, never errors.
        assert!(!check(at("s"), val(b(b"hell"))));
        assert!(!check(at("b"), val(s("\u{1}"))));
        assert!(!check(at("n"), val(n("4"))));
        assert!(!check(at("n"), val(s("4"))));
        for other in ["bool", "null", "ss", "ns", "bs", "l", "m"] {
            assert!(!check(at(other), val(s(""))), "{other}");
            assert!(!check(at(other), val(b(b""))), "{other}");
        }
        assert!(!check(at("absent"), val(s(""))));
        assert!(!check(at("s"), at("absent")));
    }

    #[test]
    fn begins_with_respects_multibyte_boundaries() {
        let item = item(vec![("s", s("é"))]);
        // "é" is 0xC3 0xA9: no one-byte string is its prefix except the empty one.
        assert!(eval(&Condition::BeginsWith(at("s"), val(s("é"))), &item));
        assert!(!eval(&Condition::BeginsWith(at("s"), val(s("e"))), &item));
    }

    // ---- contains ------------------------------------------------------------------

    #[test]
    fn contains_on_each_type() {
        let item = sample();
        let check = |haystack: &str, needle: AttributeValue| {
            eval(&Condition::Contains(at(haystack), val(needle)), &item)
        };
        // S: substring.
        assert!(check("s", s("ell")));
        assert!(check("s", s("hello")));
        assert!(check("s", s("")));
        assert!(!check("s", s("hello world")));
        assert!(!check("s", s("L")));
        assert!(!check("s", b(b"ell")));
        // B: byte substring.
        assert!(check("b", b(&[2, 3])));
        assert!(check("b", b(&[])));
        assert!(!check("b", b(&[3, 2])));
        assert!(!check("b", s("\u{2}")));
        // Sets: element of the set's type.
        assert!(check("ss", s("a")));
        assert!(!check("ss", s("ab")));
        assert!(!check("ss", ss(&["a"])));
        assert!(!check("ss", n("1")));
        assert!(check("ns", n("2.50")));
        assert!(check("ns", n("1")));
        assert!(!check("ns", s("1")));
        assert!(!check("ns", n("3")));
        assert!(check("bs", b(b"x")));
        assert!(!check("bs", s("x")));
        assert!(!check("bs", b(b"xy")));
        // L: element of any type, compared as = compares.
        assert!(check("l", s("zero")));
        assert!(check("l", m(vec![("deep", n("7.0"))])));
        assert!(check("l", l(vec![n("1")])));
        assert!(!check("l", s("zer")));
        assert!(!check("l", n("7")));
        // Types contains() does not look into.
        assert!(!check("m", s("k")));
        assert!(!check("m", n("1")));
        assert!(!check("n", n("42")));
        assert!(!check("n", s("4")));
        assert!(!check("bool", Bool(true)));
        assert!(!check("null", Null));
        // Missing either side.
        assert!(!check("absent", s("")));
        assert!(!eval(&Condition::Contains(at("s"), at("absent")), &item));
    }

    #[test]
    fn contains_list_elements_of_every_type() {
        let values = one_of_each_type();
        let item = item(vec![("l", l(values.clone()))]);
        for value in values {
            assert!(
                eval(&Condition::Contains(at("l"), val(value.clone())), &item),
                "{value:?}"
            );
        }
        assert!(eval(&Condition::Contains(at("l"), val(ss(&["x"]))), &item));
        assert!(!eval(&Condition::Contains(at("l"), val(s("y"))), &item));
    }

    #[test]
    fn contains_sets_with_reordered_list_element() {
        let item = item(vec![("l", l(vec![ns(&["1", "2"])]))]);
        assert!(eval(
            &Condition::Contains(at("l"), val(ns(&["2", "1"]))),
            &item
        ));
    }

    #[test]
    fn byte_search_handles_overlaps_and_edges() {
        assert!(contains_bytes(b"aaab", b"aab"));
        assert!(contains_bytes(b"abababc", b"ababc"));
        assert!(contains_bytes(b"abc", b"abc"));
        assert!(contains_bytes(b"xabc", b"c"));
        assert!(!contains_bytes(b"ab", b"abc"));
        assert!(!contains_bytes(b"", b"a"));
        assert!(contains_bytes(b"", b""));
        assert!(!contains_bytes(b"aaaa", b"aab"));
        let mut haystack = vec![b'a'; 200_000];
        let mut needle = vec![b'a'; 100_000];
        needle.push(b'b');
        // Linear time: this would take minutes with a naive search.
        assert!(!contains_bytes(&haystack, &needle));
        haystack.push(b'b');
        assert!(contains_bytes(&haystack, &needle));
    }

    // ---- size ----------------------------------------------------------------------

    #[test]
    fn size_of_each_type() {
        let item = item(vec![
            ("s", s("é€😀")),
            ("empty", s("")),
            ("b", b(&[0, 1, 2, 3])),
            ("ss", ss(&["a", "b", "c"])),
            ("ns", ns(&["1", "2"])),
            ("bs", bs(&[b"x"])),
            ("l", l(vec![n("1"), s("x"), Null, l(vec![])])),
            ("m", m(vec![("a", n("1")), ("b", m(vec![("c", n("1"))]))])),
            ("emptyl", l(vec![])),
            ("emptym", m(vec![])),
        ]);
        let expected = [
            // UTF-8 bytes: 2 + 3 + 4.
            ("s", "9"),
            ("empty", "0"),
            ("b", "4"),
            ("ss", "3"),
            ("ns", "2"),
            ("bs", "1"),
            ("l", "4"),
            ("m", "2"),
            ("emptyl", "0"),
            ("emptym", "0"),
        ];
        for (attribute, size_text) in expected {
            assert!(
                eval(&cmp(size(attribute), Eq, val(n(size_text))), &item),
                "size({attribute}) = {size_text}"
            );
        }
        assert!(eval(&cmp(size("s"), Gt, val(n("8"))), &item));
        assert!(eval(&cmp(size("s"), Le, val(n("9"))), &item));
        assert!(eval(&cmp(size("s"), Lt, val(n("10"))), &item));
        assert!(eval(&cmp(size("s"), Ge, val(n("9"))), &item));
        assert!(eval(&cmp(size("s"), Ne, val(n("4"))), &item));
        assert!(!eval(&cmp(size("l"), Eq, size("m.b")), &item));
        assert!(eval(&cmp(size("m"), Eq, size("ns")), &item));
        assert!(eval(&between(size("s"), val(n("1")), val(n("9"))), &item));
        assert!(eval(
            &Condition::In(size("b"), vec![val(n("3")), val(n("4"))]),
            &item
        ));
    }

    #[test]
    fn size_of_nested_paths() {
        let item = sample();
        assert!(eval(&cmp(size("m.inner.x"), Eq, val(n("1"))), &item));
        assert!(eval(&cmp(size("l[2]"), Eq, val(n("1"))), &item));
        assert!(eval(&cmp(size("l[1]"), Eq, val(n("1"))), &item));
    }

    #[test]
    fn size_without_a_value_compares_like_a_missing_attribute() {
        let item = item(vec![
            ("n", n("12345")),
            ("bool", Bool(true)),
            ("null", Null),
            ("s", s("abc")),
        ]);
        for attribute in ["n", "bool", "null", "absent"] {
            for comparator in ALL_COMPARATORS {
                for candidate in ["0", "1", "5"] {
                    assert_eq!(
                        eval(&cmp(size(attribute), comparator, val(n(candidate))), &item),
                        comparator == Ne,
                        "size({attribute}) {comparator:?} {candidate}"
                    );
                }
            }
            assert!(!eval(
                &between(size(attribute), val(n("0")), val(n("100"))),
                &item
            ));
        }
        // Comparing a size with a non-number is false (not an error).
        assert!(!eval(&cmp(size("s"), Eq, val(s("3"))), &item));
        assert!(eval(&cmp(size("s"), Ne, val(s("3"))), &item));
    }

    // ---- unbound ASTs --------------------------------------------------------------

    #[test]
    fn unbound_placeholders_are_errors() {
        let item = sample();
        let name_path = Path(vec![
            PathElement::Attribute("m".to_owned()),
            PathElement::Name("#k".to_owned()),
        ]);
        let placeholder = Operand::Placeholder(":v".to_owned());
        let conditions = [
            cmp(Operand::Path(name_path.clone()), Eq, val(n("1"))),
            cmp(at("n"), Eq, placeholder.clone()),
            cmp(Operand::Size(name_path.clone()), Eq, val(n("1"))),
            between(at("n"), placeholder.clone(), val(n("1"))),
            Condition::In(at("n"), vec![val(n("42")), placeholder.clone()]),
            Condition::AttributeExists(name_path.clone()),
            Condition::AttributeNotExists(name_path.clone()),
            Condition::AttributeType(name_path.clone(), val(s("N"))),
            Condition::AttributeType(path("n"), placeholder.clone()),
            Condition::BeginsWith(at("s"), placeholder.clone()),
            Condition::Contains(placeholder.clone(), at("s")),
            Condition::Not(Box::new(Condition::AttributeExists(name_path))),
        ];
        for condition in conditions {
            let err = evaluate(&condition, &item).expect_err("unbound");
            assert!(err.0.contains("unbound"), "{condition:?}: {err}");
        }
    }

    #[test]
    fn public_helpers() {
        assert!(values_equal(&ss(&["a", "b"]), &ss(&["b", "a"])));
        assert_eq!(size_of(&n("1")), None);
        assert_eq!(size_of(&s("ab")), Some(2));
        assert!(check_bound(&path("a.b[1]")).is_ok());
    }
}
