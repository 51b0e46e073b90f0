//! SendEvents and ExportPostman handlers: validate the request up front, call `dispatch`, convert.

use std::sync::Arc;

use futures::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::{AppState, SendEventsStream};
use crate::dispatch::run::{prepare_run, start_run};
use crate::dispatch::{
    effective_speed, load_files, postman, validate_routing_key, DispatchError, EventKind, RunEvent, RunRequest,
    RunSummary, Schedule, SendReport,
};
use crate::pb;
use crate::pb::send_events_response::Event;
use crate::storage::sanitize_org;

pub(super) async fn send_events(state: &AppState, request: pb::SendEventsRequest) -> Result<SendEventsStream, Status> {
    // Cheap checks first, so a bad key or speed fails without touching files. The key is never logged.
    sanitize_org(&request.org)?;
    if request.filenames.is_empty() {
        let reason = "give at least one events or change events file (see ListFiles)".to_owned();
        return Err(DispatchError::InvalidRequest { field: "filenames", reason }.into());
    }
    if !request.dry_run {
        validate_routing_key(&request.routing_key)?;
    }
    let speed = effective_speed(request.speed)?;
    let files = load_files(&state.storage, &request.org, &request.filenames).await?;
    let run = prepare_run(
        RunRequest { files, routing_key: request.routing_key, speed, dry_run: request.dry_run, seed: request.seed },
        Arc::new(chrono::Utc::now),
    )?;
    let total_sends = run.schedule.total_sends;
    let receiver = start_run(&state.dispatcher, run, state.shutdown.child_token())?;
    tracing::info!(org = %request.org, files = ?request.filenames, total_sends, speed, dry_run = request.dry_run,
        "send run started");
    let stream =
        ReceiverStream::new(receiver).map(|event| Ok(pb::SendEventsResponse { event: Some(event_to_proto(event)) }));
    Ok(Box::pin(stream))
}

pub(super) async fn export_postman(
    state: &AppState,
    request: pb::ExportPostmanRequest,
) -> Result<pb::ExportPostmanResponse, Status> {
    let org = sanitize_org(&request.org)?;
    if request.filename.trim().is_empty() {
        let reason = "give the events or change events file to export (see ListFiles)".to_owned();
        return Err(DispatchError::InvalidRequest { field: "filename", reason }.into());
    }
    let files = load_files(&state.storage, &request.org, std::slice::from_ref(&request.filename)).await?;
    let sender = &state.dispatcher.sender;
    let (collection_json, filename) =
        postman::export_collection(&org, &files[0], sender.events_url(), sender.change_events_url())?;
    Ok(pb::ExportPostmanResponse { collection_json, filename })
}

fn kind_to_proto(kind: EventKind) -> i32 {
    match kind {
        EventKind::Alert => pb::EventKind::Alert as i32,
        EventKind::Change => pb::EventKind::Change as i32,
    }
}

fn event_to_proto(event: RunEvent) -> Event {
    match event {
        RunEvent::Schedule(schedule) => Event::Schedule(schedule_to_proto(schedule)),
        RunEvent::Result(report) => Event::Result(report_to_proto(report)),
        RunEvent::Summary(summary) => Event::Summary(summary_to_proto(summary)),
    }
}

fn schedule_to_proto(schedule: Schedule) -> pb::Schedule {
    pb::Schedule {
        entries: schedule
            .entries
            .into_iter()
            .map(|entry| pb::ScheduleEntry {
                file: entry.file,
                index: entry.index as u32,
                summary: entry.summary,
                kind: kind_to_proto(entry.kind),
                initial_offset_s: entry.initial_offset_s,
                total_repeats: entry.total_repeats,
                total_sends: entry.total_sends,
                next_offset_s: entry.next_offset_s,
            })
            .collect(),
        total_sends: schedule.total_sends,
        duration_s: schedule.duration_s,
        speed: schedule.speed,
    }
}

fn report_to_proto(report: SendReport) -> pb::SendResult {
    pb::SendResult {
        seq: report.seq,
        file: report.file,
        index: report.index as u32,
        summary: report.summary,
        kind: kind_to_proto(report.kind),
        attempt: report.attempt,
        scheduled_offset_s: report.scheduled_offset_s,
        sent_offset_s: report.sent_offset_s,
        status_code: u32::from(report.status_code),
        response_body: report.response_body,
        dedup_key: report.dedup_key,
        error: report.error.unwrap_or_default(),
        retries: report.retries,
    }
}

fn summary_to_proto(summary: RunSummary) -> pb::SendSummary {
    pb::SendSummary {
        total: summary.total,
        succeeded: summary.succeeded,
        failed: summary.failed,
        retried: summary.retried,
        cancelled: summary.cancelled,
        elapsed_s: summary.elapsed_s,
    }
}
