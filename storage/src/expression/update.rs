//! Applying a bound UpdateExpression to an item.
//!
//! DynamoDB's rules, from the Developer Guide ("Update expressions",
//! Expressions.UpdateExpressions), dynalite's `applyUpdateExpression`
//! (`actions/updateItem.js`, whose messages match DynamoDB's) and ScyllaDB Alternator's
//! `test/alternator/test_update_expression.py` (run against real DynamoDB):
//!
//! - Every right-hand side is evaluated against the item as it was before the update,
//!   so `SET a = :v, b = a` copies the old `a`, and `REMOVE a SET b = a` works.
//! - A path operand that is missing fails the whole update with "The provided
//!   expression refers to an attribute that does not exist in the item".
//! - `+`, `-` need two numbers and `list_append` two lists; otherwise "An operand in the
//!   update expression has an incorrect data type". Arithmetic is exact; a result that
//!   does not fit a DynamoDB number fails with the number's own message.
//! - SET, REMOVE, ADD and DELETE on a nested path need its parent to exist and be a map
//!   (for a member) or a list (for an index): otherwise "The document path provided in
//!   the update expression is invalid for update". A missing final member or index is
//!   fine: SET creates it, REMOVE does nothing.
//! - List indexes always mean positions in the list before the update: `REMOVE a[1],
//!   a[2]` removes both original elements, and `REMOVE a[1] SET a[3] = :v` replaces the
//!   original fourth element. SET on an index past the end appends, several such in
//!   index order. REMOVE past the end does nothing.
//! - ADD to a missing attribute stores the operand (numbers start from 0); ADD to a set
//!   unions same-typed sets, in the sets' canonical order (`crate::sets`). DELETE from a missing attribute does nothing; a set left
//!   empty is removed. A stored value of another type fails with the "incorrect data
//!   type" message; an operand of the wrong type with DynamoDB's "Incorrect operand
//!   type" validation message (normally `bind` reports that before reading the item).
//!
//! The update is atomic: on any error the item is left exactly as it was.

use std::collections::{BTreeMap, BTreeSet};

use super::ast::{
    ExpressionError, Operand, Path, PathElement, SetOperand, SetValue, UpdateActions,
};
use super::eval::{check_bound, resolve, size_of, unbound};
use crate::number::{Number, NumberError};
use crate::sets;
use crate::value::{AttributeValue, Item};

const INVALID_PATH: &str =
    "The document path provided in the update expression is invalid for update";
const MISSING_OPERAND: &str =
    "The provided expression refers to an attribute that does not exist in the item";
/// An operand (or the attribute an action changes) of a type the action cannot take.
pub const WRONG_TYPE: &str = "An operand in the update expression has an incorrect data type";

/// How many levels of nesting DynamoDB accepts, a top-level attribute's value being level
/// 1: a value wrapped in 31 maps or lists is accepted, one wrapped in 32 is not.
pub const MAX_NESTING_LEVELS: usize = 32;
/// DynamoDB's message for a value nested deeper than [`MAX_NESTING_LEVELS`] (captured
/// against real DynamoDB by a public conformance suite).
pub const NESTING_TOO_DEEP: &str = "Nesting Levels have exceeded supported limits: \
     Attributes in the item have nested levels beyond supported limit";

/// Applies `actions` to `item` (an absent item is an empty map). On error `item` is
/// unchanged and the error's message is DynamoDB's.
pub fn apply_update(item: &mut Item, actions: &UpdateActions) -> Result<(), ExpressionError> {
    // Phase 1: everything that reads the item reads it unchanged.
    let mut root = Node::default();
    for (path, value) in &actions.set {
        check_bound(path)?;
        let value = set_value(value, item)?;
        root.insert(path, Change::Set(value))?;
    }
    for path in &actions.remove {
        check_bound(path)?;
        root.insert(path, Change::Remove)?;
    }
    for (path, operand) in &actions.add {
        check_bound(path)?;
        let value = clause_operand(operand, item)?;
        if !matches!(
            value,
            AttributeValue::N(_)
                | AttributeValue::Ss(_)
                | AttributeValue::Ns(_)
                | AttributeValue::Bs(_)
        ) {
            return Err(operand_type_error("ADD", &value));
        }
        root.insert(path, Change::Add(value))?;
    }
    for (path, operand) in &actions.delete {
        check_bound(path)?;
        let value = clause_operand(operand, item)?;
        if !is_set(&value) {
            return Err(operand_type_error("DELETE", &value));
        }
        root.insert(path, Change::Delete(value))?;
    }

    // Phase 2: build the new value of every touched top-level attribute from a copy,
    // and only store them once all succeeded, so a failure changes nothing.
    let mut updated = Vec::with_capacity(root.members.len());
    for (name, node) in root.members {
        let current = item.get(&name).cloned();
        let value = node.apply(current)?;
        // A request's values are checked when they are parsed, but an update can hang
        // one below a deep path or copy a document into itself; unchecked, an item
        // could grow deeper with every update until reading it overflows the stack.
        if value.as_ref().is_some_and(|value| nests_too_deep(value, 1)) {
            return Err(ExpressionError(NESTING_TOO_DEEP.into()));
        }
        updated.push((name, value));
    }
    for (name, value) in updated {
        match value {
            Some(value) => {
                item.insert(name, value);
            }
            None => {
                item.remove(&name);
            }
        }
    }
    Ok(())
}

/// Whether `value`, at nesting `level`, holds elements deeper than DynamoDB accepts. An
/// empty document adds no level. Descends at most [`MAX_NESTING_LEVELS`] levels.
fn nests_too_deep(value: &AttributeValue, level: usize) -> bool {
    let deeper = |element: &AttributeValue| nests_too_deep(element, level + 1);
    match value {
        AttributeValue::L(list) if !list.is_empty() => {
            level >= MAX_NESTING_LEVELS || list.iter().any(deeper)
        }
        AttributeValue::M(map) if !map.is_empty() => {
            level >= MAX_NESTING_LEVELS || map.values().any(deeper)
        }
        _ => false,
    }
}

/// The paths an update touches, SET first, then REMOVE, ADD and DELETE, each in
/// written order: what ReturnValues UPDATED_OLD and UPDATED_NEW project.
pub fn updated_paths(actions: &UpdateActions) -> Vec<Path> {
    actions
        .set
        .iter()
        .map(|(path, _)| path)
        .chain(&actions.remove)
        .chain(actions.add.iter().map(|(path, _)| path))
        .chain(actions.delete.iter().map(|(path, _)| path))
        .cloned()
        .collect()
}

/// What one action does to the value at its path.
#[derive(Debug)]
enum Change {
    Set(AttributeValue),
    Remove,
    Add(AttributeValue),
    Delete(AttributeValue),
}

