//! The LLM path: renders the prompts of `prompts/`, asks the `ChatModel` for the narrative first, then for
//! the events and change events concurrently (both build on the narrative), and sends each answer that broke
//! the rules back with the list of violations, up to `MAX_ATTEMPTS` answers per part.

use serde_json::json;

use super::builtin::infer_industry;
use super::{FailureCause, ScenarioBrief, MAX_ATTEMPTS};
use crate::llm::{ChatMessage, ChatModel, ChatRequest, JsonSchema, LlmError};
use crate::prompts::PromptLibrary;
use crate::scenario::rules::MAJOR_FAILURE_OFFSET;
use crate::scenario::validate::{
    check_change_events, check_events, check_narrative, CheckedNarrative, Fixed, Violation,
    CHANGE_TIMESTAMP_PLACEHOLDER, EVENT_ID_PLACEHOLDER, IP_ADDRESS_PLACEHOLDER,
};
use crate::scenario::ScenarioKind;

/// Prompt that sends violations back to the model.
pub const REPAIR_PROMPT: &str = "repair_violations";
/// Prompt that sets the model's role for every generation call.
pub const SYSTEM_PROMPT: &str = "generation_system";

pub(super) async fn generate(
    model: &dyn ChatModel,
    prompts: &PromptLibrary,
    brief: &ScenarioBrief,
) -> Result<(CheckedNarrative, String, String), FailureCause> {
    let options = &brief.options;
    let kind = options.kind.short_name();
    let mut variables = prompt_variables(brief);
    let narrative_prompt = render(prompts, &format!("narrative_{kind}"), &variables)?;
    let narrative =
        ask_until_valid(model, prompts, "narrative", narrative_prompt, None, |text| check_narrative(options, text))
            .await?;
    variables.push(("narrative", narrative.text.clone()));
    let events_prompt = render(prompts, &format!("events_{kind}"), &variables)?;
    let change_prompt = render(prompts, &format!("change_events_{kind}"), &variables)?;
    let (events, change_events) = tokio::join!(
        ask_until_valid(model, prompts, "events", events_prompt, Some(array_schema("events")), |text| {
            check_events(options, text)
        }),
        ask_until_valid(model, prompts, "change events", change_prompt, Some(array_schema("change_events")), |text| {
            check_change_events(options, text)
        }),
    );
    Ok((narrative, events?, change_events?))
}

/// Asks, validates and re-asks with the violations until an answer meets the rules or the attempts run out.
async fn ask_until_valid<T>(
    model: &dyn ChatModel,
    prompts: &PromptLibrary,
    part: &'static str,
    prompt: String,
    json_schema: Option<JsonSchema>,
    check: impl Fn(&str) -> Result<Fixed<T>, Vec<Violation>>,
) -> Result<T, FailureCause> {
    let system = prompts.render(SYSTEM_PROMPT, &[]).map_err(FailureCause::Prompt)?;
    let mut messages = vec![ChatMessage::system(system), ChatMessage::user(prompt)];
    let mut last_violations = Vec::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let request = ChatRequest { messages: messages.clone(), json_schema: json_schema.clone() };
        let answer = match model.complete(&request).await {
            Ok(answer) => answer,
            Err(LlmError::BadAnswer(reason)) => {
                last_violations = vec![format!("the answer was unusable: {reason}")];
                messages.push(ChatMessage::user(repair_prompt(prompts, part, &last_violations)?));
                continue;
            }
            Err(error) => return Err(FailureCause::Llm(error)),
        };
        match check(&answer) {
            Ok(fixed) => return Ok(fixed.value),
            Err(violations) => {
                tracing::info!(
                    part,
                    attempt,
                    violations = violations.len(),
                    "model answer broke the rules, asking again"
                );
                last_violations = violations.iter().map(ToString::to_string).collect();
                messages.push(ChatMessage::assistant(answer));
                messages.push(ChatMessage::user(repair_prompt(prompts, part, &last_violations)?));
            }
        }
    }
    Err(FailureCause::RulesNotMet { part, attempts: MAX_ATTEMPTS, violations: last_violations })
}

fn repair_prompt(prompts: &PromptLibrary, part: &str, violations: &[String]) -> Result<String, FailureCause> {
    let list: String = violations.iter().map(|violation| format!("- {violation}\n")).collect();
    prompts.render(REPAIR_PROMPT, &[("part", part), ("violations", &list)]).map_err(FailureCause::Prompt)
}

