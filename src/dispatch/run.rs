//! A send run: a spawned producer task that starts each send when it is due (each on its own task, so a
//! slow answer never delays the next send) and streams the schedule, one result per send and a summary
//! through a channel. Cancelling (client gone, explicit cancel or server shutdown) stops every pending send
//! at once; no request leaves afterwards. The summary always adds up: total == succeeded + failed.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::event_body::{check_body, prepare_events, render_body, PreparedEvent};
use super::schedule::{build_schedule, Schedule, ScheduledSend};
use super::{DispatchError, Dispatcher, EventKind, LoadedFile, Sender};
use crate::template::{Clock, RenderContext, TemplateError};

/// Shown instead of the routing key in dry-run bodies.
pub const ROUTING_KEY_STAND_IN: &str = "<routing_key>";

/// What a caller asks to play.
pub struct RunRequest {
    pub files: Vec<LoadedFile>,
    /// Already validated; ignored on dry runs.
    pub routing_key: String,
    /// Already validated (> 0).
    pub speed: f64,
    pub dry_run: bool,
    pub seed: Option<u64>,
}

/// A run that passed every check and is ready to start.
pub struct PreparedRun {
    pub schedule: Schedule,
    sends: Vec<ScheduledSend>,
    file_names: Vec<String>,
    events: Vec<Vec<PreparedEvent>>,
    context: RenderContext,
    routing_key: String,
    dry_run: bool,
}

/// One stream message.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    Schedule(Schedule),
    Result(SendReport),
    Summary(RunSummary),
}

/// The result of one send.
#[derive(Debug, Clone, PartialEq)]
pub struct SendReport {
    pub seq: u32,
    pub file: String,
    pub index: usize,
    pub summary: String,
    pub kind: EventKind,
    pub attempt: String,
    pub scheduled_offset_s: f64,
    pub sent_offset_s: f64,
    pub status_code: u16,
    pub response_body: String,
    pub dedup_key: String,
    /// `None` on success.
    pub error: Option<String>,
    pub retries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunSummary {
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub retried: u32,
    pub cancelled: bool,
    pub elapsed_s: f64,
}

/// Checks everything that can fail before the first send: the schedule, every event's body and every
/// placeholder (each event is rendered once), so a bad file fails the call instead of the run.
pub fn prepare_run(request: RunRequest, clock: Clock) -> Result<PreparedRun, DispatchError> {
    let (schedule, sends) = build_schedule(&request.files, request.speed)?;
    let mut context = RenderContext::with_clock(request.seed, clock.clone());
    let key_prefix = format!("demogen-{:012x}", context.next_u64() >> 16);
    let events = prepare_events(&request.files, &key_prefix, &mut context)?;
    let mut check_context = RenderContext::with_clock(Some(0), clock);
    for (file, file_events) in request.files.iter().zip(&events) {
        for (index, event) in file_events.iter().enumerate() {
            let body = render_body(event, ROUTING_KEY_STAND_IN, &mut check_context).map_err(|source| {
                DispatchError::Placeholder { file: file.name.clone(), source: at_event(source, index) }
            })?;
            check_body(event.kind, &body).map_err(|reason| DispatchError::InvalidEvent {
                file: file.name.clone(),
                index,
                reason,
            })?;
        }
    }
    Ok(PreparedRun {
        schedule,
        sends,
        file_names: request.files.into_iter().map(|file| file.name).collect(),
        events,
        context,
        routing_key: request.routing_key,
        dry_run: request.dry_run,
    })
}

/// Paths inside one event become paths inside its file: `payload.x` → `[3].payload.x`.
fn at_event(mut error: TemplateError, index: usize) -> TemplateError {
    error.path = if error.path == "the top level" { format!("[{index}]") } else { format!("[{index}].{}", error.path) };
    error
}

/// Starts a prepared run on its own task if a slot is free. The run stops early when `cancel` fires or the
/// receiver is dropped.
pub fn start_run(
    dispatcher: &Dispatcher,
    run: PreparedRun,
    cancel: CancellationToken,
) -> Result<mpsc::UnboundedReceiver<RunEvent>, DispatchError> {
    let permit = dispatcher.try_reserve_run()?;
    // Unbounded: a client that reads slowly must never hold back a due send. Its size is bounded by the
    // schedule (one message per send plus two).
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run_sends(dispatcher.sender.clone(), run, tx, cancel, permit));
    Ok(rx)
}

struct Tally {
    summary: RunSummary,
    client_gone: bool,
}

impl Tally {
    fn record(&mut self, report: SendReport, tx: &mpsc::UnboundedSender<RunEvent>) {
        self.summary.total += 1;
        if report.error.is_none() {
            self.summary.succeeded += 1;
        } else {
            self.summary.failed += 1;
        }
        if report.retries > 0 {
            self.summary.retried += 1;
        }
        if tx.send(RunEvent::Result(report)).is_err() {
            self.client_gone = true;
        }
    }
}

