//! Secondary-index definitions on CreateTable and UpdateTable: their wire shapes,
//! DynamoDB's validations of them, and how DescribeTable reports them.

use cirrus_cluster::Table;
use cirrus_partition::{
    BillingMode, IndexDescriptor, IndexKind, IndexSpec, IndexStatus, KeyAttribute, KeySchema,
    Projected, Throughput,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::key_schemas::{key_schema_json, parse_key_schema, KeySchemaElement, KeyShape};
use super::tables::{check_throughput, ProvisionedThroughputInput};
use crate::error::ApiError;
use crate::validation::Constraints;

pub const MAX_GLOBAL_INDEXES: usize = 20;
const MAX_LOCAL_INDEXES: usize = 5;
const MAX_PROJECTED_ATTRIBUTES: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionInput {
    projection_type: Option<String>,
    non_key_attributes: Option<Vec<String>>,
}

/// One index of CreateTable's GlobalSecondaryIndexes or LocalSecondaryIndexes, or an
/// UpdateTable `Create`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexInput {
    index_name: Option<String>,
    key_schema: Option<Vec<KeySchemaElement>>,
    projection: Option<ProjectionInput>,
    provisioned_throughput: Option<ProvisionedThroughputInput>,
}

impl IndexInput {
    /// The members' own constraints, under `member` (e.g. `globalSecondaryIndexes.1.member`).
    pub fn check(&self, constraints: &mut Constraints, member: &str, kind: IndexKind) {
        constraints.table_name(&self.index_name, &format!("{member}.indexName"));
        constraints.not_null(&self.key_schema, &format!("{member}.keySchema"));
        if let Some(elements) = &self.key_schema {
            // A global index's key may have several attributes of each part; how many
            // is checked with its schema.
            let most = match kind {
                IndexKind::Global => usize::MAX,
                IndexKind::Local => 2,
            };
            constraints.length_between(
                Some(elements.len()),
                if elements.is_empty() {
                    "'[]'"
                } else {
                    "'[...]'"
                },
                &format!("{member}.keySchema"),
                1,
                most,
            );
            for (i, element) in elements.iter().enumerate() {
                element.check(constraints, &format!("{member}.keySchema.{}.member", i + 1));
            }
        }
        constraints.not_null(&self.projection, &format!("{member}.projection"));
        if let Some(projection) = &self.projection {
            constraints.one_of(
                &projection.projection_type,
                &format!("{member}.projection.projectionType"),
                &["ALL", "INCLUDE", "KEYS_ONLY"],
            );
            if let Some(names) = &projection.non_key_attributes {
                let member = format!("{member}.projection.nonKeyAttributes");
                constraints.length_between(Some(names.len()), "'[...]'", &member, 1, 20);
                constraints.projected_attribute_names(names, &member);
            }
        }
        check_throughput(
            constraints,
            &self.provisioned_throughput,
            &format!("{member}.provisionedThroughput"),
        );
    }

    /// The index's name, once the constraints have been checked.
    pub fn name(&self) -> &str {
        self.index_name.as_deref().unwrap_or_default()
    }

    fn projection(&self, name: &str) -> Result<Projected, ApiError> {
        let projection = self.projection.as_ref();
        let kind = projection.and_then(|p| p.projection_type.as_deref());
        let names = projection.and_then(|p| p.non_key_attributes.clone());
        match (kind, names) {
            (Some("INCLUDE"), Some(names)) => {
                let mut sorted: Vec<&String> = names.iter().collect();
                sorted.sort_unstable();
                if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
                    return Err(ApiError::validation(format!(
                        "One or more parameter values were invalid: Duplicate NonKeyAttribute {} \
                         in Projection of index {name}",
                        pair[0]
                    )));
                }
                Ok(Projected::Include(names))
            }
            (Some("INCLUDE"), None) => Err(ApiError::validation(
                "One or more parameter values were invalid: ProjectionType is INCLUDE, but \
                 NonKeyAttributes is not specified",
            )),
            (Some(kind @ ("ALL" | "KEYS_ONLY")), Some(_)) => Err(ApiError::validation(format!(
                "One or more parameter values were invalid: ProjectionType is {kind}, but \
                 NonKeyAttributes is specified"
            ))),
            (Some("KEYS_ONLY"), None) => Ok(Projected::KeysOnly),
            (Some("ALL"), None) => Ok(Projected::All),
            _ => Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Unknown ProjectionType: {}",
                kind.unwrap_or("null")
            ))),
        }
    }

    /// The index this input defines, checked against the table's key schema, its
    /// billing mode and the attribute definitions.
    pub fn descriptor(
        &self,
        kind: IndexKind,
        table_keys: &KeySchema,
        billing_mode: BillingMode,
        definitions: &[KeyAttribute],
    ) -> Result<IndexDescriptor, ApiError> {
        let (Some(name), Some(elements)) = (&self.index_name, &self.key_schema) else {
            return Err(ApiError::Internal("validated members missing".into()));
        };
        let shape = match kind {
            IndexKind::Global => KeyShape::MultiAttribute,
            IndexKind::Local => KeyShape::Single,
        };
        let key_schema = parse_key_schema(elements, definitions, shape)?;
        if kind == IndexKind::Local {
            let (index_hash, table_hash) = (key_schema.partition_key(), table_keys.partition_key());
            if index_hash.name != table_hash.name {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: Index KeySchema does not have the same \
                     leading hash key as table KeySchema for index: {name}. index hash key: {}, table hash key: {}",
                    index_hash.name, table_hash.name
                )));
            }
            if key_schema.sort_key().is_none() {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: Index KeySchema does not have a range key for index: {name}"
                )));
            }
        }
        let throughput = match (kind, billing_mode, &self.provisioned_throughput) {
            (IndexKind::Local, _, _) => None,
            (IndexKind::Global, BillingMode::Provisioned, Some(t)) => Some(Throughput {
                read_capacity_units: t.read_capacity_units.unwrap_or(0).unsigned_abs(),
                write_capacity_units: t.write_capacity_units.unwrap_or(0).unsigned_abs(),
                ..Default::default()
            }),
            (IndexKind::Global, BillingMode::Provisioned, None) => {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: ProvisionedThroughput is not specified for index: {name}"
                )))
            }
            (IndexKind::Global, BillingMode::PayPerRequest, Some(_)) => {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: ProvisionedThroughput should not be \
                     specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                )))
            }
            (IndexKind::Global, BillingMode::PayPerRequest, None) => None,
        };
        Ok(IndexDescriptor {
            spec: IndexSpec {
                id: 0,
                name: name.clone(),
                key_schema,
                projection: self.projection(name)?,
            },
            kind,
            status: IndexStatus::Active,
            throughput,
        })
    }
}

