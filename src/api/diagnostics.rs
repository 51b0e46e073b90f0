//! GenerateDiagnostics handler.

use tonic::Status;

use super::{AppState, LlmSetup};
use crate::diagnostics::{self, DiagnosticsDeps, DiagnosticsDocument, DiagnosticsError, DiagnosticsRequest};
use crate::pb;

pub(super) async fn generate_diagnostics(
    state: &AppState,
    request: pb::GenerateDiagnosticsRequest,
) -> Result<pb::GenerateDiagnosticsResponse, Status> {
    if let LlmSetup::Unusable { reason } = &state.llm {
        return Err(DiagnosticsError::LlmUnusable(reason.clone()).into());
    }
    let deps = DiagnosticsDeps {
        storage: &state.storage,
        prompts: &state.prompts,
        chat_model: state.llm.model().map(|model| model.as_ref()),
        token_storage_path: &state.config.rundeck_token_path,
    };
    let request = DiagnosticsRequest {
        org: request.org_name,
        scenario: request.scenario,
        narrative_file: request.narrative_file,
        files: request.files,
        max_jobs: request.max_jobs,
    };
    let outcome = diagnostics::generate_diagnostics(deps, request).await?;
    Ok(pb::GenerateDiagnosticsResponse {
        diagnostics: Some(document_to_proto(outcome.document)),
        diagnostics_filename: outcome.diagnostics_filename,
    })
}

fn document_to_proto(document: DiagnosticsDocument) -> pb::Diagnostics {
    pb::Diagnostics {
        scenario: document.scenario,
        narrative: document.narrative,
        diagnostics: document
            .diagnostics
            .into_iter()
            .map(|job| pb::DiagnosticJob {
                event_index: job.event_index,
                event_summary: job.event_summary,
                job_name: job.job_name,
                filename: job.filename,
                yaml: job.yaml,
            })
            .collect(),
    }
}
