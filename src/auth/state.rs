//! The state directory: refresh tokens that outlive a process, one file per profile, written
//! atomically with mode 0600.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use weft_nodes::Secret;

/// Why the state directory could not be read or written. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        message: String,
    },
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
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::Io { path: path.to_owned(), message: e.to_string() }),
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
        let io =
            |e: std::io::Error| StateError::Io { path: path.to_owned(), message: e.to_string() };
        let dir = path.parent().unwrap_or(&self.root);
        create_private_dir(dir).map_err(io)?;
        let body = serde_json::to_vec_pretty(&StoredSignIn {
            format: FORMAT.to_owned(),
            refresh_token: stored.refresh_token.expose().to_owned(),
            scopes: stored.scopes.clone(),
        })
        .map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = (|| {
            let mut file = open_private(&tmp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// Forgets a sign-in.
    pub fn remove(&self, path: &Path) -> Result<(), StateError> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StateError::Io { path: path.to_owned(), message: e.to_string() })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a file it creates: one left behind (by a crash) keeps its own.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)
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
        // A temporary file left readable by a crash is made private before it is written.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, "left behind").unwrap();
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
            state.write(&path, &stored).unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "{ not json").unwrap();
        let err = state.read(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()) && err.contains("corrupt"), "{err}");
    }
}
