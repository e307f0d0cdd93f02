use super::*;
use crate::build::{attr_int, node, WithAttr};
use std::collections::HashSet;

const FLOAT: i32 = DataType::Float as i32;
const INT64: i32 = DataType::Int64 as i32;
const BOOL: i32 = DataType::Bool as i32;

fn n(op: &str, outputs: usize) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        output: (0..outputs).map(|i| format!("o{i}")).collect(),
        ..Default::default()
    }
}

#[test]
fn lookup_by_domain_and_op_type() {
    let conv = lookup("", "Conv").expect("Conv in the default domain");
    assert_eq!(conv.op_type, "Conv");
    assert!(std::ptr::eq(
        conv,
        lookup("ai.onnx", "Conv").expect("ai.onnx")
    ));
    assert!(lookup("", "MyCustomOp").is_none());
    assert!(lookup("", "conv").is_none(), "op types are case-sensitive");
    assert!(lookup("com.microsoft", "Conv").is_none());
    assert!(lookup("ai.onnx.ml", "Gemm").is_none());
    let mut foreign = node("Gemm", &["x", "w"], &["y"], "g");
    foreign.domain = Some("com.example".into());
    assert!(of(&foreign).is_none());
    assert!(of(&node("Gemm", &["x", "w"], &["y"], "g")).is_some());
}

fn weight(op: &str) -> &'static Weight {
    lookup("", op).and_then(|o| o.weight.as_ref()).expect(op)
}

#[test]
fn gemm_axes_follow_trans_b() {
    let w = weight("Gemm");
    // B is [K, N]: output channels (N) on axis 1, the reduction (K) on axis 0.
    let plain = node("Gemm", &["a", "b", "c"], &["y"], "g");
    assert_eq!((w.out_axis.of(&plain, 2), w.in_axis.of(&plain, 2)), (1, 0));
    let explicit = plain.clone().with_attr(attr_int("transB", 0));
    assert_eq!(
        (w.out_axis.of(&explicit, 2), w.in_axis.of(&explicit, 2)),
        (1, 0)
    );
    // transB: B is stored [N, K].
    let trans = plain.with_attr(attr_int("transB", 1));
    assert_eq!((w.out_axis.of(&trans, 2), w.in_axis.of(&trans, 2)), (0, 1));
    assert_eq!((w.input, w.bias), (1, Some(2)));
}

#[test]
fn conv_and_conv_transpose_axes() {
    let x = node("Conv", &["x", "w"], &["y"], "c");
    // Conv W is [O, I/group, kh, kw]; ConvTranspose W is [I, O/group, kh, kw].
    let conv = weight("Conv");
    assert_eq!((conv.out_axis.of(&x, 4), conv.in_axis.of(&x, 4)), (0, 1));
    let tr = weight("ConvTranspose");
    assert_eq!((tr.out_axis.of(&x, 4), tr.in_axis.of(&x, 4)), (1, 0));
    assert_eq!((tr.out_axis.of(&x, 3), tr.in_axis.of(&x, 5)), (1, 0));
    assert!(conv.ranks.contains(&3) && conv.ranks.contains(&5) && !conv.ranks.contains(&2));
    assert_eq!(tr.bias, Some(2));
}

#[test]
fn matmul_axes_count_from_the_end() {
    let w = weight("MatMul");
    let x = node("MatMul", &["x", "w"], &["y"], "m");
    // [K, N] and a batched [B, K, N]: N is last, K second to last.
    assert_eq!((w.out_axis.of(&x, 2), w.in_axis.of(&x, 2)), (1, 0));
    assert_eq!((w.out_axis.of(&x, 3), w.in_axis.of(&x, 3)), (2, 1));
    assert_eq!(w.out_axis.of(&x, 0), 0, "no underflow");
    assert_eq!(w.bias, None);
    assert!(!w.ranks.contains(&3));
}

#[test]
fn every_op_is_listed_once_and_families_are_sorted() {
    let mut seen = HashSet::new();
    for family in FAMILIES {
        for pair in family.windows(2) {
            assert!(
                pair[0].op_type < pair[1].op_type,
                "{} >= {}",
                pair[0].op_type,
                pair[1].op_type
            );
        }
        for op in family.iter() {
            assert!(seen.insert(op.op_type), "{} is in two families", op.op_type);
        }
    }
    assert_eq!(all().count(), seen.len());
}

