//! What Query and Scan share: reading a page of items DynamoDB's way — at most `Limit`
//! items evaluated and at most 1 MB read (item sizes before filtering), the filter
//! applied after reading, projection, Select, and LastEvaluatedKey.

use cirrus_cluster::Scanned;
use cirrus_cluster::Table;
use cirrus_partition::capacity::{read_units, ReadConsistency};
use cirrus_partition::{IndexDescriptor, IndexKind, KeySchema, Projected};
use cirrus_storage::engine::StoredItem;
use cirrus_storage::expression::eval::evaluate;
use cirrus_storage::expression::{
    Condition, ExpressionKind, Operand, Path, PathElement, Projection,
};
use cirrus_storage::Item;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capacity::{charge_read, Detail, RETURN_CONSUMED_CAPACITY};
use crate::error::ApiError;
use crate::expressions::Placeholders;
use crate::keys::{encode_key, EncodedKey};
use crate::legacy::{self, FilterParameter};
use crate::state::ApiState;
use crate::validation::Constraints;
use crate::wire::attribute_value::parse_item;
use crate::wire::item_json::{
    decode_stored, response_body, ItemJson, StoredItems, StoredItemsJson,
};
use cirrus_partition::hashing::partition_key_hash;
use cirrus_storage::engine::append_table_key;

/// DynamoDB stops a Query or Scan page after reading 1 MB.
const PAGE_BYTES: usize = 1024 * 1024;

pub const SELECT_VALUES: &[&str] = &[
    "ALL_ATTRIBUTES",
    "ALL_PROJECTED_ATTRIBUTES",
    "SPECIFIC_ATTRIBUTES",
    "COUNT",
];

