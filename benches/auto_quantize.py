#!/usr/bin/env python3
"""`optimize quantize --auto` against plain int8 and ONNX Runtime's static quantizer.

For every model in models/manifest.json (minilm-l6-int8, already int8, excepted) it compares:

  fp32          the model as shipped
  ours static   `optimize quantize --int8 --calibrate CAL --per-channel --method minmax`
  ours --auto   `optimize quantize --int8 --auto --calibrate CAL [--eval EVAL] --max-drop 0.01`
  ORT static    onnxruntime.quantization.quantize_static (QDQ, MinMax), the better of its
                per-channel and per-tensor outputs that loads in ONNX Runtime

and reports size, latency as a ratio to fp32 (ONNX Runtime CPU and tract, batch 1, 2 threads),
the task metric (top-1 on the held-out digits) or the cosine similarity with fp32's outputs,
and how many nodes --auto kept in float (for speed, for accuracy).

Data and ORT's models come from benches/quantize_vs_onnxruntime.py's work folder
(target/bench-quantize/<model>/); missing ones, or ones whose data.txt does not match that
script's current data source, are made by running that script for the static modes first (its
report then goes to the work folder, not results/). The PaddleOCR models' samples are crops of
a real page of printed text (benches/ocr_images.py), the others' as that script's docstring
says. Calibration: the first 48 of the 64 calibration samples for --auto when there are no
labels (it judges accuracy on the last 16), all 64 for the static ones; the cosine column is
measured on those last 16 for every variant.

ONNX Runtime latency: round-robin over all variants in one process (median of rounds), so a
change in machine load hits every variant alike. tract latency: `optimize bench --backend tract
--threads 2` (a child process per model).

Usage: .venv/bin/python benches/auto_quantize.py [--models a,b] [--budget 5m]
Writes results/auto-quantize.md and results/auto-quantize.json.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / "target" / "release" / "optimize")
spec = importlib.util.spec_from_file_location("qvo", ROOT / "benches" / "quantize_vs_onnxruntime.py")
qvo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qvo)

WEIGHT_HEAVY_BYTES = 4 << 20  # the size target applies to models of 4 MiB or more


def shape_flags(feed):
    """`--shape` flags for the sample timed in ONNX Runtime: concrete symbolic dims."""
    return [f"--shape={k}=" + "x".join(str(d) for d in np.asarray(v).shape) for k, v in feed.items()]


def bench_crate_ratio(fp32, auto, sample, rounds=3):
    """--auto's p50 over float32's, both timed by `optimize bench --backend ort --threads 2` (the
    bench crate, a child process per model) on `sample` (an .npz of one sample: real values, as
    some models branch on theirs, e.g. silero's sample rate), median of `rounds` rounds of
    alternating order."""
    got = {str(fp32): [], str(auto): []}
    for k in range(rounds):
        order = [fp32, auto] if k % 2 == 0 else [auto, fp32]
        r = subprocess.run([CLI, "bench", "--backend", "ort", "--threads", "2", "--iterations", "100",
                            "--min-duration", "1s", "--json", "--eval", str(sample), *map(str, order)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            return None
        for m, run in zip(order, json.loads(r.stdout)["runs"]):
            got[str(m)].append(run["latency"]["p50_ms"])
    med = {k: sorted(v)[len(v) // 2] for k, v in got.items()}
    return med[str(auto)] / med[str(fp32)]


def tract_p50(path, feed):
    shapes = shape_flags(feed)
    r = subprocess.run([CLI, "bench", "--backend", "tract", "--threads", "2", "--iterations", "30",
                        "--min-duration", "1s", "--json", *shapes, str(path)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1][:160] if r.stderr.strip() else "failed"
    runs = json.loads(r.stdout)["runs"]
    return runs[0]["latency"]["p50_ms"], None


def ort_runtime_graph(path):
    """The graph ONNX Runtime runs after its load-time optimizations (basic level: constant
    folding and the like): op types in order, and each initializer's type and shape."""
    import onnx
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as d:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(Path(d) / "opt.onnx")
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        g = onnx.load(so.optimized_model_filepath).graph
    return ([n.op_type for n in g.node],
            sorted((t.data_type, tuple(t.dims)) for t in g.initializer))


def metric(sess, feeds, labels, ref_outs):
    outs = [sess.run(None, f) for f in feeds]
    if labels is not None:
        pred = np.array([int(np.argmax(o[0])) for o in outs])
        return float((pred == labels).mean()), "top1"
    worst = 1.0
    for k in range(len(outs[0])):
        a = np.concatenate([np.asarray(r[k], np.float64).ravel() for r in ref_outs])
        b = np.concatenate([np.asarray(o[k], np.float64).ravel() for o in outs])
        if not np.issubdtype(np.asarray(outs[0][k]).dtype, np.floating):
            continue
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        cos = float(a @ b / (na * nb)) if na > 0 and nb > 0 else (1.0 if na == nb else 0.0)
        worst = min(worst, cos)
    return worst, "cosine"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="")
    ap.add_argument("--budget", default="5m")
    ap.add_argument("--work", default=str(ROOT / "target" / "bench-quantize"))
    args = ap.parse_args()
    os.chdir(ROOT)
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    wanted = [m for m in args.models.split(",") if m]
    entries = [e for e in manifest["models"]
               if e["name"] != "minilm-l6-int8" and (not wanted or e["name"] in wanted)
               and (ROOT / e["file"]).exists()]
    started = time.time()
    load_start = os.getloadavg()
    rows = []
    for e in entries:
        name, model = e["name"], ROOT / e["file"]
        work = Path(args.work) / name
        need = [work / f for f in ("cal.npz", "int8-static-qdq.theirs.onnx",
                                   "int8-static-qdq-pt.theirs.onnx")]
        # data.txt says what the .npz files (and ORT's calibration) were made from; files from
        # an older data source (e.g. noise for the PaddleOCR models) are made again.
        stamp = work / "data.txt"
        fresh = stamp.exists() and stamp.read_text().strip() == qvo.data_description(name)
        if not fresh or not all(p.exists() for p in need):
            # --out into the work folder: a one-model run must not replace
            # results/quantize-vs-onnxruntime.{md,json}.
            subprocess.run([sys.executable, "benches/quantize_vs_onnxruntime.py", "--models", name,
                            "--modes", "int8-static-qdq,int8-static-qdq-pt", "--work", args.work,
                            "--out", str(work / "quantize-vs-onnxruntime")], check=True)
        cal = work / "cal.npz"
        digits = name.startswith("digits")
        # Evaluation data: the held-out digits with labels, else the last 16 calibration samples.
        shapes = qvo.model_input_shapes(model)
        if digits:
            x_tr, y_tr, x_te, y_te = qvo.digits_split()
            eval_npz = ROOT / "models" / "data" / ("digits-test-cnn.npz" if name == "digits-cnn" else "digits-test.npz")
            data = np.load(eval_npz)
            xs, labels = data["input"], data["label"]
            feeds = [{"input": xs[i:i + 1]} for i in range(len(xs))]
        else:
            data = np.load(cal)
            n = len(next(iter(data.values())))
            labels = None
            feeds = []
            for i in range(n - 16, n):
                f = {}
                for k, dims in shapes.items():
                    v = np.asarray(data[k][i])
                    if len(dims) >= 1 and v.ndim == len(dims) - 1:
                        v = v[None]
                    f[k] = v
                feeds.append(f)
        out_static = work / "auto-bench.static.onnx"
        out_auto = work / "auto-bench.auto.onnx"
        subprocess.run([CLI, "quantize", "--int8", "--calibrate", str(cal), "--per-channel",
                        "--holdout", "0", str(model), "-o", str(out_static), "--no-verify"],
                       check=True, capture_output=True)
        auto_cmd = [CLI, "quantize", "--int8", "--auto", "--calibrate", str(cal), "--max-drop", "0.01",
                    "--budget", args.budget, str(model), "-o", str(out_auto), "--json"]
        if digits:
            auto_cmd += ["--eval", str(eval_npz)]
        else:
            auto_cmd += ["--holdout", "16"]
        # --keep-rejected: an answer that verification rejects (exit 1) is still measured here;
        # the row records the exit code.
        auto_cmd += ["--keep-rejected"]
        t = time.time()
        r = subprocess.run(auto_cmd, capture_output=True, text=True)
        auto_s = time.time() - t
        full = json.loads(r.stdout) if r.stdout.strip() else {}
        report = full.get("auto") or {}
        if r.returncode == 1 and full.get("rejected"):
            Path(full["rejected"]).replace(out_auto)
        theirs = None
        for cand in ("int8-static-qdq.theirs.onnx", "int8-static-qdq-pt.theirs.onnx"):
            p = work / cand
            try:
                qvo.make_session(p, 2)
                theirs = theirs or p
            except Exception:
                continue
        variants = {"fp32": model, "ours static": out_static, "ours --auto": out_auto}
        if theirs is not None:
            variants["ORT static"] = theirs
        sessions = {k: qvo.make_session(p, 2) for k, p in variants.items()}
        ref = [sessions["fp32"].run(None, f) for f in feeds]
        res = {}
        for k, s in sessions.items():
            m, kind = metric(s, feeds, labels, ref)
            res[k] = {"path": str(variants[k]), "bytes": variants[k].stat().st_size, "metric": m}
        lat, rounds = qvo.latency(sessions, feeds[0], 8.0)
        for k in sessions:
            res[k]["ort_ms"] = lat[k]
            res[k]["tract_ms"], res[k]["tract_error"] = tract_p50(variants[k], feeds[0])
        fp = res["fp32"]
        auto = res["ours --auto"]
        # A model with only its weights in int8 (Cast + Mul of constants) runs float32's graph once
        # ONNX Runtime has folded them at load: checked here on the graphs ORT actually runs.
        chosen = report.get("chosen")
        stored = chosen is not None and report["trials"][chosen].get("weights_alone", False)
        same_graph = stored and ort_runtime_graph(model) == ort_runtime_graph(out_auto)
        sample = work / "timing-sample.npz"
        if digits:
            np.savez(sample, input=xs[:1])
        else:
            np.savez(sample, **{k: np.asarray(data[k][n - 16:n - 15]) for k in shapes})
        crate_ratio = bench_crate_ratio(model, out_auto, sample)
        drop_ok = (auto["metric"] >= fp["metric"] - 0.01) if kind == "top1" else auto["metric"] >= 0.99
        heavy = fp["bytes"] >= WEIGHT_HEAVY_BYTES
        rows.append({
            "model": name, "metric": kind, "variants": res, "rounds": rounds,
            "auto_seconds": auto_s, "auto_exit": r.returncode,
            "auto_report": {k: report.get(k) for k in ("chosen", "met", "not_slower", "stopped", "float_for_speed", "float_for_accuracy", "elapsed_s", "judge", "timing_decisions")},
            "auto_trials": len(report.get("trials", [])),
            "auto_weights_only": stored, "auto_same_graph_as_fp32_in_ort": same_graph,
            "auto_ort_ratio_bench_crate": crate_ratio,
            "targets": {
                "meets_max_drop": drop_ok,
                # Judged on the bench crate's timing, as the issue asks. Float32 kept, or weights
                # alone in int8 with the same graph as float32's after load: not slower by
                # construction; the measured ratio is noise.
                "not_slower_ort": True if ((chosen is None and report.get("met")) or same_graph)
                else (crate_ratio is not None and crate_ratio <= 1.0),
                "size_ok": (auto["bytes"] <= 0.35 * fp["bytes"]) if heavy else None,
            },
        })
        print(f"[{time.time() - started:6.0f}s] {name}: auto {auto_s:.0f}s exit {r.returncode}, "
              f"metric {auto['metric']:.4f} vs fp32 {fp['metric']:.4f}, ort {auto['ort_ms'] / fp['ort_ms']:.2f}x", flush=True)

    meta = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cpu": qvo.cpu_model(), "os": qvo.os_name(), "git": qvo.git("rev-parse", "--short", "HEAD"),
        "load_avg_start": load_start, "load_avg_end": os.getloadavg(),
        "budget": args.budget, "total_s": time.time() - started,
    }
    out = ROOT / "results" / "auto-quantize.json"
    if wanted and out.exists():
        # A partial run (--models) replaces its rows in the saved results and keeps the others.
        old = json.loads(out.read_text())
        mine = {r["model"] for r in rows}
        rows = [r for r in old["rows"] if r["model"] not in mine] + rows
        order = [e["name"] for e in manifest["models"]]
        rows.sort(key=lambda r: order.index(r["model"]) if r["model"] in order else len(order))
        meta["partial_reruns"] = old["meta"].get("partial_reruns", []) + [
            {"models": sorted(mine), "budget": args.budget, "generated": meta["generated"]}]
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    write_md(meta, rows)


