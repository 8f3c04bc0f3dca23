//! JavaScript values as JSON, walked value by value: cycles end at a depth limit, functions
//! and symbols are left out, and an exception a getter throws is cleared, never passed on.
//! [`Json`] is an argument converted this way (options objects, contexts, requests). The other
//! way, [`Parsed`] hands a large result over as JSON text for the engine's `JSON.parse`.

use napi::bindgen_prelude::{
    FromNapiValue, JsObjectValue, Object, ToNapiValue, TypeName, Unknown, ValidateNapiValue,
};
use napi::{JsValue, ValueType, sys};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::clear_exception;

const MAX_DEPTH: usize = 16;

thread_local! {
    /// `JSON.stringify` and `JSON.parse` of this thread's env, each looked up once. The
    /// references are leaked on purpose: they live as long as the env, and deleting them at
    /// thread exit could outlive it.
    static ENGINE: std::cell::Cell<(sys::napi_env, [sys::napi_ref; 2])> =
        const { std::cell::Cell::new((std::ptr::null_mut(), [std::ptr::null_mut(); 2])) };
}

/// A function of the engine's `JSON` object.
#[derive(Debug, Clone, Copy)]
pub enum Engine {
    /// `JSON.stringify`.
    Stringify = 0,
    /// `JSON.parse`.
    Parse = 1,
}

/// The engine's `JSON.stringify` or `JSON.parse` of `env`, looked up once per thread.
fn engine_fn(env: sys::napi_env, which: Engine) -> Option<sys::napi_value> {
    let (cached_env, mut references) = ENGINE.get();
    let slot = which as usize;
    let mut func = std::ptr::null_mut();
    // SAFETY: `env` is the live env of the current call; the references belong to it.
    unsafe {
        let reference = if cached_env == env {
            references[slot]
        } else {
            references = [std::ptr::null_mut(); 2];
            std::ptr::null_mut()
        };
        if !reference.is_null()
            && sys::napi_get_reference_value(env, reference, &mut func) == sys::Status::napi_ok
            && !func.is_null()
        {
            return Some(func);
        }
        let name = match which {
            Engine::Stringify => c"stringify",
            Engine::Parse => c"parse",
        };
        let (mut global, mut json) = (std::ptr::null_mut(), std::ptr::null_mut());
        let ok = sys::napi_get_global(env, &mut global) == sys::Status::napi_ok
            && sys::napi_get_named_property(env, global, c"JSON".as_ptr(), &mut json)
                == sys::Status::napi_ok
            && sys::napi_get_named_property(env, json, name.as_ptr(), &mut func)
                == sys::Status::napi_ok;
        if !ok {
            clear_exception(env);
            return None;
        }
        let mut reference = std::ptr::null_mut();
        if sys::napi_create_reference(env, func, 1, &mut reference) == sys::Status::napi_ok {
            references[slot] = reference;
            ENGINE.set((env, references));
        }
        Some(func)
    }
}

/// The engine's `JSON.stringify` or `JSON.parse` of `arg`: far cheaper than a napi call per
/// property. `None` when it throws (the exception cleared).
pub fn engine_json(
    env: sys::napi_env,
    which: Engine,
    arg: sys::napi_value,
) -> Option<sys::napi_value> {
    let func = engine_fn(env, which)?;
    let mut result = std::ptr::null_mut();
    let mut undefined = std::ptr::null_mut();
    // SAFETY: all handles belong to `env`, the live env of the current call.
    let status = unsafe {
        sys::napi_get_undefined(env, &mut undefined);
        let args = [arg];
        sys::napi_call_function(env, undefined, func, 1, args.as_ptr(), &mut result)
    };
    if status != sys::Status::napi_ok {
        clear_exception(env);
        return None;
    }
    Some(result)
}

/// `JSON.stringify` in the engine: far cheaper than a napi call per property. `None` when it
/// throws (a cycle, a BigInt, a getter that throws) or gives no text: the caller then walks the
/// value with depth limits instead.
pub fn stringify(value: &Unknown<'_>) -> Option<String> {
    let env = value.value().env;
    let result = engine_json(env, Engine::Stringify, value.raw())?;
    // SAFETY: `result` is a value of `env`; a non-string (undefined) fails the conversion.
    unsafe { String::from_napi_value(env, result) }.ok()
}

