//! Credits: an org balance with a grace threshold, a ledger where every movement records
//! `balance_after`, one-shot deductions, and reserve → commit or release.
//!
//! Every movement is one statement or one transaction in the database, and the balance check is
//! part of the debit itself (`UPDATE … WHERE balance − amount ≥ −grace`), so concurrent requests
//! can never overspend. An idempotency key charges once: the ledger's unique index rejects a
//! second row and the transaction that would have charged again rolls back.

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::store::{Dialect, Pool, in_transaction, on_pool};

/// The grace threshold of an org without its own: the balance may go down to −10 credits.
pub const DEFAULT_GRACE: f64 = 10.0;

/// The original `checkBudget` result.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BudgetStatus {
    /// The balance (negative inside the grace threshold).
    pub remaining: f64,
    /// False once the balance is at or below −grace.
    pub can_proceed: bool,
}

/// A debit of the ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charge {
    /// The org charged.
    pub org_id: Uuid,
    /// Credits, ≥ 0.
    pub amount: f64,
    /// Charges once per (org, key); a repeat returns the first charge.
    pub idempotency_key: Option<String>,
    /// Shown in the ledger.
    pub description: Option<String>,
    /// What was used (a feature name).
    pub feature_key: Option<String>,
    /// The model called.
    pub model_id: Option<String>,
    /// Tokens used.
    pub tokens_used: Option<i64>,
    /// The agent, for fleet runs.
    pub agent_name: Option<String>,
    /// The request's trace.
    pub trace_id: Option<Uuid>,
    /// The user who caused it.
    pub created_by: Option<Uuid>,
}

impl Charge {
    /// Checks the charge's text: the key (1 to
    /// [`MAX_IDEMPOTENCY_KEY_CHARS`](crate::idents::MAX_IDEMPOTENCY_KEY_CHARS) characters, no
    /// NUL) and the names, which are ids (no NUL); the description is prose, stored with NUL
    /// as U+FFFD.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `idempotency_key`, `feature`, `model_id` or
    /// `agent_name`.
    pub fn check(&self) -> Result<()> {
        if let Some(key) = &self.idempotency_key {
            crate::idents::idempotency_key("idempotency_key", key)?;
        }
        for (field, value) in [
            ("feature", &self.feature_key),
            ("model_id", &self.model_id),
            ("agent_name", &self.agent_name),
        ] {
            if let Some(value) = value {
                crate::idents::no_nul(field, value)?;
            }
        }
        Ok(())
    }
}

/// The outcome of a movement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Movement {
    /// The ledger row written (or the earlier one, for a repeated key).
    pub ledger_id: Uuid,
    /// The org's balance after it.
    pub balance_after: f64,
    /// True when the idempotency key had already charged: nothing moved this time.
    pub duplicate: bool,
}

/// A reservation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Reservation {
    /// Commit or release with this id.
    pub id: Uuid,
    /// Credits held.
    pub amount: f64,
    /// The balance after the hold.
    pub balance_after: f64,
    /// True when the key had already reserved: the earlier reservation is returned.
    pub duplicate: bool,
}

/// Largest amount one movement may carry: what `numeric(14,4)` holds, so both backends store
/// every amount they accept.
pub const MAX_AMOUNT: f64 = 9_999_999_999.999_9;

/// Decimal places credits are kept to, on both backends.
pub const AMOUNT_DECIMALS: i32 = 4;

