//! A cluster of three real `cirrus serve` processes on loopback, and what the tests of
//! one share: starting it, waiting (bounded) for what replicas converge to, which of
//! the table's partitions a key is on, and which failed requests a client may retry.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ScalarAttributeType};
use aws_sdk_dynamodb::Client;

use super::{create_table_request, scan_pages, streams_client, wait_active, Attrs, TestServer};

/// How many members a test cluster has.
pub const MEMBERS: usize = 3;
/// `--partitions-per-table` of a test cluster: as many partitions as members, so that
/// each member leads about one of every table's groups.
pub const PARTITIONS: u16 = 3;
/// How long replicas may take to converge, a table to be served everywhere, or a write
/// to be acknowledged while a cluster elects leaders.
pub const WAIT: Duration = Duration::from_secs(30);

/// Three members, each told of all three, started one test at a time.
pub struct Cluster {
    /// The founders, then the nodes that joined (`join`).
    pub nodes: Vec<TestServer>,
    /// Each node's peer address, in the order of `nodes`.
    pub peer_addresses: Vec<String>,
    /// The founders' `--member` values.
    founders: Vec<String>,
    secret_file: PathBuf,
    /// When this cluster's turn came: its test's time starts here.
    pub started: Instant,
    _secret: tempfile::TempDir,
    /// Held while this cluster lives: clusters of one test binary run one at a time, so
    /// that nine servers never share two cores and the timings a test records are its own.
    _turn: MutexGuard<'static, ()>,
}

/// A cluster member `id` listening for peers at `peer_address`, founded by `founders`
/// (`ID=ADDRESS` each), with `extra` arguments and `failpoints` armed.
fn member_server(
    id: u64,
    peer_address: &str,
    founders: &[String],
    secret_file: &std::path::Path,
    extra: &[&str],
    failpoints: &str,
) -> TestServer {
    let id = id.to_string();
    let partitions = PARTITIONS.to_string();
    let mut args = vec![
        "--node-id",
        &id,
        "--peer-listen",
        peer_address,
        "--cluster-secret-file",
        secret_file.to_str().expect("a UTF-8 path"),
        "--partitions-per-table",
        &partitions,
    ];
    for founder in founders {
        args.extend(["--member", founder]);
    }
    args.extend(extra);
    TestServer::start_armed(failpoints, &args)
}

/// A file holding a cluster secret, in a directory that lives as long as the result.
pub fn secret_file() -> (tempfile::TempDir, PathBuf) {
    let secret = tempfile::tempdir().expect("a directory for the secret");
    let file = secret.path().join("secret");
    std::fs::write(&file, "the secret these nodes share").expect("write it");
    (secret, file)
}

impl Cluster {
    /// Starts three members with `--partitions-per-table PARTITIONS`, once no other
    /// cluster of this test binary is running.
    pub fn start() -> Cluster {
        Cluster::start_armed("")
    }

    /// `start`, with the failpoints `failpoints` armed on every member.
    pub fn start_armed(failpoints: &str) -> Cluster {
        Cluster::start_arming(|_| failpoints)
    }

    /// `start`, with the failpoints `failpoints` armed on member `armed` only.
    pub fn start_armed_on(armed: usize, failpoints: &str) -> Cluster {
        Cluster::start_arming(|member| if member == armed { failpoints } else { "" })
    }

