//! `Keel.modelRouter` and `ModelRouter` (core: `keel::models`): resolution, breaker reports,
//! credits and compaction thresholds. Requests and results are JSON text (camelCase, as Node's
//! `ModelRequest`, `ModelResolution`, `CreditMovement`, `CreditReservation`).

use std::sync::Arc;

use keel::models::{self, ChargeRequest, ModelRequest, require_uuid};
use keel::options::Case;

use crate::error::KeelError;
use crate::json::{options, record, value};
use crate::runtime::{run, within};
use crate::store::Keel;

/// An org's balance and whether it may proceed.
#[derive(uniffi::Record)]
pub struct BudgetStatus {
    /// Credits left (negative inside the grace).
    pub remaining: f64,
    /// False once the balance is at or below minus the grace.
    pub can_proceed: bool,
}

/// The model router: which model serves a request, the providers' circuits, and credits.
#[derive(uniffi::Object)]
pub struct ModelRouter {
    pub(crate) inner: models::ModelRouter,
}

#[uniffi::export]
impl Keel {
    /// Opens the model router (`optionsJson`: Node's `RouterOptions`; null: the defaults).
    ///
    /// # Errors
    /// `invalid_input` naming the option at fault; storage errors reading the matrix.
    #[uniffi::method(default(options_json = None))]
    pub async fn model_router(
        &self,
        options_json: Option<String>,
    ) -> Result<Arc<ModelRouter>, KeelError> {
        let keel = self.inner.clone();
        let inner = run(async move {
            let options = options(options_json.as_deref(), "options")?;
            models::ModelRouter::open(&keel, options).await
        })
        .await?;
        Ok(Arc::new(ModelRouter { inner }))
    }
}

