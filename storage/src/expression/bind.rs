//! Substitutes a request's ExpressionAttributeNames and ExpressionAttributeValues into
//! parsed expressions, and makes the checks DynamoDB makes once values are known but
//! before it reads the item: undefined placeholders, overlapping update paths hidden
//! behind `#name`s, operand types of literal values, BETWEEN bounds, and finally
//! names or values that no expression of the request used.
//!
//! One `Bindings` serves all the expressions of one request, because DynamoDB
//! reports unused names/values across the whole request, not per expression.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::ast::{
    Comparator, Condition, ExpressionError, ExpressionKind, Operand, Path, PathElement, Projection,
    SetOperand, SetValue, UpdateActions,
};
use super::eval::size_of;
use super::parser::{format_path, invalid, path_overlap_error};
use crate::value::AttributeValue;

/// The type names `attribute_type` accepts, in the order DynamoDB lists them.
const ATTRIBUTE_TYPES: &[&str] = &["B", "NULL", "SS", "BOOL", "L", "BS", "N", "NS", "S", "M"];

/// Placeholder substitution for one request.
pub struct Bindings<'a> {
    names: Option<&'a BTreeMap<String, String>>,
    values: Option<&'a BTreeMap<String, AttributeValue>>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

/// The first undefined name and value met while substituting one expression; DynamoDB
/// reports them only after looking at the whole expression.
#[derive(Default)]
struct Missing {
    name: Option<String>,
    value: Option<String>,
}

impl<'a> Bindings<'a> {
    pub fn new(
        names: Option<&'a BTreeMap<String, String>>,
        values: Option<&'a BTreeMap<String, AttributeValue>>,
    ) -> Self {
        Bindings {
            names,
            values,
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        }
    }

    /// Binds a condition, filter or key-condition expression.
    pub fn condition(
        &mut self,
        condition: &Condition,
        kind: ExpressionKind,
    ) -> Result<Condition, ExpressionError> {
        let mut missing = Missing::default();
        let mut first_missing = None;
        let bound = self.bind_condition(condition, &mut missing, &mut first_missing);
        // Conditions report whichever undefined placeholder comes first in the text.
        if let Some(message) = first_missing {
            return Err(invalid(kind, &message));
        }
        if let Some(message) = distinct_error(&bound) {
            return Err(invalid(kind, &message));
        }
        if let Some(message) = condition_value_error(&bound) {
            return Err(invalid(kind, &message));
        }
        Ok(bound)
    }

    /// Binds an UpdateExpression.
    pub fn update(&mut self, update: &UpdateActions) -> Result<UpdateActions, ExpressionError> {
        let kind = ExpressionKind::Update;
        let mut missing = Missing::default();
        let bound = UpdateActions {
            set: update
                .set
                .iter()
                .map(|(path, value)| {
                    let path = self.bind_path(path, &mut missing);
                    (path, self.bind_set_value(value, &mut missing))
                })
                .collect(),
            remove: update
                .remove
                .iter()
                .map(|path| self.bind_path(path, &mut missing))
                .collect(),
            add: update
                .add
                .iter()
                .map(|(path, operand)| {
                    let path = self.bind_path(path, &mut missing);
                    (path, self.bind_operand(operand, &mut missing))
                })
                .collect(),
            delete: update
                .delete
                .iter()
                .map(|(path, operand)| {
                    let path = self.bind_path(path, &mut missing);
                    (path, self.bind_operand(operand, &mut missing))
                })
                .collect(),
        };
        // Updates report all undefined names before any undefined value.
        if let Some(name) = missing.name {
            return Err(invalid(kind, &undefined_name(&name)));
        }
        if let Some(value) = missing.value {
            return Err(invalid(kind, &undefined_value(&value)));
        }
        let targets: Vec<&Path> = bound
            .set
            .iter()
            .map(|(path, _)| path)
            .chain(bound.remove.iter())
            .chain(bound.add.iter().map(|(path, _)| path))
            .chain(bound.delete.iter().map(|(path, _)| path))
            .collect();
        if let Some(message) = path_overlap_error(&targets) {
            return Err(invalid(kind, &message));
        }
        for (operator, actions) in [("ADD", &bound.add), ("DELETE", &bound.delete)] {
            for (_, operand) in actions {
                if let Operand::Value(value) = operand {
                    if let Some(message) = add_delete_operand_error(operator, value) {
                        return Err(invalid(kind, &message));
                    }
                }
            }
        }
        for (_, value) in &bound.set {
            if let Some(message) = set_value_error(value) {
                return Err(invalid(kind, &message));
            }
        }
        Ok(bound)
    }

    /// Binds a ProjectionExpression.
    pub fn projection(&mut self, projection: &Projection) -> Result<Projection, ExpressionError> {
        let kind = ExpressionKind::Projection;
        let mut missing = Missing::default();
        let bound = Projection(
            projection
                .0
                .iter()
                .map(|path| self.bind_path(path, &mut missing))
                .collect(),
        );
        if let Some(name) = missing.name {
            return Err(invalid(kind, &undefined_name(&name)));
        }
        if let Some(message) = path_overlap_error(&bound.0.iter().collect::<Vec<_>>()) {
            return Err(invalid(kind, &message));
        }
        Ok(bound)
    }