/// Checks Select against the projection (`projection_parameter` names the parameter
/// that gives one, if any) and whether an index is read, as DynamoDB does.
pub fn check_select(
    select: Option<&str>,
    projection_parameter: Option<&str>,
    reads_index: bool,
) -> Result<(), ApiError> {
    match (select, projection_parameter) {
        (Some("ALL_PROJECTED_ATTRIBUTES"), Some(parameter)) if reads_index => {
            Err(ApiError::validation(format!(
                "Cannot specify the {parameter} when choosing to get ALL_PROJECTED_ATTRIBUTES"
            )))
        }
        (Some("ALL_PROJECTED_ATTRIBUTES"), _) if !reads_index => Err(ApiError::validation(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        )),
        (Some("SPECIFIC_ATTRIBUTES"), None) => Err(ApiError::validation(
            "SPECIFIC_ATTRIBUTES requires either the ProjectionExpression or the AttributesToGet parameter",
        )),
        (Some(select @ ("ALL_ATTRIBUTES" | "COUNT")), Some(parameter)) => Err(ApiError::validation(format!(
            "Cannot specify the {parameter} when choosing to get {select}"
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
    pub consistent_read: Option<bool>,
    pub return_consumed_capacity: Option<String>,
}

/// An ExclusiveStartKey, encoded: the table key, and the index key when reading one.
pub struct StartKey {
    pub table: EncodedKey,
    pub index: Option<EncodedKey>,
}

impl StartKey {
    /// The key of the entry to resume after, below its partition's or index's prefix.
    pub fn entry_key(&self) -> Vec<u8> {
        let mut key = Vec::new();
        if let Some(index) = &self.index {
            key.extend_from_slice(&index.partition);
            key.extend_from_slice(&index.sort);
        }
        let hash = partition_key_hash(&self.table.partition);
        append_table_key(&mut key, hash, &self.table.partition, &self.table.sort);
        key
    }

    /// The key of the entry to resume after below the queried partition key (and, for
    /// the table, its hash): the sort key, then for an index the item's table key.
    pub fn key_below_partition(&self) -> Vec<u8> {
        match &self.index {
            Some(index) => self.entry_key()[index.partition.len()..].to_vec(),
            None => self.table.sort.clone(),
        }
    }
}

/// Every document path a condition reads.
pub fn condition_paths<'c>(condition: &'c Condition, out: &mut Vec<&'c Path>) {
    let operand = |operand: &'c Operand, out: &mut Vec<&'c Path>| match operand {
        Operand::Path(path) | Operand::Size(path) => out.push(path),
        Operand::Value(_) | Operand::Placeholder(_) | Operand::ValueSize(_) => {}
    };
    match condition {
        Condition::Compare(a, _, b)
        | Condition::BeginsWith(a, b)
        | Condition::Contains(a, b)
        | Condition::ValueType(a, b) => {
            operand(a, out);
            operand(b, out);
        }
        Condition::Between(a, b, c) => {
            operand(a, out);
            operand(b, out);
            operand(c, out);
        }
        Condition::In(a, candidates) => {
            operand(a, out);
            for candidate in candidates {
                operand(candidate, out);
            }
        }
        Condition::And(a, b) | Condition::Or(a, b) => {
            condition_paths(a, out);
            condition_paths(b, out);
        }
        Condition::Not(a) => condition_paths(a, out),
        Condition::AttributeExists(path) | Condition::AttributeNotExists(path) => out.push(path),
        Condition::AttributeType(path, t) => {
            out.push(path);
            operand(t, out);
        }
    }
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
    /// Whether the read is strongly consistent (`ConsistentRead: true`).
    pub fn strong(&self) -> bool {
        self.consistent_read == Some(true)
    }

    /// The members' own constraints, reported with the request's other violations.
    pub fn check(&self, constraints: &mut Constraints) {
        constraints.one_of(&self.select, "select", SELECT_VALUES);
        constraints.one_of(
            &self.conditional_operator,
            "conditionalOperator",
            legacy::messages::CONDITIONAL_OPERATORS,
        );
        constraints.at_least(self.limit, "limit", 1);
        constraints.one_of(
            &self.return_consumed_capacity,
            "returnConsumedCapacity",
            RETURN_CONSUMED_CAPACITY,
        );
    }

    /// Charges what the page read (its total size, rounded up once) and writes the
    /// response, with ConsumedCapacity when asked for.
    pub fn charge(
        &self,
        table: &Table,
        hash: Option<u64>,
        index: Option<&IndexDescriptor>,
        page: Page<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        let consistency = if self.strong() {
            ReadConsistency::Strong
        } else {
            ReadConsistency::Eventual
        };
        let units = read_units(page.bytes as u64, consistency);
        let consumed = charge_read(table, hash, index, units);
        page.response(consumed.json(Detail::parse(self.return_consumed_capacity.as_deref())))
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
        // The two cannot come together (checked above), so at most one is named.
        let projection_parameter = if self.attributes_to_get.is_some() {
            Some("AttributesToGet")
        } else {
            self.projection_expression
                .as_ref()
                .map(|_| "ProjectionExpression")
        };
        check_select(
            self.select.as_deref(),
            projection_parameter,
            self.index_name.is_some(),
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

    /// The index named by IndexName, if any, with DynamoDB's checks of reading it.
    pub fn index<'t>(&self, table: &'t Table) -> Result<Option<&'t IndexDescriptor>, ApiError> {
        let Some(name) = &self.index_name else {
            return Ok(None);
        };
        let index = table
            .descriptor()
            .index(name)
            .filter(|index| index.status != cirrus_partition::IndexStatus::Deleting)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "The table does not have the specified index: {name}"
                ))
            })?;
        if index.kind == IndexKind::Global {
            if index.status == cirrus_partition::IndexStatus::Creating {
                return Err(ApiError::validation(format!(
                    "Cannot read from backfilling global secondary index: {name}"
                )));
            }
            if self.strong() {
                return Err(ApiError::validation(
                    "Consistent reads are not supported on global secondary indexes",
                ));
            }
            if self.select.as_deref() == Some("ALL_ATTRIBUTES")
                && index.spec.projection != Projected::All
            {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not \
                     supported for global secondary index {name} because its projection type is not ALL"
                )));
            }
        }
        Ok(Some(index))
    }

    /// Whether a read of a local index must fetch each item from the table: when it asks
    /// for attributes the index does not hold, as DynamoDB does.
    pub fn fetches_from_table(
        &self,
        index: &IndexDescriptor,
        table_keys: &KeySchema,
        projection: Option<&Projection>,
        filter: Option<&Condition>,
    ) -> bool {
        if index.kind != IndexKind::Local || index.spec.projection == Projected::All {
            return false;
        }
        if self.select.as_deref() == Some("ALL_ATTRIBUTES") {
            return true;
        }
        let mut paths = Vec::new();
        if let Some(projection) = projection {
            paths.extend(projection.0.iter());
        }
        if let Some(filter) = filter {
            condition_paths(filter, &mut paths);
        }
        paths.iter().any(|path| match path.0.first() {
            Some(PathElement::Attribute(name)) => !index.spec.projects(name, table_keys),
            _ => false,
        })
    }

    /// ExclusiveStartKey, checked against the table's key and, when reading an index,
    /// the index's key: it must hold exactly those attributes.
    pub fn start_key(
        &self,
        table_keys: &KeySchema,
        index: Option<&IndexDescriptor>,
    ) -> Result<Option<StartKey>, ApiError> {
        let Some(json) = &self.exclusive_start_key else {
            return Ok(None);
        };
        let key = parse_item(json)?;
        let invalid = || {
            ApiError::validation(
                "The provided starting key is invalid: The provided key element does not match the schema",
            )
        };
        let mut expected: Vec<_> = table_keys.attributes().collect();
        if let Some(index) = index {
            expected.extend(index.spec.key_schema.attributes());
        }
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        expected.dedup_by(|a, b| a.name == b.name);
        let matches = key.len() == expected.len()
            && expected.iter().all(|attribute| {
                key.get(&attribute.name)
                    .is_some_and(|value| value.scalar_type() == Some(attribute.ty))
            });
        if !matches {
            return Err(invalid());
        }
        Ok(Some(StartKey {
            table: encode_key(table_keys, &key)?,
            index: index
                .map(|index| encode_key(&index.spec.key_schema, &key))
                .transpose()?,
        }))
    }

    /// The page a Query or Scan fills, and the reader that hands it items (or, for a
    /// local index read needing more than the index holds, the table's items).
    pub fn reading<'a>(
        &'a self,
        state: &'a ApiState,
        table: &'a Table,
        index: Option<&'a IndexDescriptor>,
        filter: Option<&'a Condition>,
        projection: Option<&'a Projection>,
    ) -> (Page<'a>, TableReader<'a>) {
        let table_keys = &table.descriptor().key_schema;
        let mut page = Page::new(
            table_keys,
            self.limit,
            filter,
            projection,
            self.count_only(),
        );
        page.index_schema = index.map(|index| &index.spec.key_schema);
        let fetching =
            index.filter(|index| self.fetches_from_table(index, table_keys, projection, filter));
        (page, TableReader::new(state, table, fetching))
    }

    pub fn count_only(&self) -> bool {
        self.select.as_deref() == Some("COUNT")
    }
}

