//! UpdateTable's GlobalSecondaryIndexUpdates: creating a global index (then backfilled
//! in the background), deleting one, or changing one's provisioned throughput, with
//! DynamoDB's checks of each.

use std::sync::Arc;

use cirrus_cluster::Table;
use cirrus_partition::{
    BillingMode, IndexDescriptor, IndexKind, IndexStatus, KeyAttribute, KeySchema, PartitionError,
    TableDescriptor, Throughput,
};
use serde::Deserialize;

use super::table_indexes::{check_projected_attribute_total, IndexInput, MAX_GLOBAL_INDEXES};
use super::tables::{check_throughput, unchanged_throughput, ProvisionedThroughputInput};
use crate::error::ApiError;
use crate::state::ApiState;
use crate::validation::Constraints;

/// One element of UpdateTable's GlobalSecondaryIndexUpdates.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexUpdateInput {
    create: Option<IndexInput>,
    delete: Option<IndexNameInput>,
    update: Option<IndexThroughputInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexNameInput {
    index_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexThroughputInput {
    index_name: Option<String>,
    provisioned_throughput: Option<ProvisionedThroughputInput>,
}

/// What one element asks for, once it names exactly one action.
enum IndexUpdate<'a> {
    Create(&'a IndexInput),
    Delete(&'a str),
    Update(&'a str, Option<&'a ProvisionedThroughputInput>),
}

impl IndexUpdateInput {
    /// The members' own constraints, under `member` (e.g.
    /// `globalSecondaryIndexUpdates.1.member`).
    pub fn check(&self, constraints: &mut Constraints, member: &str) {
        if let Some(create) = &self.create {
            create.check(constraints, &format!("{member}.create"), IndexKind::Global);
        }
        if let Some(delete) = &self.delete {
            constraints.table_name(&delete.index_name, &format!("{member}.delete.indexName"));
        }
        if let Some(change) = &self.update {
            constraints.table_name(&change.index_name, &format!("{member}.update.indexName"));
            constraints.not_null(
                &change.provisioned_throughput,
                &format!("{member}.update.provisionedThroughput"),
            );
            check_throughput(
                constraints,
                &change.provisioned_throughput,
                &format!("{member}.update.provisionedThroughput"),
            );
        }
    }

    /// Whether this element creates or deletes an index.
    pub fn changes_structure(&self) -> bool {
        self.create.is_some() || self.delete.is_some()
    }

    fn action(&self) -> Result<IndexUpdate<'_>, ApiError> {
        fn named(name: &Option<String>) -> &str {
            name.as_deref().unwrap_or_default()
        }
        match (&self.create, &self.delete, &self.update) {
            (Some(create), None, None) => Ok(IndexUpdate::Create(create)),
            (None, Some(delete), None) => Ok(IndexUpdate::Delete(named(&delete.index_name))),
            (None, None, Some(update)) => Ok(IndexUpdate::Update(
                named(&update.index_name),
                update.provisioned_throughput.as_ref(),
            )),
            (None, None, None) => Err(ApiError::validation(
                "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, \
                 GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null",
            )),
            _ => Err(ApiError::validation(
                "One or more parameter values were invalid: Only one of GlobalSecondaryIndexUpdate.Update, \
                 GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete can be specified",
            )),
        }
    }
}

/// The checks DynamoDB makes of the list before it reads the table: each element names
/// one action, and no index is named twice.
pub fn check_updates(updates: &[IndexUpdateInput]) -> Result<(), ApiError> {
    let mut names: Vec<&str> = Vec::with_capacity(updates.len());
    for update in updates {
        let name = match update.action()? {
            IndexUpdate::Create(input) => input.name(),
            IndexUpdate::Delete(name) | IndexUpdate::Update(name, _) => name,
        };
        if names.contains(&name) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Only one global secondary index update \
                 per index is allowed simultaneously. Index: {name}"
            )));
        }
        names.push(name);
    }
    Ok(())
}

/// Applies checked GlobalSecondaryIndexUpdates. `definitions` are the request's own
/// AttributeDefinitions: a new index's key attributes must be among them, even those
/// the table already defines.
pub async fn update_indexes(
    state: &ApiState,
    table: &Table,
    updates: &[IndexUpdateInput],
    definitions: &[KeyAttribute],
) -> Result<Arc<Table>, ApiError> {
    let descriptor = table.descriptor();
    let structural = updates.iter().filter(|u| u.changes_structure()).count();
    let building = descriptor
        .indexes
        .iter()
        .any(|i| i.status != IndexStatus::Active);
    if structural > 1 || (structural == 1 && building) {
        return Err(ApiError::LimitExceeded(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
                .into(),
        ));
    }
    let mut changed = descriptor.clone();
    let mut create = None;
    let mut delete = None;
    for update in updates {
        match update.action()? {
            IndexUpdate::Create(input) => create = Some(input),
            IndexUpdate::Delete(name) => delete = Some(name),
            IndexUpdate::Update(name, throughput) => {
                change_throughput(&mut changed, name, throughput)?
            }
        }
    }
    if let Some(input) = create {
        let index = new_index(&mut changed, input, definitions)?;
        state.node.update_table(changed.clone()).await?;
        return Ok(state
            .node
            .create_index(&state.region, &changed.name, index)
            .await?);
    }
    if let Some(index_name) = delete {
        global_index(&mut changed, index_name)?;
        return Ok(state
            .node
            .delete_index(&state.region, &changed.name, index_name)
            .await?);
    }
    Ok(state.node.update_table(changed).await?)
}

