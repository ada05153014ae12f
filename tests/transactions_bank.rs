//! The bank invariant: 40 accounts (20 in each of two tables, spread over 8 partitions per
//! table) start with 100 each. Concurrent transfers move money with TransactWriteItems (two
//! Updates: `SET balance = balance - :amt` on the source with ConditionExpression
//! `balance >= :amt`, `SET balance = balance + :amt` on the destination), while concurrent
//! TransactGetItems audits read all 40 accounts at once. Every audit must see a total of
//! 4000 and no negative balance (TransactGetItems is serializable with TransactWriteItems:
//! it never sees part of a transaction), and at the end every account must hold exactly
//! 100 plus what acknowledged transfers moved into it minus what they moved out.
//!
//! The second test SIGKILLs the server in the middle of that load (twice, at varying
//! moments), restarts it on the same data directory and checks the same: total 4000, no
//! negative balance, every acknowledged transfer applied, each transfer whose outcome the
//! client could not know (in flight at the kill) applied either wholly or not at all, and
//! transfers working again after recovery.
//!
//! Transfers and audits use a client that never retries, so "acknowledged" means exactly
//! one attempt returned HTTP 200. Allowed failures while the server is up are DynamoDB's:
//! TransactionCanceledException with ConditionalCheckFailed (source too poor) or
//! TransactionConflict reasons.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Get, ScalarAttributeType, TransactGetItem,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use common::*;
use tokio::task::JoinHandle;

const TABLES: [&str; 2] = ["bank-a", "bank-b"];
const PER_TABLE: usize = 20;
const ACCOUNTS: usize = 2 * PER_TABLE;
const START_BALANCE: i64 = 100;
const TOTAL: i64 = START_BALANCE * ACCOUNTS as i64;
const MAX_AMOUNT: usize = 40;

const TRANSFER_TASKS: usize = 8;
const AUDIT_TASKS: usize = 2;
/// Per-task cap on requests in one load phase (phases normally end by time or by the kill).
const MAX_OPS_PER_TASK: usize = 100_000;
/// Pause between two audits of one audit task.
const AUDIT_PAUSE: Duration = Duration::from_millis(5);
const LOAD_TIME: Duration = Duration::from_secs(10);
/// Minimum acknowledged transfers before a kill, and the longest wait for them.
const MIN_ACKS_BEFORE_KILL: usize = 20;
const MAX_WAIT_BEFORE_KILL: Duration = Duration::from_secs(30);
const KILL_ROUNDS: usize = 2;
/// The load after the last restart.
const FINAL_LOAD_TIME: Duration = Duration::from_secs(3);
const TASK_FINISH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the accounts may stay locked (audits cancelled by conflicts) with no load.
const QUIET_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The most transfers of unknown outcome the final check enumerates (2^n subsets).
const MAX_UNKNOWN: usize = 20;

fn account(i: usize) -> (&'static str, String) {
    (TABLES[i / PER_TABLE], format!("acct-{i:02}"))
}

fn account_key(i: usize) -> Attrs {
    item(&[("acct", s(&account(i).1))])
}

#[derive(Clone, Copy, Debug)]
struct Transfer {
    from: usize,
    to: usize,
    amount: i64,
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

async fn setup(client: &Client) {
    for t in TABLES {
        create_table(client, t, ("acct", ScalarAttributeType::S), None).await;
    }
    for i in 0..ACCOUNTS {
        let (table, id) = account(i);
        put_ok(
            client,
            table,
            item(&[("acct", s(&id)), ("balance", n(&START_BALANCE.to_string()))]),
        )
        .await;
    }
}

fn transfer_request(t: Transfer) -> Vec<TransactWriteItem> {
    let amt = n(&t.amount.to_string());
    let (from_table, _) = account(t.from);
    let (to_table, _) = account(t.to);
    vec![
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(from_table)
                    .set_key(Some(account_key(t.from)))
                    .update_expression("SET balance = balance - :amt")
                    .condition_expression("balance >= :amt")
                    .expression_attribute_values(":amt", amt.clone())
                    .build()
                    .unwrap(),
            )
            .build(),
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(to_table)
                    .set_key(Some(account_key(t.to)))
                    .update_expression("SET balance = balance + :amt")
                    .condition_expression("attribute_exists(balance)")
                    .expression_attribute_values(":amt", amt)
                    .build()
                    .unwrap(),
            )
            .build(),
    ]
}

