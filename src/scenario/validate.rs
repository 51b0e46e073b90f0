//! THE validator of the scenario rules, used for every provider's output (built-in or LLM). It applies the
//! mechanical, safe repairs (and logs each one), and reports everything else as violations that name the
//! element and field, worded so they can be sent back to a model as-is.

use std::collections::HashSet;
use std::fmt;

use serde_json::{json, Map, Value};

use super::rules::{ScenarioOptions, MAJOR_FAILURE_OFFSET};
use super::{parse_event_array, timing, ScenarioKind};
use crate::template::{render_text, RenderContext};

/// Placeholder of `custom_details.event_id`: a fresh UUID per send.
pub const EVENT_ID_PLACEHOLDER: &str = "{{ faker.datatype.uuid() }}";
/// Placeholder of `custom_details.ip_address`: a fresh IPv4 per send.
pub const IP_ADDRESS_PLACEHOLDER: &str = "{{ faker.internet.ip() }}";
/// Placeholder of a change event's `timestamp`: between 30 and 1 minutes before the send.
pub const CHANGE_TIMESTAMP_PLACEHOLDER: &str = "{{ timestamp(-1800, -60) }}";
/// Longest alert summary PagerDuty accepts.
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest change-event summary the rules allow.
pub const MAX_CHANGE_SUMMARY_CHARS: usize = 90;

/// Bold headings every narrative carries, in order; `{N}` is the talk-track length.
pub const NARRATIVE_HEADINGS: [&str; 7] = [
    "**Scenario Overview:**",
    "**Incident Narrative:**",
    "**The Response:**",
    "**The Resolution:**",
    "**Demo Execution:**",
    "**Talk Track for the SC ({N}-Minute Demo Flow):**",
    "**Outage Summary:**",
];

/// `hostname` placeholder: a stable prefix plus a number drawn per send.
pub fn hostname_placeholder(prefix: &str) -> String {
    format!("{{{{ '{}-' + faker.datatype.number({{ min: 10, max: 99 }}) }}}}", slug(prefix))
}

/// `cluster_name` placeholder: one of the given regions plus `-cluster`, drawn per send.
pub fn cluster_placeholder(regions: &[&str]) -> String {
    let quoted: Vec<String> = regions.iter().map(|region| format!("'{}'", slug(region))).collect();
    format!("{{{{ faker.helpers.arrayElement([{}]) + '-cluster' }}}}", quoted.join(", "))
}

/// Lower-case ASCII words joined by `-`, safe inside a quoted placeholder literal.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    if out.is_empty() {
        out.push_str("host");
    }
    out
}

/// One broken rule: where (`events[3].payload.severity`) and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub location: String,
    pub message: String,
}

