//! The studio's directory: its flows (`NAME.flow.json`), test files and profiles files, named
//! by plain file names and read and written only through [`crate::safe_fs`] — regular files
//! only (a symbolic link there is refused, never followed), at most [`MAX_FILE_BYTES`] read,
//! saves atomic under an unpredictable temporary name and checked against the version the
//! page opened, one at a time, in the stable layout of [`super::format`].

use super::format;
use super::reply::ApiError;
use crate::safe_fs::{self, FsError, Mode};
use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

/// The largest file the studio reads from its directory (16 MiB): flows, test files and
/// profiles files.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Whether `name` may be served: a plain `*.flow.json` file name, no directory part.
pub fn is_flow_name(name: &str) -> bool {
    name.len() > ".flow.json".len()
        && name.ends_with(".flow.json")
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.contains("..")
}

/// Why a save was refused.
pub(super) enum SaveRefused {
    /// The file is not the version the page opened: it changed, appeared or was deleted on
    /// disk since (`current`: its version now).
    Conflict { message: String, current: Option<String> },
    /// It could not be read or written.
    Failed(ApiError),
}

/// The files of one directory (canonical), and the lock that makes saves one at a time.
pub(super) struct Files {
    dir: PathBuf,
    saving: Mutex<()>,
}

impl Files {
    pub(super) fn new(dir: PathBuf) -> Self {
        Self { dir, saving: Mutex::new(()) }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the flow `name`, refused when `name` is not a flow file name or a link.
    pub(super) fn flow_path(&self, name: &str) -> Result<PathBuf, ApiError> {
        if !is_flow_name(name) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "`{}` is not a flow file name (NAME.flow.json, in the studio's directory)",
                    weft_nodes::clip(name)
                ),
            ));
        }
        let path = self.dir.join(name);
        // Said early and clearly; the reads and the save refuse a link on their own as well.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            let refused = FsError::NotRegular { path, what: "a symbolic link" };
            return Err(self.refused(refused));
        }
        Ok(path)
    }

    /// A file of the directory that could not be read or written, as an answer.
    pub(super) fn refused(&self, err: FsError) -> ApiError {
        let status = match &err {
            FsError::NotFound { .. } => StatusCode::NOT_FOUND,
            FsError::NotRegular { .. } => StatusCode::FORBIDDEN,
            FsError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            FsError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, shown(&err.to_string(), &self.dir))
    }

    /// The flows of the directory, by file name: `{ file, name, description }` each (links are
    /// not listed: they are not opened either).
    pub(super) async fn flows(&self) -> std::io::Result<Vec<Value>> {
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        let mut flows = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_flow_name(&name) || !entry.file_type().await.is_ok_and(|t| t.is_file()) {
                continue;
            }
            let parsed: Option<Value> =
                read_file(entry.path()).await.ok().and_then(|b| serde_json::from_slice(&b).ok());
            let text = |key: &str| parsed.as_ref().and_then(|v| v.get(key)).cloned();
            flows.push(
                json!({ "file": name, "name": text("name"), "description": text("description") }),
            );
        }
        flows.sort_by(|a, b| a["file"].as_str().cmp(&b["file"].as_str()));
        Ok(flows)
    }

    /// The profiles files of the directory: `*.json` files whose `format` is
    /// `weft.profiles/1`.
    pub(super) async fn profiles_files(&self) -> Vec<String> {
        let mut files = Vec::new();
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else {
            return files;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json")
                || name.starts_with('.')
                || is_flow_name(&name)
                || !entry.file_type().await.is_ok_and(|t| t.is_file())
            {
                continue;
            }
            let format = read_file(entry.path())
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("format").and_then(Value::as_str).map(str::to_owned));
            if format.as_deref() == Some("weft.profiles/1") {
                files.push(name);
            }
        }
        files.sort();
        files
    }

    /// Saves `flow` as the flow `file` at `path` (from [`Files::flow_path`]) if the file is
    /// still at the version `expected` (null: it must not exist yet); answers the text written.
    /// An existing file keeps its own layout where nothing changed, and its mode.
    pub(super) async fn save(
        &self,
        file: &str,
        path: PathBuf,
        expected: &Value,
        flow: &Value,
    ) -> Result<String, SaveRefused> {
        let internal = |message: String| {
            SaveRefused::Failed(ApiError(StatusCode::INTERNAL_SERVER_ERROR, message))
        };
        let _saving = self.saving.lock().await;
        let opened = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || safe_fs::read_with_mode(&path, MAX_FILE_BYTES))
                .await
        };
        let (original, mode) = match opened {
            Ok(Ok((bytes, mode))) => (Some(bytes), Mode::Exactly(mode)),
            Ok(Err(FsError::NotFound { .. })) => (None, Mode::New),
            // A link at the flow's name is refused: saving would replace it with a file.
            Ok(Err(err)) => return Err(SaveRefused::Failed(self.refused(err))),
            Err(err) => return Err(internal(err.to_string())),
        };
        let current = original.as_deref().map(version_of);
        if current.as_deref() != expected.as_str() {
            let message = match &current {
                Some(_) if expected.is_null() => format!("`{file}` already exists"),
                Some(_) => format!("`{file}` changed on disk since it was opened; reload it first"),
                None => format!("`{file}` was deleted since it was opened"),
            };
            return Err(SaveRefused::Conflict { message, current });
        }
        let text = match original.as_deref().map(std::str::from_utf8) {
            Some(Ok(original)) => format::flow_text_keeping(flow, original),
            _ => format::flow_text(flow),
        };
        let written = {
            let text = text.clone();
            tokio::task::spawn_blocking(move || safe_fs::write_atomic(&path, text.as_bytes(), mode))
                .await
        };
        match written {
            Ok(Ok(())) => Ok(text),
            Ok(Err(err)) => Err(internal(format!(
                "cannot save `{file}`: {}",
                shown(&err.to_string(), &self.dir)
            ))),
            Err(err) => Err(internal(err.to_string())),
        }
    }
}

/// Reads a file of the studio's directory (see [`MAX_FILE_BYTES`]), off the async workers.
pub(super) async fn read_file(path: PathBuf) -> Result<Vec<u8>, FsError> {
    let task = tokio::task::spawn_blocking({
        let path = path.clone();
        move || safe_fs::read(&path, MAX_FILE_BYTES)
    });
    task.await.unwrap_or_else(|err| Err(FsError::Io { path, error: std::io::Error::other(err) }))
}

/// Reads and parses a profiles file of the studio's directory (see [`MAX_FILE_BYTES`]), as
/// `engine` runs them (with a simulator, its apps stand in for the `oauth2` profiles).
pub(super) fn load_profiles(
    engine: &crate::Engine,
    path: &Path,
) -> Result<crate::auth::Profiles, String> {
    let bytes = safe_fs::read(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    let mut profiles = crate::auth::Profiles::parse(&bytes, path).map_err(|e| e.to_string())?;
    engine.stand_in(&mut profiles);
    Ok(profiles)
}

/// Paths in messages are shown relative to the directory.
pub(super) fn shown(message: &str, dir: &Path) -> String {
    let prefix = format!("{}/", dir.display());
    message.replace(&prefix, "")
}

/// A file's version: the start of its SHA-256, in hex.
pub(super) fn version_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(16).map(|b| format!("{b:02x}")).collect()
}
