//! Scenario generation: turns a `GenerationSpec` into validated narratives, events and change events, and
//! saves each scenario's three files together. Owns request validation, the provider choice (built-in or a
//! `ChatModel`), the concurrency of one request and the repair loop. It does not see gRPC types, and it never
//! builds file paths (storage does).

pub mod builtin;
mod llm_provider;

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::join_all;

use crate::llm::{ChatModel, LlmError};
use crate::prompts::{PromptError, PromptLibrary};
use crate::scenario::rules::{ScenarioOptions, MAX_EVENTS_LIMIT, MAX_UNIQUE_ALERTS};
use crate::scenario::validate::{check_change_events, check_events, check_narrative, CheckedNarrative};
use crate::scenario::ScenarioKind;
use crate::storage::{sanitize_org, NewFile, Storage, StorageError};

/// Model answers per part (narrative, events, change events) before a scenario fails.
pub const MAX_ATTEMPTS: u32 = 3;
/// Longest symptom, root cause or blast radius accepted.
pub const MAX_STORY_FIELD_CHARS: usize = 500;
/// Most names in `itsm_tools`, `observability_tools` or `service_names`: every name is woven into prompts
/// and events, so long lists only bloat them.
pub const MAX_LIST_ITEMS: usize = 10;
/// Longest single name in those lists.
pub const MAX_LIST_ITEM_CHARS: usize = 80;

/// One Generate request in domain terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerationSpec {
    pub org_name: String,
    /// Requested scenarios in order; `None` marks an unspecified or unknown scenario value.
    pub scenarios: Vec<Option<ScenarioKind>>,
    pub itsm_tools: Vec<String>,
    pub observability_tools: Vec<String>,
    pub service_names: Vec<String>,
    pub symptom: Option<String>,
    pub root_cause: Option<String>,
    pub blast_radius: Option<String>,
    pub unique_alerts: Option<u32>,
    pub max_events: Option<u32>,
    /// Makes the built-in generator reproducible.
    pub seed: Option<u64>,
}

/// Splits a comma-separated request field into names; empty entries and the word "None" count as not given.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty() && !item.eq_ignore_ascii_case("none"))
        .map(str::to_owned)
        .collect()
}

/// A free-text request field; blank or "None" counts as not given, and whitespace is collapsed to one line.
pub fn optional_text(text: &str) -> Option<String> {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty() && !collapsed.eq_ignore_ascii_case("none")).then_some(collapsed)
}

/// Everything one scenario is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioBrief {
    pub options: ScenarioOptions,
    pub symptom: Option<String>,
    pub root_cause: Option<String>,
    pub blast_radius: Option<String>,
}

/// A provider's unvalidated answer for one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawScenario {
    pub narrative: String,
    pub events: String,
    pub change_events: String,
}

/// One scenario that met the rules and was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedScenario {
    pub kind: ScenarioKind,
    pub narrative: CheckedNarrative,
    /// Pretty-printed events JSON as saved.
    pub events: String,
    pub change_events: String,
    pub narrative_file: String,
    pub events_file: String,
    pub change_events_file: String,
}

/// Why one scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum FailureCause {
    #[error("{0}")]
    Llm(LlmError),
    #[error("the {part} still broke the scenario rules after {attempts} attempts: {}", violations.join("; "))]
    RulesNotMet { part: &'static str, attempts: u32, violations: Vec<String> },
    #[error("prompt: {0}")]
    Prompt(PromptError),
    #[error("saving the files: {0}")]
    Storage(StorageError),
}

/// One failed scenario of a request.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {cause}")]
pub struct ScenarioFailure {
    pub kind: ScenarioKind,
    pub cause: FailureCause,
}

/// What a Generate request produced: the saved scenarios and, when only some succeeded, the failures.
#[derive(Debug)]
pub struct GenerationOutcome {
    pub provider: String,
    pub scenarios: Vec<SavedScenario>,
    pub failures: Vec<ScenarioFailure>,
}