/// An amount as both backends store it: finite, ≥ 0, at most [`MAX_AMOUNT`], rounded to
/// [`AMOUNT_DECIMALS`] places (half away from zero). Rounding here, once, is what makes a
/// SQLite balance equal a PostgreSQL one for the same movements.
///
/// # Errors
/// [`Error::InvalidInput`] naming `field`.
pub fn amount(field: &str, value: f64) -> Result<f64> {
    if !(value.is_finite() && (0.0..=MAX_AMOUNT).contains(&value)) {
        return Err(Error::invalid_input(
            field,
            format!("must be a finite number from 0 to {MAX_AMOUNT}, got {value}"),
        ));
    }
    let scale = 10f64.powi(AMOUNT_DECIMALS);
    Ok((value * scale).round() / scale)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The balance and whether the org may proceed; one row read, never a ledger sum. An org with
/// no balance row has 0 and the default grace.
pub async fn check_budget(pool: &Pool, org: Uuid) -> Result<BudgetStatus> {
    let d = Dialect::of(pool);
    let sql = format!(
        "SELECT {}, {} FROM org_credit_balance WHERE org_id = $1::uuid",
        d.float("balance_credits"),
        d.float("grace_threshold_credits")
    );
    let row: Option<(f64, f64)> = on_pool!(pool, |conn, spell| {
        sqlx::query_as(&spell(&sql))
            .bind(org.to_string())
            .fetch_optional(conn)
            .await?
    });
    let (remaining, grace) = row.unwrap_or((0.0, DEFAULT_GRACE));
    Ok(BudgetStatus {
        remaining,
        can_proceed: remaining > -grace,
    })
}

/// Adds credits (`kind`: purchase, bonus, refund or adjustment), creating the balance row with
/// `grace` when it is new. Returns the ledger movement.
pub async fn grant(
    pool: &Pool,
    org: Uuid,
    amount: f64,
    kind: &str,
    grace: Option<f64>,
    idempotency_key: Option<&str>,
) -> Result<Movement> {
    let amount = self::amount("amount", amount)?;
    if !matches!(kind, "purchase" | "bonus" | "refund" | "adjustment") {
        return Err(Error::invalid_input(
            "kind",
            format!("`{kind}` is not one of purchase, bonus, refund, adjustment"),
        ));
    }
    let grace = self::amount("grace", grace.unwrap_or(DEFAULT_GRACE))?;
    if let Some(key) = idempotency_key {
        crate::idents::idempotency_key("idempotency_key", key)?;
    }
    let charge = Charge {
        org_id: org,
        amount,
        idempotency_key: idempotency_key.map(str::to_owned),
        ..Charge::default()
    };
    move_credits(pool, &charge, kind, 1.0, Some(grace), None).await
}

/// Charges `charge.amount` at once, unless that would take the balance below −grace
/// ([`Error::BudgetExceeded`]).
///
/// An org with no balance row is an org at 0 with the default grace, here as in
/// [`check_budget`]: its first debit creates that row, so a new org may spend into the grace.
pub async fn deduct(pool: &Pool, charge: &Charge) -> Result<Movement> {
    charge.check()?;
    let charge = Charge {
        amount: amount("amount", charge.amount)?,
        ..charge.clone()
    };
    move_credits(pool, &charge, "deduction", -1.0, None, None).await
}

/// Creates the balance row of an org that has none, at 0 with the default grace; true when it
/// did. Idempotent under concurrency (`ON CONFLICT DO NOTHING`).
async fn open_balance(pool: &Pool, org: Uuid) -> Result<bool> {
    let created = on_pool!(pool, |conn, spell| {
        let sql = spell(
            "INSERT INTO org_credit_balance (org_id, balance_credits, grace_threshold_credits)
             VALUES ($1::uuid, 0, $2::numeric)
             ON CONFLICT (org_id) DO NOTHING",
        );
        sqlx::query(&sql)
            .bind(org.to_string())
            .bind(DEFAULT_GRACE)
            .execute(conn)
            .await?
            .rows_affected()
    });
    Ok(created > 0)
}

/// Holds `estimate` credits for a call about to run; commit or release it afterwards.
pub async fn reserve(
    pool: &Pool,
    org: Uuid,
    estimate: f64,
    idempotency_key: &str,
) -> Result<Reservation> {
    let estimate = amount("estimate", estimate)?;
    crate::idents::idempotency_key("idempotency_key", idempotency_key)?;
    let charge = Charge {
        org_id: org,
        amount: estimate,
        idempotency_key: Some(format!("reserve:{idempotency_key}")),
        ..Charge::default()
    };
    let id = Uuid::new_v4();
    let moved = move_credits(
        pool,
        &charge,
        "reservation",
        -1.0,
        None,
        Some((id, idempotency_key)),
    )
    .await?;
    let id = if moved.duplicate {
        reservation_id(pool, org, idempotency_key).await?
    } else {
        id
    };
    Ok(Reservation {
        id,
        amount: estimate,
        balance_after: moved.balance_after,
        duplicate: moved.duplicate,
    })
}

/// Settles a reservation at `actual` credits: the difference from the estimate moves back, or
/// is charged when the call cost more, under the same rule as a deduction: the balance may not
/// go below −grace ([`Error::BudgetExceeded`], and the reservation stays open). Settling twice
/// moves nothing the second time.
pub async fn commit(pool: &Pool, reservation: Uuid, actual: f64) -> Result<Movement> {
    let actual = amount("actual", actual)?;
    settle(pool, reservation, Some(actual)).await
}

/// Returns a reservation's credits unused.
pub async fn release(pool: &Pool, reservation: Uuid) -> Result<Movement> {
    settle(pool, reservation, None).await
}

async fn reservation_id(pool: &Pool, org: Uuid, key: &str) -> Result<Uuid> {
    let id: String = on_pool!(pool, |conn, spell| {
        let sql = spell(
            "SELECT id::text FROM credit_reservations
             WHERE org_id = $1::uuid AND idempotency_key = $2",
        );
        sqlx::query_scalar(&sql)
            .bind(org.to_string())
            .bind(key)
            .fetch_one(conn)
            .await?
    });
    Uuid::parse_str(&id).map_err(|e| Error::Internal(e.to_string()))
}

/// One ledger movement of `sign × charge.amount`, with the balance change and (for a
/// reservation) its row, in one transaction. A debit never takes the balance below −grace.
async fn move_credits(
    pool: &Pool,
    charge: &Charge,
    kind: &str,
    sign: f64,
    grace_for_new_row: Option<f64>,
    reservation: Option<(Uuid, &str)>,
) -> Result<Movement> {
    let delta = sign * charge.amount;
    let ledger_id = Uuid::new_v4();
    let d = Dialect::of(pool);
    let mut opened = false;
    let result = loop {
        let result: Result<Option<f64>> = async {
        match pool {
            // A plain debit is one statement: the conditional update and its ledger row commit
            // together, and a repeated key fails the whole statement on the unique index.
            Pool::Postgres(pg) if grace_for_new_row.is_none() && reservation.is_none() => {
                Ok(sqlx::query_scalar(
                    "WITH debit AS (
                         UPDATE org_credit_balance SET balance_credits = balance_credits + $3::numeric,
                             updated_at = now()
                         WHERE org_id = $2 AND balance_credits + $3::numeric >= -grace_threshold_credits
                         RETURNING balance_credits)
                     INSERT INTO credit_ledger (id, org_id, kind, amount, balance_after, description,
                             feature_key, model_id, tokens_used, agent_name, trace_id, idempotency_key,
                             created_by)
                     SELECT $1, $2, $4, $3::numeric, balance_credits, $5, $6, $7, $8, $9, $10, $11, $12
                     FROM debit
                     RETURNING balance_after::float8",
                )
                .bind(ledger_id)
                .bind(charge.org_id)
                .bind(delta)
                .bind(kind)
                .bind(charge.description.as_deref().map(crate::store::storable_text))
                .bind(&charge.feature_key)
                .bind(&charge.model_id)
                .bind(charge.tokens_used.map(|t| t.clamp(0, i64::from(i32::MAX)) as i32))
                .bind(&charge.agent_name)
                .bind(charge.trace_id)
                .bind(&charge.idempotency_key)
                .bind(charge.created_by)
                .fetch_optional(pg)
                .await?)
            }
            // Otherwise the balance change, the reservation and the ledger row are one
            // transaction, written once for both backends.
            _ => Ok(in_transaction!(pool, None::<String>, |tx, sql| {
                let org = charge.org_id.to_string();
                let balance: Option<f64> = if let Some(grace) = grace_for_new_row {
                    sqlx::query_scalar(&sql(&format!(
                        "INSERT INTO org_credit_balance (org_id, balance_credits, grace_threshold_credits)
                         VALUES ($1::uuid, $2::numeric, $3::numeric)
                         ON CONFLICT (org_id) DO UPDATE
                             SET balance_credits = {},
                                 updated_at = now()
                         RETURNING CAST(balance_credits AS DOUBLE PRECISION)",
                        d.money("org_credit_balance.balance_credits + $2::numeric")
                    )))
                    .bind(&org)
                    .bind(delta)
                    .bind(grace)
                    .fetch_optional(&mut *tx)
                    .await?
                } else {
                    sqlx::query_scalar(&sql(&format!(
                        "UPDATE org_credit_balance SET balance_credits = {},
                             updated_at = now()
                         WHERE org_id = $1::uuid AND balance_credits + $2::numeric >= -grace_threshold_credits
                         RETURNING CAST(balance_credits AS DOUBLE PRECISION)",
                        d.money("balance_credits + $2::numeric")
                    )))
                    .bind(&org)
                    .bind(delta)
                    .fetch_optional(&mut *tx)
                    .await?
                };
                let Some(balance) = balance else {
                    return Ok(None);
                };
                if let Some((id, key)) = reservation {
                    sqlx::query(&sql(
                        "INSERT INTO credit_reservations (id, org_id, amount, idempotency_key)
                         VALUES ($1::uuid, $2::uuid, $3::numeric, $4)",
                    ))
                    .bind(id.to_string())
                    .bind(&org)
                    .bind(charge.amount)
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(&sql(
                    "INSERT INTO credit_ledger (id, org_id, kind, amount, balance_after, description, feature_key,
                            model_id, tokens_used, agent_name, trace_id, idempotency_key, created_by)
                     VALUES ($1::uuid, $2::uuid, $3, $4::numeric, $5::numeric, $6, $7, $8, $9, $10, $11::uuid,
                             $12, $13::uuid)",
                ))
                .bind(ledger_id.to_string())
                .bind(&org)
                .bind(kind)
                .bind(delta)
                .bind(balance)
                .bind(charge.description.as_deref().map(crate::store::storable_text))
                .bind(&charge.feature_key)
                .bind(&charge.model_id)
                .bind(charge.tokens_used.map(|t| t.clamp(0, i64::from(i32::MAX)) as i32))
                .bind(&charge.agent_name)
                .bind(charge.trace_id.map(|t| t.to_string()))
                .bind(&charge.idempotency_key)
                .bind(charge.created_by.map(|t| t.to_string()))
                .execute(&mut *tx)
                .await?;
                Some(balance)
            })),
        }
    }
    .await;
        // A debit that found no balance row opens it (0, default grace) and tries once more.
        if matches!(result, Ok(None)) && !opened && open_balance(pool, charge.org_id).await? {
            opened = true;
            continue;
        }
        break result;
    };
    match result {
        Ok(Some(balance_after)) => Ok(Movement {
            ledger_id,
            balance_after,
            duplicate: false,
        }),
        Ok(None) => {
            let status = check_budget(pool, charge.org_id).await?;
            Err(Error::BudgetExceeded {
                org_id: charge.org_id,
                requested: charge.amount,
                remaining: status.remaining,
            })
        }
        Err(Error::Storage(err)) if is_unique_violation(&err) => {
            let key = charge.idempotency_key.as_deref().unwrap_or_default();
            let (id, balance_after) = ledger_by_key(pool, charge.org_id, key).await?;
            Ok(Movement {
                ledger_id: id,
                balance_after,
                duplicate: true,
            })
        }
        Err(err) => Err(err),
    }
}

