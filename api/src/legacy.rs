//! DynamoDB's legacy (pre-expression) request parameters — `Expected`, `QueryFilter`,
//! `ScanFilter`, `KeyConditions`, `ConditionalOperator`, `AttributeUpdates` and
//! `AttributesToGet` — converted into bound expression ASTs, so that one evaluator serves
//! both generations of the API.
//!
//! Every AST produced here is bound: values sit in `Operand::Value`/`SetOperand::Value`
//! and legacy attribute names are literal top-level names (a legacy name is never a
//! document path: `a.b` names the attribute called `a.b`).
//!
//! DynamoDB answers a legacy parameter in three stages, and so does each function here:
//!
//! 1. Deserialization (`SerializationException`): a member of the wrong JSON type, or an
//!    attribute value that does not deserialize. These win over everything else.
//! 2. Constraints (`ValidationException`, "N validation error(s) detected: ..."): enum
//!    members (`ComparisonOperator`, `ConditionalOperator`, `Action`), required members,
//!    list lengths, reported together.
//! 3. The semantic checks, first failure wins, in DynamoDB's order (per entry: attribute
//!    values, operand count, operand types, BETWEEN bounds).
//!
//! The messages are DynamoDB's, as recorded by dynalite's test suite (run against
//! DynamoDB) and its `validations/index.js`; see [`messages`] for each one's source. The
//! legacy semantics follow the Developer Guide's "Writing conditions with legacy
//! parameters" and dynalite's `db/index.js` `compare`.

use std::collections::HashSet;

use cirrus_storage::expression::parser::MAX_OPERATORS;
use cirrus_storage::expression::update;
use cirrus_storage::expression::{
    balanced_tree, Comparator, Condition, Operand, Path, PathElement, Projection, SetOperand,
    SetValue, UpdateActions,
};
use cirrus_storage::key_schema::MAX_KEY_PART_ATTRIBUTES;
use cirrus_storage::AttributeValue;
use serde_json::{Map, Value};

use crate::attribute_names::check_attribute_name;
use crate::error::ApiError;
use crate::wire::attribute_value::{messages as wire, parse_value};

/// DynamoDB's messages, verbatim.
///
/// Sources: dynalite `validations/index.js` (`validateAttributeConditions`,
/// `validateConditions`, `validateExpressionParams`), `validations/updateItem.js`,
/// `validations/query.js`, `actions/query.js`, and the tests that pin them against
/// DynamoDB: `test/putItem.js` (Expected), `test/updateItem.js` (AttributeUpdates,
/// Expected, mixing), `test/scan.js` (ScanFilter counts and types, mixing,
/// ConditionalOperator and ComparisonOperator constraints), `test/query.js`.
pub mod messages {
    pub const PREFIX: &str = "One or more parameter values were invalid: ";
    pub const SAME_TYPE: &str = "One or more parameter values were invalid: \
         AttributeValues inside AttributeValueList must be of same type";
    pub const BETWEEN_BOUNDS: &str = "The BETWEEN condition was provided a range where \
         the lower bound is greater than the upper bound";
    /// An AttributeUpdates ADD or DELETE onto an attribute of another type (DynamoDB's
    /// message, as ScyllaDB's tests run against DynamoDB and SDK users report it).
    pub const ATTRIBUTE_UPDATE_TYPE_MISMATCH: &str = "Type mismatch for attribute to update";
    pub const PUT_WITHOUT_VALUE: &str = "One or more parameter values were invalid: \
         Only DELETE action is allowed when no attribute value is specified";
    /// dynalite `validations/query.js`; DynamoDB checks the count before the key schema.
    pub const KEY_CONDITION_COUNT: &str = "Conditions can be of length 1 or 2 only";
    /// dynalite `actions/query.js`: NULL, NOT_NULL, NE, CONTAINS, NOT_CONTAINS and IN on
    /// a key attribute.
    pub const NOT_INDEXABLE: &str =
        "Attempted conditional constraint is not an indexable operation";
    /// The enum of `ConditionalOperator`, in DynamoDB's order (dynalite `test/scan.js`).
    pub const CONDITIONAL_OPERATORS: &[&str] = &["OR", "AND"];
    /// The enum of `ComparisonOperator`, in DynamoDB's order (dynalite `test/scan.js`).
    pub const COMPARISON_OPERATORS: &[&str] = &[
        "IN",
        "NULL",
        "BETWEEN",
        "LT",
        "NOT_CONTAINS",
        "EQ",
        "GT",
        "NOT_NULL",
        "NE",
        "LE",
        "BEGINS_WITH",
        "GE",
        "CONTAINS",
    ];
    /// The enum of `AttributeValueUpdate.Action`, in the API model's order.
    pub const ATTRIBUTE_ACTIONS: &[&str] = &["ADD", "PUT", "DELETE"];
    /// The most names `AttributesToGet` may list (dynalite `validations/getItem.js`,
    /// `query.js`, `scan.js`: `lengthLessThanOrEqual: 255`, taken from DynamoDB's model).
    pub const MAX_ATTRIBUTES_TO_GET: usize = 255;

    pub fn invalid_argument_count(operator: &str) -> String {
        format!("{PREFIX}Invalid number of argument(s) for the {operator} ComparisonOperator")
    }

    pub fn operator_not_valid_for_type(operator: &str, type_name: &str) -> String {
        format!(
            "{PREFIX}ComparisonOperator {operator} is not valid for {type_name} AttributeValue type"
        )
    }

    pub fn value_and_list(attribute: &str) -> String {
        format!(
            "{PREFIX}Value and AttributeValueList cannot be used together for Attribute: {attribute}"
        )
    }

    pub fn exists_and_operator(attribute: &str) -> String {
        format!(
            "{PREFIX}Exists and ComparisonOperator cannot be used together for Attribute: {attribute}"
        )
    }

    pub fn operator_without_value(operator: &str, attribute: &str) -> String {
        format!(
            "{PREFIX}Value or AttributeValueList must be used with ComparisonOperator: \
             {operator} for Attribute: {attribute}"
        )
    }

    pub fn list_without_operator(attribute: &str) -> String {
        format!(
            "{PREFIX}AttributeValueList can only be used with a ComparisonOperator for \
             Attribute: {attribute}"
        )
    }

    /// `exists` is how the request put it: "null" when `Exists` was absent, else "true".
    pub fn value_required(exists: &str, attribute: &str) -> String {
        format!("{PREFIX}Value must be provided when Exists is {exists} for Attribute: {attribute}")
    }

    pub fn value_with_exists_false(attribute: &str) -> String {
        format!("{PREFIX}Value cannot be used when Exists is false for Attribute: {attribute}")
    }

    pub fn delete_not_supported(type_name: &str) -> String {
        format!("{PREFIX}DELETE action with value is not supported for the type {type_name}")
    }

    pub fn add_not_supported(type_name: &str) -> String {
        format!("{PREFIX}ADD action is not supported for the type {type_name}")
    }

    pub fn duplicate_attribute_name(name: &str) -> String {
        format!("{PREFIX}Duplicate value in attribute name: {name}")
    }

    /// DynamoDB documents no limit of its own for legacy condition maps; a map stands for
    /// the expression it is translated into, so it gets that expression's limit and
    /// message, naming the parameter the request used.
    /// Like the expressions', the count is where DynamoDB stops: one past the limit.
    pub fn too_many_operators(parameter: &str) -> String {
        format!(
            "Invalid {parameter}: The expression contains too many operators; operator count: \
             {}",
            super::MAX_OPERATORS + 1
        )
    }

    pub fn mixed_parameters(legacy: &[&str], expressions: &[&str]) -> String {
        format!(
            "Can not use both expression and non-expression parameters in the same request: \
             Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            legacy.join(", "),
            expressions.join(", ")
        )
    }
}

use messages as msg;

/// Which filter parameter a request used: the constraint messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterParameter {
    QueryFilter,
    ScanFilter,
}

impl FilterParameter {
    /// The request parameter's name.
    pub fn name(self) -> &'static str {
        match self {
            FilterParameter::QueryFilter => "QueryFilter",
            FilterParameter::ScanFilter => "ScanFilter",
        }
    }

    /// The member name DynamoDB's constraint messages use.
    fn member(self) -> &'static str {
        match self {
            FilterParameter::QueryFilter => "queryFilter",
            FilterParameter::ScanFilter => "scanFilter",
        }
    }
}

/// `Expected` of PutItem, UpdateItem and DeleteItem, combined by `ConditionalOperator`
/// (AND when absent). `None` when the map is empty.
pub fn expected_to_condition(
    expected: &Value,
    conditional_operator: Option<&str>,
) -> Result<Option<Condition>, ApiError> {
    let entries = read_conditions(expected, "ExpectedAttributeValue", true)?;
    let mut violations = Violations::default();
    violations.conditional_operator(conditional_operator);
    violations.comparison_operators(&entries, "expected", false);
    violations.finish()?;
    check_operator_count("Expected", entries.len())?;
    let conditions = entries
        .into_iter()
        .map(expected_entry)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(combine(conditions, conditional_operator))
}

