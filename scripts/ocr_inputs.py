#!/usr/bin/env python3
"""Writes real printed-text inputs for a PaddleOCR model of models/manifest.json to an .npz.

Usage: ocr_inputs.py MODEL_NAME OUT.npz [-n 4] [--seed 0]

The samples are benches/ocr_images.py's (crops of skimage/data/page.png, a photographed book
page, read out of the pinned scikit-image wheel and checked by sha256), at the shape of the
model's input hint: one array named after the model's input, shape [n, *hint shape] (each
sample keeps its batch axis of 1), float32. A given (model, n, seed) always gives the same
bytes.

The wheel is fetched by scripts/fetch-models.py (test tier); this script never downloads: it
exits 2 when the wheel is missing, naming the command that fetches it.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benches"))
import ocr_images  # noqa: E402  (benches/ocr_images.py: the pinned text image and its crops)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    wheel = ocr_images.WHEELS / ocr_images.WHEEL
    if not wheel.exists():
        print(f"{wheel} missing: run scripts/fetch-models.py (test tier)", file=sys.stderr)
        return 2
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    entry = next((m for m in manifest["models"] if m["name"] == a.model), None)
    if entry is None or not ocr_images.is_ocr(a.model):
        print(f"{a.model}: not a PaddleOCR model of models/manifest.json", file=sys.stderr)
        return 2
    samples = ocr_images.ocr_samples(a.model, entry["inputs"], a.n, a.seed)
    (name,) = entry["inputs"]
    np.savez(a.out, **{name: np.stack([s[name] for s in samples]).astype(np.float32)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
