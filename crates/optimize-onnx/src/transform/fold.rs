//! Folds the constant subgraphs exporters leave in front of weights, so passes see the weight
//! as the initializer it is.
//!
//! Real exports compute some weights at run time from constants: a zero bias from
//! `ConstantOfShape`, a MatMul weight through `Transpose`, `Reshape` or `Unsqueeze` of an
//! initializer, a `Cast` of an int8 or float16 table. Those weights are "not a constant" to a
//! pass that looks for initializers, and a model made of them has "nothing to quantize".
//! [`fold_constant_subgraphs`] evaluates such nodes once, in graph order, when every input is a
//! constant, and replaces each with an initializer of the same name.
//!
//! Folded ops: `ConstantOfShape`, `Identity`, `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`,
//! `Transpose`, and `Cast` between float32, int64 and int32. Left alone: every other op, nodes
//! of other domains, nodes whose output is a graph output, tensors over [`MAX_FOLDED_BYTES`]
//! (folding would copy them), and initializers that IR ≥ 4 models also list as graph inputs
//! (a caller may feed those). Initializers that only fed folded nodes are removed. Only the main
//! graph is folded.

use crate::build::{attr, attr_i, read_f32, read_i64, tensor_f32, tensor_i64};
use crate::dtype::ElemType;
use crate::proto::tensor_proto::DataType;
use crate::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
use std::collections::{HashMap, HashSet};

/// Tensors larger than this are not materialized by folding (1 GiB).
pub const MAX_FOLDED_BYTES: u64 = 1 << 30;

/// Folds constant subgraphs of the main graph (see the module docs). Returns how many nodes
/// were replaced by initializers.
pub fn fold_constant_subgraphs(model: &mut ModelProto) -> usize {
    let ir = model.ir_version.unwrap_or(0);
    let Some(g) = model.graph.as_mut() else {
        return 0;
    };
    fold_graph(g, ir)
}

fn fold_graph(g: &mut GraphProto, ir: i64) -> usize {
    let fed: HashSet<String> = if ir >= 4 {
        g.input.iter().map(|v| v.name().to_string()).collect()
    } else {
        HashSet::new()
    };
    let outputs: HashSet<String> = g.output.iter().map(|v| v.name().to_string()).collect();
    let mut constants: HashMap<String, TensorProto> = g
        .initializer
        .iter()
        .filter(|t| !fed.contains(t.name()))
        .map(|t| (t.name().to_string(), t.clone()))
        .collect();
    let mut folded = 0;
    let mut kept = Vec::with_capacity(g.node.len());
    let mut new_inits = Vec::new();
    let mut consumed: HashSet<String> = HashSet::new();
    for n in std::mem::take(&mut g.node) {
        let foldable = n.domain().is_empty()
            && n.output.len() == 1
            && !outputs.contains(&n.output[0])
            && n.input
                .iter()
                .all(|i| i.is_empty() || constants.contains_key(i));
        let value = if foldable {
            let inputs: Vec<Option<&TensorProto>> = n
                .input
                .iter()
                .map(|i| (!i.is_empty()).then(|| &constants[i]))
                .collect();
            evaluate(&n, &inputs)
        } else {
            None
        };
        match value {
            Some(mut t) => {
                t.name = Some(n.output[0].clone());
                consumed.extend(n.input.iter().filter(|i| !i.is_empty()).cloned());
                constants.insert(n.output[0].clone(), t.clone());
                new_inits.push(t);
                folded += 1;
            }
            None => kept.push(n),
        }
    }
    g.node = kept;
    if folded == 0 {
        return 0;
    }
    // Drop the initializers only folded nodes read (a ConstantOfShape's shape, a transposed
    // weight's original), unless another node, a subgraph or an output still reads them.
    let mut read: HashSet<&str> = outputs.iter().map(String::as_str).collect();
    crate::walk::for_each_graph(g, &mut |sub, _| {
        for n in &sub.node {
            read.extend(n.input.iter().map(String::as_str));
        }
    });
    let read: HashSet<String> = read.into_iter().map(str::to_string).collect();
    let dead = |t: &TensorProto| consumed.contains(t.name()) && !read.contains(t.name());
    g.initializer.retain(|t| !dead(t));
    new_inits.retain(|t| !dead(t));
    g.initializer.extend(new_inits);
    folded
}

