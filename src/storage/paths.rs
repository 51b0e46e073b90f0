//! The one path-safety check: organization names are reduced to ASCII letters and digits, file names must be
//! plain names, and files are opened without following symbolic links.

use std::fs::File;
use std::path::Path;

use super::StorageError;

const MAX_NAME_BYTES: usize = 255;
/// Longest organization name accepted, in characters.
pub const MAX_ORG_NAME_CHARS: usize = 120;

/// Keeps the ASCII letters and digits of an organization name, as the old service did ("Acme Bank" → "AcmeBank").
pub fn sanitize_org(given: &str) -> Result<String, StorageError> {
    let length = given.chars().count();
    if length > MAX_ORG_NAME_CHARS {
        // Cutting would silently put two long names into one folder.
        return Err(StorageError::OrgTooLong { length, limit: MAX_ORG_NAME_CHARS });
    }
    let clean: String = given.chars().filter(|c| c.is_ascii_alphanumeric()).take(MAX_NAME_BYTES).collect();
    if clean.is_empty() {
        return Err(StorageError::InvalidOrg { given: given.chars().take(80).collect() });
    }
    Ok(clean)
}

/// Accepts only a plain file name: no separators, no `..`, nothing hidden, no control characters.
pub fn validate_file_name(name: &str) -> Result<(), StorageError> {
    let refuse = |reason| Err(StorageError::InvalidFileName { name: name.chars().take(120).collect(), reason });
    if name.is_empty() {
        return refuse("it is empty; give a file name such as major_events_20250101120000.json");
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse("it is longer than 255 bytes");
    }
    if name.contains(['/', '\\']) {
        return refuse("it contains a path separator; give a plain file name");
    }
    if name == "." || name == ".." || name.starts_with('.') {
        return refuse("hidden names and '..' are not allowed");
    }
    if name.chars().any(|c| c.is_control()) {
        return refuse("it contains control characters");
    }
    Ok(())
}

/// Refuses an organization folder that is missing, not a directory, or a symbolic link.
pub(super) fn ensure_real_dir(dir: &Path, org: &str) -> Result<(), StorageError> {
    match std::fs::symlink_metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(StorageError::InvalidFileName {
            name: org.into(),
            reason: "the organization folder is not a real directory",
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StorageError::OrgNotFound { org: org.into() }),
        Err(e) => Err(StorageError::Io { action: format!("opening organization {org:?}"), source: e }),
    }
}

/// Opens a file for reading, refusing to follow a symbolic link at the last component.
pub(super) fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
}

/// `O_NOFOLLOW` on a symbolic link fails with ELOOP.
pub(super) fn is_symlink_refusal(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}