fn global_index<'d>(
    descriptor: &'d mut TableDescriptor,
    name: &str,
) -> Result<&'d mut IndexDescriptor, ApiError> {
    descriptor
        .indexes
        .iter_mut()
        .find(|i| i.spec.name == name && i.kind == IndexKind::Global)
        .ok_or_else(|| PartitionError::IndexNotFound(name.to_string()).into())
}

fn change_throughput(
    descriptor: &mut TableDescriptor,
    name: &str,
    requested: Option<&ProvisionedThroughputInput>,
) -> Result<(), ApiError> {
    let billing_mode = descriptor.billing_mode;
    let index = global_index(descriptor, name)?;
    if billing_mode == BillingMode::PayPerRequest {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: ProvisionedThroughput cannot be \
             specified for index when BillingMode is PAY_PER_REQUEST",
        ));
    }
    let Some(requested) = requested else {
        return Ok(());
    };
    let read = requested.read_capacity_units.unwrap_or(0).unsigned_abs();
    let write = requested.write_capacity_units.unwrap_or(0).unsigned_abs();
    let throughput = index.throughput.get_or_insert_with(Throughput::default);
    if (
        throughput.read_capacity_units,
        throughput.write_capacity_units,
    ) == (read, write)
    {
        return Err(unchanged_throughput(read, write));
    }
    throughput.read_capacity_units = read;
    throughput.write_capacity_units = write;
    Ok(())
}

/// The index a Create adds, checked against the table, with the table's attribute
/// definitions extended by its key attributes.
fn new_index(
    descriptor: &mut TableDescriptor,
    input: &IndexInput,
    definitions: &[KeyAttribute],
) -> Result<IndexDescriptor, ApiError> {
    let index = input.descriptor(
        IndexKind::Global,
        &descriptor.key_schema,
        descriptor.billing_mode,
        definitions,
    )?;
    check_no_redefinition(descriptor, &index.spec.key_schema)?;
    if descriptor.index(&index.spec.name).is_some() {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Index with name: {} already exists",
            index.spec.name
        )));
    }
    let globals = descriptor
        .indexes
        .iter()
        .filter(|i| i.kind == IndexKind::Global)
        .count();
    if globals >= MAX_GLOBAL_INDEXES {
        return Err(ApiError::LimitExceeded(format!(
            "Subscriber limit exceeded: Cannot have more than {MAX_GLOBAL_INDEXES} global secondary \
             indexes per table"
        )));
    }
    let mut all = descriptor.indexes.clone();
    all.push(index.clone());
    check_projected_attribute_total(&all)?;
    // Only the definitions the new key uses are kept, as DynamoDB does; an attribute
    // defined already keeps its type.
    for attribute in index.spec.key_schema.attributes() {
        if !descriptor
            .attribute_definitions
            .iter()
            .any(|d| d.name == attribute.name)
        {
            descriptor.attribute_definitions.push(attribute.clone());
        }
    }
    Ok(index)
}

/// A new index may not give an attribute that is already a key a different type: writes
/// could not satisfy both. Redefining one the new index does not use is ignored.
fn check_no_redefinition(
    descriptor: &TableDescriptor,
    new_keys: &KeySchema,
) -> Result<(), ApiError> {
    let existing_keys = std::iter::once(&descriptor.key_schema)
        .chain(descriptor.indexes.iter().map(|i| &i.spec.key_schema));
    for existing in existing_keys {
        let conflicts = new_keys.attributes().any(|new| {
            existing
                .attributes()
                .any(|old| old.name == new.name && old.ty != new.ty)
        });
        if conflicts {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Attributes cannot be redefined. Please \
                 check that your attribute has the same type as previously defined. Existing schema: \
                 {} New schema: {}",
                schema_text(existing),
                schema_text(new_keys)
            )));
        }
    }
    Ok(())
}

/// A key schema as DynamoDB writes one in messages:
/// `Schema:[SchemaElement: key{name:S:HASH}, …]`.
fn schema_text(schema: &KeySchema) -> String {
    let hash = schema.partition_keys().map(|a| (a, "HASH"));
    let range = schema.sort_keys().iter().map(|a| (a, "RANGE"));
    let elements: Vec<String> = hash
        .chain(range)
        .map(|(a, key_type)| {
            format!(
                "SchemaElement: key{{{}:{}:{key_type}}}",
                a.name,
                a.ty.name()
            )
        })
        .collect();
    format!("Schema:[{}]", elements.join(", "))
}
