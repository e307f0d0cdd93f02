#!/usr/bin/env python3
"""Benchmark `optimize quantize` against ONNX Runtime's quantizer and onnxconverter-common.

What it measures
----------------
For every model in models/manifest.json (except the already-quantized minilm-l6-int8) and for
each mode

  int8-dynamic          dynamic int8, per-tensor weights
  int8-dynamic-pc       dynamic int8, per-channel weights
  int8-static-qdq       static int8 QDQ, MinMax calibration, per-channel weights,
                        uint8 asymmetric activations, int8 weights
  int8-static-qdq-pt    the same with per-tensor weights (extra mode: per-channel
                        DequantizeLinear needs opset 13, and the PaddleOCR models are opset 11/12)
  fp16                  float16 weights/compute, float32 graph inputs/outputs

it produces two models:

  ours    `target/release/optimize quantize ...` (release build of this repo's CLI);
  theirs  onnxruntime.quantization (onnxruntime 1.31.1): quantize_dynamic(weight_type=QInt8,
          per_channel=...) / quantize_static(QuantFormat.QDQ, CalibrationMethod.MinMax,
          per_channel=True, activation_type=QUInt8, weight_type=QInt8) fed the very same
          calibration samples through a CalibrationDataReader, with reduce_range=True (7-bit
          weights) on x86 CPUs with AVX2 and no VNNI, as ORT's docs advise there (ours store
          7-bit weights on such CPUs too); when quant_pre_process's output quantizes into a
          model ORT refuses to load, the original is quantized instead; for fp16
          onnxconverter_common.float16.convert_float_to_float16(keep_io_types=True).
          ORT's documented flow recommends running `quant_pre_process` (symbolic shape
          inference + ORT graph optimisation) before quantizing; the int8 runs do that, inside
          the timed process, and its time is reported separately (`pre_ms`). Its symbolic shape
          inference needs sympy, which onnxruntime 1.31.1 does not install and
          benches/requirements.txt does not add, so it falls back (as ORT's own error message
          suggests) to skip_symbolic_shape=True; the notes under each table say so. If
          pre-processing fails outright the model is quantized as is and the JSON says so.

and measures, for each produced model:

  * quantize cost: wall time of the whole command in a fresh process and its peak RSS
    (GNU time's %M for that command). Ours is timed twice: the command as a user runs it (it
    also loads the result in ONNX Runtime and tract and verifies it) and with --no-verify
    (the same work as theirs: read, quantize, write). Theirs is a fresh `python` process that
    imports onnxruntime.quantization / onnxconverter_common, (pre-processes,) quantizes and
    saves; the in-process time of the library calls alone is in the JSON too.
  * file size (including any external .data file);
  * whether it loads in ONNX Runtime CPU (graph optimisations ORT_ENABLE_ALL);
  * output error against the float32 model on held-out inputs (not used for calibration):
    max abs, mean abs, cosine per float output, and top-1 agreement for classifier outputs;
  * task accuracy for the digits models on the digits test split (calibration uses samples of
    the *train* split, rebuilt from models/data/digits.csv.gz exactly as
    scripts/train_digits.py splits it);
  * latency in ONNX Runtime CPU at batch 1 with 1 and 2 intra-op threads: all variants of a
    model (fp32, ours and theirs for every mode) are loaded in this one process and run
    round-robin (one run of each per round, after warm-up) so that machine noise hits all of
    them alike; the median over the rounds is reported.

Is each comparison fair?
------------------------
  * Sizes, errors, accuracy, latency: yes. Same inputs, same ORT build, same session
    options, interleaved runs in one process.
  * Calibration: both tools see exactly the same samples (ours gets `--holdout 0`, so it
    calibrates on all of them; its own verification then reuses them).
  * Quantize time/RSS: ours is a native binary, theirs pays Python start-up and the import
    of onnxruntime/onnx/numpy (~0.3-0.6 s, ~100 MB RSS) on every call -- that is the real cost
    a user of either tool pays, but it dominates for tiny models. The default `ours` command
    does more work than theirs (verification in two runtimes); the `--no-verify` run is the
    like-for-like number. Theirs includes quant_pre_process for int8 (their recommended flow).
  * Other processes on the machine (e.g. a concurrent `cargo test`) disturb absolute
    timings; the load average is recorded at start and end. On a 2-core machine with other
    work running, the 2-thread latencies are the noisiest (a second thread competes with
    that work); compare ours and theirs within a row, not across runs.
  * Ours' own verification (`--verify-data`) gets the first 2 evaluation samples (all of
    the test split for digits): on full-size inputs its fp16 verification is slow, and its
    result does not enter the tables (this script measures every output itself).
  * silero-vad: its `state` input is [2, batch, 128] and `sr` a scalar, so no first axis is a
    batch axis; `optimize quantize --calibrate` refuses such models (recorded as a finding),
    and the calibration .npz is written with the full per-sample shape.

Inputs
------
Calibration (64 samples, numpy default_rng(0)) and evaluation (16 samples, default_rng(1))
inputs have the manifest's input-hint shapes. The three PaddleOCR models get real printed
text (benches/ocr_images.py): seeded crops of `skimage/data/page.png` from the scikit-image
0.26.0 wheel (fetched once with `pip download` into target/bench-data/wheels/, sha256-checked,
not installed), PaddleOCR's preprocessing: the detector 256x256 crops of the rescaled page with
ImageNet mean/std, the recognizer/classifier text-line windows resized to height 48 and
right-padded, (x/255 - 0.5)/0.5; the classifier's windows are turned 180 degrees half of the
time. (On uniform noise the detector's probability map is ~0 everywhere and the recognizer
predicts only blanks, so the fidelity numbers meant little.) Everything else: integer inputs as
hinted; float inputs uniform [low, high) where hinted, silero audio normal with sigma 0.1
(clipped to [-1, 1]), silero `state` zeros, `sr` 16000. The data a model's .npz files were
made from is recorded in <work>/<model>/data.txt (benches/auto_quantize.py reuses the files
only while it matches).

How to run
----------
  cargo build --release -p optimize-cli
  .venv/bin/python scripts/fetch-models.py --all
  .venv/bin/pip install -r benches/requirements.txt
  .venv/bin/python benches/ocr_images.py          # optional: fetch/check the OCR text image now
                                                  # (otherwise done on first use; needs PyPI once)
  .venv/bin/python benches/quantize_vs_onnxruntime.py            # everything, ~15 min on 2 cores
  .venv/bin/python benches/quantize_vs_onnxruntime.py --models digits-mlp,digits-cnn --modes fp16
  (--skip ppocr-v4-rec, --lat-budget SECONDS, --work DIR; see --help)

Run it from the repository root (the CLI finds ONNX Runtime in ./.venv). It writes
results/quantize-vs-onnxruntime.md and results/quantize-vs-onnxruntime.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from machine import cpu_model, git, saturating_cpu  # noqa: E402  (benches/machine.py)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from pinned import file_sha256 as sha256  # noqa: E402  (scripts/pinned.py)
MANIFEST = ROOT / "models" / "manifest.json"
CLI = "target/release/optimize"
PY = ".venv/bin/python"
SELF = "benches/quantize_vs_onnxruntime.py"

MODES = ["int8-dynamic", "int8-dynamic-pc", "int8-static-qdq", "int8-static-qdq-pt", "fp16"]
MODE_TITLES = {
    "int8-dynamic": "int8 dynamic, per-tensor weights",
    "int8-dynamic-pc": "int8 dynamic, per-channel weights",
    "int8-static-qdq": "int8 static QDQ, MinMax, per-channel weights",
    "int8-static-qdq-pt": "int8 static QDQ, MinMax, per-tensor weights (extra: per-channel QDQ needs opset 13)",
    "fp16": "fp16 (float32 I/O kept)",
}
SKIP_ALWAYS = {"minilm-l6-int8": "already int8 (weight-only); not re-quantized"}
N_CAL = 64
N_EVAL = 16
OWN_TIMING = False  # --own-timing
N_VERIFY = 2  # ours' own verification (--verify-data) on real-size inputs is slow for fp16

# Output used for the headline "accuracy or cosine" column, and outputs that are class scores
# (top-1 over the last axis is meaningful).
PRIMARY = {
    "ppocr-cls-mobile-v2": "save_infer_model/scale_0.tmp_1",
    "ppocr-v4-det": "sigmoid_0.tmp_0",
    "ppocr-v4-rec": "softmax_11.tmp_0",
    "silero-vad": "output",
    "silero-vad-half": "output",
    "paraphrase-minilm-l3": "461",
    "digits-mlp": "logits",
    "digits-cnn": "logits",
}
CLASSIFIER = {"digits-mlp", "digits-cnn", "ppocr-cls-mobile-v2", "ppocr-v4-rec"}


# =========================================================================== worker (theirs)


def worker(argv):
    """Runs in a fresh interpreter: ORT / onnxconverter-common quantization of one model."""
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("model")
    ap.add_argument("output")
    ap.add_argument("--calib")
    ap.add_argument("--pre", default="")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    info = {}
    if a.mode == "fp16":
        import onnx
        from onnxconverter_common import float16

        info["import_ms"] = (time.perf_counter() - t0) * 1e3
        t1 = time.perf_counter()
        m = onnx.load(a.model)
        m16 = float16.convert_float_to_float16(m, keep_io_types=True)
        onnx.save(m16, a.output)
        info["lib_ms"] = (time.perf_counter() - t1) * 1e3
    else:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_dynamic,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        info["import_ms"] = (time.perf_counter() - t0) * 1e3
        t1 = time.perf_counter()
        src = a.model
        info["pre_process"] = "not run"
        if a.pre:
            fails = []
            for kw in ({}, {"skip_symbolic_shape": True}):
                try:
                    quant_pre_process(a.model, a.pre, **kw)
                    src = a.pre
                    info["pre_process"] = "ok" + (" with skip_symbolic_shape" if kw else "")
                    break
                except Exception as e:  # noqa: BLE001
                    fails.append(f"{type(e).__name__}: {str(e)[:200]}")
                    info["pre_process"] = "failed, quantized without it"
            if fails:
                info["pre_process_errors"] = fails
        info["pre_ms"] = (time.perf_counter() - t1) * 1e3
        t2 = time.perf_counter()
        # As ONNX Runtime's docs advise for x86 CPUs with AVX2 and no VNNI, where full-range
        # int8 weights saturate its uint8 x int8 kernels: 7-bit weights (ours do the same there).
        reduce_range = saturating_cpu()
        info["reduce_range"] = reduce_range
        if a.mode in ("int8-dynamic", "int8-dynamic-pc"):
            quantize_dynamic(
                src, a.output, per_channel=(a.mode == "int8-dynamic-pc"), weight_type=QuantType.QInt8,
                reduce_range=reduce_range,
            )
        else:
            z = np.load(a.calib)
            names = list(z.files)
            arrays = {n: z[n] for n in names}
            count = len(arrays[names[0]])

            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.i = 0

                def get_next(self):
                    if self.i >= count:
                        return None
                    feed = {n: np.asarray(arrays[n][self.i]) for n in names}
                    self.i += 1
                    return feed

                def rewind(self):
                    self.i = 0

            def run(source):
                quantize_static(
                    source,
                    a.output,
                    Reader(),
                    quant_format=QuantFormat.QDQ,
                    calibrate_method=CalibrationMethod.MinMax,
                    per_channel=(a.mode == "int8-static-qdq"),
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    reduce_range=reduce_range,
                )

            run(src)
            # quant_pre_process's fusions can leave a per-channel model ORT refuses to load
            # (PaddleOCR: "ConvAddFusion_Add_B_Reshape" DequantizeLinear); then the original.
            if src != a.model:
                import onnxruntime as ort

                try:
                    ort.InferenceSession(a.output, providers=["CPUExecutionProvider"])
                except Exception as e:  # noqa: BLE001
                    info["pre_processed_output_failed"] = f"{type(e).__name__}: {str(e)[:200]}"
                    run(a.model)
                    info["pre_process"] += "; its output did not load, quantized the original instead"
        info["quant_ms"] = (time.perf_counter() - t2) * 1e3
        info["lib_ms"] = (time.perf_counter() - t1) * 1e3
    print("WORKER_JSON " + json.dumps(info))


# =========================================================================== helpers


TIMEOUT_S = 240


def run_timed(cmd):
    """Runs cmd in a fresh process (killed after TIMEOUT_S); returns
    (rc, stdout, stderr, wall_s, peak_rss_kib). rc is -9 when it was killed.

    Peak RSS comes from GNU time (`/usr/bin/time -f %M`), which forks the command from its
    own small process: the rusage of a child forked straight from this (large) Python
    process would report this process's RSS at fork time as the child's peak."""
    import tempfile
    import threading

    with tempfile.NamedTemporaryFile(prefix="rss", suffix=".txt", delete=False) as f:
        rss_file = f.name
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(TIMEOUT_S, p.kill)
    killer.start()
    so, se = p.communicate()
    wall = time.perf_counter() - t0
    killer.cancel()
    rc = p.returncode
    try:
        lines = [l for l in Path(rss_file).read_text().splitlines() if l.strip()]
        rss = int(lines[-1])
        # GNU time reports a failing command as "Command exited with non-zero status N".
        for l in lines:
            if l.startswith("Command exited with non-zero status"):
                rc = int(l.rsplit(" ", 1)[1])
            elif l.startswith("Command terminated by signal"):
                rc = -int(l.rsplit(" ", 1)[1])
    except (OSError, ValueError, IndexError):
        rss = None
    finally:
        Path(rss_file).unlink(missing_ok=True)
    if rc == -9 or p.returncode == -9:
        rc = -9
        se += f"\nkilled after {TIMEOUT_S} s (bench time limit)"
    return rc, so, se, wall, rss


def file_size(path):
    p = Path(path)
    if not p.exists():
        return None
    total = p.stat().st_size
    for extra in (p.with_name(p.name + ".data"), p.with_suffix(".data")):
        if extra.exists():
            total += extra.stat().st_size
    return total


def os_name():
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"') + f", kernel {platform.release()}"
    except OSError:
        pass
    return platform.platform()


# =========================================================================== data


def digits_split():
    """The train/test split of scripts/train_digits.py (same seed, same procedure)."""
    with gzip.open(ROOT / "models" / "data" / "digits.csv.gz", "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float64)
    x = (raw[:, :64] / 16.0).astype(np.float32)
    y = raw[:, 64].astype(np.int64)
    rng = np.random.default_rng(0)
    test = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        test.append(idx[: int(round(len(idx) * 0.2))])
    test = np.sort(np.concatenate(test))
    mask = np.ones(len(y), dtype=bool)
    mask[test] = False
    return x[mask], y[mask], x[test], y[test]


def ocr_images():
    """benches/ocr_images.py (real text crops for the PaddleOCR models), imported lazily."""
    import importlib.util

    mod = sys.modules.get("ocr_images")
    if mod is None:
        spec = importlib.util.spec_from_file_location("ocr_images", ROOT / "benches" / "ocr_images.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["ocr_images"] = mod
        spec.loader.exec_module(mod)
    return mod


def is_ocr(name):
    return ocr_images().is_ocr(name)


def data_description(name):
    """What a model's calibration/evaluation samples are (rec["data"], and <work>/<model>/data.txt)."""
    if name.startswith("digits"):
        return (f"calibration: {N_CAL} samples of the digits train split (seed 0); "
                f"evaluation: the digits test split ({len(digits_split()[3])} samples, labelled)")
    if is_ocr(name):
        return (f"calibration: {N_CAL} crops of real printed text (seed 0); evaluation: {N_EVAL} "
                f"crops (seed 1); from {ocr_images().describe()}, see benches/ocr_images.py")
    return (f"calibration: {N_CAL} generated samples (seed 0); evaluation: {N_EVAL} "
            f"generated samples (seed 1)")


