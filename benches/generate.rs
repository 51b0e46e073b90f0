//! Generation speed: the built-in generator per scenario (generate + validate), a three-scenario Generate
//! through the real server with the built-in provider, and the same request against a mock LLM that answers
//! after a fixed 300 ms (the critical path is narrative, then events and change events together: ≈ 2 × 300 ms).
//!
//! Run with `cargo bench --bench generate`.

use std::time::{Duration, Instant};

use demogen::config::{LlmMode, ServeConfig};
use demogen::generate::{builtin, validate_raw, GenerationSpec};
use demogen::pb;
use demogen::pb::demo_gen_service_client::DemoGenServiceClient;
use demogen::scenario::ScenarioKind;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ORG: &str = "Acme Bank";
const LLM_DELAY: Duration = Duration::from_millis(300);

fn builtin_per_scenario() {
    const ROUNDS: u32 = 300;
    for kind in ScenarioKind::ALL {
        let spec = GenerationSpec { org_name: ORG.into(), scenarios: vec![Some(kind)], ..Default::default() };
        let brief = spec.brief(kind);
        let started = Instant::now();
        for seed in 0..ROUNDS {
            let raw = builtin::generate(&brief, u64::from(seed));
            validate_raw(&brief, raw).expect("builtin output is valid");
        }
        let per = started.elapsed() / ROUNDS;
        println!(
            "builtin {:<8} generate + validate: {:>8.1} µs per scenario ({ROUNDS} seeds)",
            kind.short_name(),
            per.as_secs_f64() * 1e6
        );
    }
}

/// Answers each prompt with valid content after a fixed delay.
struct SlowValidModel;

impl Respond for SlowValidModel {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let prompt = body["messages"].as_array().unwrap().iter().find(|m| m["role"] == "user").unwrap()["content"]
            .as_str()
            .unwrap()
            .to_owned();
        let kind = ScenarioKind::ALL
            .into_iter()
            .find(|kind| {
                prompt.contains(kind.parameters().priority)
                    || prompt.contains(&format!("this {} scenario", kind.short_name()))
            })
            .unwrap();
        let spec = GenerationSpec { org_name: ORG.into(), scenarios: vec![Some(kind)], ..Default::default() };
        let raw = builtin::generate(&spec.brief(kind), 1);
        let content = if prompt.starts_with("Write the demo narrative") {
            raw.narrative
        } else if prompt.starts_with("Write the incident events") {
            raw.events
        } else {
            raw.change_events
        };
        ResponseTemplate::new(200)
            .set_body_json(json!({
                "id": "bench", "object": "chat.completion", "created": 1, "model": "mock",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
            }))
            .set_delay(LLM_DELAY)
    }
}

async fn timed_generate(config: ServeConfig, label: &str, rounds: usize) {
    let server = demogen::server::start(config).await.expect("server starts");
    let mut client = DemoGenServiceClient::connect(format!("http://{}", server.addr)).await.unwrap();
    let request = pb::GenerateRequest {
        org_name: ORG.into(),
        scenarios: vec![pb::Scenario::Major as i32, pb::Scenario::Partial as i32, pb::Scenario::Well as i32],
        ..Default::default()
    };
    let mut times = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let response = client.generate(request.clone()).await.expect("generate succeeds").into_inner();
        times.push(started.elapsed());
        assert_eq!(response.files.len(), 3);
    }
    times.sort();
    let shown: Vec<String> = times.iter().map(|t| format!("{:.1} ms", t.as_secs_f64() * 1e3)).collect();
    println!("{label}: median {:.1} ms (runs: {})", times[times.len() / 2].as_secs_f64() * 1e3, shown.join(", "));
    server.shutdown().await.unwrap();
}

fn base_config(data_dir: &std::path::Path) -> ServeConfig {
    let mut config = ServeConfig::defaults();
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.data_dir = data_dir.to_path_buf();
    config.openai_api_key = None;
    config.llm = LlmMode::Builtin;
    config
}

fn main() {
    builtin_per_scenario();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let data_dir = tempfile::tempdir().unwrap();
        timed_generate(base_config(data_dir.path()), "Generate major+partial+well, builtin, via gRPC", 5).await;

        let mock = MockServer::start().await;
        Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(SlowValidModel).mount(&mock).await;
        let mut config = base_config(data_dir.path());
        config.llm = LlmMode::Openai;
        config.openai_api_key = Some("bench-key".into());
        config.openai_base_url = format!("{}/v1", mock.uri());
        config.openai_model = "gpt-4o-mini".into();
        timed_generate(config, "Generate major+partial+well, mock LLM answering after 300 ms", 5).await;
        let calls = mock.received_requests().await.unwrap().len();
        println!("LLM calls made: {calls} over 5 requests ({} per request)", calls / 5);
    });
}
