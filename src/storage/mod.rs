//! Per-organization file storage under one data directory. It owns path safety (no name from a request
//! reaches the file system unchecked), collision-free naming of generated files, atomic writes and content
//! versions. It knows nothing about gRPC.

mod naming;
mod paths;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use sha2::{Digest, Sha256};

pub use naming::{file_kind, file_scenario, FileKind};
pub use paths::{sanitize_org, validate_file_name};

/// Errors of storage operations. Messages name the organization, file or field and say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("org name {given:?} has no ASCII letters or digits; give an organization name such as \"Acme Bank\"")]
    InvalidOrg { given: String },
    #[error("org name is {length} characters long; give at most {limit}")]
    OrgTooLong { length: usize, limit: usize },
    #[error("file name {name:?} is not allowed: {reason}")]
    InvalidFileName { name: String, reason: &'static str },
    #[error("organization {org:?} not found")]
    OrgNotFound { org: String },
    #[error("file {name:?} not found in organization {org:?}")]
    FileNotFound { org: String, name: String },
    #[error("file {name:?} already exists in organization {org:?}; pass its current version as expected_version to replace it")]
    AlreadyExists { org: String, name: String },
    #[error("file {name:?} has version {actual}, not the expected_version {expected}; read it again and reapply your change")]
    VersionMismatch { name: String, expected: String, actual: String },
    #[error("file {name:?} is {size} bytes; the limit is {limit} bytes")]
    TooLarge { name: String, size: u64, limit: u64 },
    #[error("content of {name:?} is not valid JSON at line {line}, column {column}: {message}")]
    InvalidJson { name: String, line: usize, column: usize, message: String },
    #[error("file {name:?} is not UTF-8 text")]
    NotText { name: String },
    #[error("page_token is not a token returned by ListFiles")]
    InvalidPageToken,
    #[error("storage failure while {action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, StorageError>;

fn io_error(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> StorageError {
    let action = action.into();
    move |source| StorageError::Io { action, source }
}

/// Metadata of one stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub size_bytes: u64,
    pub modified: SystemTime,
    pub kind: FileKind,
    /// Scenario short name the file name starts with, or empty.
    pub scenario: String,
    /// Opaque content version (a digest of the bytes).
    pub version: String,
}

/// A file's metadata and text.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub info: FileInfo,
    pub content: String,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// A file to save under a fresh, never reused name `<prefix>_<YYYYmmddHHMMSS>[_<n>].<extension>`.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub prefix: String,
    pub extension: String,
    pub content: String,
}

impl NewFile {
    pub fn new(prefix: impl Into<String>, extension: impl Into<String>, content: impl Into<String>) -> Self {
        Self { prefix: prefix.into(), extension: extension.into(), content: content.into() }
    }
}

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

/// Handle to the data directory; cheap to clone. Async methods run the file work on the blocking pool.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<StorageInner>,
}

struct StorageInner {
    root: PathBuf,
    max_file_bytes: u64,
    /// Serializes version check + replace so two concurrent edits cannot both win.
    update_lock: Mutex<()>,
}

impl Storage {
    /// Opens (and creates) the data directory.
    pub fn open(root: impl AsRef<Path>, max_file_bytes: u64) -> Result<Self> {
        let root = root.as_ref();
        fs::create_dir_all(root).map_err(io_error(format!("creating data dir {}", root.display())))?;
        let root = root.canonicalize().map_err(io_error(format!("resolving data dir {}", root.display())))?;
        Ok(Self { inner: Arc::new(StorageInner { root, max_file_bytes, update_lock: Mutex::new(()) }) })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub fn max_file_bytes(&self) -> u64 {
        self.inner.max_file_bytes
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&StorageInner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner)).await.map_err(|join_error| StorageError::Io {
            action: "running a storage task".into(),
            source: std::io::Error::other(join_error.to_string()),
        })?
    }

    /// Organization folder names, sorted, paginated by name.
    pub async fn list_orgs(&self, page_size: usize, page_token: &str) -> Result<Page<String>> {
        let page_token = page_token.to_owned();
        self.blocking(move |inner| inner.list_orgs(page_size, &page_token)).await
    }

    /// Files of one organization, newest first, paginated.
    pub async fn list_files(&self, org: &str, page_size: usize, page_token: &str) -> Result<Page<FileInfo>> {
        let org = sanitize_org(org)?;
        let page_token = page_token.to_owned();
        self.blocking(move |inner| inner.list_files(&org, page_size, &page_token)).await
    }

    /// Reads one file as text.
    pub async fn read_file(&self, org: &str, name: &str) -> Result<StoredFile> {
        let org = sanitize_org(org)?;
        validate_file_name(name)?;
        let name = name.to_owned();
        self.blocking(move |inner| inner.read_file(&org, &name)).await
    }

    /// Creates a file (`expected_version` None: fails if it exists) or replaces it when its current version
    /// equals `expected_version`. A `.json` file must parse as JSON.
    pub async fn write_file(
        &self,
        org: &str,
        name: &str,
        content: String,
        expected_version: Option<String>,
    ) -> Result<FileInfo> {
        let org = sanitize_org(org)?;
        validate_file_name(name)?;
        let name = name.to_owned();
        self.blocking(move |inner| inner.write_file(&org, &name, &content, expected_version.as_deref())).await
    }

    /// Saves a group of new files atomically as a whole: all get names with the same timestamp and suffix,
    /// or none is written. Names are never reused, so nothing is overwritten. Returns the names in order.
    pub async fn save_new_files(&self, org: &str, files: Vec<NewFile>) -> Result<Vec<String>> {
        let org = sanitize_org(org)?;
        self.blocking(move |inner| inner.save_new_files(&org, &files, SystemTime::now())).await
    }

    /// Like `save_new_files`, for a group whose contents name each other (a document listing its companion
    /// files): `contents` receives the group's final names and returns each file's content, in order.
    pub async fn save_new_files_linked(
        &self,
        org: &str,
        names: Vec<(String, String)>,
        contents: impl Fn(&[String]) -> Vec<String> + Send + 'static,
    ) -> Result<Vec<String>> {
        let org = sanitize_org(org)?;
        self.blocking(move |inner| inner.save_new_files_with(&org, &names, &contents, SystemTime::now())).await
    }
}

