//! The facts of one event that diagnostics need, read from an events file element of either format (this
//! service's, or the old tool's with free-form `custom_details`).

use serde_json::Value;

use crate::scenario::timing;

/// Alert severities in the order diagnostics rank them (most severe first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
    /// Missing or not one of PagerDuty's four values.
    Unknown,
}

impl Severity {
    fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "critical" => Self::Critical,
            "error" => Self::Error,
            "warning" => Self::Warning,
            "info" => Self::Info,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
            Self::Unknown => "unknown",
        }
    }
}

/// One element of the combined events list of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFacts {
    /// Position in the combined list of all the request's files, in the order given.
    pub combined_index: usize,
    /// File the event came from and its index there, for messages.
    pub file: String,
    pub index_in_file: usize,
    /// True for an alert that opens or updates an incident: `event_action` "trigger" (or absent on an
    /// event that has a severity). Change events, resolves and acknowledges are false.
    pub is_trigger: bool,
    pub summary: String,
    pub severity: Severity,
    pub source: String,
    pub component: String,
    pub service_name: String,
    pub metric_name: String,
    pub current_value: String,
    pub threshold: String,
    /// Host name when the file holds a literal one (placeholders such as `{{ faker… }}` are dropped).
    pub hostname: String,
    pub schedule_offset: i64,
    pub major_failure: bool,
    /// `custom_details` keys and literal string values, lower-cased: the old tool's files carry the metric
    /// only there (`"error_rate": "spike"`, `"cache_overload": true`).
    pub detail_words: String,
}

impl EventFacts {
    /// Reads the facts of one event object; missing fields become empty strings.
    pub fn from_event(event: &Value, combined_index: usize, file: &str, index_in_file: usize) -> Self {
        let payload = event.get("payload").unwrap_or(&Value::Null);
        let details = payload.get("custom_details").unwrap_or(&Value::Null);
        let text = |value: Option<&Value>| -> String {
            match value {
                Some(Value::String(s)) => s.trim().to_owned(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => String::new(),
            }
        };
        let severity_text = text(payload.get("severity"));
        let action = text(event.get("event_action")).to_ascii_lowercase();
        let is_trigger = match action.as_str() {
            "trigger" => true,
            "" => !severity_text.is_empty(),
            _ => false,
        };
        let hostname = literal(text(details.get("hostname")));
        let service_name = [text(details.get("service_name")), text(payload.get("component"))]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        // Read where dispatch reads it; unknown (missing or unreadable) sorts last.
        let schedule_offset = match timing::schedule_offset(event) {
            Some(Ok(seconds)) => seconds as i64,
            _ => i64::MAX,
        };
        let major_failure = is_true(details.get("major_failure"));
        let detail_words = match details {
            Value::Object(map) => map
                .iter()
                .flat_map(|(key, value)| {
                    let value = match value {
                        Value::String(s) if !s.contains("{{") => s.as_str(),
                        _ => "",
                    };
                    [key.replace('_', " "), value.to_owned()]
                })
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase(),
            _ => String::new(),
        };
        Self {
            combined_index,
            file: file.to_owned(),
            index_in_file,
            is_trigger,
            summary: text(payload.get("summary")),
            severity: Severity::parse(&severity_text),
            source: text(payload.get("source")),
            component: text(payload.get("component")),
            service_name,
            metric_name: text(details.get("metric_name")),
            current_value: literal(text(details.get("current_value"))),
            threshold: literal(text(details.get("threshold"))),
            hostname,
            schedule_offset,
            major_failure,
            detail_words,
        }
    }

    /// Identity of an alert for "distinct": the same summary is the same alert, however often it repeats.
    pub fn identity(&self) -> String {
        self.summary.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
    }

    /// Service name as a DNS / Kubernetes label: `Payment Processing` → `payment-processing`.
    pub fn service_slug(&self) -> String {
        let slug = slugify(&self.service_name, 40);
        if slug.is_empty() {
            "app".into()
        } else {
            slug
        }
    }

    /// The host commands target: a literal host name from the event, else `<service-slug>.internal`.
    pub fn target_host(&self) -> String {
        let safe = !self.hostname.is_empty()
            && self.hostname.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if safe {
            self.hostname.clone()
        } else {
            format!("{}.internal", self.service_slug())
        }
    }
}

/// Lower-case ASCII letters and digits joined by single dashes, at most `max_len` bytes.
pub fn slugify(text: &str, max_len: usize) -> String {
    let mut slug = String::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_ascii_lowercase();
        let needed = if slug.is_empty() { word.len() } else { word.len() + 1 };
        if slug.len() + needed > max_len {
            if slug.is_empty() {
                slug.push_str(&word[..max_len.min(word.len())]);
            }
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word);
    }
    slug
}

