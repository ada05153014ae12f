//! Content codings: request bodies that SDKs compress (`Content-Encoding: gzip` or
//! `deflate`, or several codings applied in a row), and responses compressed for clients
//! that accept it, as DynamoDB does. The codecs are flate2's.
//!
//! DynamoDB's answers, as ScyllaDB's Alternator tests observed them against DynamoDB: a
//! coding it does not know, or a body that does not decode (an empty one included), is a
//! server error (HTTP 500); it compresses a response of at least 4 KB with the coding
//! the request's first `Accept-Encoding` header prefers, and `x-amz-crc32` is then the
//! CRC32 of the compressed bytes, which is what botocore and the Go SDK check.

use std::io::{Read, Write};

use axum::http::{header, HeaderMap};
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;

use crate::error::ApiError;

/// A coding Cirrus decodes and encodes. HTTP's `deflate` is the zlib format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }

    fn named(token: &str) -> Option<Coding> {
        if token.eq_ignore_ascii_case("gzip") {
            Some(Coding::Gzip)
        } else if token.eq_ignore_ascii_case("deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }
}

/// Responses smaller than this stay uncompressed: DynamoDB's threshold.
pub const COMPRESS_FROM_BYTES: usize = 4096;

/// Bodies larger than this are decoded or encoded on the blocking pool, so that a worker
/// is not held for the milliseconds a large body takes.
pub const OFF_WORKER_BYTES: usize = 64 * 1024;

/// The codings a request body went through, in the order they were applied (the order
/// of its `Content-Encoding` headers and of the values in each). `identity` changes
/// nothing; any other unknown coding is DynamoDB's server error.
pub fn request_codings(headers: &HeaderMap) -> Result<Vec<Coding>, ApiError> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value
            .to_str()
            .map_err(|_| unsupported(&String::from_utf8_lossy(value.as_bytes())))?;
        for token in value.split(',').map(str::trim) {
            if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                continue;
            }
            codings.push(Coding::named(token).ok_or_else(|| unsupported(token))?);
        }
    }
    Ok(codings)
}

fn unsupported(coding: &str) -> ApiError {
    ApiError::UndecodableBody(format!("Unsupported Content-Encoding: {coding}"))
}

/// Undoes `codings` (last applied, first undone). At most `limit` decoded bytes are ever
/// produced, so a small body that inflates enormously costs `limit` bytes of memory and
/// is refused as too large.
pub fn decode(body: &[u8], codings: &[Coding], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut reader: Box<dyn Read + '_> = Box::new(body);
    for coding in codings.iter().rev() {
        reader = match coding {
            // Several gzip members in a row are one body, as gzip defines it.
            Coding::Gzip => Box::new(MultiGzDecoder::new(reader)),
            Coding::Deflate => Box::new(ZlibDecoder::new(reader)),
        };
    }
    let mut decoded = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|e| ApiError::UndecodableBody(format!("The request body does not decode: {e}")))?;
    if decoded.len() > limit {
        return Err(super::too_large());
    }
    // An empty body cannot be a compressed one: every coding has a header or trailer.
    if decoded.is_empty() && body.is_empty() {
        return Err(ApiError::UndecodableBody(
            "The request body does not decode: it is empty".into(),
        ));
    }
    Ok(decoded)
}

