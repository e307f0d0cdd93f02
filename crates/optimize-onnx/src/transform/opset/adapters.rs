//! One function per op whose meaning or signature changed between two `ai.onnx` opsets.
//!
//! An adapter takes a node as it was valid in the opset before a version step and makes it mean
//! the same in the opset of that step: it may edit the node, add nodes before or after it, and add
//! constants (initializers of the main graph, which every subgraph can read). When it cannot keep
//! the meaning it returns why, and the pass refuses the model. Adapters work on a copy of the node,
//! so a refusal leaves nothing half done.
//!
//! Each adapter's doc comment quotes the spec change it answers; `opset.rs` lists which version
//! step calls which adapter.

use super::facts::Facts;
use crate::build::{
    attr, attr_i, attr_int, attr_str, attr_string, node as make_node, read_f32, tensor_f32,
    tensor_i64, tensor_raw,
};
use crate::names::Names;
use crate::proto::tensor_proto::DataType;
use crate::proto::{AttributeProto, NodeProto, TensorProto};

/// What the pass knows and collects while it rewrites.
pub struct Ctx {
    /// The opset the model is being moved to (adapters for earlier steps may use it to emit the
    /// exact form a later opset allows).
    pub target: i64,
    /// Every name in use, for new tensors and nodes.
    pub names: Names,
    /// Element types, ranks and small constants of the original model.
    pub facts: Facts,
    /// Constants added so far, for the main graph.
    pub initializers: Vec<TensorProto>,
}

impl Ctx {
    /// Adds `t` as a main-graph initializer under a fresh name built from `base`; returns the name.
    fn constant(&mut self, base: &str, mut t: TensorProto) -> String {
        let name = self.names.fresh(base);
        t.name = Some(name.clone());
        self.initializers.push(t);
        name
    }

    /// A constant of the element type `elem` (float16, float or double) holding `value`.
    fn float_constant(&mut self, base: &str, elem: i32, value: f32) -> Result<String, String> {
        let t = match DataType::try_from(elem) {
            Ok(DataType::Float) => tensor_f32("", &[], &[value]),
            Ok(DataType::Float16) => {
                let raw = half::f16::from_f32(value).to_le_bytes().to_vec();
                tensor_raw("", DataType::Float16, &[], raw)
            }
            Ok(DataType::Double) => {
                let raw = f64::from(value).to_le_bytes().to_vec();
                tensor_raw("", DataType::Double, &[], raw)
            }
            _ => {
                let ty = crate::ElemType::from_code(elem).map_or("unknown", |e| e.name());
                return Err(format!(
                    "input is {ty}; the opset before 11 only defined float types"
                ));
            }
        };
        Ok(self.constant(base, t))
    }
}

/// The result of adapting one node.
#[derive(Debug, Default)]
pub struct Edit {
    /// Nodes to insert before the adapted node.
    pub before: Vec<NodeProto>,
    /// Nodes to insert after it.
    pub after: Vec<NodeProto>,
    /// Whether anything changed (the node, or nodes added).
    pub changed: bool,
}

impl Edit {
    fn unchanged() -> Result<Edit, String> {
        Ok(Edit::default())
    }

    fn changed() -> Result<Edit, String> {
        Ok(Edit {
            changed: true,
            ..Edit::default()
        })
    }
}

/// An adapter: makes `node` mean in the new opset what it meant in the old one, or says why not.
pub type Adapter = fn(&mut Ctx, &mut NodeProto) -> Result<Edit, String>;

/// A base for names derived from `node`: its name, else its first output.
fn stem(node: &NodeProto) -> String {
    if !node.name().is_empty() {
        return node.name().to_string();
    }
    node.output
        .first()
        .filter(|o| !o.is_empty())
        .cloned()
        .unwrap_or_else(|| node.op_type().to_string())
}

fn take_attr(node: &mut NodeProto, name: &str) -> Option<AttributeProto> {
    let i = node.attribute.iter().position(|a| a.name() == name)?;
    Some(node.attribute.remove(i))
}

fn set_attr(node: &mut NodeProto, value: AttributeProto) {
    match node.attribute.iter_mut().find(|a| a.name == value.name) {
        Some(a) => *a = value,
        None => node.attribute.push(value),
    }
}

fn expect_inputs(node: &NodeProto, n: usize) -> Result<(), String> {
    if node.input.len() == n && node.input.iter().all(|i| !i.is_empty()) {
        return Ok(());
    }
    Err(format!(
        "expected {n} input(s) for the old opset, found {:?}",
        node.input
    ))
}

/// Sets input `index`, filling skipped optional inputs with `""`.
fn set_input(node: &mut NodeProto, index: usize, name: String) {
    if node.input.len() <= index {
        node.input.resize(index + 1, String::new());
    }
    node.input[index] = name;
}

fn trim_trailing_empty_inputs(node: &mut NodeProto) {
    while node.input.last().is_some_and(|i| i.is_empty()) {
        node.input.pop();
    }
}

