//! Core records as Python objects, options dicts as core options (core: `keel::record`,
//! `keel::options`).
//!
//! [`record!`] declares a frozen class that holds a core record and reads each field on access,
//! so a field is converted only when Python reads it. [`options`] turns `**kwargs` into the
//! core's options struct, whose defaults and checks live in core.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat};
use serde_json::Value;

use keel::options::Case;

use crate::json::dict_to_map;

/// Converts a core field to what its getter returns.
pub trait Export<T> {
    /// The Python-facing value.
    fn export(&self) -> T;
}

macro_rules! export_copy {
    ($($ty:ty),*) => { $(impl Export<$ty> for $ty { fn export(&self) -> $ty { *self } })* };
}
export_copy!(f64, bool, u32, i64, u64);

impl Export<Option<u32>> for Option<u32> {
    fn export(&self) -> Option<u32> {
        *self
    }
}

impl Export<String> for uuid::Uuid {
    fn export(&self) -> String {
        self.to_string()
    }
}

impl Export<String> for String {
    fn export(&self) -> String {
        self.clone()
    }
}

impl Export<String> for std::sync::Arc<str> {
    fn export(&self) -> String {
        self.to_string()
    }
}

/// A frozen class `$name` wrapping the core record `$core`, with one getter per listed field
/// (`field: Type => "its docstring"`) and, in an optional second block, methods of its own
/// (getters that convert differently).
macro_rules! record {
    ($(#[$doc:meta])* $py:ident($core:ty) as $name:literal {
        $($field:ident: $ty:ty => $field_doc:literal),* $(,)?
     }
     $({ $($extra:item)* })?) => {
        $(#[$doc])*
        #[pyo3::pyclass(frozen, name = $name, module = "keel._native")]
        pub struct $py(pub $core);

        #[pyo3::pymethods]
        impl $py {
            $(
                #[doc = $field_doc]
                #[getter]
                fn $field(&self) -> $ty {
                    $crate::record::Export::export(&self.0.$field)
                }
            )*

            $($($extra)*)?

            fn __repr__(&self, py: pyo3::Python<'_>) -> pyo3::PyResult<String> {
                let fields: Vec<String> = vec![$({
                    let value = $crate::record::Export::<$ty>::export(&self.0.$field);
                    let value = pyo3::IntoPyObject::into_pyobject(value, py)?;
                    format!("{}={}", stringify!($field), pyo3::types::PyAnyMethods::repr(value.as_any())?)
                }),*];
                Ok(format!("{}({})", $name, fields.join(", ")))
            }
        }

        impl From<$core> for $py {
            fn from(value: $core) -> Self {
                Self(value)
            }
        }
    };
}
pub(crate) use record;

/// The core options struct `T` from keyword arguments; errors name the keyword.
pub fn options<T: serde::de::DeserializeOwned>(
    kwargs: Option<&Bound<'_, PyDict>>,
) -> keel::Result<T> {
    options_with(kwargs, [])
}

/// [`options`] with positional arguments added as fields.
pub fn options_with<T: serde::de::DeserializeOwned, const N: usize>(
    kwargs: Option<&Bound<'_, PyDict>>,
    positional: [(&str, Value); N],
) -> keel::Result<T> {
    let mut fields = match kwargs {
        None => serde_json::Map::new(),
        Some(kwargs) => {
            // JSON has no NaN or infinity: refuse them here rather than let them read as absent.
            for (key, value) in kwargs.iter() {
                if let Ok(f) = value.cast::<PyFloat>()
                    && !f.value().is_finite()
                {
                    return Err(keel::Error::invalid_input(
                        key.to_string(),
                        format!("must be a finite number, got {}", f.value()),
                    ));
                }
            }
            dict_to_map(kwargs, 0)
        }
    };
    fields.extend(positional.into_iter().map(|(k, v)| (k.to_owned(), v)));
    keel::options::from_value(Some(Value::Object(fields)), Case::Snake, "")
}