/// The coding a response goes out in, as DynamoDB chooses it from the request's first
/// `Accept-Encoding` header (the others are ignored): among gzip, deflate and `*` (which stands for whichever of
/// the two the header does not name, gzip first), the highest quality wins, the first
/// named on a tie, and a coding named again keeps its first non-zero quality. A quality
/// that does not parse counts as 1; one outside [0, 1] is clamped; `identity` and unknown
/// codings are ignored.
pub fn response_coding(headers: &HeaderMap) -> Option<Coding> {
    let header = headers.get_all(header::ACCEPT_ENCODING).iter().next()?;
    let header = header.to_str().ok()?;
    // Qualities of gzip, deflate and `*`; nothing chosen counts as the lowest quality
    // above zero, so a coding of quality 0 is never chosen.
    let mut quality: [Option<f32>; 3] = [None; 3];
    const ANY: usize = 2;
    let mut chosen: Option<usize> = None;
    let quality_of = |chosen: Option<usize>, quality: &[Option<f32>; 3]| {
        chosen.map_or(f32::MIN_POSITIVE, |c| quality[c].unwrap_or(0.0))
    };
    for entry in header.split(',') {
        let mut params = entry.split(';');
        let name = params.next().unwrap_or_default().trim();
        let index = match Coding::named(name) {
            Some(Coding::Gzip) => 0,
            Some(Coding::Deflate) => 1,
            None if name == "*" => ANY,
            None => continue,
        };
        if quality[index].is_some_and(|q| q != 0.0) {
            continue;
        }
        let q = params.find_map(parse_quality).unwrap_or(1.0);
        quality[index] = Some(q);
        let current = quality_of(chosen, &quality);
        let wins = if chosen == Some(ANY) {
            q >= current
        } else {
            q > current
        };
        if wins {
            chosen = Some(index);
        }
    }
    let index = match chosen? {
        ANY => {
            let unnamed = (0..ANY).find(|&i| quality[i].is_none());
            unnamed.or_else(|| {
                (0..ANY)
                    .filter(|&i| quality[i].unwrap_or(0.0) > f32::MIN_POSITIVE)
                    .max_by(|&a, &b| {
                        // The first of equal qualities.
                        quality[a]
                            .partial_cmp(&quality[b])
                            .unwrap_or(std::cmp::Ordering::Equal)
                            .then(b.cmp(&a))
                    })
            })?
        }
        index => index,
    };
    Some(if index == 0 {
        Coding::Gzip
    } else {
        Coding::Deflate
    })
}

/// A coding's quality as DynamoDB reads it: from the first parameter that contains
/// `q=` (so `nq=0` counts and `q =0` does not), clamped to [0, 1]; a value that does not
/// parse counts as 1.
fn parse_quality(param: &str) -> Option<f32> {
    let (_, value) = param.split_once("q=").or_else(|| param.split_once("Q="))?;
    let q = value.trim().parse::<f32>().ok().filter(|q| !q.is_nan());
    Some(q.map_or(1.0, |q| q.clamp(0.0, 1.0)))
}

