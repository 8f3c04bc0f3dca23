//! The hot path's result objects, built in the engine.
//!
//! A resolution is a plain object of eight fields, seven of which repeat: the same matrix row
//! answers call after call. Each env keeps a table (a JavaScript array) of those seven fields
//! per row seen, and a cached JavaScript function that builds the object from a row's index
//! and the trace id. A call then creates two values (an index and the trace id's text) and
//! makes one call into the engine, which builds the object from one boilerplate shape, instead
//! of creating eight values and adding eight properties one napi call at a time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;

use keel::models::{Resolution, Tier};

/// Makes the builder: `table` holds `[provider, modelId, creditCost, maxTokens, contextWindow,
/// wasFallback, tier]` per row.
const BUILDER: &std::ffi::CStr = c"(function (table) { return function (i, traceId) { const r = table[i]; return { provider: r[0], modelId: r[1], creditCost: r[2], maxTokens: r[3], contextWindow: r[4], wasFallback: r[5], traceId, tier: r[6] } } })";

/// Rows kept per env; past it the table starts again (a matrix this large is unusual, and
/// reloads with new prices add rows).
const MAX_ROWS: usize = 4096;

/// The repeating fields of a resolution. Texts are compared by their `Arc`: the matrix shares
/// one `Arc` per row, and the key keeps it alive, so its address cannot be reused by other
/// text while the row is in the table. (Equal text under another `Arc`, after a reload, is
/// one more row.) Hashing two addresses is far cheaper than hashing the texts.
#[derive(Clone)]
struct RowKey {
    provider: Arc<str>,
    model_id: Arc<str>,
    credit_cost: u64,
    max_tokens: u32,
    context_window: u32,
    was_fallback: bool,
    tier: Tier,
}

impl RowKey {
    fn addresses(&self) -> (*const u8, *const u8) {
        (self.provider.as_ptr(), self.model_id.as_ptr())
    }

    /// Whether `r` has this row's fields, without cloning its texts.
    fn is(&self, r: &Resolution) -> bool {
        self.addresses() == (r.provider.as_ptr(), r.model_id.as_ptr())
            && (self.credit_cost, self.max_tokens, self.context_window)
                == (r.credit_cost.to_bits(), r.max_tokens, r.context_window)
            && (self.was_fallback, self.tier) == (r.was_fallback, r.tier)
    }

    fn of(r: &Resolution) -> Self {
        Self {
            provider: r.provider.clone(),
            model_id: r.model_id.clone(),
            credit_cost: r.credit_cost.to_bits(),
            max_tokens: r.max_tokens,
            context_window: r.context_window,
            was_fallback: r.was_fallback,
            tier: r.tier,
        }
    }
}

impl PartialEq for RowKey {
    fn eq(&self, other: &Self) -> bool {
        self.addresses() == other.addresses()
            && (self.credit_cost, self.max_tokens, self.context_window)
                == (other.credit_cost, other.max_tokens, other.context_window)
            && (self.was_fallback, self.tier) == (other.was_fallback, other.tier)
    }
}

impl Eq for RowKey {}

impl std::hash::Hash for RowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.addresses().hash(state);
        self.credit_cost.hash(state);
        self.was_fallback.hash(state);
    }
}

/// One env's table and builder. The references are never deleted: they live as long as the
/// env (deleting them at thread exit could outlive it), and a table that is replaced keeps
/// only its few rows alive.
struct Builder {
    env: sys::napi_env,
    table: sys::napi_ref,
    build: sys::napi_ref,
    rows: HashMap<RowKey, u32>,
    /// The row used last: most calls repeat it, and comparing it costs less than hashing.
    last: Option<(RowKey, u32)>,
}

thread_local! {
    static BUILDER_OF_ENV: RefCell<Option<Builder>> = const { RefCell::new(None) };
}

/// Checks a napi status.
pub fn ok(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(
            napi::Status::GenericFailure,
            "cannot build the result object",
        ))
    }
}

