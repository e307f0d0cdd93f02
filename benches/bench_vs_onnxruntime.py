#!/usr/bin/env python3
"""Does `optimize bench` report the latency ONNX Runtime itself sees?

What it measures
----------------
For a few models of models/manifest.json, at batch 1 with 1 and 2 intra-op threads:

  ours       `target/release/optimize bench MODEL --backend ort --threads T --eval inputs.npz
             --json`: its median (p50) latency per call, CV and harness overhead.
  python     a plain Python loop over `InferenceSession.run` in a fresh `.venv/bin/python`
             process: same model, same input arrays (the very file ours is timed on), same
             intra-op threads (inter-op 1, sequential execution, ORT_ENABLE_ALL, as ours), the
             same protocol (20 warm-up calls, then at least N calls and at least S seconds),
             each call timed with time.perf_counter_ns.
  profiler   ONNX Runtime's own profiler in that same Python process (a second session with
             enable_profiling=True): the median duration of its `model_run` events, the time
             inside ORT, without Python's or our binding's cost.

Rounds alternate ours/python three times per (model, threads) so that drift of the machine
hits both; the median of each tool's three medians is compared. Agreement = |ours - python| /
python, required within 5%.

Is the comparison fair?
-----------------------
  * Same ORT build (the .venv's onnxruntime 1.31.1 shared library is the one `optimize` loads),
    same graph optimisation level, same threads, same inputs, one process per run.
  * Both time one whole call: inputs in, outputs out. Ours converts our tensors to ORT values
    and the outputs back (a copy each way); Python's binding wraps numpy arrays and copies the
    outputs into new arrays. For calls well above 1 ms these costs are noise; for the tiny
    digits models (~20 us a call) the fixed cost of a Python call (a few us) is a visible share
    and the two are not expected to agree within 5% -- they are listed, marked, to show it.
  * The profiler's number is ONNX Runtime's own account of each `model_run`, bindings
    excluded; but with profiling on ORT records an event per node, which slows every run
    (2-3x on the conv nets here), so it is shown for context, not as the reference.

Writes results/bench-agreement.md (and .json). Prints each result, with a warning where a CV is
above 10%.

    .venv/bin/python benches/bench_vs_onnxruntime.py [--min-duration 3] [--iterations 200]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from machine import cpu_model  # noqa: E402  (benches/machine.py)

ROOT = Path(__file__).resolve().parent.parent
# OPTIMIZE_BIN overrides the binary (e.g. a copy kept apart from concurrent builds).
OPTIMIZE = Path(os.environ.get("OPTIMIZE_BIN", ROOT / "target" / "release" / "optimize"))
MODELS = ["digits-cnn", "ppocr-cls-mobile-v2", "silero-vad-half", "paraphrase-minilm-l3", "ppocr-v4-det"]
ROUNDS = 3
WARMUP = 20

PYTHON_LOOP = r"""
import json, sys, time, glob, os, statistics
import numpy as np
import onnxruntime as ort

model, data, threads, iters, min_s, warmup, prof_dir = sys.argv[1:8]
threads, iters, min_s, warmup = int(threads), int(iters), float(min_s), int(warmup)
feeds = {k: v[0] for k, v in np.load(data).items()}

def options(profile):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(prof_dir, "ort")
    return so

sess = ort.InferenceSession(model, options(False), providers=["CPUExecutionProvider"])
for _ in range(warmup):
    sess.run(None, feeds)
empty = []
for _ in range(1001):
    t = time.perf_counter_ns(); empty.append(time.perf_counter_ns() - t)
times = []
total = 0.0
while len(times) < iters or total < min_s:
    t = time.perf_counter_ns()
    sess.run(None, feeds)
    d = (time.perf_counter_ns() - t) / 1e9
    total += d
    times.append(d * 1e3)
mean = statistics.fmean(times)
std = statistics.stdev(times) if len(times) > 1 else 0.0

