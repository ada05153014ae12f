//! What Query and Scan share: reading a page of items DynamoDB's way — at most `Limit`
//! items evaluated and at most 1 MB read (item sizes before filtering), the filter
//! applied after reading, projection, Select, and LastEvaluatedKey.

use cirrus_partition::KeySchema;
use cirrus_storage::engine::StoredItem;
use cirrus_storage::expression::eval::evaluate;
use cirrus_storage::expression::projection::project;
use cirrus_storage::expression::{Condition, ExpressionKind, Projection};
use cirrus_storage::Item;
use serde::Deserialize;
use serde_json::{json, Value};

use super::items::decode_stored;
use crate::error::ApiError;
use crate::expressions::Placeholders;
use crate::legacy::{self, FilterParameter};
use crate::state::ApiState;
use crate::validation::Constraints;
use crate::wire::attribute_value::item_to_json;

/// DynamoDB stops a Query or Scan page after reading 1 MB.
const PAGE_BYTES: usize = 1024 * 1024;

pub const SELECT_VALUES: &[&str] = &[
    "ALL_ATTRIBUTES",
    "ALL_PROJECTED_ATTRIBUTES",
    "SPECIFIC_ATTRIBUTES",
    "COUNT",
];

/// Checks Select against the projection, as DynamoDB does for a table (no index).
pub fn check_select(
    select: Option<&str>,
    has_projection: bool,
    projection_parameter: &str,
) -> Result<(), ApiError> {
    match select {
        Some("ALL_PROJECTED_ATTRIBUTES") => Err(ApiError::validation(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        )),
        Some("SPECIFIC_ATTRIBUTES") if !has_projection => Err(ApiError::validation(format!(
            "SPECIFIC_ATTRIBUTES requires either the {projection_parameter} or the AttributesToGet parameter"
        ))),
        Some(select @ ("ALL_ATTRIBUTES" | "COUNT")) if has_projection => Err(ApiError::validation(format!(
            "Cannot specify the {projection_parameter} when choosing to get {select}"
        ))),
        _ => Ok(()),
    }
}

/// The parameters Query and Scan share.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReadOptions {
    pub index_name: Option<String>,
    pub filter_expression: Option<String>,
    pub projection_expression: Option<String>,
    pub expression_attribute_names: Option<Value>,
    pub expression_attribute_values: Option<Value>,
    pub attributes_to_get: Option<Value>,
    pub conditional_operator: Option<String>,
    pub select: Option<String>,
    pub limit: Option<i64>,
    pub exclusive_start_key: Option<Value>,
}

/// A read's bound expressions, from expression or legacy parameters.
pub struct BoundRead {
    pub key_condition: Option<Condition>,
    pub filter: Option<Condition>,
    pub projection: Option<Projection>,
}

/// Query's key condition, in either form; Scan has none.
#[derive(Default)]
pub struct KeyConditionInput<'a> {
    pub expression: Option<&'a str>,
    pub legacy: Option<&'a Value>,
}

impl ReadOptions {
    /// The members' own constraints, reported with the request's other violations.
    pub fn check(&self, constraints: &mut Constraints) {
        constraints.one_of(&self.select, "select", SELECT_VALUES);
        constraints.one_of(
            &self.conditional_operator,
            "conditionalOperator",
            legacy::messages::CONDITIONAL_OPERATORS,
        );
        constraints.at_least(self.limit, "limit", 1);
    }

