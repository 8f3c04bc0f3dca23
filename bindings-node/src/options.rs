//! Options objects in, records out, spelt in camelCase (core: `keel::options`, `keel::record`).

use napi::bindgen_prelude::{JsObjectValue, Object, Unknown};
use napi::{JsValue, ValueType};
use serde_json::{Map, Value};

use keel::options::Case;

use crate::json::Json;

/// A core options struct from a JavaScript options object; errors name the field as
/// `root.camelCaseName`.
pub fn options<T: serde::de::DeserializeOwned>(value: Option<Json>, root: &str) -> keel::Result<T> {
    keel::options::from_value(value.map(|j| j.0), Case::Camel, root)
}

/// A core record as a plain object with camelCase keys.
pub fn record<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    keel::record::to_value(value, Case::Camel)
}

/// A JSON object of named fields; `null` fields count as absent.
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A value as core reads a report: a number, a string, or an object's own enumerable
/// properties that hold numbers or strings (one level: no cycle is followed, and an exception a
/// getter throws is cleared).
pub fn shallow(value: Option<&Unknown<'_>>) -> Value {
    let Some(value) = value else {
        return Value::Null;
    };
    match value.get_type() {
        // SAFETY: each cast matches the type just read.
        Ok(ValueType::Number) => unsafe { value.cast::<f64>() }
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String("NaN".into()), Value::Number),
        Ok(ValueType::String) => {
            unsafe { value.cast::<String>() }.map_or(Value::Null, Value::String)
        }
        Ok(ValueType::Object) => {
            let env = value.value().env;
            let Ok(object) = (unsafe { value.cast::<Object>() }) else {
                return Value::Null;
            };
            let keys = Object::keys(&object).unwrap_or_default();
            let mut fields = Map::new();
            for key in keys {
                match object.get_named_property::<Unknown>(&key) {
                    Ok(field)
                        if matches!(
                            field.get_type(),
                            Ok(ValueType::Number | ValueType::String)
                        ) =>
                    {
                        fields.insert(key, shallow(Some(&field)));
                    }
                    Ok(_) => {}
                    Err(_) => crate::error::clear_exception(env),
                }
            }
            crate::error::clear_exception(env);
            Value::Object(fields)
        }
        Ok(ValueType::Undefined) | Ok(ValueType::Null) => Value::Null,
        _ => Value::Bool(false),
    }
}
