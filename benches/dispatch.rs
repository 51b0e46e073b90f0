//! Scheduling accuracy of SendEvents: how late sends leave versus their schedule, for a few thousand sends at
//! high speed against a loopback sink. Runs the real server in-process.
//!
//! `cargo bench --bench dispatch` (optionally `-- <sends> <speed>...`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use demogen::config::{LlmMode, ServeConfig};
use demogen::pb;
use demogen::pb::demo_gen_service_client::DemoGenServiceClient;
use demogen::pb::send_events_response::Event;
use serde_json::{json, Value};

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn sink(State(arrivals): State<Arrivals>, body: String) -> (axum::http::StatusCode, String) {
    let now = Instant::now();
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    if let Some(summary) = body.pointer("/payload/summary").and_then(Value::as_str) {
        arrivals.lock().unwrap().insert(summary.to_owned(), now);
    }
    (
        axum::http::StatusCode::ACCEPTED,
        json!({ "status": "success", "message": "Event processed", "dedup_key": "k" }).to_string(),
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn describe(label: &str, mut values_ms: Vec<f64>) {
    values_ms.sort_by(f64::total_cmp);
    println!(
        "  {label:<44} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        percentile(&values_ms, 50.0),
        percentile(&values_ms, 99.0),
        values_ms.last().copied().unwrap_or(f64::NAN)
    );
}

async fn measure(sends: usize, speed: f64) {
    let arrivals: Arrivals = Arc::default();
    let app = Router::new().route("/v2/enqueue", post(sink)).with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = listener.local_addr().unwrap();
    let sink_task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let data_dir = tempfile::tempdir().unwrap();
    // Offsets spread evenly over the 420 s window of a major scenario.
    let step_s = 420.0 / sends as f64;
    let events: Vec<Value> = (0..sends)
        .map(|i| {
            json!({ "event_action": "trigger",
                    "payload": { "summary": format!("alert {i}"), "source": "bench", "severity": "info",
                                 "custom_details": { "event_id": "{{ faker.datatype.uuid() }}" } },
                    "timing_metadata": { "schedule_offset": i as f64 * step_s } })
        })
        .collect();
    std::fs::create_dir_all(data_dir.path().join("Bench")).unwrap();
    std::fs::write(data_dir.path().join("Bench/major_events_1.json"), Value::Array(events).to_string()).unwrap();

    let mut config = ServeConfig::defaults();
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.data_dir = data_dir.path().to_path_buf();
    config.llm = LlmMode::Builtin;
    config.events_url = format!("http://{sink_addr}/v2/enqueue");
    config.change_events_url = format!("http://{sink_addr}/v2/change/enqueue");
    let server = demogen::server::start(config).await.unwrap();
    let mut client = DemoGenServiceClient::connect(format!("http://{}", server.addr)).await.unwrap();

    let request = pb::SendEventsRequest {
        org: "Bench".into(),
        filenames: vec!["major_events_1.json".into()],
        routing_key: "R0123456789abcdef0123456789ABCDE".into(),
        speed,
        dry_run: false,
        seed: Some(1),
    };
    let mut stream = client.send_events(request).await.unwrap().into_inner();
    let mut results = Vec::new();
    let mut summary = None;
    while let Some(message) = stream.message().await.unwrap() {
        match message.event.unwrap() {
            Event::Schedule(_) => {}
            Event::Result(result) => results.push(result),
            Event::Summary(s) => summary = Some(s),
        }
    }
    let summary = summary.unwrap();
    assert_eq!(summary.succeeded as usize, sends, "every send succeeded");

    // Lateness as the server measures it: when the request left versus when it was due.
    let left_late: Vec<f64> = results.iter().map(|r| (r.sent_offset_s - r.scheduled_offset_s) * 1000.0).collect();
    // Lateness as the sink sees it. The run's start in the sink's clock is taken as the earliest
    // `arrival - sent_offset` (the fastest transfer counted as zero), so transfer time counts as lateness.
    let arrivals = arrivals.lock().unwrap().clone();
    let start = results.iter().map(|r| arrivals[&r.summary] - Duration::from_secs_f64(r.sent_offset_s)).min().unwrap();
    let arrived_late: Vec<f64> = results
        .iter()
        .map(|r| (arrivals[&r.summary].saturating_duration_since(start).as_secs_f64() - r.scheduled_offset_s) * 1000.0)
        .collect();
    println!(
        "{sends} sends at speed {speed} ({:.0} sends/s, run {:.2} s, planned {:.2} s):",
        sends as f64 / (420.0 / speed),
        summary.elapsed_s,
        420.0 / speed * (sends - 1) as f64 / sends as f64
    );
    describe("request left after its due time", left_late);
    describe("arrived at the sink after its due time", arrived_late);
    server.shutdown().await.unwrap();
    sink_task.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let sends: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(3000);
    let speeds: Vec<f64> = match args.get(1..) {
        Some(rest) if !rest.is_empty() => rest.iter().filter_map(|a| a.parse().ok()).collect(),
        _ => vec![100.0, 1000.0],
    };
    for speed in speeds {
        measure(sends, speed).await;
    }
}
