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
/// earliest offset, file order. Only distinct trigger alerts are chosen, spread out as far as they go (see
/// `top_up`).
pub fn fallback_selection(events: &[EventFacts], max_jobs: usize) -> Vec<usize> {
    let mut chosen = Vec::new();
    top_up(events, &mut chosen, max_jobs);
    chosen
}

/// Adds alerts from the ranking to `chosen` (which may hold a model's picks) until `max_jobs`, in three
/// passes so the jobs cover as much as possible: first one alert per service not yet covered; then alerts
/// whose metric is not yet covered on their service (alerts without a metric count as distinct); then any
/// remaining distinct alert.
fn top_up(events: &[EventFacts], chosen: &mut Vec<usize>, max_jobs: usize) {
    let mut ranked: Vec<&EventFacts> = events.iter().filter(|e| e.is_trigger).collect();
    ranked.sort_by_key(|e| (!e.major_failure, e.severity, e.schedule_offset, e.combined_index));

    let service_of = |event: &EventFacts| event.service_name.trim().to_lowercase();
    let metric_of = |event: &EventFacts| {
        let metric = event.metric_name.trim().to_lowercase();
        (!metric.is_empty()).then(|| (service_of(event), metric))
    };
    let mut seen_alerts: HashSet<String> = chosen.iter().map(|&i| events[i].identity()).collect();
    let mut seen_services: HashSet<String> = chosen.iter().map(|&i| service_of(&events[i])).collect();
    let mut seen_metrics: HashSet<(String, String)> = chosen.iter().filter_map(|&i| metric_of(&events[i])).collect();
    for pass in 0..3 {
        for event in &ranked {
            if chosen.len() >= max_jobs {
                return;
            }
            if seen_alerts.contains(&event.identity()) {
                continue;
            }
            let service = service_of(event);
            let metric = metric_of(event);
            let fits = match pass {
                0 => !seen_services.contains(&service),
                1 => metric.as_ref().is_none_or(|metric| !seen_metrics.contains(metric)),
                _ => true,
            };
            if fits {
                seen_alerts.insert(event.identity());
                seen_services.insert(service);
                seen_metrics.extend(metric);
                chosen.push(event.combined_index);
            }
        }
    }
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
    top_up(events, &mut indices, max_jobs);
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
    fn a_second_job_on_a_service_prefers_a_metric_not_yet_covered() {
        let mut events = vec![
            alert(0, "API latency p99 high", Severity::Critical, 10, "API"),
            alert(1, "API latency p95 high", Severity::Critical, 20, "API"),
            alert(2, "API 5xx rate high", Severity::Error, 30, "API"),
            alert(3, "DB connections high", Severity::Warning, 40, "DB"),
            alert(4, "DB replication lag", Severity::Warning, 50, "DB"),
        ];
        for (index, metric) in ["latency_ms", "LATENCY_MS", "http_5xx_rate", "connections", ""].iter().enumerate() {
            events[index].metric_name = (*metric).into();
        }
        // One per service (0, 3), then the uncovered metric on API (2) and the metric-less DB alert (4) before
        // the second latency alert on API (1).
        assert_eq!(fallback_selection(&events, 5), vec![0, 3, 2, 4, 1]);
        assert_eq!(fallback_selection(&events, 3), vec![0, 3, 2]);
        // Top-up after a model's pick also covers other services and metrics first.
        assert_eq!(merge_model_choice(&events, &[1], 3).indices, vec![1, 3, 2]);
    }

    #[test]
    fn model_choices_are_checked_and_topped_up() {
        let events = sample();
        let selection = merge_model_choice(&events, &[1, 99, -1, 5, 1, 6, 0], 4);
        assert_eq!(selection.indices[..2], [1, 0], "valid choices keep the model's order");
        assert_eq!(selection.indices, vec![1, 0, 3, 7], "topped up from the ranking, uncovered services first");
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
