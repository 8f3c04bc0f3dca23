//! FFI floor probes (core: `keel::ffi_probe`), for `make bench` and the panic tests; not part
//! of the API (their names start with `probe`).

use keel::ffi_probe;

use crate::error::KeelError;
use crate::runtime::run;

/// A small record of the shape most Keel calls pass.
#[derive(uniffi::Record)]
pub struct Probe {
    /// An integer field.
    pub id: u32,
    /// A short string field.
    pub name: String,
    /// A float field.
    pub score: f64,
    /// A short list of strings.
    pub tags: Vec<String>,
}

/// Does nothing: the cost of calling it is the FFI floor.
#[uniffi::export]
pub fn probe_noop() {
    ffi_probe::noop();
}

/// `probe` with `id` incremented and `score` doubled.
#[uniffi::export]
pub fn probe_roundtrip(probe: Probe) -> Probe {
    let p = ffi_probe::roundtrip(ffi_probe::Probe {
        id: probe.id,
        name: probe.name,
        score: probe.score,
        tags: probe.tags,
    });
    Probe {
        id: p.id,
        name: p.name,
        score: p.score,
        tags: p.tags,
    }
}

/// Does nothing on Keel's runtime: the cost of a suspend call there and back.
#[uniffi::export]
pub async fn probe_noop_async() {
    let _ = run(async {
        ffi_probe::noop();
        Ok(())
    })
    .await;
}

/// Panics in core on Keel's runtime: arrives as `KeelException.Internal`.
///
/// # Errors
/// Always `internal`.
#[uniffi::export]
pub async fn probe_panic_async(message: String) -> Result<(), KeelError> {
    run(async move { ffi_probe::panic_now(&message) }).await
}

/// Panics in core on the caller's thread: uniffi catches it (Kotlin's `InternalException`).
#[uniffi::export]
pub fn probe_panic(message: String) {
    ffi_probe::panic_now(&message)
}
