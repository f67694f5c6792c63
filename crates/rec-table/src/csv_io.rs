//! Reading and writing tables as CSV, with kind inference and errors that name the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::delimiter::{Delimiter, RecordWriter};
use crate::error::{Error, Result};
use crate::infer::{infer_kind, InferOptions};
use crate::schema::{ColumnKind, ColumnSpec, Schema};
use crate::table::{build_array, format_number, Table};
use crate::value::Value;

/// The byte-order mark a UTF-8 file may begin with (skipped when read).
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The text of an observed, empty set-valued cell (an empty field is a missing cell).
pub const EMPTY_SET: &str = "[]";

/// Text encoding of a CSV file (`"utf-8"` or `"latin-1"` in configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Encoding {
    /// UTF-8 (a leading byte-order mark is skipped); invalid bytes are an error.
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// ISO-8859-1 (Latin-1), as in the MovieLens files: every byte is one character.
    #[serde(rename = "latin-1", alias = "latin1")]
    Latin1,
}

impl std::str::FromStr for Encoding {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "latin-1" | "latin1" | "iso-8859-1" => Ok(Encoding::Latin1),
            _ => Err(Error::InvalidInput(format!("encoding {s:?}: expected utf-8 or latin-1"))),
        }
    }
}

impl Encoding {
    /// The encoding of a file whose first bytes are `sample`: UTF-8 when they are valid UTF-8
    /// (a character cut by the sample's end is fine), else Latin-1.
    pub fn sniff(sample: &[u8]) -> Encoding {
        match std::str::from_utf8(sample) {
            Err(e) if e.error_len().is_some() => Encoding::Latin1,
            _ => Encoding::Utf8,
        }
    }
}

/// How to read and write CSV files.
///
/// ```
/// use rec_table::{ColumnKind, CsvOptions};
/// use rec_table::Delimiter;
/// let opts = CsvOptions::default()
///     .with_delimiter(b';')
///     .with_kind("zip", ColumnKind::Categorical);
/// assert_eq!(opts.delimiter, Delimiter::Byte(b';'));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// Field delimiter (default `,`; several characters such as `::` are allowed).
    pub delimiter: Delimiter,
    /// Whether the first row names the columns (default `true`); if not, columns are
    /// called `c0`, `c1`, ...
    pub has_header: bool,
    /// Cell texts read as missing (default: empty, `NA`, `N/A`, `NaN`, `nan`, `null`, `NULL`).
    /// A category spelled like one of them cannot be stored in CSV.
    pub missing_tokens: Vec<String>,
    /// Separator of the elements of a set-valued cell (default `|`).
    pub set_separator: char,
    /// Kinds forced for some columns, overriding inference.
    pub kinds: BTreeMap<String, ColumnKind>,
    /// The full schema, when known: the header must then match it exactly.
    pub schema: Option<Schema>,
    /// Rules used to infer the kinds of the other columns.
    pub infer: InferOptions,
    /// The file's text encoding.
    pub encoding: Encoding,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: Delimiter::Byte(b','),
            has_header: true,
            missing_tokens: ["", "NA", "N/A", "NaN", "nan", "null", "NULL"].map(String::from).to_vec(),
            set_separator: '|',
            kinds: BTreeMap::new(),
            schema: None,
            infer: InferOptions::default(),
            encoding: Encoding::Utf8,
        }
    }
}

impl CsvOptions {
    /// Sets the field delimiter.
    pub fn with_delimiter(mut self, delimiter: impl Into<Delimiter>) -> Self {
        self.delimiter = delimiter.into();
        self
    }

    /// Sets whether the first row is a header.
    pub fn with_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }

    /// Forces the kind of one column.
    pub fn with_kind(mut self, column: impl Into<String>, kind: ColumnKind) -> Self {
        self.kinds.insert(column.into(), kind);
        self
    }

    /// Requires the file to have exactly this schema.
    pub fn with_schema(mut self, schema: Schema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Sets the text encoding.
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Sets the texts read as missing.
    pub fn with_missing_tokens<S: Into<String>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.missing_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    fn is_missing(&self, text: &str) -> bool {
        self.missing_tokens.iter().any(|t| t == text)
    }
}

/// Parses the text of an observed cell as a value of `kind`; `None` if it does not fit.
pub fn parse_cell(text: &str, kind: ColumnKind, set_separator: char) -> Option<Value> {
    match kind {
        ColumnKind::Numeric => text.trim().parse::<f64>().ok().filter(|x| x.is_finite()).map(Value::Number),
        ColumnKind::Categorical | ColumnKind::Id => Some(Value::Category(text.to_string())),
        ColumnKind::Text => Some(Value::Text(text.to_string())),
        ColumnKind::SetValued if text.trim() == EMPTY_SET => Some(Value::Set(Vec::new())),
        ColumnKind::SetValued => Some(Value::Set(
            text.split(set_separator).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        )),
    }
}

