//! The whole demo through the real binary and grpcurl, as a consultant would script it: Generate a built-in
//! major scenario, preview it with a dry run, then play it at speed 100 into a strict fake PagerDuty.

mod common;
mod fake_pagerduty;

use common::{grpcurl, BinaryServer};
use fake_pagerduty::FakePagerDuty;
use serde_json::Value;

/// A service integration key: 32 lower-case hex characters.
const ROUTING_KEY: &str = "0123456789abcdef0123456789abcdef";

/// grpcurl prints each stream message as its own JSON document.
fn messages(output: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(output).into_iter::<Value>().map(|m| m.expect("grpcurl prints JSON")).collect()
}

fn number(value: &Value) -> u64 {
    value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).unwrap_or(0)
}

async fn run_grpcurl(addr: std::net::SocketAddr, data: String, method: &'static str) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || grpcurl(addr, &["-d", &data], &[method])).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_then_send_a_major_scenario_at_speed_100_through_grpcurl() {
    let pagerduty = FakePagerDuty::start().await;
    let events_url = pagerduty.events_url();
    let change_events_url = pagerduty.change_events_url();
    let server = BinaryServer::start(&[
        "--events-url",
        &events_url,
        "--change-events-url",
        &change_events_url,
        "--send-backoff-s",
        "0.05",
    ]);

    let (ok, generated, stderr) = run_grpcurl(
        server.addr,
        r#"{"org_name":"Acme Bank","scenarios":["SCENARIO_MAJOR"],"seed":"42"}"#.into(),
        "demogen.v1.DemoGenService/Generate",
    )
    .await;
    assert!(ok, "Generate failed: {stderr}");
    let generated: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(generated["provider"], "builtin");
    let files = &generated["files"][0];
    let events_file = files["eventsFile"].as_str().unwrap().to_owned();
    let change_events_file = files["changeEventsFile"].as_str().unwrap().to_owned();
    let events: Vec<Value> = serde_json::from_str(generated["events"]["major"].as_str().unwrap()).unwrap();
    let change_events: Vec<Value> = serde_json::from_str(generated["changeEvents"]["major"].as_str().unwrap()).unwrap();
    let expected_alert_sends = common::expected_alert_sends(&events);
    let expected_sends = expected_alert_sends + change_events.len() as u64;

    let send_request = |dry_run: bool| {
        serde_json::json!({
            "org": "Acme Bank",
            "filenames": [events_file, change_events_file],
            "routing_key": ROUTING_KEY,
            "speed": 100,
            "dry_run": dry_run,
        })
        .to_string()
    };

    let (ok, dry, stderr) = run_grpcurl(server.addr, send_request(true), "demogen.v1.DemoGenService/SendEvents").await;
    assert!(ok, "dry run failed: {stderr}");
    let dry = messages(&dry);
    assert_eq!(number(&dry[0]["schedule"]["totalSends"]), expected_sends);
    assert_eq!(dry.len() as u64, expected_sends + 2, "schedule, one result per send, summary");
    assert_eq!(pagerduty.count(), 0, "a dry run sends nothing");
    assert!(!dry.iter().any(|m| m.to_string().contains(ROUTING_KEY)), "the routing key is never echoed");

    let (ok, live, stderr) =
        run_grpcurl(server.addr, send_request(false), "demogen.v1.DemoGenService/SendEvents").await;
    assert!(ok, "SendEvents failed: {stderr}");
    let live = messages(&live);
    let schedule = &live[0]["schedule"];
    assert_eq!(number(&schedule["totalSends"]), expected_sends);
    let duration_s = schedule["durationS"].as_f64().unwrap();
    assert!(duration_s > 0.0 && duration_s <= 4.2 + 1e-9, "420 s at speed 100 is at most 4.2 s, got {duration_s}");
    let results: Vec<&Value> = live.iter().filter_map(|m| m.get("result")).collect();
    assert_eq!(results.len() as u64, expected_sends);
    for result in &results {
        assert_eq!(number(&result["statusCode"]), 202, "{result}");
        assert!(result.get("error").is_none(), "{result}");
    }
    let summary = &live.last().unwrap()["summary"];
    assert_eq!(number(&summary["total"]), expected_sends);
    assert_eq!(number(&summary["succeeded"]), expected_sends);
    assert_eq!(number(&summary["failed"]), 0);
    assert!(summary.get("cancelled").is_none(), "{summary}");

    let received = pagerduty.received();
    assert_eq!(received.len() as u64, expected_sends, "exactly total_sends requests reached PagerDuty");
    assert!(received.iter().all(|r| r.status == 202), "no request was refused by the strict fake");
    let alerts = received.iter().filter(|r| r.path == "/v2/enqueue").count() as u64;
    assert_eq!(alerts, expected_alert_sends);
    let event_ids: std::collections::HashSet<String> = received
        .iter()
        .filter(|r| r.path == "/v2/enqueue")
        .map(|r| r.body["payload"]["custom_details"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(event_ids.len() as u64, expected_alert_sends, "every send renders a fresh event_id");
    assert!(received.iter().all(|r| !r.body.to_string().contains("{{")), "every placeholder was rendered");

    let status = server.terminate();
    assert!(status.success());
}
