use crate::util::root;
use optimize_onnx::Model;
use std::path::Path;

fn decode(bytes: &[u8]) -> Result<Model, optimize_onnx::Error> {
    Model::decode(bytes, Path::new("m.onnx"), None)
}

/// Every prefix of a real model is a clean error, except a cut that falls exactly between two
/// top-level fields after the graph (protobuf cannot see those): that must still hold the whole graph.
#[test]
fn every_truncation_is_a_clean_error() {
    let bytes = std::fs::read(root().join("models/digits-mlp.onnx")).unwrap();
    let full = decode(&bytes).unwrap();
    let mut loaded = 0;
    for len in (0..bytes.len()).step_by(7) {
        let err = match decode(&bytes[..len]) {
            Ok(m) => {
                assert_eq!(
                    m.proto.graph, full.proto.graph,
                    "cut to {len} bytes loaded a different graph"
                );
                loaded += 1;
                continue;
            }
            Err(e) => e,
        };
        assert!(err.is_input_error(), "{len}: {err}");
        assert!(err.to_string().starts_with("m.onnx: "), "{len}: {err}");
    }
    assert!(loaded <= 3, "{loaded} prefixes loaded");
}

/// Flipping bytes anywhere never panics (it may still decode: protobuf is permissive).
#[test]
fn corrupted_bytes_never_panic() {
    let original = std::fs::read(root().join("models/digits-cnn.onnx")).unwrap();
    let mut x = 0x2545f4914f6cdd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut ok, mut err) = (0, 0);
    for _ in 0..2000 {
        let mut bytes = original.clone();
        // Corrupt the header area (where structure lives) more often than weight data.
        for _ in 0..1 + next() % 4 {
            let span = if next() % 2 == 0 {
                512.min(bytes.len())
            } else {
                bytes.len()
            };
            let i = (next() as usize) % span;
            bytes[i] = next() as u8;
        }
        match decode(&bytes) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.is_input_error(), "{e}");
                err += 1
            }
        }
    }
    assert!(
        err > 0 && ok > 0,
        "ok={ok} err={err}: the corruption should hit both outcomes"
    );
}