def gen_inputs(name, hints, n, seed):
    """n samples; each a dict input -> array of the full hint shape (batch 1 included).
    PaddleOCR models: crops of a real page of text (benches/ocr_images.py); others: generated."""
    if is_ocr(name):
        return ocr_images().ocr_samples(name, hints, n, seed)
    rng = np.random.default_rng(seed)
    out = [dict() for _ in range(n)]
    for inp, h in hints.items():
        shape, dt = h["shape"], np.dtype(h["dtype"])
        for s in out:
            if "value" in h:
                a = np.full(shape, h["value"], dtype=dt)
            elif inp == "state":
                a = np.zeros(shape, dtype=dt)
            elif np.issubdtype(dt, np.integer):
                a = rng.integers(h["low"], h["high"], size=shape).astype(dt)
            elif "low" in h:
                a = rng.uniform(h["low"], h["high"], size=shape).astype(dt)
            elif name.startswith("silero"):
                a = np.clip(rng.normal(0, 0.1, size=shape), -1, 1).astype(dt)
            else:  # other float inputs (no such model in the manifest today)
                a = rng.uniform(0.0, 1.0, size=shape).astype(dt)
            s[inp] = a
    return out


def model_input_shapes(path):
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    init = {i.name for i in m.graph.initializer}
    shapes = {}
    for i in m.graph.input:
        if i.name in init:
            continue
        # Paddle exports write unknown dims as dim_value -1: treat <= 0 as symbolic.
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in i.type.tensor_type.shape.dim]
        shapes[i.name] = dims
    return shapes