# ONNX Runtime's profiler, on a second session: model_run events (microseconds).
prof = ort.InferenceSession(model, options(True), providers=["CPUExecutionProvider"])
for _ in range(warmup):
    prof.run(None, feeds)
n_prof = min(len(times), 500)
for _ in range(n_prof):
    prof.run(None, feeds)
path = prof.end_profiling()
events = json.load(open(path))
runs = [e["dur"] / 1e3 for e in events if e.get("name") == "model_run"][warmup:]
print(json.dumps({
    "p50_ms": statistics.median(times), "mean_ms": mean, "cv": std / mean, "iterations": len(times),
    "overhead_ns": statistics.median(empty),
    "profiler_p50_ms": statistics.median(runs) if runs else None, "profiler_runs": len(runs),
    "ort": ort.__version__,
}))
"""


def manifest():
    return json.loads((ROOT / "models" / "manifest.json").read_text())


def hint_inputs(entry):
    """The manifest's input hints as arrays with a leading samples axis of 1 (seeded)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for name, h in entry["inputs"].items():
        shape = h["shape"]
        dtype = np.dtype(h["dtype"])
        if "value" in h:
            a = np.full(shape, h["value"], dtype=dtype)
        elif np.issubdtype(dtype, np.integer):
            a = rng.integers(h.get("low", 0), h.get("high", 10), size=shape).astype(dtype)
        elif "low" in h:
            a = rng.uniform(h["low"], h["high"], size=shape).astype(dtype)
        else:
            a = rng.standard_normal(shape).astype(dtype)
        arrays[name] = a[None, ...]
    return arrays


def run_ours(model, data, threads, iters, min_s):
    out = subprocess.run(
        [str(OPTIMIZE), "bench", str(model), "--backend", "ort", "--threads", str(threads),
         "--eval", str(data), "--warmup", str(WARMUP), "--iterations", str(iters),
         "--min-duration", f"{min_s}s", "--json"],
        capture_output=True, text=True, check=True)
    run = json.loads(out.stdout)["runs"][0]
    lat = run["latency"]
    return {"p50_ms": lat["p50_ms"], "cv": lat["cv"], "overhead_ns": lat["overhead_ns"],
            "iterations": lat["iterations"], "runtime": run["runtime"]}