impl StorageInner {
    fn org_dir(&self, org: &str) -> Result<PathBuf> {
        let dir = self.root.join(org);
        paths::ensure_real_dir(&dir, org)?;
        Ok(dir)
    }

    fn org_dir_create(&self, org: &str) -> Result<PathBuf> {
        let dir = self.root.join(org);
        match fs::create_dir(&dir) {
            Ok(()) => sync_dir(&self.root),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(format!("creating folder of organization {org:?}"))(e)),
        }
        paths::ensure_real_dir(&dir, org)?;
        Ok(dir)
    }

    fn list_orgs(&self, page_size: usize, page_token: &str) -> Result<Page<String>> {
        let after = if page_token.is_empty() { None } else { Some(decode_token(page_token)?) };
        let mut orgs = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_error("listing organizations"))? {
            let entry = entry.map_err(io_error("listing organizations"))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && sanitize_org(&name).is_ok_and(|clean| clean == name) {
                orgs.push(name);
            }
        }
        orgs.sort();
        if let Some(after) = after {
            orgs.retain(|org| *org > after);
        }
        let page_size = clamp_page_size(page_size);
        let next_page_token = if orgs.len() > page_size { encode_token(&orgs[page_size - 1]) } else { String::new() };
        orgs.truncate(page_size);
        Ok(Page { items: orgs, next_page_token })
    }

    fn list_files(&self, org: &str, page_size: usize, page_token: &str) -> Result<Page<FileInfo>> {
        let dir = self.org_dir(org)?;
        let after = if page_token.is_empty() { None } else { Some(FileCursor::decode(page_token)?) };
        let mut entries = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(format!("listing organization {org:?}")))? {
            let entry = entry.map_err(io_error(format!("listing organization {org:?}")))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if validate_file_name(&name).is_err() {
                continue; // temp files, hidden files and odd names are not user files
            }
            // DirEntry::metadata does not follow symlinks, so a link is skipped here.
            let Ok(metadata) = entry.metadata() else { continue };
            if !metadata.is_file() {
                continue;
            }
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push((FileCursor::new(modified, &name), metadata.len()));
        }
        // Newest first; ties broken by name, descending, so the order is total and stable.
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        if let Some(after) = after {
            entries.retain(|(cursor, _)| *cursor < after);
        }
        let page_size = clamp_page_size(page_size);
        let next_page_token = if entries.len() > page_size { entries[page_size - 1].0.encode() } else { String::new() };
        entries.truncate(page_size);
        let mut items = Vec::with_capacity(entries.len());
        for (cursor, size) in entries {
            // Versions need the bytes, so they are computed for the returned page only.
            let version = match self.read_bytes(&dir.join(&cursor.name), &cursor.name) {
                Ok(bytes) => content_version(&bytes),
                Err(StorageError::TooLarge { .. }) => String::new(),
                Err(StorageError::FileNotFound { .. }) => continue, // deleted meanwhile
                Err(other) => return Err(other),
            };
            items.push(file_info(&cursor.name, size, cursor.modified(), version));
        }
        Ok(Page { items, next_page_token })
    }

    fn read_bytes(&self, path: &Path, name: &str) -> Result<Vec<u8>> {
        let file = paths::open_no_follow(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StorageError::FileNotFound { org: String::new(), name: name.into() },
            _ if paths::is_symlink_refusal(&e) => {
                StorageError::InvalidFileName { name: name.into(), reason: "it is a symbolic link" }
            }
            _ => io_error(format!("opening {name:?}"))(e),
        })?;
        let metadata = file.metadata().map_err(io_error(format!("reading {name:?}")))?;
        if !metadata.is_file() {
            return Err(StorageError::InvalidFileName { name: name.into(), reason: "it is not a regular file" });
        }
        if metadata.len() > self.max_file_bytes {
            return Err(StorageError::TooLarge { name: name.into(), size: metadata.len(), limit: self.max_file_bytes });
        }
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        file.take(self.max_file_bytes + 1).read_to_end(&mut bytes).map_err(io_error(format!("reading {name:?}")))?;
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(StorageError::TooLarge {
                name: name.into(),
                size: bytes.len() as u64,
                limit: self.max_file_bytes,
            });
        }
        Ok(bytes)
    }

    fn read_file(&self, org: &str, name: &str) -> Result<StoredFile> {
        let dir = self.org_dir(org)?;
        let path = dir.join(name);
        let bytes = self.read_bytes(&path, name).map_err(|e| with_org(e, org))?;
        let metadata = fs::symlink_metadata(&path).map_err(io_error(format!("reading {name:?}")))?;
        let version = content_version(&bytes);
        let size = bytes.len() as u64;
        let content = String::from_utf8(bytes).map_err(|_| StorageError::NotText { name: name.into() })?;
        let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(StoredFile { info: file_info(name, size, modified, version), content })
    }

    fn check_content(&self, name: &str, content: &str) -> Result<()> {
        if content.len() as u64 > self.max_file_bytes {
            return Err(StorageError::TooLarge {
                name: name.into(),
                size: content.len() as u64,
                limit: self.max_file_bytes,
            });
        }
        if name.to_ascii_lowercase().ends_with(".json") {
            if let Err(error) = serde_json::from_str::<serde_json::Value>(content) {
                let message = error.to_string();
                let message = message.split(" at line").next().unwrap_or(&message).to_owned();
                return Err(StorageError::InvalidJson {
                    name: name.into(),
                    line: error.line(),
                    column: error.column(),
                    message,
                });
            }
        }
        Ok(())
    }

    fn write_file(&self, org: &str, name: &str, content: &str, expected_version: Option<&str>) -> Result<FileInfo> {
        self.check_content(name, content)?;
        let expected_version = expected_version.filter(|v| !v.is_empty());
        // Only a create may make the organization's folder: a failed replace must leave nothing behind.
        let dir = match expected_version {
            None => self.org_dir_create(org)?,
            Some(_) => self.org_dir(org)?,
        };
        let path = dir.join(name);
        let temp = write_temp_file(&dir, content.as_bytes())?;
        let outcome = match expected_version {
            None => match fs::hard_link(&temp, &path) {
                // A hard link never replaces an existing name, which makes create-if-absent atomic.
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(StorageError::AlreadyExists { org: org.into(), name: name.into() })
                }
                Err(e) => Err(io_error(format!("creating {name:?}"))(e)),
            },
            Some(expected) => {
                let _guard = self.update_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match self.read_bytes(&path, name) {
                    Ok(current) => {
                        let actual = content_version(&current);
                        if actual != expected {
                            Err(StorageError::VersionMismatch { name: name.into(), expected: expected.into(), actual })
                        } else {
                            fs::rename(&temp, &path).map_err(io_error(format!("replacing {name:?}")))
                        }
                    }
                    Err(e) => Err(with_org(e, org)),
                }
            }
        };
        let _ = fs::remove_file(&temp); // after a link or a failure; after a rename it is already gone
        outcome?;
        sync_dir(&dir);
        Ok(file_info(name, content.len() as u64, modified_time(&path), content_version(content.as_bytes())))
    }

    fn save_new_files(&self, org: &str, files: &[NewFile], now: SystemTime) -> Result<Vec<String>> {
        let names: Vec<(String, String)> = files.iter().map(|f| (f.prefix.clone(), f.extension.clone())).collect();
        let contents: Vec<String> = files.iter().map(|f| f.content.clone()).collect();
        self.save_new_files_with(org, &names, &|_: &[String]| contents.clone(), now)
    }

    /// Saves `(prefix, extension)` files under fresh names of one timestamp; `contents` gives the content of
    /// each file for the names being tried.
    fn save_new_files_with(
        &self,
        org: &str,
        files: &[(String, String)],
        contents: &dyn Fn(&[String]) -> Vec<String>,
        now: SystemTime,
    ) -> Result<Vec<String>> {
        for (prefix, extension) in files {
            validate_file_name(&format!("{prefix}_x.{extension}"))?;
        }
        // The folder is created once the first contents passed their checks, so a refused group leaves nothing.
        let mut org_dir: Option<PathBuf> = None;
        let timestamp = naming::timestamp(now);
        for attempt in 0..10_000u32 {
            let names: Vec<String> = files
                .iter()
                .map(|(prefix, extension)| naming::generated_name(prefix, &timestamp, attempt, extension))
                .collect();
            let texts = contents(&names);
            if texts.len() != names.len() {
                return Err(StorageError::Io {
                    action: "saving a file group".into(),
                    source: std::io::Error::other("content count does not match the file count"),
                });
            }
            for (name, text) in names.iter().zip(&texts) {
                self.check_content(name, text)?;
            }
            let dir = match &org_dir {
                Some(dir) => dir.clone(),
                None => org_dir.insert(self.org_dir_create(org)?).clone(),
            };
            let mut temps = Vec::with_capacity(texts.len());
            let cleanup = |temps: &[PathBuf]| temps.iter().for_each(|t| drop(fs::remove_file(t)));
            for text in &texts {
                match write_temp_file(&dir, text.as_bytes()) {
                    Ok(temp) => temps.push(temp),
                    Err(e) => {
                        cleanup(&temps);
                        return Err(e);
                    }
                }
            }
            let linked = link_all(&dir, &temps, &names);
            cleanup(&temps);
            match linked {
                Ok(()) => {
                    sync_dir(&dir);
                    return Ok(names);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error(format!("saving files of organization {org:?}"))(e)),
            }
        }
        Err(StorageError::Io {
            action: "choosing a free file name".into(),
            source: std::io::Error::other("too many files with the same timestamp"),
        })
    }
}

