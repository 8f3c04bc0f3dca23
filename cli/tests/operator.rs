//! The operator commands, run as the built `keel` binary on a fresh database of each backend:
//! a SQLite file and a database of the throwaway PostgreSQL of `make test`.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn keel(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .env("KEEL_DATABASE_URL", url)
        .output()
        .expect("run keel");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A name no other test of this run uses.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn fresh_url() -> String {
    let dir = std::env::temp_dir().join(unique("keel-cli"));
    format!("sqlite://{}", dir.join("keel.db").display())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// An empty database on the throwaway PostgreSQL. Fails, never skips, without it.
fn fresh_pg_url() -> String {
    use sqlx::Connection;
    let admin = std::env::var("KEEL_TEST_PG_URL")
        .expect("KEEL_TEST_PG_URL is not set: run through `make test` or scripts/with-postgres.sh");
    let name = unique("keel_cli");
    runtime().block_on(async {
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
    });
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

/// A fresh, migrated database of each backend (`keel migrate` is the command that creates one).
fn backends() -> [String; 2] {
    [fresh_url(), fresh_pg_url()].map(|url| {
        let (ok, _, err) = keel(&url, &["migrate"]);
        assert!(ok, "{err}");
        url
    })
}

#[test]
fn models_and_credits_commands() {
    for url in backends() {
        models_and_credits(&url);
    }
}

fn models_and_credits(url: &str) {
    let url = url.to_owned();
    let (ok, out, _) = keel(&url, &["models", "list"]);
    assert!(ok);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("platform ")).count(),
        21,
        "{out}"
    );
    assert!(out.contains("claude-sonnet-4-6"));

    let (ok, out, _) = keel(&url, &["models", "breakers"]);
    assert!(ok && out.contains("is closed"), "{out}");

    // A dated id finds its row; the original's reservations and ratio are the defaults.
    let (ok, out, _) = keel(&url, &["models", "threshold", "claude-sonnet-4-6-20250929"]);
    assert!(ok && out.contains("compact above 137712 tokens"), "{out}");
    let (ok, out, _) = keel(&url, &["models", "threshold", "gpt-99"]);
    assert!(!ok, "{out}");

    let org = "6f1d2c3b-0a9e-4c1b-8d7e-112233445566";
    let grant = [
        "credits",
        "grant",
        org,
        "12.5",
        "--idempotency-key",
        "invoice-7",
    ];
    let (ok, out, _) = keel(&url, &grant);
    assert!(ok && out.contains("granted; balance 12.5000"), "{out}");
    let (ok, out, _) = keel(&url, &grant);
    assert!(
        ok && out.contains("already granted; balance 12.5000"),
        "{out}"
    );
    let (ok, out, _) = keel(&url, &["credits", "balance", org]);
    assert!(
        ok && out.contains("12.5000 credits, can proceed: true"),
        "{out}"
    );

    let (ok, _, err) = keel(&url, &["credits", "balance", "system"]);
    assert!(!ok && err.contains("error[invalid_input]"), "{err}");
}

fn repo_skills() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../skills").to_owned()
}

#[test]
fn skills_commands() {
    for url in backends() {
        skills(&url);
    }
}

