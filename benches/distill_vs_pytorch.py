#!/usr/bin/env python3
"""Distillation throughput: `optimize distill` (candle, CPU) against the same loop in PyTorch.

Run from the workspace root after `cargo build --release -p optimize-cli`, with PyTorch (CPU)
in the venv (only this benchmark needs it; see benches/requirements-distill.txt):

    .venv/bin/pip install -r benches/requirements-distill.txt
    .venv/bin/python benches/distill_vs_pytorch.py [--epochs 20] [--out results/distill-vs-pytorch.md]

It writes a Markdown table (default results/distill-vs-pytorch.md) and prints it.

Students, each distilled from the teacher of its recipe:
- `digits-mlp`: recipes/digits-mlp.toml as shipped (64-20-10 MLP, 1,510 parameters);
- `digits-cnn`: recipes/digits-cnn.toml as shipped (conv 3x3x8 + max-pool + linear, 1,370);
- `digits-mlp-1024`: digits-mlp.toml with the [student] layers replaced by 64-1024-1024-10
  (1,126,410 parameters, ~750x the MLP student), built here from that recipe's text.
Both sides build the student from the same layer list (the recipe's TOML, parsed here), and
the script checks that the parameter counts agree.

What is the same on both sides (the PyTorch loop re-implements crates/optimize-distill):
- the data: the same 1294 training samples, 144 validation samples and stratified 10% of
  labels, drawn with a Python port of the crate's SplitMix64 splits (seeded by the recipe);
- the batches: the same 32-sample batches in the same order each epoch (same seeded shuffle);
- the initial weights: the crate's seeded uniform(±1/sqrt(fan_in)) draw, ported, so both
  students start from identical weights;
- the loss: (1 - alpha) * T^2 * KL(teacher/T || student/T) (batch mean) + alpha * CE on the
  labelled samples of the batch, T = 4, alpha = 0.1;
- AdamW (lr 0.006, betas 0.9/0.999, eps 1e-8, decoupled weight decay 1e-4) with the recipe's
  per-step schedule (2 epochs of linear warm-up, then cosine to 0);
- augmentation off (the recipes' `augment` line is removed), so both sides compute the
  teacher's logits once before training, untimed: we in tract, PyTorch's side in ONNX Runtime;
- the kept student is the epoch with the best validation accuracy (the crate's rule), and its
  test accuracy (359 held-out images) is reported beside the throughput, with the last epoch's
  mean train loss of both sides (equal when the loops compute the same thing) and PyTorch's
  last-epoch test accuracy. (Before 5b60684 the crate's kept copy shared storage with the
  trained variables and so was the last epoch's weights: a binary older than that matches the
  last-epoch column instead.)
- 2 threads: RAYON_NUM_THREADS=2 for candle, torch.set_num_threads(2) for PyTorch.
One known difference is left in: max-pool's backward pass. The crate's pooling (a reshape and
candle's `max`) gives the full gradient to every element tied for its window's maximum, PyTorch's
MaxPool2d to one, so the CNN students' trajectories differ. `--tie-pool` gives the PyTorch side
the crate's rule, to check that nothing else differs.

The teacher's logits for PyTorch come from a separate subprocess (this script run with
`--teacher-logits`) that runs ONNX Runtime and writes them to a temporary .npy, then exits:
onnxruntime is never imported into the process that trains, so no ONNX Runtime thread pool
(whose intra-op threads spin while idle) competes with PyTorch for the 2 cores.

What each samples/s covers:
- ours: from the run's log.jsonl, sum(samples) / sum(seconds) over epochs 2..N of the
  `distilled` run, where `seconds` is the crate's own wall time of the training steps (per
  step: batch gather, tensor creation, forward, loss, backward, AdamW step, reading the loss
  and the batch's argmax for the train accuracy). Epoch 1 is left out as warm-up. The table
  also gives report.json's `distilled.samples_per_s`, which is the same ratio over all epochs,
  warm-up included (changing that needs a Rust change, so we read the log instead);
- PyTorch: the same per-step wall time summed over epochs 2..N (batch gather, forward, loss,
  backward, AdamW step, loss.item() and the argmax, mirroring ours); epoch 1 is left out.
Not timed on either side: data loading, the teacher's logits, validation after each epoch,
test evaluation, export. Each student runs `--repeat` times per side (default 3), the sides
alternating; the table gives each side's fastest run (the least disturbed by other load on the
machine) and the notes list every run.

Run it on an otherwise idle machine: the header of the output says how much CPU other processes
used meanwhile. PyTorch suffers far more than candle when another process takes one of the 2
cores (its OpenMP regions wait for the descheduled thread): on a busy 2-core machine its
samples/s fell 10-50x in our runs, ours by well under 2x.
"""

