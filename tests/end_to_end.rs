//! Whole journeys through the real server: Generate → GenerateDiagnostics on the built-in generator, and
//! diagnostics written by an OpenAI-compatible model (a loopback mock) through the same server.

mod common;

use common::start_server;
use demogen::config::LlmMode;
use demogen::pb;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn yaml_jobs(yaml: &str) -> Vec<serde_yaml_ng::Value> {
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("job YAML parses");
    parsed.as_sequence().expect("Rundeck job-list form is a sequence").clone()
}

#[tokio::test]
async fn generated_major_scenario_gets_five_importable_diagnostic_jobs() {
    let mut test = start_server(|_| {}).await;
    let generated = test
        .client
        .generate(pb::GenerateRequest {
            org_name: "Northwind Payments".into(),
            scenarios: vec![pb::Scenario::Major as i32],
            seed: Some(11),
            ..Default::default()
        })
        .await
        .expect("Generate succeeds on the built-in generator")
        .into_inner();
    let files = &generated.files[0];
    let events: Vec<Value> = serde_json::from_str(&generated.events["major"]).unwrap();

    let diagnostics = test
        .client
        .generate_diagnostics(pb::GenerateDiagnosticsRequest {
            org_name: "Northwind Payments".into(),
            scenario: "major".into(),
            narrative_file: files.narrative_file.clone(),
            files: vec![files.events_file.clone(), files.change_events_file.clone()],
            max_jobs: None,
        })
        .await
        .expect("GenerateDiagnostics succeeds")
        .into_inner();
    let document = diagnostics.diagnostics.expect("diagnostics document");
    assert_eq!(document.diagnostics.len(), 5);
    let major_index = events.iter().position(|e| e["payload"]["custom_details"]["major_failure"] == json!(true));
    assert_eq!(Some(document.diagnostics[0].event_index as usize), major_index, "the major failure comes first");

    for job in &document.diagnostics {
        let alert = &events[job.event_index as usize];
        assert_eq!(alert["payload"]["summary"].as_str().unwrap(), job.event_summary);
        let parsed = yaml_jobs(&job.yaml);
        assert_eq!(parsed.len(), 1);
        let definition = &parsed[0];
        assert_eq!(definition["name"].as_str().unwrap(), job.job_name);
        assert!(definition["description"].as_str().unwrap().contains(&job.event_summary));
        let commands = definition["sequence"]["commands"].as_sequence().unwrap();
        assert!(commands.len() >= 3, "at least two diagnostic steps and the note step");
        let on_disk = test.data_dir.path().join("NorthwindPayments").join(&job.filename);
        assert_eq!(std::fs::read_to_string(on_disk).unwrap(), job.yaml);
    }

    let listed = test
        .client
        .list_files(pb::ListFilesRequest { org: "Northwind Payments".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let diagnostics_files: Vec<&str> =
        listed.files.iter().filter(|f| f.kind == pb::FileKind::Diagnostics as i32).map(|f| f.name.as_str()).collect();
    assert_eq!(diagnostics_files.len(), 6, "the document and five jobs: {diagnostics_files:?}");
    assert!(diagnostics_files.contains(&diagnostics.diagnostics_filename.as_str()));
}

/// Answers the diagnostics prompts like a model would: first a selection with out-of-range and duplicate
/// indices, then for each job one unusable answer followed by valid steps for the alert's service.
struct DiagnosticsModel;

fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-e2e",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "mock",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
    }))
}

impl Respond for DiagnosticsModel {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let messages = body["messages"].as_array().unwrap();
        let prompt = messages.iter().find(|m| m["role"] == "user").unwrap()["content"].as_str().unwrap();
        let attempt = messages.iter().filter(|m| m["role"] == "user").count();
        if prompt.contains("Choose up to") {
            return completion(r#"{"indices": [42, 1, 1, 0]}"#);
        }
        if attempt == 1 {
            return completion("Sure! Here are some steps: run kubectl");
        }
        let slug = prompt.split("label `app=").nth(1).and_then(|rest| rest.split('`').next()).unwrap();
        completion(
            &json!({"steps": [
                {"description": "Pods of the service", "command": format!("kubectl -n production get pods -l app={slug}")},
                {"description": "Recent logs", "command": format!("kubectl -n production logs deploy/{slug} --since=15m --tail=200")},
                {"description": "Rollout history", "command": format!("kubectl -n production rollout history deploy/{slug} | tail -n 5")}
            ]})
            .to_string(),
        )
    }
}

#[tokio::test]
async fn diagnostics_from_an_openai_compatible_model_drop_bad_indices_and_re_ask() {
    let mock = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(DiagnosticsModel).mount(&mock).await;
    let base_url = format!("{}/v1", mock.uri());
    let mut test = start_server(move |config| {
        config.llm = LlmMode::Openai;
        config.openai_api_key = Some("sk-e2e-secret".into());
        config.openai_base_url = base_url;
        config.openai_model = "gpt-4o-mini".into();
        config.llm_retries = 0;
    })
    .await;

    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original-outputs/PayPal");
    for name in ["major_narrative_20250418T005517029Z.txt", "major_events_20250418T005517029Z.json"] {
        let content = std::fs::read_to_string(fixtures.join(name)).unwrap();
        let dir = test.data_dir.path().join("PayPal");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), content).unwrap();
    }

    let response = test
        .client
        .generate_diagnostics(pb::GenerateDiagnosticsRequest {
            org_name: "PayPal".into(),
            scenario: "major".into(),
            narrative_file: "major_narrative_20250418T005517029Z.txt".into(),
            files: vec!["major_events_20250418T005517029Z.json".into()],
            max_jobs: Some(3),
        })
        .await
        .expect("diagnostics through the model")
        .into_inner();
    let jobs = response.diagnostics.unwrap().diagnostics;
    let indices: Vec<u32> = jobs.iter().map(|j| j.event_index).collect();
    assert_eq!(&indices[..2], &[1, 0], "the model's valid picks come first, in its order");
    assert_eq!(indices.len(), 3, "the list is topped up to max_jobs: {indices:?}");
    assert!(!indices.contains(&42));
    for job in &jobs {
        assert!(job.yaml.contains("rollout history"), "the model's steps are used: {}", job.yaml);
    }

    let requests = mock.received_requests().await.unwrap();
    let re_asks: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|body| body["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "user").count() > 1)
        .collect();
    assert_eq!(re_asks.len(), 3, "each job was re-asked once after the unusable answer");
    for body in &re_asks {
        let messages = body["messages"].as_array().unwrap();
        assert!(messages.iter().any(|m| m["role"] == "assistant"), "the re-ask carries the bad answer");
    }
    for request in &requests {
        let auth = request.headers.get("authorization").unwrap().to_str().unwrap();
        assert_eq!(auth, "Bearer sk-e2e-secret");
    }
}
