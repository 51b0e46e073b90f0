//! The one mapping from domain errors to gRPC statuses. Every domain error enum gets one exhaustive `From`
//! impl here, so the status code of each failure is decided in one place.

use tonic::Status;

use crate::diagnostics::DiagnosticsError;
use crate::dispatch::DispatchError;
use crate::generate::{FailureCause, GenerateError};
use crate::llm::LlmError;
use crate::storage::StorageError;

impl From<StorageError> for Status {
    fn from(error: StorageError) -> Self {
        let message = error.to_string();
        match error {
            StorageError::InvalidOrg { .. }
            | StorageError::OrgTooLong { .. }
            | StorageError::InvalidFileName { .. }
            | StorageError::InvalidJson { .. }
            | StorageError::NotText { .. }
            | StorageError::InvalidPageToken => Status::invalid_argument(message),
            StorageError::OrgNotFound { .. } | StorageError::FileNotFound { .. } => Status::not_found(message),
            StorageError::AlreadyExists { .. } => Status::already_exists(message),
            StorageError::VersionMismatch { .. } => Status::failed_precondition(message),
            StorageError::TooLarge { .. } => Status::resource_exhausted(message),
            StorageError::Io { .. } => {
                tracing::error!(error = %message, "storage failure");
                Status::internal(message)
            }
        }
    }
}

impl From<GenerateError> for Status {
    fn from(error: GenerateError) -> Self {
        let message = error.to_string();
        match &error {
            GenerateError::InvalidRequest { .. } => Status::invalid_argument(message),
            GenerateError::LlmUnusable { .. } => Status::failed_precondition(message),
            GenerateError::AllScenariosFailed { failures } => {
                let causes: Vec<&FailureCause> = failures.iter().map(|failure| &failure.cause).collect();
                if causes.iter().any(|cause| matches!(cause, FailureCause::Llm(LlmError::Unavailable(_)))) {
                    Status::unavailable(message)
                } else if causes.iter().any(|cause| matches!(cause, FailureCause::Storage(_))) {
                    tracing::error!(error = %message, "generated scenarios could not be saved");
                    Status::internal(message)
                } else {
                    // Rules never met, a rejected LLM request (bad model or key) or a broken prompt file: fixing
                    // the configuration or the request is needed before a retry can succeed.
                    Status::failed_precondition(message)
                }
            }
        }
    }
}

impl From<DiagnosticsError> for Status {
    fn from(error: DiagnosticsError) -> Self {
        let message = error.to_string();
        match error {
            DiagnosticsError::InvalidArgument { .. } | DiagnosticsError::NotAnEventsArray { .. } => {
                Status::invalid_argument(message)
            }
            // Keep the storage error's code (NOT_FOUND, INVALID_ARGUMENT, …) and add the field it came from.
            DiagnosticsError::ReadFile { source, .. } | DiagnosticsError::Save(source) => {
                Status::new(Status::from(source).code(), message)
            }
            DiagnosticsError::NoTriggerAlerts { .. } | DiagnosticsError::LlmUnusable(_) => {
                Status::failed_precondition(message)
            }
            DiagnosticsError::Llm(LlmError::Unavailable(_)) => Status::unavailable(message),
            DiagnosticsError::Llm(LlmError::Rejected(_) | LlmError::BadAnswer(_)) => {
                Status::failed_precondition(message)
            }
            // A tuned prompt file that cannot be read or uses an unknown variable is configuration to fix.
            DiagnosticsError::Prompt(_) => Status::failed_precondition(message),
            DiagnosticsError::InvalidJob { .. } => {
                tracing::error!(error = %message, "diagnostics failure");
                Status::internal(message)
            }
        }
    }
}

impl From<DispatchError> for Status {
    fn from(error: DispatchError) -> Self {
        let message = error.to_string();
        match error {
            DispatchError::Storage(storage_error) => storage_error.into(),
            DispatchError::InvalidRequest { .. }
            | DispatchError::UnreadableFile { .. }
            | DispatchError::EmptyFile { .. }
            | DispatchError::InvalidSchedule { .. }
            | DispatchError::InvalidEvent { .. }
            | DispatchError::Placeholder { .. }
            | DispatchError::TooManySends { .. } => Status::invalid_argument(message),
            DispatchError::TooManyRuns { .. } => Status::resource_exhausted(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::PromptError;

    #[test]
    fn prompt_problems_are_configuration_to_fix_not_internal_errors() {
        let status = Status::from(DiagnosticsError::Prompt(PromptError::Unknown("diagnostics_job".into())));
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert!(status.message().contains("diagnostics_job"), "{}", status.message());
    }
}
