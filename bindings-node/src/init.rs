//! What the module adds to its exports once they are registered: the `KeelError` class,
//! `Symbol.asyncDispose` on the handles, the caller's stack on rejected Promises, and an
//! `AbortSignal` on every call that returns one.
//!
//! These are JavaScript's own mechanisms (a class with `Symbol.hasInstance`, a symbol-named
//! method, an async stack), so they are written in JavaScript, in `init.js`, and run once per
//! environment with the error codes core defines. `dedup.js` adds the `MinHash` class the same
//! way (an object over bytes, cheaper than a native object per signature).

use napi::bindgen_prelude::{FnArgs, Function, JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;

/// The class every error Keel throws or rejects with belongs to: `err instanceof KeelError` is
/// true for an `Error` (a `TypeError` for `invalid_input`) whose `code` is one of
/// `errorCodes()`. Narrow with `isKeelError(err)` in TypeScript.
#[napi]
pub struct KeelError {}

/// Whether `value` is an error Keel threw or rejected with (an `Error` whose `code` is one of
/// `errorCodes()`).
#[napi(ts_args_type = "value: unknown", ts_return_type = "value is KeelError")]
pub fn is_keel_error(value: Unknown<'_>) -> bool {
    let code = value
        .is_error()
        .unwrap_or(false)
        .then(|| {
            // SAFETY: an error is an object.
            let object = unsafe { value.cast::<Object>() }.ok()?;
            let code = object.get_named_property::<Unknown>("code").ok()?;
            if code.get_type().ok()? != ValueType::String {
                return None;
            }
            // SAFETY: the type was checked just above.
            unsafe { code.cast::<String>() }.ok()
        })
        .flatten();
    code.is_some_and(|code| keel::Error::CODES.contains(&code.as_str()))
}

/// `init.js`: `(exports, errorCodes, abortedMessage, sliceMs) => void`.
type Install<'env> = Function<'env, FnArgs<(Object<'env>, Vec<&'static str>, String, f64)>, ()>;

#[napi(module_exports)]
pub fn init(exports: Object<'_>, env: Env) -> napi::Result<()> {
    // First, so that `init.js` finds the methods `dedup.js` wraps already wrapped.
    let dedup: Function<'_, Object<'_>, ()> = env.run_script(include_str!("dedup.js"))?;
    dedup.call(exports)?;
    let install: Install = env.run_script(include_str!("init.js"))?;
    let aborted = keel::Error::Aborted.to_string();
    let slice_ms = keel::llm::HANDOVER_SLICE.as_secs_f64() * 1e3;
    install.call((exports, keel::Error::CODES.to_vec(), aborted, slice_ms).into())?;
    Ok(())
}