/// Hands what a Query or Scan reads to its page: items, index entries, or, for a local
/// index read that needs attributes the index lacks, the table's items behind them.
pub struct TableReader<'a> {
    state: &'a ApiState,
    table: &'a Table,
    fetch_from_table: bool,
}

impl<'a> TableReader<'a> {
    pub fn new(
        state: &'a ApiState,
        table: &'a Table,
        fetching_index: Option<&IndexDescriptor>,
    ) -> Self {
        TableReader {
            state,
            table,
            fetch_from_table: fetching_index.is_some(),
        }
    }

    /// What a Scan reads: its segment's items, and the other segments' it passes over.
    pub fn scanned(&self, page: &mut Page<'_>, scanned: Scanned<'_>) -> Result<bool, ApiError> {
        match scanned {
            Scanned::Item(stored) => self.visit(page, stored),
            Scanned::Skipped(stored) => page.skip(stored),
        }
    }

    pub fn visit(&self, page: &mut Page<'_>, stored: &[u8]) -> Result<bool, ApiError> {
        if !self.fetch_from_table {
            return page.visit(stored);
        }
        let entry = decode_stored(stored)?;
        let key = encode_key(&self.table.descriptor().key_schema, &entry)?;
        let location = self.table.locate(&key.partition, &key.sort)?;
        match self.state.node.get_item(&location)? {
            Some(item) => page.visit(&item),
            // Deleted since the entry was read: the index no longer holds it either.
            None => Ok(true),
        }
    }
}

