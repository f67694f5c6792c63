//! How to read a table file, as configs and command lines say it: forced kinds, the cell texts
//! that mean missing, and the delimiter (sniffed from the file when not given).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csv_io::{CsvOptions, Encoding};
use crate::delimiter::Delimiter;
use crate::error::{Error, Result};
use crate::io::{is_tsv, read_table, Format};
use crate::schema::ColumnKind;
use crate::table::Table;

/// The delimiters [`sniff_delimiter`] chooses among, in order of preference on a tie.
pub const SNIFFED_DELIMITERS: [&str; 5] = [",", ";", "\t", "|", "::"];

/// The settings of reading one table file that a user gives (a config's `read` object, or the
/// command line's `--kind`, `--na-values` and `--delimiter`).
///
/// ```
/// use rec_table::{ColumnKind, ReadSettings};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("users.csv");
/// std::fs::write(&path, "country;zip;age\nNA;01234;31\nFR;75001;\n")?;
/// let settings = ReadSettings::default().with_kind("zip", ColumnKind::Categorical).with_na_values([""]);
/// let table = settings.read(&path)?; // `;` sniffed; `NA` is Namibia, not a gap
/// assert_eq!(table.num_columns(), 3);
/// assert_eq!(table.missing_per_column(), [0, 0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadSettings {
    /// Kinds forced on columns, overriding inference.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, ColumnKind>,
    /// Cell texts read as missing; `None` keeps [`CsvOptions`]' list (empty, `NA`, `N/A`,
    /// `NaN`, `nan`, `null`, `NULL`). `[""]` makes only the empty cell missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub na_values: Option<Vec<String>>,
    /// The field delimiter of CSV files; `None` sniffs it from the first lines (comma,
    /// semicolon, tab, pipe or `::`; `.tsv` files are tab-separated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<Delimiter>,
    /// The text encoding of CSV files; `None` sniffs it from the first 64 KiB (UTF-8 when they
    /// are valid UTF-8, else Latin-1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// The first line of a CSV file is data, not column names (columns are then called `c0`,
    /// `c1`, ...; outputs are written without a header too).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_header: bool,
}

impl ReadSettings {
    /// Forces the kind of one column.
    pub fn with_kind(mut self, column: impl Into<String>, kind: ColumnKind) -> Self {
        self.kinds.insert(column.into(), kind);
        self
    }

    /// Sets the cell texts read as missing.
    pub fn with_na_values<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.na_values = Some(values.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the delimiter (instead of sniffing it).
    pub fn with_delimiter(mut self, delimiter: impl Into<Delimiter>) -> Self {
        self.delimiter = Some(delimiter.into());
        self
    }

    /// Sets the encoding (instead of sniffing it).
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = Some(encoding);
        self
    }

    /// The CSV options for `path`: these settings over the defaults, with the delimiter and the
    /// encoding sniffed from the file's first 64 KiB when not set (Parquet files are not
    /// opened).
    pub fn csv_options(&self, path: &Path) -> Result<CsvOptions> {
        let mut opts = CsvOptions { kinds: self.kinds.clone(), has_header: !self.no_header, ..CsvOptions::default() };
        if let Some(values) = &self.na_values {
            opts.missing_tokens = values.clone();
        }
        if let Some(d) = &self.delimiter {
            opts.delimiter = d.clone();
        }
        if let Some(e) = self.encoding {
            opts.encoding = e;
        }
        let sniff_delimiter_too = self.delimiter.is_none() && !is_tsv(path);
        if (sniff_delimiter_too || self.encoding.is_none()) && Format::from_path(path)? == Format::Csv {
            let mut sample = Vec::with_capacity(64 * 1024);
            std::fs::File::open(path)
                .and_then(|f| f.take(64 * 1024).read_to_end(&mut sample))
                .map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
            if self.encoding.is_none() {
                opts.encoding = Encoding::sniff(&sample);
            }
            if let Some(d) = sniff_delimiter(&sample).filter(|_| sniff_delimiter_too) {
                opts.delimiter = d;
            }
        }
        Ok(opts)
    }

    /// Reads `path` (CSV or Parquet by its extension) with these settings.
    pub fn read(&self, path: &Path) -> Result<Table> {
        read_table(path, &self.csv_options(path)?)
    }
}

