//! SendEvents and ExportPostman through the real server on 127.0.0.1:0 against a fake PagerDuty on
//! loopback (real HTTP).

mod common;
mod fake_pagerduty;

use std::collections::HashMap;
use std::time::Duration;

use common::{start_server, TestServer};
use demogen::pb;
use demogen::pb::send_events_response::Event;
use fake_pagerduty::{FakePagerDuty, Fault, VALID_KEY};
use serde_json::{json, Value};
use tonic::Code;

const ORG: &str = "Acme";

async fn server_for(fake: &FakePagerDuty, adjust: impl FnOnce(&mut demogen::config::ServeConfig)) -> TestServer {
    let events_url = fake.events_url();
    let change_events_url = fake.change_events_url();
    start_server(move |config| {
        config.events_url = events_url;
        config.change_events_url = change_events_url;
        config.send_retries = 3;
        config.send_backoff_s = 0.01;
        config.send_timeout_s = 2.0;
        adjust(config);
    })
    .await
}

/// Writes a file straight into the data dir (the old tool's files are not always valid JSON, so UpdateFile
/// would refuse some of them).
fn put_file(server: &TestServer, name: &str, content: &str) {
    let dir = server.data_dir.path().join(ORG);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), content).unwrap();
}

fn request(files: &[&str], speed: f64) -> pb::SendEventsRequest {
    pb::SendEventsRequest {
        org: ORG.into(),
        filenames: files.iter().map(|f| f.to_string()).collect(),
        routing_key: VALID_KEY.into(),
        speed,
        dry_run: false,
        seed: None,
    }
}

struct Played {
    schedule: pb::Schedule,
    results: Vec<pb::SendResult>,
    summary: pb::SendSummary,
}

async fn play(server: &TestServer, request: pb::SendEventsRequest) -> Played {
    let mut client = server.client.clone();
    let mut stream = client.send_events(request).await.expect("SendEvents starts").into_inner();
    let mut schedule = None;
    let mut results = Vec::new();
    let mut summary = None;
    while let Some(message) = stream.message().await.expect("stream stays healthy") {
        match message.event.expect("every message has an event") {
            Event::Schedule(s) => {
                assert!(schedule.is_none() && results.is_empty(), "the schedule comes first, once");
                schedule = Some(s);
            }
            Event::Result(r) => {
                assert!(summary.is_none(), "no result after the summary");
                results.push(r);
            }
            Event::Summary(s) => summary = Some(s),
        }
    }
    let summary = summary.expect("the stream ends with a summary");
    assert_eq!(summary.total, summary.succeeded + summary.failed, "summary adds up");
    assert_eq!(summary.total as usize, results.len(), "one result per counted send");
    assert_eq!(summary.retried as usize, results.iter().filter(|r| r.retries > 0).count());
    Played { schedule: schedule.expect("a schedule"), results, summary }
}

fn scenario_events() -> Value {
    json!([
        { "event_action": "trigger",
          "payload": { "summary": "Checkout latency above 2s", "source": "New Relic", "severity": "Warning",
                       "component": "checkout-api", "group": "payments", "class": "latency",
                       "custom_details": { "event_id": "{{ faker.datatype.uuid() }}", "ip_address": "{{ faker.internet.ip() }}",
                                           "hostname": "{{ 'pay-api-' + faker.datatype.number({ min: 10, max: 99 }) }}",
                                           "cluster_name": "{{ faker.helpers.arrayElement(['prod-east', 'prod-west']) + '-cluster' }}" } },
          "timing_metadata": { "schedule_offset": 0 },
          "repeat_schedule": [ { "repeat_count": 3, "repeat_offset": 20 } ] },
        { "event_action": "trigger",
          "payload": { "summary": "Payment gateway 5xx rate 12%", "source": "Splunk", "severity": "critical",
                       "component": "payment-gateway", "custom_details": { "major_failure": true, "CUJ Impacted": true } },
          "timing_metadata": { "schedule_offset": 30 },
          "repeat_schedule": [ { "repeat_count": 2, "repeat_offset": 15 } ] },
        { "event_action": "resolve",
          "payload": { "summary": "Payment gateway recovered", "source": "Splunk", "component": "payment-gateway", "severity": "info" },
          "timing_metadata": { "schedule_offset": 90 } }
    ])
}

