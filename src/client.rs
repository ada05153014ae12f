//! A keep-alive HTTP/1.1 client that signs each request with SigV4, as the SDKs do:
//! what `cirrus bench` drives a server with, and how the admin commands reach a node.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub struct SignedClient {
    http: Client<HttpConnector, Full<Bytes>>,
    endpoint: hyper::Uri,
    region: String,
    credentials: aws_credential_types::Credentials,
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

    fn signed(&self, target: &str, body: String) -> Result<hyper::Request<Full<Bytes>>, String> {
        let body = Bytes::from(body);
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
            .body(Full::new(body.clone()))
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
        let signable = SignableRequest::new("POST", &uri, headers, SignableBody::Bytes(&body))
            .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(&mut http_request);
        Ok(http_request)
    }

    /// Sends one signed request (`target`: the X-Amz-Target) and returns the status
    /// and body of the response, or why there is none.
    pub async fn call(
        &self,
        target: &str,
        body: String,
    ) -> Result<(hyper::StatusCode, Bytes), String> {
        let http_request = self
            .signed(target, body)
            .map_err(|e| format!("signing: {e}"))?;
        let response = self
            .http
            .request(http_request)
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("connection: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}
