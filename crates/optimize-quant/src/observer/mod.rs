//! Calibration observers: what range an activation tensor should be quantized to.
//!
//! The static quantizer runs the calibration samples through the model one at
//! a time and hands every float tensor it will quantize to an [`Observer`],
//! which keeps a summary of constant size (a min and a max, or a fixed-size
//! [`Histogram`]) and proposes a [`Range`] at the end. [`params_for_range`]
//! then turns the range into a scale and zero point.
//!
//! | method | observer | range | reference |
//! |---|---|---|---|
//! | `minmax` | [`MinMaxObserver`] | smallest and largest value (`±max|x|` when symmetric) | ORT `MinMaxCalibrater` |
//! | `percentile[=P]` | [`PercentileObserver`] | the `P`th percentile of `|x|` (symmetric) or the `(100-P)/2` and `(100+P)/2` percentiles of `x` | ORT `PercentileCalibrater` |
//! | `entropy` | [`EntropyObserver`] | `±t` minimizing the KL divergence between the clipped and the quantized histogram | ORT `EntropyCalibrater`, TensorRT |
//! | `mse` | [`MseObserver`] | the clipping range minimizing the expected squared quantization error | TensorRT / NNCF / PyTorch MSE calibrators |
//!
//! Every observer skips NaN and `±Inf` and counts them ([`Observer::non_finite`]),
//! so one bad sample never poisons a range; [`Observer::range`] is `None` when
//! nothing finite was seen. Histogram-based ranges are clipped to the observed
//! `[min, max]`, as ONNX Runtime does, so a ReLU output keeps a lower end of 0.
//!
//! ```
//! use optimize_quant::observer::{observer, CalibrationMethod};
//!
//! let method: CalibrationMethod = "percentile=99.9".parse().unwrap();
//! let mut obs = observer(&method, true);
//! obs.observe(&[0.5, -1.0, f32::NAN]);
//! assert_eq!(obs.count(), 2);
//! assert_eq!(obs.non_finite(), 1);
//! assert!(obs.range().is_some());
//! ```
//!
//! [`params_for_range`]: crate::scale::params_for_range

mod entropy;
mod histogram;
mod minmax;
mod mse;
mod percentile;

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

pub use entropy::{EntropyObserver, DEFAULT_QUANTIZED_BINS};
pub use histogram::{Domain, Histogram, DEFAULT_BINS};
pub use minmax::MinMaxObserver;
pub use mse::{MseObserver, DEFAULT_STEPS};
pub use percentile::{PercentileObserver, DEFAULT_PERCENTILE};

/// Collects statistics of one tensor over the calibration samples.
///
/// Implementations hold O(1) state, or a histogram of a fixed number of bins:
/// memory never grows with the number of samples.
pub trait Observer: Send {
    /// Adds the values of one sample (any shape, flattened). NaN and `±Inf`
    /// are skipped and counted.
    fn observe(&mut self, values: &[f32]);

    /// The range to quantize to, or `None` if no finite value was observed.
    /// Always `min <= max`, both finite.
    fn range(&self) -> Option<Range>;

    /// How many NaN or infinite values were skipped.
    fn non_finite(&self) -> u64;

    /// How many finite values were observed.
    fn count(&self) -> u64;
}

/// A closed range of real values, `min <= max`, both finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower end.
    pub min: f32,
    /// Upper end.
    pub max: f32,
}

impl Range {
    /// The range `[max(lo, min), min(hi, max)]` of a threshold search clipped
    /// to the observed extremes, as ONNX Runtime's calibrators do.
    pub(crate) fn clipped(lo: f64, hi: f64, min: f32, max: f32) -> Range {
        let lo = (lo.max(f64::from(min)) as f32).min(max);
        let hi = (hi.min(f64::from(max)) as f32).max(lo);
        Range { min: lo, max: hi }
    }
}

/// How calibration turns observed values into a range (`--method`).
///
/// Parses from and displays as `minmax`, `percentile` (99.999),
/// `percentile=P`, `entropy` and `mse`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalibrationMethod {
    /// Smallest and largest value.
    MinMax,
    /// Clip at a percentile, e.g. 99.999 (in `(0, 100]`).
    Percentile(f64),
    /// KL-divergence threshold search.
    Entropy,
    /// Mean-squared-error clipping search.
    Mse,
}

impl FromStr for CalibrationMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "minmax" => return Ok(CalibrationMethod::MinMax),
            "percentile" => return Ok(CalibrationMethod::Percentile(DEFAULT_PERCENTILE)),
            "entropy" => return Ok(CalibrationMethod::Entropy),
            "mse" => return Ok(CalibrationMethod::Mse),
            _ => {}
        }
        let Some(p) = lower.strip_prefix("percentile=") else {
            return Err(Error::UnknownMethod {
                given: s.to_string(),
            });
        };
        match p.trim().parse::<f64>() {
            Ok(v) if v > 0.0 && v <= 100.0 => Ok(CalibrationMethod::Percentile(v)),
            _ => Err(Error::InvalidPercentile {
                given: p.to_string(),
            }),
        }
    }
}