def batch_first(shapes):
    return all(len(d) >= 1 and d[0] in (None, 1) for d in shapes.values())


def write_npz_ours(path, samples, shapes):
    """Sample axis first; the model's batch axis (first, size 1) dropped when it is batch-first."""
    arrays = {}
    for name, dims in shapes.items():
        stack = np.stack([s[name] for s in samples])
        if len(dims) >= 1 and dims[0] in (None, 1) and stack.ndim >= 2 and stack.shape[1] == 1:
            stack = stack[:, 0]
        arrays[name] = stack
    np.savez(path, **arrays)


def write_npz_theirs(path, samples):
    """arr[i] is the full feed of sample i (batch axis included)."""
    np.savez(path, **{k: np.stack([s[k] for s in samples]) for k in samples[0]})


# =========================================================================== evaluation


def ort_runs(path, save):
    """What ONNX Runtime runs of a model: its optimized graph (ORT_ENABLE_ALL, saved to `save`),
    op types counted, with the integer kernels, the Q/DQ left standing and the float
    convolutions / matrix products summed."""
    import collections
    import onnx
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.optimized_model_filepath = str(save)
    ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])
    g = onnx.load(str(save), load_external_data=False).graph
    ops = collections.Counter(n.op_type for n in g.node)
    integer = sum(v for k, v in ops.items() if k.startswith("QLinear") or k.endswith("Integer")
                  or k.startswith("DynamicQuantize") or k in ("QGemm", "MatMulIntegerToFloat"))
    qdq = ops["QuantizeLinear"] + ops["DequantizeLinear"]
    float_compute = sum(ops[k] for k in ("Conv", "FusedConv", "MatMul", "Gemm", "FusedMatMul", "FusedGemm"))
    Path(save).unlink(missing_ok=True)
    return {"ops": dict(ops.most_common()), "integer": integer, "qdq": qdq, "float_compute": float_compute}


