//! Connect, migrate and row-level security, on SQLite and PostgreSQL.

mod common;

use common::{as_role, fresh_pg_url, fresh_url, on_each_backend, pg_admin_url};
use keel::{Backend, ConnectOptions, Keel};

const TABLES: &[&str] = &[
    "system_logs",
    "model_config",
    "model_health",
    "org_credit_balance",
    "credit_ledger",
    "command_centre_items",
    "conversation_context",
    "agent_dead_letters",
    "routing_cache",
    "routing_logs",
    "platform_skills",
    "organization_skills",
    "agent_executions",
    "fleet_health_snapshots",
    "conversations",
    "conversation_messages",
    "conversation_compactions",
];

async fn table_names(keel: &Keel) -> Vec<String> {
    match keel.pool().unwrap() {
        keel::Pool::Sqlite(pool) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        keel::Pool::Postgres(pool) => sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'keel' ORDER BY tablename",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}

#[tokio::test]
async fn migrations_apply_from_empty_and_create_every_table() {
    on_each_backend(|backend, keel| async move {
        let applied = keel.applied_migrations().await.unwrap();
        let embedded = keel.pool().unwrap().embedded_migrations();
        assert!(!embedded.is_empty());
        assert_eq!(
            applied, embedded,
            "{backend:?}: every embedded migration is applied"
        );
        let tables = table_names(&keel).await;
        for table in TABLES {
            assert!(
                tables.iter().any(|t| t == table),
                "{backend:?}: table {table} missing from {tables:?}"
            );
        }
        assert!(
            tables.iter().any(|t| t == "_sqlx_migrations"),
            "{backend:?}: migrations table in place"
        );
        assert_eq!(
            keel.migrate().await.unwrap(),
            0,
            "{backend:?}: a second migrate applies nothing"
        );
        keel.ping().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn connect_without_migrations_leaves_database_empty() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let options = ConnectOptions {
            migrate: false,
            ..ConnectOptions::default()
        };
        let keel = Keel::connect_with(&url, options).await.unwrap();
        assert!(
            keel.applied_migrations().await.unwrap().is_empty(),
            "{backend:?}"
        );
        let applied = keel.migrate().await.unwrap();
        assert_eq!(
            applied,
            keel.pool().unwrap().embedded_migrations().len(),
            "{backend:?}"
        );
        keel.close().await;
    }
}

#[tokio::test]
async fn concurrent_first_connects_migrate_exactly_once() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Keel::connect(&url).await })
            })
            .collect();
        let mut handles = Vec::new();
        for task in tasks {
            handles.push(
                task.await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{backend:?}: {e}")),
            );
        }
        let applied = handles[0].applied_migrations().await.unwrap();
        assert_eq!(
            applied,
            handles[0].pool().unwrap().embedded_migrations(),
            "{backend:?}"
        );
        for keel in handles {
            keel.close().await;
        }
    }
}

#[tokio::test]
async fn closed_handle_reports_closed_for_every_clone() {
    on_each_backend(|backend, keel| async move {
        let clone = keel.clone();
        keel.close().await;
        keel.close().await; // idempotent
        let err = clone.ping().await.unwrap_err();
        assert_eq!(err.code(), "closed", "{backend:?}: {err}");
        assert!(clone.is_closed());
    })
    .await;
}

#[tokio::test]
async fn pg_objects_live_in_schema_keel_and_public_stays_clean() {
    let url = fresh_pg_url().await;
    let keel = Keel::connect(&url).await.unwrap();
    let keel::Pool::Postgres(pool) = keel.pool().unwrap() else {
        panic!("expected postgres")
    };
    let public: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(public, 0, "nothing is created in schema public");
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role') ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(roles, ["anon", "authenticated", "service_role"]);
    let without_rls: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'keel' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations' AND NOT c.relrowsecurity",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        without_rls.is_empty(),
        "tables without RLS: {without_rls:?}"
    );
    keel.close().await;
}

async fn count_items(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM keel.command_centre_items")
        .fetch_one(&mut **tx)
        .await
        .unwrap()
}

