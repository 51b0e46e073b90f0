//! File naming: the old service's timestamped scheme for generated files and the kind of a file by its name.

use std::time::SystemTime;

/// What a stored file holds, derived from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Narrative,
    Events,
    ChangeEvents,
    Diagnostics,
    Other,
}

const SCENARIOS: [&str; 4] = ["major", "partial", "well", "custom"];

/// `YYYYmmddHHMMSS` in UTC, as the old service named files.
pub fn timestamp(now: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(now).format("%Y%m%d%H%M%S").to_string()
}

/// `<prefix>_<timestamp>.<ext>` for the first attempt, `<prefix>_<timestamp>_<n>.<ext>` (n from 2) after.
pub fn generated_name(prefix: &str, timestamp: &str, attempt: u32, extension: &str) -> String {
    match attempt {
        0 => format!("{prefix}_{timestamp}.{extension}"),
        n => format!("{prefix}_{timestamp}_{}.{extension}", n + 1),
    }
}

/// Kind of a file by its name; understands both this service's names and the old tool's
/// (`major_narrative_<ts>.txt`, `major_events_<ts>.json`).
pub fn file_kind(name: &str) -> FileKind {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("diagnostics") || lower.ends_with(".yaml") || lower.ends_with(".yml") {
        FileKind::Diagnostics
    } else if lower.ends_with(".txt") || lower.ends_with(".md") {
        FileKind::Narrative
    } else if lower.ends_with("_postman_collection.json") {
        FileKind::Other
    } else if lower.ends_with(".json") && lower.contains("change_events") {
        FileKind::ChangeEvents
    } else if lower.ends_with(".json") && lower.contains("events") {
        FileKind::Events
    } else {
        FileKind::Other
    }
}

/// Scenario short name a file name starts with (`major_…`), if any.
pub fn file_scenario(name: &str) -> Option<&'static str> {
    let first = name.split(['_', '.']).next()?.to_ascii_lowercase();
    SCENARIOS.into_iter().find(|s| *s == first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_new_and_old_names() {
        assert_eq!(file_kind("major_20251203101010.txt"), FileKind::Narrative);
        assert_eq!(file_kind("major_narrative_20250418T002926220Z.txt"), FileKind::Narrative);
        assert_eq!(file_kind("major_events_20251203101010.json"), FileKind::Events);
        assert_eq!(file_kind("well_events_20250418T052403320Z.json"), FileKind::Events);
        assert_eq!(file_kind("major_change_events_20251203101010_2.json"), FileKind::ChangeEvents);
        assert_eq!(file_kind("diagnostics_20251203101010.json"), FileKind::Diagnostics);
        assert_eq!(file_kind("diagnostics_event3_20251203101010.yaml"), FileKind::Diagnostics);
        assert_eq!(file_kind("Acme_major_events_postman_collection.json"), FileKind::Other);
        assert_eq!(file_kind("notes.bin"), FileKind::Other);
        assert_eq!(file_scenario("partial_events_1.json"), Some("partial"));
        assert_eq!(file_scenario("diagnostics_1.json"), None);
    }

    #[test]
    fn generated_names_follow_the_old_scheme() {
        let t = timestamp(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000));
        assert_eq!(t, "20231114221320");
        assert_eq!(generated_name("major_events", &t, 0, "json"), "major_events_20231114221320.json");
        assert_eq!(generated_name("major", &t, 1, "txt"), "major_20231114221320_2.txt");
    }
}
