//! Event dispatch: reads events files, turns them into a schedule of sends, plays the sends into PagerDuty on
//! time (concurrently, with the one retry policy) and reports each result, and exports files as Postman
//! collections. It owns the HTTP client to PagerDuty and the server-wide limit on active send runs.
//!
//! It must not touch gRPC types or build file paths: files come through `Storage`, statuses are decided in
//! `api/status.rs`.

pub mod event_body;
pub mod postman;
pub mod run;
pub mod schedule;
pub mod sender;

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::config::ServeConfig;
use crate::retry::RetryPolicy;
use crate::scenario::{parse_event_array, EventFileError};
use crate::storage::{Storage, StorageError};
use crate::template::TemplateError;

pub use run::{RunEvent, RunRequest, RunSummary, SendReport};
pub use schedule::{Schedule, ScheduleEntry, ScheduledSend};
pub use sender::Sender;

/// Largest accepted `speed`: a 420 s scenario then plays in 0.42 s.
pub const MAX_SPEED: f64 = 1000.0;
/// Smallest accepted `speed`: a 420 s scenario then plays in 11 h 40 min. Slower speeds only hold a run slot
/// for days (and tiny ones overflow timers).
pub const MIN_SPEED: f64 = 0.01;

/// Which PagerDuty API an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Alert,
    Change,
}

/// Why a send run or an export cannot start. Messages name the file, event, field or placeholder to fix;
/// they never contain the routing key.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{field}: {reason}")]
    InvalidRequest { field: &'static str, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("file {file:?} cannot be read as events: {source}")]
    UnreadableFile {
        file: String,
        #[source]
        source: EventFileError,
    },
    #[error("file {file:?} holds no events")]
    EmptyFile { file: String },
    #[error("file {file:?}, event [{index}]: {reason}")]
    InvalidSchedule { file: String, index: usize, reason: String },
    #[error("file {file:?}, event [{index}]: {reason}")]
    InvalidEvent { file: String, index: usize, reason: String },
    #[error("file {file:?}: {source}")]
    Placeholder {
        file: String,
        #[source]
        source: TemplateError,
    },
    #[error("the files make {total} sends; at most {limit} are played in one run, so split the files")]
    TooManySends { total: usize, limit: usize },
    #[error("{limit} send runs are already active on this server; wait for one to finish or cancel it")]
    TooManyRuns { limit: usize },
}

/// An events file as read from storage.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub name: String,
    pub kind: EventKind,
    pub events: Vec<Value>,
}

/// Shared by every run: the one HTTP sender and the limit on active runs.
pub struct Dispatcher {
    pub sender: Arc<Sender>,
    active_runs: Arc<Semaphore>,
    max_active_runs: usize,
}

impl Dispatcher {
    pub fn new(config: &ServeConfig) -> Result<Self, reqwest::Error> {
        let sender = Sender::new(
            config.events_url.clone(),
            config.change_events_url.clone(),
            config.send_timeout(),
            RetryPolicy::new(config.send_retries, config.send_backoff()),
        )?;
        Ok(Self {
            sender: Arc::new(sender),
            active_runs: Arc::new(Semaphore::new(config.max_active_sends)),
            max_active_runs: config.max_active_sends,
        })
    }

    /// Takes a slot for one run; the permit must live as long as the run.
    pub fn try_reserve_run(&self) -> Result<tokio::sync::OwnedSemaphorePermit, DispatchError> {
        self.active_runs
            .clone()
            .try_acquire_owned()
            .map_err(|_| DispatchError::TooManyRuns { limit: self.max_active_runs })
    }
}

/// Files one run may play.
pub const MAX_FILES_PER_RUN: usize = 20;
/// Event text one run may load, so a request cannot make the server parse gigabytes.
pub const MAX_BYTES_PER_RUN: usize = 8 << 20;

/// Reads and parses the named files of one organization, in the given order.
pub async fn load_files(storage: &Storage, org: &str, names: &[String]) -> Result<Vec<LoadedFile>, DispatchError> {
    if names.is_empty() {
        return Err(DispatchError::InvalidRequest {
            field: "filenames",
            reason: "give at least one events or change events file (see ListFiles)".into(),
        });
    }
    if names.len() > MAX_FILES_PER_RUN {
        return Err(DispatchError::InvalidRequest {
            field: "filenames",
            reason: format!("{} files given; play at most {MAX_FILES_PER_RUN} files in one run", names.len()),
        });
    }
    for (index, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(DispatchError::InvalidRequest { field: "filenames", reason: "a file name is empty".into() });
        }
        if names[..index].contains(name) {
            // Playing a file twice would double every incident sent to PagerDuty.
            return Err(DispatchError::InvalidRequest {
                field: "filenames",
                reason: format!("filenames[{index}]: {name:?} is listed twice; list each file once"),
            });
        }
    }
    let mut files = Vec::with_capacity(names.len());
    let mut loaded_bytes = 0usize;
    for name in names {
        let stored = storage.read_file(org, name).await?;
        loaded_bytes += stored.content.len();
        if loaded_bytes > MAX_BYTES_PER_RUN {
            return Err(DispatchError::InvalidRequest {
                field: "filenames",
                reason: format!(
                    "the files hold more than {} MiB of events; send fewer or smaller files",
                    MAX_BYTES_PER_RUN >> 20
                ),
            });
        }
        files.push(parse_loaded_file(name, &stored.content)?);
    }
    Ok(files)
}

