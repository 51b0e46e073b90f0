//! Generate handler: request → `GenerationSpec`, generation, outcome → response.

use tonic::Status;

use super::{AppState, LlmSetup};
use crate::generate::{optional_text, split_list, GenerationSpec, Generator, Provider};
use crate::pb;
use crate::scenario::ScenarioKind;

pub(super) async fn generate(state: &AppState, request: pb::GenerateRequest) -> Result<pb::GenerateResponse, Status> {
    let spec = spec_from_request(&request);
    let provider = match &state.llm {
        LlmSetup::Ready(model) => Provider::Llm(model.clone()),
        LlmSetup::Unusable { reason } => Provider::Unconfigured { reason: reason.clone() },
        LlmSetup::Builtin => Provider::Builtin,
    };
    let generator = Generator::new(provider, state.prompts.clone(), state.storage.clone());
    // Saving runs on the blocking pool and is atomic per scenario, so dropping generation on shutdown is safe.
    let outcome = tokio::select! {
        outcome = generator.generate(&spec) => outcome?,
        () = state.shutdown.cancelled() => return Err(Status::unavailable("the server is shutting down; retry Generate")),
    };

    let mut response = pb::GenerateResponse { provider: outcome.provider, ..Default::default() };
    for saved in &outcome.scenarios {
        let short = saved.kind.short_name().to_owned();
        response.narratives.insert(short.clone(), saved.narrative.text.clone());
        response.events.insert(short.clone(), saved.events.clone());
        response.change_events.insert(short.clone(), saved.change_events.clone());
        response.files.push(pb::ScenarioFiles {
            scenario: short,
            narrative_file: saved.narrative_file.clone(),
            events_file: saved.events_file.clone(),
            change_events_file: saved.change_events_file.clone(),
        });
    }
    response.failed_scenarios = outcome
        .failures
        .iter()
        .map(|failure| pb::ScenarioFailure {
            scenario: failure.kind.short_name().to_owned(),
            error: failure.cause.to_string(),
        })
        .collect();
    let generated: Vec<&str> = outcome.scenarios.iter().map(|saved| saved.kind.short_name()).collect();
    response.message = if outcome.failures.is_empty() {
        format!("generated {} for {}", generated.join(", "), spec.org_name.trim())
    } else {
        let failed: Vec<String> = outcome.failures.iter().map(ToString::to_string).collect();
        format!("generated {} for {}; failed: {}", generated.join(", "), spec.org_name.trim(), failed.join(" | "))
    };
    Ok(response)
}

fn spec_from_request(request: &pb::GenerateRequest) -> GenerationSpec {
    GenerationSpec {
        org_name: request.org_name.clone(),
        scenarios: request.scenarios.iter().map(|value| scenario_kind(*value)).collect(),
        itsm_tools: split_list(&request.itsm_tools),
        observability_tools: split_list(&request.observability_tools),
        service_names: split_list(&request.service_names),
        symptom: optional_text(&request.symptom),
        root_cause: optional_text(&request.root_cause),
        blast_radius: optional_text(&request.blast_radius),
        unique_alerts: request.unique_alerts,
        max_events: request.max_events,
        seed: request.seed,
    }
}

fn scenario_kind(value: i32) -> Option<ScenarioKind> {
    match pb::Scenario::try_from(value).ok()? {
        pb::Scenario::Unspecified => None,
        pb::Scenario::Major => Some(ScenarioKind::Major),
        pb::Scenario::Partial => Some(ScenarioKind::Partial),
        pb::Scenario::Well => Some(ScenarioKind::Well),
        pb::Scenario::Custom => Some(ScenarioKind::Custom),
    }
}