/// Reads a CSV file into a table (see [`CsvOptions`] for inference and missing cells).
pub fn read_csv(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Table> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_csv_bytes(&bytes, path, opts)
}

/// Reads CSV from bytes; `source` names them in error messages.
pub fn read_csv_bytes(bytes: &[u8], source: impl AsRef<Path>, opts: &CsvOptions) -> Result<Table> {
    let source = source.as_ref().to_path_buf();
    let (names, records) = read_records(bytes, &source, opts)?;
    let names = header_names(&names, &source)?;
    let schema = resolve_schema(&names, &records, opts, &source)?;
    table_from_records(schema, &records, opts, &source)
}

/// The column names of a header as written (trimmed); a file without any is empty.
pub(crate) fn header_names<S: AsRef<str>>(header: &[S], source: &Path) -> Result<Vec<String>> {
    let names: Vec<String> = header.iter().map(|h| h.as_ref().trim().to_string()).collect();
    if names.is_empty() || names.iter().all(String::is_empty) {
        return Err(Error::EmptyFile { path: source.to_path_buf() });
    }
    Ok(names)
}

/// A header that names `schema`'s columns in order, or an error showing both.
pub(crate) fn check_header(names: &[String], schema: &Schema, source: &Path) -> Result<()> {
    let expected: Vec<&str> = schema.names();
    if expected != names.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(Error::SchemaMismatch(format!(
            "{}: the header is ({}) but the schema expects ({})",
            source.display(),
            names.join(", "),
            expected.join(", ")
        )));
    }
    Ok(())
}

/// The table of `records` read with `schema`: missing-value tokens as missing cells, every
/// other cell parsed as its column's kind (an error names the file, line and column).
pub(crate) fn table_from_records(schema: Schema, records: &Records, opts: &CsvOptions, source: &Path) -> Result<Table> {
    let mut arrays = Vec::with_capacity(schema.len());
    for (j, spec) in schema.columns().iter().enumerate() {
        let mut values = Vec::with_capacity(records.len());
        for (line, rec) in records {
            let text = &rec[j];
            if opts.is_missing(text) {
                values.push(None);
                continue;
            }
            let value = parse_cell(text, spec.kind, opts.set_separator).ok_or_else(|| Error::Kind {
                location: format!("{}: line {line}: ", source.display()),
                column: spec.name.clone(),
                value: text.to_string(),
                expected: match spec.kind {
                    ColumnKind::Numeric if text.trim().parse::<f64>().is_ok() => {
                        "a finite number (add it to the missing-value tokens to read it as a missing cell)".into()
                    }
                    kind => kind.expectation().into(),
                },
            })?;
            values.push(Some(value));
        }
        arrays.push(build_array(spec, values.iter().map(Option::as_ref))?);
    }
    Table::from_arrays(schema, arrays, records.len())
}

/// The records of a CSV file, each with its line number.
pub(crate) type Records = Vec<(u64, csv::StringRecord)>;

/// The header (as written, or `c0`, `c1`, ... without one) and the records, decoded as `opts`
/// says.
fn read_records(bytes: &[u8], source: &Path, opts: &CsvOptions) -> Result<(Vec<String>, Records)> {
    let source = source.to_path_buf();
    let decoded;
    let bytes = match opts.encoding {
        Encoding::Utf8 => bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes),
        Encoding::Latin1 => {
            decoded = bytes.iter().map(|&b| b as char).collect::<String>();
            decoded.as_bytes()
        }
    };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::EmptyFile { path: source });
    }
    check_quotes(bytes, &source)?;
    let bytes = opts.delimiter.translate(bytes, &source)?;
    let csv_err = |e: csv::Error| csv_error(&source, e);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(opts.delimiter.csv_byte())
        .has_headers(opts.has_header)
        .flexible(false)
        .from_reader(&*bytes);
    let mut records = Vec::new();
    for rec in reader.byte_records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        records.push((line, string_record(rec, line, &source)?));
    }
    let names: Vec<String> = if opts.has_header {
        reader.headers().map_err(csv_err)?.iter().map(String::from).collect()
    } else {
        (0..records.first().map_or(0, |(_, r)| r.len())).map(|i| format!("c{i}")).collect()
    };
    Ok((names, records))
}

/// A record as text, or an error naming the line and field that is not UTF-8.
pub(crate) fn string_record(record: csv::ByteRecord, line: u64, source: &Path) -> Result<csv::StringRecord> {
    csv::StringRecord::from_byte_record(record).map_err(|e| Error::Csv {
        path: source.to_path_buf(),
        line,
        message: format!(
            "invalid UTF-8 in field {} (read it as Latin-1 if the file is ISO-8859-1: --encoding latin-1)",
            e.utf8_error().field() + 1
        ),
    })
}

