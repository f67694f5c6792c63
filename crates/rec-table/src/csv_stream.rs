//! A CSV file read a bounded number of records at a time: the reading of [`read_csv`] (the
//! encoding, a byte-order mark, delimiters of several characters, quoted line breaks, the
//! missing-value tokens, errors that name the line), one batch after another, so that a file
//! of any length streams through a fitted imputer in bounded memory.
//!
//! [`read_csv`]: crate::read_csv

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::csv_io::{
    check_header, csv_error, header_names, resolve_schema, string_record, table_from_records, write_patched_records,
    CsvOptions, Encoding, Quotes, Records, UTF8_BOM,
};
use crate::delimiter::{unit_separator_in_text, Delimiter, RecordWriter, UNIT_SEPARATOR};
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::table::Table;

/// The records of a CSV file as tables of a fixed schema, at most `batch_rows` records each.
///
/// Each batch is what [`read_csv`](crate::read_csv) would give for those records (same cells,
/// same errors with the file's own line numbers), and keeps the records' text, so that
/// [`CsvBatch::patched_bytes`] writes every untouched cell back as it was read. Only one batch
/// and a read buffer are held at a time.
///
/// ```
/// use rec_table::{ColumnKind, ColumnSpec, CsvBatches, CsvOptions, Schema};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("t.csv");
/// std::fs::write(&path, "age,city\n66.0,\"Paris\nnord\"\n,Lyon\n41,\n")?;
/// let schema = Schema::try_new(vec![
///     ColumnSpec::new("age", ColumnKind::Numeric),
///     ColumnSpec::new("city", ColumnKind::Categorical),
/// ])?;
/// let opts = CsvOptions::default();
/// let batches: Vec<_> = CsvBatches::open(&path, &opts, schema, 2)?.collect::<Result<_, _>>()?;
/// assert_eq!(batches.iter().map(|b| b.table().num_rows()).collect::<Vec<_>>(), [2, 1]);
/// assert_eq!(batches[0].table().missing_per_column(), [1, 0]);
/// // Untouched cells come back as read: `66.0` stays `66.0`, the quoted line break stays.
/// let first = &batches[0];
/// let text = first.patched_bytes(first.table(), None, &|_, _| false, &opts, 0)?;
/// assert_eq!(text, b"66.0,\"Paris\nnord\"\n,Lyon\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CsvBatches {
    records: CsvRecords,
    opts: CsvOptions,
    schema: Schema,
    batch_rows: usize,
    done: bool,
}

impl CsvBatches {
    /// Opens `path` and reads its header, which must name `schema`'s columns in order (without a
    /// header the columns are `c0`, `c1`, … as [`read_csv`](crate::read_csv) calls them).
    pub fn open(path: impl AsRef<Path>, opts: &CsvOptions, schema: Schema, batch_rows: usize) -> Result<CsvBatches> {
        if batch_rows == 0 {
            return Err(Error::InvalidInput("batch_rows must be at least 1".into()));
        }
        let records = CsvRecords::open(path.as_ref(), opts)?;
        check_header(&records.names, &schema, &records.source)?;
        Ok(CsvBatches { records, opts: opts.clone(), schema, batch_rows, done: false })
    }

    /// Bytes of the file read so far, for a progress bar (of the text as decoded: a Latin-1
    /// file's accented letters count twice).
    pub fn position(&self) -> u64 {
        self.records.reader.position().byte()
    }

    /// The column names, as the header spells them.
    pub fn names(&self) -> &[String] {
        &self.records.names
    }

    /// The header line as [`write_csv_patched`](crate::write_csv_patched) writes it (nothing
    /// when the file has none).
    pub fn header_bytes(&self) -> Result<Vec<u8>> {
        let mut writer = RecordWriter::new(&self.opts.delimiter);
        if self.opts.has_header {
            writer.write(&self.records.names)?;
        }
        writer.finish()
    }

