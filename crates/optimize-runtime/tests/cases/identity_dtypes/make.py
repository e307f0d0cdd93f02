"""identity_dtypes: one Identity per supported dtype, to check tensor conversion both ways.

Isolates the mapping between optimize_data::DType and ONNX Runtime element types: input
`x_<dtype>` of shape [2, 3] goes straight to output `y_<dtype>`, so the bytes that come back
must equal the bytes sent. No expected outputs are stored; the expectation is the input.

Rerun from the workspace root:  .venv/bin/python crates/optimize-runtime/tests/cases/identity_dtypes/make.py
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

DTYPES = {
    "f32": TensorProto.FLOAT,
    "f16": TensorProto.FLOAT16,
    "bf16": TensorProto.BFLOAT16,
    "f64": TensorProto.DOUBLE,
    "i8": TensorProto.INT8,
    "u8": TensorProto.UINT8,
    "i16": TensorProto.INT16,
    "u16": TensorProto.UINT16,
    "i32": TensorProto.INT32,
    "u32": TensorProto.UINT32,
    "i64": TensorProto.INT64,
    "u64": TensorProto.UINT64,
    "bool": TensorProto.BOOL,
}

inputs, outputs, nodes = [], [], []
for name, elem in DTYPES.items():
    inputs.append(helper.make_tensor_value_info(f"x_{name}", elem, [2, 3]))
    outputs.append(helper.make_tensor_value_info(f"y_{name}", elem, [2, 3]))
    nodes.append(helper.make_node("Identity", [f"x_{name}"], [f"y_{name}"], name=f"id_{name}"))

graph = helper.make_graph(nodes, "identity_dtypes", inputs, outputs)
model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", 17)],
    producer_name="optimize-runtime tests/cases/identity_dtypes/make.py",
)
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, Path(__file__).with_name("model.onnx"))