import argparse
import gc
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
from machine import cpu_flags, cpu_model, git  # noqa: E402  (benches/machine.py)

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
MASK64 = (1 << 64) - 1

BIG_LAYERS = """layers = [
  { type = "linear", out = 1024, name = "fc1" },
  { type = "relu" },
  { type = "linear", out = 1024, name = "fc2" },
  { type = "relu" },
  { type = "linear", out = 10, name = "fc3" },
]"""


# ---------------------------------------------------------------------------------------------
# The crate's seeded randomness (optimize_data::SplitMix64, optimize_distill::{data, run}).


class SplitMix64:
    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, span: int) -> int:
        return (self.next_u64() * span) >> 64

    def f64s(self, n: int) -> np.ndarray:
        """The next n `next_f64()` values, vectorised (state k is seed + k * gamma)."""
        with np.errstate(over="ignore"):
            k = np.arange(1, n + 1, dtype=np.uint64)
            z = np.uint64(self.state) + k * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        self.state = (self.state + n * 0x9E3779B97F4A7C15) & MASK64
        return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def permutation(n: int, rng: SplitMix64) -> list:
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def mix(parts) -> int:
    rng = SplitMix64(0x243F6A8885A308D3)
    h = 0
    for p in parts:
        h = SplitMix64(h ^ p ^ rng.next_u64()).next_u64()
    return h


def run_id(name: str) -> int:
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def split_data(recipe: dict):
    """load_data of optimize_distill::run: train/val split, then the labelled subset."""
    seed = recipe["data"].get("seed", recipe.get("seed", 0))
    d = np.load(ROOT / "models/data/digits-train.npz")
    x, y = d["input"].astype(np.float32), d["label"].astype(np.int64)
    n = len(y)
    s = recipe["data"]["split"]
    count = lambda f: min(int(np.floor(f * n + 0.5)), n)  # Rust's f64::round (half away from 0)
    p = permutation(n, SplitMix64(seed))
    n_train = count(s.get("train", 0.0))
    n_val = min(count(s.get("val", 0.0)), n - n_train)
    train, val = p[:n_train], p[n_train : n_train + n_val]
    xt, yt = x[train], y[train].copy()
    fraction = recipe["transfer"]["labelled_fraction"]
    rng = SplitMix64(seed ^ 0x1ABE11ED)
    chosen = []
    for c in range(int(yt.max()) + 1):
        members = [i for i in range(len(yt)) if yt[i] == c]
        if not members:
            continue
        take = min(max(int(np.floor(fraction * len(members) + 0.5)), 1), len(members))
        perm = permutation(len(members), rng)
        chosen.extend(members[j] for j in perm[:take])
    keep = np.zeros(len(yt), dtype=bool)
    keep[chosen] = True
    yt[~keep] = -1
    test = np.load(ROOT / "models/data/digits-test.npz")
    return (xt, yt), (x[val], y[val]), (test["input"].astype(np.float32), test["label"].astype(np.int64))


def lr_at(recipe: dict, lr: float, step: int, per_epoch: int, total: int) -> float:
    s = recipe.get("schedule", {})
    warmup = s.get("warmup_epochs", 0) * per_epoch
    if step < warmup:
        return lr * (step + 1) / warmup
    kind = s.get("kind", "constant")
    if kind == "constant":
        return lr
    assert kind == "cosine", kind
    min_lr = s.get("min_lr", 0.0)
    p = min((step - warmup) / max(total - warmup, 1), 1.0)
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + np.cos(np.pi * p))


