//! Float16 conversion: `optimize quantize --fp16`.
//!
//! [`convert_to_fp16`] turns a float32 model into one that stores its weights and computes in
//! IEEE half precision where that is safe, and keeps float32 where it is not:
//!
//! - float32 initializers and `Constant` / `ConstantOfShape` values become float16 (in subgraphs
//!   too), rounded to nearest even. Finite values beyond ±65504 are clamped to ±65504 rather
//!   than becoming Inf ([`Fp16Report::values_clamped`]); nonzero values below 2^-24 in magnitude
//!   that round to zero are counted ([`Fp16Report::tiny_values_flushed`]). A weight read by both
//!   a float16 and a float32 node stays float32, with a cast for the float16 reader.
//!   BatchNormalization statistics beyond the range are not clamped (that would change the
//!   normalization by orders of magnitude) but first folded into an equivalent scale and bias:
//!   `scale' = scale / sqrt(var + eps)`, `B' = B - mean * scale'`, `mean' = 0`, `var' = 1 - eps`
//!   ([`Fp16Report::batch_norms_folded`]).
//! - Nodes of the operators in the pass's table (element-wise math, MatMul/Gemm/Conv, pooling,
//!   normalization, reductions, data movement, RNNs; see `ops.rs`) compute in float16 when all
//!   their float inputs are known to be float32. Which slots turn float16 follows the ONNX
//!   schema's type parameters: Resize's `scales`, Reshape's `shape`, Gather's `indices` and the
//!   like keep their type.
//! - Nodes whose op type is in [`Fp16Config::block_ops`], nodes named in
//!   [`Fp16Config::keep_fp32_nodes`], operators outside the table (other domains included) and
//!   nodes whose input types cannot be worked out stay float32. A `Cast` is inserted on each
//!   float input or output that meets the other type, once per value and graph, always from the
//!   original value, so no cast chains appear.
//! - Graph inputs and outputs keep float32 when [`Fp16Config::keep_io_types`] is set (the
//!   default), with casts at the boundary; an output whose producer now makes float16 is renamed
//!   `<name>_fp16` (made unique) and a cast restores `<name>`. Without it, float32 inputs and
//!   outputs become float16.
//! - Existing `Cast` nodes to float32 are retargeted to float16 when every reader computes in
//!   float16, and left alone when any reader is float32 (a blocked node, a graph output).
//! - Subgraphs: types are decided per value over the whole model. An `If` output is float16 when
//!   any reader wants float16, and then both branches produce float16 (a cast inside a branch
//!   where needed), so the branches agree with each other and with the If. Loop and Scan bodies
//!   keep the original types of carried state and scanned values at their boundary and are
//!   converted inside.
//!
//! Element types are found without shape inference: declared inputs and initializers, operator
//! semantics (Cast's `to`, Shape → int64, comparisons → bool, `T` propagation), then the model's
//! `value_info` where operators say nothing. `value_info` entries are rewritten to the new types;
//! entries of renamed outputs are dropped.
//!
//! # Naming nodes to keep in float32
//!
//! ONNX node names are optional and not unique, so [`Fp16Config::keep_fp32_nodes`] holds
//! **output tensor names**: a node stays float32 when any of its outputs is in the set. Tensor
//! names are unique within a model (subgraphs included), never empty for a real output, and are
//! what an activation-range check sees when it runs the model, so the caller can pass the
//! outputs whose float32 values overflowed float16 directly.
//!
//! # Float16 on ONNX Runtime's CPU provider (1.31, x86-64)
//!
//! Measured with `tests/cases/fp16-ort-kernels/probe.py`: one-node float16 models, opsets 11,
//! 12, 16 and 17, every optimization level. ONNX Runtime's CPU provider has float16 kernels for
//! data movement and a few math ops only; for every other op its `InsertCastTransformer` wraps
//! the node in float16 → float32 → float16 casts at session creation, so the model loads and
//! runs, computing in float32 between float16 tensors. No op that the ONNX schema allows in
//! float16 failed to load.
//!
//! | What happens on CPU | Ops |
//! |---|---|
//! | native float16 kernel | Cast, Clip and Max/Min (opset ≥ 12; autocast at 11), Compress, Concat, ConstantOfShape, Dropout (inference), Expand, Flatten, Gather, GatherElements, GatherND, Identity, If, IsNaN, LayerNormalization, Mod, RandomNormal, RandomUniform, Reshape, ReverseSequence, Round, ScatterElements, ScatterND, Shape, Shrink, Sign, Slice, Split, Squeeze, Transpose, Unsqueeze, the window ops |
//! | float32 behind the casts ORT inserts | Abs, Acos(h), Add, ArgMax, ArgMin, Asin(h), Atan(h), AveragePool, BatchNormalization, Ceil, Conv, ConvTranspose, Cos(h), CumSum (opset ≥ 14), DepthToSpace, Div, Einsum, Elu, Equal, Erf, Exp, Floor, GRU, Gemm, GlobalAveragePool, GlobalLpPool, GlobalMaxPool, Greater(OrEqual), GridSample, HardSigmoid, HardSwish, Hardmax, InstanceNormalization, LRN, LSTM, LeakyRelu, Less(OrEqual), Log, LogSoftmax, LpNormalization, LpPool, MatMul, MaxPool, MaxUnpool, Mean, MeanVarianceNormalization, Mul, Neg, NonZero, OneHot, PRelu, Pad, Pow, RNN, Reciprocal, Reduce* (all ten), Relu, Resize, RoiAlign, Selu, Sigmoid, Sin(h), Size, Softmax, Softplus, Softsign, SpaceToDepth, Sqrt, Sub, Sum, Tan, Tanh, ThresholdedRelu, Tile, TopK, Trilu, Unique, Where |
//! | session creation fails (the schema has no float16 there) | Range, NonMaxSuppression, Celu, IsInf, QuantizeLinear, DynamicQuantizeLinear; CumSum before opset 14 |
//!
//! No op failed with "Could not find an implementation": wherever the schema allows float16,
//! ONNX Runtime 1.31 either has a kernel or inserts casts, with graph optimizations on or off.
//! So on CPU a float16 model is smaller (weights take half the bytes) but not faster; its
//! accuracy is that of float16 storage of every intermediate tensor.
//!
//! # The default block list
//!
//! [`default_block_ops`] keeps in float32:
//! - ops whose float16 form the schema rejects: Range, NonMaxSuppression;
//! - ops producing indices, where float16 ties would change which index wins: ArgMax, ArgMin,
//!   TopK; and RoiAlign, whose box coordinates need float32 precision;
//! - ops that make large values from ordinary ones and overflow ±65504: Exp, Pow, CumSum,
//!   ReduceSumSquare, ReduceProd;
//! - random generators, whose `dtype` is part of their meaning: RandomNormal, RandomNormalLike,
//!   RandomUniform, RandomUniformLike, Multinomial, Bernoulli.
//!
//! ```
//! use optimize_quant::fp16::{convert_to_fp16, Fp16Config};
//! use optimize_onnx::Model;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
//! let model = Model::load(root.join("models/digits-mlp.onnx"))?;
//! let (fp16, report) = convert_to_fp16(&model.proto, &Fp16Config::default())?;
//! assert_eq!(report.initializers_converted, 6);
//! assert_eq!(report.nodes_fp16, 5); // 3 Gemm, 2 Relu
//! assert_eq!(report.casts_inserted, 2); // input to float16, logits back to float32
//! # let _ = fp16;
//! # Ok(())
//! # }
//! ```