    /// `start`, with the failpoints `failpoints(member)` armed on each member.
    fn start_arming<'a>(failpoints: impl Fn(usize) -> &'a str) -> Cluster {
        static TURN: Mutex<()> = Mutex::new(());
        // A test that failed while it held the turn leaves nothing behind: its servers
        // were killed when its cluster dropped.
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        let started = Instant::now();
        let (secret, secret_file) = secret_file();
        let peers: Vec<u16> = (0..MEMBERS).map(|_| super::free_port()).collect();
        let peer_addresses: Vec<String> = peers
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let members: Vec<String> = peer_addresses
            .iter()
            .enumerate()
            .map(|(i, address)| format!("{}={address}", i + 1))
            .collect();
        let nodes = (0..MEMBERS)
            .map(|i| {
                member_server(
                    i as u64 + 1,
                    &peer_addresses[i],
                    &members,
                    &secret_file,
                    &[],
                    failpoints(i),
                )
            })
            .collect();
        Cluster {
            nodes,
            peer_addresses,
            founders: members,
            secret_file,
            started,
            _secret: secret,
            _turn: turn,
        }
    }

    /// Starts node `id` with `--join` (it waits to be added: `cli` add-node); returns
    /// its index in `nodes`.
    pub fn join(&mut self, id: u64) -> usize {
        let address = format!("127.0.0.1:{}", super::free_port());
        let node = member_server(
            id,
            &address,
            &self.founders,
            &self.secret_file,
            &["--join"],
            "",
        );
        self.nodes.push(node);
        self.peer_addresses.push(address);
        self.nodes.len() - 1
    }

    /// Runs `cirrus cluster <args> --endpoint <node's>`: its standard output, or its
    /// standard error when it fails.
    pub fn cli(&self, node: usize, args: &[&str]) -> Result<String, String> {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .arg("cluster")
            .args(args)
            .arg("--endpoint")
            .arg(self.nodes[node].endpoint())
            .output()
            .map_err(|e| format!("cannot run cirrus cluster {args:?}: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            // Its log (and so its error) is on standard output.
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("{stdout}{stderr}"));
        }
        Ok(stdout)
    }

    /// A client per node, with the SDK's standard retries.
    pub fn clients(&self) -> Vec<Client> {
        self.nodes.iter().map(TestServer::client).collect()
    }

    /// A client per node that never retries: each call is one attempt.
    pub fn clients_no_retry(&self) -> Vec<Client> {
        self.nodes.iter().map(TestServer::client_no_retry).collect()
    }

    /// What `cirrus cluster status --json` prints when asked through `node`: every
    /// member's report that answered.
    pub fn status(&self, node: usize) -> Result<Vec<serde_json::Value>, String> {
        let output = self.cli(node, &["status", "--json"])?;
        serde_json::from_str(&output).map_err(|e| format!("status output: {e}"))
    }

    /// The leader of group `group_id` that every answering member names, or why there
    /// is none yet.
    pub fn leader_of(&self, group_id: u64) -> Result<u64, String> {
        let reports = self.status(self.first_running()?)?;
        let leaders: Vec<Option<u64>> = reports
            .iter()
            .filter_map(|report| {
                let groups = report["Groups"].as_array()?;
                let group = groups.iter().find(|g| g["GroupId"] == group_id)?;
                Some(group["Leader"].as_u64())
            })
            .collect();
        match leaders.first() {
            Some(Some(leader)) if leaders.iter().all(|l| *l == Some(*leader)) => Ok(*leader),
            _ => Err(format!(
                "the members name leaders {leaders:?} for group {group_id}"
            )),
        }
    }

    /// Waits until, on every running node, each group's replica reports the same state
    /// digest at the same applied index (`cirrus cluster status --json --digests`);
    /// returns how many groups agree. Equal scans could hide a difference in what reads
    /// do not show (index entries, stream records, transaction records, statistics).
    pub async fn equal_state_digests(&self) -> usize {
        eventually("every replica's state digest agrees", || async {
            let output = self.cli(self.first_running()?, &["status", "--json", "--digests"])?;
            let reports: Vec<serde_json::Value> =
                serde_json::from_str(&output).map_err(|e| format!("status output: {e}"))?;
            let running = self.nodes.iter().filter(|node| node.started()).count();
            if reports.len() != running {
                return Err(format!("{} of {running} nodes answered", reports.len()));
            }
            let mut digests: BTreeMap<u64, Vec<String>> = BTreeMap::new();
            for report in &reports {
                for group in report["Groups"].as_array().into_iter().flatten() {
                    let id = group["GroupId"].as_u64().ok_or("a group without an id")?;
                    let digest = &group["StateDigest"];
                    if digest["Digest"].as_str().is_none_or(str::is_empty) {
                        return Err(format!("group {id} reported no digest: {group}"));
                    }
                    digests.entry(id).or_default().push(digest.to_string());
                }
            }
            let differing: Vec<(&u64, &Vec<String>)> = digests
                .iter()
                .filter(|(_, seen)| seen.len() != running || seen.iter().any(|d| *d != seen[0]))
                .collect();
            if differing.is_empty() {
                Ok(digests.len())
            } else {
                Err(format!("replicas differ: {differing:?}"))
            }
        })
        .await
    }

    /// The index of the first member that runs.
    fn first_running(&self) -> Result<usize, String> {
        (0..self.nodes.len())
            .find(|&i| self.nodes[i].started())
            .ok_or_else(|| "no member runs".to_owned())
    }

    /// A DynamoDB Streams client per node.
    pub fn streams_clients(&self) -> Vec<aws_sdk_dynamodbstreams::Client> {
        self.nodes.iter().map(streams_client).collect()
    }
}

