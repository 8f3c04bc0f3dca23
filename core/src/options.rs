//! Options and arguments as the bindings pass them, decided once.
//!
//! A binding hands an options object over as JSON (a Python `**kwargs` dict, a JavaScript
//! object) together with the [`Case`] its language spells names in; [`from_value`] turns it
//! into the core's options struct. Each struct derives `Deserialize` with its defaults, so a
//! default is written once, in core, and a binding never restates a field. Errors are
//! [`Error::InvalidInput`] naming the field as the caller spelled it (`options.maxCooldown` in
//! JavaScript, `max_cooldown` in Python).
//!
//! [`Calls`] is the shape of a handle whose operations a binding calls by name.
//!
//! The validators of single values live here too: [`seconds`] for durations, [`parse_uuid`]
//! and [`require_uuid`] for ids. Every binding and the CLI use them, so a duration is checked
//! the same way whichever language passed it.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A handle whose operations a binding calls by name, with the arguments as one JSON object
/// and the result as JSON: a queue, a dedup, a Slack client, a thread store, a fleet. Each
/// binding has one generic helper over it instead of one per handle.
pub trait Calls: Clone + Send + Sync + 'static {
    /// Runs the operation `op` on `args` (keys in `case`) and returns its result as JSON in
    /// `case`; errors name fields as core spells them.
    ///
    /// # Errors
    /// As the operation; [`Error::InvalidInput`] naming the argument that does not deserialize
    /// or is out of range, or `op` when it is unknown.
    fn call_op(
        &self,
        op: &str,
        args: Option<Value>,
        case: Case,
    ) -> impl Future<Output = Result<Value>> + Send;

    /// [`Calls::call_op`] with an error's field spelt in `case`, as the caller wrote it.
    ///
    /// # Errors
    /// As [`Calls::call_op`].
    fn call_value(
        &self,
        op: &str,
        args: Option<Value>,
        case: Case,
    ) -> impl Future<Output = Result<Value>> + Send {
        async move {
            self.call_op(op, args, case)
                .await
                .map_err(|e| spelt(e, case))
        }
    }
}

/// `err` with its field spelt in `case` (a field already spelt so is unchanged).
pub fn spelt(err: Error, case: Case) -> Error {
    match err {
        Error::InvalidInput { field, message } => Error::InvalidInput {
            field: case.spell(&field),
            message,
        },
        other => other,
    }
}

/// How a caller's language spells names: Rust and Python in `snake_case`, JavaScript in
/// `camelCase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `max_cooldown` (Rust, Python, the CLI).
    Snake,
    /// `maxCooldown` (JavaScript).
    Camel,
}

impl Case {
    /// `path` (dotted, in `snake_case`) as this case spells it.
    pub fn spell(self, path: &str) -> String {
        match self {
            Case::Snake => path.to_owned(),
            Case::Camel => {
                let mut out = String::with_capacity(path.len());
                let mut upper = false;
                for c in path.chars() {
                    match c {
                        '_' => upper = true,
                        c if upper => {
                            out.extend(c.to_uppercase());
                            upper = false;
                        }
                        c => out.push(c),
                    }
                }
                out
            }
        }
    }

