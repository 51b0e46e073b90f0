//! The run's schedule: when each event of each file is sent. An alert is sent at the offsets
//! [`crate::scenario::timing`] reads from it (its `schedule_offset`, then its repeats); a change event once, at
//! its offset (0 when it has none). `speed` divides every offset.

use std::time::Duration;

use serde_json::Value;

use super::{DispatchError, EventKind, LoadedFile};
use crate::scenario::timing;

/// Largest number of sends in one run: a demo sends tens of events; ten thousand already takes 10 s at
/// speed 1000 with the per-run cap on requests in flight.
pub const MAX_SENDS: usize = 10_000;

/// Summary of the sends of one event (the first stream message lists one per event).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleEntry {
    pub file: String,
    pub index: usize,
    pub summary: String,
    pub kind: EventKind,
    /// After speed.
    pub initial_offset_s: f64,
    pub total_repeats: u32,
    pub total_sends: u32,
    /// Offset of the second send after speed, 0 when there is none.
    pub next_offset_s: f64,
}

/// The whole run's plan summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub entries: Vec<ScheduleEntry>,
    pub total_sends: u32,
    /// Offset of the last send, after speed.
    pub duration_s: f64,
    pub speed: f64,
}

/// Which send of an event this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Initial,
    /// The n-th repeat, from 1, counted across all `repeat_schedule` entries.
    Repeat(u32),
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attempt::Initial => f.write_str("initial"),
            Attempt::Repeat(n) => write!(f, "repeat {n}"),
        }
    }
}

/// One send of the run, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledSend {
    /// Position in the schedule, from 0.
    pub seq: u32,
    /// Index of the file in the run's file list.
    pub file_index: usize,
    /// Index of the event in its file.
    pub event_index: usize,
    pub kind: EventKind,
    pub attempt: Attempt,
    /// When the send is due after the start, after speed.
    pub offset: Duration,
}

/// Builds the schedule of the given files at the given (already validated) speed.
pub fn build_schedule(files: &[LoadedFile], speed: f64) -> Result<(Schedule, Vec<ScheduledSend>), DispatchError> {
    if !(speed.is_finite() && speed > 0.0) {
        return Err(DispatchError::InvalidRequest { field: "speed", reason: format!("must be above 0, got {speed}") });
    }
    let mut entries = Vec::new();
    let mut sends = Vec::new();
    for (file_index, file) in files.iter().enumerate() {
        for (event_index, event) in file.events.iter().enumerate() {
            let invalid =
                |reason: String| DispatchError::InvalidSchedule { file: file.name.clone(), index: event_index, reason };
            let initial_s = schedule_offset(event).map_err(invalid)?;
            let repeats = match file.kind {
                EventKind::Change => Vec::new(),
                EventKind::Alert => repeat_offsets(event, initial_s).map_err(invalid)?,
            };
            if sends.len() + 1 + repeats.len() > MAX_SENDS {
                return Err(DispatchError::TooManySends { total: count_all(files), limit: MAX_SENDS });
            }
            let kind = file.kind;
            sends.push((initial_s, file_index, event_index, kind, Attempt::Initial));
            for (n, repeat_s) in repeats.iter().enumerate() {
                sends.push((*repeat_s, file_index, event_index, kind, Attempt::Repeat(n as u32 + 1)));
            }
            let summary = event.pointer("/payload/summary").and_then(Value::as_str).unwrap_or_default().to_owned();
            entries.push(ScheduleEntry {
                file: file.name.clone(),
                index: event_index,
                summary,
                kind,
                initial_offset_s: initial_s / speed,
                total_repeats: repeats.len() as u32,
                total_sends: repeats.len() as u32 + 1,
                next_offset_s: repeats.first().map_or(0.0, |s| s / speed),
            });
        }
    }
    // Stable: sends due at the same time keep file order, event order, then repeat order.
    sends.sort_by(|a, b| a.0.total_cmp(&b.0));
    let duration_s = sends.last().map_or(0.0, |send| send.0 / speed);
    let sends: Vec<ScheduledSend> = sends
        .into_iter()
        .enumerate()
        .map(|(seq, (offset_s, file_index, event_index, kind, attempt))| {
            // Checked: callers validate speed, but no speed/offset pair may ever panic the handler.
            let offset = Duration::try_from_secs_f64(offset_s / speed).map_err(|_| DispatchError::InvalidRequest {
                field: "speed",
                reason: format!("{speed} turns the offset {offset_s} s into a delay too long to schedule"),
            })?;
            Ok(ScheduledSend { seq: seq as u32, file_index, event_index, kind, attempt, offset })
        })
        .collect::<Result<_, DispatchError>>()?;
    let schedule = Schedule { entries, total_sends: sends.len() as u32, duration_s, speed };
    Ok((schedule, sends))
}

