#!/usr/bin/env python3
"""Train the two small committed digits models and export them to ONNX.

Reads ONLY models/data/digits.csv.gz (the UCI optical digits set as bundled by
scikit-learn: 1797 rows, 64 pixel values in 0..16 followed by the label) and
writes:

  models/digits-mlp.onnx        Gemm(64->128)+Relu+Gemm(128->64)+Relu+Gemm(64->10)
  models/digits-cnn.onnx        Conv(1->16,3x3)+Relu+Conv(16->32,3x3)+Relu+MaxPool2x2
                                +Flatten+Gemm(512->64)+Relu+Gemm(64->10)
  models/data/digits-test-cnn.npz  the same split with input shaped [n,1,8,8] for the CNN
  models/data/digits-test.npz   the test split: input float32 [n,64] (pixels/16),
                                label int64 [n]

Training is plain numpy (manual backprop, Adam, fixed seeds, single BLAS
thread), so running the script twice on the same machine gives byte-identical
files.  Needs numpy and onnx; onnxruntime is used (if installed) to check that
the exported graphs reproduce the numpy predictions.

Usage: python3 scripts/train_digits.py [--check]
  --check   train and compare against the files on disk instead of writing them
"""

import os

# Deterministic, single-threaded BLAS: must be set before numpy is imported.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import gzip  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "models" / "data" / "digits.csv.gz"
OUT_MLP = ROOT / "models" / "digits-mlp.onnx"
OUT_CNN = ROOT / "models" / "digits-cnn.onnx"
OUT_TEST = ROOT / "models" / "data" / "digits-test.npz"
OUT_TEST_CNN = ROOT / "models" / "data" / "digits-test-cnn.npz"

SPLIT_SEED = 0
TEST_FRACTION = 0.2
PRODUCER = "optimize/scripts/train_digits.py"
OPSET = 17
IR_VERSION = 8


# --------------------------------------------------------------------------- data


def load_digits():
    with gzip.open(DATA, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float64)
    x = (raw[:, :64] / 16.0).astype(np.float32)
    y = raw[:, 64].astype(np.int64)
    assert x.shape == (1797, 64) and set(np.unique(y)) == set(range(10)), "unexpected digits.csv.gz"
    return x, y


def stratified_split(y, seed=SPLIT_SEED, frac=TEST_FRACTION):
    rng = np.random.default_rng(seed)
    test = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        test.append(idx[: int(round(len(idx) * frac))])
    test = np.sort(np.concatenate(test))
    mask = np.ones(len(y), dtype=bool)
    mask[test] = False
    return np.flatnonzero(mask), test


# --------------------------------------------------------------------------- layers


def softmax_xent(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y] + 1e-12).mean()
    d = p
    d[np.arange(n), y] -= 1.0
    return loss, (d / n).astype(np.float32)


