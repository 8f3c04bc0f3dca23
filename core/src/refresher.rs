//! A background task that re-reads shared state on a period for as long as its owner lives:
//! how the model router sees other instances' breaker changes and the skills registry sees
//! their syncs. It holds only a weak reference, so dropping the owner ends it, and dropping the
//! [`Refresher`] aborts it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The handle of a periodic refresh task; aborts the task when dropped.
#[derive(Default)]
pub(crate) struct Refresher(Mutex<Option<tokio::task::JoinHandle<()>>>);

impl Refresher {
    /// Runs `tick(owner)` every `period` (at least 10 ms; the first one period from now, since
    /// the owner has just loaded its state; late ticks are delayed, not bunched) while `owner`
    /// lives and `tick` returns `true`.
    pub(crate) fn start<T, F, Fut>(&self, owner: &Arc<T>, period: Duration, tick: F)
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        let weak = Arc::downgrade(owner);
        let period = period.max(Duration::from_millis(10));
        let task = tokio::spawn(async move {
            let mut interval =
                tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(owner) = weak.upgrade() else { return };
                if !tick(owner).await {
                    return;
                }
            }
        });
        let previous = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task);
        if let Some(previous) = previous {
            previous.abort();
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        if let Some(task) = self.0.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}
