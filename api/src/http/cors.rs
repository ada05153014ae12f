//! CORS, as DynamoDB answers it, so that a page in a browser can call Cirrus: a request
//! with an `Origin` may come from any origin, and a preflight (`OPTIONS` with `Origin`)
//! is allowed the method and headers it asks for, for two days. A request without an
//! `Origin` gets no CORS headers at all (DynamoDB's behaviour, as ScyllaDB's and
//! dynalite's tests observed it).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

/// What a preflight answer may be cached for: DynamoDB's two days.
const MAX_AGE_SECONDS: &str = "172800";

/// The response headers a page may read: those the SDKs look at.
const EXPOSED_HEADERS: &str = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date";

/// Whether the request comes from a page of another origin.
pub fn is_cross_origin(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
}

/// The answer to a preflight: empty, allowing what it asks for.
pub fn preflight(request: &HeaderMap) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    if let Some(method) = request.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, method.clone());
    }
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECONDS),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// Lets any origin read the response.
pub fn allow(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
}