def im2col(x):
    """x [N,C,8,8] -> cols [N*64, C*9] for a 3x3 kernel, pad 1, stride 1."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, c, 3, 3, h, w), dtype=x.dtype)
    for kh in range(3):
        for kw in range(3):
            cols[:, :, kh, kw] = xp[:, :, kh : kh + h, kw : kw + w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * h * w, c * 9)


def col2im(dcols, shape):
    n, c, h, w = shape
    d = dcols.reshape(n, h, w, c, 3, 3).transpose(0, 3, 4, 5, 1, 2)
    dxp = np.zeros((n, c, h + 2, w + 2), dtype=dcols.dtype)
    for kh in range(3):
        for kw in range(3):
            dxp[:, :, kh : kh + h, kw : kw + w] += d[:, :, kh, kw]
    return dxp[:, :, 1:-1, 1:-1]


def conv_fwd(x, w, b):
    n, _, h, wd = x.shape
    cols = im2col(x)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), cols


def conv_bwd(dout, cols, x_shape, w):
    cout = w.shape[0]
    d = dout.transpose(0, 2, 3, 1).reshape(-1, cout)
    dw = (d.T @ cols).reshape(w.shape)
    db = d.sum(axis=0)
    dx = col2im(d @ w.reshape(cout, -1), x_shape)
    return dx, dw, db


def maxpool_fwd(x):
    n, c, h, w = x.shape
    xr = x.reshape(n, c, h // 2, 2, w // 2, 2)
    out = xr.max(axis=(3, 5))
    return out, xr


def maxpool_bwd(dout, xr, out):
    mask = xr == out[:, :, :, None, :, None]
    # Route the gradient to the first maximum only (matches the usual argmax).
    n, c, h2, _, w2, _ = mask.shape
    m = mask.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h2, w2, 4)
    first = np.zeros_like(m)
    np.put_along_axis(first, m.argmax(axis=-1)[..., None], True, axis=-1)
    first = first.reshape(n, c, h2, w2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    return (first * dout[:, :, :, None, :, None]).reshape(n, c, h2 * 2, w2 * 2)


def he(rng, shape, fan_in):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


class Adam:
    def __init__(self, params, lr, wd=0.0, b1=0.9, b2=0.999, eps=1e-8):
        self.p, self.lr, self.wd, self.b1, self.b2, self.eps = params, lr, wd, b1, b2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        c1 = 1 - self.b1**self.t
        c2 = 1 - self.b2**self.t
        for k, g in grads.items():
            if self.wd and k.endswith("weight"):
                g = g + self.wd * self.p[k]
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            upd = self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)
            self.p[k] -= upd.astype(np.float32)


# --------------------------------------------------------------------------- models


def mlp_init(rng):
    return {
        "fc1.weight": he(rng, (128, 64), 64), "fc1.bias": np.zeros(128, np.float32),
        "fc2.weight": he(rng, (64, 128), 128), "fc2.bias": np.zeros(64, np.float32),
        "fc3.weight": he(rng, (10, 64), 64), "fc3.bias": np.zeros(10, np.float32),
    }


def mlp_forward(p, x, cache=False):
    h1 = np.maximum(x @ p["fc1.weight"].T + p["fc1.bias"], 0)
    h2 = np.maximum(h1 @ p["fc2.weight"].T + p["fc2.bias"], 0)
    out = h2 @ p["fc3.weight"].T + p["fc3.bias"]
    return (out, (x, h1, h2)) if cache else out


def mlp_backward(p, cache, d):
    x, h1, h2 = cache
    g = {"fc3.weight": d.T @ h2, "fc3.bias": d.sum(0)}
    d = (d @ p["fc3.weight"]) * (h2 > 0)
    g["fc2.weight"], g["fc2.bias"] = d.T @ h1, d.sum(0)
    d = (d @ p["fc2.weight"]) * (h1 > 0)
    g["fc1.weight"], g["fc1.bias"] = d.T @ x, d.sum(0)
    return g


def cnn_init(rng):
    return {
        "conv1.weight": he(rng, (16, 1, 3, 3), 9), "conv1.bias": np.zeros(16, np.float32),
        "conv2.weight": he(rng, (32, 16, 3, 3), 144), "conv2.bias": np.zeros(32, np.float32),
        "fc1.weight": he(rng, (64, 512), 512), "fc1.bias": np.zeros(64, np.float32),
        "fc2.weight": he(rng, (10, 64), 64), "fc2.bias": np.zeros(10, np.float32),
    }


def cnn_forward(p, x, cache=False):
    x = x.reshape(-1, 1, 8, 8)
    a1, cols1 = conv_fwd(x, p["conv1.weight"], p["conv1.bias"])
    r1 = np.maximum(a1, 0)
    a2, cols2 = conv_fwd(r1, p["conv2.weight"], p["conv2.bias"])
    r2 = np.maximum(a2, 0)
    pooled, xr = maxpool_fwd(r2)
    f = pooled.reshape(len(x), -1)
    h = np.maximum(f @ p["fc1.weight"].T + p["fc1.bias"], 0)
    out = h @ p["fc2.weight"].T + p["fc2.bias"]
    return (out, (x, cols1, r1, cols2, r2, pooled, xr, f, h)) if cache else out


def cnn_backward(p, cache, d):
    x, cols1, r1, cols2, r2, pooled, xr, f, h = cache
    g = {"fc2.weight": d.T @ h, "fc2.bias": d.sum(0)}
    d = (d @ p["fc2.weight"]) * (h > 0)
    g["fc1.weight"], g["fc1.bias"] = d.T @ f, d.sum(0)
    d = (d @ p["fc1.weight"]).reshape(pooled.shape)
    d = maxpool_bwd(d, xr, pooled) * (r2 > 0)
    d, g["conv2.weight"], g["conv2.bias"] = conv_bwd(d, cols2, r1.shape, p["conv2.weight"])
    d = d * (r1 > 0)
    _, g["conv1.weight"], g["conv1.bias"] = conv_bwd(d, cols1, x.shape, p["conv1.weight"])
    return g


def train(name, init, forward, backward, xtr, ytr, seed, epochs, lr, wd, batch=32):
    rng = np.random.default_rng(seed)
    params = init(rng)
    opt = Adam(params, lr=lr, wd=wd)
    n = len(ytr)
    t0 = time.time()
    for epoch in range(epochs):
        # cosine learning-rate decay
        opt.lr = lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
        perm = rng.permutation(n)
        total = 0.0
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            out, cache = forward(params, xtr[idx], cache=True)
            loss, d = softmax_xent(out, ytr[idx])
            total += loss * len(idx)
            opt.step(backward(params, cache, d))
        if (epoch + 1) % 10 == 0 or epoch == epochs - 1:
            acc = (forward(params, xtr).argmax(1) == ytr).mean()
            print(f"  {name} epoch {epoch + 1:3d} loss {total / n:.4f} train acc {acc:.4f} ({time.time() - t0:.1f}s)")
    return params


# --------------------------------------------------------------------------- export


def init_tensor(name, arr):
    return numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name)


def make_model(graph, doc, acc, n_test, n_train, arch):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version="1",
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    model.model_version = 1
    helper.set_model_props(
        model,
        {
            "dataset": "UCI Optical Recognition of Handwritten Digits (scikit-learn digits, 1797 8x8 images), CC BY 4.0",
            "preprocessing": "pixel values (0..16) divided by 16",
            "architecture": arch,
            "split_seed": str(SPLIT_SEED),
            "split": f"stratified, test fraction {TEST_FRACTION}, train {n_train}, test {n_test}",
            "test_accuracy": f"{acc:.6f}",
            "training": "numpy manual backprop, Adam, cosine lr, fixed seeds (scripts/train_digits.py)",
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def export_mlp(p, acc, n_test, n_train):
    g = helper.make_graph(
        [
            helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
            helper.make_node("Relu", ["fc1"], ["relu1"], name="relu1"),
            helper.make_node("Gemm", ["relu1", "fc2.weight", "fc2.bias"], ["fc2"], name="fc2", transB=1),
            helper.make_node("Relu", ["fc2"], ["relu2"], name="relu2"),
            helper.make_node("Gemm", ["relu2", "fc3.weight", "fc3.bias"], ["logits"], name="fc3", transB=1),
        ],
        "digits_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [init_tensor(k, v) for k, v in p.items()],
    )
    return make_model(
        g,
        "Digits MLP classifier: input = 8x8 digit image flattened to 64 floats (pixel/16), "
        "output = 10 class logits. Trained by optimize/scripts/train_digits.py.",
        acc, n_test, n_train, "Gemm(64->128)+Relu+Gemm(128->64)+Relu+Gemm(64->10)",
    )


def export_cnn(p, acc, n_test, n_train):
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
            helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
            helper.make_node("Conv", ["relu1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
            helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
            helper.make_node("MaxPool", ["relu2"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
            helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
            helper.make_node("Relu", ["fc1"], ["relu3"], name="relu3"),
            helper.make_node("Gemm", ["relu3", "fc2.weight", "fc2.bias"], ["logits"], name="fc2", transB=1),
        ],
        "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [init_tensor(k, v) for k, v in p.items()],
    )
    return make_model(
        g,
        "Digits CNN classifier: input = 8x8 digit image [batch,1,8,8] (pixel/16), "
        "output = 10 class logits. Trained by optimize/scripts/train_digits.py.",
        acc, n_test, n_train,
        "Conv(1->16,3x3,pad1)+Relu+Conv(16->32,3x3,pad1)+Relu+MaxPool2x2+Flatten+Gemm(512->64)+Relu+Gemm(64->10)",
    )


def npz_bytes(arrays):
    """Like np.savez, but with fixed zip timestamps so the bytes are reproducible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(arr), allow_pickle=False)
            z.writestr(info, data.getvalue())
    return buf.getvalue()