fn change_events() -> Value {
    json!([
        { "routing_key": "old-tool-key", "event_action": "trigger",
          "payload": { "summary": "Deploy checkout-api v2.14.0", "source": "GitHub Actions", "severity": "info",
                       "timestamp": "{{ timestamp(-1800, -60) }}", "custom_details": { "change_ticket": "CHG0012345" } },
          "links": [ { "href": "https://ci.example.com/run/1", "text": "build" } ] }
    ])
}

#[tokio::test]
async fn a_run_reaches_pagerduty_as_total_sends_valid_events() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |_| {}).await;
    put_file(&server, "major_events_20251203101010.json", &scenario_events().to_string());
    put_file(&server, "major_change_events_20251203101010.json", &change_events().to_string());

    let played =
        play(&server, request(&["major_events_20251203101010.json", "major_change_events_20251203101010.json"], 100.0))
            .await;

    assert_eq!(played.schedule.total_sends, 4 + 3 + 1 + 1);
    assert_eq!(played.schedule.speed, 100.0);
    assert_eq!(played.schedule.duration_s, 0.9);
    let first = &played.schedule.entries[0];
    assert_eq!((first.total_repeats, first.total_sends, first.next_offset_s), (3, 4, 0.2));
    assert_eq!(played.schedule.entries[3].kind, pb::EventKind::Change as i32);
    assert_eq!(played.summary.total, played.schedule.total_sends);
    assert_eq!(
        played.summary.succeeded,
        played.summary.total,
        "{:?}",
        played.results.iter().find(|r| !r.error.is_empty())
    );
    assert!(!played.summary.cancelled);

    let received = fake.received();
    assert_eq!(received.len(), 9, "exactly total_sends requests");
    assert!(received.iter().all(|r| r.status == 202), "zero 400s: {:?}", received.iter().find(|r| r.status != 202));
    let changes: Vec<_> = received.iter().filter(|r| r.path == "/v2/change/enqueue").collect();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].body.get("event_action").is_none() && changes[0].body["payload"].get("severity").is_none());
    assert_eq!(changes[0].body["routing_key"], VALID_KEY, "the request's key, not the file's");

    let latency: Vec<_> =
        received.iter().filter(|r| r.body["payload"]["summary"] == "Checkout latency above 2s").collect();
    assert_eq!(latency.len(), 4);
    assert!(latency.iter().all(|r| r.body["payload"]["severity"] == "warning"), "severity lower-cased");
    assert!(latency.iter().all(|r| r.body.get("timing_metadata").is_none() && r.body.get("repeat_schedule").is_none()));
    let keys: std::collections::HashSet<_> = latency.iter().map(|r| r.body["dedup_key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 1, "repeats update one alert");
    let ids: std::collections::HashSet<_> =
        latency.iter().map(|r| r.body["payload"]["custom_details"]["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "each send renders fresh placeholders");
    let details = &latency[0].body["payload"]["custom_details"];
    assert!(details["hostname"].as_str().unwrap().starts_with("pay-api-"));
    assert!(details["cluster_name"].as_str().unwrap().ends_with("-cluster"));

    let gateway_key =
        received.iter().find(|r| r.body["payload"]["summary"] == "Payment gateway 5xx rate 12%").unwrap().body
            ["dedup_key"]
            .clone();
    let resolve = received.iter().find(|r| r.body["event_action"] == "resolve").expect("the resolve was sent");
    assert_eq!(resolve.body["dedup_key"], gateway_key, "the resolve closes the alert it names");

    let mut seqs: Vec<u32> = played.results.iter().map(|r| r.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (0..9).collect::<Vec<_>>());
    for result in &played.results {
        assert_eq!(result.status_code, 202);
        assert!(!result.dedup_key.is_empty() || result.kind == pb::EventKind::Change as i32);
        assert!(result.attempt == "initial" || result.attempt.starts_with("repeat "));
        assert!(result.response_body.contains("success"));
    }
}

#[tokio::test]
async fn dry_run_streams_rendered_payloads_and_sends_nothing() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |_| {}).await;
    put_file(&server, "major_events_20251203101010.json", &scenario_events().to_string());
    let mut dry = request(&["major_events_20251203101010.json"], 0.0);
    dry.dry_run = true;
    dry.routing_key = String::new();
    dry.seed = Some(7);

    let played = play(&server, dry.clone()).await;
    assert_eq!(played.schedule.speed, 1.0, "speed 0 means 1.0");
    assert_eq!(played.schedule.total_sends, 8);
    assert_eq!((played.summary.total, played.summary.succeeded), (8, 8));
    assert_eq!(fake.count(), 0, "a dry run sends nothing");
    let bodies: Vec<Value> = played.results.iter().map(|r| serde_json::from_str(&r.response_body).unwrap()).collect();
    assert!(bodies.iter().all(|b| b["routing_key"] == "<routing_key>"));
    assert!(bodies.iter().all(|b| !b.to_string().contains("{{")), "placeholders rendered");

    let again = play(&server, dry).await;
    let event_ids = |played: &Played| -> Vec<String> {
        let mut results = played.results.clone();
        results.sort_by_key(|r| r.seq);
        results
            .iter()
            .map(|r| {
                serde_json::from_str::<Value>(&r.response_body).unwrap()["payload"]["custom_details"]["event_id"]
                    .to_string()
            })
            .collect()
    };
    assert_eq!(event_ids(&played), event_ids(&again), "same seed, same values");
}

#[tokio::test]
async fn retries_follow_the_policy() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |config| {
        config.send_retries = 2;
        config.send_timeout_s = 1.0;
    })
    .await;
    let events = json!([
        { "payload": { "summary": "rate limited once", "source": "s", "severity": "info" } },
        { "payload": { "summary": "always failing", "source": "s", "severity": "info" } },
        { "payload": { "summary": "rejected", "source": "s", "severity": "info" } },
        { "payload": { "summary": "too slow once", "source": "s", "severity": "info" } },
        { "payload": { "summary": "server error once", "source": "s", "severity": "info" } },
    ]);
    put_file(&server, "well_events_1.json", &events.to_string());
    fake.fail_summary("rate limited once", [Fault::RateLimited { retry_after_s: 0 }]);
    fake.fail_summary("always failing", [Fault::Status(500), Fault::Status(500), Fault::Status(500)]);
    fake.fail_summary("rejected", [Fault::Invalid("'payload.source' is missing or blank")]);
    fake.fail_summary("too slow once", [Fault::Delay(Duration::from_secs(4))]);
    fake.fail_summary("server error once", [Fault::Status(503)]);

    let played = play(&server, request(&["well_events_1.json"], 1.0)).await;
    let by_summary: HashMap<&str, &pb::SendResult> = played.results.iter().map(|r| (r.summary.as_str(), r)).collect();

    let limited = by_summary["rate limited once"];
    assert_eq!((limited.status_code, limited.retries, limited.error.as_str()), (202, 1, ""));
    let failing = by_summary["always failing"];
    assert_eq!((failing.status_code, failing.retries), (500, 2));
    assert!(failing.error.contains("gave up after 2 retries"), "{}", failing.error);
    let rejected = by_summary["rejected"];
    assert_eq!((rejected.status_code, rejected.retries), (400, 0), "400 is never retried");
    assert!(rejected.error.contains("'payload.source' is missing or blank"), "{}", rejected.error);
    let slow = by_summary["too slow once"];
    assert_eq!((slow.status_code, slow.retries, slow.error.as_str()), (202, 1, ""), "a timeout is retried");
    let server_error = by_summary["server error once"];
    assert_eq!((server_error.status_code, server_error.retries), (202, 1));

    assert_eq!(
        (played.summary.total, played.summary.succeeded, played.summary.failed, played.summary.retried),
        (5, 3, 2, 4)
    );
    let attempts = |summary: &str| fake.received().iter().filter(|r| r.body["payload"]["summary"] == summary).count();
    assert_eq!(attempts("always failing"), 3);
    assert_eq!(attempts("rejected"), 1);
}

