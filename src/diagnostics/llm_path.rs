//! The model-assisted path: a chat model picks the key alerts and writes each job's diagnostic commands as
//! JSON. Every answer is parsed and checked here; a broken answer is sent back with the list of problems,
//! up to `MAX_ATTEMPTS` times, after which the deterministic choice or the built-in commands are used
//! (logged). The model never writes YAML: jobs are always serialized from the typed structure.

use serde::Deserialize;
use serde_json::json;

use super::alert::EventFacts;
use super::commands::{builtin_commands, classify, DiagnosticCommand};
use super::rundeck::{self, JobContext, HEREDOC_DELIMITER};
use super::selection::{fallback_selection, merge_model_choice, Selection};
use super::DiagnosticsError;
use crate::llm::{ChatMessage, ChatModel, ChatRequest, JsonSchema, LlmError};
use crate::prompts::PromptLibrary;

/// Answers tried per question before falling back.
pub const MAX_ATTEMPTS: usize = 3;
const MIN_STEPS: usize = super::MIN_DIAGNOSTIC_STEPS;
const MAX_STEPS: usize = 8;
const MAX_DESCRIPTION_CHARS: usize = 200;
const MAX_COMMAND_CHARS: usize = 2000;
/// Narrative text sent with each question; the story's first part carries the context a model needs.
const MAX_NARRATIVE_CHARS: usize = 6000;

/// What the prompts say about the request.
#[derive(Debug, Clone, Copy)]
pub struct PromptContext<'a> {
    pub org: &'a str,
    pub scenario: &'a str,
    pub narrative: &'a str,
}

/// Where a job's commands came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandSource {
    Model,
    /// The model's answers stayed unusable; the built-in templates were used.
    BuiltinFallback,
}

/// Asks the model for the key alerts; bad indices are dropped and the list topped up, an unusable answer
/// after the last attempt gives the deterministic choice.
pub async fn choose_alerts(
    model: &dyn ChatModel,
    prompts: &PromptLibrary,
    context: PromptContext<'_>,
    events: &[EventFacts],
    max_jobs: usize,
) -> Result<Selection, DiagnosticsError> {
    let alert_lines: Vec<String> = events.iter().filter(|e| e.is_trigger).map(alert_line).collect();
    let prompt = prompts.render(
        "diagnostics_select",
        &[
            ("org", context.org),
            ("scenario", context.scenario),
            ("max_jobs", &max_jobs.to_string()),
            ("narrative", narrative_excerpt(context.narrative)),
            ("alerts", &alert_lines.join("\n")),
        ],
    )?;
    let schema = JsonSchema {
        name: "diagnostics_selection".into(),
        schema: json!({"type": "object", "additionalProperties": false, "required": ["indices"],
            "properties": {"indices": {"type": "array", "items": {"type": "integer"}}}}),
    };
    let answer = ask_until_valid(model, prompt, schema, parse_indices).await?;
    match answer {
        Some(indices) => {
            let selection = merge_model_choice(events, &indices, max_jobs);
            for dropped in &selection.dropped {
                tracing::warn!(index = dropped.index, reason = dropped.reason, "model chose an unusable alert index");
            }
            Ok(selection)
        }
        None => {
            tracing::warn!(attempts = MAX_ATTEMPTS, "model selection unusable; using the deterministic choice");
            Ok(Selection { indices: fallback_selection(events, max_jobs), dropped: Vec::new() })
        }
    }
}

