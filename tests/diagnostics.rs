//! GenerateDiagnostics through the real server: importable jobs for the key alerts, saved and listed files,
//! the old tool's files as input, and precise statuses for bad requests.

mod common;

use std::path::Path;

use common::{start_server, TestServer};
use demogen::diagnostics::check_job_yaml;
use demogen::pb;
use serde_json::{json, Value};
use tonic::Code;

const ORG: &str = "Acme Bank";
const ORG_DIR: &str = "AcmeBank";
const NARRATIVE: &str = "major_20251203101010.txt";
const EVENTS: &str = "major_events_20251203101010.json";
const CHANGES: &str = "major_change_events_20251203101010.json";

/// (summary, severity, service, metric, offset, major failure)
const ALERTS: &[(&str, &str, &str, &str, i64, bool)] = &[
    ("API gateway p99 latency above 800 ms", "warning", "API Nodes", "p99_latency_ms", 30, false),
    ("Auth service CPU utilization above 85%", "warning", "User Authentication", "cpu_utilization", 60, false),
    ("Payments DB connection pool 95% utilized", "error", "Payment Processing", "db_connection_pool_usage", 90, false),
    ("Payment API 5xx error rate above 20%", "critical", "Payment Processing", "http_5xx_rate", 150, true),
    ("api-nodes pods in CrashLoopBackOff", "error", "API Nodes", "pod_restarts", 180, false),
    ("Login failure rate above 30%", "critical", "User Authentication", "login_failure_rate", 200, false),
    ("Settlement queue depth above 10k messages", "warning", "Payment Processing", "queue_depth", 240, false),
    ("API node memory above 90%", "error", "API Nodes", "memory_rss", 300, false),
    ("Slow queries on the payments database", "warning", "Payment Processing", "slow_query_count", 330, false),
];

fn major_events() -> String {
    let events: Vec<Value> = ALERTS
        .iter()
        .map(|(summary, severity, service, metric, offset, major)| {
            let mut details = json!({"metric_name": metric, "current_value": "97", "threshold": "80",
                "service_name": service, "event_id": "{{ faker.datatype.uuid() }}",
                "hostname": "{{ faker.internet.domainName() }}", "ip_address": "{{ faker.internet.ip() }}",
                "cluster_name": "prod-east-1"});
            if *major {
                details["major_failure"] = json!(true);
                details["CUJ Impacted"] = json!(true);
            }
            json!({"event_action": "trigger",
                "payload": {"summary": summary, "source": "New Relic", "severity": severity, "component": service,
                    "group": "production", "class": "alert", "custom_details": details},
                "timing_metadata": {"schedule_offset": offset},
                "repeat_schedule": [{"repeat_count": 3, "repeat_offset": 30}]})
        })
        .collect();
    serde_json::to_string_pretty(&events).unwrap()
}

fn change_events() -> String {
    let change = |summary: &str| {
        json!({"payload": {"summary": summary, "source": "GitHub Actions", "timestamp": "{{ timestamp(-1800, -60) }}",
            "custom_details": {"change_ticket": "CHG0012345", "environment": "production", "author": "j.doe"}},
            "links": [{"href": "https://github.example/acme/payments/pull/42", "text": "PR 42"}]})
    };
    serde_json::to_string_pretty(&json!([
        change("Deploy payments-api v2.14.0"),
        change("Raise auth token cache TTL"),
        change("Rotate API node base image")
    ]))
    .unwrap()
}

const NARRATIVE_TEXT: &str = "**Scenario Overview:** Card payments fail for Acme Bank customers.\n\
    **Incident Narrative:**\n- 09:02 UTC payments 5xx rise\n**The Response:** on-call paged\n\
    **The Resolution:** rollback\n**Demo Execution:** run SendEvents\n\
    **Talk Track for the SC (20-Minute Demo Flow):** tell the story\n**Outage Summary:** Payments failed for 12 minutes.";

fn write_org_file(server: &TestServer, org_dir: &str, name: &str, content: &str) {
    let dir = server.data_dir.path().join(org_dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), content).unwrap();
}

