#!/usr/bin/env python3
"""Task metric for the PP-OCRv4 recogniser: character accuracy on real printed text.

    .venv/bin/python benches/metrics/ppocr_rec_chars.py MODEL.onnx      # prints char_accuracy <v> last
    .venv/bin/python benches/metrics/ppocr_rec_chars.py --verbose MODEL.onnx   # every crop's text
    .venv/bin/python benches/metrics/ppocr_rec_chars.py --write-calibration OUT.npz [-n 64]

Image: skimage/data/page.png (a photographed book page) from benches/ocr_images.py, which fetches
and checks it. Its seven text lines (ocr_images.LINES) were transcribed by hand for this bench
(TEXT below), and the x position of every gap between two words was read off enlarged crops
(GAPS below: the middle of the blank between the words, in page pixels). The crops, all with the
line's box as ocr_images.LINES gives it (a few pixels of the neighbouring lines included, as a
detector's boxes have):

  lines    the 7 whole lines;
  windows  each line cut at its word gaps into consecutive, non-overlapping windows of 3 words
           (2, or 1, where 3 would be wider than 6.5x the line height, i.e. wider than the
           model's 320-pixel input at height 48; the last window of a line takes what is left);
           the code line (">>> markers = np.zeros_like(coins)") gives only ">>> markers" (its
           "=" is too close to its neighbours to cut cleanly).

Preprocessing as PaddleOCR's resize_norm_img: grey replicated to 3 channels, resized to height 48
keeping the aspect ratio, (x/255 - 0.5)/0.5, right-padded with 0 to width max(320, resized width).
Windows run as one batch [N,3,48,320]; each line runs alone at its own width.

Decoding: greedy CTC (argmax per step, repeats merged, blank 0 dropped) with the model's own
dictionary (ONNX metadata key `character`; index 0 is the blank, the last index a space).

Score: char_accuracy = 1 - sum(edit distance) / sum(len(truth)) over all crops, both texts with
their spaces removed (the model often drops the narrow gaps between words of this page, e.g.
"atthe", even in float32; the spacing of a line is not what this metric scores). ONNX Runtime on
the CPU, 2 intra-op threads.

Calibration data for `--auto` (--write-calibration): random windows of the same page lines from
ocr_images.ocr_samples (W=320, numpy seed 1234), not the fixed crops above; the page has only
these seven lines, so calibration and evaluation see the same text in different crops.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches"))
import ocr_images as oi  # noqa: E402

H, W_MIN = 48, 320
CAL_SEED = 1234

TEXT = [
    "Region-based segmentation",
    "Let us first determine markers of the coins and the",
    "background. These markers are pixels that we can label",
    "unambiguously as either object or background. Here,",
    "the markers are found at the two extreme parts of the",
    "histogram of grey values:",
    ">>> markers = np.zeros_like(coins)",
]
# x of the blank between word k and word k+1 of each line (page pixels), read off 6-8x crops.
GAPS = [
    [146],
    [28, 49, 84, 161, 226, 246, 277, 318, 348],
    [82, 127, 188, 215, 260, 292, 319, 342],
    [105, 127, 177, 226, 245, 339],
    [26, 84, 110, 156, 176, 205, 235, 295, 336, 349],
    [70, 85, 122],
    [39, 89, 98],
]
MAX_ASPECT = 6.5


def crops():
    """[(kind, grey float32 [h, w], truth)]: the whole lines, then the word windows."""
    img = oi.page_image().astype(np.float32)
    out = []
    for i, (y0, y1, x0, x1) in enumerate(oi.LINES):
        out.append(("line", img[y0:y1, x0:x1], TEXT[i]))
    for i, (y0, y1, x0, x1) in enumerate(oi.LINES):
        words = TEXT[i].split()
        assert len(GAPS[i]) == len(words) - 1, (i, words, GAPS[i])
        b = [x0] + GAPS[i] + [x1]
        h = y1 - y0
        if i == 6:
            out.append(("window", img[y0:y1, b[0]:b[2]], " ".join(words[:2])))
            continue
        s = 0
        while s < len(words):
            for n in (3, 2, 1):
                e = min(s + n, len(words))
                if b[e] - b[s] <= MAX_ASPECT * h or n == 1:
                    break
            out.append(("window", img[y0:y1, b[s]:b[e]], " ".join(words[s:e])))
            s = e
    return out


def prep(grey, width=None):
    h, w = grey.shape
    rw = int(np.ceil(H * w / h))
    W = max(W_MIN, rw) if width is None else width
    rw = min(rw, W)
    x = (oi.resize(grey, H, rw) / 255.0 - 0.5) / 0.5
    out = np.zeros((H, W), np.float32)
    out[:, :rw] = x
    return np.repeat(out[None, None], 3, axis=1)


def dictionary(sess, model):
    text = sess.get_modelmeta().custom_metadata_map.get("character")
    if text is None:
        raise SystemExit(f"{model}: no `character` metadata (the dictionary)")
    return [""] + text.splitlines() + [" "]


def ctc_greedy(probs, chars):
    am = probs.argmax(-1)
    out, last = [], 0
    for k in am:
        if k != last and k != 0:
            out.append(chars[k] if k < len(chars) else "?")
        last = k
    return "".join(out)


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def recognise(model, threads=2):
    """[(kind, truth, predicted)] for every crop."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    chars = dictionary(sess, model)
    cs = crops()
    res = []
    for kind, g, t in cs:
        if kind == "line":
            res.append((kind, t, ctc_greedy(sess.run(None, {inp: prep(g)})[0][0], chars)))
    wins = [(g, t) for kind, g, t in cs if kind == "window"]
    batch = np.concatenate([prep(g, W_MIN) for g, _ in wins])
    probs = sess.run(None, {inp: batch})[0]
    for (g, t), p in zip(wins, probs):
        res.append(("window", t, ctc_greedy(p, chars)))
    return res


def score(res):
    strip = lambda s: s.replace(" ", "")
    errs = sum(edit_distance(strip(p), strip(t)) for _, t, p in res)
    total = sum(len(strip(t)) for _, t, _ in res)
    return 1.0 - errs / total, errs, total


def write_calibration(path, n):
    hints = {"x": {"shape": [1, 3, H, W_MIN]}}
    samples = oi.ocr_samples("ppocr-v4-rec", hints, n, CAL_SEED)
    np.savez(path, x=np.concatenate([s["x"] for s in samples]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--write-calibration", metavar="NPZ")
    ap.add_argument("-n", type=int, default=64, help="calibration samples")
    a = ap.parse_args()
    if a.write_calibration:
        write_calibration(a.write_calibration, a.n)
        print(f"wrote {a.n} calibration crops to {a.write_calibration}")
        return
    if not a.model:
        ap.error("MODEL is required")
    res = recognise(a.model, a.threads)
    acc, errs, total = score(res)
    if a.verbose:
        for kind, t, p in res:
            mark = "" if p.replace(" ", "") == t.replace(" ", "") else "   <-- " + str(edit_distance(p.replace(" ", ""), t.replace(" ", "")))
            print(f"{kind:6s} {t!r} -> {p!r}{mark}")
        for kind in ("line", "window"):
            sub = [r for r in res if r[0] == kind]
            print(f"{kind}s: {len(sub)} crops, char accuracy {score(sub)[0]:.4f}")
        print(f"{len(res)} crops, {total} characters, {errs} edits")
    print(f"char_accuracy {acc:.6f}")


if __name__ == "__main__":
    main()
