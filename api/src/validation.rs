//! DynamoDB's parameter validation: typed request parsing and the aggregated
//! "N validation errors detected: ..." message.

use cirrus_storage::limits::MAX_KEY_ATTRIBUTE_NAME_LENGTH;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a request object into its typed input; a member of the wrong JSON type is a
/// SerializationException, as in DynamoDB.
pub fn parse_input<T: DeserializeOwned>(request: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(request).map_err(|e| ApiError::Serialization(e.to_string()))
}

/// A member DynamoDB's control-plane operations (CreateTable, UpdateTable,
/// DescribeTable, DeleteTable, DescribeTimeToLive) require: its absence is reported on
/// its own, before any constraint of the other members.
pub fn require<T>(value: &Option<T>, parameter: &str) -> Result<(), ApiError> {
    match value {
        Some(_) => Ok(()),
        None => Err(ApiError::Validation(format!(
            "The parameter '{parameter}' is required but was not present in the request"
        ))),
    }
}

/// Collects constraint violations so that they are reported together, in DynamoDB's
/// words and order.
#[derive(Default)]
pub struct Constraints {
    violations: Vec<String>,
}

impl Constraints {
    pub fn new() -> Self {
        Self::default()
    }

    fn violation(&mut self, value: &str, member: &str, constraint: &str) {
        self.violations.push(format!(
            "Value {value} at '{member}' failed to satisfy constraint: {constraint}"
        ));
    }

    pub fn not_null<T>(&mut self, value: &Option<T>, member: &str) {
        if value.is_none() {
            self.violation("null", member, "Member must not be null");
        }
    }

    /// DynamoDB's rules for a table or index name: 3–255 characters of `[a-zA-Z0-9_.-]`,
    /// item operations included (a shorter name there is a ValidationException, not a
    /// table that does not exist: ScyllaDB's tests, run against DynamoDB).
    pub fn table_name(&mut self, name: &Option<String>, member: &str) {
        let Some(name) = name else {
            self.not_null(name, member);
            return;
        };
        let quoted = format!("'{name}'");
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        {
            self.violation(
                &quoted,
                member,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            );
        }
        let length = name.chars().count();
        if length < 3 {
            self.violation(
                &quoted,
                member,
                "Member must have length greater than or equal to 3",
            );
        }
        if length > 255 {
            self.violation(
                &quoted,
                member,
                "Member must have length less than or equal to 255",
            );
        }
    }