impl Violation {
    fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self { location: location.into(), message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Output that met the rules, after mechanical repairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed<T> {
    pub value: T,
    /// The repairs applied, for logs and tests.
    pub fixes: Vec<String>,
}

/// A narrative that met the rules, with the parts the rules name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedNarrative {
    pub text: String,
    /// The one-sentence outage summary.
    pub outage_summary: String,
    /// The Incident Narrative section only.
    pub incident_details: String,
}

/// Checks a narrative: headings present, in order and non-empty, time-stamped bullets, the talk-track length
/// of the scenario, a one-sentence outage summary, no placeholder system names.
pub fn check_narrative(options: &ScenarioOptions, text: &str) -> Result<Fixed<CheckedNarrative>, Vec<Violation>> {
    let mut fixes = Vec::new();
    let text = strip_text_fence(text, &mut fixes);
    let minutes = options.parameters().talk_track_minutes.to_string();
    let headings: Vec<String> = NARRATIVE_HEADINGS.iter().map(|h| h.replace("{N}", &minutes)).collect();
    let mut violations = Vec::new();
    let mut positions = Vec::new();
    for heading in &headings {
        match text.find(heading.as_str()) {
            Some(position) => positions.push(Some(position)),
            None => {
                violations.push(Violation::new("narrative", format!("missing the heading {heading}")));
                positions.push(None);
            }
        }
    }
    if !violations.is_empty() {
        return Err(report(options, "narrative", violations));
    }
    let positions: Vec<usize> = positions.into_iter().flatten().collect();
    if positions.windows(2).any(|pair| pair[0] > pair[1]) {
        let order = headings.join(", ");
        return Err(report(
            options,
            "narrative",
            vec![Violation::new("narrative", format!("headings must come in this order: {order}"))],
        ));
    }
    let mut sections = Vec::new();
    for (index, heading) in headings.iter().enumerate() {
        let start = positions[index] + heading.len();
        let end = positions.get(index + 1).copied().unwrap_or(text.len());
        let body = text[start..end].trim();
        if body.is_empty() {
            violations.push(Violation::new("narrative", format!("section {heading} is empty")));
        }
        sections.push(body.to_owned());
    }
    let incident_details = sections[1].clone();
    let stamped = incident_details.lines().filter(|line| is_time_stamped_bullet(line)).count();
    if stamped < 2 {
        violations.push(Violation::new(
            "narrative",
            "the Incident Narrative section needs time-stamped bullets like `- 14:02 UTC: …` (HH:MM TZ)",
        ));
    }
    let outage_summary = sections[6].lines().next().unwrap_or("").trim().to_owned();
    if sections[6].lines().filter(|line| !line.trim().is_empty()).count() > 1 || outage_summary.chars().count() > 1200 {
        violations.push(Violation::new("narrative", "the Outage Summary must be one sentence on one line"));
    }
    if let Some(name) = generic_system_name(&text) {
        violations.push(Violation::new(
            "narrative",
            format!("{name:?} is a placeholder name; name systems the way the organization's industry would"),
        ));
    }
    if !violations.is_empty() {
        return Err(report(options, "narrative", violations));
    }
    log_fixes(options, "narrative", &fixes);
    Ok(Fixed { value: CheckedNarrative { text, outage_summary, incident_details }, fixes })
}

/// Checks an incident-events array and returns it pretty-printed after the mechanical repairs.
pub fn check_events(options: &ScenarioOptions, text: &str) -> Result<Fixed<String>, Vec<Violation>> {
    let mut fixes = Vec::new();
    let mut events = match read_array(text, &["events", "incident_events"], &mut fixes) {
        Ok(events) => events,
        Err(violation) => return Err(report(options, "events", vec![violation])),
    };
    let parameters = options.parameters();
    let mut violations = Vec::new();
    let mut total_sends: u64 = 0;
    let mut major_failures = Vec::new();
    let mut severities_seen = HashSet::new();
    let mut summaries_seen = HashSet::new();
    for (index, event) in events.iter_mut().enumerate() {
        let at = |field: &str| format!("events[{index}].{field}");
        let Some(event) = event.as_object_mut() else { continue };
        match event.get("event_action") {
            Some(Value::String(action)) if action == "trigger" => {}
            other => {
                fixes.push(format!("events[{index}].event_action {} set to \"trigger\"", describe(other)));
                event.insert("event_action".into(), json!("trigger"));
            }
        }
        let Some(payload) = event.get_mut("payload").and_then(Value::as_object_mut) else {
            violations.push(Violation::new(at("payload"), "missing the payload object"));
            continue;
        };
        match payload.get("summary").and_then(Value::as_str).map(str::trim) {
            None | Some("") => violations.push(Violation::new(at("payload.summary"), "missing the alert title")),
            Some(summary) => {
                if summary.chars().count() > MAX_SUMMARY_CHARS {
                    violations.push(Violation::new(at("payload.summary"), "longer than 1024 characters"));
                }
                if !options.org_name.is_empty() && contains_ignore_case(summary, &options.org_name) {
                    violations.push(Violation::new(
                        at("payload.summary"),
                        format!("must not contain the organization name {:?}", options.org_name),
                    ));
                }
                if !summaries_seen.insert(summary.to_ascii_lowercase()) {
                    violations.push(Violation::new(
                        at("payload.summary"),
                        "repeats another alert's title; distinct alerts need distinct titles",
                    ));
                }
            }
        }
        match payload.get("source").and_then(Value::as_str) {
            Some(source) => match options.observability_tools.iter().find(|tool| tool.eq_ignore_ascii_case(source)) {
                Some(tool) if tool != source => {
                    fixes.push(format!("events[{index}].payload.source {source:?} spelled {tool:?}"));
                    payload.insert("source".into(), json!(tool));
                }
                Some(_) => {}
                None => violations.push(Violation::new(
                    at("payload.source"),
                    format!(
                        "{source:?} is not one of the observability tools {}",
                        options.observability_tools.join(", ")
                    ),
                )),
            },
            None => violations.push(Violation::new(at("payload.source"), "missing the observability tool")),
        }
        let severity = match payload.get("severity").and_then(Value::as_str) {
            Some(severity) => {
                let lower = severity.trim().to_ascii_lowercase();
                if lower != severity {
                    fixes.push(format!("events[{index}].payload.severity {severity:?} lower-cased"));
                    payload.insert("severity".into(), json!(lower));
                }
                if !parameters.severities.contains(&lower.as_str()) {
                    violations.push(Violation::new(
                        at("payload.severity"),
                        format!(
                            "{lower:?} is not allowed in {}; use {}",
                            options.kind,
                            parameters.severities.join(" or ")
                        ),
                    ));
                }
                severities_seen.insert(lower.clone());
                lower
            }
            None => {
                violations.push(Violation::new(at("payload.severity"), "missing the severity"));
                String::new()
            }
        };
        for field in ["component", "group", "class"] {
            if payload.get(field).and_then(Value::as_str).is_none_or(|value| value.trim().is_empty()) {
                violations.push(Violation::new(at(&format!("payload.{field}")), "missing or empty"));
            }
        }
        let details = match payload.get_mut("custom_details") {
            Some(Value::Object(details)) => details,
            _ => {
                violations.push(Violation::new(at("payload.custom_details"), "missing the custom_details object"));
                continue;
            }
        };
        let service_name = check_custom_details(options, index, details, &mut fixes, &mut violations);
        let is_major_failure = details.get("major_failure") == Some(&Value::Bool(true));

        let offset = match read_schedule_offset(event, index, &mut fixes) {
            Ok(offset) => offset,
            Err(violation) => {
                violations.push(violation);
                continue;
            }
        };
        let repeats = match normalize_repeat_schedule(event, index, &mut fixes) {
            Ok(repeats) => repeats,
            Err(violation) => {
                violations.push(violation);
                continue;
            }
        };
        let last_send = match timing::repeat_offsets(offset as f64, &repeats, usize::MAX) {
            Ok(offsets) => offsets.into_iter().fold(offset as f64, f64::max),
            Err(reason) => {
                violations.push(Violation::new(at("repeat_schedule"), reason));
                continue;
            }
        };
        if last_send > parameters.window_s as f64 {
            violations.push(Violation::new(
                at("repeat_schedule"),
                format!(
                    "sends until {last_send} s, past the {} s window of {} (schedule_offset {offset})",
                    parameters.window_s, options.kind
                ),
            ));
        }
        total_sends += 1 + repeats.iter().map(|entry| entry.count as u64).sum::<u64>();
        if is_major_failure {
            major_failures.push((index, offset, severity, service_name));
        }
    }

    check_placeholders_render(&events, "events", &mut violations);

    let alerts = options.alert_range();
    let count = events.len() as u32;
    if !alerts.contains(&count) {
        violations.push(Violation::new(
            "events",
            format!("{count} distinct alerts; {} needs {}", options.kind, describe_range(&alerts)),
        ));
    }
    let sends = options.send_range();
    if !sends.contains(&(total_sends.min(u64::from(u32::MAX)) as u32)) {
        violations.push(Violation::new(
            "events",
            format!(
                "{total_sends} sends in total (1 + the repeat counts of each alert); {} needs {}",
                options.kind,
                describe_range(&sends)
            ),
        ));
    }
    if parameters.severity_mix && count >= 3 && severities_seen.len() < 2 {
        violations
            .push(Violation::new("events", format!("use a mix of severities ({})", parameters.severities.join(", "))));
    }
    if parameters.requires_major_failure {
        check_major_failure(&major_failures, &mut violations);
    } else if let Some((index, ..)) = major_failures.first() {
        violations.push(Violation::new(
            format!("events[{index}].payload.custom_details.major_failure"),
            format!("only the major scenario has a major-failure alert, not {}", options.kind),
        ));
    }
    if !violations.is_empty() {
        return Err(report(options, "events", violations));
    }
    log_fixes(options, "events", &fixes);
    Ok(Fixed { value: pretty(&events), fixes })
}

/// Checks a change-events array and returns it pretty-printed after the mechanical repairs.
pub fn check_change_events(options: &ScenarioOptions, text: &str) -> Result<Fixed<String>, Vec<Violation>> {
    let mut fixes = Vec::new();
    let mut events = match read_array(text, &["change_events", "events"], &mut fixes) {
        Ok(events) => events,
        Err(violation) => return Err(report(options, "change_events", vec![violation])),
    };
    let mut violations = Vec::new();
    for (index, event) in events.iter_mut().enumerate() {
        let at = |field: &str| format!("change_events[{index}].{field}");
        let Some(event) = event.as_object_mut() else { continue };
        for forbidden in ["event_action", "dedup_key", "severity"] {
            if event.remove(forbidden).is_some() {
                fixes.push(format!("change_events[{index}].{forbidden} removed"));
            }
        }
        let Some(payload) = event.get_mut("payload").and_then(Value::as_object_mut) else {
            violations.push(Violation::new(at("payload"), "missing the payload object"));
            continue;
        };
        for forbidden in ["severity", "event_action", "dedup_key"] {
            if payload.remove(forbidden).is_some() {
                fixes.push(format!("change_events[{index}].payload.{forbidden} removed"));
            }
        }
        match payload.get("summary").and_then(Value::as_str).map(str::trim) {
            None | Some("") => violations.push(Violation::new(at("payload.summary"), "missing the change summary")),
            Some(summary) => {
                let length = summary.chars().count();
                if length > MAX_CHANGE_SUMMARY_CHARS {
                    violations.push(Violation::new(
                        at("payload.summary"),
                        format!("{length} characters; at most {MAX_CHANGE_SUMMARY_CHARS}"),
                    ));
                }
                if let Some(word) = outage_word(summary) {
                    violations.push(Violation::new(
                        at("payload.summary"),
                        format!("mentions {word:?}; a change event reads like a routine change, never an outage"),
                    ));
                }
            }
        }
        if payload.get("source").and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
            violations.push(Violation::new(at("payload.source"), "missing the CI/CD or ITSM system"));
        }
        match payload.get("timestamp") {
            Some(Value::String(stamp)) if has_placeholder(stamp) => {}
            Some(other) => violations.push(Violation::new(
                at("payload.timestamp"),
                format!("{other} is fixed; use the placeholder {CHANGE_TIMESTAMP_PLACEHOLDER}"),
            )),
            None => {
                fixes.push(format!("change_events[{index}].payload.timestamp placeholder injected"));
                payload.insert("timestamp".into(), json!(CHANGE_TIMESTAMP_PLACEHOLDER));
            }
        }
        match payload.get("custom_details").and_then(Value::as_object) {
            Some(details) => {
                for field in ["change_ticket", "environment", "author"] {
                    if details.get(field).is_none_or(is_blank) {
                        violations
                            .push(Violation::new(at(&format!("payload.custom_details.{field}")), "missing or empty"));
                    }
                }
            }
            None => violations.push(Violation::new(at("payload.custom_details"), "missing the custom_details object")),
        }
        match event.get("links").and_then(Value::as_array) {
            Some(links) if !links.is_empty() => {
                for (link_index, link) in links.iter().enumerate() {
                    for field in ["href", "text"] {
                        if link.get(field).and_then(Value::as_str).is_none_or(|v| v.trim().is_empty()) {
                            violations
                                .push(Violation::new(at(&format!("links[{link_index}].{field}")), "missing or empty"));
                        }
                    }
                }
            }
            _ => violations.push(Violation::new(at("links"), "needs at least one {\"href\", \"text\"} link")),
        }
    }
    check_placeholders_render(&events, "change_events", &mut violations);
    let allowed = &options.parameters().change_events;
    let count = events.len() as u32;
    if !allowed.contains(&count) {
        violations.push(Violation::new(
            "change_events",
            format!("{count} change events; {} needs {}", options.kind, describe_range(allowed)),
        ));
    }
    if !violations.is_empty() {
        return Err(report(options, "change_events", violations));
    }
    log_fixes(options, "change_events", &fixes);
    Ok(Fixed { value: pretty(&events), fixes })
}