/// The value of the script `source` (a function expression) run in `env`.
///
/// # Safety
/// `env` must be the live env of the current call, on its JavaScript thread.
unsafe fn script_value(
    env: sys::napi_env,
    source: &std::ffi::CStr,
) -> napi::Result<sys::napi_value> {
    let (mut text, mut value) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: as the caller promises.
    unsafe {
        ok(sys::napi_create_string_utf8(
            env,
            source.as_ptr(),
            -1,
            &mut text,
        ))?;
        ok(sys::napi_run_script(env, text, &mut value))?;
    }
    Ok(value)
}

/// Calls `function` with `args` and `this` undefined.
///
/// # Safety
/// `env` must be the live env of the current call, on its JavaScript thread, and `function`
/// and `args` its values.
unsafe fn call(
    env: sys::napi_env,
    function: sys::napi_value,
    args: &[sys::napi_value],
) -> napi::Result<sys::napi_value> {
    let (mut undefined, mut out) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: as the caller promises.
    unsafe {
        ok(sys::napi_get_undefined(env, &mut undefined))?;
        ok(sys::napi_call_function(
            env,
            undefined,
            function,
            args.len(),
            args.as_ptr(),
            &mut out,
        ))?;
    }
    Ok(out)
}

/// The function a reference holds.
///
/// # Safety
/// `env` must be the live env of the current call and `reference` one of its references.
unsafe fn referenced(
    env: sys::napi_env,
    reference: sys::napi_ref,
) -> napi::Result<sys::napi_value> {
    let mut value = std::ptr::null_mut();
    // SAFETY: as the caller promises.
    unsafe { ok(sys::napi_get_reference_value(env, reference, &mut value))? };
    Ok(value)
}

impl Builder {
    /// The builder of `env`, made on first use.
    unsafe fn new(env: sys::napi_env) -> napi::Result<Self> {
        let mut table = std::ptr::null_mut();
        let (mut table_ref, mut build_ref) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: `env` is the live env of the current call; every value made here belongs to it.
        unsafe {
            let factory = script_value(env, BUILDER)?;
            ok(sys::napi_create_array(env, &mut table))?;
            let build = call(env, factory, &[table])?;
            ok(sys::napi_create_reference(env, table, 1, &mut table_ref))?;
            ok(sys::napi_create_reference(env, build, 1, &mut build_ref))?;
        }
        Ok(Self {
            env,
            table: table_ref,
            build: build_ref,
            rows: HashMap::new(),
            last: None,
        })
    }

    /// The table index of `r`'s row, added to the table when new.
    unsafe fn row(&mut self, r: &Resolution) -> napi::Result<u32> {
        if let Some((last, index)) = &self.last
            && last.is(r)
        {
            return Ok(*index);
        }
        let key = RowKey::of(r);
        if let Some(index) = self.rows.get(&key) {
            self.last = Some((key, *index));
            return Ok(*index);
        }
        let env = self.env;
        if self.rows.len() >= MAX_ROWS {
            // A new table, and a builder that closes over it; the old ones are collected.
            // SAFETY: forwarded from the caller.
            *self = unsafe { Self::new(env) }?;
        }
        // SAFETY: `env` is the live env of the current call and owns the table.
        unsafe {
            let mut table = std::ptr::null_mut();
            ok(sys::napi_get_reference_value(env, self.table, &mut table))?;
            let mut row = std::ptr::null_mut();
            ok(sys::napi_create_array_with_length(env, 7, &mut row))?;
            let fields = [
                <&str>::to_napi_value(env, &r.provider)?,
                <&str>::to_napi_value(env, &r.model_id)?,
                f64::to_napi_value(env, r.credit_cost)?,
                u32::to_napi_value(env, r.max_tokens)?,
                u32::to_napi_value(env, r.context_window)?,
                bool::to_napi_value(env, r.was_fallback)?,
                <&str>::to_napi_value(env, r.tier.as_str())?,
            ];
            for (i, field) in fields.into_iter().enumerate() {
                ok(sys::napi_set_element(env, row, i as u32, field))?;
            }
            let index = self.rows.len() as u32;
            ok(sys::napi_set_element(env, table, index, row))?;
            self.rows.insert(key.clone(), index);
            self.last = Some((key, index));
            Ok(index)
        }
    }