/// The value of `n` on constant `inputs` (`None` for an omitted optional input), or `None`
/// when the op is not one this pass folds or its inputs are not what it expects.
fn evaluate(n: &NodeProto, inputs: &[Option<&TensorProto>]) -> Option<TensorProto> {
    let first = || inputs.first().copied().flatten();
    match n.op_type() {
        "Identity" => first().cloned(),
        "ConstantOfShape" => {
            let dims = read_i64(first()?)?;
            let fill = attr(n, "value")
                .and_then(|a| a.t.clone())
                .unwrap_or_else(|| tensor_f32("", &[1], &[0.0]));
            constant_of_shape(&dims, &fill)
        }
        "Reshape" => {
            let data = first()?;
            let shape = read_i64(inputs.get(1).copied().flatten()?)?;
            let allow_zero = attr_i(n, "allowzero", 0) != 0;
            reshaped(data, &reshape_dims(&data.dims, &shape, allow_zero)?)
        }
        "Flatten" => {
            let data = first()?;
            let rank = data.dims.len() as i64;
            let axis = attr_i(n, "axis", 1);
            let axis = usize::try_from(if axis < 0 { axis + rank } else { axis }).ok()?;
            let (a, b) = data.dims.split_at(axis.min(data.dims.len()));
            reshaped(data, &[a.iter().product(), b.iter().product()])
        }
        "Squeeze" | "Unsqueeze" => {
            let data = first()?;
            let axes = match inputs.get(1).copied().flatten() {
                Some(t) => read_i64(t)?,
                None => attr(n, "axes").map(|a| a.ints.clone()).unwrap_or_default(),
            };
            let dims = if n.op_type() == "Squeeze" {
                squeeze_dims(&data.dims, &axes)?
            } else {
                unsqueeze_dims(&data.dims, &axes)?
            };
            reshaped(data, &dims)
        }
        "Transpose" => {
            let data = first()?;
            let rank = data.dims.len();
            let perm: Vec<usize> = match attr(n, "perm") {
                Some(a) => a
                    .ints
                    .iter()
                    .map(|&p| usize::try_from(p).ok())
                    .collect::<Option<_>>()?,
                None => (0..rank).rev().collect(),
            };
            transposed(data, &perm)
        }
        "Cast" => cast(first()?, attr_i(n, "to", 0)),
        _ => None,
    }
}

/// Bytes of one element; `None` for strings and sub-byte types.
fn elem_bytes(e: ElemType) -> Option<usize> {
    e.bits().filter(|b| b % 8 == 0).map(|b| (b / 8) as usize)
}

fn size_ok(dims: &[i64], elem_bytes: u64) -> bool {
    crate::tensor::numel(dims)
        .and_then(|n| n.checked_mul(elem_bytes))
        .is_some_and(|b| b <= MAX_FOLDED_BYTES)
}

fn constant_of_shape(dims: &[i64], fill: &TensorProto) -> Option<TensorProto> {
    let elem = fill.data_type.and_then(ElemType::from_code)?;
    let n = usize::try_from(crate::tensor::numel(dims)?).ok()?;
    if !size_ok(dims, elem_bytes(elem)? as u64) {
        return None;
    }
    let one = match &fill.raw_data {
        Some(raw) => raw.to_vec(),
        None => match elem.data_type() {
            DataType::Float => read_f32(fill)?.first()?.to_le_bytes().to_vec(),
            DataType::Int64 => read_i64(fill)?.first()?.to_le_bytes().to_vec(),
            _ => return None,
        },
    };
    if one.len() != elem_bytes(elem)? {
        return None;
    }
    Some(TensorProto {
        dims: dims.to_vec(),
        data_type: fill.data_type,
        raw_data: Some(one.repeat(n).into()),
        ..Default::default()
    })
}

/// `data` with new dims and the same elements.
fn reshaped(data: &TensorProto, dims: &[i64]) -> Option<TensorProto> {
    if crate::tensor::numel(dims)? != crate::tensor::numel(&data.dims)? {
        return None;
    }
    let mut t = data.clone();
    t.dims = dims.to_vec();
    Some(t)
}

