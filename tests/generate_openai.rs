//! The openai provider against an OpenAI-compatible mock on loopback (real HTTP), through the real server:
//! valid and fenced answers, the repair loop, retries, timeouts, reasoning-model requests and the files left
//! behind when a scenario fails.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{start_server, TestServer};
use demogen::config::LlmMode;
use demogen::generate::{builtin, GenerationSpec};
use demogen::pb;
use demogen::scenario::ScenarioKind;
use serde_json::{json, Value};
use tonic::Code;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ORG: &str = "Acme Bank";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Narrative,
    Events,
    ChangeEvents,
}

/// What the mock model is being asked: the task, the scenario and which attempt (1 = first answer).
#[derive(Debug, Clone, Copy)]
struct Ask {
    task: Task,
    kind: ScenarioKind,
    attempt: usize,
}

fn ask_of(body: &Value) -> Ask {
    let messages = body["messages"].as_array().expect("messages");
    let task_prompt = messages.iter().find(|m| m["role"] == "user").unwrap()["content"].as_str().unwrap();
    let attempt = messages.iter().filter(|m| m["role"] == "user").count();
    let task = if task_prompt.starts_with("Write the demo narrative") {
        Task::Narrative
    } else if task_prompt.starts_with("Write the incident events") {
        Task::Events
    } else if task_prompt.starts_with("Write the PagerDuty change events") {
        Task::ChangeEvents
    } else {
        panic!("unexpected prompt: {task_prompt}")
    };
    let kind = ScenarioKind::ALL
        .into_iter()
        .find(|kind| {
            task_prompt.contains(kind.parameters().priority)
                || task_prompt.contains(&format!("this {} scenario", kind.short_name()))
        })
        .expect("the prompt names the scenario");
    Ask { task, kind, attempt }
}

/// Valid answers for each scenario, written by the built-in generator for the same defaults.
fn valid_answer(ask: Ask) -> String {
    let spec = GenerationSpec { org_name: ORG.into(), scenarios: vec![Some(ask.kind)], ..Default::default() };
    let raw = builtin::generate(&spec.brief(ask.kind), 11);
    match ask.task {
        Task::Narrative => raw.narrative,
        Task::Events => raw.events,
        Task::ChangeEvents => raw.change_events,
    }
}

fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "mock",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
    }))
}

/// A mock model whose answer depends on what is asked.
struct ScriptedModel(Box<dyn Fn(Ask) -> String + Send + Sync>);

impl Respond for ScriptedModel {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("JSON request");
        completion(&(self.0)(ask_of(&body)))
    }
}

async fn mock_llm(answer: impl Fn(Ask) -> String + Send + Sync + 'static) -> MockServer {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ScriptedModel(Box::new(answer)))
        .mount(&mock)
        .await;
    mock
}

async fn server_for(
    mock: &MockServer,
    model: &str,
    adjust: impl FnOnce(&mut demogen::config::ServeConfig),
) -> TestServer {
    let base_url = format!("{}/v1", mock.uri());
    let model = model.to_owned();
    start_server(move |config| {
        config.llm = LlmMode::Openai;
        config.openai_api_key = Some("sk-test-secret".into());
        config.openai_base_url = base_url;
        config.openai_model = model;
        config.llm_retries = 2;
        config.openai_max_tokens = 4096;
        config.llm_timeout_s = 30.0;
        adjust(config);
    })
    .await
}

fn generate_request(scenarios: &[pb::Scenario]) -> pb::GenerateRequest {
    pb::GenerateRequest {
        org_name: ORG.into(),
        scenarios: scenarios.iter().map(|s| *s as i32).collect(),
        ..Default::default()
    }
}