def make_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_eval(sess, feeds, batched):
    names = [o.name for o in sess.get_outputs()]
    if batched is not None:
        outs = sess.run(None, batched)
        return dict(zip(names, outs))
    per = [sess.run(None, f) for f in feeds]
    return {n: np.concatenate([np.asarray(p[i]).reshape(1, -1) if np.asarray(p[i]).ndim == 0
                               else np.asarray(p[i]) for p in per], axis=0)
            for i, n in enumerate(names)}


def compare(ref, got, classifier):
    res = {}
    for n, r in ref.items():
        if n not in got:
            res[n] = {"error": "missing output"}
            continue
        g = got[n]
        if not np.issubdtype(np.asarray(r).dtype, np.floating):
            res[n] = {"equal": bool(np.array_equal(r, g))}
            continue
        r64 = np.asarray(r, dtype=np.float64).ravel()
        g64 = np.asarray(g, dtype=np.float64).ravel()
        if r64.shape != g64.shape:
            res[n] = {"error": f"shape {np.shape(g)} vs {np.shape(r)}"}
            continue
        d = np.abs(r64 - g64)
        nr, ng = np.linalg.norm(r64), np.linalg.norm(g64)
        m = {
            "max_abs": float(d.max()) if d.size else 0.0,
            "mean_abs": float(d.mean()) if d.size else 0.0,
            "cosine": float(r64 @ g64 / (nr * ng)) if nr > 0 and ng > 0 else (1.0 if nr == ng else 0.0),
            "non_finite": int((~np.isfinite(g64)).sum()),
        }
        if classifier and np.ndim(r) >= 2 and np.shape(r)[-1] > 1:
            m["top1_agreement"] = float((np.argmax(r, -1) == np.argmax(g, -1)).mean())
        res[n] = m
    return res


def latency(sessions, feed, budget_s, warmup=3):
    """sessions: dict key -> session. Round-robin; returns key -> median ms, and rounds."""
    keys = list(sessions)
    est = {}
    for k in keys:
        for _ in range(warmup):
            t = time.perf_counter()
            sessions[k].run(None, feed)
            est[k] = time.perf_counter() - t
    per_round = max(sum(est.values()), 1e-6)
    rounds = int(min(200, max(7, budget_s / per_round)))
    samples = {k: [] for k in keys}
    for _ in range(rounds):
        for k in keys:
            t = time.perf_counter()
            sessions[k].run(None, feed)
            samples[k].append((time.perf_counter() - t) * 1e3)
    return {k: statistics.median(v) for k, v in samples.items()}, rounds


# =========================================================================== main flow


def quantize_ours(mode, model, out, cal_npz, eval_npz, can_batch):
    base = [CLI, "quantize"]
    if mode == "fp16":
        args = ["--fp16", model, "-o", out]
    elif mode.startswith("int8-static-qdq"):
        args = ["--int8", "--calibrate", cal_npz, "--method", "minmax"]
        args += ["--per-channel"] if mode == "int8-static-qdq" else []
        args += ["--holdout", "0", model, "-o", out]
    else:
        args = ["--int8", model, "-o", out] + (["--per-channel"] if mode == "int8-dynamic-pc" else [])
    if not mode.startswith("int8-static-qdq") and can_batch:
        args += ["--verify-data", eval_npz]
    res = {}
    # --keep-rejected: an output our verification rejects (exit 1) is still compared, as theirs is
    # (their tool does not verify); the row says it was rejected.
    # --no-bench: the command's own before/after latency (on by default since the job refactor)
    # is not quantization time; this script times every variant itself, side by side. Except
    # with --own-timing for dynamic int8, whose default form depends on that timing (MatMulInteger
    # or int8-stored weights, whichever is faster here): its time column then includes it.
    if not (OWN_TIMING and mode.startswith("int8-dynamic")):
        args += ["--no-bench"]
    cmd = base + args + ["--json", "--keep-rejected"]
    rc, so, se, wall, rss = run_timed(cmd)
    res["cmd"] = " ".join(shlex.quote(c) for c in cmd)
    res.update(rc=rc, wall_s=wall, peak_rss_kib=rss)
    try:
        rep = json.loads(so)
        res["report"] = {k: rep.get(k) for k in ("size_ratio", "quantization", "fp16", "calibration",
                                                  "timings_ms", "verdict")}
        ver = rep.get("verification") or {}
        res["report"]["verification"] = ver
        if rc == 1 and rep.get("rejected"):
            Path(rep["rejected"]).replace(out)
            res["rejected_by_verification"] = True
            rc = res["rc"] = 0
    except json.JSONDecodeError:
        res["report"] = None
    if rc != 0:
        res["error"] = (se.strip() or so.strip())[-600:]
        return res
    # Like-for-like timing: no verification, written to a scratch path.
    nv_out = str(out) + ".noverify.onnx"
    cmd2 = base + [a if a != out else nv_out for a in args if a not in ("--verify-data", eval_npz)] + ["--no-verify"]
    rc2, so2, se2, wall2, rss2 = run_timed(cmd2)
    res["noverify"] = {"cmd": " ".join(shlex.quote(c) for c in cmd2), "rc": rc2, "wall_s": wall2,
                       "peak_rss_kib": rss2}
    if rc2 != 0:
        res["noverify"]["error"] = (se2.strip() or so2.strip())[-400:]
    for p in (Path(nv_out), Path(nv_out + ".data")):
        if p.exists():
            p.unlink()
    return res


