//! Core errors as JavaScript errors with `err.code`, on every path.
//!
//! napi-rs sets `err.code` from a custom status only for synchronous functions; an `async fn`
//! rejects with the default status. So every binding returns [`Outcome`]: the core result
//! travels to the JavaScript thread as a value, and its conversion builds the `Error` there with
//! `code`, `field` and the cause chain, then hands napi the finished object to throw or reject
//! with. Argument conversion goes through [`Arg`], which throws a `TypeError` with code
//! `invalid_input` instead of napi's plain `Error`.

use napi::bindgen_prelude::{
    AsyncBlock, AsyncBlockBuilder, FromNapiRef, FromNapiValue, Object, ToNapiValue, TypeName,
    ValidateNapiValue,
};
use napi::{Env, JsValue, Status, ValueType, sys};

/// A core result on its way to JavaScript.
pub struct Outcome<T>(pub keel::Result<T>);

impl<T> From<keel::Result<T>> for Outcome<T> {
    fn from(result: keel::Result<T>) -> Self {
        Outcome(result)
    }
}

impl<T: ToNapiValue> ToNapiValue for Outcome<T> {
    unsafe fn to_napi_value(env: sys::napi_env, outcome: Self) -> napi::Result<sys::napi_value> {
        match outcome.0 {
            // SAFETY: forwarded from napi with the same live env.
            Ok(value) => unsafe { T::to_napi_value(env, value) },
            Err(err) => Err(js_error(&Env::from_raw(env), &err)),
        }
    }
}

/// Runs a synchronous core call; a panic becomes an `internal` error instead of unwinding.
pub fn guard<T>(call: impl FnOnce() -> keel::Result<T>) -> Outcome<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(result) => Outcome(result),
        Err(payload) => Outcome(Err(keel::Error::from_panic(&*payload))),
    }
}

/// Runs a core future on napi's tokio runtime inside a task of its own, so that a panic
/// becomes an `internal` error instead of a crash.
pub async fn guard_async<T, F>(fut: F) -> napi::Result<Outcome<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = keel::Result<T>> + Send + 'static,
{
    Ok(Outcome(match tokio::spawn(fut).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => Err(keel::Error::from_panic(&*join.into_panic())),
        Err(join) => Err(keel::Error::Internal(join.to_string())),
    }))
}

/// A core error as the JavaScript error napi throws (for constructors, which return
/// `napi::Result`).
pub fn js_error(env: &Env, err: &keel::Error) -> napi::Error {
    match build_js_error(env, err) {
        Ok(object) => napi::Error::from(object.to_unknown()),
        Err(_) => napi::Error::new(Status::GenericFailure, format!("[{}] {err}", err.code())),
    }
}

fn build_js_error<'env>(env: &'env Env, err: &keel::Error) -> napi::Result<Object<'env>> {
    // Bad input is a `TypeError`, as napi's own argument checks and Node's are.
    let type_error = matches!(err, keel::Error::InvalidInput { .. });
    let mut object = new_error(env, type_error, &err.to_string())?;
    object.set("code", err.code())?;
    if let Some(field) = err.field() {
        object.set("field", field)?;
    }
    if !err.diagnostics().is_empty() {
        object.set("diagnostics", env.to_js_value(&err.diagnostics())?)?;
    }
    if let Some(failure) = err.call_failure() {
        object.set("attempts", crate::options::record(&failure.attempts))?;
    }
    if err.call_failure().is_some() || err.retry_after_ms().is_some() {
        object.set("retryAfterMs", err.retry_after_ms().map(|ms| ms as f64))?;
    }
    // The Rust cause chain as nested `Error`s under `cause`, innermost last.
    let mut cause: Option<Object<'env>> = None;
    for message in err.causes().into_iter().rev() {
        let mut link = new_error(env, false, &message)?;
        if let Some(inner) = cause.take() {
            link.set("cause", inner)?;
        }
        cause = Some(link);
    }
    if let Some(cause) = cause {
        object.set("cause", cause)?;
    }
    Ok(object)
}

/// A new `Error` (or `TypeError`) with `message`.
fn new_error<'env>(env: &'env Env, type_error: bool, message: &str) -> napi::Result<Object<'env>> {
    let text = env.create_string(message)?;
    let create = if type_error {
        sys::napi_create_type_error
    } else {
        sys::napi_create_error
    };
    let mut made = std::ptr::null_mut();
    // SAFETY: `env` is the live env of the current call and `text` one of its values.
    napi::check_status!(unsafe { create(env.raw(), std::ptr::null_mut(), text.raw(), &mut made) })?;
    Ok(Object::from_raw(env.raw(), made))
}

/// An argument whose conversion failure throws a `TypeError` (code `invalid_input`).
pub struct Arg<T>(pub T);