// In a config the method is the same text as on the command line: `"percentile=99.99"`.
impl serde::Serialize for CalibrationMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CalibrationMethod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationMethod::MinMax => f.write_str("minmax"),
            CalibrationMethod::Percentile(p) => write!(f, "percentile={p}"),
            CalibrationMethod::Entropy => f.write_str("entropy"),
            CalibrationMethod::Mse => f.write_str("mse"),
        }
    }
}

/// A new observer for `method` with the default settings (2048 bins, 128
/// quantized bins for entropy, 255 steps for mse).
///
/// `symmetric` asks for a range around 0: minmax returns `±max|x|`, percentile
/// works on `|x|`, mse searches symmetric thresholds; entropy always searches a
/// symmetric threshold. A percentile outside `(0, 100]` (only possible when
/// the enum is built by hand; parsing rejects it) is clamped into it, NaN
/// becomes 100.
pub fn observer(method: &CalibrationMethod, symmetric: bool) -> Box<dyn Observer> {
    match *method {
        CalibrationMethod::MinMax => Box::new(MinMaxObserver::new(symmetric)),
        CalibrationMethod::Percentile(p) => {
            let p = if p.is_nan() {
                100.0
            } else {
                p.clamp(0.0, 100.0)
            };
            Box::new(PercentileObserver::new(p, symmetric))
        }
        CalibrationMethod::Entropy => Box::new(EntropyObserver::new()),
        CalibrationMethod::Mse => Box::new(MseObserver::new(symmetric)),
    }
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_methods() {
        let cases = [
            ("minmax", CalibrationMethod::MinMax, "minmax"),
            (
                "percentile",
                CalibrationMethod::Percentile(99.999),
                "percentile=99.999",
            ),
            (
                "percentile=99.99",
                CalibrationMethod::Percentile(99.99),
                "percentile=99.99",
            ),
            (
                "Percentile=100",
                CalibrationMethod::Percentile(100.0),
                "percentile=100",
            ),
            ("entropy", CalibrationMethod::Entropy, "entropy"),
            (" MSE ", CalibrationMethod::Mse, "mse"),
        ];
        for (text, method, shown) in cases {
            assert_eq!(
                text.parse::<CalibrationMethod>().ok(),
                Some(method),
                "{text}"
            );
            assert_eq!(method.to_string(), shown);
            assert_eq!(shown.parse::<CalibrationMethod>().ok(), Some(method));
        }
    }

    #[test]
    fn rejects_bad_methods_clearly() {
        let err = "kl".parse::<CalibrationMethod>().unwrap_err();
        assert!(matches!(&err, Error::UnknownMethod { given } if given == "kl"));
        assert_eq!(
            err.to_string(),
            "unknown calibration method \"kl\": expected minmax, percentile[=P], entropy or mse"
        );
        for bad in [
            "percentile=0",
            "percentile=100.5",
            "percentile=abc",
            "percentile=",
            "percentile=nan",
        ] {
            let err = bad.parse::<CalibrationMethod>().unwrap_err();
            assert!(
                matches!(err, Error::InvalidPercentile { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn every_observer_skips_non_finite_and_reports_empty() {
        let methods = ["minmax", "percentile", "percentile=99", "entropy", "mse"];
        for m in methods {
            for symmetric in [false, true] {
                let mut obs = observer(&m.parse().unwrap(), symmetric);
                assert_eq!(obs.range(), None, "{m}");
                obs.observe(&[f32::NAN, f32::INFINITY]);
                obs.observe(&[]);
                assert_eq!(obs.range(), None, "{m}");
                obs.observe(&[f32::NEG_INFINITY, 2.0, -1.0, f32::NAN]);
                assert_eq!((obs.count(), obs.non_finite()), (2, 4), "{m}");
                let r = obs.range().unwrap();
                assert!(
                    r.min.is_finite() && r.max.is_finite() && r.min <= r.max,
                    "{m}: {r:?}"
                );
                assert!(r.min >= -2.0 && r.max <= 2.0, "{m}: {r:?}");
            }
        }
    }

    #[test]
    fn all_zero_tensors_give_a_zero_range() {
        for m in ["minmax", "percentile", "entropy", "mse"] {
            for symmetric in [false, true] {
                let mut obs = observer(&m.parse().unwrap(), symmetric);
                obs.observe(&[0.0; 16]);
                assert_eq!(obs.range(), Some(Range { min: 0.0, max: 0.0 }), "{m}");
            }
        }
    }
}
