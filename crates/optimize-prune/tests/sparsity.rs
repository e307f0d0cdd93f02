//! Magnitude and N:M pruning on hand-made graphs: exactly the weights the rule names are zeroed,
//! every N:M group holds its pattern along the input dimension of each op's layout, biases and
//! excluded layers stay as they were, and bad settings or models get a clear error.

use crate::graphs::{dims, mlp, model, values, weight};
use optimize_onnx::build::{attr_int, node, tensor_f32, WithAttr};
use optimize_prune::magnitude::{prune_magnitude, MagnitudeConfig, Scope};
use optimize_prune::n_m::{prune_n_m, NmConfig, NmPattern};
use optimize_prune::Error;

fn zeros(v: &[f32]) -> usize {
    v.iter().filter(|x| **x == 0.0).count()
}

#[test]
fn global_magnitude_uses_one_threshold_for_all_layers() {
    // Two MatMuls; every |w| in the first is below every |w| in the second, so global 50%
    // zeroes the first completely and leaves the second whole.
    let small: Vec<f32> = (1..=8).map(|i| i as f32 * 0.01).collect();
    let large: Vec<f32> = (1..=8).map(|i| -(i as f32)).collect();
    let m = model(
        vec![
            node("MatMul", &["x", "a"], &["h"], "mm1"),
            node("MatMul", &["h", "b"], &["y"], "mm2"),
        ],
        vec![
            tensor_f32("a", &[2, 4], &small),
            tensor_f32("b", &[4, 2], &large),
        ],
        &[("x", &[1, 2])],
        &[("y", &[1, 2])],
    );
    let (out, report) = prune_magnitude(&m, &MagnitudeConfig::new(0.5)).unwrap();
    assert_eq!(values(&out, "a"), vec![0.0; 8]);
    assert_eq!(values(&out, "b"), large);
    assert_eq!(report.parameters.zeros_after, 8);

    let per_layer = MagnitudeConfig {
        scope: Scope::PerLayer,
        ..MagnitudeConfig::new(0.5)
    };
    let (out, _) = prune_magnitude(&m, &per_layer).unwrap();
    // Each keeps its four largest magnitudes.
    let mut expected_a = small.clone();
    expected_a[..4].fill(0.0);
    assert_eq!(values(&out, "a"), expected_a);
    assert_eq!(
        values(&out, "b"),
        [0.0, 0.0, 0.0, 0.0, -5.0, -6.0, -7.0, -8.0]
    );
}

#[test]
fn magnitude_per_layer_reaches_the_sparsity_and_leaves_biases() {
    let m = mlp();
    let config = MagnitudeConfig {
        scope: Scope::PerLayer,
        ..MagnitudeConfig::new(0.75)
    };
    let (out, report) = prune_magnitude(&m, &config).unwrap();
    for (w, n) in [("w1", 128), ("w2", 192), ("w3", 48)] {
        let v = values(&out, w);
        assert_eq!(zeros(&v), n * 3 / 4, "{w}");
        // The kept entries are the largest: the smallest kept ≥ the largest removed.
        let orig = values(&m, w);
        let kept_min = orig
            .iter()
            .zip(&v)
            .filter(|(_, n)| **n != 0.0)
            .map(|(o, _)| o.abs())
            .fold(f32::INFINITY, f32::min);
        let cut_max = orig
            .iter()
            .zip(&v)
            .filter(|(_, n)| **n == 0.0)
            .map(|(o, _)| o.abs())
            .fold(0.0, f32::max);
        assert!(kept_min >= cut_max, "{w}: {kept_min} < {cut_max}");
    }
    assert_eq!(values(&out, "b1"), values(&m, "b1"));
    assert_eq!(values(&out, "b3"), values(&m, "b3"));
    assert_eq!(report.layers.len(), 3);
    assert!(report.notes[0].contains("no faster"), "{:?}", report.notes);
}

#[test]
fn first_and_last_layers_can_stay_dense() {
    let m = mlp();
    let config = MagnitudeConfig {
        exclude_first: true,
        exclude_last: true,
        ..MagnitudeConfig::new(0.5)
    };
    let (out, report) = prune_magnitude(&m, &config).unwrap();
    assert_eq!(values(&out, "w1"), values(&m, "w1"));
    assert_eq!(values(&out, "w3"), values(&m, "w3"));
    assert_eq!(zeros(&values(&out, "w2")), 96);
    let left: Vec<_> = report.skipped.iter().map(|s| s.node.as_str()).collect();
    assert_eq!(left, ["fc3", "fc1"]);
}

/// Every group of `m` entries along `axis` of `dims` has at most `n` non-zeros: an independent
/// check by explicit multi-index, not the crate's own.
fn holds_pattern(v: &[f32], dims: &[usize], axis: usize, n: usize, m: usize) -> bool {
    let strides: Vec<usize> = (0..dims.len())
        .map(|a| dims[a + 1..].iter().product())
        .collect();
    let mut ok = true;
    let total: usize = dims.iter().product();
    for flat in 0..total {
        let along = (flat / strides[axis]) % dims[axis];
        if !along.is_multiple_of(m) {
            continue; // visit each group from its first entry
        }
        let nz = (0..m)
            .filter(|j| v[flat + j * strides[axis]] != 0.0)
            .count();
        ok &= nz <= n;
    }
    ok
}

