//! What a run measured: throughput, errors by type, latency percentiles, and the
//! server's CPU time per operation; printed as a line and as JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

/// One worker's measurements, merged at the end.
pub struct Measurements {
    pub latency_us: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Measurements {
    pub fn new() -> Result<Measurements, String> {
        Ok(Measurements {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?,
            ok: 0,
            errors: BTreeMap::new(),
        })
    }

    pub fn merge(&mut self, other: Measurements) -> Result<(), String> {
        self.latency_us
            .add(&other.latency_us)
            .map_err(|e| e.to_string())?;
        self.ok += other.ok;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        Ok(())
    }
}

/// The servers' user + system CPU time so far, added up; `None` without servers or
/// when one cannot be read.
pub fn processes_cpu(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| process_cpu(*pid)).sum()
}

/// The server's user + system CPU time so far, from /proc/<pid>/stat.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports CPU time in clock ticks of 1/100 s.
    Some(Duration::from_millis(ticks * 10))
}

pub fn print(
    workload: &str,
    elapsed: Duration,
    measured: &Measurements,
    server_cpu: Option<Duration>,
) {
    let ops = measured.ok + measured.errors.values().sum::<u64>();
    let rate = ops as f64 / elapsed.as_secs_f64();
    let h = &measured.latency_us;
    let cpu_per_op = server_cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / ops.max(1) as f64);
    println!(
        "workload {workload}: {ops} ops in {:.1}s = {rate:.0} ops/s; errors {:?}; latency µs p50 {} p90 {} p99 {} p99.9 {} max {}{}",
        elapsed.as_secs_f64(),
        measured.errors,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        cpu_per_op
            .map(|us| format!("; server CPU {us:.1} µs/op"))
            .unwrap_or_default()
    );
    println!(
        "{}",
        json!({
            "workload": workload,
            "seconds": elapsed.as_secs_f64(),
            "operations": ops,
            "ops_per_second": rate,
            "errors": measured.errors,
            "latency_us": {
                "p50": h.value_at_quantile(0.5),
                "p90": h.value_at_quantile(0.9),
                "p99": h.value_at_quantile(0.99),
                "p99.9": h.value_at_quantile(0.999),
                "max": h.max(),
            },
            "server_cpu_us_per_op": cpu_per_op,
        })
    );
}
