//! `keel route …`: route a message, evaluate a labelled set, read the routing log.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use keel::routing::{
    Evaluation, MessageRouter, RouteRequest, Routed, RouterOptions, evaluate, read_labelled,
};
use keel::skills::{RegistryOptions, SkillRegistry, SyncOptions};
use uuid::Uuid;

use crate::models::org;
use crate::output::{Create, Ctx, DEFAULT_URL, Done, Failure};

/// The org `--skills` evaluations route for: an in-memory database has no other.
const EVAL_ORG: Uuid = Uuid::from_u128(0x6b65_656c_0000_4000_8000_0000_0000_0001);

/// `keel route "message" --org …`: one message.
#[derive(Args)]
pub struct RouteArgs {
    /// The message.
    pub message: Option<String>,
    /// The org (UUID).
    #[arg(long)]
    pub org: Option<String>,
    /// web, slack, fleet or command_centre.
    #[arg(long, default_value = "web")]
    pub channel: String,
    /// The user, for the log.
    #[arg(long)]
    pub user: Option<String>,
}

/// `keel route eval …`, `keel route log …`
#[derive(Subcommand)]
pub enum RouteCommand {
    /// Evaluate a labelled `.jsonl` set: accuracy, per-label precision and recall, confusion
    /// pairs, out-of-scope false accepts, the share decided per stage, latency.
    Eval {
        /// One `{"message", "channel", "expected"}` a line.
        file: PathBuf,
        /// Sync this library into an in-memory database and route for a fresh org (default:
        /// the database's skills, for `--org`).
        #[arg(long)]
        skills: Option<PathBuf>,
        /// The org (UUID) when routing on the database's skills.
        #[arg(long)]
        org: Option<String>,
        /// Fit the score-to-probability curve on these labelled sets first (repeat the flag
        /// for several) and evaluate with it; the fit on the evaluated set itself is printed
        /// with `--json` as `fitted`.
        #[arg(long)]
        fit_on: Vec<PathBuf>,
        /// The least confidence for a single skill to evaluate with, to choose an org's
        /// threshold (default 0.5, the original's).
        #[arg(long)]
        skill_threshold: Option<f64>,
        /// Also print the misrouted messages.
        #[arg(long)]
        misses: bool,
    },
    /// Read the routing log of an org.
    Log {
        /// The org (UUID).
        #[arg(long)]
        org: String,
        /// How far back, in minutes (default 60).
        #[arg(long, default_value_t = 60)]
        since: u64,
        /// Most rows (default 50).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// Routes one message (`keel route "message" --org …`).
pub async fn route_one(ctx: &Ctx, args: RouteArgs) -> Done {
    let missing = |field: &str| {
        Failure::Early(keel::Error::invalid_input(
            field,
            "is required: keel route \"message\" --org <uuid> [--channel web]",
        ))
    };
    let message = args.message.ok_or_else(|| missing("message"))?;
    let org = org(&args.org.ok_or_else(|| missing("org"))?)?;
    let mut request = RouteRequest::new(message, &args.channel, org)?;
    request.user = args.user;
    let keel = ctx.connect(DEFAULT_URL, Create::No).await?;
    let skills = SkillRegistry::open(&keel, RegistryOptions::default()).await?;
    let router = MessageRouter::open(&skills, RouterOptions::default())?;
    let routed = router.route(&request).await?;
    router.flush().await;
    ctx.emit(&routed, || describe(&routed));
    keel.close().await;
    Ok(())
}

/// Runs a `keel route` subcommand.
pub async fn run(ctx: &Ctx, command: RouteCommand) -> Done {
    match command {
        RouteCommand::Eval {
            file,
            skills,
            org: org_id,
            fit_on,
            skill_threshold,
            misses,
        } => {
            let set = read_labelled(&read(&file)?)?;
            let mut fit_set = Vec::new();
            for path in &fit_on {
                fit_set.extend(read_labelled(&read(path)?)?);
            }
            let (keel, org) = match (&skills, org_id) {
                (Some(library), _) => {
                    let keel = keel::Keel::connect("sqlite::memory:").await?;
                    let registry = SkillRegistry::open(&keel, RegistryOptions::default()).await?;
                    registry
                        .sync(library, SyncOptions::default(), |_, _, _| {})
                        .await?;
                    (keel, EVAL_ORG)
                }
                (None, Some(org_id)) => {
                    (ctx.connect(DEFAULT_URL, Create::No).await?, org(&org_id)?)
                }
                (None, None) => {
                    return Err(Failure::Early(keel::Error::invalid_input(
                        "org",
                        "pass --org to evaluate the database's skills, or --skills <folder>",
                    )));
                }
            };
            let registry = SkillRegistry::open(&keel, RegistryOptions::default()).await?;
            let mut options = RouterOptions {
                log: false,
                ..RouterOptions::default()
            };
            if let Some(skill) = skill_threshold {
                options.thresholds.skill = skill;
            }
            if !fit_set.is_empty() {
                let router = MessageRouter::open(&registry, options.clone())?;
                let fitted = evaluate(&router, org, &fit_set, false).await?.fitted;
                options.calibration = fitted.ok_or_else(|| {
                    keel::Error::invalid_input("fit_on", "needs right and wrong answers to fit")
                })?;
            }
            let router = MessageRouter::open(&registry, options)?;
            let evaluation = evaluate(&router, org, &set, false).await?;
            ctx.emit(&evaluation, || report(&evaluation, misses));
            keel.close().await;
            Ok(())
        }
        RouteCommand::Log {
            org: org_id,
            since,
            limit,
        } => {
            let org = org(&org_id)?;
            let keel = ctx.connect(DEFAULT_URL, Create::No).await?;
            let registry = SkillRegistry::open(&keel, RegistryOptions::default()).await?;
            let options = RouterOptions {
                log: false,
                ..RouterOptions::default()
            };
            let router = MessageRouter::open(&registry, options)?;
            let from = SystemTime::now() - Duration::from_secs(since.saturating_mul(60));
            let rows = router.log(org, from, limit).await?;
            ctx.emit(&rows, || {
                let mut text = format!("{} decision(s)\n", rows.len());
                for r in &rows {
                    text += &format!(
                        "{}  {:<8} {:<24} {:<10} {:.2}{}  {}\n",
                        r.created_at,
                        r.channel,
                        r.route,
                        r.stage,
                        r.confidence,
                        if r.cached { " (cached)" } else { "" },
                        r.message_snippet
                    );
                }
                text
            });
            keel.close().await;
            Ok(())
        }
    }
}

/// A labelled file's text.
fn read(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure::Early(keel::Error::invalid_input(
            "file",
            format!("{}: {e}", path.display()),
        ))
    })
}