    /// `name` as the core's fields spell it (`snake_case`).
    fn to_snake(self, name: &str) -> String {
        match self {
            Case::Snake => name.to_owned(),
            Case::Camel => {
                let mut out = String::with_capacity(name.len() + 4);
                for c in name.chars() {
                    if c.is_ascii_uppercase() {
                        out.push('_');
                        out.push(c.to_ascii_lowercase());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// An [`Error::InvalidInput`] naming `field` (in `snake_case`) as this case spells it.
    pub fn invalid(self, field: &str, message: impl Into<String>) -> Error {
        Error::invalid_input(self.spell(field), message)
    }
}

/// Deserializes an options object passed by a binding.
///
/// `value` is the object as JSON (`None` or `null` for no options); `root` names it in errors
/// (`"options"`, or `""` for keyword arguments). Keys set to `null` count as absent, so the
/// field takes its default. Unknown keys are refused: a misspelt option must not be ignored.
///
/// # Errors
/// [`Error::InvalidInput`] naming the first offending field as `case` spells it.
pub fn from_value<T: DeserializeOwned>(value: Option<Value>, case: Case, root: &str) -> Result<T> {
    let object = match value {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(Error::invalid_input(
                if root.is_empty() { "options" } else { root },
                format!("must be an object, got {}", kind(&other)),
            ));
        }
    };
    let object: Map<String, Value> = object
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| respell_field(k, v, case))
        .collect();
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|err| {
        let message = err.inner().to_string();
        let mut path = err.path().to_string();
        // A map key that did not deserialize (an unknown enum name) is `?`: the map is named.
        if let Some(map) = path.strip_suffix(".?") {
            path = map.to_owned();
        }
        // A missing field is reported at the object holding it; name the field itself.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            path = match path.as_str() {
                "." => name.to_owned(),
                parent => format!("{parent}.{name}"),
            };
        }
        let field = match (root, path.as_str()) {
            (root, ".") => root.to_owned(),
            ("", path) => case.spell(path),
            (root, path) => format!("{root}.{}", case.spell(path)),
        };
        Error::invalid_input(field, message)
    })
}

/// Fields whose values are the caller's own data, kept as written: a tool's JSON Schema, a
/// tool call's arguments, HTTP headers, a provider's error body, a dead letter's payload, a
/// queue item's context, a Slack message's Block Kit blocks.
const OPAQUE: &[&str] = &[
    "payload",
    "context",
    "steps",
    "parameters",
    "arguments",
    "headers",
    "body",
    "blocks",
    "resource_attributes",
    "metadata",
    "action",
    "loaded_context",
];

/// The keys of nested objects in the core's spelling: an options object holds records (a
/// resolution, token counts, a model call's messages), never maps of the caller's own keys
/// except under [`OPAQUE`] fields; other maps of the caller's keys go as arguments of their
/// own (an org's context, a request).
fn respell(value: Value, case: Case) -> Value {
    match value {
        Value::Object(map) if case != Case::Snake => Value::Object(
            map.into_iter()
                .map(|(k, v)| respell_field(k, v, case))
                .collect(),
        ),
        Value::Array(items) if case != Case::Snake => {
            Value::Array(items.into_iter().map(|v| respell(v, case)).collect())
        }
        other => other,
    }
}

/// One field in the core's spelling; an [`OPAQUE`] field's value is kept as written.
fn respell_field(key: String, value: Value, case: Case) -> (String, Value) {
    let key = case.to_snake(&key);
    if OPAQUE.contains(&key.as_str()) {
        (key, value)
    } else {
        (key, respell(value, case))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `err` with its field under `root` (`options.batch` in JavaScript); other errors as they are.
pub(crate) fn rooted(err: Error, root: &str) -> Error {
    match err {
        Error::InvalidInput { field, message } if !root.is_empty() => Error::InvalidInput {
            field: format!("{root}.{field}"),
            message,
        },
        other => other,
    }
}

/// A default worker name: host, process id and a random suffix.
pub(crate) fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "keel".into());
    let suffix = Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..6])
}

/// `text` as a URL a request may go to: https, or http on loopback (a local test server).
///
/// # Errors
/// [`Error::InvalidInput`] on `field` when `text` is not a URL, or neither.
pub fn https_url(field: &str, text: &str) -> Result<url::Url> {
    let url = url::Url::parse(text)
        .map_err(|e| Error::invalid_input(field, format!("not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !(url.scheme() == "https" || url.scheme() == "http" && loopback) {
        return Err(Error::invalid_input(
            field,
            "must be https (http only on loopback)",
        ));
    }
    Ok(url)
}

/// A duration given in seconds.
///
/// # Errors
/// [`Error::InvalidInput`] naming `field` unless finite and > 0.
pub fn seconds(field: &str, secs: f64) -> Result<Duration> {
    positive_duration(secs, 1.0, "seconds").map_err(|message| Error::invalid_input(field, message))
}

/// A longest wait given in seconds, where 0 means "do not wait" (flush and drain timeouts).
///
/// # Errors
/// [`Error::InvalidInput`] naming `field` unless finite and ≥ 0.
pub fn wait_seconds(field: &str, secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        Error::invalid_input(
            field,
            format!("must be a finite number of seconds ≥ 0, got {secs}"),
        )
    })
}

