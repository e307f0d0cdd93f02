//! Calibration: stream samples through the model and observe every activation the pass needs.
//!
//! The tensors to observe are added to a copy of the model as extra graph outputs (declared
//! float32, shape left open), so any runtime returns them with the real outputs. Samples are
//! consumed one at a time and only the observers' fixed-size state is kept, so memory is bounded
//! by the model and the histogram size, never by the number of samples.

use crate::config::QuantConfig;
use crate::observer::{observer, Observer, Range};
use crate::{Error, Result};
use optimize_data::Tensor;
use optimize_onnx::build::{node, tensor_f32, WithAttr};
use optimize_onnx::names::Names;
use optimize_onnx::proto::attribute_proto::AttributeType;
use optimize_onnx::proto::tensor_proto::DataType;
use optimize_onnx::proto::type_proto::{Tensor as TensorType, Value as TypeValue};
use optimize_onnx::proto::{AttributeProto, GraphProto, ModelProto, TypeProto, ValueInfoProto};
use optimize_onnx::walk::{self, GraphPath, SubgraphStep};
use optimize_runtime::Model as RuntimeModel;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The outcome of calibration: a range for every observed tensor.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// Range of each tensor that saw at least one finite value.
    pub ranges: BTreeMap<String, Range>,
    /// Tensors whose samples held NaN or infinite values, with the count (skipped by observers).
    pub non_finite: BTreeMap<String, u64>,
    /// Tensors that never held a finite value (left unquantized).
    pub empty: Vec<String>,
    /// Root mean square of each tensor's finite values over all samples: with the range it says
    /// how much int8 rounding costs the tensor (see [`rounding_noise`]).
    pub rms: BTreeMap<String, f64>,
    /// Mean of each tensor over everything but axis 1 (the channels of `[N, C, ...]` and the
    /// features of `[N, K]`), for tensors of rank 2 or more: what bias correction needs.
    pub channel_means: BTreeMap<String, Vec<f64>>,
    /// Samples seen.
    pub samples: usize,
    /// The runtime that ran the model, and why it was chosen.
    pub backend: String,
}

/// Builds a runtime for a model given as serialized bytes, returning it and a description of the
/// back end used (and why, when it fell back).
pub type Loader<'a> = &'a dyn Fn(&[u8]) -> Result<(Box<dyn RuntimeModel>, String)>;

/// The model calibration runs: the original with every observed tensor reachable as a graph
/// output, wherever in the model it lives.
#[derive(Debug, Clone)]
pub struct CaptureModel {
    /// The model with the extra outputs.
    pub model: ModelProto,
    /// Graph output → the tensor it carries (a tensor of sibling If branches that share a name
    /// is carried by one output per branch).
    pub outputs: BTreeMap<String, String>,
    /// Tensors that could not be reached, with why (they get no range).
    pub unreachable: Vec<(String, String)>,
}

/// A copy of `model` whose graph also outputs `tensors` (main-graph inputs excepted: calibration
/// reads those from the data).
///
/// A tensor inside an If branch or Loop body is handed out one level at a time: the body gets it
/// as an extra output and its If/Loop node an extra output carrying it (for an If, the other
/// branch outputs an empty tensor in its place, so only the branch taken contributes; for a
/// Loop it becomes a scan output, stacking the value of every iteration). Body inputs (a Loop's
/// carried values) and tensors a body already outputs go out through an `Identity`. Scan bodies and other holders are not crossed.
pub fn capture_model(model: &ModelProto, tensors: &BTreeSet<String>) -> CaptureModel {
    let mut m = model.clone();
    let mut capture = CaptureModel {
        model: ModelProto::default(),
        outputs: BTreeMap::new(),
        unreachable: Vec::new(),
    };
    let Some(main) = m.graph.as_ref() else {
        capture.model = m;
        return capture;
    };
    let main_outputs: HashSet<&str> = main.output.iter().map(|v| v.name()).collect();
    // Where each wanted tensor is produced (or enters as a body input), in one walk.
    let mut sites: Vec<(String, GraphPath, bool)> = Vec::new();
    walk::for_each_graph_path(main, &mut |g, path| {
        if !path.is_empty() {
            for v in g.input.iter().filter(|v| tensors.contains(v.name())) {
                sites.push((v.name().to_string(), path.clone(), false));
            }
        }
        for o in g.node.iter().flat_map(|n| &n.output) {
            if tensors.contains(o) && !(path.is_empty() && main_outputs.contains(o.as_str())) {
                sites.push((o.clone(), path.clone(), true));
            }
        }
    });
    for t in tensors {
        if main_outputs.contains(t.as_str()) {
            capture.outputs.insert(t.clone(), t.clone());
        }
    }
    let mut names = Names::of(&m);
    let root = m.graph.as_mut().expect("checked above");
    for (tensor, path, produced) in sites {
        match hand_out(root, &path, &tensor, produced, &mut names) {
            Ok(out) => {
                root.output.push(float_output(&out));
                capture.outputs.insert(out, tensor);
            }
            Err(why) => capture.unreachable.push((tensor, why)),
        }
    }
    capture.model = m;
    capture
}

