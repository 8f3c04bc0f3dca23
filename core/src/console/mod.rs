//! The operator console's reads and actions, by name, as JSON: what `keel serve` answers.
//!
//! [`Console`] holds the handles an operator looks through (the model router, the skill
//! registry and a message router over it, the fleet, the queue, the dead letters and the
//! runs) and answers [`CONSOLE_READS`] and [`CONSOLE_ACTIONS`] through [`Calls`]. Actions
//! change state (a redrive, an abandon, a skill deprecated or restored, a breaker reset): they
//! run only on a console opened with [`ConsoleOptions::allow_actions`], need the `actor` who
//! asked, and are logged to `system_logs` as `console.action` with the actor, the target and
//! the outcome.
//! The HTTP server is a thin shell over [`Calls::call_value`]: every default, limit and check
//! is here.

mod diff;
mod logs;
mod tables;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub use diff::{SkillDiff, skill_diff};
pub use logs::{LogSearch, search_logs, trace_view};
pub use tables::{
    CreditSearch, RoutingSearch, credit_balances, credit_ledger, routing_decisions, routing_stats,
};

use crate::Keel;
use crate::error::{Error, Result};
use crate::flow::Queue;
use crate::models::ModelRouter;
use crate::options::{Calls, Case, from_value};
use crate::record::to_value;
use crate::routing::{MessageRouter, RouteOptions, RouteRequest};
use crate::runner::{DeadLetters, Runs};
use crate::skills::{Channel, RegistryOptions, SkillRegistry};
use crate::store::Pool;
use crate::store::bind::{Binds, bind_all};
use crate::telemetry::health::{Fleet, FleetOptions};
use crate::telemetry::{Logger, LoggerOptions};

/// What the console reads.
pub const CONSOLE_READS: &[&str] = &[
    "about",
    "logs",
    "trace",
    "fleet",
    "executions",
    "letters",
    "letter",
    "queue",
    "queue_history",
    "models",
    "breakers",
    "credits",
    "ledger",
    "skills",
    "skill_history",
    "skill_diff",
    "skill_view",
    "route",
    "routing",
    "routing_stats",
];

/// What the console changes (only with [`ConsoleOptions::allow_actions`], each logged).
pub const CONSOLE_ACTIONS: &[&str] = &[
    "redrive_letter",
    "abandon_letter",
    "deprecate_skill",
    "restore_skill",
    "reset_breaker",
];

/// How a console is opened.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleOptions {
    /// Whether [`CONSOLE_ACTIONS`] may run (default false: read-only).
    pub allow_actions: bool,
}

/// The operator console over one database (see the module documentation).
#[derive(Clone)]
pub struct Console {
    keel: Keel,
    options: ConsoleOptions,
    models: ModelRouter,
    skills: SkillRegistry,
    router: MessageRouter,
    fleet: Fleet,
    queue: Queue,
    letters: DeadLetters,
    runs: Runs,
    log: Logger,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The arguments the reads and actions share.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Args {
    id: Option<String>,
    trace_id: Option<String>,
    key: Option<String>,
    org_id: Option<String>,
    channel: Option<String>,
    message: Option<String>,
    reason: Option<String>,
    period_ms: Option<u64>,
    provider: Option<String>,
    model_id: Option<String>,
    actor: Option<String>,
}

impl Args {
    fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str> {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::invalid_input(field, "is required"))
    }
}

impl Console {
    /// A console over `keel`'s database.
    ///
    /// # Errors
    /// Storage errors opening the model router or the skill registry.
    pub async fn open(keel: &Keel, options: ConsoleOptions) -> Result<Self> {
        let models = ModelRouter::open(keel, crate::models::RouterOptions::default()).await?;
        let skills = SkillRegistry::open(keel, RegistryOptions::default()).await?;
        // The route box asks; it does not decide for a user, so nothing is logged or cached.
        let router = MessageRouter::open(
            &skills,
            crate::routing::RouterOptions {
                log: false,
                ..Default::default()
            },
        )?;
        Ok(Console {
            keel: keel.clone(),
            options,
            models,
            skills,
            router,
            fleet: Fleet::open(keel, FleetOptions::default(), None)?,
            queue: Queue::open(keel, Default::default())?,
            letters: DeadLetters::open(keel),
            runs: Runs::open(keel),
            log: keel.logger("keel-console", LoggerOptions::default()),
        })
    }

    /// A console opened with `options` as JSON in `case` (`allow_actions`; the bindings'
    /// `db.console(...)`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming an unknown option (under `prefix`); as [`Console::open`].
    pub async fn open_value(
        keel: &Keel,
        options: Option<Value>,
        case: Case,
        prefix: &str,
    ) -> Result<Self> {
        Self::open(keel, from_value(options, case, prefix)?).await
    }

