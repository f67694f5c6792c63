//! The committed tiny GGUF against the values gguf-py wrote and dequantized.

mod common;

use gguf_file::{GgmlType, GgufError, GgufFile, Metadata, Value};
use half::{bf16, f16};
use serde_json::Value as Json;

fn open() -> GgufFile {
    GgufFile::open(common::reference("tiny.gguf")).expect("tiny.gguf parses")
}

/// Whether a metadata value equals its JSON description (`{"type", "sub_type"?, "value"}`).
fn same(value: &Value, json: &Json) -> bool {
    match (value, json) {
        (Value::U8(v), Json::Number(n)) => n.as_u64() == Some(u64::from(*v)),
        (Value::I8(v), Json::Number(n)) => n.as_i64() == Some(i64::from(*v)),
        (Value::U16(v), Json::Number(n)) => n.as_u64() == Some(u64::from(*v)),
        (Value::I16(v), Json::Number(n)) => n.as_i64() == Some(i64::from(*v)),
        (Value::U32(v), Json::Number(n)) => n.as_u64() == Some(u64::from(*v)),
        (Value::I32(v), Json::Number(n)) => n.as_i64() == Some(i64::from(*v)),
        (Value::U64(v), Json::Number(n)) => n.as_u64() == Some(*v),
        (Value::I64(v), Json::Number(n)) => n.as_i64() == Some(*v),
        (Value::F32(v), Json::Number(n)) => n.as_f64().map(|x| x as f32) == Some(*v),
        (Value::F64(v), Json::Number(n)) => n.as_f64() == Some(*v),
        (Value::Bool(v), Json::Bool(b)) => v == b,
        (Value::String(v), Json::String(s)) => v == s,
        (Value::Array(a), Json::Array(items)) => {
            a.len() == items.len() && a.values().iter().zip(items).all(|(v, j)| same(v, j))
        }
        _ => false,
    }
}

#[test]
fn header_and_layout_match_gguf_py() {
    let file = open();
    let fx = common::fixture("tiny.json");
    assert_eq!(file.version(), 3);
    assert_eq!(file.header().tensor_count, fx["tensor_count"].as_u64().unwrap());
    assert_eq!(file.header().kv_count, fx["kv_count"].as_u64().unwrap());
    assert_eq!(file.alignment(), fx["alignment"].as_u64().unwrap());
    assert_eq!(file.data_offset() as u64, fx["data_offset"].as_u64().unwrap());
    let names: Vec<&str> = file.tensors().iter().map(|t| t.name.as_str()).collect();
    let expected: Vec<&str> = fx["tensors"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, expected);
}

#[test]
fn metadata_of_every_value_type() {
    let file = open();
    let meta: &Metadata = file.metadata();
    let fx = common::fixture("tiny.json");
    let expected = fx["metadata"].as_object().unwrap();
    assert!(expected.len() >= 19);
    for (key, want) in expected {
        let got = meta.get(key).unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(got.value_type().name(), want["type"].as_str().unwrap(), "{key}");
        if let (Value::Array(a), Some(sub)) = (got, want.get("sub_type")) {
            assert_eq!(a.elem_type().name(), sub.as_str().unwrap(), "{key}");
        }
        assert!(same(got, &want["value"]), "{key}: {got:?} vs {}", want["value"]);
    }
    // Typed getters.
    assert_eq!(meta.get_u8("test.u8").unwrap(), 200);
    assert_eq!(meta.get_i8("test.i8").unwrap(), -100);
    assert_eq!(meta.get_u16("test.u16").unwrap(), 60000);
    assert_eq!(meta.get_i16("test.i16").unwrap(), -30000);
    assert_eq!(meta.get_u32("test.u32").unwrap(), 4_000_000_000);
    assert_eq!(meta.get_i32("test.i32").unwrap(), -2_000_000_000);
    assert_eq!(meta.get_u64("test.u64").unwrap(), 18_000_000_000_000_000_000);
    assert_eq!(meta.get_i64("test.i64").unwrap(), -9_000_000_000_000_000_000);
    assert_eq!(meta.get_f32("test.f32").unwrap(), 0.1f32);
    assert_eq!(meta.get_f64("test.f64").unwrap(), std::f64::consts::E);
    assert!(meta.get_bool("test.bool_true").unwrap());
    assert!(!meta.get_bool("test.bool_false").unwrap());
    assert_eq!(meta.get_str("test.string").unwrap(), "héllo, wörld ✓");
    assert_eq!(meta.get_str_array("test.array_string").unwrap(), vec!["a", "", "ü ✓"]);
    assert_eq!(meta.get_int_array("test.array_i32").unwrap(), vec![1, -2, 3]);
    assert_eq!(meta.get_usize("llama.block_count").unwrap(), 2);
    assert_eq!(meta.get_array("test.array_nested").unwrap().elem_type().name(), "ARRAY");
    // Errors name the key and the types.
    let err = meta.get_f32("test.string").unwrap_err();
    assert!(matches!(&err, GgufError::WrongType { key, .. } if key == "test.string"), "{err}");
    let err = meta.get_str_array("test.array_i32").unwrap_err().to_string();
    assert!(err.contains("test.array_i32") && err.contains("ARRAY[INT32]"), "{err}");
    let err = meta.get_u32("llama.embedding_length").unwrap_err();
    assert!(matches!(&err, GgufError::MissingKey(k) if k == "llama.embedding_length"), "{err}");
}