fn literal(text: String) -> String {
    if text.contains("{{") {
        String::new()
    } else {
        text
    }
}

fn is_true(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_new_and_old_formats() {
        let new = json!({"event_action": "trigger", "payload": {"summary": " Checkout 5xx rate above 5% ",
            "severity": "ERROR", "source": "New Relic", "component": "checkout-api",
            "custom_details": {"metric_name": "http_5xx_rate", "current_value": 12.5, "threshold": "5",
                "service_name": "Payment Processing", "hostname": "{{ faker.internet.domainName() }}",
                "major_failure": true}},
            "timing_metadata": {"schedule_offset": 150}});
        let facts = EventFacts::from_event(&new, 7, "major_events_1.json", 2);
        assert!(facts.is_trigger);
        assert_eq!(facts.summary, "Checkout 5xx rate above 5%");
        assert_eq!(facts.severity, Severity::Error);
        assert_eq!(facts.current_value, "12.5");
        assert_eq!(facts.hostname, "", "placeholders are not host names");
        assert_eq!(facts.target_host(), "payment-processing.internal");
        assert_eq!(facts.schedule_offset, 150);
        assert!(facts.major_failure);
        assert_eq!(facts.combined_index, 7);

        let old = json!({"payload": {"summary": "Doritos disruption resolved", "severity": "info",
            "component": "API Gateway", "custom_details": {"error_rate": "3%"}}, "event_action": "resolve"});
        let facts = EventFacts::from_event(&old, 0, "well_events.json", 0);
        assert!(!facts.is_trigger, "resolves are not alerts to diagnose");
        assert_eq!(facts.service_name, "API Gateway", "component stands in for a missing service_name");
        assert_eq!(facts.detail_words, "error rate 3%");
        assert_eq!(facts.schedule_offset, i64::MAX);
        // The old tool's files put the offset at the top level or under payload.
        let top_level = json!({"payload": {"summary": "a", "severity": "info"}, "schedule_offset": "45"});
        assert_eq!(EventFacts::from_event(&top_level, 0, "o.json", 0).schedule_offset, 45);
        let in_payload = json!({"payload": {"summary": "a", "severity": "info", "schedule_offset": 20}});
        assert_eq!(EventFacts::from_event(&in_payload, 0, "o.json", 0).schedule_offset, 20);

        let change = json!({"payload": {"summary": "Deploy v2.3.1 of checkout", "source": "GitHub Actions",
            "timestamp": "{{ timestamp(-1800, -60) }}"}});
        assert!(!EventFacts::from_event(&change, 1, "c.json", 0).is_trigger, "change events are not alerts");
    }

    #[test]
    fn slugs_are_label_safe_and_bounded() {
        assert_eq!(slugify("Payment Processing / EU-West", 40), "payment-processing-eu-west");
        assert_eq!(slugify("Checkout API latency p99 above the 800 ms objective", 24), "checkout-api-latency-p99");
        assert_eq!(slugify("§§§", 10), "");
        assert_eq!(slugify("Supercalifragilistic", 5), "super");
    }
}
