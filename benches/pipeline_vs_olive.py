#!/usr/bin/env python3
"""Benchmark: `optimize pipeline` against Microsoft Olive (olive-ai) on the same model, data and goal.

    .venv/bin/python benches/pipeline_vs_olive.py                      # digits-cnn
    .venv/bin/python benches/pipeline_vs_olive.py --recipes digits-cnn --olive-sampler tpe --olive-max-iter 40

Needs the release CLI (cargo build --release) and Olive in its own environment, .venv-olive
(python3 -m venv .venv-olive && .venv-olive/bin/pip install -r benches/requirements-olive.txt).
Writes results/pipeline-vs-olive.md and results/pipeline-vs-olive.json (every raw number).

For each recipe (only recipes/pipeline-digits-cnn.toml so far; see TARGETS), in this order:

1. Ours: `target/release/optimize pipeline RECIPE -o target/bench-olive/ours-NAME --json` from an
   empty output folder (every step runs, nothing comes from a cache). Its pick is the winner row
   of the JSON report (none when no configuration meets the SLA).
2. Olive: this same file, run by .venv-olive/bin/python in a fresh process (`--olive-worker`,
   with OLIVE_DISABLE_TELEMETRY=1 and CI=1: telemetry off, no network), calls
   `olive.workflows.run` on a config written to target/bench-olive/olive-NAME/olive-config.json
   (empty cache and output): the recipe's model; its calibration .npz as the data of the static
   quantization pass; its evaluation .npz for the metric; and the recipe's SLA as Olive's goals:
   top-1 accuracy (Olive's `accuracy` metric, `accuracy_score`) with goal `max-degradation` = the
   recipe's `metric_max_drop`, and ONNX Runtime p50 latency (Olive's `latency` metric on the
   first evaluation sample, 1 intra-op thread, ORT_ENABLE_ALL) with a `threshold` goal = the
   recipe's `latency_p50_ms`, latency at priority 1 so that Olive's best candidate is the fastest
   one meeting both goals (select = "latency"). The search is Olive's own: one pass group whose
   alternatives are OnnxStaticQuantization, OnnxDynamicQuantization and OnnxFloatToFloat16, each
   with Olive's default search space (weight precision int8/uint8, per_channel, reduce_range,
   quant_preprocess; for static also calibrate_method MinMax/Entropy/Percentile and quant_format
   QDQ/QOperator with the matching activation type), execution order "joint", sampler
   --olive-sampler (default "sequential" with no cap: every point). Olive's pick is
   WorkflowOutput.get_best_candidate() (saved as OUT/model.onnx). When Olive picks nothing (no
   candidate meets every goal), its fastest candidate within the accuracy goal (by its own p50)
   is measured too, in a row marked as not its pick.
3. Measurement, in this process (.venv: numpy + onnxruntime), of the float32 original and both
   picks side by side:
   - p50 latency: ONNX Runtime CPU, 1 intra-op thread, 1 inter-op thread, sequential,
     ORT_ENABLE_ALL, batch = the recipe's batch (1), the first evaluation sample. --rounds rounds
     (default 7); each round times every model for --seconds (0.3 s) after 10 untimed calls, the
     models' order rotating by one each round; GC off while timing. A model's p50 is the median
     of its per-round medians; "× float32" is the median of the per-round ratios to the float32
     model's median in the same round; the spread is half the interquartile range of all its
     timed calls (the pipeline's own definition of a tie).
   - top-1: every evaluation sample (359 for digits), batch 1, argmax of the first output against
     `label`; its change is from the float32 original measured the same way.
   - size: the .onnx file, plus external data files beside it when the model has any.
   - meets the SLA: top-1 drop <= metric_max_drop (1 point) and p50 <= latency_p50_ms, both as
     measured here (not as each tool measured itself; those numbers are in the JSON).
   - search wall time: the whole command, process start to exit (ours: the CLI; Olive: the worker
     process, which includes importing Olive and PyTorch, several seconds; Olive's own run time
     without that is reported beside it).

Fairness. Both tools start from the same ONNX file, the same calibration and evaluation data and
the same SLA, with empty caches, one after the other on an otherwise idle machine: before each
timed phase the script waits (--wait-idle) until under 10% of a core has been busy for 15 s, and
it records the CPU time other processes used during each phase (all busy time in /proc/stat minus
its own and its children's); the report flags a phase where that exceeds 10% of a core (the
machine has 2). The search spaces differ, by design of each tool: ours (the recipe) tries 11 step
chains and the original, with channel pruning plus a fine-tuning step, fp16, static int8 and
--auto mixed precision; Olive's ONNX passes only quantize or convert to fp16 (no pruning or
fine-tuning of an ONNX model) but try many more quantization settings. Olive never keeps the
input model as a candidate; ours does (the original is row 0). Olive's latency metric defaults to
20 timed calls after 10 warm-ups, too few for a 0.01 ms model, so this script asks for
--olive-latency-runs (2000) after 100 warm-ups, and pins 1 thread and ORT_ENABLE_ALL as the
recipe does; nothing else in Olive's defaults is changed except where Olive 0.13.0 needs a
workaround to run at all (listed in the report's Notes). The picks are judged by this script's
measurement alone, in one process, so both sides are timed the same way. That measurement goes
through Python, which adds a few microseconds per call to every model alike; the pipeline's own
numbers (Rust, the same ONNX Runtime 1.31.1 library) have no such overhead, so its ratios to
float32 can look larger than the ones here.
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
import traceback
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from machine import ROOT, cpu_model, git  # noqa: E402

CLI = ROOT / "target/release/optimize"
PY = ROOT / ".venv/bin/python"
OLIVE_PY = ROOT / ".venv-olive/bin/python"
WORK = ROOT / "target/bench-olive"
RESULTS_MD = ROOT / "results/pipeline-vs-olive.md"
RESULTS_JSON = ROOT / "results/pipeline-vs-olive.json"

# The recipes compared. Each needs a metric Olive can compute the same way: "top1" (Olive's
# accuracy_score on the argmax of the first output against the .npz `label`). ppocr-rec
# (recipes/pipeline-ppocr-rec.toml, metric = a command) would need an Olive `custom` metric whose
# evaluate_func runs the same command on the candidate: add it here with "metric": "command" and a
# branch in olive_metric() when it is wanted.
TARGETS = {
    "digits-cnn": {"recipe": ROOT / "recipes/pipeline-digits-cnn.toml", "label": "label"},
}


# --------------------------------------------------------------------------------------------
# Olive side: runs in .venv-olive. Olive imports this file as its user script (data components).
# --------------------------------------------------------------------------------------------

def _register_olive_components():
    """The data components the Olive config names: an .npz dataset and an argmax post-process."""
    import numpy as np
    import torch
    from olive.data.registry import Registry

    class NpzDataset(torch.utils.data.Dataset):
        def __init__(self, path, input_names, label_key, max_samples):
            data = np.load(path)
            self.inputs = {name: data[name] for name in input_names}
            n = len(next(iter(self.inputs.values())))
            self.labels = data[label_key] if label_key and label_key in data else np.zeros(n, np.int64)
            self.n = min(n, max_samples) if max_samples else n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return ({k: torch.from_numpy(np.ascontiguousarray(v[i])) for k, v in self.inputs.items()},
                    int(self.labels[i]))

    @Registry.register_dataset("pvo_npz_dataset")
    def pvo_npz_dataset(path, input_names, label_key="label", max_samples=None):
        return NpzDataset(path, input_names, label_key, max_samples)

    @Registry.register_post_process("pvo_argmax")
    def pvo_argmax(output, **kwargs):
        return output.argmax(dim=-1)


if __name__ != "__main__" and "olive" in sys.modules:
    _register_olive_components()


class _Collect(logging.Handler):
    """Keeps the warnings and errors Olive and ONNX Runtime's quantizer log, with their exceptions."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = {}

    def emit(self, record):
        if getattr(record, "_pvo_seen", False):  # the same record reaches both handlers when it propagates
            return
        record._pvo_seen = True
        exc = None
        if record.exc_info and record.exc_info[1] is not None:
            e, chain = record.exc_info[1], []
            while e is not None and len(chain) < 4:
                chain.append(f"{type(e).__name__}: {e}".strip())
                e = e.__cause__ or e.__context__
            exc = " <- ".join(chain)
        key = (record.levelname, record.name, record.getMessage()[:300], exc)
        self.seen[key] = self.seen.get(key, 0) + 1

    def issues(self):
        return [{"level": k[0], "logger": k[1], "message": k[2], "exception": k[3], "count": v}
                for k, v in self.seen.items()]


