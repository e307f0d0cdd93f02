"""Calibration data and ONNX Runtime reference thresholds for the observer tests.

Writes `normal_outliers.f32le`: 10 batches of 1000 float32 values, little endian,
batch after batch. Batch k (k = 0..9) is `default_rng(0).standard_normal(1000) * (0.5 + 0.25 k)`
(one generator, drawn in order), so the range widens from batch to batch and a
streaming histogram has to grow; batch 4 gets an outlier 8.0 at index 10 and
batch 8 an outlier -11.0 at index 20.

Then feeds the batches one at a time to ONNX Runtime's `HistogramCollector`
(onnxruntime.quantization.calibrate, 2048 bins, 128 quantized bins, as
`create_calibrator` configures it) and prints the thresholds the Rust tests
compare against, with numpy's exact percentiles beside them.

Rerun from the repository root: `.venv/bin/python crates/optimize-quant/src/observer/testdata/make.py`
"""

from pathlib import Path

import numpy as np
from onnxruntime.quantization.calibrate import HistogramCollector

HERE = Path(__file__).parent


def batches():
    rng = np.random.default_rng(0)
    out = []
    for k in range(10):
        b = (rng.standard_normal(1000) * (0.5 + 0.25 * k)).astype(np.float32)
        if k == 4:
            b[10] = 8.0
        if k == 8:
            b[20] = -11.0
        out.append(b)
    return out


def collect(method, symmetric, percentile=99.999):
    c = HistogramCollector(
        method=method,
        symmetric=symmetric,
        num_bins=2048,
        num_quantized_bins=128,
        percentile=percentile,
        scenario="same",
    )
    for b in batches():
        c.collect({"x": b})
    hist, edges = c.histogram_dict["x"][:2]
    lo, hi = c.compute_collection_result()["x"][:2]
    return float(lo), float(hi), len(hist), float(edges[1] - edges[0])


def entropy_threshold_fixed(hist, edges, num_quantized_bins=128, eps=1e-4):
    """ORT's get_entropy_threshold with the bugs of its MXNet port fixed: a
    symmetric 2i-bin slice, Q spread only over non-zero bins of P, Q in floats,
    and bins spread evenly over the groups (TensorRT's linspace grouping)."""
    num_bins = len(hist)
    half = num_bins // 2
    best = (np.inf, None)

    def smooth(p):
        zeros = p == 0
        if zeros.all():
            return None
        p = p.astype(np.float64).copy()
        take = eps * zeros.sum() / (~zeros).sum()
        p[zeros] = eps
        p[~zeros] -= take
        return None if (p <= 0).any() else p

    for i in range(num_quantized_bins // 2, half + 1):
        sliced = hist[half - i : half + i].astype(np.float64)
        p = sliced.copy()
        p[0] += hist[: half - i].sum()
        p[-1] += hist[half + i :].sum()
        group = (np.arange(len(sliced)) * num_quantized_bins) // len(sliced)
        sums = np.bincount(group, weights=sliced, minlength=num_quantized_bins)
        nonzero = np.bincount(group, weights=(p != 0), minlength=num_quantized_bins)
        q = np.where(p != 0, sums[group] / np.maximum(nonzero[group], 1), 0.0)
        p, q = smooth(p), smooth(q)
        if p is None or q is None:
            continue
        p, q = p / p.sum(), q / q.sum()
        kl = (p * np.log(p / q)).sum()
        if kl < best[0]:
            best = (kl, i)
    return best[1] * float(edges[1] - edges[0]), best[1]


def main():
    data = np.concatenate(batches())
    data.astype("<f4").tofile(HERE / "normal_outliers.f32le")
    print(f"min {data.min()!r} max {data.max()!r}")
    for p in (99.999, 99.985, 99.9):
        lo, hi, bins, width = collect("percentile", True, p)
        exact = np.percentile(np.abs(data), p)
        print(f"percentile {p} symmetric: ({lo!r}, {hi!r}) bins {bins} width {width!r} exact |x| {exact!r}")
    for p in (99.99, 99.97):
        lo, hi, bins, width = collect("percentile", False, p)
        cut = (100 - p) / 2
        exact = np.percentile(data, [cut, 100 - cut])
        print(f"percentile {p} asymmetric: ({lo!r}, {hi!r}) bins {bins} width {width!r} exact {exact!r}")
    lo, hi, bins, width = collect("entropy", False)
    print(f"entropy: ({lo!r}, {hi!r}) bins {bins} width {width!r}")
    c = HistogramCollector("entropy", False, 2048, 128, 99.999, "same")
    for b in batches():
        c.collect({"x": b})
    hist, edges = c.histogram_dict["x"][:2]
    print(f"entropy, bugs fixed, on ORT's histogram: {entropy_threshold_fixed(hist, edges)!r}")
    # Our grid: T = 16 (the smallest power of two above max |x| = 11), 2048 bins.
    hist, edges = np.histogram(data, 2048, range=(-16.0, 16.0))
    print(f"entropy, bugs fixed, on our grid: {entropy_threshold_fixed(hist, edges)!r}")


if __name__ == "__main__":
    main()