async fn bodies(mock: &MockServer) -> Vec<Value> {
    mock.received_requests().await.unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

fn saved_files(server: &TestServer) -> Vec<String> {
    match std::fs::read_dir(server.data_dir.path().join("AcmeBank")) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn valid_answers_are_saved_and_config_decides_url_model_and_key() {
    let mock = mock_llm(valid_answer).await;
    let mut server = server_for(&mock, "gpt-4o-mini", |config| config.openai_temp = 0.3).await;
    let response = server.client.generate(generate_request(&[pb::Scenario::Major])).await.unwrap().into_inner();

    assert_eq!(response.provider, "openai:gpt-4o-mini");
    assert_eq!(response.files.len(), 1);
    assert_eq!(saved_files(&server).len(), 3);
    let requests = mock.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3, "narrative, events, change events");
    for request in &requests {
        assert_eq!(request.url.path(), "/v1/chat/completions");
        assert_eq!(request.headers.get("authorization").unwrap(), "Bearer sk-test-secret");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["model"], "gpt-4o-mini");
        assert!((body["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
        assert_eq!(body["max_tokens"], 4096);
        assert!(body.get("max_completion_tokens").is_none());
        let is_json_task = ask_of(&body).task != Task::Narrative;
        assert_eq!(body.get("response_format").map(|f| f["type"].clone()), is_json_task.then(|| json!("json_object")));
    }
}

#[tokio::test]
async fn reasoning_models_get_no_temperature_and_max_completion_tokens() {
    let mock = mock_llm(valid_answer).await;
    let mut server = server_for(&mock, "o3-mini", |_| {}).await;
    server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap();
    let bodies = bodies(&mock).await;
    assert_eq!(bodies.len(), 3);
    for body in bodies {
        assert_eq!(body["model"], "o3-mini");
        assert!(body.get("temperature").is_none(), "{body}");
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["max_completion_tokens"], 4096);
    }
}

#[tokio::test]
async fn fenced_and_wrapped_json_is_repaired_without_asking_again() {
    let mock = mock_llm(|ask| match ask.task {
        Task::Narrative => valid_answer(ask),
        Task::Events => {
            format!("```json\n{{\"events\": {}}}\n```", valid_answer(ask).replace("\"warning\"", "\"WARNING\""))
        }
        Task::ChangeEvents => format!("json\n{}", valid_answer(ask)),
    })
    .await;
    let mut server = server_for(&mock, "gpt-4o", |_| {}).await;
    let response = server.client.generate(generate_request(&[pb::Scenario::Major])).await.unwrap().into_inner();
    assert_eq!(mock.received_requests().await.unwrap().len(), 3);
    let events: Vec<Value> = serde_json::from_str(&response.events["major"]).unwrap();
    assert!(events.iter().all(|e| e["payload"]["severity"].as_str().unwrap().chars().all(|c| c.is_ascii_lowercase())));
    assert!(response.change_events["major"].trim_start().starts_with('['));
}

#[tokio::test]
async fn invalid_answers_go_back_with_the_violations_and_the_repair_is_saved() {
    // Events: a forbidden severity first; change events: a missing element (a count violation) first.
    let mock = mock_llm(|ask| match (ask.task, ask.attempt) {
        (Task::Events, 1) => valid_answer(ask).replacen("\"warning\"", "\"fatal\"", 1),
        (Task::ChangeEvents, 1) => {
            let mut changes: Vec<Value> = serde_json::from_str(&valid_answer(ask)).unwrap();
            changes.truncate(1);
            serde_json::to_string(&changes).unwrap()
        }
        _ => valid_answer(ask),
    })
    .await;
    let mut server = server_for(&mock, "gpt-4o", |_| {}).await;
    let response = server.client.generate(generate_request(&[pb::Scenario::Major])).await.unwrap().into_inner();
    assert!(response.failed_scenarios.is_empty());

    let bodies = bodies(&mock).await;
    assert_eq!(bodies.len(), 5, "narrative once, events and change events twice");
    let repair_of = |task: Task| {
        bodies
            .iter()
            .find(|body| ask_of(body).task == task && ask_of(body).attempt == 2)
            .map(|body| body["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned())
            .expect("a second request")
    };
    let events_repair = repair_of(Task::Events);
    assert!(events_repair.contains("payload.severity: \"fatal\" is not allowed in major"), "{events_repair}");
    let changes_repair = repair_of(Task::ChangeEvents);
    assert!(changes_repair.contains("1 change events; major needs exactly 3"), "{changes_repair}");
    let saved_changes: Vec<Value> = serde_json::from_str(&response.change_events["major"]).unwrap();
    assert_eq!(saved_changes.len(), 3);
    assert!(!response.events["major"].contains("fatal"));
}

#[tokio::test]
async fn a_placeholder_that_cannot_render_goes_back_to_the_model() {
    let mock = mock_llm(|ask| match (ask.task, ask.attempt) {
        (Task::Events, 1) => {
            let mut events: Vec<Value> = serde_json::from_str(&valid_answer(ask)).unwrap();
            events[0]["payload"]["custom_details"]["hostname"] = json!("{{ faker.foo.bar() }}");
            serde_json::to_string(&events).unwrap()
        }
        _ => valid_answer(ask),
    })
    .await;
    let mut server = server_for(&mock, "gpt-4o", |_| {}).await;
    let response = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap().into_inner();
    assert!(response.failed_scenarios.is_empty());

    let bodies = bodies(&mock).await;
    assert_eq!(bodies.len(), 4, "narrative and change events once, events twice");
    let events_repair = bodies
        .iter()
        .find(|body| ask_of(body).task == Task::Events && ask_of(body).attempt == 2)
        .map(|body| body["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned())
        .expect("a second events request");
    assert!(
        events_repair.contains(
            "events[0].payload.custom_details.hostname: the placeholder {{ faker.foo.bar() }} cannot be rendered"
        ),
        "{events_repair}"
    );
    assert!(events_repair.contains("unknown function `faker.foo.bar`"), "{events_repair}");
    assert!(!response.events["well"].contains("faker.foo"), "the repaired answer is saved");
}

/// The first model call gets `first`; every later call a valid answer. A Well scenario must still be saved,
/// with the narrative asked twice (4 requests in all).
async fn rate_limited_once_then_answered(first: ResponseTemplate) {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ScriptedModel(Box::new(valid_answer)))
        .with_priority(2)
        .mount(&mock)
        .await;
    let mut server = server_for(&mock, "gpt-4o", |_| {}).await;
    let response = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap().into_inner();
    assert_eq!(response.files.len(), 1);
    assert_eq!(mock.received_requests().await.unwrap().len(), 4, "the narrative was asked twice");
}

#[tokio::test]
async fn a_rate_limit_is_retried_then_succeeds() {
    rate_limited_once_then_answered(ResponseTemplate::new(429).set_body_json(json!({
        "error": { "message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded" }
    })))
    .await;
}

#[tokio::test]
async fn a_persistently_failing_server_is_unavailable_and_nothing_is_saved() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream exploded"))
        .mount(&mock)
        .await;
    let mut server = server_for(&mock, "gpt-4o", |config| config.llm_retries = 2).await;
    let status = server.client.generate(generate_request(&[pb::Scenario::Major])).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("500") && status.message().contains("after 2 retries"), "{}", status.message());
    assert!(!status.message().contains("sk-test-secret"));
    assert_eq!(mock.received_requests().await.unwrap().len(), 3, "one request and two retries, no hidden retries");
    assert!(saved_files(&server).is_empty());
}

#[tokio::test]
async fn a_hanging_server_times_out() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(completion("never read").set_delay(Duration::from_secs(30)))
        .mount(&mock)
        .await;
    let mut server = server_for(&mock, "gpt-4o", |config| config.llm_timeout_s = 0.3).await;
    let status = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("timeout"), "{}", status.message());
    assert!(saved_files(&server).is_empty());
}

#[tokio::test]
async fn a_failed_scenario_leaves_no_file_and_the_others_are_kept() {
    let always_broken = Arc::new(|ask: Ask| match (ask.kind, ask.task) {
        // Well's events never meet the rules: two sends too many every time.
        (ScenarioKind::Well, Task::Events) => valid_answer(ask)
            .replace("\"repeat_schedule\": []", "\"repeat_schedule\": [{\"repeat_count\": 40, \"repeat_offset\": 1}]"),
        _ => valid_answer(ask),
    });
    let answer = always_broken.clone();
    let mock = mock_llm(move |ask| answer(ask)).await;
    let mut server = server_for(&mock, "gpt-4o", |_| {}).await;
    let response = server
        .client
        .generate(generate_request(&[pb::Scenario::Major, pb::Scenario::Well]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.files.len(), 1);
    assert_eq!(response.files[0].scenario, "major");
    assert_eq!(response.failed_scenarios.len(), 1);
    assert_eq!(response.failed_scenarios[0].scenario, "well");
    assert!(response.failed_scenarios[0].error.contains("after 3 attempts"), "{}", response.failed_scenarios[0].error);
    assert!(response.message.contains("failed: well"), "{}", response.message);
    let files = saved_files(&server);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().all(|name| name.starts_with("major")));

    // Alone, the broken scenario fails the call: its output never met the rules.
    let status = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("well"), "{}", status.message());
    assert_eq!(saved_files(&server).len(), 3);
}

