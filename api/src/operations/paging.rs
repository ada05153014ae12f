//! What Query and Scan share: reading a page of items DynamoDB's way — at most `Limit`
//! items evaluated and at most 1 MB read (item sizes before filtering), the filter
//! applied after reading, projection, Select, and LastEvaluatedKey.

use cirrus_partition::KeySchema;
use cirrus_storage::engine::StoredItem;
use cirrus_storage::expression::eval::evaluate;
use cirrus_storage::expression::projection::project;
use cirrus_storage::expression::{Condition, Projection};
use cirrus_storage::Item;
use serde_json::{json, Value};

use super::items::decode_stored;
use crate::error::ApiError;
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

pub fn check_limit(constraints: &mut Constraints, limit: Option<i64>) {
    constraints.at_least(limit, "limit", 1);
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