#[uniffi::export]
impl ModelRouter {
    /// The model for `requestJson` (Node's `ModelRequest`: `feature`, `tier`, `orgId`, …), as
    /// JSON (`ModelResolution`); claims a due probe first.
    ///
    /// # Errors
    /// `invalid_input` naming the field at fault; `no_model_available` when every candidate's
    /// circuit is open.
    pub async fn resolve(&self, request_json: String) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let request: ModelRequest = options(Some(&request_json), "request")?;
            Ok(record(&router.resolve(&request).await?))
        })
        .await
    }

    /// Reports a successful call; what happened to the circuit (`unchanged`, `closed`, …).
    #[uniffi::method(default(provider = None))]
    pub async fn record_success(&self, model_id: String, provider: Option<String>) -> String {
        let router = self.inner.clone();
        let moved = run(async move {
            let t = router
                .record_model_success(&model_id, provider.as_deref())
                .await;
            Ok(t.as_str())
        })
        .await;
        moved.unwrap_or("unchanged").to_owned()
    }

    /// Reports a failed call. `reportJson` is an HTTP status (`503`), a kind name
    /// (`"timeout"`) or an object with `kind`, `status` or `statusCode`; only the provider's
    /// faults count. What happened to the circuit.
    ///
    /// # Errors
    /// `invalid_input` for a report core cannot read.
    #[uniffi::method(default(report_json = None, provider = None))]
    pub async fn record_failure(
        &self,
        model_id: String,
        report_json: Option<String>,
        provider: Option<String>,
    ) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let report = value(report_json.as_deref(), "report")?;
            let t = router.record_failure_report(&model_id, provider.as_deref(), report.as_ref());
            Ok(t.await?.as_str().to_owned())
        })
        .await
    }

    /// The org's balance and whether it may proceed.
    ///
    /// # Errors
    /// `invalid_input` (field `orgId`) for an id that is not a UUID; storage errors.
    pub async fn check_budget(&self, org_id: String) -> Result<BudgetStatus, KeelError> {
        let router = self.inner.clone();
        let status = run(async move { router.check_budget(org(&org_id)?).await }).await?;
        Ok(BudgetStatus {
            remaining: status.remaining,
            can_proceed: status.can_proceed,
        })
    }

    /// Adds credits to an org (`kind`: purchase when null, bonus, refund, adjustment); the
    /// movement as JSON (`CreditMovement`).
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    #[uniffi::method(default(kind = None, idempotency_key = None))]
    pub async fn grant_credits(
        &self,
        org_id: String,
        amount: f64,
        kind: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let kind = kind.as_deref().unwrap_or(models::DEFAULT_GRANT_KIND);
            let moved =
                router.grant_credits(org(&org_id)?, amount, kind, idempotency_key.as_deref());
            Ok(record(&moved.await?))
        })
        .await
    }

    /// Charges a call (Node's `DeductOptions`); the movement as JSON.
    ///
    /// # Errors
    /// `budget_exceeded` below the grace; `invalid_input` naming the field.
    pub async fn deduct_credits(&self, options_json: String) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let request: ChargeRequest = options(Some(&options_json), "")?;
            let charge = router.charge_for(request)?;
            Ok(record(&router.deduct(&charge).await?))
        })
        .await
    }

    /// Holds `estimate` credits for a call; the reservation as JSON (`CreditReservation`).
    ///
    /// # Errors
    /// `budget_exceeded` below the grace; `invalid_input` naming the argument.
    pub async fn reserve_credits(
        &self,
        org_id: String,
        estimate: f64,
        idempotency_key: String,
    ) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let held = router
                .reserve(org(&org_id)?, estimate, &idempotency_key)
                .await?;
            Ok(record(&held))
        })
        .await
    }

    /// Settles a reservation at the actual cost; the movement as JSON.
    ///
    /// # Errors
    /// `invalid_input` for an unknown or settled reservation.
    pub async fn commit_credits(
        &self,
        reservation_id: String,
        actual: f64,
    ) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let id = require_uuid("reservationId", &reservation_id)?;
            Ok(record(&router.commit(id, actual).await?))
        })
        .await
    }

    /// Releases a reservation unused; the movement as JSON.
    ///
    /// # Errors
    /// `invalid_input` for an unknown or settled reservation.
    pub async fn release_credits(&self, reservation_id: String) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let id = require_uuid("reservationId", &reservation_id)?;
            Ok(record(&router.release(id).await?))
        })
        .await
    }

    /// Adds or changes one matrix row (`rowJson`: Node's `ModelRow`: `feature`, `tier`,
    /// `provider`, `modelId`, prices, `fallbackOrder`, …), validated with the whole matrix.
    ///
    /// # Errors
    /// `invalid_input` naming the field at fault; storage errors.
    pub async fn set_model(&self, row_json: String) -> Result<(), KeelError> {
        let router = self.inner.clone();
        run(async move {
            let row: models::ModelRow = options(Some(&row_json), "")?;
            router.set_model(row.into()).await
        })
        .await
    }

    /// Sets the tier (`low`, `medium`, `high`) an org uses for a feature when a request names
    /// none.
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    pub async fn set_org_tier(
        &self,
        org_id: String,
        feature: String,
        tier: String,
    ) -> Result<(), KeelError> {
        let router = self.inner.clone();
        run(async move {
            router
                .set_org_tier(org(&org_id)?, feature.parse()?, tier.parse()?)
                .await
        })
        .await
    }

    /// When a conversation must be compacted for `model`, with `optionsJson`
    /// (`systemPromptTokens`, `outputTokens`, `toolsTokens`, `ratio`); as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the option; an unknown model.
    #[uniffi::method(default(options_json = None))]
    pub fn compaction_threshold(
        &self,
        model: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let options = value(options_json.as_deref(), "options")?;
        let found = keel::memory::CompactionThreshold::of_value(
            &self.inner,
            &model,
            options,
            Case::Camel,
            "options",
        )?;
        Ok(record(&found))
    }

    /// A client for model calls through this router (`optionsJson`: Node's `LlmOptions`).
    ///
    /// # Errors
    /// `invalid_input` naming the option at fault.
    #[uniffi::method(default(options_json = None))]
    pub fn llm(&self, options_json: Option<String>) -> Result<Arc<crate::llm::Llm>, KeelError> {
        let options = options(options_json.as_deref(), "options").map_err(KeelError::from)?;
        let inner = within(|| keel::llm::Llm::new(&self.inner, options))?;
        Ok(Arc::new(crate::llm::Llm { inner }))
    }
}

/// The `orgId` argument.
pub(crate) fn org(raw: &str) -> keel::Result<uuid::Uuid> {
    require_uuid("orgId", raw)
}