pub struct Page<'a> {
    pub schema: &'a KeySchema,
    /// When reading an index, its key: LastEvaluatedKey holds it too.
    pub index_schema: Option<&'a KeySchema>,
    pub limit: Option<usize>,
    pub filter: Option<&'a Condition>,
    pub projection: Option<&'a Projection>,
    pub count_only: bool,
    /// The items the response returns, as stored: decoded and projected only while the
    /// response is written.
    items: StoredItems,
    count: usize,
    scanned: usize,
    bytes: usize,
    /// Read but passed over (a parallel Scan's other segments): counts toward the 1 MB
    /// that ends a page, but is neither returned, counted nor charged.
    skipped_bytes: usize,
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
            index_schema: None,
            limit: limit.map(|l| l.max(1) as usize),
            filter,
            projection,
            count_only,
            items: StoredItems::default(),
            count: 0,
            scanned: 0,
            bytes: 0,
            skipped_bytes: 0,
            last_key: None,
        }
    }

    fn key_of(&self, item: &Item) -> Item {
        let mut key = Item::new();
        let index_keys = self
            .index_schema
            .into_iter()
            .flat_map(KeySchema::attributes);
        for attribute in self.schema.attributes().chain(index_keys) {
            if let Some(value) = item.get(&attribute.name) {
                key.insert(attribute.name.clone(), value.clone());
            }
        }
        key
    }

    /// Takes one stored item; returns whether the page wants more.
    pub fn visit(&mut self, stored: &[u8]) -> Result<bool, ApiError> {
        self.scanned += 1;
        self.bytes +=
            StoredItem::size(stored).map_err(|e| ApiError::Internal(e.to_string()))? as usize;
        let full = self.limit.is_some_and(|limit| self.scanned >= limit) || self.read_enough();
        // Decoded here only for the filter or LastEvaluatedKey; the response decodes the
        // items it returns again, one at a time, as it writes them.
        let item = if self.filter.is_some() || full {
            Some(decode_stored(stored)?)
        } else {
            None
        };
        let matches = match (self.filter, &item) {
            (Some(filter), Some(item)) => evaluate(filter, item)?,
            _ => true,
        };
        if matches {
            self.count += 1;
            if !self.count_only {
                self.items.push(stored);
            }
        }
        if let (true, Some(item)) = (full, &item) {
            self.last_key = Some(self.key_of(item));
        }
        Ok(!full)
    }

    /// Takes a stored item read only to be passed over. DynamoDB never reads another
    /// segment's items, so they are not charged; but reading them is work, and the page
    /// ends after 1 MB of it, resuming after the item passed over.
    pub fn skip(&mut self, stored: &[u8]) -> Result<bool, ApiError> {
        self.skipped_bytes +=
            StoredItem::size(stored).map_err(|e| ApiError::Internal(e.to_string()))? as usize;
        if !self.read_enough() {
            return Ok(true);
        }
        self.last_key = Some(self.key_of(&decode_stored(stored)?));
        Ok(false)
    }

    fn read_enough(&self) -> bool {
        self.bytes + self.skipped_bytes >= PAGE_BYTES
    }

    /// The page's response, with `consumed` as its ConsumedCapacity.
    pub fn response(self, consumed: Option<Value>) -> Result<Vec<u8>, ApiError> {
        response_body(&PageOutput {
            items: (!self.count_only).then(|| self.items.json(self.projection)),
            count: self.count,
            scanned_count: self.scanned,
            last_evaluated_key: self.last_key.as_ref().map(ItemJson),
            consumed_capacity: consumed,
        })
    }
}

/// The response of a Query or Scan.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PageOutput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<StoredItemsJson<'a>>,
    count: usize,
    scanned_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_evaluated_key: Option<ItemJson<&'a Item>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Value>,
}
