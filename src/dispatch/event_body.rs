//! Clean request bodies for PagerDuty: Events API v2 bodies for alerts (known fields only, scheduling fields
//! stripped, severity lower-cased, a `dedup_key` so repeats update one alert and resolves find it) and
//! Change Events bodies (no `event_action`, `dedup_key` or `severity`, whatever the file carried).

use serde_json::{Map, Value};

use super::{DispatchError, EventKind, LoadedFile};
use crate::template::{render_placeholders, render_text, RenderContext, TemplateError};

const ALERT_PAYLOAD_FIELDS: &[&str] =
    &["summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"];
const CHANGE_PAYLOAD_FIELDS: &[&str] = &["summary", "source", "timestamp", "custom_details"];
const ALERT_TOP_FIELDS: &[&str] = &["links", "images", "client", "client_url"];
pub const SEVERITIES: &[&str] = &["critical", "error", "warning", "info"];
const SUMMARY_LIMIT: usize = 1024;

/// An event ready to be rendered and sent: its clean body without `routing_key`, placeholders unrendered.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub kind: EventKind,
    pub template: Value,
    /// The file's summary (before rendering), for the schedule and Postman item names.
    pub summary: String,
    pub dedup_key: Option<String>,
}

/// Prepares every event of every file. Triggers without a `dedup_key` get `<key_prefix>-<file>-<event>`;
/// a `resolve`/`acknowledge` without one gets the key of the trigger it closes (see [`matching_trigger`]).
/// A `dedup_key` written with placeholders is rendered once here, so all sends of the event share it.
pub fn prepare_events(
    files: &[LoadedFile],
    key_prefix: &str,
    context: &mut RenderContext,
) -> Result<Vec<Vec<PreparedEvent>>, DispatchError> {
    let mut keys: Vec<Vec<Option<String>>> = Vec::with_capacity(files.len());
    for (file_index, file) in files.iter().enumerate() {
        let mut file_keys = Vec::with_capacity(file.events.len());
        for (event_index, event) in file.events.iter().enumerate() {
            let key = match (file.kind, event.get("dedup_key").and_then(Value::as_str)) {
                (EventKind::Change, _) => None,
                (EventKind::Alert, Some(key)) if !key.trim().is_empty() => {
                    let path = format!("[{event_index}].dedup_key");
                    Some(render_text(key, &path, context, None).map_err(|source| placeholder_error(file, source))?)
                }
                (EventKind::Alert, _) if event_action(event) == "trigger" => {
                    Some(format!("{key_prefix}-{file_index}-{event_index}"))
                }
                (EventKind::Alert, _) => None,
            };
            file_keys.push(key);
        }
        keys.push(file_keys);
    }

    let mut prepared = Vec::with_capacity(files.len());
    for (file_index, file) in files.iter().enumerate() {
        let mut file_events = Vec::with_capacity(file.events.len());
        for (event_index, event) in file.events.iter().enumerate() {
            let invalid =
                |reason: String| DispatchError::InvalidEvent { file: file.name.clone(), index: event_index, reason };
            if !event.get("payload").is_none_or(Value::is_object) {
                return Err(invalid("payload must be an object".into()));
            }
            let summary = event.pointer("/payload/summary").and_then(Value::as_str).unwrap_or_default().to_owned();
            let (template, dedup_key) = match file.kind {
                EventKind::Change => (change_template(event), None),
                EventKind::Alert => {
                    let action = event_action(event);
                    if !matches!(action.as_str(), "trigger" | "acknowledge" | "resolve") {
                        return Err(invalid(format!(
                            "event_action {action:?} is not one of trigger, acknowledge, resolve"
                        )));
                    }
                    let dedup_key = match &keys[file_index][event_index] {
                        Some(key) => key.clone(),
                        None => match matching_trigger(files, file_index, event_index) {
                            Some((f, e)) => keys[f][e].clone().unwrap_or_default(),
                            // Nothing to close: a key of its own, which PagerDuty accepts and ignores.
                            None => {
                                tracing::warn!(file = %file.name, index = event_index, action = %action,
                                    "no trigger shares this event's summary, component or source");
                                format!("{key_prefix}-{file_index}-{event_index}")
                            }
                        },
                    };
                    (alert_template(event, &action, &dedup_key), Some(dedup_key))
                }
            };
            file_events.push(PreparedEvent { kind: file.kind, template, summary, dedup_key });
        }
        prepared.push(file_events);
    }
    Ok(prepared)
}

fn placeholder_error(file: &LoadedFile, source: TemplateError) -> DispatchError {
    DispatchError::Placeholder { file: file.name.clone(), source }
}

