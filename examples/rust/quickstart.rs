//! Quickstart: connect, look at the schema, handle a typed error. The same scenario runs in
//! examples/python/quickstart.py and examples/node/quickstart.mjs.
//!
//!     cargo run -p keel --example quickstart
//!     KEEL_DATABASE_URL=postgres://… cargo run -p keel --example quickstart

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    // --8<-- [start:quickstart]
    let db = keel::Keel::connect(&url).await?;
    let migrations = db.applied_migrations().await?;
    println!(
        "connected to {} ({}), {} migration(s) applied",
        db.url(),
        db.backend().as_str(),
        migrations.len()
    );

    match keel::Keel::connect("postgres://app:hunter2@127.0.0.1:9/keel").await {
        Ok(_) => unreachable!("nothing listens on port 9"),
        Err(err) => println!("{}: {err}", err.code()), // "connection: cannot connect to postgres://app:***@…"
    }
    db.close().await;
    // --8<-- [end:quickstart]
    Ok(())
}
