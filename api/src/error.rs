//! DynamoDB errors: every failure a request can meet is mapped to one of these, here,
//! and turned into DynamoDB's wire shape (`__type`, `message`, HTTP status) in one place.

use axum::http::StatusCode;
use cirrus_storage::Item;
use serde::Serialize;

use crate::wire::item_json::ItemJson;

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Serialization(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    UnknownOperation(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    ItemCollectionSizeLimitExceeded(String),
    #[error("{0}")]
    TransactionConflict(String),
    /// Throttled by a provisioned throughput or a key range's ceiling.
    #[error("{message}")]
    ProvisionedThroughputExceeded {
        message: String,
        reasons: Vec<ThrottlingReason>,
    },
    /// Throttled by an on-demand table's per-table account quota.
    #[error("{message}")]
    RequestLimitExceeded {
        message: String,
        reasons: Vec<ThrottlingReason>,
    },
    /// Throttled by an on-demand table's configured maximum.
    #[error("{message}")]
    Throttling {
        message: String,
        reasons: Vec<ThrottlingReason>,
    },
    #[error("{0}")]
    ExpiredIterator(String),
    #[error("{0}")]
    TrimmedDataAccess(String),
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    #[error("{0}")]
    TransactionInProgress(String),
    /// A transaction did not happen; one reason per action, in order, as DynamoDB's
    /// CancellationReasons.
    #[error("{message}")]
    TransactionCanceled {
        message: String,
        reasons: Vec<CancellationReason>,
    },
    /// The condition of a write did not hold; carries the item when the request asked
    /// for it with ReturnValuesOnConditionCheckFailure=ALL_OLD.
    #[error("The conditional request failed")]
    ConditionalCheckFailed(Option<Item>),
    /// A body past the largest request DynamoDB takes (HTTP 413).
    #[error("{0}")]
    RequestTooLarge(String),
    /// The caller may not act on the resource (a table of another account or region).
    #[error("{0}")]
    AccessDenied(String),
    /// The request's signature cannot be right (its credential scope names no region).
    #[error("{0}")]
    InvalidSignature(String),
    /// A body whose Content-Encoding is unknown or does not decode: DynamoDB answers it
    /// with a server error (HTTP 500), but it is the client's, so it is not logged.
    #[error("{0}")]
    UndecodableBody(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::Validation(message.into())
    }

    /// The `__type` DynamoDB sends for this error.
    pub fn type_name(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "com.amazon.coral.validate#ValidationException",
            ApiError::Serialization(_) => "com.amazon.coral.service#SerializationException",
            ApiError::ResourceNotFound(_) => {
                "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
            }
            ApiError::ResourceInUse(_) => "com.amazonaws.dynamodb.v20120810#ResourceInUseException",
            ApiError::UnknownOperation(_) => "com.amazon.coral.service#UnknownOperationException",
            ApiError::LimitExceeded(_) => "com.amazonaws.dynamodb.v20120810#LimitExceededException",
            ApiError::ItemCollectionSizeLimitExceeded(_) => {
                "com.amazonaws.dynamodb.v20120810#ItemCollectionSizeLimitExceededException"
            }
            ApiError::TransactionConflict(_) => {
                "com.amazonaws.dynamodb.v20120810#TransactionConflictException"
            }
            ApiError::ProvisionedThroughputExceeded { .. } => {
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            }
            ApiError::RequestLimitExceeded { .. } => {
                "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded"
            }
            ApiError::Throttling { .. } => "com.amazon.coral.availability#ThrottlingException",
            ApiError::ExpiredIterator(_) => {
                "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException"
            }
            ApiError::TrimmedDataAccess(_) => {
                "com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException"
            }
            ApiError::IdempotentParameterMismatch(_) => {
                "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"
            }
            ApiError::TransactionInProgress(_) => {
                "com.amazonaws.dynamodb.v20120810#TransactionInProgressException"
            }
            ApiError::TransactionCanceled { .. } => {
                "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
            }
            ApiError::ConditionalCheckFailed(_) => {
                "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
            }
            ApiError::RequestTooLarge(_) => {
                "com.amazon.coral.service#RequestEntityTooLargeException"
            }
            ApiError::AccessDenied(_) => "com.amazon.coral.service#AccessDeniedException",
            ApiError::InvalidSignature(_) => "com.amazon.coral.service#InvalidSignatureException",
            ApiError::Internal(_) | ApiError::UndecodableBody(_) => {
                "com.amazonaws.dynamodb.v20120810#InternalServerError"
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Internal(_) | ApiError::UndecodableBody(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// One entry of a throttling error's ThrottlingReasons: which limit, on which table or
/// index ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThrottlingReason {
    pub reason: String,
    pub resource: String,
}

/// One action's entry in a TransactionCanceledException's CancellationReasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancellationReason {
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The item, for a failed condition with ReturnValuesOnConditionCheckFailure=ALL_OLD.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "item_json")]
    pub item: Option<Item>,
}

impl CancellationReason {
    /// The reason of an action that did not fail itself.
    pub fn none() -> Self {
        CancellationReason {
            code: "None",
            message: None,
            item: None,
        }
    }

    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        CancellationReason {
            code,
            message: Some(message.into()),
            item: None,
        }
    }
}

