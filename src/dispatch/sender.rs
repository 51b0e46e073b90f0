//! The HTTP sender: one reused client (connection pool) with connect and total timeouts, posting bodies to
//! the alert or change endpoint through the one retry policy, and turning PagerDuty's answers into outcomes.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::EventKind;
use crate::retry::{is_retryable_error, is_retryable_status, parse_retry_after, Attempt, RetryPolicy};

/// Longest part of a response body kept in a result.
pub(super) const MAX_RESPONSE_CHARS: usize = 4096;
/// Connect timeout: a fraction of the total, at most 5 s.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Sender {
    client: reqwest::Client,
    events_url: String,
    change_events_url: String,
    policy: RetryPolicy,
}

/// How one send ended after its retries.
#[derive(Debug, Clone, PartialEq)]
pub struct SendOutcome {
    /// Final HTTP status, 0 when no answer came.
    pub status_code: u16,
    pub response_body: String,
    /// The key PagerDuty answered with, if any.
    pub dedup_key: Option<String>,
    /// `None` on success, else what failed.
    pub error: Option<String>,
    pub retries: u32,
    /// When the final request left.
    pub last_attempt_at: Instant,
}

/// Stands in for the routing key wherever PagerDuty's answer quotes it.
pub const REDACTED_ROUTING_KEY: &str = "<routing_key>";

impl Sender {
    pub fn new(
        events_url: String,
        change_events_url: String,
        timeout: Duration,
        policy: RetryPolicy,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
            .user_agent(concat!("demogen/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, events_url, change_events_url, policy })
    }

    pub fn events_url(&self) -> &str {
        &self.events_url
    }

    pub fn change_events_url(&self) -> &str {
        &self.change_events_url
    }

    /// Posts one body with retries. `None` when cancelled before an answer.
    pub async fn send(&self, kind: EventKind, body: &Value, cancel: &CancellationToken) -> Option<SendOutcome> {
        let url = match kind {
            EventKind::Alert => &self.events_url,
            EventKind::Change => &self.change_events_url,
        };
        let retried = self
            .policy
            .run(cancel, |_| async {
                let sent_at = Instant::now();
                match self.client.post(url).json(body).send().await {
                    Ok(response) => answer(response, sent_at).await,
                    Err(error) => {
                        let outcome = SendOutcome {
                            status_code: 0,
                            response_body: String::new(),
                            dedup_key: None,
                            error: Some(transport_error_text(&error)),
                            retries: 0,
                            last_attempt_at: sent_at,
                        };
                        if is_retryable_error(&error) {
                            Attempt::Retry { last: outcome, retry_after: None }
                        } else {
                            Attempt::Done(outcome)
                        }
                    }
                }
            })
            .await?;
        let mut outcome = retried.outcome;
        outcome.retries = retried.retries;
        // PagerDuty may quote the routing key in an error; the key never reaches the client's stream.
        if let Some(key) = body.get("routing_key").and_then(Value::as_str).filter(|key| !key.is_empty()) {
            outcome.response_body = outcome.response_body.replace(key, REDACTED_ROUTING_KEY);
            outcome.error = outcome.error.map(|error| error.replace(key, REDACTED_ROUTING_KEY));
        }
        if retried.exhausted {
            let reason = outcome.error.take().unwrap_or_default();
            outcome.error = Some(format!("gave up after {} retries: {reason}", retried.retries));
        }
        Some(outcome)
    }
}

async fn answer(response: reqwest::Response, sent_at: Instant) -> Attempt<SendOutcome> {
    let status = response.status().as_u16();
    let retry_after = parse_retry_after(response.headers().get("retry-after").and_then(|v| v.to_str().ok()));
    let text = match response.text().await {
        Ok(text) => text,
        Err(error) => {
            let outcome = SendOutcome {
                status_code: status,
                response_body: String::new(),
                dedup_key: None,
                error: Some(format!("reading PagerDuty's answer failed: {}", transport_error_text(&error))),
                retries: 0,
                last_attempt_at: sent_at,
            };
            return Attempt::Retry { last: outcome, retry_after: None };
        }
    };
    let json: Option<Value> = serde_json::from_str(&text).ok();
    let dedup_key = json.as_ref().and_then(|j| j.get("dedup_key")).and_then(Value::as_str).map(str::to_owned);
    let error = match status {
        200..=299 => None,
        400 => Some(format!("PagerDuty rejected the event (400): {}", rejection_reasons(json.as_ref(), &text))),
        429 => Some("rate limited by PagerDuty (429)".to_owned()),
        _ => Some(format!("PagerDuty answered {status}: {}", short(&text, 300))),
    };
    let outcome = SendOutcome {
        status_code: status,
        response_body: short(&text, MAX_RESPONSE_CHARS),
        dedup_key,
        error,
        retries: 0,
        last_attempt_at: sent_at,
    };
    if is_retryable_status(status) {
        Attempt::Retry { last: outcome, retry_after }
    } else {
        Attempt::Done(outcome)
    }
}

/// PagerDuty's error strings: `errors` of alert events, `error` of change events, or the plain text.
fn rejection_reasons(json: Option<&Value>, text: &str) -> String {
    let listed = json.and_then(|j| j.get("errors").or_else(|| j.get("error"))).map(|errors| match errors {
        Value::Array(items) => {
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join("; ")
        }
        Value::String(one) => one.clone(),
        other => other.to_string(),
    });
    match listed {
        Some(reasons) if !reasons.is_empty() => reasons,
        _ if text.trim().is_empty() => "no reason given".to_owned(),
        _ => short(text.trim(), 300),
    }
}

fn transport_error_text(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // The URL is the configured endpoint and the body is not part of the error, so no secret leaks here.
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

pub(super) fn short(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_owned()
    } else {
        text.chars().take(limit).collect::<String>() + "…"
    }
}
