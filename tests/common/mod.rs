//! Black-box test harness: runs the real `cirrus serve` binary as a child process on a
//! free loopback port with a temporary data directory, and talks to it with the real
//! `aws-sdk-dynamodb` client (or, for what the SDK cannot express, raw HTTP/1.1).
//!
//! Every wait here is bounded; every server is killed when its `TestServer` drops.

#![allow(dead_code)]

pub mod cluster;
pub mod stored;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;

/// How long a freshly spawned server may take to accept TCP connections.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM'd server may take to exit.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a table may take to become ACTIVE (or to disappear after DeleteTable).
pub const TABLE_STATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Ports handed out in this test process, so parallel tests never pick the same one.
fn used_ports() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

pub fn free_port() -> u16 {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        drop(listener);
        if used_ports().lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("could not find a free loopback port that this process has not used");
}

/// A running `cirrus serve` child process.
pub struct TestServer {
    child: Option<Child>,
    pub port: u16,
    data_dir: tempfile::TempDir,
    log_dir: tempfile::TempDir,
    extra_args: Vec<String>,
    /// `CIRRUS_FAILPOINTS` for the next starts (see `partition/src/failpoint.rs`).
    failpoints: String,
    starts: u32,
}

impl TestServer {
    /// Start a server with default flags.
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    /// Start a server with extra `cirrus serve` flags (e.g. `["--partitions-per-table", "4"]`).
    pub fn start_with(args: &[&str]) -> TestServer {
        Self::start_armed("", args)
    }

    /// Start a server whose failpoints `failpoints` (comma-separated names) are armed:
    /// it aborts when it reaches a crash point, or stalls at a delay point.
    pub fn start_armed(failpoints: &str, args: &[&str]) -> TestServer {
        let data_dir = tempfile::Builder::new()
            .prefix("cirrus-test-data-")
            .tempdir()
            .expect("create temp data dir");
        let log_dir = tempfile::Builder::new()
            .prefix("cirrus-test-log-")
            .tempdir()
            .expect("create temp log dir");
        let mut server = TestServer {
            child: None,
            port: free_port(),
            data_dir,
            log_dir,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            failpoints: failpoints.to_string(),
            starts: 0,
        };
        server.spawn();
        server
    }

