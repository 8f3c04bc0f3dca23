//! `keel demo`: a day of the platform on an embedded database, printed step by step.
//!
//! Each capability adds its steps here, in the order a day runs.

use std::time::Instant;

/// The embedded default the demo runs on.
pub const DEFAULT_URL: &str = "sqlite://.keel/demo.db";

/// Runs the demo against `url`; unless `keep`, a SQLite demo file starts empty.
pub async fn run(url: &str, keep: bool) -> keel::Result<()> {
    let parsed = keel::DatabaseUrl::parse(url)?;
    println!(
        "Keel {} demo on {} ({})",
        keel::VERSION,
        parsed.masked,
        parsed.backend.as_str()
    );
    if let (false, Some(path)) = (keep, parsed.path.as_deref()) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            // A missing file is what we want; anything else shows up on connect.
            let _ = std::fs::remove_file(&file);
        }
    }

    let started = Instant::now();
    let keel = keel::Keel::connect(url).await?;
    let applied = keel.applied_migrations().await?;
    println!(
        "\n[1] connect   {:.1} ms, schema at migration {}",
        started.elapsed().as_secs_f64() * 1e3,
        applied
            .last()
            .map(|m| format!("{:04} {}", m.version, m.description))
            .unwrap_or_default()
    );

    let tables = keel.tables().await?;
    println!("[2] schema    {} tables:", tables.len());
    for table in &tables {
        println!("              {:<24} {:>6} rows", table.name, table.rows);
    }

    println!(
        "[3] errors    every failure has a stable code; URLs are shown with the password masked"
    );
    for bad in [
        "postgres://ops:hunter2@127.0.0.1:9/keel?connect_timeout=2",
        "mysql://ops:hunter2@db/keel",
    ] {
        match keel::Keel::connect(bad).await {
            Ok(_) => println!(
                "              unexpected success for {}",
                keel::mask_url(bad)
            ),
            Err(err) => println!("              {:<12} {err}", err.code()),
        }
    }

    keel.close().await;
    println!(
        "\n[4] closed    total {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
