//! Generate handler.

use tonic::Status;

use super::AppState;
use crate::pb;

pub(super) async fn generate(_state: &AppState, _request: pb::GenerateRequest) -> Result<pb::GenerateResponse, Status> {
    Err(Status::unimplemented("Generate is not implemented yet (issue 3: scenario generation)"))
}
