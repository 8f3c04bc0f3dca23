//! A credit reservation held for the length of one call. It is committed at the cost the
//! provider's usage comes to, or released; a call dropped midway (a cancelled future, a
//! Python task cancelled, a JavaScript `AbortSignal`) releases it from `Drop`.

use uuid::Uuid;

use crate::models::ModelRouter;
use crate::telemetry::Logger;

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
        self.settled = true;
        match self.router.commit(self.id, cost).await {
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
        self.settled = true;
        if let Err(err) = self.router.release(self.id).await {
            self.logger.error(
                "llm.credits_release_failed",
                Some(&err.to_string()),
                reservation(self.id),
            );
        }
    }
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
                if let Err(err) = router.release(id).await {
                    tracing::warn!(error = %err, "keel llm: cannot release a cancelled call's credits");
                }
            });
        }
    }
}
