"""Argmax agreement of a float16 digits model with its float32 original on the 359 held-out
digits of models/data/digits-test.npz (`input` float32 [359, 64] = pixels/16, `label` int).

Usage: accuracy.py ORIGINAL.onnx CONVERTED.onnx [--cnn]
Prints one JSON object: samples, agree (same argmax), acc32, acc16, max_abs (largest logit
difference). --cnn reshapes the input to [n, 1, 8, 8] as digits-cnn expects.
Run by crates/optimize-quant/tests/fp16.rs; the expected numbers live in that test.
"""
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort

root = pathlib.Path(__file__).resolve().parents[5]
data = np.load(root / "models/data/digits-test.npz")
x, label = data["input"].astype(np.float32), data["label"]
if "--cnn" in sys.argv:
    x = x.reshape(-1, 1, 8, 8)


def logits(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0].astype(np.float32)


a, b = logits(sys.argv[1]), logits(sys.argv[2])
print(json.dumps({
    "samples": int(len(x)),
    "agree": int((a.argmax(1) == b.argmax(1)).sum()),
    "acc32": float((a.argmax(1) == label).mean()),
    "acc16": float((b.argmax(1) == label).mean()),
    "max_abs": float(np.abs(a - b).max()),
}))
