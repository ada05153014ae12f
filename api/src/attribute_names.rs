//! DynamoDB's limit on the length of attribute names as requests carry them: the names
//! of an item's attributes and of map members at any depth, the names
//! ExpressionAttributeNames stands for, and the names legacy parameters list.
//!
//! DynamoDB checks this before the parameter that holds the name is validated, so the
//! message is the same wherever the name was, and is never wrapped in a parameter's
//! own message.

use cirrus_storage::limits::MAX_ATTRIBUTE_NAME_BYTES;

use crate::error::ApiError;

/// DynamoDB's message for a name past the limit, as captured from DynamoDB (it names
/// the first length refused).
pub const NAME_TOO_LARGE: &str =
    "1 validation error detected: Attribute name is too large, must be less than 65536 bytes";

/// The message for an empty name (ScyllaDB's tests, run against DynamoDB, pin "Empty
/// attribute name" for items, projections, AttributesToGet, AttributeUpdates and
/// ExpressionAttributeNames alike).
pub const EMPTY_NAME: &str = "One or more parameter values were invalid: Empty attribute name";

/// Refuses a name that is empty or longer than DynamoDB allows. (Only a map member's
/// name may be empty; its caller does not ask.)
pub fn check_attribute_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::validation(EMPTY_NAME));
    }
    if name.len() > MAX_ATTRIBUTE_NAME_BYTES {
        return Err(ApiError::validation(NAME_TOO_LARGE));
    }
    Ok(())
}

/// Whether `error` is the name limit's, which keeps its own words wherever it arises.
pub fn is_name_too_large(error: &ApiError) -> bool {
    matches!(error, ApiError::Validation(message) if message == NAME_TOO_LARGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_limited_to_65535_bytes() {
        assert!(check_attribute_name(&"a".repeat(65_535)).is_ok());
        assert_eq!(
            check_attribute_name(&"a".repeat(65_536)),
            Err(ApiError::validation(NAME_TOO_LARGE))
        );
        // Bytes, not characters: 32,768 two-byte characters are 65,536 bytes.
        assert!(check_attribute_name(&"é".repeat(32_768)).is_err());
        assert_eq!(
            check_attribute_name(""),
            Err(ApiError::validation(EMPTY_NAME))
        );
    }
}