def ort_predictions(model_bytes, x):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    return s.run(None, {"input": x})[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    args = ap.parse_args()

    x, y = load_digits()
    tr, te = stratified_split(y)
    xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
    print(f"digits: {len(y)} samples, train {len(tr)}, test {len(te)} (stratified, seed {SPLIT_SEED})")

    outputs = {}
    failed = False
    specs = [
        ("mlp", OUT_MLP, mlp_init, mlp_forward, mlp_backward, export_mlp, xte, dict(seed=1, epochs=60, lr=2e-3, wd=1e-4)),
        ("cnn", OUT_CNN, cnn_init, cnn_forward, cnn_backward, export_cnn, xte.reshape(-1, 1, 8, 8),
         dict(seed=2, epochs=30, lr=2e-3, wd=1e-4)),
    ]
    for name, path, init, fwd, bwd, export, xin, hp in specs:
        p = train(name, init, fwd, bwd, xtr, ytr, **hp)
        logits = fwd(p, xte)
        pred = logits.argmax(1)
        acc = float((pred == yte).mean())
        model = export(p, acc, len(te), len(tr))
        data = model.SerializeToString()
        msg = f"{name}: numpy test accuracy {acc:.4f} ({int((pred == yte).sum())}/{len(yte)})"
        ort_logits = ort_predictions(data, xin)
        if ort_logits is None:
            msg += "; onnxruntime not installed, ORT check skipped"
        else:
            ort_pred = ort_logits.argmax(1)
            ort_acc = float((ort_pred == yte).mean())
            maxdiff = float(np.abs(ort_logits - logits).max())
            msg += f"; onnxruntime accuracy {ort_acc:.4f}, max |logit diff| {maxdiff:.2e}"
            if ort_acc != acc or (ort_pred != pred).any():
                msg += "  <-- MISMATCH"
                failed = True
        print(msg)
        outputs[path] = data
    outputs[OUT_TEST] = npz_bytes({"input": xte, "label": yte})
    # The same split shaped for the CNN's [n, 1, 8, 8] input, so both models calibrate on it.
    outputs[OUT_TEST_CNN] = npz_bytes({"input": xte.reshape(-1, 1, 8, 8), "label": yte})

    for path, data in outputs.items():
        rel = path.relative_to(ROOT)
        if args.check:
            same = path.exists() and path.read_bytes() == data
            print(f"{rel}: {'identical' if same else 'DIFFERS'}")
            failed |= not same
        else:
            path.write_bytes(data)
            print(f"wrote {rel} ({len(data)} bytes)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