fn render(prompts: &PromptLibrary, name: &str, variables: &[(&'static str, String)]) -> Result<String, FailureCause> {
    let borrowed: Vec<(&str, &str)> = variables.iter().map(|(key, value)| (*key, value.as_str())).collect();
    prompts.render(name, &borrowed).map_err(FailureCause::Prompt)
}

/// JSON-object mode wraps the array under one key; the validator unwraps it.
fn array_schema(key: &str) -> JsonSchema {
    JsonSchema {
        name: key.to_owned(),
        schema: json!({
            "type": "object",
            "properties": { key: { "type": "array", "items": { "type": "object" } } },
            "required": [key],
        }),
    }
}

/// Every variable a generation prompt may use; absent request fields say so instead of "None".
fn prompt_variables(brief: &ScenarioBrief) -> Vec<(&'static str, String)> {
    let options = &brief.options;
    let parameters = options.parameters();
    let industry = infer_industry(&options.org_name);
    let not_given = |value: &Option<String>, fallback: &str| value.clone().unwrap_or_else(|| fallback.to_owned());
    let range = |range: std::ops::RangeInclusive<u32>| {
        if range.start() == range.end() {
            format!("exactly {}", range.start())
        } else {
            format!("between {} and {}", range.start(), range.end())
        }
    };
    let major_failure_rule = if options.kind == ScenarioKind::Major {
        format!(
            "Exactly one alert is the major failure: its custom_details carry \"major_failure\": true and \"CUJ Impacted\": \
             true, its schedule_offset is between {} and {} seconds, and its severity is \"critical\" (or \"error\"). No \
             other alert carries major_failure.",
            MAJOR_FAILURE_OFFSET.start(),
            MAJOR_FAILURE_OFFSET.end()
        )
    } else {
        "No alert carries major_failure.".to_owned()
    };
    vec![
        ("org_name", options.org_name.clone()),
        ("industry", industry.name.to_owned()),
        ("industry_systems", industry.systems.join(", ")),
        ("scenario", options.kind.short_name().to_owned()),
        ("priority", parameters.priority.to_owned()),
        ("service_names", options.service_names.join(", ")),
        ("observability_tools", options.observability_tools.join(", ")),
        ("itsm_tools", options.itsm_tools.join(", ")),
        ("symptom", not_given(&brief.symptom, "not given; choose one that fits the industry")),
        ("root_cause", not_given(&brief.root_cause, "not given; choose a plausible one that fits the story")),
        ("blast_radius", not_given(&brief.blast_radius, "not given; choose one that fits the industry")),
        ("alert_count", range(options.alert_range())),
        ("send_count", range(options.send_range())),
        ("window_s", parameters.window_s.to_string()),
        ("severities", parameters.severities.join(", ")),
        ("change_event_count", range(parameters.change_events.clone())),
        ("talk_track_minutes", parameters.talk_track_minutes.to_string()),
        ("major_failure_rule", major_failure_rule),
        ("event_id_placeholder", EVENT_ID_PLACEHOLDER.to_owned()),
        ("ip_address_placeholder", IP_ADDRESS_PLACEHOLDER.to_owned()),
        ("change_timestamp_placeholder", CHANGE_TIMESTAMP_PLACEHOLDER.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::GenerationSpec;

    #[test]
    fn every_compiled_in_prompt_renders_with_the_variables_generation_provides() {
        // A directory without prompt files: only the compiled-in copies are used.
        let library = PromptLibrary::new("/nonexistent-prompts-dir");
        for kind in ScenarioKind::ALL {
            let spec =
                GenerationSpec { org_name: "Acme Bank".into(), scenarios: vec![Some(kind)], ..Default::default() };
            let mut variables = prompt_variables(&spec.brief(kind));
            variables.push(("narrative", "the narrative".into()));
            for task in ["narrative", "events", "change_events"] {
                let text = render(&library, &format!("{task}_{}", kind.short_name()), &variables)
                    .unwrap_or_else(|error| panic!("{task}_{kind}: {error}"));
                assert!(!text.contains("<<") && text.contains("Acme Bank"), "{task}_{kind}");
                assert!(!text.contains("None"), "{task}_{kind}");
            }
        }
        let repair = repair_prompt(&library, "events", &["events[0].payload.severity: bad".into()]).unwrap();
        assert!(repair.contains("- events[0].payload.severity: bad"));
        assert!(!library.render(SYSTEM_PROMPT, &[]).unwrap().is_empty());
    }
}