mod batch_norm;
mod ops;
mod plan;
mod rewrite;
mod scope;
pub(crate) mod tensor;

use optimize_onnx::proto::ModelProto;
use std::collections::{BTreeMap, BTreeSet};

/// What [`convert_to_fp16`] converts and what it leaves in float32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fp16Config {
    /// Keep float32 graph inputs and outputs, with casts at the boundary (default `true`).
    /// When `false`, float32 inputs and outputs of the main graph become float16.
    pub keep_io_types: bool,
    /// Op types (default ONNX domain) that stay float32. [`default_block_ops`] by default.
    pub block_ops: BTreeSet<String>,
    /// Nodes that stay float32, named by any of their **output tensor names** (see the module
    /// docs), for example nodes whose activations overflow float16.
    pub keep_fp32_nodes: BTreeSet<String>,
}

impl Default for Fp16Config {
    fn default() -> Self {
        Fp16Config {
            keep_io_types: true,
            block_ops: default_block_ops(),
            keep_fp32_nodes: BTreeSet::new(),
        }
    }
}

/// What [`convert_to_fp16`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Fp16Report {
    /// Stored float32 tensors rewritten as float16: initializers and `Constant` /
    /// `ConstantOfShape` values, subgraphs included.
    pub initializers_converted: usize,
    /// Finite float32 values beyond ±65504 stored as ±65504.
    pub values_clamped: u64,
    /// Nonzero float32 values of magnitude below 2^-24 that became zero.
    pub tiny_values_flushed: u64,
    /// Nodes (of the original model) that compute in float16.
    pub nodes_fp16: usize,
    /// Nodes reading or producing float32 that stay float32, by op type (`domain.op` outside the
    /// default domain). Casts, constants, Shape/Size and control flow are not counted.
    pub nodes_kept_fp32: BTreeMap<String, usize>,
    /// Cast nodes the pass added.
    pub casts_inserted: usize,
    /// BatchNormalization nodes whose statistics overflowed float16 and were folded into an
    /// equivalent scale and bias instead of being clamped (see the module docs).
    pub batch_norms_folded: usize,
}

