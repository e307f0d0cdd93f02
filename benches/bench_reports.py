#!/usr/bin/env python3
"""Before/after reports for every model in models/: float32 vs `optimize quantize` int8 and fp16.

What it does
------------
For each model of models/manifest.json whose file is present (committed, or fetched by
scripts/fetch-models.py; `--tier bench` adds the bench tier):

  1. `target/release/optimize quantize --int8 MODEL -o target/bench-models/NAME.int8.onnx` and
     `--fp16 ... NAME.fp16.onnx` (dynamic int8; fp16 with float32 inputs/outputs), verified on
     the same inputs as step 2 times (`--eval` or `--shape`, below). A model the
     quantizer declines (already quantized, nothing to quantize) is measured alone, and the
     report index says why.
  2. `target/release/optimize bench --baseline MODEL INT8 FP16 --backend ort --threads 1 ...
     -o results/NAME`: each model in a fresh process, ONNX Runtime on the CPU, one intra-op
     thread, batch 1, 20 warm-up calls then at least 200 calls and 2 s. Inputs: the digits
     models are timed on their test split and scored on all of it (top-1 accuracy); the others
     get seeded random inputs of the manifest's input-hint shapes (`--shape`), or, where an
     input needs given values (silero-vad's `sr` = 16000, token ids and attention masks), the
     manifest's hint inputs saved in results/NAME/inputs.npz.
     Fidelity (top-1 agreement or cosine similarity) is against the float32 baseline.
  3. results/README.md: an index with each report's headline ratios.

Is it fair?
-----------
Every variant runs on the same machine, same ONNX Runtime build and options, same inputs, in
turn, in fresh processes. One thread makes runs comparable across machines with different core
counts; multi-threaded speed-ups are not shown here. Latency of small models (~20 us) is
dominated by per-call overheads and is noisy on a shared machine; the reports flag CV > 10%.

    .venv/bin/python benches/bench_reports.py [--models a,b] [--min-duration 2] [--tier bench]
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZE = "target/release/optimize"
VARIANTS = ROOT / "target" / "bench-models"

# Labelled evaluation data for the digits models (relative to ROOT).
EVAL = {
    "digits-mlp": "models/data/digits-test.npz",
    "digits-cnn": "models/data/digits-test-cnn.npz",
}


def needs_values(entry):
    """True when random inputs of the right shape would not do: an input must hold a given
    value (silero-vad's `sr` = 16000, an attention mask of ones) or integers in a range (token
    ids, token type ids in [0, 2)). Such models are fed the manifest's hint inputs, saved to
    results/NAME/inputs.npz."""
    return any("value" in h or not h["dtype"].startswith("float") for h in entry["inputs"].values())


def run(cmd, check=True):
    """Runs cmd in ROOT. OPTIMIZE_BIN, if set, is the binary actually run for `optimize`
    (a copy kept apart from concurrent builds); the reports still show target/release/optimize."""
    print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
    exe = os.environ.get("OPTIMIZE_BIN") if cmd[0] == OPTIMIZE else None
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=check, executable=exe)


def hint_npz(entry, path):
    rng = np.random.default_rng(0)
    arrays = {}
    for name, h in entry["inputs"].items():
        dtype = np.dtype(h["dtype"])
        if "value" in h:
            a = np.full(h["shape"], h["value"], dtype=dtype)
        elif np.issubdtype(dtype, np.integer):
            a = rng.integers(h.get("low", 0), h.get("high", 10), size=h["shape"]).astype(dtype)
        elif "low" in h:
            a = rng.uniform(h["low"], h["high"], size=h["shape"]).astype(dtype)
        else:
            a = rng.standard_normal(h["shape"]).astype(dtype)
        arrays[name] = a[None, ...]
    np.savez(path, **arrays)


def data_args(entry, out_dir):
    """The inputs a model is verified and timed on, as `--eval DATA` or `--shape NAME=DIMS`
    arguments (quantize and bench take the same): the digits test split; the manifest's hint
    inputs where random ones would not do; else seeded inputs of the hint shapes."""
    name = entry["name"]
    if name in EVAL:
        return ["--eval", EVAL[name]]
    if needs_values(entry):
        data = out_dir / "inputs.npz"
        hint_npz(entry, ROOT / data)
        return ["--eval", str(data)]
    args = []
    for input_name, h in entry["inputs"].items():
        args += ["--shape", f"{input_name}={'x'.join(str(d) for d in h['shape'])}"]
    return args


def quantize(model, name, mode, data):
    out = VARIANTS / f"{name}.{mode}.onnx"
    r = run([OPTIMIZE, "quantize", f"--{mode}", str(model), "-o", str(out.relative_to(ROOT)),
             *data], check=False)
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["?"])[-1].removeprefix("error: ")
        print(f"  {mode}: skipped: {why}", flush=True)
        return None, why
    return out.relative_to(ROOT), None


def report(entry, args):
    name = entry["name"]
    model = Path(entry["file"])
    out_dir = Path("results") / name
    (ROOT / out_dir).mkdir(parents=True, exist_ok=True)
    variants, skipped = [], {}
    data = data_args(entry, out_dir)
    for mode in ("int8", "fp16"):
        path, why = quantize(model, name, mode, data)
        if path:
            variants.append(str(path))
        else:
            skipped[mode] = why
    cmd = [OPTIMIZE, "bench", "--baseline", str(model), *variants, "--backend", "ort",
           "--threads", "1", "--warmup", "20", "--iterations", str(args.iterations),
           "--min-duration", f"{args.min_duration}s"]
    cmd += data
    cmd += ["-o", str(out_dir)]
    r = run(cmd, check=False)
    status = {"skipped": skipped}
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        status["error"] = r.stderr.strip()
    else:
        print(r.stdout, flush=True)
    (ROOT / out_dir / "variants.json").write_text(json.dumps(status, indent=2) + "\n")


def load_row(name):
    """What results/NAME holds: the report and why variants were skipped."""
    out_dir = Path("results") / name
    status_file = ROOT / out_dir / "variants.json"
    if not status_file.exists():
        return None
    status = json.loads(status_file.read_text())
    row = {"name": name, "skipped": status["skipped"], "dir": out_dir}
    if "error" in status:
        row["error"] = status["error"]
    else:
        row["report"] = json.loads((ROOT / out_dir / "report.json").read_text())
    return row


def index(rows):
    lines = [
        "# results/",
        "",
        "Before/after reports: each model in models/ (float32) against its int8 (dynamic) and "
        "fp16 outputs from `optimize quantize`, measured by `optimize bench` in ONNX Runtime on "
        "one CPU thread. Regenerate everything with `.venv/bin/python benches/bench_reports.py` "
        "(after `cargo build --release` and `scripts/fetch-models.py`).",
        "",
        "| model | report | int8 size × | int8 p50 × | fp16 size × | fp16 p50 × | accuracy / fidelity | notes |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['name']} | - | | | | | | failed: {row['error'][:120]} |")
            continue
        rep = row["report"]
        by = {}
        for run, cmp in zip(rep["runs"], rep["comparisons"]):
            kind = run["model"]["name"].rsplit(".", 1)[-1]
            by[kind] = (run, cmp)
        cells = []
        for kind in ("int8", "fp16"):
            if kind in by:
                cells += [f"{by[kind][1]['size_ratio']:.2f}×", f"{by[kind][1]['p50_ratio']:.2f}×"]
            else:
                cells += ["-", "-"]
        quality = []
        for kind in ("int8", "fp16"):
            if kind not in by:
                continue
            run = by[kind][0]
            if run.get("accuracy"):
                quality.append(f"{kind} top-1 {run['accuracy']['top1'] * 100:.2f}%")
            elif run.get("fidelity"):
                outs = run["fidelity"]["outputs"]
                agree = next((o["top1_agreement"] for o in outs if o["top1_agreement"] is not None), None)
                if agree is not None:
                    quality.append(f"{kind} {agree * 100:.1f}% top-1 agree")
                else:
                    cos = min((o["cosine"] for o in outs if o["cosine"] is not None), default=None)
                    if cos is not None:
                        quality.append(f"{kind} cos {cos:.4f}")
        base = rep["runs"][rep["baseline"]]
        if base.get("accuracy"):
            quality.insert(0, f"fp32 top-1 {base['accuracy']['top1'] * 100:.2f}%")
        notes = "; ".join(f"{k} skipped: {v}" for k, v in row["skipped"].items())
        noisy = [r["model"]["name"] for r in rep["runs"] if r["latency"]["cv"] > 0.10]
        if noisy:
            notes += ("; " if notes else "") + "CV > 10%: " + ", ".join(noisy)
        lines.append(
            f"| {row['name']} | [{row['dir']}/report.md]({Path(row['dir']).name}/report.md) | "
            + " | ".join(cells) + f" | {'; '.join(quality) or '-'} | {notes} |")
    lines += [
        "",
        "× = ratio to the float32 model (p50: median latency per call; below 1 is smaller or "
        "faster). Also here: [bench-agreement.md](bench-agreement.md), `optimize bench`'s "
        "median against ONNX Runtime's own timing; [quantize-vs-onnxruntime.md]"
        "(quantize-vs-onnxruntime.md), our quantizer against ONNX Runtime's (with what ONNX "
        "Runtime runs of each output), and [quantize-vs-onnxruntime-dynamic.md]"
        "(quantize-vs-onnxruntime-dynamic.md), dynamic int8 as the default command writes it "
        "(timed, the faster of MatMulInteger and int8-stored weights); "
        "[auto-quantize.md](auto-quantize.md), `--auto` against plain int8 and ONNX Runtime's "
        "static quantizer; [auto-quantize-task.md](auto-quantize-task.md), `--auto` judged by "
        "each model's task metric against `--auto` judged by cosine; "
        "[distill-vs-pytorch.md](distill-vs-pytorch.md), `optimize distill` against the same "
        "loop in PyTorch.",
        "",
    ]
    (ROOT / "results" / "README.md").write_text("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="")
    ap.add_argument("--min-duration", type=float, default=2.0)
    ap.add_argument("--iterations", type=int, default=200)
    args = ap.parse_args()
    if not (ROOT / OPTIMIZE).exists() and not os.environ.get("OPTIMIZE_BIN"):
        sys.exit(f"{OPTIMIZE} missing: run cargo build --release")
    VARIANTS.mkdir(parents=True, exist_ok=True)
    wanted = set(filter(None, args.models.split(",")))
    entries = json.loads((ROOT / "models" / "manifest.json").read_text())["models"]
    for entry in entries:
        if wanted and entry["name"] not in wanted:
            continue
        if not (ROOT / entry["file"]).exists():
            print(f"skip {entry['name']}: {entry['file']} missing (scripts/fetch-models.py)")
            continue
        report(entry, args)
    index([row for e in entries if (row := load_row(e["name"])) is not None])


if __name__ == "__main__":
    main()
