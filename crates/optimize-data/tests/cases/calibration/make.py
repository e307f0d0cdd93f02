"""Writes calibration data files with NumPy, for optimize-data's CalibrationSet.

The model these files are for has one input, x: float32 [batch, 4]. Sample i of x is
[i, i + 0.25, i + 0.5, i + 0.75] (so a test can tell samples apart) and its label is 10 * i.

  calib.npz          x float32 [6, 4] and label int64 [6] (np.savez): 6 samples plus an extra
  calib_deflate.npz  the same, np.savez_compressed
  x.npy              x alone, float32 [6, 4]: a .npy for a single-input model
  folder/            the same 6 samples split over files, read in file-name order:
                       part-00.npz (samples 0-1), part-01.npz (samples 2-4),
                       part-02.npz (sample 5); plus README.txt, which must be ignored
  bad/f64.npz        x as float64: the error says to save it as float32
  bad/shape.npz      x float32 [6, 3]: sample shape [3] does not fit [?, 4]
  bad/count.npz      x [6, 4] with label [5]: sample counts differ, both named
  bad/missing.npz    only 'inputs' and 'label': no array for model input 'x', found listed
  bad/scalar.npz     x [6, 4] and a 0-d 'scale': every array needs a sample axis
  bad/no_data/       only notes.txt: no data file in the folder
  bad/mixed/         part-00.npz with a label, part-01.npz without: files disagree

Regenerate: .venv/bin/python crates/optimize-data/tests/cases/calibration/make.py
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def path(*parts):
    p = os.path.join(here, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


x = (np.arange(6, dtype=np.float32)[:, None] + np.float32(0.25) * np.arange(4, dtype=np.float32))
label = np.arange(6, dtype=np.int64) * 10

np.savez(path("calib.npz"), x=x, label=label)
np.savez_compressed(path("calib_deflate.npz"), x=x, label=label)
np.save(path("x.npy"), x)
for name, rows in [("part-00.npz", slice(0, 2)), ("part-01.npz", slice(2, 5)),
                   ("part-02.npz", slice(5, 6))]:
    np.savez(path("folder", name), x=x[rows], label=label[rows])
with open(path("folder", "README.txt"), "w") as f:
    f.write("Not data; CalibrationSet ignores files that are not .npy/.npz/.safetensors.\n")

np.savez(path("bad", "f64.npz"), x=x.astype(np.float64))
np.savez(path("bad", "shape.npz"), x=x[:, :3])
np.savez(path("bad", "count.npz"), x=x, label=label[:5])
np.savez(path("bad", "missing.npz"), inputs=x, label=label)
np.savez(path("bad", "scalar.npz"), x=x, scale=np.float32(2))
with open(path("bad", "no_data", "notes.txt"), "w") as f:
    f.write("no data here\n")
np.savez(path("bad", "mixed", "part-00.npz"), x=x[:3], label=label[:3])
np.savez(path("bad", "mixed", "part-01.npz"), x=x[3:])