/// Polls `check` until it holds, for at most `WAIT`; what it returned then.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(held) => return held,
            Err(e) if started.elapsed() > WAIT => panic!("{what} within {WAIT:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Creates table `table` (hash key `pk`, a string) through the first client and waits
/// until every node serves it.
pub async fn create_served_table(clients: &[Client], table: &str) {
    let request = create_table_request(&clients[0], table, ("pk", ScalarAttributeType::S), None);
    create_served(clients, request).await;
}

/// Sends `request` (a CreateTable) until it is acknowledged — a cluster just formed
/// answers 500 until its metadata group has a leader — and waits until every node
/// serves the table and each of its partitions has a leader. A retry that finds the
/// table an earlier attempt created (without an answer) counts as acknowledged.
pub async fn create_served(clients: &[Client], request: CreateTableFluentBuilder) {
    let table = request.get_table_name().clone().unwrap_or_default();
    let created = until_acknowledged(WAIT, || request.clone().send()).await;
    match created {
        Err(e) if !e.contains("ResourceInUseException") => panic!("CreateTable {table}: {e}"),
        _ => wait_active(&clients[0], &table).await,
    }
    wait_served(clients, &table).await;
    // CreateTable returns once each partition's group has a leader; a strongly
    // consistent read of a key on each partition needs that partition's leader.
    let active = Instant::now();
    for key in key_per_partition("leader") {
        let read = || {
            clients[0]
                .get_item()
                .table_name(&table)
                .key("pk", super::s(&key))
                .consistent_read(true)
                .send()
        };
        until_acknowledged(WAIT, read)
            .await
            .unwrap_or_else(|e| panic!("{table}: the partition of {key} has no leader: {e}"));
    }
    eprintln!(
        "{table}: every partition had a leader {:.2?} after the table was ACTIVE",
        active.elapsed()
    );
}

/// Waits until every node describes `table`.
pub async fn wait_served(clients: &[Client], table: &str) {
    for (i, client) in clients.iter().enumerate() {
        eventually(&format!("node {} serves {table}", i + 1), || async {
            client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        })
        .await;
    }
}

/// Every item of `table` by an eventually consistent Scan: what the node's own replicas hold.
pub async fn scan_eventual(client: &Client, table: &str) -> Result<Vec<Attrs>, String> {
    let base = client.scan().table_name(table);
    let pages = scan_pages(&base).await?;
    Ok(pages
        .into_iter()
        .flat_map(|page| page.items.unwrap_or_default())
        .collect())
}

/// Items by their string partition key `pk`, their sets in a canonical order.
pub fn by_pk(items: &[Attrs]) -> BTreeMap<String, Attrs> {
    items
        .iter()
        .map(|it| {
            let pk = it
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            (pk, super::canonical_item(it))
        })
        .collect()
}

/// Waits until every node's eventually consistent Scan of `table` returns the same items
/// (same keys, same attribute values), and returns them.
pub async fn converged_items(clients: &[Client], table: &str) -> BTreeMap<String, Attrs> {
    eventually(&format!("every node's Scan of {table} agrees"), || async {
        let mut scans = Vec::new();
        for client in clients {
            scans.push(by_pk(&scan_eventual(client, table).await?));
        }
        let first = scans.remove(0);
        for (i, other) in scans.iter().enumerate() {
            let differ = differences(&first, other);
            if !differ.is_empty() {
                return Err(format!(
                    "node 1 and node {} differ in {} keys, e.g. {:?}",
                    i + 2,
                    differ.len(),
                    &differ[..differ.len().min(3)]
                ));
            }
        }
        Ok(first)
    })
    .await
}

/// The keys whose items two maps disagree on, with both sides.
pub fn differences(
    a: &BTreeMap<String, Attrs>,
    b: &BTreeMap<String, Attrs>,
) -> Vec<(String, Option<Attrs>, Option<Attrs>)> {
    a.keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.clone(), a.get(k).cloned(), b.get(k).cloned()))
        .collect()
}

