//! A model loaded into tract, the pure-Rust inference engine.
//!
//! [`TractSession`] is the tract twin of [`OrtSession`](crate::OrtSession), with the same
//! contract: load from a file or bytes, read the declared [`inputs`](TractSession::inputs) and
//! [`outputs`](TractSession::outputs), [`run`](TractSession::run) on named [`Tensor`]s, get
//! every output back named and in graph order. It needs no shared library, so it always works
//! where the crate compiles; the quantizer uses it to calibrate and to verify its outputs.
//!
//! How a model gets from ONNX to a runnable plan:
//! 1. The ONNX file is parsed with declared output shapes and `value_info` ignored: real
//!    exported models often carry stale ones, and tract works them out itself.
//! 2. Every node's op type is checked against tract's operators; a missing one is an
//!    [`Error::UnsupportedOperator`] naming the op type and node, before tract analyses
//!    anything. The model is then analysed with its declared (possibly symbolic) input shapes.
//! 3. At [`run`](TractSession::run), the inputs' dtypes and shapes are pinned, and the model is
//!    optimised for them and turned into a plan. Plans are cached per set of input shapes, so
//!    running again with the same shapes costs only the run; a new batch size builds a new
//!    plan.
//!
//! [`SessionOptions::optimization_level`] maps to tract's stages: `Disable` runs the typed
//! model as translated, `Basic` runs it decluttered, anything higher fully optimised (tract's
//! usual path). tract runs on the calling thread; [`SessionOptions::threads`] is ignored.
//!
//! Extra graph outputs that name intermediate tensors (as calibration adds) are kept: tract
//! never prunes or fuses away a tensor that is a graph output, and needs no shape or type for
//! it (both are inferred).
//!
//! ```no_run
//! use optimize_data::{DType, Tensor};
//! use optimize_runtime::{SessionOptions, TractSession};
//!
//! let session = TractSession::from_file("models/digits-mlp.onnx", &SessionOptions::default())?;
//! for batch in [1, 8, 1] {
//!     let x = Tensor::zeros(DType::F32, vec![batch, 64])?;
//!     let outputs = session.run(&[("input".to_string(), x)])?;
//!     assert_eq!(outputs[0].1.shape(), [batch, 10]);
//! }
//! assert_eq!(session.cached_plans(), 2); // one per batch size
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod convert;
mod diagnose;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use optimize_data::Tensor;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::{
    DatumType, Framework, InferenceModel, InferenceModelExt, IntoRunnable, TValue, TVec,
    TractError, TypedRunnableModel,
};
use tract_onnx::Onnx;

use crate::info::{check_inputs, TensorInfo};
use crate::{Error, OptimizationLevel, Result, SessionOptions};

use self::convert::{concrete_fact, from_tract, tensor_info, to_tract};
use self::diagnose::OnnxNode;

/// How many plans (distinct sets of input shapes) a session keeps before starting over.
const PLAN_CACHE_SIZE: usize = 16;

/// A model loaded into tract, ready to run.
///
/// `Send + Sync`; concurrent [`run`](TractSession::run) calls share the cached plans and run
/// in parallel.
pub struct TractSession {
    /// The path, or `<bytes>`, for error messages.
    model: String,
    /// The parsed model, with the declared input facts, not yet analysed.
    inference: InferenceModel,
    nodes: Vec<OnnxNode>,
    inputs: Vec<TensorInfo>,
    /// Per input: false if the model leaves its rank open.
    input_rank_known: Vec<bool>,
    outputs: Vec<TensorInfo>,
    level: OptimizationLevel,
    plans: Mutex<HashMap<Vec<Vec<usize>>, Arc<TypedRunnableModel>>>,
}

impl std::fmt::Debug for TractSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractSession")
            .field("model", &self.model)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// tract's ONNX front end, set up for exported models: declared output shapes and
/// `value_info` are ignored (tract infers them), since exporters often leave stale ones.
fn onnx() -> Onnx {
    tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
}

impl TractSession {
    /// Loads a model file. External data files are found relative to the model's folder.
    pub fn from_file(path: impl AsRef<Path>, options: &SessionOptions) -> Result<Self> {
        let path = path.as_ref();
        let model = path.display().to_string();
        let load_error = |message: String| Error::Load {
            model: model.clone(),
            message,
        };
        if !path.is_file() {
            return Err(load_error("no such file".into()));
        }
        let onnx = onnx();
        let proto = onnx
            .proto_model_for_path(path)
            .map_err(|e| load_error(format!("{e:#}")))?;
        let dir = match path.parent() {
            Some(dir) => Some(dir.to_str().ok_or_else(|| {
                load_error("tract needs the model's folder as UTF-8 to find external data".into())
            })?),
            None => None,
        };
        Self::load(&onnx, &proto, dir, model, options)
    }

