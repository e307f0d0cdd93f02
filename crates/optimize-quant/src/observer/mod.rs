//! Calibration observers (in progress).
