//! Diagnostics: importable Rundeck / PagerDuty Runbook Automation jobs for the key alerts of a generated
//! scenario. It owns key-alert selection, the diagnostic command templates, the typed job definitions and
//! their YAML, and the model-assisted path with its checks. It reads and saves files only through
//! `Storage`, talks to a model only through `ChatModel`, and knows nothing about gRPC.

mod alert;
mod commands;
mod llm_path;
mod rundeck;
mod selection;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

pub use alert::{slugify, EventFacts, Severity};
pub use commands::{builtin_commands, classify, DiagnosticCommand, MetricKind};
pub use llm_path::{CommandSource, MAX_ATTEMPTS};
pub use rundeck::{check_job_yaml, RundeckJob};
pub use selection::{fallback_selection, merge_model_choice, DEFAULT_MAX_JOBS, MAX_JOBS_LIMIT};

use crate::llm::{ChatModel, LlmError};
use crate::prompts::{PromptError, PromptLibrary};
use crate::scenario::{parse_event_array, EventFileError, ScenarioKind};
use crate::storage::{sanitize_org, Storage, StorageError};

/// Model calls in flight for one request's jobs (the model client bounds calls server-wide).
const JOB_CONCURRENCY: usize = 4;
/// Diagnostic commands every job holds at least.
pub const MIN_DIAGNOSTIC_STEPS: usize = 2;

/// Why diagnostics could not be produced. Messages name the field or file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DiagnosticsError {
    #[error("{field} {problem}")]
    InvalidArgument { field: &'static str, problem: String },
    #[error("{field}: {source}")]
    ReadFile {
        field: &'static str,
        #[source]
        source: StorageError,
    },
    #[error("file {file:?} is not an events array: {source}")]
    NotAnEventsArray {
        file: String,
        #[source]
        source: EventFileError,
    },
    #[error("no trigger alert in {files}: diagnostics need at least one event with event_action \"trigger\" (change events and resolves are not diagnosed)")]
    NoTriggerAlerts { files: String },
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("prompt template problem: {0}")]
    Prompt(#[from] PromptError),
    #[error("job for alert {index} is not importable: {problems}")]
    InvalidJob { index: usize, problems: String },
    #[error("saving diagnostics: {0}")]
    Save(#[source] StorageError),
    /// The LLM provider is selected but cannot be used (e.g. no API key); the text says what to fix.
    #[error("{0}")]
    LlmUnusable(String),
}

/// A GenerateDiagnostics request in domain terms.
#[derive(Debug, Clone, Default)]
pub struct DiagnosticsRequest {
    pub org: String,
    pub scenario: String,
    pub narrative_file: String,
    pub files: Vec<String>,
    pub max_jobs: Option<u32>,
}

/// What diagnostics need from the server.
#[derive(Clone, Copy)]
pub struct DiagnosticsDeps<'a> {
    pub storage: &'a Storage,
    pub prompts: &'a PromptLibrary,
    /// `None` uses the deterministic selection and the built-in commands.
    pub chat_model: Option<&'a dyn ChatModel>,
    /// Rundeck key storage path of the PagerDuty API token the jobs use.
    pub token_storage_path: &'a str,
}

/// One saved job, as listed in the diagnostics document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticJobRecord {
    pub event_index: u32,
    pub event_summary: String,
    pub job_name: String,
    pub filename: String,
    pub yaml: String,
}

/// The saved `diagnostics_<ts>.json` document; the same object the response returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticsDocument {
    pub scenario: String,
    pub narrative: String,
    pub diagnostics: Vec<DiagnosticJobRecord>,
}

/// The result of a request.
#[derive(Debug, Clone)]
pub struct DiagnosticsOutcome {
    pub document: DiagnosticsDocument,
    pub diagnostics_filename: String,
    /// `builtin` or the model label.
    pub provider: String,
}

struct ValidRequest {
    org: String,
    scenario: ScenarioKind,
    max_jobs: usize,
}

/// A scenario as GenerateDiagnostics accepts it: the short name (`major`) or Generate's enum name
/// (`SCENARIO_MAJOR`), case-insensitive, so the two RPCs agree.
fn scenario_of(text: &str) -> Option<ScenarioKind> {
    let name = text.trim().to_ascii_lowercase();
    ScenarioKind::from_short_name(name.strip_prefix("scenario_").unwrap_or(&name))
}

fn validate(request: &DiagnosticsRequest) -> Result<ValidRequest, DiagnosticsError> {
    let invalid = |field, problem: &str| DiagnosticsError::InvalidArgument { field, problem: problem.into() };
    if request.org.trim().is_empty() {
        return Err(invalid("org_name", "is empty; give the organization whose files to use"));
    }
    let org = sanitize_org(&request.org).map_err(|source| DiagnosticsError::ReadFile { field: "org_name", source })?;
    let scenario = scenario_of(&request.scenario).ok_or_else(|| DiagnosticsError::InvalidArgument {
        field: "scenario",
        problem: format!(
            "{:?} is not one of major, partial, well, custom (or SCENARIO_MAJOR, SCENARIO_PARTIAL, SCENARIO_WELL, \
             SCENARIO_CUSTOM as in Generate)",
            request.scenario
        ),
    })?;
    if request.narrative_file.trim().is_empty() {
        return Err(invalid("narrative_file", "is empty; give the scenario's narrative file name"));
    }
    if request.files.is_empty() {
        return Err(invalid("files", "is empty; give at least one events file of the scenario"));
    }
    if let Some(position) = request.files.iter().position(|f| f.trim().is_empty()) {
        return Err(DiagnosticsError::InvalidArgument {
            field: "files",
            problem: format!("entry {position} is empty; give events file names"),
        });
    }
    let max_jobs = match request.max_jobs {
        None => DEFAULT_MAX_JOBS,
        Some(n) if (1..=MAX_JOBS_LIMIT as u32).contains(&n) => n as usize,
        Some(n) => {
            return Err(DiagnosticsError::InvalidArgument {
                field: "max_jobs",
                problem: format!("is {n}; give 1 to {MAX_JOBS_LIMIT}, or leave it unset for {DEFAULT_MAX_JOBS}"),
            })
        }
    };
    Ok(ValidRequest { org, scenario, max_jobs })
}