/// `axes` attribute to an int64 input (Squeeze, Unsqueeze, ReduceSum at 13; the other Reduce ops
/// at 18). Without the attribute the node is left as it is: Squeeze then removes every 1-sized
/// axis and a Reduce op reduces over all axes (`noop_with_empty_axes` defaults to 0), as before.
/// Unsqueeze always had `axes`.
pub fn axes_to_input(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 1)?;
    let unsqueeze = node.op_type() == "Unsqueeze";
    let Some(axes) = take_attr(node, "axes").map(|a| a.ints) else {
        if unsqueeze {
            return Err("has no 'axes' attribute, which Unsqueeze requires".into());
        }
        return Edit::unchanged();
    };
    if axes.is_empty() {
        // An empty list meant "all axes", the same as no list, for Squeeze and the Reduce ops.
        if unsqueeze {
            return Err("has an empty 'axes' attribute".into());
        }
        return Edit::changed();
    }
    let t = tensor_i64("", &[axes.len() as i64], &axes);
    let name = ctx.constant(&format!("{}_axes", stem(node)), t);
    node.input.push(name);
    Edit::changed()
}

/// Split at 13: the `split` attribute (sizes of the outputs) became an optional int64 input.
pub fn split_to_input(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 1)?;
    let Some(split) = take_attr(node, "split").map(|a| a.ints) else {
        return Edit::unchanged();
    };
    if !split.is_empty() {
        let t = tensor_i64("", &[split.len() as i64], &split);
        let name = ctx.constant(&format!("{}_split", stem(node)), t);
        node.input.push(name);
    }
    Edit::changed()
}

/// Split at 18: with neither a `split` input nor the new `num_outputs` attribute the node no
/// longer says how many parts to make; before, it split into as many equal parts as it had
/// outputs, which is what `num_outputs` = number of outputs says.
pub fn split_num_outputs(_: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    let has_split = node.input.get(1).is_some_and(|s| !s.is_empty());
    if has_split || attr(node, "num_outputs").is_some() {
        return Edit::unchanged();
    }
    let n = node.output.len() as i64;
    node.attribute.push(attr_int("num_outputs", n));
    Edit::changed()
}

/// Softmax, LogSoftmax and Hardmax at 13. Before, the input was coerced to 2-D at `axis`
/// (default 1): `[d0*..*d(axis-1), d(axis)*..*d(n-1)]`, and the op worked along the second
/// dimension of that. From 13 it works along the single axis `axis` (default -1).
///
/// The two agree when `axis` is the last axis. That is certain for `axis = -1`, and for a
/// non-negative axis when the input's rank is bound (a graph input with a declared shape, an
/// initializer, a constant); otherwise the old meaning is spelled out:
/// `Reshape(Op(Flatten(x, axis), axis=-1), Shape(x))`.
pub fn softmax_axis(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 1)?;
    let axis = attr_i(node, "axis", 1);
    let x = node.input[0].clone();
    let last = match ctx.facts.rank(&x) {
        _ if axis == -1 => true,
        Some(rank) => {
            let rank = rank as i64;
            (if axis < 0 { axis + rank } else { axis }) == rank - 1
        }
        None => false,
    };
    if last {
        if attr(node, "axis").is_some() {
            return Edit::unchanged();
        }
        // Rank 2 and the old default axis 1: the new default (-1) is the same axis, but say so.
        set_attr(node, attr_int("axis", 1));
        return Edit::changed();
    }
    let base = stem(node);
    let y = node.output[0].clone();
    let shape = ctx.names.fresh(&format!("{base}_shape"));
    let flat = ctx.names.fresh(&format!("{base}_2d"));
    let out_2d = ctx.names.fresh(&format!("{base}_out_2d"));
    let shape_node = make_node(
        "Shape",
        &[&x],
        &[&shape],
        &ctx.names.fresh(&format!("{base}_Shape")),
    );
    let flatten = make_node(
        "Flatten",
        &[&x],
        &[&flat],
        &ctx.names.fresh(&format!("{base}_Flatten")),
    )
    .with_axis(axis);
    let mut reshape = make_node(
        "Reshape",
        &[&out_2d, &shape],
        &[&y],
        &ctx.names.fresh(&format!("{base}_Reshape")),
    );
    if ctx.target >= 14 {
        // Shape(x) holds real sizes: a 0 in it is an empty axis, not "copy this axis".
        reshape.attribute.push(attr_int("allowzero", 1));
    }
    node.input[0] = flat;
    node.output[0] = out_2d;
    set_attr(node, attr_int("axis", -1));
    Ok(Edit {
        before: vec![shape_node, flatten],
        after: vec![reshape],
        changed: true,
    })
}

trait WithAxis {
    fn with_axis(self, axis: i64) -> Self;
}

impl WithAxis for NodeProto {
    fn with_axis(mut self, axis: i64) -> Self {
        self.attribute.push(attr_int("axis", axis));
        self
    }
}

/// Dropout at 12: the `ratio` attribute became an optional float input. At inference (no
/// `training_mode` input) Dropout is the identity either way; the ratio is kept so training
/// runtimes see the same model.
///
/// Refused: nodes that use the `mask` output. Opset 12 defines it as all true at inference;
/// earlier opsets left it open, and ONNX Runtime's opset-10 kernel returns all false.
pub fn dropout_ratio(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 1)?;
    if node.output.get(1).is_some_and(|m| !m.is_empty()) {
        return Err(
            "uses the 'mask' output, which opset 12 defines as all true at inference; \
                    earlier opsets left it open (ONNX Runtime returns all false)"
                .into(),
        );
    }
    let Some(ratio) = take_attr(node, "ratio") else {
        return Edit::unchanged();
    };
    let value = ratio.f.unwrap_or(0.5);
    let name = ctx.constant(
        &format!("{}_ratio", stem(node)),
        tensor_f32("", &[], &[value]),
    );
    node.input.push(name);
    Edit::changed()
}