/// ONNX Reshape: 0 copies the input's dim (unless `allow_zero`), -1 is inferred.
fn reshape_dims(input: &[i64], shape: &[i64], allow_zero: bool) -> Option<Vec<i64>> {
    let mut dims: Vec<i64> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| match d {
            0 if !allow_zero => input.get(i).copied(),
            d if d >= -1 => Some(d),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let total = crate::tensor::numel(input)? as i64;
    let unknown: Vec<usize> = (0..dims.len()).filter(|&i| dims[i] == -1).collect();
    match unknown.as_slice() {
        [] => {}
        [i] => {
            let known: i64 = dims.iter().filter(|&&d| d != -1).product();
            if known == 0 || total % known != 0 {
                return None;
            }
            dims[*i] = total / known;
        }
        _ => return None,
    }
    Some(dims)
}

fn normalize_axes(axes: &[i64], rank: usize) -> Option<Vec<usize>> {
    let mut out: Vec<usize> = axes
        .iter()
        .map(|&a| usize::try_from(if a < 0 { a + rank as i64 } else { a }).ok())
        .collect::<Option<_>>()?;
    out.sort_unstable();
    out.dedup();
    (out.len() == axes.len() && out.iter().all(|&a| a < rank)).then_some(out)
}

fn squeeze_dims(dims: &[i64], axes: &[i64]) -> Option<Vec<i64>> {
    if axes.is_empty() {
        return Some(dims.iter().copied().filter(|&d| d != 1).collect());
    }
    let axes = normalize_axes(axes, dims.len())?;
    if axes.iter().any(|&a| dims[a] != 1) {
        return None;
    }
    Some(
        dims.iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect(),
    )
}

fn unsqueeze_dims(dims: &[i64], axes: &[i64]) -> Option<Vec<i64>> {
    let rank = dims.len() + axes.len();
    let axes = normalize_axes(axes, rank)?;
    let mut rest = dims.iter();
    (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                Some(1)
            } else {
                rest.next().copied()
            }
        })
        .collect()
}

