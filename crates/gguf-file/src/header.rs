//! The fixed header and a bounds-checked little-endian cursor over the raw bytes.

use crate::error::{GgufError, Result};

/// The four bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// The fixed-size start of a GGUF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version (2 or 3; they share a layout).
    pub version: u32,
    /// Number of tensor infos that follow the metadata.
    pub tensor_count: u64,
    /// Number of metadata key/value pairs.
    pub kv_count: u64,
}

impl Header {
    /// Size of the header in bytes (magic, version, two counts).
    pub const SIZE: usize = 4 + 4 + 8 + 8;

    /// Reads the header at the cursor and checks magic and version.
    pub(crate) fn read(cur: &mut Cursor<'_>) -> Result<Self> {
        let head = cur.rest();
        if head.len() < 4 || head[..4] != MAGIC {
            return Err(GgufError::BadMagic { found: head[..head.len().min(4)].to_vec() });
        }
        cur.skip(4, "magic")?;
        let version = cur.u32("version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let tensor_count = cur.u64("tensor count")?;
        let kv_count = cur.u64("metadata count")?;
        Ok(Self { version, tensor_count, kv_count })
    }
}

/// A cursor that never reads past the end of its slice: every read returns
/// [`GgufError::Truncated`] instead.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

macro_rules! read_le {
    ($name:ident, $ty:ty) => {
        pub(crate) fn $name(&mut self, what: &str) -> Result<$ty> {
            let raw = self.take(std::mem::size_of::<$ty>() as u64, what)?;
            let mut buf = [0u8; std::mem::size_of::<$ty>()];
            buf.copy_from_slice(raw);
            Ok(<$ty>::from_le_bytes(buf))
        }
    };
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Current offset from the start of the input.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    /// The next `n` bytes, or `Truncated` naming `what`.
    pub(crate) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        let available = self.remaining();
        match usize::try_from(n) {
            Ok(len) if len <= available => {
                let out = &self.bytes[self.pos..self.pos + len];
                self.pos += len;
                Ok(out)
            }
            _ => Err(GgufError::Truncated { what: what.to_string(), offset: self.pos, needed: n, available }),
        }
    }

    pub(crate) fn skip(&mut self, n: u64, what: &str) -> Result<()> {
        self.take(n, what).map(|_| ())
    }

    read_le!(u8, u8);
    read_le!(i8, i8);
    read_le!(u16, u16);
    read_le!(i16, i16);
    read_le!(u32, u32);
    read_le!(i32, i32);
    read_le!(u64, u64);
    read_le!(i64, i64);
    read_le!(f32, f32);
    read_le!(f64, f64);

    /// A GGUF string: u64 byte length, then that many UTF-8 bytes.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| GgufError::InvalidUtf8 { what: what.to_string() })
    }

    /// Checks that `count` items of at least `min_size` bytes each can still fit in the
    /// input, so a count read from the file can size an allocation.
    pub(crate) fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<usize> {
        let limit = self.remaining() as u64 / min_size.max(1);
        if count > limit {
            return Err(GgufError::ImplausibleCount { what: what.to_string(), value: count, limit });
        }
        // `limit` fits in usize, so `count` does too.
        Ok(count as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_stops_at_the_end() {
        let bytes = [1u8, 0, 0, 0, 0xff];
        let mut cur = Cursor::new(&bytes);
        assert_eq!(cur.u32("x").unwrap(), 1);
        assert_eq!(cur.u8("y").unwrap(), 255);
        assert!(matches!(cur.u8("z"), Err(GgufError::Truncated { offset: 5, .. })));
    }

    #[test]
    fn header_rejects_bad_magic_and_version() {
        let mut cur = Cursor::new(b"GGML");
        assert!(matches!(Header::read(&mut cur), Err(GgufError::BadMagic { .. })));
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        let mut cur = Cursor::new(&bytes);
        assert!(matches!(Header::read(&mut cur), Err(GgufError::UnsupportedVersion(1))));
    }

    #[test]
    fn counts_are_bounded_by_the_input() {
        let bytes = [0u8; 16];
        let cur = Cursor::new(&bytes);
        assert_eq!(cur.check_count(2, 8, "n").unwrap(), 2);
        assert!(matches!(cur.check_count(1 << 60, 8, "n"), Err(GgufError::ImplausibleCount { .. })));
    }
}
