//! SendEvents and ExportPostman handlers.

use tonic::Status;

use super::{AppState, SendEventsStream};
use crate::pb;

pub(super) async fn send_events(
    _state: &AppState,
    _request: pb::SendEventsRequest,
) -> Result<SendEventsStream, Status> {
    Err(Status::unimplemented("SendEvents is not implemented yet (issue 4: event dispatch)"))
}

pub(super) async fn export_postman(
    _state: &AppState,
    _request: pb::ExportPostmanRequest,
) -> Result<pb::ExportPostmanResponse, Status> {
    Err(Status::unimplemented("ExportPostman is not implemented yet (issue 4: event dispatch)"))
}