    fn next_batch(&mut self) -> Result<Option<CsvBatch>> {
        let mut records: Records = Vec::with_capacity(self.batch_rows.min(1 << 16));
        while records.len() < self.batch_rows {
            match self.records.next_record()? {
                Some(record) => records.push(record),
                None => break,
            }
        }
        if records.is_empty() {
            return Ok(None);
        }
        let source = &self.records.source;
        let table = table_from_records(self.schema.clone(), &records, &self.opts, source)?;
        Ok(Some(CsvBatch { table, records, source: source.clone() }))
    }
}

/// The records of a CSV file one at a time, each with its line number, read and checked as
/// [`read_csv`](crate::read_csv) reads them (no kinds yet: every cell is text).
struct CsvRecords {
    reader: csv::Reader<Decoded<BufReader<File>>>,
    source: PathBuf,
    /// The column names (trimmed), or `c0`, `c1`, … for a file without a header.
    names: Vec<String>,
    /// A record read ahead (the first one, when the file has no header).
    ahead: Option<(u64, csv::StringRecord)>,
}

impl CsvRecords {
    fn open(source: &Path, opts: &CsvOptions) -> Result<CsvRecords> {
        let file = File::open(source).map_err(|e| Error::io(source, e))?;
        let decoded = Decoded::new(BufReader::with_capacity(1 << 16, file), opts, source);
        let reader = csv::ReaderBuilder::new()
            .delimiter(opts.delimiter.csv_byte())
            .has_headers(opts.has_header)
            .flexible(false)
            .from_reader(decoded);
        let mut records = CsvRecords { reader, source: source.to_path_buf(), names: Vec::new(), ahead: None };
        let header: Vec<String> = if opts.has_header {
            let header = records.reader.byte_headers().cloned();
            let header = header.map_err(|e| records.error(e))?;
            string_record(header, 1, &records.source)?.iter().map(String::from).collect()
        } else {
            records.ahead = records.next_record()?;
            (0..records.ahead.as_ref().map_or(0, |(_, r)| r.len())).map(|i| format!("c{i}")).collect()
        };
        records.names = header_names(&header, &records.source)?;
        Ok(records)
    }

    fn error(&self, e: csv::Error) -> Error {
        // An I/O error of the decoding reader carries the error it stands for.
        let ours = matches!(e.kind(), csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|i| i.is::<Error>()));
        if !ours {
            return csv_error(&self.source, e);
        }
        match e.into_kind() {
            csv::ErrorKind::Io(io) => match io.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(err)) => *err,
                other => Error::InvalidInput(format!("{}: {other:?}", self.source.display())),
            },
            other => Error::InvalidInput(format!("{}: {other:?}", self.source.display())),
        }
    }

    fn next_record(&mut self) -> Result<Option<(u64, csv::StringRecord)>> {
        if let Some(record) = self.ahead.take() {
            return Ok(Some(record));
        }
        let mut record = csv::ByteRecord::new();
        match self.reader.read_byte_record(&mut record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                Ok(Some((line, string_record(record, line, &self.source)?)))
            }
            Err(e) => Err(self.error(e)),
        }
    }
}

/// Some rows of a CSV file, read in two passes in memory bounded by the rows kept: the first
/// counts the records (and reports any that [`read_csv`](crate::read_csv) would reject as
/// records: a wrong number of fields, bad UTF-8, an unclosed quote), `pick(count)` then says
/// which rows to keep (ascending, each below the count; rows are numbered from 0 after the
/// header), and the second pass keeps them. Returns the table of the kept rows and the count.
///
/// Kinds not forced in `opts` are inferred from the kept rows alone, so a cell outside them
/// is never parsed: with the kinds of the whole file the table is exactly
/// `read_csv(path, opts)?.take_rows(&rows)`.
///
/// ```
/// use rec_table::{read_csv, read_csv_rows, CsvOptions};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("t.csv");
/// std::fs::write(&path, "age,city\n30,Paris\n,Lyon\n41,Paris\n52,\n")?;
/// let opts = CsvOptions::default();
/// let (table, rows) = read_csv_rows(&path, &opts, |n| vec![1, n - 1])?;
/// assert_eq!(rows, 4);
/// assert_eq!(table, read_csv(&path, &opts)?.take_rows(&[1, 3])?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_csv_rows(
    path: impl AsRef<Path>,
    opts: &CsvOptions,
    pick: impl FnOnce(usize) -> Vec<usize>,
) -> Result<(Table, usize)> {
    let source = path.as_ref();
    let mut records = CsvRecords::open(source, opts)?;
    let mut count = 0;
    while records.next_record()?.is_some() {
        count += 1;
    }
    let rows = pick(count);
    crate::io::check_picked(&rows, count, source)?;
    let mut records = CsvRecords::open(source, opts)?;
    let mut kept: Records = Vec::with_capacity(rows.len());
    let mut index = 0;
    for &row in &rows {
        let record = loop {
            let record = records.next_record()?.ok_or_else(|| {
                Error::InvalidInput(format!("{}: the file changed while it was read", source.display()))
            })?;
            index += 1;
            if index > row {
                break record;
            }
        };
        kept.push(record);
    }
    let schema = resolve_schema(&records.names, &kept, opts, source)?;
    Ok((table_from_records(schema, &kept, opts, source)?, count))
}