/// A duration given in milliseconds (the JavaScript spelling of some options).
///
/// # Errors
/// [`Error::InvalidInput`] naming `field` unless finite and > 0.
pub fn millis(field: &str, ms: f64) -> Result<Duration> {
    positive_duration(ms, 1e-3, "milliseconds")
        .map_err(|message| Error::invalid_input(field, message))
}

fn positive_duration(value: f64, unit: f64, name: &str) -> std::result::Result<Duration, String> {
    Duration::try_from_secs_f64(value * unit)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("must be a finite number of {name} > 0, got {value}"))
}

/// A whole number from a binding's number argument (JavaScript has only floats): an integer
/// from 0 to `u32::MAX`, never wrapped.
///
/// # Errors
/// [`Error::InvalidInput`] naming `field` otherwise.
pub fn whole(field: &str, value: f64) -> Result<u32> {
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        Ok(value as u32)
    } else {
        Err(Error::invalid_input(
            field,
            format!("must be a whole number from 0 to {}, got {value}", u32::MAX),
        ))
    }
}

/// Parses an optional id argument; empty is absent.
///
/// # Errors
/// [`Error::InvalidInput`] naming `field` when it is not a UUID.
pub fn parse_uuid(field: &str, raw: Option<&str>) -> Result<Option<Uuid>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Uuid::try_parse(text)
            .map(Some)
            .map_err(|_| Error::invalid_input(field, format!("`{text}` is not a UUID"))),
    }
}

/// Parses a required id argument.
///
/// # Errors
/// [`Error::InvalidInput`] naming `field` when it is empty or not a UUID.
pub fn require_uuid(field: &str, raw: &str) -> Result<Uuid> {
    parse_uuid(field, Some(raw))?.ok_or_else(|| Error::invalid_input(field, "is required"))
}

/// Serde helpers for option fields (`#[serde(deserialize_with = "…")]`).
pub mod de {
    use super::*;