#[test]
fn roles_need_a_weight_where_they_read_one() {
    for op in all() {
        if matches!(op.quant, QuantRole::Weighted(_)) || op.prune {
            assert!(
                op.weight.is_some(),
                "{} has a weight role but no weight",
                op.op_type
            );
        }
        if let Some(w) = &op.weight {
            assert!(w.bias != Some(w.input), "{}", op.op_type);
            assert!(!w.ranks.is_empty(), "{}", op.op_type);
        }
        if let QuantRole::Calibrated { inputs } = op.quant {
            assert!(inputs > 0, "{}", op.op_type);
        }
    }
}

/// The `T` outputs of the float16 facts and the `T` rules of the output types are one fact
/// written twice (the converter reads the first, type inference the second).
#[test]
fn fp16_output_slots_match_the_output_type_rules() {
    for op in all() {
        let Some(f) = op.fp16 else {
            assert!(
                !op.outputs.iter().any(|r| matches!(r, OutputType::T)),
                "{} has no float16 facts, so no T",
                op.op_type
            );
            continue;
        };
        let rule_is_t =
            |i: usize| matches!(op.outputs.get(i).or(op.outputs.last()), Some(OutputType::T));
        match f.outputs {
            Slots::Float => assert!(
                op.outputs.iter().all(|r| matches!(r, OutputType::T)) && !op.outputs.is_empty(),
                "{}",
                op.op_type
            ),
            Slots::None => assert!((0..4).all(|i| !rule_is_t(i)), "{}", op.op_type),
            Slots::Only(list) => {
                for i in 0..4 {
                    assert_eq!(list.contains(&i), rule_is_t(i), "{} output {i}", op.op_type);
                }
            }
        }
    }
}

#[test]
fn output_types_follow_t_or_are_fixed() {
    let f = Some(FLOAT);
    assert_eq!(output_types(&n("Add", 1), &[f, f]), vec![f]);
    // TopK: Values are T, Indices int64.
    assert_eq!(
        output_types(&n("TopK", 2), &[f, Some(INT64)]),
        vec![f, Some(INT64)]
    );
    assert_eq!(output_types(&n("Less", 1), &[f, f]), vec![Some(BOOL)]);
    // Reshape's T is its data input only; the int64 shape says nothing about it.
    assert_eq!(
        output_types(&n("Reshape", 1), &[None, Some(INT64)]),
        vec![None]
    );
    assert_eq!(output_types(&n("Shape", 1), &[None]), vec![Some(INT64)]);
    // An integer Add stays integer.
    assert_eq!(
        output_types(&n("Add", 1), &[Some(INT64), Some(INT64)]),
        vec![Some(INT64)]
    );
    assert_eq!(output_types(&n("MyCustomOp", 1), &[f]), vec![None]);
    let mut foreign = n("Add", 1);
    foreign.domain = Some("com.example".into());
    assert_eq!(output_types(&foreign, &[f, f]), vec![None]);
}

#[test]
fn output_types_from_attributes() {
    let f16 = DataType::Float16 as i32;
    let cast = n("Cast", 1).with_attr(attr_int("to", i64::from(f16)));
    assert_eq!(output_types(&cast, &[Some(FLOAT)]), vec![Some(f16)]);
    assert_eq!(output_types(&n("Cast", 1), &[Some(FLOAT)]), vec![None]);
    // RandomNormal defaults to float32; Multinomial to int32.
    assert_eq!(output_types(&n("RandomNormal", 1), &[]), vec![Some(FLOAT)]);
    assert_eq!(
        output_types(&n("Multinomial", 1), &[Some(FLOAT)]),
        vec![Some(DataType::Int32 as i32)]
    );
    assert_eq!(
        output_types(&n("EyeLike", 1), &[Some(INT64)]),
        vec![Some(INT64)]
    );
    // Unique: Y is the input's type, indices, inverse_indices and counts are int64.
    assert_eq!(
        output_types(&n("Unique", 4), &[Some(FLOAT)]),
        vec![Some(FLOAT), Some(INT64), Some(INT64), Some(INT64)]
    );
    // LayerNormalization's Mean and InvStdDev: float32 unless stash_type names another type.
    assert_eq!(
        output_types(
            &n("LayerNormalization", 3),
            &[Some(f16), Some(f16), Some(f16)]
        ),
        vec![Some(f16), Some(FLOAT), Some(FLOAT)]
    );
    let stashed = n("LayerNormalization", 3).with_attr(attr_int("stash_type", 11));
    assert_eq!(
        output_types(&stashed, &[Some(f16)]),
        vec![Some(f16), None, None]
    );
    let constant = n("ConstantOfShape", 1);
    assert_eq!(output_types(&constant, &[Some(INT64)]), vec![Some(FLOAT)]);
}

