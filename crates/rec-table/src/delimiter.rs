//! Field delimiters: one byte (`,`, `;`, tab, `|`) as the `csv` crate reads them, or a run of
//! several characters such as MovieLens 1M's `::`, read by translating every run outside quotes
//! into one byte that the file does not hold, and written by a small writer of our own.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The byte a delimiter of several characters stands for while the `csv` crate reads the file
/// (ASCII unit separator: no text file of a table holds it).
pub(crate) const UNIT_SEPARATOR: u8 = 0x1F;

/// The error for a file that holds [`UNIT_SEPARATOR`] itself (on `line`), which a delimiter of
/// several characters is read as.
pub(crate) fn unit_separator_in_text(source: &Path, line: u64) -> Error {
    Error::Csv {
        path: source.to_path_buf(),
        line,
        message: "holds the control byte 0x1F, which a delimiter of several characters cannot be read beside".into(),
    }
}

/// A field delimiter.
///
/// ```
/// use rec_table::Delimiter;
/// assert_eq!(Delimiter::parse(";")?, Delimiter::Byte(b';'));
/// assert_eq!(Delimiter::parse("tab")?, Delimiter::Byte(b'\t'));
/// assert_eq!(Delimiter::parse("::")?, Delimiter::Multi("::".into()));
/// assert!(Delimiter::parse("").is_err());
/// assert!(Delimiter::parse("→").is_err());
/// # Ok::<(), rec_table::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Delimiter {
    /// One ASCII byte.
    Byte(u8),
    /// Two or more ASCII characters, e.g. `::`; build it with [`Delimiter::parse`], which checks
    /// it.
    Multi(String),
}

impl Default for Delimiter {
    fn default() -> Self {
        Delimiter::Byte(b',')
    }
}

impl From<u8> for Delimiter {
    fn from(b: u8) -> Self {
        Delimiter::Byte(b)
    }
}

impl TryFrom<String> for Delimiter {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Delimiter::parse(&s)
    }
}

impl From<Delimiter> for String {
    fn from(d: Delimiter) -> String {
        d.to_string()
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delimiter::Byte(b) => write!(f, "{}", char::from(*b)),
            Delimiter::Multi(s) => f.write_str(s),
        }
    }
}

impl Delimiter {
    /// A delimiter from its text: one ASCII character, `tab` (or `\t`), or several ASCII
    /// characters such as `::`. Quotes, line breaks and non-ASCII characters are refused.
    pub fn parse(text: &str) -> Result<Self> {
        let text = match text {
            "tab" | "\\t" => "\t",
            t => t,
        };
        let bad = |why: &str| Error::InvalidInput(format!("delimiter {text:?}: {why}"));
        if text.is_empty() {
            return Err(bad("empty"));
        }
        if !text.is_ascii() {
            return Err(bad("only ASCII characters can delimit fields"));
        }
        if text.bytes().any(|b| matches!(b, b'"' | b'\n' | b'\r' | UNIT_SEPARATOR)) {
            return Err(bad("quotes and line breaks cannot delimit fields"));
        }
        Ok(match text.as_bytes() {
            [b] => Delimiter::Byte(*b),
            _ => Delimiter::Multi(text.to_string()),
        })
    }

    /// The byte the `csv` crate splits on (for a delimiter of several characters, the byte it is
    /// translated into).
    pub(crate) fn csv_byte(&self) -> u8 {
        match self {
            Delimiter::Byte(b) => *b,
            Delimiter::Multi(_) => UNIT_SEPARATOR,
        }
    }

    /// The delimiter's bytes.
    fn as_bytes(&self) -> &[u8] {
        match self {
            Delimiter::Byte(b) => std::slice::from_ref(b),
            Delimiter::Multi(s) => s.as_bytes(),
        }
    }

