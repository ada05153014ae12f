//! The expression AST shared by the parser, binding, evaluation and updates.
//!
//! A freshly parsed AST may hold placeholders (`PathElement::Name("#n")`,
//! `Operand::Placeholder(":v")`); after `bind` it holds none, and evaluation treats a
//! leftover placeholder as an internal error. ASTs are serialisable because bound
//! conditions and updates travel inside Raft log entries.

use serde::{Deserialize, Serialize};

use crate::value::AttributeValue;

/// One step of a document path: `a`, `#n` (unbound), or `[3]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PathElement {
    /// An attribute or map-member name, literal or already substituted.
    Attribute(String),
    /// An expression attribute name placeholder such as `#n`, before binding.
    Name(String),
    /// A list index.
    Index(u32),
}

/// A document path such as `a.b[3].#c`. Never empty; the first element is never an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Path(pub Vec<PathElement>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Operand {
    Path(Path),
    /// A resolved value (after binding).
    Value(AttributeValue),
    /// A `:v` placeholder, before binding.
    Placeholder(String),
    /// `size(path)`.
    Size(Path),
    /// `size(:v)`, the size of a constant: a placeholder before binding, a value after.
    /// (Variants are only ever added at the end: bound conditions are stored in logs.)
    ValueSize(Box<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A condition, filter or key-condition expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Condition {
    Compare(Operand, Comparator, Operand),
    /// `a BETWEEN low AND high`.
    Between(Operand, Operand, Operand),
    /// `a IN (b, c, ...)`, at most 100 candidates.
    In(Operand, Vec<Operand>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    AttributeExists(Path),
    AttributeNotExists(Path),
    /// `attribute_type(path, :t)` where `:t` is an S value naming a type.
    AttributeType(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    /// `attribute_type(:v, :t)`: whether a constant is of the type `:t` names.
    ValueType(Operand, Operand),
}

/// An operand on the right of `SET path = ...`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetOperand {
    Path(Path),
    Value(AttributeValue),
    Placeholder(String),
    /// `if_not_exists(path, operand)`.
    IfNotExists(Path, Box<SetOperand>),
    /// `list_append(a, b)`.
    ListAppend(Box<SetOperand>, Box<SetOperand>),
}

/// The whole right-hand side of a SET action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetValue {
    Operand(SetOperand),
    Plus(SetOperand, SetOperand),
    Minus(SetOperand, SetOperand),
}

/// A parsed UpdateExpression: each clause appears at most once in the text, and its
/// actions keep their order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateActions {
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    /// `ADD path :v` (number or set); the operand is a placeholder until bound.
    pub add: Vec<(Path, Operand)>,
    /// `DELETE path :v` (set).
    pub delete: Vec<(Path, Operand)>,
}

impl UpdateActions {
    /// Whether the update only takes attributes or set elements away (REMOVE and
    /// DELETE, nothing else): applied to a missing item it leaves nothing to create.
    pub fn only_removes(&self) -> bool {
        self.set.is_empty()
            && self.add.is_empty()
            && !(self.remove.is_empty() && self.delete.is_empty())
    }
}

/// A ProjectionExpression: the paths to return.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Projection(pub Vec<Path>);

/// Which expression a message is about; DynamoDB names it in every error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpressionKind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

impl ExpressionKind {
    /// The parameter name DynamoDB uses in messages, e.g. "ConditionExpression".
    pub fn parameter(self) -> &'static str {
        match self {
            ExpressionKind::Condition => "ConditionExpression",
            ExpressionKind::Filter => "FilterExpression",
            ExpressionKind::KeyCondition => "KeyConditionExpression",
            ExpressionKind::Projection => "ProjectionExpression",
            ExpressionKind::Update => "UpdateExpression",
        }
    }
}

/// An expression error; `Display` is DynamoDB's full ValidationException message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpressionError(pub String);

/// Joins `leaves` pairwise, level by level, into a tree of depth ⌈log2 n⌉ whose leaves
/// keep their order: `a AND b AND c AND d` becomes `(a AND b) AND (c AND d)`. Chains of
/// AND and OR are built this way so that no list of conditions, however long, nests
/// deeper than a few dozen levels for the recursive walks (checking, binding,
/// evaluation, serialisation) that follow. `None` when there are no leaves.
pub fn balanced_tree<T>(leaves: Vec<T>, mut join: impl FnMut(T, T) -> T) -> Option<T> {
    let mut level = leaves;
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut nodes = level.into_iter();
        while let Some(left) = nodes.next() {
            next.push(match nodes.next() {
                Some(right) => join(left, right),
                None => left,
            });
        }
        level = next;
    }
    level.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_removes_means_remove_or_delete_and_nothing_else() {
        let path = || Path(vec![PathElement::Attribute("a".into())]);
        let value = || Operand::Placeholder(":v".into());
        assert!(!UpdateActions::default().only_removes());
        let remove = UpdateActions {
            remove: vec![path()],
            ..Default::default()
        };
        assert!(remove.only_removes());
        let delete = UpdateActions {
            delete: vec![(path(), value())],
            ..Default::default()
        };
        assert!(delete.only_removes());
        let with_set = UpdateActions {
            set: vec![(
                path(),
                SetValue::Operand(SetOperand::Placeholder(":v".into())),
            )],
            ..remove.clone()
        };
        assert!(!with_set.only_removes());
        let with_add = UpdateActions {
            add: vec![(path(), value())],
            ..remove
        };
        assert!(!with_add.only_removes());
    }
}