fn render_axis(a: Axis) -> String {
    match a {
        Axis::Fixed(a) => a.to_string(),
        Axis::FromEnd(k) => format!("rank − {k}"),
        Axis::IfAttr { attr, set, unset } => format!("{set} if `{attr}`, else {unset}"),
    }
}

fn render_row(op: &OpInfo) -> String {
    let dash = || "–".to_string();
    let (input, out, inp, bias, ranks) = match &op.weight {
        None => (dash(), dash(), dash(), dash(), dash()),
        Some(w) => (
            format!("{} ({})", w.input, w.layout),
            render_axis(w.out_axis),
            render_axis(w.in_axis),
            w.bias.map_or_else(dash, |b| b.to_string()),
            if w.ranks.start() == w.ranks.end() {
                w.ranks.start().to_string()
            } else {
                format!("{}–{}", w.ranks.start(), w.ranks.end())
            },
        ),
    };
    let quant = match op.quant {
        QuantRole::None => dash(),
        QuantRole::Weighted(form) => format!("weight, dynamic `{}`", form.op_type()),
        QuantRole::PassThrough => "QDQ pass-through".into(),
        QuantRole::Calibrated { inputs: 1 } => "QDQ, calibrated (input 0)".into(),
        QuantRole::Calibrated { inputs: usize::MAX } => "QDQ, calibrated (all inputs)".into(),
        QuantRole::Calibrated { inputs } => format!(
            "QDQ, calibrated (inputs {})",
            (0..inputs)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        QuantRole::DivideByConstant => "QDQ, by a constant: Mul by its reciprocal".into(),
        QuantRole::Folded => "QDQ, folded into the Q before it".into(),
    };
    let prune = if op.prune { "yes".into() } else { dash() };
    let import = match op.import {
        Import::No => dash(),
        Import::Layer(l) => format!("`{l}`"),
        Import::Bias => "bias of the MatMul before it".into(),
        Import::Dropped => "dropped".into(),
    };
    format!(
        "| {} | {input} | {out} | {inp} | {bias} | {ranks} | {quant} | {prune} | {import} |",
        op.op_type
    )
}

/// The rows of the module doc's table whose header starts with `| {first} |`.
fn documented_table(first: &str) -> Vec<String> {
    let source = include_str!("mod.rs");
    let header = format!("//! | {first} |");
    source
        .lines()
        .skip_while(|l| !l.starts_with(&header))
        .skip(2)
        .map_while(|l| l.strip_prefix("//! | "))
        .map(|l| format!("| {l}"))
        .collect()
}

#[test]
fn module_doc_table_matches_the_registry() {
    let mut ops: Vec<&OpInfo> = all()
        .filter(|o| {
            o.weight.is_some() || o.quant != QuantRole::None || o.prune || o.import != Import::No
        })
        .collect();
    ops.sort_by_key(|o| o.op_type);
    let expected: Vec<String> = ops.iter().map(|o| render_row(o)).collect();
    assert_eq!(
        documented_table("op").join("\n"),
        expected.join("\n"),
        "the table in ops/mod.rs's module doc (left) differs from the registry (right)"
    );
    // The second table: why each op has its quantization role.
    let why: Vec<String> = ops
        .iter()
        .filter(|o| o.quant != QuantRole::None)
        .map(|o| format!("| {} | {} |", o.op_type, o.quant_why))
        .collect();
    assert_eq!(
        documented_table("quantized op").join("\n"),
        why.join("\n"),
        "the quantization table in ops/mod.rs's module doc (left) differs from the registry (right)"
    );
    assert!(
        ops.iter()
            .all(|o| (o.quant == QuantRole::None) == o.quant_why.is_empty()),
        "every op with a quantization role says why, and only those"
    );
}