/// RLS as a Supabase client meets it: PostgREST switches to role `authenticated` and sets
/// `request.jwt.claims` for the request's transaction.
#[tokio::test]
async fn rls_hides_other_orgs_rows_and_system_tables_from_authenticated() {
    const ORG_A: &str = "0a0a0a0a-0000-4000-8000-00000000000a";
    const ORG_B: &str = "0b0b0b0b-0000-4000-8000-00000000000b";
    let url = fresh_pg_url().await;
    let keel = Keel::connect(&url).await.unwrap();
    let keel::Pool::Postgres(pool) = keel.pool().unwrap() else {
        panic!("expected postgres")
    };
    for (org, title) in [(ORG_A, "a-item"), (ORG_B, "b-item")] {
        sqlx::query(
            "INSERT INTO keel.command_centre_items (org_id, source_agent, item_type, title)
             VALUES ($1::uuid, 'test', 'deal_risk', $2)",
        )
        .bind(org)
        .bind(title)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO keel.model_health (provider, model_id) VALUES ('anthropic', 'claude')",
    )
    .execute(pool)
    .await
    .unwrap();

    let claims = format!(r#"{{"sub":"u1","role":"authenticated","org_ids":["{ORG_A}"]}}"#);
    let mut tx = as_role(pool, "authenticated", Some(&claims)).await;
    let visible: Vec<String> =
        sqlx::query_scalar("SELECT title FROM keel.command_centre_items ORDER BY title")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(
        visible,
        ["a-item"],
        "org B's row is invisible to a member of org A"
    );
    let denied = sqlx::query("SELECT * FROM keel.model_health")
        .fetch_all(&mut *tx)
        .await
        .unwrap_err();
    let code = denied
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(
        code.as_deref(),
        Some("42501"),
        "system table is unreadable: {denied}"
    );
    tx.rollback().await.unwrap();

    // The same role without claims sees nothing, and cannot write.
    let mut tx = as_role(pool, "authenticated", None).await;
    assert_eq!(count_items(&mut tx).await, 0);
    let write = sqlx::query(
        "INSERT INTO keel.command_centre_items (org_id, source_agent, item_type, title)
         VALUES ('0a0a0a0a-0000-4000-8000-00000000000a', 'x', 'y', 'z')",
    )
    .execute(&mut *tx)
    .await;
    assert!(write.is_err(), "authenticated cannot insert");
    tx.rollback().await.unwrap();

    // service_role sees everything.
    let mut tx = as_role(pool, "service_role", None).await;
    assert_eq!(count_items(&mut tx).await, 2);
    tx.rollback().await.unwrap();
    keel.close().await;
}

/// `keel.enable_rls` secures a new table in one line: members read their org's rows, a system
/// table is closed to them, the service role reaches both, and a second call changes nothing.
#[tokio::test]
async fn enable_rls_secures_a_table_in_one_line() {
    const ORG_A: &str = "0a0a0a0a-0000-4000-8000-00000000000a";
    const ORG_B: &str = "0b0b0b0b-0000-4000-8000-00000000000b";
    let url = fresh_pg_url().await;
    let keel = Keel::connect(&url).await.unwrap();
    let keel::Pool::Postgres(pool) = keel.pool().unwrap() else {
        panic!("expected postgres")
    };
    for statement in [
        "CREATE TABLE keel.rls_org_probe (org_id uuid NOT NULL, note text)",
        "CREATE TABLE keel.rls_system_probe (note text)",
        "SELECT keel.enable_rls('keel.rls_org_probe', 'org')",
        "SELECT keel.enable_rls('keel.rls_org_probe', 'org')",
        "SELECT keel.enable_rls('keel.rls_system_probe', 'system')",
        "INSERT INTO keel.rls_org_probe VALUES ('0a0a0a0a-0000-4000-8000-00000000000a', 'a'),
                                               ('0b0b0b0b-0000-4000-8000-00000000000b', 'b')",
        "INSERT INTO keel.rls_system_probe VALUES ('s')",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    let bad = sqlx::query("SELECT keel.enable_rls('keel.rls_system_probe', 'public')")
        .execute(pool)
        .await;
    assert!(bad.is_err(), "an unknown access kind is refused");

    let claims = format!(r#"{{"sub":"u1","role":"authenticated","org_ids":["{ORG_A}"]}}"#);
    let mut tx = as_role(pool, "authenticated", Some(&claims)).await;
    let notes: Vec<String> = sqlx::query_scalar("SELECT note FROM keel.rls_org_probe")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        notes,
        ["a"],
        "org {ORG_B}'s row is hidden from a member of {ORG_A}"
    );
    let denied = sqlx::query("SELECT note FROM keel.rls_system_probe")
        .fetch_all(&mut *tx)
        .await;
    assert!(denied.is_err(), "a system table is closed to authenticated");
    tx.rollback().await.unwrap();

    let mut tx = as_role(pool, "service_role", None).await;
    let all: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM keel.rls_org_probe) + (SELECT count(*) FROM keel.rls_system_probe)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(all, 3);
    tx.rollback().await.unwrap();
    keel.close().await;
}

#[tokio::test]
async fn connection_errors_are_typed_and_mask_the_password() {
    let admin = pg_admin_url();
    let password = admin
        .split(':')
        .nth(2)
        .and_then(|s| s.split('@').next())
        .unwrap()
        .to_owned();
    // A port nothing listens on.
    let unreachable = format!("postgres://postgres:{password}@127.0.0.1:9/keel");
    let options = ConnectOptions {
        connect_timeout: std::time::Duration::from_secs(3),
        ..Default::default()
    };
    let err = Keel::connect_with(&unreachable, options).await.unwrap_err();
    assert_eq!(err.code(), "connection", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("postgres://postgres:***@127.0.0.1:9/keel"),
        "{message}"
    );
    assert!(!message.contains(&password), "password leaked: {message}");

    let wrong_password = admin.replace(&password, "not-the-password");
    let err = Keel::connect(&wrong_password).await.unwrap_err();
    assert_eq!(err.code(), "connection", "{err}");
    assert!(!err.to_string().contains("not-the-password"), "{err}");

    let err = Keel::connect("sqlite:///proc/keel-cannot-write-here/keel.db")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "connection", "{err}");
    assert!(
        err.to_string()
            .contains("/proc/keel-cannot-write-here/keel.db"),
        "{err}"
    );

    let err = Keel::connect("mysql://root:hunter2@localhost/db")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_url");
    assert!(
        err.to_string().contains("mysql://root:***@localhost/db"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"));

    let bad = ConnectOptions {
        max_connections: 0,
        ..Default::default()
    };
    let err = Keel::connect_with("sqlite::memory:", bad)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert_eq!(err.field(), Some("options.max_connections"));
}

#[tokio::test]
async fn in_memory_sqlite_keeps_one_database_across_calls() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let keel::Pool::Sqlite(pool) = keel.pool().unwrap() else {
        panic!()
    };
    sqlx::query(
        "INSERT INTO routing_cache (hash_key, org_id, channel, skills_version, response, expires_at)
         VALUES ('k', 'o', 'web', 'v', '{}', '2100-01-01')",
    )
        .execute(pool)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM routing_cache")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(keel.url(), "sqlite::memory:");
}

#[tokio::test]
async fn create_false_never_makes_a_file_and_says_so() {
    let dir = std::env::temp_dir().join(format!("keel-create-{}", uuid::Uuid::new_v4()));
    let path = dir.join("typo.db");
    let options = keel::ConnectOptions {
        create: false,
        ..Default::default()
    };
    let url = format!("sqlite://{}", path.display());
    let err = Keel::connect_with(&url, options.clone()).await.unwrap_err();
    assert_eq!(err.code(), "connection");
    assert!(err.to_string().contains("no SQLite database"), "{err}");
    assert!(!path.exists() && !dir.exists());
    // The same URL with the default creates it, and then `create: false` opens it.
    Keel::connect(&url).await.unwrap().close().await;
    let keel = Keel::connect_with(&url, options).await.unwrap();
    assert!(!keel.applied_migrations().await.unwrap().is_empty());
    keel.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn misspelt_memory_urls_are_invalid_and_create_nothing() {
    for url in [
        "sqlite:memory",
        "sqlite::memory",
        "sqlite:memory:",
        "sqlite://memory",
    ] {
        let err = Keel::connect(url).await.unwrap_err();
        assert_eq!(err.code(), "invalid_url", "{url}");
        assert!(err.to_string().contains("sqlite::memory:"), "{err}");
    }
    for name in ["memory", "memory:", ":memory"] {
        assert!(!std::path::Path::new(name).exists(), "{name} was created");
    }
    assert_eq!(keel::DEFAULT_URL, "sqlite::memory:");
}

/// `Dialect::epoch_ms` on PostgreSQL (`date_part`'s float8) gives `extract`'s numeric result:
/// over 200,000 random microsecond times from 1970 to 2099, at half-millisecond ties, and
/// before 1970 away from ties.
#[tokio::test]
async fn dialect_epoch_ms_matches_extract() {
    let pool = sqlx::PgPool::connect(&pg_admin_url()).await.unwrap();
    let ours = keel::store::Dialect::POSTGRES.epoch_ms("t");
    let exact = "(extract(epoch FROM t) * 1000)::int8";
    let times = "SELECT timestamptz '1970-01-01 00:00:00+00'
                        + floor(random() * 4102444800e6) * interval '1 microsecond' AS t
                 FROM generate_series(1, 200000)
                 UNION ALL SELECT timestamptz '2026-12-07 01:02:03.1235+00'
                 UNION ALL SELECT timestamptz '2026-12-07 01:02:03.1245+00'
                 UNION ALL SELECT timestamptz '2099-12-31 23:59:59.9995+00'
                 UNION ALL SELECT timestamptz '1970-01-01 00:00:00.0005+00'
                 UNION ALL SELECT timestamptz '1969-12-31 23:59:59.9984+00'
                 UNION ALL SELECT timestamptz '1950-06-01 12:00:00.123456+00'";
    let (rows, differ): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*), count(*) FILTER (WHERE {ours} IS DISTINCT FROM {exact}) FROM ({times}) x"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((rows, differ), (200_006, 0));
    let tie: i64 = sqlx::query_scalar(&format!(
        "SELECT {ours} FROM (SELECT timestamptz '2026-12-07 01:02:03.1235+00' AS t) x"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tie % 1000, 124, "a half millisecond rounds up");
    let null: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT {ours} FROM (SELECT NULL::timestamptz AS t) x"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(null, None);
    pool.close().await;
}