/// Counts sends without building them, for the "too many sends" message; invalid events count as one.
fn count_all(files: &[LoadedFile]) -> usize {
    files
        .iter()
        .flat_map(|file| file.events.iter().map(move |event| (file.kind, event)))
        .map(|(kind, event)| match kind {
            EventKind::Change => 1,
            EventKind::Alert => {
                1 + timing::repeat_entries(event).unwrap_or_default().iter().map(|entry| entry.count).sum::<usize>()
            }
        })
        .sum()
}

/// The initial offset in seconds (before speed); an event without one is sent at the start.
fn schedule_offset(event: &Value) -> Result<f64, String> {
    timing::schedule_offset(event).unwrap_or(Ok(0.0))
}

/// Offsets (before speed) of every repeat of an event whose initial send is at `initial_s`.
fn repeat_offsets(event: &Value, initial_s: f64) -> Result<Vec<f64>, String> {
    timing::repeat_offsets(initial_s, &timing::repeat_entries(event)?, MAX_SENDS)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(name: &str, kind: EventKind, events: Value) -> LoadedFile {
        LoadedFile { name: name.into(), kind, events: events.as_array().unwrap().clone() }
    }

    #[test]
    fn offsets_repeats_and_speed() {
        let alerts = file(
            "major_events_1.json",
            EventKind::Alert,
            json!([
                { "payload": { "summary": "a" }, "timing_metadata": { "schedule_offset": 30 },
                  "repeat_schedule": [ { "repeat_count": 2, "repeat_offset": 60 }, { "repeat_count": 1, "repeat_offset": 100 } ] },
                { "payload": { "summary": "b", "schedule_offset": 10 } },
                { "schedule_offset": "5", "repeat_schedule": 2, "repeat_offset": 7 },
                { "repeat_schedule": [] },
            ]),
        );
        let changes = file(
            "major_change_events_1.json",
            EventKind::Change,
            json!([{ "payload": { "summary": "deploy" }, "repeat_schedule": [ { "repeat_count": 3, "repeat_offset": 1 } ] }]),
        );
        let (schedule, sends) = build_schedule(&[alerts, changes], 2.0).unwrap();
        // a: 30, 90, 150, 130; b: 10; third: 5, 12, 19; fourth: 0; change: 0 once.
        assert_eq!(schedule.total_sends, 10);
        assert_eq!(sends.len(), 10);
        let offsets: Vec<f64> = sends.iter().map(|s| s.offset.as_secs_f64()).collect();
        assert_eq!(offsets, vec![0.0, 0.0, 2.5, 5.0, 6.0, 9.5, 15.0, 45.0, 65.0, 75.0]);
        assert_eq!(schedule.duration_s, 75.0);
        assert_eq!(schedule.speed, 2.0);
        assert!(sends.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        let first = &schedule.entries[0];
        assert_eq!(
            (first.initial_offset_s, first.total_repeats, first.total_sends, first.next_offset_s),
            (15.0, 3, 4, 45.0)
        );
        assert_eq!(schedule.entries[1].next_offset_s, 0.0);
        let change = &schedule.entries[4];
        assert_eq!((change.kind, change.total_sends, change.summary.as_str()), (EventKind::Change, 1, "deploy"));
        let last = sends.last().unwrap();
        assert_eq!((last.event_index, last.attempt), (0, Attempt::Repeat(2)));
        assert_eq!(Attempt::Repeat(3).to_string(), "repeat 3");
    }

    #[test]
    fn bad_timing_names_the_event_and_field() {
        for (event, wanted) in [
            (json!({ "timing_metadata": { "schedule_offset": -5 } }), "timing_metadata.schedule_offset is -5"),
            (json!({ "schedule_offset": "soon" }), "schedule_offset must be a number"),
            (
                json!({ "repeat_schedule": [ { "repeat_count": 2 } ] }),
                "repeat_schedule[0] has repeat_count but no repeat_offset",
            ),
            (json!({ "repeat_schedule": [ 3 ] }), "repeat_schedule[0] must be an object"),
            (json!({ "repeat_schedule": [ { "repeat_count": 1.5, "repeat_offset": 1 } ] }), "whole number"),
            (json!({ "schedule_offset": 1e12 }), "at most"),
        ] {
            let files = [file("f.json", EventKind::Alert, json!([{}, event]))];
            let error = build_schedule(&files, 1.0).unwrap_err().to_string();
            assert!(error.contains("\"f.json\", event [1]") && error.contains(wanted), "{error}");
        }
        let event = json!({ "repeat_schedule": [ { "repeat_count": 10000, "repeat_offset": 0 } ] });
        let huge = LoadedFile { name: "f.json".into(), kind: EventKind::Alert, events: vec![event; 11] };
        assert!(matches!(build_schedule(&[huge], 1.0), Err(DispatchError::TooManySends { total: 110011, .. })));
    }

    #[test]
    fn a_tiny_speed_is_an_error_not_a_panic() {
        let files = [file("f.json", EventKind::Alert, json!([{ "schedule_offset": 600 }]))];
        for speed in [1e-300, f64::MIN_POSITIVE, 0.0, -1.0, f64::NAN] {
            let error = build_schedule(&files, speed).unwrap_err().to_string();
            assert!(error.starts_with("speed"), "{speed}: {error}");
        }
    }

    proptest::proptest! {
        #[test]
        fn totals_follow_the_rule_and_nothing_panics(
            offsets in proptest::collection::vec(proptest::option::of(-10.0f64..1000.0), 1..12),
            repeats in proptest::collection::vec((0u32..20, 0.0f64..100.0), 0..4),
            speed in 0.01f64..1000.0,
        ) {
            let events: Vec<Value> = offsets
                .iter()
                .map(|offset| {
                    let entries: Vec<Value> =
                        repeats.iter().map(|(c, o)| json!({ "repeat_count": c, "repeat_offset": o })).collect();
                    match offset {
                        Some(o) => json!({ "timing_metadata": { "schedule_offset": o }, "repeat_schedule": entries }),
                        None => json!({ "repeat_schedule": entries }),
                    }
                })
                .collect();
            let file = LoadedFile { name: "f.json".into(), kind: EventKind::Alert, events };
            match build_schedule(&[file], speed) {
                Ok((schedule, sends)) => {
                    let per_event = 1 + repeats.iter().map(|(c, _)| *c).sum::<u32>();
                    proptest::prop_assert_eq!(schedule.total_sends, per_event * offsets.len() as u32);
                    proptest::prop_assert_eq!(sends.len(), schedule.total_sends as usize);
                    proptest::prop_assert!(sends.windows(2).all(|w| w[0].offset <= w[1].offset));
                    let last = sends.last().unwrap().offset.as_secs_f64();
                    proptest::prop_assert!((last - schedule.duration_s).abs() < 1e-6);
                }
                Err(error) => proptest::prop_assert!(offsets.iter().flatten().any(|o| *o < 0.0), "{error}"),
            }
        }
    }
}