#[tokio::test]
async fn a_slow_answer_does_not_delay_the_next_send() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |config| config.send_timeout_s = 10.0).await;
    let events = json!([
        { "payload": { "summary": "slow", "source": "s", "severity": "info" }, "schedule_offset": 0 },
        { "payload": { "summary": "next", "source": "s", "severity": "info" }, "schedule_offset": 1 },
    ]);
    put_file(&server, "well_events_1.json", &events.to_string());
    fake.fail_summary("slow", [Fault::Delay(Duration::from_secs(3))]);

    let played = play(&server, request(&["well_events_1.json"], 10.0)).await;
    assert_eq!(played.summary.succeeded, 2);
    let received = fake.received();
    let slow = received.iter().find(|r| r.body["payload"]["summary"] == "slow").unwrap();
    let next = received.iter().find(|r| r.body["payload"]["summary"] == "next").unwrap();
    assert!(next.received_at < slow.answered_at, "the next send left while the slow one was still waiting");
    assert_eq!(played.results[0].summary, "next", "results stream as sends finish");
}

fn spread_events(count: usize, step_s: u32) -> Value {
    Value::Array(
        (0..count)
            .map(|i| {
                json!({ "payload": { "summary": format!("alert {i}"), "source": "s", "severity": "error" },
                             "timing_metadata": { "schedule_offset": i as u32 * step_s } })
            })
            .collect(),
    )
}