    /// Reports names or values that no expression of the request used. Names are
    /// checked first, as DynamoDB does.
    pub fn finish(self) -> Result<(), ExpressionError> {
        if let Some(names) = self.names {
            let unused: Vec<&str> = names
                .keys()
                .filter(|k| !self.used_names.contains(*k))
                .map(String::as_str)
                .collect();
            if !unused.is_empty() {
                return Err(ExpressionError(format!(
                    "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                    unused.join(", ")
                )));
            }
        }
        if let Some(values) = self.values {
            let unused: Vec<&str> = values
                .keys()
                .filter(|k| !self.used_values.contains(*k))
                .map(String::as_str)
                .collect();
            if !unused.is_empty() {
                return Err(ExpressionError(format!(
                    "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                    unused.join(", ")
                )));
            }
        }
        Ok(())
    }

    // -- substitution --

    fn bind_path(&mut self, path: &Path, missing: &mut Missing) -> Path {
        Path(
            path.0
                .iter()
                .map(|element| match element {
                    PathElement::Name(placeholder) => {
                        match self.names.and_then(|names| names.get(placeholder)) {
                            Some(name) => {
                                self.used_names.insert(placeholder.clone());
                                PathElement::Attribute(name.clone())
                            }
                            None => {
                                missing.name.get_or_insert_with(|| placeholder.clone());
                                // Keep the placeholder out of the bound AST; the
                                // caller fails before anything uses it.
                                PathElement::Attribute(String::new())
                            }
                        }
                    }
                    other => other.clone(),
                })
                .collect(),
        )
    }

    fn lookup_value(&mut self, placeholder: &str, missing: &mut Missing) -> AttributeValue {
        match self.values.and_then(|values| values.get(placeholder)) {
            Some(value) => {
                self.used_values.insert(placeholder.to_string());
                value.clone()
            }
            None => {
                missing.value.get_or_insert_with(|| placeholder.to_string());
                AttributeValue::Null
            }
        }
    }

    fn bind_operand(&mut self, operand: &Operand, missing: &mut Missing) -> Operand {
        match operand {
            Operand::Path(path) => Operand::Path(self.bind_path(path, missing)),
            Operand::Size(path) => Operand::Size(self.bind_path(path, missing)),
            Operand::Placeholder(placeholder) => {
                Operand::Value(self.lookup_value(placeholder, missing))
            }
            Operand::Value(value) => Operand::Value(value.clone()),
            Operand::ValueSize(value) => {
                Operand::ValueSize(Box::new(self.bind_operand(value, missing)))
            }
        }
    }

    /// Binds operands of a condition node, noting the first undefined placeholder in
    /// text order as the message to report.
    fn condition_operand(
        &mut self,
        operand: &Operand,
        missing: &mut Missing,
        first: &mut Option<String>,
    ) -> Operand {
        let before = (missing.name.is_some(), missing.value.is_some());
        let bound = self.bind_operand(operand, missing);
        if first.is_none() {
            if !before.0 {
                if let Some(name) = &missing.name {
                    *first = Some(undefined_name(name));
                }
            }
            if first.is_none() && !before.1 {
                if let Some(value) = &missing.value {
                    *first = Some(undefined_value(value));
                }
            }
        }
        bound
    }

    fn condition_path(
        &mut self,
        path: &Path,
        missing: &mut Missing,
        first: &mut Option<String>,
    ) -> Path {
        match self.condition_operand(&Operand::Path(path.clone()), missing, first) {
            Operand::Path(path) => path,
            _ => Path(Vec::new()),
        }
    }

    fn bind_condition(
        &mut self,
        condition: &Condition,
        missing: &mut Missing,
        first: &mut Option<String>,
    ) -> Condition {
        match condition {
            Condition::Compare(a, comparator, b) => {
                let a = self.condition_operand(a, missing, first);
                let b = self.condition_operand(b, missing, first);
                Condition::Compare(a, *comparator, b)
            }
            Condition::Between(a, low, high) => {
                let a = self.condition_operand(a, missing, first);
                let low = self.condition_operand(low, missing, first);
                let high = self.condition_operand(high, missing, first);
                Condition::Between(a, low, high)
            }
            Condition::In(a, candidates) => {
                let a = self.condition_operand(a, missing, first);
                let candidates = candidates
                    .iter()
                    .map(|c| self.condition_operand(c, missing, first))
                    .collect();
                Condition::In(a, candidates)
            }
            Condition::And(a, b) => {
                let a = self.bind_condition(a, missing, first);
                let b = self.bind_condition(b, missing, first);
                Condition::And(Box::new(a), Box::new(b))
            }
            Condition::Or(a, b) => {
                let a = self.bind_condition(a, missing, first);
                let b = self.bind_condition(b, missing, first);
                Condition::Or(Box::new(a), Box::new(b))
            }
            Condition::Not(a) => Condition::Not(Box::new(self.bind_condition(a, missing, first))),
            Condition::AttributeExists(path) => {
                Condition::AttributeExists(self.condition_path(path, missing, first))
            }
            Condition::AttributeNotExists(path) => {
                Condition::AttributeNotExists(self.condition_path(path, missing, first))
            }
            Condition::AttributeType(path, operand) => {
                let path = self.condition_path(path, missing, first);
                let operand = self.condition_operand(operand, missing, first);
                Condition::AttributeType(path, operand)
            }
            Condition::BeginsWith(a, b) => {
                let a = self.condition_operand(a, missing, first);
                let b = self.condition_operand(b, missing, first);
                Condition::BeginsWith(a, b)
            }
            Condition::Contains(a, b) => {
                let a = self.condition_operand(a, missing, first);
                let b = self.condition_operand(b, missing, first);
                Condition::Contains(a, b)
            }
            Condition::ValueType(value, operand) => {
                let value = self.condition_operand(value, missing, first);
                let operand = self.condition_operand(operand, missing, first);
                Condition::ValueType(value, operand)
            }
        }
    }

