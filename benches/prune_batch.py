#!/usr/bin/env python3
"""Where the digits CNN's time goes at small batches, and what 50% channel pruning saves there.

The digits CNN (models/digits-cnn.onnx: two 3x3 convolutions on an 8x8 image, two dense layers)
takes about 10 us per call in ONNX Runtime at batch 1. results/prune.md shows 50% channel
pruning making it 1.3x faster at batch 1 but 1.7x at batch 32. This measures why:

  speed-up by batch   the original and its 50% prune (`optimize prune --method channels
                      --ratio 0.5 --criterion l1`) with `optimize bench --backend ort --threads 1`
                      at batch 1, 2, 4, 8, 16 and 32, median per call; rounds alternate the model
                      order and the median of the rounds is kept;
  fixed cost          two models that do (almost) nothing, timed the same way at batch 1: one Relu
                      on the CNN's input (ONNX Runtime's cost of a call: binding the input,
                      allocating the output, one kernel launch), and a chain of as many Relus as
                      the pruned CNN runs kernels in ONNX Runtime after its graph optimizations
                      (its cost per kernel, with nothing to compute). What pruning cannot remove
                      is at least the single-Relu time; the chain bounds it from above.

    .venv/bin/python benches/prune_batch.py [--rounds 5] [--min-duration 1]

Writes results/prune-batch.md and results/prune-batch.json.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZE = Path(os.environ.get("OPTIMIZE_BIN", ROOT / "target" / "release" / "optimize"))
MODEL = ROOT / "models" / "digits-cnn.onnx"
BATCHES = [1, 2, 4, 8, 16, 32]


def run(args):
    out = subprocess.run([str(OPTIMIZE), *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"optimize {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def relu_chain(path, n):
    """`n` Relus in a row on a [batch, 1, 8, 8] input named like the CNN's."""
    names = ["input"] + [f"r{i}" for i in range(n)]
    nodes = [helper.make_node("Relu", [names[i]], [names[i + 1]]) for i in range(n)]
    g = helper.make_graph(nodes, f"relu{n}",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
                          [helper.make_tensor_value_info(names[-1], TensorProto.FLOAT, ["batch", 1, 8, 8])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def kernels_after_optimization(path):
    """Nodes ONNX Runtime runs for `path` once its default graph optimizations are applied."""
    with tempfile.TemporaryDirectory() as d:
        so = ort.SessionOptions()
        so.optimized_model_filepath = str(Path(d) / "opt.onnx")
        so.log_severity_level = 3
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]


def medians(models, batch, rounds, min_s):
    """Median p50 (ms) of each model over `rounds` alternating rounds at `batch`."""
    got = {str(m): [] for m in models}
    for k in range(rounds):
        order = models if k % 2 == 0 else list(reversed(models))
        runs = run(["bench", *map(str, order), "--backend", "ort", "--threads", "1",
                    "--batch", str(batch), "--iterations", "200", "--min-duration", f"{min_s}s",
                    "--json"])["runs"]
        for m, r in zip(order, runs):
            got[str(m)].append(r["latency"]["p50_ms"])
    return {m: statistics.median(v) for m, v in got.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-duration", type=float, default=1.0)
    a = ap.parse_args()
    if not OPTIMIZE.exists():
        sys.exit(f"{OPTIMIZE} missing: cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        pruned = Path(tmp) / "digits-cnn.channels50.onnx"
        run(["prune", str(MODEL), "--method", "channels", "--ratio", "0.5", "--criterion", "l1",
             "-o", str(pruned), "--no-bench", "--json"])
        kernels = {"original": kernels_after_optimization(MODEL),
                   "pruned": kernels_after_optimization(pruned)}
        one, chain = Path(tmp) / "relu1.onnx", Path(tmp) / "relu-chain.onnx"
        relu_chain(one, 1)
        relu_chain(chain, len(kernels["pruned"]))
        rows = []
        for b in BATCHES:
            models = [MODEL, pruned] + ([one, chain] if b == 1 else [])
            med = medians(models, b, a.rounds, a.min_duration)
            row = {"batch": b, "original_ms": med[str(MODEL)], "pruned_ms": med[str(pruned)]}
            row["speedup"] = row["original_ms"] / row["pruned_ms"]
            if b == 1:
                row["one_relu_ms"], row["relu_chain_ms"] = med[str(one)], med[str(chain)]
            rows.append(row)
            print(f"batch {b}: {row}", file=sys.stderr)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                 capture_output=True, text=True).stdout.strip(),
        "onnxruntime": ort.__version__,
        "command": f".venv/bin/python benches/prune_batch.py --rounds {a.rounds} --min-duration {a.min_duration}",
        "kernels": kernels,
    }
    out = ROOT / "results"
    (out / "prune-batch.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    b1 = rows[0]
    floor, chain_ms = b1["one_relu_ms"], b1["relu_chain_ms"]
    L = ["# Digits CNN, 50% channels pruned: speed-up by batch size, and ONNX Runtime's fixed cost",
         "",
         f"{meta['date']}, commit {meta['commit']}, onnxruntime {meta['onnxruntime']}, 1 intra-op thread.",
         "",
         f"    {meta['command']}",
         "",
         "How it is measured is in the script's docstring. Kernels ONNX Runtime runs after its graph "
         f"optimizations: original {len(kernels['original'])} ({', '.join(kernels['original'])}); "
         f"pruned {len(kernels['pruned'])} ({', '.join(kernels['pruned'])}).",
         "",
         "| batch | original µs/call | pruned µs/call | speed-up | original µs/sample | pruned µs/sample |",
         "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        L.append(f"| {r['batch']} | {r['original_ms'] * 1e3:.2f} | {r['pruned_ms'] * 1e3:.2f} | "
                 f"{r['speedup']:.2f}x | {r['original_ms'] * 1e3 / r['batch']:.2f} | "
                 f"{r['pruned_ms'] * 1e3 / r['batch']:.2f} |")
    o, p = b1["original_ms"], b1["pruned_ms"]
    L += ["",
          f"Fixed cost at batch 1: one Relu {floor * 1e3:.2f} µs per call; a chain of "
          f"{len(kernels['pruned'])} Relus (as many kernels as the pruned CNN runs) {chain_ms * 1e3:.2f} µs. "
          f"Of the original's {o * 1e3:.2f} µs, {(o - floor) * 1e3:.2f} µs is above one call's cost, "
          f"and the pruned model's {(p - floor) * 1e3:.2f} µs: {(o - floor) / (p - floor):.2f}x on that part. "
          f"With the chain's cost taken out instead ({(o - chain_ms) * 1e3:.2f} vs "
          f"{(p - chain_ms) * 1e3:.2f} µs: {(o - chain_ms) / (p - chain_ms):.2f}x), what is left is "
          "about the arithmetic, which pruning cuts as it does at large batches. The pruned model also "
          "runs one kernel more: with 8 channels its first convolution's output cannot stay in ONNX "
          "Runtime's 16-channel blocked layout (AVX-512), so a ReorderOutput follows it."
          ]
    (out / "prune-batch.md").write_text("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