/// Asks the model for one alert's diagnostic commands; the answer must also make a job whose YAML passes
/// the import check. Falls back to the built-in commands after the last attempt.
pub async fn write_commands(
    model: &dyn ChatModel,
    prompts: &PromptLibrary,
    context: PromptContext<'_>,
    job_context: JobContext<'_>,
    alert: &EventFacts,
) -> Result<(Vec<DiagnosticCommand>, CommandSource), DiagnosticsError> {
    let builtin = builtin_commands(alert);
    let alert_json = serde_json::to_string_pretty(&json!({
        "summary": alert.summary, "severity": alert.severity.as_str(), "source": alert.source,
        "component": alert.component, "service_name": alert.service_name, "metric_name": alert.metric_name,
        "current_value": alert.current_value, "threshold": alert.threshold,
        "schedule_offset_s": alert.schedule_offset, "major_failure": alert.major_failure,
    }))
    .unwrap_or_default();
    let reference = serde_json::to_string_pretty(&json!({ "steps": builtin })).unwrap_or_default();
    let prompt = prompts.render(
        "diagnostics_job",
        &[
            ("org", context.org),
            ("scenario", context.scenario),
            ("narrative", narrative_excerpt(context.narrative)),
            ("alert", &alert_json),
            ("metric_kind", classify(alert).label()),
            ("service_slug", &alert.service_slug()),
            ("host", &alert.target_host()),
            ("reference_steps", &reference),
            ("min_steps", &MIN_STEPS.to_string()),
            ("max_steps", &MAX_STEPS.to_string()),
        ],
    )?;
    let schema = JsonSchema {
        name: "diagnostic_steps".into(),
        schema: json!({"type": "object", "additionalProperties": false, "required": ["steps"],
            "properties": {"steps": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                "required": ["description", "command"],
                "properties": {"description": {"type": "string"}, "command": {"type": "string"}}}}}}),
    };
    let check = |answer: &str| {
        let commands = parse_steps(answer, alert)?;
        // The job built from these commands must pass the same import check as every saved job.
        let job = rundeck::build_job(alert, &commands, job_context);
        let yaml = rundeck::to_yaml(&job).map_err(|e| vec![format!("the job could not be serialized: {e}")])?;
        rundeck::check_job_yaml(&yaml, MIN_STEPS)?;
        Ok(commands)
    };
    match ask_until_valid(model, prompt, schema, check).await? {
        Some(commands) => Ok((commands, CommandSource::Model)),
        None => {
            tracing::warn!(
                alert = %alert.summary,
                attempts = MAX_ATTEMPTS,
                "model diagnostic steps unusable; using the built-in commands"
            );
            Ok((builtin, CommandSource::BuiltinFallback))
        }
    }
}

/// Runs the conversation: ask, check, and on problems re-ask with the answer and the problems. Transport
/// and rejection errors end the request; an empty or unusable answer counts as a failed attempt.
async fn ask_until_valid<T>(
    model: &dyn ChatModel,
    prompt: String,
    schema: JsonSchema,
    check: impl Fn(&str) -> Result<T, Vec<String>>,
) -> Result<Option<T>, DiagnosticsError> {
    let mut messages = vec![ChatMessage::user(prompt)];
    for attempt in 1..=MAX_ATTEMPTS {
        let request = ChatRequest { messages: messages.clone(), json_schema: Some(schema.clone()) };
        let (answer, problems) = match model.complete(&request).await {
            Ok(answer) => match check(&answer) {
                Ok(value) => return Ok(Some(value)),
                Err(problems) => (answer, problems),
            },
            Err(LlmError::BadAnswer(reason)) => (String::new(), vec![format!("the answer was unusable: {reason}")]),
            Err(other) => return Err(DiagnosticsError::Llm(other)),
        };
        tracing::info!(attempt, problems = %problems.join("; "), "model answer rejected");
        if !answer.is_empty() {
            messages.push(ChatMessage::assistant(answer));
        }
        messages.push(ChatMessage::user(format!(
            "Your answer cannot be used:\n- {}\nAnswer again with only the corrected JSON object.",
            problems.join("\n- ")
        )));
    }
    Ok(None)
}

