//! Backpressure: the Command Centre queue ([`Queue`]: lanes with aging, leases with fencing,
//! per-org and global in-flight caps, deferral without spending an attempt, a sweeper and a
//! dead-letter hand-off; its health, batch mode and named load shedding) and rate limits with one decision shape ([`Decision`]) in process
//! ([`LocalLimiter`]) and shared through the database ([`SharedLimiter`]).
//!
//! ```no_run
//! # async fn demo(keel: keel::Keel) -> keel::Result<()> {
//! use keel::flow::{Limit, Queue, SharedLimiter};
//!
//! let queue = Queue::open(&keel, Default::default())?;
//! let limits = SharedLimiter::open(&keel);
//! for item in queue.claim("worker-1", 10, None).await? {
//!     let decision = limits.check(&format!("hubspot:{}", item.org_id), &Limit::per_minute(8)).await?;
//!     if decision.allowed {
//!         queue.complete(item.id, item.lease_token, None).await?;
//!     } else {
//!         queue.defer(item.id, item.lease_token, decision.retry_after_ms as i64).await?;
//!     }
//! }
//! # Ok(()) }
//! ```

mod acks;
mod batch;
mod calls;
mod claim;
mod health;
mod history;
mod item;
mod limit;
mod local;
mod outcome;
mod providers;
mod queue;
mod shared;
mod worker;

pub use acks::Claimed;
pub use batch::{Batch, EntityGroup, FanIn};
pub use calls::{Decided, QUEUE_CALLS, decide_value};
pub use health::{LaneHealth, Mode, QueueHealth, Shedding};
pub use history::{DepthHistory, HistoryOptions, LaneHistory};
pub use item::{ItemState, LANES, MAX_DELAY_MS, NewItem, QueueItem, check_lane};
pub use limit::{Decision, Limit, MAX_PERIOD_MS, check_keys};
pub use local::LocalLimiter;
pub use outcome::{DEAD_LETTER_AGENT, SweepReport};
pub use providers::{DEFAULT_PROVIDER_LIMITS, ProviderLimit, ProviderLimits};
pub(crate) use queue::Insert;
pub use queue::{Queue, QueueOptions, WAKE_CHANNEL};
pub use shared::SharedLimiter;
pub use worker::{HandlerResult, Outcome, QueueWorker, WorkerOptions, WorkerReport, WorkerSession};