/// Parses one file's text; the kind comes from the name (`change_events`), or from the content when every
/// event lacks both `event_action` and a severity, as change events do.
pub fn parse_loaded_file(name: &str, content: &str) -> Result<LoadedFile, DispatchError> {
    let events =
        parse_event_array(content).map_err(|source| DispatchError::UnreadableFile { file: name.to_owned(), source })?;
    if events.is_empty() {
        return Err(DispatchError::EmptyFile { file: name.to_owned() });
    }
    let named_change = name.to_ascii_lowercase().contains("change_events");
    let looks_like_change =
        events.iter().all(|event| event.get("event_action").is_none() && event.pointer("/payload/severity").is_none());
    let kind = if named_change || looks_like_change { EventKind::Change } else { EventKind::Alert };
    Ok(LoadedFile { name: name.to_owned(), kind, events })
}

/// Checks a routing key without ever repeating it: exactly 32 ASCII letters or digits.
pub fn validate_routing_key(key: &str) -> Result<(), DispatchError> {
    let reason = if key.is_empty() {
        "is required unless dry_run is set; give the 32-character Integration Key of an Events API v2 integration"
            .to_owned()
    } else if !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        "must contain only letters and digits (the 32-character Integration Key of an Events API v2 integration)"
            .to_owned()
    } else if key.len() != 32 {
        format!("must be exactly 32 characters, the given key has {}", key.chars().count())
    } else {
        return Ok(());
    };
    Err(DispatchError::InvalidRequest { field: "routing_key", reason })
}

/// The effective speed: 0 means 1.0; negative, not-a-number, below [`MIN_SPEED`] or above [`MAX_SPEED`] is
/// refused.
pub fn effective_speed(speed: f64) -> Result<f64, DispatchError> {
    if speed == 0.0 {
        return Ok(1.0);
    }
    if !speed.is_finite() || !(MIN_SPEED..=MAX_SPEED).contains(&speed) {
        return Err(DispatchError::InvalidRequest {
            field: "speed",
            reason: format!("must be from {MIN_SPEED} to {MAX_SPEED} (0 means 1.0), got {speed}"),
        });
    }
    Ok(speed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_are_checked_without_echo() {
        assert!(validate_routing_key(&"a1".repeat(16)).is_ok());
        for bad in ["", "short", &"x".repeat(33), &format!("{}-", "a".repeat(31)), &"é".repeat(16)] {
            let message = validate_routing_key(bad).unwrap_err().to_string();
            assert!(message.starts_with("routing_key"), "{message}");
            if !bad.is_empty() {
                assert!(!message.contains(bad), "the key must not be echoed: {message}");
            }
        }
    }

    #[test]
    fn speed_zero_means_one_and_bad_speeds_are_refused() {
        assert_eq!(effective_speed(0.0).unwrap(), 1.0);
        assert_eq!(effective_speed(1000.0).unwrap(), 1000.0);
        assert_eq!(effective_speed(0.5).unwrap(), 0.5);
        assert_eq!(effective_speed(MIN_SPEED).unwrap(), MIN_SPEED);
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1000.1, 1e-300, 1e-9, 0.009, f64::MIN_POSITIVE] {
            assert!(effective_speed(bad).unwrap_err().to_string().starts_with("speed"), "{bad}");
        }
    }

    #[test]
    fn file_kind_comes_from_the_name_or_the_content() {
        let alert = r#"[{"event_action":"trigger","payload":{"summary":"s","source":"x","severity":"info"}}]"#;
        let change = r#"[{"payload":{"summary":"deploy","source":"ci"}}]"#;
        assert_eq!(parse_loaded_file("major_events_1.json", alert).unwrap().kind, EventKind::Alert);
        assert_eq!(parse_loaded_file("major_change_events_1.json", alert).unwrap().kind, EventKind::Change);
        assert_eq!(parse_loaded_file("edited.json", change).unwrap().kind, EventKind::Change);
        assert!(matches!(parse_loaded_file("a.json", "[]"), Err(DispatchError::EmptyFile { .. })));
        let error = parse_loaded_file("a.json", "[\n{\"a\": }\n]").unwrap_err().to_string();
        assert!(error.contains("\"a.json\"") && error.contains("line 2"), "{error}");
    }
}
