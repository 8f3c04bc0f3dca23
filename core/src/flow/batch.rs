//! Batch mode: a claim handed to the worker grouped by entity, within fan-in bounds, so that
//! loaders prefetch once per batch (one `deals` query, one `calendar_events` query) instead of
//! once per item.

use serde::{Deserialize, Serialize};

use super::health::Mode;
use super::item::QueueItem;
use super::queue::Queue;
use crate::error::{Error, Result};

/// What one batch may span (the original's bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FanIn {
    /// Distinct deals in one batch (default 10): items of further deals stay queued.
    pub deals: u32,
    /// Calendar events a loader prefetches for one batch (default 200).
    pub events: u32,
}

impl Default for FanIn {
    fn default() -> Self {
        FanIn {
            deals: 10,
            events: 200,
        }
    }
}

impl FanIn {
    /// Checks the bounds (1 to 1,000 deals, 1 to 10,000 events).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `fan_in.deals` or `fan_in.events`.
    pub fn check(&self) -> Result<()> {
        if !(1..=1_000).contains(&self.deals) {
            return Err(Error::invalid_input("fan_in.deals", "must be 1 to 1000"));
        }
        if !(1..=10_000).contains(&self.events) {
            return Err(Error::invalid_input("fan_in.events", "must be 1 to 10000"));
        }
        Ok(())
    }
}

/// The items of one entity in a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityGroup {
    /// `deal`, `contact` or `none`.
    pub entity: &'static str,
    /// The deal's or contact's id.
    pub id: Option<String>,
    /// Its items, oldest first.
    pub items: Vec<QueueItem>,
}

/// A claimed batch, grouped by entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    /// The queue's mode when it was claimed.
    pub mode: Mode,
    /// The groups: deals first, then contacts, then items of no entity.
    pub groups: Vec<EntityGroup>,
    /// The distinct deals (at most `fan_in.deals`), for one prefetch.
    pub deal_ids: Vec<String>,
    /// The distinct contacts, for one prefetch.
    pub contact_ids: Vec<String>,
    /// The bounds the loaders should keep to.
    pub fan_in: FanIn,
}

impl Batch {
    /// Every item of the batch.
    pub fn items(&self) -> impl Iterator<Item = &QueueItem> {
        self.groups.iter().flat_map(|g| g.items.iter())
    }

    /// How many items it holds.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.items.len()).sum()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Groups `items` by entity; items of deals past the first `max_deals` come back apart.
fn group(items: Vec<QueueItem>, max_deals: usize) -> (Vec<EntityGroup>, Vec<QueueItem>) {
    let mut groups: Vec<EntityGroup> = Vec::new();
    let mut over = Vec::new();
    for item in items {
        let (entity, id) = match (&item.deal_id, &item.contact_id) {
            (Some(deal), _) => ("deal", Some(deal.clone())),
            (None, Some(contact)) => ("contact", Some(contact.clone())),
            (None, None) => ("none", None),
        };
        if let Some(g) = groups.iter_mut().find(|g| g.entity == entity && g.id == id) {
            g.items.push(item);
            continue;
        }
        let deals = groups.iter().filter(|g| g.entity == "deal").count();
        if entity == "deal" && deals >= max_deals {
            over.push(item);
            continue;
        }
        groups.push(EntityGroup {
            entity,
            id,
            items: vec![item],
        });
    }
    let rank = |e: &str| match e {
        "deal" => 0,
        "contact" => 1,
        _ => 2,
    };
    groups.sort_by_key(|g| rank(g.entity));
    (groups, over)
}

impl Queue {
    /// Claims up to `n` items as [`Queue::claim`] does and hands them over grouped by deal,
    /// then contact, within the fan-in bounds: items of deals past `fan_in.deals` go back to
    /// their lane at once, their attempt given back. The batch carries the queue's mode.
    ///
    /// # Errors
    /// As [`Queue::claim`].
    pub async fn claim_batch(&self, worker: &str, n: u32, lanes: Option<&[i64]>) -> Result<Batch> {
        let (mode, _) = self.current_mode().await?;
        let items = self.claim(worker, n, lanes).await?;
        let (groups, over) = group(items, self.options.fan_in.deals as usize);
        for item in over {
            self.defer(item.id, item.lease_token, 0).await?;
        }
        let ids = |entity: &str| {
            groups
                .iter()
                .filter(|g| g.entity == entity)
                .filter_map(|g| g.id.clone())
                .collect()
        };
        Ok(Batch {
            mode,
            deal_ids: ids("deal"),
            contact_ids: ids("contact"),
            groups,
            fan_in: self.options.fan_in,
        })
    }
}