/// `QueryFilter` or `ScanFilter`, with constraint messages
/// that name `parameter`.
pub fn filter_to_condition(
    parameter: FilterParameter,
    filter: &Value,
    conditional_operator: Option<&str>,
) -> Result<Option<Condition>, ApiError> {
    let entries = read_conditions(filter, "Condition", false)?;
    let mut violations = Violations::default();
    violations.conditional_operator(conditional_operator);
    violations.comparison_operators(&entries, parameter.member(), true);
    violations.finish()?;
    check_operator_count(parameter.name(), entries.len())?;
    let conditions = entries
        .into_iter()
        .map(filter_entry)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(combine(conditions, conditional_operator))
}

/// Query's `KeyConditions`, as the AND of its one or two conditions. Only the operators
/// are checked here; the caller checks the conditions against the key schema (which
/// attributes, their types, EQ on the partition key).
pub fn key_conditions_to_condition(key_conditions: &Value) -> Result<Condition, ApiError> {
    let entries = read_conditions(key_conditions, "Condition", false)?;
    let mut violations = Violations::default();
    violations.comparison_operators(&entries, "keyConditions", true);
    violations.finish()?;
    let mut operators = Vec::with_capacity(entries.len());
    let mut conditions = Vec::with_capacity(entries.len());
    for entry in entries {
        operators.push(entry.operator);
        conditions.push(filter_entry(entry)?);
    }
    // DynamoDB validates every condition before it counts them, and only meets a
    // non-indexable operator when it walks the key schema, after all validation. A
    // global index's key has up to eight attributes; the queried key's own count is
    // checked once the key schema is known.
    if conditions.is_empty() || conditions.len() > 2 * MAX_KEY_PART_ATTRIBUTES {
        return Err(ApiError::validation(msg::KEY_CONDITION_COUNT));
    }
    if operators
        .iter()
        .flatten()
        .filter_map(|name| Operator::parse(name))
        .any(|operator| !operator.is_indexable())
    {
        return Err(ApiError::validation(msg::NOT_INDEXABLE));
    }
    combine(conditions, None)
        .ok_or_else(|| ApiError::Internal("key conditions vanished after counting".into()))
}

/// UpdateItem's `AttributeUpdates`, with the legacy semantics of each action: PUT (the
/// default) sets; DELETE without a value removes the attribute, DELETE with a set removes
/// its elements; ADD adds to a number or a set, and appends to a list.
pub fn attribute_updates_to_actions(updates: &Value) -> Result<UpdateActions, ApiError> {
    let entries = read_updates(updates)?;
    let mut violations = Violations::default();
    for entry in &entries {
        if let Some(action) = entry.action {
            if Action::parse(action).is_none() {
                violations.enum_value(
                    action,
                    &format!("attributeUpdates.{}.member.action", entry.attribute),
                    msg::ATTRIBUTE_ACTIONS,
                );
            }
        }
    }
    violations.finish()?;

    let mut actions = UpdateActions::default();
    for entry in entries {
        let path = attribute_path(entry.attribute);
        let action = entry.action.and_then(Action::parse).unwrap_or(Action::Put);
        let value = entry.value.transpose()?;
        match (action, value) {
            (Action::Delete, None) => actions.remove.push(path),
            (_, None) => return Err(ApiError::validation(msg::PUT_WITHOUT_VALUE)),
            (Action::Put, Some(value)) => actions
                .set
                .push((path, SetValue::Operand(SetOperand::Value(value)))),
            (Action::Delete, Some(value)) => {
                if !is_set(&value) {
                    return Err(ApiError::validation(msg::delete_not_supported(
                        value.type_name(),
                    )));
                }
                actions.delete.push((path, Operand::Value(value)));
            }
            (Action::Add, Some(value @ AttributeValue::L(_))) => {
                // Legacy ADD appends to a list, creating it when absent; the expression
                // language says that as SET a = list_append(if_not_exists(a, []), v).
                let existing = SetOperand::IfNotExists(
                    path.clone(),
                    Box::new(SetOperand::Value(AttributeValue::L(Vec::new()))),
                );
                let appended =
                    SetOperand::ListAppend(Box::new(existing), Box::new(SetOperand::Value(value)));
                actions.set.push((path, SetValue::Operand(appended)));
            }
            (Action::Add, Some(value)) => {
                if !matches!(value, AttributeValue::N(_)) && !is_set(&value) {
                    return Err(ApiError::validation(msg::add_not_supported(
                        value.type_name(),
                    )));
                }
                actions.add.push((path, Operand::Value(value)));
            }
        }
    }
    Ok(actions)
}

/// DynamoDB words an AttributeUpdates action on an attribute of the wrong type (ADD or
/// DELETE of a set onto another type) differently from the same update expression.
pub fn attribute_update_error(error: ApiError) -> ApiError {
    match error {
        ApiError::Validation(message) if message == update::WRONG_TYPE => {
            ApiError::validation(msg::ATTRIBUTE_UPDATE_TYPE_MISMATCH)
        }
        other => other,
    }
}

/// `AttributesToGet`: a non-empty list of distinct attribute names, each a top-level
/// attribute.
pub fn attributes_to_get_to_projection(names: &Value) -> Result<Projection, ApiError> {
    let elements = read_list(names)?;
    let names = elements
        .iter()
        .map(read_string)
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<&str> = names.into_iter().flatten().collect();
    names
        .iter()
        .try_for_each(|name| check_attribute_name(name))?;
    let mut violations = Violations::default();
    if names.is_empty() {
        violations.push(
            "'[]'",
            "attributesToGet",
            "Member must have length greater than or equal to 1",
        );
    }
    if names.len() > msg::MAX_ATTRIBUTES_TO_GET {
        violations.push(
            &format!("'[{}]'", names.join(", ")),
            "attributesToGet",
            &format!(
                "Member must have length less than or equal to {}",
                msg::MAX_ATTRIBUTES_TO_GET
            ),
        );
    }
    violations.finish()?;
    let mut seen = HashSet::with_capacity(names.len());
    if let Some(duplicate) = names.iter().find(|name| !seen.insert(**name)) {
        return Err(ApiError::validation(msg::duplicate_attribute_name(
            duplicate,
        )));
    }
    Ok(Projection(names.into_iter().map(attribute_path).collect()))
}

/// DynamoDB's rule that a request uses either legacy or expression parameters. Each list
/// holds `(parameter name, present in the request)` in the operation's order, which is
/// the order DynamoDB names them in.
///
/// One exception, as DynamoDB has it (dynalite `validateExpressionParams`): Query's
/// `KeyConditions` may accompany expression parameters as long as
/// `KeyConditionExpression` is not one of them.
pub fn reject_mixed(legacy: &[(&str, bool)], expressions: &[(&str, bool)]) -> Result<(), ApiError> {
    let present = |params: &[(&str, bool)]| -> Vec<String> {
        params
            .iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| (*name).to_owned())
            .collect()
    };
    let expression_names = present(expressions);
    if expression_names.is_empty() {
        return Ok(());
    }
    let key_condition_expression = expression_names
        .iter()
        .any(|name| name == "KeyConditionExpression");
    let legacy_names: Vec<String> = present(legacy)
        .into_iter()
        .filter(|name| key_condition_expression || name != "KeyConditions")
        .collect();
    if legacy_names.is_empty() {
        return Ok(());
    }
    let legacy_names: Vec<&str> = legacy_names.iter().map(String::as_str).collect();
    let expression_names: Vec<&str> = expression_names.iter().map(String::as_str).collect();
    Err(ApiError::validation(msg::mixed_parameters(
        &legacy_names,
        &expression_names,
    )))
}

// ---------------------------------------------------------------------------------------
// Operators and actions.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
    NotNull,
    Null,
    Contains,
    NotContains,
    BeginsWith,
    In,
    Between,
}

