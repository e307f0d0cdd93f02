//! Channel pruning on every model in models/ (committed and test tier), scored by L1, by
//! bn-scale, and by L2 with counts in multiples of 8: the contract holds on real exported graphs
//! (zeroing the channels to remove, then removing them, changes no output in ONNX Runtime beyond
//! float summation order), and the conv nets really shrink.

use crate::graphs::{run_ort, write};
use optimize_data::Tensor;
use optimize_onnx::Model;
use optimize_prune::channel::{plan_channels, ChannelConfig, Criterion};
use std::path::PathBuf;

/// One sample: a tensor per graph input.
type Inputs = Vec<(String, Tensor)>;

/// The models of the committed and test tiers: name, path, seeded inputs from the hints.
fn models() -> Vec<(String, PathBuf, Inputs)> {
    optimize_testkit::manifest()
        .models
        .into_iter()
        .filter(|e| matches!(e.tier.as_str(), "committed" | "test"))
        .map(|e| (e.name.clone(), e.path(), e.inputs(100)))
        .collect()
}

/// Largest |a - b| and largest |a| over every float output (integer outputs must be equal).
fn max_diff(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> (f64, f64) {
    let mut diff = 0f64;
    let mut scale = 0f64;
    for ((name, x), (_, y)) in a.iter().zip(b) {
        assert_eq!(x.shape(), y.shape(), "{name}");
        if !x.dtype().is_float() {
            assert_eq!(x.as_bytes(), y.as_bytes(), "{name}");
            continue;
        }
        for (p, q) in x.to_f64_lossy().into_iter().zip(y.to_f64_lossy()) {
            diff = diff.max((p - q).abs());
            scale = scale.max(p.abs());
        }
    }
    (diff, scale)
}

/// Models of the committed and test tiers that have no channel group the pass can prune.
const NO_PRUNABLE_GROUP: &[(&str, &str)] = &[(
    "silero-vad",
    "every Conv sits inside an If branch (one per sample rate); channels are planned on the \
     main graph only",
)];

#[test]
fn zeroed_channels_removed_change_no_output_on_every_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut pruned_any = Vec::new();
    let mut unprunable = std::collections::BTreeSet::new();
    for (name, path, inputs) in models() {
        let model = Model::load(&path).unwrap();
        for (criterion, round_to) in [
            (Criterion::L1, 1),
            (Criterion::BnScale, 1),
            (Criterion::L2, 8),
        ] {
            let config = ChannelConfig {
                ratio: 0.5,
                criterion,
                round_to,
                ..Default::default()
            };
            let plan = plan_channels(&model, &config).unwrap();
            for g in plan.groups().iter().filter(|g| g.kept() < g.channels) {
                assert!(
                    g.kept().is_multiple_of(round_to),
                    "{name}: {} kept {} of {}",
                    g.producers.join("+"),
                    g.kept(),
                    g.channels
                );
            }
            let prunable = plan.groups().iter().filter(|g| g.skipped.is_none()).count();
            if prunable == 0 {
                unprunable.insert(format!("{name} ({criterion})"));
                continue;
            }
            let zeroed = write(&plan.zeroed().unwrap(), dir.path(), "zeroed.onnx");
            let (pruned, report) = plan.apply().unwrap();
            let pruned_path = write(&pruned, dir.path(), "pruned.onnx");
            let a = run_ort(&zeroed, &inputs);
            let b = run_ort(&pruned_path, &inputs);
            let (d, scale) = max_diff(&a, &b);
            eprintln!(
                "{name} ({criterion}): {prunable}/{} groups pruned, params {} -> {}, max |diff| {d:.2e} (outputs up to {scale:.2e})",
                plan.groups().len(),
                report.parameters.before,
                report.parameters.after
            );
            // Equal up to float summation order: kernels sum fewer terms in another order.
            assert!(
                d <= 1e-6 + 1e-5 * scale,
                "{name} ({criterion}): zeroed vs pruned differ by {d:.3e} (outputs up to {scale:.3e})"
            );
            pruned_any.push(name.clone());
        }
    }
    // Models with no channel group this pass can prune, on purpose and with the reason; any
    // other model without one fails.
    let allowed: std::collections::BTreeSet<String> = NO_PRUNABLE_GROUP
        .iter()
        .flat_map(|(model, _why)| {
            [Criterion::L1, Criterion::BnScale, Criterion::L2].map(|c| format!("{model} ({c})"))
        })
        .collect();
    assert_eq!(unprunable, allowed, "models with no prunable channel group");
    for conv_net in [
        "digits-cnn",
        "digits-mlp",
        "ppocr-cls-mobile-v2",
        "ppocr-v4-det",
    ] {
        assert!(
            pruned_any.iter().any(|n| n == conv_net),
            "{conv_net} was not pruned: {pruned_any:?}"
        );
    }
}