    /// Where each run of the delimiter starts in `bytes`, text in double quotes skipped.
    fn runs<'a>(&'a self, bytes: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
        let d = self.as_bytes();
        let (mut i, mut quoted) = (0, false);
        std::iter::from_fn(move || {
            while i < bytes.len() {
                if bytes[i] == b'"' {
                    quoted = !quoted;
                } else if !quoted && bytes[i..].starts_with(d) {
                    i += d.len();
                    return Some(i - d.len());
                }
                i += 1;
            }
            None
        })
    }

    /// `bytes` as the `csv` crate can read them: unchanged for one byte; else every run of the
    /// delimiter outside double quotes becomes [`UNIT_SEPARATOR`] (line breaks are kept, so line
    /// numbers stay right).
    pub(crate) fn translate<'a>(&self, bytes: &'a [u8], source: &Path) -> Result<std::borrow::Cow<'a, [u8]>> {
        let Delimiter::Multi(d) = self else {
            return Ok(std::borrow::Cow::Borrowed(bytes));
        };
        if let Some(at) = bytes.iter().position(|&b| b == UNIT_SEPARATOR) {
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
            return Err(unit_separator_in_text(source, line));
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut from = 0;
        for at in self.runs(bytes) {
            out.extend_from_slice(&bytes[from..at]);
            out.push(UNIT_SEPARATOR);
            from = at + d.len();
        }
        out.extend_from_slice(&bytes[from..]);
        Ok(std::borrow::Cow::Owned(out))
    }

    /// How many fields this delimiter cuts `line` into, minus one (text in double quotes
    /// ignored).
    pub(crate) fn count_in(&self, line: &[u8]) -> usize {
        self.runs(line).count()
    }
}

/// Writes records with a [`Delimiter`]: through the `csv` crate for one byte; for several
/// characters, fields are joined by hand and quoted when they hold a quote, a line break, the
/// delimiter, or one of its characters at either end (`a:` before `::` would read back as
/// `a` and `:`).
pub(crate) enum RecordWriter {
    Csv(Box<csv::Writer<Vec<u8>>>),
    Multi { delimiter: String, out: Vec<u8> },
}

impl RecordWriter {
    pub(crate) fn new(delimiter: &Delimiter) -> Self {
        match delimiter {
            Delimiter::Byte(b) => {
                RecordWriter::Csv(Box::new(csv::WriterBuilder::new().delimiter(*b).from_writer(Vec::new())))
            }
            Delimiter::Multi(d) => RecordWriter::Multi { delimiter: d.clone(), out: Vec::new() },
        }
    }

    pub(crate) fn write<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<()> {
        match self {
            RecordWriter::Csv(w) => w
                .write_record(fields.iter().map(|f| f.as_ref()))
                .map_err(|e| Error::InvalidInput(format!("csv writer: {e}"))),
            RecordWriter::Multi { delimiter, out } => {
                let edge = |c: Option<char>| c.is_some_and(|c| delimiter.contains(c));
                for (i, field) in fields.iter().enumerate() {
                    let f = field.as_ref();
                    if i > 0 {
                        out.extend_from_slice(delimiter.as_bytes());
                    }
                    let quote = f.contains(['"', '\n', '\r'])
                        || f.contains(delimiter.as_str())
                        || edge(f.chars().next())
                        || edge(f.chars().last())
                        // One empty field alone on its line would read as a blank line.
                        || (fields.len() == 1 && f.is_empty());
                    if quote {
                        out.push(b'"');
                        out.extend_from_slice(f.replace('"', "\"\"").as_bytes());
                        out.push(b'"');
                    } else {
                        out.extend_from_slice(f.as_bytes());
                    }
                }
                out.push(b'\n');
                Ok(())
            }
        }
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>> {
        match self {
            RecordWriter::Csv(w) => w.into_inner().map_err(|e| Error::InvalidInput(format!("csv writer: {e}"))),
            RecordWriter::Multi { out, .. } => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]
    use super::*;

    #[test]
    fn runs_outside_quotes_are_translated() {
        let d = Delimiter::parse("::").unwrap();
        let out = d.translate(b"1::\"a::b\"::c\n2::x:::y\n", Path::new("f.dat")).unwrap();
        assert_eq!(&*out, b"1\x1F\"a::b\"\x1Fc\n2\x1Fx\x1F:y\n");
        assert_eq!(d.count_in(b"1::\"a::b\"::c"), 2);
        let err = d.translate(b"a::b\nc\x1Fd\n", Path::new("f.dat")).unwrap_err().to_string();
        assert!(err.contains("f.dat") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn the_writer_quotes_what_would_not_read_back() {
        let mut w = RecordWriter::new(&Delimiter::parse("::").unwrap());
        w.write(&["a:", "b::c", "plain", "say \"hi\""]).unwrap();
        assert_eq!(w.finish().unwrap(), b"\"a:\"::\"b::c\"::plain::\"say \"\"hi\"\"\"\n");
    }

    #[test]
    fn serde_spells_delimiters_as_text() {
        let d: Delimiter = serde_json::from_str("\"::\"").unwrap();
        assert_eq!(d, Delimiter::Multi("::".into()));
        assert_eq!(serde_json::to_string(&Delimiter::Byte(b'\t')).unwrap(), "\"\\t\"");
        assert!(serde_json::from_str::<Delimiter>("\"\"").is_err());
    }
}
