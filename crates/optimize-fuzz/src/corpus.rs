//! The seed corpus: the models every mutation starts from.
//!
//! - The small real models of `models/` (`digits-mlp.onnx`, `digits-cnn.onnx`), read from there
//!   at run time and never copied.
//! - Small hand-built graphs ([`hand_built`]), one per shape of model the passes treat
//!   differently: Gemm, MatMul, Conv with BatchNormalization, a residual with a depthwise Conv
//!   and a Concat, Gather of token ids, an If with weights in its branches, a Loop, an opset 9
//!   model, an IR 3 model listing its initializers as inputs, weights in Constant nodes, a
//!   ConvTranspose and an LSTM. They are committed under `crates/optimize-fuzz/corpus/` (each
//!   under 4 KB; `optimize-fuzz write-corpus` rewrites them, and a test checks they are
//!   current), and any other `.onnx` file put there joins the corpus.

use crate::rng::Rng;
use optimize_onnx::build::{
    attr_float, attr_graph, attr_int, attr_ints, attr_tensor, model, node, tensor_f32, tensor_i64,
    value_info, value_info_f32, WithAttr,
};
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::{GraphProto, ModelProto, TensorProto};
use prost::Message;
use std::path::{Path, PathBuf};

/// One seed: where it came from, its bytes and its decoded form.
#[derive(Debug, Clone)]
pub struct Seed {
    /// File name (`digits-cnn.onnx`, `conv-bn-pool.onnx`).
    pub name: String,
    /// The encoded model.
    pub bytes: Vec<u8>,
    /// The decoded model.
    pub proto: ModelProto,
}

/// Every seed model, in a fixed order (corpus folder by name, then the real models).
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The seeds.
    pub seeds: Vec<Seed>,
}

/// The crate's folder (`crates/optimize-fuzz`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed corpus folder.
pub fn corpus_dir() -> PathBuf {
    crate_dir().join("corpus")
}

/// The real models of `models/` that join the corpus.
pub const REAL_MODELS: &[&str] = &["models/digits-mlp.onnx", "models/digits-cnn.onnx"];