/// The actions on one value and on the values nested in it, keyed by member name or
/// original list index. Grouping by path is what lets list indexes keep meaning the
/// positions before the update.
#[derive(Debug, Default)]
struct Node {
    /// Actions on this value itself. More than one only if `bind` let overlapping
    /// paths through; they then apply in action order.
    changes: Vec<Change>,
    members: BTreeMap<String, Node>,
    indexes: BTreeMap<u32, Node>,
}

impl Node {
    fn insert(&mut self, path: &Path, change: Change) -> Result<(), ExpressionError> {
        let mut node = self;
        for (depth, element) in path.0.iter().enumerate() {
            node = match element {
                PathElement::Attribute(name) => node.members.entry(name.clone()).or_default(),
                // An item is a map: a path cannot start with an index.
                PathElement::Index(_) if depth == 0 => {
                    return Err(ExpressionError(INVALID_PATH.to_owned()))
                }
                PathElement::Index(index) => node.indexes.entry(*index).or_default(),
                PathElement::Name(name) => return Err(unbound(name)),
            };
        }
        node.changes.push(change);
        Ok(())
    }

    /// The new content of a slot that holds `current` (`None`: absent), or `None` if
    /// the slot ends up empty.
    fn apply(
        self,
        current: Option<AttributeValue>,
    ) -> Result<Option<AttributeValue>, ExpressionError> {
        let mut value = current;
        for change in self.changes {
            value = apply_change(value, change)?;
        }
        if self.members.is_empty() && self.indexes.is_empty() {
            return Ok(value);
        }
        match value {
            Some(AttributeValue::M(mut map)) if self.indexes.is_empty() => {
                for (name, child) in self.members {
                    let current = map.remove(&name);
                    if let Some(new) = child.apply(current)? {
                        map.insert(name, new);
                    }
                }
                Ok(Some(AttributeValue::M(map)))
            }
            Some(AttributeValue::L(list)) if self.members.is_empty() => {
                Ok(Some(AttributeValue::L(apply_to_list(list, self.indexes)?)))
            }
            _ => Err(ExpressionError(INVALID_PATH.to_owned())),
        }
    }
}

/// Applies per-index actions to a list, every index meaning a position before the
/// update: replacements happen in place, removals are collected and done together,
/// and new elements for indexes past the end are appended in index order.
fn apply_to_list(
    mut list: Vec<AttributeValue>,
    indexes: BTreeMap<u32, Node>,
) -> Result<Vec<AttributeValue>, ExpressionError> {
    let mut removed = BTreeSet::new();
    let mut appended = Vec::new();
    for (index, child) in indexes {
        let slot = usize::try_from(index)
            .ok()
            .and_then(|position| list.get_mut(position).map(|slot| (position, slot)));
        match slot {
            Some((position, slot)) => {
                let current = std::mem::replace(slot, AttributeValue::Null);
                match child.apply(Some(current))? {
                    Some(new) => *slot = new,
                    None => {
                        removed.insert(position);
                    }
                }
            }
            None => {
                if let Some(new) = child.apply(None)? {
                    appended.push(new);
                }
            }
        }
    }
    if !removed.is_empty() {
        list = list
            .into_iter()
            .enumerate()
            .filter(|(position, _)| !removed.contains(position))
            .map(|(_, value)| value)
            .collect();
    }
    list.extend(appended);
    Ok(list)
}

fn apply_change(
    current: Option<AttributeValue>,
    change: Change,
) -> Result<Option<AttributeValue>, ExpressionError> {
    use AttributeValue as V;
    Ok(match change {
        Change::Set(value) => Some(value),
        Change::Remove => None,
        Change::Add(operand) => Some(match (current, operand) {
            // A missing number counts as 0, a missing set as empty.
            (None, operand) => operand,
            (Some(V::N(current)), V::N(operand)) => {
                V::N(current.checked_add(operand).map_err(number_error)?)
            }
            (Some(V::Ss(current)), V::Ss(operand)) => V::Ss(sets::union(current, operand)),
            (Some(V::Ns(current)), V::Ns(operand)) => V::Ns(sets::union(current, operand)),
            (Some(V::Bs(current)), V::Bs(operand)) => V::Bs(sets::union(current, operand)),
            (Some(_), _) => return Err(ExpressionError(WRONG_TYPE.to_owned())),
        }),
        Change::Delete(operand) => match (current, operand) {
            (None, _) => None,
            (Some(V::Ss(current)), V::Ss(operand)) => {
                sets::difference(current, &operand).map(V::Ss)
            }
            (Some(V::Ns(current)), V::Ns(operand)) => {
                sets::difference(current, &operand).map(V::Ns)
            }
            (Some(V::Bs(current)), V::Bs(operand)) => {
                sets::difference(current, &operand).map(V::Bs)
            }
            (Some(_), _) => return Err(ExpressionError(WRONG_TYPE.to_owned())),
        },
    })
}

fn is_set(value: &AttributeValue) -> bool {
    matches!(
        value,
        AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
    )
}

fn number_error(error: NumberError) -> ExpressionError {
    ExpressionError(error.to_string())
}

/// DynamoDB's message for an ADD or DELETE operand of a type the clause does not take,
/// as observed from DynamoDB (e.g. "operator: DELETE, operand type: STRING, typeSet:
/// ALLOWED_FOR_DELETE_OPERAND").
fn operand_type_error(clause: &str, value: &AttributeValue) -> ExpressionError {
    let type_word = match value {
        AttributeValue::S(_) => "STRING",
        AttributeValue::N(_) => "NUMBER",
        AttributeValue::B(_) => "BINARY",
        AttributeValue::Bool(_) => "BOOLEAN",
        AttributeValue::Null => "NULL",
        AttributeValue::Ss(_) => "STRING_SET",
        AttributeValue::Ns(_) => "NUMBER_SET",
        AttributeValue::Bs(_) => "BINARY_SET",
        AttributeValue::L(_) => "LIST",
        AttributeValue::M(_) => "MAP",
    };
    ExpressionError(format!(
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: {clause}, operand type: {type_word}, typeSet: ALLOWED_FOR_{clause}_OPERAND"
    ))
}

/// The value operand of an ADD or DELETE action: a constant once bound. Paths and
/// `size()` are not in DynamoDB's grammar here, but are evaluated like everywhere else
/// rather than rejected, so the AST type stays the only constraint.
fn clause_operand(operand: &Operand, item: &Item) -> Result<AttributeValue, ExpressionError> {
    match operand {
        Operand::Value(value) => Ok(value.clone()),
        Operand::Placeholder(name) => Err(unbound(name)),
        Operand::Path(path) => {
            check_bound(path)?;
            resolve(item, path)
                .cloned()
                .ok_or_else(|| ExpressionError(MISSING_OPERAND.to_owned()))
        }
        Operand::Size(path) => {
            check_bound(path)?;
            let value =
                resolve(item, path).ok_or_else(|| ExpressionError(MISSING_OPERAND.to_owned()))?;
            size_number(value)
        }
        Operand::ValueSize(value) => size_number(&clause_operand(value, item)?),
    }
}

