"""Writes .npy and .npz files with NumPy itself, for the optimize-data readers.

What each file isolates (values are small and fixed; the Rust tests restate them):

Readable:
  f32.npy          float32 [2, 3] = arange(6) / 4, np.save (format 1.0)
  f16.npy          float16 [4] = [0.5, -2, 65504, -inf]: half precision and an infinity
  f64_nan.npy      float64 [3] = [1, nan, 2.5]: NaN is data, not an error
  bool.npy         bool [5] = [T, F, T, T, F] ('|b1')
  scalar.npy       0-d int64 = 42 (shape ())
  empty.npy        float32 [0, 3]: no data bytes at all
  v2.npy           int16 [3] = [-1, 0, 7] written as format 2.0 (u32 header length)
  v3.npy           uint8 [2] = [1, 255] written as format 3.0 (UTF-8 header)
  fortran_1d.npy   int32 [4] = [1, 2, 3, 4] saved from a Fortran-order array: NumPy still
                   writes fortran_order False for 1-D, so this must read as C order
  dtypes.npz       every supported dtype, one array each, named after it (np.savez, stored):
                   float32 float16 float64 int8 uint8 int16 uint16 int32 uint32 int64 uint64 bool,
                   each of shape [2, 2] = arange(4) (bool: arange(4) % 2 == 1); also '<i8' named
                   'scalar' (0-d = -7) and the keyword 'a.b' to check names with dots
  compressed.npz   the same arrays as dtypes.npz, np.savez_compressed (deflated members)

Unsupported (each must be an UnsupportedNpy error naming what is wrong):
  fortran.npy      float32 [2, 3] in Fortran order (fortran_order True)
  big_endian.npy   '>f4' [3]
  object.npy       an object array (allow_pickle=True), descr '|O'
  complex.npy      complex64 [2], descr '<c8'
  structured.npy   a record array with fields a: '<f4', b: '<i4'

Broken (made by editing NumPy's output):
  truncated.npy    f32.npy with its last 5 bytes cut off: DataLength, found 19 of 24
  lying.npy        f32.npy with the header's shape changed from (2, 3) to (3, 3), same length:
                   DataLength, expected 36, found 24
  trailing.npy     f32.npy with 4 extra bytes at the end: DataLength, found 28

Regenerate: .venv/bin/python crates/optimize-data/tests/cases/npy-formats/make.py
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(here, name)


f32 = np.arange(6, dtype=np.float32).reshape(2, 3) / np.float32(4)
np.save(path("f32.npy"), f32)
np.save(path("f16.npy"), np.array([0.5, -2, 65504, -np.inf], dtype=np.float16))
np.save(path("f64_nan.npy"), np.array([1, np.nan, 2.5], dtype=np.float64))
np.save(path("bool.npy"), np.array([True, False, True, True, False]))
np.save(path("scalar.npy"), np.array(42, dtype=np.int64))
np.save(path("empty.npy"), np.zeros((0, 3), dtype=np.float32))
with open(path("v2.npy"), "wb") as f:
    np.lib.format.write_array(f, np.array([-1, 0, 7], dtype=np.int16), version=(2, 0))
with open(path("v3.npy"), "wb") as f:
    np.lib.format.write_array(f, np.array([1, 255], dtype=np.uint8), version=(3, 0))
np.save(path("fortran_1d.npy"), np.asfortranarray(np.array([1, 2, 3, 4], dtype=np.int32)))

names = ["float32", "float16", "float64", "int8", "uint8", "int16", "uint16",
         "int32", "uint32", "int64", "uint64"]
arrays = {n: np.arange(4, dtype=n).reshape(2, 2) for n in names}
arrays["bool"] = (np.arange(4) % 2 == 1).reshape(2, 2)
arrays["scalar"] = np.array(-7, dtype=np.int64)
arrays["a.b"] = np.array([1.5], dtype=np.float32)
np.savez(path("dtypes.npz"), **arrays)
np.savez_compressed(path("compressed.npz"), **arrays)

np.save(path("fortran.npy"), np.asfortranarray(f32))
np.save(path("big_endian.npy"), np.array([1, 2, 3], dtype=">f4"))
np.save(path("object.npy"), np.array([1, "a", None], dtype=object), allow_pickle=True)
np.save(path("complex.npy"), np.array([1 + 2j, 3], dtype=np.complex64))
np.save(path("structured.npy"), np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))

with open(path("f32.npy"), "rb") as f:
    good = f.read()
with open(path("truncated.npy"), "wb") as f:
    f.write(good[:-5])
lying = good.replace(b"'shape': (2, 3)", b"'shape': (3, 3)")
assert lying != good and len(lying) == len(good)
with open(path("lying.npy"), "wb") as f:
    f.write(lying)
with open(path("trailing.npy"), "wb") as f:
    f.write(good + b"\0\0\0\0")