#[tokio::test]
async fn a_client_that_leaves_stops_the_run() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |config| config.max_active_sends = 1).await;
    put_file(&server, "major_events_1.json", &spread_events(40, 1).to_string());
    let mut client = server.client.clone();
    let mut stream = client.send_events(request(&["major_events_1.json"], 10.0)).await.unwrap().into_inner();
    let mut results = 0;
    while results < 3 {
        if let Some(Event::Result(_)) = stream.message().await.unwrap().unwrap().event {
            results += 1;
        }
    }
    drop(stream);
    // Leave the server time to notice the disconnect, then check that nothing more arrives until long after
    // the schedule would have ended.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after_cancel = fake.count();
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(fake.count(), after_cancel, "no request leaves after the client left");
    assert!(after_cancel < 40, "the run stopped early ({after_cancel} of 40 sent)");

    // The slot is free again (a real run: dry runs take no slot).
    assert_eq!(play(&server, request(&["major_events_1.json"], 1000.0)).await.summary.succeeded, 40);
}

#[tokio::test]
async fn shutdown_cancels_active_runs_with_a_consistent_summary() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |_| {}).await;
    put_file(&server, "major_events_1.json", &spread_events(30, 1).to_string());
    let mut client = server.client.clone();
    let mut stream = client.send_events(request(&["major_events_1.json"], 10.0)).await.unwrap().into_inner();
    let mut results = 0;
    let mut summary = None;
    while let Some(message) = stream.message().await.unwrap() {
        match message.event.unwrap() {
            Event::Result(_) => {
                results += 1;
                if results == 2 {
                    server.server.shutdown_token().cancel();
                }
            }
            Event::Summary(s) => summary = Some(s),
            Event::Schedule(_) => {}
        }
    }
    let summary = summary.expect("a cancelled run still ends with its summary");
    assert!(summary.cancelled);
    assert_eq!(summary.total, summary.succeeded + summary.failed);
    assert_eq!(summary.total as usize, results);
    assert!(summary.total < 30);
    let sent = fake.count();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(fake.count(), sent, "nothing leaves after shutdown");
}