/// The tensor's elements as little-endian bytes, whatever field holds them (float32, int64
/// and raw data only).
fn raw_bytes(t: &TensorProto) -> Option<Vec<u8>> {
    if let Some(raw) = &t.raw_data {
        return Some(raw.to_vec());
    }
    match t.data_type.and_then(ElemType::from_code)?.data_type() {
        DataType::Float => Some(read_f32(t)?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DataType::Int64 => Some(read_i64(t)?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        _ => None,
    }
}

fn transposed(data: &TensorProto, perm: &[usize]) -> Option<TensorProto> {
    let rank = data.dims.len();
    let mut seen = perm.to_vec();
    seen.sort_unstable();
    if seen != (0..rank).collect::<Vec<_>>() {
        return None;
    }
    let elem = elem_bytes(data.data_type.and_then(ElemType::from_code)?)?;
    let raw = raw_bytes(data)?;
    let dims: Vec<usize> = data
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    if raw.len() != dims.iter().product::<usize>() * elem {
        return None;
    }
    // Row-major strides of the input; the output walks its own index in order.
    let mut strides = vec![1usize; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1];
    }
    let out_dims: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let total: usize = out_dims.iter().product();
    let mut out = Vec::with_capacity(raw.len());
    let mut index = vec![0usize; rank];
    for _ in 0..total {
        let src: usize = (0..rank).map(|k| index[k] * strides[perm[k]]).sum();
        out.extend_from_slice(&raw[src * elem..(src + 1) * elem]);
        for k in (0..rank).rev() {
            index[k] += 1;
            if index[k] < out_dims[k] {
                break;
            }
            index[k] = 0;
        }
    }
    Some(TensorProto {
        dims: out_dims.iter().map(|&d| d as i64).collect(),
        data_type: data.data_type,
        raw_data: Some(out.into()),
        ..Default::default()
    })
}

fn cast(data: &TensorProto, to: i64) -> Option<TensorProto> {
    let to = DataType::try_from(i32::try_from(to).ok()?).ok()?;
    let values: Vec<f64> = if let Some(v) = read_f32(data) {
        v.into_iter().map(f64::from).collect()
    } else if let Some(v) = read_i64(data) {
        v.into_iter().map(|x| x as f64).collect()
    } else {
        return None;
    };
    let dims = &data.dims;
    match to {
        DataType::Float => {
            let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            Some(tensor_f32("", dims, &v))
        }
        // Float to integer truncates toward zero, as ONNX Cast does.
        DataType::Int64 => {
            let v: Vec<i64> = values.iter().map(|&x| x.trunc() as i64).collect();
            Some(tensor_i64("", dims, &v))
        }
        DataType::Int32 => {
            let v: Vec<i32> = values.iter().map(|&x| x.trunc() as i32).collect();
            Some(crate::build::tensor_i32("", dims, &v))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{attr_ints, model, node, value_info_f32, WithAttr};

    fn graph(nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> ModelProto {
        model(
            GraphProto {
                node: nodes,
                input: vec![value_info_f32("x", &[Some(1), Some(3)])],
                output: vec![value_info_f32("y", &[Some(1), Some(2)])],
                initializer: inits,
                ..Default::default()
            },
            13,
        )
    }

    fn init<'a>(m: &'a ModelProto, name: &str) -> &'a TensorProto {
        let g = m.graph.as_ref().unwrap();
        g.initializer.iter().find(|t| t.name() == name).unwrap()
    }

    /// A MatMul weight stored as its transpose and a zero bias from ConstantOfShape, as
    /// exporters write them: both become plain initializers and the ops feeding them go.
    #[test]
    fn transposed_weight_and_zero_bias_become_initializers() {
        let mut m = graph(
            vec![
                node("Transpose", &["wt"], &["w"], "t").with_attr(attr_ints("perm", &[1, 0])),
                node("ConstantOfShape", &["bias_shape"], &["b"], "zeros"),
                node("MatMul", &["x", "w"], &["xw"], "mm"),
                node("Add", &["xw", "b"], &["y"], "add"),
            ],
            vec![
                tensor_f32("wt", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                tensor_i64("bias_shape", &[1], &[2]),
            ],
        );
        assert_eq!(fold_constant_subgraphs(&mut m), 2);
        let g = m.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(ops, ["MatMul", "Add"]);
        let w = init(&m, "w");
        assert_eq!(w.dims, [3, 2]);
        assert_eq!(read_f32(w).unwrap(), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let b = init(&m, "b");
        assert_eq!(
            (b.dims.as_slice(), read_f32(b).unwrap()),
            (&[2][..], vec![0.0, 0.0])
        );
        // The shape and the transposed original fed only folded nodes: gone.
        let names: Vec<&str> = g.initializer.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["w", "b"]);
    }

    #[test]
    fn chains_fold_in_order_and_runtime_inputs_stop_them() {
        let mut m = graph(
            vec![
                node("Cast", &["w64"], &["wf"], "cast")
                    .with_attr(crate::build::attr_int("to", DataType::Float as i64)),
                node("Reshape", &["wf", "shape"], &["w"], "reshape"),
                node("Unsqueeze", &["x", "axes"], &["xu"], "unsq"),
                node("MatMul", &["x", "w"], &["y"], "mm"),
            ],
            vec![
                tensor_i64("w64", &[6], &[1, 2, 3, 4, 5, 6]),
                tensor_i64("shape", &[2], &[3, -1]),
                tensor_i64("axes", &[1], &[0]),
            ],
        );
        assert_eq!(fold_constant_subgraphs(&mut m), 2);
        let w = init(&m, "w");
        assert_eq!(w.dims, [3, 2]);
        assert_eq!(read_f32(w).unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let g = m.graph.as_ref().unwrap();
        assert!(
            g.node.iter().any(|n| n.op_type() == "Unsqueeze"),
            "x is fed"
        );
        assert!(g.initializer.iter().any(|t| t.name() == "axes"));
    }

    #[test]
    fn fed_initializers_and_graph_outputs_are_left_alone() {
        let mut m = graph(
            vec![node("Identity", &["w"], &["y"], "id")],
            vec![tensor_f32("w", &[1, 2], &[1.0, 2.0])],
        );
        assert_eq!(fold_constant_subgraphs(&mut m), 0, "output of the graph");
        let mut m = graph(
            vec![
                node("Identity", &["x"], &["xi"], "id"),
                node("Identity", &["w"], &["wi"], "id2"),
                node("MatMul", &["xi", "wi"], &["y"], "mm"),
            ],
            vec![tensor_f32("w", &[3, 2], &[0.0; 6])],
        );
        m.graph
            .as_mut()
            .unwrap()
            .input
            .push(value_info_f32("w", &[Some(3), Some(2)]));
        assert_eq!(fold_constant_subgraphs(&mut m), 0, "w can be fed at IR 8");
        m.ir_version = Some(3);
        assert_eq!(
            fold_constant_subgraphs(&mut m),
            1,
            "at IR 3 it is a constant"
        );
    }

    #[test]
    fn shape_rules() {
        assert_eq!(reshape_dims(&[2, 3, 4], &[0, -1], false), Some(vec![2, 12]));
        assert_eq!(reshape_dims(&[2, 3], &[-1, -1], false), None);
        assert_eq!(squeeze_dims(&[1, 3, 1], &[]), Some(vec![3]));
        assert_eq!(squeeze_dims(&[1, 3, 1], &[-1]), Some(vec![1, 3]));
        assert_eq!(squeeze_dims(&[2, 3], &[0]), None);
        assert_eq!(unsqueeze_dims(&[3, 4], &[0, -1]), Some(vec![1, 3, 4, 1]));
    }
}
