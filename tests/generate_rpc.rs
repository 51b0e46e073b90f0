//! Generate through the real server with the built-in provider: all four scenarios, the files on disk, the
//! response, reproducibility and the request errors a user can make.

mod common;

use common::start_server;
use demogen::config::LlmMode;
use demogen::pb;
use demogen::scenario::validate::{check_change_events, check_events, check_narrative};
use demogen::scenario::{ScenarioKind, ScenarioOptions};
use tonic::Code;

fn request(org: &str, scenarios: &[pb::Scenario]) -> pb::GenerateRequest {
    pb::GenerateRequest {
        org_name: org.into(),
        scenarios: scenarios.iter().map(|s| *s as i32).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn all_four_scenarios_are_generated_validated_and_saved() {
    let mut server = start_server(|_| {}).await;
    let mut req =
        request("Acme Bank", &[pb::Scenario::Major, pb::Scenario::Partial, pb::Scenario::Well, pb::Scenario::Custom]);
    req.symptom = "customers cannot log in to mobile banking".into();
    req.blast_radius = "all retail customers in the EU".into();
    req.observability_tools = "Datadog, Splunk, None".into();
    let response = server.client.generate(req).await.expect("generate succeeds").into_inner();

    assert_eq!(response.provider, "builtin");
    assert!(response.failed_scenarios.is_empty());
    assert_eq!(response.files.len(), 4);
    let org_dir = server.data_dir.path().join("AcmeBank");
    let on_disk: Vec<String> =
        std::fs::read_dir(&org_dir).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(on_disk.len(), 12, "{on_disk:?}");
    for files in &response.files {
        let kind = ScenarioKind::from_short_name(&files.scenario).unwrap();
        assert!(
            files.narrative_file.starts_with(&format!("{}_", files.scenario)) && files.narrative_file.ends_with(".txt")
        );
        assert!(files.events_file.starts_with(&format!("{}_events_", files.scenario)));
        assert!(files.change_events_file.starts_with(&format!("{}_change_events_", files.scenario)));
        let narrative = std::fs::read_to_string(org_dir.join(&files.narrative_file)).unwrap();
        let events = std::fs::read_to_string(org_dir.join(&files.events_file)).unwrap();
        let change_events = std::fs::read_to_string(org_dir.join(&files.change_events_file)).unwrap();
        assert_eq!(&narrative, &response.narratives[&files.scenario]);
        assert_eq!(&events, &response.events[&files.scenario]);
        assert_eq!(&change_events, &response.change_events[&files.scenario]);

        // The saved files meet the rules with nothing left to repair.
        let tools = vec!["Datadog".to_string(), "Splunk".to_string()];
        let options = ScenarioOptions::new(kind, "Acme Bank", &[], &[], &tools);
        assert!(check_narrative(&options, &narrative).unwrap().fixes.is_empty());
        assert!(check_events(&options, &events).unwrap().fixes.is_empty());
        assert!(check_change_events(&options, &change_events).unwrap().fixes.is_empty());
        assert!(!events.contains("None") && !narrative.contains("None"));
    }
    assert!(response.narratives["custom"].contains("customers cannot log in to mobile banking"));
    assert!(response.narratives["custom"].contains("all retail customers in the EU"));
    assert!(response.message.contains("major") && response.message.contains("Acme Bank"));
}

#[tokio::test]
async fn a_seed_reproduces_the_content_and_counts_are_honoured() {
    let mut server = start_server(|_| {}).await;
    let mut req = request("Globex Airlines", &[pb::Scenario::Major, pb::Scenario::Well]);
    req.seed = Some(2024);
    req.unique_alerts = Some(4);
    req.max_events = Some(20);
    req.service_names = "Check-in, Boarding".into();
    let first = server.client.generate(req.clone()).await.unwrap().into_inner();
    let second = server.client.generate(req).await.unwrap().into_inner();
    assert_eq!(first.events, second.events);
    assert_eq!(first.narratives, second.narratives);
    assert_eq!(first.change_events, second.change_events);
    assert_ne!(first.files[0].events_file, second.files[0].events_file, "names are never reused");
    for events in first.events.values() {
        let events: Vec<serde_json::Value> = serde_json::from_str(events).unwrap();
        assert_eq!(events.len(), 4);
        let sends = common::expected_alert_sends(&events);
        assert!((14..=20).contains(&sends), "{sends}");
        for event in &events {
            let service = event["payload"]["custom_details"]["service_name"].as_str().unwrap();
            assert!(service == "Check-in" || service == "Boarding");
        }
    }
}

#[tokio::test]
async fn bad_requests_name_the_field_to_fix() {
    let mut server = start_server(|_| {}).await;
    let cases: Vec<(pb::GenerateRequest, &str)> = vec![
        (request("  ", &[pb::Scenario::Major]), "org_name"),
        (request("!!!", &[pb::Scenario::Major]), "org_name"),
        (request("Acme", &[]), "scenarios"),
        (request("Acme", &[pb::Scenario::Major, pb::Scenario::Unspecified]), "scenarios[1]"),
        (request("Acme", &[pb::Scenario::Well, pb::Scenario::Well]), "scenarios[1]"),
        (pb::GenerateRequest { unique_alerts: Some(0), ..request("Acme", &[pb::Scenario::Major]) }, "unique_alerts"),
        (pb::GenerateRequest { unique_alerts: Some(51), ..request("Acme", &[pb::Scenario::Major]) }, "unique_alerts"),
        (pb::GenerateRequest { max_events: Some(1001), ..request("Acme", &[pb::Scenario::Major]) }, "max_events"),
        (
            pb::GenerateRequest {
                unique_alerts: Some(9),
                max_events: Some(5),
                ..request("Acme", &[pb::Scenario::Major])
            },
            "unique_alerts",
        ),
        (
            pb::GenerateRequest {
                unique_alerts: Some(1),
                max_events: Some(1000),
                ..request("Acme", &[pb::Scenario::Well])
            },
            "max_events",
        ),
    ];
    for (req, field) in cases {
        let status = server.client.generate(req.clone()).await.expect_err("request is invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{req:?}: {status:?}");
        assert!(status.message().starts_with(field), "{field}: {}", status.message());
    }
    assert!(std::fs::read_dir(server.data_dir.path()).unwrap().next().is_none(), "nothing saved");
}

#[tokio::test]
async fn oversized_lists_and_placeholder_syntax_in_user_text_are_refused() {
    let mut server = start_server(|_| {}).await;
    let major = || request("Acme", &[pb::Scenario::Major]);
    let eleven = (1..=11).map(|i| format!("svc-{i}")).collect::<Vec<_>>().join(",");
    let long_name = "x".repeat(81);
    let cases: Vec<(pb::GenerateRequest, &str, &str)> = vec![
        (pb::GenerateRequest { service_names: eleven.clone(), ..major() }, "service_names", "at most 10"),
        (pb::GenerateRequest { itsm_tools: eleven.clone(), ..major() }, "itsm_tools", "at most 10"),
        (
            pb::GenerateRequest { observability_tools: long_name.clone(), ..major() },
            "observability_tools",
            "at most 80",
        ),
        (request("Acme {{ org }}", &[pb::Scenario::Major]), "org_name", "placeholder syntax"),
        (pb::GenerateRequest { service_names: "api, pay}}ments".into(), ..major() }, "service_names", "`{{` or `}}`"),
        (pb::GenerateRequest { itsm_tools: "{{jira".into(), ..major() }, "itsm_tools", "placeholder syntax"),
        (pb::GenerateRequest { observability_tools: "dd}}".into(), ..major() }, "observability_tools", "placeholder"),
        (pb::GenerateRequest { symptom: "slow {{now}}".into(), ..major() }, "symptom", "placeholder syntax"),
        (pb::GenerateRequest { root_cause: "a }} b".into(), ..major() }, "root_cause", "placeholder syntax"),
        (pb::GenerateRequest { blast_radius: "{{x".into(), ..major() }, "blast_radius", "placeholder syntax"),
    ];
    for (req, field, reason) in cases {
        let status = server.client.generate(req.clone()).await.expect_err("request is invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{req:?}: {status:?}");
        assert!(status.message().starts_with(field), "{field}: {}", status.message());
        assert!(status.message().contains(reason), "{reason}: {}", status.message());
    }
    let ten = (1..=10).map(|i| format!("svc-{i}")).collect::<Vec<_>>().join(",");
    let accepted = pb::GenerateRequest { service_names: ten, ..request("Acme", &[pb::Scenario::Well]) };
    server.client.generate(accepted).await.expect("ten names of sane length are fine");
}

#[tokio::test]
async fn openai_without_a_key_is_a_failed_precondition() {
    let mut server = start_server(|config| config.llm = LlmMode::Openai).await;
    let status = server.client.generate(request("Acme", &[pb::Scenario::Major])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("OPENAI_API_KEY"), "{}", status.message());
}
