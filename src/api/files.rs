//! ListFiles, GetFile and UpdateFile handlers.

use tonic::Status;

use super::AppState;
use crate::pb;
use crate::storage::{FileInfo, FileKind};

pub(super) async fn list_files(
    state: &AppState,
    request: pb::ListFilesRequest,
) -> Result<pb::ListFilesResponse, Status> {
    let page_size = request.page_size as usize;
    if request.org.is_empty() {
        let page = state.storage.list_orgs(page_size, &request.page_token).await?;
        return Ok(pb::ListFilesResponse {
            organizations: page.items,
            files: Vec::new(),
            next_page_token: page.next_page_token,
        });
    }
    let page = state.storage.list_files(&request.org, page_size, &request.page_token).await?;
    Ok(pb::ListFilesResponse {
        organizations: Vec::new(),
        files: page.items.into_iter().map(file_info_to_proto).collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn get_file(state: &AppState, request: pb::GetFileRequest) -> Result<pb::GetFileResponse, Status> {
    let file = state.storage.read_file(&request.org, &request.filename).await?;
    Ok(pb::GetFileResponse { info: Some(file_info_to_proto(file.info)), content: file.content })
}

pub(super) async fn update_file(
    state: &AppState,
    request: pb::UpdateFileRequest,
) -> Result<pb::UpdateFileResponse, Status> {
    let expected_version = Some(request.expected_version).filter(|v| !v.is_empty());
    let info = state.storage.write_file(&request.org, &request.filename, request.content, expected_version).await?;
    tracing::info!(org = %request.org, file = %info.name, version = %info.version, "file updated");
    Ok(pb::UpdateFileResponse { info: Some(file_info_to_proto(info)) })
}

pub(crate) fn file_info_to_proto(info: FileInfo) -> pb::FileInfo {
    let kind = match info.kind {
        FileKind::Narrative => pb::FileKind::Narrative,
        FileKind::Events => pb::FileKind::Events,
        FileKind::ChangeEvents => pb::FileKind::ChangeEvents,
        FileKind::Diagnostics => pb::FileKind::Diagnostics,
        FileKind::Other => pb::FileKind::Other,
    };
    pb::FileInfo {
        name: info.name,
        size_bytes: info.size_bytes,
        modified_time: Some(prost_types::Timestamp::from(info.modified)),
        kind: kind as i32,
        scenario: info.scenario,
        version: info.version,
    }
}
