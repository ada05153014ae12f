//! Expressions in requests: the parse cache, and binding a request's
//! ExpressionAttributeNames/Values into the cached ASTs.
//!
//! The same expression text recurs across requests, so each distinct text is parsed
//! once; a request only pays for binding its placeholders.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use cirrus_storage::expression::bind::Bindings;
use cirrus_storage::expression::parser::{parse_condition, parse_projection, parse_update};
use cirrus_storage::expression::{
    Condition, ExpressionError, ExpressionKind, Projection, UpdateActions,
};
use cirrus_storage::AttributeValue;
use serde_json::Value;

use crate::attribute_names::{check_attribute_name, is_name_too_large};
use crate::error::ApiError;
use crate::wire::attribute_value::parse_value;

/// Distinct expression texts kept per kind; past this the cache starts over, which
/// bounds memory against clients that inline values into expression text.
const CACHE_CAPACITY: usize = 4096;

#[derive(Clone)]
enum Parsed {
    Condition(Arc<Condition>),
    Update(Arc<UpdateActions>),
    Projection(Arc<Projection>),
}

#[derive(Default)]
pub struct ExpressionCache {
    parsed: RwLock<HashMap<(ExpressionKind, String), Parsed>>,
}

impl From<ExpressionError> for ApiError {
    fn from(error: ExpressionError) -> Self {
        ApiError::Validation(error.0)
    }
}

impl ExpressionCache {
    fn get_or_parse(
        &self,
        kind: ExpressionKind,
        text: &str,
        parse: impl FnOnce(&str) -> Result<Parsed, ExpressionError>,
    ) -> Result<Parsed, ExpressionError> {
        let key = (kind, text.to_string());
        if let Some(parsed) = self
            .parsed
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
        {
            return Ok(parsed.clone());
        }
        let parsed = parse(text)?;
        let mut cache = self
            .parsed
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key, parsed.clone());
        Ok(parsed)
    }

    fn condition(
        &self,
        text: &str,
        kind: ExpressionKind,
    ) -> Result<Arc<Condition>, ExpressionError> {
        match self.get_or_parse(kind, text, |t| {
            parse_condition(t, kind).map(|c| Parsed::Condition(Arc::new(c)))
        })? {
            Parsed::Condition(c) => Ok(c),
            _ => Err(ExpressionError(
                "cached expression of the wrong kind".into(),
            )),
        }
    }

    fn update(&self, text: &str) -> Result<Arc<UpdateActions>, ExpressionError> {
        match self.get_or_parse(ExpressionKind::Update, text, |t| {
            parse_update(t).map(|u| Parsed::Update(Arc::new(u)))
        })? {
            Parsed::Update(u) => Ok(u),
            _ => Err(ExpressionError(
                "cached expression of the wrong kind".into(),
            )),
        }
    }

    fn projection(&self, text: &str) -> Result<Arc<Projection>, ExpressionError> {
        match self.get_or_parse(ExpressionKind::Projection, text, |t| {
            parse_projection(t).map(|p| Parsed::Projection(Arc::new(p)))
        })? {
            Parsed::Projection(p) => Ok(p),
            _ => Err(ExpressionError(
                "cached expression of the wrong kind".into(),
            )),
        }
    }
}

/// A request's ExpressionAttributeNames and ExpressionAttributeValues, validated.
pub struct Placeholders {
    names: Option<BTreeMap<String, String>>,
    values: Option<BTreeMap<String, AttributeValue>>,
}

impl Placeholders {
    /// Validates the two maps; `uses_expressions` says whether the request has any
    /// expression, since DynamoDB refuses the maps without one.
    pub fn parse(
        names: Option<&Value>,
        values: Option<&Value>,
        uses_expressions: bool,
    ) -> Result<Self, ApiError> {
        let names = match names {
            None => None,
            Some(_) if !uses_expressions => {
                return Err(ApiError::validation(
                    "ExpressionAttributeNames can only be specified when using expressions",
                ))
            }
            Some(Value::Object(map)) if map.is_empty() => {
                return Err(ApiError::validation(
                    "ExpressionAttributeNames must not be empty",
                ))
            }
            Some(Value::Object(map)) => {
                let mut names = BTreeMap::new();
                for (key, value) in map {
                    if !key.starts_with('#') {
                        return Err(ApiError::validation(format!(
                            "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{key}\""
                        )));
                    }
                    let Value::String(name) = value else {
                        return Err(ApiError::Serialization(
                            "Unexpected value type in payload".into(),
                        ));
                    };
                    check_attribute_name(name)?;
                    names.insert(key.clone(), name.clone());
                }
                Some(names)
            }
            Some(_) => return Err(ApiError::Serialization("Unexpected field type".into())),
        };
        let values = match values {
            None => None,
            Some(_) if !uses_expressions => {
                return Err(ApiError::validation(
                    "ExpressionAttributeValues can only be specified when using expressions",
                ))
            }
            Some(Value::Object(map)) if map.is_empty() => {
                return Err(ApiError::validation(
                    "ExpressionAttributeValues must not be empty",
                ))
            }
            Some(Value::Object(map)) => {
                let mut values = BTreeMap::new();
                for (key, value) in map {
                    if !key.starts_with(':') {
                        return Err(ApiError::validation(format!(
                            "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{key}\""
                        )));
                    }
                    let value = parse_value(value).map_err(|e| match e {
                        e if is_name_too_large(&e) => e,
                        ApiError::Validation(message) => ApiError::Validation(format!(
                            "ExpressionAttributeValues contains invalid value: {message} for key {key}"
                        )),
                        other => other,
                    })?;
                    values.insert(key.clone(), value);
                }
                Some(values)
            }
            Some(_) => return Err(ApiError::Serialization("Unexpected field type".into())),
        };
        Ok(Placeholders { names, values })
    }

    pub fn binder<'a>(&'a self, cache: &'a ExpressionCache) -> Binder<'a> {
        Binder {
            cache,
            bindings: Bindings::new(self.names.as_ref(), self.values.as_ref()),
        }
    }
}

/// Parses (through the cache) and binds the expressions of one request.
pub struct Binder<'a> {
    cache: &'a ExpressionCache,
    bindings: Bindings<'a>,
}

impl Binder<'_> {
    pub fn condition(
        &mut self,
        text: Option<&str>,
        kind: ExpressionKind,
    ) -> Result<Option<Condition>, ApiError> {
        let Some(text) = text else { return Ok(None) };
        let parsed = self.cache.condition(text, kind)?;
        Ok(Some(self.bindings.condition(&parsed, kind)?))
    }

    pub fn update(&mut self, text: Option<&str>) -> Result<Option<UpdateActions>, ApiError> {
        let Some(text) = text else { return Ok(None) };
        let parsed = self.cache.update(text)?;
        Ok(Some(self.bindings.update(&parsed)?))
    }

    pub fn projection(&mut self, text: Option<&str>) -> Result<Option<Projection>, ApiError> {
        let Some(text) = text else { return Ok(None) };
        let parsed = self.cache.projection(text)?;
        Ok(Some(self.bindings.projection(&parsed)?))
    }

    /// Reports placeholders the request defined but no expression used.
    pub fn finish(self) -> Result<(), ApiError> {
        Ok(self.bindings.finish()?)
    }
}