impl Operator {
    fn parse(name: &str) -> Option<Operator> {
        Some(match name {
            "EQ" => Operator::Eq,
            "NE" => Operator::Ne,
            "LE" => Operator::Le,
            "LT" => Operator::Lt,
            "GE" => Operator::Ge,
            "GT" => Operator::Gt,
            "NOT_NULL" => Operator::NotNull,
            "NULL" => Operator::Null,
            "CONTAINS" => Operator::Contains,
            "NOT_CONTAINS" => Operator::NotContains,
            "BEGINS_WITH" => Operator::BeginsWith,
            "IN" => Operator::In,
            "BETWEEN" => Operator::Between,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Operator::Eq => "EQ",
            Operator::Ne => "NE",
            Operator::Le => "LE",
            Operator::Lt => "LT",
            Operator::Ge => "GE",
            Operator::Gt => "GT",
            Operator::NotNull => "NOT_NULL",
            Operator::Null => "NULL",
            Operator::Contains => "CONTAINS",
            Operator::NotContains => "NOT_CONTAINS",
            Operator::BeginsWith => "BEGINS_WITH",
            Operator::In => "IN",
            Operator::Between => "BETWEEN",
        }
    }

    fn takes_arguments(self, count: usize) -> bool {
        match self {
            Operator::NotNull | Operator::Null => count == 0,
            Operator::In => count >= 1,
            Operator::Between => count == 2,
            _ => count == 1,
        }
    }

    /// The operand types DynamoDB accepts (dynalite `test/scan.js` "invalid
    /// ComparisonOperator types"). EQ and NE take every type: the API reference says
    /// they are "supported for all data types, including lists and maps". CONTAINS takes
    /// any element a list could hold, but no set, list or map.
    fn accepts(self, value: &AttributeValue) -> bool {
        let scalar = value.scalar_type().is_some();
        match self {
            Operator::Eq | Operator::Ne | Operator::NotNull | Operator::Null => true,
            Operator::Le
            | Operator::Lt
            | Operator::Ge
            | Operator::Gt
            | Operator::In
            | Operator::Between => scalar,
            Operator::BeginsWith => matches!(value, AttributeValue::S(_) | AttributeValue::B(_)),
            Operator::Contains | Operator::NotContains => !matches!(
                value,
                AttributeValue::Ss(_)
                    | AttributeValue::Ns(_)
                    | AttributeValue::Bs(_)
                    | AttributeValue::L(_)
                    | AttributeValue::M(_)
            ),
        }
    }

    /// Whether a key condition may use it (the operators of KeyConditionExpression).
    fn is_indexable(self) -> bool {
        matches!(
            self,
            Operator::Eq
                | Operator::Le
                | Operator::Lt
                | Operator::Ge
                | Operator::Gt
                | Operator::BeginsWith
                | Operator::Between
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Put,
    Add,
    Delete,
}

impl Action {
    fn parse(name: &str) -> Option<Action> {
        match name {
            "PUT" => Some(Action::Put),
            "ADD" => Some(Action::Add),
            "DELETE" => Some(Action::Delete),
            _ => None,
        }
    }
}

fn is_set(value: &AttributeValue) -> bool {
    matches!(
        value,
        AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
    )
}

// ---------------------------------------------------------------------------------------
// Conversion.

type ParsedValue = Result<AttributeValue, ApiError>;

/// One entry of `Expected`, a filter or `KeyConditions`, deserialized; attribute values
/// that failed validation are kept as errors, to be reported in DynamoDB's order.
struct RawCondition<'a> {
    attribute: &'a str,
    operator: Option<&'a str>,
    list: Option<Vec<ParsedValue>>,
    /// `Value` and `Exists` exist only in `Expected`.
    value: Option<ParsedValue>,
    exists: Option<bool>,
}

fn expected_entry(entry: RawCondition<'_>) -> Result<Condition, ApiError> {
    let attribute = entry.attribute;
    if entry.list.is_some() && entry.value.is_some() {
        return Err(ApiError::validation(msg::value_and_list(attribute)));
    }
    if let Some(operator) = entry.operator.and_then(Operator::parse) {
        if entry.exists.is_some() {
            return Err(ApiError::validation(msg::exists_and_operator(attribute)));
        }
        let arguments = match (entry.list, entry.value) {
            (Some(list), _) => list,
            (None, Some(value)) => vec![value],
            (None, None) => {
                if !matches!(operator, Operator::Null | Operator::NotNull) {
                    return Err(ApiError::validation(msg::operator_without_value(
                        operator.name(),
                        attribute,
                    )));
                }
                Vec::new()
            }
        };
        return comparison(attribute, operator, arguments);
    }
    if entry.list.is_some() {
        return Err(ApiError::validation(msg::list_without_operator(attribute)));
    }
    match (entry.exists, entry.value) {
        (Some(false), None) => Ok(Condition::AttributeNotExists(attribute_path(attribute))),
        (Some(false), Some(_)) => Err(ApiError::validation(msg::value_with_exists_false(
            attribute,
        ))),
        (exists, None) => Err(ApiError::validation(msg::value_required(
            if exists.is_some() { "true" } else { "null" },
            attribute,
        ))),
        (_, Some(value)) => comparison(attribute, Operator::Eq, vec![value]),
    }
}

fn filter_entry(entry: RawCondition<'_>) -> Result<Condition, ApiError> {
    // The constraint pass has rejected a missing or unknown operator already.
    let operator = entry
        .operator
        .and_then(Operator::parse)
        .ok_or_else(|| ApiError::Internal("unchecked ComparisonOperator".into()))?;
    comparison(entry.attribute, operator, entry.list.unwrap_or_default())
}

/// One legacy comparison, validated in DynamoDB's order: the values, their count, their
/// types being alike, each type against the operator, then BETWEEN's bounds.
fn comparison(
    attribute: &str,
    operator: Operator,
    arguments: Vec<ParsedValue>,
) -> Result<Condition, ApiError> {
    let arguments = arguments.into_iter().collect::<Result<Vec<_>, _>>()?;
    if !operator.takes_arguments(arguments.len()) {
        return Err(ApiError::validation(msg::invalid_argument_count(
            operator.name(),
        )));
    }
    if let Some(first) = arguments.first() {
        if arguments
            .iter()
            .any(|value| value.type_name() != first.type_name())
        {
            return Err(ApiError::validation(msg::SAME_TYPE));
        }
    }
    if let Some(value) = arguments.iter().find(|value| !operator.accepts(value)) {
        return Err(ApiError::validation(msg::operator_not_valid_for_type(
            operator.name(),
            value.type_name(),
        )));
    }

    if let (Operator::Between, [low, high]) = (operator, arguments.as_slice()) {
        if scalar_greater(low, high) {
            return Err(ApiError::validation(msg::BETWEEN_BOUNDS));
        }
    }

    let path = || Operand::Path(attribute_path(attribute));
    let mut arguments = arguments.into_iter().map(Operand::Value);
    let mut argument = || next_argument(&mut arguments);
    let compare = |comparator, value| Condition::Compare(path(), comparator, value);
    Ok(match operator {
        Operator::Eq => compare(Comparator::Eq, argument()?),
        // Legacy NE holds when the attribute is absent or of another type, which is
        // exactly "not equal" (dynalite `compare`; the Developer Guide's NE).
        Operator::Ne => Condition::Not(Box::new(compare(Comparator::Eq, argument()?))),
        Operator::Le => compare(Comparator::Le, argument()?),
        Operator::Lt => compare(Comparator::Lt, argument()?),
        Operator::Ge => compare(Comparator::Ge, argument()?),
        Operator::Gt => compare(Comparator::Gt, argument()?),
        Operator::NotNull => Condition::AttributeExists(attribute_path(attribute)),
        Operator::Null => Condition::AttributeNotExists(attribute_path(attribute)),
        Operator::Contains => Condition::Contains(path(), argument()?),
        // Unlike NE, NOT_CONTAINS fails on an absent attribute (ScyllaDB's tests, run
        // against DynamoDB): neither CONTAINS nor NOT_CONTAINS holds there.
        Operator::NotContains => Condition::And(
            Box::new(Condition::AttributeExists(attribute_path(attribute))),
            Box::new(Condition::Not(Box::new(Condition::Contains(
                path(),
                argument()?,
            )))),
        ),
        Operator::BeginsWith => Condition::BeginsWith(path(), argument()?),
        Operator::Between => Condition::Between(path(), argument()?, argument()?),
        Operator::In => Condition::In(path(), arguments.collect()),
    })
}

fn next_argument(arguments: &mut impl Iterator<Item = Operand>) -> Result<Operand, ApiError> {
    // The count was checked against the operator before any argument is taken.
    arguments
        .next()
        .ok_or_else(|| ApiError::Internal("legacy argument count unchecked".into()))
}

/// `low > high` for two scalars of one type, in DynamoDB's order: numbers numerically,
/// strings by their UTF-8 bytes, binaries bytewise.
fn scalar_greater(low: &AttributeValue, high: &AttributeValue) -> bool {
    match (low, high) {
        (AttributeValue::N(low), AttributeValue::N(high)) => low > high,
        (AttributeValue::S(low), AttributeValue::S(high)) => low.as_bytes() > high.as_bytes(),
        (AttributeValue::B(low), AttributeValue::B(high)) => low > high,
        _ => false,
    }
}

/// The conditions joined by AND (or OR), as a balanced tree: evaluation, binding and the
/// Raft log's encoding all walk it recursively.
fn combine(conditions: Vec<Condition>, conditional_operator: Option<&str>) -> Option<Condition> {
    let or = conditional_operator == Some("OR");
    balanced_tree(conditions, |left, right| {
        if or {
            Condition::Or(Box::new(left), Box::new(right))
        } else {
            Condition::And(Box::new(left), Box::new(right))
        }
    })
}

/// Refuses a map of more conditions than the expression it stands for may hold: each
/// entry is one comparison or function, joined to the next by one AND or OR. Checked
/// before any entry is converted.
fn check_operator_count(parameter: &str, entries: usize) -> Result<(), ApiError> {
    let operators = (2 * entries).saturating_sub(1);
    if operators > MAX_OPERATORS {
        return Err(ApiError::validation(msg::too_many_operators(parameter)));
    }
    Ok(())
}

fn attribute_path(name: &str) -> Path {
    Path(vec![PathElement::Attribute(name.to_owned())])
}

// ---------------------------------------------------------------------------------------
// Constraints: DynamoDB's "N validation error(s) detected" stage.

#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    /// DynamoDB lists at most this many violations (dynalite `checkValidations`).
    const MAX_REPORTED: usize = 10;

    fn push(&mut self, shown: &str, member: &str, constraint: &str) {
        if self.0.len() < Self::MAX_REPORTED {
            self.0.push(format!(
                "Value {shown} at '{member}' failed to satisfy constraint: {constraint}"
            ));
        }
    }

    fn enum_value(&mut self, value: &str, member: &str, allowed: &[&str]) {
        self.push(
            &format!("'{value}'"),
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        );
    }

    fn conditional_operator(&mut self, value: Option<&str>) {
        if let Some(value) = value {
            if !msg::CONDITIONAL_OPERATORS.contains(&value) {
                self.enum_value(value, "conditionalOperator", msg::CONDITIONAL_OPERATORS);
            }
        }
    }

    /// `required` for filters and key conditions, where `ComparisonOperator` must be set.
    fn comparison_operators(
        &mut self,
        entries: &[RawCondition<'_>],
        parameter: &str,
        required: bool,
    ) {
        for entry in entries {
            let member = format!("{parameter}.{}.member.comparisonOperator", entry.attribute);
            match entry.operator {
                None if required => {
                    self.push("null", &member, "Member must not be null");
                }
                Some(operator) if Operator::parse(operator).is_none() => {
                    self.enum_value(operator, &member, msg::COMPARISON_OPERATORS);
                }
                _ => {}
            }
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(ApiError::validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(ApiError::validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Deserialization, with DynamoDB's SerializationException messages. The wrong-shape
// messages follow those `wire::attribute_value` records for attribute values, with the
// legacy structures' class names in place of AttributeValue's.

const MODEL_PACKAGE: &str = "com.amazonaws.dynamodb.v20120810";

/// Entries of `Expected`, a filter or `KeyConditions`; `Value`/`Exists` are read only for
/// `Expected` (elsewhere DynamoDB ignores them as unknown members).
fn read_conditions<'a>(
    json: &'a Value,
    structure: &str,
    expected: bool,
) -> Result<Vec<RawCondition<'a>>, ApiError> {
    let mut entries = Vec::new();
    for (attribute, body) in read_map(json, structure)? {
        let fields = read_structure(body, structure)?;
        let member = |name: &str| fields.and_then(|fields| fields.get(name));
        let operator = member("ComparisonOperator")
            .map(read_string)
            .transpose()?
            .flatten();
        let list = member("AttributeValueList")
            .filter(|json| !json.is_null())
            .map(|json| read_list(json)?.iter().map(read_value).collect())
            .transpose()?;
        let (value, exists) = if expected {
            let value = member("Value")
                .filter(|json| !json.is_null())
                .map(read_value)
                .transpose()?;
            let exists = member("Exists").map(read_boolean).transpose()?.flatten();
            (value, exists)
        } else {
            (None, None)
        };
        entries.push(RawCondition {
            attribute,
            operator,
            list,
            value,
            exists,
        });
    }
    Ok(entries)
}

struct RawUpdate<'a> {
    attribute: &'a str,
    action: Option<&'a str>,
    value: Option<ParsedValue>,
}

fn read_updates(json: &Value) -> Result<Vec<RawUpdate<'_>>, ApiError> {
    const STRUCTURE: &str = "AttributeValueUpdate";
    let mut entries = Vec::new();
    for (attribute, body) in read_map(json, STRUCTURE)? {
        let fields = read_structure(body, STRUCTURE)?;
        let member = |name: &str| fields.and_then(|fields| fields.get(name));
        let action = member("Action").map(read_string).transpose()?.flatten();
        let value = member("Value")
            .filter(|json| !json.is_null())
            .map(read_value)
            .transpose()?;
        entries.push(RawUpdate {
            attribute,
            action,
            value,
        });
    }
    Ok(entries)
}

/// An attribute value; only a serialization error ends deserialization, a validation
/// error waits its turn.
fn read_value(json: &Value) -> Result<ParsedValue, ApiError> {
    match parse_value(json) {
        Err(error @ ApiError::Serialization(_)) => Err(error),
        result => Ok(result),
    }
}

/// A map of attribute names to `structure`s; `null` reads as an empty map.
fn read_map<'a>(json: &'a Value, structure: &str) -> Result<Vec<(&'a str, &'a Value)>, ApiError> {
    match json {
        Value::Object(fields) => fields
            .iter()
            .map(|(name, body)| check_attribute_name(name).map(|()| (name.as_str(), body)))
            .collect(),
        Value::Null => Ok(Vec::new()),
        Value::Array(_) => Err(ApiError::Serialization(format!(
            "Unrecognized collection type java.util.Map<java.lang.String, \
             {MODEL_PACKAGE}.{structure}>"
        ))),
        _ => Err(ApiError::Serialization(wire::UNEXPECTED_FIELD_TYPE.into())),
    }
}

/// A structure; `null` reads as one with no members set.
fn read_structure<'a>(
    json: &'a Value,
    structure: &str,
) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match json {
        Value::Object(fields) => Ok(Some(fields)),
        Value::Null => Ok(None),
        Value::Array(_) => Err(ApiError::Serialization(format!(
            "Unrecognized collection type class {MODEL_PACKAGE}.{structure}"
        ))),
        _ => Err(ApiError::Serialization(wire::UNEXPECTED_VALUE_TYPE.into())),
    }
}

