#!/usr/bin/env python3
"""Distillation throughput: `optimize distill` (candle, CPU) against the same loop in PyTorch.

One function per comparison; each prints a Markdown row. Run from the workspace root after
`cargo build --release -p optimize-cli` and with PyTorch installed (CPU build, from PyPI; only
this benchmark needs it):

    .venv/bin/pip install torch
    .venv/bin/python benches/distill_vs_pytorch.py [--epochs 20]

What is compared, and why it is fair:
- the same recipes as recipes/digits-{mlp,cnn}.toml with augmentation off, so both sides
  compute the teacher's logits once (ONNX Runtime for PyTorch, tract for us) and the timed loop
  is only: student forward, loss (0.9 * T^2 * KL + 0.1 * CE on the labelled 10%), backward,
  AdamW step, over the same 1294 training samples in batches of 32;
- the same students (64-20-10 MLP; conv 3x3x8 + max-pool + linear), 2 threads on both sides
  (torch.set_num_threads(2); RAYON_NUM_THREADS=2 for candle);
- samples/s counts training steps only (ours: `samples_per_s` of report.json, the mean over
  epochs of samples / seconds of training steps; PyTorch: the same over its epochs), and the
  test accuracy each reaches is printed beside it, so a faster loop that learns less shows.
Not compared: data loading, evaluation, export.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
T, ALPHA, LR, BATCH = 4.0, 0.1, 0.006, 32


def ours(recipe: str, epochs: int):
    text = (ROOT / "recipes" / recipe).read_text()
    text = text.replace("augment = { shift = 1, image = [8, 8] }", "").replace("augment = { shift = 1 }", "")
    text = text.replace("epochs = 80", f"epochs = {epochs}")
    text = text.replace('"../', f'"{ROOT}/')
    text += "\n[report]\nbaseline = false\nlatency = false\n"
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / recipe
        p.write_text(text)
        env = dict(os.environ, RAYON_NUM_THREADS="2")
        out = subprocess.run(
            [str(ROOT / "target/release/optimize"), "distill", str(p), "--json", "-o", str(Path(d) / "out")],
            check=True, capture_output=True, text=True, env=env,
        )
        report = json.loads(out.stdout)
    acc = next(m["test_accuracy"] for m in report["models"] if m["role"] == "distilled")
    return report["distilled"]["samples_per_s"], acc


def pytorch(kind: str, epochs: int):
    import onnxruntime as ort
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(0)
    train = np.load(ROOT / "models/data/digits-train.npz")
    test = np.load(ROOT / "models/data/digits-test.npz")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(train["label"]))[:1294]
    x, y = train["input"][idx], train["label"][idx]
    labelled = np.zeros(len(y), dtype=np.float32)
    labelled[rng.permutation(len(y))[:130]] = 1.0
    shape = (-1, 64) if kind == "mlp" else (-1, 1, 8, 8)
    sess = ort.InferenceSession(str(ROOT / f"models/digits-{kind}.onnx"))
    t_logits = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.reshape(shape)})[0])
    if kind == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(64, 20), torch.nn.ReLU(), torch.nn.Linear(20, 10))
    else:
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(128, 10),
        )
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    xs = torch.from_numpy(x.reshape(shape))
    ys = torch.from_numpy(y)
    mask = torch.from_numpy(labelled)
    seconds, samples = 0.0, 0
    for _ in range(epochs):
        perm = torch.randperm(len(ys))
        start = time.perf_counter()
        for i in range(0, len(ys), BATCH):
            b = perm[i : i + BATCH]
            s = model(xs[b])
            kd = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t_logits[b] / T, 1), reduction="batchmean") * T * T
            m = mask[b]
            ce = (F.cross_entropy(s, ys[b], reduction="none") * m).sum() / m.sum().clamp(min=1)
            loss = (1 - ALPHA) * kd + ALPHA * ce
            opt.zero_grad()
            loss.backward()
            opt.step()
            samples += len(b)
        seconds += time.perf_counter() - start
    with torch.no_grad():
        pred = model(torch.from_numpy(test["input"].reshape(shape))).argmax(1).numpy()
    return samples / seconds, float((pred == test["label"]).mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    print("| student | optimize distill samples/s | PyTorch samples/s | ratio | accuracy (ours / PyTorch) |")
    print("|---|---:|---:|---:|---:|")
    for kind in ["mlp", "cnn"]:
        o_sps, o_acc = ours(f"digits-{kind}.toml", args.epochs)
        p_sps, p_acc = pytorch(kind, args.epochs)
        print(f"| digits {kind} | {o_sps:,.0f} | {p_sps:,.0f} | {o_sps / p_sps:.2f}x | {o_acc:.2%} / {p_acc:.2%} |")


if __name__ == "__main__":
    main()
