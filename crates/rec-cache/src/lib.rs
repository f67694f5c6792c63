//! Where recimpute keeps its downloads on this machine (libtorch's virtual environment, the
//! pretrained model), resolved one way for `cargo xtask`, the libraries and the tests, so the
//! setup puts things where every later run looks for them.
//!
//! | directory | first of |
//! |---|---|
//! | [`cache_dir`] | `$RECIMPUTE_CACHE`, `$XDG_CACHE_HOME/recimpute`, `$HOME/.cache/recimpute` |
//! | [`models_dir`] | `$RECIMPUTE_MODELS`, `<cache_dir>/models` |
//!
//! Empty variables count as unset. No dependencies, so the build tool can use it too.
//!
//! ```
//! use std::ffi::OsString;
//! use std::path::PathBuf;
//!
//! // With only XDG_CACHE_HOME and HOME set, the models sit under XDG_CACHE_HOME.
//! let env = |name: &str| match name {
//!     "XDG_CACHE_HOME" => Some(OsString::from("/var/cache")),
//!     "HOME" => Some(OsString::from("/home/me")),
//!     _ => None,
//! };
//! assert_eq!(rec_cache::models_dir_from(&env), Some(PathBuf::from("/var/cache/recimpute/models")));
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

/// The cache directory, or `None` when none of its variables (not even `HOME`) is set.
pub fn cache_dir() -> Option<PathBuf> {
    cache_dir_from(&|name| std::env::var_os(name))
}

/// The directory of pretrained models (`cargo xtask fetch-model` writes there, the LLM
/// imputer and the tests read there), or `None` when no variable locates it.
pub fn models_dir() -> Option<PathBuf> {
    models_dir_from(&|name| std::env::var_os(name))
}

/// [`cache_dir`] with the environment given as a lookup.
pub fn cache_dir_from(var: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set("RECIMPUTE_CACHE")
        .or_else(|| set("XDG_CACHE_HOME").map(|d| d.join("recimpute")))
        .or_else(|| set("HOME").map(|h| h.join(".cache").join("recimpute")))
}

/// [`models_dir`] with the environment given as a lookup.
pub fn models_dir_from(var: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    match var("RECIMPUTE_MODELS").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => cache_dir_from(var).map(|c| c.join("models")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn the_first_variable_set_wins() {
        let home = [("HOME", "/h")];
        assert_eq!(cache_dir_from(&env(&home)), Some(PathBuf::from("/h/.cache/recimpute")));
        assert_eq!(models_dir_from(&env(&home)), Some(PathBuf::from("/h/.cache/recimpute/models")));
        let xdg = [("HOME", "/h"), ("XDG_CACHE_HOME", "/x")];
        assert_eq!(models_dir_from(&env(&xdg)), Some(PathBuf::from("/x/recimpute/models")));
        let own = [("HOME", "/h"), ("XDG_CACHE_HOME", "/x"), ("RECIMPUTE_CACHE", "/c")];
        assert_eq!(cache_dir_from(&env(&own)), Some(PathBuf::from("/c")));
        assert_eq!(models_dir_from(&env(&own)), Some(PathBuf::from("/c/models")));
        let models = [("RECIMPUTE_CACHE", "/c"), ("RECIMPUTE_MODELS", "/m")];
        assert_eq!(models_dir_from(&env(&models)), Some(PathBuf::from("/m")));
        // Empty means unset.
        let empty = [("XDG_CACHE_HOME", ""), ("HOME", "/h"), ("RECIMPUTE_MODELS", "")];
        assert_eq!(models_dir_from(&env(&empty)), Some(PathBuf::from("/h/.cache/recimpute/models")));
        assert_eq!(models_dir_from(&env(&[])), None);
    }
}