/// A JavaScript value read through the engine's `JSON.stringify` ([`stringify`]) into `T`, or by
/// `walk` when that throws or writes what serde cannot read as `T` (a lone surrogate, which the
/// walks make U+FFFD).
pub fn engine_or<T: DeserializeOwned>(
    value: &Unknown<'_>,
    walk: impl FnOnce(&Unknown<'_>) -> T,
) -> T {
    stringify(value)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| walk(value))
}

/// A JavaScript value as JSON ([`engine_or`]), walked by [`to_json`] with non-finite numbers
/// as text.
pub fn engine_value(value: &Unknown<'_>) -> Value {
    engine_or(value, |v| {
        to_json(v, 0, Numbers::NonFiniteAsText).unwrap_or(Value::Null)
    })
}

/// A result as JSON text, made a JavaScript value by one `JSON.parse` in the engine: a
/// `serde_json::Value` would cost a napi call per property (a claim returns a hundred items of
/// twenty fields).
pub struct Parsed(pub String);

impl ToNapiValue for Parsed {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: forwarded from napi with the same live env.
        let text = unsafe { String::to_napi_value(env, val.0) }?;
        engine_json(env, Engine::Parse, text)
            .ok_or_else(|| napi::Error::from_reason("JSON.parse failed on a result"))
    }
}

/// What a number JSON cannot hold (NaN, ±Infinity) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// `null`, as `JSON.stringify` writes it (log metadata).
    NonFiniteAsNull,
    /// Its text, so that core refuses it and names the field (options).
    NonFiniteAsText,
}

/// An argument as JSON (see the module docs); non-finite numbers kept as text.
pub struct Json(pub Value);

impl FromNapiValue for Json {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: forwarded from napi with the same live env and value.
        let unknown = unsafe { Unknown::from_napi_value(env, value) }?;
        Ok(Json(
            to_json(&unknown, 0, Numbers::NonFiniteAsText).unwrap_or(Value::Null),
        ))
    }
}

impl TypeName for Json {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for Json {}

pub fn text(value: &Unknown<'_>) -> String {
    let env = value.value().env;
    let out = match value.get_type() {
        // SAFETY: the type was checked just above.
        Ok(ValueType::String) => unsafe { value.cast::<String>() },
        Ok(ValueType::Undefined) | Ok(ValueType::Null) => Ok(String::new()),
        _ => value
            .coerce_to_string()
            .and_then(|s| s.into_utf8())
            .and_then(|s| s.into_owned()),
    };
    out.unwrap_or_else(|_| {
        clear_exception(env);
        String::new()
    })
}

pub fn opt_text(value: Option<&Unknown<'_>>) -> Option<String> {
    value
        .filter(|v| !matches!(v.get_type(), Ok(ValueType::Undefined) | Ok(ValueType::Null)))
        .map(text)
}

pub fn to_json(value: &Unknown<'_>, depth: usize, numbers: Numbers) -> Option<Value> {
    let env = value.value().env;
    Some(match value.get_type().ok()? {
        ValueType::Undefined => return None,
        ValueType::Null => Value::Null,
        // SAFETY: each cast matches the type just read.
        ValueType::Boolean => Value::Bool(unsafe { value.cast::<bool>() }.ok()?),
        ValueType::Number => {
            let n = unsafe { value.cast::<f64>() }.ok()?;
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                Value::from(n as i64)
            } else {
                match serde_json::Number::from_f64(n) {
                    Some(n) => Value::Number(n),
                    None if numbers == Numbers::NonFiniteAsText => Value::String(n.to_string()),
                    None => Value::Null,
                }
            }
        }
        ValueType::String | ValueType::BigInt => Value::String(text(value)),
        ValueType::Object if depth >= MAX_DEPTH => Value::String("[depth limit]".into()),
        ValueType::Object => {
            let object: Object<'_> = unsafe { value.cast() }.ok()?;
            if value.is_array().unwrap_or(false) {
                let len = object.get_array_length().unwrap_or(0);
                Value::Array(
                    (0..len)
                        .filter_map(|i| match object.get_element::<Unknown>(i) {
                            Ok(item) => {
                                Some(to_json(&item, depth + 1, numbers).unwrap_or(Value::Null))
                            }
                            Err(_) => {
                                clear_exception(env);
                                None
                            }
                        })
                        .collect(),
                )
            } else if value.is_error().unwrap_or(false) || value.is_date().unwrap_or(false) {
                Value::String(text(value))
            } else {
                Value::Object(object_to_map(&object, depth, numbers))
            }
        }
        _ => return None, // functions, symbols, externals
    })
}

