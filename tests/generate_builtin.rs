//! The built-in generator against the one validator: every rule across many seeds, organizations and options,
//! and byte-identical output for a fixed seed.

mod common;

use demogen::generate::{builtin, validate_raw, GenerationSpec};
use demogen::scenario::ScenarioKind;
use proptest::prelude::*;
use serde_json::Value;

const ORGS: &[&str] = &[
    "Acme Bank",
    "PayPal",
    "Stanford University",
    "St. Mary's Hospital",
    "FritoLay",
    "Northwind Airlines",
    "Vodafone",
    "Riot Games",
    "FedEx",
    "Netflix",
    "City of Springfield",
    "Initech",
    "Goldman Sachs",
    "Globex Logistics",
];
const TOOLS: &[&str] =
    &["Datadog", "Splunk", "New Relic", "Prometheus", "Grafana", "Dynatrace", "CloudWatch", "Elastic"];

fn spec_strategy() -> impl Strategy<Value = (GenerationSpec, ScenarioKind)> {
    (
        prop::sample::select(ORGS),
        prop::sample::select(&ScenarioKind::ALL[..]),
        prop::sample::subsequence(TOOLS, 1..4),
        prop::option::of(prop::sample::subsequence(&["Checkout", "Ledger", "Mobile Gateway", "Acme Search"][..], 1..4)),
        prop::option::of(prop::sample::select(&["members cannot book seats", "card payments are declined"][..])),
        prop::option::of(prop::sample::select(&["every EU customer", "the mobile app users"][..])),
        prop::option::of(1u32..=50),
        prop::option::of(1u32..=1000),
        any::<u64>(),
    )
        .prop_map(|(org, kind, tools, services, symptom, blast_radius, unique_alerts, max_events, seed)| {
            let spec = GenerationSpec {
                org_name: org.to_owned(),
                scenarios: vec![Some(kind)],
                observability_tools: tools.iter().map(|t| t.to_string()).collect(),
                service_names: services.unwrap_or_default().iter().map(|s| s.to_string()).collect(),
                symptom: symptom.map(str::to_owned),
                blast_radius: blast_radius.map(str::to_owned),
                unique_alerts,
                max_events,
                seed: Some(seed),
                ..Default::default()
            };
            (spec, kind)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn builtin_output_meets_every_rule((spec, kind) in spec_strategy()) {
        // Requests the validator of the request rejects never reach a generator.
        prop_assume!(spec.validate().is_ok());
        let brief = spec.brief(kind);
        let raw = builtin::generate(&brief, spec.seed.unwrap());
        let (narrative, events, change_events) = validate_raw(&brief, raw.clone())
            .map_err(|failure| TestCaseError::fail(format!("{failure}\n{}", raw.events)))?;
        let events: Vec<Value> = serde_json::from_str(&events).unwrap();
        if let Some(exact) = spec.unique_alerts {
            prop_assert_eq!(events.len() as u32, exact);
        }
        if let Some(cap) = spec.max_events {
            let sends = common::expected_alert_sends(&events);
            let floor = u64::from(cap * 7).div_ceil(10).max(events.len() as u64);
            prop_assert!(sends <= u64::from(cap) && sends >= floor, "{} sends for max_events {}", sends, cap);
        }
        for event in &events {
            let source = event["payload"]["source"].as_str().unwrap();
            prop_assert!(spec.observability_tools.iter().any(|tool| tool == source));
            prop_assert!(!event["payload"]["summary"].as_str().unwrap().contains(&spec.org_name));
        }
        prop_assert!(narrative.text.contains(&spec.org_name));
        if let Some(symptom) = &spec.symptom {
            prop_assert!(narrative.text.contains(symptom.as_str()));
        }
        prop_assert!(!narrative.text.contains("None"));
        let change_events: Vec<Value> = serde_json::from_str(&change_events).unwrap();
        prop_assert!(kind.parameters().change_events.contains(&(change_events.len() as u32)));
    }
}

#[test]
fn same_seed_same_bytes_and_other_seeds_differ() {
    let spec = GenerationSpec {
        org_name: "Acme Bank".into(),
        scenarios: vec![Some(ScenarioKind::Major)],
        seed: Some(42),
        ..Default::default()
    };
    let brief = spec.brief(ScenarioKind::Major);
    let first = builtin::generate(&brief, 42);
    assert_eq!(first, builtin::generate(&brief, 42));
    let other = builtin::generate(&brief, 43);
    assert_ne!(first.events, other.events);
    assert_ne!(first.narrative, other.narrative);
}

#[test]
fn alert_titles_speak_in_each_tools_voice_and_industry_systems_are_named() {
    let spec = GenerationSpec {
        org_name: "Acme Bank".into(),
        scenarios: vec![Some(ScenarioKind::Major)],
        observability_tools: vec!["Datadog".into(), "Splunk".into(), "New Relic".into(), "Prometheus".into()],
        unique_alerts: Some(40),
        max_events: Some(300),
        ..Default::default()
    };
    let brief = spec.brief(ScenarioKind::Major);
    let raw = builtin::generate(&brief, 7);
    let (narrative, events, _) = validate_raw(&brief, raw).expect("builtin output is valid");
    let events: Vec<Value> = serde_json::from_str(&events).unwrap();
    for event in &events {
        let summary = event["payload"]["summary"].as_str().unwrap();
        let serious = matches!(event["payload"]["severity"].as_str().unwrap(), "critical" | "error");
        let expected_prefix = match event["payload"]["source"].as_str().unwrap() {
            "Datadog" => {
                if serious {
                    "[Triggered]"
                } else {
                    "[Warn]"
                }
            }
            "Splunk" => "Splunk Alert:",
            "New Relic" => {
                if serious {
                    "Critical: '"
                } else {
                    "Warning: '"
                }
            }
            "Prometheus" => "[FIRING:1]",
            other => panic!("unexpected source {other}"),
        };
        assert!(summary.starts_with(expected_prefix), "{summary}");
    }
    assert!(narrative.text.contains("Core Banking Ledger") || narrative.text.contains("Online Banking Portal"));
    assert!(narrative.text.contains("**Talk Track for the SC (20-Minute Demo Flow):**"));
    assert_eq!(events.iter().filter(|e| e["payload"]["custom_details"]["major_failure"] == true).count(), 1);
}

/// Every alert names a system of its own service, the same one everywhere it appears, and no service's alerts
/// wander over more than the one or two systems it was given (default alert counts).
#[test]
fn every_alert_talks_about_the_systems_of_its_own_service() {
    for org in ORGS {
        for kind in ScenarioKind::ALL {
            for seed in 0..25u64 {
                let spec = GenerationSpec {
                    org_name: (*org).into(),
                    scenarios: vec![Some(kind)],
                    observability_tools: TOOLS.iter().map(|tool| tool.to_string()).collect(),
                    seed: Some(seed),
                    ..Default::default()
                };
                let brief = spec.brief(kind);
                let raw = builtin::generate(&brief, seed);
                let (narrative, events, _) = validate_raw(&brief, raw).expect("builtin output is valid");
                let events: Vec<Value> = serde_json::from_str(&events).unwrap();
                let mut systems_of: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
                    Default::default();
                for event in &events {
                    let payload = &event["payload"];
                    let details = &payload["custom_details"];
                    let summary = payload["summary"].as_str().unwrap();
                    let system = payload["component"].as_str().unwrap();
                    let service = details["service_name"].as_str().unwrap();
                    assert_eq!(details["system"], system, "{summary}");
                    assert_eq!(payload["group"], slug(service), "{summary}");
                    let hostname = details["hostname"].as_str().unwrap();
                    assert!(hostname.contains(&format!("'{}-'", slug(system))), "{hostname} for {system}");
                    match payload["source"].as_str().unwrap() {
                        "Splunk" => {
                            assert!(summary.contains(&format!("sourcetype={} ", slug(system))), "{summary}");
                            assert!(summary.contains(&format!("(service={})", slug(service))), "{summary}");
                        }
                        "New Relic" => {
                            let owned = format!("for {system} in policy '{service} Golden Signals'");
                            assert!(summary.contains(&owned), "{summary}");
                        }
                        "Prometheus" => {
                            let owned = format!(" {} (namespace=prod, service={},", slug(system), slug(service));
                            assert!(summary.contains(&owned), "{summary}");
                        }
                        _ => assert!(summary.contains(system) || summary.contains(&slug(system)), "{summary}"),
                    }
                    if details["metric_name"] == "auth.login.success_rate" {
                        let names = format!("{system} {service}").to_ascii_lowercase();
                        let identity = ["identity", "auth", "sign", "login", "user", "account", "player", "subscriber"]
                            .iter()
                            .chain(&["patient", "passenger", "customer", "entitlements", "sso", "iam"])
                            .any(|word| names.contains(word));
                        assert!(identity, "login success rate on {system} for {service}");
                    }
                    systems_of.entry(service.to_owned()).or_default().insert(system.to_owned());
                }
                for (service, systems) in &systems_of {
                    assert!((1..=2).contains(&systems.len()), "{org} {kind:?} seed {seed}: {service} on {systems:?}");
                    for system in systems {
                        assert!(
                            narrative.text.contains(&format!("{service} (on the ")) && narrative.text.contains(system),
                            "the overview names {service}'s systems"
                        );
                    }
                }
                // A system belongs to one service only (there are more systems than default services).
                let mut owners: std::collections::BTreeMap<&String, &String> = Default::default();
                for (service, systems) in &systems_of {
                    for system in systems {
                        assert_eq!(*owners.entry(system).or_insert(service), service, "{system} serves two services");
                    }
                }
            }
        }
    }
}

fn slug(text: &str) -> String {
    demogen::scenario::validate::slug(text)
}
