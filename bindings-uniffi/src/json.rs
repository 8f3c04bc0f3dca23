//! Requests and options in, results out, as JSON text spelt in camelCase: the shapes Node's
//! `index.d.ts` types (core: `keel::options`, `keel::record`). Small fixed shapes are uniffi
//! records instead.

use keel::options::Case;

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
