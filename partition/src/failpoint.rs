//! Failpoints for tests: windows between two durable steps that `kill -9` cannot hit
//! reliably, failures a healthy node never produces on demand, and slow work. A test
//! starts the server with `CIRRUS_FAILPOINTS=name[,name…]`; when the code reaches a named
//! crash point, the process aborts on the spot (no destructors, no flushes), exactly like
//! a crash there; a named fail point fires once (the caller fails or pauses there); a
//! named delay point holds its thread for seconds, so a test can show what the rest of
//! the server does meanwhile. Without the variable every point is a no-op.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long an armed delay point holds its thread.
const DELAY: Duration = Duration::from_secs(5);

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("CIRRUS_FAILPOINTS")
            .map(|names| {
                names
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Whether the failpoint `name` is armed (for points that must prepare their crash).
pub fn is_armed(name: &str) -> bool {
    armed().iter().any(|armed| armed == name)
}

/// Aborts the process if the failpoint `name` is armed.
pub fn crash_point(name: &str) {
    if is_armed(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Blocks the calling thread for a few seconds if the failpoint `name` is armed, as slow
/// blocking work there would. Announces itself on stderr, so a test can tell that a
/// request has reached it.
pub fn delay_point(name: &str) {
    if is_armed(name) {
        eprintln!("failpoint {name}: delaying");
        std::thread::sleep(DELAY);
    }
}

/// Holds the calling task (not its thread) for a few seconds if the failpoint `name` is
/// armed, announcing itself like `delay_point`: for tests that count how many requests
/// reach a point at once.
pub async fn pause_point(name: &str) {
    if is_armed(name) {
        eprintln!("failpoint {name}: delaying");
        tokio::time::sleep(DELAY).await;
    }
}

/// Whether the armed failpoint `name` fires here: true the first time it is reached,
/// false ever after (so a retry of the failed step goes through).
pub fn fail_point(name: &str) -> bool {
    static FIRED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    if !is_armed(name) {
        return false;
    }
    let mut fired = FIRED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let first = fired.insert(name.to_string());
    if first {
        eprintln!("failpoint {name}: fired");
    }
    first
}