/// Why a Generate request failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{field}: {reason}")]
    InvalidRequest { field: String, reason: String },
    /// The openai provider is selected but unusable; the reason says what to fix.
    #[error("{reason}")]
    LlmUnusable { reason: String },
    #[error("every scenario failed: {}", failures.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | "))]
    AllScenariosFailed { failures: Vec<ScenarioFailure> },
}

impl GenerateError {
    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidRequest { field: field.into(), reason: reason.into() }
    }
}

impl GenerationSpec {
    /// Checks the request and returns the scenarios to generate, in request order.
    pub fn validate(&self) -> Result<Vec<ScenarioKind>, GenerateError> {
        if self.org_name.trim().is_empty() {
            return Err(GenerateError::invalid(
                "org_name",
                "is empty; name the customer organization, e.g. \"Acme Bank\"",
            ));
        }
        if let Err(error) = sanitize_org(&self.org_name) {
            return Err(GenerateError::invalid("org_name", error.to_string()));
        }
        if self.scenarios.is_empty() {
            return Err(GenerateError::invalid(
                "scenarios",
                "is empty; ask for at least one of SCENARIO_MAJOR, SCENARIO_PARTIAL, SCENARIO_WELL, SCENARIO_CUSTOM",
            ));
        }
        let mut kinds = Vec::new();
        let mut seen = HashSet::new();
        for (index, scenario) in self.scenarios.iter().enumerate() {
            let Some(kind) = scenario else {
                return Err(GenerateError::invalid(
                    format!("scenarios[{index}]"),
                    "is SCENARIO_UNSPECIFIED or unknown; use SCENARIO_MAJOR, SCENARIO_PARTIAL, SCENARIO_WELL or SCENARIO_CUSTOM",
                ));
            };
            if !seen.insert(*kind) {
                return Err(GenerateError::invalid(
                    format!("scenarios[{index}]"),
                    format!("repeats {kind}; ask for each scenario once"),
                ));
            }
            kinds.push(*kind);
        }
        if let Some(count) = self.unique_alerts {
            if !(1..=MAX_UNIQUE_ALERTS).contains(&count) {
                return Err(GenerateError::invalid("unique_alerts", format!("is {count}; use 1-{MAX_UNIQUE_ALERTS}")));
            }
        }
        if let Some(cap) = self.max_events {
            if !(1..=MAX_EVENTS_LIMIT).contains(&cap) {
                return Err(GenerateError::invalid("max_events", format!("is {cap}; use 1-{MAX_EVENTS_LIMIT}")));
            }
            if let Some(count) = self.unique_alerts.filter(|count| *count > cap) {
                return Err(GenerateError::invalid(
                    "unique_alerts",
                    format!("is {count}, more than max_events {cap}; every distinct alert is sent at least once"),
                ));
            }
        }
        for (field, items) in [
            ("itsm_tools", &self.itsm_tools),
            ("observability_tools", &self.observability_tools),
            ("service_names", &self.service_names),
        ] {
            if items.len() > MAX_LIST_ITEMS {
                return Err(GenerateError::invalid(
                    field,
                    format!("has {} names; at most {MAX_LIST_ITEMS}", items.len()),
                ));
            }
            for item in items {
                let length = item.chars().count();
                if length > MAX_LIST_ITEM_CHARS {
                    return Err(GenerateError::invalid(
                        field,
                        format!("has a name of {length} characters; at most {MAX_LIST_ITEM_CHARS} each"),
                    ));
                }
            }
        }
        // User text is copied into events, where `{{…}}` would be read as a placeholder and break SendEvents.
        let free_texts = [
            ("org_name", Some(&self.org_name)),
            ("symptom", self.symptom.as_ref()),
            ("root_cause", self.root_cause.as_ref()),
            ("blast_radius", self.blast_radius.as_ref()),
        ];
        let list_texts = [
            ("itsm_tools", &self.itsm_tools),
            ("observability_tools", &self.observability_tools),
            ("service_names", &self.service_names),
        ]
        .into_iter()
        .flat_map(|(field, items)| items.iter().map(move |item| (field, Some(item))));
        for (field, text) in free_texts.into_iter().chain(list_texts) {
            if text.is_some_and(|text| text.contains("{{") || text.contains("}}")) {
                return Err(GenerateError::invalid(
                    field,
                    "must not contain `{{` or `}}`, which are placeholder syntax",
                ));
            }
        }
        for (field, value) in
            [("symptom", &self.symptom), ("root_cause", &self.root_cause), ("blast_radius", &self.blast_radius)]
        {
            if let Some(length) = value.as_ref().map(|text| text.chars().count()).filter(|n| *n > MAX_STORY_FIELD_CHARS)
            {
                return Err(GenerateError::invalid(
                    field,
                    format!("is {length} characters; at most {MAX_STORY_FIELD_CHARS}"),
                ));
            }
        }
        for kind in &kinds {
            let options = self.options(*kind);
            let alerts = *options.alert_range().end();
            let needed = u64::from(*options.send_range().start());
            if needed > options.max_possible_sends(alerts) {
                return Err(GenerateError::invalid(
                    "max_events",
                    format!(
                        "{} needs at least {needed} sends, more than {alerts} alert(s) can make inside its {} s window; \
                         raise unique_alerts or lower max_events",
                        kind,
                        options.parameters().window_s
                    ),
                ));
            }
        }
        Ok(kinds)
    }

