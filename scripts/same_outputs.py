"""Checks that a rewritten ONNX model computes what the original does.

Usage: same_outputs.py ORIGINAL REWRITTEN [--model NAME] [--seed 0] [--atol 1e-5]

REWRITTEN must pass onnx.checker.check_model(full_check=True). Both models run in ONNX Runtime on
CPU, on the same seeded inputs, twice: with graph optimizations off (each model computes exactly
its own graph) and at ONNX Runtime's default level (what users run). Inputs come from the input
hints of models/manifest.json entry NAME when given, else from each input's declared type, whose
shape must then be static (floats standard normal, integers in [0, 10)). They are drawn with
numpy default_rng(SEED) in graph order, as scripts/check-models.py does.

Every output must have the same shape and dtype, and differ by at most ATOL (non-float outputs:
exactly equal). Prints one JSON line:
  {"outputs": {name: max_abs_diff}, "max_abs_diff": x, "inputs": {name: shape}}
Exit 0 when everything matches; 1 otherwise, with what differed.
"""
import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent


def check_models_module():
    spec = importlib.util.spec_from_file_location("check_models", ROOT / "scripts" / "check-models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def declared_hints(model):
    init = {t.name for t in model.graph.initializer}
    hints = {}
    for v in model.graph.input:
        if v.name in init:
            continue
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if None in dims:
            sys.exit(f"{v.name}: dynamic shape {dims}; pass --model NAME for manifest hints")
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).name
        hint = {"dtype": dtype, "shape": dims}
        if np.issubdtype(np.dtype(dtype), np.integer):
            hint.update(low=0, high=10)
        hints[v.name] = hint
    return hints


def run(path, feed, level):
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feed)))


def compare(expected, actual, atol):
    diffs, problems = {}, []
    if list(expected) != list(actual):
        problems.append(f"outputs {list(expected)} vs {list(actual)}")
        return diffs, problems
    for name, a in expected.items():
        b = actual[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{name}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}")
            continue
        if np.issubdtype(a.dtype, np.floating):
            both_nan = np.isnan(a) & np.isnan(b)
            d = np.where(both_nan, 0.0, np.abs(a.astype(np.float64) - b.astype(np.float64)))
            diff = float(np.nanmax(d)) if d.size else 0.0
            if np.isnan(d).any():
                diff = float("inf")
        else:
            diff = 0.0 if np.array_equal(a, b) else float("inf")
        diffs[name] = diff
        if not diff <= atol:
            problems.append(f"{name}: max abs diff {diff} > {atol}")
    return diffs, problems


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("original")
    p.add_argument("rewritten")
    p.add_argument("--model", help="models/manifest.json entry whose input hints to use")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--atol", type=float, default=1e-5)
    args = p.parse_args()

    onnx.checker.check_model(args.rewritten, full_check=True)
    original = onnx.load(args.original, load_external_data=False)
    cm = check_models_module()
    if args.model:
        manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
        entry = next(m for m in manifest["models"] if m["name"] == args.model)
        hints = entry["inputs"]
    else:
        hints = declared_hints(original)
    init = {t.name for t in original.graph.initializer}
    names = [v.name for v in original.graph.input if v.name not in init]
    feed = cm.make_inputs(hints, names, seed=args.seed)

    worst, diffs, problems = 0.0, {}, []
    for label, level in [("no_opt", ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
                         ("default", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)]:
        d, probs = compare(run(args.original, feed, level), run(args.rewritten, feed, level), args.atol)
        problems += [f"[{label}] {m}" for m in probs]
        for name, v in d.items():
            diffs[name] = max(diffs.get(name, 0.0), v)
            worst = max(worst, v)
    print(json.dumps({"outputs": diffs, "max_abs_diff": worst,
                      "inputs": {k: list(v.shape) for k, v in feed.items()}}))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
