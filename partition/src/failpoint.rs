//! Crash points for tests: windows between two durable steps that `kill -9` cannot hit
//! reliably. A test starts the server with `CIRRUS_FAILPOINTS=name[,name…]`; when the
//! code reaches a named point, the process aborts on the spot (no destructors, no
//! flushes), exactly like a crash there. Without the variable every point is a no-op.
//!
//! Delay points, armed the same way, stand for slow work instead: the thread that
//! reaches one sleeps, so a test can show what the rest of the server does meanwhile.

use std::sync::OnceLock;
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