/// Reads the narrative and event files, selects the key alerts, writes one job per alert and saves the
/// document and the job files as one group.
pub async fn generate_diagnostics(
    deps: DiagnosticsDeps<'_>,
    request: DiagnosticsRequest,
) -> Result<DiagnosticsOutcome, DiagnosticsError> {
    let valid = validate(&request)?;
    let scenario = valid.scenario.short_name();
    let narrative = deps
        .storage
        .read_file(&valid.org, &request.narrative_file)
        .await
        .map_err(|source| DiagnosticsError::ReadFile { field: "narrative_file", source })?
        .content;
    let events = read_events(deps.storage, &valid.org, &request.files).await?;
    if !events.iter().any(|e| e.is_trigger) {
        return Err(DiagnosticsError::NoTriggerAlerts { files: request.files.join(", ") });
    }

    let prompt_context = llm_path::PromptContext { org: &valid.org, scenario, narrative: &narrative };
    let job_context = rundeck::JobContext { org: &valid.org, scenario, token_storage_path: deps.token_storage_path };
    let chosen = match deps.chat_model {
        Some(model) => {
            llm_path::choose_alerts(model, deps.prompts, prompt_context, &events, valid.max_jobs).await?.indices
        }
        None => fallback_selection(&events, valid.max_jobs),
    };

    let jobs: Vec<(usize, RundeckJob, String)> = futures::stream::iter(chosen)
        .map(|index| {
            let alert = &events[index];
            async move {
                let commands = match deps.chat_model {
                    Some(model) => {
                        llm_path::write_commands(model, deps.prompts, prompt_context, job_context, alert).await?.0
                    }
                    None => builtin_commands(alert),
                };
                let job = rundeck::build_job(alert, &commands, job_context);
                let yaml = rundeck::to_yaml(&job)
                    .map_err(|e| DiagnosticsError::InvalidJob { index, problems: e.to_string() })?;
                check_job_yaml(&yaml, MIN_DIAGNOSTIC_STEPS)
                    .map_err(|problems| DiagnosticsError::InvalidJob { index, problems: problems.join("; ") })?;
                Ok::<_, DiagnosticsError>((index, job, yaml))
            }
        })
        .buffered(JOB_CONCURRENCY)
        .try_collect()
        .await?;

    let mut names = vec![("diagnostics".to_owned(), "json".to_owned())];
    for (position, (index, _, _)) in jobs.iter().enumerate() {
        let slug = match slugify(&events[*index].summary, 40) {
            slug if slug.is_empty() => "alert".to_owned(),
            slug => slug,
        };
        names.push((format!("diagnostics_job{}_{slug}", position + 1), "yaml".to_owned()));
    }
    let records: Vec<DiagnosticJobRecord> = jobs
        .iter()
        .map(|(index, job, yaml)| DiagnosticJobRecord {
            event_index: *index as u32,
            event_summary: events[*index].summary.clone(),
            job_name: job.name.clone(),
            filename: String::new(),
            yaml: yaml.clone(),
        })
        .collect();
    let document = DiagnosticsDocument { scenario: scenario.to_owned(), narrative, diagnostics: records };
    let document_for_names = document.clone();
    let saved = deps
        .storage
        .save_new_files_linked(&valid.org, names, move |names| {
            let document = with_filenames(&document_for_names, &names[1..]);
            let mut contents = vec![serde_json::to_string_pretty(&document).expect("a document serializes")];
            contents.extend(document.diagnostics.into_iter().map(|record| record.yaml));
            contents
        })
        .await
        .map_err(DiagnosticsError::Save)?;
    let document = with_filenames(&document, &saved[1..]);
    let provider = deps.chat_model.map(|m| m.label()).unwrap_or_else(|| "builtin".into());
    tracing::info!(
        org = %valid.org,
        scenario,
        jobs = document.diagnostics.len(),
        file = %saved[0],
        provider = %provider,
        "diagnostics saved"
    );
    Ok(DiagnosticsOutcome { document, diagnostics_filename: saved[0].clone(), provider })
}

fn with_filenames(document: &DiagnosticsDocument, job_files: &[String]) -> DiagnosticsDocument {
    let mut document = document.clone();
    for (record, name) in document.diagnostics.iter_mut().zip(job_files) {
        record.filename = name.clone();
    }
    document
}

/// The combined events list of the files, in the order given.
async fn read_events(storage: &Storage, org: &str, files: &[String]) -> Result<Vec<EventFacts>, DiagnosticsError> {
    let mut events = Vec::new();
    for file in files {
        let content = storage
            .read_file(org, file)
            .await
            .map_err(|source| DiagnosticsError::ReadFile { field: "files", source })?
            .content;
        let elements = parse_event_array(&content)
            .map_err(|source| DiagnosticsError::NotAnEventsArray { file: file.clone(), source })?;
        for (index_in_file, element) in elements.iter().enumerate() {
            events.push(EventFacts::from_event(element, events.len(), file, index_in_file));
        }
    }
    Ok(events)
}
