"""What float16 conversion must do to a model, counted on the float32 model with the onnx
package (an independent reading of the file, not our converter's).

Usage: counts.py MODEL.onnx OP [OP ...]

OPs are the op types kept in float32 (the converter's block list). Prints one JSON line:
  {"nodes": {op: n}, "batch_norms_out_of_range": n, "values_beyond_fp16": n}
- nodes: how many nodes of each listed op type the model has, in every graph (If/Loop/Scan
  bodies included), the ones with a float input or output only;
- batch_norms_out_of_range: BatchNormalization nodes (inference mode) whose scale, bias, mean
  or variance holds a value beyond float16's ±65504;
- values_beyond_fp16: float32 values beyond ±65504 in initializers and Constant values of every
  graph, not counting those BatchNormalization parameters (which are folded, not clamped).
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

FP16_MAX = 65504.0
FLOAT = onnx.TensorProto.FLOAT


def graphs(g):
    yield g
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from graphs(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sub in a.graphs:
                    yield from graphs(sub)


def main():
    model = onnx.load(sys.argv[1])
    blocked = set(sys.argv[2:])
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {}
    for g in graphs(inferred.graph):
        for v in list(g.input) + list(g.output) + list(g.value_info):
            types[v.name] = v.type.tensor_type.elem_type
        for t in g.initializer:
            types[t.name] = t.data_type
    nodes, bn, beyond = {}, 0, 0
    for g in graphs(model.graph):
        consts = {t.name: numpy_helper.to_array(t) for t in g.initializer if t.data_type == FLOAT}
        for n in g.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value" and a.t.data_type == FLOAT:
                        consts[n.output[0]] = numpy_helper.to_array(a.t)
        folded = set()
        for n in g.node:
            if n.op_type in blocked and any(types.get(v) == FLOAT for v in list(n.input) + list(n.output)):
                nodes[n.op_type] = nodes.get(n.op_type, 0) + 1
            training = any(a.name == "training_mode" and a.i for a in n.attribute)
            if n.op_type == "BatchNormalization" and not training:
                params = [consts.get(v) for v in n.input[1:5]]
                if any(p is not None and p.size and np.abs(p).max() > FP16_MAX for p in params):
                    bn += 1
                    folded.update(n.input[1:5])
        for name, v in consts.items():
            if name not in folded:
                beyond += int((np.abs(v) > FP16_MAX).sum())
    print(json.dumps({"nodes": nodes, "batch_norms_out_of_range": bn, "values_beyond_fp16": beyond}))


if __name__ == "__main__":
    main()
