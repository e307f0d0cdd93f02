//! The one error type of the crate.

use std::path::PathBuf;

/// What went wrong, with what the user needs to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The recipe file could not be read.
    #[error("cannot read recipe {}: {source}", path.display())]
    ReadRecipe {
        /// The recipe.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The recipe is not valid TOML or does not fit the schema.
    #[error("{}:{line}: {key}: {message}", path.display())]
    Recipe {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key path (`configs[1].steps[0].prune.ratio`), or `-` for the whole file.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A file the recipe names is missing or unreadable.
    #[error("{}: {what} {}: {message}", recipe.display(), path.display())]
    MissingFile {
        /// The recipe.
        recipe: PathBuf,
        /// Which file it is (`model`, `data.eval`, ...).
        what: String,
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },
    /// A file of the pipeline's output folder could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Measuring the original model failed, so no configuration can be judged.
    #[error("measuring the original model {}: {message}", path.display())]
    Baseline {
        /// The model.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Writing the report or charts failed.
    #[error("writing the report: {0}")]
    Report(String),
    /// The run was cancelled (Ctrl-C); what finished is kept in the cache.
    #[error("cancelled: finished steps are kept in {}; run the same command again to go on", cache.display())]
    Cancelled {
        /// The cache folder.
        cache: PathBuf,
    },
}

impl Error {
    /// Whether the error is the user's input (the recipe or a file it names) rather than a
    /// failure while working: the CLI exits 2 for these.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Error::ReadRecipe { .. } | Error::Recipe { .. } | Error::MissingFile { .. }
        )
    }
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;
