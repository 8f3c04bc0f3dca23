//! Core records as JSON in each language's spelling.
//!
//! Records (results, reports, findings) derive `Serialize` with Rust's `snake_case` field
//! names. [`to_value`] turns one into a JSON value whose struct fields are spelt as the caller's
//! [`Case`] wants: `context_hash` stays as it is for Python and the CLI and becomes
//! `contextHash` for JavaScript. Only struct fields are renamed: the keys of maps (an org's
//! context, a skill's metadata, log metadata) are the caller's data and pass unchanged.

use serde::Serialize;
use serde::ser::{self, Serializer};
use serde_json::Value;

use crate::options::Case;

/// `record` as JSON, its struct fields spelt in `case`. A value JSON cannot hold (a map with
/// non-string keys) becomes `null`.
pub fn to_value<T: Serialize + ?Sized>(record: &T, case: Case) -> Value {
    match case {
        Case::Snake => serde_json::to_value(record),
        Case::Camel => Recased(record).serialize(serde_json::value::Serializer),
    }
    .unwrap_or(Value::Null)
}

/// `record` as JSON text, its struct fields spelt in `case`: the text of [`to_value`]'s value
/// (struct fields in their declared order), written without building the value first. A value
/// JSON cannot hold makes the whole text `null`, as it makes [`to_value`]'s value.
pub fn to_text<T: Serialize + ?Sized>(record: &T, case: Case) -> String {
    match case {
        Case::Snake => serde_json::to_string(record),
        Case::Camel => serde_json::to_string(&Recased(record)),
    }
    .unwrap_or_else(|_| "null".to_owned())
}

/// A value serialized with its struct fields in camelCase.
struct Recased<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Recased<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Camel(serializer))
    }
}

/// Forwards everything to the inner serializer; structs become maps with recased keys.
struct Camel<S>(S);

/// A compound (sequence, tuple, map, struct) whose elements are recased in turn.
struct Compound<C>(C);

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.0.$method($($arg),*)
        })*
    };
}

impl<S: Serializer> Serializer for Camel<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeMap>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Recased(value))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Recased(value))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Recased(value))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(Compound)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(Compound)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(Compound)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(Compound)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.0.serialize_map(len).map(Compound)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_map(Some(len)).map(Compound)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.0
            .serialize_struct_variant(name, index, variant, len)
            .map(Compound)
    }
}

macro_rules! elements {
    ($($trait:ident::$method:ident;)*) => {
        $(impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                self.0.$method(&Recased(value))
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.0.end()
            }
        })*
    };
}

elements! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        // Map keys are data: kept as they are.
        self.0.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        self.0.serialize_value(&Recased(value))
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: ser::SerializeMap> ser::SerializeStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        if key.contains('_') {
            self.0
                .serialize_entry(&Case::Camel.spell(key), &Recased(value))
        } else {
            self.0.serialize_entry(key, &Recased(value))
        }
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: ser::SerializeStructVariant> ser::SerializeStructVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        // A variant's field names must be 'static here; they are left as they are.
        self.0.serialize_field(key, &Recased(value))
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Inner {
        context_hash: &'static str,
    }

    #[derive(Serialize)]
    struct Outer {
        balance_after: f64,
        items: Vec<Inner>,
        user_data: BTreeMap<&'static str, u8>,
        maybe_inner: Option<Inner>,
    }

    #[test]
    fn camel_renames_struct_fields_only() {
        let record = Outer {
            balance_after: 1.5,
            items: vec![Inner { context_hash: "h" }],
            user_data: BTreeMap::from([("deal_name", 1)]),
            maybe_inner: Some(Inner { context_hash: "x" }),
        };
        assert_eq!(
            to_value(&record, Case::Camel),
            serde_json::json!({
                "balanceAfter": 1.5,
                "items": [{"contextHash": "h"}],
                "userData": {"deal_name": 1},
                "maybeInner": {"contextHash": "x"},
            })
        );
        assert_eq!(to_value(&record, Case::Snake)["balance_after"], 1.5);
        for case in [Case::Camel, Case::Snake] {
            let text: serde_json::Value = serde_json::from_str(&to_text(&record, case)).unwrap();
            assert_eq!(text, to_value(&record, case));
        }
        let unheld = BTreeMap::from([((1, 2), 3)]);
        assert_eq!(to_text(&unheld, Case::Camel), "null");
        assert_eq!(to_value(&unheld, Case::Camel), serde_json::Value::Null);
    }
}