    /// The effective options of one scenario (defaults applied).
    pub fn options(&self, kind: ScenarioKind) -> ScenarioOptions {
        let mut options = ScenarioOptions::new(
            kind,
            &self.org_name,
            &self.service_names,
            &self.itsm_tools,
            &self.observability_tools,
        );
        options.unique_alerts = self.unique_alerts;
        options.max_events = self.max_events;
        options
    }

    pub fn brief(&self, kind: ScenarioKind) -> ScenarioBrief {
        ScenarioBrief {
            options: self.options(kind),
            symptom: self.symptom.clone(),
            root_cause: self.root_cause.clone(),
            blast_radius: self.blast_radius.clone(),
        }
    }
}

/// Which generator writes the content.
#[derive(Debug, Clone)]
pub enum Provider {
    Builtin,
    Llm(Arc<dyn ChatModel>),
    /// The LLM provider was selected but cannot be used (no API key, or a client that cannot be built).
    Unconfigured {
        reason: String,
    },
}

impl Provider {
    pub fn label(&self) -> String {
        match self {
            Self::Builtin => builtin::PROVIDER_LABEL.to_owned(),
            Self::Llm(model) => model.label(),
            Self::Unconfigured { .. } => "openai (not configured)".to_owned(),
        }
    }
}

/// Why `openai` cannot run without a key; shared by Generate and GenerateDiagnostics.
pub const MISSING_API_KEY: &str =
    "the openai provider is selected but OPENAI_API_KEY is not set; set it (any non-empty \
                                   value for local servers that ignore keys) or use DEMOGEN_LLM=builtin";

/// Generates and saves scenarios.
#[derive(Clone)]
pub struct Generator {
    provider: Provider,
    prompts: PromptLibrary,
    storage: Storage,
}

impl Generator {
    pub fn new(provider: Provider, prompts: PromptLibrary, storage: Storage) -> Self {
        Self { provider, prompts, storage }
    }