    /// `op` as the name of one of [`CONSOLE_READS`] or [`CONSOLE_ACTIONS`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `op` when it is neither.
    pub fn operation(op: &str) -> Result<&'static str> {
        CONSOLE_READS
            .iter()
            .chain(CONSOLE_ACTIONS)
            .find(|known| **known == op)
            .copied()
            .ok_or_else(|| {
                Error::invalid_input(
                    "op",
                    format!(
                        "unknown console call {op}; one of {}, {}",
                        CONSOLE_READS.join(", "),
                        CONSOLE_ACTIONS.join(", ")
                    ),
                )
            })
    }

    /// Whether `op` is an action (changes state) rather than a read.
    pub fn is_action(op: &str) -> bool {
        CONSOLE_ACTIONS.contains(&op)
    }

    /// Runs one log search on each of `connections` pooled connections at once: the first
    /// searches on a PostgreSQL connection load the metadata of the log table's partitions
    /// (tens of milliseconds with hundreds of them), which a server pays here, at start,
    /// instead of in an operator's first calls.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn warm(&self, connections: usize) -> Result<()> {
        let pool = self.keel.pool()?;
        let search = LogSearch {
            limit: Some(1),
            ..LogSearch::default()
        };
        futures_util::future::try_join_all((0..connections).map(|_| search_logs(pool, &search)))
            .await?;
        Ok(())
    }

    /// Whether actions may run.
    pub fn allows_actions(&self) -> bool {
        self.options.allow_actions
    }

    async fn read(&self, op: &str, args: Option<Value>, case: Case) -> Result<Value> {
        let pool = self.keel.pool()?;
        // The documents built in SQL, in snake_case, recased for the caller.
        let built = |value: Value| recased(value, case);
        Ok(match op {
            "logs" => built(search_logs(pool, &from_value(args, case, "")?).await?),
            "routing" => built(routing_decisions(pool, &from_value(args, case, "")?).await?),
            "routing_stats" => built(routing_stats(pool, &from_value(args, case, "")?).await?),
            "credits" => built(credit_balances(pool, &from_value(args, case, "")?).await?),
            "ledger" => built(credit_ledger(pool, &from_value(args, case, "")?).await?),
            "skill_diff" => built(skill_diff(pool, &from_value(args, case, "")?).await?),
            "executions" => self.runs.list_value(args, case).await?,
            "letters" => to_value(&self.letters.list_value(args, case, "").await?, case),
            "queue_history" => {
                let options = from_value(args, case, "")?;
                to_value(&self.queue.depth_history(&options).await?, case)
            }
            _ => {
                self.read_named(op, from_value(args, case, "")?, case)
                    .await?
            }
        })
    }

    async fn read_named(&self, op: &str, a: Args, case: Case) -> Result<Value> {
        let pool = self.keel.pool()?;
        Ok(match op {
            "about" => recased(
                json!({
                    "allow_actions": self.options.allow_actions,
                    "version": crate::VERSION,
                    "database": self.keel.url(),
                }),
                case,
            ),
            "trace" => recased(
                trace_view(pool, Args::required(&a.trace_id, "trace_id")?).await?,
                case,
            ),
            "fleet" => to_value(&self.fleet.report(a.period_ms).await?, case),
            "letter" => {
                let id = Args::required(&a.id, "id")?;
                to_value(
                    &self.letters.operate_value("get", id, None, case).await?,
                    case,
                )
            }
            "queue" => to_value(&self.queue.health().await?, case),
            "models" => recased(self.models.matrix_value(), case),
            "breakers" => recased(self.models.breakers_value(), case),
            "skills" => to_value(&self.skills.list().await?, case),
            "skill_history" => {
                let key = Args::required(&a.key, "key")?;
                to_value(&self.skills.history(key).await?, case)
            }
            "skill_view" => {
                let (org, channel) = org_and_channel(&a)?;
                to_value(&*self.skills.resolve_skills(org, channel).await?, case)
            }
            "route" => {
                let (org, channel) = org_and_channel(&a)?;
                let message = a.message.clone().unwrap_or_default();
                let mut request = RouteRequest::new(message, channel.as_str(), org)?;
                request.options = RouteOptions {
                    allow_llm: false,
                    skip_cache: true,
                    trace_id: None,
                };
                to_value(&self.router.route(&request).await?, case)
            }
            other => {
                Self::operation(other)?;
                return Err(Error::Internal(format!(
                    "the console read {other} has no reader"
                )));
            }
        })
    }

    async fn act(&self, op: &str, a: &Args, case: Case) -> Result<Value> {
        Ok(match op {
            "redrive_letter" => {
                let id = Args::required(&a.id, "id")?;
                to_value(
                    &self
                        .letters
                        .operate_value("redrive", id, None, case)
                        .await?,
                    case,
                )
            }
            "abandon_letter" => {
                let id = Args::required(&a.id, "id")?;
                let reason = json!({ "reason": Args::required(&a.reason, "reason")? });
                to_value(
                    &self
                        .letters
                        .operate_value("abandon", id, Some(reason), Case::Snake)
                        .await?,
                    case,
                )
            }
            "deprecate_skill" => {
                let key = Args::required(&a.key, "key")?;
                let version = self.skills.deprecate(key, a.reason.as_deref()).await?;
                recased(
                    json!({ "key": key, "version": version, "deprecated": true }),
                    case,
                )
            }
            "restore_skill" => {
                let key = Args::required(&a.key, "key")?;
                let version = self.skills.restore(key).await?;
                recased(
                    json!({ "key": key, "version": version, "deprecated": false }),
                    case,
                )
            }
            "reset_breaker" => {
                let provider = Args::required(&a.provider, "provider")?;
                let model = Args::required(&a.model_id, "model_id")?;
                let transition = self.models.reset_breaker(provider, model).await?;
                let reset = json!({ "provider": provider, "model_id": model, "transition": transition.as_str() });
                recased(reset, case)
            }
            _ => unreachable!("checked by is_action"),
        })
    }

    /// Runs the action `op`, logging who asked, what for and how it ended.
    async fn logged_action(&self, op: &str, args: Option<Value>, case: Case) -> Result<Value> {
        if !self.options.allow_actions {
            return Err(Error::invalid_input(
                "op",
                format!(
                    "{op} changes state: the console is read-only (keel serve --allow-actions)"
                ),
            ));
        }
        let a: Args = from_value(args, case, "")?;
        let actor = Args::required(&a.actor, "actor")?;
        crate::idents::short_name("actor", actor)?;
        let outcome = self.act(op, &a, case).await;
        let mut fields = Map::new();
        fields.insert("operation".into(), json!(op));
        fields.insert("actor".into(), json!(actor));
        let breaker = a
            .provider
            .as_ref()
            .map(|p| format!("{p}/{}", a.model_id.as_deref().unwrap_or_default()));
        let target = a.id.as_deref().or(a.key.as_deref()).or(breaker.as_deref());
        fields.insert("target".into(), json!(target));
        match &outcome {
            Ok(_) => self.log.info("console.action", fields),
            Err(err) => {
                fields.insert("error".into(), json!(err.to_string()));
                self.log.warn("console.action", fields);
            }
        }
        // The record is stored before the action is reported done.
        self.log.sink().flush().await;
        outcome
    }
}

