//! The registry's process cache: the resolved views of at most `max_cached_orgs` orgs, and
//! one load at a time per org. When an org's views are not cached, many routes can ask for
//! them at once (a cold start, the first messages after a sync): the first compiles them and
//! the others wait for its turn to end and then read the cache, instead of each reading the
//! org's rows, compiling and recording the compiled text on the same rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use uuid::Uuid;

use super::channel::Channel;
use super::resolve::ResolvedSkills;

/// The cached views, and the orgs in the order they were cached, for the bound.
#[derive(Default)]
pub(super) struct Views {
    pub(super) by_key: HashMap<(Uuid, Channel), Arc<ResolvedSkills>>,
    pub(super) orgs: std::collections::VecDeque<Uuid>,
}

impl Views {
    pub(super) fn insert(
        &mut self,
        org: Uuid,
        views: Vec<(Channel, Arc<ResolvedSkills>)>,
        max_orgs: usize,
    ) {
        if !self.orgs.contains(&org) {
            self.orgs.push_back(org);
        }
        for (channel, view) in views {
            self.by_key.insert((org, channel), view);
        }
        while self.orgs.len() > max_orgs.max(1) {
            if let Some(oldest) = self.orgs.pop_front() {
                self.remove(oldest);
            }
        }
    }

    pub(super) fn remove(&mut self, org: Uuid) {
        for channel in Channel::ALL {
            self.by_key.remove(&(org, channel));
        }
        self.orgs.retain(|o| *o != org);
    }

    pub(super) fn clear(&mut self) {
        self.by_key.clear();
        self.orgs.clear();
    }
}

/// The turns being waited for, by org.
#[derive(Default)]
pub(super) struct Loads {
    turns: Mutex<HashMap<Uuid, Arc<AsyncMutex<()>>>>,
}

/// An org's turn to load; the next waiter's starts when it drops.
pub(super) struct Turn<'a> {
    loads: &'a Loads,
    org: Uuid,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Loads {
    /// Waits for `org`'s turn.
    pub(super) async fn turn(&self, org: Uuid) -> Turn<'_> {
        let lock = self.lock().entry(org).or_default().clone();
        Turn {
            loads: self,
            org,
            guard: Some(lock.lock_owned().await),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<AsyncMutex<()>>>> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut turns = self.loads.lock();
        // Nobody else holds or waits for this org's lock: forget it, so the map holds only
        // orgs being loaded.
        if turns
            .get(&self.org)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            turns.remove(&self.org);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_of_one_org_follow_each_other_and_are_forgotten() {
        let loads = Arc::new(Loads::default());
        let org = Uuid::from_u128(1);
        let first = loads.turn(org).await;
        let waiting = {
            let loads = loads.clone();
            tokio::spawn(async move {
                let _turn = loads.turn(org).await;
            })
        };
        // Another org's turn does not wait for this one.
        drop(loads.turn(Uuid::from_u128(2)).await);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap();
        assert!(loads.lock().is_empty());
    }
}
