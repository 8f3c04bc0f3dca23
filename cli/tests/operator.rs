//! The operator commands, run as the built `keel` binary on a fresh SQLite file.

use std::process::Command;

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

fn fresh_url() -> String {
    let dir = std::env::temp_dir().join(format!("keel-cli-{}-{}", std::process::id(), line!()));
    format!("sqlite://{}", dir.join("keel.db").display())
}

#[test]
fn models_and_credits_commands() {
    let url = fresh_url();
    let (ok, out, _) = keel(&url, &["models", "list"]);
    assert!(ok);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("platform ")).count(),
        21,
        "{out}"
    );
    assert!(out.contains("claude-sonnet-4-6"));

    let (ok, out, _) = keel(&url, &["models", "breakers"]);
    assert!(ok && out.contains("every circuit is closed"), "{out}");

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
    let url = fresh_url();
    let library = repo_skills();
    let (ok, out, _) = keel(&url, &["skills", "validate", &library]);
    assert!(ok && out.contains("32 skill(s) valid, 0 error(s)"), "{out}");
    let (ok, out, _) = keel(&url, &["skills", "validate", &library, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(ok && report["skills"] == 32, "{out}");

    let bad = std::env::temp_dir().join(format!("keel-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(bad.join("slack/wrong-folder")).unwrap();
    std::fs::write(
        bad.join("slack/wrong-folder/SKILL.md"),
        "---\nname: other\ndescription: x\n---\nBody\n",
    )
    .unwrap();
    let (ok, out, err) = keel(&url, &["skills", "validate", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("error[invalid_skill]"), "{err}");
    assert!(out.contains("SKILL.md:2:7: error[name_mismatch]"), "{out}");
    let (ok, _, err) = keel(&url, &["skills", "sync", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("error[invalid_skill]"), "{err}");

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
