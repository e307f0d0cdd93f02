//! For every model of models/manifest.json in the "committed" and "test" tiers: `optimize convert`
//! (inline, and with --external-data) gives a file that
//! - `onnx.checker.check_model(full_check=True)` accepts and the onnx package parses to the same
//!   message as the original (scripts/same_model.py), and
//! - ONNX Runtime runs to bit-identical outputs on fixed, seeded inputs built from the manifest's
//!   input hints.

use crate::util::{entry, optimize, root};
use optimize_data::Tensor;
use optimize_runtime::{OrtSession, SessionOptions};
use std::path::Path;
use std::process::Command;

fn run(model: &Path, inputs: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    let session = OrtSession::from_file(model, &SessionOptions::deterministic())
        .unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    session
        .run(inputs)
        .unwrap_or_else(|e| panic!("{}: {e}", model.display()))
}

fn same_model(original: &Path, saved: &Path) {
    let out = Command::new(optimize_testkit::python())
        .arg(root().join("scripts/same_model.py"))
        .arg(original)
        .arg(saved)
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn round_trip(name: &str) {
    let m = entry(name);
    let original = m.path();
    let inputs = m.inputs(1000);
    let expected = run(&original, &inputs);
    assert!(!expected.is_empty());
    for external in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["convert", original.to_str().unwrap(), "-o", "out.onnx"];
        if external {
            args.push("--external-data");
        }
        let r = optimize(dir.path(), &args);
        assert_eq!(r.code, 0, "{name}: {r:?}");
        let saved = dir.path().join("out.onnx");
        assert_eq!(
            dir.path().join("out.onnx.data").exists(),
            external,
            "{name}: external data file"
        );
        same_model(&original, &saved);
        let got = run(&saved, &inputs);
        assert_eq!(got.len(), expected.len(), "{name}");
        for ((en, et), (gn, gt)) in expected.iter().zip(&got) {
            assert_eq!(en, gn);
            assert_eq!(
                (et.dtype(), et.shape()),
                (gt.dtype(), gt.shape()),
                "{name}/{en}"
            );
            assert!(
                et.as_bytes() == gt.as_bytes(),
                "{name}/{en}: outputs differ after round trip (external={external})"
            );
        }
    }
}

macro_rules! round_trip_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                round_trip($name);
            }
        )*

        /// Every committed or test-tier model has a round-trip test above.
        #[test]
        fn every_test_model_is_covered() {
            let covered = [$($name),*];
            for m in optimize_testkit::manifest().models {
                let (tier, name) = (m.tier.as_str(), m.name.as_str());
                if tier == "committed" || tier == "test" {
                    assert!(covered.contains(&name), "{name} ({tier}) has no round-trip test");
                }
            }
        }
    };
}

round_trip_tests! {
    digits_mlp => "digits-mlp",
    digits_cnn => "digits-cnn",
    ppocr_cls_mobile_v2 => "ppocr-cls-mobile-v2",
    ppocr_v4_det => "ppocr-v4-det",
    silero_vad => "silero-vad",
    silero_vad_half => "silero-vad-half",
    paraphrase_minilm_l3 => "paraphrase-minilm-l3",
}