    /// Whether the server was started and not killed or stopped since.
    pub fn started(&self) -> bool {
        self.child.is_some()
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// Waits up to `SHUTDOWN_TIMEOUT` for the process to exit (`after` says since when)
    /// and returns its status; past it, SIGKILLs it and panics.
    fn reap(&self, mut child: Child, after: &str) -> ExitStatus {
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cirrus serve did not exit within {SHUTDOWN_TIMEOUT:?}{after}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.log_dir.path().join(format!("server-{n}.log"))
    }

    /// Everything every incarnation of this server wrote to stdout/stderr so far.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            let text = std::fs::read_to_string(self.log_path(n)).unwrap_or_default();
            out.push_str(&format!("----- server start #{n} -----\n{text}"));
        }
        out
    }

    /// The interesting part of the logs for a failure report: start markers, the first
    /// lines of each start (the startup line), warnings, errors and panics, at most 60 lines.
    fn log_tail(&self) -> String {
        let logs = self.logs();
        let mut since_start = 0;
        let lines: Vec<&str> = logs
            .lines()
            .filter(|l| {
                since_start += 1;
                if l.starts_with("----- server start") {
                    since_start = 0;
                }
                since_start <= 2
                    || l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("panicked")
                    || l.contains("error")
            })
            .collect();
        let from = lines.len().saturating_sub(60);
        lines[from..].join("\n")
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        self.starts += 1;
        let log = File::create(self.log_path(self.starts)).expect("create log file");
        let log_err = log.try_clone().expect("clone log file handle");
        let listen = format!("127.0.0.1:{}", self.port);
        let child = Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(&self.extra_args)
            .env("RUST_BACKTRACE", "1")
            .env("CIRRUS_FAILPOINTS", &self.failpoints)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .expect("spawn cirrus serve");
        self.child = Some(child);
        self.wait_listening();
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                self.child = None;
                panic!(
                    "cirrus serve exited before listening on {} ({status})\n{}",
                    self.addr(),
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "cirrus serve did not accept connections on {} within {:?}\n{}",
                    self.addr(),
                    STARTUP_TIMEOUT,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send SIGTERM and wait (bounded) for the process to exit; returns its exit status.
    /// Panics if it does not exit within `SHUTDOWN_TIMEOUT` (the process is then SIGKILLed).
    pub fn stop_graceful(&mut self) -> ExitStatus {
        let child = self.child.take().expect("server is not running");
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed");
        self.reap(child, " of SIGTERM")
    }

    /// Graceful restart: SIGTERM, wait for exit, start again on the same data dir and port.
    pub fn restart(&mut self) {
        self.stop_graceful();
        self.spawn();
    }

    /// Graceful restart with different extra `cirrus serve` flags (same data dir and port).
    pub fn restart_with(&mut self, args: &[&str]) {
        self.stop_graceful();
        self.extra_args = args.iter().map(|s| s.to_string()).collect();
        self.spawn();
    }

    /// SIGKILL the server (`Child::kill` sends SIGKILL on Unix) and reap it. Does not restart.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server is not running");
        child.kill().expect("SIGKILL cirrus serve");
        child.wait().expect("reap killed cirrus serve");
    }

    /// Start again (after `kill9` or `stop_graceful`) on the same data dir and port.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Waits (bounded) for a server that reached an armed crash point to die, then
    /// starts it again with no failpoint armed. Panics if it did not crash.
    pub fn restart_after_crash(&mut self) {
        let child = self.child.take().expect("server is not running");
        let status = self.reap(child, " (it was to reach a crash point)");
        assert!(
            !status.success(),
            "the server exited cleanly instead of crashing"
        );
        self.failpoints.clear();
        self.spawn();
    }

    /// The server's peak resident memory so far (`VmHWM` in `/proc/<pid>/status`), in
    /// bytes; `None` when it is not running or the kernel does not say.
    pub fn peak_memory_bytes(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().expect("try_wait").is_none(),
        }
    }

    /// An SDK client for this server: us-east-1, test credentials, plain HTTP, the SDK's
    /// standard retry policy, and bounded timeouts.
    pub fn client(&self) -> Client {
        self.client_with(RetryConfig::standard())
    }

    /// An SDK client that never retries (so "acknowledged" means exactly one attempt succeeded).
    pub fn client_no_retry(&self) -> Client {
        self.client_with(RetryConfig::disabled())
    }

    fn client_with(&self, retry: RetryConfig) -> Client {
        self.client_for(retry, "us-east-1")
    }

    /// An SDK client like `client()` that signs its requests for `region`.
    pub fn client_in(&self, region: &str) -> Client {
        self.client_for(RetryConfig::standard(), region)
    }

    fn client_for(&self, retry: RetryConfig, region: &str) -> Client {
        let http = aws_smithy_http_client::Builder::new().build_http();
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::from_keys(
                "AKIDCIRRUSTEST",
                "cirrus-test-secret",
                None,
            ))
            .http_client(http)
            .retry_config(retry)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .operation_timeout(Duration::from_secs(45))
                    .build(),
            )
            .build();
        Client::from_conf(config)
    }

    /// One HTTP/1.1 `POST /` with `X-Amz-Target: <target>` (omitted when `target` is empty),
    /// `Content-Type: application/x-amz-json-1.0` and the given body.
    pub fn raw_request(&self, target: &str, body: &str) -> RawResponse {
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/x-amz-json-1.0")];
        if !target.is_empty() {
            headers.push(("X-Amz-Target", target));
        }
        self.raw_request_with(&headers, body.as_bytes())
            .unwrap_or_else(|e| panic!("raw request {target} failed: {e}"))
    }

    /// Raw `POST /` with exactly the given extra headers (plus Host, Content-Length,
    /// Connection: close, X-Amz-Date and an Authorization header in SigV4 form).
    pub fn raw_request_with(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<RawResponse> {
        raw_http_post(self.addr(), headers, body.len(), body)
    }

    /// Raw `POST /` that announces a `Content-Length` of `declared` bytes but sends only
    /// `body`: for a server expected to answer from the headers alone.
    pub fn raw_request_declaring(
        &self,
        headers: &[(&str, &str)],
        declared: usize,
        body: &[u8],
    ) -> std::io::Result<RawResponse> {
        raw_http_post(self.addr(), headers, declared, body)
    }

    /// Sends a whole request (as `raw_request`) without waiting for the answer; dropping
    /// the returned connection hangs up, like a client that gives up.
    pub fn send_and_leave_open(&self, target: &str, body: &str) -> TcpStream {
        let headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", target),
        ];
        let mut stream = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(5))
            .expect("connect to cirrus serve");
        write_request(&mut stream, self.addr(), &headers, body.as_bytes())
            .expect("send the request");
        stream
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "===== cirrus serve logs (port {}) =====\n{}",
                self.port,
                self.log_tail()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Raw HTTP/1.1
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body text if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): status {} body {:?}",
                self.status,
                self.body_str()
            )
        })
    }

    /// The `__type` of an error body, if any.
    pub fn error_type(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("__type")?
            .as_str()
            .map(str::to_owned)
    }

    /// The message of an error body (`message`, or `Message` as some coral errors spell it).
    pub fn error_message(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("message")
            .or_else(|| v.get("Message"))?
            .as_str()
            .map(str::to_owned)
    }
}

