"""Compares two ONNX files with the official onnx package: same message, field for field.

Usage: same_model.py ORIGINAL SAVED [--check]

Both files are parsed by protobuf's own parser (external data loaded), tensors' data_location is
normalised (inline data may say DEFAULT explicitly or not at all), and the deterministic
serializations are compared. With --check, SAVED must also pass onnx.checker.check_model(full_check=True).
Exit 0 when equal; exit 1 with the first differing field path otherwise.
"""
import sys

import onnx
from onnx import TensorProto


def tensors(model):
    def in_graph(g):
        yield from g.initializer
        for s in g.sparse_initializer:
            yield s.values
            yield s.indices
        for n in g.node:
            yield from in_nodes([n])
            for a in n.attribute:
                if a.HasField("g"):
                    yield from in_graph(a.g)
                for sg in a.graphs:
                    yield from in_graph(sg)

    def in_nodes(nodes):
        for n in nodes:
            for a in n.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("sparse_tensor"):
                    yield a.sparse_tensor.values
                    yield a.sparse_tensor.indices

    yield from in_graph(model.graph)
    for f in model.functions:
        yield from in_nodes(f.node)
    for ti in model.training_info:
        yield from in_graph(ti.initialization)
        yield from in_graph(ti.algorithm)


def normalised(path):
    m = onnx.load(path)
    for t in tensors(m):
        if t.data_location == TensorProto.DEFAULT:
            t.ClearField("data_location")
    return m


def first_difference(a, b, prefix=""):
    for field in set(f.name for f, _ in a.ListFields()) | set(f.name for f, _ in b.ListFields()):
        va, vb = getattr(a, field), getattr(b, field)
        if va == vb:
            continue
        if hasattr(va, "ListFields"):
            return first_difference(va, vb, f"{prefix}{field}.")
        if hasattr(va, "__len__") and not isinstance(va, (str, bytes)) and len(va) == len(vb):
            for i, (x, y) in enumerate(zip(va, vb)):
                if x != y:
                    return first_difference(x, y, f"{prefix}{field}[{i}].") if hasattr(x, "ListFields") else f"{prefix}{field}[{i}]"
        return f"{prefix}{field}"
    return prefix or "(unknown)"


def main():
    a, b = sys.argv[1], sys.argv[2]
    ma, mb = normalised(a), normalised(b)
    if ma.SerializeToString(deterministic=True) != mb.SerializeToString(deterministic=True):
        print(f"differ: {a} vs {b} at {first_difference(ma, mb)}")
        sys.exit(1)
    if "--check" in sys.argv[3:]:
        onnx.checker.check_model(b, full_check=True)
    print("same")


if __name__ == "__main__":
    main()
