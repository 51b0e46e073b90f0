//! A fake PagerDuty Events API on loopback (real HTTP, axum). It validates bodies like the real API
//! (32-character alphanumeric routing key, lower-case severity, required fields, summary length, clean
//! change events), answers like it (202 with `dedup_key`, 400 with `errors`), records every request, and
//! can inject 429/5xx, slow answers and answers slower than the client's timeout.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::time::Instant;

/// A fault applied to one request before it is validated.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with an empty body (429, 500, 503 …).
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    RateLimited { retry_after_s: u32 },
    /// Answer 400 like PagerDuty does for an invalid event.
    Invalid(&'static str),
    /// Wait, then process normally (longer than the client's timeout makes a timeout).
    Delay(Duration),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: Value,
    pub status: u16,
    pub received_at: Instant,
    pub answered_at: Instant,
}

#[derive(Default)]
struct Faults {
    /// Faults for requests whose `payload.summary` matches, in order.
    by_summary: HashMap<String, VecDeque<Fault>>,
    /// Faults for the next requests, in arrival order.
    next: VecDeque<Fault>,
    /// Share of requests answered with a random 429/500/503, from a seeded sequence.
    random_ratio: f64,
    random_state: u64,
    /// Delay applied to every request.
    every_delay: Option<Duration>,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    faults: Mutex<Faults>,
}

pub struct FakePagerDuty {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePagerDuty {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub const VALID_KEY: &str = "R0123456789abcdef0123456789ABCDE";

impl FakePagerDuty {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v2/enqueue", post(enqueue))
            .route("/v2/change/enqueue", post(enqueue))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared, task }
    }

    pub fn events_url(&self) -> String {
        format!("http://{}/v2/enqueue", self.addr)
    }

    pub fn change_events_url(&self) -> String {
        format!("http://{}/v2/change/enqueue", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    pub fn fail_summary(&self, summary: &str, faults: impl IntoIterator<Item = Fault>) {
        self.shared.faults.lock().unwrap().by_summary.entry(summary.to_owned()).or_default().extend(faults);
    }

    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.faults.lock().unwrap().next.extend(faults);
    }

    pub fn fail_randomly(&self, ratio: f64, seed: u64) {
        let mut faults = self.shared.faults.lock().unwrap();
        faults.random_ratio = ratio;
        faults.random_state = seed | 1;
    }

    pub fn delay_every(&self, delay: Duration) {
        self.shared.faults.lock().unwrap().every_delay = Some(delay);
    }
}

fn pick_fault(faults: &mut Faults, summary: Option<&str>) -> Option<Fault> {
    if let Some(fault) = summary.and_then(|s| faults.by_summary.get_mut(s)).and_then(VecDeque::pop_front) {
        return Some(fault);
    }
    if let Some(fault) = faults.next.pop_front() {
        return Some(fault);
    }
    if faults.random_ratio > 0.0 {
        // xorshift: deterministic for a seed, good enough to spread faults.
        let mut x = faults.random_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        faults.random_state = x;
        if (x % 10_000) as f64 / 10_000.0 < faults.random_ratio {
            return Some(Fault::Status([429, 500, 503][(x / 10_000 % 3) as usize]));
        }
    }
    faults.every_delay.map(Fault::Delay)
}

async fn enqueue(State(shared): State<Arc<Shared>>, uri: Uri, body: String) -> Response {
    let received_at = Instant::now();
    let path = uri.path().to_owned();
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let summary =
        parsed.as_ref().and_then(|b| b.pointer("/payload/summary")).and_then(Value::as_str).map(str::to_owned);
    let fault = pick_fault(&mut shared.faults.lock().unwrap(), summary.as_deref());
    let (status, answer, retry_after) = match fault {
        Some(Fault::Status(status)) => (status, String::new(), None),
        Some(Fault::RateLimited { retry_after_s }) => (429, String::new(), Some(retry_after_s)),
        Some(Fault::Invalid(message)) => (400, invalid(&[message]), None),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            let (status, answer) = validate(&path, parsed.as_ref());
            (status, answer, None)
        }
        None => {
            let (status, answer) = validate(&path, parsed.as_ref());
            (status, answer, None)
        }
    };
    shared.received.lock().unwrap().push(Received {
        path,
        body: parsed.unwrap_or(Value::String(body)),
        status,
        received_at,
        answered_at: Instant::now(),
    });
    let mut response = (StatusCode::from_u16(status).unwrap(), answer).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
    }
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    response
}