async fn server_with_major_scenario() -> TestServer {
    let server = start_server(|config| config.rundeck_token_path = "keys/project/demo/pagerduty-token".into()).await;
    write_org_file(&server, ORG_DIR, NARRATIVE, NARRATIVE_TEXT);
    write_org_file(&server, ORG_DIR, EVENTS, &major_events());
    write_org_file(&server, ORG_DIR, CHANGES, &change_events());
    server
}

fn request(files: &[&str]) -> pb::GenerateDiagnosticsRequest {
    pb::GenerateDiagnosticsRequest {
        org_name: ORG.into(),
        scenario: "major".into(),
        narrative_file: NARRATIVE.into(),
        files: files.iter().map(|f| f.to_string()).collect(),
        max_jobs: None,
    }
}

fn slug(service: &str) -> String {
    service.to_lowercase().replace(' ', "-")
}

/// Steps of a job (header, diagnostics, note) as (description, script).
fn steps(yaml: &str) -> Vec<(String, String)> {
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("job YAML parses");
    document[0]["sequence"]["commands"]
        .as_sequence()
        .expect("sequence.commands is a list")
        .iter()
        .map(|step| (step["description"].as_str().unwrap().to_owned(), step["script"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn builtin_major_scenario_gives_five_importable_jobs_saved_and_listed() {
    let mut server = server_with_major_scenario().await;
    let response = server.client.generate_diagnostics(request(&[EVENTS, CHANGES])).await.unwrap().into_inner();
    let diagnostics = response.diagnostics.clone().unwrap();
    assert_eq!(diagnostics.scenario, "major");
    assert_eq!(diagnostics.narrative, NARRATIVE_TEXT);
    assert_eq!(diagnostics.diagnostics.len(), 5, "default max_jobs is 5");

    let indices: Vec<u32> = diagnostics.diagnostics.iter().map(|j| j.event_index).collect();
    assert_eq!(indices[0], 3, "the major-failure alert comes first");
    assert_eq!(indices, vec![3, 5, 4, 2, 7], "severity, then offset, one per service before repeats");
    assert!(indices.iter().all(|&i| (i as usize) < ALERTS.len()), "change events are never diagnosed");

    // What each metric's commands must contain to be relevant to it.
    let evidence_of = |metric: &str| match metric {
        "http_5xx_rate" | "login_failure_rate" => "5[0-9]{2}",
        "pod_restarts" => "kubectl get pods",
        "db_connection_pool_usage" => "pg_stat_activity",
        "memory_rss" => "--sort-by=memory",
        other => panic!("unexpected metric {other}"),
    };
    let mut names = std::collections::HashSet::new();
    for job in &diagnostics.diagnostics {
        let (summary, severity, service, metric, _, _) = ALERTS[job.event_index as usize];
        assert_eq!(job.event_summary, summary);
        assert_eq!(job.job_name, format!("Diagnose: {summary}"));
        assert!(job.filename.starts_with(&format!("diagnostics_job{}_", names.len() + 1)), "{}", job.filename);
        assert!(job.filename.ends_with(".yaml"));
        assert!(names.insert(job.filename.clone()));
        check_job_yaml(&job.yaml, 2).unwrap_or_else(|problems| panic!("{}: {problems:?}", job.filename));

        let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(&job.yaml).unwrap();
        let rundeck_job = &document[0];
        assert_eq!(rundeck_job["name"].as_str(), Some(job.job_name.as_str()));
        assert!(rundeck_job["description"].as_str().unwrap().contains(&format!("{severity} alert \"{summary}\"")));
        assert_eq!(rundeck_job["group"].as_str(), Some("AcmeBank/diagnostics/major"));
        let options = rundeck_job["options"].as_sequence().unwrap();
        let token = options.iter().find(|o| o["name"] == "pd_api_token").expect("token option");
        assert_eq!(token["secure"].as_bool(), Some(true));
        assert_eq!(token["storagePath"].as_str(), Some("keys/project/demo/pagerduty-token"), "from the config");

        let steps = steps(&job.yaml);
        let diagnostic_steps = &steps[1..steps.len() - 1];
        let aimed = diagnostic_steps.iter().filter(|(_, script)| script.contains(&slug(service))).count();
        assert!(aimed >= 2, "{summary}: only {aimed} commands target {service}");
        assert!(
            diagnostic_steps.iter().any(|(_, script)| script.contains(evidence_of(metric))),
            "{summary}: no command about {metric}"
        );
        assert!(steps[0].1.contains(summary), "the evidence starts with the alert");
        assert!(steps.last().unwrap().1.contains("/notes"), "the last step posts the evidence to the incident");
    }

    // Saved: the document plus one YAML per job, listed as diagnostics, with the same content as returned.
    let file_name = &response.diagnostics_filename;
    assert!(file_name.starts_with("diagnostics_") && file_name.ends_with(".json"), "{file_name}");
    let listing = server
        .client
        .list_files(pb::ListFilesRequest { org: ORG.into(), page_size: 100, page_token: String::new() })
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<&pb::FileInfo> = listing.files.iter().filter(|f| f.name.starts_with("diagnostics")).collect();
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert!(listed.iter().all(|f| f.kind == pb::FileKind::Diagnostics as i32));
    assert!(listed.iter().any(|f| &f.name == file_name));
    assert!(names.iter().all(|name| listed.iter().any(|f| &f.name == name)));

    let saved = server
        .client
        .get_file(pb::GetFileRequest { org: ORG.into(), filename: file_name.clone() })
        .await
        .unwrap()
        .into_inner();
    let saved: Value = serde_json::from_str(&saved.content).unwrap();
    assert_eq!(saved["scenario"], "major");
    assert_eq!(saved["narrative"], NARRATIVE_TEXT);
    for (saved_job, job) in saved["diagnostics"].as_array().unwrap().iter().zip(&diagnostics.diagnostics) {
        assert_eq!(saved_job["event_index"], job.event_index);
        assert_eq!(saved_job["filename"], job.filename.as_str());
        assert_eq!(saved_job["yaml"], job.yaml.as_str());
        let yaml_file = server
            .client
            .get_file(pb::GetFileRequest { org: ORG.into(), filename: job.filename.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(yaml_file.content, job.yaml);
    }

    // A second run saves new files next to the first ones instead of overwriting them.
    let mut second = request(&[EVENTS]);
    second.max_jobs = Some(2);
    let again = server.client.generate_diagnostics(second).await.unwrap().into_inner();
    assert_ne!(&again.diagnostics_filename, file_name);
    let again_jobs = again.diagnostics.unwrap().diagnostics;
    assert_eq!(again_jobs.len(), 2);
    assert!(again_jobs.iter().all(|j| !names.contains(&j.filename)));
    let listing = server
        .client
        .list_files(pb::ListFilesRequest { org: ORG.into(), page_size: 100, page_token: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listing.files.iter().filter(|f| f.kind == pb::FileKind::Diagnostics as i32).count(), 9);
}

#[tokio::test]
async fn the_old_tools_files_work_as_input() {
    let mut server = start_server(|_| {}).await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original-outputs");
    let mut runs = 0;
    for org in std::fs::read_dir(&fixtures).unwrap().flatten() {
        let org_name = org.file_name().into_string().unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(org.path()).unwrap().flatten().map(|f| f.file_name().into_string().unwrap()).collect();
        names.sort();
        for name in &names {
            let content = std::fs::read_to_string(org.path().join(name)).unwrap();
            write_org_file(&server, &org_name, name, &content);
        }
        for events_file in names.iter().filter(|n| n.contains("_events_")) {
            let scenario = events_file.split('_').next().unwrap();
            let narrative = events_file.replace("_events_", "_narrative_").replace(".json", ".txt");
            let events =
                demogen::scenario::parse_event_array(&std::fs::read_to_string(org.path().join(events_file)).unwrap())
                    .unwrap();
            let response = server
                .client
                .generate_diagnostics(pb::GenerateDiagnosticsRequest {
                    org_name: org_name.clone(),
                    scenario: scenario.into(),
                    narrative_file: narrative.clone(),
                    files: vec![events_file.clone()],
                    max_jobs: Some(20),
                })
                .await
                .unwrap_or_else(|status| panic!("{org_name}/{events_file}: {status:?}"))
                .into_inner();
            let jobs = response.diagnostics.unwrap().diagnostics;
            assert!(!jobs.is_empty(), "{org_name}/{events_file}");
            for job in &jobs {
                let event = &events[job.event_index as usize];
                assert_ne!(event["event_action"], "resolve", "{org_name}/{events_file}: resolves are not diagnosed");
                assert_eq!(job.event_summary, event["payload"]["summary"].as_str().unwrap().trim());
                check_job_yaml(&job.yaml, 2).unwrap_or_else(|p| panic!("{org_name}/{events_file}: {p:?}"));
            }
            if let Some(major) = events.iter().position(|e| e["payload"]["custom_details"]["major_failure"] == true) {
                assert_eq!(jobs[0].event_index as usize, major, "{org_name}/{events_file}");
            }
            runs += 1;
        }
    }
    assert!(runs >= 9, "expected every fixture events file to be used, ran {runs}");
}

type Request = pb::GenerateDiagnosticsRequest;
/// Spoils one field of a valid request.
type BreakRequest = fn(&mut Request);

async fn status_of(server: &mut TestServer, request: pb::GenerateDiagnosticsRequest) -> tonic::Status {
    server.client.generate_diagnostics(request).await.expect_err("the request must fail")
}

#[tokio::test]
async fn bad_requests_get_precise_statuses() {
    let mut server = server_with_major_scenario().await;
    write_org_file(&server, ORG_DIR, "major_events_broken.json", "[\n  {\"payload\": {\"summary\": \"x\",}}\n]");
    write_org_file(&server, ORG_DIR, "major_events_number.json", "42");

    let mut missing_narrative = request(&[EVENTS]);
    missing_narrative.narrative_file = "major_19990101000000.txt".into();
    let status = status_of(&mut server, missing_narrative).await;
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("narrative_file") && status.message().contains("major_19990101000000.txt"));

    let status = status_of(&mut server, request(&[EVENTS, "major_events_missing.json"])).await;
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("major_events_missing.json"), "{}", status.message());

    let status = status_of(&mut server, request(&["major_events_broken.json"])).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("major_events_broken.json") && status.message().contains("line 2"));

    let status = status_of(&mut server, request(&["major_events_number.json"])).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("expected a JSON array"), "{}", status.message());

    let status = status_of(&mut server, request(&["../AcmeBank/major_events_20251203101010.json"])).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());

    let status = status_of(&mut server, request(&[CHANGES])).await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains(CHANGES) && status.message().contains("trigger"));

    let mut unknown_org = request(&[EVENTS]);
    unknown_org.org_name = "Nobody Inc".into();
    assert_eq!(status_of(&mut server, unknown_org).await.code(), Code::NotFound);

    let cases: Vec<(&str, BreakRequest)> = vec![
        ("org_name", |r| r.org_name = " ".into()),
        ("org_name", |r| r.org_name = "%%%".into()),
        ("scenario", |r| r.scenario = "epic".into()),
        ("scenario", |r| r.scenario = String::new()),
        ("narrative_file", |r| r.narrative_file = String::new()),
        ("files", |r| r.files.clear()),
        ("files", |r| r.files.push(String::new())),
        ("max_jobs", |r| r.max_jobs = Some(0)),
        ("max_jobs", |r| r.max_jobs = Some(21)),
    ];
    for (field, break_request) in cases {
        let mut bad = request(&[EVENTS]);
        break_request(&mut bad);
        let status = status_of(&mut server, bad).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {}", status.message());
        assert!(status.message().contains(field), "{field}: {}", status.message());
    }

    let listing = server
        .client
        .list_files(pb::ListFilesRequest { org: ORG.into(), page_size: 100, page_token: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert!(listing.files.iter().all(|f| !f.name.starts_with("diagnostics")), "failed requests save nothing");
}

#[tokio::test]
async fn the_scenario_is_accepted_as_generates_enum_name_too() {
    let mut server = server_with_major_scenario().await;
    for scenario in ["SCENARIO_MAJOR", "scenario_major", " Major "] {
        let mut enum_style = request(&[EVENTS]);
        enum_style.scenario = scenario.into();
        let response = server.client.generate_diagnostics(enum_style).await.expect(scenario).into_inner();
        assert_eq!(response.diagnostics.unwrap().scenario, "major", "{scenario}");
    }
    let mut unknown = request(&[EVENTS]);
    unknown.scenario = "SCENARIO_EPIC".into();
    let status = status_of(&mut server, unknown).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("SCENARIO_MAJOR"), "{}", status.message());
}

#[tokio::test]
async fn openai_without_a_key_is_a_failed_precondition_not_a_silent_builtin() {
    let server = start_server(|config| config.llm = demogen::config::LlmMode::Openai).await;
    write_org_file(&server, ORG_DIR, NARRATIVE, NARRATIVE_TEXT);
    write_org_file(&server, ORG_DIR, EVENTS, &major_events());
    let mut server = server;
    let status = status_of(&mut server, request(&[EVENTS])).await;
    assert_eq!(status.code(), Code::FailedPrecondition, "{}", status.message());
    assert!(status.message().contains("OPENAI_API_KEY"), "{}", status.message());
    assert!(!server
        .data_dir
        .path()
        .join(ORG_DIR)
        .read_dir()
        .unwrap()
        .any(|entry| { entry.unwrap().file_name().to_string_lossy().starts_with("diagnostics") }));
}

/// Runs a generated job's steps the way a Rundeck node would (tokens expanded, options as `RD_OPTION_*`,
/// each inline script run by `sh`), with stand-ins for psql and kubectl, against a PagerDuty mock on
/// loopback: the evidence must arrive as a note on the incident, and the token must stay out of the log.
#[tokio::test]
async fn a_generated_job_runs_and_posts_its_evidence_as_an_incident_note() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let mut server = server_with_major_scenario().await;
    let response = server.client.generate_diagnostics(request(&[EVENTS])).await.unwrap().into_inner();
    let job = response.diagnostics.unwrap().diagnostics.into_iter().find(|j| j.event_index == 2).unwrap();
    assert!(job.event_summary.contains("connection pool"));

    let pagerduty = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/incidents/PINC123/notes"))
        .and(header("authorization", "Token token=secret-pd-token"))
        .and(header("from", "sc@acme.test"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"note": {"id": "PNOTE1"}})))
        .expect(1)
        .mount(&pagerduty)
        .await;

    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["psql", "kubectl"] {
        let fake = bin.join(tool);
        std::fs::write(&fake, format!("#!/bin/sh\necho \"{tool} saw: $* (pool exhausted)\"\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path_env = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    // The stand-ins mention the pool so the log filters of the steps keep their lines.
    let mut log = String::new();
    let steps = steps(&job.yaml);
    for (position, (description, script)) in steps.iter().enumerate() {
        let script = script
            .replace("@job.execid@", "4242")
            .replace("@job.name@", &job.job_name)
            .replace("@node.name@", "runner-1")
            .replace("@option.incident_id@", "PINC123");
        assert!(!script.contains("@option.") && !script.contains("@job."), "unexpanded token in {description}");
        let file = work.path().join(format!("step{position}.sh"));
        std::fs::write(&file, script).unwrap();
        let output = tokio::process::Command::new("sh")
            .arg(&file)
            .env("PATH", &path_env)
            .env("TMPDIR", work.path())
            .env("RD_OPTION_INCIDENT_ID", "PINC123")
            .env("RD_OPTION_PD_API_TOKEN", "secret-pd-token")
            .env("RD_OPTION_PD_USER_EMAIL", "sc@acme.test")
            .env("RD_OPTION_PD_API_URL", pagerduty.uri())
            .output()
            .await
            .unwrap();
        log.push_str(&String::from_utf8_lossy(&output.stdout));
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "step {position} ({description}) failed:\n{log}");
    }

    assert!(log.contains("PagerDuty answered HTTP 201"), "{log}");
    assert!(!log.contains("secret-pd-token"), "the token never reaches the log:\n{log}");
    let requests = pagerduty.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let note: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let content = note["note"]["content"].as_str().unwrap();
    assert!(content.contains("demogen diagnostics for PagerDuty incident PINC123"), "{content}");
    assert!(content.contains("Alert: Payments DB connection pool 95% utilized"), "{content}");
    assert!(content.contains("$ psql -h payment-processing.internal"), "commands are recorded: {content}");
    assert!(content.contains("psql saw: -h payment-processing.internal -X -c select state"), "{content}");
    assert!(content.contains("kubectl saw: logs -n production deployment/payment-processing"), "{content}");
    assert!(content.contains("Node: runner-1"), "{content}");
    assert!(!work.path().join("demogen-diagnostics-4242.txt").exists(), "the evidence file is removed");
}

/// A chat model for the model-assisted path: answers by question, so concurrent job questions get the
/// right answers in any order, and records every request.
#[derive(Debug, Default)]
struct ScriptedModel {
    requests: std::sync::Mutex<Vec<demogen::llm::ChatRequest>>,
}

#[async_trait::async_trait]
impl demogen::llm::ChatModel for ScriptedModel {
    fn label(&self) -> String {
        "scripted:test".into()
    }

    async fn complete(&self, request: &demogen::llm::ChatRequest) -> Result<String, demogen::llm::LlmError> {
        self.requests.lock().unwrap().push(request.clone());
        let prompt = &request.messages[0].content;
        if request.json_schema.as_ref().unwrap().name == "diagnostics_selection" {
            // 9 is a change event, 99 is out of range, 3 is repeated.
            return Ok(r#"{"indices": [3, 9, 99, 3, 0]}"#.into());
        }
        if prompt.contains("Login failure rate") {
            return Ok("steps:\n  - kubectl get pods".into()); // never usable: falls back to the built-in commands
        }
        if request.messages.len() == 1 {
            return Ok("steps:\n  - kubectl get pods".into()); // YAML instead of JSON: re-asked
        }
        let slug = prompt.split("label `app=").nth(1).and_then(|rest| rest.split('`').next()).unwrap();
        Ok(json!({"steps": [
            {"description": "model: pods", "command": format!("kubectl get pods -n production -l app={slug}")},
            {"description": "model: events", "command": format!("kubectl get events -n production | grep {slug}")}
        ]})
        .to_string())
    }
}

#[tokio::test]
async fn the_model_path_checks_every_answer_and_falls_back_per_job() {
    use demogen::diagnostics::{generate_diagnostics, DiagnosticsDeps, DiagnosticsRequest};

    let data = tempfile::tempdir().unwrap();
    let storage = demogen::storage::Storage::open(data.path(), 1 << 20).unwrap();
    for (name, content) in
        [(NARRATIVE, NARRATIVE_TEXT.to_owned()), (EVENTS, major_events()), (CHANGES, change_events())]
    {
        storage.write_file(ORG, name, content, None).await.unwrap();
    }
    let prompts = demogen::prompts::PromptLibrary::new(data.path().join("no-prompts-here"));
    let model = ScriptedModel::default();
    let deps = DiagnosticsDeps {
        storage: &storage,
        prompts: &prompts,
        chat_model: Some(&model),
        token_storage_path: "keys/demogen/pagerduty-api-token",
    };
    let request = DiagnosticsRequest {
        org: ORG.into(),
        scenario: "major".into(),
        narrative_file: NARRATIVE.into(),
        files: vec![EVENTS.into(), CHANGES.into()],
        max_jobs: Some(4),
    };
    let outcome = generate_diagnostics(deps, request).await.unwrap();
    assert_eq!(outcome.provider, "scripted:test");
    let jobs = &outcome.document.diagnostics;
    let indices: Vec<u32> = jobs.iter().map(|j| j.event_index).collect();
    // The model's picks cover every service, so the top-up takes the best-ranked alert whose metric is not yet
    // covered on its service: the payments DB pool (error @90) before the api-nodes pods (error @180).
    assert_eq!(indices, vec![3, 0, 5, 2], "valid model choices, then the deterministic ranking");

    for job in jobs {
        check_job_yaml(&job.yaml, 2).unwrap();
        let steps = steps(&job.yaml);
        let from_model = steps.iter().any(|(description, _)| description.starts_with("model: "));
        if job.event_summary == "Login failure rate above 30%" {
            assert!(!from_model, "three unusable answers give the built-in commands");
            assert!(steps.iter().any(|(_, script)| script.contains("grep -cE")), "built-in 5xx count");
        } else {
            assert!(from_model, "{}: the corrected answer is used", job.event_summary);
            assert_eq!(steps.len(), 4, "header, the model's two steps, note");
        }
    }

    let requests = model.requests.lock().unwrap().clone();
    let selection_requests =
        requests.iter().filter(|r| r.json_schema.as_ref().unwrap().name == "diagnostics_selection");
    assert_eq!(selection_requests.count(), 1, "bad indices are dropped, not re-asked");
    let login_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.json_schema.as_ref().unwrap().name == "diagnostic_steps")
        .filter(|r| r.messages[0].content.contains("Login failure rate above 30%"))
        .collect();
    assert_eq!(login_requests.len(), 3, "three attempts before falling back");
    let re_ask = login_requests.iter().find(|r| r.messages.len() == 3).unwrap();
    assert!(re_ask.messages[2].content.contains("holds no JSON object"), "the re-ask carries the problem");
    assert_eq!(requests.len(), 1 + 3 + 2 * 3, "selection, 3 for the fallback job, 2 for each other job");

    let saved = storage.read_file(ORG, &outcome.diagnostics_filename).await.unwrap();
    let saved: demogen::diagnostics::DiagnosticsDocument = serde_json::from_str(&saved.content).unwrap();
    assert_eq!(saved, outcome.document);
}

/// The diagnostics document names its job files before they exist: the storage group save hands the final
/// names to the content builder, including when a name of the same second is taken and `_2` is used.
#[tokio::test]
async fn linked_group_saves_name_their_companions_correctly() {
    let data = tempfile::tempdir().unwrap();
    let storage = demogen::storage::Storage::open(data.path(), 1 << 20).unwrap();
    let group =
        || vec![("diagnostics".to_owned(), "json".to_owned()), ("diagnostics_job1_x".to_owned(), "yaml".to_owned())];
    let contents = |names: &[String]| vec![json!({ "job": names[1] }).to_string(), format!("- name: {}\n", names[1])];
    let mut all_names = std::collections::HashSet::new();
    for _ in 0..3 {
        let names = storage.save_new_files_linked(ORG, group(), contents).await.unwrap();
        assert!(names[0].starts_with("diagnostics_") && names[1].starts_with("diagnostics_job1_x_"));
        assert_eq!(
            names[0]["diagnostics".len()..names[0].len() - 5],
            names[1]["diagnostics_job1_x".len()..names[1].len() - 5],
            "one timestamp and suffix per group"
        );
        let document: Value = serde_json::from_str(&storage.read_file(ORG, &names[0]).await.unwrap().content).unwrap();
        assert_eq!(document["job"], names[1].as_str(), "the document names the file saved with it");
        assert_eq!(storage.read_file(ORG, &names[1]).await.unwrap().content, format!("- name: {}\n", names[1]));
        assert!(all_names.insert(names[0].clone()) && all_names.insert(names[1].clone()), "names are never reused");
    }
    let bad = storage
        .save_new_files_linked(ORG, group(), |_: &[String]| vec!["{not json".to_owned(), "x".to_owned()])
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("not valid JSON"), "{bad}");
    let listed = storage.list_files(ORG, 100, "").await.unwrap().items.len();
    assert_eq!(listed, 6, "a refused group leaves nothing behind");
}