#[tokio::test]
async fn concurrent_runs_and_the_active_run_limit() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |config| config.max_active_sends = 2).await;
    put_file(&server, "major_events_1.json", &scenario_events().to_string());
    put_file(&server, "long_events_1.json", &spread_events(3, 600).to_string());

    let (a, b) = tokio::join!(
        play(&server, request(&["major_events_1.json"], 100.0)),
        play(&server, request(&["major_events_1.json"], 50.0))
    );
    assert_eq!((a.summary.succeeded, b.summary.succeeded), (8, 8));
    assert_eq!(fake.count(), 16);

    let mut client = server.client.clone();
    let long_1 = client.send_events(request(&["long_events_1.json"], 1.0)).await.unwrap().into_inner();
    let long_2 = client.send_events(request(&["long_events_1.json"], 1.0)).await.unwrap().into_inner();
    let refused = client.send_events(request(&["major_events_1.json"], 1.0)).await.expect_err("the limit is reached");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("2 send runs are already active"), "{}", refused.message());
    // A dry run sends nothing and ends at once, so it needs no slot.
    let mut dry = request(&["major_events_1.json"], 1.0);
    dry.dry_run = true;
    assert_eq!(play(&server, dry).await.summary.total, 8, "a dry run plays while the slots are full");
    drop(long_1);
    drop(long_2);
    let mut started = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if client.send_events(request(&["major_events_1.json"], 1000.0)).await.is_ok() {
            started = true;
            break;
        }
    }
    assert!(started, "slots are released when clients leave");
}

#[tokio::test]
async fn bad_requests_get_precise_statuses() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |_| {}).await;
    put_file(&server, "major_events_1.json", &scenario_events().to_string());
    let call = |request: pb::SendEventsRequest| {
        let mut client = server.client.clone();
        async move { client.send_events(request).await.expect_err("the request is refused") }
    };

    let mut bad_key = request(&["major_events_1.json"], 1.0);
    bad_key.routing_key = "secret-routing-key-with-dashes!!".into();
    let status = call(bad_key).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("routing_key") && !status.message().contains("secret"),
        "{}",
        status.message()
    );
    let mut short_key = request(&["major_events_1.json"], 1.0);
    short_key.routing_key = "abc123".into();
    assert!(call(short_key).await.message().contains("exactly 32 characters"));

    // 1e-300 used to overflow the timer maths and panic the handler; 1e-9 held a slot for 3.7e11 s.
    for speed in [-1.0, f64::NAN, 1001.0, 1e-300, 1e-9, 0.009] {
        let status = call(request(&["major_events_1.json"], speed)).await;
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("speed"), "{}", status.message());
    }

    let status = call(request(&["major_events_missing.json"], 1.0)).await;
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("major_events_missing.json"), "{}", status.message());
    let status = call(request(&[], 1.0)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("filenames"));

    put_file(&server, "broken_events_1.json", "[\n  {\"payload\": {\"summary\": \"x\",}\n]");
    let status = call(request(&["broken_events_1.json"], 1.0)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("broken_events_1.json") && status.message().contains("line 2"),
        "{}",
        status.message()
    );

    let mut events = scenario_events();
    events[1]["payload"]["custom_details"]["hostname"] = json!("{{ require('child_process').exec('id') }}");
    put_file(&server, "evil_events_1.json", &events.to_string());
    let status = call(request(&["evil_events_1.json"], 1.0)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("[1].payload.custom_details.hostname"), "{}", status.message());
    assert!(status.message().contains("require("), "{}", status.message());

    let mut events = scenario_events();
    events[0]["payload"]["severity"] = json!("high");
    put_file(&server, "bad_severity_events_1.json", &events.to_string());
    let status = call(request(&["bad_severity_events_1.json"], 1.0)).await;
    assert!(status.message().contains("event [0]") && status.message().contains("\"high\""), "{}", status.message());
    let status = call(request(&["major_events_1.json", "major_events_1.json"], 1.0)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("filenames[1]") && status.message().contains("twice"), "{}", status.message());
    let many: Vec<String> = (0..21).map(|i| format!("major_events_{i}.json")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let status = call(request(&many, 1.0)).await;
    assert!(
        status.message().starts_with("filenames") && status.message().contains("at most 20"),
        "{}",
        status.message()
    );
    let mut no_files_no_key = request(&[], 1.0);
    no_files_no_key.routing_key = String::new();
    assert!(call(no_files_no_key).await.message().starts_with("filenames"), "the missing files are named first");
    assert_eq!(fake.count(), 0, "nothing was sent for refused requests");
}