/// Writes `patched` as CSV to `output` (atomically), copying the text of every cell that
/// `replace(row, column)` leaves alone from `input`, the CSV file `patched` was made from: those
/// cells come back exactly as they were read (`66.0` stays `66.0`, a 19-digit integer keeps
/// every digit, a missing-value token stays as spelled); only the replaced cells get
/// `patched`'s text (empty when missing). `rows` lists the rows of `input` that `patched` holds,
/// in order (`None`: all of them, e.g. not after case-wise deletion). The header is copied too;
/// quoting follows the CSV writer, and a Latin-1 input comes out as UTF-8.
///
/// ```
/// use rec_table::{read_csv, write_csv_patched, Cell, CsvOptions, Value};
///
/// let dir = tempfile::tempdir()?;
/// let (input, output) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
/// std::fs::write(&input, "id,age,ts\na,66.0,1700000000123456789\nb,,1700000000123456790\n")?;
/// let opts = CsvOptions::default();
/// let table = read_csv(&input, &opts)?;
/// let filled = table.with_filled([(Cell { row: 1, col: 1 }, Value::Number(66.0))])?;
/// write_csv_patched(&input, &opts, &filled, None, &|r, c| table.is_missing(r, c), &output)?;
/// assert_eq!(std::fs::read_to_string(&output)?, "id,age,ts\na,66.0,1700000000123456789\nb,66,1700000000123456790\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_csv_patched(
    input: &Path,
    opts: &CsvOptions,
    patched: &Table,
    rows: Option<&[usize]>,
    replace: &dyn Fn(usize, usize) -> bool,
    output: &Path,
) -> Result<()> {
    let bytes = std::fs::read(input).map_err(|e| Error::io(input, e))?;
    let (names, records) = read_records(&bytes, input, opts)?;
    if names.len() != patched.num_columns() {
        return Err(Error::InvalidInput(format!(
            "{}: {} columns, but the table to write has {}",
            input.display(),
            names.len(),
            patched.num_columns()
        )));
    }
    let mut writer = RecordWriter::new(&opts.delimiter);
    if opts.has_header {
        writer.write(&names)?;
    }
    write_patched_records(&mut writer, &records, patched, rows, replace, opts, input, 0)?;
    crate::atomic::write_bytes_atomic(output, &writer.finish()?)
}

/// Writes row `rows[i]` of `records` (all rows when `None`) for each row `i` of `patched`: the
/// text of every cell that `replace(row, column)` leaves alone as read, the others from
/// `patched` (an error counts rows from `rows_before`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_patched_records(
    writer: &mut RecordWriter,
    records: &Records,
    patched: &Table,
    rows: Option<&[usize]>,
    replace: &dyn Fn(usize, usize) -> bool,
    opts: &CsvOptions,
    input: &Path,
    rows_before: usize,
) -> Result<()> {
    let all: Vec<usize>;
    let rows = match rows {
        Some(rows) => rows,
        None => {
            all = (0..records.len()).collect();
            &all
        }
    };
    if rows.len() != patched.num_rows() {
        return Err(Error::InvalidInput(format!(
            "{} rows of {} are listed, but the table to write has {}",
            rows.len(),
            input.display(),
            patched.num_rows()
        )));
    }
    let columns: Vec<Vec<Option<Value>>> = (0..patched.num_columns()).map(|c| patched.column_values(c)).collect();
    for (out_row, &row) in rows.iter().enumerate() {
        let (line, record) = records.get(row).ok_or(Error::RowOutOfRange { row, rows: records.len() })?;
        if record.len() != columns.len() {
            return Err(Error::InvalidInput(format!(
                "{}: line {line}: {} fields, but the table to write has {} columns",
                input.display(),
                record.len(),
                columns.len()
            )));
        }
        let mut fields = Vec::with_capacity(columns.len());
        for (col, values) in columns.iter().enumerate() {
            if replace(row, col) {
                fields.push(checked_text(values[out_row].as_ref(), patched, rows_before + out_row, col, opts)?);
            } else {
                fields.push(record[col].to_string());
            }
        }
        writer.write(&fields)?;
    }
    Ok(())
}

/// The CSV text of one cell, refusing what could not be read back as written: a set element
/// holding the set separator, or a value spelled like a missing-value token.
fn checked_text(v: Option<&Value>, table: &Table, row: usize, col: usize, opts: &CsvOptions) -> Result<String> {
    if let Some(Value::Set(items)) = v {
        if let Some(bad) = items.iter().find(|i| i.contains(opts.set_separator)) {
            return Err(Error::Kind {
                location: format!("row {row}: "),
                column: table.schema().columns()[col].name.clone(),
                value: bad.clone(),
                expected: format!("a set element without the separator '{}'", opts.set_separator),
            });
        }
    }
    let text = cell_text(v, opts.set_separator);
    if v.is_some() && opts.is_missing(&text) {
        return Err(Error::Kind {
            location: format!("row {row}: "),
            column: table.schema().columns()[col].name.clone(),
            value: text,
            expected: "a value that is not a missing-cell token".into(),
        });
    }
    Ok(text)
}