fn size_number(value: &AttributeValue) -> Result<AttributeValue, ExpressionError> {
    size_of(value)
        .and_then(|size| i64::try_from(size).ok())
        .map(|size| AttributeValue::N(Number::from_i64(size)))
        .ok_or_else(|| ExpressionError(WRONG_TYPE.to_owned()))
}

fn set_value(value: &SetValue, item: &Item) -> Result<AttributeValue, ExpressionError> {
    match value {
        SetValue::Operand(operand) => set_operand(operand, item),
        SetValue::Plus(left, right) => {
            let (left, right) = number_operands(left, right, item)?;
            Ok(AttributeValue::N(
                left.checked_add(right).map_err(number_error)?,
            ))
        }
        SetValue::Minus(left, right) => {
            let (left, right) = number_operands(left, right, item)?;
            Ok(AttributeValue::N(
                left.checked_sub(right).map_err(number_error)?,
            ))
        }
    }
}

/// Both operands of `+` or `-`, each checked as it is evaluated (dynalite's order: a
/// non-number left operand is reported even if the right one is missing).
fn number_operands(
    left: &SetOperand,
    right: &SetOperand,
    item: &Item,
) -> Result<(Number, Number), ExpressionError> {
    let AttributeValue::N(left) = set_operand(left, item)? else {
        return Err(ExpressionError(WRONG_TYPE.to_owned()));
    };
    let AttributeValue::N(right) = set_operand(right, item)? else {
        return Err(ExpressionError(WRONG_TYPE.to_owned()));
    };
    Ok((left, right))
}