    /// The resolution object of `r`.
    unsafe fn build(
        &mut self,
        r: &Resolution,
        given: Option<(&str, sys::napi_value)>,
    ) -> napi::Result<sys::napi_value> {
        let env = self.env;
        // SAFETY: `env` is the live env of the current call.
        unsafe {
            let index = u32::to_napi_value(env, self.row(r)?)?;
            let mut trace = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let trace = r.trace_id.hyphenated().encode_lower(&mut trace);
            // The caller's own string when it is already the id as Keel spells it.
            let trace = match given {
                Some((text, value)) if text == trace => value,
                _ => <&str>::to_napi_value(env, trace)?,
            };
            call(env, referenced(env, self.build)?, &[index, trace])
        }
    }
}

/// The resolution object of `r` in `env`: the same fields, names and values as
/// `record(&resolution)`.
///
/// # Safety
/// `env` must be the live env of the current call, on its JavaScript thread.
/// `given` is the caller's trace id argument (its text and value), reused when it is already
/// the canonical spelling.
pub unsafe fn resolution(
    env: sys::napi_env,
    r: &Resolution,
    given: Option<(&str, sys::napi_value)>,
) -> napi::Result<sys::napi_value> {
    BUILDER_OF_ENV.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|b| b.env != env) {
            // SAFETY: forwarded from the caller.
            *slot = Some(unsafe { Builder::new(env) }?);
        }
        let builder = slot.as_mut().expect("set just above");
        // SAFETY: forwarded from the caller.
        unsafe { builder.build(r, given) }
    })
}

/// Makes a route's answer: its own `traceId`, `durationMs` and `cached` over its decision's
/// shared `RouteDecision` (the prototype), whose getters read the rest.
const ANSWER: &std::ffi::CStr = c"(function (decision, traceId, durationMs, cached) { return { __proto__: decision, traceId, durationMs, cached } })";

thread_local! {
    /// Each env's answer builder.
    static ANSWER_OF_ENV: RefCell<Option<(sys::napi_env, sys::napi_ref)>> = const { RefCell::new(None) };
}

/// A route's answer in `env`: an object over `decision`, the decision's shared
/// `RouteDecision`, holding this call's trace id, duration and cache flag.
///
/// # Safety
/// `env` must be the live env of the current call, on its JavaScript thread, and `decision`
/// one of its values.
pub unsafe fn answer(
    env: sys::napi_env,
    decision: sys::napi_value,
    routed: &keel::routing::Routed,
) -> napi::Result<sys::napi_value> {
    ANSWER_OF_ENV.with(|cell| {
        let mut slot = cell.borrow_mut();
        // SAFETY: `env` is the live env of the current call; every value made here belongs to it.
        unsafe {
            if slot.as_ref().is_none_or(|(e, _)| *e != env) {
                let build = script_value(env, ANSWER)?;
                let mut reference = std::ptr::null_mut();
                ok(sys::napi_create_reference(env, build, 1, &mut reference))?;
                *slot = Some((env, reference));
            }
            let (_, reference) = slot.as_ref().expect("set just above");
            let mut trace = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let trace = routed.trace_id.hyphenated().encode_lower(&mut trace);
            let args = [
                decision,
                <&str>::to_napi_value(env, trace)?,
                f64::to_napi_value(env, routed.duration_ms())?,
                bool::to_napi_value(env, routed.cached)?,
            ];
            call(env, referenced(env, *reference)?, &args)
        }
    })
}