def olive_probe(out: Path) -> int:
    """Versions, and checks of the Olive 0.13.0 problems this script works around (untimed)."""
    probe = {"python": sys.version.split()[0]}
    try:
        import importlib.metadata as md
        probe["olive"] = md.version("olive-ai")
        probe["olive_requires"] = [r for r in (md.requires("olive-ai") or []) if "extra ==" not in r]
        for pkg in ("onnxruntime", "onnx", "torch", "numpy", "optuna"):
            try:
                probe[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                probe[pkg] = None
    except Exception as e:  # noqa: BLE001
        probe["metadata_error"] = f"{type(e).__name__}: {e}"
    try:
        import requests  # noqa: F401
        probe["requests"] = "importable"
    except ImportError as e:
        probe["requests"] = f"ImportError: {e}"
    try:
        import olive.workflows  # noqa: F401
        probe["import"] = "ok"
    except Exception as e:  # noqa: BLE001
        probe["import"] = f"{type(e).__name__}: {e}"
        out.write_text(json.dumps(probe, indent=1))
        return 0
    # An evaluator without "type" (the documented default: the model's framework) makes the engine's
    # resource scan fail before anything runs.
    try:
        from olive.resource_path import find_all_resources
        find_all_resources({"name": "ev", "type": None, "metrics": []})
        probe["evaluator_without_type"] = "ok"
    except Exception as e:  # noqa: BLE001
        probe["evaluator_without_type"] = f"{type(e).__name__}: {e}"
    # The search strategy's sampler_config (max_samples, seed) survives the config's round trip?
    try:
        from olive.workflows.run.config import RunEngineConfig
        engine = RunEngineConfig(search_strategy={"execution_order": "joint", "sampler": "random",
                                                  "sampler_config": {"max_samples": 5, "seed": 3}})
        dumped = engine.model_dump(include={"search_strategy"})["search_strategy"]["sampler_config"]
        probe["sampler_config_after_dump"] = dumped
    except Exception as e:  # noqa: BLE001
        probe["sampler_config_after_dump"] = f"{type(e).__name__}: {e}"
    out.write_text(json.dumps(probe, indent=1, default=str))
    return 0


def olive_worker(config_path: Path, summary_path: Path) -> int:
    """Runs one Olive workflow and writes what it picked and what it tried to summary_path."""
    summary = {"config": str(config_path), "ok": False, "error": None, "best": None, "candidates": [],
               "input_metrics": None, "issues": []}
    collect = _Collect()
    for name in ("", "olive"):
        logging.getLogger(name).addHandler(collect)
    config = json.loads(config_path.read_text())
    start = time.monotonic()
    try:
        from olive.workflows import run as olive_run
        summary["import_seconds"] = time.monotonic() - start
        t0 = time.monotonic()
        output = olive_run(config)
        summary["run_seconds"] = time.monotonic() - t0
        summary["ok"] = True
        best = output.get_best_candidate() if output is not None else None
        if best is not None:
            summary["best"] = {"model_id": best.model_id, "model_path": best.model_path,
                               "from_pass": best.from_pass(), "metrics": best.metrics_value}
        if output is not None:
            summary["input_metrics"] = output.get_input_model_metrics()
            summary["output_model_ids"] = [m.model_id for m in output.get_output_models()]
    except BaseException as e:  # noqa: BLE001  (SystemExit from a pass counts too)
        summary["error"] = f"{type(e).__name__}: {e}"
        summary["traceback"] = traceback.format_exc()
    summary["worker_seconds"] = time.monotonic() - start
    fp_path = Path(config["engine"]["output_dir"]) / "footprint.json"
    if fp_path.exists():
        nodes = json.loads(fp_path.read_text())
        for model_id, node in nodes.items():
            if node.get("parent_model_id") is None:
                continue
            mc = node.get("model_config_data") or {}
            metrics = (node.get("metrics") or {}).get("value") or {}
            summary["candidates"].append({
                "model_id": model_id,
                "from_pass": node.get("from_pass"),
                "config": {k: v for k, v in (node.get("pass_run_config") or {}).items() if k in OLIVE_KEYS},
                "failed": bool(mc.get("is_pruned")),
                "model_path": (mc.get("config") or {}).get("model_path"),
                "metrics": {k: v.get("value") for k, v in metrics.items()},
                "goals_met": (node.get("metrics") or {}).get("if_goals_met"),
                "pareto": node.get("is_pareto_frontier"),
                "seconds": (node.get("end_time") or 0) - (node.get("start_time") or 0),
            })
    summary["issues"] = collect.issues()
    summary_path.write_text(json.dumps(summary, indent=1, default=str))
    return 0 if summary["ok"] else 1


# The pass settings that name a candidate (the rest are Olive's fixed defaults).
OLIVE_KEYS = ("quant_mode", "precision", "activation_type", "per_channel", "reduce_range", "quant_format",
              "calibrate_method", "quant_preprocess", "keep_io_types")


# --------------------------------------------------------------------------------------------
# Main side: runs in .venv (numpy + onnxruntime).
# --------------------------------------------------------------------------------------------

def read_recipe(name: str) -> dict:
    """The parts of a pipeline recipe both tools are given, with paths made absolute."""
    path = TARGETS[name]["recipe"]
    r = tomllib.loads(path.read_text())
    base = path.parent
    data = r.get("data", {})
    sla = r.get("sla", {})
    target = r.get("target", {})
    metric = r.get("metric", {}).get("kind", "top1")
    rec = {
        "name": r.get("name", path.stem), "recipe": path,
        "model": (base / r["model"]["path"]).resolve(),
        "calibrate": (base / data["calibrate"]).resolve(),
        "eval": (base / data["eval"]).resolve(),
        "metric": metric, "label": TARGETS[name]["label"],
        "engine": target.get("engine", "ort"), "threads": int(target.get("threads", 1)),
        "batch": int(target.get("batch", 1)),
        "p50_ms": sla.get("latency_p50_ms"), "p50_ratio": sla.get("latency_p50_ratio"),
        "max_drop": sla.get("metric_max_drop"),
        "select": sla.get("select", "latency"),
        "configs": len(r.get("configs", [])),
    }
    if metric != "top1":
        sys.exit(f"{name}: metric kind {metric!r} has no Olive counterpart in this script yet (see TARGETS)")
    if rec["engine"] != "ort" or rec["select"] != "latency":
        sys.exit(f"{name}: only engine = \"ort\" and select = \"latency\" are compared")
    return rec


def _cpu_busy_s() -> float:
    """CPU-seconds all processes have spent busy since boot (every core), from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    import resource
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


class CpuWatch:
    """How much CPU other processes used while a phase ran: all busy time minus this process's and its
    children's (finished children only, so a phase's subprocess must have ended when it stops)."""

    def __enter__(self):
        self.t, self.busy, self.own, self.load = time.monotonic(), _cpu_busy_s(), _own_cpu_s(), os.getloadavg()
        return self

    def __exit__(self, *exc):
        wall = time.monotonic() - self.t
        other = max(0.0, (_cpu_busy_s() - self.busy) - (_own_cpu_s() - self.own))
        self.result = {"wall_s": wall, "other_cpu_s": other, "other_share_of_one_core": other / wall if wall else 0,
                       "load_start": self.load, "load_end": os.getloadavg()}
        return False


def wait_idle(limit_s: float, quiet_s: float = 15) -> dict:
    """Waits (up to limit_s) until the machine has been idle for quiet_s: under 10% of one core busy in
    every 3-s sample (a short gap between another user's build steps does not count)."""
    start, quiet, share = time.monotonic(), 0.0, 0.0
    told = False
    while True:
        b0, t0 = _cpu_busy_s(), time.monotonic()
        time.sleep(3)
        dt = time.monotonic() - t0
        share = (_cpu_busy_s() - b0) / dt
        quiet = quiet + dt if share < 0.10 else 0.0
        waited = time.monotonic() - start
        if quiet >= quiet_s or waited >= limit_s:
            if quiet < quiet_s:
                print(f"  still {share:.0%} of a core busy after {waited:.0f} s; going on", flush=True)
            return {"waited_s": waited, "busy_share_of_one_core": share, "idle": quiet >= quiet_s}
        if share >= 0.10 and not told:
            print(f"  waiting for the machine to be idle ({share:.0%} of a core busy) ...", flush=True)
            told = True


def run_with_retry(cmd: list[str], wait_s: float, **kw) -> subprocess.CompletedProcess:
    """Runs cmd; while the binary is missing or being rewritten (another build), waits and retries."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if not Path(cmd[0]).exists():
                raise FileNotFoundError(errno.ENOENT, "missing", cmd[0])
            return subprocess.run(cmd, **kw)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ETXTBSY) or time.monotonic() > deadline:
                raise
            print(f"  {cmd[0]}: {e.strerror}; waiting for the build ...", flush=True)
            time.sleep(15)


def run_ours(rec: dict, args) -> dict:
    name = rec["name"]
    out = WORK / f"ours-{name}"
    if out.exists():
        shutil.rmtree(out)
    cmd = [str(CLI), "pipeline", str(rec["recipe"].relative_to(ROOT)), "-o", str(out.relative_to(ROOT)), "--json"]
    idle = wait_idle(args.wait_idle)
    with CpuWatch() as watch:
        start = time.monotonic()
        proc = run_with_retry(cmd, args.wait_binary, cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - start
    res = {"command": " ".join(["target/release/optimize", *cmd[1:]]), "exit": proc.returncode, "wall_s": wall,
           "idle_before": idle, "cpu": watch.result, "pick": None, "error": None}
    if proc.returncode not in (0, 1):
        res["error"] = f"exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        return res
    report = json.loads(proc.stdout)
    res["total_seconds"] = report["timing"]["total_seconds"]
    res["rows"] = [{"name": r["name"], "status": r["status"], "sla_met": r["sla_met"], "model": r.get("model"),
                    "numbers": r.get("numbers")} for r in report["rows"]]
    res["why"] = report.get("why")
    res["measured"] = sum(1 for r in report["rows"] if r["status"] == "measured")
    res["sla_met"] = sum(1 for r in report["rows"] if r["sla_met"])
    w = report.get("winner")
    if w is not None:
        row = report["rows"][w]
        steps = " → ".join(f"{s['kind']} {s['settings']}" for s in row.get("steps") or []) or "no change"
        res["pick"] = {"name": row["name"], "steps": steps, "model": str((ROOT / row["model"]).resolve()),
                       "own": row.get("numbers")}
    else:
        res["error"] = f"no configuration meets the SLA (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
    return res


def olive_config(rec: dict, work: Path, args) -> dict:
    """Olive 0.13 workflow config: same model, calibration data, metric, goals; Olive's own search."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(rec["model"]), providers=["CPUExecutionProvider"])
    input_names = [i.name for i in sess.get_inputs()]
    out_shape = sess.get_outputs()[0].shape
    num_classes = out_shape[-1] if isinstance(out_shape[-1], int) else None
    if num_classes is None:
        import numpy as np
        num_classes = int(np.load(rec["eval"])[rec["label"]].max()) + 1
    script = str(Path(__file__).resolve())
    session = {"onnx": {"session_options": {"intra_op_num_threads": rec["threads"], "inter_op_num_threads": 1,
                                             "execution_mode": 0, "graph_optimization_level": 99},
                        "execution_provider": ["CPUExecutionProvider"]}}

    def data(name, path, batch, post=None, max_samples=None):
        d = {"name": name, "user_script": script, "script_dir": str(HERE),
             "load_dataset_config": {"type": "pvo_npz_dataset",
                                     "params": {"path": str(path), "input_names": input_names,
                                                "label_key": rec["label"], "max_samples": max_samples}},
             "dataloader_config": {"params": {"batch_size": batch}}}
        if post:
            d["post_process_data_config"] = {"type": post}
        return d

    latency = {"name": "latency", "type": "latency", "data_config": "latency_data",
               "sub_types": [{"name": "p50", "priority": 1,
                              "metric_config": {"warmup_num": 100, "repeat_test_num": args.olive_latency_runs}}],
               "user_config": {"inference_settings": session}}
    if rec["p50_ms"] is not None:
        latency["sub_types"][0]["goal"] = {"type": "threshold", "value": rec["p50_ms"]}
    elif rec["p50_ratio"] is not None:
        # The recipe's bound relative to the original is Olive's relative latency goal.
        latency["sub_types"][0]["goal"] = {"type": "percent-min-improvement",
                                           "value": round((1 - rec["p50_ratio"]) * 100, 6)}
    accuracy = {"name": "accuracy", "type": "accuracy", "data_config": "eval_data",
                "sub_types": [{"name": "accuracy_score", "priority": 2,
                               "metric_config": {"task": "multiclass", "num_classes": num_classes}}],
                "user_config": {"inference_settings": session}}
    if rec["max_drop"] is not None:
        accuracy["sub_types"][0]["goal"] = {"type": "max-degradation", "value": rec["max_drop"]}
    passes = {"static": {"type": "OnnxStaticQuantization", "data_config": "calibration_data"},
              "dynamic": {"type": "OnnxDynamicQuantization"},
              "fp16": {"type": "OnnxFloatToFloat16"}}
    strategy = {"execution_order": "joint", "sampler": args.olive_sampler}
    if args.olive_max_iter:
        strategy["max_iter"] = args.olive_max_iter
    return {
        "workflow_id": f"pipeline_vs_olive_{rec['name'].replace('-', '_')}",
        "input_model": {"type": "ONNXModel", "model_path": str(rec["model"])},
        "systems": {"local": {"type": "LocalSystem",
                              "accelerators": [{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]}},
        "data_configs": [
            data("calibration_data", rec["calibrate"], 1),
            data("eval_data", rec["eval"], 1, post="pvo_argmax"),
            data("latency_data", rec["eval"], rec["batch"], max_samples=rec["batch"]),
        ],
        # "type" is set: without it Olive 0.13.0 fails before running (see olive_probe).
        "evaluators": {"sla": {"type": "OnnxEvaluator", "metrics": [latency, accuracy]}},
        "passes": {"quantize": [passes[p] for p in args.olive_passes.split(",")]},
        "engine": {"search_strategy": strategy, "evaluator": "sla", "host": "local", "target": "local",
                   "evaluate_input_model": True, "cache_dir": str(work / "cache"),
                   "output_dir": str(work / "output"), "log_severity_level": 1},
    }


def olive_env() -> dict:
    env = dict(os.environ)
    env["OLIVE_DISABLE_TELEMETRY"] = "1"  # no network at run time
    # Olive 0.13.0 still logs a telemetry heartbeat before it reads OLIVE_DISABLE_TELEMETRY, and its exit
    # then waits for the send (about 10 s without network). A CI variable disables telemetry before that.
    env["CI"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def run_olive(rec: dict, args) -> dict:
    name = rec["name"]
    work = WORK / f"olive-{name}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    res = {"pick": None, "error": None, "work": str(work.relative_to(ROOT))}
    if not OLIVE_PY.exists():
        res["error"] = f"{OLIVE_PY.relative_to(ROOT)} missing: python3 -m venv .venv-olive && " \
                       ".venv-olive/bin/pip install -r benches/requirements-olive.txt"
        return res
    probe_path = work / "probe.json"
    subprocess.run([str(OLIVE_PY), str(Path(__file__).resolve()), "--olive-probe", str(probe_path)], cwd=ROOT, env=olive_env(),
                   capture_output=True, text=True)
    res["probe"] = json.loads(probe_path.read_text()) if probe_path.exists() else {}
    config_path = work / "olive-config.json"
    config_path.write_text(json.dumps(olive_config(rec, work, args), indent=1))
    summary_path = work / "summary.json"
    log_path = work / "olive.log"
    cmd = [str(OLIVE_PY.relative_to(ROOT)), "benches/pipeline_vs_olive.py", "--olive-worker",
           str(config_path.relative_to(ROOT)), "--summary", str(summary_path.relative_to(ROOT))]
    res["command"] = "OLIVE_DISABLE_TELEMETRY=1 CI=1 " + " ".join(cmd)
    res["config"] = str(config_path.relative_to(ROOT))
    res["log"] = str(log_path.relative_to(ROOT))
    res["idle_before"] = wait_idle(args.wait_idle)
    with CpuWatch() as watch, log_path.open("w") as log:
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=olive_env(), stdout=log, stderr=subprocess.STDOUT)
        res["wall_s"] = time.monotonic() - start
    res["cpu"] = watch.result
    res["exit"] = proc.returncode
    if not summary_path.exists():
        tail = log_path.read_text().strip().splitlines()[-15:]
        res["error"] = f"the Olive worker exited {proc.returncode} without a summary: " + " | ".join(tail)
        return res
    s = json.loads(summary_path.read_text())
    res["summary"] = s
    if s.get("error"):
        res["error"] = s["error"]
    best = s.get("best")
    if best and best.get("model_path"):
        cand = next((c for c in s["candidates"] if c["model_id"] == best["model_id"]), {})
        cfg = cand.get("config", {})
        res["pick"] = {"name": describe_olive(best["from_pass"], cfg), "model": best["model_path"],
                       "own": best.get("metrics"), "model_id": best["model_id"]}
    elif not res["error"]:
        res["error"] = "Olive returned no best candidate: no candidate met every goal"
    if not res["pick"]:
        # What Olive would have picked without the latency goal: its fastest candidate (by its own p50)
        # within the accuracy goal. Measured beside the picks, labelled as not Olive's pick.
        base = ((s.get("input_metrics") or {}).get("accuracy-accuracy_score") or {}).get("value")
        ok = [c for c in s.get("candidates", []) if not c["failed"] and c.get("model_path")
              and c["metrics"].get("latency-p50") is not None and base is not None
              and c["metrics"].get("accuracy-accuracy_score", -1) >= base - (rec["max_drop"] or 0) - 1e-9]
        if ok:
            c = min(ok, key=lambda c: c["metrics"]["latency-p50"])
            res["fallback"] = {"name": describe_olive(c["from_pass"], c["config"]), "model": c["model_path"],
                               "own": c["metrics"], "model_id": c["model_id"]}
    return res


def describe_olive(from_pass: str, cfg: dict) -> str:
    if from_pass == "onnxstaticquantization":
        return (f"OnnxStaticQuantization {cfg.get('quant_format')} weights {cfg.get('precision')} "
                f"activations {cfg.get('activation_type')}, per_channel={cfg.get('per_channel')}, "
                f"reduce_range={cfg.get('reduce_range')}, calibrate {cfg.get('calibrate_method')}, "
                f"preprocess={cfg.get('quant_preprocess')}")
    if from_pass == "onnxdynamicquantization":
        return (f"OnnxDynamicQuantization weights {cfg.get('precision')}, per_channel={cfg.get('per_channel')}, "
                f"reduce_range={cfg.get('reduce_range')}, preprocess={cfg.get('quant_preprocess')}")
    if from_pass == "onnxfloattofloat16":
        return f"OnnxFloatToFloat16 keep_io_types={cfg.get('keep_io_types')}"
    return f"{from_pass} {cfg}"


# ---- measurement ------------------------------------------------------------------------------

def model_size(path: Path) -> int:
    """The .onnx file and any external data it names (files beside it that it references)."""
    size = path.stat().st_size
    try:
        import onnx  # not in .venv by default; without it only sidecars named <file>.data count
        m = onnx.load(str(path), load_external_data=False)
        names = {e.value for t in m.graph.initializer for e in t.external_data if e.key == "location"}
        size += sum((path.parent / n).stat().st_size for n in names)
    except ImportError:
        for side in (path.with_suffix(path.suffix + ".data"), path.with_suffix(".data")):
            if side.exists():
                size += side.stat().st_size
    return size


def measure(models: list[tuple[str, Path]], rec: dict, rounds: int, seconds: float) -> dict:
    import numpy as np
    import onnxruntime as ort

    data = np.load(rec["eval"])
    labels = data[rec["label"]]
    dtypes = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
              "tensor(int8)": np.int8}
    sessions = {}
    for key, path in models:
        so = ort.SessionOptions()
        so.intra_op_num_threads = rec["threads"]
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        inputs = [(i.name, dtypes[i.type]) for i in s.get_inputs()]
        sessions[key] = (s, inputs)

    def feed(key, lo, hi):
        return {n: np.ascontiguousarray(data[n][lo:hi]).astype(t, copy=False) for n, t in sessions[key][1]}

    out = {}
    n = len(labels)
    for key, path in models:
        s = sessions[key][0]
        correct = sum(int(np.argmax(s.run(None, feed(key, i, i + 1))[0].reshape(-1)) == labels[i]) for i in range(n))
        out[key] = {"path": str(path), "size_bytes": model_size(path), "top1": correct / n, "samples": n,
                    "round_p50_ms": [], "calls": []}
    feeds = {key: feed(key, 0, rec["batch"]) for key, _ in models}
    for key, _ in models:  # warm-up
        for _ in range(200):
            sessions[key][0].run(None, feeds[key])
    order = [key for key, _ in models]
    gc.disable()
    try:
        for r in range(rounds):
            for key in order[r % len(order):] + order[:r % len(order)]:
                s, f = sessions[key][0], feeds[key]
                for _ in range(10):
                    s.run(None, f)
                times = []
                end = time.perf_counter() + seconds
                while True:
                    t0 = time.perf_counter()
                    s.run(None, f)
                    t1 = time.perf_counter()
                    times.append((t1 - t0) * 1e3)
                    if t1 >= end:
                        break
                out[key]["round_p50_ms"].append(statistics.median(times))
                out[key]["calls"].extend(times)
    finally:
        gc.enable()
    base = out[order[0]]
    for key in order:
        m = out[key]
        calls = sorted(m.pop("calls"))
        q = statistics.quantiles(calls, n=4)
        m["timed_calls"] = len(calls)
        m["p50_ms"] = statistics.median(m["round_p50_ms"])
        m["p90_ms"] = statistics.quantiles(calls, n=10)[-1]
        m["spread_ms"] = (q[2] - q[0]) / 2
        m["ratio_to_float32"] = statistics.median(a / b for a, b in zip(m["round_p50_ms"], base["round_p50_ms"]))
        m["top1_change"] = m["top1"] - base["top1"]
        drop_ok = rec["max_drop"] is None or -m["top1_change"] <= rec["max_drop"] + 1e-9
        lat_ok = ((rec["p50_ms"] is None or m["p50_ms"] <= rec["p50_ms"])
                  and (rec["p50_ratio"] is None or m["ratio_to_float32"] <= rec["p50_ratio"]))
        m["sla_met"] = drop_ok and lat_ok
        m["sla_misses"] = ([] if drop_ok else ["top-1 drop"]) + ([] if lat_ok else ["p50"])
    return out


# ---- report -----------------------------------------------------------------------------------

def fmt_time(s):
    return "—" if s is None else f"{s:.1f} s"


def cpu_text(r: dict) -> str:
    c = r.get("cpu")
    if not c:
        return "other processes' CPU use not recorded"
    return (f"other processes used {c['other_cpu_s']:.1f} CPU-s meanwhile ({c['other_share_of_one_core']:.0%} of "
            f"one core), load average {c['load_start'][0]:.2f} → {c['load_end'][0]:.2f}")


def code(text: str) -> str:
    """Markdown inline code that survives backticks inside."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def section(result: dict) -> str:
    rec, ours, olv, m = result["recipe"], result["ours"], result["olive"], result["measured"]
    probe = olv.get("probe") or {}
    olive_v = probe.get("olive", "?")
    lines = [f"## {rec['name']}", ""]
    lines.append(f"Model `{rel(rec['model'])}`; calibration `{rel(rec['calibrate'])}`; evaluation "
                 f"`{rel(rec['eval'])}` ({m['float32']['samples'] if m else '?'} samples, top-1). SLA of "
                 f"`{rel(rec['recipe'])}`: top-1 drop ≤ {rec['max_drop'] * 100:g} pt, ONNX Runtime p50 ≤ "
                 + (f"{rec['p50_ms']:g} ms" if rec["p50_ms"] is not None else f"{rec['p50_ratio']:g}× float32's")
                 + f" at {rec['threads']} thread, batch {rec['batch']}; select = lowest latency.")
    lines.append("")
    lines.append(f"- Ours: `{ours.get('command', '?')}` (exit {ours.get('exit', '?')}, from an empty folder).")
    lines.append(f"- Olive {olive_v}: `{olv.get('command', '?')}` (exit {olv.get('exit', '?')}); config "
                 f"[`{olv.get('config', '?')}`], log `{olv.get('log', '?')}`; the same config runs with "
                 f"`.venv-olive/bin/olive run --config {olv.get('config', '?')}`.")
    lines.append("")
    if not m:
        lines.append("Nothing was measured: " + (result.get("measure_error") or "no model to measure"))
        lines.append("")
    else:
        lines.append("| tool | configuration picked | size | p50 latency ms (× float32) | top-1 (change) | meets the SLA | search wall time |")
        lines.append("|---|---|---:|---:|---:|---|---:|")

        def row(tool, key, config, wall):
            x = m.get(key)
            if x is None:
                return f"| {tool} | {config} | — | — | — | — | {fmt_time(wall)} |"
            sla = "yes" if x["sla_met"] else "no (" + ", ".join(x["sla_misses"]) + ")"
            return (f"| {tool} | {config} | {x['size_bytes'] / 1024:.1f} KiB | {x['p50_ms']:.4f} ± {x['spread_ms']:.4f} "
                    f"(×{x['ratio_to_float32']:.2f}) | {x['top1'] * 100:.2f}% ({x['top1_change'] * 100:+.2f} pt) | "
                    f"{sla} | {fmt_time(wall)} |")

        lines.append(row("float32 original", "float32", "—", None))
        lines.append(row("optimize pipeline", "ours", ours["pick"]["name"] if ours.get("pick") else
                         f"none ({ours.get('error')})", ours.get("wall_s")))
        lines.append(row(f"Olive {olive_v}", "olive", olv["pick"]["name"] if olv.get("pick") else
                         f"none ({olv.get('error')})", olv.get("wall_s")))
        if olv.get("fallback"):
            lines.append(row(f"(Olive {olive_v}, not its pick)", "olive_fallback",
                             "its fastest candidate within the accuracy goal, by its own p50: "
                             + olv["fallback"]["name"], None))
        lines.append("")
        lines.append(f"Latency: {result['args']['rounds']} alternating rounds of {result['args']['seconds']} s per "
                     f"model (± = half the interquartile range of every timed call; × = median of the per-round "
                     f"ratios to float32). Per-round medians (ms): "
                     + "; ".join(f"{k} " + ", ".join(f"{v:.4f}" for v in m[k]["round_p50_ms"]) for k in m) + ".")
        lines.append("")
    if m:
        lines.append(f"Measuring: {cpu_text(result)}.")
        lines.append("")
    lines.append("**Targets**: " + result["targets_line"])
    lines.append("")
    lines.append("### Each tool's own view")
    lines.append("")
    if ours.get("rows"):
        lines.append(f"- Ours: {ours['measured']} of {len(ours['rows'])} rows measured (the original "
                     f"counted), {ours['sla_met']} meet the SLA; pipeline's own time {ours['total_seconds']:.1f} s; "
                     f"{cpu_text(ours)}. "
                     + (f"Its pick `{ours['pick']['name']}` ({ours['pick']['steps']}), its own p50 "
                        f"{ours['pick']['own']['p50_ms']:.4f} ms. " if ours.get("pick") else "")
                     + (ours.get("why") or ""))
    s = olv.get("summary") or {}
    if s:
        cands = s.get("candidates", [])
        failed = [c for c in cands if c["failed"]]
        met = [c for c in cands if c.get("goals_met")]
        by_pass = {}
        for c in cands:
            by_pass[c["from_pass"]] = by_pass.get(c["from_pass"], 0) + 1
        lines.append(f"- Olive: {len(cands)} candidates ("
                     + ", ".join(f"{v} {k}" for k, v in by_pass.items()) + f"), {len(failed)} failed, "
                     f"{len(met)} met both goals; Olive's own run {s.get('run_seconds', 0):.1f} s "
                     f"(+ {s.get('import_seconds', 0):.1f} s importing Olive, process start and exit making up the "
                     f"rest of the wall time); {cpu_text(olv)}. "
                     f"Input model by Olive: {json.dumps(flat(s.get('input_metrics')))}; its pick by Olive: "
                     f"{json.dumps(olv['pick']['own']) if olv.get('pick') else '—'}.")
        fastest = sorted((c for c in cands if c["metrics"].get("latency-p50") is not None),
                         key=lambda c: c["metrics"]["latency-p50"])[:5]
        if fastest:
            lines.append("- Olive's five fastest candidates by its own p50 (ms, accuracy, goals met): "
                         + "; ".join(f"{describe_olive(c['from_pass'], c['config'])}: "
                                     f"{c['metrics']['latency-p50']:.4f}, "
                                     f"{c['metrics'].get('accuracy-accuracy_score', float('nan')) * 100:.2f}%, "
                                     f"{c['goals_met']}" for c in fastest) + ".")
    lines.append("")
    lines.append("### Notes")
    lines.append("")
    lines += [f"- {n}" for n in result["notes"]]
    lines.append("")
    return "\n".join(lines)


def flat(metrics):
    if not metrics:
        return metrics
    return {k: (v.get("value") if isinstance(v, dict) else v) for k, v in metrics.items()}


def rel(p) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def notes_for(result: dict) -> list[str]:
    ours, olv, rec = result["ours"], result["olive"], result["recipe"]
    probe = olv.get("probe") or {}
    notes = []
    if ours.get("error"):
        notes.append(f"Ours: {ours['error']}")
    if olv.get("error"):
        notes.append(f"Olive did not give a pick: {code(olv['error'])}"
                     + (f" (traceback in {olv.get('work')}/summary.json)"
                        if (olv.get("summary") or {}).get("traceback") else ""))
    req = probe.get("requests")
    declared = any(r.lower().startswith("requests") for r in probe.get("olive_requires", []))
    if req is not None and not declared:
        notes.append("olive-ai " + str(probe.get("olive")) + " imports `requests` (olive/telemetry/library/exporter.py, "
                     "at `import olive`) but does not declare it: on a fresh `pip install olive-ai==0.13.0`, every "
                     "`import olive` and `olive run` fails with `ModuleNotFoundError: No module named 'requests'`; "
                     f".venv-olive needs `pip install requests` (now: {req}).")
    notes.append("Telemetry: with OLIVE_DISABLE_TELEMETRY=1 alone, Olive 0.13.0 still logs a heartbeat (encrypted "
                 "device id, OS) before it reads the variable (olive/telemetry/telemetry.py, `_log_heartbeat` before "
                 "`disable_telemetry`), and the process then waits for its send at exit: a short worker run took "
                 "16.7 s instead of 7.2 s here, without network (checked when this script was written). The worker "
                 "runs with OLIVE_DISABLE_TELEMETRY=1 and CI=1 (a CI variable turns telemetry off first), so that "
                 "wait is not in Olive's search time.")
    if probe.get("import", "ok") != "ok":
        notes.append(f"`import olive.workflows` failed: `{probe['import']}`")
    ev = probe.get("evaluator_without_type")
    if ev and ev != "ok":
        notes.append("An evaluator config without `\"type\"` (optional in the schema: the model's framework then picks the evaluator class) "
                     f"makes `olive run` fail before any pass, in the engine's resource scan: `{ev}`. The config "
                     "sets `\"type\": \"OnnxEvaluator\"`.")
    sc = probe.get("sampler_config_after_dump")
    if isinstance(sc, dict) and "max_samples" not in sc:
        notes.append("The search strategy's `sampler_config` (`max_samples`, `seed`) is lost when Olive dumps the "
                     f"engine config (RunEngineConfig.model_dump gives `sampler_config: {json.dumps(sc)}`), so a "
                     "sample cap there is silently ignored and the whole space runs; `--olive-max-iter` uses the "
                     "strategy's own `max_iter` instead (it counts invalid points too).")
    a = result["args"]
    notes.append(f"Olive's search: sampler `{a['olive_sampler']}`, execution order joint, "
                 + (f"max_iter {a['olive_max_iter']}" if a["olive_max_iter"] else "no cap (every point of the space)")
                 + f"; passes {a['olive_passes']}; latency metric {a['olive_latency_runs']} timed calls after 100 "
                 "warm-ups (Olive's default is 20 after 10). Invalid points (QOperator with int8 activations) are "
                 "skipped by Olive's sampler without running.")
    notes.append("Olive never proposes the unchanged input model: on this CPU, if no quantized candidate beats "
                 "float32, its pick is still a quantized model. Ours keeps the original as row 0 and adds channel "
                 f"pruning with fine-tuning ({len(ours.get('rows') or []) or '?'} rows), which Olive's ONNX passes "
                 "cannot do: the two searches cover different spaces.")
    notes.append("Olive ranks the candidates that meet every goal by the metrics in priority order, "
                 "lexicographically (olive/engine/output.py `_sort_by_metrics`, olive/engine/footprint.py "
                 "`_get_candidates`), so latency is priority 1 and accuracy priority 2 (with its max-degradation "
                 "goal): with accuracy first, Olive would pick the most accurate candidate, not the fastest.")
    s = olv.get("summary") or {}
    failed = {}
    for c in s.get("candidates", []):
        if c["failed"]:
            failed.setdefault(c["from_pass"], []).append(describe_olive(c["from_pass"], c["config"]))
    for from_pass, names in failed.items():
        notes.append(f"Olive: {len(names)} {from_pass} candidates failed, e.g. {names[0]} (errors below)")
    issues = sorted(s.get("issues", []), key=lambda i: (i["level"] != "ERROR", not i.get("exception"), -i["count"]))
    for i in issues[:12]:
        text = i["message"].replace("\n", " ")
        if i.get("exception"):
            text += f" — {i['exception']}"
        notes.append(f"Olive log {i['level']} ({i['logger'] or 'root'}, ×{i['count']}): {code(text[:400])}")
    if len(issues) > 12:
        notes.append(f"... and {len(issues) - 12} more distinct warnings: {olv.get('work')}/summary.json")
    if s.get("traceback") and olv.get("error"):
        last = [ln for ln in s["traceback"].strip().splitlines() if ln.strip()][-1]
        notes.append(f"Olive traceback ends: {code(last)}")
    m = result.get("measured") or {}
    wide = {k: (min(x["round_p50_ms"]), max(x["round_p50_ms"])) for k, x in m.items()}
    wide = {k: v for k, v in wide.items() if v[1] > 1.2 * v[0]}
    if wide:
        notes.append("The per-round medians varied while timing (" + "; ".join(
            f"{k} {lo:.4f}–{hi:.4f} ms" for k, (lo, hi) in wide.items()) + "): the machine's speed changed "
            "between rounds (other processes' CPU use: above and below); the medians over rounds and the per-round "
            "ratios (× column) are the steadier figures.")
    own = (ours.get("pick") or {}).get("own") or {}
    if m.get("ours") and not m["ours"]["sla_met"] and own.get("p50_ms") is not None:
        notes.append(f"Our pick met the SLA by the pipeline's own measurement (p50 {own['p50_ms']:.4f} ms ± "
                     f"{own.get('spread_ms') or 0:.4f}, each model timed once, one after another) but misses it here "
                     f"(p50 {m['ours']['p50_ms']:.4f} ms, ×{m['ours']['ratio_to_float32']:.2f} float32, alternating "
                     f"rounds; misses: {', '.join(m['ours']['sla_misses'])}). The pipeline's numbers of "
                     "every row are in the JSON (results[].ours.rows).")
    for who, r in (("our pipeline", ours), ("Olive", olv), ("measuring", result)):
        idle, cpu = r.get("idle_before") or {}, r.get("cpu") or {}
        if idle and not idle.get("idle"):
            notes.append(f"Before the {who} phase the machine was not idle ({idle['busy_share_of_one_core']:.0%} of a "
                         f"core busy after waiting {idle['waited_s']:.0f} s).")
        if cpu and cpu["other_share_of_one_core"] > 0.10:
            notes.append(f"Other processes used {cpu['other_cpu_s']:.1f} CPU-seconds during the {who} phase "
                         f"({cpu['other_share_of_one_core']:.0%} of one core over {cpu['wall_s']:.0f} s; 2 cores): "
                         "its times are not clean.")
    return notes


def targets_line(result: dict) -> str:
    m, ours, olv = result["measured"], result["ours"], result["olive"]
    if not m or "ours" not in m:
        return "NOT met: our pipeline gave no pick to measure."
    if "olive" not in m:
        a = m["ours"]
        time_ok = olv.get("wall_s") is not None and ours["wall_s"] < olv["wall_s"]
        fb = m.get("olive_fallback")
        ref = ""
        if fb:
            ratio = statistics.median(x / y for x, y in zip(a["round_p50_ms"], fb["round_p50_ms"]))
            ref = (f"; against Olive's fastest candidate within the accuracy goal (not its pick): ours "
                   f"{a['p50_ms']:.4f} ms vs {fb['p50_ms']:.4f} ms (×{ratio:.2f})")
        lat_ok = a["sla_met"]
        verdict = "met" if lat_ok and time_ok else "NOT met"
        return (f"{verdict}. Olive picked nothing ({olv.get('error')}); ours meets the SLA: "
                f"{'yes' if a['sla_met'] else 'no (' + ', '.join(a['sla_misses']) + ')'}, p50 {a['p50_ms']:.4f} ms"
                f"{ref}; search time ours {ours['wall_s']:.1f} s vs Olive {fmt_time(olv.get('wall_s'))} — "
                f"{'less' if time_ok else 'more'}"
                + (f" ({ours['wall_s'] / olv['wall_s']:.2f}×)." if olv.get("wall_s") else "."))
    a, b = m["ours"], m["olive"]
    spread = max(a["spread_ms"], b["spread_ms"])
    ratios = [x / y for x, y in zip(a["round_p50_ms"], b["round_p50_ms"])]
    r = statistics.median(ratios)
    lat_ok = a["sla_met"] and (a["p50_ms"] <= b["p50_ms"] + spread or not b["sla_met"])
    time_ok = ours["wall_s"] < olv["wall_s"]
    verdict = "met" if lat_ok and time_ok else "NOT met"
    return (f"{verdict}. Selection criterion (p50 latency, both meeting the SLA): ours {a['p50_ms']:.4f} ms vs Olive "
            f"{b['p50_ms']:.4f} ms (ours/Olive per-round median ×{r:.2f}; spread ±{spread:.4f} ms) — "
            f"{'at least as good' if lat_ok else 'worse'}"
            f"{'' if b['sla_met'] else ' (Olive pick misses the SLA: ' + ', '.join(b['sla_misses']) + ')'}; "
            f"search time ours {ours['wall_s']:.1f} s vs Olive {olv['wall_s']:.1f} s — "
            f"{'less' if time_ok else 'more'} ({ours['wall_s'] / olv['wall_s']:.2f}×).")


def write(results: list[dict], args) -> None:
    import onnxruntime as ort
    probe = next((r["olive"].get("probe") for r in results if r["olive"].get("probe")), {}) or {}
    cmd = " ".join([".venv/bin/python benches/pipeline_vs_olive.py", *sys.argv[1:]])
    head = [
        "# `optimize pipeline` vs Microsoft Olive",
        "",
        f"Generated by `benches/pipeline_vs_olive.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC: git "
        f"{git('rev-parse', '--short', 'HEAD')}"
        f"{' (working tree modified)' if git('status', '--porcelain', '--untracked-files=no') else ''}; "
        f"{cpu_model()}, {os.cpu_count()} cores. Measured with Python {sys.version.split()[0]}, onnxruntime "
        f"{ort.__version__} (.venv); Olive: olive-ai {probe.get('olive', '?')}, onnxruntime "
        f"{probe.get('onnxruntime', '?')}, torch {probe.get('torch', '?')}, Python {probe.get('python', '?')} "
        f"(.venv-olive). Command: `{cmd}`.",
        "",
        "How each column is measured and how fair the comparison is: the docstring of "
        "`benches/pipeline_vs_olive.py`. In short: each tool searches from an empty cache on the same model, "
        "data and SLA and its whole command is timed; then the float32 original and both picks are measured "
        "side by side in one process (ONNX Runtime CPU, 1 thread, batch 1, alternating rounds) and their "
        "top-1 computed on every test sample. Raw numbers: [`pipeline-vs-olive.json`](pipeline-vs-olive.json).",
        "",
    ]
    body = [section(r) for r in results]
    RESULTS_MD.write_text("\n".join(head + body).rstrip() + "\n")
    RESULTS_JSON.write_text(json.dumps({"generated": datetime.now(timezone.utc).isoformat(), "args": vars(args),
                                        "results": results}, indent=1, default=str))


def compare(name: str, args) -> dict:
    rec = read_recipe(name)
    result = {"recipe": rec, "args": vars(args)}
    print(f"{name}: our pipeline ...", flush=True)
    result["ours"] = run_ours(rec, args)
    print(f"  {result['ours'].get('wall_s', 0):.1f} s, pick: "
          f"{(result['ours'].get('pick') or {}).get('name') or result['ours'].get('error')}", flush=True)
    print(f"{name}: Olive ...", flush=True)
    result["olive"] = run_olive(rec, args)
    print(f"  {result['olive'].get('wall_s') or 0:.1f} s, pick: "
          f"{(result['olive'].get('pick') or {}).get('name') or result['olive'].get('error')}", flush=True)
    models = [("float32", rec["model"])]
    for key, pick in (("ours", result["ours"].get("pick")), ("olive", result["olive"].get("pick")),
                      ("olive_fallback", result["olive"].get("fallback"))):
        if pick and Path(pick["model"]).exists():
            models.append((key, Path(pick["model"])))
    print(f"{name}: measuring {', '.join(k for k, _ in models)} ...", flush=True)
    result["idle_before"] = wait_idle(args.wait_idle)
    try:
        with CpuWatch() as watch:
            result["measured"] = measure(models, rec, args.rounds, args.seconds)
        result["cpu"] = watch.result
    except Exception as e:  # noqa: BLE001
        result["measured"] = None
        result["measure_error"] = f"{type(e).__name__}: {e}"
    result["targets_line"] = targets_line(result)
    result["notes"] = notes_for(result)
    print(f"  Targets: {result['targets_line']}", flush=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default=",".join(TARGETS), help="comma-separated: " + ", ".join(TARGETS))
    ap.add_argument("--rounds", type=int, default=7, help="alternating latency rounds (default 7)")
    ap.add_argument("--seconds", type=float, default=0.3, help="timed seconds per model per round (default 0.3)")
    ap.add_argument("--olive-sampler", default="sequential", choices=["sequential", "random", "tpe"],
                    help="Olive search sampler (default sequential: with no --olive-max-iter, every point)")
    ap.add_argument("--olive-max-iter", type=int, default=0,
                    help="Olive search strategy max_iter (0: no cap; counts invalid points too)")
    ap.add_argument("--olive-passes", default="static,dynamic,fp16",
                    help="Olive pass alternatives, from static, dynamic, fp16 (default all three)")
    ap.add_argument("--olive-latency-runs", type=int, default=2000,
                    help="timed calls of Olive's latency metric per candidate (default 2000; Olive's own default 20)")
    ap.add_argument("--wait-idle", type=float, default=600,
                    help="before each timed phase, wait up to this many seconds for the machine to be idle (under "
                         "10%% of a core busy for 15 s); 0: hardly wait (default 600)")
    ap.add_argument("--wait-binary", type=float, default=900,
                    help="seconds to wait for target/release/optimize while it is missing or being rebuilt")
    # Internal modes, run by .venv-olive/bin/python.
    ap.add_argument("--olive-worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--summary", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--olive-probe", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.olive_probe:
        return olive_probe(args.olive_probe)
    if args.olive_worker:
        return olive_worker(args.olive_worker.resolve(), args.summary.resolve())
    for p in args.olive_passes.split(","):
        if p not in ("static", "dynamic", "fp16"):
            ap.error(f"--olive-passes: unknown pass {p!r}")
    WORK.mkdir(parents=True, exist_ok=True)
    results = [compare(name, args) for name in args.recipes.split(",")]
    write(results, args)
    print(f"-> {RESULTS_MD.relative_to(ROOT)}, {RESULTS_JSON.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
