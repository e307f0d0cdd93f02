//! Parsing and checks of arguments more than one subcommand takes.

use std::path::Path;

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

/// True if `a` and `b` name the same file (`b` need not exist yet): the guard against writing
/// an output over its input.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| {
        p.canonicalize().ok().or_else(|| {
            let parent = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
                _ => std::env::current_dir().ok()?,
            };
            Some(parent.join(p.file_name()?))
        })
    };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}