#[test]
fn tensor_infos_match_gguf_py() {
    let file = open();
    let fx = common::fixture("tiny.json");
    for t in fx["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let info = file.tensor_info(name).unwrap();
        assert_eq!(info.ggml_type.name(), t["type"].as_str().unwrap(), "{name}");
        let dims: Vec<u64> = t["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(info.dims, dims, "{name}");
        let shape: Vec<usize> = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(info.shape(), shape, "{name}");
        assert_eq!(info.offset, t["offset"].as_u64().unwrap(), "{name}");
        assert_eq!(file.tensor(name).unwrap().data().len(), info.n_bytes());
    }
    assert!(matches!(file.tensor("nope"), Err(GgufError::TensorNotFound(n)) if n == "nope"));
}

#[test]
fn dequantized_values_are_bit_identical_to_gguf_py() {
    let file = open();
    let fx = common::fixture("tiny.json");
    let mut seen = std::collections::HashSet::new();
    for t in fx["tensors"].as_array().unwrap() {
        let Some(values) = t["values"].as_array() else {
            continue;
        };
        let name = t["name"].as_str().unwrap();
        let view = file.tensor(name).unwrap();
        seen.insert(view.ggml_type());
        let want: Vec<f32> = values.iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let got = view.to_f32().unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{name}[{i}]: {g} vs {w}");
        }
        // 16-bit outputs are the f32 values rounded.
        let h: Vec<f16> = view.to_f16().unwrap();
        let b: Vec<bf16> = view.to_bf16().unwrap();
        for i in 0..want.len() {
            assert_eq!(h[i], f16::from_f32(want[i]), "{name}[{i}] f16");
            assert_eq!(b[i], bf16::from_f32(want[i]), "{name}[{i}] bf16");
        }
        let mut out = vec![0f32; want.len()];
        view.dequantize_into(&mut out).unwrap();
        assert_eq!(out, got);
        assert!(view.dequantize_into(&mut out[1..]).is_err());
    }
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1] {
        assert!(seen.contains(&ty), "fixture lacks {ty}");
    }
}

#[test]
fn unsupported_type_names_tensor_and_type() {
    let file = open();
    let err = file.dequantize_f32("t.q4_k").unwrap_err();
    assert!(
        matches!(&err, GgufError::UnsupportedTensorType { tensor, ggml_type } if tensor == "t.q4_k" && ggml_type == "Q4_K"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("t.q4_k") && msg.contains("Q4_K"), "{msg}");
}

#[test]
fn from_bytes_equals_open() {
    let bytes = std::fs::read(common::reference("tiny.gguf")).unwrap();
    let owned = GgufFile::from_bytes(bytes.as_slice()).unwrap();
    let mapped = open();
    assert_eq!(owned.metadata(), mapped.metadata());
    assert_eq!(owned.tensors(), mapped.tensors());
    assert_eq!(owned.dequantize_f32("t.q8_0").unwrap(), mapped.dequantize_f32("t.q8_0").unwrap());
    assert_eq!(owned.bytes(), bytes.as_slice());
}

#[test]
fn open_missing_file_names_it() {
    let err = GgufFile::open("no/such/file.gguf").unwrap_err().to_string();
    assert!(err.contains("no/such/file.gguf"), "{err}");
}
