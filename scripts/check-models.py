#!/usr/bin/env python3
"""Check the models in models/manifest.json with onnxruntime.

For every model whose file is present (fetch with scripts/fetch-models.py):
checks sha256 and size against the manifest, checks that the manifest's input
hints cover every graph input with the right dtype, builds seeded inputs from
the hints (numpy default_rng(0), inputs in graph order), runs onnxruntime on
CPU and checks that float outputs are finite. For the digits models it also
checks the test-split accuracy against models/data/digits-test.npz and the
test_accuracy recorded in the model's metadata.

  --markdown   print the models/README.md table (op summaries computed here)

Exit status is non-zero if any present model fails; missing fetched models are
reported and skipped (use --require to fail on them).
"""

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np

from pinned import file_sha256 as sha256
import onnx

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "models" / "manifest.json"
DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32, "bool": np.bool_}
ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
             "tensor(int32)": "int32", "tensor(bool)": "bool"}


def make_inputs(hints, names, seed=0):
    rng = np.random.default_rng(seed)
    feed = {}
    for name in names:
        h = hints[name]
        dt = DTYPES[h["dtype"]]
        shape = tuple(h["shape"])
        if "value" in h:
            feed[name] = np.full(shape, h["value"], dtype=dt)
        elif np.issubdtype(dt, np.integer):
            feed[name] = rng.integers(h.get("low", 0), h["high"], size=shape, dtype=dt)
        elif "low" in h or "high" in h:
            feed[name] = rng.uniform(h.get("low", 0.0), h.get("high", 1.0), size=shape).astype(dt)
        else:
            feed[name] = rng.standard_normal(shape).astype(dt)
    return feed


def op_counts(model):
    c = collections.Counter()

    def walk(g):
        for n in g.node:
            c[n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"] += 1
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                for sub in a.graphs:
                    walk(sub)

    walk(model.graph)
    return c


def op_summary(counts, top=8):
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    s = ", ".join(f"{k} {v}" for k, v in items[:top])
    rest = sum(v for _, v in items[top:])
    if rest:
        s += f", +{len(items) - top} other types ({rest})"
    return f"{sum(counts.values())} nodes: " + s


def check(m, ort):
    path = ROOT / m["file"]
    problems = []
    if sha256(path) != m["sha256"]:
        problems.append("sha256 differs from manifest")
    if path.stat().st_size != m["bytes"]:
        problems.append(f"size {path.stat().st_size} != manifest bytes {m['bytes']}")
    model = onnx.load(str(path))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset != m["opset"]:
        problems.append(f"opset {opset} != manifest {m['opset']}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    for i in sess.get_inputs():
        h = m["inputs"].get(i.name)
        if h is None:
            problems.append(f"no input hint for {i.name}")
        elif ORT_TYPES.get(i.type) != h["dtype"]:
            problems.append(f"input {i.name} is {i.type}, hint says {h['dtype']}")
    extra = set(m["inputs"]) - set(names)
    if extra:
        problems.append(f"hints for unknown inputs {sorted(extra)}")
    if problems:
        return problems, ""
    feed = make_inputs(m["inputs"], names)
    t0 = time.perf_counter()
    outs = sess.run(None, feed)
    dt = time.perf_counter() - t0
    for o, v in zip(sess.get_outputs(), outs):
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            problems.append(f"output {o.name} has non-finite values")
    info = f"run {dt * 1000:.1f} ms, outputs " + ", ".join(f"{o.name}{list(v.shape)}" for o, v in zip(sess.get_outputs(), outs))

    if m["name"].startswith("digits-"):
        data = np.load(ROOT / "models" / "data" / "digits-test.npz")
        x = data["input"] if m["name"] == "digits-mlp" else data["input"].reshape(-1, 1, 8, 8)
        acc = float((sess.run(None, {"input": x})[0].argmax(1) == data["label"]).mean())
        meta = {p.key: p.value for p in model.metadata_props}
        recorded = float(meta.get("test_accuracy", "nan"))
        if abs(acc - recorded) > 1e-6:
            problems.append(f"onnxruntime test accuracy {acc:.6f} != recorded {recorded:.6f}")
        info += f", test accuracy {acc:.4f}"
    return problems, info


def markdown(models):
    rows = ["| name | file | tier | source | licence | size | opset | ops | sha256 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for m in models:
        path = ROOT / m["file"]
        ops = op_summary(op_counts(onnx.load(str(path)))) if path.exists() else "(not fetched)"
        src = m["source"]
        if "pypi" in src:
            source = f"`{src['pypi']}` `{src['member']}`"
        else:
            source = f"`{src['script']}` on `{src['data']}`"
        size = f"{m['bytes'] / 1e6:.2f} MB" if m["bytes"] >= 1e6 else f"{m['bytes'] / 1e3:.0f} kB"
        lic = m["license"].split(" (")[0]
        rows.append(f"| {m['name']} | `{m['file']}` | {m['tier']} | {source} | {lic} | {size} | {m['opset']} | {ops} | `{m['sha256'][:16]}…` |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--markdown", action="store_true", help="print the README table and exit")
    ap.add_argument("--require", action="store_true", help="fail when a listed model's file is missing")
    args = ap.parse_args()
    models = json.loads(MANIFEST.read_text())["models"]
    if args.names:
        models = [m for m in models if m["name"] in args.names]
    if args.markdown:
        print(markdown(models))
        return 0
    import onnxruntime as ort

    failed = 0
    width = max(len(m["name"]) for m in models)
    for m in models:
        if not (ROOT / m["file"]).exists():
            print(f"{m['name']:<{width}}  MISSING  {m['file']} (python3 scripts/fetch-models.py --tier {m['tier']})")
            failed += args.require
            continue
        try:
            problems, info = check(m, ort)
        except Exception as e:  # report and continue with the other models
            problems, info = [f"{type(e).__name__}: {e}"], ""
        if problems:
            failed += 1
            print(f"{m['name']:<{width}}  FAIL     " + "; ".join(problems))
        else:
            print(f"{m['name']:<{width}}  ok       {info}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
