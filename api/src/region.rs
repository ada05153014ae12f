//! The region a request is for: each region keeps its own tables, as in DynamoDB. A
//! signed request names its region in its SigV4 credential scope (`Credential=AKID/
//! date/REGION/service/aws4_request` in the `Authorization` header, or a presigned
//! request's `X-Amz-Credential` query parameter); an unsigned one gets the server's
//! `--region`.

use std::fmt;
use std::ops::Deref;

use axum::http::{header, HeaderMap};

/// The longest region name: a DNS label, as the region's endpoint host name needs.
const MAX_LEN: usize = 63;

/// A region name, kept inline so that naming a request's region allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Region {
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl Region {
    /// A region name of 1–63 ASCII letters, digits and dashes; `None` for anything else,
    /// which could not be part of an endpoint's host name, an ARN or a catalog key.
    pub fn new(name: &str) -> Option<Region> {
        let valid = !name.is_empty()
            && name.len() <= MAX_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return None;
        }
        let mut bytes = [0; MAX_LEN];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Some(Region {
            len: name.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII went in.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl Deref for Region {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.as_str())
    }
}

/// The region in a request's credential scope, borrowed from its headers or query; `None`
/// for a request that is not signed (or whose scope is not `keyid/date/region/service/
/// terminator`).
pub fn scoped_region<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let authorization = authorization.to_str().ok()?;
        let (_, rest) = authorization.split_once("Credential=")?;
        let credential = rest.split([',', ' ']).next()?;
        return region_of_scope(credential, "/");
    }
    let credential = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-Credential="))?;
    // A query string carries the scope's slashes percent-encoded.
    let separator = if credential.contains('/') {
        "/"
    } else if credential.contains("%2F") {
        "%2F"
    } else {
        "%2f"
    };
    region_of_scope(credential, separator)
}

fn region_of_scope<'a>(credential: &'a str, separator: &str) -> Option<&'a str> {
    let mut fields = credential.split(separator);
    let region = fields.nth(2)?;
    // Two more fields, and no more: the service and the terminator.
    (fields.count() == 2).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn signed(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).expect("a header value"),
        );
        headers
    }

    #[test]
    fn the_scope_names_the_region() {
        let sdk = signed(
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-2/dynamodb/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc",
        );
        assert_eq!(scoped_region(&sdk, None), Some("eu-west-2"));
        let compact = signed(
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/ap-south-1/dynamodb/aws4_request,\
             SignedHeaders=host,Signature=abc",
        );
        assert_eq!(scoped_region(&compact, None), Some("ap-south-1"));
        let presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2F\
                         us-west-1%2Fdynamodb%2Faws4_request&X-Amz-Signature=abc";
        assert_eq!(
            scoped_region(&HeaderMap::new(), Some(presigned)),
            Some("us-west-1")
        );
    }

    #[test]
    fn unsigned_or_malformed_scopes_name_no_region() {
        assert_eq!(scoped_region(&HeaderMap::new(), None), None);
        assert_eq!(scoped_region(&HeaderMap::new(), Some("a=b")), None);
        assert_eq!(
            scoped_region(&signed("AWS4-HMAC-SHA256 Signature=x"), None),
            None
        );
        assert_eq!(
            scoped_region(&signed("AWS4-HMAC-SHA256 Credential=AKID/20240101/r"), None),
            None
        );
        assert_eq!(
            scoped_region(
                &signed("AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, Signature=x"),
                None
            ),
            None
        );
    }

    #[test]
    fn region_names_are_dns_labels() {
        assert_eq!(
            Region::new("us-east-1").map(|r| r.to_string()),
            Some("us-east-1".into())
        );
        let longest = "a".repeat(63);
        assert_eq!(Region::new(&longest).as_deref(), Some(longest.as_str()));
        for bad in ["", "us/east", "us east", "é", &"a".repeat(64)] {
            assert!(Region::new(bad).is_none(), "{bad:?}");
        }
    }
}