/// Why [`convert_to_fp16`] could not convert a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fp16Error {
    /// The model has no main graph.
    #[error("the model has no graph")]
    NoGraph,
    /// A tensor still refers to external data; load the model with `optimize_onnx::Model::load`,
    /// which reads it in.
    #[error("tensor '{tensor}' keeps its data in an external file; load the model with Model::load first")]
    ExternalData {
        /// The tensor's name.
        tensor: String,
    },
    /// A float32 tensor whose data does not match its shape.
    #[error("tensor '{tensor}': {detail}")]
    TensorData {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        detail: String,
    },
}

/// The op types kept in float32 by default; the module docs give the reason for each.
pub fn default_block_ops() -> BTreeSet<String> {
    [
        // The schema has no float16 form.
        "Range",
        "NonMaxSuppression",
        // Indices and coordinates.
        "ArgMax",
        "ArgMin",
        "TopK",
        "RoiAlign",
        // Outputs that outgrow ±65504.
        "Exp",
        "Pow",
        "CumSum",
        "ReduceSumSquare",
        "ReduceProd",
        // Random generators.
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Converts `model` to float16 as the module docs describe; the input is not modified.
///
/// Tensors must hold their data inline (as [`optimize_onnx::Model::load`] leaves them). Errors:
/// no graph, external data, or a float32 tensor whose data length does not match its shape.
pub fn convert_to_fp16(
    model: &ModelProto,
    config: &Fp16Config,
) -> Result<(ModelProto, Fp16Report), Fp16Error> {
    if model.graph.is_none() {
        return Err(Fp16Error::NoGraph);
    }
    let mut prepared = model.clone();
    // IR < 4 lists every initializer as a graph input too, yet they are constants: unlisted
    // here, so their weights convert (issue 14: 0 tensors converted and a Cast on every weight),
    // and listed again, with their new types, at the end.
    let ir3 = model.ir_version.unwrap_or(0) < 4;
    if ir3 {
        if let Some(g) = prepared.graph.as_mut() {
            let inits: std::collections::HashSet<String> =
                g.initializer.iter().map(|t| t.name().to_string()).collect();
            g.input.retain(|v| !inits.contains(v.name()));
        }
    }
    let batch_norms_folded = batch_norm::fold_out_of_range(&mut prepared)?;
    let Some(graph) = prepared.graph.as_ref() else {
        return Err(Fp16Error::NoGraph);
    };
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain(), "" | "ai.onnx"))
        .map_or(1, |o| o.version());
    let scope = scope::Scope::new(graph);
    let plan = plan::Plan::new(&scope, config, opset);
    let mut rewriter = rewrite::Rewriter::new(&plan, &prepared);
    let mut out = prepared.clone();
    if let Some(g) = out.graph.as_mut() {
        rewriter.graph(g, 0)?;
    }
    let mut report = rewriter.finish();
    report.batch_norms_folded = batch_norms_folded;
    if ir3 {
        optimize_onnx::transform::list_initializers_as_inputs(&mut out);
    }
    Ok((out, report))
}

/// Float32 values produced by nodes of the main graph, by name: the activations a conversion
/// turns to float16, which callers run the model on data to check for overflow (see
/// [`crate::fp16_overflow`]). Types come from the same analysis the conversion uses, so no
/// int64 shape tensor is ever listed.
pub fn float32_activations(model: &ModelProto) -> BTreeSet<String> {
    let Some(main) = model.graph.as_ref() else {
        return BTreeSet::new();
    };
    let scope = scope::Scope::new(main);
    main.node
        .iter()
        .flat_map(|n| n.output.iter())
        .filter(|o| !o.is_empty() && scope.ty_of(0, o) == Some(ops::FLOAT))
        .cloned()
        .collect()
}