    fn bind_set_operand(&mut self, operand: &SetOperand, missing: &mut Missing) -> SetOperand {
        match operand {
            SetOperand::Path(path) => SetOperand::Path(self.bind_path(path, missing)),
            SetOperand::Value(value) => SetOperand::Value(value.clone()),
            SetOperand::Placeholder(placeholder) => {
                SetOperand::Value(self.lookup_value(placeholder, missing))
            }
            SetOperand::IfNotExists(path, fallback) => {
                let path = self.bind_path(path, missing);
                let fallback = self.bind_set_operand(fallback, missing);
                SetOperand::IfNotExists(path, Box::new(fallback))
            }
            SetOperand::ListAppend(a, b) => {
                let a = self.bind_set_operand(a, missing);
                let b = self.bind_set_operand(b, missing);
                SetOperand::ListAppend(Box::new(a), Box::new(b))
            }
        }
    }

    fn bind_set_value(&mut self, value: &SetValue, missing: &mut Missing) -> SetValue {
        match value {
            SetValue::Operand(a) => SetValue::Operand(self.bind_set_operand(a, missing)),
            SetValue::Plus(a, b) => {
                let a = self.bind_set_operand(a, missing);
                SetValue::Plus(a, self.bind_set_operand(b, missing))
            }
            SetValue::Minus(a, b) => {
                let a = self.bind_set_operand(a, missing);
                SetValue::Minus(a, self.bind_set_operand(b, missing))
            }
        }
    }
}

fn undefined_name(name: &str) -> String {
    format!(
        "An expression attribute name used in the document path is not defined; attribute \
         name: {name}"
    )
}

fn undefined_value(value: &str) -> String {
    format!(
        "An expression attribute value used in expression is not defined; attribute value: \
         {value}"
    )
}

fn comparator_symbol(comparator: Comparator) -> &'static str {
    match comparator {
        Comparator::Eq => "=",
        Comparator::Ne => "<>",
        Comparator::Lt => "<",
        Comparator::Le => "<=",
        Comparator::Gt => ">",
        Comparator::Ge => ">=",
    }
}

fn not_distinct(operator: &str, path: &Path) -> String {
    format!(
        "The first operand must be distinct from the remaining operands for this operator or \
         function; operator: {operator}, first operand: {}",
        format_path(path)
    )
}

/// DynamoDB rejects comparing a document path with itself (`a = a`, `contains(a, a)`);
/// it checks after substitution, so `#a = a` with `#a` → `a` is caught too.
fn distinct_error(condition: &Condition) -> Option<String> {
    match condition {
        Condition::Compare(Operand::Path(a), comparator, Operand::Path(b)) if a == b => {
            Some(not_distinct(comparator_symbol(*comparator), a))
        }
        Condition::BeginsWith(Operand::Path(a), Operand::Path(b)) if a == b => {
            Some(not_distinct("begins_with", a))
        }
        Condition::Contains(Operand::Path(a), Operand::Path(b)) if a == b => {
            Some(not_distinct("contains", a))
        }
        Condition::AttributeType(a, Operand::Path(b)) if a == b => {
            Some(not_distinct("attribute_type", a))
        }
        Condition::And(a, b) | Condition::Or(a, b) => {
            distinct_error(a).or_else(|| distinct_error(b))
        }
        Condition::Not(a) => distinct_error(a),
        _ => None,
    }
}

fn wrong_operand_type(function: &str, value: &AttributeValue) -> String {
    format!(
        "Incorrect operand type for operator or function; operator or function: {function}, \
         operand type: {}",
        value.type_name()
    )
}

/// Checks that need the literal values: operands of order comparisons and
/// begins_with, attribute_type's type name, and BETWEEN bounds. A literal of a type the
/// operator cannot take is an error in the request; an item attribute of such a type
/// only makes the comparison false (`eval`).
fn condition_value_error(condition: &Condition) -> Option<String> {
    if let Some(message) = unsized_constant(condition) {
        return Some(message);
    }
    match condition {
        Condition::And(a, b) | Condition::Or(a, b) => {
            condition_value_error(a).or_else(|| condition_value_error(b))
        }
        Condition::Not(a) => condition_value_error(a),
        Condition::Compare(a, comparator, b) => {
            let symbol = match comparator {
                Comparator::Lt => "<",
                Comparator::Le => "<=",
                Comparator::Gt => ">",
                Comparator::Ge => ">=",
                Comparator::Eq | Comparator::Ne => return None,
            };
            unordered_literal(symbol, [a, b])
        }
        Condition::Between(a, low, high) => {
            unordered_literal("BETWEEN", [a, low, high]).or_else(|| match (low, high) {
                (Operand::Value(low), Operand::Value(high)) => between_error(low, high),
                _ => None,
            })
        }
        Condition::BeginsWith(a, b) => [a, b].into_iter().find_map(|operand| match operand {
            Operand::Value(AttributeValue::S(_) | AttributeValue::B(_)) => None,
            Operand::Value(v) => Some(wrong_operand_type("begins_with", v)),
            _ => None,
        }),
        Condition::AttributeType(_, Operand::Value(value))
        | Condition::ValueType(_, Operand::Value(value)) => match value {
            AttributeValue::S(name) if ATTRIBUTE_TYPES.contains(&name.as_str()) => None,
            AttributeValue::S(name) => Some(format!(
                "Invalid attribute type name found; type: {name}, valid types: {{{}}}",
                ATTRIBUTE_TYPES.join(",")
            )),
            other => Some(wrong_operand_type("attribute_type", other)),
        },
        _ => None,
    }
}