/// Checks the required custom_details fields and injects missing placeholders; returns the service name.
fn check_custom_details(
    options: &ScenarioOptions,
    index: usize,
    details: &mut Map<String, Value>,
    fixes: &mut Vec<String>,
    violations: &mut Vec<Violation>,
) -> String {
    let at = |field: &str| format!("events[{index}].payload.custom_details.{field}");
    for field in ["metric_name", "current_value", "threshold"] {
        if details.get(field).is_none_or(is_blank) {
            violations.push(Violation::new(at(field), "missing or empty"));
        }
    }
    let service_name = match details.get("service_name").and_then(Value::as_str) {
        Some(name) => match options.service_names.iter().find(|service| service.eq_ignore_ascii_case(name.trim())) {
            Some(service) => {
                if service != name {
                    fixes.push(format!("events[{index}] service_name {name:?} spelled {service:?}"));
                    details.insert("service_name".into(), json!(service));
                }
                service.clone()
            }
            None => {
                violations.push(Violation::new(
                    at("service_name"),
                    format!("{name:?} is not one of the services {}", options.service_names.join(", ")),
                ));
                name.to_owned()
            }
        },
        None => {
            violations.push(Violation::new(at("service_name"), "missing the service name"));
            String::new()
        }
    };
    let injected = [
        ("event_id", EVENT_ID_PLACEHOLDER.to_owned()),
        ("hostname", hostname_placeholder(&service_name)),
        ("ip_address", IP_ADDRESS_PLACEHOLDER.to_owned()),
        ("cluster_name", cluster_placeholder(&["prod-east", "prod-west"])),
    ];
    for (field, placeholder) in injected {
        match details.get(field) {
            None | Some(Value::Null) => {
                fixes.push(format!("events[{index}].payload.custom_details.{field} placeholder injected"));
                details.insert(field.into(), json!(placeholder));
            }
            Some(Value::String(value)) if has_placeholder(value) => {}
            Some(other) => violations.push(Violation::new(
                at(field),
                format!("{other} is a fixed value; use a placeholder such as {placeholder} so every send differs"),
            )),
        }
    }
    if options.kind == ScenarioKind::Major && details.get("major_failure") == Some(&Value::Bool(true)) {
        match details.get("CUJ Impacted") {
            Some(Value::Bool(true)) => {}
            _ => violations
                .push(Violation::new(at("CUJ Impacted"), "the major-failure alert needs \"CUJ Impacted\": true")),
        }
    }
    service_name
}

