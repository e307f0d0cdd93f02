"""add_broadcast: z = x + y with a symbolic batch dimension.

Isolates input/output metadata (a named symbolic dim `batch`, a fixed dim, a rank-1 input)
and a real computation whose result the test works out by hand: x f32 [batch, 4] plus
y f32 [4] broadcast over rows gives z f32 [batch, 4].

Rerun from the workspace root:  .venv/bin/python crates/optimize-runtime/tests/cases/add_broadcast/make.py
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

graph = helper.make_graph(
    [helper.make_node("Add", ["x", "y"], ["z"], name="add")],
    "add_broadcast",
    [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [4]),
    ],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])],
)
model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", 17)],
    producer_name="optimize-runtime tests/cases/add_broadcast/make.py",
)
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, Path(__file__).with_name("model.onnx"))