fn skills(url: &str) {
    let url = url.to_owned();
    let library = repo_skills();
    let (ok, out, _) = keel(&url, &["skills", "validate", &library]);
    assert!(ok && out.contains("32 skill(s) valid, 0 error(s)"), "{out}");
    let (ok, out, _) = keel(&url, &["skills", "validate", &library, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(ok && report["skills"] == 32, "{out}");

    let bad = std::env::temp_dir().join(unique("keel-cli-bad"));
    std::fs::create_dir_all(bad.join("slack/wrong-folder")).unwrap();
    std::fs::write(
        bad.join("slack/wrong-folder/SKILL.md"),
        "---\nname: other\ndescription: x\n---\nBody\n",
    )
    .unwrap();
    let (ok, out, err) = keel(&url, &["skills", "validate", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("error[invalid_skill]"), "{err}");
    assert!(out.contains("SKILL.md:2:7: error[name_mismatch]"), "{out}");
    // With --json the findings are one document, and the exit code still says it failed.
    let (ok, out, _) = keel(
        &url,
        &["--json", "skills", "validate", bad.to_str().unwrap()],
    );
    let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert!(
        !ok && report["diagnostics"][0]["code"] == "name_mismatch",
        "{out}"
    );
    let (ok, _, err) = keel(&url, &["skills", "sync", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("error[invalid_skill]"), "{err}");
    // A template that no context can fix is a finding of validate, with its place.
    let broken = std::env::temp_dir().join(unique("keel-cli-template"));
    std::fs::create_dir_all(broken.join("copilot/greeting")).unwrap();
    std::fs::write(
        broken.join("copilot/greeting/SKILL.md"),
        "---\nname: greeting\ndescription: x\n---\nHi ${company_name|shout} and ${deal.name\n",
    )
    .unwrap();
    let (ok, out, _) = keel(&url, &["skills", "validate", broken.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("SKILL.md:5:4: error[template_modifier]"),
        "{out}"
    );
    assert!(
        out.contains("SKILL.md:5:30: error[template_unclosed]"),
        "{out}"
    );
    std::fs::remove_dir_all(&broken).ok();

    let (ok, out, _) = keel(&url, &["skills", "sync", &library]);
    assert!(
        ok && out.contains("synced 32 skill(s): 32 created"),
        "{out}"
    );
    let (ok, out, _) = keel(&url, &["skills", "sync", &library, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(ok, "{out}");
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 32);
    assert!(items.iter().all(|i| i["action"] == "unchanged"), "{out}");

    let (ok, out, _) = keel(&url, &["skills", "list"]);
    assert!(
        ok && out.contains("slack-deal-query") && out.contains("32 skill(s)"),
        "{out}"
    );
    let (ok, out, _) = keel(&url, &["skills", "history", "deal-status", "--json"]);
    let history: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        ok && history[0]["version"] == 1 && history[0]["is_current"] == true,
        "{out}"
    );
    let (ok, out, _) = keel(&url, &["skills", "deprecate", "eod-summary"]);
    assert!(ok && out.contains("eod-summary v1 deprecated"), "{out}");

    let org = "6f1d2c3b-0a9e-4c1b-8d7e-112233445566";
    let (ok, out, _) = keel(&url, &["skills", "resolve", org, "slack", "--json"]);
    let view: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(ok && view["channel"] == "slack", "{out}");
    // A skill that needs a value this org's context lacks does not compile for it: the view
    // is printed, and the exit code and stderr say what was dropped.
    let extra = std::env::temp_dir().join(unique("keel-cli-extra"));
    std::fs::create_dir_all(extra.join("slack/needs-company")).unwrap();
    std::fs::write(
        extra.join("slack/needs-company/SKILL.md"),
        "---\nname: needs-company\ndescription: x\n---\nFor ${company_name}.\n",
    )
    .unwrap();
    let (ok, _, err) = keel(&url, &["skills", "sync", extra.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, out, err) = keel(&url, &["skills", "resolve", org, "slack", "--json"]);
    let view: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(!ok && view["channel"] == "slack", "{out}");
    assert!(
        err.contains("error[invalid_skill]") && err.contains("compile_failed"),
        "{err}"
    );
    assert!(
        view["shadowed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["key"] == "needs-company")
    );
    std::fs::remove_dir_all(&extra).ok();
    let (ok, _, err) = keel(&url, &["skills", "resolve", org, "sms"]);
    assert!(
        !ok && err.contains("error[invalid_input]") && err.contains("channel"),
        "{err}"
    );
    std::fs::remove_dir_all(&bad).ok();
}

#[test]
fn help_never_prints_the_database_password() {
    let url = "postgres://keel:hunter2@127.0.0.1:9/keel";
    for args in [
        &["migrate", "--help"][..],
        &["logs", "cleanup", "--help"],
        &["models", "list", "--help"],
        &["skills", "sync", "--help"],
    ] {
        let (_, out, err) = keel(url, args);
        assert!(out.contains("--database-url"), "{args:?}: {out}");
        assert!(
            !out.contains("hunter2") && !err.contains("hunter2"),
            "{args:?}: {out}{err}"
        );
    }
}

/// What every command but `migrate` and `demo` does with a database that does not exist: says
/// so, names it on stderr, exits non-zero, and creates nothing (no false all-clear).
#[test]
fn read_commands_never_create_a_database() {
    let dir = std::env::temp_dir().join(unique("keel-cli-typo"));
    let url = format!("sqlite://{}", dir.join("typo.db").display());
    let org = "6f1d2c3b-0a9e-4c1b-8d7e-112233445566";
    for args in [
        &["models", "breakers"][..],
        &["models", "list"],
        &["models", "threshold", "claude-sonnet-4-6"],
        &["credits", "balance", org],
        &["credits", "grant", org, "5"],
        &["skills", "list"],
        &["skills", "history", "deal-status"],
        &["skills", "resolve", org, "slack"],
        &["skills", "sync", &repo_skills()],
        &["logs", "cleanup"],
        &["memory", "cleanup"],
    ] {
        let (ok, out, err) = keel(&url, args);
        assert!(!ok, "{args:?}: {out}");
        assert!(
            err.contains("error[connection]") && err.contains("no SQLite database"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!("keel: database {url}")),
            "{args:?}: {err}"
        );
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
}

/// `--json` is global: every command prints one JSON document, before or after its name.
#[test]
fn every_command_speaks_json() {
    let url = fresh_url();
    let org = "6f1d2c3b-0a9e-4c1b-8d7e-112233445566";
    let library = repo_skills();
    let export = std::env::temp_dir()
        .join(unique("keel-cli-export"))
        .display()
        .to_string();
    let demo = fresh_url();
    let report = std::env::temp_dir()
        .join(unique("keel-fleet-report"))
        .with_extension("html")
        .display()
        .to_string();
    let eval_set = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/routing/calibration.jsonl"
    );
    for (args, key) in [
        (&["--json", "migrate"][..], "applied"),
        (&["models", "list", "--json"], "0"),
        (&["models", "breakers", "--json"], ""),
        (
            &["models", "threshold", "claude-haiku-4-5", "--json"],
            "threshold",
        ),
        (&["credits", "grant", org, "5", "--json"], "movement"),
        (&["credits", "balance", org, "--json"], "can_proceed"),
        (&["skills", "validate", &library, "--json"], "diagnostics"),
        (
            &["skills", "validate", "--portable", &library, "--json"],
            "diagnostics",
        ),
        (&["skills", "import", &library, "--json"], "files"),
        (
            &[
                "skills",
                "export",
                "--portable",
                &library,
                &export,
                "--json",
            ],
            "changes",
        ),
        (&["skills", "sync", &library, "--json"], "items"),
        (&["skills", "list", "--json"], "0"),
        (&["skills", "history", "deal-status", "--json"], "0"),
        (&["skills", "deprecate", "eod-summary", "--json"], "version"),
        (&["skills", "resolve", org, "web", "--json"], "skills"),
        (
            &["route", "summarise my pipeline", "--org", org, "--json"],
            "candidates",
        ),
        (&["route", "log", "--org", org, "--json"], "0"),
        (
            &["route", "eval", eval_set, "--skills", &library, "--json"],
            "accuracy",
        ),
        (&["logs", "cleanup", "--dry-run", "--json"], "total"),
        (&["logs", "pg-cron", "--json"], "schedule"),
        (&["partitions", "maintain", "--json"], "changes"),
        (&["partitions", "list", "--json"], "partitions"),
        (&["partitions", "pg-cron", "--json"], "schedule"),
        (&["memory", "cleanup", "--json"], "archived"),
        (&["memory", "pg-cron", "--json"], "schedule"),
        (
            &["memory", "recall", org, "U042", "Acme pricing", "--json"],
            "facts",
        ),
        (&["dlq", "list", "--json"], ""),
        (&["dlq", "retry", "--agent", "none", "--json"], "letters"),
        (&["dlq", "purge", "--json"], "deleted"),
        (&["runs", "list", "--json"], ""),
        (&["runs", "sweep", "--json"], "swept"),
        (&["runs", "sweep", "--schedule", "--json"], "sql"),
        (&["queue", "health", "--json"], "lanes"),
        (&["queue", "history", "--hours", "2", "--json"], "step_ms"),
        (&["queue", "sweep", "--json"], "requeued"),
        (&["dedup", "sweep", "--dry-run", "--json"], "dry_run"),
        (&["dedup", "sweep", "--org", org, "--json"], "groups_merged"),
        (&["dedup", "counts", "--org", org, "--json"], "suppressed"),
        (&["dedup", "pg-cron", "--json"], "schedule"),
        (&["health", "--json"], "summary"),
        (&["health", "agents", "--json"], "0"),
        (
            &[
                "health",
                "set-agent",
                "crm-sync",
                "--schedule",
                "*/30 * * * *",
                "--json",
            ],
            "cadence_ms",
        ),
        (&["health", "check", "--json"], "total_alerts_fired"),
        (&["health", "alerts", "--json"], ""),
        (&["health", "deliver", "--json"], "delivered"),
        (&["health", "prune", "--json"], "deleted"),
        (&["health", "pg-cron", "--json"], "schedule"),
        (
            &["health", "remove-agent", "crm-sync", "--json"],
            "agent_name",
        ),
        (&["health", "--html", &report, "--json"], "summary"),
        (&["channels", "sweep", "--json"], "claimed"),
        (
            &[
                "channels",
                "pg-cron",
                "--function-url",
                "https://example.supabase.co/functions/v1/keel-threads",
                "--json",
            ],
            "schedule",
        ),
    ] {
        let (ok, out, err) = keel(&url, args);
        assert!(ok, "{args:?}: {err}");
        let value: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        let found = match key {
            "" => value.is_array(),
            "0" => value.get(0).is_some(),
            key => value.get(key).is_some(),
        };
        assert!(found, "{args:?}: no {key:?} in {out}");
    }
    let page = std::fs::read_to_string(&report).expect("keel health --html wrote the report");
    assert!(page.starts_with("<!doctype html>") && page.contains("uPlot"));
    let (ok, out, err) = keel(&demo, &["demo", "--json"]);
    assert!(ok, "{err}");
    let value: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert!(
        value["lines"].as_array().is_some_and(|l| l.len() > 10),
        "{out}"
    );
    // The demo's runs, listed and shown.
    let (ok, out, err) = keel(
        &demo,
        &["runs", "list", "--agent", "deal-risk-scan", "--json"],
    );
    assert!(ok, "{err}");
    let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = runs[0]["id"].as_str().expect("the demo's run").to_owned();
    assert_eq!(runs[0]["attempts"], 2, "{out}");
    let (ok, out, err) = keel(&demo, &["runs", "show", &id, "--json"]);
    assert!(ok, "{err}");
    let run: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["status"], "completed", "{out}");
    assert_eq!(run["error_history"][0]["kind"], "transient", "{out}");
    let (ok, out, _) = keel(&demo, &["runs", "show", "not-a-uuid", "--json"]);
    let refused: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(!ok && refused["error"]["field"] == "id", "{out}");
    // The demo's queue: its burst drained, the rate-limited items waiting for their time, and
    // the dedup step's two primaries (one escalated to lane 1) waiting for enrichment.
    let (ok, out, err) = keel(&demo, &["queue", "health", "--json"]);
    assert!(ok, "{err}");
    let health: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (health["depth"].as_u64(), health["mode"].as_str()),
        (Some(2), Some("normal")),
        "{out}"
    );
    assert_eq!(
        health["lanes"][1]["depth"], 1,
        "the escalated primary: {out}"
    );
    // Its backlog now holds at least what is due in each lane; a bad window names its flag.
    let (ok, out, err) = keel(&demo, &["queue", "history", "--json"]);
    assert!(ok, "{err}");
    let history: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(history["times"].as_array().map(Vec::len), Some(96), "{out}");
    for lane in 0..4 {
        let now = &history["lanes"][lane]["backlog"][95];
        assert!(
            now.as_u64() >= health["lanes"][lane]["depth"].as_u64(),
            "{out}"
        );
    }
    let (ok, out, _) = keel(&demo, &["queue", "history", "--hours", "0", "--json"]);
    let refused: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(!ok && refused["error"]["field"] == "hours", "{out}");
    let (ok, out, err) = keel(
        &demo,
        &[
            "dedup",
            "counts",
            "--org",
            "00000000-0000-4000-8000-0000000000a1",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let counts: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (counts["suppressed"].as_u64(), counts["escalated"].as_u64()),
        (Some(3), Some(1)),
        "{out}"
    );
    let delayed: u64 = health["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["delayed"].as_u64().unwrap())
        .sum();
    assert_eq!(delayed, 100, "{out}");
}

#[test]
fn huge_retention_is_refused_not_a_panic() {
    let url = fresh_url();
    let (ok, out, err) = keel(
        &url,
        &["logs", "cleanup", "--dry-run", "--debug-days", "2147483647"],
    );
    assert!(!ok, "{out}");
    assert!(
        err.contains("debug_days") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn json_commands_report_failures_as_json() {
    let (ok, out, _) = keel("ftp://u:hunter2@h/db", &["skills", "list", "--json"]);
    assert!(!ok);
    let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(report["error"]["code"], "invalid_url", "{out}");
    assert_eq!(report["error"]["field"], "url");
    assert!(!out.contains("hunter2"), "{out}");
}

#[test]
fn migrate_applies_each_migration_once() {
    for url in [fresh_url(), fresh_pg_url()] {
        let (ok, out, err) = keel(&url, &["migrate"]);
        assert!(ok, "{err}");
        let total = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../migrations/postgres"
        ))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
        assert!(
            out.contains(&format!("{total} migration(s) applied, {total} in total")),
            "{out}"
        );
        assert!(out.contains("0001 foundation"), "{out}");
        let (ok, out, _) = keel(&url, &["migrate"]);
        assert!(
            ok && out.contains(&format!("0 migration(s) applied, {total} in total")),
            "{out}"
        );
    }
}

/// Rows in `system_logs` at `level`, `days` old, written straight to the database.
fn old_logs(url: &str, rows: &[(&str, u32)]) {
    runtime().block_on(async {
        let keel = keel::Keel::connect(url).await.unwrap();
        for (level, days) in rows {
            let pool = keel.pool().unwrap();
            match pool {
                keel::Pool::Sqlite(p) => sqlx::query(
                    "INSERT INTO system_logs (id, \"timestamp\", service, action, level) \
                     VALUES (lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || ?1 || ' days'), 'cli', 'old', ?2)",
                )
                .bind(*days)
                .bind(*level)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
                .unwrap(),
                keel::Pool::Postgres(p) => sqlx::query(
                    "INSERT INTO system_logs (\"timestamp\", service, action, level) \
                     VALUES (now() - make_interval(days => $1), 'cli', 'old', $2)",
                )
                .bind(*days as i32)
                .bind(*level)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
                .unwrap(),
            };
        }
        keel.close().await;
    });
}

#[test]
fn logs_cleanup_deletes_past_retention_and_a_dry_run_deletes_nothing() {
    for url in backends() {
        // debug past 30 days, info inside 90, warn past 90, error inside 365.
        old_logs(
            &url,
            &[
                ("debug", 31),
                ("debug", 2),
                ("info", 80),
                ("warn", 91),
                ("error", 300),
            ],
        );
        let (ok, out, err) = keel(&url, &["logs", "cleanup", "--dry-run"]);
        assert!(
            ok && out.contains("would delete 2 rows from system_logs"),
            "{out}{err}"
        );
        let (ok, out, _) = keel(&url, &["logs", "cleanup", "--batch-size", "1"]);
        assert!(
            ok && out.contains("deleted 2 rows from system_logs"),
            "{out}"
        );
        assert!(
            out.contains("debug          1  (older than 30 days)"),
            "{out}"
        );
        let (ok, out, _) = keel(&url, &["logs", "cleanup", "--info-days", "7"]);
        assert!(
            ok && out.contains("deleted 1 rows from system_logs"),
            "a shorter policy: {out}"
        );
        let (ok, out, _) = keel(&url, &["logs", "cleanup"]);
        assert!(ok && out.contains("deleted 0 rows"), "{out}");
    }
}

#[test]
fn logs_pg_cron_prints_the_schedule_of_the_same_cleanup() {
    let (ok, out, _) = keel("sqlite::memory:", &["logs", "pg-cron"]);
    assert!(ok, "{out}");
    assert!(
        out.trim_end()
            .starts_with("SELECT cron.schedule('keel-logs-cleanup'"),
        "{out}"
    );
    assert!(out.contains("keel.cleanup_system_logs()"), "{out}");
}

/// The platform-shaped corpus: `import` reports each file, `export --portable` writes a copy
/// that `validate --portable` passes and exits non-zero for the two broken files it skipped.
#[test]
fn import_and_export_read_the_platform_corpus() {
    let corpus = format!("{}/../testdata/skill-corpus", env!("CARGO_MANIFEST_DIR"));
    let url = fresh_url();
    let (ok, out, err) = keel(&url, &["skills", "import", &corpus]);
    assert!(ok, "{err}");
    assert!(
        out.contains("27 file(s): 19 load, 6 warned, 2 refused"),
        "{out}"
    );
    assert!(
        out.contains("meeting-notes-extractor") && out.contains("misspelled_key"),
        "{out}"
    );
    let (ok, out, _) = keel(&url, &["skills", "import", &corpus, "--json"]);
    assert!(ok);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["refused"], 2);

    let (ok, out, _) = keel(&url, &["skills", "validate", "--portable", &corpus]);
    assert!(!ok, "the corpus is not portable");
    assert!(
        out.contains("error[flow_style]") && out.contains("error[name_mismatch]"),
        "{out}"
    );

    let copy = std::env::temp_dir().join(unique("keel-cli-corpus"));
    let copy = copy.display().to_string();
    let (ok, out, _) = keel(&url, &["skills", "export", "--portable", &corpus, &copy]);
    assert!(!ok, "two files were skipped: {out}");
    assert!(out.contains("wrote 25 skill(s)"), "{out}");
    assert!(
        out.contains("display_name: `name: Slack Deal Query`"),
        "{out}"
    );
    let (ok, out, err) = keel(&url, &["skills", "validate", "--portable", &copy]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("25 skill(s) valid, 0 error(s)"), "{out}");
    std::fs::remove_dir_all(&copy).ok();
}

#[test]
fn route_prints_the_decision_its_candidates_and_the_log() {
    let url = fresh_url();
    let org = "6f1d2c3b-0a9e-4c1b-8d7e-112233445566";
    assert!(keel(&url, &["migrate"]).0);
    assert!(keel(&url, &["skills", "sync", &repo_skills()]).0);
    let (ok, out, err) = keel(
        &url,
        &[
            "route",
            "How's the Acme deal looking?",
            "--org",
            org,
            "--channel",
            "slack",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("route: slack-deal-query"), "{out}");
    assert!(out.contains("\"deal\":\"Acme\""), "{out}");
    let (ok, out, _) = keel(&url, &["route", "log", "--org", org]);
    assert!(ok && out.starts_with("1 decision(s)"), "{out}");
    let (ok, _, err) = keel(&url, &["route", "hi", "--org", org, "--channel", "email"]);
    assert!(
        !ok && err.contains("invalid_input") && err.contains("channel"),
        "{err}"
    );
    let (ok, _, err) = keel(&url, &["route", "hi"]);
    assert!(!ok && err.contains("org"), "{err}");
}

#[test]
fn memory_recall_prints_a_users_best_facts_without_counting_them() {
    let url = fresh_url();
    let org = uuid::Uuid::new_v4();
    let facts: Vec<keel::memory::NewFact> = serde_json::from_value(serde_json::json!([
        {"category": "deal", "subject": "Acme pricing", "content": "Acme wants 10% off"},
        {"category": "preference", "subject": "Reports", "content": "Weekly reports by email"},
    ]))
    .unwrap();
    runtime().block_on(async {
        let db = keel::Keel::connect(&url).await.unwrap();
        let store = keel::memory::ConversationStore::open(&db);
        store
            .add_facts(org, "U042", &facts, None, None)
            .await
            .unwrap();
        db.close().await;
    });
    let org = org.to_string();
    let (ok, out, err) = keel(&url, &["memory", "recall", &org, "U042", "Acme pricing"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("1 fact(s) for [\"acm\", \"price\"]"),
        "{out}"
    );
    assert!(
        out.contains("[deal] Acme pricing: Acme wants 10% off"),
        "{out}"
    );
    let (ok, out, _) = keel(
        &url,
        &["memory", "recall", &org, "U042", "Acme pricing", "--json"],
    );
    assert!(ok);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["facts"][0]["fact"]["access_count"], 0);
    let (ok, _, err) = keel(&url, &["memory", "recall", "not-a-uuid", "U042", "x"]);
    assert!(!ok && err.contains("org_id"), "{err}");
}

/// A replay endpoint on loopback counting the requests per idempotency key (503 for the
/// first request of every tenth letter).
fn replay_server(
    rt: &tokio::runtime::Runtime,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, u32>>>,
) {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<std::collections::BTreeMap<String, u32>>> = Arc::default();
    let counts = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let counts = counts.clone();
        async move {
            let key = headers["idempotency-key"].to_str().unwrap().to_owned();
            let letter: serde_json::Value = serde_json::from_str(&body).unwrap();
            let n = {
                let mut counts = counts.lock().unwrap();
                let n = counts.entry(key).or_default();
                *n += 1;
                *n
            };
            let flaky = letter["payload"]["n"].as_u64().unwrap().is_multiple_of(10);
            if flaky && n == 1 {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            } else {
                axum::http::StatusCode::OK
            }
        }
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/replay", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[test]
fn two_dlq_workers_at_once_never_replay_a_letter_twice() {
    let rt = runtime();
    for url in backends() {
        let ids: Vec<String> = rt.block_on(async {
            let db = keel::Keel::connect(&url).await.unwrap();
            let letters = keel::runner::DeadLetters::open(&db);
            let mut ids = Vec::new();
            for n in 0..200 {
                let letter = serde_json::json!({
                    "agent_name": "deal-risk", "payload": {"n": n}, "org_id": "system",
                    "errors": [{"kind": "transient", "message": "HTTP 503"}], "delay_ms": 0,
                });
                let stored = letters
                    .enqueue_value(Some(letter), keel::options::Case::Snake, "")
                    .await
                    .unwrap();
                ids.push(stored.id.to_string());
            }
            db.close().await;
            ids
        });
        let (server, seen) = replay_server(&rt);
        let workers: Vec<_> = (0..2)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_keel"))
                    .args([
                        "dlq", "work", "--once", "--url", &server, "--batch", "150", "--json",
                    ])
                    .env("KEEL_DATABASE_URL", &url)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("run keel")
            })
            .collect();
        let workers: Vec<_> = workers
            .into_iter()
            .map(|w| w.wait_with_output().unwrap())
            .collect();
        let mut resolved = 0;
        let mut retrying = 0;
        for out in workers {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            resolved += report["resolved"].as_u64().unwrap();
            retrying += report["retrying"].as_u64().unwrap();
        }
        assert_eq!((resolved, retrying), (180, 20), "{url}");
        let counts = seen.lock().unwrap().clone();
        assert_eq!(counts.len(), 200);
        assert!(
            counts.values().all(|n| *n == 1),
            "a letter was replayed twice: {counts:?}"
        );
        assert!(counts.keys().all(|k| k.starts_with("dlq:")));
        let (ok, out, err) = keel(&url, &["dlq", "list", "--status", "pending", "--json"]);
        assert!(ok, "{err}");
        let pending: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(pending.as_array().unwrap().len(), 20);
        assert_eq!(pending[0]["errors"][1]["status"], 503);
        let one = pending[0]["id"].as_str().unwrap().to_owned();
        let (ok, out, _) = keel(
            &url,
            &["dlq", "abandon", &one, "--reason", "operator: stale"],
        );
        assert!(ok && out.starts_with("abandon: 1 letter(s)"), "{out}");
        let (ok, out, _) = keel(&url, &["dlq", "redrive", "--json"]);
        assert!(ok);
        let redriven: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(redriven["letters"][0]["id"], one.as_str());
        let (ok, out, _) = keel(&url, &["dlq", "show", &one]);
        assert!(
            ok && out.contains("pending") && out.contains("HTTP 503"),
            "{out}"
        );
        let (ok, _, err) = keel(&url, &["dlq", "show", "not-a-uuid"]);
        assert!(!ok && err.contains("id"), "{err}");
        assert!(ids.contains(&one));
    }
}

/// A worker process paused (SIGSTOP) past its lease cannot complete the letter another worker
/// took meanwhile: after SIGCONT its completion is fenced out and reported as lost.
#[test]
fn a_paused_dlq_worker_cannot_complete_a_letter_another_took() {
    use std::sync::{Arc, Mutex};
    let rt = runtime();
    let url = fresh_pg_url();
    let (ok, _, err) = keel(&url, &["migrate"]);
    assert!(ok, "{err}");
    rt.block_on(async {
        let db = keel::Keel::connect(&url).await.unwrap();
        let letter = serde_json::json!({"agent_name": "slow", "errors": [{"message": "HTTP 503"}], "delay_ms": 0});
        keel::runner::DeadLetters::open(&db)
            .enqueue_value(Some(letter), keel::options::Case::Snake, "")
            .await
            .unwrap();
        db.close().await;
    });
    // The first request waits until released; later ones answer at once.
    let release = Arc::new(tokio::sync::Notify::new());
    let requests = Arc::new(Mutex::new(0));
    let (gate, count) = (release.clone(), requests.clone());
    let app = axum::Router::new().fallback(move || {
        let (gate, count) = (gate.clone(), count.clone());
        async move {
            let first = {
                let mut n = count.lock().unwrap();
                *n += 1;
                *n == 1
            };
            if first {
                gate.notified().await;
            }
            axum::http::StatusCode::OK
        }
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let server = format!("http://{}/replay", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });
    let paused = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "dlq",
            "work",
            "--once",
            "--url",
            &server,
            "--lease-ms",
            "1500",
            "--json",
        ])
        .env("KEEL_DATABASE_URL", &url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = std::time::Instant::now();
    while *requests.lock().unwrap() == 0 {
        assert!(waiting.elapsed().as_secs() < 30, "the worker never posted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = paused.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let (ok, out, err) = keel(&url, &["dlq", "work", "--once", "--url", &server, "--json"]);
    assert!(ok, "{err}");
    let other: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        other["resolved"], 1,
        "the other worker took the expired lease: {out}"
    );
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    release.notify_one();
    let out = paused.wait_with_output().unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["resolved"].as_u64(), report["lost"].as_u64()),
        (Some(0), Some(1)),
        "{report}"
    );
    let (ok, out, _) = keel(&url, &["dlq", "list", "--status", "resolved", "--json"]);
    assert!(ok);
    let resolved: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(resolved.as_array().unwrap().len(), 1);
    assert_eq!(resolved[0]["retry_count"], 2);
}

#[test]
fn partitions_are_listed_and_kept_on_postgres_and_absent_on_sqlite() {
    let url = fresh_pg_url();
    let (ok, out, err) = keel(&url, &["--json", "migrate"]);
    assert!(ok, "{err}");
    let (ok, out2, err) = keel(&url, &["partitions", "list"]);
    assert!(ok, "{err}");
    assert!(
        out2.contains("agent_executions_default") && out2.contains("DEFAULT"),
        "{out2}"
    );
    assert!(out2.contains("system_logs_error_p"), "{out2}");
    let (ok, listed, err) = keel(&url, &["partitions", "list", "--json"]);
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let tables: std::collections::BTreeSet<_> = listed["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["table"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tables.len(), 5, "{listed}");
    let (ok, again, err) = keel(&url, &["partitions", "maintain"]);
    assert!(ok, "{err}");
    assert!(
        again.contains("every partition in place"),
        "{again} after {out}"
    );
    let lite = fresh_url();
    assert!(keel(&lite, &["migrate"]).0);
    let (ok, lite, err) = keel(&lite, &["partitions", "maintain"]);
    assert!(ok, "{err}");
    assert!(lite.contains("SQLite keeps plain tables"), "{lite}");
}