fn raw_http_post(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    content_length: usize,
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let mut stream = connect(addr)?;
    stream.write_all(request_head(addr, headers, content_length).as_bytes())?;
    // The server may answer (e.g. 413) and close before reading a large body; still try
    // to read whatever response it sent.
    let write_result = stream.write_all(body).and_then(|_| stream.flush());
    read_response(&mut stream, write_result)
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    Ok(stream)
}

/// One exchange with exactly this request line and these headers, plus Host and
/// `Connection: close`: for what the other raw helpers add on their own (a signature,
/// the POST method). The body goes with a Content-Length, or chunked in pieces of
/// `chunk` bytes.
pub fn raw_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunk: Option<usize>,
) -> std::io::Result<RawResponse> {
    let mut stream = connect(addr)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match chunk {
        Some(_) => head.push_str("Transfer-Encoding: chunked\r\n"),
        None => head.push_str(&format!("Content-Length: {}\r\n", body.len())),
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    let write_result = match chunk {
        None => stream.write_all(body),
        Some(size) => body
            .chunks(size.max(1))
            .try_for_each(|piece| {
                stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
                stream.write_all(piece)?;
                stream.write_all(b"\r\n")
            })
            .and_then(|_| stream.write_all(b"0\r\n\r\n")),
    }
    .and_then(|_| stream.flush());
    read_response(&mut stream, write_result)
}

/// Reads a response (whatever arrived, even if writing the request failed part-way).
fn read_response(
    stream: &mut TcpStream,
    write_result: std::io::Result<()>,
) -> std::io::Result<RawResponse> {
    // Read until a complete response has arrived (by Content-Length or the final chunk),
    // or the server closes the connection.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let read_result = loop {
        if response_complete(&raw) {
            break Ok(());
        }
        match stream.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(k) => raw.extend_from_slice(&buf[..k]),
            Err(e) => break Err(e),
        }
    };
    if raw.is_empty() {
        write_result?;
        read_result?;
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed without a response",
        ));
    }
    parse_http_response(&raw)
}

