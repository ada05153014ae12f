//! The server under test: a real `cirrus serve` child process on a free loopback port with its own data directory, and SDK clients configured for it.

use super::*;

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
            .credentials_provider(test_credentials())
            .http_client(http)
            .retry_config(retry)
            .timeout_config(test_timeouts())
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

impl TestServer {
    /// An SDK client like `client()` (the SDK's standard retry mode, same backoff) that
    /// makes up to `attempts` attempts per call instead of the default 3.
    pub fn client_with_max_attempts(&self, attempts: u32) -> Client {
        self.client_with(RetryConfig::standard().with_max_attempts(attempts))
    }
}

/// The credentials every test client signs with (any pass Cirrus's signature check).
pub fn test_credentials() -> Credentials {
    Credentials::from_keys("AKIDCIRRUSTEST", "cirrus-test-secret", None)
}

/// Every test client's timeouts: bounded, so no test waits forever on a wedged server.
pub fn test_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(45))
        .build()
}