/// Links every temp file to its final name; on any failure removes the links made so far.
fn link_all(dir: &Path, temps: &[PathBuf], names: &[String]) -> std::io::Result<()> {
    for (done, (temp, name)) in temps.iter().zip(names).enumerate() {
        if let Err(e) = fs::hard_link(temp, dir.join(name)) {
            for undo in &names[..done] {
                let _ = fs::remove_file(dir.join(undo));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Writes bytes to a fresh hidden temp file in `dir` and fsyncs it; the caller links or renames it into place.
fn write_temp_file(dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let write = || -> std::io::Result<()> {
        let mut file: File = OpenOptions::new().write(true).create_new(true).open(&path)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&path);
        io_error("writing a temporary file")(e)
    })?;
    Ok(path)
}

/// Makes renames and links durable; a failure here is not fatal for the caller.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

fn modified_time(path: &Path) -> SystemTime {
    fs::symlink_metadata(path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH)
}

fn with_org(error: StorageError, org: &str) -> StorageError {
    match error {
        StorageError::FileNotFound { name, .. } => StorageError::FileNotFound { org: org.into(), name },
        other => other,
    }
}

fn file_info(name: &str, size_bytes: u64, modified: SystemTime, version: String) -> FileInfo {
    FileInfo {
        name: name.into(),
        size_bytes,
        modified,
        kind: file_kind(name),
        scenario: file_scenario(name).unwrap_or_default().into(),
        version,
    }
}

/// Opaque version of a file's content: the first 128 bits of its SHA-256, hex.
pub fn content_version(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..16])
}

