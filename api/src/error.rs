//! DynamoDB errors: every failure a request can meet is mapped to one of these, here,
//! and turned into DynamoDB's wire shape (`__type`, `message`, HTTP status) in one place.

use axum::http::StatusCode;

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
    #[error("{0}")]
    ProvisionedThroughputExceeded(String),
    #[error("{0}")]
    Throttling(String),
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
        reasons: Vec<serde_json::Value>,
    },
    /// The condition of a write did not hold; carries the item (as DynamoDB JSON) when
    /// the request asked for it with ReturnValuesOnConditionCheckFailure=ALL_OLD.
    #[error("The conditional request failed")]
    ConditionalCheckFailed(Option<serde_json::Value>),
    /// A body past the largest request DynamoDB takes (HTTP 413).
    #[error("{0}")]
    RequestTooLarge(String),
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
            ApiError::ProvisionedThroughputExceeded(_) => {
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            }
            ApiError::Throttling(_) => "com.amazon.coral.availability#ThrottlingException",
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
            ApiError::Internal(_) => "com.amazonaws.dynamodb.v20120810#InternalServerError",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl ApiError {
    /// DynamoDB's error body: `{"__type": "...", "message": "..."}`.
    pub fn to_body(&self) -> Vec<u8> {
        let message = self.to_string();
        let mut body = if message.is_empty() {
            serde_json::json!({ "__type": self.type_name() })
        } else {
            serde_json::json!({ "__type": self.type_name(), "message": message })
        };
        match self {
            ApiError::ConditionalCheckFailed(Some(item)) => body["Item"] = item.clone(),
            ApiError::TransactionCanceled { reasons, .. } => {
                body["CancellationReasons"] = serde_json::Value::Array(reasons.clone());
            }
            _ => {}
        }
        body.to_string().into_bytes()
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
            PartitionError::IndexNotFound(name) => ApiError::ResourceNotFound(format!(
                "Requested resource not found: Index: {name} not found"
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