fn float_output(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: Some(DataType::Float as i32),
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Makes `tensor` (in the graph at `path` under `root`) a value of `root`, returning its name
/// there. Checks every holder on the way before changing anything.
fn hand_out(
    root: &mut GraphProto,
    path: &[SubgraphStep],
    tensor: &str,
    produced: bool,
    names: &mut Names,
) -> std::result::Result<String, String> {
    for k in 0..path.len() {
        let holder = walk::graph_at(root, &path[..k])
            .and_then(|g| walk::step_node(g, &path[k]))
            .ok_or("the model changed under the capture")?;
        match (holder.domain(), holder.op_type()) {
            ("", "If" | "Loop") => {}
            (_, op) => return Err(format!("inside a {op} body")),
        }
    }
    let mut name = tensor.to_string();
    let g = walk::graph_at_mut(root, path).ok_or("no such subgraph")?;
    // A body input, or a tensor the body already outputs (a runtime may mix up a body output
    // listed twice), goes out through a copy.
    if !path.is_empty() && (!produced || g.output.iter().any(|o| o.name() == tensor)) {
        let out = names.fresh(&format!("{tensor}_captured"));
        g.node
            .push(node("Identity", &[tensor], &[&out], &names.fresh(&out)));
        name = out;
    }
    for k in (0..path.len()).rev() {
        let step = &path[k];
        let body = walk::graph_at_mut(root, &path[..=k]).ok_or("no such subgraph")?;
        body.output.push(float_output(&name));
        let parent = walk::graph_at_mut(root, &path[..k]).ok_or("no such subgraph")?;
        let holder = &mut parent.node[step.node];
        if holder.op_type() == "If" {
            let sibling = match step.attr.as_str() {
                "then_branch" => "else_branch",
                _ => "then_branch",
            };
            let empty = names.fresh(&format!("{name}_absent"));
            let branch = holder
                .attribute
                .iter_mut()
                .find(|a| a.name() == sibling)
                .and_then(|a| a.g.as_mut())
                .ok_or("an If without two branches")?;
            branch.node.push(
                node("Constant", &[], &[&empty], &names.fresh(&empty)).with_attr(AttributeProto {
                    name: Some("value".into()),
                    r#type: Some(AttributeType::Tensor as i32),
                    t: Some(tensor_f32(&empty, &[0], &[])),
                    ..Default::default()
                }),
            );
            branch.output.push(float_output(&empty));
        }
        let out = names.fresh(&format!("{name}_out"));
        holder.output.push(out.clone());
        name = out;
    }
    Ok(name)
}

/// Streams `samples` through `model` (via a runtime that `load` builds from the capture model's
/// bytes), feeding each of `tensors` to an observer chosen by `config.method`. `progress` is
/// called after each sample with the count so far.
pub fn calibrate<I>(
    model: &ModelProto,
    tensors: &BTreeSet<String>,
    samples: I,
    config: &QuantConfig,
    load: Loader<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<Calibration>
where
    I: Iterator<Item = Result<Vec<(String, Tensor)>>>,
{
    let capture = capture_model(model, tensors);
    let (runner, backend) = load(&capture.model.encode_to_vec())?;
    let mut observers: BTreeMap<String, Box<dyn Observer>> = tensors
        .iter()
        .map(|t| {
            (
                t.clone(),
                observer(&config.method, config.symmetric_activations),
            )
        })
        .collect();
    let mut energy: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    let mut means: BTreeMap<String, (Vec<f64>, u64)> = BTreeMap::new();
    let mut seen = 0;
    for sample in samples {
        let inputs = sample?;
        // Graph inputs are observed straight from the data.
        for (name, t) in &inputs {
            if let Some(o) = observers.get_mut(name) {
                if let Ok(v) = t.to_f32_vec() {
                    o.observe(&v);
                    add_energy(energy.entry(name.clone()).or_default(), &v);
                    add_channel_sums(&mut means, name, t.shape(), &v);
                }
            }
        }
        let outputs = runner.run(&inputs).map_err(|e| Error::Calibration {
            detail: format!("sample {seen}: {e}"),
        })?;
        for (output, t) in &outputs {
            let Some(name) = capture.outputs.get(output) else {
                continue;
            };
            if let Some(o) = observers.get_mut(name) {
                let v = t.to_f32_vec().map_err(|e| Error::Calibration {
                    detail: format!("tensor '{name}': {e}"),
                })?;
                o.observe(&v);
                add_energy(energy.entry(name.clone()).or_default(), &v);
                add_channel_sums(&mut means, name, t.shape(), &v);
            }
        }
        seen += 1;
        progress(seen);
    }
    if seen == 0 {
        return Err(Error::Calibration {
            detail: "the calibration data holds no samples".into(),
        });
    }
    let mut cal = Calibration {
        samples: seen,
        backend,
        ..Default::default()
    };
    cal.channel_means = means
        .into_iter()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(name, (sums, n))| (name, sums.iter().map(|s| s / n as f64).collect()))
        .collect();
    cal.rms = energy
        .into_iter()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(name, (sum, n))| (name, (sum / n as f64).sqrt()))
        .collect();
    for (name, o) in observers {
        if o.non_finite() > 0 {
            cal.non_finite.insert(name.clone(), o.non_finite());
        }
        match o.range() {
            Some(r) => {
                cal.ranges.insert(name, r);
            }
            None => cal.empty.push(name),
        }
    }
    Ok(cal)
}

