//! Low-rank factorization on hand-made graphs: at full rank the factored model reproduces the
//! original's outputs (within 1e-4, ONNX Runtime) for MatMul and for Gemm with and without
//! transB, alpha, beta and a bias; layers whose factors would not be smaller are left alone
//! with the numbers.

use crate::graphs::{input, model, run_ort, weight, write};
use optimize_onnx::build::{attr_float, attr_int, node, WithAttr};
use optimize_onnx::Model;
use optimize_prune::low_rank::{factorize, LowRankConfig, RankRule};
use optimize_prune::Error;

fn net() -> Model {
    model(
        vec![
            node("MatMul", &["x", "w1"], &["h1"], "mm"),
            node("Relu", &["h1"], &["r1"], "relu1"),
            node("Gemm", &["r1", "w2", "b2"], &["h2"], "gemm_t")
                .with_attr(attr_int("transB", 1))
                .with_attr(attr_float("alpha", 0.5))
                .with_attr(attr_float("beta", 2.0)),
            node("Relu", &["h2"], &["r2"], "relu2"),
            node("Gemm", &["r2", "w3", "b3"], &["y"], "gemm"),
        ],
        vec![
            weight("w1", &[12, 10], 1),
            weight("w2", &[6, 10], 2),
            weight("b2", &[6], 3),
            weight("w3", &[6, 9], 4),
            weight("b3", &[1, 9], 5),
        ],
        &[("x", &[-1, 12])],
        &[("y", &[-1, 9])],
    )
}

#[test]
fn full_rank_reproduces_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let m = net();
    let config = LowRankConfig {
        rule: RankRule::Rank(1000),
        force: true,
        filter: Default::default(),
    };
    let (out, report) = factorize(&m, &config).unwrap();
    assert_eq!(report.layers.len(), 3);
    let ranks: Vec<_> = report.layers.iter().map(|l| l.rank).collect();
    assert_eq!(ranks, [Some(10), Some(6), Some(6)]);
    let a = write(&m, dir.path(), "a.onnx");
    let b = write(&out, dir.path(), "b.onnx");
    let x = [input("x", &[5, 12], 9)];
    let (ya, yb) = (run_ort(&a, &x), run_ort(&b, &x));
    let (va, vb) = (ya[0].1.to_f64_lossy(), yb[0].1.to_f64_lossy());
    let d = va
        .iter()
        .zip(&vb)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    assert!(d < 1e-4, "full rank differs by {d}");
    // The original weights are gone, the factors are there, in graph order.
    let g = out.proto.graph.as_ref().unwrap();
    assert!(g
        .initializer
        .iter()
        .all(|t| !["w1", "w2", "w3"].contains(&t.name())));
    let ops: Vec<_> = g.node.iter().map(|n| n.op_type()).collect();
    assert_eq!(
        ops,
        ["MatMul", "MatMul", "Relu", "MatMul", "Gemm", "Relu", "MatMul", "Gemm"]
    );
}

#[test]
fn low_rank_saves_parameters_and_skips_layers_it_would_grow() {
    let m = net();
    let config = LowRankConfig {
        rule: RankRule::Rank(2),
        force: false,
        filter: Default::default(),
    };
    let (_, report) = factorize(&m, &config).unwrap();
    // [12, 10] at rank 2: 44 < 120.
    let l = &report.layers[0];
    assert_eq!((l.params_before, l.params_after), (120, 44));
    assert_eq!(l.shape_after, [12, 2, 2, 10]);
    assert!(report.parameters.after < report.parameters.before);

    let config = LowRankConfig {
        rule: RankRule::Rank(4),
        force: false,
        filter: Default::default(),
    };
    let (_, report) = factorize(&m, &config).unwrap();
    // [12, 10] at rank 4 keeps 88 < 120; [10 -> 6] keeps 64 ≥ 60: left alone, with the numbers.
    assert_eq!(report.layers.len(), 1);
    let s = report.skipped.iter().find(|s| s.node == "gemm_t").unwrap();
    assert!(
        s.reason.contains("64") && s.reason.contains("60"),
        "{}",
        s.reason
    );

    let config = LowRankConfig {
        rule: RankRule::Energy(1.0),
        force: false,
        filter: Default::default(),
    };
    let err = factorize(&m, &config).unwrap_err();
    assert!(matches!(err, Error::NothingToPrune { .. }), "{err}");
    assert!(err.to_string().contains("not fewer than"), "{err}");
}

#[test]
fn ir3_models_list_the_factors_as_inputs() {
    // Before IR 4 every initializer must also be a graph input.
    let mut m = net();
    m.proto.ir_version = Some(3);
    let g = m.proto.graph.as_mut().unwrap();
    let listed: Vec<_> = g
        .initializer
        .iter()
        .map(optimize_prune::weights::as_input)
        .collect();
    g.input.extend(listed);
    let config = LowRankConfig {
        rule: RankRule::Rank(2),
        force: false,
        filter: Default::default(),
    };
    let (out, _) = factorize(&m, &config).unwrap();
    let g = out.proto.graph.as_ref().unwrap();
    for t in &g.initializer {
        assert!(
            g.input.iter().any(|i| i.name() == t.name()),
            "{} is not a graph input",
            t.name()
        );
    }
    assert!(
        g.input.iter().all(|i| i.name() != "w1"),
        "the replaced weight is gone"
    );
}