fn audit_request() -> Vec<TransactGetItem> {
    (0..ACCOUNTS)
        .map(|i| {
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name(account(i).0)
                        .set_key(Some(account_key(i)))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect()
}

fn reason_codes(reasons: &[CancellationReason]) -> Vec<String> {
    reasons
        .iter()
        .map(|r| match r.message() {
            Some(m) => format!("{}: {m}", r.code().unwrap_or("<no code>")),
            None => r.code().unwrap_or("<no code>").to_owned(),
        })
        .collect()
}

fn describe_write_err<R: std::fmt::Debug>(e: &SdkError<TransactWriteItemsError, R>) -> String {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => format!(
            "TransactionCanceledException {:?} {:?}",
            c.message(),
            reason_codes(c.cancellation_reasons())
        ),
        Some(other) => format!("{:?}: {:?}", other.code(), other.message()),
        None => format!("{e:?}"),
    }
}

fn describe_get_err<R: std::fmt::Debug>(e: &SdkError<TransactGetItemsError, R>) -> String {
    match e.as_service_error() {
        Some(TransactGetItemsError::TransactionCanceledException(c)) => format!(
            "TransactionCanceledException {:?} {:?}",
            c.message(),
            reason_codes(c.cancellation_reasons())
        ),
        Some(other) => format!("{:?}: {:?}", other.code(), other.message()),
        None => format!("{e:?}"),
    }
}

/// A transfer's cancellation is one DynamoDB can give: two reasons, the source's
/// `None`/`ConditionalCheckFailed`/`TransactionConflict`, the destination's (whose
/// condition always holds) `None`/`TransactionConflict`, not both `None`.
fn valid_transfer_cancellation(reasons: &[CancellationReason]) -> bool {
    if reasons.len() != 2 {
        return false;
    }
    let (a, b) = (reasons[0].code(), reasons[1].code());
    matches!(
        a,
        Some("None") | Some("ConditionalCheckFailed") | Some("TransactionConflict")
    ) && matches!(b, Some("None") | Some("TransactionConflict"))
        && !(a == Some("None") && b == Some("None"))
}

/// An audit's cancellation: one reason per Get, each `None` or `TransactionConflict`, at
/// least one conflict.
fn valid_audit_cancellation(reasons: &[CancellationReason]) -> bool {
    reasons.len() == ACCOUNTS
        && reasons
            .iter()
            .all(|r| matches!(r.code(), Some("None") | Some("TransactionConflict")))
        && reasons
            .iter()
            .any(|r| r.code() == Some("TransactionConflict"))
}

/// Balances from a TransactGetItems answer; checks that all 40 accounts are there.
fn balances_of(responses: &[aws_sdk_dynamodb::types::ItemResponse]) -> Result<Vec<i64>, String> {
    if responses.len() != ACCOUNTS {
        return Err(format!(
            "{} ItemResponses for {ACCOUNTS} Gets",
            responses.len()
        ));
    }
    responses
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let it = r.item().ok_or_else(|| format!("account {i} missing"))?;
            if it.get("acct") != Some(&s(&account(i).1)) {
                return Err(format!("response {i} is {it:?}, not account {i}"));
            }
            match it.get("balance") {
                Some(AttributeValue::N(v)) => v
                    .parse::<i64>()
                    .map_err(|_| format!("account {i}: balance {v:?} is not an integer")),
                other => Err(format!("account {i}: balance {other:?}")),
            }
        })
        .collect()
}

/// Total 4000 and no negative balance.
fn check_invariant(balances: &[i64]) -> Result<(), String> {
    let sum: i64 = balances.iter().sum();
    if sum != TOTAL {
        return Err(format!("total {sum}, want {TOTAL}: {balances:?}"));
    }
    if let Some(i) = balances.iter().position(|b| *b < 0) {
        return Err(format!("account {i} is negative: {balances:?}"));
    }
    Ok(())
}

#[derive(Default)]
struct LoadReport {
    applied: Vec<Transfer>,
    /// Transfers whose outcome the client cannot know (the connection broke at the kill).
    unknown: Vec<(Transfer, String)>,
    /// Cancelled transfers by reason codes.
    cancellations: BTreeMap<String, usize>,
    audits_ok: usize,
    audit_conflicts: usize,
    /// Outcomes DynamoDB would not give while the server is up.
    failures: Vec<String>,
}