fn item_json<S: serde::Serializer>(item: &Option<Item>, serializer: S) -> Result<S::Ok, S::Error> {
    item.as_ref().map(ItemJson).serialize(serializer)
}

/// DynamoDB's error body: `{"__type": "...", "message": "..."}`, and the items and
/// reasons some errors carry.
#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "__type")]
    type_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// Some coral errors spell their message `Message`.
    #[serde(rename = "Message", skip_serializing_if = "Option::is_none")]
    capitalized_message: Option<String>,
    #[serde(rename = "Item", skip_serializing_if = "Option::is_none")]
    item: Option<ItemJson<&'a Item>>,
    #[serde(
        rename = "CancellationReasons",
        skip_serializing_if = "Option::is_none"
    )]
    reasons: Option<&'a [CancellationReason]>,
    #[serde(rename = "ThrottlingReasons", skip_serializing_if = "Option::is_none")]
    throttling_reasons: Option<&'a [ThrottlingReason]>,
}

impl ApiError {
    /// The error as DynamoDB's JSON body.
    pub fn to_body(&self) -> Vec<u8> {
        let message = self.to_string();
        let message = (!message.is_empty()).then_some(message);
        let (message, capitalized_message) = match self {
            ApiError::AccessDenied(_) => (None, message),
            _ => (message, None),
        };
        let body = ErrorBody {
            type_name: self.type_name(),
            message,
            capitalized_message,
            item: match self {
                ApiError::ConditionalCheckFailed(item) => item.as_ref().map(ItemJson),
                _ => None,
            },
            reasons: match self {
                ApiError::TransactionCanceled { reasons, .. } => Some(reasons),
                _ => None,
            },
            throttling_reasons: match self {
                ApiError::ProvisionedThroughputExceeded { reasons, .. }
                | ApiError::RequestLimitExceeded { reasons, .. }
                | ApiError::Throttling { reasons, .. } => Some(reasons),
                _ => None,
            },
        };
        // Nothing in an error body can fail to serialize (string keys, no custom
        // serializers that fail); the bare type is the answer of last resort.
        serde_json::to_vec(&body)
            .unwrap_or_else(|_| format!(r#"{{"__type":"{}"}}"#, self.type_name()).into_bytes())
    }
}

impl From<cirrus_partition::PartitionError> for ApiError {
    fn from(error: cirrus_partition::PartitionError) -> Self {
        use cirrus_partition::PartitionError;
        match error {
            PartitionError::TableNotFound(_) => {
                ApiError::ResourceNotFound("Requested resource not found".into())
            }
            PartitionError::TableExists(name) => {
                ApiError::ResourceInUse(format!("Table already exists: {name}"))
            }
            PartitionError::CatalogConflict => {
                ApiError::ResourceInUse("Attempt to change a resource which is still in use".into())
            }
            PartitionError::IndexNotFound(name) => ApiError::ResourceNotFound(format!(
                "Requested resource not found: Index: {name} not found"
            )),
            PartitionError::MembershipRefused(message) => ApiError::Validation(message),
            PartitionError::StartKeyOutsideSegment {
                segment,
                total_segments,
            } => ApiError::Validation(format!(
                "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use \
                 ExclusiveStartKey with correct Segment. TotalSegments: {total_segments} \
                 Segment: {segment}"
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<cirrus_storage::NumberError> for ApiError {
    fn from(error: cirrus_storage::NumberError) -> Self {
        ApiError::Validation(error.to_string())
    }
}