fn clamp_page_size(page_size: usize) -> usize {
    match page_size {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

fn encode_token(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_token(token: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(StorageError::InvalidPageToken)
}

/// Sort key of a listed file: modification time, then name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FileCursor {
    modified_nanos: i128,
    name: String,
}

impl FileCursor {
    fn new(modified: SystemTime, name: &str) -> Self {
        let modified_nanos = match modified.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        Self { modified_nanos, name: name.into() }
    }

    fn modified(&self) -> SystemTime {
        let magnitude = std::time::Duration::from_nanos(self.modified_nanos.unsigned_abs() as u64);
        if self.modified_nanos >= 0 {
            SystemTime::UNIX_EPOCH + magnitude
        } else {
            SystemTime::UNIX_EPOCH - magnitude
        }
    }

    fn encode(&self) -> String {
        encode_token(&format!("{}:{}", self.modified_nanos, self.name))
    }

    fn decode(token: &str) -> Result<Self> {
        let text = decode_token(token)?;
        let (nanos, name) = text.split_once(':').ok_or(StorageError::InvalidPageToken)?;
        let modified_nanos = nanos.parse().map_err(|_| StorageError::InvalidPageToken)?;
        Ok(Self { modified_nanos, name: name.into() })
    }
}

#[cfg(test)]
mod tests;
