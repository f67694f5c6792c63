//! Metadata key/value pairs: every GGUF value type, and typed getters.

use std::collections::HashMap;
use std::fmt;

use crate::error::{GgufError, Result};
use crate::header::Cursor;

/// How deep arrays may nest inside one another before the reader refuses the file.
pub const MAX_ARRAY_DEPTH: usize = 8;

/// The type code of a metadata value, as the GGUF format numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    /// The type for a code, if the code is one of the thirteen GGUF defines.
    pub fn from_code(code: u32) -> Option<Self> {
        use ValueType::*;
        Some(match code {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The name GGUF tools use for the type (`UINT32`, `STRING`, ...).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "UINT8",
            I8 => "INT8",
            U16 => "UINT16",
            I16 => "INT16",
            U32 => "UINT32",
            I32 => "INT32",
            F32 => "FLOAT32",
            Bool => "BOOL",
            String => "STRING",
            Array => "ARRAY",
            U64 => "UINT64",
            I64 => "INT64",
            F64 => "FLOAT64",
        }
    }

    /// The fewest bytes one value of this type takes in a file.
    fn min_size(self) -> u64 {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// An array value: an element type and the elements, all of that type.
///
/// The element type is kept even when the array is empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    elem_type: ValueType,
    values: Vec<Value>,
}

impl Array {
    /// An array of `values`, each of which must have type `elem_type`.
    ///
    /// Returns `None` if a value has another type.
    pub fn try_new(elem_type: ValueType, values: Vec<Value>) -> Option<Self> {
        values.iter().all(|v| v.value_type() == elem_type).then_some(Self { elem_type, values })
    }

    /// The type of every element.
    pub fn elem_type(&self) -> ValueType {
        self.elem_type
    }

    /// The elements.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Value {
    /// The value's type code.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// A readable type name, with the element type for arrays (`ARRAY[STRING]`).
    pub fn type_name(&self) -> String {
        match self {
            Value::Array(a) => format!("ARRAY[{}]", a.elem_type),
            other => other.value_type().name().to_string(),
        }
    }

    /// The value as an `i128` if it is any integer type.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// Reads one value of type `ty` (the type code has already been read).
    pub(crate) fn read(cur: &mut Cursor<'_>, ty: ValueType, key: &str, depth: usize) -> Result<Self> {
        Ok(match ty {
            ValueType::U8 => Value::U8(cur.u8(key)?),
            ValueType::I8 => Value::I8(cur.i8(key)?),
            ValueType::U16 => Value::U16(cur.u16(key)?),
            ValueType::I16 => Value::I16(cur.i16(key)?),
            ValueType::U32 => Value::U32(cur.u32(key)?),
            ValueType::I32 => Value::I32(cur.i32(key)?),
            ValueType::F32 => Value::F32(cur.f32(key)?),
            ValueType::Bool => Value::Bool(cur.u8(key)? != 0),
            ValueType::String => Value::String(cur.string(&format!("string value of {key:?}"))?),
            ValueType::U64 => Value::U64(cur.u64(key)?),
            ValueType::I64 => Value::I64(cur.i64(key)?),
            ValueType::F64 => Value::F64(cur.f64(key)?),
            ValueType::Array => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::NestingTooDeep { key: key.to_string(), limit: MAX_ARRAY_DEPTH });
                }
                let elem_type = read_type(cur, key)?;
                let len = cur.u64(key)?;
                let len = cur.check_count(len, elem_type.min_size(), &format!("array length of {key:?}"))?;
                let mut values = Vec::with_capacity(len);
                for _ in 0..len {
                    values.push(Value::read(cur, elem_type, key, depth + 1)?);
                }
                Value::Array(Array { elem_type, values })
            }
        })
    }
}

fn read_type(cur: &mut Cursor<'_>, key: &str) -> Result<ValueType> {
    let code = cur.u32(key)?;
    ValueType::from_code(code).ok_or_else(|| GgufError::UnknownValueType { key: key.to_string(), code })
}

/// The metadata of a file: key/value pairs in file order, looked up by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

macro_rules! getter {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(&self, key: &str) -> Result<$ty> {
            match self.require(key)? {
                Value::$variant(v) => Ok(*v),
                other => Err(wrong_type(key, ValueType::$variant.name(), other)),
            }
        }
    };
}

fn wrong_type(key: &str, expected: &str, found: &Value) -> GgufError {
    GgufError::WrongType { key: key.to_string(), expected: expected.to_string(), found: found.type_name() }
}

impl Metadata {
    /// Reads `count` key/value pairs.
    pub(crate) fn read(cur: &mut Cursor<'_>, count: u64) -> Result<Self> {
        // A pair is at least a key length (8), a type (4) and a one-byte value.
        let count = cur.check_count(count, 13, "metadata count")?;
        let mut meta = Metadata::default();
        for i in 0..count {
            let key = cur.string(&format!("metadata key #{i}"))?;
            let ty = read_type(cur, &key)?;
            let value = Value::read(cur, ty, &key, 0)?;
            if meta.index.contains_key(&key) {
                return Err(GgufError::DuplicateKey(key));
            }
            meta.insert(key, value);
        }
        Ok(meta)
    }

