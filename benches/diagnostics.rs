//! Speed of built-in GenerateDiagnostics in process: read a 9-alert major scenario, pick 5 alerts, build,
//! serialize and check 5 jobs, and save the 6 files. Run with `cargo bench --bench diagnostics`.

use std::time::{Duration, Instant};

use demogen::diagnostics::{generate_diagnostics, DiagnosticsDeps, DiagnosticsRequest};
use demogen::prompts::PromptLibrary;
use demogen::storage::Storage;
use serde_json::json;

const RUNS: usize = 100;

fn major_events() -> String {
    let alerts = [
        ("API gateway p99 latency above 800 ms", "warning", "API Nodes", "p99_latency_ms", 30),
        ("Auth service CPU utilization above 85%", "warning", "User Authentication", "cpu_utilization", 60),
        ("Payments DB connection pool 95% utilized", "error", "Payment Processing", "db_connection_pool_usage", 90),
        ("Payment API 5xx error rate above 20%", "critical", "Payment Processing", "http_5xx_rate", 150),
        ("api-nodes pods in CrashLoopBackOff", "error", "API Nodes", "pod_restarts", 180),
        ("Login failure rate above 30%", "critical", "User Authentication", "login_failure_rate", 200),
        ("Settlement queue depth above 10k messages", "warning", "Payment Processing", "queue_depth", 240),
        ("API node memory above 90%", "error", "API Nodes", "memory_rss", 300),
        ("Slow queries on the payments database", "warning", "Payment Processing", "slow_query_count", 330),
    ];
    let events: Vec<_> = alerts
        .iter()
        .map(|(summary, severity, service, metric, offset)| {
            json!({"event_action": "trigger",
                "payload": {"summary": summary, "source": "New Relic", "severity": severity, "component": service,
                    "custom_details": {"metric_name": metric, "service_name": service,
                        "major_failure": *offset == 150, "hostname": "{{ faker.internet.domainName() }}"}},
                "timing_metadata": {"schedule_offset": offset},
                "repeat_schedule": [{"repeat_count": 3, "repeat_offset": 30}]})
        })
        .collect();
    serde_json::to_string_pretty(&events).unwrap()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let storage = Storage::open(data.path(), 8 << 20).unwrap();
    let prompts = PromptLibrary::new(data.path().join("no-prompts"));
    runtime.block_on(async {
        storage.write_file("Bench", "major_1.txt", "**Scenario Overview:** bench".into(), None).await.unwrap();
        storage.write_file("Bench", "major_events_1.json", major_events(), None).await.unwrap();
    });
    let deps = DiagnosticsDeps {
        storage: &storage,
        prompts: &prompts,
        chat_model: None,
        token_storage_path: "keys/demogen/pagerduty-api-token",
    };
    let request = DiagnosticsRequest {
        org: "Bench".into(),
        scenario: "major".into(),
        narrative_file: "major_1.txt".into(),
        files: vec!["major_events_1.json".into()],
        max_jobs: None,
    };
    let mut timings = Vec::with_capacity(RUNS);
    let started = Instant::now();
    for _ in 0..RUNS {
        let start = Instant::now();
        let outcome = runtime.block_on(generate_diagnostics(deps, request.clone())).unwrap();
        timings.push(start.elapsed());
        assert_eq!(outcome.document.diagnostics.len(), 5);
    }
    let total = started.elapsed();
    timings.sort();

    // The same six files saved alone, to tell generation time from storage time (each file is fsynced).
    let last = runtime.block_on(generate_diagnostics(deps, request.clone())).unwrap();
    let mut contents = vec![serde_json::to_string_pretty(&last.document).unwrap()];
    contents.extend(last.document.diagnostics.iter().map(|job| job.yaml.clone()));
    let mut save_timings = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let files = contents
            .iter()
            .enumerate()
            .map(|(i, content)| demogen::storage::NewFile::new(format!("bench{i}"), "txt", content.clone()))
            .collect();
        let start = Instant::now();
        runtime.block_on(storage.save_new_files("Bench", files)).unwrap();
        save_timings.push(start.elapsed());
    }
    save_timings.sort();
    println!(
        "storage group save of the same 6 files alone: p50 {:.2} ms, p95 {:.2} ms",
        percentile(&save_timings, 0.5).as_secs_f64() * 1e3,
        percentile(&save_timings, 0.95).as_secs_f64() * 1e3
    );
    println!(
        "GenerateDiagnostics (builtin, 9 alerts, 5 jobs, 6 files saved): {RUNS} runs in {:.2} s; \
         p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms; {:.0} requests/s",
        total.as_secs_f64(),
        percentile(&timings, 0.5).as_secs_f64() * 1e3,
        percentile(&timings, 0.95).as_secs_f64() * 1e3,
        timings.last().unwrap().as_secs_f64() * 1e3,
        RUNS as f64 / total.as_secs_f64()
    );
}
