//! Postman v2.1 collections of events files: one request per event with the clean body the sender would
//! post, `{{routing_key}}` as a collection variable, change events pointed at the change endpoint, and
//! placeholders turned into Postman dynamic variables where one exists (rendered once otherwise).

use std::sync::Arc;

use serde_json::{json, Value};

use super::event_body::{prepare_events, with_routing_key};
use super::{DispatchError, EventKind, LoadedFile};
use crate::template::{render_placeholders_with, Expr, RenderContext};

const SCHEMA: &str = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";

/// The Postman dynamic variable equivalent to a placeholder call, when one exists.
pub fn postman_variable(name: &str, args: &[Expr]) -> Option<String> {
    let variable = match (name, args.len()) {
        ("faker.datatype.uuid" | "faker.string.uuid", 0) => "$guid",
        ("faker.internet.ip" | "faker.internet.ipv4", 0) => "$randomIP",
        ("timestamp", 0) => "$isoTimestamp",
        ("faker.internet.domainName", 0) => "$randomDomainName",
        ("faker.internet.url", 0) => "$randomUrl",
        ("faker.commerce.department", 0) => "$randomDepartment",
        // Postman's $randomInt has its own range (0-1000); a call with bounds is rendered once instead.
        ("faker.datatype.number" | "faker.number.int", 0) => "$randomInt",
        _ => return None,
    };
    Some(format!("{{{{{variable}}}}}"))
}

/// The collection and its suggested file name `<org>_<file>_postman_collection.json`.
pub fn export_collection(
    org: &str,
    file: &LoadedFile,
    events_url: &str,
    change_events_url: &str,
) -> Result<(String, String), DispatchError> {
    let mut context = RenderContext::with_clock(None, Arc::new(chrono::Utc::now));
    let stem = file.name.strip_suffix(".json").unwrap_or(&file.name);
    let key_prefix = format!("demogen-{}", stem.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
    let files = std::slice::from_ref(file);
    let prepared = prepare_events(files, &key_prefix, &mut context)?;
    let mut items = Vec::with_capacity(prepared[0].len());
    for (index, event) in prepared[0].iter().enumerate() {
        let rendered =
            render_placeholders_with(&event.template, &mut context, &postman_variable).map_err(|mut source| {
                source.path = format!("[{index}].{}", source.path);
                DispatchError::Placeholder { file: file.name.clone(), source }
            })?;
        let body = with_routing_key(rendered, "{{routing_key}}");
        let url = match event.kind {
            EventKind::Alert => events_url,
            EventKind::Change => change_events_url,
        };
        let name = item_name(&body, event, index);
        items.push(json!({
            "name": name,
            "request": {
                "method": "POST",
                "header": [ { "key": "Content-Type", "value": "application/json" } ],
                "body": {
                    "mode": "raw",
                    "raw": serde_json::to_string_pretty(&body).unwrap_or_default(),
                    "options": { "raw": { "language": "json" } }
                },
                "url": postman_url(url),
            },
        }));
    }
    let collection = json!({
        "info": {
            "_postman_id": uuid::Uuid::new_v4().to_string(),
            "name": format!("{org} {stem}"),
            "description": format!("PagerDuty events of {org}'s {} exported by demogen. Set the routing_key \
                collection variable to your Events API v2 integration key, then run the collection.", file.name),
            "schema": SCHEMA,
        },
        "item": items,
        "variable": [ { "key": "routing_key", "value": "", "type": "string" } ],
    });
    let text = serde_json::to_string_pretty(&collection).unwrap_or_default();
    Ok((text, format!("{org}_{stem}_postman_collection.json")))
}

fn item_name(body: &Value, event: &super::event_body::PreparedEvent, index: usize) -> String {
    let summary = body.pointer("/payload/summary").and_then(Value::as_str).unwrap_or(&event.summary).trim();
    let action = body.get("event_action").and_then(Value::as_str).unwrap_or("trigger");
    match (summary.is_empty(), action) {
        (false, "trigger") => summary.to_owned(),
        (false, action) => format!("{action}: {summary}"),
        (true, action) => format!("event {index} ({action})"),
    }
}

/// Postman's structured URL, which it needs to show host and path; falls back to the raw text.
fn postman_url(url: &str) -> Value {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let mut value = json!({
                "raw": url,
                "protocol": parsed.scheme(),
                "host": parsed.host_str().unwrap_or_default().split('.').collect::<Vec<_>>(),
                "path": parsed.path_segments().map(|s| s.filter(|p| !p.is_empty()).collect::<Vec<_>>()).unwrap_or_default(),
            });
            if let Some(port) = parsed.port() {
                value["port"] = json!(port.to_string());
            }
            value
        }
        Err(_) => json!({ "raw": url }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::parse_loaded_file;

    #[test]
    fn collections_run_as_is() {
        let events = r#"json
        [{ "event_action": "trigger", "payload": { "summary": "Checkout errors", "source": "Splunk", "severity": "Error",
             "custom_details": { "event_id": "{{ faker.datatype.uuid() }}", "ip_address": "{{ faker.internet.ip() }}",
               "hostname": "{{ 'pay-api-' + faker.datatype.number({ min: 10, max: 99 }) }}", "at": "{{ timestamp() }}" } },
           "timing_metadata": { "schedule_offset": 30 }, "repeat_schedule": [ { "repeat_count": 2, "repeat_offset": 60 } ] },
         { "event_action": "resolve", "payload": { "summary": "Checkout fine", "source": "Splunk" } }]"#;
        let file = parse_loaded_file("major_events_20250418T002926220Z.json", events).unwrap();
        let (text, name) =
            export_collection("Acme", &file, "https://events.pagerduty.com/v2/enqueue", "https://x/v2/change/enqueue")
                .unwrap();
        assert_eq!(name, "Acme_major_events_20250418T002926220Z_postman_collection.json");
        let collection: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(collection["info"]["schema"], SCHEMA);
        assert_eq!(collection["variable"][0]["key"], "routing_key");
        let items = collection["item"].as_array().unwrap();
        assert_eq!(items[0]["name"], "Checkout errors");
        assert_eq!(items[1]["name"], "resolve: Checkout fine");
        assert_eq!(items[0]["request"]["url"]["host"], json!(["events", "pagerduty", "com"]));
        let body: Value = serde_json::from_str(items[0]["request"]["body"]["raw"].as_str().unwrap()).unwrap();
        assert_eq!(body["routing_key"], "{{routing_key}}");
        assert_eq!(body["payload"]["severity"], "error");
        let details = &body["payload"]["custom_details"];
        assert_eq!(
            (details["event_id"].as_str(), details["ip_address"].as_str(), details["at"].as_str()),
            (Some("{{$guid}}"), Some("{{$randomIP}}"), Some("{{$isoTimestamp}}"))
        );
        let host = details["hostname"].as_str().unwrap();
        assert!(host.starts_with("pay-api-") && host[8..].parse::<u32>().is_ok(), "rendered once: {host}");
        assert!(body.get("timing_metadata").is_none() && body.get("repeat_schedule").is_none());
        let resolve: Value = serde_json::from_str(items[1]["request"]["body"]["raw"].as_str().unwrap()).unwrap();
        assert_eq!(resolve["dedup_key"], body["dedup_key"], "the resolve closes the trigger");
    }
}
