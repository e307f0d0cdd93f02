"""external_data: y = x + w where the initializer w lives in a side file.

Isolates loading a model whose weights are external data (`weights.bin`, next to
model.onnx, referenced by a relative path): loading from the file must resolve it, loading
from bytes alone cannot. w = [1, 2, 3, 4], so y = x + [1, 2, 3, 4] for x f32 [4].

Rerun from the workspace root:  .venv/bin/python crates/optimize-runtime/tests/cases/external_data/make.py
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = Path(__file__).parent
w = numpy_helper.from_array(np.array([1, 2, 3, 4], dtype=np.float32), name="w")
graph = helper.make_graph(
    [helper.make_node("Add", ["x", "w"], ["y"], name="add")],
    "external_data",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    initializer=[w],
)
model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", 17)],
    producer_name="optimize-runtime tests/cases/external_data/make.py",
)
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(
    model,
    here / "model.onnx",
    save_as_external_data=True,
    all_tensors_to_one_file=True,
    location="weights.bin",
    size_threshold=0,
)
