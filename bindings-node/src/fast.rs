//! The synchronous hot paths, `router.resolve()`, `skills.cached()` and
//! `messageRouter.tryRoute()`, as functions of each handle.
//!
//! A `#[napi]` method pays napi-rs's per-call machinery (a borrow scope for `this`, its type
//! tag check, the callback-info wrapper): about 40 % of a call that otherwise does a cached
//! lookup. Here each handle gets a non-enumerable function property, made when the handle
//! reaches JavaScript, that closes over a clone of the core handle: no `this` to unwrap,
//! nothing to borrow. Their TypeScript types are in `types.d.ts`. Arguments and errors are the
//! methods' own: `Text` arguments and Keel errors with `code`.

use napi::bindgen_prelude::{
    FromNapiValue, Function, FunctionCallContext, JsObjectValue, Object, ToNapiValue, Unknown,
};
use napi::{Env, JsValue, Property, PropertyAttributes, sys};

use keel::models::ModelRequest;
use keel::skills::Channel;

use crate::error::{Outcome, guard};
use crate::json::Text;
use crate::models::org;
use crate::skills::View;

/// Gives `object`, a handle on its way to JavaScript, one function under each of `names`.
///
/// # Safety
/// `env` is the live env of the current call and `object` one of its values.
unsafe fn install<R: ToNapiValue>(
    env: sys::napi_env,
    object: sys::napi_value,
    names: &[&str],
    call: impl Fn(&FunctionCallContext) -> napi::Result<R> + 'static,
) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(env);
    let function: Function<Unknown, R> =
        env.create_function_from_closure(names[0], move |ctx| call(&ctx))?;
    let properties = names
        .iter()
        .map(|name| {
            Ok(Property::new()
                .with_utf8_name(name)?
                .with_value(&function)
                .with_property_attributes(PropertyAttributes::Writable))
        })
        .collect::<napi::Result<Vec<_>>>()?;
    Object::from_raw(env.raw(), object).define_properties(&properties)?;
    Ok(object)
}

/// A resolution and the caller's trace id argument, which becomes the result's `traceId` when
/// it is already the id as Keel spells it (one string fewer to make).
struct Traced(keel::models::Resolution, Option<(Text, sys::napi_value)>);

impl ToNapiValue for Traced {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let given = val.1.as_ref().map(|(text, value)| (text.as_str(), *value));
        // SAFETY: forwarded from napi, within the call that passed the argument.
        unsafe { crate::literal::resolution(env, &val.0, given) }
    }
}

/// Argument `i`, `undefined` when the caller passed fewer.
fn arg<T: FromNapiValue>(ctx: &FunctionCallContext, i: usize) -> napi::Result<T> {
    if i < ctx.length() {
        return ctx.get(i);
    }
    let env = ctx.env.raw();
    let mut undefined = std::ptr::null_mut();
    // SAFETY: `env` is the live env of this call.
    unsafe {
        napi::check_status!(sys::napi_get_undefined(env, &mut undefined))?;
        T::from_napi_value(env, undefined)
    }
}

/// `object`, a router, with `resolveModel(feature, tier?, orgId?, traceId?)` (Python's
/// `resolve_model`), also named `resolve`.
///
/// # Safety
/// As [`install`].
pub unsafe fn router(
    env: sys::napi_env,
    object: sys::napi_value,
    router: keel::models::ModelRouter,
) -> napi::Result<sys::napi_value> {
    let resolve = move |ctx: &FunctionCallContext| {
        let feature: Text = arg(ctx, 0)?;
        let (tier, org_id, trace_id): (Option<Text>, Option<Text>, Option<Text>) =
            (arg(ctx, 1)?, arg(ctx, 2)?, arg(ctx, 3)?);
        let outcome = guard(|| {
            let request = ModelRequest::from_parts(
                feature.as_str(),
                tier.as_ref().map(Text::as_str),
                org_id.as_ref().map(Text::as_str),
                trace_id.as_ref().map(Text::as_str),
            )?;
            router.resolve_now(&request)
        });
        let given = match trace_id {
            Some(text) => Some((text, ctx.get::<Unknown>(3)?.raw())),
            None => None,
        };
        Ok(Outcome(outcome.0.map(|r| Traced(r, given))))
    };
    // SAFETY: forwarded from the caller.
    unsafe { install(env, object, &["resolveModel", "resolve"], resolve) }
}