/// A decision for a person.
fn describe(routed: &Routed) -> String {
    let mut text = format!(
        "route: {}  (confidence {:.2}, {}, by {:?} at the {:?} stage{})\n",
        routed.route,
        routed.confidence,
        serde_json::to_value(routed.band)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        routed.matched_by,
        routed.stage,
        if routed.out_of_scope {
            ", out of scope"
        } else {
            ""
        },
    );
    if let Some(intent) = &routed.intent {
        text += &format!("intent: {intent}\n");
    }
    if !routed.entities.is_empty() {
        text += &format!(
            "entities: {}\n",
            serde_json::to_string(&routed.entities).unwrap_or_default()
        );
    }
    for c in &routed.candidates {
        text += &format!(
            "  {:<28} score {:.3}  confidence {:.2}  {}\n",
            c.skill_key,
            c.score,
            c.confidence,
            serde_json::to_string(&c.evidence).unwrap_or_default()
        );
    }
    text += &format!(
        "skills version {}, {:.1} µs\n",
        routed.skills_version,
        routed.duration.as_secs_f64() * 1e6
    );
    text
}

/// An evaluation as a table.
fn report(e: &Evaluation, misses: bool) -> String {
    let mut text = format!(
        "{} messages: top-1 accuracy {:.1} % ({} right), out-of-scope false accepts {:.1} %\n\
         latency p50 {:.1} µs, p99 {:.1} µs; calibration error {:.3}\n",
        e.total,
        e.accuracy * 100.0,
        e.correct,
        e.out_of_scope_false_accepts * 100.0,
        e.p50_us,
        e.p99_us,
        e.calibration_error,
    );
    text += "decided by: ";
    text += &e
        .stages
        .iter()
        .map(|(stage, share)| format!("{stage} {:.1} %", share * 100.0))
        .collect::<Vec<_>>()
        .join(", ");
    text += "\n\nlabel                        support  precision  recall\n";
    for l in &e.labels {
        text += &format!(
            "{:<28} {:>7}  {:>9.2}  {:>6.2}\n",
            l.label, l.support, l.precision, l.recall
        );
    }
    if !e.confusion.is_empty() {
        text += "\nconfused (expected -> routed):\n";
        for (expected, routed, n) in e.confusion.iter().take(10) {
            text += &format!("  {n:>3}  {expected} -> {routed}\n");
        }
    }
    if misses {
        text += "\nmisses:\n";
        for m in &e.misses {
            text += &format!(
                "  {} -> {} ({:.2}): {}\n",
                m.expected, m.routed, m.confidence, m.message
            );
            let weighed: Vec<String> = m
                .candidates
                .iter()
                .map(|(key, confidence)| format!("{key} {confidence:.2}"))
                .collect();
            if !weighed.is_empty() {
                text += &format!("        weighed: {}\n", weighed.join(", "));
            }
        }
    }
    text
}