def run_python(model, data, threads, iters, min_s, tmp):
    out = subprocess.run(
        [sys.executable, "-c", PYTHON_LOOP, str(model), str(data), str(threads), str(iters),
         str(min_s), str(WARMUP), tmp],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(name, entry, threads, iters, min_s, tmp):
    model = ROOT / entry["file"]
    data = Path(tmp) / f"{name}.npz"
    np.savez(data, **hint_inputs(entry))
    ours, theirs = [], []
    for _ in range(ROUNDS):
        ours.append(run_ours(model, data, threads, iters, min_s))
        theirs.append(run_python(model, data, threads, iters, min_s, tmp))
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    prof = [r["profiler_p50_ms"] for r in theirs if r["profiler_p50_ms"] is not None]
    row = {
        "model": name, "threads": threads,
        "ours_p50_ms": med(ours, "p50_ms"), "python_p50_ms": med(theirs, "p50_ms"),
        "profiler_p50_ms": statistics.median(prof) if prof else None,
        "ours_cv": max(r["cv"] for r in ours), "python_cv": max(r["cv"] for r in theirs),
        "ours_overhead_ns": med(ours, "overhead_ns"), "python_overhead_ns": med(theirs, "overhead_ns"),
        "ours_rounds_ms": [r["p50_ms"] for r in ours], "python_rounds_ms": [r["p50_ms"] for r in theirs],
        "runtime": ours[0]["runtime"], "python_ort": theirs[0]["ort"],
    }
    row["diff"] = row["ours_p50_ms"] / row["python_p50_ms"] - 1.0
    row["agree"] = abs(row["diff"]) <= 0.05
    return row


def write(rows, args):
    lines = [
        "# `optimize bench` vs ONNX Runtime's own timing",
        "",
        "Generated by `.venv/bin/python benches/bench_vs_onnxruntime.py "
        f"--min-duration {args.min_duration} --iterations {args.iterations}` "
        "(see its docstring for what is measured and why it is fair).",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.platform()}. "
        f"Back end: {rows[0]['runtime']} (Python: onnxruntime {rows[0]['python_ort']}).",
        "",
        "Median latency per call at batch 1, median over 3 alternating rounds; each round at "
        f"least {args.iterations} calls and {args.min_duration} s after {WARMUP} warm-up calls. "
        "diff = ours / Python loop - 1; agreement required within 5% "
        "(expected only where a call takes well over the few microseconds of a Python call). "
        "The ORT profiler column is slower by the cost of profiling itself (an event per node).",
        "",
        "| model | threads | ours p50 ms | Python loop p50 ms | ORT profiler p50 ms | diff | agree | CV ours / Python | harness overhead ours / Python |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        cv_warn = " ⚠" if max(r["ours_cv"], r["python_cv"]) > 0.10 else ""
        lines.append(
            f"| {r['model']} | {r['threads']} | {r['ours_p50_ms']:.4f} | {r['python_p50_ms']:.4f} | "
            f"{'-' if r['profiler_p50_ms'] is None else format(r['profiler_p50_ms'], '.4f')} | "
            f"{r['diff'] * 100:+.1f}% | {'yes' if r['agree'] else 'NO'} | "
            f"{r['ours_cv'] * 100:.1f}% / {r['python_cv'] * 100:.1f}%{cv_warn} | "
            f"{r['ours_overhead_ns']:.0f} ns / {r['python_overhead_ns']:.0f} ns |")
    agree = [r for r in rows if r["agree"]]
    big = [r for r in rows if r["python_p50_ms"] >= 1.0]
    lines += [
        "",
        f"{len(agree)} of {len(rows)} pairs agree within 5%; of the {len(big)} pairs whose calls "
        f"take 1 ms or more, {sum(r['agree'] for r in big)} agree "
        f"(largest |diff| there: {max((abs(r['diff']) for r in big), default=0) * 100:.1f}%).",
        "",
        "CV is the largest coefficient of variation over the rounds (⚠ above 10%: the machine "
        "was noisy). Harness overhead: the median time of timing an empty call with each "
        "tool's clock (Rust `Instant`, Python `perf_counter_ns`).",
        "",
    ]
    out = ROOT / "results" / "bench-agreement.md"
    out.write_text("\n".join(lines))
    (ROOT / "results" / "bench-agreement.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--min-duration", type=float, default=3.0)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    if not OPTIMIZE.exists():
        sys.exit(f"{OPTIMIZE} missing: run cargo build --release")
    entries = {m["name"]: m for m in manifest()["models"]}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            entry = entries[name]
            if not (ROOT / entry["file"]).exists():
                print(f"skip {name}: {entry['file']} missing (scripts/fetch-models.py)")
                continue
            for threads in [int(t) for t in args.threads.split(",")]:
                r = compare(name, entry, threads, args.iterations, args.min_duration, tmp)
                rows.append(r)
                print(f"{name:22} threads {threads}: ours {r['ours_p50_ms']:.4f} ms, python "
                      f"{r['python_p50_ms']:.4f} ms, profiler {r['profiler_p50_ms'] or float('nan'):.4f} ms, "
                      f"diff {r['diff'] * 100:+.1f}%, CV {r['ours_cv'] * 100:.1f}% / {r['python_cv'] * 100:.1f}%, "
                      f"overhead {r['ours_overhead_ns']:.0f} / {r['python_overhead_ns']:.0f} ns", flush=True)
                for who, cv in (("ours", r["ours_cv"]), ("python", r["python_cv"])):
                    if cv > 0.10:
                        print(f"  warning: {who} CV {cv * 100:.0f}% > 10%: noisy run", flush=True)
    write(rows, args)


if __name__ == "__main__":
    main()
