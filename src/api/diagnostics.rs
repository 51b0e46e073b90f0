//! GenerateDiagnostics handler.

use tonic::Status;

use super::AppState;
use crate::pb;

pub(super) async fn generate_diagnostics(
    _state: &AppState,
    _request: pb::GenerateDiagnosticsRequest,
) -> Result<pb::GenerateDiagnosticsResponse, Status> {
    Err(Status::unimplemented("GenerateDiagnostics is not implemented yet (issue 5: diagnostics)"))
}
