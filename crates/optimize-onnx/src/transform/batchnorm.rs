//! Folding an inference-mode `BatchNormalization`, or an `Add`/`Mul` of a per-channel constant
//! (the bias and scale PaddlePaddle exports beside its Convs), into the `Conv` before it.
//!
//! ```text
//! s = scale / sqrt(var + eps)     W'[o] = W[o] * s[o]     B'[o] = (B[o] - mean[o]) * s[o] + beta[o]
//! ```
//!
//! Float runtimes do this at load, but a quantizer that puts a QuantizeLinear/DequantizeLinear
//! pair on the Conv's output stops them: the BatchNormalization then runs in float between two
//! integer convolutions (PaddleOCR's classifier exports 35 of them). Folded first, the Conv's
//! output is the normalized one, and its int8 weights hold the scale.

use crate::build::{attr_f, read_f32, tensor_f32};
use crate::names::Names;
use crate::proto::{GraphProto, ModelProto, TensorProto};
use std::collections::HashMap;

/// Folds every `BatchNormalization`, and every `Add`/`Mul` of a constant holding one value or one
/// per channel (`[C, 1, 1]`, `[1, C, 1, 1]`), of the main graph into the `Conv` that feeds it
/// (again until none is left), when: the
/// Conv's output is read by that BatchNormalization alone and is not a graph output; the Conv's
/// weight (and bias, if any) and the four statistics are float32 initializers of matching
/// lengths; the BatchNormalization is in inference mode (no running-statistics outputs). The
/// folded weight and bias are new initializers (the old ones are dropped when nothing else reads
/// them); the Conv takes the BatchNormalization's output name, so the graph's outputs and later
/// nodes are unchanged. Returns how many were folded. Call it after
/// [`super::constants_to_initializers`], so weights held in `Constant` nodes are seen.
pub fn fold_batch_norms(model: &mut ModelProto) -> usize {
    let mut names = Names::of(model);
    let Some(g) = model.graph.as_mut() else {
        return 0;
    };
    // A Conv followed by a bias Add and then a BatchNormalization folds one step per round.
    let mut total = 0;
    for _ in 0..4 {
        let n = fold_graph(g, &mut names);
        total += n;
        if n == 0 {
            break;
        }
    }
    total
}

fn fold_graph(g: &mut GraphProto, names: &mut Names) -> usize {
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for n in &g.node {
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            *readers.entry(i.as_str()).or_default() += 1;
        }
    }
    for o in &g.output {
        *readers.entry(o.name()).or_default() += 1;
    }
    let producer: HashMap<&str, usize> = g
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let init: HashMap<&str, &TensorProto> = g.initializer.iter().map(|t| (t.name(), t)).collect();
    let floats = |name: &str| {
        init.get(name)
            .and_then(|t| read_f32(t).map(|v| (v, t.dims.clone())))
    };

    // (conv index, folded node index, new weight, new bias)
    let mut edits: Vec<(usize, usize, TensorProto, TensorProto)> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for (b, bn) in g.node.iter().enumerate() {
        // Add and Mul commute: PaddlePaddle writes `scale * conv(x)` with the constant first.
        let swapped = matches!(bn.op_type(), "Add" | "Mul")
            && bn.input.len() == 2
            && init.contains_key(bn.input[0].as_str())
            && !init.contains_key(bn.input[1].as_str());
        let Some(x) = bn.input.get(usize::from(swapped)).map(String::as_str) else {
            continue;
        };
        // A malformed node with no output has no name for the folded Conv to take.
        if bn.output.is_empty() {
            continue;
        }
        let Some(&c) = producer.get(x) else { continue };
        let conv = &g.node[c];
        if conv.op_type() != "Conv"
            || conv.input.len() < 2
            || readers.get(x) != Some(&1)
            || !taken.insert(c)
        {
            continue;
        }
        let Some((w, wdims)) = floats(&conv.input[1]) else {
            continue;
        };
        let out = wdims.first().copied().unwrap_or(0).max(0) as usize;
        if out == 0 || w.len() % out != 0 {
            continue;
        }
        let Some((s, t)) = affine(bn, usize::from(!swapped), out, &floats) else {
            continue;
        };
        let bias = match conv.input.get(2).filter(|b| !b.is_empty()) {
            Some(name) => match floats(name) {
                Some((v, _)) if v.len() == out => v,
                _ => continue,
            },
            None => vec![0.0; out],
        };
        if s.iter().chain(&t).any(|v| !v.is_finite()) {
            continue;
        }
        let per = w.len() / out;
        let folded_w: Vec<f32> = w.iter().enumerate().map(|(i, v)| v * s[i / per]).collect();
        let folded_b: Vec<f32> = (0..out).map(|o| bias[o] * s[o] + t[o]).collect();
        let wname = names.fresh(&format!("{}_folded", conv.input[1]));
        let bname = names.fresh(&format!("{}_bias_folded", bn.output[0]));
        edits.push((
            c,
            b,
            tensor_f32(&wname, &wdims, &folded_w),
            tensor_f32(&bname, &[out as i64], &folded_b),
        ));
    }
    if edits.is_empty() {
        return 0;
    }
    let mut drop = vec![false; g.node.len()];
    let mut candidates = Vec::new();
    for (c, b, w, bias) in &edits {
        let bn_out = g.node[*b].output[0].clone();
        candidates.extend(g.node[*b].input.iter().cloned());
        let conv = &mut g.node[*c];
        candidates.extend(conv.input[1..].iter().cloned());
        conv.input.truncate(2);
        conv.input[1] = w.name().to_string();
        conv.input.push(bias.name().to_string());
        conv.output[0] = bn_out;
        drop[*b] = true;
    }
    let folded = edits.len();
    g.initializer
        .extend(edits.into_iter().flat_map(|(_, _, w, b)| [w, b]));
    let mut k = 0;
    g.node.retain(|_| {
        k += 1;
        !drop[k - 1]
    });
    // Parameters nothing reads any more.
    let read: std::collections::HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(g.output.iter().map(|o| o.name()))
        .collect();
    let unused: std::collections::HashSet<String> = candidates
        .into_iter()
        .filter(|c| !read.contains(c.as_str()))
        .collect();
    g.initializer.retain(|t| !unused.contains(t.name()));
    g.input.retain(|i| !unused.contains(i.name()));
    folded
}