def quantize_theirs(mode, model, out, cal_npz_theirs, work):
    cmd = [PY, SELF, "--worker", mode, model, out]
    if mode.startswith("int8"):
        cmd += ["--pre", str(Path(work) / (Path(out).stem + ".pre.onnx"))]
    if mode.startswith("int8-static-qdq"):
        cmd += ["--calib", cal_npz_theirs]
    rc, so, se, wall, rss = run_timed(cmd)
    res = {"cmd": " ".join(shlex.quote(c) for c in cmd), "rc": rc, "wall_s": wall, "peak_rss_kib": rss}
    for line in so.splitlines():
        if line.startswith("WORKER_JSON "):
            res["worker"] = json.loads(line[len("WORKER_JSON "):])
    if rc != 0:
        lines = [l for l in se.strip().splitlines() if l.strip()]
        res["error"] = "\n".join(lines[-3:])[-600:]
    return res


def bench_model(entry, modes, work, lat_budget, log):
    name = entry["name"]
    model = entry["file"]
    rec = {"name": name, "file": model, "fp32_bytes": file_size(ROOT / model), "modes": {}}
    shapes = model_input_shapes(ROOT / model)
    rec["input_shapes"] = {k: [d if d is not None else "?" for d in v] for k, v in shapes.items()}
    can_batch = batch_first(shapes)
    rec["batch_first"] = can_batch
    mdir = Path(work) / name
    mdir.mkdir(parents=True, exist_ok=True)
    cal_ours, cal_theirs, eval_ours = (str(mdir / f) for f in ("cal.npz", "cal-ort.npz", "eval.npz"))

    labels = None
    if name.startswith("digits"):
        xtr, _, xte, yte = digits_split()
        pick = np.random.default_rng(0).choice(len(xtr), N_CAL, replace=False)
        reshape = (lambda a: a.reshape(-1, 1, 8, 8)) if name == "digits-cnn" else (lambda a: a)
        cal = [{"input": reshape(xtr[i:i + 1])} for i in pick]
        evals = [{"input": reshape(xte[i:i + 1])} for i in range(len(xte))]
        batched = {"input": reshape(xte)}
        labels = yte
    else:
        cal = gen_inputs(name, entry["inputs"], N_CAL, 0)
        evals = gen_inputs(name, entry["inputs"], N_EVAL, 1)
        batched = None
    rec["data"] = data_description(name)
    (mdir / "data.txt").unlink(missing_ok=True)
    write_npz_ours(cal_ours, cal, shapes)
    write_npz_theirs(cal_theirs, cal)
    # Ours' --verify-data: the first N_VERIFY evaluation samples (all of them for digits).
    write_npz_ours(eval_ours, evals if labels is not None else evals[:N_VERIFY], shapes)
    (mdir / "data.txt").write_text(rec["data"] + "\n")

    # ---- quantize
    produced = {}
    for mode in modes:
        mrec = {}
        for who in ("ours", "theirs"):
            out = str(mdir / f"{mode}.{who}.onnx")
            for p in (Path(out), Path(out + ".data")):
                if p.exists():
                    p.unlink()
            t = time.perf_counter()
            if who == "ours":
                r = quantize_ours(mode, model, out, cal_ours, eval_ours, can_batch)
            else:
                r = quantize_theirs(mode, model, out, cal_theirs, mdir)
            r["bytes"] = file_size(out) if r["rc"] == 0 else None
            mrec[who] = r
            status = "ok" if r["rc"] == 0 else "FAILED: " + r.get("error", "").splitlines()[-1][:150] if r.get("error") else "FAILED"
            log(f"  {name:22s} {mode:16s} {who:6s} {time.perf_counter() - t:7.1f}s  {status}")
            if r["rc"] == 0:
                produced[(mode, who)] = out
        rec["modes"][mode] = mrec

    # ---- accuracy / error (threads=2 sessions, reused for latency)
    ref_sess = make_session(ROOT / model, 2)
    ref = run_eval(ref_sess, evals, batched)
    if labels is not None:
        rec["fp32_accuracy"] = float((np.argmax(ref[PRIMARY[name]], -1) == labels).mean())
    loaded = {}
    for (mode, who), path in produced.items():
        r = rec["modes"][mode][who]
        try:
            s = make_session(path, 2)
            r["loads_in_ort"] = True
            r["ort_runs"] = ort_runs(path, mdir / f"{mode}.{who}.ort-optimized.onnx")
        except Exception as e:  # noqa: BLE001
            r["loads_in_ort"] = False
            r["load_error"] = f"{type(e).__name__}: {str(e)[:300]}"
            log(f"  {name:22s} {mode:16s} {who:6s} does not load in ORT: {r['load_error'][:150]}")
            continue
        try:
            got = run_eval(s, evals, batched)
            r["error_vs_fp32"] = compare(ref, got, name in CLASSIFIER)
            if labels is not None:
                r["accuracy"] = float((np.argmax(got[PRIMARY[name]], -1) == labels).mean())
            loaded[(mode, who)] = path
        except Exception as e:  # noqa: BLE001
            r["run_error"] = f"{type(e).__name__}: {str(e)[:300]}"
            log(f"  {name:22s} {mode:16s} {who:6s} fails to run in ORT: {r['run_error'][:150]}")
        del s

    rec["fp32_ort_runs"] = ort_runs(ROOT / model, mdir / "fp32.ort-optimized.onnx")

    # ---- latency, batch 1, 1 and 2 threads, round-robin over every variant
    feed = evals[0]
    for threads in (1, 2):
        sessions = {("fp32", "fp32"): make_session(ROOT / model, threads)}
        for key, path in loaded.items():
            sessions[key] = make_session(path, threads)
        med, rounds = latency(sessions, feed, lat_budget)
        rec.setdefault("fp32_latency_ms", {})[str(threads)] = med[("fp32", "fp32")]
        rec.setdefault("latency_rounds", {})[str(threads)] = rounds
        for (mode, who), v in med.items():
            if mode != "fp32":
                rec["modes"][mode][who].setdefault("latency_ms", {})[str(threads)] = v
        log(f"  {name:22s} latency {threads}T: {rounds} rounds x {len(sessions)} variants, "
            f"fp32 {med[('fp32', 'fp32')]:.3f} ms")
        del sessions
    return rec


