//! A keep-alive HTTP/1.1 client that signs each request with SigV4, as the SDKs do.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::workload::Request;

pub struct SignedClient {
    http: Client<HttpConnector, Full<Bytes>>,
    endpoint: hyper::Uri,
    region: String,
    credentials: aws_credential_types::Credentials,
}

/// How a request ended: success, or DynamoDB's error type (or a transport failure).
pub enum Outcome {
    Ok,
    Error(String),
}

impl SignedClient {
    pub fn new(
        endpoint: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Result<SignedClient, String> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        Ok(SignedClient {
            http,
            endpoint: endpoint
                .parse()
                .map_err(|e| format!("bad endpoint {endpoint}: {e}"))?,
            region: region.to_string(),
            credentials: Credentials::new(access_key, secret_key, None, None, "cirrus-bench"),
        })
    }

    fn signed(
        &self,
        request: &Request,
        target: &str,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        let host = self
            .endpoint
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut http_request = hyper::Request::builder()
            .method("POST")
            .uri(self.endpoint.clone())
            .header("host", host)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| e.to_string())?;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("dynamodb")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let uri = self.endpoint.to_string();
        let headers = http_request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            "POST",
            &uri,
            headers,
            SignableBody::Bytes(request.body.as_bytes()),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(&mut http_request);
        Ok(http_request)
    }

    pub async fn send(&self, request: &Request) -> Outcome {
        let target = format!("DynamoDB_20120810.{}", request.operation);
        let http_request = match self.signed(request, &target) {
            Ok(r) => r,
            Err(e) => return Outcome::Error(format!("signing: {e}")),
        };
        let response = match self.http.request(http_request).await {
            Ok(response) => response,
            Err(_) => return Outcome::Error("connection".into()),
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return Outcome::Error("connection".into()),
        };
        if status.is_success() {
            // BatchWriteItem reports writes it did not do rather than failing.
            if request.operation == "BatchWriteItem" && has_unprocessed(&body) {
                return Outcome::Error("UnprocessedItems".into());
            }
            return Outcome::Ok;
        }
        let kind = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["__type"].as_str().map(str::to_string))
            .map(|t| t.rsplit('#').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| format!("HTTP {status}"));
        Outcome::Error(kind)
    }
}

fn has_unprocessed(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["UnprocessedItems"].as_object().map(|m| !m.is_empty()))
        .unwrap_or(false)
}
