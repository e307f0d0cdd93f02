//! The fuzz targets: one per entry point a file reaches.
//!
//! Every target is two steps. [`Target::generate`] turns a seed into an [`Input`] (a mutated
//! model, a damaged data set, or both), deterministically; [`Target::execute`] feeds it to the
//! library and says how far it got ([`Outcome`]). Errors are the expected answer to bad input;
//! only a panic is a failure, and the runner ([`crate::run`]) catches it. The settings of a
//! pass are drawn from the seed on a stream of their own ([`Target::config_rng`]), so a saved
//! input replays with the settings that crashed it.
//!
//! | target | what it calls |
//! |----|----|
//! | `load` | `Model::decode` / `Model::load`, `Summary::of` and its JSON, `save` (inline and external data) and a reload, `upgrade_opset`, `constants_to_initializers` |
//! | `data` | `CalibrationSet::open`, every sample, `labels`, `extra`; `read_arrays`, `read_array_infos`, the `.npy`, `.npz` and safetensors readers on each file |
//! | `quantize-dynamic` | `quantize_dynamic` with drawn settings |
//! | `quantize-static` | `CalibrationSet::open` on a small damaged set, then `quantize_static_with` calibrating on a synthetic runtime |
//! | `fp16` | `convert_to_fp16` (on the loaded model and on the raw protobuf), `float32_activations` |
//! | `prune` | `prune_magnitude`, `prune_n_m`, `plan_channels` / `prune_channels`, `factorize` |
//!
//! A pass's output must load again (`Model::decode`): an output that does not is reported as
//! [`Outcome::BadOutput`], a failure like a panic.

use crate::corpus::Corpus;
use crate::data::{self, Damage, DataCase};
use crate::model::{mutate_model, Profile};
use crate::rng::Rng;
use crate::runtime::Synthetic;
use optimize_data::{CalibrationSet, DType, InputSpec};
use optimize_onnx::proto::ModelProto;
use optimize_onnx::{Model, SaveOptions, Summary};
use prost::Message;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A fuzz target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The model loader, saver and inspect summary.
    Load,
    /// The calibration data readers.
    Data,
    /// Dynamic int8 quantization.
    QuantizeDynamic,
    /// Static QDQ quantization with a tiny calibration set.
    QuantizeStatic,
    /// Float16 conversion.
    Fp16,
    /// Magnitude, N:M, channel pruning and low-rank factorization.
    Prune,
}

/// What one target's input is.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// An encoded (maybe broken) model.
    Model(Vec<u8>),
    /// A calibration data case.
    Data(DataCase),
    /// A model and the calibration data for it.
    ModelData(Vec<u8>, DataCase),
}

/// How far one execution got.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The loader refused the input, with its error.
    Rejected(String),
    /// The input loaded but the pass (or a later step) refused it, with its error.
    Declined(String),
    /// Everything ran and the output loaded again.
    Done,
    /// The pass returned a model that does not load again: a bug, like a panic.
    BadOutput(String),
}

impl Target {
    /// Every target, in the order they run.
    pub const ALL: [Target; 6] = [
        Target::Load,
        Target::Data,
        Target::QuantizeDynamic,
        Target::QuantizeStatic,
        Target::Fp16,
        Target::Prune,
    ];