# =========================================================================== report


def fmt_bytes(b):
    if b is None:
        return "–"
    if b >= 1e6:
        return f"{b / 1e6:.2f} MB"
    return f"{b / 1e3:.1f} kB"


def fmt_s(s):
    return "–" if s is None else (f"{s:.2f} s" if s >= 0.995 else f"{s * 1e3:.0f} ms")


def fmt_ms(v):
    return "–" if v is None else (f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}")


def quality(rec, r):
    """(display string, 'loss' number where lower is better) for one produced model."""
    if r is None or r.get("rc") != 0 or not r.get("loads_in_ort") or "error_vs_fp32" not in r:
        return "–", None
    if "accuracy" in r:
        return f"{100 * r['accuracy']:.2f}%", rec["fp32_accuracy"] - r["accuracy"]
    m = r["error_vs_fp32"].get(PRIMARY[rec["name"]], {})
    if "cosine" not in m:
        return "–", None
    s = f"{m['cosine']:.5f}"
    if "top1_agreement" in m:
        s += f" (top1 {100 * m['top1_agreement']:.1f}%)"
    return s, 1.0 - m["cosine"]


def targets(rec, mode):
    """List of (target, PASS/MISS/n/a, detail)."""
    o, t = rec["modes"][mode]["ours"], rec["modes"][mode]["theirs"]
    ok_o, ok_t = o.get("rc") == 0, t.get("rc") == 0
    out = []
    if ok_o and ok_t:
        r = o["wall_s"] / t["wall_s"]
        nv = o.get("noverify", {})
        r2 = nv["wall_s"] / t["wall_s"] if nv.get("rc") == 0 else None
        out.append(("time ≤0.5×", "PASS" if r <= 0.5 else "MISS",
                    f"{r:.2f}× full cmd" + (f", {r2:.2f}× --no-verify" if r2 is not None else "")))
    else:
        out.append(("time ≤0.5×", "n/a", "ours failed" if not ok_o else "theirs failed"))
    _, lo = quality(rec, o)
    _, lt = quality(rec, t)
    if lo is not None and lt is not None:
        unit = "acc drop" if "accuracy" in o else "1-cos"
        fmt = (lambda v: f"{100 * v:+.2f} pt") if unit == "acc drop" else (lambda v: f"{v:.2e}")
        out.append(("quality ≥ theirs", "PASS" if lo <= lt + 1e-12 else "MISS",
                    f"{unit} ours {fmt(lo)} vs theirs {fmt(lt)}"))
    else:
        out.append(("quality ≥ theirs", "n/a", "missing result"))
    if mode.startswith("int8"):
        lo1, lt1 = (o.get("latency_ms") or {}), (t.get("latency_ms") or {})
        if lo1 and lt1:
            rs = [lo1[k] / lt1[k] for k in ("1", "2")]
            out.append(("latency ≤ theirs", "PASS" if max(rs) <= 1.0 else "MISS",
                        f"{rs[0]:.2f}× (1T), {rs[1]:.2f}× (2T)"))
        else:
            out.append(("latency ≤ theirs", "n/a", "missing result"))
    lim = 0.27 if mode.startswith("int8") else 0.51
    if o.get("bytes"):
        r = o["bytes"] / rec["fp32_bytes"]
        out.append((f"size ≤{lim}× fp32", "PASS" if r <= lim else "MISS", f"{r:.3f}×"))
    else:
        out.append((f"size ≤{lim}× fp32", "n/a", "ours failed"))
    return out