/// The message for a `size()` of a constant that has no size, among one condition's
/// operands (not those of the conditions it joins).
fn unsized_constant(condition: &Condition) -> Option<String> {
    let unsized_value = |operand: &Operand| match operand {
        Operand::ValueSize(value) => match value.as_ref() {
            Operand::Value(value) if size_of(value).is_none() => {
                Some(wrong_operand_type("size", value))
            }
            _ => None,
        },
        _ => None,
    };
    match condition {
        Condition::Compare(a, _, b)
        | Condition::BeginsWith(a, b)
        | Condition::Contains(a, b)
        | Condition::ValueType(a, b) => unsized_value(a).or_else(|| unsized_value(b)),
        Condition::Between(a, low, high) => [a, low, high].into_iter().find_map(unsized_value),
        Condition::In(a, candidates) => {
            std::iter::once(a).chain(candidates).find_map(unsized_value)
        }
        _ => None,
    }
}

/// The message for the first literal among `operands` that is not a string, number or
/// binary, which are the only types `symbol` orders.
fn unordered_literal<'a>(
    symbol: &str,
    operands: impl IntoIterator<Item = &'a Operand>,
) -> Option<String> {
    operands.into_iter().find_map(|operand| match operand {
        Operand::Value(value) if value.scalar_type().is_none() => {
            Some(wrong_operand_type(symbol, value))
        }
        _ => None,
    })
}

fn between_error(low: &AttributeValue, high: &AttributeValue) -> Option<String> {
    let bounds = || {
        format!(
            "lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
            describe_value(low),
            describe_value(high)
        )
    };
    if low.type_name() != high.type_name() {
        return Some(format!(
            "The BETWEEN operator requires same data type for lower and upper bounds; {}",
            bounds()
        ));
    }
    let reversed = match (low, high) {
        (AttributeValue::N(a), AttributeValue::N(b)) => a > b,
        (AttributeValue::S(a), AttributeValue::S(b)) => a.as_bytes() > b.as_bytes(),
        (AttributeValue::B(a), AttributeValue::B(b)) => a > b,
        _ => false,
    };
    reversed.then(|| {
        format!(
            "The BETWEEN operator requires upper bound to be greater than or equal to lower \
             bound; {}",
            bounds()
        )
    })
}

/// DynamoDB's rendering of a value in BETWEEN messages: `{N:5}`, `{S:z}`, `{B:eg==}`.
fn describe_value(value: &AttributeValue) -> String {
    let body = match value {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        AttributeValue::B(b) => base64(b),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Null => "true".to_string(),
        AttributeValue::Ss(items) => format!("[{}]", items.join(", ")),
        AttributeValue::Ns(items) => {
            let items: Vec<String> = items.iter().map(ToString::to_string).collect();
            format!("[{}]", items.join(", "))
        }
        AttributeValue::Bs(items) => {
            let items: Vec<String> = items.iter().map(|b| base64(b)).collect();
            format!("[{}]", items.join(", "))
        }
        AttributeValue::L(items) => {
            let items: Vec<String> = items.iter().map(describe_value).collect();
            format!("[{}]", items.join(", "))
        }
        AttributeValue::M(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", describe_value(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    };
    format!("{{{}:{}}}", value.type_name(), body)
}

/// Standard padded base64, as DynamoDB prints binaries in messages. Small enough not to
/// warrant a dependency.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// DynamoDB's long type names, used in ADD/DELETE operand messages.
fn long_type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "STRING",
        AttributeValue::N(_) => "NUMBER",
        AttributeValue::B(_) => "BINARY",
        AttributeValue::Bool(_) => "BOOLEAN",
        AttributeValue::Null => "NULL",
        AttributeValue::Ss(_) => "STRING SET",
        AttributeValue::Ns(_) => "NUMBER SET",
        AttributeValue::Bs(_) => "BINARY SET",
        AttributeValue::L(_) => "LIST",
        AttributeValue::M(_) => "MAP",
    }
}

/// ADD takes a number or a set; DELETE only a set.
fn add_delete_operand_error(operator: &str, value: &AttributeValue) -> Option<String> {
    let allowed = match value {
        AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_) => true,
        AttributeValue::N(_) => operator == "ADD",
        _ => false,
    };
    if allowed {
        return None;
    }
    let mut message = String::new();
    let _ = write!(
        message,
        "Incorrect operand type for operator or function; operator: {operator}, operand type: \
         {}, typeSet: ALLOWED_FOR_{operator}_OPERAND",
        long_type_name(value)
    );
    Some(message)
}

/// Literal operands of `+`/`-` must be numbers and of list_append lists.
fn set_value_error(value: &SetValue) -> Option<String> {
    match value {
        SetValue::Operand(a) => set_operand_error(a),
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let operator = if matches!(value, SetValue::Plus(..)) {
                "+"
            } else {
                "-"
            };
            for operand in [a, b] {
                if let SetOperand::Value(v) = operand {
                    if !matches!(v, AttributeValue::N(_)) {
                        return Some(wrong_operand_type(operator, v));
                    }
                }
            }
            set_operand_error(a).or_else(|| set_operand_error(b))
        }
    }
}