/// The delimiter of a CSV sample: the candidate of [`SNIFFED_DELIMITERS`] that splits the
/// header into the most fields and every other complete line of the sample into as many (text
/// in double quotes ignored); `None` when no candidate splits the header.
///
/// ```
/// use rec_table::{sniff_delimiter, Delimiter};
/// assert_eq!(sniff_delimiter(b"a;b;c\n1;2,5;3\n"), Some(Delimiter::Byte(b';')));
/// assert_eq!(sniff_delimiter(b"title,genres\nHeat,Action|Crime\n"), Some(Delimiter::Byte(b',')));
/// // MovieLens 1M's movies.dat: no header, `::` between fields, commas in some titles.
/// let dat = b"1::Toy Story (1995)::Animation|Comedy\n11::American President, The (1995)::Drama\n";
/// assert_eq!(sniff_delimiter(dat), Some(Delimiter::Multi("::".into())));
/// assert_eq!(sniff_delimiter(b"one column\n1\n"), None);
/// ```
pub fn sniff_delimiter(sample: &[u8]) -> Option<Delimiter> {
    // A last line cut by the sample's end is left out.
    let complete = match sample.iter().rposition(|&b| b == b'\n') {
        Some(end) if end + 1 < sample.len() => &sample[..end],
        _ => sample,
    };
    let lines: Vec<&[u8]> =
        complete.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).take(50).collect();
    let header = lines.first()?;
    let mut best: Option<(bool, usize, Delimiter)> = None;
    for d in SNIFFED_DELIMITERS.iter().filter_map(|d| Delimiter::parse(d).ok()) {
        let n = d.count_in(header);
        if n == 0 {
            continue;
        }
        let consistent = lines[1..].iter().all(|l| d.count_in(l) == n);
        // Consistent candidates beat inconsistent ones; then more fields; then list order.
        if best.as_ref().is_none_or(|(c, m, _)| (consistent, n) > (*c, *m)) {
            best = Some((consistent, n, d));
        }
    }
    best.map(|(_, _, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_prefers_the_consistent_delimiter() {
        let byte = |b: u8| Some(Delimiter::Byte(b));
        assert_eq!(sniff_delimiter(b"a\tb\tc\n1\t2\t3\n"), byte(b'\t'));
        assert_eq!(sniff_delimiter(b"a|b\n1|2\n"), byte(b'|'));
        // Commas inside quotes do not count; the semicolons are consistent.
        assert_eq!(sniff_delimiter(b"name;city\n\"Doe, J\";Paris\n\"Roe, K\";Lyon\n"), byte(b';'));
        // Set-valued cells with pipes in a comma file: the comma wins.
        assert_eq!(sniff_delimiter(b"id,genres\n1,A|B|C\n2,D\n"), byte(b','));
        // A line cut by the sample's end is ignored.
        assert_eq!(sniff_delimiter(b"a;b\n1;2\n3"), byte(b';'));
        // ML-1M's users.dat: `::`, no header; the zip code's dash is no delimiter.
        assert_eq!(
            sniff_delimiter(b"1::F::1::10::48067\n2::M::56::16::70072-1234\n"),
            Some(Delimiter::Multi("::".into()))
        );
        assert_eq!(sniff_delimiter(b""), None);
    }

    #[test]
    fn settings_read_files_and_name_bad_delimiters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a\tb\n1\tx\n").unwrap();
        let table = ReadSettings::default().read(&path).unwrap();
        assert_eq!(table.schema().names(), ["a", "b"]);
        // A delimiter given wins over sniffing.
        let one = ReadSettings::default().with_delimiter(b',').read(&path).unwrap();
        assert_eq!(one.num_columns(), 1);
        let err = Delimiter::parse("→").unwrap_err();
        assert!(err.to_string().contains("only ASCII"), "{err}");
        let json: ReadSettings = serde_json::from_str(r#"{"kinds": {"b": "text"}, "delimiter": "\t"}"#).unwrap();
        assert_eq!(json.delimiter, Some(Delimiter::Byte(b'\t')));
        assert!(serde_json::from_str::<ReadSettings>(r#"{"delimiter": "→"}"#).is_err());
        // A headerless file: the first line is data.
        let headerless = ReadSettings { no_header: true, ..ReadSettings::default() }.read(&path).unwrap();
        assert_eq!(headerless.schema().names(), ["c0", "c1"]);
        assert_eq!(headerless.num_rows(), 2);
        assert!(serde_json::from_str::<ReadSettings>(r#"{"delim": ","}"#).is_err());
    }

    #[test]
    fn a_latin1_dat_file_with_double_colons_reads_as_sniffed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("movies.dat");
        // ISO-8859-1 bytes: 0xE9 is `é`.
        let bytes =
            b"1::Toy Story (1995)::Animation|Comedy\n2::Cit\xE9 des enfants perdus, La (1995)::Adventure|Sci-Fi\n";
        std::fs::write(&path, bytes).unwrap();
        let settings = ReadSettings { no_header: true, ..ReadSettings::default() };
        let opts = settings.csv_options(&path).unwrap();
        assert_eq!((opts.delimiter.clone(), opts.encoding), (Delimiter::Multi("::".into()), Encoding::Latin1));
        let table = settings.read(&path).unwrap();
        assert_eq!(table.num_columns(), 3);
        assert_eq!(table.value(1, 1), Some(crate::Value::Category("Cité des enfants perdus, La (1995)".into())));
        // Told UTF-8, the same file is an error that says how to read it.
        let err = settings.clone().with_encoding(Encoding::Utf8).read(&path).unwrap_err().to_string();
        assert!(err.contains("movies.dat") && err.contains("line 2") && err.contains("latin-1"), "{err}");
    }
}