#[tokio::test]
async fn a_routing_key_quoted_by_pagerduty_never_reaches_the_stream() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |_| {}).await;
    let events = json!([{ "payload": { "summary": "quoted key", "source": "s", "severity": "info" } }]);
    put_file(&server, "well_events_1.json", &events.to_string());
    assert!(VALID_KEY == "R0123456789abcdef0123456789ABCDE", "the fault below quotes this key");
    fake.fail_summary("quoted key", [Fault::Invalid("Invalid routing key R0123456789abcdef0123456789ABCDE")]);
    let played = play(&server, request(&["well_events_1.json"], 1.0)).await;
    let result = &played.results[0];
    assert_eq!(result.status_code, 400);
    assert!(result.error.contains("Invalid routing key <routing_key>"), "{}", result.error);
    assert!(!result.error.contains(VALID_KEY) && !result.response_body.contains(VALID_KEY), "{result:?}");
}

#[tokio::test]
async fn every_file_of_the_old_tool_is_sent() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |_| {}).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original-outputs");
    let mut files = 0;
    let mut expected_requests = 0;
    for org in std::fs::read_dir(&root).unwrap().flatten() {
        for entry in std::fs::read_dir(org.path()).unwrap().flatten() {
            let name = entry.file_name().into_string().unwrap();
            if !name.ends_with(".json") {
                continue;
            }
            put_file(&server, &name, &std::fs::read_to_string(entry.path()).unwrap());
            let played = play(&server, request(&[&name], 1000.0)).await;
            assert_eq!(played.summary.total, played.schedule.total_sends, "{name}");
            assert_eq!(
                played.summary.succeeded,
                played.summary.total,
                "{name}: {:?}",
                played.results.iter().find(|r| !r.error.is_empty())
            );
            expected_requests += played.schedule.total_sends as usize;
            files += 1;
        }
    }
    assert!(files >= 9, "all fixture files were played ({files})");
    let received = fake.received();
    assert_eq!(received.len(), expected_requests);
    assert!(received.iter().all(|r| r.status == 202), "{:?}", received.iter().find(|r| r.status != 202));
    let resolves: Vec<_> = received.iter().filter(|r| r.body["event_action"] == "resolve").collect();
    assert!(
        !resolves.is_empty() && resolves.iter().all(|r| r.body["dedup_key"].as_str().is_some_and(|k| !k.is_empty()))
    );
}

#[tokio::test]
async fn with_30_percent_faults_every_send_ends_accounted_for() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |config| config.send_retries = 4).await;
    put_file(&server, "major_events_1.json", &spread_events(150, 1).to_string());
    put_file(&server, "major_change_events_1.json", &change_events().to_string());
    fake.fail_randomly(0.3, 12345);

    let played = play(&server, request(&["major_events_1.json", "major_change_events_1.json"], 1000.0)).await;
    assert_eq!(played.summary.total, 151);
    assert!(played.summary.retried > 0, "faults were injected and retried");
    for result in &played.results {
        if result.error.is_empty() {
            assert_eq!(result.status_code, 202);
        } else {
            assert!(result.status_code == 429 || result.status_code >= 500, "{result:?}");
            assert!(result.error.contains("gave up after 4 retries"), "{result:?}");
        }
    }
    let retries: u32 = played.results.iter().map(|r| r.retries).sum();
    assert_eq!(fake.count(), 151 + retries as usize, "every attempt is accounted for");
    let accepted = fake.received().iter().filter(|r| r.status == 202).count();
    assert_eq!(accepted, played.summary.succeeded as usize);
}

