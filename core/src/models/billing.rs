//! The router's credit methods: budgets, grants, what a call costs, deductions and
//! reservations. The ledger itself is [`super::credits`]; these read the router's matrix for
//! prices and its database handle.

use uuid::Uuid;

use super::credits::{self, BudgetStatus, Charge, Movement, Reservation};
use super::matrix::Usage;
use super::resolve::Resolution;
use super::router::ModelRouter;
use crate::error::Result;

impl ModelRouter {
    /// `value` unless it is over the per-call cap ([`super::RouterOptions::max_call_credits`]).
    fn capped(&self, field: &str, value: f64) -> Result<f64> {
        let cap = self.inner.options.max_call_credits;
        if value > cap {
            return Err(crate::Error::invalid_input(
                field,
                format!("{value} credits is over the per-call cap of {cap} (max_call_credits)"),
            ));
        }
        Ok(value)
    }

    /// The org's balance and whether it may proceed (one row read).
    ///
    /// # Errors
    /// [`crate::Error::Storage`].
    pub async fn check_budget(&self, org: Uuid) -> Result<BudgetStatus> {
        credits::check_budget(self.inner.keel.pool()?, org).await
    }

    /// Adds credits to an org (see [`credits::grant`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for a bad amount or kind; [`crate::Error::Storage`].
    pub async fn grant_credits(
        &self,
        org: Uuid,
        amount: f64,
        kind: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Movement> {
        credits::grant(
            self.inner.keel.pool()?,
            org,
            amount,
            kind,
            None,
            idempotency_key,
        )
        .await
    }

    /// The cost of a call to (provider, model) under the current matrix: metered when the
    /// model has token prices and `usage` is known, else its per-request price.
    pub fn cost(&self, provider: &str, model_id: &str, usage: Option<Usage>) -> Option<f64> {
        self.with_matrix(|matrix| {
            matrix
                .find(provider, model_id)
                .map(|entry| entry.pricing.cost(usage))
        })
    }

    /// What a call to `resolution`'s model costs: metered from `usage` when the model has
    /// token prices, else the resolution's per-request credit cost.
    pub fn call_cost(&self, resolution: &Resolution, usage: Option<Usage>) -> f64 {
        self.cost(&resolution.provider, &resolution.model_id, usage)
            .filter(|_| usage.is_some())
            .unwrap_or(resolution.credit_cost)
    }

    /// Charges a call at once. `charge.amount` is used as given.
    ///
    /// # Errors
    /// [`crate::Error::BudgetExceeded`] below the grace threshold; [`crate::Error::InvalidInput`];
    /// [`crate::Error::Storage`].
    pub async fn deduct(&self, charge: &Charge) -> Result<Movement> {
        self.capped("amount", charge.amount)?;
        credits::deduct(self.inner.keel.pool()?, charge).await
    }

    /// Holds `estimate` credits before a call.
    ///
    /// # Errors
    /// As [`ModelRouter::deduct`].
    pub async fn reserve(
        &self,
        org: Uuid,
        estimate: f64,
        idempotency_key: &str,
    ) -> Result<Reservation> {
        let estimate = self.capped("estimate", estimate)?;
        credits::reserve(self.inner.keel.pool()?, org, estimate, idempotency_key).await
    }

    /// Settles a reservation at the actual cost.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] when it is not an open reservation; [`crate::Error::Storage`].
    pub async fn commit(&self, reservation: Uuid, actual: f64) -> Result<Movement> {
        let actual = self.capped("actual", actual)?;
        credits::commit(self.inner.keel.pool()?, reservation, actual).await
    }

    /// Releases a reservation unused.
    ///
    /// # Errors
    /// As [`ModelRouter::commit`].
    pub async fn release(&self, reservation: Uuid) -> Result<Movement> {
        credits::release(self.inner.keel.pool()?, reservation).await
    }
}
