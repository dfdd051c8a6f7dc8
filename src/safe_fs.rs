//! Files in the directories Weft manages itself (the state directory with sign-ins, the
//! studio's flows directory): read and written without following a symbolic link planted
//! there, without blocking on a special file, and within a size limit.
//!
//! A read opens the path without following a link and without blocking (`O_NOFOLLOW |
//! O_NONBLOCK`), then checks what it opened (`fstat`): only a regular file is read, and only up
//! to a limit the caller names. A write goes to a temporary file created exclusively, under an
//! unpredictable name, in the same directory, with its mode set on the open file, then renamed
//! over the target: a link at the target is replaced, never written through.
//!
//! Paths a user names on the command line (`--out FILE`, `--trace FILE`) are not for this
//! module: they are written as given, links and devices included (`--out /dev/stdout`).

use std::fs::{File, FileType};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why a file in a managed directory was not read or written.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// There is nothing at the path.
    #[error("{path}: no such file")]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The path names something other than a regular file (a link, a directory, a pipe, a
    /// device…): it is refused, neither followed nor read.
    #[error(
        "{path}: refused, it is {what}: Weft reads and writes only regular files here, never through a link"
    )]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What is there instead, with its article ("a symbolic link").
        what: &'static str,
    },
    /// The file is larger than its kind of file may be.
    #[error("{path}: larger than {}, the most Weft reads from such a file", size(*limit))]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The system refused or failed a read or write.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
}

/// The permissions a written file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Those of a new file: `0o666` less the process's umask.
    New,
    /// Exactly these permission bits (`0o600` for a file that holds a secret), set on the open
    /// file before anything is written to it.
    Exactly(u32),
}

/// Reads the regular file at `path`, at most `limit` bytes: a symbolic link, a directory, a pipe
/// or a device is refused ([`FsError::NotRegular`]) without being followed, opened for long or
/// read, and a larger file is refused ([`FsError::TooLarge`]).
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FsError> {
    read_with_mode(path, limit).map(|(bytes, _)| bytes)
}

/// [`read`], with the file's permission bits (to give them to the file that replaces it).
pub fn read_with_mode(path: &Path, limit: u64) -> Result<(Vec<u8>, u32), FsError> {
    let io = |error| FsError::Io { path: path.to_owned(), error };
    let file = match open_no_follow(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(FsError::NotFound { path: path.to_owned() });
        }
        // Refused by `O_NOFOLLOW` (a link) or by the kind of file (a socket): say which. This
        // look is for the message only: nothing was opened.
        Err(err) => {
            return Err(match std::fs::symlink_metadata(path) {
                Ok(meta) if !meta.is_file() => not_regular(path, meta.file_type()),
                _ => io(err),
            });
        }
    };
    // What was opened, not what the path names now: no window to swap the file.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    let too_large = || FsError::TooLarge { path: path.to_owned(), limit };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than the limit tells a file that grew since `fstat` from one that fits.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok((bytes, permission_bits(&meta)))
}

/// Replaces the file at `path` with `bytes`, atomically: readers see the old file or the new
/// one, never a part. The bytes go to a temporary file created exclusively (`O_EXCL`) under an
/// unpredictable name in the same directory, which is then renamed over `path`; a symbolic
/// link at `path` is replaced by the file, never written through. `mode` is set on the open
/// temporary file, never by path.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> Result<(), FsError> {
    let io = |error| FsError::Io { path: path.to_owned(), error };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".weft-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Created no wider than asked (the umask can only narrow it): a secret is never
        // readable by others, not even before the mode is set below.
        let bits = match mode {
            Mode::New => 0o666,
            Mode::Exactly(bits) => bits & 0o777,
        };
        builder.permissions(std::fs::Permissions::from_mode(bits));
    }
    let mut temp = builder.tempfile_in(dir).map_err(io)?;
    #[cfg(unix)]
    if let Mode::Exactly(bits) = mode {
        use std::os::unix::fs::PermissionsExt;
        // On the descriptor (`fchmod`): the umask may have narrowed what was asked for.
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(bits & 0o777))
            .map_err(io)?;
    }
    temp.write_all(bytes).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    // On failure the temporary file is removed when the error drops it.
    temp.persist(path).map_err(|err| io(err.error))?;
    sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // `O_NONBLOCK`: opening a FIFO must not wait for a writer (the type check then refuses it).
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(std::io::Error::other("a symbolic link"));
    }
    File::open(path)
}

#[cfg(unix)]
fn permission_bits(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn permission_bits(_meta: &std::fs::Metadata) -> u32 {
    0o666
}

/// Makes a rename durable: without it a crash can bring back the old file (for a sign-in, a
/// refresh token the server has already rotated out). Best effort: the rename itself is done.
#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

fn not_regular(path: &Path, kind: FileType) -> FsError {
    FsError::NotRegular { path: path.to_owned(), what: describe(kind) }
}

fn describe(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// `bytes` in the largest binary unit that divides it (limits are round numbers).
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_atomically_and_reads_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"first", Mode::New).unwrap();
        write_atomic(&path, b"second", Mode::Exactly(0o640)).unwrap();
        let (bytes, _mode) = read_with_mode(&path, 6).unwrap();
        assert_eq!(bytes, b"second");
        #[cfg(unix)]
        assert_eq!(_mode, 0o640);
        let err = read(&path, 5).unwrap_err();
        assert!(matches!(err, FsError::TooLarge { limit: 5, .. }), "{err:?}");
        assert!(
            err.to_string()
                .ends_with(": larger than 5 bytes, the most Weft reads from such a file")
        );
        assert!(matches!(read(&dir.path().join("none"), 5), Err(FsError::NotFound { .. })));
        // No temporary file is left behind.
        assert_eq!(names_in(dir.path()), ["a.json"]);
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(16 << 20), "16 MiB");
    }

    #[cfg(unix)]
    #[test]
    fn write_replaces_a_symlink_at_the_target_never_writes_through_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = dir.path().join("flow.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();

        write_atomic(&path, b"new", Mode::Exactly(0o600)).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o644);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "the link is replaced by the file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn read_refuses_links_and_special_files_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("real.json");
        std::fs::write(&inside, "{}").unwrap();
        let link = dir.path().join("link.json");
        // Even a link to a regular file next to it is refused: never followed.
        std::os::unix::fs::symlink(&inside, &link).unwrap();
        let fifo = dir.path().join("fifo.json");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let started = std::time::Instant::now();
        for (path, what) in [
            (&link, "a symbolic link"),
            (&fifo, "a named pipe (FIFO)"),
            (&dir.path().to_owned(), "a directory"),
            (&PathBuf::from("/dev/null"), "a device"),
        ] {
            match read(path, 1 << 20) {
                Err(FsError::NotRegular { what: found, .. }) => assert_eq!(found, what),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let err = read(&link, 1 << 20).unwrap_err().to_string();
        assert!(err.contains("refused, it is a symbolic link"), "{err}");
    }
}