    /// The name used on the command line, in test names and in crash file names.
    pub fn name(self) -> &'static str {
        match self {
            Target::Load => "load",
            Target::Data => "data",
            Target::QuantizeDynamic => "quantize-dynamic",
            Target::QuantizeStatic => "quantize-static",
            Target::Fp16 => "fp16",
            Target::Prune => "prune",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The stream a pass's settings are drawn from: independent of the input's stream.
    pub fn config_rng(self, seed: u64) -> Rng {
        Rng::for_purpose(seed, &format!("{}-config", self.name()))
    }

    /// The input for `seed`, drawn from `corpus`.
    pub fn generate(self, seed: u64, corpus: &Corpus) -> Input {
        let mut rng = Rng::for_purpose(seed, self.name());
        match self {
            Target::Load => Input::Model(loader_input(corpus, &mut rng)),
            Target::Data => {
                let specs = specs_for(corpus, &mut rng);
                Input::Data(data::generate(&specs, &mut rng, Damage::Heavy))
            }
            Target::QuantizeStatic => {
                let bytes = pass_input(corpus, &mut rng);
                let specs = Model::decode(&bytes, Path::new("fuzz.onnx"), None)
                    .map(|m| optimize_bench::verify::input_specs(&m))
                    .unwrap_or_default();
                let case = data::generate(&specs, &mut rng, Damage::Light);
                Input::ModelData(bytes, case)
            }
            Target::QuantizeDynamic | Target::Fp16 | Target::Prune => {
                Input::Model(pass_input(corpus, &mut rng))
            }
        }
    }

    /// Runs `input` through the target, with scratch files under `scratch` (an empty folder).
    /// Never panics unless the library does.
    pub fn execute(self, seed: u64, input: &Input, scratch: &Path) -> Outcome {
        let mut config = self.config_rng(seed);
        match (self, input) {
            (Target::Load, Input::Model(bytes)) => load(bytes, scratch, &mut config),
            (Target::Data, Input::Data(case)) => calibration_data(case, scratch, &mut config),
            (Target::QuantizeDynamic, Input::Model(bytes)) => {
                with_model(bytes, |m| quantize_dynamic(m, &mut config))
            }
            (Target::QuantizeStatic, Input::ModelData(bytes, case)) => with_model(bytes, |m| {
                quantize_static(m, case, scratch, seed, &mut config)
            }),
            (Target::Fp16, Input::Model(bytes)) => fp16(bytes, &mut config),
            (Target::Prune, Input::Model(bytes)) => with_model(bytes, |m| prune(m, &mut config)),
            // Inputs of another target's kind (corpus models, regression files): a model alone
            // gets lightly damaged data drawn from the seed; data alone goes to the readers.
            (Target::Data | Target::QuantizeStatic, Input::Model(bytes)) => {
                let mut rng = Rng::for_purpose(seed, self.name());
                let specs = Model::decode(bytes, Path::new("fuzz.onnx"), None)
                    .map(|m| optimize_bench::verify::input_specs(&m))
                    .unwrap_or_default();
                let case = data::generate(&specs, &mut rng, Damage::Light);
                let input = match self {
                    Target::Data => Input::Data(case),
                    _ => Input::ModelData(bytes.clone(), case),
                };
                self.execute(seed, &input, scratch)
            }
            (Target::Data, Input::ModelData(_, case)) => {
                self.execute(seed, &Input::Data(case.clone()), scratch)
            }
            (_, Input::ModelData(bytes, _)) => {
                self.execute(seed, &Input::Model(bytes.clone()), scratch)
            }
            (_, Input::Data(_)) => Target::Data.execute(seed, input, scratch),
        }
    }
}

/// The loader's input: a seed model damaged in its structure (anything goes), in its bytes,
/// or both.
fn loader_input(corpus: &Corpus, rng: &mut Rng) -> Vec<u8> {
    let seed = corpus.pick(rng);
    let mut proto = seed.proto.clone();
    let mode = rng.below(4);
    if mode != 1 {
        let profile = if mode == 3 {
            Profile::Valid
        } else {
            Profile::Loose
        };
        let count = 1 + rng.below(4);
        mutate_model(&mut proto, rng, profile, count);
    }
    let mut bytes = proto.encode_to_vec();
    if mode == 1 || mode == 2 {
        let donor = corpus.pick(rng).bytes.clone();
        let count = 1 + rng.below(4);
        crate::bytes::mutate_bytes(&mut bytes, rng, Some(&donor), count);
    }
    bytes
}

/// A pass's input: a seed model with structural damage that keeps its tensors loadable, and
/// now and then a loose mutation (most of those the loader refuses).
fn pass_input(corpus: &Corpus, rng: &mut Rng) -> Vec<u8> {
    let mut proto = corpus.pick(rng).proto.clone();
    let profile = if rng.chance(0.85) {
        Profile::Valid
    } else {
        Profile::Loose
    };
    let count = rng.below(4);
    mutate_model(&mut proto, rng, profile, count);
    proto.encode_to_vec()
}

/// Input specs for a data case: a corpus model's own, or made up.
fn specs_for(corpus: &Corpus, rng: &mut Rng) -> Vec<InputSpec> {
    if rng.chance(0.7) {
        let seed = corpus.pick(rng);
        let m = Model::from_proto(seed.proto.clone());
        return optimize_bench::verify::input_specs(&m);
    }
    (0..rng.below(4))
        .map(|i| {
            let dtype = *rng.pick(&DType::ALL).expect("non-empty");
            let rank = rng.below(4);
            let shape: Vec<Option<usize>> = (0..rank)
                .map(|_| {
                    if rng.chance(0.3) {
                        None
                    } else {
                        Some(rng.below(4))
                    }
                })
                .collect();
            InputSpec::new(format!("in{i}"), dtype, shape)
        })
        .collect()
}

/// Decodes `bytes` as the CLI's loader does and runs `f` on the model.
fn with_model(bytes: &[u8], f: impl FnOnce(&Model) -> Outcome) -> Outcome {
    match Model::decode(bytes, Path::new("fuzz.onnx"), None) {
        Ok(model) => f(&model),
        Err(e) => Outcome::Rejected(e.to_string()),
    }
}

/// An output model must encode, load again, and summarize.
fn check_output(out: &ModelProto) -> Outcome {
    let bytes = out.encode_to_vec();
    match Model::decode(&bytes, Path::new("out.onnx"), None) {
        Ok(m) => {
            let _ = Summary::of(&m, Some(bytes.len() as u64));
            Outcome::Done
        }
        Err(e) => Outcome::BadOutput(format!("the output does not load again: {e}")),
    }
}

fn load(bytes: &[u8], scratch: &Path, rng: &mut Rng) -> Outcome {
    let model = if rng.chance(0.3) {
        let path = scratch.join("model.onnx");
        if let Err(e) = std::fs::write(&path, bytes) {
            return Outcome::Declined(format!("writing the input: {e}"));
        }
        Model::load(&path)
    } else {
        let base = rng.chance(0.5).then_some(scratch);
        Model::decode(bytes, Path::new("fuzz.onnx"), base)
    };
    let model = match model {
        Ok(m) => m,
        Err(e) => return Outcome::Rejected(e.to_string()),
    };
    let summary = Summary::of(&model, Some(bytes.len() as u64));
    if let Err(e) = serde_json::to_string(&summary) {
        return Outcome::BadOutput(format!("the summary does not serialize: {e}"));
    }
    let mut upgraded = model.proto.clone();
    let _ = optimize_onnx::transform::upgrade_opset(&mut upgraded, rng.range(7, 21));
    let mut folded = model.proto.clone();
    optimize_onnx::transform::constants_to_initializers(&mut folded);
    let options = SaveOptions {
        external_data: [
            optimize_onnx::ExternalData::Auto,
            optimize_onnx::ExternalData::Always,
            optimize_onnx::ExternalData::Never,
        ][rng.below(3)],
        size_threshold: [0, 1, 64, 1024][rng.below(4)],
        ..SaveOptions::default()
    };
    let out = scratch.join("saved.onnx");
    if let Err(e) = optimize_onnx::save(&model, &out, &options) {
        return Outcome::Declined(e.to_string());
    }
    match Model::load(&out) {
        Ok(_) => Outcome::Done,
        Err(e) => Outcome::BadOutput(format!("a saved model does not load again: {e}")),
    }
}

fn calibration_data(case: &DataCase, scratch: &Path, rng: &mut Rng) -> Outcome {
    let path = match case.write(scratch) {
        Ok(p) => p,
        Err(e) => return Outcome::Declined(format!("writing the case: {e}")),
    };
    // The readers on each file, whatever the set makes of them.
    for (rel, _) in &case.files {
        let file = scratch.join(rel);
        let _ = optimize_data::read_array_infos(&file);
        let _ = optimize_data::read_arrays(&file);
        let _ = optimize_data::npy::read_npy_header(&file);
        let _ = optimize_data::read_npy(&file);
        if let Ok(mut z) = optimize_data::npz::NpzReader::open(&file) {
            let _ = z.headers();
            let names: Vec<String> = z.names().map(str::to_string).collect();
            for n in names {
                let _ = z.header(&n);
                let _ = z.read(&n);
            }
            let _ = z.read_all();
        }
        let _ = optimize_data::safetensors::read_safetensors(&file);
        let _ = optimize_data::safetensors::read_safetensors_infos(&file);
        if let Ok(bytes) = std::fs::read(&file) {
            let _ = optimize_data::npy::read_npy_from(&bytes[..], Path::new(rel));
        }
    }
    let set = match CalibrationSet::open(&path, &case.specs) {
        Ok(s) => s,
        Err(e) => return Outcome::Rejected(e.to_string()),
    };
    let len = set.len();
    let (cal, held) = set.split(rng.below(len + 2));
    let mut first_err = None;
    for range in [0..len, cal, held, rng.below(len + 1)..rng.below(len + 3)] {
        for s in set.iter_range(range) {
            if let Err(e) = s {
                first_err.get_or_insert(e.to_string());
            }
        }
    }
    let _ = set.labels();
    let names: Vec<String> = set.extra_names().map(str::to_string).collect();
    for n in names {
        let _ = set.extra(&n);
    }
    let _ = set.extra("missing");
    match first_err {
        Some(e) => Outcome::Declined(e),
        None => Outcome::Done,
    }
}

/// A node filter drawn from the model: op types kept or excluded, a node excluded.
fn filter(model: &Model, rng: &mut Rng) -> optimize_onnx::filter::NodeFilter {
    let mut f = optimize_onnx::filter::NodeFilter::default();
    let Some(g) = model.proto.graph.as_ref() else {
        return f;
    };
    let ops: Vec<String> = g.node.iter().map(|n| n.op_type().to_string()).collect();
    let names: Vec<String> = g.node.iter().map(|n| n.name().to_string()).collect();
    if rng.chance(0.15) {
        f.op_types = Some(
            (0..1 + rng.below(2))
                .filter_map(|_| rng.pick(&ops).cloned())
                .collect(),
        );
    }
    if rng.chance(0.15) {
        f.exclude_nodes.extend(rng.pick(&names).cloned());
    }
    if rng.chance(0.1) {
        f.exclude_op_types.extend(rng.pick(&ops).cloned());
    }
    f
}

/// Node names (or first outputs) of the main graph, a few drawn.
fn some_nodes(model: &Model, rng: &mut Rng) -> BTreeSet<String> {
    let Some(g) = model.proto.graph.as_ref() else {
        return BTreeSet::new();
    };
    let ids: Vec<String> = g
        .node
        .iter()
        .map(|n| optimize_onnx::filter::NodeFilter::node_id(n).to_string())
        .collect();
    (0..rng.below(3))
        .filter_map(|_| rng.pick(&ids).cloned())
        .collect()
}

fn quant_config(model: &Model, rng: &mut Rng) -> optimize_quant::QuantConfig {
    use optimize_quant::weights::WeightType;
    use optimize_quant::CalibrationMethod;
    let method = match rng.below(5) {
        0 => CalibrationMethod::Entropy,
        1 => CalibrationMethod::Mse,
        2 => CalibrationMethod::Percentile([99.99, 50.0, 100.0, 0.001][rng.below(4)]),
        _ => CalibrationMethod::MinMax,
    };
    optimize_quant::QuantConfig {
        per_channel: rng.chance(0.4),
        method,
        symmetric_activations: rng.chance(0.3),
        filter: filter(model, rng),
        bins: [2048, 128, 2, 4][rng.below(4)],
        conv_integer: rng.chance(0.3),
        bias_correction: rng.chance(0.3),
        weight_only: if rng.chance(0.2) {
            some_nodes(model, rng)
        } else {
            BTreeSet::new()
        },
        fp16_weights: if rng.chance(0.2) {
            some_nodes(model, rng)
        } else {
            BTreeSet::new()
        },
        int8_storage: if rng.chance(0.2) {
            some_nodes(model, rng)
        } else {
            BTreeSet::new()
        },
        max_weight_error: [optimize_quant::weights::MAX_RELATIVE_ERROR, 0.0, 1.0, 1e9]
            [rng.below(4)],
        max_activation_noise: [optimize_quant::MAX_ACTIVATION_NOISE, 0.0, 1e9][rng.below(3)],
        weight_type: if rng.chance(0.5) {
            WeightType::Int8
        } else {
            WeightType::Uint8
        },
        // Drawn last, so the saved regressions' seeds still give the configs they were found with.
        matmul_integer: !rng.chance(0.3),
    }
}

fn quantize_dynamic(model: &Model, rng: &mut Rng) -> Outcome {
    let config = quant_config(model, rng);
    match optimize_quant::quantize_dynamic(model, &config) {
        Ok((out, report)) => {
            let _ = report.nodes_quantized();
            check_output(&out.proto)
        }
        Err(e) => Outcome::Declined(e.to_string()),
    }
}

fn quantize_static(
    model: &Model,
    case: &DataCase,
    scratch: &Path,
    seed: u64,
    rng: &mut Rng,
) -> Outcome {
    let config = quant_config(model, rng);
    let path: PathBuf = match case.write(scratch) {
        Ok(p) => p,
        Err(e) => return Outcome::Declined(format!("writing the case: {e}")),
    };
    // The data is opened for the model's own inputs, as the quantize job does.
    let specs = optimize_bench::verify::input_specs(model);
    let set = match CalibrationSet::open(&path, &specs) {
        Ok(s) => s,
        Err(e) => return Outcome::Rejected(e.to_string()),
    };
    let samples = set
        .iter()
        .map(|s| s.map(|s| s.inputs).map_err(optimize_quant::Error::from));
    let runtime = Synthetic::new(seed);
    let load = |bytes: &[u8]| runtime.load(bytes);
    match optimize_quant::quantize_static_with(model, samples, &config, &load, &mut |_| {}) {
        Ok((out, _, _)) => check_output(&out.proto),
        Err(e) => Outcome::Declined(e.to_string()),
    }
}

fn fp16_config(proto: &ModelProto, rng: &mut Rng) -> optimize_quant::fp16::Fp16Config {
    let mut config = optimize_quant::fp16::Fp16Config {
        keep_io_types: rng.chance(0.7),
        ..Default::default()
    };
    if let Some(g) = proto.graph.as_ref() {
        let outs: Vec<String> = g.node.iter().flat_map(|n| n.output.clone()).collect();
        let ops: Vec<String> = g.node.iter().map(|n| n.op_type().to_string()).collect();
        for _ in 0..rng.below(3) {
            config.keep_fp32_nodes.extend(rng.pick(&outs).cloned());
        }
        for _ in 0..rng.below(2) {
            config.block_ops.extend(rng.pick(&ops).cloned());
        }
    }
    if rng.chance(0.1) {
        config.block_ops.clear();
    }
    config
}

fn fp16(bytes: &[u8], rng: &mut Rng) -> Outcome {
    // The raw protobuf too: the conversion's contract covers tensors whose data does not
    // match their shape (an error), so it must not need the loader's checks.
    if let Ok(raw) = ModelProto::decode(bytes) {
        let config = fp16_config(&raw, rng);
        let _ = optimize_quant::fp16::convert_to_fp16(&raw, &config);
        let _ = optimize_quant::fp16::float32_activations(&raw);
    }
    with_model(bytes, |model| {
        let config = fp16_config(&model.proto, rng);
        let _ = optimize_quant::fp16::float32_activations(&model.proto);
        match optimize_quant::fp16::convert_to_fp16(&model.proto, &config) {
            Ok((out, _)) => check_output(&out),
            Err(e) => Outcome::Declined(e.to_string()),
        }
    })
}

fn prune(model: &Model, rng: &mut Rng) -> Outcome {
    use optimize_prune::{
        ChannelConfig, Criterion, LowRankConfig, MagnitudeConfig, NmConfig, NmPattern, RankRule,
        Scope,
    };
    let filter = filter(model, rng);
    let result = match rng.below(4) {
        0 => {
            let config = MagnitudeConfig {
                sparsity: [0.0, 0.5, 0.9, 0.999, 0.25][rng.below(5)],
                scope: if rng.chance(0.5) {
                    Scope::Global
                } else {
                    Scope::PerLayer
                },
                exclude_first: rng.chance(0.3),
                exclude_last: rng.chance(0.3),
                filter,
            };
            optimize_prune::prune_magnitude(model, &config)
        }
        1 => {
            // Mostly patterns the parser accepts; its refusals are cheap and quickly seen.
            let text = if rng.chance(0.9) {
                ["2:4", "1:2", "4:8", "3:4", "1:64", "63:64", "1:3"][rng.below(7)]
            } else {
                ["0:4", "5:4", "2:0", "x", "4:4", "1:65"][rng.below(6)]
            };
            match text.parse::<NmPattern>() {
                Ok(pattern) => optimize_prune::prune_n_m(model, &NmConfig { pattern, filter }),
                Err(e) => Err(e),
            }
        }
        2 => {
            let config = ChannelConfig {
                ratio: [0.5, 0.0, 0.25, 0.99, 0.75][rng.below(5)],
                criterion: [Criterion::L1, Criterion::L2, Criterion::BnScale][rng.below(3)],
                round_to: [1, 1, 2, 8, 16][rng.below(5)],
                filter,
            };
            if rng.chance(0.5) {
                optimize_prune::prune_channels(model, &config)
            } else {
                match optimize_prune::plan_channels(model, &config) {
                    Ok(plan) if rng.chance(0.3) => {
                        let _ = plan.groups().len();
                        plan.zeroed().map(|m| (m, Default::default()))
                    }
                    Ok(plan) => plan.apply(),
                    Err(e) => Err(e),
                }
            }
        }
        _ => {
            let config = LowRankConfig {
                rule: if rng.chance(0.5) {
                    RankRule::Rank([1, 2, 3, 1000][rng.below(4)])
                } else {
                    RankRule::Energy([0.5, 0.9, 1.0, 1e-9][rng.below(4)])
                },
                force: rng.chance(0.3),
                filter,
            };
            optimize_prune::factorize(model, &config)
        }
    };
    match result {
        Ok((out, _)) => check_output(&out.proto),
        Err(e) => Outcome::Declined(e.to_string()),
    }
}