fn set_operand(operand: &SetOperand, item: &Item) -> Result<AttributeValue, ExpressionError> {
    match operand {
        SetOperand::Path(path) => {
            check_bound(path)?;
            resolve(item, path)
                .cloned()
                .ok_or_else(|| ExpressionError(MISSING_OPERAND.to_owned()))
        }
        SetOperand::Value(value) => Ok(value.clone()),
        SetOperand::Placeholder(name) => Err(unbound(name)),
        SetOperand::IfNotExists(path, fallback) => {
            check_bound(path)?;
            match resolve(item, path) {
                Some(existing) => Ok(existing.clone()),
                None => set_operand(fallback, item),
            }
        }
        SetOperand::ListAppend(left, right) => {
            let AttributeValue::L(mut left) = set_operand(left, item)? else {
                return Err(ExpressionError(WRONG_TYPE.to_owned()));
            };
            let AttributeValue::L(right) = set_operand(right, item)? else {
                return Err(ExpressionError(WRONG_TYPE.to_owned()));
            };
            left.extend(right);
            Ok(AttributeValue::L(left))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::eval::test_support::*;
    use super::*;
    use AttributeValue::{Bool, Null};

    fn set(path_text: &str, value: SetValue) -> UpdateActions {
        UpdateActions {
            set: vec![(path(path_text), value)],
            ..UpdateActions::default()
        }
    }

    fn set_val(path_text: &str, value: AttributeValue) -> UpdateActions {
        set(path_text, SetValue::Operand(SetOperand::Value(value)))
    }

    fn remove(paths: &[&str]) -> UpdateActions {
        UpdateActions {
            remove: paths.iter().map(|p| path(p)).collect(),
            ..UpdateActions::default()
        }
    }

    fn add(path_text: &str, value: AttributeValue) -> UpdateActions {
        UpdateActions {
            add: vec![(path(path_text), Operand::Value(value))],
            ..UpdateActions::default()
        }
    }

    fn delete(path_text: &str, value: AttributeValue) -> UpdateActions {
        UpdateActions {
            delete: vec![(path(path_text), Operand::Value(value))],
            ..UpdateActions::default()
        }
    }

    fn sv(value: AttributeValue) -> SetOperand {
        SetOperand::Value(value)
    }

    fn sp(text: &str) -> SetOperand {
        SetOperand::Path(path(text))
    }

    fn applied(mut item: Item, actions: &UpdateActions) -> Item {
        apply_update(&mut item, actions).expect("update applies");
        item
    }

    /// Applies an update that must fail, checks the item is untouched, and returns the
    /// message.
    fn failed(item: Item, actions: &UpdateActions) -> String {
        let mut updated = item.clone();
        let err = apply_update(&mut updated, actions).expect_err("update fails");
        assert_eq!(updated, item, "a failed update changes nothing");
        err.0
    }

    // ---- SET -----------------------------------------------------------------------

    #[test]
    fn set_creates_and_overwrites_top_level_attributes() {
        let item = applied(Item::new(), &set_val("a", n("1")));
        assert_eq!(item, self::item(vec![("a", n("1"))]));
        let item = applied(item, &set_val("a", s("x")));
        assert_eq!(item, self::item(vec![("a", s("x"))]));
        // Every type can be stored, including empty lists, maps and strings.
        for value in one_of_each_type()
            .into_iter()
            .chain([l(vec![]), m(vec![]), s(""), b(b"")])
        {
            let item = applied(Item::new(), &set_val("v", value.clone()));
            assert_eq!(item.get("v"), Some(&value));
        }
    }

    #[test]
    fn set_several_attributes() {
        let actions = UpdateActions {
            set: vec![
                (path("x"), SetValue::Operand(sv(n("4")))),
                (path("y"), SetValue::Operand(sv(n("5")))),
            ],
            ..UpdateActions::default()
        };
        let item = applied(item(vec![("z", Null)]), &actions);
        assert_eq!(
            item,
            self::item(vec![("x", n("4")), ("y", n("5")), ("z", Null)])
        );
    }

    #[test]
    fn set_nested_map_members() {
        let start = item(vec![
            ("a", m(vec![("b", n("3")), ("c", n("4"))])),
            ("d", n("5")),
        ]);
        let updated = applied(start.clone(), &set_val("a.c", n("7")));
        assert_eq!(
            updated,
            item(vec![
                ("a", m(vec![("b", n("3")), ("c", n("7"))])),
                ("d", n("5"))
            ])
        );
        let updated = applied(updated, &set_val("a.new", s("x")));
        assert_eq!(
            updated.get("a"),
            Some(&m(vec![("b", n("3")), ("c", n("7")), ("new", s("x"))]))
        );
        // Replacing a nested document with a value of another type.
        let updated = applied(start, &set_val("a", n("1")));
        assert_eq!(updated.get("a"), Some(&n("1")));
    }

    #[test]
    fn set_deep_paths() {
        let start = item(vec![(
            "a",
            m(vec![
                ("b", n("3")),
                (
                    "c",
                    l(vec![
                        s("hi"),
                        m(vec![("x", m(vec![("y", l(vec![n("3"), n("5"), n("7")]))]))]),
                    ]),
                ),
            ]),
        )]);
        let updated = applied(start, &set_val("a.c[1].x.y[1]", n("9")));
        assert_eq!(
            resolve(&updated, &path("a.c[1].x.y")),
            Some(&l(vec![n("3"), n("9"), n("7")]))
        );
        assert_eq!(resolve(&updated, &path("a.b")), Some(&n("3")));
    }

    #[test]
    fn set_requires_an_existing_parent_of_the_right_kind() {
        let start = item(vec![
            ("s", s("hello")),
            ("list", l(vec![s("hi")])),
            ("map", m(vec![("x", n("1"))])),
        ]);
        for bad in [
            "s.c",
            "list.c",
            "absent.c",
            "absent.b.c",
            "map.absent.c",
            "s[0]",
            "map[0]",
            "absent[0]",
            "list[5].x",
            "list[0].x",
            "list[0][0]",
        ] {
            assert_eq!(
                failed(start.clone(), &set_val(bad, n("7"))),
                INVALID_PATH,
                "SET {bad}"
            );
        }
        assert_eq!(failed(Item::new(), &set_val("c.c", n("7"))), INVALID_PATH);
    }

    #[test]
    fn set_list_elements() {
        let start = item(vec![("a", l(vec![s("one"), s("two"), s("three")]))]);
        let updated = applied(start.clone(), &set_val("a[1]", s("hello")));
        assert_eq!(
            updated.get("a"),
            Some(&l(vec![s("one"), s("hello"), s("three")]))
        );
        // Past the end appends.
        let updated = applied(start.clone(), &set_val("a[7]", s("hello")));
        assert_eq!(
            updated.get("a"),
            Some(&l(vec![s("one"), s("two"), s("three"), s("hello")]))
        );
        let updated = applied(start.clone(), &set_val("a[3]", s("x")));
        assert_eq!(updated.get("a").and_then(size_of), Some(4));
        // A huge index is just "past the end".
        let updated = applied(start, &set_val("a[4294967295]", s("last")));
        assert_eq!(resolve(&updated, &path("a[3]")), Some(&s("last")));
    }

    #[test]
    fn set_several_indexes_past_the_end_appends_in_index_order() {
        let start = item(vec![("a", l(vec![s("one")]))]);
        let actions = UpdateActions {
            set: vec![
                (path("a[84]"), SetValue::Operand(sv(s("a1")))),
                (path("a[37]"), SetValue::Operand(sv(s("a2")))),
                (path("a[17]"), SetValue::Operand(sv(s("a3")))),
                (path("a[50]"), SetValue::Operand(sv(s("a4")))),
            ],
            ..UpdateActions::default()
        };
        let updated = applied(start, &actions);
        assert_eq!(
            updated.get("a"),
            Some(&l(vec![s("one"), s("a3"), s("a2"), s("a4"), s("a1")]))
        );
    }

    #[test]
    fn set_copies_from_paths() {
        let start = item(vec![
            ("a", s("hello")),
            ("m", m(vec![("x", l(vec![n("7")]))])),
        ]);
        let updated = applied(start.clone(), &set("b", SetValue::Operand(sp("a"))));
        assert_eq!(updated.get("b"), Some(&s("hello")));
        let updated = applied(start.clone(), &set("z", SetValue::Operand(sp("m.x[0]"))));
        assert_eq!(updated.get("z"), Some(&n("7")));
        // SET a = a is a no-op.
        assert_eq!(
            applied(start.clone(), &set("a", SetValue::Operand(sp("a")))),
            start
        );
        for missing in ["z", "m.y", "m.x[1]", "a.b"] {
            assert_eq!(
                failed(start.clone(), &set("c", SetValue::Operand(sp(missing)))),
                MISSING_OPERAND,
                "{missing}"
            );
        }
        assert_eq!(
            failed(Item::new(), &set("c", SetValue::Operand(sp("z")))),
            MISSING_OPERAND
        );
    }

    #[test]
    fn right_hand_sides_read_the_item_before_the_update() {
        let start = item(vec![("a", n("1"))]);
        let actions = UpdateActions {
            set: vec![
                (path("a"), SetValue::Operand(sv(n("2")))),
                (path("b"), SetValue::Operand(sp("a"))),
            ],
            ..UpdateActions::default()
        };
        let updated = applied(start, &actions);
        assert_eq!(updated, item(vec![("a", n("2")), ("b", n("1"))]));
        // A value only set by this update cannot be read by it.
        let actions = UpdateActions {
            set: vec![
                (path("x"), SetValue::Operand(sv(n("4")))),
                (path("y"), SetValue::Operand(sp("x"))),
            ],
            ..UpdateActions::default()
        };
        assert_eq!(failed(Item::new(), &actions), MISSING_OPERAND);
        // Nor is a value this update removes gone for it.
        let actions = UpdateActions {
            set: vec![(path("b"), SetValue::Operand(sp("a")))],
            remove: vec![path("a")],
            ..UpdateActions::default()
        };
        assert_eq!(
            applied(item(vec![("a", s("hello"))]), &actions),
            item(vec![("b", s("hello"))])
        );
        // Swapping two attributes.
        let actions = UpdateActions {
            set: vec![
                (path("a"), SetValue::Operand(sp("b"))),
                (path("b"), SetValue::Operand(sp("a"))),
            ],
            ..UpdateActions::default()
        };
        assert_eq!(
            applied(item(vec![("a", n("1")), ("b", n("2"))]), &actions),
            item(vec![("a", n("2")), ("b", n("1"))])
        );
    }

    #[test]
    fn plus_and_minus_are_exact() {
        let start = item(vec![("a", n("2")), ("f", n("0.1"))]);
        let cases = [
            (SetValue::Plus(sp("a"), sv(n("3"))), "5"),
            (SetValue::Plus(sv(n("3")), sp("a")), "5"),
            (SetValue::Minus(sp("a"), sv(n("3"))), "-1"),
            (SetValue::Minus(sv(n("7")), sp("a")), "5"),
            (SetValue::Plus(sp("f"), sv(n("0.2"))), "0.3"),
            (SetValue::Plus(sp("a"), sp("a")), "4"),
            (SetValue::Minus(sp("f"), sp("f")), "0"),
            (
                SetValue::Plus(sv(n("99999999999999999999999999999999999999")), sv(n("-1"))),
                "99999999999999999999999999999999999998",
            ),
            (SetValue::Plus(sv(n("1E+100")), sv(n("1E+100"))), "2E+100"),
        ];
        for (value, expected) in cases {
            let updated = applied(start.clone(), &set("r", value.clone()));
            assert_eq!(updated.get("r"), Some(&n(expected)), "{value:?}");
        }
    }

    #[test]
    fn if_not_exists_in_arithmetic() {
        let actions = set(
            "b",
            SetValue::Plus(
                SetOperand::IfNotExists(path("b"), Box::new(sv(n("2")))),
                sv(n("3")),
            ),
        );
        let updated = applied(Item::new(), &actions);
        assert_eq!(updated.get("b"), Some(&n("5")));
        let updated = applied(updated, &actions);
        assert_eq!(updated.get("b"), Some(&n("8")));
    }

    #[test]
    fn arithmetic_needs_numbers() {
        let start = item(vec![("a", n("1")), ("s", s("1")), ("set", ns(&["1"]))]);
        for value in [
            SetValue::Plus(sp("s"), sv(n("1"))),
            SetValue::Plus(sv(n("1")), sp("s")),
            SetValue::Minus(sp("set"), sv(n("1"))),
            SetValue::Plus(sv(s("dog")), sv(n("3"))),
            SetValue::Plus(sv(l(vec![])), sv(l(vec![]))),
            SetValue::Minus(sp("a"), sv(Null)),
            SetValue::Plus(sp("a"), sv(Bool(true))),
            SetValue::Plus(sp("a"), sv(m(vec![]))),
            SetValue::Plus(sp("a"), sv(b(b"1"))),
        ] {
            assert_eq!(
                failed(start.clone(), &set("r", value.clone())),
                WRONG_TYPE,
                "{value:?}"
            );
        }
        for value in [
            SetValue::Plus(sp("missing"), sv(n("1"))),
            SetValue::Minus(sv(n("1")), sp("missing")),
        ] {
            assert_eq!(failed(start.clone(), &set("r", value)), MISSING_OPERAND);
        }
    }

    #[test]
    fn arithmetic_out_of_range_fails_with_the_number_message() {
        let start = item(vec![(
            "big",
            n("9.9999999999999999999999999999999999999E+125"),
        )]);
        let err = failed(
            start.clone(),
            &set("big", SetValue::Plus(sp("big"), sv(n("1E+125")))),
        );
        assert_eq!(err, NumberError::Overflow.to_string());
        // More than 38 significant digits is reported as overflow too.
        let err = failed(start, &set("r", SetValue::Plus(sv(n("1E+50")), sv(n("1")))));
        assert_eq!(err, NumberError::Overflow.to_string());
        let err = failed(
            Item::new(),
            &set(
                "r",
                SetValue::Minus(
                    sv(n("1.0000000000000000000000000000000000001E-100")),
                    sv(n("1E-100")),
                ),
            ),
        );
        assert_eq!(err, NumberError::Underflow.to_string());
    }

    #[test]
    fn if_not_exists_picks_existing_or_fallback() {
        let start = item(vec![("a", n("2")), ("m", m(vec![("x", s("y"))]))]);
        let ine = |p: &str, fallback: SetOperand| {
            SetValue::Operand(SetOperand::IfNotExists(path(p), Box::new(fallback)))
        };
        assert_eq!(
            applied(start.clone(), &set("a", ine("a", sv(n("3"))))).get("a"),
            Some(&n("2"))
        );
        assert_eq!(
            applied(start.clone(), &set("b", ine("c", sv(n("4"))))).get("b"),
            Some(&n("4"))
        );
        assert_eq!(
            applied(start.clone(), &set("b", ine("a", sv(n("4"))))).get("b"),
            Some(&n("2"))
        );
        assert_eq!(
            applied(start.clone(), &set("b", ine("m.x", sv(n("4"))))).get("b"),
            Some(&s("y"))
        );
        assert_eq!(
            applied(start.clone(), &set("b", ine("m.z", sp("m.x")))).get("b"),
            Some(&s("y"))
        );
        // Nested if_not_exists.
        let nested = ine(
            "b",
            SetOperand::IfNotExists(path("c"), Box::new(sv(n("3")))),
        );
        assert_eq!(
            applied(start.clone(), &set("x", nested)).get("x"),
            Some(&n("3"))
        );
        // The fallback is only read when needed; when it is, it must exist.
        assert_eq!(
            applied(start.clone(), &set("b", ine("a", sp("missing")))).get("b"),
            Some(&n("2"))
        );
        assert_eq!(
            failed(start, &set("b", ine("c", sp("missing")))),
            MISSING_OPERAND
        );
    }

    #[test]
    fn list_append_concatenates_lists() {
        let start = item(vec![
            ("a", l(vec![s("hi"), n("2")])),
            ("s", s("x")),
            ("e", l(vec![])),
        ]);
        let append = |left: SetOperand, right: SetOperand| {
            SetValue::Operand(SetOperand::ListAppend(Box::new(left), Box::new(right)))
        };
        let updated = applied(
            start.clone(),
            &set("a", append(sp("a"), sv(l(vec![n("4")])))),
        );
        assert_eq!(updated.get("a"), Some(&l(vec![s("hi"), n("2"), n("4")])));
        let updated = applied(
            start.clone(),
            &set("a", append(sv(l(vec![s("dog")])), sp("a"))),
        );
        assert_eq!(updated.get("a"), Some(&l(vec![s("dog"), s("hi"), n("2")])));
        let updated = applied(start.clone(), &set("c", append(sp("a"), sp("a"))));
        assert_eq!(updated.get("c").and_then(size_of), Some(4));
        let updated = applied(start.clone(), &set("c", append(sp("e"), sp("e"))));
        assert_eq!(updated.get("c"), Some(&l(vec![])));
        let updated = applied(
            start.clone(),
            &set(
                "c",
                append(
                    SetOperand::IfNotExists(path("missing"), Box::new(sv(l(vec![n("0")])))),
                    sv(l(vec![n("1")])),
                ),
            ),
        );
        assert_eq!(updated.get("c"), Some(&l(vec![n("0"), n("1")])));
        for bad in [
            append(sp("a"), sp("s")),
            append(sp("s"), sp("a")),
            append(sp("a"), sv(ss(&["x"]))),
            append(sp("a"), sv(m(vec![]))),
            append(sp("a"), sv(n("1"))),
        ] {
            assert_eq!(
                failed(start.clone(), &set("c", bad.clone())),
                WRONG_TYPE,
                "{bad:?}"
            );
        }
        for missing in [append(sp("b"), sp("a")), append(sp("a"), sp("b"))] {
            assert_eq!(failed(start.clone(), &set("c", missing)), MISSING_OPERAND);
        }
    }

    // ---- REMOVE --------------------------------------------------------------------

    #[test]
    fn remove_top_level_attributes() {
        let start = item(vec![("a", s("hello")), ("b", s("hi"))]);
        assert_eq!(
            applied(start.clone(), &remove(&["a"])),
            item(vec![("b", s("hi"))])
        );
        assert_eq!(applied(start.clone(), &remove(&["a", "b"])), Item::new());
        assert_eq!(applied(start.clone(), &remove(&["missing"])), start);
        assert_eq!(applied(Item::new(), &remove(&["missing"])), Item::new());
    }

    #[test]
    fn remove_nested_members_and_elements() {
        let start = item(vec![(
            "a",
            m(vec![
                ("b", n("3")),
                (
                    "c",
                    l(vec![
                        s("hi"),
                        m(vec![
                            ("x", m(vec![("y", l(vec![n("3"), n("5"), n("7")]))])),
                            ("q", n("2")),
                        ]),
                    ]),
                ),
            ]),
        )]);
        let updated = applied(start, &remove(&["a.c[1].x.y[1]", "a.c[1].q"]));
        assert_eq!(
            updated.get("a"),
            Some(&m(vec![
                ("b", n("3")),
                (
                    "c",
                    l(vec![
                        s("hi"),
                        m(vec![("x", m(vec![("y", l(vec![n("3"), n("7")]))]))])
                    ])
                )
            ]))
        );
    }

    #[test]
    fn remove_missing_leaf_is_a_no_op() {
        let start = item(vec![("a", m(vec![("x", n("3"))])), ("b", l(vec![s("hi")]))]);
        assert_eq!(
            applied(start.clone(), &remove(&["a.y", "b[7]", "c"])),
            start
        );
        assert_eq!(applied(start.clone(), &remove(&["b[4294967295]"])), start);
    }

    #[test]
    fn remove_needs_an_existing_parent_of_the_right_kind() {
        let start = item(vec![
            ("a", s("hello")),
            ("b", l(vec![s("hi")])),
            ("m", m(vec![])),
        ]);
        for bad in [
            "a.c", "b.c", "c.c", "a[0]", "c[0]", "m[0]", "m.x.y", "b[3].x",
        ] {
            assert_eq!(
                failed(start.clone(), &remove(&[bad])),
                INVALID_PATH,
                "REMOVE {bad}"
            );
        }
    }

    #[test]
    fn removing_the_last_member_leaves_an_empty_document() {
        let updated = applied(item(vec![("a", m(vec![("b", n("1"))]))]), &remove(&["a.b"]));
        assert_eq!(updated.get("a"), Some(&m(vec![])));
        let updated = applied(item(vec![("a", l(vec![n("1")]))]), &remove(&["a[0]"]));
        assert_eq!(updated.get("a"), Some(&l(vec![])));
    }

    #[test]
    fn removing_several_indexes_uses_original_positions() {
        let start = item(vec![("a", l(vec![n("0"), n("1"), n("2"), n("3"), n("4")]))]);
        let updated = applied(start.clone(), &remove(&["a[1]", "a[2]"]));
        assert_eq!(updated.get("a"), Some(&l(vec![n("0"), n("3"), n("4")])));
        let updated = applied(start.clone(), &remove(&["a[4]", "a[0]", "a[9]"]));
        assert_eq!(updated.get("a"), Some(&l(vec![n("1"), n("2"), n("3")])));
        let updated = applied(start, &remove(&["a[0]", "a[1]", "a[2]", "a[3]", "a[4]"]));
        assert_eq!(updated.get("a"), Some(&l(vec![])));
    }

    #[test]
    fn remove_and_set_indexes_both_mean_original_positions() {
        let start = item(vec![(
            "a",
            l(vec![n("2"), n("3"), n("4"), n("5"), n("6"), n("7")]),
        )]);
        let actions = UpdateActions {
            set: vec![(path("a[3]"), SetValue::Operand(sv(n("17"))))],
            remove: vec![path("a[1]")],
            ..UpdateActions::default()
        };
        let updated = applied(start.clone(), &actions);
        assert_eq!(
            updated.get("a"),
            Some(&l(vec![n("2"), n("4"), n("17"), n("6"), n("7")]))
        );
        // Removal plus an append past the end.
        let actions = UpdateActions {
            set: vec![(path("a[10]"), SetValue::Operand(sv(n("99"))))],
            remove: vec![path("a[0]")],
            ..UpdateActions::default()
        };
        let updated = applied(start, &actions);
        assert_eq!(
            updated.get("a"),
            Some(&l(vec![n("3"), n("4"), n("5"), n("6"), n("7"), n("99")]))
        );
    }

    #[test]
    fn several_nested_changes_in_one_update() {
        let start = item(vec![
            (
                "a",
                m(vec![
                    ("x", n("3")),
                    ("y", n("4")),
                    ("c", m(vec![("y", n("3"))])),
                ]),
            ),
            ("b", m(vec![("x", n("1")), ("y", n("2"))])),
        ]);
        let actions = UpdateActions {
            set: vec![
                (path("a.b"), SetValue::Operand(sv(n("10")))),
                (path("a.c.d"), SetValue::Operand(sv(s("dog")))),
                (path("b.x"), SetValue::Operand(sv(n("17")))),
            ],
            remove: vec![path("a.x"), path("b.y")],
            ..UpdateActions::default()
        };
        assert_eq!(
            applied(start, &actions),
            item(vec![
                (
                    "a",
                    m(vec![
                        ("y", n("4")),
                        ("b", n("10")),
                        ("c", m(vec![("y", n("3")), ("d", s("dog"))]))
                    ])
                ),
                ("b", m(vec![("x", n("17"))])),
            ])
        );
    }

    // ---- ADD -----------------------------------------------------------------------

    #[test]
    fn add_numbers() {
        let start = item(vec![("a", n("3")), ("b", s("hi"))]);
        assert_eq!(
            applied(start.clone(), &add("a", n("4"))).get("a"),
            Some(&n("7"))
        );
        assert_eq!(
            applied(start.clone(), &add("a", n("-3.5"))).get("a"),
            Some(&n("-0.5"))
        );
        // A missing attribute starts at zero.
        assert_eq!(
            applied(start.clone(), &add("c", n("7"))).get("c"),
            Some(&n("7"))
        );
        assert_eq!(
            applied(Item::new(), &add("c", n("0.25"))).get("c"),
            Some(&n("0.25"))
        );
        let err = failed(
            item(vec![(
                "a",
                n("9.9999999999999999999999999999999999999E+125"),
            )]),
            &add("a", n("1E+125")),
        );
        assert_eq!(err, NumberError::Overflow.to_string());
    }

    #[test]
    fn add_to_sets_unions_them() {
        let start = item(vec![
            ("ss", ss(&["dog", "cat", "mouse"])),
            ("ns", ns(&["1", "2"])),
            ("bs", bs(&[b"x"])),
        ]);
        let updated = applied(start.clone(), &add("ss", ss(&["pig", "cat"])));
        // The union is in canonical order, whatever order the stored set was in.
        assert_eq!(
            updated.get("ss"),
            Some(&ss(&["cat", "dog", "mouse", "pig"]))
        );
        // Numbers are the same element whatever their spelling.
        let updated = applied(start.clone(), &add("ns", ns(&["2.0", "3"])));
        assert_eq!(updated.get("ns"), Some(&ns(&["1", "2", "3"])));
        let updated = applied(start.clone(), &add("bs", bs(&[b"x", b"y"])));
        assert_eq!(updated.get("bs"), Some(&bs(&[b"x", b"y"])));
        // A missing attribute becomes the set.
        let updated = applied(start, &add("new", ss(&["a"])));
        assert_eq!(updated.get("new"), Some(&ss(&["a"])));
    }

    #[test]
    fn add_type_mismatches() {
        let start = item(vec![
            ("n", n("1")),
            ("s", s("hi")),
            ("ss", ss(&["a"])),
            ("ns", ns(&["1"])),
            ("l", l(vec![n("1")])),
            ("m", m(vec![])),
            ("bool", Bool(true)),
            ("null", Null),
            ("b", b(b"x")),
        ]);
        for (attribute, operand) in [
            ("s", n("1")),
            ("ss", n("1")),
            ("n", ss(&["a"])),
            ("ss", ns(&["1"])),
            ("ns", ss(&["1"])),
            ("ss", bs(&[b"a"])),
            ("l", ns(&["3"])),
            ("l", n("1")),
            ("m", n("1")),
            ("bool", n("1")),
            ("null", n("1")),
            ("b", bs(&[b"x"])),
        ] {
            assert_eq!(
                failed(start.clone(), &add(attribute, operand.clone())),
                WRONG_TYPE,
                "ADD {attribute} {operand:?}"
            );
        }
    }

    #[test]
    fn add_operand_must_be_a_number_or_set() {
        let start = item(vec![("a", l(vec![n("1")]))]);
        let cases = [
            (s("hello"), "STRING"),
            (l(vec![n("3")]), "LIST"),
            (m(vec![]), "MAP"),
            (b(b"x"), "BINARY"),
            (Bool(true), "BOOLEAN"),
            (Null, "NULL"),
        ];
        for (operand, word) in cases {
            assert_eq!(
                failed(start.clone(), &add("a", operand)),
                format!(
                    "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: {word}, typeSet: ALLOWED_FOR_ADD_OPERAND"
                )
            );
        }
    }

    #[test]
    fn add_on_nested_paths() {
        let start = item(vec![
            ("m", m(vec![("count", n("1"))])),
            ("l", l(vec![ss(&["a"])])),
        ]);
        let updated = applied(start.clone(), &add("m.count", n("2")));
        assert_eq!(resolve(&updated, &path("m.count")), Some(&n("3")));
        let updated = applied(start.clone(), &add("m.new", n("2")));
        assert_eq!(resolve(&updated, &path("m.new")), Some(&n("2")));
        let updated = applied(start.clone(), &add("l[0]", ss(&["b"])));
        assert_eq!(resolve(&updated, &path("l[0]")), Some(&ss(&["a", "b"])));
        assert_eq!(failed(start, &add("missing.count", n("1"))), INVALID_PATH);
    }

    // ---- DELETE --------------------------------------------------------------------

    #[test]
    fn delete_removes_set_elements() {
        let start = item(vec![
            ("ss", ss(&["cat", "dog", "mouse"])),
            ("ns", ns(&["1", "2", "3"])),
            ("bs", bs(&[b"x", b"y"])),
            ("other", s("hi")),
        ]);
        let updated = applied(start.clone(), &delete("ss", ss(&["cat", "mouse"])));
        assert_eq!(updated.get("ss"), Some(&ss(&["dog"])));
        let updated = applied(start.clone(), &delete("ns", ns(&["2.00", "7"])));
        assert_eq!(updated.get("ns"), Some(&ns(&["1", "3"])));
        let updated = applied(start.clone(), &delete("bs", bs(&[b"y"])));
        assert_eq!(updated.get("bs"), Some(&bs(&[b"x"])));
        // Elements not in the set are ignored.
        assert_eq!(applied(start.clone(), &delete("ss", ss(&["pig"]))), start);
        // A set left empty disappears.
        let updated = applied(
            start.clone(),
            &delete("ss", ss(&["dog", "cat", "mouse", "pig"])),
        );
        assert_eq!(updated.get("ss"), None);
        assert_eq!(updated.get("other"), Some(&s("hi")));
        // Deleting from a missing attribute does nothing.
        assert_eq!(
            applied(start.clone(), &delete("missing", ss(&["dog"]))),
            start
        );
    }

    #[test]
    fn delete_type_mismatches() {
        let start = item(vec![
            ("ss", ss(&["a"])),
            ("ns", ns(&["1"])),
            ("s", s("a")),
            ("l", l(vec![s("a")])),
        ]);
        for (attribute, operand) in [
            ("ss", ns(&["1"])),
            ("ns", ss(&["1"])),
            ("ss", bs(&[b"a"])),
            ("s", ss(&["a"])),
            ("l", ss(&["a"])),
        ] {
            assert_eq!(
                failed(start.clone(), &delete(attribute, operand)),
                WRONG_TYPE,
                "DELETE {attribute}"
            );
        }
        for (operand, word) in [(s("a"), "STRING"), (n("1"), "NUMBER"), (l(vec![]), "LIST")] {
            assert_eq!(
                failed(start.clone(), &delete("ss", operand)),
                format!(
                    "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: {word}, typeSet: ALLOWED_FOR_DELETE_OPERAND"
                )
            );
        }
    }

    #[test]
    fn delete_emptying_a_nested_set_removes_it() {
        let start = item(vec![
            ("m", m(vec![("tags", ss(&["a"]))])),
            ("l", l(vec![ss(&["a"]), n("1")])),
        ]);
        let updated = applied(start.clone(), &delete("m.tags", ss(&["a"])));
        assert_eq!(updated.get("m"), Some(&m(vec![])));
        let updated = applied(start, &delete("l[0]", ss(&["a"])));
        assert_eq!(updated.get("l"), Some(&l(vec![n("1")])));
    }

    // ---- clauses together, atomicity, unbound --------------------------------------

    #[test]
    fn all_four_clauses_together() {
        let start = item(vec![
            ("nick", s("old")),
            ("age", n("30")),
            ("scores", ns(&["1"])),
            ("tags", ss(&["alpha", "beta"])),
        ]);
        let actions = UpdateActions {
            set: vec![(path("nick"), SetValue::Operand(sv(s("new"))))],
            remove: vec![path("age")],
            add: vec![(path("scores"), Operand::Value(ns(&["2"])))],
            delete: vec![(path("tags"), Operand::Value(ss(&["beta"])))],
        };
        assert_eq!(
            applied(start, &actions),
            item(vec![
                ("nick", s("new")),
                ("scores", ns(&["1", "2"])),
                ("tags", ss(&["alpha"])),
            ])
        );
        assert_eq!(
            updated_paths(&actions),
            vec![path("nick"), path("age"), path("scores"), path("tags")]
        );
    }

    #[test]
    fn a_failing_action_leaves_the_item_unchanged() {
        let start = item(vec![
            ("a", n("1")),
            ("l", l(vec![n("1"), n("2")])),
            ("s", s("x")),
        ]);
        let actions = UpdateActions {
            set: vec![
                (path("a"), SetValue::Operand(sv(n("2")))),
                (path("l[0]"), SetValue::Operand(sv(n("9")))),
                (path("s.c"), SetValue::Operand(sv(n("3")))),
            ],
            remove: vec![path("l[1]")],
            ..UpdateActions::default()
        };
        assert_eq!(failed(start.clone(), &actions), INVALID_PATH);
        let actions = UpdateActions {
            remove: vec![path("a")],
            add: vec![(path("s"), Operand::Value(n("1")))],
            ..UpdateActions::default()
        };
        assert_eq!(failed(start, &actions), WRONG_TYPE);
    }

    #[test]
    fn unbound_asts_are_errors() {
        let name_path = Path(vec![PathElement::Name("#a".to_owned())]);
        let cases = [
            UpdateActions {
                set: vec![(name_path.clone(), SetValue::Operand(sv(n("1"))))],
                ..UpdateActions::default()
            },
            UpdateActions {
                set: vec![(
                    path("a"),
                    SetValue::Operand(SetOperand::Placeholder(":v".to_owned())),
                )],
                ..UpdateActions::default()
            },
            UpdateActions {
                set: vec![(
                    path("a"),
                    SetValue::Operand(SetOperand::IfNotExists(
                        name_path.clone(),
                        Box::new(sv(n("1"))),
                    )),
                )],
                ..UpdateActions::default()
            },
            UpdateActions {
                remove: vec![name_path.clone()],
                ..UpdateActions::default()
            },
            UpdateActions {
                add: vec![(path("a"), Operand::Placeholder(":v".to_owned()))],
                ..UpdateActions::default()
            },
            UpdateActions {
                delete: vec![(name_path, Operand::Value(ss(&["a"])))],
                ..UpdateActions::default()
            },
        ];
        for actions in cases {
            let err = failed(item(vec![("a", n("1"))]), &actions);
            assert!(err.contains("unbound"), "{actions:?}: {err}");
        }
    }

    #[test]
    fn a_path_starting_with_an_index_is_invalid() {
        let actions = UpdateActions {
            remove: vec![Path(vec![PathElement::Index(0)])],
            ..UpdateActions::default()
        };
        assert_eq!(failed(Item::new(), &actions), INVALID_PATH);
    }

    #[test]
    fn add_and_delete_operands_from_paths() {
        let start = item(vec![("a", n("1")), ("s", s("abc")), ("set", ss(&["x"]))]);
        let actions = UpdateActions {
            add: vec![(path("b"), Operand::Path(path("a")))],
            delete: vec![(path("set"), Operand::Path(path("set")))],
            ..UpdateActions::default()
        };
        let updated = applied(start.clone(), &actions);
        assert_eq!(updated.get("b"), Some(&n("1")));
        assert_eq!(updated.get("set"), None);
        let actions = UpdateActions {
            add: vec![(path("b"), Operand::Size(path("s")))],
            ..UpdateActions::default()
        };
        assert_eq!(applied(start.clone(), &actions).get("b"), Some(&n("3")));
        let actions = UpdateActions {
            add: vec![(path("b"), Operand::Path(path("missing")))],
            ..UpdateActions::default()
        };
        assert_eq!(failed(start, &actions), MISSING_OPERAND);
    }

    #[test]
    fn updated_paths_in_clause_then_written_order() {
        let actions = UpdateActions {
            set: vec![
                (path("z"), SetValue::Operand(sv(n("1")))),
                (path("a.b"), SetValue::Operand(sv(n("1")))),
            ],
            remove: vec![path("l[3]"), path("c")],
            add: vec![(path("n"), Operand::Value(n("1")))],
            delete: vec![(path("d"), Operand::Value(ss(&["x"])))],
        };
        assert_eq!(
            updated_paths(&actions),
            vec![
                path("z"),
                path("a.b"),
                path("l[3]"),
                path("c"),
                path("n"),
                path("d")
            ]
        );
        assert!(updated_paths(&UpdateActions::default()).is_empty());
    }

    /// `inner` wrapped in `levels` single-member maps `{"m": ...}`.
    fn wrapped(levels: usize, inner: AttributeValue) -> AttributeValue {
        (0..levels).fold(inner, |value, _| m(vec![("m", value)]))
    }

    #[test]
    fn results_nested_deeper_than_dynamodb_allows_are_refused() {
        // As for a value in a request: 31 wrapping documents are fine, 32 are not, and
        // an empty document adds no level.
        let fine = applied(Item::new(), &set_val("a", wrapped(31, n("1"))));
        assert_eq!(fine.get("a"), Some(&wrapped(31, n("1"))));
        applied(Item::new(), &set_val("a", wrapped(31, m(vec![]))));
        applied(Item::new(), &set_val("a", wrapped(31, l(vec![]))));
        assert_eq!(
            failed(Item::new(), &set_val("a", wrapped(32, n("1")))),
            NESTING_TOO_DEEP
        );
        assert_eq!(
            failed(Item::new(), &set_val("a", wrapped(32, m(vec![])))),
            NESTING_TOO_DEEP
        );
        assert_eq!(
            failed(Item::new(), &set_val("a", wrapped(31, l(vec![n("1")])))),
            NESTING_TOO_DEEP
        );
        // A shallow value below a deep path.
        let deep = item(vec![("a", wrapped(20, n("1")))]);
        let below = format!("a{}", ".m".repeat(20));
        applied(deep.clone(), &set_val(&below, wrapped(11, n("2"))));
        assert_eq!(
            failed(deep.clone(), &set_val(&below, wrapped(12, n("2")))),
            NESTING_TOO_DEEP
        );
        // A document copied into itself, which would otherwise double its depth with
        // every update.
        assert_eq!(
            failed(deep, &set(&below, SetValue::Operand(sp("a")))),
            NESTING_TOO_DEEP
        );
    }
}