    /// Binds the key condition, filter and projection, refusing legacy and expression
    /// parameters together, as DynamoDB does.
    pub fn bind(
        &self,
        state: &ApiState,
        key_condition: KeyConditionInput<'_>,
        legacy_filter: (FilterParameter, Option<&Value>),
    ) -> Result<BoundRead, ApiError> {
        let (filter_parameter, legacy_filter) = legacy_filter;
        legacy::reject_mixed(
            &[
                ("AttributesToGet", self.attributes_to_get.is_some()),
                (filter_parameter.name(), legacy_filter.is_some()),
                ("ConditionalOperator", self.conditional_operator.is_some()),
                ("KeyConditions", key_condition.legacy.is_some()),
            ],
            &[
                ("ProjectionExpression", self.projection_expression.is_some()),
                ("KeyConditionExpression", key_condition.expression.is_some()),
                ("FilterExpression", self.filter_expression.is_some()),
            ],
        )?;
        let has_projection =
            self.projection_expression.is_some() || self.attributes_to_get.is_some();
        check_select(
            self.select.as_deref(),
            has_projection,
            "ProjectionExpression",
        )?;
        let placeholders = Placeholders::parse(
            self.expression_attribute_names.as_ref(),
            self.expression_attribute_values.as_ref(),
            key_condition.expression.is_some()
                || self.filter_expression.is_some()
                || self.projection_expression.is_some(),
        )?;
        let mut binder = placeholders.binder(&state.expressions);
        let mut bound = BoundRead {
            key_condition: binder
                .condition(key_condition.expression, ExpressionKind::KeyCondition)?,
            filter: binder.condition(self.filter_expression.as_deref(), ExpressionKind::Filter)?,
            projection: binder.projection(self.projection_expression.as_deref())?,
        };
        binder.finish()?;
        if let Some(key_conditions) = key_condition.legacy {
            bound.key_condition = Some(legacy::key_conditions_to_condition(key_conditions)?);
        }
        if let Some(filter) = legacy_filter {
            bound.filter = legacy::filter_to_condition(
                filter_parameter,
                filter,
                self.conditional_operator.as_deref(),
            )?;
        }
        if let Some(names) = &self.attributes_to_get {
            bound.projection = Some(legacy::attributes_to_get_to_projection(names)?);
        }
        Ok(bound)
    }

    /// Secondary indexes come with their own issue; until then no table has one.
    pub fn refuse_index(&self) -> Result<(), ApiError> {
        match &self.index_name {
            Some(index) => Err(ApiError::validation(format!(
                "The table does not have the specified index: {index}"
            ))),
            None => Ok(()),
        }
    }

    pub fn count_only(&self) -> bool {
        self.select.as_deref() == Some("COUNT")
    }
}

pub struct Page<'a> {
    pub schema: &'a KeySchema,
    pub limit: Option<usize>,
    pub filter: Option<&'a Condition>,
    pub projection: Option<&'a Projection>,
    pub count_only: bool,
    items: Vec<Value>,
    count: usize,
    scanned: usize,
    bytes: usize,
    last_key: Option<Item>,
}

impl<'a> Page<'a> {
    pub fn new(
        schema: &'a KeySchema,
        limit: Option<i64>,
        filter: Option<&'a Condition>,
        projection: Option<&'a Projection>,
        count_only: bool,
    ) -> Self {
        Page {
            schema,
            limit: limit.map(|l| l.max(1) as usize),
            filter,
            projection,
            count_only,
            items: Vec::new(),
            count: 0,
            scanned: 0,
            bytes: 0,
            last_key: None,
        }
    }

    fn key_of(&self, item: &Item) -> Item {
        let mut key = Item::new();
        for attribute in
            std::iter::once(&self.schema.partition_key).chain(self.schema.sort_key.iter())
        {
            if let Some(value) = item.get(&attribute.name) {
                key.insert(attribute.name.clone(), value.clone());
            }
        }
        key
    }

    /// Takes one stored item; returns whether the page wants more.
    pub fn visit(&mut self, stored: &[u8]) -> Result<bool, ApiError> {
        let item = decode_stored(stored)?;
        self.scanned += 1;
        self.bytes +=
            StoredItem::size(stored).map_err(|e| ApiError::Internal(e.to_string()))? as usize;
        let matches = match self.filter {
            Some(filter) => evaluate(filter, &item)?,
            None => true,
        };
        if matches {
            self.count += 1;
            if !self.count_only {
                let shown = match self.projection {
                    Some(projection) => project(&item, &projection.0),
                    None => item.clone(),
                };
                self.items.push(item_to_json(&shown));
            }
        }
        let full =
            self.limit.is_some_and(|limit| self.scanned >= limit) || self.bytes >= PAGE_BYTES;
        if full {
            self.last_key = Some(self.key_of(&item));
        }
        Ok(!full)
    }

    pub fn response(self) -> Value {
        let mut response = json!({ "Count": self.count, "ScannedCount": self.scanned });
        if !self.count_only {
            response["Items"] = Value::Array(self.items);
        }
        if let Some(key) = self.last_key {
            response["LastEvaluatedKey"] = item_to_json(&key);
        }
        response
    }
}
