//! Keel for Kotlin (JVM and Android) and Swift through uniffi: the same core, the same names
//! and error codes as the Python and Node bindings. Each module mirrors a core module; a
//! function here converts types and maps errors, nothing more. The Kotlin and Swift sources
//! are generated from this library by `make uniffi`.

// uniffi lowers an error enum by value and cannot take it boxed; it is built only on failure.
#![allow(clippy::result_large_err)]

uniffi::setup_scaffolding!("keel");

mod channels;
mod console;
mod context;
mod dedup;
mod error;
mod flow;
mod handler;
mod health;
mod host;
mod json;
mod llm;
mod memory;
mod models;
mod probe;
mod routing;
mod runner;
mod runtime;
mod skills;
mod store;
mod telemetry;
mod tokens;

/// Keel's version (the three packages share it).
#[uniffi::export]
pub fn version() -> String {
    keel::VERSION.to_owned()
}
