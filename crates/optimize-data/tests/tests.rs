//! Integration tests of optimize-data on files made by NumPy.

// Shared helpers: case folders, the project's Python.
mod util;
// Reading every .npy/.npz variant NumPy writes, and the unsupported and broken ones.
mod numpy_files;
// Writing .npy/.npz that NumPy loads with identical values and header bytes.
mod roundtrip;
// CalibrationSet on files, folders, safetensors and models/data/digits-test.npz.
mod calibration;
