//! Template expressions: `path|modifier|…` evaluated against the org's context, and the
//! modifiers (`upper`, `lower`, `capitalize`, `first`, `last`, `count`, `json`, `join`,
//! `default:"…"`) checked before a value is known.

use serde_json::Value;

use super::Fault;

/// A modifier fault (`template_modifier`).
pub(super) fn modifier_fault(message: String) -> Fault {
    ("template_modifier", message)
}

/// The modifiers of `expr` exist and their arguments are quoted (what can be checked before
/// the value is known).
pub(super) fn check_modifiers(expr: &str) -> std::result::Result<(), String> {
    for modifier in split_pipes(expr).into_iter().skip(1) {
        let modifier = modifier.trim();
        let (name, arg) = match modifier.split_once(':') {
            Some((name, arg)) => (name.trim(), Some(arg.trim())),
            None => (modifier, None),
        };
        if name != "default" && !KNOWN.contains(&name) {
            return Err(format!("`{name}` is not a modifier ({})", KNOWN.join(", ")));
        }
        if let Some(arg) = arg {
            unquote(arg)?;
        }
    }
    Ok(())
}

/// Evaluates `path|modifier|…`.
pub(super) fn expression(expr: &str, context: &Value) -> std::result::Result<String, Fault> {
    let mut parts = split_pipes(expr).into_iter();
    let path = parts.next().unwrap_or_default().trim();
    if path.is_empty() {
        return Err(("template_path", "an expression needs a path".into()));
    }
    let mut value = lookup(context, path).filter(|v| !v.is_null()).cloned();
    let mut missing = value.is_none();
    for modifier in parts {
        let modifier = modifier.trim();
        let (name, arg) = match modifier.split_once(':') {
            Some((name, arg)) => (
                name.trim(),
                Some(unquote(arg.trim()).map_err(modifier_fault)?),
            ),
            None => (modifier, None),
        };
        if name == "default" {
            if missing {
                value = Some(Value::String(arg.unwrap_or_default()));
                missing = false;
            }
            continue;
        }
        let Some(current) = value.take() else {
            // The path is missing; only a later default can help.
            if !KNOWN.contains(&name) {
                let message = format!("`{name}` is not a modifier ({})", KNOWN.join(", "));
                return Err(modifier_fault(message));
            }
            continue;
        };
        value = Some(apply(name, arg.as_deref(), current).map_err(modifier_fault)?);
    }
    match value {
        Some(v) if !missing => Ok(display(&v)),
        _ => Err((
            "template_value",
            format!("`{path}` is not in the org's context (add `|default:\"…\"`)"),
        )),
    }
}

const KNOWN: &[&str] = &[
    "upper",
    "lower",
    "capitalize",
    "first",
    "last",
    "count",
    "json",
    "join",
    "default",
];

fn apply(name: &str, arg: Option<&str>, value: Value) -> std::result::Result<Value, String> {
    Ok(match name {
        "upper" => Value::String(display(&value).to_uppercase()),
        "lower" => Value::String(display(&value).to_lowercase()),
        "capitalize" => {
            let text = display(&value);
            let mut chars = text.chars();
            Value::String(
                chars
                    .next()
                    .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect()),
            )
        }
        "first" => match value {
            Value::Array(items) => items.into_iter().next().unwrap_or(Value::Null),
            other => other,
        },
        "last" => match value {
            Value::Array(items) => items.into_iter().last().unwrap_or(Value::Null),
            other => other,
        },
        "count" => Value::from(match &value {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            Value::String(s) => s.chars().count(),
            Value::Null => 0,
            _ => 1,
        }),
        "json" => Value::String(serde_json::to_string(&value).unwrap_or_default()),
        "join" => match value {
            Value::Array(items) => Value::String(
                items
                    .iter()
                    .map(display)
                    .collect::<Vec<_>>()
                    .join(arg.unwrap_or(", ")),
            ),
            other => other,
        },
        other => {
            return Err(format!(
                "`{other}` is not a modifier ({})",
                KNOWN.join(", ")
            ));
        }
    })
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Walks `path` (dots between keys; `[n]` or `.n` for an array index, as in
/// `deal.contacts[0].name`).
fn lookup<'v>(context: &'v Value, path: &str) -> Option<&'v Value> {
    let step = |value: &'v Value, key: &str| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    };
    path.split('.').try_fold(context, |value, segment| {
        let (key, mut rest) = segment
            .split_once('[')
            .map_or((segment, ""), |(k, r)| (k, r));
        let mut value = if key.is_empty() {
            value
        } else {
            step(value, key)?
        };
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']')?;
            value = step(value, index)?;
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return None;
            }
        }
        Some(value)
    })
}

pub(super) fn split_pipes(expr: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in expr.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '|' if !quoted => {
                parts.push(&expr[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&expr[start..]);
    parts
}

fn unquote(arg: &str) -> std::result::Result<String, String> {
    match arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
        Some(inner) => Ok(inner.to_owned()),
        None => Err(format!("the argument `{arg}` must be quoted, e.g. \"…\"")),
    }
}
