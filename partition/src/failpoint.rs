//! Crash points for tests: windows between two durable steps that `kill -9` cannot hit
//! reliably. A test starts the server with `CIRRUS_FAILPOINTS=name[,name…]`; when the
//! code reaches a named point, the process aborts on the spot (no destructors, no
//! flushes), exactly like a crash there. Without the variable every point is a no-op.

use std::sync::OnceLock;

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

/// How long an armed delay point holds the thread that reaches it.
const DELAY: std::time::Duration = std::time::Duration::from_secs(3);

/// Blocks the current thread for a few seconds if the failpoint `name` is armed: a slow
/// disk or a write stall, for tests that show one slow request stalls no other.
pub fn delay_point(name: &str) {
    if is_armed(name) {
        std::thread::sleep(DELAY);
    }
}