def ratio(v, base):
    return "–" if v is None or base in (None, 0) else f"{v / base:.2f}×"


def write_md(meta, rows):
    L = ["# `optimize quantize --auto` vs plain int8 and ONNX Runtime's static quantizer", "",
         f"Generated by `benches/auto_quantize.py` on {meta['generated']} (git {meta['git']}, "
         f"{meta['cpu']}, {meta['os']}; load average {meta['load_avg_start'][0]:.1f} → {meta['load_avg_end'][0]:.1f}; "
         f"--budget {meta['budget']}; total {meta['total_s'] / 60:.1f} min"
         + "".join(f"; rerun of {', '.join(p['models'])} with --budget {p['budget']}" for p in meta.get("partial_reruns", []))
         + "). "
         "Raw numbers: [`auto-quantize.json`](auto-quantize.json). How each column is measured is in the script's docstring.", "",
         "The search's own time per model is in the targets table. Latency: batch 1, 2 threads, median; ratios to float32 of the same model measured in the same run. "
         "Metric: top-1 on the 359 held-out digits, else the smallest output cosine with float32 on 16 held-out samples. "
         "*Weights stored in int8*: a node left float may keep its weight in int8 behind a `Cast` and a `Mul` of constants, which ONNX Runtime folds at load "
         "(the script checks that the graph ORT runs is then the float32 one, so such a model is not slower by construction; its measured ratio is noise).", "",
         "| model | variant | size (×fp32) | ORT latency ms (×fp32) | tract latency ms (×fp32) | metric | --auto kept float (speed / accuracy) |",
         "|---|---|---|---|---|---|---|"]
    for r in rows:
        fp = r["variants"]["fp32"]
        for k, v in r["variants"].items():
            m = f"{v['metric'] * 100:.2f}%" if r["metric"] == "top1" else f"cos {v['metric']:.5f}"
            kept = ""
            if k == "ours --auto":
                a = r["auto_report"]
                if a.get("chosen") is None and a.get("met"):
                    kept = "float32 written: no int8 variant was faster"
                elif r.get("auto_weights_only"):
                    same = "same graph as fp32 after ORT's load-time folding" if r.get("auto_same_graph_as_fp32_in_ort") else "graph differs from fp32's in ORT"
                    kept = f"all float, weights stored in int8 (no int8 activation was faster; {same})"
                else:
                    kept = f"{len(a.get('float_for_speed') or [])} / {len(a.get('float_for_accuracy') or [])}"
            tract = "–" if v["tract_ms"] is None else f"{v['tract_ms']:.3f} ({ratio(v['tract_ms'], fp['tract_ms'])})"
            L.append(f"| {r['model'] if k == 'fp32' else ''} | {k} | {v['bytes'] / 1024:.1f} KiB ({v['bytes'] / fp['bytes']:.3f}) | "
                     f"{v['ort_ms']:.3f} ({ratio(v['ort_ms'], fp['ort_ms'])}) | {tract} | {m} | {kept} |")
    L += ["", "## Targets", "",
          "*Not slower* is judged on `optimize bench --backend ort --threads 2` (the bench crate, float32 and --auto in alternating order, median of 3 rounds); "
          "the round-robin ratio of the table above is beside it.", "",
          "| model | --auto judged by | --auto meets --max-drop 0.01 | --auto not slower than fp32 (ORT; bench crate / round-robin) | size ≤ 0.35× (weight-heavy, ≥ 4 MiB) | search time | exit |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["targets"]
        yn = lambda b: "n/a" if b is None else ("PASS" if b else "MISS")
        auto = r["variants"]["ours --auto"]
        fp = r["variants"]["fp32"]
        cr = r.get("auto_ort_ratio_bench_crate")
        crs = "–" if cr is None else f"{cr:.2f}×"
        same = ", same graph as fp32" if r.get("auto_same_graph_as_fp32_in_ort") else ""
        judge = (r["auto_report"].get("judge") or "–").replace(str(ROOT) + "/", "")
        L.append(f"| {r['model']} | {judge} | {yn(t['meets_max_drop'])} | {yn(t['not_slower_ort'])} ({crs} / {ratio(auto['ort_ms'], fp['ort_ms'])}{same}) | "
                 f"{yn(t['size_ok'])} ({auto['bytes'] / fp['bytes']:.3f}) | {r['auto_seconds']:.0f} s, {r['auto_trials']} trials | {r['auto_exit']} |")
    (ROOT / "results" / "auto-quantize.md").write_text("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