impl LoadReport {
    fn merge(&mut self, o: LoadReport) {
        self.applied.extend(o.applied);
        self.unknown.extend(o.unknown);
        for (k, v) in o.cancellations {
            *self.cancellations.entry(k).or_default() += v;
        }
        self.audits_ok += o.audits_ok;
        self.audit_conflicts += o.audit_conflicts;
        self.failures.extend(o.failures);
    }

    fn summary(&self) -> String {
        format!(
            "{} transfers applied, {} of unknown outcome, cancelled {:?}; {} audits ok, {} cancelled by conflicts",
            self.applied.len(),
            self.unknown.len(),
            self.cancellations,
            self.audits_ok,
            self.audit_conflicts
        )
    }
}

struct Load {
    handles: Vec<JoinHandle<LoadReport>>,
    stop: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
}

fn spawn_transfer_task(
    client: Client,
    seed: u64,
    stop: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> JoinHandle<LoadReport> {
    tokio::spawn(async move {
        let mut out = LoadReport::default();
        let mut rng = Rng::new(seed);
        for _ in 0..MAX_OPS_PER_TASK {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let from = rng.below(ACCOUNTS);
            let to = (from + 1 + rng.below(ACCOUNTS - 1)) % ACCOUNTS;
            let t = Transfer {
                from,
                to,
                amount: 1 + rng.below(MAX_AMOUNT) as i64,
            };
            let result = client
                .transact_write_items()
                .set_transact_items(Some(transfer_request(t)))
                .send()
                .await;
            match result {
                Ok(_) => {
                    out.applied.push(t);
                    acks.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                        e.as_service_error()
                    {
                        // Cancelled: nothing applied.
                        let codes: Vec<&str> = c
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code().unwrap_or("<no code>"))
                            .collect();
                        *out.cancellations.entry(codes.join(",")).or_default() += 1;
                        if !valid_transfer_cancellation(c.cancellation_reasons()) {
                            out.failures.push(format!(
                                "transfer {t:?}: unexpected cancellation {}",
                                describe_write_err(&e)
                            ));
                        }
                        continue;
                    }
                    out.unknown.push((t, describe_write_err(&e)));
                    if killed.load(Ordering::SeqCst) {
                        break;
                    }
                    out.failures.push(format!(
                        "transfer {t:?} with the server up: {}",
                        describe_write_err(&e)
                    ));
                }
            }
        }
        out
    })
}

fn spawn_audit_task(
    client: Client,
    stop: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
) -> JoinHandle<LoadReport> {
    tokio::spawn(async move {
        let mut out = LoadReport::default();
        for _ in 0..MAX_OPS_PER_TASK {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let result = client
                .transact_get_items()
                .set_transact_items(Some(audit_request()))
                .send()
                .await;
            match result {
                Ok(o) => {
                    // An answer is an answer, even one that arrives as the server dies.
                    match balances_of(o.responses()).and_then(|b| check_invariant(&b)) {
                        Ok(()) => out.audits_ok += 1,
                        Err(e) => out.failures.push(format!("audit: {e}")),
                    }
                }
                Err(e) => match e.as_service_error() {
                    Some(TransactGetItemsError::TransactionCanceledException(c))
                        if valid_audit_cancellation(c.cancellation_reasons()) =>
                    {
                        out.audit_conflicts += 1
                    }
                    _ => {
                        if killed.load(Ordering::SeqCst) {
                            break;
                        }
                        out.failures.push(format!(
                            "audit with the server up: {}",
                            describe_get_err(&e)
                        ));
                    }
                },
            }
            tokio::time::sleep(AUDIT_PAUSE).await;
        }
        out
    })
}

fn start_load(client: &Client, seed: u64) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for task in 0..TRANSFER_TASKS {
        handles.push(spawn_transfer_task(
            client.clone(),
            seed.wrapping_add(task as u64 * 7919),
            stop.clone(),
            killed.clone(),
            acks.clone(),
        ));
    }
    for _ in 0..AUDIT_TASKS {
        handles.push(spawn_audit_task(
            client.clone(),
            stop.clone(),
            killed.clone(),
        ));
    }
    Load {
        handles,
        stop,
        killed,
        acks,
    }
}

