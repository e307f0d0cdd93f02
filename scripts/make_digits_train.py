#!/usr/bin/env python3
"""Write the training split of the digits set, the samples the committed digits models
were trained on, for the distillation recipes in recipes/.

Reads ONLY models/data/digits.csv.gz and reuses the split of scripts/train_digits.py
(stratified, seed 0, test fraction 0.2), so the recipes' test file
(models/data/digits-test.npz) holds exactly the samples the teachers never saw. Writes:

  models/data/digits-train.npz       input float32 [1438, 64] (pixels/16), label int64 [1438]
  models/data/digits-train-cnn.npz   the same samples with input shaped [1438, 1, 8, 8] for the
                                     CNN: what static quantization of the CNN calibrates on

np.savez_compressed writes fixed timestamps, so running the script twice gives identical bytes.

Usage: .venv/bin/python scripts/make_digits_train.py [--check]
  --check   compare with the file on disk instead of writing it
"""

import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_digits import load_digits, stratified_split  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "data" / "digits-train.npz"
OUT_CNN = ROOT / "models" / "data" / "digits-train-cnn.npz"


def main():
    x, y = load_digits()
    train, test = stratified_split(y)
    buf = io.BytesIO()
    np.savez_compressed(buf, input=x[train], label=y[train])
    data = buf.getvalue()
    buf = io.BytesIO()
    np.savez_compressed(buf, input=x[train].reshape(-1, 1, 8, 8), label=y[train])
    data_cnn = buf.getvalue()
    # The test split must be the committed test file's.
    with np.load(ROOT / "models" / "data" / "digits-test.npz") as t:
        assert np.array_equal(t["input"], x[test]) and np.array_equal(t["label"], y[test]), "split differs from digits-test.npz"
    outputs = [(OUT, data), (OUT_CNN, data_cnn)]
    if "--check" in sys.argv:
        ok = True
        for path, bytes_ in outputs:
            same = path.exists() and path.read_bytes() == bytes_
            ok &= same
            print(f"{path.relative_to(ROOT)}: {'same' if same else 'DIFFERS'}")
        sys.exit(0 if ok else 1)
    for path, bytes_ in outputs:
        path.write_bytes(bytes_)
        print(f"wrote {path.relative_to(ROOT)}: {len(train)} samples")


if __name__ == "__main__":
    main()