/// `body` in `coding`. Compression favours speed: responses are compressed on the
/// request path.
pub fn encode(body: &[u8], coding: Coding) -> Result<Vec<u8>, ApiError> {
    let failed = |e: std::io::Error| ApiError::Internal(format!("cannot compress a response: {e}"));
    let out = Vec::with_capacity(body.len() / 4);
    match coding {
        Coding::Gzip => {
            let mut encoder = GzEncoder::new(out, Compression::fast());
            encoder.write_all(body).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        Coding::Deflate => {
            let mut encoder = ZlibEncoder::new(out, Compression::fast());
            encoder.write_all(body).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accepting(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        headers
    }

    /// DynamoDB's choices, as ScyllaDB's tests observed them against DynamoDB.
    #[test]
    fn response_codings_are_chosen_as_dynamodb_chooses_them() {
        use Coding::{Deflate, Gzip};
        let cases: &[(&str, Option<Coding>)] = &[
            ("gzip", Some(Gzip)),
            ("deflate", Some(Deflate)),
            ("identity", None),
            ("", None),
            ("br", None),
            ("zstd", None),
            ("compress", None),
            ("x-gzip", None),
            ("gzip, deflate", Some(Gzip)),
            ("br, identity, deflate, gzip", Some(Deflate)),
            ("GZIP, identity", Some(Gzip)),
            ("dog, gzip ,, cat", Some(Gzip)),
            ("gzip;q=0.8, deflate;q=0.5", Some(Gzip)),
            (
                "br, gzip;q=0, deflate; q = 0.5 , identity;q=0",
                Some(Deflate),
            ),
            ("*", Some(Gzip)),
            ("*, deflate;q=0.5", Some(Gzip)),
            ("*, deflate", Some(Deflate)),
            ("*, identity", Some(Gzip)),
            ("*, gzip;q=0.5", Some(Deflate)),
            ("gzip ;q=0", None),
            ("identity;q=0", None),
            ("*;q=0", None),
            ("*;q=0.5,identity", Some(Gzip)),
            ("gzip;q=0.5,identity;q=0.8", Some(Gzip)),
            ("br;q=0.8,identity;q=0.5,*;q=0", None),
            ("\"gzip\"", None),
            ("gzip br", None),
            ("gzip:q=1", None),
            ("deflate;q=0.5, gzip;q=31", Some(Gzip)),
            ("gzip;q=31,deflate;q=51", Some(Gzip)),
            ("deflate;q=0.5, gzip;q=0.2", Some(Deflate)),
            ("deflate;q=0.5, gzip;q=1;q=0.2", Some(Gzip)),
            ("deflate;q=0.5,gzip;q=0.", Some(Deflate)),
            ("deflate;q=0.5,gzip;q=0.x", Some(Gzip)),
            ("deflate;q=-0.5,gzip;q=0.2", Some(Gzip)),
            ("deflate;q=0.5,gzip;q=0. x", Some(Gzip)),
            ("gzip;q= 0;q=1", None),
            ("gzip;q =0;q=1", Some(Gzip)),
            ("gzip; q=0;q=1", None),
            ("gzip;nq=0;q=1", None),
            ("gzip;q=0, gzip;q=1, gzip;q=0", Some(Gzip)),
            ("br,identity;q=0.5,gzip;q=0.0001", Some(Gzip)),
        ];
        for (header, expected) in cases {
            assert_eq!(
                response_coding(&accepting(&[header])),
                *expected,
                "{header:?}"
            );
        }
        // Of several headers, only the first counts.
        assert_eq!(response_coding(&accepting(&["identity", "gzip"])), None);
        assert_eq!(
            response_coding(&accepting(&["gzip", "identity"])),
            Some(Gzip)
        );
        assert_eq!(response_coding(&HeaderMap::new()), None);
    }

    #[test]
    fn codings_round_trip_and_stack() -> Result<(), ApiError> {
        let body = br#"{"TableName":"t"}"#.repeat(100);
        let once = encode(&body, Coding::Gzip)?;
        assert_eq!(decode(&once, &[Coding::Gzip], 1 << 20)?, body);
        let twice = encode(&once, Coding::Deflate)?;
        assert_eq!(
            decode(&twice, &[Coding::Gzip, Coding::Deflate], 1 << 20)?,
            body
        );
        // Two gzip members in a row are one body.
        let mut members = encode(&body[..10], Coding::Gzip)?;
        members.extend(encode(&body[10..], Coding::Gzip)?);
        assert_eq!(decode(&members, &[Coding::Gzip], 1 << 20)?, body);
        Ok(())
    }

    #[test]
    fn bodies_that_do_not_decode_are_refused() -> Result<(), ApiError> {
        let body = encode(b"{}", Coding::Gzip)?;
        for (what, bytes) in [
            ("empty", Vec::new()),
            ("not compressed", b"{}".to_vec()),
            ("truncated", body[..body.len() - 1].to_vec()),
        ] {
            assert!(
                matches!(
                    decode(&bytes, &[Coding::Gzip], 1 << 20),
                    Err(ApiError::UndecodableBody(_))
                ),
                "{what}"
            );
        }
        Ok(())
    }

    #[test]
    fn decoding_stops_at_the_limit() -> Result<(), ApiError> {
        let body = vec![b' '; 1000];
        let compressed = encode(&body, Coding::Gzip)?;
        assert_eq!(decode(&compressed, &[Coding::Gzip], 1000)?.len(), 1000);
        assert!(matches!(
            decode(&compressed, &[Coding::Gzip], 999),
            Err(ApiError::RequestTooLarge(_))
        ));
        Ok(())
    }

    #[test]
    fn request_codings_are_read_in_the_order_applied() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip, identity"),
        );
        headers.append(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("Deflate"),
        );
        assert_eq!(
            request_codings(&headers).ok(),
            Some(vec![Coding::Gzip, Coding::Deflate])
        );
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert!(matches!(
            request_codings(&headers),
            Err(ApiError::UndecodableBody(_))
        ));
    }
}