fn check_major_failure(found: &[(usize, u64, String, String)], violations: &mut Vec<Violation>) {
    match found {
        [] => violations.push(Violation::new(
            "events",
            "exactly one alert needs \"major_failure\": true and \"CUJ Impacted\": true in custom_details",
        )),
        [(index, offset, severity, _)] => {
            if !MAJOR_FAILURE_OFFSET.contains(offset) {
                violations.push(Violation::new(
                    format!("events[{index}].timing_metadata.schedule_offset"),
                    format!("the major-failure alert starts at {offset} s; it must start at 120-180 s"),
                ));
            }
            if severity != "error" && severity != "critical" {
                violations.push(Violation::new(
                    format!("events[{index}].payload.severity"),
                    format!("the major-failure alert is {severity:?}; it must be error or critical"),
                ));
            }
        }
        several => {
            let indices: Vec<String> = several.iter().map(|(index, ..)| index.to_string()).collect();
            violations.push(Violation::new(
                "events",
                format!("alerts {} all carry major_failure; exactly one may", indices.join(", ")),
            ));
        }
    }
}

/// Reads the event's `schedule_offset` wherever [`timing`] finds it (the old tool wrote it at the top level or
/// under `payload`) as whole seconds, and writes it as a whole number under `timing_metadata`.
fn read_schedule_offset(
    event: &mut Map<String, Value>,
    index: usize,
    fixes: &mut Vec<String>,
) -> Result<u64, Violation> {
    let snapshot = Value::Object(event.clone());
    let Some((field, value)) = timing::find_schedule_offset(&snapshot) else {
        return Err(Violation::new(
            format!("events[{index}].timing_metadata.schedule_offset"),
            "missing; give the whole seconds from the start",
        ));
    };
    let location = format!("events[{index}].{field}");
    let seconds = timing::seconds(value, field)
        .ok()
        .filter(|seconds| seconds.fract() == 0.0)
        .map(|seconds| seconds as u64)
        .ok_or_else(|| Violation::new(location.clone(), format!("{value} is not a whole number of seconds >= 0")))?;
    if field != "timing_metadata.schedule_offset" {
        fixes.push(format!("{location} {value} moved to timing_metadata.schedule_offset"));
        match field {
            "schedule_offset" => event.remove("schedule_offset"),
            _ => event.get_mut("payload").and_then(Value::as_object_mut).and_then(|p| p.remove("schedule_offset")),
        };
    } else if value.as_u64().is_none() {
        fixes.push(format!("{location} {value} written as {seconds}"));
    }
    let timing_metadata = event.entry("timing_metadata").or_insert_with(|| json!({}));
    if !timing_metadata.is_object() {
        *timing_metadata = json!({});
    }
    timing_metadata["schedule_offset"] = json!(seconds);
    Ok(seconds)
}

