//! A fresh PostgreSQL database for a benchmark, on the server of `KEEL_BENCH_PG_URL`.

/// A new, empty database named `keel_bench_<what>_<uuid>` next to the database of `admin`
/// (an admin URL); its URL.
pub async fn fresh_pg(admin: &str, what: &str) -> String {
    use sqlx::Connection;
    let name = format!("keel_bench_{what}_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("admin");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create");
    format!("{}/{name}", admin.rsplit_once('/').expect("a database").0)
}
