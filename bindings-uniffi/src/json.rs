//! Requests and options in, results out, as JSON text spelt in camelCase: the shapes Node's
//! `index.d.ts` types (core: `keel::options`, `keel::record`). Small fixed shapes are uniffi
//! records instead.

use keel::options::{Calls, Case};
use serde_json::{Map, Value};

use crate::error::KeelError;
use crate::runtime::run;

/// A core options struct from JSON text (null: every default); errors name the field as
/// `root.camelCaseName`.
pub fn options<T: serde::de::DeserializeOwned>(json: Option<&str>, root: &str) -> keel::Result<T> {
    keel::options::from_value(value(json, root)?, Case::Camel, root)
}

/// JSON text as a value (null: none).
pub fn value(json: Option<&str>, root: &str) -> keel::Result<Option<serde_json::Value>> {
    json.map(|text| {
        serde_json::from_str(text)
            .map_err(|e| keel::Error::invalid_input(root, format!("is not JSON: {e}")))
    })
    .transpose()
}

/// A core record as JSON text with camelCase keys.
pub fn record<T: serde::Serialize + ?Sized>(value: &T) -> String {
    keel::record::to_value(value, Case::Camel).to_string()
}

/// The arguments of a call as one object: the options object's fields (`optionsJson`, which
/// must be an object when given), then the named ones.
pub fn args(named: Vec<(&str, Value)>, options_json: Option<&str>) -> keel::Result<Value> {
    let mut map = match value(options_json, "options")? {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(keel::Error::invalid_input("options", "must be an object")),
    };
    for (name, value) in named {
        map.insert(name.to_owned(), value);
    }
    Ok(Value::Object(map))
}

/// A required JSON argument as a value.
pub fn required(json: &str, name: &str) -> keel::Result<Value> {
    Ok(value(Some(json), name)?.unwrap_or(Value::Null))
}

/// Runs `op` of `handle` (a handle whose operations are called by name) on `args`, built inside
/// the call so that a bad argument is the call's error, not the caller's exception: the answer.
pub async fn call<C: Calls + Clone + Send + Sync + 'static>(
    handle: &C,
    op: &'static str,
    args: impl FnOnce() -> keel::Result<Value> + Send + 'static,
) -> Result<Value, KeelError> {
    let handle = handle.clone();
    run(async move { handle.call_value(op, Some(args()?), Case::Camel).await }).await
}

/// [`call`]'s answer as JSON text.
pub async fn call_text<C: Calls + Clone + Send + Sync + 'static>(
    handle: &C,
    op: &'static str,
    args: impl FnOnce() -> keel::Result<Value> + Send + 'static,
) -> Result<String, KeelError> {
    Ok(call(handle, op, args).await?.to_string())
}

/// An answer that may be null (an item, or nothing) as JSON text, or `None`.
pub fn nullable(answer: Value) -> Option<String> {
    (!answer.is_null()).then(|| answer.to_string())
}