pub fn object_to_map(object: &Object<'_>, depth: usize, numbers: Numbers) -> Map<String, Value> {
    let env = object.value().env;
    let keys = Object::keys(object).unwrap_or_else(|_| {
        clear_exception(env);
        Vec::new()
    });
    let mut map = Map::with_capacity(keys.len());
    for key in keys {
        match object.get_named_property::<Unknown>(&key) {
            Ok(v) => {
                if let Some(json) = to_json(&v, depth + 1, numbers) {
                    map.insert(key, json);
                }
            }
            Err(_) => clear_exception(env),
        }
    }
    map
}

/// A string argument read without a heap allocation when it is short (names, ids): one napi
/// call into a stack buffer, where `String` makes two and allocates. A value that is not a
/// string throws a `TypeError` with code `invalid_input`, as [`crate::error::Arg`] does.
pub struct Text {
    inline: [std::mem::MaybeUninit<u8>; 64],
    len: usize,
    heap: Option<String>,
}

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.heap {
            Some(heap) => heap,
            // SAFETY: napi wrote UTF-8 into `inline[..len]`.
            None => unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                    self.inline.as_ptr().cast::<u8>(),
                    self.len,
                ))
            },
        }
    }
}

impl FromNapiValue for Text {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut text = Text {
            inline: [std::mem::MaybeUninit::uninit(); 64],
            len: 0,
            heap: None,
        };
        // SAFETY: `env` and `value` come from napi for this call; the buffer is ours.
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                env,
                value,
                text.inline.as_mut_ptr().cast(),
                text.inline.len(),
                &mut text.len,
            )
        };
        if status != sys::Status::napi_ok {
            // Not a string: the same TypeError an `Arg<String>` throws.
            // SAFETY: forwarded from napi with the same live env and value.
            return unsafe { crate::error::Arg::<String>::from_napi_value(env, value) }.map(
                |arg| Text {
                    heap: Some(arg.0),
                    ..text
                },
            );
        }
        if text.len + 4 >= text.inline.len() {
            // It may have been cut: napi writes at most 63 bytes and never half a character
            // (up to 4 bytes), so anything from 60 bytes on is read again, whole.
            // SAFETY: as above.
            text.heap = Some(unsafe { String::from_napi_value(env, value) }?);
        }
        Ok(text)
    }
}

impl TypeName for Text {
    fn type_name() -> &'static str {
        "string"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for Text {}

thread_local! {
    /// The buffer [`LongText`] reads into, kept between calls on this thread.
    static SPARE: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// The least a [`LongText`] buffer holds, and the most one is kept for the next call.
const LONG_TEXT_BYTES: (usize, usize) = (4096, 1 << 16);

/// A long string argument (a paragraph to hash) read into a buffer this thread reuses: one
/// napi call and no allocation, where `String` makes two calls and allocates. A value that is
/// not a string throws a `TypeError` with code `invalid_input`, as [`crate::error::Arg`] does.
pub struct LongText(String);

impl LongText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for LongText {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if buf.capacity() <= LONG_TEXT_BYTES.1 {
            SPARE.with(|spare| spare.set(buf));
        }
    }
}

impl FromNapiValue for LongText {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut text = LongText(SPARE.with(|spare| spare.take()));
        text.0.clear();
        text.0.reserve(LONG_TEXT_BYTES.0);
        // SAFETY: napi writes at most `capacity` bytes (the last a NUL) into the String's
        // spare capacity and says how many of them are the text, which is UTF-8.
        let buf = unsafe { text.0.as_mut_vec() };
        let mut len = 0;
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                env,
                value,
                buf.as_mut_ptr().cast(),
                buf.capacity(),
                &mut len,
            )
        };
        if status != sys::Status::napi_ok {
            // Not a string: the same TypeError an `Arg<String>` throws.
            // SAFETY: forwarded from napi with the same live env and value.
            return unsafe { crate::error::Arg::<String>::from_napi_value(env, value) }
                .map(|arg| LongText(arg.0));
        }
        if len + 4 >= buf.capacity() {
            // It may have been cut (napi never writes half a character): read it again, whole.
            // SAFETY: as above.
            return unsafe { String::from_napi_value(env, value) }.map(LongText);
        }
        // SAFETY: napi wrote `len` bytes of UTF-8.
        unsafe { buf.set_len(len) };
        Ok(text)
    }
}

impl TypeName for LongText {
    fn type_name() -> &'static str {
        "string"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for LongText {}
