//! Fault injection for tests: drop, delay or duplicate the frames one node sends to
//! another. Always compiled so the same binary can be tested, and off by default: when
//! no rule is set, deciding a frame's fate is one relaxed atomic load.
//!
//! Rules apply on the sending side, per directed pair: a rule for (1 → 2) touches the
//! requests node 1 sends to node 2 and the responses node 1 sends back to node 2, never
//! what node 2 sends. Handing one `Faults` to several transports in a test process lets
//! a test steer every pair from one place.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use super::NodeId;

/// What happens to frames sent from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultRule {
    /// Chance in [0, 1] that a frame is dropped; 1 drops everything.
    pub drop_probability: f64,
    /// Held this long before it is queued for sending.
    pub delay: Option<Duration>,
    /// Sent twice.
    pub duplicate: bool,
}

impl FaultRule {
    fn is_inert(&self) -> bool {
        self.drop_probability <= 0.0 && self.delay.is_none() && !self.duplicate
    }
}

/// A shared handle on the fault rules; clones see the same rules.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<FaultsInner>,
}

#[derive(Debug, Default)]
struct FaultsInner {
    active: AtomicBool,
    rules: RwLock<HashMap<(NodeId, NodeId), FaultRule>>,
}

/// The fate of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub drop: bool,
    pub delay: Option<Duration>,
    /// How many times to send it (1, or 2 when duplicating).
    pub copies: u8,
}

impl Verdict {
    pub const PASS: Verdict = Verdict {
        drop: false,
        delay: None,
        copies: 1,
    };
}

impl Faults {
    /// Drops every frame from `from` to `to`.
    pub fn drop_all(&self, from: NodeId, to: NodeId) {
        self.update(from, to, |r| r.drop_probability = 1.0);
    }

    /// Drops each frame from `from` to `to` with probability `p` (clamped to [0, 1]).
    pub fn drop_with_probability(&self, from: NodeId, to: NodeId, p: f64) {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self.update(from, to, |r| r.drop_probability = p);
    }

    /// Holds each frame from `from` to `to` for `delay` before sending it.
    pub fn delay(&self, from: NodeId, to: NodeId, delay: Duration) {
        self.update(from, to, |r| r.delay = Some(delay));
    }

    /// Sends each frame from `from` to `to` twice.
    pub fn duplicate(&self, from: NodeId, to: NodeId) {
        self.update(from, to, |r| r.duplicate = true);
    }

    /// Replaces the rule for one directed pair.
    pub fn set(&self, from: NodeId, to: NodeId, rule: FaultRule) {
        self.update(from, to, |r| *r = rule);
    }

    /// Cuts both directions between two nodes.
    pub fn partition(&self, a: NodeId, b: NodeId) {
        self.drop_all(a, b);
        self.drop_all(b, a);
    }

    /// Removes the rule for one directed pair.
    pub fn clear(&self, from: NodeId, to: NodeId) {
        self.update(from, to, |r| *r = FaultRule::default());
    }

    /// Removes every rule.
    pub fn clear_all(&self) {
        let mut rules = self.write();
        rules.clear();
        self.inner.active.store(false, Ordering::Release);
    }

    /// The rule currently set for a directed pair, if any.
    pub fn rule(&self, from: NodeId, to: NodeId) -> Option<FaultRule> {
        self.inner
            .rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(from, to))
            .copied()
    }

    pub(crate) fn decide(&self, from: NodeId, to: NodeId) -> Verdict {
        if !self.inner.active.load(Ordering::Relaxed) {
            return Verdict::PASS;
        }
        let Some(rule) = self.rule(from, to) else {
            return Verdict::PASS;
        };
        let drop = rule.drop_probability >= 1.0
            || (rule.drop_probability > 0.0 && rand::random::<f64>() < rule.drop_probability);
        Verdict {
            drop,
            delay: rule.delay,
            copies: if rule.duplicate { 2 } else { 1 },
        }
    }

    fn update(&self, from: NodeId, to: NodeId, change: impl FnOnce(&mut FaultRule)) {
        let mut rules = self.write();
        let rule = rules.entry((from, to)).or_default();
        change(rule);
        if rule.is_inert() {
            rules.remove(&(from, to));
        }
        self.inner
            .active
            .store(!rules.is_empty(), Ordering::Release);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<(NodeId, NodeId), FaultRule>> {
        self.inner
            .rules
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_after_clearing() {
        let faults = Faults::default();
        assert_eq!(faults.decide(1, 2), Verdict::PASS);
        faults.drop_all(1, 2);
        assert!(faults.decide(1, 2).drop);
        assert_eq!(faults.decide(2, 1), Verdict::PASS, "rules are directed");
        faults.clear(1, 2);
        assert_eq!(faults.decide(1, 2), Verdict::PASS);
        assert!(!faults.inner.active.load(Ordering::Relaxed));
    }

    #[test]
    fn rules_combine_per_pair() {
        let faults = Faults::default();
        faults.delay(1, 2, Duration::from_millis(5));
        faults.duplicate(1, 2);
        let v = faults.decide(1, 2);
        assert_eq!(v.delay, Some(Duration::from_millis(5)));
        assert_eq!(v.copies, 2);
        assert!(!v.drop);
        faults.clear_all();
        assert_eq!(faults.decide(1, 2), Verdict::PASS);
    }

    #[test]
    fn probability_is_clamped() {
        let faults = Faults::default();
        faults.drop_with_probability(1, 2, 7.0);
        assert!(faults.decide(1, 2).drop);
        faults.drop_with_probability(1, 2, f64::NAN);
        assert_eq!(faults.rule(1, 2), None);
    }
}