    /// A duration in seconds, finite and > 0.
    pub fn secs<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
        let value = f64::deserialize(d)?;
        positive_duration(value, 1.0, "seconds").map_err(D::Error::custom)
    }

    /// An optional duration in seconds, finite and > 0.
    pub fn opt_secs<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<Duration>, D::Error> {
        secs(d).map(Some)
    }

    /// An optional duration in milliseconds, finite and > 0.
    pub fn opt_millis<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<Duration>, D::Error> {
        let value = f64::deserialize(d)?;
        positive_duration(value, 1e-3, "milliseconds")
            .map(Some)
            .map_err(D::Error::custom)
    }

    /// A count that must be at least 1 (thresholds, limits).
    pub fn at_least_one<'de, D: Deserializer<'de>, T>(d: D) -> std::result::Result<T, D::Error>
    where
        T: Deserialize<'de> + PartialOrd + From<u8> + std::fmt::Display,
    {
        let value = T::deserialize(d)?;
        if value >= T::from(1) {
            Ok(value)
        } else {
            Err(D::Error::custom(format!("must be at least 1, got {value}")))
        }
    }

    /// A number from 0 to 1 (a confidence, a threshold).
    pub fn probability<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
        let value = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(D::Error::custom(format!(
                "must be between 0 and 1, got {value}"
            )))
        }
    }

    /// A value parsed from its name by `FromStr` (tiers, features, kinds).
    pub fn parsed<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: std::str::FromStr<Err = Error>,
    {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e: Error| D::Error::custom(e.message()))
    }

    /// An optional UUID, empty text counting as absent.
    pub fn opt_uuid<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<Uuid>, D::Error> {
        let text = String::deserialize(d)?;
        parse_uuid("", Some(&text)).map_err(|e| D::Error::custom(e.message()))
    }

    /// A required UUID.
    pub fn uuid<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Uuid, D::Error> {
        let text = String::deserialize(d)?;
        require_uuid("", &text).map_err(|e| D::Error::custom(e.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        model_id: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        org_id: String,
        #[serde(default)]
        resolution: Option<Inner>,
    }

    fn field(value: Value, case: Case, root: &str) -> String {
        let err = from_value::<Outer>(Some(value), case, root).unwrap_err();
        err.field().unwrap().to_owned()
    }

    #[test]
    fn errors_name_the_field_as_the_caller_spells_it() {
        let missing = serde_json::json!({"orgId": "o", "resolution": {}});
        assert_eq!(field(missing, Case::Camel, ""), "resolution.modelId");
        assert_eq!(field(serde_json::json!({}), Case::Snake, ""), "org_id");
        let unknown = serde_json::json!({"orgId": "o", "maxCooldwon": 1});
        assert_eq!(
            field(unknown, Case::Camel, "options"),
            "options.maxCooldwon"
        );
        assert_eq!(
            field(serde_json::json!(3), Case::Camel, "options"),
            "options"
        );
    }

    #[test]
    fn null_is_absent_and_nested_keys_are_respelt() {
        let value = serde_json::json!({"orgId": "o", "resolution": {"modelId": "m"}, "x": null});
        let outer: Outer = from_value(Some(value), Case::Camel, "").unwrap();
        assert_eq!(outer.resolution.unwrap().model_id, "m");
    }

    #[test]
    fn durations_are_checked_once() {
        assert!(seconds("t", 0.5).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(seconds("t", bad).unwrap_err().field(), Some("t"));
        }
        assert!(wait_seconds("t", 0.0).unwrap().is_zero());
        assert_eq!(millis("t", 1500.0).unwrap().as_millis(), 1500);
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        #[serde(default, deserialize_with = "de::opt_secs")]
        wait: Option<Duration>,
        #[serde(default, deserialize_with = "de::opt_millis")]
        timeout: Option<Duration>,
        #[serde(default = "one", deserialize_with = "de::at_least_one")]
        limit: u32,
        #[serde(default, deserialize_with = "de::opt_uuid")]
        org: Option<Uuid>,
    }

    fn one() -> u32 {
        1
    }

    #[test]
    fn the_serde_helpers_check_what_they_read() {
        let ok: Typed = serde_json::from_value(serde_json::json!(
            {"wait": 1.5, "timeout": 250, "limit": 3, "org": " 00000000-0000-0000-0000-00000000000a "}
        ))
        .unwrap();
        assert_eq!(ok.wait, Some(Duration::from_millis(1500)));
        assert_eq!(ok.timeout, Some(Duration::from_millis(250)));
        assert_eq!(ok.limit, 3);
        assert_eq!(ok.org, Some(Uuid::from_u128(10)));
        let empty: Typed = serde_json::from_value(serde_json::json!({"org": ""})).unwrap();
        assert_eq!((empty.org, empty.limit, empty.wait), (None, 1, None));
        for bad in [
            serde_json::json!({"wait": 0}),
            serde_json::json!({"timeout": -1}),
            serde_json::json!({"limit": 0}),
            serde_json::json!({"org": "nope"}),
        ] {
            assert!(
                serde_json::from_value::<Typed>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_parse_trimmed_and_name_their_field() {
        assert_eq!(parse_uuid("org_id", None).unwrap(), None);
        assert_eq!(parse_uuid("org_id", Some("  ")).unwrap(), None);
        let id = Uuid::new_v4();
        assert_eq!(require_uuid("org_id", &id.to_string()).unwrap(), id);
        for bad in ["", "x"] {
            let err = require_uuid("org_id", bad).unwrap_err();
            assert_eq!((err.code(), err.field()), ("invalid_input", Some("org_id")));
        }
    }
}