    /// Validates the request, generates every scenario concurrently and saves each one that met the rules.
    /// Fails only when the request is invalid or every scenario failed.
    pub async fn generate(&self, spec: &GenerationSpec) -> Result<GenerationOutcome, GenerateError> {
        let kinds = spec.validate()?;
        if let Provider::Unconfigured { reason } = &self.provider {
            return Err(GenerateError::LlmUnusable { reason: reason.clone() });
        }
        let base_seed = spec.seed.unwrap_or_else(fake::rand::random::<u64>);
        let results = join_all(
            kinds.iter().map(|kind| self.generate_and_save(spec.org_name.trim(), spec.brief(*kind), base_seed)),
        )
        .await;
        let mut scenarios = Vec::new();
        let mut failures = Vec::new();
        for (kind, result) in kinds.into_iter().zip(results) {
            match result {
                Ok(saved) => scenarios.push(saved),
                Err(cause) => {
                    tracing::warn!(org = %spec.org_name, scenario = %kind, error = %cause, "scenario generation failed");
                    failures.push(ScenarioFailure { kind, cause });
                }
            }
        }
        if scenarios.is_empty() {
            return Err(GenerateError::AllScenariosFailed { failures });
        }
        Ok(GenerationOutcome { provider: self.provider.label(), scenarios, failures })
    }

    async fn generate_and_save(
        &self,
        org: &str,
        brief: ScenarioBrief,
        seed: u64,
    ) -> Result<SavedScenario, FailureCause> {
        let kind = brief.options.kind;
        let started = std::time::Instant::now();
        let (narrative, events, change_events) = match &self.provider {
            Provider::Builtin => {
                off_the_runtime({
                    let brief = brief.clone();
                    move || validate_raw(&brief, builtin::generate(&brief, seed))
                })
                .await?
            }
            Provider::Llm(model) => llm_provider::generate(model.as_ref(), &self.prompts, &brief).await?,
            Provider::Unconfigured { reason } => return Err(FailureCause::Llm(LlmError::Rejected(reason.clone()))),
        };
        let short = kind.short_name();
        let names = self
            .storage
            .save_new_files(
                org,
                vec![
                    NewFile::new(short, "txt", narrative.text.clone()),
                    NewFile::new(format!("{short}_events"), "json", events.clone()),
                    NewFile::new(format!("{short}_change_events"), "json", change_events.clone()),
                ],
            )
            .await
            .map_err(FailureCause::Storage)?;
        let [narrative_file, events_file, change_events_file]: [String; 3] =
            names.try_into().expect("storage returns one name per saved file");
        tracing::info!(org, scenario = %kind, elapsed_ms = started.elapsed().as_millis() as u64, "scenario generated and saved");
        Ok(SavedScenario { kind, narrative, events, change_events, narrative_file, events_file, change_events_file })
    }
}

/// Runs CPU-bound work (the built-in generator and its validation) on the blocking pool, so the scenarios of
/// one request run in parallel and no runtime worker is held up.
async fn off_the_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Blocking tasks are only cancelled when the runtime shuts down; nothing is left to answer then.
        Err(error) => panic!("built-in generation was cancelled: {error}"),
    }
}

/// Runs the one validator over a provider's complete answer (the built-in generator must pass it unaided).
pub fn validate_raw(
    brief: &ScenarioBrief,
    raw: RawScenario,
) -> Result<(CheckedNarrative, String, String), FailureCause> {
    let options = &brief.options;
    let rules_not_met =
        |part: &'static str, violations: Vec<crate::scenario::validate::Violation>| FailureCause::RulesNotMet {
            part,
            attempts: 1,
            violations: violations.iter().map(ToString::to_string).collect(),
        };
    let narrative = check_narrative(options, &raw.narrative).map_err(|v| rules_not_met("narrative", v))?;
    let events = check_events(options, &raw.events).map_err(|v| rules_not_met("events", v))?;
    let change_events =
        check_change_events(options, &raw.change_events).map_err(|v| rules_not_met("change events", v))?;
    Ok((narrative.value, events.value, change_events.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn builtin_work_runs_off_the_runtime_thread() {
        let runtime_thread = std::thread::current().id();
        let worker_thread = off_the_runtime(|| std::thread::current().id()).await;
        assert_ne!(worker_thread, runtime_thread);
    }
}