# ---------------------------------------------------------------------------------------------
# Recipes.


def recipe_text(name: str, epochs: int) -> str:
    """The recipe `name` with augmentation off, `epochs` epochs, absolute paths, no baseline run
    and no latency measurement."""
    base = "digits-mlp" if name == "digits-mlp-1024" else name
    text = (ROOT / "recipes" / f"{base}.toml").read_text()
    text, n_aug = re.subn(r"(?m)^augment = \{[^}]*\}.*$", "", text)
    text, n_ep = re.subn(r"(?m)^epochs = \d+", f"epochs = {epochs}", text)
    assert n_aug == 1 and n_ep == 1, f"{base}.toml: augment/epochs lines not found"
    text = text.replace('"../', f'"{ROOT}/')
    if name == "digits-mlp-1024":
        text, n = re.subn(r"(?ms)^(\[student\]\n)layers = \[.*?^\]", lambda m: m.group(1) + BIG_LAYERS, text)
        assert n == 1, "digits-mlp.toml: [student] layers not found"
    assert "[report]" not in text
    text += "\n[report]\nbaseline = false\nlatency = false\n"
    return text


# ---------------------------------------------------------------------------------------------
# Ours.


def ours(name: str, text: str):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"{name}.toml"
        p.write_text(text)
        out_dir = Path(d) / "out"
        env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS))
        subprocess.run(
            [str(ROOT / "target/release/optimize"), "distill", str(p), "--json", "-o", str(out_dir)],
            check=True, capture_output=True, text=True, env=env,
        )
        report = json.loads((out_dir / "report.json").read_text())
        log = [json.loads(l) for l in (out_dir / "log.jsonl").read_text().splitlines() if l.strip()]
    model = next(m for m in report["models"] if m["role"] == "distilled")
    epochs = [e for e in log if e["run"] == "distilled"]
    assert len(epochs) >= 2, "need at least 2 epochs to leave the first out"
    warm = epochs[1:]
    return {
        "samples_per_s": sum(e["samples"] for e in warm) / sum(e["seconds"] for e in warm),
        "samples_per_s_all": report["distilled"]["samples_per_s"],
        "train_loss": epochs[-1]["train_loss"],
        "test_accuracy": model["test_accuracy"],
        "parameters": model["parameters"],
        "best_epoch": report["distilled"]["best_epoch"],
        "transfer": report["data"]["transfer"],
        "labelled": report["data"]["labelled"],
        "val": report["data"]["val"],
    }


# ---------------------------------------------------------------------------------------------
# PyTorch.


def teacher_logits_subprocess(onnx: Path, x: np.ndarray) -> np.ndarray:
    """The teacher's logits, computed by ONNX Runtime in a child process that has exited
    before this one trains."""
    with tempfile.TemporaryDirectory() as d:
        xi, yo = Path(d) / "x.npy", Path(d) / "logits.npy"
        np.save(xi, x)
        subprocess.run(
            [sys.executable, __file__, "--teacher-logits", str(onnx), str(xi), str(yo)], check=True,
        )
        return np.load(yo)