/// The partition (of `PARTITIONS`) that holds string partition key `pk`, as Cirrus
/// places it.
pub fn partition_of_key(pk: &str) -> u16 {
    let mut encoded = Vec::new();
    cirrus_storage::key::encode_key_value(
        &cirrus_storage::AttributeValue::S(pk.to_owned()),
        &mut encoded,
    )
    .expect("a string key encodes");
    let hash = cirrus_partition::hashing::partition_key_hash(&encoded);
    cirrus_partition::hashing::partition_of(hash, PARTITIONS)
}

/// One key per partition, in partition order: the first `{prefix}-{n}` on each.
pub fn key_per_partition(prefix: &str) -> Vec<String> {
    let mut keys: Vec<Option<String>> = vec![None; usize::from(PARTITIONS)];
    for n in 0..10_000 {
        let key = format!("{prefix}-{n}");
        keys[usize::from(partition_of_key(&key))].get_or_insert(key);
        if keys.iter().all(Option::is_some) {
            return keys.into_iter().flatten().collect();
        }
    }
    panic!("no key on some partition among 10000 candidates {prefix}-n");
}

/// The DynamoDB error codes that ask the caller to slow down and try again.
const THROTTLING: [&str; 3] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
];

/// How a failed request counts. `Ok(kind)`: a failure DynamoDB's clients retry — no
/// answer (the node is down or hung up), HTTP 5xx (InternalServerError, a 503) or a
/// throttle — with a short name of its kind. `Err(description)`: an answer that says
/// the request itself is wrong, which during a failover is a bug.
pub fn retryable<E>(err: &SdkError<E, HttpResponse>) -> Result<String, String>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    match err {
        SdkError::DispatchFailure(_) => Ok("no connection".to_owned()),
        SdkError::TimeoutError(_) => Ok("timed out".to_owned()),
        SdkError::ResponseError(_) => Ok("broken response".to_owned()),
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = err.code().unwrap_or("no code");
            let kind = format!("{status} {code}");
            if status >= 500 || THROTTLING.contains(&code) {
                Ok(kind)
            } else {
                Err(format!("{kind}: {}", err.message().unwrap_or_default()))
            }
        }
        other => Err(format!("{other:?}")),
    }
}

/// Strongly consistent BatchGetItem of `keys` (string values of `pk`) from `table`, 100
/// at a time, asking again for the unprocessed keys (at most 20 times a chunk). The
/// items found, by key.
pub async fn batch_get_consistent(
    client: &Client,
    table: &str,
    keys: &[String],
) -> Result<HashMap<String, Attrs>, String> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(100) {
        let mut wanted = KeysAndAttributes::builder()
            .set_keys(Some(
                chunk
                    .iter()
                    .map(|k| HashMap::from([("pk".to_owned(), super::s(k))]))
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(|e| e.to_string())?;
        for attempt in 0.. {
            if attempt == 20 {
                return Err(format!("BatchGetItem from {table}: keys stay unprocessed"));
            }
            let out = client
                .batch_get_item()
                .request_items(table, wanted.clone())
                .send()
                .await
                .map_err(|e| format!("BatchGetItem from {table}: {e:?}"))?;
            for it in out
                .responses()
                .and_then(|r| r.get(table))
                .into_iter()
                .flatten()
            {
                found.extend(by_pk(std::slice::from_ref(it)));
            }
            match out.unprocessed_keys().and_then(|u| u.get(table)) {
                Some(rest) if !rest.keys().is_empty() => wanted = rest.clone(),
                _ => break,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(found)
}

/// Sends `request` until it is acknowledged, for at most `within`, pausing briefly after
/// each failure a client may retry; returns how long it took. A failure a client may
/// not retry, or `within` passing, is an error.
pub async fn until_acknowledged<T, E, F, Fut>(
    within: Duration,
    mut request: F,
) -> Result<Duration, String>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let started = Instant::now();
    let mut last = String::from("never sent");
    while started.elapsed() < within {
        match request().await {
            Ok(_) => return Ok(started.elapsed()),
            Err(e) => last = retryable(&e)?,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("not acknowledged within {within:?}; last: {last}"))
}

/// Runs `task(0)` … `task(count - 1)` at once, each returning what went wrong in it, and
/// gathers the first ten of each.
pub async fn all_at_once<F, Fut>(count: usize, task: F) -> super::Failures
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Vec<String>> + Send + 'static,
{
    let tasks: Vec<_> = (0..count).map(|i| tokio::spawn(task(i))).collect();
    let mut failures = super::Failures::new();
    for task in tasks {
        for wrong in task.await.expect("a task panicked").into_iter().take(10) {
            failures.push(wrong);
        }
    }
    failures
}
