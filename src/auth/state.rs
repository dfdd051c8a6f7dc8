//! The state directory: refresh tokens that outlive a process, one file per profile, written
//! atomically with mode 0600 and read only as regular files of at most [`MAX_SIGNIN_BYTES`]
//! (through [`crate::safe_fs`]: a link, a pipe or a device planted there is refused).

use crate::safe_fs::{self, FsError, Mode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use weft_nodes::Secret;

/// The largest sign-in file read (64 KiB): one holds a refresh token (a few KiB at most) and
/// its scopes.
pub const MAX_SIGNIN_BYTES: u64 = 64 << 10;

/// Why the state directory could not be read or written. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file could not be read or written, or is not one Weft reads (a link, a pipe, a device,
    /// too large).
    #[error(transparent)]
    File(#[from] FsError),
    /// A state file is not what Weft wrote.
    #[error("{path}: the state file is corrupt ({message}); delete it and run `weft login` again")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredSignIn {
    format: String,
    refresh_token: String,
    scopes: Vec<String>,
}

const FORMAT: &str = "weft.state/1";

/// A sign-in kept on disk.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The refresh token.
    pub refresh_token: Secret,
    /// The scopes granted with it.
    pub scopes: Vec<String>,
}

/// The directory where sign-ins are kept.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// A state directory at `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The platform's default: `$XDG_DATA_HOME/weft`, else `~/.local/share/weft`
    /// (`~/Library/Application Support/weft` on macOS).
    pub fn default_location() -> Self {
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                let home = PathBuf::from(std::env::var_os("HOME")?);
                Some(if cfg!(target_os = "macos") {
                    home.join("Library/Application Support")
                } else {
                    home.join(".local/share")
                })
            });
        Self::new(base.unwrap_or_else(std::env::temp_dir).join("weft"))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file for a profile; the key ties it to the token endpoint and client, so a profile
    /// pointed elsewhere doesn't pick up another server's token.
    pub fn path(&self, profile: &str, token_url: &str, client_id: &str) -> PathBuf {
        let safe: String = profile
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        let digest = Sha256::digest(format!("{token_url}\n{client_id}"));
        let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        self.root.join("signins").join(format!("{safe}-{short}.json"))
    }

    /// Reads a stored sign-in; `None` when there is none.
    pub fn read(&self, path: &Path) -> Result<Option<Stored>, StateError> {
        let bytes = match safe_fs::read(path, MAX_SIGNIN_BYTES) {
            Ok(bytes) => bytes,
            Err(FsError::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let corrupt = |message: String| StateError::Corrupt { path: path.to_owned(), message };
        let stored: StoredSignIn =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if stored.format != FORMAT {
            return Err(corrupt(format!("format is `{}`, expected `{FORMAT}`", stored.format)));
        }
        Ok(Some(Stored { refresh_token: Secret::new(stored.refresh_token), scopes: stored.scopes }))
    }

    /// Writes a sign-in atomically (a temporary file renamed over the old one), mode 0600.
    pub fn write(&self, path: &Path, stored: &Stored) -> Result<(), StateError> {
        let io = |error| FsError::Io { path: path.to_owned(), error };
        let dir = path.parent().unwrap_or(&self.root);
        create_private_dir(dir).map_err(io)?;
        let body = serde_json::to_vec_pretty(&StoredSignIn {
            format: FORMAT.to_owned(),
            refresh_token: stored.refresh_token.expose().to_owned(),
            scopes: stored.scopes.clone(),
        })
        .map_err(|e| io(std::io::Error::other(e)))?;
        Ok(safe_fs::write_atomic(path, &body, Mode::Exactly(0o600))?)
    }

    /// Forgets a sign-in.
    pub fn remove(&self, path: &Path) -> Result<(), StateError> {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(FsError::Io { path: path.to_owned(), error }.into())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_private_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let path = state.path("graph-user", "https://login/token", "client");
        assert!(state.read(&path).unwrap().is_none());
        let stored =
            Stored { refresh_token: Secret::new("rt-1"), scopes: vec!["Calendars.Read".into()] };
        state.write(&path, &stored).unwrap();
        assert_eq!(state.read(&path).unwrap().unwrap().refresh_token.expose(), "rt-1");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_ne!(path, state.path("graph-user", "https://other/token", "client"));
        std::fs::write(&path, "{ not json").unwrap();
        let err = state.read(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()) && err.contains("corrupt"), "{err}");
    }

    /// Runs `read` on a thread of its own: a read that blocks fails the test instead of hanging.
    fn read_within(state: &StateDir, path: &Path) -> Result<Option<Stored>, StateError> {
        let (send, receive) = std::sync::mpsc::channel();
        let (state, path) = (state.clone(), path.to_owned());
        std::thread::spawn(move || send.send(state.read(&path)));
        receive
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading the state file blocked for 5 s")
    }

    #[cfg(unix)]
    #[test]
    fn regression_signin_state_read_without_size_limit_or_type_check() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let path = state.path("graph-user", "https://login/token", "client");
        let signins = path.parent().unwrap();
        std::fs::create_dir_all(signins).unwrap();
        let started = std::time::Instant::now();
        let refused = |expected: &str| {
            let err = read_within(&state, &path).unwrap_err().to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
            assert!(err.contains(expected), "{err}");
        };

        // Too large, though well-formed: refused past the limit, not parsed.
        let padding = " ".repeat(MAX_SIGNIN_BYTES as usize);
        let big =
            format!(r#"{{"format":"weft.state/1","refresh_token":"rt","scopes":[]}}{padding}"#);
        std::fs::write(&path, big).unwrap();
        refused("larger than 64 KiB, the most Weft reads from such a file");
        std::fs::remove_file(&path).unwrap();

        std::fs::create_dir(&path).unwrap();
        refused("refused, it is a directory");
        std::fs::remove_dir(&path).unwrap();

        assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success());
        refused("refused, it is a named pipe (FIFO)");
        std::fs::remove_file(&path).unwrap();

        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        refused("refused, it is a symbolic link");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[cfg(unix)]
    #[test]
    fn regression_signin_temp_file_name_is_predictable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let state = StateDir::new(dir.path());
        let path = state.path("graph-user", "https://login/token", "client");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Links planted at the temporary name this process once used, and at the file itself.
        std::os::unix::fs::symlink(
            &victim,
            path.with_extension(format!("tmp{}", std::process::id())),
        )
        .unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();

        let stored = Stored { refresh_token: Secret::new("rt-2"), scopes: vec![] };
        state.write(&path, &stored).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "the link at the sign-in is replaced, not followed");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(state.read(&path).unwrap().unwrap().refresh_token.expose(), "rt-2");
    }
}