async fn run_sends(
    sender: Arc<Sender>,
    mut run: PreparedRun,
    tx: mpsc::UnboundedSender<RunEvent>,
    cancel: CancellationToken,
    permit: OwnedSemaphorePermit,
) {
    let start = Instant::now();
    let mut tally = Tally { summary: RunSummary::default(), client_gone: false };
    tally.client_gone = tx.send(RunEvent::Schedule(run.schedule.clone())).is_err();
    let mut in_flight: JoinSet<SendReport> = JoinSet::new();
    let mut waiting: HashMap<tokio::task::Id, SendReport> = HashMap::new();
    let mut next = 0;
    let mut cancelled = false;
    loop {
        if tally.client_gone || cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        if next == run.sends.len() && in_flight.is_empty() {
            break;
        }
        // Dry runs do not wait: they preview the whole schedule at once.
        let due = run.sends.get(next).map(|send| if run.dry_run { start } else { start + send.offset });
        tokio::select! {
            biased;
            () = cancel.cancelled() => {}
            () = tx.closed() => tally.client_gone = true,
            () = sleep_until_due(due), if due.is_some() => {
                let send = run.sends[next].clone();
                next += 1;
                start_send(&mut run, &send, start, &sender, &cancel, &mut in_flight, &mut waiting, &mut tally, &tx);
            }
            Some(joined) = in_flight.join_next_with_id() => finish_send(joined, &mut waiting, &mut tally, &tx),
        }
    }
    if cancelled {
        // Pending sends see the token and stop before any further request leaves.
        cancel.cancel();
        while let Some(joined) = in_flight.join_next_with_id().await {
            finish_send(joined, &mut waiting, &mut tally, &tx);
        }
    }
    tally.summary.cancelled = cancelled;
    tally.summary.elapsed_s = start.elapsed().as_secs_f64();
    let summary = tally.summary;
    tracing::info!(
        total = summary.total,
        succeeded = summary.succeeded,
        failed = summary.failed,
        retried = summary.retried,
        cancelled = summary.cancelled,
        elapsed_s = summary.elapsed_s,
        "send run ended"
    );
    let _ = tx.send(RunEvent::Summary(summary));
    drop(permit);
}

async fn sleep_until_due(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

#[allow(clippy::too_many_arguments)]
fn start_send(
    run: &mut PreparedRun,
    send: &ScheduledSend,
    start: Instant,
    sender: &Arc<Sender>,
    cancel: &CancellationToken,
    in_flight: &mut JoinSet<SendReport>,
    waiting: &mut HashMap<tokio::task::Id, SendReport>,
    tally: &mut Tally,
    tx: &mpsc::UnboundedSender<RunEvent>,
) {
    let event = &run.events[send.file_index][send.event_index];
    let mut report = SendReport {
        seq: send.seq,
        file: run.file_names[send.file_index].clone(),
        index: send.event_index,
        summary: event.summary.clone(),
        kind: send.kind,
        attempt: send.attempt.to_string(),
        scheduled_offset_s: send.offset.as_secs_f64(),
        sent_offset_s: 0.0,
        status_code: 0,
        response_body: String::new(),
        dedup_key: event.dedup_key.clone().unwrap_or_default(),
        error: None,
        retries: 0,
    };
    let routing_key = if run.dry_run { ROUTING_KEY_STAND_IN } else { run.routing_key.as_str() };
    // Rendered per send, so each repeat carries fresh values and a current timestamp.
    let body = match render_body(event, routing_key, &mut run.context) {
        Ok(body) => body,
        Err(error) => {
            report.error = Some(error.to_string());
            report.sent_offset_s = start.elapsed().as_secs_f64();
            tally.record(report, tx);
            return;
        }
    };
    if let Some(summary) = body.pointer("/payload/summary").and_then(Value::as_str) {
        report.summary = summary.to_owned();
    }
    if run.dry_run {
        report.response_body = serde_json::to_string(&body).unwrap_or_default();
        report.sent_offset_s = start.elapsed().as_secs_f64();
        tally.record(report, tx);
        return;
    }
    let sender = sender.clone();
    let cancel = cancel.clone();
    let kind = send.kind;
    let mut task_report = report.clone();
    let handle = in_flight.spawn(async move {
        match sender.send(kind, &body, &cancel).await {
            Some(outcome) => {
                task_report.sent_offset_s = outcome.last_attempt_at.saturating_duration_since(start).as_secs_f64();
                task_report.status_code = outcome.status_code;
                task_report.response_body = outcome.response_body;
                if let Some(key) = outcome.dedup_key {
                    task_report.dedup_key = key;
                }
                task_report.error = outcome.error;
                task_report.retries = outcome.retries;
            }
            None => {
                task_report.sent_offset_s = start.elapsed().as_secs_f64();
                task_report.error = Some(CANCELLED_IN_FLIGHT.to_owned());
            }
        }
        task_report
    });
    waiting.insert(handle.id(), report);
}

const CANCELLED_IN_FLIGHT: &str = "cancelled before PagerDuty answered; the event may or may not have arrived";

fn finish_send(
    joined: Result<(tokio::task::Id, SendReport), tokio::task::JoinError>,
    waiting: &mut HashMap<tokio::task::Id, SendReport>,
    tally: &mut Tally,
    tx: &mpsc::UnboundedSender<RunEvent>,
) {
    match joined {
        Ok((id, report)) => {
            waiting.remove(&id);
            tally.record(report, tx);
        }
        Err(join_error) => {
            if let Some(mut report) = waiting.remove(&join_error.id()) {
                report.error = Some(if join_error.is_cancelled() {
                    CANCELLED_IN_FLIGHT.to_owned()
                } else {
                    tracing::error!(seq = report.seq, "send task failed: {join_error}");
                    format!("internal error while sending: {join_error}")
                });
                tally.record(report, tx);
            }
        }
    }
}