def _teacher_logits_main(onnx: str, xi: str, yo: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    sess = ort.InferenceSession(onnx, so, providers=["CPUExecutionProvider"])
    np.save(yo, sess.run(None, {sess.get_inputs()[0].name: np.load(xi)})[0].astype(np.float32))


def tie_pool(torch, k: int):
    """Max-pooling whose backward pass gives the full gradient to every element equal to its
    window's maximum, as the crate's pooling (a reshape and candle's `max`) does; PyTorch's
    MaxPool2d gives it to one of them."""

    class TiePool(torch.nn.Module):
        def forward(self, x):
            n, c, h, w = x.shape
            r = x[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k)
            m = r.amax(dim=(3, 5), keepdim=True).detach()
            tied = (r == m).to(r.dtype)
            return (m + ((r - r.detach()) * tied).sum(dim=(3, 5), keepdim=True)).reshape(n, c, h // k, w // k)

    return TiePool()


def build_student(torch, layers: list, shape: tuple, seed: int, tie: bool = False):
    """The layers of the recipe as a torch Sequential, with the crate's initial weights
    (Student::new: every weight then bias in layer order from one SplitMix64). `tie`: max-pool
    as the crate's backward pass does it (see tie_pool)."""
    nn = torch.nn
    rng = SplitMix64(seed)
    mods, cur = [], list(shape)

    def init(t, fan_in):
        bound = 1.0 / np.sqrt(max(fan_in, 1))
        v = ((rng.f64s(t.numel()) * 2.0 - 1.0) * bound).astype(np.float32)
        with torch.no_grad():
            t.copy_(torch.from_numpy(v.reshape(tuple(t.shape))))

    for spec in layers:
        kind = spec["type"]
        if kind == "linear":
            assert len(cur) == 1, f"linear on {cur}"
            m = nn.Linear(cur[0], spec["out"], bias=spec.get("bias", True))
            init(m.weight, cur[0])
            if m.bias is not None:
                init(m.bias, cur[0])
            cur = [spec["out"]]
        elif kind == "conv2d":
            k, pad, stride = spec["kernel"], spec.get("padding", 0), spec.get("stride", 1)
            m = nn.Conv2d(cur[0], spec["out"], k, stride=stride, padding=pad, bias=spec.get("bias", True))
            init(m.weight, cur[0] * k * k)
            if m.bias is not None:
                init(m.bias, cur[0] * k * k)
            cur = [spec["out"], (cur[1] + 2 * pad - k) // stride + 1, (cur[2] + 2 * pad - k) // stride + 1]
        elif kind == "relu":
            m = nn.ReLU()
        elif kind == "max_pool2d":
            k = spec["kernel"]
            m = tie_pool(torch, k) if tie else nn.MaxPool2d(k)
            cur = [cur[0], cur[1] // k, cur[2] // k]
        elif kind == "flatten":
            m = nn.Flatten()
            cur = [int(np.prod(cur))]
        else:
            raise ValueError(f"layer type {kind!r} not ported to the PyTorch side")
        mods.append(m)
    return nn.Sequential(*mods)


def pytorch(text: str, tie: bool = False):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    recipe = tomllib.loads(text)
    seed = recipe.get("seed", 0)
    epochs, bs = recipe["epochs"], recipe["batch_size"]
    t_, alpha = recipe["loss"]["temperature"], recipe["loss"]["alpha"]
    o = recipe["optimizer"]
    assert o["kind"] == "adamw"
    shape = tuple(recipe["data"].get("shape", [64]))
    (xt, yt), (xv, yv), (xs, ys) = split_data(recipe)
    onnx = Path(recipe["teacher"]["onnx"])
    t_logits = torch.from_numpy(teacher_logits_subprocess(onnx, xt.reshape((-1, *shape))))
    gc.collect()

    model = build_student(torch, recipe["student"]["layers"], shape, mix([seed, 7]), tie)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(
        model.parameters(), lr=o["lr"], betas=tuple(o.get("betas", (0.9, 0.999))), eps=1e-8,
        weight_decay=o.get("weight_decay", 0.0),
    )
    x = torch.from_numpy(xt.reshape((-1, *shape)))
    labels = torch.from_numpy(yt.clip(min=0))
    mask = torch.from_numpy((yt >= 0).astype(np.float32))
    n = len(yt)
    per_epoch = (n + bs - 1) // bs
    total = per_epoch * epochs
    rid = run_id("distilled")
    step = 0
    history, best = [], (-1.0, 0, None)
    for epoch in range(epochs):
        order = permutation(n, SplitMix64(mix([seed, rid, epoch, 1])))
        batches = [torch.tensor(order[i : i + bs]) for i in range(0, n, bs)]
        model.train()
        seconds, samples, loss_sum = 0.0, 0, 0.0
        for b in batches:
            start = time.perf_counter()
            lr = lr_at(recipe, o["lr"], step, per_epoch, total)
            for g in opt.param_groups:
                g["lr"] = lr
            xb, yb, mb, tb = x[b], labels[b], mask[b], t_logits[b]
            s = model(xb)
            kd = F.kl_div(F.log_softmax(s / t_, 1), F.log_softmax(tb / t_, 1), reduction="batchmean", log_target=True)
            count = mb.sum()
            ce = (F.cross_entropy(s, yb, reduction="none") * mb).sum() / count if count > 0 else s.new_zeros(())
            loss = (1 - alpha) * kd * t_ * t_ + alpha * ce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value, _ = loss.item(), s.detach().argmax(1)
            loss_sum += value * len(b)
            step += 1
            samples += len(b)
            seconds += time.perf_counter() - start
        history.append((samples, seconds, loss_sum / samples))
        model.eval()
        with torch.no_grad():
            val_acc = float((model(torch.from_numpy(xv.reshape((-1, *shape)))).argmax(1).numpy() == yv).mean())
        if best[2] is None or val_acc > best[0]:
            best = (val_acc, epoch + 1, {k: v.clone() for k, v in model.state_dict().items()})
    def test_accuracy():
        with torch.no_grad():
            pred = model(torch.from_numpy(xs.reshape((-1, *shape)))).argmax(1).numpy()
        return float((pred == ys).mean())

    last_accuracy = test_accuracy()
    model.load_state_dict(best[2])
    warm = history[1:]
    return {
        "samples_per_s": sum(h[0] for h in warm) / sum(h[1] for h in warm),
        "samples_per_s_all": sum(h[0] for h in history) / sum(h[1] for h in history),
        "train_loss": history[-1][2],
        "test_accuracy": test_accuracy(),
        "test_accuracy_last": last_accuracy,
        "parameters": params,
        "best_epoch": best[1],
        "transfer": n,
        "labelled": int((yt >= 0).sum()),
        "val": len(yv),
        "torch": torch.__version__,
    }


# ---------------------------------------------------------------------------------------------


def cpu_model_simd() -> str:
    """The CPU's model name, with its widest SIMD extensions."""
    flags = cpu_flags()
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{cpu_model()} ({', '.join(simd)})" if simd else cpu_model()


class OtherLoad:
    """How quiet the machine was: the CPU time all other processes used during the benchmark
    (the machine's busy time from /proc/stat less this process's and its children's), and, sampled
    once a second, whether a build or test process ran beside it (rustc, cargo, cargo-nextest, or
    anything run from target/debug or target/*/deps)."""

    @staticmethod
    def _busy_s() -> float:
        f = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait

    @staticmethod
    def _own_s() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    NAMES = {"rustc", "cargo", "cargo-nextest", "cc", "ld", "c++"}
    PATHS = ("/target/debug/", "/target/release/deps/", "/target/release/build/")

    def __init__(self):
        import threading

        self.samples, self.busy, self.seen = 0, 0, set()
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy_s(), self._own_s()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(1.0):
            found = set()
            for d in Path("/proc").iterdir():
                if not d.name.isdigit():
                    continue
                try:
                    comm = (d / "comm").read_text().strip()
                    cmd = (d / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                except OSError:
                    continue
                if comm in self.NAMES or any(p in cmd for p in self.PATHS):
                    found.add(comm if comm in self.NAMES else Path(cmd).name.split("-")[0])
            self.samples += 1
            self.busy += bool(found)
            self.seen |= found

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        wall = time.perf_counter() - self.t0
        others = max(self._busy_s() - self.busy0 - (self._own_s() - self.own0), 0.0) / wall
        text = (f"other processes used {others:.2f} of the {os.cpu_count()} CPUs on average over the "
                f"{wall:.0f} s run")
        if others > 0.1:
            text = "NOT QUIET: " + text
        if self.busy:
            text += (f"; build/test processes ({', '.join(sorted(self.seen))}) ran beside it in {self.busy} "
                     f"of {self.samples} one-second samples")
        return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "results/distill-vs-pytorch.md")
    ap.add_argument("--students", nargs="+", default=["digits-mlp", "digits-cnn", "digits-mlp-1024"])
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per side and student (alternating); the table gives the fastest")
    ap.add_argument("--tie-pool", action="store_true",
                    help="PyTorch's max-pool backward as ours (full gradient to every tied maximum); "
                    "a check that the loops agree, not the default comparison")
    ap.add_argument("--note", action="append", default=[], help="extra line for the notes")
    ap.add_argument("--teacher-logits", nargs=3, metavar=("ONNX", "X_NPY", "OUT_NPY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.teacher_logits:
        _teacher_logits_main(*args.teacher_logits)
        return
    # Epoch 1 is left out as warm-up, and the recipes' 2 warm-up epochs must leave one to train.
    assert args.epochs >= 3, "give at least 3 epochs"
    binary = ROOT / "target/release/optimize"
    load = os.getloadavg()
    other = OtherLoad()
    rows, torch_version = [], None
    for name in args.students:
        text = recipe_text(name, args.epochs)
        os_, ps_ = [], []
        for _ in range(args.repeat):  # alternate the sides so both see the same conditions
            os_.append(ours(name, text))
            ps_.append(pytorch(text, args.tie_pool))
        for runs in (os_, ps_):
            for k in ("test_accuracy", "train_loss", "best_epoch"):
                if len({r[k] for r in runs}) != 1:
                    print(f"warning: {name}: {k} differs between repeats: {[r[k] for r in runs]}", file=sys.stderr)
        o = dict(max(os_, key=lambda r: r["samples_per_s"]), runs=[r["samples_per_s"] for r in os_])
        p = dict(max(ps_, key=lambda r: r["samples_per_s"]), runs=[r["samples_per_s"] for r in ps_])
        torch_version = p["torch"]
        assert o["parameters"] == p["parameters"], (name, o["parameters"], p["parameters"])
        assert (o["transfer"], o["labelled"], o["val"]) == (p["transfer"], p["labelled"], p["val"]), (name, o, p)
        rows.append((name, o, p))
        print(f"{name}: ours {o['samples_per_s']:,.0f}/s acc {o['test_accuracy']:.2%} (epoch {o['best_epoch']}); "
              f"pytorch {p['samples_per_s']:,.0f}/s acc {p['test_accuracy']:.2%} (epoch {p['best_epoch']})",
              flush=True)
    load_after = os.getloadavg()
    quiet = other.stop()
    cmd = f".venv/bin/python benches/distill_vs_pytorch.py --epochs {args.epochs}"
    if args.out.resolve() != (ROOT / "results/distill-vs-pytorch.md").resolve():
        cmd += f" --out {args.out}"
    if args.students != ap.get_default("students"):
        cmd += " --students " + " ".join(args.students)
    if args.repeat != ap.get_default("repeat"):
        cmd += f" --repeat {args.repeat}"
    if args.tie_pool:
        cmd += " --tie-pool"
    lines = [
        "# Distillation throughput: `optimize distill` (candle) vs PyTorch, CPU, 2 threads",
        "",
        f"Written by `benches/distill_vs_pytorch.py`; regenerate with `{cmd}` from the workspace root "
        "(after `cargo build --release -p optimize-cli` and `.venv/bin/pip install -r benches/requirements-distill.txt`).",
        "",
        f"- machine: {cpu_model_simd()}, {os.cpu_count()} logical CPUs visible; {THREADS} threads on both sides "
        f"(RAYON_NUM_THREADS={THREADS}; torch.set_num_threads({THREADS}))",
        f"- ours: git {git('rev-parse', '--short', 'HEAD')} (binary target/release/optimize built "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(binary.stat().st_mtime))}); "
        f"PyTorch {torch_version}; Python {platform.python_version()}",
        f"- {args.epochs} epochs per student, each {-(-rows[0][1]['transfer'] // 32)} batches of 32 "
        f"({rows[0][1]['transfer']} transfer samples, {rows[0][1]['labelled']} of them labelled; {rows[0][1]['val']} validation); "
        "T = 4, alpha = 0.1, AdamW lr 0.006 wd 1e-4, 2 warm-up epochs then cosine; no augmentation",
        f"- load average (1 min) {load[0]:.2f} before, {load_after[0]:.2f} after; {quiet}",
        "",
        "| student | parameters | optimize distill samples/s | PyTorch samples/s | ours / PyTorch | "
        "test accuracy ours / PyTorch (best-val epoch) | PyTorch test accuracy, last epoch | best epoch ours / PyTorch | "
        "last epoch's train loss ours / PyTorch | ours incl. epoch 1 (report.json) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    desc = {
        "digits-mlp": "digits-mlp (MLP 64-20-10)",
        "digits-cnn": "digits-cnn (conv3x3x8 + maxpool + linear)",
        "digits-mlp-1024": "digits-mlp-1024 (MLP 64-1024-1024-10)",
    }
    for name, o, p in rows:
        lines.append(
            f"| {desc.get(name, name)} | {o['parameters']:,} | {o['samples_per_s']:,.0f} | {p['samples_per_s']:,.0f} | "
            f"{o['samples_per_s'] / p['samples_per_s']:.2f}x | "
            f"{o['test_accuracy']:.2%} / {p['test_accuracy']:.2%} | {p['test_accuracy_last']:.2%} | "
            f"{o['best_epoch']} / {p['best_epoch']} | {o['train_loss']:.4f} / {p['train_loss']:.4f} | "
            f"{o['samples_per_s_all']:,.0f} |"
        )
    lines += [
        "",
        "What the numbers cover:",
        "",
        f"- samples/s: the fastest of {args.repeat} runs per side (the sides alternate: ours, PyTorch, ours, ...; "
        "every run is given below), counting training steps only, summed per step, over epochs 2..N (epoch 1 is warm-up and left out "
        "on both sides). Ours is read from the run's `log.jsonl` (per-epoch `samples` and `seconds`, the crate's "
        "own timing of each step: batch gather, forward, loss, backward, AdamW step, reading the loss and the "
        "batch's argmax); PyTorch's is timed the same way around the same work. The last column is report.json's "
        "`distilled.samples_per_s`, the same ratio over all epochs including the first.",
        "- Not timed: data loading, the teacher's logits (computed once before training, augmentation off: tract "
        "for us, ONNX Runtime in a separate process that exits before PyTorch trains), per-epoch validation, "
        "test evaluation, export.",
        "- Same data split, labelled subset, batch order, initial weights, loss, optimizer and schedule on both "
        "sides (the script ports the crate's seeded draws); validation is 144 samples, test accuracy is on the "
        "359 held-out images.",
        "- Last epoch's train loss: the mean loss over the final epoch's batches on each side; equal losses show "
        "the two loops compute the same thing.",
        "- Test accuracy: both sides keep the epoch with the best validation accuracy (`best epoch`); ours is "
        "report.json's `test_accuracy` of the distilled student. PyTorch's last-epoch accuracy is given too: "
        "before 5b60684 the crate's kept copy (`Student::tensors()`, clones of candle tensors sharing storage "
        "with the `Var`s that the optimizer overwrites in place) followed training to the end, so an older "
        "binary's accuracy matches that column instead.",
        "- Students without pooling follow the same trajectory on both sides up to floating-point rounding "
        "(teacher logits from tract vs ONNX Runtime, kernels' summation order), which could move the "
        "best-validation epoch.",
        "- digits-cnn: " + ("PyTorch's max-pool was replaced here (`--tie-pool`) by one whose backward pass gives "
        "the full gradient to every element tied for its window's maximum, as ours does." if args.tie_pool else
        "the two sides differ in max-pool's backward pass. Ours (crates/optimize-distill, a reshape and candle's "
        "`max`) gives the full gradient to every element tied for its window's maximum; PyTorch's MaxPool2d gives "
        "it to one. Ties happen here (where a window covers blank pixels its conv outputs are all the bias), "
        "and ours then counts that gradient once per tied element. `--tie-pool` makes PyTorch's pool do the "
        "same as ours; the train losses then agree to about 6 digits, so this, not the loop, is the difference."),
    ]
    lines += ["", "Every run's samples/s, in order:", ""]
    for name, o, p in rows:
        lines.append(f"- {name}: ours " + ", ".join(f"{v:,.0f}" for v in o["runs"])
                     + "; PyTorch " + ", ".join(f"{v:,.0f}" for v in p["runs"]))
    if args.note:
        lines += ["", "Notes on this run:", ""] + [f"- {n}" for n in args.note]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