impl Corpus {
    /// Reads the corpus folder and the real models. Errors name the file that could not be
    /// read or decoded.
    pub fn load() -> Result<Corpus, String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
            .map_err(|e| format!("{}: {e}", corpus_dir().display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            .collect();
        paths.sort();
        let root = crate_dir().join("../..");
        paths.extend(REAL_MODELS.iter().map(|m| root.join(m)));
        let seeds = paths
            .iter()
            .map(|p| Seed::read(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Corpus { seeds })
    }

    /// A seed drawn from the stream.
    pub fn pick(&self, rng: &mut Rng) -> &Seed {
        &self.seeds[rng.below(self.seeds.len())]
    }
}

impl Seed {
    /// Reads and decodes one model file.
    pub fn read(path: &Path) -> Result<Seed, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let proto =
            ModelProto::decode(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Seed {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            bytes,
            proto,
        })
    }
}

/// A float32 tensor of `dims` filled from a stream seeded by its name, in [-1, 1).
fn weight(name: &str, dims: &[i64]) -> TensorProto {
    let mut rng = Rng::for_purpose(0, name);
    let n: i64 = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
    tensor_f32(name, dims, &values)
}

fn ones(name: &str, n: i64, value: f32) -> TensorProto {
    tensor_f32(name, &[n], &vec![value; n as usize])
}

fn graph(name: &str) -> GraphProto {
    GraphProto {
        name: Some(name.into()),
        ..Default::default()
    }
}

/// `Gemm → Relu → Gemm (transB)`, opset 13.
fn gemm_mlp() -> ModelProto {
    let mut g = graph("gemm-mlp");
    g.node = vec![
        node("Gemm", &["x", "w1", "b1"], &["h"], "fc1"),
        node("Relu", &["h"], &["r"], "relu"),
        node("Gemm", &["r", "w2", "b2"], &["y"], "fc2").with_attr(attr_int("transB", 1)),
    ];
    g.initializer = vec![
        weight("w1", &[8, 6]),
        weight("b1", &[6]),
        weight("w2", &[4, 6]),
        weight("b2", &[4]),
    ];
    g.input = vec![value_info_f32("x", &[None, Some(8)])];
    g.output = vec![value_info_f32("y", &[None, Some(4)])];
    model(g, 13)
}

/// A batched `MatMul → Add → Sigmoid → Mul`, opset 17.
fn matmul_add() -> ModelProto {
    let mut g = graph("matmul-add");
    g.node = vec![
        node("MatMul", &["x", "w"], &["m"], "mm"),
        node("Add", &["m", "b"], &["a"], "add"),
        node("Sigmoid", &["a"], &["s"], "sig"),
        node("Mul", &["a", "s"], &["y"], "swish"),
    ];
    g.initializer = vec![weight("w", &[8, 8]), weight("b", &[8])];
    g.input = vec![value_info_f32("x", &[None, Some(4), Some(8)])];
    g.output = vec![value_info_f32("y", &[None, Some(4), Some(8)])];
    model(g, 17)
}

/// `Conv → BatchNormalization → Relu → MaxPool → Flatten → Gemm`, opset 13.
fn conv_bn_pool() -> ModelProto {
    let mut g = graph("conv-bn-pool");
    g.node = vec![
        node("Conv", &["x", "cw", "cb"], &["c"], "conv")
            .with_attr(attr_ints("kernel_shape", &[3, 3]))
            .with_attr(attr_ints("pads", &[1, 1, 1, 1])),
        node(
            "BatchNormalization",
            &["c", "bn_s", "bn_b", "bn_m", "bn_v"],
            &["n"],
            "bn",
        )
        .with_attr(attr_float("epsilon", 1e-5)),
        node("Relu", &["n"], &["r"], "relu"),
        node("MaxPool", &["r"], &["p"], "pool")
            .with_attr(attr_ints("kernel_shape", &[2, 2]))
            .with_attr(attr_ints("strides", &[2, 2])),
        node("Flatten", &["p"], &["f"], "flat"),
        node("Gemm", &["f", "fw", "fb"], &["y"], "fc").with_attr(attr_int("transB", 1)),
    ];
    g.initializer = vec![
        weight("cw", &[4, 2, 3, 3]),
        weight("cb", &[4]),
        ones("bn_s", 4, 1.0),
        weight("bn_b", &[4]),
        weight("bn_m", &[4]),
        ones("bn_v", 4, 0.5),
        weight("fw", &[3, 36]),
        weight("fb", &[3]),
    ];
    g.input = vec![value_info_f32("x", &[None, Some(2), Some(6), Some(6)])];
    g.output = vec![value_info_f32("y", &[None, Some(3)])];
    model(g, 13)
}

/// Two Convs (one depthwise) joined by an `Add`, a `Concat` with the input, a 1x1 Conv and a
/// GlobalAveragePool, opset 13.
fn conv_residual() -> ModelProto {
    let mut g = graph("conv-residual");
    g.node = vec![
        node("Conv", &["x", "wa"], &["a"], "conv_a"),
        node("Relu", &["a"], &["ar"], "relu_a"),
        node("Conv", &["ar", "wb", "bb"], &["b"], "conv_dw")
            .with_attr(attr_int("group", 4))
            .with_attr(attr_ints("kernel_shape", &[3, 3]))
            .with_attr(attr_ints("pads", &[1, 1, 1, 1])),
        node("Add", &["a", "b"], &["s"], "add"),
        node("Concat", &["s", "x"], &["c"], "concat").with_attr(attr_int("axis", 1)),
        node("Conv", &["c", "wc"], &["o"], "conv_out"),
        node("GlobalAveragePool", &["o"], &["y"], "gap"),
    ];
    g.initializer = vec![
        weight("wa", &[4, 4, 1, 1]),
        weight("wb", &[4, 1, 3, 3]),
        weight("bb", &[4]),
        weight("wc", &[2, 8, 1, 1]),
    ];
    g.input = vec![value_info_f32("x", &[Some(1), Some(4), Some(4), Some(4)])];
    g.output = vec![value_info_f32("y", &[Some(1), Some(2), Some(1), Some(1)])];
    model(g, 13)
}

/// `Gather` of int64 token ids from an embedding table, `MatMul`, `ReduceMean`, opset 13.
fn gather_embed() -> ModelProto {
    let mut g = graph("gather-embed");
    g.node = vec![
        node("Gather", &["table", "ids"], &["e"], "embed"),
        node("MatMul", &["e", "w"], &["h"], "proj"),
        node("ReduceMean", &["h"], &["y"], "pool")
            .with_attr(attr_ints("axes", &[1]))
            .with_attr(attr_int("keepdims", 0)),
    ];
    g.initializer = vec![weight("table", &[10, 4]), weight("w", &[4, 4])];
    g.input = vec![value_info("ids", DataType::Int64 as i32, &[None, Some(5)])];
    g.output = vec![value_info_f32("y", &[None, Some(4)])];
    model(g, 13)
}

/// An `If` on a bool input with a MatMul in each branch (one weight in the main graph, one in
/// the branch), opset 17.
fn if_branches() -> ModelProto {
    let mut then_g = graph("then");
    then_g.node = vec![
        node("MatMul", &["x", "w_then"], &["t"], "then_mm"),
        node("Relu", &["t"], &["t_out"], "then_relu"),
    ];
    then_g.output = vec![value_info_f32("t_out", &[Some(1), Some(4)])];
    let mut else_g = graph("else");
    else_g.node = vec![node("MatMul", &["x", "w_else"], &["e_out"], "else_mm")];
    else_g.initializer = vec![weight("w_else", &[4, 4])];
    else_g.output = vec![value_info_f32("e_out", &[Some(1), Some(4)])];
    let mut iff = node("If", &["c"], &["y"], "if");
    iff.attribute = vec![
        attr_graph("then_branch", then_g),
        attr_graph("else_branch", else_g),
    ];
    let mut g = graph("if-branches");
    g.node = vec![iff];
    g.initializer = vec![weight("w_then", &[4, 4])];
    g.input = vec![
        value_info_f32("x", &[Some(1), Some(4)]),
        value_info("c", DataType::Bool as i32, &[]),
    ];
    g.output = vec![value_info_f32("y", &[Some(1), Some(4)])];
    model(g, 17)
}

/// A `Loop` of two trips whose body holds a MatMul and a Relu, opset 17.
fn loop_body() -> ModelProto {
    let mut body = graph("body");
    body.node = vec![
        node("Identity", &["cond_in"], &["cond_out"], "body_cond"),
        node("MatMul", &["v_in", "w_loop"], &["l"], "loop_mm"),
        node("Relu", &["l"], &["v_out"], "loop_relu"),
    ];
    body.input = vec![
        value_info("iter", DataType::Int64 as i32, &[]),
        value_info("cond_in", DataType::Bool as i32, &[]),
        value_info_f32("v_in", &[Some(1), Some(4)]),
    ];
    body.output = vec![
        value_info("cond_out", DataType::Bool as i32, &[]),
        value_info_f32("v_out", &[Some(1), Some(4)]),
    ];
    body.initializer = vec![weight("w_loop", &[4, 4])];
    let mut lp = node("Loop", &["trips", "", "x"], &["y"], "loop");
    lp.attribute = vec![attr_graph("body", body)];
    let mut g = graph("loop-body");
    g.node = vec![lp];
    g.initializer = vec![tensor_i64("trips", &[], &[2])];
    g.input = vec![value_info_f32("x", &[Some(1), Some(4)])];
    g.output = vec![value_info_f32("y", &[Some(1), Some(4)])];
    model(g, 17)
}

/// `Conv → BatchNormalization → Flatten → Gemm → Dropout`, opset 9 (old attribute forms).
fn opset9() -> ModelProto {
    let mut g = graph("opset9");
    g.node = vec![
        node("Conv", &["x", "cw"], &["c"], "conv").with_attr(attr_ints("kernel_shape", &[3, 3])),
        node(
            "BatchNormalization",
            &["c", "bn_s", "bn_b", "bn_m", "bn_v"],
            &["n"],
            "bn",
        ),
        node("Flatten", &["n"], &["f"], "flat"),
        node("Gemm", &["f", "fw", "fb"], &["g"], "fc"),
        node("Dropout", &["g"], &["y", "mask"], "drop").with_attr(attr_float("ratio", 0.1)),
    ];
    g.initializer = vec![
        weight("cw", &[2, 1, 3, 3]),
        ones("bn_s", 2, 1.0),
        weight("bn_b", &[2]),
        weight("bn_m", &[2]),
        ones("bn_v", 2, 1.0),
        weight("fw", &[8, 3]),
        weight("fb", &[3]),
    ];
    g.input = vec![value_info_f32("x", &[None, Some(1), Some(4), Some(4)])];
    g.output = vec![value_info_f32("y", &[None, Some(3)])];
    model(g, 9)
}

/// IR 3 at opset 7: every initializer is also listed as a graph input.
fn ir3_inputs() -> ModelProto {
    let mut g = graph("ir3-inputs");
    g.node = vec![
        node("Gemm", &["x", "w", "b"], &["h"], "fc"),
        node("Relu", &["h"], &["r"], "relu"),
        node("MatMul", &["r", "w2"], &["y"], "mm"),
    ];
    g.initializer = vec![
        weight("w", &[4, 6]),
        weight("b", &[6]),
        weight("w2", &[6, 2]),
    ];
    g.input = vec![
        value_info_f32("x", &[None, Some(4)]),
        value_info_f32("w", &[Some(4), Some(6)]),
        value_info_f32("b", &[Some(6)]),
        value_info_f32("w2", &[Some(6), Some(2)]),
    ];
    g.output = vec![value_info_f32("y", &[None, Some(2)])];
    let mut m = model(g, 7);
    m.ir_version = Some(3);
    m
}

/// Weights computed by constant subgraphs: a `Transpose` of a `Constant`, a `Reshape` to a
/// constant shape, opset 13.
fn constant_weights() -> ModelProto {
    let mut g = graph("constant-weights");
    g.node = vec![
        node("Constant", &[], &["wt"], "w_const")
            .with_attr(attr_tensor("value", weight("wt", &[4, 6]))),
        node("Transpose", &["wt"], &["w"], "w_t").with_attr(attr_ints("perm", &[1, 0])),
        node("MatMul", &["x", "w"], &["h"], "mm"),
        node("Constant", &[], &["shape"], "shape_const")
            .with_attr(attr_tensor("value", tensor_i64("shape", &[3], &[-1, 2, 2]))),
        node("Reshape", &["h", "shape"], &["y"], "reshape"),
    ];
    g.input = vec![value_info_f32("x", &[None, Some(6)])];
    g.output = vec![value_info_f32("y", &[None, Some(2), Some(2)])];
    model(g, 13)
}

/// A `ConvTranspose` with a bias, opset 13.
fn conv_transpose() -> ModelProto {
    let mut g = graph("conv-transpose");
    g.node = vec![node("ConvTranspose", &["x", "w", "b"], &["y"], "up")
        .with_attr(attr_ints("kernel_shape", &[2, 2]))
        .with_attr(attr_ints("strides", &[2, 2]))];
    g.initializer = vec![weight("w", &[2, 3, 2, 2]), weight("b", &[3])];
    g.input = vec![value_info_f32("x", &[None, Some(2), Some(3), Some(3)])];
    g.output = vec![value_info_f32("y", &[None, Some(3), Some(6), Some(6)])];
    model(g, 13)
}

/// A one-layer `LSTM` (hidden 2, input 3) followed by a `MatMul`, opset 14.
fn lstm() -> ModelProto {
    let mut g = graph("lstm");
    g.node = vec![
        node("LSTM", &["x", "W", "R", "B"], &["ys", "yh"], "lstm")
            .with_attr(attr_int("hidden_size", 2)),
        node("MatMul", &["yh", "proj"], &["y"], "proj"),
    ];
    g.initializer = vec![
        weight("W", &[1, 8, 3]),
        weight("R", &[1, 8, 2]),
        weight("B", &[1, 16]),
        weight("proj", &[2, 2]),
    ];
    g.input = vec![value_info_f32("x", &[Some(5), None, Some(3)])];
    g.output = vec![value_info_f32("y", &[Some(1), None, Some(2)])];
    model(g, 14)
}

/// Every hand-built seed, by the file name it is committed under.
pub fn hand_built() -> Vec<(&'static str, ModelProto)> {
    vec![
        ("gemm-mlp.onnx", gemm_mlp()),
        ("matmul-add.onnx", matmul_add()),
        ("conv-bn-pool.onnx", conv_bn_pool()),
        ("conv-residual.onnx", conv_residual()),
        ("gather-embed.onnx", gather_embed()),
        ("if-branches.onnx", if_branches()),
        ("loop-body.onnx", loop_body()),
        ("opset9.onnx", opset9()),
        ("ir3-inputs.onnx", ir3_inputs()),
        ("constant-weights.onnx", constant_weights()),
        ("conv-transpose.onnx", conv_transpose()),
        ("lstm.onnx", lstm()),
    ]
    .into_iter()
    .map(|(n, mut m)| {
        m.producer_name = Some("optimize-fuzz corpus".into());
        (n, m)
    })
    .collect()
}

/// Writes [`hand_built`] into `dir`; returns the files written.
pub fn write_hand_built(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    hand_built()
        .into_iter()
        .map(|(name, m)| {
            let path = dir.join(name);
            std::fs::write(&path, m.encode_to_vec())?;
            Ok(path)
        })
        .collect()
}