    /// An optional enum member: `allowed` is DynamoDB's value set, in its order.
    pub fn one_of(&mut self, value: &Option<String>, member: &str, allowed: &[&str]) {
        if let Some(value) = value {
            if !allowed.contains(&value.as_str()) {
                self.violation(
                    &format!("'{value}'"),
                    member,
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    pub fn at_least(&mut self, value: Option<i64>, member: &str, minimum: i64) {
        if let Some(value) = value {
            if value < minimum {
                self.violation(
                    &format!("'{value}'"),
                    member,
                    &format!("Member must have value greater than or equal to {minimum}"),
                );
            }
        }
    }

    pub fn at_most(&mut self, value: Option<i64>, member: &str, maximum: i64) {
        if let Some(value) = value {
            if value > maximum {
                self.violation(
                    &format!("'{value}'"),
                    member,
                    &format!("Member must have value less than or equal to {maximum}"),
                );
            }
        }
    }

    pub fn length_between(
        &mut self,
        length: Option<usize>,
        shown: &str,
        member: &str,
        min: usize,
        max: usize,
    ) {
        if let Some(length) = length {
            if length < min {
                self.violation(
                    shown,
                    member,
                    &format!("Member must have length greater than or equal to {min}"),
                );
            }
            if length > max {
                self.violation(
                    shown,
                    member,
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    /// A key attribute's name (of the table or an index): 1 to 255 characters.
    pub fn key_attribute_name(&mut self, name: &Option<String>, member: &str) {
        if let Some(name) = name {
            self.length_between(
                Some(name.chars().count()),
                &format!("'{name}'"),
                member,
                1,
                MAX_KEY_ATTRIBUTE_NAME_LENGTH,
            );
        }
    }

    /// The names an index projects (NonKeyAttributes), each 1 to 255 characters; a
    /// constraint on list members is reported against the whole list.
    pub fn projected_attribute_names(&mut self, names: &[String], member: &str) {
        let fits =
            |name: &String| (1..=MAX_KEY_ATTRIBUTE_NAME_LENGTH).contains(&name.chars().count());
        if !names.iter().all(fits) {
            self.violation(
                &format!("'[{}]'", names.join(", ")),
                member,
                &format!(
                    "Member must satisfy constraint: [Member must have length less than or equal \
                     to {MAX_KEY_ATTRIBUTE_NAME_LENGTH}, Member must have length greater than or \
                     equal to 1]"
                ),
            );
        }
    }

    /// `Ok` when nothing was violated, else DynamoDB's aggregated ValidationException.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.violations.len() {
            0 => Ok(()),
            1 => Err(ApiError::Validation(format!(
                "1 validation error detected: {}",
                self.violations[0]
            ))),
            n => Err(ApiError::Validation(format!(
                "{n} validation errors detected: {}",
                self.violations.join("; ")
            ))),
        }
    }
}

/// How DynamoDB's validator shows a list of `count` request structures of `class` in a
/// message: Java's `toString` of each (`com.amazonaws.dynamodb.v20120810.WriteRequest@
/// 6a4e6b2c`), whose hash part means nothing to a client.
pub fn java_objects(class: &str, count: usize) -> String {
    let objects: Vec<String> = (0..count)
        .map(|i| {
            let hash = (i as u32 + 1).wrapping_mul(0x9E37_79B1);
            format!("com.amazonaws.dynamodb.v20120810.{class}@{hash:x}")
        })
        .collect();
    format!("[{}]", objects.join(", "))
}

/// The current time in epoch seconds with millisecond precision, as DynamoDB reports
/// timestamps.
pub fn now_epoch_seconds() -> f64 {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    millis as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_aggregated_in_dynamodb_words() {
        let mut c = Constraints::new();
        c.table_name(&Some("a!".into()), "tableName");
        let Err(ApiError::Validation(message)) = c.finish() else {
            panic!("expected a validation error");
        };
        assert_eq!(
            message,
            "2 validation errors detected: Value 'a!' at 'tableName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value 'a!' at 'tableName' \
             failed to satisfy constraint: Member must have length greater than or equal to 3"
        );
    }

    #[test]
    fn valid_names_pass() {
        let mut c = Constraints::new();
        c.table_name(&Some("My_Table-1.0".into()), "tableName");
        c.not_null(&Some(1), "key");
        assert!(c.finish().is_ok());
    }

    fn message(c: Constraints) -> String {
        match c.finish() {
            Err(ApiError::Validation(message)) => message,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn key_and_projected_attribute_names_are_at_most_255_characters() {
        let mut c = Constraints::new();
        c.key_attribute_name(&Some("é".repeat(255)), "keySchema.1.member.attributeName");
        c.projected_attribute_names(&["a".repeat(255)], "projection.nonKeyAttributes");
        assert!(c.finish().is_ok());
        let mut c = Constraints::new();
        c.key_attribute_name(&Some("k".repeat(256)), "keySchema.1.member.attributeName");
        assert!(message(c).ends_with(
            "at 'keySchema.1.member.attributeName' failed to satisfy constraint: Member must \
             have length less than or equal to 255"
        ));
        let mut c = Constraints::new();
        c.projected_attribute_names(&["a".into(), String::new()], "p.nonKeyAttributes");
        assert_eq!(
            message(c),
            "1 validation error detected: Value '[a, ]' at 'p.nonKeyAttributes' failed to \
             satisfy constraint: Member must satisfy constraint: [Member must have length less \
             than or equal to 255, Member must have length greater than or equal to 1]"
        );
    }

    #[test]
    fn a_required_member_is_reported_alone() {
        assert!(require(&Some(1), "TableName").is_ok());
        assert_eq!(
            require::<String>(&None, "TableName"),
            Err(ApiError::Validation(
                "The parameter 'TableName' is required but was not present in the request".into()
            ))
        );
    }

    #[test]
    fn request_structures_are_shown_as_java_prints_them() {
        assert_eq!(java_objects("WriteRequest", 0), "[]");
        let shown = java_objects("WriteRequest", 3);
        assert!(shown.starts_with("[com.amazonaws.dynamodb.v20120810.WriteRequest@"));
        assert_eq!(shown.matches(", ").count(), 2);
    }
}
