//! Every task the transport starts is counted and watches one shutdown signal, so
//! `shutdown` can stop them all and know when they are gone.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

pub(crate) struct Lifecycle {
    shutdown: watch::Sender<bool>,
    live: AtomicUsize,
    idle: Notify,
}

/// Decrements the live count however the task ends (including by panic or abort).
struct LiveGuard(Arc<Lifecycle>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Lifecycle {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            shutdown: watch::channel(false).0,
            live: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    pub fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub fn signal(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn watcher(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn spawn<F>(self: &Arc<Self>, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.live.fetch_add(1, Ordering::AcqRel);
        let guard = LiveGuard(Arc::clone(self));
        tokio::spawn(async move {
            let _guard = guard;
            task.await;
        });
    }

    pub fn live_tasks(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Waits until no task is left, up to `grace`; false if some outlived it.
    pub async fn wait_idle(&self, grace: Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.live_tasks() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(grace, wait).await.is_ok()
    }
}

/// Resolves once shutdown is signalled (or its sender is gone, which means the same).
pub(crate) async fn shut_down(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|down| *down).await;
}