/// Normalizes `repeat_schedule` to the array form and returns its entries, read by [`timing`] exactly as
/// dispatch reads them: a bare number n becomes one entry of n repeats every top-level `repeat_offset`
/// seconds (60 s without one), the offsets the sender would use for the bare number.
fn normalize_repeat_schedule(
    event: &mut Map<String, Value>,
    index: usize,
    fixes: &mut Vec<String>,
) -> Result<Vec<timing::RepeatEntry>, Violation> {
    let location = format!("events[{index}].repeat_schedule");
    let snapshot = Value::Object(event.clone());
    // The reason names the field (`repeat_schedule[0].repeat_offset …`), so the location is the event.
    let mut entries =
        timing::repeat_entries(&snapshot).map_err(|reason| Violation::new(format!("events[{index}]"), reason))?;
    match snapshot.get("repeat_schedule") {
        None | Some(Value::Null) => fixes.push(format!("{location} missing, written as []")),
        Some(Value::Array(_)) => {}
        Some(Value::Object(_)) => fixes.push(format!("{location} single entry wrapped in an array")),
        Some(number) => {
            entries.retain(|entry| entry.count > 0);
            let every = entries.first().map_or(String::new(), |entry| format!(" every {} s", entry.offset_s));
            fixes.push(format!("{location} number {number} written in the array form{every}, as it is sent"));
        }
    }
    let mut normalized = Vec::new();
    for (entry_index, entry) in entries.iter().enumerate() {
        if entry.offset_s <= 0.0 || entry.offset_s.fract() != 0.0 {
            return Err(Violation::new(
                format!("{location}[{entry_index}]"),
                "needs \"repeat_count\" (whole number >= 0) and \"repeat_offset\" (whole seconds > 0)",
            ));
        }
        normalized.push(json!({ "repeat_count": entry.count, "repeat_offset": entry.offset_s as u64 }));
    }
    event.insert("repeat_schedule".into(), Value::Array(normalized));
    Ok(entries)
}

/// Reads a model's or file's text as an array of objects: fences and `json` tags are stripped by
/// `parse_event_array`; an object wrapping the array under one of `keys` (what JSON-object mode produces)
/// is unwrapped.
fn read_array(text: &str, keys: &[&str], fixes: &mut Vec<String>) -> Result<Vec<Value>, Violation> {
    let trimmed = text.trim();
    if trimmed.starts_with("```") || trimmed.get(..4).is_some_and(|tag| tag.eq_ignore_ascii_case("json")) {
        fixes.push("code fence or json tag stripped".into());
    }
    let items = parse_event_array(text).map_err(|error| Violation::new("json", error.to_string()))?;
    if let [Value::Object(wrapper)] = items.as_slice() {
        if wrapper.len() == 1 {
            if let Some((key, Value::Array(inner))) = wrapper.iter().next() {
                if keys.contains(&key.as_str()) {
                    fixes.push(format!("array unwrapped from the {key:?} key"));
                    if let Some(index) = inner.iter().position(|item| !item.is_object()) {
                        return Err(Violation::new(format!("{key}[{index}]"), "is not an object"));
                    }
                    return Ok(inner.clone());
                }
            }
        }
    }
    Ok(items)
}

fn strip_text_fence(text: &str, fixes: &mut Vec<String>) -> String {
    let trimmed = text.trim();
    if let Some(rest) = trimmed.strip_prefix("```") {
        let body = rest.split_once('\n').map(|(_, body)| body).unwrap_or("");
        let body = body.trim_end().strip_suffix("```").unwrap_or(body);
        fixes.push("code fence around the narrative stripped".into());
        return body.trim().to_owned();
    }
    trimmed.to_owned()
}

