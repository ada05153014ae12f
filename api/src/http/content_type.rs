//! The request body types DynamoDB takes: `application/x-amz-json-1.0` (what the SDKs
//! send) and `application/json`, whatever their parameters (`; charset=utf-8`, ...). A
//! non-empty body of any other type, `application/x-amz-json-1.1` included, or of no type
//! at all, is not an API request: DynamoDB answers it 404 (dynalite's tests, checked
//! against DynamoDB). The response says the type the request used.

use axum::http::{header, HeaderMap};

pub const AMZ_JSON: &str = "application/x-amz-json-1.0";
const JSON: &str = "application/json";

/// A request body's media type, as far as DynamoDB cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyType {
    AmzJson,
    Json,
    /// Missing or any other type.
    Other,
}

impl BodyType {
    pub fn of(headers: &HeaderMap) -> BodyType {
        let Some(value) = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        else {
            return BodyType::Other;
        };
        let media_type = value.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case(AMZ_JSON) {
            BodyType::AmzJson
        } else if media_type.eq_ignore_ascii_case(JSON) {
            BodyType::Json
        } else {
            BodyType::Other
        }
    }

    /// Whether a body of this type, `body_len` bytes long, is an API request: an empty
    /// body is, whatever its type.
    pub fn is_api_request(self, body_len: usize) -> bool {
        body_len == 0 || self != BodyType::Other
    }

    /// The response's Content-Type.
    pub fn response_type(self) -> &'static str {
        match self {
            BodyType::Json => JSON,
            BodyType::AmzJson | BodyType::Other => AMZ_JSON,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn typed(value: &str) -> BodyType {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(value).expect("a header value"),
        );
        BodyType::of(&headers)
    }

    #[test]
    fn the_json_types_dynamodb_takes() {
        assert_eq!(typed("application/x-amz-json-1.0"), BodyType::AmzJson);
        assert_eq!(
            typed("application/x-amz-json-1.0; charset=utf-8"),
            BodyType::AmzJson
        );
        assert_eq!(
            typed("application/x-amz-json-1.0;blahblah"),
            BodyType::AmzJson
        );
        assert_eq!(typed("application/json"), BodyType::Json);
        assert_eq!(typed("  application/json  ;   asfd"), BodyType::Json);
        assert_eq!(typed("application/json;"), BodyType::Json);
        for other in [
            "application/x-amz-json-1.1",
            "application/jsonasdf",
            "whatever",
            "",
        ] {
            assert_eq!(typed(other), BodyType::Other, "{other:?}");
        }
        assert_eq!(BodyType::of(&HeaderMap::new()), BodyType::Other);
        assert!(BodyType::Other.is_api_request(0));
        assert!(!BodyType::Other.is_api_request(1));
    }
}