/// The head of a `POST /` with the given extra headers, plus Host, Content-Length,
/// Connection: close, X-Amz-Date and an Authorization header in SigV4 form.
fn request_head(addr: SocketAddr, headers: &[(&str, &str)], content_length: usize) -> String {
    let mut req = String::new();
    req.push_str("POST / HTTP/1.1\r\n");
    req.push_str(&format!("Host: {addr}\r\n"));
    req.push_str("X-Amz-Date: 20240101T000000Z\r\n");
    req.push_str(
        "Authorization: AWS4-HMAC-SHA256 \
         Credential=AKIDCIRRUSTEST/20240101/us-east-1/dynamodb/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
         Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n",
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {content_length}\r\n"));
    req.push_str("Connection: close\r\n\r\n");
    req
}

/// Writes a `POST /` with the given extra headers (plus Host, Content-Length,
/// Connection: close, X-Amz-Date and an Authorization header in SigV4 form) and body.
fn write_request(
    stream: &mut TcpStream,
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    stream.write_all(request_head(addr, headers, body.len()).as_bytes())?;
    // The server may answer (e.g. 413) and close before reading a large body; the caller
    // still tries to read whatever response it sent.
    stream.write_all(body).and_then(|_| stream.flush())
}

/// Whether `raw` holds a whole HTTP response (headers plus the body they announce).
fn response_complete(raw: &[u8]) -> bool {
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let body = &raw[head_end + 4..];
    for line in head.split("\r\n") {
        if let Some(v) = line.strip_prefix("content-length:") {
            return v.trim().parse::<usize>().is_ok_and(|len| body.len() >= len);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return decode_chunked(body).is_some();
        }
    }
    false
}

fn parse_http_response(raw: &[u8]) -> std::io::Result<RawResponse> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut headers = Vec::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let rest = &raw[head_end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        decode_chunked(rest).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some((_, len)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        if rest.len() < len {
            return Err(bad("body shorter than content-length"));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------
// CRC32 (IEEE 802.3, the one DynamoDB's x-amz-crc32 uses)
// ---------------------------------------------------------------------------------------

const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC32_TABLE: [u32; 256] = crc32_table();

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = CRC32_TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

// ---------------------------------------------------------------------------------------
// SDK helpers
// ---------------------------------------------------------------------------------------

/// The error code and message of a failed SDK call; panics (with the response) if it succeeded.
pub fn expect_err<
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
>(
    what: &str,
    result: Result<T, SdkError<E, R>>,
) -> (String, String) {
    match result {
        Ok(v) => panic!("{what}: expected an error, but the request succeeded: {v:?}"),
        Err(err) => {
            let code = err.code().map(str::to_owned);
            let message = err.message().unwrap_or_default().to_owned();
            match code {
                Some(code) => (code, message),
                None => {
                    panic!("{what}: expected a service error, got a non-service error: {err:?}")
                }
            }
        }
    }
}

/// Like `expect_err`, but returns a description of the mismatch instead of panicking,
/// so a test can check many cases and report every failing one.
pub fn check_err<
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
>(
    what: &str,
    result: Result<T, SdkError<E, R>>,
    want_code: &str,
    want_message_contains: Option<&str>,
) -> Result<(), String> {
    match result {
        Ok(v) => Err(format!(
            "{what}: expected {want_code}{}, but the request succeeded: {v:?}",
            want_message_contains
                .map(|m| format!(" containing {m:?}"))
                .unwrap_or_default()
        )),
        Err(err) => {
            let Some(code) = err.code().map(str::to_owned) else {
                return Err(format!(
                    "{what}: expected {want_code}, got a non-service error: {err:?}"
                ));
            };
            let message = err.message().unwrap_or_default().to_owned();
            if code != want_code {
                return Err(format!(
                    "{what}: expected code {want_code}, got {code} with message {message:?}"
                ));
            }
            if let Some(m) = want_message_contains {
                if !message.contains(m) {
                    return Err(format!(
                        "{what}: code {code} as expected, but message {message:?} does not contain {m:?}"
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Like `check_err`, for a raw response: HTTP 400, an `__type` ending in `#code`, and a
/// message containing every part.
pub fn check_raw_error(
    what: &str,
    r: &RawResponse,
    code: &str,
    msg: &[&str],
) -> Result<(), String> {
    let t = r.error_type().unwrap_or_default();
    let m = r.error_message().unwrap_or_default();
    if r.status != 400 || !t.ends_with(&format!("#{code}")) {
        return Err(format!(
            "{what}: expected 400 {code}, got {} {t:?}: {m:?}",
            r.status
        ));
    }
    for part in msg {
        if !m.contains(part) {
            return Err(format!(
                "{what}: {code} as expected, but message {m:?} does not contain {part:?}"
            ));
        }
    }
    Ok(())
}

/// Collects failures from many cases and panics once with all of them.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn check(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            self.0.push(e);
        }
    }
    pub fn push(&mut self, e: impl Into<String>) {
        self.0.push(e.into());
    }
    pub fn assert_none(self) {
        if !self.0.is_empty() {
            panic!(
                "{} failing case(s):\n  - {}",
                self.0.len(),
                self.0.join("\n  - ")
            );
        }
    }
}

pub fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .unwrap()
}

pub fn attr_def(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .unwrap()
}

/// CreateTable of an on-demand table with the given hash key and optional range key.
pub fn create_table_request(
    client: &Client,
    name: &str,
    hash: (&str, ScalarAttributeType),
    range: Option<(&str, ScalarAttributeType)>,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(hash.0, KeyType::Hash))
        .attribute_definitions(attr_def(hash.0, hash.1));
    if let Some((r, t)) = range {
        req = req
            .key_schema(key(r, KeyType::Range))
            .attribute_definitions(attr_def(r, t));
    }
    req
}

/// Create an on-demand table with the given hash key and optional range key, and wait
/// until it is ACTIVE.
pub async fn create_table(
    client: &Client,
    name: &str,
    hash: (&str, ScalarAttributeType),
    range: Option<(&str, ScalarAttributeType)>,
) {
    create_table_request(client, name, hash, range)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name} failed: {e:?}"));
    wait_active(client, name).await;
}

/// Poll DescribeTable until the table is ACTIVE (bounded by `TABLE_STATE_TIMEOUT`).
pub async fn wait_active(client: &Client, name: &str) {
    let deadline = Instant::now() + TABLE_STATE_TIMEOUT;
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTable {name} failed: {e:?}"));
        let status = out.table().and_then(|t| t.table_status()).cloned();
        if status == Some(TableStatus::Active) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "table {name} not ACTIVE within {TABLE_STATE_TIMEOUT:?} (status {status:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

pub fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(v.to_vec()))
}

pub fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Sets are unordered in DynamoDB: sort set members (recursively) so items compare by value.
pub fn canonical(v: &AttributeValue) -> AttributeValue {
    match v {
        AttributeValue::Ss(x) => {
            let mut x = x.clone();
            x.sort();
            AttributeValue::Ss(x)
        }
        AttributeValue::Ns(x) => {
            let mut x = x.clone();
            x.sort();
            AttributeValue::Ns(x)
        }
        AttributeValue::Bs(x) => {
            let mut x = x.clone();
            x.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
            AttributeValue::Bs(x)
        }
        AttributeValue::L(x) => AttributeValue::L(x.iter().map(canonical).collect()),
        AttributeValue::M(x) => {
            AttributeValue::M(x.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

pub fn canonical_item(i: &HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue> {
    i.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()
}

/// A table name unique within this test process (tests may share nothing, but this keeps
/// names distinct even when one test creates several tables).
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

// ---------------------------------------------------------------------------------------
// Data-plane helpers (expressions, UpdateItem, Query/Scan, batches)
// ---------------------------------------------------------------------------------------

/// An item or key: attribute name → value.
pub type Attrs = HashMap<String, AttributeValue>;

/// How many pages a paging loop in a test may fetch before it is considered runaway.
pub const MAX_PAGES: usize = 500;

/// UpdateTable's GlobalSecondaryIndexUpdates entry that creates an index.
pub fn gsi_create_action(
    name: &str,
    hash: &str,
    range: Option<&str>,
    projection: aws_sdk_dynamodb::types::Projection,
) -> aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate {
    let mut action = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .projection(projection);
    if let Some(range) = range {
        action = action.key_schema(key(range, KeyType::Range));
    }
    aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
        .create(action.build().unwrap())
        .build()
}

/// Every page of a Scan (ExclusiveStartKey replaced each time), bounded by `MAX_PAGES`.
pub async fn scan_pages(
    base: &aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
) -> Result<Vec<aws_sdk_dynamodb::operation::scan::ScanOutput>, String> {
    let mut pages = Vec::new();
    let mut start: Option<Attrs> = None;
    for _ in 0..MAX_PAGES {
        let page = base
            .clone()
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("Scan page {}: {e:?}", pages.len() + 1))?;
        let next = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        pages.push(page);
        match next {
            Some(k) => start = Some(k),
            None => return Ok(pages),
        }
    }
    Err(format!("Scan did not finish within {MAX_PAGES} pages"))
}

pub fn ss(v: &[&str]) -> AttributeValue {
    AttributeValue::Ss(v.iter().map(|x| x.to_string()).collect())
}

pub fn ns(v: &[&str]) -> AttributeValue {
    AttributeValue::Ns(v.iter().map(|x| x.to_string()).collect())
}

pub fn bs(v: &[&[u8]]) -> AttributeValue {
    AttributeValue::Bs(
        v.iter()
            .map(|x| aws_sdk_dynamodb::primitives::Blob::new(x.to_vec()))
            .collect(),
    )
}

pub fn list(v: Vec<AttributeValue>) -> AttributeValue {
    AttributeValue::L(v)
}

pub fn map(pairs: &[(&str, AttributeValue)]) -> AttributeValue {
    AttributeValue::M(item(pairs))
}

/// PutItem that must succeed.
pub async fn put_ok(client: &Client, table: &str, it: Attrs) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(it.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItem {it:?} into {table}: {e:?}"));
}

/// Strongly consistent GetItem that must succeed.
pub async fn get_consistent(client: &Client, table: &str, key: Attrs) -> Option<Attrs> {
    try_get_consistent(client, table, key.clone())
        .await
        .unwrap_or_else(|e| panic!("GetItem {key:?} from {table}: {e}"))
}

/// A strongly consistent GetItem, or why it failed.
pub async fn try_get_consistent(
    client: &Client,
    table: &str,
    key: Attrs,
) -> Result<Option<Attrs>, String> {
    let got = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(got.item().cloned())
}

/// Enables TTL on `table` with attribute `attribute`.
pub async fn enable_ttl(client: &Client, table: &str, attribute: &str) {
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attribute)
                .build()
                .expect("a TTL specification"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTimeToLive {table}: {e:?}"));
}

/// Every item of a table, by paging a consistent Scan to the end (bounded by `MAX_PAGES`).
pub async fn scan_everything(client: &Client, table: &str) -> Vec<Attrs> {
    let mut out = Vec::new();
    let mut start: Option<Attrs> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("Scan {table}: {e:?}"));
        out.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return out,
        }
    }
    panic!("Scan of {table} did not finish within {MAX_PAGES} pages");
}

// ---------------------------------------------------------------------------------------
// Secondary-index helpers
// ---------------------------------------------------------------------------------------

/// How long a new GSI may take to become ACTIVE, or a deleted one to disappear.
pub const INDEX_STATE_TIMEOUT: Duration = Duration::from_secs(120);

/// DescribeTable that must succeed; returns the TableDescription.
pub async fn describe_table(
    client: &Client,
    name: &str,
) -> aws_sdk_dynamodb::types::TableDescription {
    client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeTable {name}: {e:?}"))
        .table()
        .cloned()
        .unwrap_or_else(|| panic!("DescribeTable {name}: no Table in the response"))
}

/// Poll DescribeTable (bounded by `INDEX_STATE_TIMEOUT`) until the table is ACTIVE and every
/// global secondary index is ACTIVE and not backfilling; returns the last description.
pub async fn wait_gsis_active(
    client: &Client,
    name: &str,
) -> aws_sdk_dynamodb::types::TableDescription {
    use aws_sdk_dynamodb::types::IndexStatus;
    let deadline = Instant::now() + INDEX_STATE_TIMEOUT;
    loop {
        let desc = describe_table(client, name).await;
        let pending: Vec<String> = desc
            .global_secondary_indexes()
            .iter()
            .filter(|g| {
                g.index_status() != Some(&IndexStatus::Active) || g.backfilling() == Some(true)
            })
            .map(|g| {
                format!(
                    "{:?} {:?} backfilling={:?}",
                    g.index_name(),
                    g.index_status(),
                    g.backfilling()
                )
            })
            .collect();
        if desc.table_status() == Some(&TableStatus::Active) && pending.is_empty() {
            return desc;
        }
        assert!(
            Instant::now() < deadline,
            "table {name}: indexes not ACTIVE within {INDEX_STATE_TIMEOUT:?} (table {:?}, pending {pending:?})",
            desc.table_status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every entry of a secondary index, by paging an eventually consistent Scan with
/// IndexName to the end (bounded by `MAX_PAGES`).
pub async fn scan_index_everything(client: &Client, table: &str, index: &str) -> Vec<Attrs> {
    let mut out = Vec::new();
    let mut start: Option<Attrs> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .scan()
            .table_name(table)
            .index_name(index)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("Scan {table} index {index}: {e:?}"));
        out.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return out,
        }
    }
    panic!("Scan of {table} index {index} did not finish within {MAX_PAGES} pages");
}

/// Put every item with BatchWriteItem, 25 at a time, resubmitting UnprocessedItems
/// (bounded: at most 50 attempts per batch).
pub async fn batch_put_all(client: &Client, table: &str, items: &[Attrs]) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    for chunk in items.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|it| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(it.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        for attempt in 0.. {
            assert!(
                attempt < 50,
                "BatchWriteItem into {table}: items stay unprocessed"
            );
            let out = client
                .batch_write_item()
                .request_items(table, requests.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("BatchWriteItem into {table}: {e:?}"));
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Whether `v` can be an index key value of type `t`: the right type and, for S and B,
/// not empty. (An item whose index key is missing, of another type or empty is not in the
/// index; items written before a GSI existed can be like that.)
pub fn is_index_key_value(v: &AttributeValue, t: &ScalarAttributeType) -> bool {
    match (v, t) {
        (AttributeValue::S(x), ScalarAttributeType::S) => !x.is_empty(),
        (AttributeValue::N(_), ScalarAttributeType::N) => true,
        (AttributeValue::B(x), ScalarAttributeType::B) => !x.as_ref().is_empty(),
        _ => false,
    }
}

/// What a secondary index must hold for the table `items`: one entry per item whose
/// index key attributes are all usable index key values, projected to the table key,
/// the index key and `include` (`None` means ProjectionType ALL: the whole item).
pub fn expected_index_entries(
    items: &[Attrs],
    table_keys: &[&str],
    index_keys: &[(&str, ScalarAttributeType)],
    include: Option<&[&str]>,
) -> Vec<Attrs> {
    items
        .iter()
        .filter(|it| {
            index_keys
                .iter()
                .all(|(k, t)| it.get(*k).is_some_and(|v| is_index_key_value(v, t)))
        })
        .map(|it| match include {
            None => it.clone(),
            Some(extra) => it
                .iter()
                .filter(|(k, _)| {
                    table_keys.contains(&k.as_str())
                        || index_keys.iter().any(|(ik, _)| ik == k)
                        || extra.contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .collect()
}

/// A printable identity of an item: the values of its table key attributes.
pub fn table_key_of(it: &Attrs, table_keys: &[&str]) -> String {
    table_keys
        .iter()
        .map(|k| format!("{k}={:?}", it.get(*k)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Compares index entries with the expected ones, matched by table key. Returns one line
/// per missing, unexpected, duplicated or differing entry (empty when they agree exactly).
pub fn index_differences(expected: &[Attrs], got: &[Attrs], table_keys: &[&str]) -> Vec<String> {
    let mut want: HashMap<String, Attrs> = HashMap::new();
    for it in expected {
        want.insert(table_key_of(it, table_keys), canonical_item(it));
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut bad = Vec::new();
    for it in got {
        let k = table_key_of(it, table_keys);
        if !seen.insert(k.clone()) {
            bad.push(format!("duplicate entry {k}"));
            continue;
        }
        match want.get(&k) {
            None => bad.push(format!("unexpected entry {it:?}")),
            Some(w) if *w != canonical_item(it) => {
                bad.push(format!("entry {k} is {it:?}, want {w:?}"))
            }
            Some(_) => {}
        }
    }
    for (k, w) in &want {
        if !seen.contains(k) {
            bad.push(format!("missing entry {w:?}"));
        }
    }
    bad.sort();
    bad
}

// ---------------------------------------------------------------------------------------
// DynamoDB Streams helpers
// ---------------------------------------------------------------------------------------

/// A DynamoDB Streams SDK client for `server`, configured like `TestServer::client` (same
/// endpoint, region, test credentials, plain HTTP, standard retries, bounded timeouts).
pub fn streams_client(server: &TestServer) -> aws_sdk_dynamodbstreams::Client {
    streams_client_in(server, "us-east-1")
}

/// A DynamoDB Streams SDK client like `streams_client` that signs for `region`.
pub fn streams_client_in(server: &TestServer, region: &str) -> aws_sdk_dynamodbstreams::Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::from_keys(
            "AKIDCIRRUSTEST",
            "cirrus-test-secret",
            None,
        ))
        .http_client(http)
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(45))
                .build(),
        )
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// CreateTable of an on-demand table `name` with hash key `pk` (S) and an enabled
/// stream of `view`.
pub fn create_stream_table_request(
    client: &Client,
    name: &str,
    view: aws_sdk_dynamodb::types::StreamViewType,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    create_table_request(client, name, ("pk", ScalarAttributeType::S), None).stream_specification(
        aws_sdk_dynamodb::types::StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(view)
            .build()
            .unwrap(),
    )
}

/// Creates an on-demand table `name` with hash key `pk` (S) and an enabled stream of
/// `view`, waits until it is ACTIVE, and returns the stream's ARN.
pub async fn create_stream_table(
    client: &Client,
    name: &str,
    view: aws_sdk_dynamodb::types::StreamViewType,
) -> String {
    create_stream_table_request(client, name, view)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
    wait_active(client, name).await;
    stream_arn(client, name).await
}

/// The latest stream ARN of table `name`.
pub async fn stream_arn(client: &Client, name: &str) -> String {
    describe_table(client, name)
        .await
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_owned()
}

/// A stream record's attribute value as the DynamoDB SDK's type, to compare with items.
pub fn from_stream_value(v: &aws_sdk_dynamodbstreams::types::AttributeValue) -> AttributeValue {
    use aws_sdk_dynamodbstreams::types::AttributeValue as V;
    match v {
        V::S(x) => AttributeValue::S(x.clone()),
        V::N(x) => AttributeValue::N(x.clone()),
        V::B(x) => AttributeValue::B(x.clone()),
        V::Ss(x) => AttributeValue::Ss(x.clone()),
        V::Ns(x) => AttributeValue::Ns(x.clone()),
        V::Bs(x) => AttributeValue::Bs(x.clone()),
        V::Bool(x) => AttributeValue::Bool(*x),
        V::Null(x) => AttributeValue::Null(*x),
        V::L(x) => AttributeValue::L(x.iter().map(from_stream_value).collect()),
        V::M(x) => AttributeValue::M(from_stream_item(x)),
        other => panic!("unknown attribute value in a stream record: {other:?}"),
    }
}

/// A stream record's Keys, NewImage or OldImage as an item of the DynamoDB SDK's type.
pub fn from_stream_item(
    m: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Attrs {
    m.iter()
        .map(|(k, v)| (k.clone(), from_stream_value(v)))
        .collect()
}

/// Every record of every shard of the stream, from TRIM_HORIZON until caught up.
pub async fn stream_records(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
    try_stream_records(streams, arn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// How many pages a stream paging loop may fetch before it counts as runaway.
const MAX_STREAM_PAGES: usize = 1_000;

/// The stream's shards, as DescribeStream lists them (all pages).
pub async fn try_stream_shards(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Result<Vec<aws_sdk_dynamodbstreams::types::Shard>, String> {
    let mut shards = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..MAX_STREAM_PAGES {
        let out = streams
            .describe_stream()
            .stream_arn(arn)
            .set_exclusive_start_shard_id(start.take())
            .send()
            .await
            .map_err(|e| format!("DescribeStream {arn}: {e:?}"))?;
        let desc = out
            .stream_description()
            .ok_or("DescribeStream: no StreamDescription")?;
        shards.extend(desc.shards().iter().cloned());
        match desc.last_evaluated_shard_id() {
            Some(id) => start = Some(id.to_owned()),
            None => return Ok(shards),
        }
    }
    Err(format!("DescribeStream {arn}: runaway paging"))
}

/// Like `stream_records`, but says what failed instead of panicking.
pub async fn try_stream_records(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Result<Vec<aws_sdk_dynamodbstreams::types::Record>, String> {
    let mut records = Vec::new();
    for shard in try_stream_shards(streams, arn).await? {
        let shard_id = shard
            .shard_id()
            .ok_or("a shard without ShardId")?
            .to_owned();
        let mut iter = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(&shard_id)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| format!("GetShardIterator {shard_id}: {e:?}"))?
            .shard_iterator()
            .ok_or("GetShardIterator: no ShardIterator")?
            .to_owned();
        let mut empty = 0;
        for page in 0.. {
            if page == MAX_STREAM_PAGES {
                return Err(format!("GetRecords {shard_id}: runaway paging"));
            }
            let out = streams
                .get_records()
                .shard_iterator(&iter)
                .send()
                .await
                .map_err(|e| format!("GetRecords {shard_id}: {e:?}"))?;
            records.extend(out.records().iter().cloned());
            empty = if out.records().is_empty() {
                empty + 1
            } else {
                0
            };
            match out.next_shard_iterator() {
                Some(next) if empty < 2 => iter = next.to_owned(),
                _ => break,
            }
        }
    }
    Ok(records)
}

/// Compares two stream sequence numbers (decimal strings) as big integers.
pub fn seq_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

// ---------------------------------------------------------------------------------------
// Capacity helpers
// ---------------------------------------------------------------------------------------

impl TestServer {
    /// An SDK client like `client()` (the SDK's standard retry mode, same backoff) that
    /// makes up to `attempts` attempts per call instead of the default 3.
    pub fn client_with_max_attempts(&self, attempts: u32) -> Client {
        self.client_with(RetryConfig::standard().with_max_attempts(attempts))
    }
}

// ---------------------------------------------------------------------------------------
// Content codings
// ---------------------------------------------------------------------------------------

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// HTTP's `deflate`: the zlib format.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("deflate into memory");
    encoder.finish().expect("deflate into memory")
}

pub fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

pub fn inflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}