/// `- 14:02 UTC …`, `* **09:15 ET** …` and similar.
fn is_time_stamped_bullet(line: &str) -> bool {
    let line = line.trim_start();
    let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")).or_else(|| line.strip_prefix("• "))
    else {
        return false;
    };
    let rest = rest.trim_start().trim_start_matches("**");
    let bytes = rest.as_bytes();
    let hour_digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=2).contains(&hour_digits) || bytes.get(hour_digits) != Some(&b':') {
        return false;
    }
    let minutes = &bytes[hour_digits + 1..];
    if minutes.len() < 2 || !minutes[..2].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let zone = rest[hour_digits + 3..].trim_start();
    let letters = zone.chars().take_while(|c| c.is_ascii_uppercase()).count();
    (2..=5).contains(&letters)
}

fn generic_system_name(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    words.windows(2).find_map(|pair| {
        let generic = matches!(pair[0], "Service" | "System" | "Server" | "Application")
            && pair[1].len() == 1
            && pair[1].chars().all(|c| c.is_ascii_uppercase());
        generic.then(|| format!("{} {}", pair[0], pair[1]))
    })
}

fn outage_word(summary: &str) -> Option<String> {
    const STEMS: [&str; 9] =
        ["outage", "incident", "fail", "crash", "broke", "degrad", "error", "unavailab", "disrupt"];
    summary
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_ascii_lowercase)
        .find(|word| word == "down" || word == "p1" || STEMS.iter().any(|stem| word.starts_with(stem)))
}

/// Renders every placeholder of every element once with the dispatch template engine (seeded, so the check is
/// deterministic), so a malformed expression or an unknown `faker.*` call is sent back to the model now instead
/// of failing the send later. Rendered values are discarded: each send draws its own.
fn check_placeholders_render(elements: &[Value], part: &str, violations: &mut Vec<Violation>) {
    let mut context = RenderContext::new(Some(0));
    for (index, element) in elements.iter().enumerate() {
        check_value_placeholders(element, &mut format!("{part}[{index}]"), &mut context, violations);
    }
}

fn check_value_placeholders(
    value: &Value,
    location: &mut String,
    context: &mut RenderContext,
    violations: &mut Vec<Violation>,
) {
    match value {
        Value::String(text) if text.contains("{{") => {
            if let Err(error) = render_text(text, location, context, None) {
                violations.push(Violation::new(
                    location.clone(),
                    format!("the placeholder {{{{ {} }}}} cannot be rendered: {}", error.expression, error.reason),
                ));
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let length = location.len();
                location.push_str(&format!("[{index}]"));
                check_value_placeholders(item, location, context, violations);
                location.truncate(length);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let length = location.len();
                location.push('.');
                location.push_str(key);
                check_value_placeholders(item, location, context, violations);
                location.truncate(length);
            }
        }
        _ => {}
    }
}

