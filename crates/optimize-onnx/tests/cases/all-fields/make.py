"""Builds model.onnx: a small valid model that sets every ModelProto field the ONNX spec defines.

What it isolates: lossless load/save. The round-trip test loads this file with optimize-onnx,
saves it, and asks the official onnx Python package (protobuf's own parser) whether the two files
hold the same message, so a field our generated structs did not know would show up as a difference.

Fields covered: ir_version, opset_import (two domains), producer_name/version, domain,
model_version, doc_string (model, graph, node, value, tensor), metadata_props (model, graph, node),
graph: node (with every attribute kind, including a subgraph), initializer (raw and typed data),
sparse_initializer, input/output/value_info with symbolic dims and denotations,
quantization_annotation; functions (with attributes and value_info); training_info;
configuration (device configuration); node device_configurations.

Regenerate: .venv/bin/python crates/optimize-onnx/tests/cases/all-fields/make.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))

w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
w.doc_string = "raw float initializer"
typed = helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.5, -1.0, 2.0])  # float_data, not raw
typed.doc_string = "typed float initializer"
shape_c = helper.make_tensor("shape_c", TensorProto.INT64, [2], [3, 2])
sparse = helper.make_sparse_tensor(
    helper.make_tensor("sp", TensorProto.FLOAT, [2], [1.0, 2.0]),
    helper.make_tensor("sp_idx", TensorProto.INT64, [2], [0, 5]),
    [2, 3],
)

then_g = helper.make_graph(
    [helper.make_node("Identity", ["y"], ["then_out"])],
    "then_branch",
    [],
    [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [None, 3])],
)
else_g = helper.make_graph(
    [helper.make_node("Neg", ["y"], ["else_out"])],
    "else_branch",
    [],
    [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [None, 3])],
)

mm = helper.make_node("MatMul", ["x", "w"], ["xw"], name="matmul", doc_string="node doc")
mm.metadata_props.add(key="node_meta", value="1")
add = helper.make_node("Add", ["xw", "bias"], ["y"], name="add")
cond = helper.make_node("Constant", [], ["cond"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True]))
iff = helper.make_node("If", ["cond"], ["z"], name="if", then_branch=then_g, else_branch=else_g)
fn_call = helper.make_node("AddTwice", ["z", "sp_dense"], ["out"], domain="custom.fn", name="call", alpha=1.5)
sp_dense = helper.make_node("Constant", [], ["sp_dense"], sparse_value=sparse)
# Attribute kinds not used above, on a node that ignores unknown attributes is not allowed in ONNX;
# they live on the function's nodes instead (see below).

fn = helper.make_function(
    "custom.fn",
    "AddTwice",
    ["a", "b"],
    ["c"],
    [helper.make_node("Add", ["a", "b"], ["t"]), helper.make_node("Add", ["t", "b"], ["c"])],
    [helper.make_opsetid("", 17)],
    attributes=["alpha"],
)
fn.doc_string = "function doc"
fn.value_info.append(helper.make_tensor_value_info("t", TensorProto.FLOAT, [None, 3]))
fn.metadata_props.add(key="fn_meta", value="2")

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])
x.doc_string = "input doc"
x.type.tensor_type.shape.dim[0].denotation = "DATA_BATCH"
x.type.denotation = "TENSOR"
out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3])
vi = helper.make_tensor_value_info("xw", TensorProto.FLOAT, ["batch", 3])

graph = helper.make_graph(
    [mm, add, cond, iff, sp_dense, fn_call],
    "all_fields",
    [x],
    [out],
    initializer=[w, typed, shape_c],
    value_info=[vi],
    doc_string="graph doc",
)
graph.sparse_initializer.append(
    helper.make_sparse_tensor(
        helper.make_tensor("sp_init", TensorProto.FLOAT, [1], [3.0]),
        helper.make_tensor("sp_init_idx", TensorProto.INT64, [1], [1]),
        [4],
    )
)
qa = graph.quantization_annotation.add()
qa.tensor_name = "xw"
qa.quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="w")
graph.metadata_props.add(key="graph_meta", value="3")

model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom.fn", 1)],
    producer_name="optimize-tests",
    producer_version="1.0",
    domain="dev.optimize.tests",
    model_version=7,
    doc_string="model doc",
    functions=[fn],
)
model.ir_version = 10
helper.set_model_props(model, {"author": "optimize", "purpose": "lossless round trip"})

# Training info: an initialization graph that sets `w`, and an (empty) algorithm.
init_g = helper.make_graph(
    [helper.make_node("Constant", [], ["w_init"], value_floats=[0.0] * 6)], "init", [], [helper.make_tensor_value_info("w_init", TensorProto.FLOAT, [6])]
)
ti = model.training_info.add()
ti.initialization.CopyFrom(init_g)
ti.algorithm.CopyFrom(helper.make_graph([], "algo", [], []))
b = ti.initialization_binding.add()
b.key, b.value = "w", "w_init"
ub = ti.update_binding.add()
ub.key, ub.value = "w", "w_init"

cfg = model.configuration.add()
cfg.name = "two_devices"
cfg.num_devices = 2
cfg.device.extend(["cpu:0", "cpu:1"])

path = os.path.join(here, "model.onnx")
with open(path, "wb") as f:
    f.write(model.SerializeToString(deterministic=True))

# Also a model whose weights live in an external file, for the external-data tests.
ext = onnx.load(path)
onnx.save_model(ext, os.path.join(here, "external.onnx"), save_as_external_data=True,
                all_tensors_to_one_file=True, location="external.onnx.data", size_threshold=16)
print("wrote", path)