async fn ledger_by_key(pool: &Pool, org: Uuid, key: &str) -> Result<(Uuid, f64)> {
    let sql = format!(
        "SELECT id::text, {} FROM credit_ledger WHERE org_id = $1::uuid AND idempotency_key = $2",
        Dialect::of(pool).float("balance_after")
    );
    let (id, balance): (String, f64) = on_pool!(pool, |conn, spell| {
        sqlx::query_as(&spell(&sql))
            .bind(org.to_string())
            .bind(key)
            .fetch_one(conn)
            .await?
    });
    Ok((
        Uuid::parse_str(&id).map_err(|e| Error::Internal(e.to_string()))?,
        balance,
    ))
}

/// Commits (`actual` given) or releases a reservation: marks it settled only if it is still
/// reserved, and moves the difference, in one transaction.
async fn settle(pool: &Pool, reservation: Uuid, actual: Option<f64>) -> Result<Movement> {
    let (status, kind) = match actual {
        Some(_) => ("committed", "settlement"),
        None => ("released", "release"),
    };
    let ledger_id = Uuid::new_v4();
    let key = format!("settle:{reservation}");
    let d = Dialect::of(pool);
    let update = format!(
        "UPDATE credit_reservations SET status = $2, actual = $3::numeric, settled_at = now()
         WHERE id = $1::uuid AND status = 'reserved' RETURNING org_id::text, {}",
        d.float("amount")
    );
    // Money coming back always lands; a charge above the estimate keeps the grace rule.
    let balance = format!(
        "UPDATE org_credit_balance SET balance_credits = {},
             updated_at = now()
         WHERE org_id = $1::uuid
           AND ($2 >= 0 OR balance_credits + $2::numeric >= -grace_threshold_credits)
         RETURNING {}",
        d.money("balance_credits + $2::numeric"),
        d.float("balance_credits")
    );
    let remaining = format!(
        "SELECT {} FROM org_credit_balance WHERE org_id = $1::uuid",
        d.float("balance_credits")
    );
    let ledger =
        "INSERT INTO credit_ledger (id, org_id, kind, amount, balance_after, idempotency_key)
                  VALUES ($1::uuid, $2::uuid, $3, $4::numeric, $5::numeric, $6)";
    let balance_after: f64 = in_transaction!(pool, None::<&str>, |tx, spell| {
        let held: Option<(String, f64)> = sqlx::query_as(&spell(&update))
            .bind(reservation.to_string())
            .bind(status)
            .bind(actual)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((org, held)) = held else {
            return Err(Error::invalid_input(
                "reservation",
                format!("{reservation} is not an open reservation"),
            ));
        };
        // The estimate comes back; the actual cost (none on release) goes out.
        let delta = held - actual.unwrap_or(0.0);
        let balance: Option<f64> = sqlx::query_scalar(&spell(&balance))
            .bind(&org)
            .bind(delta)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(balance) = balance else {
            let remaining: f64 = sqlx::query_scalar(&spell(&remaining))
                .bind(&org)
                .fetch_one(&mut *tx)
                .await?;
            // Returning rolls the transaction back: the reservation stays open.
            return Err(Error::BudgetExceeded {
                org_id: Uuid::parse_str(&org).map_err(|e| Error::Internal(e.to_string()))?,
                requested: -delta,
                remaining,
            });
        };
        sqlx::query(&spell(ledger))
            .bind(ledger_id.to_string())
            .bind(&org)
            .bind(kind)
            .bind(delta)
            .bind(balance)
            .bind(&key)
            .execute(&mut *tx)
            .await?;
        balance
    });
    Ok(Movement {
        ledger_id,
        balance_after,
        duplicate: false,
    })
}
