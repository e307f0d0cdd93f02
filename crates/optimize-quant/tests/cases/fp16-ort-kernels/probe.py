"""Which ONNX ops ONNX Runtime's CPU provider runs in float16.

For every default-domain op whose schema mentions tensor(float16), build a one-node model with
float16 inputs (other inputs get the first allowed of int64/int32/bool/float), give it the
attributes it needs, and create a CPU session at opsets 11, 12, 16 and 17 (the opsets of the
models in models/) with graph optimizations disabled and enabled. Then read back the model ORT
actually runs (optimized_model_filepath):

  native    ORT has a float16 kernel: no Cast in the optimized graph.
  autocast  no float16 kernel; ORT's InsertCastTransformer wrapped the node in Casts to float32.
  REJECTED  session creation failed (message shown): the schema does not allow float16 there, or
            ORT has no kernel at all.

Usage: .venv/bin/python crates/optimize-quant/tests/cases/fp16-ort-kernels/probe.py [OP ...]
Prints a Markdown table. Results for onnxruntime 1.31.1 / onnx 1.23.2 (x86-64 Linux wheel) are
summarised in crates/optimize-quant/src/fp16/mod.rs; rerun this after upgrading ONNX Runtime.
"""
import collections
import os
import sys
import tempfile

import onnx
import onnxruntime as ort
from onnx import TensorProto, defs, helper

F16 = TensorProto.FLOAT16
OPSETS = [11, 12, 16, 17]
PICK = [("tensor(int64)", TensorProto.INT64), ("tensor(int32)", TensorProto.INT32),
        ("tensor(bool)", TensorProto.BOOL), ("tensor(float)", TensorProto.FLOAT)]
# Attributes without which a node cannot be built at all.
ATTRS = {
    "Cast": {"to": TensorProto.FLOAT}, "Concat": {"axis": 0}, "LSTM": {"hidden_size": 4},
    "GRU": {"hidden_size": 4}, "RNN": {"hidden_size": 4}, "MaxPool": {"kernel_shape": [1]},
    "AveragePool": {"kernel_shape": [1]}, "LpPool": {"kernel_shape": [1]},
    "DepthToSpace": {"blocksize": 1}, "SpaceToDepth": {"blocksize": 1}, "LRN": {"size": 1},
    "Einsum": {"equation": "ij->ij"}, "Resize": {"mode": "nearest"},
    "MaxRoiPool": {"pooled_shape": [1, 1]}, "RandomNormal": {"shape": [1]},
    "RandomUniform": {"shape": [1]}, "Upsample": {"mode": "nearest"},
    "MaxUnpool": {"kernel_shape": [1]}, "ConstantOfShape": {},
}
SKIP = {"If", "Loop", "Scan", "Optional", "OptionalGetElement", "OptionalHasElement",
        "SequenceMap", "Constant"}  # need subgraphs or non-tensor types; If tested in tests/fp16.rs


def latest(op, opset):
    try:
        return defs.get_schema(op, opset, "")
    except Exception:
        return None


def build(schema, opset):
    tcs = {tc.type_param_str: list(tc.allowed_type_strs) for tc in schema.type_constraints}
    inputs, names = [], []
    for i, f in enumerate(schema.inputs):
        if f.option == defs.OpSchema.FormalParameterOption.Optional and i >= schema.min_input:
            break
        allowed = tcs.get(f.type_str, [f.type_str])
        if "tensor(float16)" in allowed:
            t = F16
        else:
            t = next((code for s, code in PICK if s in allowed), None)
            if t is None:
                return None
        inputs.append(helper.make_tensor_value_info(f"i{i}", t, None))
        names.append(f"i{i}")
    outs = [f"o{i}" for i in range(max(1, schema.min_output))]
    attrs = dict(ATTRS.get(schema.name, {}))
    inits = []
    if schema.name == "Unsqueeze" and opset < 13:
        attrs["axes"] = [0]
    if schema.name == "Resize" and opset >= 13:
        # Needs scales or sizes; scales is tensor(float) whatever X is.
        names = ["i0", "", "scales"]
        inits.append(helper.make_tensor("scales", TensorProto.FLOAT, [1], [1.0]))
    node = helper.make_node(schema.name, names, outs, **attrs)
    graph = helper.make_graph([node], "g", inputs, [], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
        types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    except Exception:
        types = {}
    for o in outs:
        graph.output.append(helper.make_tensor_value_info(o, types.get(o) or F16, None))
    return model


def probe(schema, opset, level, tmp):
    model = build(schema, opset)
    if model is None:
        return "n/a"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = level
    opts.optimized_model_filepath = os.path.join(tmp, "opt.onnx")
    opts.log_severity_level = 4
    try:
        ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        msg = str(e).splitlines()[0]
        if "Could not find an implementation" in msg:
            return "REJECTED (no kernel)"
        if "is invalid" in msg or "No Op registered" in msg:
            return "REJECTED (schema)"
        return "error: " + msg[:80]
    casts = sum(n.op_type == "Cast" for n in onnx.load(opts.optimized_model_filepath).graph.node)
    return "native" if casts == (schema.name == "Cast") else "autocast"


def main():
    wanted = set(sys.argv[1:])
    names = sorted({s.name for s in defs.get_all_schemas_with_history() if s.domain == ""})
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}\n")
    print("| op | " + " | ".join(f"opset {o}" for o in OPSETS) + " |")
    print("|---|" + "---|" * len(OPSETS))
    summary = collections.defaultdict(list)
    float_only = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if name in SKIP or (wanted and name not in wanted):
                continue
            cells = []
            for opset in OPSETS:
                schema = latest(name, opset)
                if schema is None or schema.deprecated:
                    cells.append("-")
                    continue
                allowed = {t for tc in schema.type_constraints for t in tc.allowed_type_strs}
                if "tensor(float16)" not in allowed:
                    cells.append("no float16 in schema")
                    if opset == OPSETS[-1] and "tensor(float)" in allowed:
                        float_only.append(name)
                    continue
                results = {probe(schema, opset, lvl, tmp) for lvl in
                           (ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                            ort.GraphOptimizationLevel.ORT_ENABLE_ALL)}
                cells.append(" / ".join(sorted(results)))
            if all(c in ("-", "no float16 in schema") for c in cells):
                continue
            print(f"| {name} | " + " | ".join(cells) + " |")
            summary[cells[-1]].append(name)
    print()
    for k, v in sorted(summary.items()):
        print(f"opset 17 {k}: {', '.join(v)}")
    print(f"opset 17, float32 allowed but not float16 by the schema: {', '.join(float_only)}")


if __name__ == "__main__":
    main()