/// `object`, a skills registry, with `cached(orgId, channel)`.
///
/// # Safety
/// As [`install`].
pub unsafe fn registry(
    env: sys::napi_env,
    object: sys::napi_value,
    registry: keel::skills::SkillRegistry,
) -> napi::Result<sys::napi_value> {
    let cached = move |ctx: &FunctionCallContext| {
        let (org_id, channel): (Text, Text) = (arg(ctx, 0)?, arg(ctx, 1)?);
        Ok(guard(|| {
            let wanted = (org(org_id.as_str())?, Channel::parse(channel.as_str())?);
            Ok(registry.cached(wanted.0, wanted.1).map(View))
        }))
    };
    // SAFETY: forwarded from the caller.
    unsafe { install(env, object, &["cached"], cached) }
}

/// `object`, a message router, with `tryRoute(message, channel, orgId, userId?, options?)`.
///
/// # Safety
/// As [`install`].
pub unsafe fn message_router(
    env: sys::napi_env,
    object: sys::napi_value,
    router: keel::routing::MessageRouter,
) -> napi::Result<sys::napi_value> {
    let try_route = move |ctx: &FunctionCallContext| {
        let (message, channel, org_id): (Text, Text, Text) =
            (arg(ctx, 0)?, arg(ctx, 1)?, arg(ctx, 2)?);
        let (user_id, options): (Option<Text>, Option<crate::json::Json>) =
            (arg(ctx, 3)?, arg(ctx, 4)?);
        Ok(guard(|| {
            let request = crate::routing::request(message, channel, org_id, user_id, options)?;
            router
                .try_route(&request)
                .transpose()
                .map(|routed| routed.map(crate::routing::Decided))
        }))
    };
    // SAFETY: forwarded from the caller.
    unsafe { install(env, object, &["tryRoute"], try_route) }
}

/// `object`, a logger, with `debug`, `info` and `warn` (`(action, metadata?)`, never throwing),
/// the calls a service makes on every request, and the span starts `createSpan` (`init.js`)
/// calls.
///
/// # Safety
/// As [`install`].
pub unsafe fn logger(
    env: sys::napi_env,
    object: sys::napi_value,
    logger: keel::telemetry::Logger,
) -> napi::Result<sys::napi_value> {
    use keel::telemetry::Level;
    for (name, level) in [
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("warn", Level::Warn),
    ] {
        let logger = logger.clone();
        let log = move |ctx: &FunctionCallContext| {
            if logger.enabled(level) {
                let (action, metadata): (Unknown, Option<Unknown>) = (arg(ctx, 0)?, arg(ctx, 1)?);
                crate::telemetry::log(&logger, level, &action, None, metadata.as_ref());
            }
            Ok(())
        };
        // SAFETY: forwarded from the caller.
        unsafe { install(env, object, &[name], log) }?;
    }
    let core = logger.clone();
    let start_json = move |ctx: &FunctionCallContext| {
        let (action, metadata, parent): (Unknown, String, Option<Unknown>) =
            (arg(ctx, 0)?, arg(ctx, 1)?, arg(ctx, 2)?);
        let metadata = keel::telemetry::Metadata::from_json(metadata);
        Ok(crate::telemetry::begin(
            &core,
            &action,
            metadata,
            parent.as_ref(),
        ))
    };
    // SAFETY: forwarded from the caller.
    unsafe { install(env, object, &["_startSpanJson"], start_json) }?;
    let start = move |ctx: &FunctionCallContext| {
        let (action, metadata, parent): (Unknown, Option<Unknown>, Option<Unknown>) =
            (arg(ctx, 0)?, arg(ctx, 1)?, arg(ctx, 2)?);
        let metadata = crate::telemetry::log_metadata(metadata.as_ref());
        Ok(crate::telemetry::begin(
            &logger,
            &action,
            metadata,
            parent.as_ref(),
        ))
    };
    // SAFETY: forwarded from the caller.
    unsafe { install(env, object, &["_startSpan"], start) }
}