    /// Sets `key` to `value`, returning the value it replaces. A new key goes last.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.index.get(&key) {
            Some(&i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// The value of `key`, or [`GgufError::MissingKey`] naming it.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }

    getter!(
        /// A `UINT8` value.
        get_u8, U8, u8
    );
    getter!(
        /// An `INT8` value.
        get_i8, I8, i8
    );
    getter!(
        /// A `UINT16` value.
        get_u16, U16, u16
    );
    getter!(
        /// An `INT16` value.
        get_i16, I16, i16
    );
    getter!(
        /// A `UINT32` value, e.g. `get_u32("llama.block_count")`.
        get_u32, U32, u32
    );
    getter!(
        /// An `INT32` value.
        get_i32, I32, i32
    );
    getter!(
        /// A `UINT64` value.
        get_u64, U64, u64
    );
    getter!(
        /// An `INT64` value.
        get_i64, I64, i64
    );
    getter!(
        /// A `FLOAT32` value, e.g. `get_f32("llama.rope.freq_base")`.
        get_f32, F32, f32
    );
    getter!(
        /// A `FLOAT64` value.
        get_f64, F64, f64
    );
    getter!(
        /// A `BOOL` value.
        get_bool, Bool, bool
    );

    /// A `STRING` value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.require(key)? {
            Value::String(s) => Ok(s),
            other => Err(wrong_type(key, "STRING", other)),
        }
    }

    /// An `ARRAY` value of any element type.
    pub fn get_array(&self, key: &str) -> Result<&Array> {
        match self.require(key)? {
            Value::Array(a) => Ok(a),
            other => Err(wrong_type(key, "ARRAY", other)),
        }
    }

    /// An `ARRAY[STRING]` value, e.g. `tokenizer.ggml.tokens`.
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        let array = self.get_array(key)?;
        array
            .values
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(wrong_type(key, "ARRAY[STRING]", &Value::Array(array.clone()))),
            })
            .collect()
    }

    /// An array of any integer element type, as `i64` (e.g. `tokenizer.ggml.token_type`).
    pub fn get_int_array(&self, key: &str) -> Result<Vec<i64>> {
        let array = self.get_array(key)?;
        let bad = || {
            wrong_type(
                key,
                "ARRAY of integers",
                &Value::Array(Array { elem_type: array.elem_type, values: Vec::new() }),
            )
        };
        array.values.iter().map(|v| v.as_integer().and_then(|i| i64::try_from(i).ok()).ok_or_else(bad)).collect()
    }

    /// Any integer type that is non-negative and fits `usize` (files disagree on whether
    /// counts are `UINT32` or `UINT64`; this accepts either).
    pub fn get_usize(&self, key: &str) -> Result<usize> {
        let value = self.require(key)?;
        let int = value.as_integer().ok_or_else(|| wrong_type(key, "an integer", value))?;
        usize::try_from(int)
            .map_err(|_| GgufError::InvalidValue { key: key.to_string(), reason: format!("{int} is not a valid size") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        let mut m = Metadata::default();
        m.insert("a.u32", Value::U32(7));
        m.insert("a.str", Value::String("x".into()));
        m.insert("a.i64", Value::I64(-1));
        m
    }

    #[test]
    fn getters_name_the_key_when_missing_or_mistyped() {
        let m = sample();
        assert_eq!(m.get_u32("a.u32").unwrap(), 7);
        assert_eq!(m.get_usize("a.u32").unwrap(), 7);
        let err = m.get_u32("llama.block_count").unwrap_err().to_string();
        assert!(err.contains("llama.block_count") && err.contains("not found"), "{err}");
        let err = m.get_u32("a.str").unwrap_err().to_string();
        assert!(err.contains("a.str") && err.contains("STRING") && err.contains("UINT32"), "{err}");
        assert!(m.get_usize("a.i64").unwrap_err().to_string().contains("a.i64"));
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut m = sample();
        assert_eq!(m.insert("a.u32", Value::U32(8)), Some(Value::U32(7)));
        assert_eq!(m.iter().next().unwrap(), ("a.u32", &Value::U32(8)));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn deep_nesting_is_refused() {
        // ARRAY of ARRAY of ... with length 1 each, deeper than the limit.
        let mut bytes = Vec::new();
        for _ in 0..MAX_ARRAY_DEPTH + 2 {
            bytes.extend_from_slice(&9u32.to_le_bytes());
            bytes.extend_from_slice(&1u64.to_le_bytes());
        }
        bytes.extend_from_slice(&[0u8; 64]);
        let mut cur = Cursor::new(&bytes);
        let err = Value::read(&mut cur, ValueType::Array, "k", 0).unwrap_err();
        assert!(matches!(err, GgufError::NestingTooDeep { .. }), "{err}");
    }
}