/// Clip at 11: the `min` and `max` attributes (floats) became optional inputs of the input's own
/// type. The bounds are written in the input's element type when the model tells it, else as
/// float32 (the only type ONNX Runtime's Clip-6 kernel runs on; a wrong guess makes the model
/// fail type checking, it never computes something else).
pub fn clip_bounds(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 1)?;
    let min = take_attr(node, "min");
    let max = take_attr(node, "max");
    if min.is_none() && max.is_none() {
        return Edit::unchanged();
    }
    let elem = ctx
        .facts
        .elem_type(&node.input[0])
        .unwrap_or(DataType::Float as i32);
    let base = stem(node);
    if let Some(v) = min.and_then(|a| a.f) {
        let name = ctx.float_constant(&format!("{base}_min"), elem, v)?;
        set_input(node, 1, name);
    }
    if let Some(v) = max.and_then(|a| a.f) {
        let name = ctx.float_constant(&format!("{base}_max"), elem, v)?;
        set_input(node, 2, name);
    }
    trim_trailing_empty_inputs(node);
    Edit::changed()
}

/// Pad at 11: `pads` (required) became an int64 input and `value` (default 0) the optional
/// `constant_value` input of the data's type. A zero value needs no input (0 is the default);
/// others are written in the data's element type, or float32 when unknown, as for Clip.
pub fn pad_inputs(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 1)?;
    let pads = take_attr(node, "pads")
        .map(|a| a.ints)
        .ok_or("has no 'pads' attribute, which Pad-2 requires")?;
    let value = take_attr(node, "value").and_then(|a| a.f).unwrap_or(0.0);
    let base = stem(node);
    let pads_name = ctx.constant(
        &format!("{base}_pads"),
        tensor_i64("", &[pads.len() as i64], &pads),
    );
    node.input.push(pads_name);
    let constant_mode = attr_str(node, "mode").is_none_or(|m| m == "constant");
    // Compare bits: -0.0 pads with -0.0, which the default (+0.0) would not.
    if constant_mode && value.to_bits() != 0 {
        let elem = ctx
            .facts
            .elem_type(&node.input[0])
            .unwrap_or(DataType::Float as i32);
        let name = ctx.float_constant(&format!("{base}_value"), elem, value)?;
        node.input.push(name);
    }
    Edit::changed()
}

/// Slice at 10: `starts`, `ends` and the optional `axes` attributes became int64 inputs (and an
/// optional `steps` input was added, default 1: the old behaviour).
pub fn slice_inputs(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 1)?;
    let starts = take_attr(node, "starts").map(|a| a.ints);
    let ends = take_attr(node, "ends").map(|a| a.ints);
    let (Some(starts), Some(ends)) = (starts, ends) else {
        return Err("has no 'starts' or 'ends' attribute, which Slice-1 requires".into());
    };
    let axes = take_attr(node, "axes").map(|a| a.ints);
    let base = stem(node);
    for (what, values) in [
        ("starts", Some(starts)),
        ("ends", Some(ends)),
        ("axes", axes),
    ] {
        if let Some(v) = values {
            let t = tensor_i64("", &[v.len() as i64], &v);
            let name = ctx.constant(&format!("{base}_{what}"), t);
            node.input.push(name);
        }
    }
    Edit::changed()
}

/// TopK at 10: the `k` attribute became the input `K`, an int64 tensor of shape [1].
pub fn topk_input(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 1)?;
    let k = take_attr(node, "k")
        .and_then(|a| a.i)
        .ok_or("has no 'k' attribute, which TopK-1 requires")?;
    let name = ctx.constant(&format!("{}_k", stem(node)), tensor_i64("", &[1], &[k]));
    node.input.push(name);
    Edit::changed()
}

/// Dropout at 10: the `mask` output changed type from the input's type to bool. A mask that
/// nothing reads is dropped (exporters name it anyway); nodes whose mask is read are refused.
pub fn dropout_mask_type(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    match node.output.get(1) {
        Some(m) if !m.is_empty() && ctx.facts.is_read(m) => {
            Err("uses the 'mask' output, whose type opset 10 changed to bool".into())
        }
        Some(_) => {
            node.output.truncate(1);
            Edit::changed()
        }
        None => Edit::unchanged(),
    }
}

/// Upsample at 10: deprecated; Resize-10 has the same inputs, `mode` and meaning.
pub fn upsample_to_resize(_: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    node.op_type = Some("Resize".into());
    Edit::changed()
}

