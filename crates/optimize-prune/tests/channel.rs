//! Structured channel pruning on hand-made graphs: the right groups (residual Adds and SE Muls
//! tie layers, Concat keeps them apart, depthwise convolutions follow), the right shapes after,
//! the reasons groups are left alone, and the contract: zeroing the channels first and removing
//! them gives the same outputs in ONNX Runtime.

use crate::graphs::{dims, input, model, run_ort, values, weight, write};
use optimize_onnx::build::{
    attr_float, attr_int, attr_ints, node, tensor_f32, tensor_i64, WithAttr,
};
use optimize_onnx::Model;
use optimize_prune::channel::{plan_channels, ChannelConfig, Criterion};
use optimize_prune::Error;

/// Max |a - b| over all outputs.
fn max_diff(a: &[(String, optimize_data::Tensor)], b: &[(String, optimize_data::Tensor)]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|((_, x), (_, y))| {
            assert_eq!(x.shape(), y.shape());
            x.to_f64_lossy()
                .into_iter()
                .zip(y.to_f64_lossy())
                .map(|(p, q)| (p - q).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f64::max)
}

/// Plans `config` on `m`, then checks in ONNX Runtime that the model with the channels zeroed
/// and the model with them removed agree on `inputs` within `tol`. Returns the pruned model.
fn zeroed_equals_pruned(
    m: &Model,
    config: &ChannelConfig,
    inputs: &[(String, optimize_data::Tensor)],
    tol: f64,
) -> (Model, optimize_prune::PruneReport) {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_channels(m, config).unwrap();
    let zeroed = write(&plan.zeroed().unwrap(), dir.path(), "zeroed.onnx");
    let (pruned, report) = plan.apply().unwrap();
    let pruned_path = write(&pruned, dir.path(), "pruned.onnx");
    let a = run_ort(&zeroed, inputs);
    let b = run_ort(&pruned_path, inputs);
    let d = max_diff(&a, &b);
    assert!(d <= tol, "zeroed vs pruned differ by {d}");
    (pruned, report)
}

#[test]
fn mlp_hidden_layers_shrink_and_the_output_layer_stays() {
    let m = crate::graphs::mlp();
    let config = ChannelConfig {
        ratio: 0.5,
        ..Default::default()
    };
    let x = [input("x", &[3, 8], 7)];
    let (out, report) = zeroed_equals_pruned(&m, &config, &x, 1e-6);
    assert_eq!(dims(&out, "w1"), [8, 8]);
    assert_eq!(dims(&out, "b1"), [8]);
    assert_eq!(dims(&out, "w2"), [8, 6]);
    assert_eq!(dims(&out, "w3"), [6, 4]);
    assert_eq!(dims(&out, "b3"), [4]);
    let g = &report.groups;
    assert_eq!(g.len(), 3);
    assert_eq!((g[0].channels_before, g[0].channels_after), (16, 8));
    assert_eq!((g[1].channels_before, g[1].channels_after), (12, 6));
    assert!(g[2]
        .skipped
        .as_deref()
        .unwrap()
        .contains("'y' is a graph output"));
    assert_eq!(report.parameters.before, 128 + 16 + 192 + 48 + 4);
    assert_eq!(report.parameters.after, 64 + 8 + 48 + 24 + 4);
}

#[test]
fn l1_removes_the_filters_of_smallest_norm() {
    // fc1 rows (output neurons) with norms 1, 5, 2, 4: ratio 0.5 removes rows 0 and 2.
    let w1 = [1.0, 0.0, 3.0, -2.0, 0.0, 2.0, -4.0, 0.0];
    let m = model(
        vec![
            node("MatMul", &["x", "w1t"], &["h"], "fc1"),
            node("Relu", &["h"], &["r"], "relu"),
            node("MatMul", &["r", "w2"], &["y"], "fc2"),
        ],
        vec![
            // MatMul weight [K=2, N=4]: column j is neuron j.
            tensor_f32(
                "w1t",
                &[2, 4],
                &[w1[0], w1[2], w1[4], w1[6], w1[1], w1[3], w1[5], w1[7]],
            ),
            tensor_f32("w2", &[4, 1], &[10.0, 20.0, 30.0, 40.0]),
        ],
        &[("x", &[1, 2])],
        &[("y", &[1, 1])],
    );
    let (out, _) = optimize_prune::prune_channels(&m, &ChannelConfig::default()).unwrap();
    assert_eq!(values(&out, "w2"), [20.0, 40.0]);
    assert_eq!(values(&out, "w1t"), [3.0, -4.0, -2.0, 0.0]);
}

/// x → conv_a → BN → Relu → a → depthwise → BN → Relu → conv_b; r = a + conv_b (residual);
/// SE on r: GAP → conv_s1 (+ reshaped bias) → Relu → conv_s2 → HardSigmoid → Mul(r, s);
/// conv_c and conv_e read it, Concat → MaxPool → Flatten → fc1 → Relu → fc2 → y.
fn cnn() -> Model {
    let bn = |name: &str, c: i64, seed: u64| {
        vec![
            weight(&format!("{name}_g"), &[c], seed),
            weight(&format!("{name}_b"), &[c], seed + 1),
            weight(&format!("{name}_m"), &[c], seed + 2),
            tensor_f32(&format!("{name}_v"), &[c], &vec![0.5; c as usize]),
        ]
    };
    let bn_node = |name: &str, x: &str, y: &str| {
        node(
            "BatchNormalization",
            &[
                x,
                &format!("{name}_g"),
                &format!("{name}_b"),
                &format!("{name}_m"),
                &format!("{name}_v"),
            ],
            &[y],
            name,
        )
    };
    let pad1 = || attr_ints("pads", &[1, 1, 1, 1]);
    let mut inits = vec![
        weight("wa", &[8, 3, 3, 3], 1),
        weight("ba", &[8], 2),
        weight("wd", &[8, 1, 3, 3], 3),
        weight("wb", &[8, 8, 1, 1], 4),
        weight("ws1", &[2, 8, 1, 1], 5),
        weight("bs1_flat", &[2], 6),
        tensor_i64("bs1_shape", &[4], &[1, 2, 1, 1]),
        weight("ws2", &[8, 2, 1, 1], 7),
        weight("bs2", &[8], 8),
        weight("wc", &[6, 8, 1, 1], 9),
        weight("we", &[4, 8, 1, 1], 10),
        weight("f1", &[5, 160], 11),
        weight("f1b", &[5], 12),
        weight("f2", &[3, 5], 13),
    ];
    inits.extend(bn("bn_a", 8, 20));
    inits.extend(bn("bn_d", 8, 30));
    model(
        vec![
            node("Conv", &["x", "wa", "ba"], &["ca"], "conv_a").with_attr(pad1()),
            bn_node("bn_a", "ca", "na"),
            node("Relu", &["na"], &["a"], "relu_a"),
            node("Conv", &["a", "wd"], &["cd"], "dw")
                .with_attr(attr_int("group", 8))
                .with_attr(pad1()),
            bn_node("bn_d", "cd", "nd"),
            node("Relu", &["nd"], &["d"], "relu_d"),
            node("Conv", &["d", "wb"], &["cb"], "conv_b"),
            node("Add", &["a", "cb"], &["r"], "residual"),
            node("GlobalAveragePool", &["r"], &["p"], "gap"),
            node("Conv", &["p", "ws1"], &["s1"], "conv_s1"),
            node(
                "Reshape",
                &["bs1_flat", "bs1_shape"],
                &["bs1"],
                "bias_reshape",
            ),
            node("Add", &["s1", "bs1"], &["s1b"], "s1_bias"),
            node("Relu", &["s1b"], &["s1r"], "relu_s1"),
            node("Conv", &["s1r", "ws2", "bs2"], &["s2"], "conv_s2"),
            node("HardSigmoid", &["s2"], &["s"], "gate")
                .with_attr(attr_float("alpha", 0.2))
                .with_attr(attr_float("beta", 0.5)),
            node("Mul", &["r", "s"], &["rs"], "excite"),
            node("Conv", &["rs", "wc"], &["c"], "conv_c"),
            node("Conv", &["rs", "we"], &["e"], "conv_e"),
            node("Concat", &["c", "e"], &["cat"], "concat").with_attr(attr_int("axis", 1)),
            node("MaxPool", &["cat"], &["mp"], "pool")
                .with_attr(attr_ints("kernel_shape", &[2, 2]))
                .with_attr(attr_ints("strides", &[2, 2])),
            node("Flatten", &["mp"], &["flat"], "flatten"),
            node("Gemm", &["flat", "f1", "f1b"], &["h"], "fc1").with_attr(attr_int("transB", 1)),
            node("Relu", &["h"], &["hr"], "relu_h"),
            node("Gemm", &["hr", "f2"], &["y"], "fc2").with_attr(attr_int("transB", 1)),
        ],
        inits,
        &[("x", &[-1, 3, 8, 8])],
        &[("y", &[-1, 3])],
    )
}

#[test]
fn conv_net_groups_follow_residuals_depthwise_se_concat_and_flatten() {
    let m = cnn();
    let x = [input("x", &[2, 3, 8, 8], 3)];
    let config = ChannelConfig {
        ratio: 0.5,
        ..Default::default()
    };
    let (out, report) = zeroed_equals_pruned(&m, &config, &x, 1e-5);
    let groups: Vec<(String, usize, usize, bool)> = report
        .groups
        .iter()
        .map(|g| {
            (
                g.producers.join("+"),
                g.channels_before,
                g.channels_after,
                g.skipped.is_some(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("conv_a+conv_b+conv_s2".to_string(), 8, 4, false),
            ("conv_s1".to_string(), 2, 1, false),
            ("conv_c".to_string(), 6, 3, false),
            ("conv_e".to_string(), 4, 2, false),
            ("fc1".to_string(), 5, 3, false),
            ("fc2".to_string(), 3, 3, true),
        ]
    );
    // Producers, depthwise, BN, SE bias (folded from its Reshape), consumers, flatten blocks.
    assert_eq!(dims(&out, "wa"), [4, 3, 3, 3]);
    assert_eq!(dims(&out, "ba"), [4]);
    assert_eq!(dims(&out, "bn_a_v"), [4]);
    assert_eq!(dims(&out, "wd"), [4, 1, 3, 3]);
    assert_eq!(dims(&out, "wb"), [4, 4, 1, 1]);
    assert_eq!(dims(&out, "ws1"), [1, 4, 1, 1]);
    assert_eq!(dims(&out, "bs1"), [1, 1, 1, 1]);
    assert_eq!(dims(&out, "ws2"), [4, 1, 1, 1]);
    assert_eq!(dims(&out, "wc"), [3, 4, 1, 1]);
    assert_eq!(dims(&out, "we"), [2, 4, 1, 1]);
    // (3 + 2) channels of 4x4 after pooling.
    assert_eq!(dims(&out, "f1"), [3, 80]);
    assert_eq!(dims(&out, "f2"), [3, 3]);
    let g = out.proto.graph.as_ref().unwrap();
    let dw = g.node.iter().find(|n| n.name() == "dw").unwrap();
    assert_eq!(optimize_onnx::build::attr_i(dw, "group", 0), 4);
    // The SE bias's Reshape of a stored tensor was folded before planning.
    assert_eq!(report.constants_folded, 1);
}

#[test]
fn bn_scale_removes_channels_of_smallest_gamma() {
    let m = cnn();
    let config = ChannelConfig {
        ratio: 0.5,
        criterion: Criterion::BnScale,
        ..Default::default()
    };
    let plan = plan_channels(&m, &config).unwrap();
    let g = &plan.groups()[0];
    // The group of conv_a holds bn_a and bn_d: scores are |γa| + |γd|.
    let ga = values(&m, "bn_a_g");
    let gd = values(&m, "bn_d_g");
    let scores: Vec<f64> = ga
        .iter()
        .zip(&gd)
        .map(|(a, d)| f64::from(a.abs()) + f64::from(d.abs()))
        .collect();
    for (s, i) in scores.iter().zip(&g.importance) {
        assert!((s - i).abs() < 1e-6);
    }
    let mut order: Vec<usize> = (0..8).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    for (c, keep) in g.keep.iter().enumerate() {
        assert_eq!(*keep, !order[..4].contains(&c), "channel {c}");
    }
    // conv_c has no BatchNorm: scored by L1 and said so.
    let (_, report) = plan.apply().unwrap();
    assert!(
        report.notes.iter().any(|n| n.contains("no BatchNorm")),
        "{:?}",
        report.notes
    );
}

#[test]
fn groups_read_in_unknown_ways_are_left_alone_with_the_reason() {
    // fc1 → Shape (reads the channel count); fc2 → Softmax over the features; fc3 → Reshape to
    // a computed shape; fc4 → grouped conv style op it does not know.
    let m = model(
        vec![
            node("MatMul", &["x", "w1"], &["h1"], "fc1"),
            node("Shape", &["h1"], &["s"], "shape"),
            node("MatMul", &["h1", "w2"], &["h2"], "fc2"),
            node("Softmax", &["h2"], &["p"], "softmax").with_attr(attr_int("axis", -1)),
            node("MatMul", &["p", "w3"], &["h3"], "fc3"),
            node("Reshape", &["h3", "s"], &["y"], "reshape"),
        ],
        vec![
            weight("w1", &[4, 4], 1),
            weight("w2", &[4, 4], 2),
            weight("w3", &[4, 4], 3),
        ],
        &[("x", &[1, 4])],
        &[("y", &[1, 4])],
    );
    let plan = plan_channels(&m, &ChannelConfig::default()).unwrap();
    let why: Vec<String> = plan
        .groups()
        .iter()
        .map(|g| g.skipped.clone().unwrap_or_default())
        .collect();
    assert!(why[0].contains("Shape 'shape' reads its shape"), "{why:?}");
    assert!(why[1].contains("normalizes over the channels"), "{why:?}");
    assert!(why[2].contains("computed at run time"), "{why:?}");
    let err = plan.apply().unwrap_err();
    assert!(matches!(err, Error::NothingToPrune { .. }));
    assert!(
        err.to_string()
            .contains("every channel group was left alone"),
        "{err}"
    );
}

#[test]
fn grouped_convolutions_and_excluded_layers_stay() {
    let m = model(
        vec![
            node("Conv", &["x", "w1"], &["a"], "conv1"),
            node("Conv", &["a", "wg"], &["b"], "grouped").with_attr(attr_int("group", 2)),
            node("Conv", &["b", "w3"], &["c"], "conv3"),
            node("Conv", &["c", "w4"], &["y"], "conv4"),
        ],
        vec![
            weight("w1", &[4, 2, 1, 1], 1),
            weight("wg", &[4, 2, 1, 1], 2),
            weight("w3", &[4, 4, 1, 1], 3),
            weight("w4", &[2, 4, 1, 1], 4),
        ],
        &[("x", &[1, 2, 3, 3])],
        &[("y", &[1, 2, 3, 3])],
    );
    let config = ChannelConfig {
        filter: optimize_onnx::filter::NodeFilter {
            exclude_nodes: ["conv3".to_string()].into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let plan = plan_channels(&m, &config).unwrap();
    let why: Vec<String> = plan
        .groups()
        .iter()
        .map(|g| g.skipped.clone().unwrap_or_default())
        .collect();
    assert!(
        why[0].contains("'grouped' is a grouped convolution (group 2)"),
        "{why:?}"
    );
    assert!(
        why[1].contains("'grouped' is a grouped convolution (group 2) whose channels are tied"),
        "{why:?}"
    );
    assert!(why[2].contains("excluded (by name)"), "{why:?}");
    assert!(why[3].contains("graph output"), "{why:?}");
}