fn has_placeholder(value: &str) -> bool {
    match (value.find("{{"), value.rfind("}}")) {
        (Some(open), Some(close)) => open + 2 < close && !value[open + 2..close].trim().is_empty(),
        _ => false,
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        _ => false,
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn describe(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_else(|| "(missing)".into())
}

fn describe_range(range: &std::ops::RangeInclusive<u32>) -> String {
    if range.start() == range.end() {
        format!("exactly {}", range.start())
    } else {
        format!("{}-{}", range.start(), range.end())
    }
}

fn pretty(events: &[Value]) -> String {
    serde_json::to_string_pretty(events).expect("JSON values serialize")
}

fn report(options: &ScenarioOptions, part: &str, violations: Vec<Violation>) -> Vec<Violation> {
    tracing::debug!(scenario = %options.kind, part, count = violations.len(), "scenario output broke the rules");
    violations
}

fn log_fixes(options: &ScenarioOptions, part: &str, fixes: &[String]) {
    for fix in fixes {
        tracing::info!(scenario = %options.kind, part, fix = %fix, "repaired scenario output");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::generate::{builtin, GenerationSpec, RawScenario};

    fn sample(kind: ScenarioKind) -> (ScenarioOptions, RawScenario) {
        let spec = GenerationSpec { org_name: "Acme Bank".into(), scenarios: vec![Some(kind)], ..Default::default() };
        let brief = spec.brief(kind);
        let raw = builtin::generate(&brief, 5);
        (brief.options, raw)
    }

    fn events_of(text: &str) -> Vec<Value> {
        serde_json::from_str(text).unwrap()
    }

    fn messages(violations: &[Violation]) -> String {
        violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn mechanical_repairs_are_applied_and_reported() {
        let (options, raw) = sample(ScenarioKind::Well);
        let mut events = events_of(&raw.events);
        events[0]["event_action"] = json!("resolve");
        events[0]["payload"]["severity"] = json!("Warning");
        events[0]["payload"]["source"] = json!(options.observability_tools[0].to_uppercase());
        events[0]["repeat_schedule"] = json!(2);
        events[0]["repeat_offset"] = json!(25);
        events[0]["timing_metadata"]["schedule_offset"] = json!("5");
        let details = events[0]["payload"]["custom_details"].as_object_mut().unwrap();
        details.remove("hostname");
        details.remove("event_id");
        // Keep the total inside 4-6 sends whatever the sample drew.
        for event in events.iter_mut().skip(1) {
            event["repeat_schedule"] = json!([]);
        }
        let text = format!("```json\n{}\n```", serde_json::to_string(&events).unwrap());
        let fixed = check_events(&options, &text).unwrap_or_else(|v| panic!("{}", messages(&v)));
        let repaired = events_of(&fixed.value);
        assert_eq!(repaired[0]["event_action"], "trigger");
        assert_eq!(repaired[0]["payload"]["severity"], "warning");
        assert_eq!(repaired[0]["payload"]["source"], options.observability_tools[0].as_str());
        assert_eq!(repaired[0]["timing_metadata"]["schedule_offset"], 5);
        // A bare count repeats every top-level repeat_offset seconds, as the sender plays it.
        assert_eq!(repaired[0]["repeat_schedule"], json!([{ "repeat_count": 2, "repeat_offset": 25 }]));
        assert_eq!(repaired[0]["payload"]["custom_details"]["event_id"], EVENT_ID_PLACEHOLDER);
        assert_eq!(
            repaired[0]["payload"]["custom_details"]["hostname"],
            "{{ 'storage-' + faker.datatype.number({ min: 10, max: 99 }) }}"
        );
        assert_eq!(fixed.fixes.len(), 8, "{:?}", fixed.fixes);
        assert!(fixed.fixes.iter().any(|fix| fix.contains("code fence")));
    }

    /// The repaired file must play exactly the offsets the sender would have played for the original.
    #[test]
    fn repairs_keep_the_offsets_the_sender_plays() {
        let send_offsets = |event: &Value| {
            let initial = timing::schedule_offset(event).unwrap_or(Ok(0.0)).unwrap();
            let mut offsets = timing::repeat_offsets(initial, &timing::repeat_entries(event).unwrap(), 100).unwrap();
            offsets.insert(0, initial);
            offsets
        };
        // The old tool's form: offset at the top level, a bare repeat count without repeat_offset (60 s).
        let original = json!({ "schedule_offset": 10, "repeat_schedule": 2, "payload": { "summary": "s" } });
        let mut event = original.as_object().unwrap().clone();
        let mut fixes = Vec::new();
        assert_eq!(read_schedule_offset(&mut event, 0, &mut fixes).unwrap(), 10);
        normalize_repeat_schedule(&mut event, 0, &mut fixes).unwrap();
        let repaired = Value::Object(event);
        assert_eq!(repaired["timing_metadata"]["schedule_offset"], 10);
        assert_eq!(repaired["repeat_schedule"], json!([{ "repeat_count": 2, "repeat_offset": 60 }]));
        assert_eq!(send_offsets(&repaired), send_offsets(&original));
        assert_eq!(send_offsets(&original), vec![10.0, 70.0, 130.0]);
        assert_eq!(fixes.len(), 2, "{fixes:?}");
        let mut unreadable = json!({ "repeat_schedule": [{ "repeat_count": 2 }] }).as_object().unwrap().clone();
        let violation = normalize_repeat_schedule(&mut unreadable, 4, &mut fixes).unwrap_err();
        assert_eq!(violation.to_string(), "events[4]: repeat_schedule[0] has repeat_count but no repeat_offset");

        // Offsets the sender would play past the window stay a violation: 10 + 7 × 60 = 430 > 420.
        let (options, raw) = sample(ScenarioKind::Major);
        let mut events = events_of(&raw.events);
        events[0]["timing_metadata"]["schedule_offset"] = json!(10);
        events[0]["repeat_schedule"] = json!(7);
        let violations = check_events(&options, &serde_json::to_string(&events).unwrap()).unwrap_err();
        let text = messages(&violations);
        assert!(text.contains("events[0].repeat_schedule: sends until 430 s, past the 420 s window"), "{text}");
    }

    #[test]
    fn rule_breaks_are_reported_with_element_and_field() {
        let (options, raw) = sample(ScenarioKind::Major);
        let mut events = events_of(&raw.events);
        let failure = events.iter().position(|e| e["payload"]["custom_details"]["major_failure"] == true).unwrap();
        events[failure]["payload"]["custom_details"].as_object_mut().unwrap().remove("major_failure");
        events[0]["payload"]["summary"] = json!("Acme Bank checkout is slow");
        events[1]["payload"]["custom_details"]["ip_address"] = json!("10.0.0.1");
        events[2]["timing_metadata"]["schedule_offset"] = json!(400);
        events[2]["repeat_schedule"] = json!([{ "repeat_count": 3, "repeat_offset": 10 }]);
        events[3]["payload"]["custom_details"]["service_name"] = json!("Service A");
        let violations = check_events(&options, &serde_json::to_string(&events).unwrap()).unwrap_err();
        let text = messages(&violations);
        assert!(text.contains("events: exactly one alert needs \"major_failure\": true"), "{text}");
        assert!(text.contains("events[0].payload.summary: must not contain the organization name"), "{text}");
        assert!(text.contains("events[1].payload.custom_details.ip_address: \"10.0.0.1\" is a fixed value"), "{text}");
        assert!(text.contains("events[2].repeat_schedule: sends until 430 s, past the 420 s window"), "{text}");
        assert!(text.contains("events[3].payload.custom_details.service_name: \"Service A\" is not one of"), "{text}");
    }

    #[test]
    fn placeholders_must_parse_and_use_known_functions() {
        let (options, raw) = sample(ScenarioKind::Well);
        assert!(check_events(&options, &raw.events).is_ok(), "the built-in placeholders render");
        let mut events = events_of(&raw.events);
        events[0]["payload"]["custom_details"]["hostname"] = json!("{{ faker.foo.bar() }}");
        events[1]["payload"]["custom_details"]["event_id"] = json!("{{ faker.datatype.uuid( }}");
        events[1]["payload"]["custom_details"]["note"] = json!("seen at {{ timestamp(-60, 0) }}, fine");
        let text = messages(&check_events(&options, &serde_json::to_string(&events).unwrap()).unwrap_err());
        assert!(
            text.contains(
                "events[0].payload.custom_details.hostname: the placeholder {{ faker.foo.bar() }} cannot be rendered"
            ),
            "{text}"
        );
        assert!(text.contains("unknown function `faker.foo.bar`"), "{text}");
        assert!(text.contains("events[1].payload.custom_details.event_id: the placeholder"), "{text}");
        assert!(!text.contains("custom_details.note"), "a valid placeholder is not reported: {text}");
        assert_eq!(text.lines().count(), 2, "{text}");

        let mut changes = events_of(&raw.change_events);
        changes[0]["payload"]["timestamp"] = json!("{{ timestamp(-1800, }}");
        let text = messages(&check_change_events(&options, &serde_json::to_string(&changes).unwrap()).unwrap_err());
        assert!(text.contains("change_events[0].payload.timestamp: the placeholder {{ timestamp(-1800, }}"), "{text}");
    }

    #[test]
    fn narrative_needs_every_heading_the_talk_track_length_and_time_stamps() {
        let (options, raw) = sample(ScenarioKind::Major);
        let checked = check_narrative(&options, &raw.narrative).unwrap().value;
        assert!(checked.incident_details.starts_with("- "));
        assert!(!checked.outage_summary.is_empty() && !checked.outage_summary.contains('\n'));

        let wrong_length = raw.narrative.replace("(20-Minute", "(15-Minute");
        let text = messages(&check_narrative(&options, &wrong_length).unwrap_err());
        assert!(text.contains("missing the heading **Talk Track for the SC (20-Minute Demo Flow):**"), "{text}");

        let start = raw.narrative.find("**Incident Narrative:**").unwrap() + "**Incident Narrative:**".len();
        let end = raw.narrative.find("**The Response:**").unwrap();
        let untimed = format!("{}\nThings went wrong.\n\n{}", &raw.narrative[..start], &raw.narrative[end..]);
        let text = messages(&check_narrative(&options, &untimed).unwrap_err());
        assert!(text.contains("time-stamped bullets"), "{text}");

        let generic = raw.narrative.replace("**The Resolution:**\n", "**The Resolution:**\nService B was restarted. ");
        assert!(messages(&check_narrative(&options, &generic).unwrap_err()).contains("\"Service B\" is a placeholder"));
    }

    #[test]
    fn change_events_rules_and_repairs() {
        let (options, raw) = sample(ScenarioKind::Partial);
        let mut changes = events_of(&raw.change_events);
        changes[0]["payload"].as_object_mut().unwrap().remove("timestamp");
        changes[0]["payload"]["severity"] = json!("info");
        changes[0]["event_action"] = json!("trigger");
        let fixed = check_change_events(&options, &serde_json::to_string(&changes).unwrap()).unwrap();
        let repaired = events_of(&fixed.value);
        assert_eq!(repaired[0]["payload"]["timestamp"], CHANGE_TIMESTAMP_PLACEHOLDER);
        assert!(repaired[0].get("event_action").is_none() && repaired[0]["payload"].get("severity").is_none());
        assert_eq!(fixed.fixes.len(), 3);

        changes[0]["payload"]["summary"] =
            json!("Rollback after the checkout outage caused by a bad deploy of the pricing engine");
        changes[0]["links"] = json!([]);
        changes.push(changes[0].clone());
        let text = messages(&check_change_events(&options, &serde_json::to_string(&changes).unwrap()).unwrap_err());
        assert!(text.contains("change_events[0].payload.summary: mentions \"outage\""), "{text}");
        assert!(text.contains("change_events[0].links: needs at least one"), "{text}");
        assert!(text.contains("change_events: 2 change events; partial needs exactly 1"), "{text}");
    }

    #[test]
    fn the_old_tools_files_are_read_and_their_flaws_reported() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/original-outputs/PayPal/major_events_20250421T162409899Z.json");
        let text = std::fs::read_to_string(path).unwrap();
        let options =
            ScenarioOptions::new(ScenarioKind::Major, "PayPal", &[], &[], &["DataDog".into(), "Splunk".into()]);
        let violations = check_events(&options, &text).unwrap_err();
        let text = messages(&violations);
        assert!(text.contains("custom_details.metric_name: missing or empty"), "{text}");
        assert!(text.contains("past the 420 s window of major"), "{text}");
        assert!(text.contains("\"JIRA\" is not one of the observability tools"), "{text}");
        assert!(!check_events(&options, "not json").unwrap_err().is_empty());
    }
}