#[test]
fn n_m_groups_run_along_each_layouts_input_dimension() {
    let m = model(
        vec![
            node("Conv", &["x", "cw", "cb"], &["c"], "conv"),
            node("Flatten", &["c"], &["f"], "flat"),
            node("Gemm", &["f", "gw"], &["g"], "gemm_t").with_attr(attr_int("transB", 1)),
            node("Gemm", &["g", "gw2"], &["g2"], "gemm"),
            node("MatMul", &["g2", "mw"], &["y"], "mm"),
        ],
        vec![
            weight("cw", &[4, 8, 3, 3], 1),
            weight("cb", &[4], 2),
            weight("gw", &[8, 36], 3),
            weight("gw2", &[8, 12], 4),
            weight("mw", &[12, 4], 5),
        ],
        &[("x", &[1, 8, 5, 5])],
        &[("y", &[1, 4])],
    );
    let pattern: NmPattern = "2:4".parse().unwrap();
    let (out, report) = prune_n_m(
        &m,
        &NmConfig {
            pattern,
            filter: Default::default(),
        },
    )
    .unwrap();
    for (w, d, axis) in [
        ("cw", vec![4, 8, 3, 3], 1),
        ("gw", vec![8, 36], 1),
        ("gw2", vec![8, 12], 0),
        ("mw", vec![12, 4], 0),
    ] {
        let v = values(&out, w);
        assert!(holds_pattern(&v, &d, axis, 2, 4), "{w}");
        assert_eq!(zeros(&v), v.len() / 2, "{w}: exactly half");
        // Not along another axis by accident: the other axis generally breaks the pattern.
        assert_eq!(
            dims(&out, w),
            d.iter().map(|&x| x as i64).collect::<Vec<_>>()
        );
    }
    let check = report.pattern_check.unwrap();
    // Groups: conv 4*2*9, gemm_t 8*9, gemm 3*8, matmul 3*4.
    assert_eq!(check.groups, 72 + 72 + 24 + 12);
    assert_eq!(values(&out, "cb"), values(&m, "cb"));
}

#[test]
fn n_m_keeps_the_largest_in_each_group() {
    let w = [0.1, -0.9, 0.5, 0.2, 3.0, 2.0, -1.0, 0.0];
    let m = model(
        vec![node("MatMul", &["x", "w"], &["y"], "mm")],
        vec![tensor_f32("w", &[8, 1], &w)],
        &[("x", &[1, 8])],
        &[("y", &[1, 1])],
    );
    let config = NmConfig {
        pattern: "1:4".parse().unwrap(),
        filter: Default::default(),
    };
    let (out, _) = prune_n_m(&m, &config).unwrap();
    assert_eq!(values(&out, "w"), [0.0, -0.9, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0]);
}

#[test]
fn n_m_leaves_layers_whose_input_dimension_does_not_divide() {
    let m = model(
        vec![
            node("MatMul", &["x", "a"], &["h"], "ok"),
            node("MatMul", &["h", "b"], &["y"], "odd"),
        ],
        vec![weight("a", &[8, 6], 1), weight("b", &[6, 2], 2)],
        &[("x", &[1, 8])],
        &[("y", &[1, 2])],
    );
    let config = NmConfig {
        pattern: "2:4".parse().unwrap(),
        filter: Default::default(),
    };
    let (out, report) = prune_n_m(&m, &config).unwrap();
    assert_eq!(values(&out, "b"), values(&m, "b"));
    assert_eq!(report.skipped.len(), 1);
    assert!(
        report.skipped[0].reason.contains("6")
            && report.skipped[0].reason.contains("multiple of 4"),
        "{:?}",
        report.skipped
    );
    // With only the odd layer, nothing is left to prune.
    let only_odd = NmConfig {
        filter: optimize_onnx::filter::NodeFilter {
            exclude_nodes: ["ok".to_string()].into(),
            ..Default::default()
        },
        ..config
    };
    let err = prune_n_m(&m, &only_odd).unwrap_err();
    assert!(matches!(err, Error::NothingToPrune { .. }), "{err}");
    assert!(err.to_string().contains("odd (MatMul)"), "{err}");
}

#[test]
fn bad_settings_and_models_without_weights_are_errors() {
    for s in [1.0, 1.5, -0.25, f64::NAN] {
        let err = prune_magnitude(&mlp(), &MagnitudeConfig::new(s)).unwrap_err();
        assert!(matches!(err, Error::InvalidSparsity { .. }), "{s}: {err}");
        assert!(err.is_input_error());
    }
    let err = "4:2".parse::<NmPattern>().unwrap_err();
    assert!(err.to_string().contains("\"4:2\""), "{err}");
    let relu = model(
        vec![node("Relu", &["x"], &["y"], "relu")],
        vec![],
        &[("x", &[1, 4])],
        &[("y", &[1, 4])],
    );
    let err = prune_magnitude(&relu, &MagnitudeConfig::new(0.5)).unwrap_err();
    assert!(matches!(err, Error::NothingToPrune { .. }), "{err}");
    assert!(err.to_string().contains("Relu 1"), "{err}");
    // A MatMul whose weight is an input is not prunable either.
    let dynamic = model(
        vec![node("MatMul", &["x", "w"], &["y"], "mm")],
        vec![],
        &[("x", &[1, 4]), ("w", &[4, 4])],
        &[("y", &[1, 4])],
    );
    let err = prune_magnitude(&dynamic, &MagnitudeConfig::new(0.5)).unwrap_err();
    assert!(err.to_string().contains("computed at run time"), "{err}");
}