/// Adds `values` (of `shape`) to per-channel sums along axis 1; a tensor whose channel count
/// changes between samples stops being tracked.
fn add_channel_sums(
    means: &mut BTreeMap<String, (Vec<f64>, u64)>,
    name: &str,
    shape: &[usize],
    values: &[f32],
) {
    if shape.len() < 2 || values.is_empty() {
        return;
    }
    let c = shape[1];
    let inner: usize = shape[2..].iter().product();
    let entry = means
        .entry(name.to_string())
        .or_insert_with(|| (vec![0.0; c], 0));
    if entry.0.len() != c {
        entry.1 = 0;
        entry.0.clear();
        return;
    }
    for (k, chunk) in values.chunks(inner.max(1)).enumerate() {
        let s: f64 = chunk
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| f64::from(v))
            .sum();
        entry.0[k % c] += s / inner.max(1) as f64;
    }
    entry.1 += (values.len() / (c * inner.max(1))) as u64;
}

fn add_energy(acc: &mut (f64, u64), values: &[f32]) {
    for &v in values.iter().filter(|v| v.is_finite()) {
        acc.0 += f64::from(v) * f64::from(v);
        acc.1 += 1;
    }
}

/// The int8 rounding noise of a tensor quantized over `range` with `params`, relative to the
/// tensor's RMS: uniform rounding error has RMS `scale / √12`, so this is
/// `scale / (√12 · rms)`. A range stretched by rare outliers makes the scale coarse for the
/// bulk of the values; 0.01 is typical of well-behaved activations.
pub fn rounding_noise(scale: f32, rms: f64) -> f64 {
    if rms <= 0.0 {
        return 0.0;
    }
    f64::from(scale) / (12f64.sqrt() * rms)
}
