//! The scenario rules of `scenario-rules.md` as data: one table of per-scenario parameters, and the
//! effective limits of one request (service names, tools, counts) derived from it.

use std::ops::RangeInclusive;

use super::ScenarioKind;

/// Default ITSM tools when the request names none.
pub const DEFAULT_ITSM_TOOLS: &[&str] = &["ServiceNow"];
/// Default observability tools when the request names none.
pub const DEFAULT_OBSERVABILITY_TOOLS: &[&str] = &["New Relic", "Splunk"];
/// Largest `unique_alerts` a request may ask for.
pub const MAX_UNIQUE_ALERTS: u32 = 50;
/// Largest `max_events` a request may ask for.
pub const MAX_EVENTS_LIMIT: u32 = 1000;
/// Offsets (seconds) inside which the major-failure alert starts.
pub const MAJOR_FAILURE_OFFSET: RangeInclusive<u64> = 120..=180;

/// Fixed parameters of one scenario kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioParameters {
    pub kind: ScenarioKind,
    /// How the incident reads, for prompts and narratives.
    pub priority: &'static str,
    /// Distinct alerts when `unique_alerts` is not given.
    pub alerts: RangeInclusive<u32>,
    /// Total sends when `max_events` is not given.
    pub sends: RangeInclusive<u32>,
    /// Every send lies in `0..=window_s` seconds.
    pub window_s: u64,
    pub severities: &'static [&'static str],
    /// Whether the alerts must use more than one severity.
    pub severity_mix: bool,
    pub change_events: RangeInclusive<u32>,
    pub talk_track_minutes: u32,
    pub default_services: &'static [&'static str],
    /// Exactly one alert carries `major_failure` (major only).
    pub requires_major_failure: bool,
}

const MAJOR_SERVICES: &[&str] = &["User Authentication", "API Nodes", "Payment Processing"];

/// The one table of scenario parameters.
const PARAMETERS: [ScenarioParameters; 4] = [
    ScenarioParameters {
        kind: ScenarioKind::Major,
        priority: "P1 major incident",
        alerts: 8..=10,
        sends: 50..=70,
        window_s: 420,
        severities: &["warning", "error", "critical"],
        severity_mix: true,
        change_events: 3..=3,
        talk_track_minutes: 20,
        default_services: MAJOR_SERVICES,
        requires_major_failure: true,
    },
    ScenarioParameters {
        kind: ScenarioKind::Partial,
        priority: "P3 partially understood incident",
        alerts: 4..=5,
        sends: 50..=70,
        window_s: 420,
        severities: &["warning", "critical"],
        severity_mix: false,
        change_events: 1..=1,
        talk_track_minutes: 15,
        default_services: &["API Nodes", "Database"],
        requires_major_failure: false,
    },
    ScenarioParameters {
        kind: ScenarioKind::Well,
        priority: "P5 well understood, auto-remediated incident",
        alerts: 2..=3,
        sends: 4..=6,
        window_s: 120,
        severities: &["info", "warning"],
        severity_mix: false,
        change_events: 1..=1,
        talk_track_minutes: 10,
        default_services: &["Storage"],
        requires_major_failure: false,
    },
    ScenarioParameters {
        kind: ScenarioKind::Custom,
        priority: "custom incident driven by the reported symptom and blast radius",
        alerts: 8..=10,
        sends: 50..=70,
        window_s: 420,
        severities: &["warning", "error", "critical"],
        severity_mix: true,
        change_events: 1..=3,
        talk_track_minutes: 20,
        default_services: MAJOR_SERVICES,
        requires_major_failure: false,
    },
];

impl ScenarioKind {
    /// The rule parameters of this scenario.
    pub fn parameters(self) -> &'static ScenarioParameters {
        PARAMETERS.iter().find(|parameters| parameters.kind == self).expect("every kind has parameters")
    }
}

/// What one request asks of one scenario, with defaults applied: the input of generation and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioOptions {
    pub kind: ScenarioKind,
    pub org_name: String,
    pub service_names: Vec<String>,
    pub itsm_tools: Vec<String>,
    pub observability_tools: Vec<String>,
    pub unique_alerts: Option<u32>,
    pub max_events: Option<u32>,
}

impl ScenarioOptions {
    /// Options with every list defaulted per the rules; `given_*` lists are used when non-empty.
    pub fn new(
        kind: ScenarioKind,
        org_name: &str,
        given_services: &[String],
        given_itsm: &[String],
        given_observability: &[String],
    ) -> Self {
        fn or_default(given: &[String], default: &[&str]) -> Vec<String> {
            if given.is_empty() {
                default.iter().map(|s| s.to_string()).collect()
            } else {
                given.to_vec()
            }
        }
        Self {
            kind,
            org_name: org_name.trim().to_owned(),
            service_names: or_default(given_services, kind.parameters().default_services),
            itsm_tools: or_default(given_itsm, DEFAULT_ITSM_TOOLS),
            observability_tools: or_default(given_observability, DEFAULT_OBSERVABILITY_TOOLS),
            unique_alerts: None,
            max_events: None,
        }
    }

    pub fn parameters(&self) -> &'static ScenarioParameters {
        self.kind.parameters()
    }

    /// Distinct alerts allowed: exactly `unique_alerts` when given, else the default range shrunk to fit
    /// under `max_events`.
    pub fn alert_range(&self) -> RangeInclusive<u32> {
        if let Some(exact) = self.unique_alerts {
            return exact..=exact;
        }
        let defaults = &self.parameters().alerts;
        match self.max_events {
            Some(cap) => (*defaults.start()).min(cap)..=(*defaults.end()).min(cap),
            None => defaults.clone(),
        }
    }

    /// Total sends allowed: `[max(alerts, ceil(0.7 × max_events)), max_events]` when capped, else the default
    /// range widened so every distinct alert can be sent at least once.
    pub fn send_range(&self) -> RangeInclusive<u32> {
        let alerts = self.alert_range();
        match self.max_events {
            Some(cap) => {
                let floor = (cap * 7).div_ceil(10);
                (*alerts.start()).max(floor)..=cap
            }
            None => {
                let defaults = &self.parameters().sends;
                (*defaults.start()).max(*alerts.start())..=(*defaults.end()).max(*alerts.end())
            }
        }
    }

    /// The most sends `alerts` distinct alerts can make inside the window with whole-second offsets (the
    /// major-failure alert starts at 120 s at the earliest).
    pub fn max_possible_sends(&self, alerts: u32) -> u64 {
        let window = self.parameters().window_s;
        let mut total = u64::from(alerts) * (window + 1);
        if self.parameters().requires_major_failure && alerts > 0 {
            total -= *MAJOR_FAILURE_OFFSET.start();
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_request() {
        let mut options = ScenarioOptions::new(ScenarioKind::Major, "Acme Bank", &[], &[], &[]);
        assert_eq!(options.alert_range(), 8..=10);
        assert_eq!(options.send_range(), 50..=70);
        assert_eq!(options.service_names, ["User Authentication", "API Nodes", "Payment Processing"]);
        assert_eq!(options.observability_tools, ["New Relic", "Splunk"]);
        options.max_events = Some(20);
        assert_eq!(options.send_range(), 14..=20);
        options.unique_alerts = Some(3);
        assert_eq!(options.alert_range(), 3..=3);
        options.max_events = Some(5);
        assert_eq!(options.alert_range(), 3..=3);
        assert_eq!(options.send_range(), 4..=5);
        options.max_events = None;
        options.kind = ScenarioKind::Well;
        options.unique_alerts = Some(12);
        assert_eq!(options.send_range(), 12..=12);
    }
}
