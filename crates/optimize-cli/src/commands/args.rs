//! Parsing and checks of arguments more than one subcommand takes.

use std::path::{Path, PathBuf};

use crate::exit::UsageError;

/// `x=1x3x224x224` (or `x=1,3,224,224`; `x=` for a scalar) → (`x`, [1, 3, 224, 224]).
pub fn parse_shape(s: &str) -> Result<(String, Vec<usize>), UsageError> {
    let bad = || {
        UsageError(format!(
            "--shape `{s}`: expected NAME=DIMS such as x=1x3x224x224"
        ))
    };
    let (name, dims) = s.rsplit_once('=').ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    let dims = if dims.trim().is_empty() {
        Vec::new() // a scalar
    } else {
        dims.split(['x', ','])
            .map(|d| d.trim().parse::<usize>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok((name.to_string(), dims))
}

/// The output path: the one given with `-o`, or else `default`, which must not exist yet (a
/// default never replaces a file; the user names a path to replace one).
pub fn output_path(given: Option<&Path>, default: PathBuf) -> Result<PathBuf, UsageError> {
    match given {
        Some(p) => Ok(p.to_path_buf()),
        None if default.exists() => Err(UsageError(format!(
            "{} already exists; pass -o {} to replace it, or -o with another path",
            default.display(),
            default.display()
        ))),
        None => Ok(default),
    }
}

/// `default` with the bounds given on the command line in place of its own: `--max-drop`
/// bounds top-1 with labels, `--min-cosine` and `--max-abs` the outputs without.
pub fn policy(
    default: optimize_bench::VerifyPolicy,
    max_drop: Option<f64>,
    min_cosine: Option<f64>,
    max_abs: Option<f64>,
) -> optimize_bench::VerifyPolicy {
    optimize_bench::VerifyPolicy {
        max_accuracy_drop: max_drop.or(default.max_accuracy_drop),
        min_cosine: min_cosine.or(default.min_cosine),
        max_abs: max_abs.or(default.max_abs),
        cosine: default.cosine,
    }
}
