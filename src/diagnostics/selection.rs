//! Key-alert selection: which alerts of the combined events list get a diagnostic job. The deterministic
//! ranking serves the built-in provider and tops up (or replaces) whatever a model chose; a model's indices
//! are only ever accepted after checking them against the list.

use std::collections::HashSet;

use super::alert::EventFacts;

/// Jobs per request when `max_jobs` is not given.
pub const DEFAULT_MAX_JOBS: usize = 5;
/// Largest accepted `max_jobs`.
pub const MAX_JOBS_LIMIT: usize = 20;

/// Why a model-chosen index was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedChoice {
    pub index: i64,
    pub reason: &'static str,
}

/// The final choice and what was refused from the model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Combined indices, in job order.
    pub indices: Vec<usize>,
    pub dropped: Vec<DroppedChoice>,
}

/// Deterministic ranking: the major-failure alert first, then by severity (critical, error, warning, info),
/// earliest offset, file order; one alert per service before a service gets a second one. Only distinct
/// trigger alerts are chosen.
pub fn fallback_selection(events: &[EventFacts], max_jobs: usize) -> Vec<usize> {
    let mut ranked: Vec<&EventFacts> = events.iter().filter(|e| e.is_trigger).collect();
    ranked.sort_by_key(|e| (!e.major_failure, e.severity, e.schedule_offset, e.combined_index));

    let mut chosen = Vec::new();
    let mut seen_alerts = HashSet::new();
    let mut seen_services = HashSet::new();
    for event in &ranked {
        if chosen.len() == max_jobs {
            break;
        }
        let service = event.service_name.to_lowercase();
        if !seen_services.contains(&service) && seen_alerts.insert(event.identity()) {
            seen_services.insert(service);
            chosen.push(event.combined_index);
        }
    }
    for event in &ranked {
        if chosen.len() == max_jobs {
            break;
        }
        if seen_alerts.insert(event.identity()) {
            chosen.push(event.combined_index);
        }
    }
    chosen
}

/// Accepts a model's choice index by index (out of range, non-alert, repeated index or repeated alert are
/// dropped with the reason), keeps at most `max_jobs`, and tops up from the deterministic ranking.
pub fn merge_model_choice(events: &[EventFacts], model_indices: &[i64], max_jobs: usize) -> Selection {
    let mut indices = Vec::new();
    let mut dropped = Vec::new();
    let mut seen_alerts = HashSet::new();
    for &raw in model_indices {
        let event = usize::try_from(raw).ok().and_then(|i| events.get(i));
        let reason = match event {
            None => Some("out of range"),
            Some(event) if !event.is_trigger => Some("not a trigger alert"),
            Some(event) if indices.contains(&event.combined_index) => Some("duplicate index"),
            Some(event) if seen_alerts.contains(&event.identity()) => Some("same alert as an earlier choice"),
            Some(_) if indices.len() == max_jobs => Some("more than max_jobs"),
            Some(_) => None,
        };
        match (reason, event) {
            (Some(reason), _) => dropped.push(DroppedChoice { index: raw, reason }),
            (None, Some(event)) => {
                seen_alerts.insert(event.identity());
                indices.push(event.combined_index);
            }
            (None, None) => unreachable!("an index without an event always has a reason"),
        }
    }
    for index in fallback_selection(events, events.len()) {
        if indices.len() == max_jobs {
            break;
        }
        if seen_alerts.insert(events[index].identity()) {
            indices.push(index);
        }
    }
    Selection { indices, dropped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::alert::Severity;

    fn alert(index: usize, summary: &str, severity: Severity, offset: i64, service: &str) -> EventFacts {
        EventFacts {
            combined_index: index,
            file: "f.json".into(),
            index_in_file: index,
            is_trigger: true,
            summary: summary.into(),
            severity,
            source: "New Relic".into(),
            component: service.into(),
            service_name: service.into(),
            metric_name: String::new(),
            current_value: String::new(),
            threshold: String::new(),
            hostname: String::new(),
            schedule_offset: offset,
            major_failure: false,
            detail_words: String::new(),
        }
    }

    fn sample() -> Vec<EventFacts> {
        let mut events = vec![
            alert(0, "Login latency warning", Severity::Warning, 10, "Auth"),
            alert(1, "API 5xx burst", Severity::Critical, 60, "API"),
            alert(2, "API pods restarting", Severity::Critical, 30, "API"),
            alert(3, "Payments DB pool exhausted", Severity::Error, 150, "Payments"),
            alert(4, "Auth token errors", Severity::Error, 40, "Auth"),
            alert(5, "Deploy checkout v2", Severity::Info, 0, "API"),
            alert(6, "api 5xx  BURST", Severity::Critical, 90, "API"),
            alert(7, "Info heartbeat", Severity::Info, 5, "Ops"),
        ];
        events[3].major_failure = true;
        events[5].is_trigger = false; // a change event in the combined list
        events
    }

    #[test]
    fn fallback_puts_the_major_failure_first_then_severity_offset_and_spreads_services() {
        let events = sample();
        // Major (Payments), then the best per service: API critical @30, Auth error @40, Ops info; then the
        // next best overall, API critical @60. The repeat of "API 5xx burst" and the change event never appear.
        assert_eq!(fallback_selection(&events, 5), vec![3, 2, 4, 7, 1]);
        assert_eq!(fallback_selection(&events, 2), vec![3, 2]);
        assert_eq!(fallback_selection(&events, 20), vec![3, 2, 4, 7, 1, 0], "only distinct trigger alerts");
        assert!(fallback_selection(&events[5..6], 5).is_empty());
    }

    #[test]
    fn model_choices_are_checked_and_topped_up() {
        let events = sample();
        let selection = merge_model_choice(&events, &[1, 99, -1, 5, 1, 6, 0], 4);
        assert_eq!(selection.indices[..2], [1, 0], "valid choices keep the model's order");
        assert_eq!(selection.indices, vec![1, 0, 3, 2], "topped up from the ranking");
        let reasons: Vec<(i64, &str)> = selection.dropped.iter().map(|d| (d.index, d.reason)).collect();
        assert_eq!(
            reasons,
            vec![
                (99, "out of range"),
                (-1, "out of range"),
                (5, "not a trigger alert"),
                (1, "duplicate index"),
                (6, "same alert as an earlier choice"),
            ]
        );
        let capped = merge_model_choice(&events, &[7, 0, 1], 2);
        assert_eq!(capped.indices, vec![7, 0]);
        assert_eq!(capped.dropped, vec![DroppedChoice { index: 1, reason: "more than max_jobs" }]);
        assert_eq!(merge_model_choice(&events, &[], 3).indices, fallback_selection(&events, 3));
    }
}
