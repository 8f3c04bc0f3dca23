//! A credit reservation held for the length of one call. It is committed at the cost the
//! provider's usage comes to, or released; a call dropped midway (a cancelled future, a
//! Python task cancelled, a JavaScript `AbortSignal`) releases it from `Drop`.
//!
//! A hold counts as settled only once its write has landed: a call cancelled while the
//! commit or release is in flight still releases from `Drop`, and both retry a storage
//! fault. Settling twice is safe, since storage settles only an open reservation.

use std::time::Duration;

use uuid::Uuid;

use crate::error::Error;
use crate::models::ModelRouter;
use crate::telemetry::Logger;

/// How often a commit or release is tried before the failure is logged and the reservation
/// left open.
const TRIES: u32 = 6;
/// The wait before the second try; it doubles after each failure.
const FIRST_RETRY: Duration = Duration::from_millis(100);

pub(crate) struct Hold {
    router: ModelRouter,
    id: Uuid,
    logger: Logger,
    /// True once committed or released (or when the key had already reserved: the first
    /// call settles it).
    settled: bool,
}

impl Hold {
    pub(crate) fn new(router: ModelRouter, id: Uuid, duplicate: bool, logger: Logger) -> Self {
        Self {
            router,
            id,
            logger,
            settled: duplicate,
        }
    }

    /// Charges `cost`; returns what was charged (0 when another call settles this key).
    pub(crate) async fn commit(mut self, cost: f64) -> f64 {
        if self.settled {
            return 0.0;
        }
        let outcome = settle(&self.router, self.id, Some(cost)).await;
        // The write has landed or failed for good (a commit refused over budget stays
        // open and is logged): nothing is left for `Drop` to release.
        self.settled = true;
        match outcome {
            Ok(_) => cost,
            Err(err) => {
                self.logger.error(
                    "llm.credits_commit_failed",
                    Some(&err.to_string()),
                    reservation(self.id),
                );
                0.0
            }
        }
    }

    /// Gives the held credits back.
    pub(crate) async fn release(mut self) {
        if self.settled {
            return;
        }
        let outcome = settle(&self.router, self.id, None).await;
        self.settled = true;
        if let Err(err) = outcome {
            self.logger.error(
                "llm.credits_release_failed",
                Some(&err.to_string()),
                reservation(self.id),
            );
        }
    }
}

/// Commits a reservation at `cost`, or releases it, trying again after a storage fault (a
/// lost connection, a busy database); anything else, such as a reservation already settled,
/// is final.
async fn settle(router: &ModelRouter, id: Uuid, cost: Option<f64>) -> crate::Result<()> {
    let mut wait = FIRST_RETRY;
    let mut tries = 1;
    loop {
        let outcome = match cost {
            Some(cost) => router.commit(id, cost).await,
            None => router.release(id).await,
        };
        match outcome {
            Ok(_) => return Ok(()),
            Err(err) if tries < TRIES && retryable(&err) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

fn retryable(err: &Error) -> bool {
    matches!(
        err,
        Error::Storage(_) | Error::Connection { .. } | Error::Timeout { .. }
    )
}

fn reservation(id: Uuid) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("reservation_id".into(), id.to_string().into());
    m
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (router, id) = (self.router.clone(), self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                match settle(&router, id, None).await {
                    // Settled already: the call was dropped after its write landed.
                    Ok(()) | Err(Error::InvalidInput { .. }) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "keel llm: cannot release a cancelled call's credits");
                    }
                }
            });
        }
    }
}
