//! DynamoDB's parameter validation: typed request parsing and the aggregated
//! "N validation errors detected: ..." message.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a request object into its typed input; a member of the wrong JSON type is a
/// SerializationException, as in DynamoDB.
pub fn parse_input<T: DeserializeOwned>(request: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(request).map_err(|e| ApiError::Serialization(e.to_string()))
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

    /// DynamoDB's rules for a table name: 3–255 characters of `[a-zA-Z0-9_.-]`.
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
}