impl Iterator for CsvBatches {
    type Item = Result<CsvBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_batch();
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next.transpose()
    }
}

/// One batch of [`CsvBatches`]: its table and the text it was read from.
pub struct CsvBatch {
    table: Table,
    records: Records,
    source: PathBuf,
}

impl CsvBatch {
    /// The batch's records as a table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The CSV text of the batch's rows as [`write_csv_patched`](crate::write_csv_patched)
    /// writes them: row `rows[i]` of the batch (all rows when `None`) for row `i` of
    /// `patched`, each cell that `replace(row, column)` leaves alone as read and the others
    /// from `patched`. `rows_before` (the rows written before this batch) makes an error's row
    /// number count from the start of the output.
    pub fn patched_bytes(
        &self,
        patched: &Table,
        rows: Option<&[usize]>,
        replace: &dyn Fn(usize, usize) -> bool,
        opts: &CsvOptions,
        rows_before: usize,
    ) -> Result<Vec<u8>> {
        let mut writer = RecordWriter::new(&opts.delimiter);
        write_patched_records(&mut writer, &self.records, patched, rows, replace, opts, &self.source, rows_before)?;
        writer.finish()
    }
}

/// The bytes of a CSV file as the `csv` crate reads them, converted on the fly as
/// [`read_csv`](crate::read_csv) converts the whole file: a UTF-8 byte-order mark dropped,
/// Latin-1 decoded to UTF-8, a delimiter of several characters outside double quotes turned
/// into [`UNIT_SEPARATOR`]; a quote never closed is an error at the end, naming its line.
struct Decoded<R> {
    inner: R,
    encoding: Encoding,
    /// The delimiter's bytes when it has several (else no translation).
    multi: Option<Vec<u8>>,
    source: PathBuf,
    /// Converted bytes not yet handed out, from `out_at`.
    out: Vec<u8>,
    out_at: usize,
    /// Decoded bytes kept back because they may start a delimiter that the next read ends.
    carry: Vec<u8>,
    at_start: bool,
    eof: bool,
    /// Bytes read from `inner` at a time.
    block: usize,
    /// Quote state and line count of everything converted so far.
    quotes: Quotes,
}

impl<R: Read> Decoded<R> {
    fn new(inner: R, opts: &CsvOptions, source: &Path) -> Self {
        let multi = match &opts.delimiter {
            Delimiter::Multi(d) => Some(d.as_bytes().to_vec()),
            Delimiter::Byte(_) => None,
        };
        Decoded {
            inner,
            encoding: opts.encoding,
            multi,
            source: source.to_path_buf(),
            out: Vec::new(),
            out_at: 0,
            carry: Vec::new(),
            at_start: true,
            eof: false,
            block: 1 << 16,
            quotes: Quotes::default(),
        }
    }