pub(crate) fn resolve_schema(
    names: &[String],
    records: &[(u64, csv::StringRecord)],
    opts: &CsvOptions,
    source: &Path,
) -> Result<Schema> {
    if let Some(schema) = &opts.schema {
        check_header(names, schema, source)?;
        return Ok(schema.clone());
    }
    for forced in opts.kinds.keys() {
        if !names.contains(forced) {
            return Err(Error::UnknownColumn { name: forced.clone(), available: names.join(", ") });
        }
    }
    let specs = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let kind = opts.kinds.get(name).copied().unwrap_or_else(|| {
                let observed = records.iter().map(|(_, r)| &r[j]).filter(|t| !opts.is_missing(t));
                infer_kind(name, observed, opts.set_separator, &opts.infer)
            });
            ColumnSpec::new(name.clone(), kind)
        })
        .collect();
    Schema::try_new(specs).map_err(|e| match e {
        Error::InvalidInput(msg) => Error::Csv { path: source.to_path_buf(), line: 1, message: msg },
        other => other,
    })
}

/// RFC 4180 quoting: every `"` either opens/closes a quoted field or is doubled inside one, so
/// a file's quotes balance. An unbalanced quote would otherwise swallow the rest of the file.
fn check_quotes(bytes: &[u8], source: &Path) -> Result<()> {
    let mut quotes = Quotes::default();
    bytes.iter().for_each(|&b| quotes.feed(b));
    quotes.check_closed(source)
}

/// Where a file's text stands with its double quotes, fed byte by byte: inside a quoted field
/// or not, on which line, and the line of the quote that opened the field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quotes {
    pub(crate) inside: bool,
    pub(crate) line: u64,
    opened_at: u64,
}

impl Default for Quotes {
    fn default() -> Self {
        Quotes { inside: false, line: 1, opened_at: 0 }
    }
}

impl Quotes {
    pub(crate) fn feed(&mut self, b: u8) {
        match b {
            b'"' => {
                self.inside = !self.inside;
                if self.inside {
                    self.opened_at = self.line;
                }
            }
            b'\n' => self.line += 1,
            _ => {}
        }
    }

    /// At the end of the text: an error naming the line of a quote never closed.
    pub(crate) fn check_closed(&self, source: &Path) -> Result<()> {
        if self.inside {
            return Err(Error::Csv {
                path: source.to_path_buf(),
                line: self.opened_at,
                message: "a quote opened on this line is never closed".into(),
            });
        }
        Ok(())
    }
}

pub(crate) fn csv_error(source: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("the row has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => {
            format!(
                "invalid UTF-8 in field {} (read it as Latin-1 if the file is ISO-8859-1: --encoding latin-1)",
                err.field() + 1
            )
        }
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    };
    Error::Csv { path: source.to_path_buf(), line, message }
}

/// The text of one cell as written to CSV; missing cells are empty.
pub fn cell_text(value: Option<&Value>, set_separator: char) -> String {
    match value {
        None => String::new(),
        Some(Value::Number(x)) => format_number(*x),
        Some(Value::Category(s) | Value::Text(s)) => s.clone(),
        Some(Value::Set(items)) if items.is_empty() => EMPTY_SET.to_string(),
        Some(Value::Set(items)) => items.join(&set_separator.to_string()),
    }
}

/// Writes a table as CSV, atomically (temporary file, then rename).
///
/// A string cell equal to one of the missing tokens, or a set element containing the set
/// separator, could not be read back faithfully: both are refused with an error.
pub fn write_csv(table: &Table, path: impl AsRef<Path>, opts: &CsvOptions) -> Result<()> {
    let path: PathBuf = path.as_ref().to_path_buf();
    let bytes = csv_bytes(table, opts)?;
    crate::atomic::write_bytes_atomic(&path, &bytes)
}

/// The CSV text of a table, as [`write_csv`] writes it.
pub fn csv_bytes(table: &Table, opts: &CsvOptions) -> Result<Vec<u8>> {
    let mut writer = RecordWriter::new(&opts.delimiter);
    if opts.has_header {
        writer.write(&table.schema().names())?;
    }
    let columns: Vec<Vec<Option<Value>>> = (0..table.num_columns()).map(|c| table.column_values(c)).collect();
    for row in 0..table.num_rows() {
        let mut record = Vec::with_capacity(columns.len());
        for (col, values) in columns.iter().enumerate() {
            record.push(checked_text(values[row].as_ref(), table, row, col, opts)?);
        }
        writer.write(&record)?;
    }
    writer.finish()
}