fn read_list(json: &Value) -> Result<&[Value], ApiError> {
    match json {
        Value::Array(elements) => Ok(elements),
        Value::Object(_) => Err(ApiError::Serialization(wire::START_OF_STRUCTURE.into())),
        _ => Err(ApiError::Serialization(wire::UNEXPECTED_FIELD_TYPE.into())),
    }
}

/// A String member; `null` reads as absent.
fn read_string(json: &Value) -> Result<Option<&str>, ApiError> {
    match json {
        Value::String(text) => Ok(Some(text)),
        Value::Null => Ok(None),
        Value::Array(_) => Err(ApiError::Serialization(wire::LIST_FOR_STRING.into())),
        Value::Object(_) => Err(ApiError::Serialization(wire::START_OF_STRUCTURE.into())),
        scalar => Err(ApiError::Serialization(format!(
            "{} cannot be converted to String",
            token_name(scalar)
        ))),
    }
}

/// A Boolean member; `null` reads as absent. Like DynamoDB, takes the words true and
/// false in any case.
fn read_boolean(json: &Value) -> Result<Option<bool>, ApiError> {
    match json {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Value::String(_) => Err(ApiError::Serialization(wire::NOT_A_BOOLEAN_WORD.into())),
        Value::Array(_) => Err(ApiError::Serialization(wire::LIST_FOR_BOOLEAN.into())),
        Value::Object(_) => Err(ApiError::Serialization(wire::START_OF_STRUCTURE.into())),
        scalar => Err(ApiError::Serialization(format!(
            "{} cannot be converted to Boolean",
            token_name(scalar)
        ))),
    }
}

