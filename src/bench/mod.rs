//! `cirrus bench`: a load generator for any DynamoDB endpoint. Workers each keep one
//! connection busy with SigV4-signed requests for the run's duration (or, for `load`,
//! until every record is written); a progress line shows the rate while it runs.

pub mod options;
mod outcome;
mod report;
mod workload;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use self::options::{BenchOptions, Workload};
use self::outcome::{send, Outcome};
use self::report::Measurements;
use self::workload::KeyChooser;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

pub fn run(options: BenchOptions) -> Result<(), BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    runtime.block_on(bench(options))
}

async fn bench(options: BenchOptions) -> Result<(), BenchError> {
    let client = Arc::new(options.endpoint.client().map_err(BenchError::Setup)?);
    // The table may exist already (ResourceInUseException is fine).
    let _ = send(&client, &workload::create_table(&options.table)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let options = Arc::new(options);
    let payload: Arc<str> = "x".repeat(options.item_size).into();
    let keys = Arc::new(
        KeyChooser::new(options.distribution, options.records).map_err(BenchError::Setup)?,
    );
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let next_record = Arc::new(AtomicU64::new(0));
    let cpu_before = report::processes_cpu(&options.server_pid);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.duration);
    let mut workers = Vec::with_capacity(options.concurrency);
    for worker in 0..options.concurrency.max(1) {
        let (client, options, payload, keys, done, failed, next_record) = (
            client.clone(),
            options.clone(),
            payload.clone(),
            keys.clone(),
            done.clone(),
            failed.clone(),
            next_record.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut measured = Measurements::new()?;
            let mut rng = SmallRng::seed_from_u64(worker as u64);
            loop {
                let request = if options.workload == Workload::Load {
                    let record = next_record.fetch_add(1, Ordering::Relaxed);
                    if record >= options.records {
                        break;
                    }
                    workload::put(&options.table, record, &payload)
                } else {
                    if Instant::now() >= deadline {
                        break;
                    }
                    workload::next_request(
                        options.workload,
                        &options.table,
                        &keys,
                        &payload,
                        &mut rng,
                    )
                };
                let sent = Instant::now();
                let outcome = send(&client, &request).await;
                let _ = measured
                    .latency_us
                    .record(sent.elapsed().as_micros().max(1) as u64);
                match outcome {
                    Outcome::Ok => measured.ok += 1,
                    Outcome::Error(kind) => {
                        *measured.errors.entry(kind).or_default() += 1;
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, String>(measured)
        }));
    }
    let progress = tokio::spawn({
        let (done, failed) = (done.clone(), failed.clone());
        // A timeline gets a line per second; a terminal, one line rewritten.
        let end = if options.timeline { "\n" } else { "" };
        async move {
            let (mut last, mut last_failed) = (0, 0);
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = done.load(Ordering::Relaxed);
                let now_failed = failed.load(Ordering::Relaxed);
                eprint!(
                    "\r[{:>4.0}s] {:>8} ops/s, {:>6} errors/s, {now} ops{end}",
                    started.elapsed().as_secs_f64(),
                    now - last,
                    now_failed - last_failed
                );
                (last, last_failed) = (now, now_failed);
            }
        }
    });
    let mut total = Measurements::new().map_err(BenchError::Setup)?;
    for worker in workers {
        let measured = worker
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?
            .map_err(BenchError::Setup)?;
        total.merge(measured).map_err(BenchError::Setup)?;
    }
    let elapsed = started.elapsed();
    progress.abort();
    eprintln!();
    let server_cpu = match (report::processes_cpu(&options.server_pid), cpu_before) {
        (Some(after), Some(before)) => after.checked_sub(before),
        _ => None,
    };
    let name = format!("{:?}", options.workload).to_lowercase();
    report::print(&name, elapsed, &total, server_cpu);
    Ok(())
}