fn set_operand_error(operand: &SetOperand) -> Option<String> {
    match operand {
        SetOperand::ListAppend(a, b) => {
            for inner in [a.as_ref(), b.as_ref()] {
                if let SetOperand::Value(v) = inner {
                    if !matches!(v, AttributeValue::L(_)) {
                        return Some(wrong_operand_type("list_append", v));
                    }
                }
            }
            set_operand_error(a).or_else(|| set_operand_error(b))
        }
        SetOperand::IfNotExists(_, fallback) => set_operand_error(fallback),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expression::parser::{parse_condition, parse_projection, parse_update};
    use crate::number::Number;

    fn names(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn values(pairs: &[(&str, AttributeValue)]) -> BTreeMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn n(text: &str) -> AttributeValue {
        match Number::parse(text) {
            Ok(number) => AttributeValue::N(number),
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_string())
    }

    fn attr(name: &str) -> Path {
        Path(vec![PathElement::Attribute(name.to_string())])
    }

    /// Parses and binds one condition with the given maps, then runs `finish`.
    fn bind_condition(
        text: &str,
        n: &BTreeMap<String, String>,
        v: &BTreeMap<String, AttributeValue>,
    ) -> Result<Condition, String> {
        let parsed = parse_condition(text, ExpressionKind::Filter).map_err(|e| e.0)?;
        let mut b = Bindings::new(Some(n), Some(v));
        let bound = b
            .condition(&parsed, ExpressionKind::Filter)
            .map_err(|e| e.0)?;
        b.finish().map_err(|e| e.0)?;
        Ok(bound)
    }

    fn bind_update(
        text: &str,
        n: &BTreeMap<String, String>,
        v: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateActions, String> {
        let parsed = parse_update(text).map_err(|e| e.0)?;
        let mut b = Bindings::new(Some(n), Some(v));
        let bound = b.update(&parsed).map_err(|e| e.0)?;
        b.finish().map_err(|e| e.0)?;
        Ok(bound)
    }

    fn has_placeholders_condition(c: &Condition) -> bool {
        let op = |o: &Operand| match o {
            Operand::Placeholder(_) => true,
            Operand::Path(p) | Operand::Size(p) => {
                p.0.iter().any(|e| matches!(e, PathElement::Name(_)))
            }
            Operand::Value(_) => false,
            Operand::ValueSize(value) => matches!(value.as_ref(), Operand::Placeholder(_)),
        };
        match c {
            Condition::Compare(a, _, b)
            | Condition::BeginsWith(a, b)
            | Condition::Contains(a, b)
            | Condition::ValueType(a, b) => op(a) || op(b),
            Condition::Between(a, b, c) => op(a) || op(b) || op(c),
            Condition::In(a, list) => op(a) || list.iter().any(op),
            Condition::And(a, b) | Condition::Or(a, b) => {
                has_placeholders_condition(a) || has_placeholders_condition(b)
            }
            Condition::Not(a) => has_placeholders_condition(a),
            Condition::AttributeExists(p) | Condition::AttributeNotExists(p) => {
                p.0.iter().any(|e| matches!(e, PathElement::Name(_)))
            }
            Condition::AttributeType(p, o) => {
                p.0.iter().any(|e| matches!(e, PathElement::Name(_))) || op(o)
            }
        }
    }

    #[test]
    fn substitutes_names_and_values() {
        let nm = names(&[("#a", "status"), ("#b", "x")]);
        let vm = values(&[(":v", s("on")), (":w", n("3"))]);
        let bound = bind_condition("#a = :v AND size(m.#b[2]) > :w", &nm, &vm);
        let expected = Condition::And(
            Box::new(Condition::Compare(
                Operand::Path(attr("status")),
                Comparator::Eq,
                Operand::Value(s("on")),
            )),
            Box::new(Condition::Compare(
                Operand::Size(Path(vec![
                    PathElement::Attribute("m".into()),
                    PathElement::Attribute("x".into()),
                    PathElement::Index(2),
                ])),
                Comparator::Gt,
                Operand::Value(n("3")),
            )),
        );
        assert_eq!(bound, Ok(expected.clone()));
        assert!(!has_placeholders_condition(&expected));
    }

    #[test]
    fn binding_is_idempotent_on_bound_asts() {
        let nm = names(&[("#a", "a")]);
        let vm = values(&[(":v", s("x"))]);
        let parsed = parse_condition("#a = :v", ExpressionKind::Condition).unwrap();
        let mut b = Bindings::new(Some(&nm), Some(&vm));
        let once = b.condition(&parsed, ExpressionKind::Condition).unwrap();
        let mut empty = Bindings::new(None, None);
        assert_eq!(
            empty.condition(&once, ExpressionKind::Condition),
            Ok(once.clone())
        );
        assert_eq!(empty.finish(), Ok(()));
    }

    #[test]
    fn undefined_names_and_values() {
        let none = BTreeMap::new();
        let nv = BTreeMap::new();
        assert_eq!(
            bind_condition("#Pictures.RearView = :a AND a = b", &none, &nv),
            Err(
                "Invalid FilterExpression: An expression attribute name used in the document \
                 path is not defined; attribute name: #Pictures"
                    .into()
            )
        );
        // The first undefined placeholder in text order wins in conditions.
        assert_eq!(
            bind_condition(":a < #b", &none, &nv),
            Err(
                "Invalid FilterExpression: An expression attribute value used in expression is \
                 not defined; attribute value: :a"
                    .into()
            )
        );
        assert_eq!(
            bind_condition("(a)between(b.c[45].#d)and(:a)", &none, &nv),
            Err(
                "Invalid FilterExpression: An expression attribute name used in the document \
                 path is not defined; attribute name: #d"
                    .into()
            )
        );
        // With no maps at all.
        let parsed = parse_condition("attribute_exists(:value)", ExpressionKind::Condition);
        assert!(parsed.is_err(), "requires a path");
        let parsed = parse_condition("a = :value", ExpressionKind::Condition).unwrap();
        let mut b = Bindings::new(None, None);
        assert_eq!(
            b.condition(&parsed, ExpressionKind::Condition)
                .map_err(|e| e.0),
            Err(
                "Invalid ConditionExpression: An expression attribute value used in expression \
                 is not defined; attribute value: :value"
                    .into()
            )
        );
        // Updates report names before values regardless of order.
        assert_eq!(
            bind_update("SET a = :missing, #n = b", &none, &nv),
            Err(
                "Invalid UpdateExpression: An expression attribute name used in the document \
                 path is not defined; attribute name: #n"
                    .into()
            )
        );
        assert_eq!(
            bind_update("SET a = :missing", &none, &nv),
            Err(
                "Invalid UpdateExpression: An expression attribute value used in expression is \
                 not defined; attribute value: :missing"
                    .into()
            )
        );
        let proj = parse_projection("a, #m").unwrap();
        let mut b = Bindings::new(None, None);
        assert_eq!(
            b.projection(&proj).map_err(|e| e.0),
            Err(
                "Invalid ProjectionExpression: An expression attribute name used in the document \
                 path is not defined; attribute name: #m"
                    .into()
            )
        );
    }

    #[test]
    fn unused_names_and_values_across_expressions() {
        let nm = names(&[("#a", "a"), ("#b", "b"), ("#unused", "u"), ("#zz", "z")]);
        let vm = values(&[(":v", s("x")), (":unused", s("y"))]);
        let condition = parse_condition("#a = :v", ExpressionKind::Condition).unwrap();
        let projection = parse_projection("#b").unwrap();
        let mut b = Bindings::new(Some(&nm), Some(&vm));
        b.condition(&condition, ExpressionKind::Condition).unwrap();
        b.projection(&projection).unwrap();
        assert_eq!(
            b.finish().map_err(|e| e.0),
            Err(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: \
                 {#unused, #zz}"
                    .into()
            )
        );
        let nm = names(&[("#a", "a")]);
        let mut b = Bindings::new(Some(&nm), Some(&vm));
        b.condition(&condition, ExpressionKind::Condition).unwrap();
        assert_eq!(
            b.finish().map_err(|e| e.0),
            Err(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: \
                 {:unused}"
                    .into()
            )
        );
        // A name used by a second expression counts as used.
        let vm = values(&[(":v", s("x"))]);
        let update = parse_update("SET #b = :v").unwrap();
        let nm = names(&[("#a", "a"), ("#b", "b")]);
        let mut b = Bindings::new(Some(&nm), Some(&vm));
        b.condition(&condition, ExpressionKind::Condition).unwrap();
        b.update(&update).unwrap();
        assert_eq!(b.finish(), Ok(()));
    }

    #[test]
    fn non_distinct_operands() {
        let nm = names(&[("#a", "a")]);
        let vm = values(&[(":views", s("x"))]);
        let message = |op: &str, path: &str| {
            Err(format!(
                "Invalid FilterExpression: The first operand must be distinct from the remaining \
                 operands for this operator or function; operator: {op}, first operand: {path}"
            ))
        };
        assert_eq!(
            bind_condition("a = a AND #a = b AND :views > a", &nm, &vm),
            message("=", "[a]")
        );
        let nm1 = names(&[("#a", "a")]);
        let empty = BTreeMap::new();
        assert_eq!(
            bind_condition("#a <> a", &nm1, &empty),
            message("<>", "[a]")
        );
        assert_eq!(bind_condition("a > #a", &nm1, &empty), message(">", "[a]"));
        assert_eq!(
            bind_condition("contains(ab.bc[1].a, ab.bc[1].#a)", &nm1, &empty),
            message("contains", "[ab, bc, [1], a]")
        );
        assert_eq!(
            bind_condition("begins_with(ab.bc[1].a, ab.bc[1].#a)", &nm1, &empty),
            message("begins_with", "[ab, bc, [1], a]")
        );
        let none = BTreeMap::new();
        assert_eq!(
            bind_condition("contains(name2, name2)", &none, &empty),
            message("contains", "[name2]")
        );
        // Values may repeat.
        let vm = values(&[(":a", s("x"))]);
        assert!(bind_condition(":a = :a", &none, &vm).is_ok());
    }

    #[test]
    fn function_value_types() {
        let none = BTreeMap::new();
        let wrong = |f: &str, t: &str| {
            Err(format!(
                "Invalid FilterExpression: Incorrect operand type for operator or function; \
                 operator or function: {f}, operand type: {t}"
            ))
        };
        let cases = [
            (n("1"), "N"),
            (AttributeValue::Bool(true), "BOOL"),
            (AttributeValue::Null, "NULL"),
            (AttributeValue::L(vec![]), "L"),
            (AttributeValue::M(BTreeMap::new()), "M"),
            (AttributeValue::Ss(vec!["1".into()]), "SS"),
        ];
        for (value, type_name) in cases {
            let vm = values(&[(":a", value.clone())]);
            assert_eq!(
                bind_condition("begins_with(a, :a)", &none, &vm),
                wrong("begins_with", type_name)
            );
            assert_eq!(
                bind_condition("begins_with(:a, a)", &none, &vm),
                wrong("begins_with", type_name)
            );
            assert_eq!(
                bind_condition("attribute_type(a, :a)", &none, &vm),
                wrong("attribute_type", type_name)
            );
        }
        for ok in [s("x"), AttributeValue::B(vec![1])] {
            let vm = values(&[(":a", ok)]);
            assert!(bind_condition("begins_with(a, :a)", &none, &vm).is_ok());
        }
        let vm = values(&[(":t", s("STRING"))]);
        assert_eq!(
            bind_condition("attribute_type(a, :t)", &none, &vm),
            Err(
                "Invalid FilterExpression: Invalid attribute type name found; type: STRING, \
                 valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
                    .into()
            )
        );
        for t in ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"] {
            let vm = values(&[(":t", s(t))]);
            assert!(
                bind_condition("attribute_type(a, :t)", &none, &vm).is_ok(),
                "{t}"
            );
        }
    }

    #[test]
    fn ordered_comparisons_take_only_scalar_literals() {
        let none = BTreeMap::new();
        let wrong = |f: &str, t: &str| {
            Err(format!(
                "Invalid FilterExpression: Incorrect operand type for operator or function; \
                 operator or function: {f}, operand type: {t}"
            ))
        };
        let unordered = [
            (AttributeValue::L(vec![]), "L"),
            (AttributeValue::M(BTreeMap::new()), "M"),
            (AttributeValue::Bool(true), "BOOL"),
            (AttributeValue::Null, "NULL"),
            (AttributeValue::Ss(vec!["1".into()]), "SS"),
        ];
        for (value, type_name) in unordered {
            let vm = values(&[(":v", value.clone()), (":n", n("1"))]);
            for symbol in ["<", "<=", ">", ">="] {
                assert_eq!(
                    bind_condition(&format!("a {symbol} :v"), &none, &vm),
                    wrong(symbol, type_name)
                );
                assert_eq!(
                    bind_condition(&format!(":v {symbol} a"), &none, &vm),
                    wrong(symbol, type_name)
                );
            }
            assert_eq!(
                bind_condition("a BETWEEN :v AND :v", &none, &vm),
                wrong("BETWEEN", type_name)
            );
            assert_eq!(
                bind_condition(":v BETWEEN :n AND a", &none, &vm),
                wrong("BETWEEN", type_name)
            );
            // Equality takes any type.
            assert!(bind_condition("a = :v AND a <> :n", &none, &vm).is_ok());
        }
        for ok in [s("x"), n("1"), AttributeValue::B(vec![1])] {
            let vm = values(&[(":v", ok)]);
            assert!(bind_condition("a < :v AND :v >= b", &none, &vm).is_ok());
        }
    }

    #[test]
    fn between_bounds() {
        let none = BTreeMap::new();
        let reversed = |lo: &str, hi: &str| {
            Err(format!(
                "Invalid FilterExpression: The BETWEEN operator requires upper bound to be \
                 greater than or equal to lower bound; lower bound operand: AttributeValue: {lo}, \
                 upper bound operand: AttributeValue: {hi}"
            ))
        };
        let vm = values(&[(":lo", n("5")), (":hi", n("4"))]);
        assert_eq!(
            bind_condition("a BETWEEN :lo AND :hi", &none, &vm),
            reversed("{N:5}", "{N:4}")
        );
        let vm = values(&[(":lo", n("-1")), (":hi", n("-10"))]);
        assert_eq!(
            bind_condition("a BETWEEN :lo AND :hi", &none, &vm),
            reversed("{N:-1}", "{N:-10}")
        );
        let vm = values(&[(":lo", s("z")), (":hi", s("a"))]);
        assert_eq!(
            bind_condition("a BETWEEN :lo AND :hi", &none, &vm),
            reversed("{S:z}", "{S:a}")
        );
        let vm = values(&[
            (":lo", AttributeValue::B(b"z".to_vec())),
            (":hi", AttributeValue::B(b"a".to_vec())),
        ]);
        assert_eq!(
            bind_condition("a BETWEEN :lo AND :hi", &none, &vm),
            reversed("{B:eg==}", "{B:YQ==}")
        );
        let vm = values(&[(":lo", n("1")), (":hi", s("a"))]);
        assert_eq!(
            bind_condition("a BETWEEN :lo AND :hi", &none, &vm),
            Err(
                "Invalid FilterExpression: The BETWEEN operator requires same data type for \
                 lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound \
                 operand: AttributeValue: {S:a}"
                    .into()
            )
        );
        for (lo, hi) in [
            (n("5"), n("5")),
            (n("4"), n("5")),
            (s("a"), s("b")),
            (n("9"), n("10")),
        ] {
            let vm = values(&[(":lo", lo), (":hi", hi)]);
            assert!(bind_condition("a BETWEEN :lo AND :hi", &none, &vm).is_ok());
        }
        // A path bound is only known at evaluation time.
        let vm = values(&[(":lo", n("5"))]);
        assert!(bind_condition("a BETWEEN :lo AND b", &none, &vm).is_ok());
    }

    #[test]
    fn update_binding() {
        let nm = names(&[("#n", "count"), ("#l", "list")]);
        let vm = values(&[
            (":one", n("1")),
            (":tail", AttributeValue::L(vec![s("x")])),
            (":set", AttributeValue::Ss(vec!["a".into()])),
        ]);
        let bound = bind_update(
            "SET #n = #n + :one, #l = list_append(#l, :tail) ADD s :set DELETE t :set",
            &nm,
            &vm,
        )
        .unwrap();
        assert_eq!(
            bound.set[0],
            (
                attr("count"),
                SetValue::Plus(SetOperand::Path(attr("count")), SetOperand::Value(n("1")))
            )
        );
        assert_eq!(
            bound.add,
            vec![(
                attr("s"),
                Operand::Value(AttributeValue::Ss(vec!["a".into()]))
            )]
        );
        assert_eq!(bound.delete.len(), 1);
    }

    #[test]
    fn update_overlaps_after_substitution() {
        let nm = names(&[("#attribute", "fieldx")]);
        let vm = values(&[(":value", s("new"))]);
        assert_eq!(
            bind_update("SET #attribute = :value, fieldx = :value", &nm, &vm),
            Err(
                "Invalid UpdateExpression: Two document paths overlap with each other; must \
                 remove or rewrite one of these paths; path one: [fieldx], path two: [fieldx]"
                    .into()
            )
        );
        let vm = values(&[(":s", s("new")), (":o", s("other"))]);
        let empty = BTreeMap::new();
        assert_eq!(
            bind_update("SET fieldx = :s, fieldx = :o", &empty, &vm),
            Err(
                "Invalid UpdateExpression: Two document paths overlap with each other; must \
                 remove or rewrite one of these paths; path one: [fieldx], path two: [fieldx]"
                    .into()
            )
        );
        let nm = names(&[("#m", "m")]);
        let vm = values(&[(":v", s("x"))]);
        assert_eq!(
            bind_update("SET #m.a = :v REMOVE m[0]", &nm, &vm),
            Err(
                "Invalid UpdateExpression: Two document paths conflict with each other; must \
                 remove or rewrite one of these paths; path one: [m, a], path two: [m, [0]]"
                    .into()
            )
        );
        let nm = names(&[("#a", "a")]);
        let proj = parse_projection("#a, a.b").unwrap();
        let mut b = Bindings::new(Some(&nm), None);
        assert_eq!(
            b.projection(&proj).map_err(|e| e.0),
            Err(
                "Invalid ProjectionExpression: Two document paths overlap with each other; must \
                 remove or rewrite one of these paths; path one: [a], path two: [a, b]"
                    .into()
            )
        );
    }

    #[test]
    fn add_and_delete_operand_types() {
        let empty = BTreeMap::new();
        let cases = [
            ("ADD", s("a"), "STRING"),
            ("ADD", AttributeValue::L(vec![n("1")]), "LIST"),
            ("ADD", AttributeValue::M(BTreeMap::new()), "MAP"),
            ("ADD", AttributeValue::Bool(true), "BOOLEAN"),
            ("ADD", AttributeValue::Null, "NULL"),
            ("ADD", AttributeValue::B(vec![1]), "BINARY"),
            ("DELETE", s("a"), "STRING"),
            ("DELETE", n("1"), "NUMBER"),
        ];
        for (operator, value, type_name) in cases {
            let vm = values(&[(":v", value)]);
            assert_eq!(
                bind_update(&format!("{operator} x :v"), &empty, &vm),
                Err(format!(
                    "Invalid UpdateExpression: Incorrect operand type for operator or function; \
                     operator: {operator}, operand type: {type_name}, typeSet: \
                     ALLOWED_FOR_{operator}_OPERAND"
                ))
            );
        }
        for (operator, value) in [
            ("ADD", n("1")),
            ("ADD", AttributeValue::Ns(vec![])),
            ("DELETE", AttributeValue::Bs(vec![vec![1]])),
            ("DELETE", AttributeValue::Ss(vec!["a".into()])),
        ] {
            let vm = values(&[(":v", value)]);
            assert!(bind_update(&format!("{operator} x :v"), &empty, &vm).is_ok());
        }
    }

    #[test]
    fn arithmetic_and_list_append_operand_types() {
        let empty = BTreeMap::new();
        let wrong = |f: &str, t: &str| {
            Err(format!(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; \
                 operator or function: {f}, operand type: {t}"
            ))
        };
        let vm = values(&[(":v", s("x"))]);
        assert_eq!(bind_update("SET a = b + :v", &empty, &vm), wrong("+", "S"));
        assert_eq!(bind_update("SET a = :v - b", &empty, &vm), wrong("-", "S"));
        assert_eq!(
            bind_update("SET a = list_append(a, :v)", &empty, &vm),
            wrong("list_append", "S")
        );
        assert_eq!(
            bind_update("SET a = if_not_exists(a, list_append(:v, b))", &empty, &vm),
            wrong("list_append", "S")
        );
        let vm = values(&[(":v", n("2"))]);
        assert!(bind_update("SET a = b + :v", &empty, &vm).is_ok());
        // ADD/DELETE operand errors come before SET function errors.
        let vm = values(&[(":v", s("x"))]);
        assert_eq!(
            bind_update("SET a = b + :v ADD c :v", &empty, &vm),
            Err(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; \
                 operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND"
                    .into()
            )
        );
    }

    #[test]
    fn base64_matches_the_standard_encoding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
    }

    #[test]
    fn describes_values() {
        assert_eq!(describe_value(&AttributeValue::Bool(false)), "{BOOL:false}");
        assert_eq!(
            describe_value(&AttributeValue::Ss(vec!["a".into(), "b".into()])),
            "{SS:[a, b]}"
        );
    }
}