/// Resize from opset 10, and Upsample (deprecated since 10, same meaning), to Resize-11.
///
/// Resize-10 mapped an output coordinate to `x_resized / scale` (what Resize-11 calls
/// "asymmetric"); Resize-11 defaults to "half_pixel" and rounds nearest neighbours with
/// "round_prefer_floor", so both are set explicitly, nearest rounding to "floor" (Upsample's
/// repeat semantics). Resize-11 also takes a `roi` input before `scales`; an empty one is given.
///
/// Refused: nearest mode that may down-sample (a scale below 1, or scales computed at run time).
/// Opset 10 did not define how down-sampled positions round, and runtimes differ (ONNX Runtime's
/// opset-10 kernel rounds them up), so no Resize-11 mode is certain to keep the meaning.
pub fn resize_from_10(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    expect_inputs(node, 2)?;
    let mode = attr_str(node, "mode").unwrap_or("nearest").to_string();
    match mode.as_str() {
        "nearest" => {
            let scales = ctx
                .facts
                .constant(&node.input[1])
                .filter(|t| t.dims.len() == 1)
                .and_then(|t| read_f32(t).filter(|v| v.len() as i64 == t.dims[0]));
            let Some(scales) = scales else {
                return Err(
                    "nearest mode with scales that are not a constant: opset 10 left the \
                     rounding of down-sampled positions undefined, so only constant scales >= 1 \
                     can be converted"
                        .into(),
                );
            };
            if scales.iter().any(|s| s.is_nan() || *s < 1.0) {
                return Err(format!(
                    "nearest mode down-samples (scales {scales:?}): opset 10 left the rounding \
                     of down-sampled positions undefined (ONNX Runtime rounds up)"
                ));
            }
            set_attr(
                node,
                attr_string("coordinate_transformation_mode", "asymmetric"),
            );
            set_attr(node, attr_string("nearest_mode", "floor"));
        }
        "linear" => set_attr(
            node,
            attr_string("coordinate_transformation_mode", "asymmetric"),
        ),
        other => return Err(format!("unknown mode '{other}'")),
    }
    let roi = ctx.constant(&format!("{}_roi", stem(node)), tensor_f32("", &[0], &[]));
    node.input.insert(1, roi);
    node.op_type = Some("Resize".into());
    Edit::changed()
}

/// Resize at 13: the coordinate mode "tf_half_pixel_for_nn" (`x_original = (x_resized + 0.5) /
/// scale`) was removed. For nearest mode it equals "half_pixel" (`(x_resized + 0.5) / scale -
/// 0.5`) with the rounding shifted by half a pixel: floor(v + 0.5) is round_prefer_ceil(v) and
/// round_prefer_floor(v + 0.5) is ceil(v). The other roundings, and other modes, have no
/// equivalent and are refused.
pub fn resize_tf_half_pixel(_: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    if attr_str(node, "coordinate_transformation_mode") != Some("tf_half_pixel_for_nn") {
        return Edit::unchanged();
    }
    let mode = attr_str(node, "mode").unwrap_or("nearest");
    if mode != "nearest" {
        return Err(format!(
            "coordinate_transformation_mode 'tf_half_pixel_for_nn' with mode '{mode}' was \
             removed in opset 13 and has no equivalent"
        ));
    }
    let rounding = match attr_str(node, "nearest_mode").unwrap_or("round_prefer_floor") {
        "floor" => "round_prefer_ceil",
        "round_prefer_floor" => "ceil",
        other => {
            return Err(format!(
                "coordinate_transformation_mode 'tf_half_pixel_for_nn' with nearest_mode \
                 '{other}' was removed in opset 13 and has no equivalent"
            ))
        }
    };
    set_attr(
        node,
        attr_string("coordinate_transformation_mode", "half_pixel"),
    );
    set_attr(node, attr_string("nearest_mode", rounding));
    Edit::changed()
}

/// Scatter at 11: deprecated in favour of ScatterElements, which has the same inputs, `axis` and
/// meaning.
pub fn scatter_elements(_: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    node.op_type = Some("ScatterElements".into());
    Edit::changed()
}

/// ConvTranspose at 11: the spec swapped which side of an odd total padding `SAME_UPPER` pads
/// more. Runtimes did not follow the old text uniformly, so no rewrite is certain to keep what a
/// model computed; nodes with `auto_pad` SAME_UPPER/SAME_LOWER are refused (explicit `pads` are
/// unaffected).
pub fn conv_transpose_same_pad(_: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    match attr_str(node, "auto_pad") {
        Some(p @ ("SAME_UPPER" | "SAME_LOWER")) => Err(format!(
            "auto_pad {p}: opset 11 swapped the side that gets the extra padding; give explicit \
             'pads' instead"
        )),
        _ => Edit::unchanged(),
    }
}

/// Erf at 13: integer inputs were dropped. Refused when the input is known to be an integer.
pub fn erf_float_only(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    let elem = node.input.first().and_then(|x| ctx.facts.elem_type(x));
    match elem.and_then(crate::ElemType::from_code) {
        Some(e) if !is_float(e.data_type()) => Err(format!(
            "input is {}; opset 13 defines Erf for floating-point types only",
            e.name()
        )),
        _ => Edit::unchanged(),
    }
}

fn is_float(dt: DataType) -> bool {
    matches!(
        dt,
        DataType::Float | DataType::Float16 | DataType::Double | DataType::Bfloat16
    )
}

/// BatchNormalization at 14: the optional outputs were redefined (running mean and variance,
/// only in training mode; the saved mean and variance were removed). Nodes using any output but
/// Y are training graphs and are refused.
pub fn batch_norm_outputs(_: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(
            "uses the mean/variance outputs, which opset 14 redefined (training mode only)".into(),
        );
    }
    Edit::unchanged()
}

/// RoiAlign at 16: the new `coordinate_transformation_mode` defaults to "half_pixel"; the old
/// behaviour is "output_half_pixel", written explicitly.
pub fn roi_align_mode(_: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    if attr(node, "coordinate_transformation_mode").is_some() {
        return Edit::unchanged();
    }
    node.attribute.push(attr_string(
        "coordinate_transformation_mode",
        "output_half_pixel",
    ));
    Edit::changed()
}

/// QuantizeLinear at 19: `y_scale` must now have the input's type; int32 inputs (with a float
/// scale) no longer type-check and are refused when known.
pub fn quantize_int32_input(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    let elem = node.input.first().and_then(|x| ctx.facts.elem_type(x));
    if elem == Some(DataType::Int32 as i32) {
        return Err("int32 input: from opset 19 y_scale must have the input's type".into());
    }
    Edit::unchanged()
}