fn event_action(event: &Value) -> String {
    event.get("event_action").and_then(Value::as_str).unwrap_or("trigger").trim().to_ascii_lowercase()
}

/// The trigger a `resolve`/`acknowledge` closes: the first trigger (its own file first, then the others)
/// with the same summary, else the same component and source, else the same component, else the same
/// source — the old tool's resolve events reword the summary but keep the component or source.
pub fn matching_trigger(files: &[LoadedFile], file_index: usize, event_index: usize) -> Option<(usize, usize)> {
    let closing = &files[file_index].events[event_index];
    let field = |event: &Value, name: &str| {
        event
            .pointer(&format!("/payload/{name}"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let same = |a: &Value, b: &Value, names: &[&str]| {
        names.iter().all(|n| field(a, n).is_some() && field(a, n) == field(b, n))
    };
    let file_order = std::iter::once(file_index).chain((0..files.len()).filter(move |f| *f != file_index));
    let triggers: Vec<(usize, usize, &Value)> = file_order
        .filter(|f| files[*f].kind == EventKind::Alert)
        .flat_map(|f| files[f].events.iter().enumerate().map(move |(e, event)| (f, e, event)))
        .filter(|(_, _, event)| event_action(event) == "trigger")
        .collect();
    let rules: [&[&str]; 4] = [&["summary"], &["component", "source"], &["component"], &["source"]];
    rules.iter().find_map(|names| {
        triggers.iter().find(|(_, _, trigger)| same(closing, trigger, names)).map(|(f, e, _)| (*f, *e))
    })
}

fn pick_fields(source: Option<&Value>, fields: &[&str]) -> Map<String, Value> {
    let mut picked = Map::new();
    if let Some(Value::Object(object)) = source {
        for field in fields {
            if let Some(value) = object.get(*field) {
                picked.insert((*field).to_owned(), value.clone());
            }
        }
    }
    picked
}

fn alert_template(event: &Value, action: &str, dedup_key: &str) -> Value {
    let mut body = Map::new();
    body.insert("event_action".into(), Value::String(action.to_owned()));
    body.insert("dedup_key".into(), Value::String(dedup_key.to_owned()));
    if action == "trigger" {
        body.insert("payload".into(), Value::Object(pick_fields(event.get("payload"), ALERT_PAYLOAD_FIELDS)));
        body.extend(pick_fields(Some(event), ALERT_TOP_FIELDS));
    }
    Value::Object(body)
}

fn change_template(event: &Value) -> Value {
    let mut body = Map::new();
    body.insert("payload".into(), Value::Object(pick_fields(event.get("payload"), CHANGE_PAYLOAD_FIELDS)));
    body.extend(pick_fields(Some(event), &["links"]));
    Value::Object(body)
}

/// Renders a prepared event into the body to send: placeholders evaluated, severity lower-cased, and
/// `routing_key` first.
pub fn render_body(
    event: &PreparedEvent,
    routing_key: &str,
    context: &mut RenderContext,
) -> Result<Value, TemplateError> {
    let rendered = render_placeholders(&event.template, context)?;
    Ok(with_routing_key(rendered, routing_key))
}

/// Puts `routing_key` first and lower-cases `payload.severity`.
pub fn with_routing_key(rendered: Value, routing_key: &str) -> Value {
    let mut body = Map::new();
    body.insert("routing_key".into(), Value::String(routing_key.to_owned()));
    if let Value::Object(rest) = rendered {
        body.extend(rest);
    }
    if let Some(Value::String(severity)) = body.get_mut("payload").and_then(|p| p.get_mut("severity")) {
        *severity = severity.trim().to_ascii_lowercase();
    }
    Value::Object(body)
}

/// Checks a rendered body against the rules PagerDuty enforces, so a bad file fails before the run starts.
pub fn check_body(kind: EventKind, body: &Value) -> Result<(), String> {
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str).map(str::trim).unwrap_or_default();
    let summary = text("/payload/summary");
    let is_trigger = kind == EventKind::Alert && text("/event_action") == "trigger";
    if kind == EventKind::Change || is_trigger {
        if summary.is_empty() {
            return Err("payload.summary is missing or blank".into());
        }
        let length = summary.chars().count();
        if length > SUMMARY_LIMIT {
            return Err(format!("payload.summary has {length} characters; PagerDuty accepts at most {SUMMARY_LIMIT}"));
        }
    }
    if is_trigger {
        if text("/payload/source").is_empty() {
            return Err("payload.source is missing or blank".into());
        }
        let severity = text("/payload/severity");
        if !SEVERITIES.contains(&severity) {
            return Err(format!("payload.severity {severity:?} is not one of {}", SEVERITIES.join(", ")));
        }
    }
    if kind == EventKind::Change && body.get("links").and_then(Value::as_array).is_some_and(|links| links.len() > 50) {
        return Err("links has more than 50 items".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(name: &str, kind: EventKind, events: Value) -> LoadedFile {
        LoadedFile { name: name.into(), kind, events: events.as_array().unwrap().clone() }
    }

    #[test]
    fn alert_bodies_are_clean_and_resolves_find_their_trigger() {
        let alerts = file(
            "major_events_1.json",
            EventKind::Alert,
            json!([
                { "event_action": "trigger", "routing_key": "from-file", "extra": 1,
                  "payload": { "summary": "Latency high", "source": "New Relic", "severity": "CRITICAL",
                               "component": "API Gateway", "schedule_offset": 3, "note": "x" },
                  "timing_metadata": { "schedule_offset": 0 }, "repeat_schedule": [], "links": [ { "href": "https://x" } ] },
                { "event_action": "Resolve", "payload": { "summary": "Latency normal", "source": "Ops", "component": "API Gateway", "severity": "info" } },
                { "event_action": "resolve", "payload": { "summary": "unrelated", "source": "nobody" } },
            ]),
        );
        let prepared = prepare_events(&[alerts], "run", &mut RenderContext::new(Some(1))).unwrap();
        let trigger = with_routing_key(prepared[0][0].template.clone(), "K");
        assert_eq!(
            trigger,
            json!({ "routing_key": "K", "event_action": "trigger", "dedup_key": "run-0-0",
                    "payload": { "summary": "Latency high", "source": "New Relic", "severity": "critical", "component": "API Gateway" },
                    "links": [ { "href": "https://x" } ] })
        );
        assert_eq!(serde_json::to_string(&trigger).unwrap().find("routing_key"), Some(2), "routing_key first");
        assert!(check_body(EventKind::Alert, &trigger).is_ok());
        assert_eq!(
            prepared[0][1].template,
            json!({ "event_action": "resolve", "dedup_key": "run-0-0" }),
            "same component closes the trigger"
        );
        assert_eq!(prepared[0][2].dedup_key.as_deref(), Some("run-0-2"), "nothing to close: a key of its own");
    }

    #[test]
    fn change_bodies_drop_alert_fields() {
        let changes = file(
            "major_change_events_1.json",
            EventKind::Change,
            json!([{ "routing_key": "x", "event_action": "trigger", "dedup_key": "d",
                     "payload": { "summary": "Deploy v2", "source": "Jenkins", "severity": "info",
                                  "timestamp": "{{ timestamp(-60) }}", "custom_details": { "ticket": "CHG1" } },
                     "links": [ { "href": "https://ci", "text": "build" } ] }]),
        );
        let prepared = prepare_events(&[changes], "run", &mut RenderContext::new(None)).unwrap();
        let body = render_body(&prepared[0][0], "K", &mut RenderContext::new(None)).unwrap();
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["routing_key", "payload", "links"]);
        let payload: Vec<&str> = body["payload"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(payload, ["summary", "source", "timestamp", "custom_details"]);
        assert!(chrono::DateTime::parse_from_rfc3339(body["payload"]["timestamp"].as_str().unwrap()).is_ok());
        assert!(check_body(EventKind::Change, &body).is_ok());
    }

    #[test]
    fn bodies_that_pagerduty_would_reject_are_caught() {
        let base = json!({ "routing_key": "K", "event_action": "trigger", "payload": { "summary": "s", "source": "x", "severity": "error" } });
        assert!(check_body(EventKind::Alert, &base).is_ok());
        let mut bad = base.clone();
        bad["payload"]["severity"] = json!("high");
        assert!(check_body(EventKind::Alert, &bad).unwrap_err().contains("\"high\""));
        let mut bad = base.clone();
        bad["payload"]["summary"] = json!("x".repeat(1025));
        assert!(check_body(EventKind::Alert, &bad).unwrap_err().contains("1025"));
        let mut bad = base.clone();
        bad["payload"]["source"] = json!(" ");
        assert!(check_body(EventKind::Alert, &bad).unwrap_err().contains("source"));
        let bad_action = file("e.json", EventKind::Alert, json!([{ "event_action": "explode" }]));
        let error = prepare_events(&[bad_action], "r", &mut RenderContext::new(None)).unwrap_err().to_string();
        assert!(error.contains("\"e.json\", event [0]") && error.contains("explode"), "{error}");
    }
}
