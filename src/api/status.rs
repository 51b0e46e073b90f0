//! The one mapping from domain errors to gRPC statuses. Every domain error enum gets one exhaustive `From`
//! impl here, so the status code of each failure is decided in one place.

use tonic::Status;

use crate::dispatch::DispatchError;
use crate::storage::StorageError;

impl From<StorageError> for Status {
    fn from(error: StorageError) -> Self {
        let message = error.to_string();
        match error {
            StorageError::InvalidOrg { .. }
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