fn invalid(errors: &[&str]) -> String {
    json!({ "status": "invalid event", "message": "Event object is invalid", "errors": errors }).to_string()
}

/// The rules of the real API (see the project's pagerduty-events-api.md), plus strictness about extra
/// fields so the sender is held to clean bodies.
fn validate(path: &str, body: Option<&Value>) -> (u16, String) {
    let Some(Value::Object(body)) = body else {
        let answer = json!({ "errors": ["JSON parse error"], "message": "Event object format is unrecognized",
                             "status": "Unrecognized object" });
        return (400, answer.to_string());
    };
    let mut errors: Vec<String> = Vec::new();
    match body.get("routing_key").and_then(Value::as_str) {
        None => errors.push("'routing_key' is missing or blank".into()),
        Some(key) if key.len() != 32 => {
            errors.push("Length of 'routing_key' is incorrect (should be 32 characters)".into())
        }
        Some(key) if !key.chars().all(|c| c.is_ascii_alphanumeric()) => {
            errors.push("'routing_key' cannot contain non-alphanumeric characters.".into())
        }
        Some(_) => {}
    }
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::trim).unwrap_or_default().to_owned();
    let payload = body.get("payload").and_then(Value::as_object);
    let summary = text(payload.and_then(|p| p.get("summary")));
    if path == "/v2/change/enqueue" {
        for forbidden in ["event_action", "dedup_key", "images", "client", "client_url"] {
            if body.contains_key(forbidden) {
                errors.push(format!("'{forbidden}' is not allowed in change events"));
            }
        }
        if payload.is_some_and(|p| p.contains_key("severity")) {
            errors.push("'payload.severity' is not allowed in change events".into());
        }
        if summary.is_empty() {
            errors.push("'payload.summary' is missing or blank".into());
        }
        if summary.chars().count() > 1024 {
            errors.push("'summary' is too long (maiximum is 1024 characters)".into());
        }
        if body.get("links").and_then(Value::as_array).is_some_and(|l| l.len() > 50) {
            return (400, json!({ "error": ["links should have at most 50 item(s)"] }).to_string());
        }
        if !errors.is_empty() {
            return (400, json!({ "error": errors }).to_string());
        }
        return (202, json!({ "status": "success", "message": "Change event processed" }).to_string());
    }
    for key in body.keys() {
        if !["routing_key", "event_action", "dedup_key", "payload", "links", "images", "client", "client_url"]
            .contains(&key.as_str())
        {
            errors.push(format!("unexpected field '{key}'"));
        }
    }
    let action = text(body.get("event_action"));
    let dedup_key = text(body.get("dedup_key"));
    if dedup_key.len() > 255 {
        errors.push("'dedup_key' is too long (maximum is 255 characters)".into());
    }
    match action.as_str() {
        "trigger" => {
            match payload {
                None => errors.push("'payload' is missing".into()),
                Some(payload) => {
                    for key in payload.keys() {
                        let known = [
                            "summary",
                            "source",
                            "severity",
                            "timestamp",
                            "component",
                            "group",
                            "class",
                            "custom_details",
                        ];
                        if !known.contains(&key.as_str()) {
                            errors.push(format!("unexpected field 'payload.{key}'"));
                        }
                    }
                }
            }
            if summary.is_empty() {
                errors.push("'payload.summary' is missing or blank".into());
            }
            if summary.chars().count() > 1024 {
                errors.push("'summary' is too long (maiximum is 1024 characters)".into());
            }
            if text(payload.and_then(|p| p.get("source"))).is_empty() {
                errors.push("'payload.source' is missing or blank".into());
            }
            match payload.and_then(|p| p.get("severity")).and_then(Value::as_str) {
                None => errors.push("'payload.severity' is missing or blank".into()),
                Some("critical" | "error" | "warning" | "info") => {}
                Some(_) => errors.push(
                    "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')"
                        .into(),
                ),
            }
        }
        "acknowledge" | "resolve" => {
            if dedup_key.is_empty() {
                errors.push("'dedup_key' is missing or blank".into());
            }
        }
        _ => errors.push(
            "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')".into(),
        ),
    }
    if !errors.is_empty() {
        let refs: Vec<&str> = errors.iter().map(String::as_str).collect();
        return (400, invalid(&refs));
    }
    let dedup_key = if dedup_key.is_empty() { uuid::Uuid::new_v4().simple().to_string() } else { dedup_key };
    (202, json!({ "status": "success", "message": "Event processed", "dedup_key": dedup_key }).to_string())
}