#[tokio::test]
async fn prompt_files_in_the_prompts_dir_are_used_without_rebuilding() {
    let prompts = tempfile::tempdir().unwrap();
    let compiled_in = std::fs::read_to_string("prompts/narrative_well.md").unwrap();
    std::fs::write(
        prompts.path().join("narrative_well.md"),
        format!("{compiled_in}\nTUNED: mention <<org_name>> twice."),
    )
    .unwrap();
    let mock = mock_llm(valid_answer).await;
    let prompts_dir = prompts.path().to_path_buf();
    let mut server = server_for(&mock, "gpt-4o", move |config| config.prompts_dir = prompts_dir).await;
    server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap();
    let narrative_request = bodies(&mock).await.into_iter().find(|body| ask_of(body).task == Task::Narrative).unwrap();
    let prompt = narrative_request["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("TUNED: mention Acme Bank twice."), "{prompt}");

    // A tuned prompt with a variable generation does not provide fails clearly, before any model call.
    std::fs::write(prompts.path().join("narrative_well.md"), "Write the demo narrative <<no_such_variable>>").unwrap();
    let calls_before = mock.received_requests().await.unwrap().len();
    let status = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("<<no_such_variable>>"), "{}", status.message());
    assert_eq!(mock.received_requests().await.unwrap().len(), calls_before);
}