/// The org and channel a skills view or a route names.
fn org_and_channel(a: &Args) -> Result<(Uuid, Channel)> {
    let org = crate::options::require_uuid("org_id", Args::required(&a.org_id, "org_id")?)?;
    let channel = Channel::parse(a.channel.as_deref().unwrap_or("web"))
        .map_err(|e| Error::invalid_input("channel", e.to_string()))?;
    Ok((org, channel))
}

impl Calls for Console {
    /// Runs the read or action `op` (one of [`CONSOLE_READS`] or [`CONSOLE_ACTIONS`]) on
    /// `args` and returns its result as JSON in `case` (the HTTP API's snake_case, or
    /// JavaScript's camelCase; user data such as a log event's `metadata` as it was stored).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the argument, or `op` when unknown or an action on a
    /// read-only console; as the call.
    async fn call_op(&self, op: &str, args: Option<Value>, case: Case) -> Result<Value> {
        if Self::is_action(op) {
            self.logged_action(op, args, case).await
        } else {
            self.read(op, args, case).await
        }
    }
}

/// `value`, a document built in SQL or with `json!` in snake_case (never one from
/// [`to_value`], whose user data would be recased too), with its keys in `case`;
/// what a `metadata` key holds is user data and kept as stored.
fn recased(value: Value, case: Case) -> Value {
    match (value, case) {
        (value, Case::Snake) => value,
        (Value::Array(items), _) => {
            Value::Array(items.into_iter().map(|v| recased(v, case)).collect())
        }
        (Value::Object(map), _) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if k == "metadata" { v } else { recased(v, case) };
                    (case.spell(&k), v)
                })
                .collect(),
        ),
        (value, _) => value,
    }
}

/// The most rows a page holds, and the default.
const PAGE_MAX: u32 = 500;
const PAGE_DEFAULT: u32 = 100;

/// A page's `limit`, checked (1 to [`PAGE_MAX`], default [`PAGE_DEFAULT`]).
fn page_limit(limit: Option<u32>) -> Result<u32> {
    let limit = limit.unwrap_or(PAGE_DEFAULT);
    if (1..=PAGE_MAX).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::invalid_input(
            "limit",
            format!("must be 1 to {PAGE_MAX}"),
        ))
    }
}

/// The rows of `statement` (PostgreSQL spelling, selecting one JSON text column) as values.
async fn json_rows(pool: &Pool, statement: &str, binds: Binds) -> Result<Vec<Value>> {
    let rows: Vec<String> = crate::store::on_pool!(pool, |conn, sql| {
        let text = sql(statement);
        bind_all!(sqlx::query_scalar::<_, String>(&text), binds)
            .fetch_all(conn)
            .await?
    });
    rows.iter()
        .map(|r| {
            serde_json::from_str(r)
                .map_err(|e| Error::Internal(format!("a console row is not JSON: {e}")))
        })
        .collect()
}