#[tokio::test]
async fn export_postman_builds_a_runnable_collection() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |_| {}).await;
    put_file(&server, "major_events_20251203101010.json", &scenario_events().to_string());
    put_file(&server, "major_change_events_20251203101010.json", &change_events().to_string());
    let mut client = server.client.clone();

    let export = client
        .export_postman(pb::ExportPostmanRequest {
            org: "Acme".into(),
            filename: "major_events_20251203101010.json".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.filename, "Acme_major_events_20251203101010_postman_collection.json");
    let collection: Value = serde_json::from_str(&export.collection_json).unwrap();
    assert_eq!(collection["variable"][0]["key"], "routing_key");
    let items = collection["item"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["name"], "Checkout latency above 2s");
    assert_eq!(items[0]["request"]["url"]["raw"], fake.events_url());
    let body: Value = serde_json::from_str(items[0]["request"]["body"]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(body["routing_key"], "{{routing_key}}");
    assert_eq!(body["payload"]["custom_details"]["event_id"], "{{$guid}}");
    assert_eq!(body["payload"]["custom_details"]["ip_address"], "{{$randomIP}}");

    let change = client
        .export_postman(pb::ExportPostmanRequest {
            org: "Acme".into(),
            filename: "major_change_events_20251203101010.json".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let collection: Value = serde_json::from_str(&change.collection_json).unwrap();
    let item = &collection["item"][0];
    assert_eq!(item["request"]["url"]["raw"], fake.change_events_url());
    let body: Value = serde_json::from_str(item["request"]["body"]["raw"].as_str().unwrap()).unwrap();
    assert!(body.get("event_action").is_none() && body["payload"].get("severity").is_none());
    assert!(
        chrono::DateTime::parse_from_rfc3339(body["payload"]["timestamp"].as_str().unwrap()).is_ok(),
        "rendered once"
    );

    let missing = client
        .export_postman(pb::ExportPostmanRequest { org: "Acme".into(), filename: "nope.json".into() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let empty = client
        .export_postman(pb::ExportPostmanRequest { org: "Acme".into(), filename: String::new() })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().starts_with("filename"), "{}", empty.message());
}

#[tokio::test]
async fn a_run_keeps_at_most_32_requests_in_flight_and_bounded_dry_run_bodies() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |config| config.send_timeout_s = 10.0).await;
    // 100 sends due at once, each answered after 300 ms: without a cap all 100 would be in flight together.
    put_file(&server, "major_events_1.json", &spread_events(100, 0).to_string());
    fake.delay_every(Duration::from_millis(300));
    let played = play(&server, request(&["major_events_1.json"], 1.0)).await;
    assert_eq!((played.summary.total, played.summary.succeeded), (100, 100));
    let received = fake.received();
    assert_eq!(received.len(), 100, "no duplicates, no retries");
    let most_at_once = received
        .iter()
        .map(|r| received.iter().filter(|o| o.received_at <= r.received_at && r.received_at < o.answered_at).count())
        .max()
        .unwrap();
    assert!(most_at_once <= 32, "{most_at_once} requests were in flight at once");
    assert!(played.results.iter().all(|r| r.sent_offset_s >= r.scheduled_offset_s));

    // A dry-run body is cut like a live answer.
    let mut events = spread_events(1, 0);
    events[0]["payload"]["custom_details"] = json!({ "log": "x".repeat(20_000) });
    put_file(&server, "big_events_1.json", &events.to_string());
    let mut dry = request(&["big_events_1.json"], 1.0);
    dry.dry_run = true;
    let played = play(&server, dry).await;
    let chars = played.results[0].response_body.chars().count();
    assert!(chars <= 4097, "a dry-run body of {chars} characters");
}

#[tokio::test]
async fn too_many_sends_are_refused_before_anything_leaves() {
    let fake = FakePagerDuty::start().await;
    let server = server_for(&fake, |_| {}).await;
    // 3 alerts × 10 000 repeats at speed 1000 used to launch 30 003 requests at once.
    let mut events = spread_events(3, 1);
    for event in events.as_array_mut().unwrap() {
        event["repeat_schedule"] = json!([{ "repeat_count": 10_000, "repeat_offset": 1 }]);
    }
    put_file(&server, "major_events_1.json", &events.to_string());
    let status = server.client.clone().send_events(request(&["major_events_1.json"], 1000.0)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("30003 sends; at most 10000"), "{}", status.message());
    assert_eq!(fake.count(), 0);
}