impl<T: FromNapiValue + TypeName> FromNapiValue for Arg<T> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // napi's own conversions coerce some mismatches (a string read as an options object);
        // an argument must have the JavaScript type its Rust type expects.
        let expected = T::value_type();
        let mut actual = 0;
        // SAFETY: `env` and `value` come from napi for this call.
        unsafe { sys::napi_typeof(env, value, &mut actual) };
        let actual = ValueType::from(actual);
        let outcome = if expected != ValueType::Unknown && actual != expected {
            Err(format!("expected {}, got {actual}", T::type_name()))
        } else {
            // SAFETY: forwarded from napi with the same live env and value.
            unsafe { T::from_napi_value(env, value) }.map_err(|err| err.reason)
        };
        outcome.map(Arg).or_else(|reason| {
            Env::from_raw(env).throw_type_error(&reason, Some("invalid_input"))?;
            // A pending exception is left for napi to propagate as it is.
            Err(napi::Error::new(Status::PendingException, reason))
        })
    }
}

impl<T: TypeName> TypeName for Arg<T> {
    fn type_name() -> &'static str {
        T::type_name()
    }
    fn value_type() -> ValueType {
        T::value_type()
    }
}

impl<T: ValidateNapiValue> ValidateNapiValue for Arg<T> {}

/// Runs `fut` on the runtime and returns its Promise; errors reject with `err.code`, as from
/// an `async fn` (for functions that must read raw JavaScript values first).
pub fn spawn<T>(
    env: &Env,
    fut: impl std::future::Future<Output = keel::Result<T>> + Send + 'static,
) -> keel::Result<AsyncBlock<Outcome<T>>>
where
    T: ToNapiValue + Send + 'static,
{
    AsyncBlockBuilder::new(guard_async(fut))
        .build(env)
        .map_err(|e| keel::Error::Internal(e.reason))
}

/// `guard_async(async move { body })` with `$handle` cloned in as `$h`: the body of every
/// async method.
macro_rules! run {
    ($handle:expr, |$h:ident| $body:expr) => {{
        let $h = $handle.clone();
        $crate::error::guard_async(async move { $body }).await
    }};
}
pub(crate) use run;

/// `handle`'s operation `op` on `args` ([`keel::options::Calls`]), its JSON result handed to
/// the engine's `JSON.parse`, errors naming fields as JavaScript spells them: the one body of
/// every method of the handles called by name (queue, dedup, Slack, threads, fleet).
pub async fn call<C: keel::options::Calls>(
    handle: &C,
    op: &'static str,
    args: Option<serde_json::Value>,
) -> napi::Result<Outcome<crate::json::Parsed>> {
    run!(handle, |h| h
        .call_value(op, args, keel::options::Case::Camel)
        .await
        .map(|v| crate::json::Parsed(v.to_string())))
}

/// A Promise that is either already settled with a value (an answer served from a cache: no
/// trip through the runtime's threads, which costs a hundred times the answer) or settles when
/// a core future does.
pub enum Answer<T: ToNapiValue + Send + 'static> {
    /// Resolve at once with this value.
    Ready(T),
    /// Settle when this future does.
    Later(AsyncBlock<Outcome<T>>),
}

impl<T: ToNapiValue + Send + 'static> ToNapiValue for Answer<T> {
    unsafe fn to_napi_value(env: sys::napi_env, answer: Self) -> napi::Result<sys::napi_value> {
        match answer {
            Answer::Ready(value) => {
                let (mut deferred, mut promise) = (std::ptr::null_mut(), std::ptr::null_mut());
                // SAFETY: called by napi on the JavaScript thread with its live env; the
                // deferred is resolved exactly once, right after it is made.
                unsafe {
                    napi::check_status!(sys::napi_create_promise(
                        env,
                        &mut deferred,
                        &mut promise
                    ))?;
                    let value = T::to_napi_value(env, value)?;
                    napi::check_status!(sys::napi_resolve_deferred(env, deferred, value))?;
                }
                Ok(promise)
            }
            // SAFETY: forwarded from napi with the same live env.
            Answer::Later(block) => unsafe { AsyncBlock::to_napi_value(env, block) },
        }
    }
}

/// Clears an exception a failed property read left pending, so it never reaches the caller.
pub fn clear_exception(env: sys::napi_env) {
    let mut pending = false;
    // SAFETY: `env` is the live env of the current call.
    unsafe {
        if sys::napi_is_exception_pending(env, &mut pending) == sys::Status::napi_ok && pending {
            let mut ignored = std::ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut ignored);
        }
    }
}

/// A class-instance argument (a `ModelRouter` passed to the original module functions) whose
/// conversion failure throws a `TypeError` with code `invalid_input`, as [`Arg`] does, instead
/// of napi's `InvalidArg`. It holds a clone of the handle (an `Arc` inside), taken on the
/// JavaScript thread, so an async function never reads the JavaScript object after the call.
pub struct Ref<T: 'static>(pub T);

impl<T: FromNapiRef + Clone + 'static> FromNapiValue for Ref<T> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: forwarded from napi with the same live env and value.
        match unsafe { T::from_napi_ref(env, value) } {
            Ok(inner) => Ok(Ref(inner.clone())),
            Err(_) => {
                let reason =
                    "expected the handle this function takes (a ModelRouter, a CancelToken)";
                Env::from_raw(env).throw_type_error(reason, Some("invalid_input"))?;
                Err(napi::Error::new(Status::PendingException, reason))
            }
        }
    }
}

impl<T: 'static> TypeName for Ref<T> {
    fn type_name() -> &'static str {
        "object"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl<T: 'static> ValidateNapiValue for Ref<T> {}
