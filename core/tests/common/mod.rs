//! Test helpers: every storage test runs on SQLite and on PostgreSQL.
//!
//! PostgreSQL comes from `scripts/with-postgres.sh` (or `make test`), which exports
//! `KEEL_TEST_PG_URL`. Each test gets a database of its own, so tests run in parallel.
#![allow(dead_code)]

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;

use keel::{Backend, Keel};

pub mod corpus;
pub mod files;
pub mod llm;
#[path = "../../../cli/src/loopback.rs"]
pub mod loopback;
pub mod memory;

/// The superuser URL of the throwaway PostgreSQL. Storage tests fail rather than skip without it.
pub fn pg_admin_url() -> String {
    std::env::var("KEEL_TEST_PG_URL").expect(
        "KEEL_TEST_PG_URL is not set: run storage tests through `make test` or \
         `scripts/with-postgres.sh cargo test`",
    )
}

fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{:016x}",
        std::process::id(),
        RandomState::new().hash_one(std::time::Instant::now())
    )
}

/// Creates an empty PostgreSQL database and returns its URL.
pub async fn fresh_pg_url() -> String {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let name = unique_name("keel_test");
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to test postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.ok();
    let base = admin.rsplit_once('/').expect("admin url has a database").0;
    format!("{base}/{name}")
}

/// A new SQLite file URL in the system temp folder.
pub fn fresh_sqlite_url() -> String {
    let path: PathBuf = std::env::temp_dir()
        .join(unique_name("keel_test"))
        .join("keel.db");
    format!("sqlite://{}", path.display())
}

/// A fresh, empty database URL on `backend`.
pub async fn fresh_url(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => fresh_sqlite_url(),
        Backend::Postgres => fresh_pg_url().await,
    }
}

/// Runs `test` once against a freshly migrated SQLite database and once against a freshly
/// migrated PostgreSQL database.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Backend, Keel) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let keel = Keel::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect {backend:?}: {e}"));
        test(backend, keel.clone()).await;
        keel.close().await;
    }
}

/// A PostgreSQL server of one test's own (`scripts/pg.sh` with a private state folder), for
/// tests that stop and start it. Stopped and deleted on drop.
pub struct PrivatePostgres {
    state: PathBuf,
}

impl PrivatePostgres {
    /// Starts the server. The suite's server must exist too (storage tests never skip).
    pub fn start(name: &str) -> Self {
        let _ = pg_admin_url();
        let state = std::env::temp_dir().join(unique_name(name));
        let pg = PrivatePostgres { state };
        pg.run("start");
        pg
    }

    /// Runs `scripts/pg.sh <command>` on this server and returns what it printed.
    pub fn run(&self, command: &str) -> String {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg.sh");
        let out = std::process::Command::new(&script)
            .arg(command)
            .env("KEEL_PG_STATE", &self.state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg.sh {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The superuser URL.
    pub fn url(&self) -> String {
        self.run("url")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.run("stop");
    }
}

/// Syncs the corpus with `force` (its broken files are skipped) and lists each channel's keys.
pub async fn corpus_views(keel: &keel::Keel, root: &std::path::Path) -> serde_json::Value {
    use keel::skills::{Channel, RegistryOptions, SkillRegistry, SyncOptions};
    let registry = SkillRegistry::open(keel, RegistryOptions::default())
        .await
        .unwrap();
    let options = SyncOptions {
        force: true,
        ..SyncOptions::default()
    };
    registry.sync(root, options, |_, _, _| {}).await.unwrap();
    let org = uuid::Uuid::from_u128(7);
    let mut views = serde_json::Map::new();
    for channel in ["web", "slack", "fleet", "command_centre"] {
        let view = registry
            .resolve_skills(org, Channel::parse(channel).unwrap())
            .await
            .unwrap();
        let keys: Vec<&str> = view.skills.iter().map(|s| s.key.as_str()).collect();
        let shadowed: Vec<serde_json::Value> = view
            .shadowed
            .iter()
            .map(|s| serde_json::json!([s.key, s.reason.as_str()]))
            .collect();
        views.insert(
            channel.into(),
            serde_json::json!({"skills": keys, "shadowed": shadowed}),
        );
    }
    serde_json::Value::Object(views)
}

/// Runs this test binary's `test` as `count` child processes (each its own pool), with `env`
/// and `KEEL_CHILD_INDEX` (0, 1, …) set, all told to start together at `KEEL_START_AT_MS` (two
/// seconds from now; [`wait_for_start`] waits for it). The line each child printed starting
/// with `KEEL_CHILD `, without that prefix; panics when a child fails.
pub fn run_children(test: &str, count: usize, env: &[(&str, String)]) -> Vec<String> {
    spawn_children(test, count, env)
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "a child of {test} failed");
            child_report(&out)
        })
        .collect()
}

/// The line a child printed starting with `KEEL_CHILD `, without that prefix.
pub fn child_report(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("KEEL_CHILD "));
    line.expect("the child's report").to_owned()
}

/// The children of [`run_children`], started and not waited for (their stdout piped).
pub fn spawn_children(
    test: &str,
    count: usize,
    env: &[(&str, String)],
) -> Vec<std::process::Child> {
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + std::time::Duration::from_secs(2);
    (0..count)
        .map(|i| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture"])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env("KEEL_CHILD_INDEX", i.to_string())
                .env("KEEL_START_AT_MS", start.as_millis().to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// In a child of [`run_children`]: waits until the moment all children start at.
pub async fn wait_for_start() {
    let start: u64 = std::env::var("KEEL_START_AT_MS").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(start).saturating_sub(now)).await;
}

/// A transaction as PostgREST runs a request: `SET LOCAL ROLE` and the JWT claims.
pub async fn as_role<'a>(
    pool: &'a sqlx::PgPool,
    role: &str,
    claims: Option<&str>,
) -> sqlx::Transaction<'a, sqlx::Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(&format!("SET LOCAL ROLE {role}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    if let Some(claims) = claims {
        sqlx::query("SELECT set_config('request.jwt.claims', $1, true)")
            .bind(claims)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx
}

/// As a Supabase client whose claims name `org` only: asserts each of `tables` shows that
/// org's rows alone, and that `write` (a statement on them) is refused.
pub async fn assert_org_member_sees_only_its_rows(
    keel: &Keel,
    org: uuid::Uuid,
    tables: &[&str],
    write: &str,
) {
    let keel::Pool::Postgres(pool) = keel.pool().unwrap() else {
        panic!("row-level security is PostgreSQL's")
    };
    let claims = format!(r#"{{"sub":"u1","role":"authenticated","org_ids":["{org}"]}}"#);
    let mut tx = as_role(pool, "authenticated", Some(&claims)).await;
    for table in tables {
        let orgs: Vec<String> =
            sqlx::query_scalar(&format!("SELECT DISTINCT org_id::text FROM {table}"))
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        assert_eq!(orgs, [org.to_string()], "{table}");
    }
    let denied = sqlx::query(write).execute(&mut *tx).await;
    assert!(denied.is_err(), "authenticated may not run {write}");
}

/// Runs `statement` (PostgreSQL spelling) on `keel`'s database.
#[allow(dead_code)] // not every test binary runs raw SQL
pub async fn exec(keel: &Keel, statement: &str) {
    let pool = keel.pool().unwrap();
    let text = keel::store::Dialect::of(pool).spell(statement);
    match pool {
        keel::store::Pool::Postgres(pg) => sqlx::query(&text).execute(pg).await.map(|_| ()),
        keel::store::Pool::Sqlite(lite) => sqlx::query(&text).execute(lite).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{e}: {text}"));
}