async fn finish_load(load: Load) -> LoadReport {
    load.stop.store(true, Ordering::SeqCst);
    let mut report = LoadReport::default();
    for h in load.handles {
        report.merge(
            tokio::time::timeout(TASK_FINISH_TIMEOUT, h)
                .await
                .expect("a load task did not finish")
                .expect("a load task panicked"),
        );
    }
    report
}

/// All balances by one TransactGetItems, with no load running: conflicts (accounts still
/// locked, e.g. by a transaction being recovered) are retried for at most
/// `QUIET_READ_TIMEOUT`; any other error fails.
async fn read_balances(client: &Client, when: &str) -> Vec<i64> {
    let deadline = Instant::now() + QUIET_READ_TIMEOUT;
    let mut conflicts = 0;
    loop {
        match client
            .transact_get_items()
            .set_transact_items(Some(audit_request()))
            .send()
            .await
        {
            Ok(o) => {
                return balances_of(o.responses())
                    .unwrap_or_else(|e| panic!("{when}: TransactGetItems: {e}"))
            }
            Err(e) => match e.as_service_error() {
                Some(TransactGetItemsError::TransactionCanceledException(c))
                    if valid_audit_cancellation(c.cancellation_reasons()) =>
                {
                    conflicts += 1;
                    assert!(
                        Instant::now() < deadline,
                        "{when}: with no load, TransactGetItems still cancelled by conflicts \
                         after {QUIET_READ_TIMEOUT:?} ({conflicts} attempts): {}",
                        describe_get_err(&e)
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => panic!("{when}: TransactGetItems failed: {}", describe_get_err(&e)),
            },
        }
    }
}

/// Balances by consistent Scans of both tables (no load running).
async fn scanned_balances(client: &Client, when: &str) -> Vec<i64> {
    let mut by_id: BTreeMap<String, i64> = BTreeMap::new();
    for t in TABLES {
        for it in scan_everything(client, t).await {
            let id = match it.get("acct") {
                Some(AttributeValue::S(id)) => id.clone(),
                other => panic!("{when}: Scan {t}: item without acct: {other:?}"),
            };
            let bal = match it.get("balance") {
                Some(AttributeValue::N(v)) => v.parse::<i64>().unwrap(),
                other => panic!("{when}: Scan {t}: {id} balance {other:?}"),
            };
            assert!(
                by_id.insert(id.clone(), bal).is_none(),
                "{when}: {id} scanned twice"
            );
        }
    }
    (0..ACCOUNTS)
        .map(|i| {
            *by_id
                .get(&account(i).1)
                .unwrap_or_else(|| panic!("{when}: Scan misses account {i}"))
        })
        .collect()
}

/// The balances must be 100 plus the acknowledged transfers plus some subset of the
/// transfers of unknown outcome (each applied wholly or not at all).
fn check_accounting(
    balances: &[i64],
    applied: &[Transfer],
    unknown: &[Transfer],
) -> Result<(), String> {
    check_invariant(balances)?;
    let mut expected = vec![START_BALANCE; ACCOUNTS];
    for t in applied {
        expected[t.from] -= t.amount;
        expected[t.to] += t.amount;
    }
    let diff: Vec<i64> = balances.iter().zip(&expected).map(|(b, e)| b - e).collect();
    if diff.iter().all(|d| *d == 0) {
        return Ok(());
    }
    if unknown.len() > MAX_UNKNOWN {
        return Err(format!(
            "{} transfers of unknown outcome, too many to check; balances differ from the \
             acknowledged transfers by {diff:?}",
            unknown.len()
        ));
    }
    for mask in 1u32..(1u32 << unknown.len()) {
        let mut d = vec![0i64; ACCOUNTS];
        for (k, t) in unknown.iter().enumerate() {
            if mask & (1 << k) != 0 {
                d[t.from] -= t.amount;
                d[t.to] += t.amount;
            }
        }
        if d == diff {
            return Ok(());
        }
    }
    Err(format!(
        "balances {balances:?} are not the {} acknowledged transfers plus any subset of the \
         {} of unknown outcome {unknown:?}; difference from the acknowledged ones: {diff:?}",
        applied.len(),
        unknown.len()
    ))
}

fn fail_on(report: &LoadReport, what: &str) {
    if !report.failures.is_empty() {
        panic!(
            "{what}: {} unexpected outcomes ({}); first ones:\n  {}",
            report.failures.len(),
            report.summary(),
            report
                .failures
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_invariant_under_concurrent_transfers_and_audits() {
    let server = TestServer::start_with(&["--partitions-per-table", "8"]);
    setup(&server.client()).await;
    let client = server.client_no_retry();
    let initial = read_balances(&client, "before the load").await;
    assert_eq!(initial, vec![START_BALANCE; ACCOUNTS]);

    let load = start_load(&client, 1);
    tokio::time::sleep(LOAD_TIME).await;
    let report = finish_load(load).await;
    eprintln!("bank load over {LOAD_TIME:?}: {}", report.summary());
    fail_on(&report, "bank load");
    assert!(
        report.unknown.is_empty(),
        "transfers of unknown outcome with the server up: {:?}",
        report.unknown
    );
    assert!(
        report.applied.len() >= 50,
        "only {} transfers were applied in {LOAD_TIME:?}; the load never got going ({})",
        report.applied.len(),
        report.summary()
    );
    assert!(
        report.audits_ok >= 1,
        "no audit succeeded during the load ({})",
        report.summary()
    );

    let balances = read_balances(&client, "after the load").await;
    check_accounting(&balances, &report.applied, &[]).unwrap_or_else(|e| panic!("{e}"));
    let scanned = scanned_balances(&client, "after the load").await;
    assert_eq!(scanned, balances, "Scan and TransactGetItems disagree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_invariant_survives_kill9_during_transfers() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("kill-timing seed {seed}");
    let mut rng = Rng::new(seed);
    let mut server = TestServer::start_with(&["--partitions-per-table", "8"]);
    setup(&server.client()).await;

    let mut applied: Vec<Transfer> = Vec::new();
    let mut unknown: Vec<Transfer> = Vec::new();
    for round in 0..KILL_ROUNDS {
        let client = server.client_no_retry();
        let load = start_load(&client, seed.wrapping_add(round as u64 * 1_000_003));
        let kill_after = Duration::from_millis(1000 + rng.below(3000) as u64);
        let started = Instant::now();
        while started.elapsed() < kill_after
            || load.acks.load(Ordering::SeqCst) < MIN_ACKS_BEFORE_KILL
        {
            if started.elapsed() > MAX_WAIT_BEFORE_KILL {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let acked_at_kill = load.acks.load(Ordering::SeqCst);
        load.killed.store(true, Ordering::SeqCst);
        server.kill9();
        let report = finish_load(load).await;
        eprintln!(
            "round {round}: SIGKILL after {:?} with {acked_at_kill} transfers acknowledged; {}",
            started.elapsed(),
            report.summary()
        );
        fail_on(&report, &format!("round {round}, before the kill"));
        assert!(
            acked_at_kill >= 5,
            "round {round}: only {acked_at_kill} transfers before the kill; the load never got going"
        );
        applied.extend(report.applied.iter().copied());
        unknown.extend(report.unknown.iter().map(|(t, _)| *t));

        server.start_again();
        let client = server.client();
        let when = format!("after SIGKILL #{}", round + 1);
        let balances = read_balances(&client, &when).await;
        check_accounting(&balances, &applied, &unknown).unwrap_or_else(|e| panic!("{when}: {e}"));
    }

    // Transfers work again, and everything they do adds up.
    let client = server.client_no_retry();
    let load = start_load(&client, seed ^ 0xABCD);
    tokio::time::sleep(FINAL_LOAD_TIME).await;
    let report = finish_load(load).await;
    eprintln!("after the restarts: {}", report.summary());
    fail_on(&report, "load after the last restart");
    assert!(
        report.unknown.is_empty(),
        "transfers of unknown outcome after the restart: {:?}",
        report.unknown
    );
    assert!(
        !report.applied.is_empty(),
        "no transfer succeeded after the restart ({})",
        report.summary()
    );
    assert!(
        report.audits_ok >= 1,
        "no audit succeeded after the restart ({})",
        report.summary()
    );
    applied.extend(report.applied.iter().copied());

    let balances = read_balances(&client, "at the end").await;
    check_accounting(&balances, &applied, &unknown).unwrap_or_else(|e| panic!("at the end: {e}"));
    let scanned = scanned_balances(&client, "at the end").await;
    assert_eq!(
        scanned, balances,
        "Scan and TransactGetItems disagree at the end"
    );

    // And the same after a graceful restart.
    server.restart();
    let again = read_balances(&server.client(), "after a graceful restart").await;
    assert_eq!(
        again, balances,
        "balances changed across a graceful restart"
    );
}