/// DFT at 20: the `axis` attribute (default 1) became an optional int64 input (default -2); it
/// is always written, since the defaults differ.
pub fn dft_axis(ctx: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    let axis = take_attr(node, "axis").and_then(|a| a.i).unwrap_or(1);
    let name = ctx.constant(
        &format!("{}_axis", stem(node)),
        tensor_i64("", &[], &[axis]),
    );
    set_input(node, 2, name);
    Edit::changed()
}

/// GridSample at 20: modes renamed, "bilinear" to "linear" and "bicubic" to "cubic" (the default
/// is the same mode under its new name).
pub fn grid_sample_modes(_: &mut Ctx, node: &mut NodeProto) -> Result<Edit, String> {
    let renamed = match attr_str(node, "mode") {
        Some("bilinear") => "linear",
        Some("bicubic") => "cubic",
        _ => return Edit::unchanged(),
    };
    set_attr(node, attr_string("mode", renamed));
    Edit::changed()
}

/// GroupNormalization at 21: `scale` and `bias` are per channel instead of per group. Spelling
/// that out needs the channel count; refused.
pub fn group_norm_per_channel(_: &mut Ctx, _: &mut NodeProto) -> Result<Edit, String> {
    Err("opset 21 takes scale and bias per channel instead of per group".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{node, read_i64, WithAttr};
    use crate::proto::type_proto::{Tensor, Value as TypeValue};
    use crate::proto::{
        tensor_shape_proto, GraphProto, ModelProto, TensorShapeProto, TypeProto, ValueInfoProto,
    };

    fn ctx_for(g: GraphProto, target: i64) -> Ctx {
        let model = ModelProto {
            graph: Some(g),
            ..Default::default()
        };
        Ctx {
            target,
            names: Names::of(&model),
            facts: Facts::of(&model),
            initializers: Vec::new(),
        }
    }

    fn ctx() -> Ctx {
        ctx_for(GraphProto::default(), 13)
    }

    fn input(name: &str, elem: DataType, rank: usize) -> ValueInfoProto {
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(TypeValue::TensorType(Tensor {
                    elem_type: Some(elem as i32),
                    shape: Some(TensorShapeProto {
                        dim: vec![tensor_shape_proto::Dimension::default(); rank],
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        crate::build::attr_ints(name, v)
    }

    fn float(name: &str, v: f32) -> AttributeProto {
        crate::build::attr_float(name, v)
    }

    fn init<'a>(ctx: &'a Ctx, name: &str) -> &'a TensorProto {
        ctx.initializers
            .iter()
            .find(|t| t.name() == name)
            .unwrap_or_else(|| panic!("no initializer {name}"))
    }

    #[test]
    fn axes_attribute_becomes_an_input() {
        let mut c = ctx();
        let mut sq = node("Squeeze", &["x"], &["y"], "sq").with_attr(ints("axes", &[0, -1]));
        assert!(axes_to_input(&mut c, &mut sq).unwrap().changed);
        assert_eq!(sq.input, ["x", "sq_axes"]);
        assert!(sq.attribute.is_empty());
        assert_eq!(read_i64(init(&c, "sq_axes")), Some(vec![0, -1]));
        assert_eq!(init(&c, "sq_axes").dims, [2]);

        // No axes: Squeeze of all 1-sized axes, and reduce-all, stay as they are.
        let mut sq = node("Squeeze", &["x"], &["y2"], "sq2");
        assert!(!axes_to_input(&mut c, &mut sq).unwrap().changed);
        assert_eq!(sq.input, ["x"]);
        let mut rs = node("ReduceSum", &["x"], &["s"], "rs").with_attr(attr_int("keepdims", 0));
        assert!(!axes_to_input(&mut c, &mut rs).unwrap().changed);
        assert_eq!(rs.input, ["x"]);
        assert_eq!(attr_i(&rs, "keepdims", 1), 0, "keepdims kept");

        let mut rs = node("ReduceSum", &["x"], &["s2"], "")
            .with_attr(ints("axes", &[1]))
            .with_attr(attr_int("keepdims", 0));
        axes_to_input(&mut c, &mut rs).unwrap();
        assert_eq!(
            rs.input,
            ["x", "s2_axes"],
            "unnamed node: named after its output"
        );
        assert_eq!(attr_i(&rs, "keepdims", 1), 0);

        let mut us = node("Unsqueeze", &["x"], &["u"], "us");
        let err = axes_to_input(&mut c, &mut us).unwrap_err();
        assert!(err.contains("axes"), "{err}");
    }

    #[test]
    fn new_names_never_collide() {
        let g = GraphProto {
            node: vec![node("Identity", &["a"], &["sq_axes"], "sq_axes")],
            ..Default::default()
        };
        let mut c = ctx_for(g, 13);
        let mut sq = node("Squeeze", &["x"], &["y"], "sq").with_attr(ints("axes", &[0]));
        axes_to_input(&mut c, &mut sq).unwrap();
        assert_eq!(sq.input[1], "sq_axes_1");
    }

    #[test]
    fn split_sizes_become_an_input_and_num_outputs_at_18() {
        let mut c = ctx();
        let mut s = node("Split", &["x"], &["a", "b"], "s")
            .with_attr(ints("split", &[2, 3]))
            .with_attr(attr_int("axis", 1));
        assert!(split_to_input(&mut c, &mut s).unwrap().changed);
        assert_eq!(s.input, ["x", "s_split"]);
        assert_eq!(read_i64(init(&c, "s_split")), Some(vec![2, 3]));
        assert_eq!(attr_i(&s, "axis", 0), 1);
        assert!(!split_num_outputs(&mut c, &mut s).unwrap().changed);

        let mut even = node("Split", &["x"], &["a", "b", "c"], "even");
        assert!(!split_to_input(&mut c, &mut even).unwrap().changed);
        assert!(split_num_outputs(&mut c, &mut even).unwrap().changed);
        assert_eq!(attr_i(&even, "num_outputs", 0), 3);
        assert_eq!(even.input, ["x"]);
    }

    #[test]
    fn softmax_is_kept_only_on_a_provably_last_axis() {
        let g = GraphProto {
            input: vec![
                input("x3", DataType::Float, 3),
                input("x2", DataType::Float, 2),
            ],
            ..Default::default()
        };
        let mut c = ctx_for(g, 13);
        let mut last = node("Softmax", &["any"], &["y"], "a").with_attr(attr_int("axis", -1));
        assert!(!softmax_axis(&mut c, &mut last).unwrap().changed);
        let mut last = node("Softmax", &["x3"], &["y"], "b").with_attr(attr_int("axis", 2));
        assert!(!softmax_axis(&mut c, &mut last).unwrap().changed);
        let mut default_on_2d = node("LogSoftmax", &["x2"], &["y"], "c");
        assert!(softmax_axis(&mut c, &mut default_on_2d).unwrap().changed);
        assert_eq!(
            attr_i(&default_on_2d, "axis", -1),
            1,
            "old default made explicit"
        );
        assert!(c.initializers.is_empty());
    }

    #[test]
    fn softmax_on_an_inner_axis_is_spelled_out() {
        let g = GraphProto {
            input: vec![input("x", DataType::Float, 3)],
            ..Default::default()
        };
        for (target, allowzero) in [(13, None), (14, Some(1))] {
            let mut c = ctx_for(g.clone(), target);
            let mut sm = node("Softmax", &["x"], &["y"], "sm").with_attr(attr_int("axis", 1));
            let edit = softmax_axis(&mut c, &mut sm).unwrap();
            let ops: Vec<&str> = edit.before.iter().map(|n| n.op_type()).collect();
            assert_eq!(ops, ["Shape", "Flatten"]);
            let (shape, flatten) = (&edit.before[0], &edit.before[1]);
            assert_eq!(
                (shape.input.as_slice(), flatten.input.as_slice()),
                (&["x".to_string()][..], &["x".to_string()][..])
            );
            assert_eq!(attr_i(flatten, "axis", 0), 1);
            assert_eq!(sm.input, flatten.output);
            assert_eq!(attr_i(&sm, "axis", 0), -1);
            let reshape = &edit.after[0];
            assert_eq!(reshape.op_type(), "Reshape");
            assert_eq!(
                reshape.input,
                [sm.output[0].clone(), shape.output[0].clone()]
            );
            assert_eq!(reshape.output, ["y"], "the graph still reads y");
            assert_eq!(attr(reshape, "allowzero").and_then(|a| a.i), allowzero);
        }
        // Unknown rank, even with axis 1: spelled out (value_info could be stale).
        let mut c = ctx();
        let mut hm = node("Hardmax", &["h"], &["hy"], "hm");
        let edit = softmax_axis(&mut c, &mut hm).unwrap();
        assert_eq!(edit.before.len() + edit.after.len(), 3);
        assert_eq!(attr_i(&edit.before[1], "axis", 0), 1, "old default axis");
    }

    #[test]
    fn dropout_ratio_becomes_an_input() {
        let mut c = ctx();
        let mut d = node("Dropout", &["x"], &["y"], "d").with_attr(float("ratio", 0.25));
        assert!(dropout_ratio(&mut c, &mut d).unwrap().changed);
        assert_eq!(d.input, ["x", "d_ratio"]);
        assert_eq!(read_f32(init(&c, "d_ratio")), Some(vec![0.25]));
        assert!(init(&c, "d_ratio").dims.is_empty(), "a scalar");
        let mut plain = node("Dropout", &["x"], &["y2"], "d2");
        assert!(!dropout_ratio(&mut c, &mut plain).unwrap().changed);
        let mut mask = node("Dropout", &["x"], &["y3", "mask"], "d3");
        assert!(dropout_ratio(&mut c, &mut mask)
            .unwrap_err()
            .contains("mask"));
    }

    #[test]
    fn clip_bounds_take_the_input_type() {
        let g = GraphProto {
            input: vec![input("h", DataType::Float16, 2)],
            ..Default::default()
        };
        let mut c = ctx_for(g, 13);
        let mut clip = node("Clip", &["x"], &["y"], "c")
            .with_attr(float("min", 0.0))
            .with_attr(float("max", 6.0));
        clip_bounds(&mut c, &mut clip).unwrap();
        assert_eq!(clip.input, ["x", "c_min", "c_max"]);
        assert!(clip.attribute.is_empty());
        assert_eq!(
            read_f32(init(&c, "c_max")),
            Some(vec![6.0]),
            "unknown: float32"
        );

        let mut only_max = node("Clip", &["h"], &["hy"], "h").with_attr(float("max", 1.5));
        clip_bounds(&mut c, &mut only_max).unwrap();
        assert_eq!(only_max.input, ["h", "", "h_max"]);
        let t = init(&c, "h_max");
        assert_eq!(t.data_type, Some(DataType::Float16 as i32));
        assert_eq!(
            t.raw_data.as_deref(),
            Some(&half::f16::from_f32(1.5).to_le_bytes()[..])
        );

        let mut only_min = node("Clip", &["x"], &["y3"], "m").with_attr(float("min", -1.0));
        clip_bounds(&mut c, &mut only_min).unwrap();
        assert_eq!(only_min.input, ["x", "m_min"]);
        let mut none = node("Clip", &["x"], &["y4"], "n");
        assert!(!clip_bounds(&mut c, &mut none).unwrap().changed);
    }

    #[test]
    fn pad_attributes_become_inputs() {
        let mut c = ctx();
        let mut p = node("Pad", &["x"], &["y"], "p").with_attr(ints("pads", &[0, 1, 0, 2]));
        pad_inputs(&mut c, &mut p).unwrap();
        assert_eq!(p.input, ["x", "p_pads"], "value 0 is the default");
        assert_eq!(read_i64(init(&c, "p_pads")), Some(vec![0, 1, 0, 2]));
        let mut p = node("Pad", &["x"], &["y2"], "q")
            .with_attr(ints("pads", &[1, 1]))
            .with_attr(float("value", -2.5));
        pad_inputs(&mut c, &mut p).unwrap();
        assert_eq!(p.input, ["x", "q_pads", "q_value"]);
        assert_eq!(read_f32(init(&c, "q_value")), Some(vec![-2.5]));
        let mut p = node("Pad", &["x"], &["y3"], "r")
            .with_attr(ints("pads", &[1, 1]))
            .with_attr(attr_string("mode", "reflect"))
            .with_attr(float("value", 3.0));
        pad_inputs(&mut c, &mut p).unwrap();
        assert_eq!(
            p.input,
            ["x", "r_pads"],
            "value only matters in constant mode"
        );
        assert_eq!(attr_str(&p, "mode"), Some("reflect"));
        let mut p = node("Pad", &["x"], &["y4"], "s");
        assert!(pad_inputs(&mut c, &mut p).is_err());
    }

    #[test]
    fn resize_10_and_upsample_keep_asymmetric_coordinates() {
        let g = GraphProto {
            initializer: vec![
                tensor_f32("up", &[4], &[1.0, 1.0, 2.0, 2.0]),
                tensor_f32("down", &[4], &[1.0, 1.0, 0.5, 0.5]),
            ],
            ..Default::default()
        };
        let mut c = ctx_for(g, 13);
        let mut up = node("Upsample", &["x", "up"], &["y"], "u");
        resize_from_10(&mut c, &mut up).unwrap();
        assert_eq!(up.op_type(), "Resize");
        assert_eq!(up.input, ["x", "u_roi", "up"]);
        assert_eq!(init(&c, "u_roi").dims, [0]);
        assert_eq!(
            attr_str(&up, "coordinate_transformation_mode"),
            Some("asymmetric")
        );
        assert_eq!(attr_str(&up, "nearest_mode"), Some("floor"));

        let mut lin =
            node("Resize", &["x", "down"], &["y2"], "l").with_attr(attr_string("mode", "linear"));
        resize_from_10(&mut c, &mut lin).unwrap();
        assert_eq!(
            attr_str(&lin, "coordinate_transformation_mode"),
            Some("asymmetric")
        );
        assert_eq!(attr_str(&lin, "nearest_mode"), None);

        let mut down = node("Resize", &["x", "down"], &["y3"], "d");
        let err = resize_from_10(&mut c, &mut down).unwrap_err();
        assert!(err.contains("down-samples"), "{err}");
        let mut dynamic = node("Resize", &["x", "computed"], &["y4"], "dyn");
        let err = resize_from_10(&mut c, &mut dynamic).unwrap_err();
        assert!(err.contains("not a constant"), "{err}");
    }

    #[test]
    fn opset_9_attributes_become_inputs() {
        let mut c = ctx();
        let mut sl = node("Slice", &["x"], &["y"], "sl")
            .with_attr(ints("starts", &[1, 0]))
            .with_attr(ints("ends", &[-1, 1000]))
            .with_attr(ints("axes", &[0, -1]));
        slice_inputs(&mut c, &mut sl).unwrap();
        assert_eq!(sl.input, ["x", "sl_starts", "sl_ends", "sl_axes"]);
        assert_eq!(read_i64(init(&c, "sl_ends")), Some(vec![-1, 1000]));
        let mut no_axes = node("Slice", &["x"], &["y2"], "s2")
            .with_attr(ints("starts", &[0]))
            .with_attr(ints("ends", &[2]));
        slice_inputs(&mut c, &mut no_axes).unwrap();
        assert_eq!(no_axes.input, ["x", "s2_starts", "s2_ends"]);
        assert!(no_axes.attribute.is_empty());

        let mut topk = node("TopK", &["x"], &["v", "i"], "tk")
            .with_attr(attr_int("k", 3))
            .with_attr(attr_int("axis", 0));
        topk_input(&mut c, &mut topk).unwrap();
        assert_eq!(topk.input, ["x", "tk_k"]);
        assert_eq!(init(&c, "tk_k").dims, [1]);
        assert_eq!(attr_i(&topk, "axis", -1), 0);

        let mut up = node("Upsample", &["x", "s"], &["u"], "up");
        upsample_to_resize(&mut c, &mut up).unwrap();
        assert_eq!((up.op_type(), up.input.len()), ("Resize", 2));

        let mut d = node("Dropout", &["x"], &["y"], "d");
        assert!(!dropout_mask_type(&mut c, &mut d).unwrap().changed);
        // Issue 14: a mask nothing reads (as exporters leave it) is dropped, not refused.
        d.output.push("mask".into());
        assert!(dropout_mask_type(&mut c, &mut d).unwrap().changed);
        assert_eq!(d.output, ["y"]);
        // A mask some node reads is refused.
        let g = GraphProto {
            node: vec![
                node("Dropout", &["x"], &["y", "mask"], "d"),
                node("Cast", &["mask"], &["m"], "c"),
            ],
            ..Default::default()
        };
        let mut c = ctx_for(g, 13);
        let mut d = node("Dropout", &["x"], &["y", "mask"], "d");
        assert!(dropout_mask_type(&mut c, &mut d)
            .unwrap_err()
            .contains("mask"));
    }

    #[test]
    fn tf_half_pixel_for_nn_maps_to_half_pixel_with_shifted_rounding() {
        let mut c = ctx();
        let tf = |rounding: Option<&str>| {
            let n = node("Resize", &["x", "", "s"], &["y"], "r").with_attr(attr_string(
                "coordinate_transformation_mode",
                "tf_half_pixel_for_nn",
            ));
            match rounding {
                Some(r) => n.with_attr(attr_string("nearest_mode", r)),
                None => n,
            }
        };
        for (old, new) in [
            (Some("floor"), "round_prefer_ceil"),
            (None, "ceil"),
            (Some("round_prefer_floor"), "ceil"),
        ] {
            let mut n = tf(old);
            assert!(resize_tf_half_pixel(&mut c, &mut n).unwrap().changed);
            assert_eq!(
                attr_str(&n, "coordinate_transformation_mode"),
                Some("half_pixel")
            );
            assert_eq!(attr_str(&n, "nearest_mode"), Some(new), "{old:?}");
        }
        assert!(resize_tf_half_pixel(&mut c, &mut tf(Some("ceil"))).is_err());
        let mut linear = tf(None).with_attr(attr_string("mode", "linear"));
        assert!(resize_tf_half_pixel(&mut c, &mut linear).is_err());
        let mut other = node("Resize", &["x", "", "s"], &["y"], "o");
        assert!(!resize_tf_half_pixel(&mut c, &mut other).unwrap().changed);
    }

    #[test]
    fn renames_and_checks() {
        let mut c = ctx();
        let mut s = node("Scatter", &["d", "i", "u"], &["y"], "s").with_attr(attr_int("axis", 1));
        scatter_elements(&mut c, &mut s).unwrap();
        assert_eq!((s.op_type(), attr_i(&s, "axis", 0)), ("ScatterElements", 1));

        let mut ct = node("ConvTranspose", &["x", "w"], &["y"], "ct")
            .with_attr(attr_string("auto_pad", "SAME_UPPER"));
        assert!(conv_transpose_same_pad(&mut c, &mut ct)
            .unwrap_err()
            .contains("SAME_UPPER"));
        let mut ct = node("ConvTranspose", &["x", "w"], &["y"], "ct2")
            .with_attr(ints("pads", &[1, 1, 1, 1]));
        assert!(!conv_transpose_same_pad(&mut c, &mut ct).unwrap().changed);

        let mut bn = node(
            "BatchNormalization",
            &["x", "s", "b", "m", "v"],
            &["y"],
            "bn",
        );
        assert!(!batch_norm_outputs(&mut c, &mut bn).unwrap().changed);
        bn.output.push("mean".into());
        assert!(batch_norm_outputs(&mut c, &mut bn).is_err());

        let mut roi = node("RoiAlign", &["x", "r", "i"], &["y"], "ra");
        roi_align_mode(&mut c, &mut roi).unwrap();
        assert_eq!(
            attr_str(&roi, "coordinate_transformation_mode"),
            Some("output_half_pixel")
        );

        let mut gs =
            node("GridSample", &["x", "g"], &["y"], "gs").with_attr(attr_string("mode", "bicubic"));
        grid_sample_modes(&mut c, &mut gs).unwrap();
        assert_eq!(attr_str(&gs, "mode"), Some("cubic"));

        let mut dft = node("DFT", &["x"], &["y"], "dft");
        dft_axis(&mut c, &mut dft).unwrap();
        assert_eq!(dft.input, ["x", "", "dft_axis"]);
        assert_eq!(
            read_i64(init(&c, "dft_axis")),
            Some(vec![1]),
            "old default written"
        );
    }

    #[test]
    fn type_restrictions_refuse_known_integers_only() {
        let g = GraphProto {
            input: vec![
                input("i", DataType::Int32, 1),
                input("f", DataType::Float, 1),
            ],
            ..Default::default()
        };
        let mut c = ctx_for(g, 19);
        let mut erf = node("Erf", &["i"], &["y"], "e");
        assert!(erf_float_only(&mut c, &mut erf)
            .unwrap_err()
            .contains("int32"));
        for x in ["f", "unknown"] {
            let mut erf = node("Erf", &[x], &["y"], "e");
            assert!(!erf_float_only(&mut c, &mut erf).unwrap().changed);
        }
        let mut q = node("QuantizeLinear", &["i", "s"], &["q"], "q");
        assert!(quantize_int32_input(&mut c, &mut q).is_err());
        let mut q = node("QuantizeLinear", &["f", "s"], &["q"], "q");
        assert!(quantize_int32_input(&mut c, &mut q).is_ok());
    }
}