def write_markdown(path, meta, recs, modes, skipped):
    L = []
    L.append("# `optimize quantize` vs ONNX Runtime quantization / onnxconverter-common\n")
    L.append(f"Generated by `benches/quantize_vs_onnxruntime.py` on {meta['date']} "
             f"(total {meta['total_s'] / 60:.1f} min). Raw numbers: "
             "[`quantize-vs-onnxruntime.json`](quantize-vs-onnxruntime.json). How each "
             "comparison is made, and how fair it is, is in the script's docstring.\n")
    L.append("## Machine and versions\n")
    for k in ("cpu", "cores", "memory", "os", "python", "onnxruntime", "onnx", "onnxconverter_common",
              "numpy", "optimize", "git", "load_avg_start", "load_avg_end"):
        L.append(f"- **{k}**: {meta.get(k)}")
    L.append("")
    L.append("## Commands\n")
    L.append("- ours: `" + CLI + " quantize` as listed per row in the JSON (`modes.*.ours.cmd`); "
             "the forms are:")
    L.append("  - int8 dynamic: `optimize quantize --int8 MODEL -o OUT [--per-channel] "
             "[--verify-data EVAL.npz] --json` (`--verify-data` only for models whose inputs are "
             "all batch-first)")
    L.append("  - int8 static: `optimize quantize --int8 --calibrate CAL.npz --method minmax "
             "--per-channel --holdout 0 MODEL -o OUT --json`")
    L.append("  - fp16: `optimize quantize --fp16 MODEL -o OUT [--verify-data EVAL.npz] --json`")
    if OWN_TIMING:
        L.append("  - run with `--own-timing`: the dynamic forms run without `--no-bench`, so ours "
                 "times its output as users' default command does and writes the faster of "
                 "MatMulInteger and int8-stored weights; their quantize time includes that timing")
    L.append("  - every form also takes `--no-bench --keep-rejected`: the command's own before/after "
             "latency is left to this script, and an output our verification rejects is still "
             "measured (the notes name it)")
    L.append("  - the same commands with `--no-verify` instead of `--json`/`--verify-data` give the "
             "like-for-like time (\"ours nv\")")
    L.append("- theirs: `" + PY + " " + SELF + " --worker MODE MODEL OUT [--pre PRE.onnx] "
             "[--calib CAL-ort.npz]` — a fresh interpreter that runs "
             "`quant_pre_process` (int8 only) then `quantize_dynamic(per_channel=…, "
             "weight_type=QInt8, reduce_range on AVX2 without VNNI)` / `quantize_static(QDQ, MinMax, per_channel=True, "
             "activation_type=QUInt8, weight_type=QInt8)`, or "
             "`float16.convert_float_to_float16(keep_io_types=True)`")
    L.append("- Time = wall time of the whole process; RSS = its peak resident set "
             "(GNU `time -f %M`). Latency = ORT CPU, batch 1, ORT_ENABLE_ALL, median over "
             "round-robin rounds of all variants in one process (rounds per model in the JSON).")
    L.append("")
    if skipped:
        L.append("Skipped: " + "; ".join(f"**{k}** ({v})" for k, v in skipped.items()) + "\n")
    for mode in modes:
        L.append(f"## {MODE_TITLES[mode]}\n")
        L.append("| model | size ours / theirs / fp32 (ours×, theirs×) | quantize time ours (nv) / theirs "
                 "(ours÷theirs) | peak RSS ours / theirs | accuracy or cosine ours / theirs [fp32] "
                 "| latency 1T ms ours / theirs / fp32 (ours÷fp32, theirs÷fp32) | latency 2T ms, same |")
        L.append("|---|---|---|---|---|---|---|")
        notes = []
        for rec in recs:
            if mode not in rec["modes"]:
                continue
            o, t = rec["modes"][mode]["ours"], rec["modes"][mode]["theirs"]
            fp = rec["fp32_bytes"]
            so = fmt_bytes(o.get("bytes")) if o.get("rc") == 0 else "FAIL"
            st = fmt_bytes(t.get("bytes")) if t.get("rc") == 0 else "FAIL"
            ro = f"{o['bytes'] / fp:.3f}" if o.get("bytes") else "–"
            rt = f"{t['bytes'] / fp:.3f}" if t.get("bytes") else "–"
            nv = o.get("noverify", {})
            to = fmt_s(o["wall_s"]) + (f" ({fmt_s(nv['wall_s'])})" if nv.get("rc") == 0 else "")
            tt = fmt_s(t["wall_s"])
            ratio = (f"{o['wall_s'] / t['wall_s']:.2f}" + (f" / {nv['wall_s'] / t['wall_s']:.2f} nv"
                     if nv.get("rc") == 0 else "")) if o.get("rc") == 0 and t.get("rc") == 0 else "–"
            rss = " / ".join("–" if r.get("peak_rss_kib") is None else f"{r['peak_rss_kib'] / 1024:.0f}"
                             for r in (o, t)) + " MiB"
            qo, _ = quality(rec, o)
            qt, _ = quality(rec, t)
            fpq = f"{100 * rec['fp32_accuracy']:.2f}%" if "fp32_accuracy" in rec else "1"
            lat = []
            for th in ("1", "2"):
                lo = (o.get("latency_ms") or {}).get(th)
                lt = (t.get("latency_ms") or {}).get(th)
                lf = rec.get("fp32_latency_ms", {}).get(th)
                rat = (f" ({lo / lf:.2f}×, {lt / lf:.2f}×)" if lo and lt and lf else
                       f" ({lo / lf:.2f}×, –)" if lo and lf else f" (–, {lt / lf:.2f}×)" if lt and lf else "")
                lat.append(f"{fmt_ms(lo)} / {fmt_ms(lt)} / {fmt_ms(lf)}{rat}")
            L.append(f"| {rec['name']} | {so} / {st} / {fmt_bytes(fp)} ({ro}, {rt}) | {to} / {tt} "
                     f"({ratio}) | {rss} | {qo} / {qt} [{fpq}] | {lat[0]} | {lat[1]} |")
            if o.get("rejected_by_verification"):
                why = "; ".join(((o.get("report") or {}).get("verdict") or {}).get("failures") or [])
                notes.append(f"- {rec['name']} ours: rejected by our own verification (measured here "
                             f"anyway, kept with --keep-rejected): {why[:300]}")
            for who, r in (("ours", o), ("theirs", t)):
                if r.get("rc") != 0:
                    notes.append(f"- {rec['name']} {who} failed: `{(r.get('error') or '').splitlines()[-1][:300] if r.get('error') else 'rc ' + str(r.get('rc'))}`")
                elif r.get("loads_in_ort") is False:
                    notes.append(f"- {rec['name']} {who} does not load in ORT: `{r.get('load_error', '')[:300]}`")
                elif r.get("run_error"):
                    notes.append(f"- {rec['name']} {who} fails in ORT: `{r['run_error'][:300]}`")
                pre = (r.get("worker") or {}).get("pre_process")
                if who == "theirs" and pre and pre != "ok" and pre != "not run":
                    errs = (r.get("worker") or {}).get("pre_process_errors") or []
                    notes.append(f"- {rec['name']} theirs quant_pre_process: {pre}"
                                 + (f" (first error: `{errs[0][:160]}`)" if errs else ""))
        L.append("")
        L.append("Targets (PASS/MISS, margin):\n")
        L.append("| model | quantize time ≤ 0.5× theirs | quality ≥ theirs | "
                 + ("int8 latency ≤ theirs | size ≤ 0.27× fp32 |" if mode.startswith("int8")
                    else "size ≤ 0.51× fp32 |"))
        L.append("|---|---|---|" + ("---|---|" if mode.startswith("int8") else "---|"))
        for rec in recs:
            if mode not in rec["modes"]:
                continue
            cells = [f"{s} {d}" for _, s, d in targets(rec, mode)]
            L.append(f"| {rec['name']} | " + " | ".join(cells) + " |")
        L.append("")
        if mode.startswith("int8"):
            L.append("What ONNX Runtime runs (its optimized graph, ORT_ENABLE_ALL): integer kernels / "
                     "QuantizeLinear+DequantizeLinear left standing / float Conv+MatMul+Gemm; "
                     "then the most frequent op types:\n")
            for rec in recs:
                if mode not in rec["modes"]:
                    continue
                cells = []
                for who, r in (("ours", rec["modes"][mode]["ours"]), ("theirs", rec["modes"][mode]["theirs"]),
                               ("fp32", {"ort_runs": rec.get("fp32_ort_runs")})):
                    g = r.get("ort_runs")
                    if not g:
                        cells.append(f"{who} –")
                        continue
                    top = ", ".join(f"{k} {v}" for k, v in list(g["ops"].items())[:6])
                    cells.append(f"{who} {g['integer']} / {g['qdq']} / {g['float_compute']} ({top})")
                L.append(f"- {rec['name']}: " + "; ".join(cells))
            L.append("")
        if notes:
            L.append("Failures and notes:\n")
            L.extend(notes)
            L.append("")
    Path(path).write_text("\n".join(L) + "\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", help="comma-separated names (default: all in the manifest)")
    ap.add_argument("--skip", default="", help="comma-separated names to leave out")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--lat-budget", type=float, default=6.0,
                    help="seconds of timed latency rounds per model and thread count (default 6)")
    ap.add_argument("--work", default="target/bench-quantize", help="scratch folder for models/data")
    ap.add_argument("--out", default="results/quantize-vs-onnxruntime")
    ap.add_argument("--own-timing", action="store_true",
                    help="let ours time its dynamic int8 output (its default; it then writes the "
                         "faster of MatMulInteger and int8-stored weights); the time column "
                         "includes that timing")
    a = ap.parse_args()
    global OWN_TIMING
    OWN_TIMING = a.own_timing
    os.chdir(ROOT)
    if not Path(CLI).exists():
        sys.exit(f"{CLI} missing: run `cargo build --release -p optimize-cli` first")
    t_start = time.perf_counter()
    manifest = json.loads(MANIFEST.read_text())["models"]
    modes = [m for m in a.modes.split(",") if m]
    wanted = set(a.models.split(",")) if a.models else None
    skip_args = {s for s in a.skip.split(",") if s}
    skipped = {}
    entries = []
    for e in manifest:
        if wanted is not None and e["name"] not in wanted:
            continue
        if e["name"] in SKIP_ALWAYS:
            skipped[e["name"]] = SKIP_ALWAYS[e["name"]]
            continue
        if e["name"] in skip_args:
            skipped[e["name"]] = "left out with --skip"
            continue
        if not (ROOT / e["file"]).exists():
            skipped[e["name"]] = "not fetched (run scripts/fetch-models.py --all)"
            continue
        entries.append(e)

    import onnx
    import onnxruntime

    try:
        import onnxconverter_common

        occ = onnxconverter_common.__version__
    except ImportError:
        occ = "not installed"
    bin_sha = sha256(CLI)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "os": os_name(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "onnxconverter_common": occ,
        "numpy": np.__version__,
        "optimize": subprocess.run([CLI, "--version"], capture_output=True, text=True).stdout.strip()
        + f" (release build, sha256 {bin_sha[:16]}…)",
        "git": git("rev-parse", "--short", "HEAD") + (" + uncommitted changes under crates/"
                                                       if git("status", "--porcelain", "crates") else ""),
        "load_avg_start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    print(f"benchmarking {len(entries)} models x {len(modes)} modes; skipped: {skipped or 'none'}", flush=True)

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.0f}s] {msg}", flush=True)

    recs = []
    for e in entries:
        log(f"{e['name']}")
        try:
            recs.append(bench_model(e, modes, a.work, a.lat_budget, log))
        except Exception as ex:  # noqa: BLE001
            traceback.print_exc()
            skipped[e["name"]] = f"benchmark crashed: {type(ex).__name__}: {str(ex)[:200]}"
    meta["load_avg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    meta["total_s"] = time.perf_counter() - t_start
    if sha256(CLI) != bin_sha:
        meta["warning"] = f"{CLI} changed during the run (someone rebuilt it)"
    for rec in recs:
        rec["targets"] = {m: [dict(zip(("target", "status", "detail"), t)) for t in targets(rec, m)]
                          for m in modes if m in rec["modes"]}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"schema": "optimize.bench.quantize-vs-onnxruntime/1", "meta": meta, "modes": modes,
         "skipped": skipped, "models": recs}, indent=1, default=str) + "\n")
    write_markdown(out.with_suffix(".md"), meta, recs, modes, skipped)
    log(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