/// CreateTable's indexes, with the checks that span them.
pub fn table_indexes(
    global: Option<&[IndexInput]>,
    local: Option<&[IndexInput]>,
    table_keys: &KeySchema,
    billing_mode: BillingMode,
    definitions: &[KeyAttribute],
) -> Result<Vec<IndexDescriptor>, ApiError> {
    if local.is_some() && table_keys.sort_key().is_none() {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Table KeySchema does not have a range key, \
             which is required when specifying a LocalSecondaryIndex",
        ));
    }
    if local.is_some_and(|l| l.len() > MAX_LOCAL_INDEXES) {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds \
             per-table limit of {MAX_LOCAL_INDEXES}"
        )));
    }
    if global.is_some_and(|g| g.len() > MAX_GLOBAL_INDEXES) {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the \
             per-table limit of {MAX_GLOBAL_INDEXES}"
        )));
    }
    for (inputs, parameter) in [
        (global, "GlobalSecondaryIndexes"),
        (local, "LocalSecondaryIndexes"),
    ] {
        if inputs.is_some_and(<[IndexInput]>::is_empty) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: List of {parameter} is empty"
            )));
        }
    }
    let mut indexes: Vec<IndexDescriptor> = Vec::new();
    let inputs = global
        .unwrap_or_default()
        .iter()
        .map(|input| (IndexKind::Global, input))
        .chain(
            local
                .unwrap_or_default()
                .iter()
                .map(|input| (IndexKind::Local, input)),
        );
    for (kind, input) in inputs {
        let index = input.descriptor(kind, table_keys, billing_mode, definitions)?;
        if indexes
            .iter()
            .any(|other| other.spec.name == index.spec.name)
        {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Duplicate index name: {}",
                index.spec.name
            )));
        }
        indexes.push(index);
    }
    check_projected_attribute_total(&indexes)?;
    Ok(indexes)
}

/// DynamoDB allows at most 100 projected non-key attributes over all of a table's
/// indexes.
pub fn check_projected_attribute_total(indexes: &[IndexDescriptor]) -> Result<(), ApiError> {
    let total: usize = indexes
        .iter()
        .map(|index| match &index.spec.projection {
            Projected::Include(names) => names.len(),
            _ => 0,
        })
        .sum();
    if total > MAX_PROJECTED_ATTRIBUTES {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: The number of projected attributes across \
             all secondary indexes exceeds the limit of {MAX_PROJECTED_ATTRIBUTES}: {total}"
        )));
    }
    Ok(())
}

fn projection_json(projection: &Projected) -> Value {
    match projection {
        Projected::All => json!({ "ProjectionType": "ALL" }),
        Projected::KeysOnly => json!({ "ProjectionType": "KEYS_ONLY" }),
        Projected::Include(names) => {
            json!({ "ProjectionType": "INCLUDE", "NonKeyAttributes": names })
        }
    }
}

fn status_name(status: IndexStatus) -> &'static str {
    match status {
        IndexStatus::Creating => "CREATING",
        IndexStatus::Active => "ACTIVE",
        IndexStatus::Deleting => "DELETING",
    }
}

/// DescribeTable's GlobalSecondaryIndexes and LocalSecondaryIndexes members.
pub fn describe_indexes(table: &Table, table_arn: &str) -> (Vec<Value>, Vec<Value>) {
    let mut global = Vec::new();
    let mut local = Vec::new();
    for index in &table.descriptor().indexes {
        let counts = table.index_counts(index.spec.id);
        let mut description = json!({
            "IndexName": index.spec.name,
            "KeySchema": key_schema_json(&index.spec.key_schema),
            "Projection": projection_json(&index.spec.projection),
            "IndexSizeBytes": counts.size_bytes.max(0),
            "ItemCount": counts.item_count.max(0),
            "IndexArn": format!("{table_arn}/index/{}", index.spec.name),
        });
        match index.kind {
            IndexKind::Local => local.push(description),
            IndexKind::Global => {
                let throughput = index.throughput.clone().unwrap_or_default();
                description["IndexStatus"] = json!(status_name(index.status));
                if index.status == IndexStatus::Creating {
                    description["Backfilling"] = json!(true);
                }
                description["ProvisionedThroughput"] = json!({
                    "NumberOfDecreasesToday": throughput.decreases_today,
                    "ReadCapacityUnits": throughput.read_capacity_units,
                    "WriteCapacityUnits": throughput.write_capacity_units,
                });
                global.push(description);
            }
        }
    }
    (global, local)
}