#[tokio::test]
async fn a_key_echoed_by_the_gateway_is_redacted_from_the_status() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": { "message": "bad credentials in header Authorization: Bearer sk-test-secret (also sk-other-key-12345)" }
        })))
        .mount(&mock)
        .await;
    let mut server = server_for(&mock, "gpt-4o", |_| {}).await;
    let status = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("401"), "{}", status.message());
    assert!(status.message().contains("[redacted]"), "{}", status.message());
    assert!(
        !status.message().contains("sk-test-secret") && !status.message().contains("sk-other"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_plain_text_rate_limit_is_retried_then_succeeds() {
    rate_limited_once_then_answered(ResponseTemplate::new(429).set_body_string("Too Many Requests")).await;
}

#[tokio::test]
async fn a_persistent_plain_text_503_is_unavailable() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable: Bearer sk-test-secret"))
        .mount(&mock)
        .await;
    let mut server = server_for(&mock, "gpt-4o", |config| config.llm_retries = 1).await;
    let status = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("503"), "{}", status.message());
    assert!(!status.message().contains("sk-test-secret"), "{}", status.message());
    assert_eq!(mock.received_requests().await.unwrap().len(), 2, "one request and one retry");
}

#[tokio::test]
async fn an_html_404_from_a_wrong_base_url_is_a_failed_precondition_naming_404() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("content-type", "text/html")
                .set_body_string("<html>\n<head><title>404 Not Found</title></head>\n<body>nginx</body></html>"),
        )
        .mount(&mock)
        .await;
    let mut server = server_for(&mock, "gpt-4o", |_| {}).await;
    let status = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("404"), "{}", status.message());
    assert!(!status.message().contains("scenario rules"), "{}", status.message());
    assert_eq!(mock.received_requests().await.unwrap().len(), 1, "a 404 is neither retried nor re-asked");
}

#[tokio::test]
async fn a_200_page_that_is_not_a_chat_completion_names_the_base_url_without_re_asking() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body>Welcome to the corporate proxy</body></html>"),
        )
        .mount(&mock)
        .await;
    let mut server = server_for(&mock, "gpt-4o", |_| {}).await;
    let status = server.client.generate(generate_request(&[pb::Scenario::Well])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("OPENAI_BASE_URL"), "{}", status.message());
    assert!(!status.message().contains("scenario rules"), "{}", status.message());
    assert_eq!(mock.received_requests().await.unwrap().len(), 1, "the same page is not asked for again");
}
