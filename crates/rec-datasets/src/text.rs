//! Line-oriented reading of the GroupLens `.data`/`.dat` files.

use std::path::Path;

use crate::error::{Error, Result};

/// The text of `path`: UTF-8 when the bytes are valid UTF-8, else ISO-8859-1 (Latin-1), the
/// encoding of the original MovieLens 100K and 1M files. Latin-1 text with accented letters is
/// almost never valid UTF-8, so a file re-encoded to UTF-8 is read correctly too.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").map(<[u8]>::to_vec).unwrap_or(bytes);
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    })
}

/// The non-empty lines of a text with their 1-based line numbers (a trailing `\r` removed).
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (u64, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// Splits `line` on `sep`, requiring exactly `n` fields; the error names file, line and the
/// separator expected (a file with the wrong separator fails here on its first line).
pub(crate) fn fields<'a>(line: &'a str, sep: &str, n: usize, path: &Path, no: u64) -> Result<Vec<&'a str>> {
    let parts: Vec<&str> = line.split(sep).collect();
    if parts.len() != n {
        let shown = if sep == "\t" { "tab" } else { sep };
        return Err(Error::parse(
            path,
            no,
            format!("expected {n} fields separated by '{shown}' but found {}", parts.len()),
        ));
    }
    Ok(parts)
}

/// Parses a finite number, naming the field in the error.
pub(crate) fn number(text: &str, what: &str, path: &Path, no: u64) -> Result<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| Error::parse(path, no, format!("{what}: {text:?} is not a number")))
}
