//! Failpoints for tests: windows between two durable steps that `kill -9` cannot hit
//! reliably, and failures a healthy node never produces on demand. A test starts the
//! server with `CIRRUS_FAILPOINTS=name[,name…]`; when the code reaches a named crash
//! point, the process aborts on the spot (no destructors, no flushes), exactly like a
//! crash there; a named fail point fires once (the caller fails or pauses there).
//! Without the variable every point is a no-op.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

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

/// Aborts the process if the failpoint `name` is armed.
pub fn crash_point(name: &str) {
    if armed().iter().any(|armed| armed == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Whether the armed failpoint `name` fires here: true the first time it is reached,
/// false ever after (so a retry of the failed step goes through).
pub fn fail_point(name: &str) -> bool {
    static FIRED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    if !armed().iter().any(|armed| armed == name) {
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
