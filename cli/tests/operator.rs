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
