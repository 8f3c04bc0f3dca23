//! JSON across the boundary: Python objects to `serde_json` values (leniently: unknown objects
//! become their `repr()`, bytes are decoded with replacement, nesting is cut at a depth limit so
//! cycles end) and core results back to plain Python dicts and lists.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};

const MAX_DEPTH: usize = 16;

/// `text` as UTF-8, each lone surrogate (which UTF-8 cannot carry) replaced by one U+FFFD, as a
/// JavaScript string crosses napi: the same text reaches core from either binding. A surrogate
/// pair written as two code points is the character it encodes, as in JavaScript. PyO3's
/// `to_string_lossy` would make one lone surrogate three U+FFFD (one per byte of its
/// `surrogatepass` encoding).
pub fn lossy(text: &Bound<'_, PyString>) -> String {
    if let Ok(utf8) = text.to_str() {
        return utf8.to_owned();
    }
    text.call_method1("encode", ("utf-16-le", "surrogatepass"))
        .ok()
        .and_then(|encoded| encoded.cast_into::<PyBytes>().ok())
        .map(|encoded| {
            let units: Vec<u16> = encoded
                .as_bytes()
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        })
        .unwrap_or_else(|| text.to_string_lossy().into_owned())
}

pub fn to_json(obj: &Bound<'_, PyAny>, depth: usize) -> Value {
    if obj.is_none() {
        return Value::Null;
    }
    if depth > MAX_DEPTH {
        return Value::String("[depth limit]".into());
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Value::Bool(b.is_true());
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Value::from(i);
        }
        return Value::String(obj.str().map(|s| lossy(&s)).unwrap_or_default());
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .unwrap_or(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Value::String(lossy(s));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Value::String(String::from_utf8_lossy(b.as_bytes()).into_owned());
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Value::Object(dict_to_map(d, depth));
    }
    if (obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>())
        && let Ok(iter) = obj.try_iter()
    {
        return Value::Array(
            iter.flatten()
                .map(|item| to_json(&item, depth + 1))
                .collect(),
        );
    }
    Value::String(
        obj.repr()
            .map(|r| lossy(&r))
            .unwrap_or_else(|_| "<unprintable>".into()),
    )
}

/// `obj` as JSON, strictly, for values that are replayed as given (a dead letter's payload):
/// `None`, `bool`, `int` within 64 bits, finite `float`, `str`, `dict` with `str` keys, `list`
/// and `tuple`. Anything else is `invalid_input` on its path (`payload.deal.ids[2]`), as
/// `json.dumps` would raise.
pub fn to_json_strict(obj: &Bound<'_, PyAny>, depth: usize, path: &str) -> keel::Result<Value> {
    strict(obj, depth, &Path::Root(path))
}

/// Where a value sits in what was given, spelt only when it is refused.
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn strict(obj: &Bound<'_, PyAny>, depth: usize, path: &Path<'_>) -> keel::Result<Value> {
    let refuse =
        |what: String| keel::Error::invalid_input(path.to_string(), format!("is not JSON: {what}"));
    if depth > MAX_DEPTH {
        return Err(refuse(format!("nested deeper than {MAX_DEPTH}")));
    }
    if obj.is_none() || obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyString>() {
        return Ok(to_json(obj, depth));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(Value::from)
            .map_err(|_| refuse("an int beyond 64 bits".into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| refuse(format!("{}", f.value())));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map(|s| lossy(s))
                .map_err(|_| refuse("a key that is not a str".into()))?;
            let value = strict(&v, depth + 1, &Path::Key(path, &key))?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in obj
            .try_iter()
            .map_err(|e| refuse(e.to_string()))?
            .enumerate()
        {
            let item = item.map_err(|e| refuse(e.to_string()))?;
            items.push(strict(&item, depth + 1, &Path::Index(path, i))?);
        }
        return Ok(Value::Array(items));
    }
    let kind = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an object".into());
    Err(refuse(format!("a {kind}")))
}

/// A call's `**options` as the JSON object core reads (`None` when there were none).
pub fn kwargs(options: Option<&Bound<'_, PyDict>>) -> Option<Value> {
    options.map(|o| dict_to_map(o, 0).into())
}

/// A dict as a JSON object, its values converted by [`to_json`] at `depth + 1`.
pub fn dict_to_map(d: &Bound<'_, PyDict>, depth: usize) -> Map<String, Value> {
    let mut map = Map::with_capacity(d.len());
    for (k, v) in d.iter() {
        let key = match k.cast::<PyString>() {
            Ok(s) => lossy(s),
            Err(_) => k.str().map(|s| lossy(&s)).unwrap_or_default(),
        };
        map.insert(key, to_json(&v, depth + 1));
    }
    map
}

/// A JSON value on its way to Python, as dicts, lists, str, int, float, bool and None.
pub struct Json(pub Value);

impl Json {
    /// Any serializable core value.
    pub fn of(value: &impl serde::Serialize) -> Self {
        Json(serde_json::to_value(value).unwrap_or(Value::Null))
    }
}

/// A core value on its way to Python, serialized straight into dicts, lists, str, int, float,
/// bool and None (pythonize), with no JSON tree in between: for results on a model call's hot
/// path (a `Completion`, a transport's request).
pub struct Direct<T>(pub T);

impl<'py, T: serde::Serialize> IntoPyObject<'py> for Direct<T> {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.0)?)
    }
}

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0)
    }
}

fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|v| to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
