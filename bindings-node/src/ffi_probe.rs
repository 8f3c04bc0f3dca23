//! FFI floor probes (core: `keel::ffi_probe`), for `make bench` and the panic tests. Exported
//! under `_`-prefixed names and left out of `index.d.ts`: they are not part of the API.

use napi_derive::napi;

use crate::error::{Arg, Outcome, guard, guard_async};

/// The small struct of the round-trip probe.
#[napi(object, object_to_js = true)]
pub struct Probe {
    pub id: u32,
    pub name: String,
    pub score: f64,
    pub tags: Vec<String>,
}

/// Does nothing.
#[napi(js_name = "_noop", skip_typescript)]
pub fn noop() {
    keel::ffi_probe::noop()
}

/// Round-trips a small object through the core struct.
#[napi(js_name = "_roundtrip", skip_typescript)]
pub fn roundtrip(probe: Probe) -> Probe {
    let Probe {
        id,
        name,
        score,
        tags,
    } = probe;
    let p = keel::ffi_probe::roundtrip(keel::ffi_probe::Probe {
        id,
        name,
        score,
        tags,
    });
    Probe {
        id: p.id,
        name: p.name,
        score: p.score,
        tags: p.tags,
    }
}

/// Panics inside the core; throws `code: "internal"`.
#[napi(js_name = "_panicSync", skip_typescript)]
pub fn panic_sync(message: Arg<String>) -> Outcome<()> {
    guard(|| keel::ffi_probe::panic_now(&message.0))
}

/// Panics inside a core future; rejects with `code: "internal"`.
#[napi(js_name = "_panicAsync", skip_typescript)]
pub async fn panic_async(Arg(message): Arg<String>) -> napi::Result<Outcome<()>> {
    guard_async(async move { keel::ffi_probe::panic_now(&message) }).await
}