/// The JSON token name DynamoDB's deserializer reports for a scalar of the wrong type.
fn token_name(json: &Value) -> &'static str {
    match json {
        Value::Bool(true) => "TRUE_VALUE",
        Value::Bool(false) => "FALSE_VALUE",
        Value::Number(n) if n.is_f64() => "DECIMAL_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::String(_) => "STRING_VALUE",
        Value::Null => "VALUE_NULL",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cirrus_storage::Number;
    use serde_json::json;

    fn path(name: &str) -> Path {
        attribute_path(name)
    }

    fn attr(name: &str) -> Operand {
        Operand::Path(path(name))
    }

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.into())
    }

    fn n(text: &str) -> AttributeValue {
        match Number::parse(text) {
            Ok(number) => AttributeValue::N(number),
            Err(error) => panic!("bad test number {text}: {error}"),
        }
    }

    fn val(value: AttributeValue) -> Operand {
        Operand::Value(value)
    }

    fn validation_message<T: std::fmt::Debug>(result: Result<T, ApiError>) -> String {
        match result {
            Err(ApiError::Validation(message)) => message,
            other => panic!("expected a ValidationException, got {other:?}"),
        }
    }

    fn serialization_message<T: std::fmt::Debug>(result: Result<T, ApiError>) -> String {
        match result {
            Err(ApiError::Serialization(message)) => message,
            other => panic!("expected a SerializationException, got {other:?}"),
        }
    }

    fn expected(json: Value) -> Result<Option<Condition>, ApiError> {
        expected_to_condition(&json, None)
    }

    fn expected_ok(json: Value) -> Condition {
        match expected(json) {
            Ok(Some(condition)) => condition,
            other => panic!("expected a condition, got {other:?}"),
        }
    }

    fn scan_filter(json: Value) -> Result<Option<Condition>, ApiError> {
        filter_to_condition(FilterParameter::ScanFilter, &json, None)
    }

    fn scan_filter_ok(json: Value) -> Condition {
        match scan_filter(json) {
            Ok(Some(condition)) => condition,
            other => panic!("expected a condition, got {other:?}"),
        }
    }

    const P: &str = "One or more parameter values were invalid: ";

    // --- Expected: Value/Exists form -------------------------------------------------

    #[test]
    fn expected_value_alone_is_equality() {
        assert_eq!(
            expected_ok(json!({"a": {"Value": {"S": "x"}}})),
            Condition::Compare(attr("a"), Comparator::Eq, val(s("x")))
        );
        assert_eq!(
            expected_ok(json!({"a": {"Value": {"S": "x"}, "Exists": true}})),
            Condition::Compare(attr("a"), Comparator::Eq, val(s("x")))
        );
    }

    #[test]
    fn expected_exists_false_is_attribute_not_exists() {
        assert_eq!(
            expected_ok(json!({"a": {"Exists": false}})),
            Condition::AttributeNotExists(path("a"))
        );
    }

    #[test]
    fn expected_value_accepts_every_type() {
        assert_eq!(
            expected_ok(json!({"a": {"Value": {"BOOL": true}}})),
            Condition::Compare(attr("a"), Comparator::Eq, val(AttributeValue::Bool(true)))
        );
    }

    #[test]
    fn expected_exists_errors() {
        assert_eq!(
            validation_message(expected(json!({"a": {}}))),
            format!("{P}Value must be provided when Exists is null for Attribute: a")
        );
        assert_eq!(
            validation_message(expected(json!({"a": {"Exists": true}}))),
            format!("{P}Value must be provided when Exists is true for Attribute: a")
        );
        assert_eq!(
            validation_message(expected(
                json!({"a": {"Exists": false, "Value": {"S": "a"}}})
            )),
            format!("{P}Value cannot be used when Exists is false for Attribute: a")
        );
    }

    #[test]
    fn expected_exists_error_comes_before_the_value_error() {
        assert_eq!(
            validation_message(expected(json!({"a": {"Exists": false, "Value": {}}}))),
            format!("{P}Value cannot be used when Exists is false for Attribute: a")
        );
        assert_eq!(
            validation_message(expected(json!({"a": {"Value": {}}}))),
            wire::EMPTY_VALUE
        );
    }

    #[test]
    fn expected_structure_errors() {
        assert_eq!(
            validation_message(expected(json!({"a": {
                "AttributeValueList": [{"S": "a"}], "Value": {"S": "a"}, "ComparisonOperator": "LT"
            }}))),
            format!("{P}Value and AttributeValueList cannot be used together for Attribute: a")
        );
        assert_eq!(
            validation_message(expected(
                json!({"a": {"Exists": true, "ComparisonOperator": "LT"}})
            )),
            format!("{P}Exists and ComparisonOperator cannot be used together for Attribute: a")
        );
        assert_eq!(
            validation_message(expected(json!({"a": {"ComparisonOperator": "LT"}}))),
            format!(
                "{P}Value or AttributeValueList must be used with ComparisonOperator: LT \
                 for Attribute: a"
            )
        );
        assert_eq!(
            validation_message(expected(json!({"a": {"AttributeValueList": [{"S": "a"}]}}))),
            format!(
                "{P}AttributeValueList can only be used with a ComparisonOperator for Attribute: a"
            )
        );
        assert_eq!(
            validation_message(expected(
                json!({"a": {"Exists": true, "AttributeValueList": [{"S": "a"}]}})
            )),
            format!(
                "{P}AttributeValueList can only be used with a ComparisonOperator for Attribute: a"
            )
        );
    }

    // --- Expected: ComparisonOperator form -------------------------------------------

    #[test]
    fn expected_operator_with_value_or_list() {
        let eq = Condition::Compare(attr("a"), Comparator::Eq, val(s("x")));
        assert_eq!(
            expected_ok(
                json!({"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}})
            ),
            eq
        );
        assert_eq!(
            expected_ok(json!({"a": {"ComparisonOperator": "EQ", "Value": {"S": "x"}}})),
            eq
        );
        assert_eq!(
            expected_ok(json!({"a": {"ComparisonOperator": "NULL"}})),
            Condition::AttributeNotExists(path("a"))
        );
        assert_eq!(
            expected_ok(json!({"a": {"ComparisonOperator": "NOT_NULL"}})),
            Condition::AttributeExists(path("a"))
        );
    }

    #[test]
    fn expected_argument_counts() {
        for (body, operator) in [
            (
                json!({"AttributeValueList": [], "ComparisonOperator": "EQ"}),
                "EQ",
            ),
            (
                json!({"AttributeValueList": [{"S": "a"}], "ComparisonOperator": "NULL"}),
                "NULL",
            ),
            (
                json!({"AttributeValueList": [], "ComparisonOperator": "IN"}),
                "IN",
            ),
            (
                json!({"AttributeValueList": [{"N": "1"}, {"N": "10"}, {"N": "12"}], "ComparisonOperator": "BETWEEN"}),
                "BETWEEN",
            ),
            (
                json!({"Value": {"S": "a"}, "ComparisonOperator": "NULL"}),
                "NULL",
            ),
            (
                json!({"Value": {"S": "a"}, "ComparisonOperator": "BETWEEN"}),
                "BETWEEN",
            ),
        ] {
            assert_eq!(
                validation_message(expected(json!({ "a": body }))),
                format!("{P}Invalid number of argument(s) for the {operator} ComparisonOperator")
            );
        }
    }

    #[test]
    fn expected_operand_types_are_checked() {
        assert_eq!(
            validation_message(expected(
                json!({"a": {"ComparisonOperator": "LT", "AttributeValueList": [{"SS": ["a"]}]}})
            )),
            format!("{P}ComparisonOperator LT is not valid for SS AttributeValue type")
        );
        assert_eq!(
            validation_message(expected(
                json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"S": "a"}, {"N": "1"}]}})
            )),
            format!("{P}AttributeValues inside AttributeValueList must be of same type")
        );
        assert_eq!(
            validation_message(expected(
                json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "2"}, {"N": "1"}]}})
            )),
            msg::BETWEEN_BOUNDS
        );
    }

    #[test]
    fn expected_conditions_combine_with_and_by_default_and_or_on_request() {
        let json = json!({
            "a": {"Value": {"S": "x"}},
            "b": {"Exists": false},
            "c": {"ComparisonOperator": "GE", "Value": {"N": "1"}},
        });
        let a = Condition::Compare(attr("a"), Comparator::Eq, val(s("x")));
        let b = Condition::AttributeNotExists(path("b"));
        let c = Condition::Compare(attr("c"), Comparator::Ge, val(n("1")));
        let and = Condition::And(
            Box::new(Condition::And(Box::new(a.clone()), Box::new(b.clone()))),
            Box::new(c.clone()),
        );
        let or = Condition::Or(
            Box::new(Condition::Or(Box::new(a), Box::new(b))),
            Box::new(c),
        );
        assert_eq!(expected_to_condition(&json, None), Ok(Some(and.clone())));
        assert_eq!(expected_to_condition(&json, Some("AND")), Ok(Some(and)));
        assert_eq!(expected_to_condition(&json, Some("OR")), Ok(Some(or)));
    }

    #[test]
    fn empty_expected_is_no_condition_and_conditional_operator_alone_is_fine() {
        assert_eq!(expected_to_condition(&json!({}), Some("OR")), Ok(None));
        assert_eq!(expected_to_condition(&Value::Null, None), Ok(None));
        assert_eq!(
            expected_to_condition(&json!({"a": {"Exists": false}}), Some("OR")),
            Ok(Some(Condition::AttributeNotExists(path("a"))))
        );
    }

    #[test]
    fn invalid_conditional_operator_is_an_enum_violation() {
        assert_eq!(
            validation_message(expected_to_condition(&json!({}), Some("XOR"))),
            "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to \
             satisfy constraint: Member must satisfy enum value set: [OR, AND]"
        );
    }

    #[test]
    fn invalid_comparison_operator_in_expected_is_an_enum_violation() {
        assert_eq!(
            validation_message(expected(json!({"a": {"ComparisonOperator": "LIKE"}}))),
            "1 validation error detected: Value 'LIKE' at 'expected.a.member.comparisonOperator' \
             failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, \
             BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        );
    }

    #[test]
    fn constraint_violations_are_reported_together_before_semantic_errors() {
        let message = validation_message(expected_to_condition(
            &json!({"a": {}, "b": {"ComparisonOperator": "X"}}),
            Some("AN"),
        ));
        assert!(
            message.starts_with(
                "2 validation errors detected: Value 'AN' at 'conditionalOperator' failed"
            ),
            "{message}"
        );
        assert!(
            message.contains("Value 'X' at 'expected.b.member.comparisonOperator'"),
            "{message}"
        );
    }

    #[test]
    fn expected_serialization_errors_win() {
        assert_eq!(
            serialization_message(expected(json!({"a": {"Exists": 1}}))),
            "NUMBER_VALUE cannot be converted to Boolean"
        );
        assert_eq!(
            serialization_message(expected(json!({"a": {"Exists": "maybe"}}))),
            wire::NOT_A_BOOLEAN_WORD
        );
        assert_eq!(
            serialization_message(expected(json!({"a": {"ComparisonOperator": ["EQ"]}}))),
            wire::LIST_FOR_STRING
        );
        assert_eq!(
            serialization_message(expected(json!({"a": {"AttributeValueList": {"S": "a"}}}))),
            wire::START_OF_STRUCTURE
        );
        assert_eq!(
            serialization_message(expected(json!({"a": []}))),
            "Unrecognized collection type class \
             com.amazonaws.dynamodb.v20120810.ExpectedAttributeValue"
        );
        assert_eq!(
            serialization_message(expected(json!({"a": true}))),
            wire::UNEXPECTED_VALUE_TYPE
        );
        assert_eq!(
            serialization_message(expected(json!([]))),
            "Unrecognized collection type java.util.Map<java.lang.String, \
             com.amazonaws.dynamodb.v20120810.ExpectedAttributeValue>"
        );
        assert_eq!(
            serialization_message(expected(json!("a"))),
            wire::UNEXPECTED_FIELD_TYPE
        );
        // A bad value in a later entry wins over a validation error in an earlier one.
        assert_eq!(
            serialization_message(expected(json!({"a": {}, "b": {"Value": {"S": 1}}}))),
            "NUMBER_VALUE cannot be converted to String"
        );
    }

    // --- QueryFilter / ScanFilter ----------------------------------------------------

    #[test]
    fn filter_operators_convert() {
        let one = |operator: &str, value: Value| {
            scan_filter_ok(
                json!({"a": {"ComparisonOperator": operator, "AttributeValueList": [value]}}),
            )
        };
        assert_eq!(
            one("EQ", json!({"S": "x"})),
            Condition::Compare(attr("a"), Comparator::Eq, val(s("x")))
        );
        assert_eq!(
            one("NE", json!({"S": "x"})),
            Condition::Not(Box::new(Condition::Compare(
                attr("a"),
                Comparator::Eq,
                val(s("x"))
            )))
        );
        for (operator, comparator) in [
            ("LE", Comparator::Le),
            ("LT", Comparator::Lt),
            ("GE", Comparator::Ge),
            ("GT", Comparator::Gt),
        ] {
            assert_eq!(
                one(operator, json!({"N": "5"})),
                Condition::Compare(attr("a"), comparator, val(n("5")))
            );
        }
        assert_eq!(
            one("CONTAINS", json!({"S": "x"})),
            Condition::Contains(attr("a"), val(s("x")))
        );
        // NOT_CONTAINS is false for a missing attribute, unlike NE.
        assert_eq!(
            one("NOT_CONTAINS", json!({"N": "1"})),
            Condition::And(
                Box::new(Condition::AttributeExists(path("a"))),
                Box::new(Condition::Not(Box::new(Condition::Contains(
                    attr("a"),
                    val(n("1"))
                ))))
            )
        );
        assert_eq!(
            one("BEGINS_WITH", json!({"B": "YQ=="})),
            Condition::BeginsWith(attr("a"), val(AttributeValue::B(b"a".to_vec())))
        );
        assert_eq!(
            scan_filter_ok(json!({"a": {"ComparisonOperator": "IN",
                "AttributeValueList": [{"S": "x"}, {"S": "y"}]}})),
            Condition::In(attr("a"), vec![val(s("x")), val(s("y"))])
        );
        assert_eq!(
            scan_filter_ok(json!({"a": {"ComparisonOperator": "BETWEEN",
                "AttributeValueList": [{"N": "1"}, {"N": "1"}]}})),
            Condition::Between(attr("a"), val(n("1")), val(n("1")))
        );
        assert_eq!(
            scan_filter_ok(json!({"a": {"ComparisonOperator": "NULL"}})),
            Condition::AttributeNotExists(path("a"))
        );
        assert_eq!(
            scan_filter_ok(
                json!({"a": {"ComparisonOperator": "NOT_NULL", "AttributeValueList": []}})
            ),
            Condition::AttributeExists(path("a"))
        );
    }

    #[test]
    fn legacy_names_are_literal_attribute_names() {
        assert_eq!(
            scan_filter_ok(json!({"a.b[1]": {"ComparisonOperator": "NOT_NULL"}})),
            Condition::AttributeExists(Path(vec![PathElement::Attribute("a.b[1]".into())]))
        );
    }

    #[test]
    fn filter_argument_counts() {
        let cases = [
            json!({"a": {"ComparisonOperator": "EQ"}, "b": {"ComparisonOperator": "NULL"}}),
            json!({"a": {"ComparisonOperator": "EQ"}}),
            json!({"a": {"ComparisonOperator": "EQ", "AttributeValueList": []}}),
            json!({"a": {"ComparisonOperator": "NE"}}),
            json!({"a": {"ComparisonOperator": "LE"}}),
            json!({"a": {"ComparisonOperator": "LT"}}),
            json!({"a": {"ComparisonOperator": "GE"}}),
            json!({"a": {"ComparisonOperator": "GT"}}),
            json!({"a": {"ComparisonOperator": "CONTAINS"}}),
            json!({"a": {"ComparisonOperator": "NOT_CONTAINS"}}),
            json!({"a": {"ComparisonOperator": "BEGINS_WITH"}}),
            json!({"a": {"ComparisonOperator": "IN"}}),
            json!({"a": {"ComparisonOperator": "BETWEEN"}}),
            json!({"a": {"ComparisonOperator": "NULL", "AttributeValueList": [{"S": "a"}]}}),
            json!({"a": {"ComparisonOperator": "NOT_NULL", "AttributeValueList": [{"S": "a"}]}}),
            json!({"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}, {"S": "a"}]}}),
            json!({"a": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "a"}, {"S": "a"}]}}),
            json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"S": "a"}, {"S": "a"}, {"S": "a"}]}}),
        ];
        for case in cases {
            let operator = case["a"]["ComparisonOperator"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert_eq!(
                validation_message(scan_filter(case)),
                format!("{P}Invalid number of argument(s) for the {operator} ComparisonOperator")
            );
        }
    }

    #[test]
    fn filter_operand_types() {
        let rejected = [
            (
                vec!["LT", "LE", "GT", "GE", "IN"],
                vec![
                    json!({"BOOL": true}),
                    json!({"NULL": true}),
                    json!({"SS": ["a"]}),
                    json!({"NS": ["1"]}),
                    json!({"BS": ["abcd"]}),
                    json!({"M": {}}),
                    json!({"L": []}),
                ],
            ),
            (
                vec!["CONTAINS", "NOT_CONTAINS"],
                vec![
                    json!({"SS": ["a"]}),
                    json!({"NS": ["1"]}),
                    json!({"BS": ["abcd"]}),
                    json!({"M": {}}),
                    json!({"L": []}),
                ],
            ),
            (
                vec!["BEGINS_WITH"],
                vec![
                    json!({"N": "1"}),
                    json!({"BOOL": true}),
                    json!({"NULL": true}),
                    json!({"SS": ["a"]}),
                    json!({"NS": ["1"]}),
                    json!({"BS": ["abcd"]}),
                    json!({"M": {}}),
                    json!({"L": []}),
                ],
            ),
        ];
        for (operators, values) in rejected {
            for operator in operators {
                for value in &values {
                    let type_name = value
                        .as_object()
                        .and_then(|fields| fields.keys().next())
                        .cloned()
                        .unwrap_or_default();
                    assert_eq!(
                        validation_message(scan_filter(json!({"a": {
                            "ComparisonOperator": operator, "AttributeValueList": [value]
                        }}))),
                        format!("{P}ComparisonOperator {operator} is not valid for {type_name} AttributeValue type")
                    );
                }
            }
        }
        for pair in [
            json!([{"BOOL": true}, {"BOOL": true}]),
            json!([{"SS": ["a"]}, {"SS": ["a"]}]),
            json!([{"L": []}, {"L": []}]),
        ] {
            let type_name = pair[0]
                .as_object()
                .and_then(|fields| fields.keys().next())
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                validation_message(scan_filter(json!({"a": {
                    "ComparisonOperator": "BETWEEN", "AttributeValueList": pair
                }}))),
                format!("{P}ComparisonOperator BETWEEN is not valid for {type_name} AttributeValue type")
            );
        }
    }

    #[test]
    fn filter_accepted_operand_types() {
        for (operator, value) in [
            ("EQ", json!({"SS": ["a"]})),
            ("NE", json!({"NS": ["1"]})),
            ("EQ", json!({"BOOL": false})),
            ("EQ", json!({"L": [{"S": "a"}]})),
            ("CONTAINS", json!({"B": "YQ=="})),
            ("CONTAINS", json!({"BOOL": true})),
            ("BEGINS_WITH", json!({"B": "YQ=="})),
            ("IN", json!({"B": "YQ=="})),
        ] {
            assert!(
                scan_filter(
                    json!({"a": {"ComparisonOperator": operator, "AttributeValueList": [value]}})
                )
                .is_ok(),
                "{operator} {value}"
            );
        }
    }

    #[test]
    fn filter_same_type_and_between_bounds() {
        assert_eq!(
            validation_message(scan_filter(json!({"a": {"ComparisonOperator": "IN",
                "AttributeValueList": [{"S": "a"}, {"N": "1"}]}}))),
            msg::SAME_TYPE
        );
        assert_eq!(
            validation_message(scan_filter(json!({"a": {"ComparisonOperator": "IN",
                "AttributeValueList": [{"S": "a"}, {"SS": ["a"]}]}}))),
            msg::SAME_TYPE
        );
        for (low, high) in [
            (json!({"N": "10"}), json!({"N": "9"})),
            (json!({"S": "b"}), json!({"S": "a"})),
            (json!({"B": "Yg=="}), json!({"B": "YQ=="})),
        ] {
            assert_eq!(
                validation_message(scan_filter(json!({"a": {"ComparisonOperator": "BETWEEN",
                    "AttributeValueList": [low, high]}}))),
                msg::BETWEEN_BOUNDS
            );
        }
        // Numbers compare numerically, not as text.
        assert!(scan_filter(json!({"a": {"ComparisonOperator": "BETWEEN",
            "AttributeValueList": [{"N": "9"}, {"N": "10"}]}}))
        .is_ok());
    }

    #[test]
    fn filter_value_errors_come_before_count_errors() {
        assert_eq!(
            validation_message(scan_filter(json!({"a": {"ComparisonOperator": "EQ",
                "AttributeValueList": [{"N": "1"}, {"SS": []}, {}]}}))),
            wire::EMPTY_STRING_SET
        );
        assert_eq!(
            validation_message(scan_filter(json!({"a": {"ComparisonOperator": "EQ",
                "AttributeValueList": [{"N": "1"}, {"S": "a", "N": "1"}]}}))),
            wire::MULTIPLE_TYPES
        );
    }

    #[test]
    fn filter_constraints_name_the_parameter() {
        assert_eq!(
            validation_message(scan_filter(
                json!({"a": {"AttributeValueList": [{"S": "a"}]}})
            )),
            "1 validation error detected: Value null at 'scanFilter.a.member.comparisonOperator' \
             failed to satisfy constraint: Member must not be null"
        );
        let message = validation_message(filter_to_condition(
            FilterParameter::QueryFilter,
            &json!({"a": {}, "b": {"ComparisonOperator": ""}}),
            Some("AN"),
        ));
        assert_eq!(
            message,
            "3 validation errors detected: Value 'AN' at 'conditionalOperator' failed to satisfy \
             constraint: Member must satisfy enum value set: [OR, AND]; Value null at \
             'queryFilter.a.member.comparisonOperator' failed to satisfy constraint: Member must \
             not be null; Value '' at 'queryFilter.b.member.comparisonOperator' failed to satisfy \
             constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, \
             NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        );
    }

    #[test]
    fn filter_ignores_expected_only_members() {
        // `Value` and `Exists` are not members of Condition; DynamoDB ignores them.
        assert_eq!(
            scan_filter_ok(
                json!({"a": {"ComparisonOperator": "NOT_NULL", "Value": {"S": "a"}, "Exists": 3}})
            ),
            Condition::AttributeExists(path("a"))
        );
    }

    #[test]
    fn filters_combine_by_conditional_operator() {
        let json = json!({
            "a": {"ComparisonOperator": "NULL"},
            "b": {"ComparisonOperator": "NOT_NULL"},
        });
        let a = Condition::AttributeNotExists(path("a"));
        let b = Condition::AttributeExists(path("b"));
        assert_eq!(
            filter_to_condition(FilterParameter::ScanFilter, &json, Some("OR")),
            Ok(Some(Condition::Or(
                Box::new(a.clone()),
                Box::new(b.clone())
            )))
        );
        assert_eq!(
            filter_to_condition(FilterParameter::ScanFilter, &json, Some("OR")),
            Ok(Some(Condition::Or(
                Box::new(a.clone()),
                Box::new(b.clone())
            )))
        );
        assert_eq!(
            filter_to_condition(FilterParameter::QueryFilter, &json, None),
            Ok(Some(Condition::And(Box::new(a), Box::new(b))))
        );
        assert_eq!(
            filter_to_condition(FilterParameter::ScanFilter, &json!({}), Some("OR")),
            Ok(None)
        );
    }

    #[test]
    fn filter_serialization_errors() {
        assert_eq!(
            serialization_message(scan_filter(json!({"a": []}))),
            "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.Condition"
        );
        assert_eq!(
            serialization_message(scan_filter(json!({"a": {"ComparisonOperator": 1.5}}))),
            "DECIMAL_VALUE cannot be converted to String"
        );
        assert_eq!(
            serialization_message(scan_filter(json!({"a": {"ComparisonOperator": "EQ",
                "AttributeValueList": "x"}}))),
            wire::UNEXPECTED_FIELD_TYPE
        );
        assert_eq!(
            serialization_message(scan_filter(json!({"a": {"ComparisonOperator": "EQ",
                "AttributeValueList": [{"SS": []}, {"B": "!"}]}}))),
            "Base64 encoded length is expected a multiple of 4 bytes but found: 1"
        );
    }

    // --- KeyConditions ---------------------------------------------------------------

    #[test]
    fn key_conditions_convert() {
        assert_eq!(
            key_conditions_to_condition(&json!({
                "h": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
            })),
            Ok(Condition::Compare(attr("h"), Comparator::Eq, val(s("x"))))
        );
        assert_eq!(
            key_conditions_to_condition(&json!({
                "h": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
                "r": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "p"}]},
            })),
            Ok(Condition::And(
                Box::new(Condition::Compare(attr("h"), Comparator::Eq, val(s("x")))),
                Box::new(Condition::BeginsWith(attr("r"), val(s("p"))))
            ))
        );
        for operator in ["LE", "LT", "GE", "GT"] {
            assert!(key_conditions_to_condition(&json!({
                "r": {"ComparisonOperator": operator, "AttributeValueList": [{"N": "1"}]},
            }))
            .is_ok());
        }
        assert!(key_conditions_to_condition(&json!({
            "r": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "2"}]},
        }))
        .is_ok());
    }

    #[test]
    fn key_conditions_reject_non_indexable_operators() {
        for (operator, list) in [
            ("NE", json!([{"S": "a"}])),
            ("IN", json!([{"S": "a"}])),
            ("CONTAINS", json!([{"S": "a"}])),
            ("NOT_CONTAINS", json!([{"S": "a"}])),
            ("NULL", json!([])),
            ("NOT_NULL", json!([])),
        ] {
            assert_eq!(
                validation_message(key_conditions_to_condition(&json!({
                    "h": {"ComparisonOperator": operator, "AttributeValueList": list},
                }))),
                msg::NOT_INDEXABLE,
                "{operator}"
            );
        }
    }

    #[test]
    fn key_conditions_validate_conditions_before_counting_and_indexability() {
        assert_eq!(
            validation_message(key_conditions_to_condition(&json!({
                "h": {"ComparisonOperator": "NE"},
            }))),
            format!("{P}Invalid number of argument(s) for the NE ComparisonOperator")
        );
        assert_eq!(
            validation_message(key_conditions_to_condition(&json!({}))),
            msg::KEY_CONDITION_COUNT
        );
        assert_eq!(
            validation_message(key_conditions_to_condition(&json!({
                "a": {"ComparisonOperator": "NULL"},
                "b": {"ComparisonOperator": "NULL"},
                "c": {"ComparisonOperator": "NULL"},
                "d": {"ComparisonOperator": "NULL"},
                "e": {"ComparisonOperator": "NULL"},
                "f": {"ComparisonOperator": "NULL"},
                "g": {"ComparisonOperator": "NULL"},
                "h": {"ComparisonOperator": "NULL"},
                "i": {"ComparisonOperator": "NULL"},
            }))),
            msg::KEY_CONDITION_COUNT
        );
        assert_eq!(
            validation_message(key_conditions_to_condition(&json!({"h": {}}))),
            "1 validation error detected: Value null at 'keyConditions.h.member.comparisonOperator' \
             failed to satisfy constraint: Member must not be null"
        );
    }

    // --- AttributeUpdates ------------------------------------------------------------

    fn updates(json: Value) -> Result<UpdateActions, ApiError> {
        attribute_updates_to_actions(&json)
    }

    #[test]
    fn put_is_the_default_action() {
        let expected = UpdateActions {
            set: vec![(path("a"), SetValue::Operand(SetOperand::Value(s("x"))))],
            ..UpdateActions::default()
        };
        assert_eq!(
            updates(json!({"a": {"Value": {"S": "x"}}})),
            Ok(expected.clone())
        );
        assert_eq!(
            updates(json!({"a": {"Action": "PUT", "Value": {"S": "x"}}})),
            Ok(expected)
        );
    }

    #[test]
    fn delete_without_value_removes_and_with_a_set_removes_elements() {
        assert_eq!(
            updates(json!({"a": {"Action": "DELETE"}})),
            Ok(UpdateActions {
                remove: vec![path("a")],
                ..UpdateActions::default()
            })
        );
        assert_eq!(
            updates(json!({"a": {"Action": "DELETE", "Value": {"SS": ["x"]}}})),
            Ok(UpdateActions {
                delete: vec![(path("a"), val(AttributeValue::Ss(vec!["x".into()])))],
                ..UpdateActions::default()
            })
        );
    }

    #[test]
    fn add_numbers_and_sets_and_appends_lists() {
        assert_eq!(
            updates(json!({
                "n": {"Action": "ADD", "Value": {"N": "5"}},
                "s": {"Action": "ADD", "Value": {"NS": ["1"]}},
            })),
            Ok(UpdateActions {
                add: vec![
                    (path("n"), val(n("5"))),
                    (
                        path("s"),
                        val(AttributeValue::Ns(vec![match Number::parse("1") {
                            Ok(one) => one,
                            Err(error) => panic!("{error}"),
                        }]))
                    ),
                ],
                ..UpdateActions::default()
            })
        );
        let list = AttributeValue::L(vec![s("a"), n("1")]);
        assert_eq!(
            updates(json!({"l": {"Action": "ADD", "Value": {"L": [{"S": "a"}, {"N": "1"}]}}})),
            Ok(UpdateActions {
                set: vec![(
                    path("l"),
                    SetValue::Operand(SetOperand::ListAppend(
                        Box::new(SetOperand::IfNotExists(
                            path("l"),
                            Box::new(SetOperand::Value(AttributeValue::L(Vec::new())))
                        )),
                        Box::new(SetOperand::Value(list))
                    ))
                )],
                ..UpdateActions::default()
            })
        );
    }

    #[test]
    fn mixed_actions_land_in_their_clauses() {
        let actions = match updates(json!({
            "b": {"Action": "DELETE"},
            "c": {"Action": "DELETE", "Value": {"SS": ["a", "b"]}},
            "d": {"Action": "ADD", "Value": {"N": "5"}},
            "e": {"Action": "PUT", "Value": {"S": "x"}},
        })) {
            Ok(actions) => actions,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(actions.remove, vec![path("b")]);
        assert_eq!(actions.delete.len(), 1);
        assert_eq!(actions.add.len(), 1);
        assert_eq!(actions.set.len(), 1);
    }

    #[test]
    fn update_errors() {
        assert_eq!(
            validation_message(updates(json!({"a": {"x": "whatever"}}))),
            format!("{P}Only DELETE action is allowed when no attribute value is specified")
        );
        assert_eq!(
            validation_message(updates(json!({"a": {"Action": "ADD"}}))),
            format!("{P}Only DELETE action is allowed when no attribute value is specified")
        );
        for value in [
            json!({"S": "1"}),
            json!({"N": "1"}),
            json!({"B": "Yg=="}),
            json!({"NULL": true}),
            json!({"BOOL": true}),
            json!({"M": {}}),
            json!({"L": []}),
        ] {
            let type_name = value
                .as_object()
                .and_then(|fields| fields.keys().next())
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                validation_message(updates(json!({"a": {"Action": "DELETE", "Value": value}}))),
                format!("{P}DELETE action with value is not supported for the type {type_name}")
            );
        }
        for value in [
            json!({"S": "1"}),
            json!({"B": "Yg=="}),
            json!({"NULL": true}),
            json!({"BOOL": true}),
            json!({"M": {}}),
        ] {
            let type_name = value
                .as_object()
                .and_then(|fields| fields.keys().next())
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                validation_message(updates(json!({"a": {"Action": "ADD", "Value": value}}))),
                format!("{P}ADD action is not supported for the type {type_name}")
            );
        }
        assert_eq!(
            validation_message(updates(
                json!({"a": {"Action": "DELETE", "Value": {"SS": []}}})
            )),
            wire::EMPTY_STRING_SET
        );
    }

    #[test]
    fn invalid_action_is_an_enum_violation() {
        assert_eq!(
            validation_message(updates(
                json!({"a": {"Action": "APPEND", "Value": {"S": "x"}}})
            )),
            "1 validation error detected: Value 'APPEND' at 'attributeUpdates.a.member.action' \
             failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
        );
    }

    #[test]
    fn update_serialization_errors() {
        assert_eq!(
            serialization_message(updates(json!({"a": {"Action": true}}))),
            "TRUE_VALUE cannot be converted to String"
        );
        assert_eq!(
            serialization_message(updates(json!({"a": ["PUT"]}))),
            "Unrecognized collection type class \
             com.amazonaws.dynamodb.v20120810.AttributeValueUpdate"
        );
        assert_eq!(
            serialization_message(updates(
                json!({"a": {"Value": {"S": "x"}}, "b": {"Value": {"N": 1}}})
            )),
            "NUMBER_VALUE cannot be converted to String"
        );
        assert_eq!(updates(json!({})), Ok(UpdateActions::default()));
    }

    // --- AttributesToGet -------------------------------------------------------------

    #[test]
    fn attributes_to_get_become_top_level_paths() {
        assert_eq!(
            attributes_to_get_to_projection(&json!(["a", "b.c"])),
            Ok(Projection(vec![path("a"), path("b.c")]))
        );
    }

    #[test]
    fn attributes_to_get_errors() {
        assert_eq!(
            validation_message(attributes_to_get_to_projection(&json!([]))),
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy \
             constraint: Member must have length greater than or equal to 1"
        );
        assert_eq!(
            validation_message(attributes_to_get_to_projection(&json!(["a", "b", "a"]))),
            format!("{P}Duplicate value in attribute name: a")
        );
        assert_eq!(
            serialization_message(attributes_to_get_to_projection(&json!("a"))),
            wire::UNEXPECTED_FIELD_TYPE
        );
        assert_eq!(
            serialization_message(attributes_to_get_to_projection(&json!(["a", 1]))),
            "NUMBER_VALUE cannot be converted to String"
        );
    }

    // --- Mixing ----------------------------------------------------------------------

    #[test]
    fn mixing_legacy_and_expression_parameters_is_rejected_in_dynamodb_words() {
        assert_eq!(
            validation_message(reject_mixed(
                &[("AttributeUpdates", true), ("Expected", true)],
                &[("UpdateExpression", true), ("ConditionExpression", true)],
            )),
            "Can not use both expression and non-expression parameters in the same request: \
             Non-expression parameters: {AttributeUpdates, Expected} Expression parameters: \
             {UpdateExpression, ConditionExpression}"
        );
        assert_eq!(
            validation_message(reject_mixed(
                &[
                    ("AttributesToGet", true),
                    ("ScanFilter", true),
                    ("ConditionalOperator", true)
                ],
                &[("ProjectionExpression", true), ("FilterExpression", true)],
            )),
            "Can not use both expression and non-expression parameters in the same request: \
             Non-expression parameters: {AttributesToGet, ScanFilter, ConditionalOperator} \
             Expression parameters: {ProjectionExpression, FilterExpression}"
        );
        assert_eq!(
            validation_message(reject_mixed(
                &[("AttributesToGet", true)],
                &[("ProjectionExpression", true)],
            )),
            "Can not use both expression and non-expression parameters in the same request: \
             Non-expression parameters: {AttributesToGet} Expression parameters: \
             {ProjectionExpression}"
        );
    }

    #[test]
    fn one_generation_alone_is_fine() {
        assert_eq!(
            reject_mixed(&[("Expected", true)], &[("ConditionExpression", false)]),
            Ok(())
        );
        assert_eq!(
            reject_mixed(&[("Expected", false)], &[("ConditionExpression", true)]),
            Ok(())
        );
        assert_eq!(reject_mixed(&[], &[]), Ok(()));
    }

    #[test]
    fn key_conditions_may_accompany_expressions_other_than_key_condition_expression() {
        let legacy = [
            ("AttributesToGet", false),
            ("QueryFilter", false),
            ("ConditionalOperator", false),
            ("KeyConditions", true),
        ];
        assert_eq!(
            reject_mixed(
                &legacy,
                &[
                    ("ProjectionExpression", false),
                    ("FilterExpression", true),
                    ("KeyConditionExpression", false)
                ]
            ),
            Ok(())
        );
        assert_eq!(
            validation_message(reject_mixed(
                &legacy,
                &[
                    ("ProjectionExpression", false),
                    ("FilterExpression", true),
                    ("KeyConditionExpression", true)
                ]
            )),
            "Can not use both expression and non-expression parameters in the same request: \
             Non-expression parameters: {KeyConditions} Expression parameters: \
             {FilterExpression, KeyConditionExpression}"
        );
    }
}

#[cfg(test)]
#[path = "legacy_limits_tests.rs"]
mod limits_tests;