    /// Reads and converts the next block into `out`; false at the end of the file.
    fn refill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut raw = vec![0u8; self.block];
        let n = loop {
            match self.inner.read(&mut raw) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        raw.truncate(n);
        if n == 0 {
            self.eof = true;
        }
        let mut bytes = std::mem::take(&mut self.carry);
        match self.encoding {
            Encoding::Utf8 => bytes.extend_from_slice(&raw),
            Encoding::Latin1 => {
                let text: String = raw.iter().map(|&b| b as char).collect();
                bytes.extend_from_slice(text.as_bytes());
            }
        }
        if self.at_start && (bytes.len() >= 3 || self.eof) {
            self.at_start = false;
            if self.encoding == Encoding::Utf8 && bytes.starts_with(UTF8_BOM) {
                bytes.drain(..3);
            }
        } else if self.at_start {
            self.carry = bytes;
            return Ok(true);
        }
        // Bytes that may begin a delimiter cut by this read wait for the next one.
        let keep = match &self.multi {
            Some(d) if !self.eof => (d.len() - 1).min(bytes.len()),
            _ => 0,
        };
        let end = bytes.len() - keep;
        self.out.clear();
        self.out_at = 0;
        let mut i = 0;
        while i < end {
            let b = bytes[i];
            if b == UNIT_SEPARATOR && self.multi.is_some() {
                return Err(std::io::Error::other(unit_separator_in_text(&self.source, self.quotes.line)));
            }
            self.quotes.feed(b);
            if let Some(d) =
                self.multi.as_deref().filter(|d| b != b'"' && !self.quotes.inside && bytes[i..].starts_with(d))
            {
                self.out.push(UNIT_SEPARATOR);
                i += d.len();
                continue;
            }
            self.out.push(b);
            i += 1;
        }
        // A delimiter run may have reached into the kept bytes.
        self.carry = bytes[i.max(end)..].to_vec();
        if self.eof {
            self.quotes.check_closed(&self.source).map_err(std::io::Error::other)?;
        }
        Ok(!self.out.is_empty() || !self.eof)
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_at == self.out.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.out_at);
        buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
        self.out_at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]
    use super::*;

    /// What the whole-file reader makes of `bytes` before parsing.
    fn whole(bytes: &[u8], opts: &CsvOptions) -> Vec<u8> {
        let text: Vec<u8> = match opts.encoding {
            Encoding::Utf8 => bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes).to_vec(),
            Encoding::Latin1 => bytes.iter().map(|&b| b as char).collect::<String>().into_bytes(),
        };
        opts.delimiter.translate(&text, Path::new("t")).unwrap().into_owned()
    }

    fn decoded(bytes: &[u8], opts: &CsvOptions, block: usize) -> std::io::Result<Vec<u8>> {
        let mut d = Decoded::new(bytes, opts, Path::new("t"));
        d.block = block;
        let mut out = Vec::new();
        d.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn blocks_of_any_size_decode_as_the_whole_file() {
        let text = "\u{feff}a::b::\"q::\"\"x\"\"\nz\"::c\n1:::2::3\n::é::\n";
        let utf8 = CsvOptions::default().with_delimiter(Delimiter::parse("::").unwrap());
        let latin1 = utf8.clone().with_encoding(Encoding::Latin1);
        let latin1_bytes: Vec<u8> = text.chars().skip(1).map(|c| u8::try_from(u32::from(c)).unwrap()).collect();
        let comma = CsvOptions::default();
        for (bytes, opts) in [(text.as_bytes(), &utf8), (&latin1_bytes[..], &latin1), (text.as_bytes(), &comma)] {
            let expected = whole(bytes, opts);
            assert!(expected.contains(&UNIT_SEPARATOR) || opts.delimiter == Delimiter::Byte(b','));
            for block in 1..=bytes.len() + 1 {
                assert_eq!(decoded(bytes, opts, block).unwrap(), expected, "blocks of {block}");
            }
        }
    }

    #[test]
    fn the_decoder_reports_what_the_whole_reader_reports() {
        let opts = CsvOptions::default().with_delimiter(Delimiter::parse("::").unwrap());
        for block in [1, 3, 64] {
            let err = decoded(b"a::b\n1::\"open\n2::3\n", &opts, block).unwrap_err();
            let err = err.into_inner().unwrap().downcast::<Error>().unwrap().to_string();
            assert!(err.contains("line 2") && err.contains("never closed"), "{err}");
            let err = decoded(b"a::b\nc::d\x1Fe\n", &opts, block).unwrap_err().to_string();
            assert!(err.contains("line 2") && err.contains("0x1F"), "{err}");
        }
    }
}