/// The JSON object of an answer, tolerating Markdown fences or prose around it.
fn json_object(answer: &str) -> Result<serde_json::Value, Vec<String>> {
    let start = answer.find('{');
    let end = answer.rfind('}');
    let text = match (start, end) {
        (Some(start), Some(end)) if start < end => &answer[start..=end],
        _ => return Err(vec!["the answer holds no JSON object".into()]),
    };
    serde_json::from_str(text).map_err(|e| vec![format!("the JSON object does not parse: {e}")])
}

fn parse_indices(answer: &str) -> Result<Vec<i64>, Vec<String>> {
    #[derive(Deserialize)]
    struct Answer {
        indices: Vec<i64>,
    }
    let value = json_object(answer)?;
    serde_json::from_value::<Answer>(value)
        .map(|a| a.indices)
        .map_err(|e| vec![format!("expected {{\"indices\": [<integer>, ...]}}: {e}")])
}

fn parse_steps(answer: &str, alert: &EventFacts) -> Result<Vec<DiagnosticCommand>, Vec<String>> {
    #[derive(Deserialize)]
    struct Answer {
        steps: Vec<DiagnosticCommand>,
    }
    let value = json_object(answer)?;
    let steps = serde_json::from_value::<Answer>(value)
        .map_err(|e| vec![format!("expected {{\"steps\": [{{\"description\": ..., \"command\": ...}}]}}: {e}")])?
        .steps;
    let mut problems = Vec::new();
    if !(MIN_STEPS..=MAX_STEPS).contains(&steps.len()) {
        problems.push(format!("give {MIN_STEPS} to {MAX_STEPS} steps, not {}", steps.len()));
    }
    for (index, step) in steps.iter().enumerate() {
        let description = step.description.trim();
        let command = step.command.trim();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
            problems.push(format!("step {index}: description must be 1 to {MAX_DESCRIPTION_CHARS} characters"));
        }
        if command.is_empty() || command.chars().count() > MAX_COMMAND_CHARS {
            problems.push(format!("step {index}: command must be 1 to {MAX_COMMAND_CHARS} characters"));
        }
        if command.contains('@') {
            problems.push(format!(
                "step {index}: command contains '@', which Rundeck expands as a token in scripts; avoid it"
            ));
        }
        if command.lines().any(|line| line.trim() == HEREDOC_DELIMITER) {
            problems.push(format!("step {index}: command contains a line {HEREDOC_DELIMITER}, which is reserved"));
        }
        let lower = command.to_ascii_lowercase();
        if lower.contains("pd_api_token") || lower.contains("pagerduty.com") {
            problems.push(format!(
                "step {index}: do not call PagerDuty or use the API token; the job posts the evidence itself"
            ));
        }
        if steps[..index].iter().any(|earlier| earlier.command.trim() == command) {
            problems.push(format!("step {index}: repeats an earlier command"));
        }
    }
    let targets = target_words(alert);
    let aimed = steps
        .iter()
        .filter(|s| {
            let command = s.command.to_lowercase();
            targets.iter().any(|t| command.contains(t.as_str()))
        })
        .count();
    if aimed < MIN_STEPS {
        problems.push(format!(
            "at least {MIN_STEPS} commands must target the alert's service or host ({}); only {aimed} do",
            targets.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(steps
            .into_iter()
            .map(|s| DiagnosticCommand { description: s.description.trim().into(), command: s.command.trim().into() })
            .collect())
    } else {
        Err(problems)
    }
}

/// Names a command can use to aim at the alert's service: the service slug and host, the service name and
/// the component.
fn target_words(alert: &EventFacts) -> Vec<String> {
    let mut words = vec![alert.service_slug(), alert.target_host().to_lowercase()];
    for name in [&alert.service_name, &alert.component] {
        let slug = super::alert::slugify(name, 40);
        if !slug.is_empty() {
            words.push(slug);
            words.push(name.to_lowercase());
        }
    }
    words.sort();
    words.dedup();
    words
}

fn alert_line(event: &EventFacts) -> String {
    let mut line = format!(
        "[{}] severity={} offset={}s service=\"{}\" source=\"{}\"",
        event.combined_index,
        event.severity.as_str(),
        if event.schedule_offset == i64::MAX { "?".into() } else { event.schedule_offset.to_string() },
        event.service_name,
        event.source
    );
    if !event.metric_name.is_empty() {
        line.push_str(&format!(" metric=\"{}\"", event.metric_name));
    }
    if event.major_failure {
        line.push_str(" major_failure=true");
    }
    line.push_str(&format!(": {}", event.summary));
    line
}

fn narrative_excerpt(narrative: &str) -> &str {
    match narrative.char_indices().nth(MAX_NARRATIVE_CHARS) {
        Some((cut, _)) => &narrative[..cut],
        None => narrative,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::diagnostics::alert::Severity;

    /// A chat model that plays back scripted answers and records every request.
    #[derive(Debug, Default)]
    struct ScriptedModel {
        answers: Mutex<VecDeque<Result<String, LlmError>>>,
        requests: Mutex<Vec<ChatRequest>>,
    }

    impl ScriptedModel {
        fn new(answers: Vec<Result<&str, LlmError>>) -> Self {
            Self {
                answers: Mutex::new(answers.into_iter().map(|a| a.map(str::to_owned)).collect()),
                requests: Mutex::default(),
            }
        }
        fn requests(&self) -> Vec<ChatRequest> {
            self.requests.lock().unwrap().clone()
        }
    }

    #[async_trait::async_trait]
    impl ChatModel for ScriptedModel {
        fn label(&self) -> String {
            "scripted".into()
        }
        async fn complete(&self, request: &ChatRequest) -> Result<String, LlmError> {
            self.requests.lock().unwrap().push(request.clone());
            self.answers.lock().unwrap().pop_front().unwrap_or_else(|| Err(LlmError::BadAnswer("no more".into())))
        }
    }

    fn events() -> Vec<EventFacts> {
        let event = |summary: &str, severity: &str, service: &str, action: &str| {
            json!({"event_action": action, "payload": {"summary": summary, "severity": severity,
                "source": "Datadog", "custom_details": {"service_name": service, "metric_name": "http_5xx_rate"}},
                "timing_metadata": {"schedule_offset": 30}})
        };
        [
            event("Checkout 5xx rate high", "critical", "Payment Processing", "trigger"),
            event("Login errors rising", "warning", "User Authentication", "trigger"),
            event("Checkout recovered", "info", "Payment Processing", "resolve"),
            event("API nodes 5xx", "error", "API Nodes", "trigger"),
        ]
        .iter()
        .enumerate()
        .map(|(i, e)| EventFacts::from_event(e, i, "major_events_1.json", i))
        .collect()
    }

    const CONTEXT: PromptContext<'static> =
        PromptContext { org: "AcmeBank", scenario: "major", narrative: "**Scenario Overview:** checkout fails" };
    const JOB_CONTEXT: JobContext<'static> =
        JobContext { org: "AcmeBank", scenario: "major", token_storage_path: "keys/demogen/token" };

    fn prompts() -> PromptLibrary {
        PromptLibrary::new("/nonexistent-prompts-dir") // the compiled-in prompts
    }

    #[tokio::test]
    async fn invalid_indices_are_dropped_and_a_broken_answer_is_re_asked() {
        let model = ScriptedModel::new(vec![Ok("I pick 3 and 0"), Ok("```json\n{\"indices\": [3, 2, 42, 3]}\n```")]);
        let selection = choose_alerts(&model, &prompts(), CONTEXT, &events(), 3).await.unwrap();
        assert_eq!(selection.indices, vec![3, 0, 1], "valid choices first, then the deterministic ranking");
        let dropped: Vec<i64> = selection.dropped.iter().map(|d| d.index).collect();
        assert_eq!(dropped, vec![2, 42, 3], "the resolve, the out-of-range and the duplicate index");
        let requests = model.requests();
        assert_eq!(requests.len(), 2);
        let first_prompt = &requests[0].messages[0].content;
        assert!(first_prompt.contains("[1] severity=warning") && !first_prompt.contains("[2]"), "{first_prompt}");
        let retry = &requests[1].messages;
        assert_eq!(retry[1], ChatMessage::assistant("I pick 3 and 0"));
        assert!(retry[2].content.contains("holds no JSON object"), "the re-ask carries the problem");
    }

    #[tokio::test]
    async fn selection_falls_back_after_three_bad_answers_and_stops_on_unavailable() {
        let model =
            ScriptedModel::new(vec![Ok("nope"), Ok("{\"picks\": [1]}"), Err(LlmError::BadAnswer("empty".into()))]);
        let selection = choose_alerts(&model, &prompts(), CONTEXT, &events(), 5).await.unwrap();
        assert_eq!(selection.indices, fallback_selection(&events(), 5));
        assert_eq!(model.requests().len(), MAX_ATTEMPTS);

        let down = ScriptedModel::new(vec![Err(LlmError::Unavailable("connection refused".into()))]);
        let error = choose_alerts(&down, &prompts(), CONTEXT, &events(), 5).await.unwrap_err();
        assert!(matches!(error, DiagnosticsError::Llm(LlmError::Unavailable(_))), "{error:?}");
    }

    #[tokio::test]
    async fn steps_are_re_asked_with_their_problems_until_valid() {
        let alert = &events()[0];
        let one_step =
            r#"{"steps": [{"description": "pods", "command": "kubectl get pods -l app=payment-processing"}]}"#;
        let good = r#"{"steps": [
            {"description": "Pods of Payment Processing", "command": "kubectl get pods -n prod -l app=payment-processing"},
            {"description": "5xx in logs", "command": "kubectl logs deploy/payment-processing --since=10m | grep -c ' 5[0-9][0-9] '"}]}"#;
        let model = ScriptedModel::new(vec![Ok("{\"steps\": [oops]}"), Ok(one_step), Ok(good)]);
        let (commands, source) = write_commands(&model, &prompts(), CONTEXT, JOB_CONTEXT, alert).await.unwrap();
        assert_eq!(source, CommandSource::Model);
        assert_eq!(commands.len(), 2);
        assert!(commands[1].command.starts_with("kubectl logs deploy/payment-processing"));
        let requests = model.requests();
        assert_eq!(requests.len(), 3);
        assert!(requests[1].messages.last().unwrap().content.contains("does not parse"));
        let second_problems = &requests[2].messages.last().unwrap().content;
        assert!(second_problems.contains("give 2 to 8 steps, not 1"), "{second_problems}");
        assert!(requests[0].messages[0].content.contains("payment-processing"), "the prompt names the service slug");
        assert_eq!(requests[0].json_schema.as_ref().unwrap().name, "diagnostic_steps");
    }

    #[tokio::test]
    async fn unusable_steps_fall_back_to_the_builtin_commands() {
        let alert = &events()[3];
        let sneaky = r#"{"steps": [
            {"description": "post", "command": "curl -H \"token=$RD_OPTION_PD_API_TOKEN\" https://api.pagerduty.com"},
            {"description": "mail", "command": "mail ops@acme.test"}]}"#;
        let model = ScriptedModel::new(vec![Ok(sneaky), Ok(sneaky), Ok(sneaky)]);
        let (commands, source) = write_commands(&model, &prompts(), CONTEXT, JOB_CONTEXT, alert).await.unwrap();
        assert_eq!(source, CommandSource::BuiltinFallback);
        assert_eq!(commands, builtin_commands(alert));
        let problems = model.requests()[1].messages.last().unwrap().content.clone();
        assert!(problems.contains("do not call PagerDuty") && problems.contains("contains '@'"), "{problems}");
        assert!(problems.contains("must target the alert's service"), "{problems}");
        assert_eq!(alert.severity, Severity::Error);
    }
}