    /// Loads a model from its serialized bytes. A model whose tensors live in external data
    /// files needs [`TractSession::from_file`], since bytes carry no folder to find them in;
    /// such a model is an [`Error::Load`] naming the first external tensor.
    pub fn from_bytes(bytes: &[u8], options: &SessionOptions) -> Result<Self> {
        let model = "<bytes>".to_string();
        let onnx = onnx();
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| Error::Load {
                model: model.clone(),
                message: format!("{e:#}"),
            })?;
        if let Some(tensor) = first_external_tensor(&proto) {
            return Err(Error::Load {
                model,
                message: format!(
                    "tensor `{tensor}` is stored in an external data file, which a model given \
                     as bytes has no folder to find; load the model from its file instead"
                ),
            });
        }
        Self::load(&onnx, &proto, None, model, options)
    }

    /// Loads from a file or from bytes.
    pub(crate) fn from_source(
        source: crate::ModelSource<'_>,
        options: &SessionOptions,
    ) -> Result<Self> {
        match source {
            crate::ModelSource::File(path) => Self::from_file(path, options),
            crate::ModelSource::Bytes(bytes) => Self::from_bytes(bytes, options),
        }
    }

    fn load(
        onnx: &Onnx,
        proto: &ModelProto,
        dir: Option<&str>,
        model: String,
        options: &SessionOptions,
    ) -> Result<Self> {
        if options.device != crate::Device::Cpu {
            return Err(Error::DeviceUnavailable {
                device: format!("{:?}", options.device),
                hint: "tract runs models on the CPU only; use ONNX Runtime for a GPU".into(),
            });
        }
        let nodes = diagnose::nodes(proto);
        if let Some(error) = diagnose::missing_ops(onnx, &model, &nodes) {
            return Err(error);
        }
        let load_error = |e: TractError| {
            diagnose::classify(&e, &model, &nodes, |message| Error::Load {
                model: model.clone(),
                message,
            })
        };
        let parsed = onnx.parse(proto, dir).map_err(load_error)?;
        if !parsed.unresolved_inputs.is_empty() {
            return Err(Error::Load {
                model,
                message: format!(
                    "nodes read tensors that nothing produces: {}",
                    parsed.unresolved_inputs.join(", ")
                ),
            });
        }
        // Analysed on a copy: analysis writes the symbolic shapes into every node, which would
        // then clash with the concrete shapes each plan pins. Analysis with symbolic shapes
        // only feeds `outputs()`, so it goes as far as it can and its failure is not fatal:
        // tract cannot always prove symbolic shapes equal (`(h+31)/32*8` against
        // `4*max(2*((h+31)/32), (h+15)/16)` in PP-OCRv4) that are equal for every real input.
        let inference = parsed.model;
        let mut analysed = inference.clone();
        let _ = analysed.analyse(true);

        let mut inputs = Vec::new();
        let mut input_rank_known = Vec::new();
        for (ix, outlet) in inference
            .input_outlets()
            .map_err(load_error)?
            .iter()
            .enumerate()
        {
            let name = &inference.node(outlet.node).name;
            let fact = inference.input_fact(ix).map_err(load_error)?;
            let (info, rank_known) = tensor_info(name, fact);
            inputs.push(info);
            input_rank_known.push(rank_known);
        }
        let graph_outputs = proto.graph.as_ref().map(|g| &g.output[..]).unwrap_or(&[]);
        let mut outputs = Vec::new();
        for (ix, output) in graph_outputs.iter().enumerate() {
            let fact = analysed.output_fact(ix).map_err(load_error)?;
            outputs.push(tensor_info(&output.name, fact).0);
        }
        Ok(Self {
            model,
            inference,
            nodes,
            inputs,
            input_rank_known,
            outputs,
            level: options.optimization_level,
            plans: Mutex::new(HashMap::new()),
        })
    }

    /// The model's inputs, in graph order, with the dimensions tract knows: fixed sizes,
    /// symbolic ones by name, the rest [`Dim::Unknown`](crate::Dim::Unknown).
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    /// The model's outputs, in graph order, with the dtype and dimensions tract infers from
    /// the declared inputs (the model's own output shapes are not read).
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// Runs the model on named inputs and returns every output, named, in graph order.
    ///
    /// Every model input must be given exactly once, with the declared dtype, rank and fixed
    /// dimensions; otherwise this returns [`Error::UnknownInput`], [`Error::DuplicateInput`],
    /// [`Error::MissingInput`] or [`Error::InputMismatch`] naming the input. The first run
    /// with a new set of input shapes optimises the model for them, which can fail with
    /// [`Error::UnsupportedOperator`] naming the node tract cannot handle at those shapes.
    pub fn run(&self, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        check_inputs(&self.inputs, inputs, |ix| self.input_rank_known[ix])?;
        // In declared order; `check_inputs` made sure each is given exactly once.
        let ordered: Vec<&(String, Tensor)> = self
            .inputs
            .iter()
            .filter_map(|info| inputs.iter().find(|(name, _)| name == &info.name))
            .collect();
        let plan = self.plan(&ordered)?;
        let values = ordered
            .iter()
            .map(|(name, tensor)| to_tract(name, tensor))
            .collect::<Result<TVec<TValue>>>()?;
        let outputs = plan.run(values).map_err(|e| {
            diagnose::classify(&e, &self.model, &self.nodes, |message| Error::Run {
                message,
            })
        })?;
        if outputs.len() != self.outputs.len() {
            return Err(Error::Run {
                message: format!(
                    "tract returned {} outputs, the model declares {}",
                    outputs.len(),
                    self.outputs.len()
                ),
            });
        }
        self.outputs
            .iter()
            .zip(&outputs)
            .map(|(info, value)| Ok((info.name.clone(), from_tract(&info.name, value)?)))
            .collect()
    }

    /// The plan for these inputs' shapes, built and cached on first use.
    fn plan(&self, inputs: &[&(String, Tensor)]) -> Result<Arc<TypedRunnableModel>> {
        let key: Vec<Vec<usize>> = inputs.iter().map(|(_, t)| t.shape().to_vec()).collect();
        let mut plans = self.plans.lock().map_err(|_| Error::Run {
            message: "an earlier run panicked while building a plan".into(),
        })?;
        if let Some(plan) = plans.get(&key) {
            return Ok(Arc::clone(plan));
        }
        let plan = self.build_plan(inputs)?;
        if plans.len() >= PLAN_CACHE_SIZE {
            plans.clear();
        }
        plans.insert(key, Arc::clone(&plan));
        Ok(plan)
    }

    fn build_plan(&self, inputs: &[&(String, Tensor)]) -> Result<Arc<TypedRunnableModel>> {
        let error = |e: TractError| {
            diagnose::classify(&e, &self.model, &self.nodes, |message| Error::Load {
                model: self.model.clone(),
                message,
            })
        };
        let mut model = self.inference.clone();
        for (ix, (name, tensor)) in inputs.iter().enumerate() {
            let dt: DatumType =
                convert::dtype_to_tract(tensor.dtype()).ok_or_else(|| Error::UnsupportedDType {
                    name: name.clone(),
                    onnx_type: format!("{} (tract has no such type)", tensor.dtype()),
                })?;
            model
                .set_input_fact(ix, concrete_fact(dt, tensor.shape()))
                .map_err(error)?;
        }
        let typed = match self.level {
            OptimizationLevel::Disable => model.into_typed(),
            OptimizationLevel::Basic => model.into_typed().and_then(|m| m.into_decluttered()),
            _ => model.into_optimized(),
        }
        .map_err(error)?;
        typed.into_runnable().map_err(error)
    }

    /// How many plans are cached (one per distinct set of input shapes run so far).
    pub fn cached_plans(&self) -> usize {
        self.plans.lock().map_or(0, |plans| plans.len())
    }
}

/// The name of the first tensor, in the graph or its subgraphs, stored in external data.
fn first_external_tensor(model: &ModelProto) -> Option<String> {
    use tract_onnx::pb::tensor_proto::DataLocation;
    use tract_onnx::pb::{GraphProto, TensorProto};

    fn is_external(t: &TensorProto) -> bool {
        t.data_location == Some(DataLocation::External as i32)
    }
    fn search(graph: &GraphProto) -> Option<String> {
        if let Some(t) = graph.initializer.iter().find(|t| is_external(t)) {
            return Some(t.name.clone());
        }
        for node in &graph.node {
            for attribute in &node.attribute {
                if let Some(t) = attribute
                    .t
                    .iter()
                    .chain(&attribute.tensors)
                    .find(|t| is_external(t))
                {
                    return Some(if t.name.is_empty() {
                        node.name.clone()
                    } else {
                        t.name.clone()
                    });
                }
                if let Some(found) = attribute.g.iter().chain(&attribute.graphs).find_map(search) {
                    return Some(found);
                }
            }
        }
        None
    }
    search(model.graph.as_ref()?)
}
