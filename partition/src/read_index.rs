//! Read-index rounds shared by the strongly consistent reads of one group on one node.
//!
//! A strongly consistent read of a replica needs a read index: an index the group's
//! leader names after confirming with a quorum that it still leads, so that every write
//! acknowledged before the read is at or below it. Each confirmation is a quorum round;
//! reads that arrive together share one. A read joins only a round that has not started
//! yet when it arrives — a round that started earlier may have been confirmed before a
//! write the reader saw acknowledged — so at most one round runs per group and node,
//! and the reads arriving meanwhile wait for the next.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::PartitionError;

type Reader = oneshot::Sender<Result<u64, String>>;

#[derive(Default)]
struct Waiting {
    /// Whether a round runs (its driver takes the next waiting readers when it ends).
    running: bool,
    readers: Vec<Reader>,
}

#[derive(Default)]
pub(crate) struct ReadRounds {
    waiting: Mutex<Waiting>,
}

impl ReadRounds {
    /// The read index of a round that starts after this call: `round` fetches one
    /// (it is called once per round, by whichever reader starts the rounds).
    pub(crate) async fn read_index<F, R>(self: &Arc<Self>, round: F) -> Result<u64, PartitionError>
    where
        F: Fn() -> R + Send + 'static,
        R: Future<Output = Result<u64, PartitionError>> + Send + 'static,
    {
        let (reader, answer) = oneshot::channel();
        let start = {
            let mut waiting = self.lock();
            waiting.readers.push(reader);
            !std::mem::replace(&mut waiting.running, true)
        };
        if start {
            tokio::spawn(self.clone().drive(round));
        }
        match answer.await {
            Ok(index) => index.map_err(PartitionError::Raft),
            Err(_) => Err(PartitionError::Raft(
                "the read-index round was dropped".into(),
            )),
        }
    }

    /// Runs rounds until no reader waits.
    async fn drive<F, R>(self: Arc<Self>, round: F)
    where
        F: Fn() -> R,
        R: Future<Output = Result<u64, PartitionError>>,
    {
        loop {
            let readers = {
                let mut waiting = self.lock();
                if waiting.readers.is_empty() {
                    waiting.running = false;
                    return;
                }
                std::mem::take(&mut waiting.readers)
            };
            let index = round().await.map_err(|e| e.to_string());
            for reader in readers {
                let _ = reader.send(index.clone());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // The lock guards two plain fields and is never held across a panic point.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Readers arriving while a round runs share the next one, which starts after
    /// all of them arrived.
    #[tokio::test]
    async fn readers_arriving_during_a_round_share_the_next() {
        let rounds = Arc::new(ReadRounds::default());
        let started = Arc::new(AtomicU64::new(0));
        let (release, released) = tokio::sync::watch::channel(0u64);
        let round = {
            let started = started.clone();
            move || {
                let number = started.fetch_add(1, Ordering::SeqCst) + 1;
                let mut released = released.clone();
                async move {
                    // A round ends when the test releases it; its index is its number.
                    let _ = released.wait_for(|r| *r >= number).await;
                    Ok(number)
                }
            }
        };
        let first = tokio::spawn({
            let (rounds, round) = (rounds.clone(), round.clone());
            async move { rounds.read_index(round).await }
        });
        while started.load(Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        // Round 1 runs: these three must not join it.
        let later: Vec<_> = (0..3)
            .map(|_| {
                let (rounds, round) = (rounds.clone(), round.clone());
                tokio::spawn(async move { rounds.read_index(round).await })
            })
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(started.load(Ordering::SeqCst), 1);
        release.send_replace(1);
        assert_eq!(first.await.ok().and_then(Result::ok), Some(1));
        release.send_replace(2);
        for reader in later {
            assert_eq!(reader.await.ok().and_then(Result::ok), Some(2));
        }
        assert_eq!(started.load(Ordering::SeqCst), 2, "one round for the three");
    }

    #[tokio::test]
    async fn a_failed_round_fails_its_readers_and_the_next_round_runs() {
        let rounds = Arc::new(ReadRounds::default());
        let calls = Arc::new(AtomicU64::new(0));
        let round = {
            let calls = calls.clone();
            move || {
                let call = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if call == 0 {
                        Err(PartitionError::Raft("no leader".into()))
                    } else {
                        Ok(7)
                    }
                }
            }
        };
        assert!(rounds.read_index(round.clone()).await.is_err());
        assert_eq!(rounds.read_index(round).await.ok(), Some(7));
    }
}
