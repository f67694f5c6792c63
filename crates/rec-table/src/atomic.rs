//! Atomic file writes: write a temporary file beside the target, sync it, then rename.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `path` atomically: `write` fills a temporary file in the same directory, which is
/// flushed, synced and renamed over `path`. Readers see the old file or the new one, never a
/// half-written one; on failure the temporary file is removed and `path` is untouched.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// rec_table::write_atomic(&path, |w| { std::io::Write::write_all(w, b"hello")?; Ok(()) })?;
/// assert_eq!(std::fs::read_to_string(&path)?, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>,
) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> Result<()> {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut writer = BufWriter::new(file);
        write(&mut writer).map_err(|e| match e.downcast::<Error>() {
            Ok(err) => *err,
            Err(other) => Error::external(format!("writing {}", path.display()), other),
        })?;
        writer.flush().map_err(|e| Error::io(&tmp, e))?;
        let file = writer.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes bytes to `path` atomically (see [`write_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| Ok(w.write_all(bytes)?))
}

/// Removes the temporary files that [`write_atomic`] left behind in `dir` when its process was
/// killed mid-write (`.<name>.<pid>.<n>.tmp`, optionally with an extension after `.tmp`), and
/// the temporary directories of writers that name theirs with [`temp_sibling`], and returns how
/// many it removed. Only files of a process that is no longer running are removed,
/// so a concurrent writer is never disturbed; `only` limits it to the temporaries of one target
/// file name. Where running processes cannot be listed (no `/proc`), nothing is removed.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// // A temporary of process 0, which is never a running writer, stays from a crash.
/// std::fs::write(dir.path().join(".out.csv.0.7.tmp"), b"half")?;
/// std::fs::write(dir.path().join("keep.csv"), b"data")?;
/// let removed = rec_table::remove_stale_temps(dir.path(), None)?;
/// if std::path::Path::new("/proc/self").exists() {
///     assert_eq!(removed, 1);
///     assert!(!dir.path().join(".out.csv.0.7.tmp").exists());
/// }
/// assert!(dir.path().join("keep.csv").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remove_stale_temps(dir: &Path, only: Option<&str>) -> Result<usize> {
    if !Path::new("/proc/self").exists() {
        return Ok(0);
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((target, pid)) = parse_temp_name(&name) else { continue };
        if only.is_some_and(|o| o != target) || pid == std::process::id() {
            continue;
        }
        if pid == 0 || !Path::new(&format!("/proc/{pid}")).exists() {
            let path = entry.path();
            let is_dir = entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir();
            if is_dir { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
                .map_err(|e| Error::io(&path, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `(target name, pid)` of a temporary name `.<target>.<pid>.<n>.tmp[.<ext>]`.
fn parse_temp_name(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(".tmp")?;
    let (stem, after) = rest.split_at(at);
    let after = &after[4..];
    if !(after.is_empty() || (after.starts_with('.') && !after[1..].contains('.'))) {
        return None;
    }
    let (stem, n) = stem.rsplit_once('.')?;
    let (target, pid) = stem.rsplit_once('.')?;
    n.parse::<u64>().ok()?;
    Some((target, pid.parse().ok()?)).filter(|(t, _)| !t.is_empty())
}

fn temp_path(path: &Path) -> PathBuf {
    temp_sibling(path, None)
}

/// A fresh temporary name beside `path` (`.<name>.<pid>.<n>.tmp`, then `.<ext>` when given),
/// for writers that build a file or a directory under another name and rename it into place:
/// [`remove_stale_temps`] recognises it once its process is gone.
///
/// ```
/// let tmp = rec_table::temp_sibling(std::path::Path::new("out/model"), Some("old"));
/// let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
/// assert!(name.starts_with(".model.") && name.ends_with(".tmp.old"), "{name}");
/// assert_eq!(tmp.parent(), Some(std::path::Path::new("out")));
/// ```
pub fn temp_sibling(path: &Path, ext: Option<&str>) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let ext = ext.map(|e| format!(".{e}")).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp{ext}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_and_others_are_not() {
        let ours = temp_path(Path::new("/x/cells/a.b.json"));
        let name = ours.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(parse_temp_name(&name), Some(("a.b.json", std::process::id())));
        assert_eq!(parse_temp_name(".plot.png.12.3.tmp.png"), Some(("plot.png", 12)));
        for other in
            ["a.json", ".hidden", ".a.json.x.3.tmp", ".a.json.12.tmp", "..12.3.tmp", ".a.12.3.tmp.x.y", "a.12.3.tmp"]
        {
            assert_eq!(parse_temp_name(other), None, "{other}");
        }
    }

    #[test]
    fn only_dead_writers_temporaries_go() {
        let dir = tempfile::tempdir().unwrap();
        let mine = temp_path(&dir.path().join("live.csv"));
        std::fs::write(&mine, b"being written").unwrap();
        std::fs::write(dir.path().join(".dead.csv.0.1.tmp"), b"half").unwrap();
        std::fs::write(dir.path().join(".other.csv.0.1.tmp"), b"half").unwrap();
        assert_eq!(remove_stale_temps(&dir.path().join("absent"), None).unwrap(), 0);
        if Path::new("/proc/self").exists() {
            assert_eq!(remove_stale_temps(dir.path(), Some("dead.csv")).unwrap(), 1);
            assert!(dir.path().join(".other.csv.0.1.tmp").exists());
            assert_eq!(remove_stale_temps(dir.path(), None).unwrap(), 1);
        }
        assert!(mine.exists(), "a running writer's file stays");
    }

    #[test]
    fn a_dead_writers_temporary_directory_goes_too() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".model.0.4.tmp.old");
        std::fs::create_dir_all(stale.join("adapter")).unwrap();
        std::fs::write(stale.join("adapter").join("w.bin"), b"x").unwrap();
        let live = temp_sibling(&dir.path().join("model"), None);
        std::fs::create_dir(&live).unwrap();
        assert_eq!(remove_stale_temps(dir.path(), Some("model")).unwrap(), 1);
        assert!(!stale.exists());
        assert!(live.exists(), "a running writer's directory stays");
    }
}