/// A float32 initializer's values and dims, by name.
type Floats<'a> = dyn Fn(&str) -> Option<(Vec<f32>, Vec<i64>)> + 'a;

/// `node` as `y = s * x + t` per output channel of the Conv feeding it (`out` channels): an
/// inference-mode BatchNormalization, or an Add or Mul of a float32 initializer (input
/// `constant`)
/// holding one value or one per channel (`[C]` only for rank-1 broadcasting is not per channel,
/// so it must be `[C, 1, ..]` or `[1, C, 1, ..]`).
fn affine(
    node: &crate::proto::NodeProto,
    constant: usize,
    out: usize,
    floats: &Floats,
) -> Option<(Vec<f32>, Vec<f32>)> {
    match node.op_type() {
        "BatchNormalization" => {
            if node.input.len() < 5 || node.output.iter().skip(1).any(|o| !o.is_empty()) {
                return None;
            }
            let stats: Vec<Vec<f32>> = node.input[1..5]
                .iter()
                .filter_map(|n| floats(n).map(|(v, _)| v))
                .filter(|v| v.len() == out)
                .collect();
            if stats.len() != 4 {
                return None;
            }
            let eps = attr_f(node, "epsilon", 1e-5);
            let (scale, beta, mean, var) = (&stats[0], &stats[1], &stats[2], &stats[3]);
            let s: Vec<f32> = (0..out).map(|o| scale[o] / (var[o] + eps).sqrt()).collect();
            let t = (0..out).map(|o| beta[o] - mean[o] * s[o]).collect();
            Some((s, t))
        }
        "Add" | "Mul" if node.input.len() == 2 && node.output.len() == 1 => {
            let (values, dims) = floats(&node.input[constant])?;
            let per_channel = match dims.as_slice() {
                [] | [1] => false,
                [c, rest @ ..] | [1, c, rest @ ..]
                    if *c as usize == out && rest.iter().all(|&d| d == 1) && !rest.is_empty() =>
                {
                    true
                }
                _ => return None,
            };
            if !per_channel && values.len() != 1 {
                return None;
            }
            let v = |o: usize| if per_channel { values[o] } else { values[0] };
            Some(if node.op_type() == "Add" {
                (vec![1.0; out], (0..out).map(v).collect())
            } else {
                ((0..out).map(v).collect(), vec![0.0; out])
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{model, node, value_info_f32, WithAttr};

    fn conv_bn(with_bias: bool) -> ModelProto {
        let w: Vec<f32> = (0..2 * 3 * 3).map(|i| i as f32 * 0.1 - 0.5).collect();
        let mut conv_inputs = vec!["x", "w"];
        let mut init = vec![
            tensor_f32("w", &[2, 1, 3, 3], &w),
            tensor_f32("gamma", &[2], &[1.5, 0.5]),
            tensor_f32("beta", &[2], &[0.1, -0.2]),
            tensor_f32("mean", &[2], &[0.3, -0.4]),
            tensor_f32("var", &[2], &[4.0, 0.25]),
        ];
        if with_bias {
            conv_inputs.push("b");
            init.push(tensor_f32("b", &[2], &[0.05, 0.07]));
        }
        let g = GraphProto {
            name: Some("cbn".into()),
            node: vec![
                node("Conv", &conv_inputs, &["c"], "conv"),
                node(
                    "BatchNormalization",
                    &["c", "gamma", "beta", "mean", "var"],
                    &["y"],
                    "bn",
                )
                .with_attr(crate::build::attr_float("epsilon", 1e-3)),
            ],
            input: vec![value_info_f32("x", &[Some(1), Some(1), Some(4), Some(4)])],
            output: vec![value_info_f32("y", &[Some(1), Some(2), Some(2), Some(2)])],
            initializer: init,
            ..Default::default()
        };
        model(g, 13)
    }

    #[test]
    fn a_conv_and_its_batch_norm_become_one_conv() {
        for with_bias in [false, true] {
            let mut m = conv_bn(with_bias);
            assert_eq!(fold_batch_norms(&mut m), 1);
            let g = m.graph.as_ref().unwrap();
            assert_eq!(g.node.len(), 1);
            let conv = &g.node[0];
            assert_eq!(conv.output[0], "y");
            let w = read_f32(
                g.initializer
                    .iter()
                    .find(|t| t.name() == conv.input[1])
                    .unwrap(),
            )
            .unwrap();
            let b = read_f32(
                g.initializer
                    .iter()
                    .find(|t| t.name() == conv.input[2])
                    .unwrap(),
            )
            .unwrap();
            let s0 = 1.5 / (4.0f32 + 1e-3).sqrt();
            assert!((w[1] - (0.1 - 0.5) * s0).abs() < 1e-6, "{w:?}");
            let b0 = if with_bias { 0.05 } else { 0.0 };
            assert!((b[0] - ((b0 - 0.3) * s0 + 0.1)).abs() < 1e-6, "{b:?}");
            // Statistics and the old weight are gone.
            let names: Vec<&str> = g.initializer.iter().map(|t| t.name()).collect();
            assert!(
                !names.contains(&"gamma") && !names.contains(&"w"),
                "{names:?}"
            );
        }
    }

    #[test]
    fn a_conv_output_read_twice_is_left_alone() {
        let mut m = conv_bn(false);
        let g = m.graph.as_mut().unwrap();
        g.output
            .push(value_info_f32("c", &[Some(1), Some(2), Some(2), Some(2)]));
        assert_eq!(fold_batch_norms(&mut m), 0);
    }

    /// PaddlePaddle's export: Conv without bias, then Add of a [1, C, 1, 1] bias, then Mul of a
    /// scalar written constant first (`scale * x`, as PP-LCNetV3's learnable affine blocks): both
    /// fold, over two rounds, into one Conv computing the same values.
    #[test]
    fn bias_add_and_scale_mul_fold_too() {
        let w: Vec<f32> = (0..2 * 9).map(|i| i as f32 * 0.1 - 0.5).collect();
        let g = GraphProto {
            name: Some("paddle".into()),
            node: vec![
                node("Conv", &["x", "w"], &["c"], "conv"),
                node("Add", &["c", "bias"], &["a"], "add"),
                node("Mul", &["two", "a"], &["y"], "mul"),
            ],
            input: vec![value_info_f32("x", &[Some(1), Some(1), Some(4), Some(4)])],
            output: vec![value_info_f32("y", &[Some(1), Some(2), Some(2), Some(2)])],
            initializer: vec![
                tensor_f32("w", &[2, 1, 3, 3], &w),
                tensor_f32("bias", &[1, 2, 1, 1], &[0.25, -0.5]),
                tensor_f32("two", &[], &[2.0]),
            ],
            ..Default::default()
        };
        let mut m = model(g, 13);
        assert_eq!(fold_batch_norms(&mut m), 2);
        let g = m.graph.as_ref().unwrap();
        assert_eq!(g.node.len(), 1);
        let conv = &g.node[0];
        assert_eq!(conv.output[0], "y");
        let get =
            |n: &str| read_f32(g.initializer.iter().find(|t| t.name() == n).unwrap()).unwrap();
        assert_eq!(get(&conv.input[2]), [0.5, -1.0]);
        assert!((get(&conv.input[1])[0] - 2.0 * -0.5).abs() < 1e-6);
        // A bias of the wrong length for the channels is left alone.
        let mut m = model(
            GraphProto {
                node: vec![
                    node("Conv", &["x", "w"], &["c"], "conv"),
                    node("Add", &["c", "bias"], &["y"], "add"),
                ],
                input: vec![value_info_f32("x", &[Some(1), Some(1), Some(4), Some(4)])],
                output: vec![value_info_f32("y", &[Some(1), Some(2), Some(2), Some(2)])],
                initializer: vec![
                    tensor_f32("w", &[2, 1, 3, 3], &w),
                    tensor_f32("bias", &[1, 3, 1, 1], &[0.25, -0.5, 1.0]),
                ],
                ..Default::default()
            },
            13,
        );
        assert_eq!(fold_batch_norms(&mut m), 0);
    }
}
