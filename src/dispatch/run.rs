//! A send run: a spawned producer task that starts each send when it is due (each on its own task, so a
//! slow answer never delays the next send) and streams the schedule, one result per send and a summary
//! through a channel. Cancelling (client gone, explicit cancel or server shutdown) stops every pending send
//! at once; no request leaves afterwards. The summary always adds up: total == succeeded + failed.
//!
//! A run's memory is bounded whatever the schedule: at most [`MAX_IN_FLIGHT_PER_RUN`] requests are in flight
//! (a due send waits for a free slot and reports when it really left), and results go through a channel of
//! [`RUN_CHANNEL_CAPACITY`] messages that the run waits on while the client reads slowly.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::event_body::{check_body, prepare_events, render_body, PreparedEvent};
use super::schedule::{build_schedule, Schedule, ScheduledSend};
use super::sender::{short, MAX_RESPONSE_CHARS};
use super::{DispatchError, Dispatcher, EventKind, LoadedFile, Sender};
use crate::template::{Clock, RenderContext, TemplateError};

/// Shown instead of the routing key in dry-run bodies.
pub const ROUTING_KEY_STAND_IN: &str = "<routing_key>";
/// Requests of one run in flight at once. Real scenarios send under 20 events/s, so the cap is only hit by
/// huge repeat counts at high speed, where it keeps a run from opening thousands of connections (whose
/// timeouts and retries then duplicated events).
pub const MAX_IN_FLIGHT_PER_RUN: usize = 32;
/// Stream messages buffered per run; when the client reads slower, the run waits for it.
pub const RUN_CHANNEL_CAPACITY: usize = 64;
/// How long a cancelled run still waits for a slow client to take each remaining result and the summary.
const CANCELLED_DELIVERY_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

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

/// Starts a prepared run on its own task if a slot is free. Dry runs need no slot: they send nothing and end
/// at once (their size is still bounded by the schedule limit and the channel). The run stops early when
/// `cancel` fires or the receiver is dropped.
pub fn start_run(
    dispatcher: &Dispatcher,
    run: PreparedRun,
    cancel: CancellationToken,
) -> Result<mpsc::Receiver<RunEvent>, DispatchError> {
    let permit = if run.dry_run { None } else { Some(dispatcher.try_reserve_run()?) };
    let (tx, rx) = mpsc::channel(RUN_CHANNEL_CAPACITY);
    tokio::spawn(run_sends(dispatcher.sender.clone(), run, tx, cancel, permit));
    Ok(rx)
}

struct Tally {
    summary: RunSummary,
    /// The client dropped the stream, or stopped reading after the run was cancelled.
    client_gone: bool,
}

impl Tally {
    async fn record(&mut self, report: SendReport, tx: &mpsc::Sender<RunEvent>, cancel: &CancellationToken) {
        self.summary.total += 1;
        if report.error.is_none() {
            self.summary.succeeded += 1;
        } else {
            self.summary.failed += 1;
        }
        if report.retries > 0 {
            self.summary.retried += 1;
        }
        self.deliver(RunEvent::Result(report), tx, cancel).await;
    }

    /// Waits for room in the channel, so memory stays bounded while a client reads slowly. Once the run is
    /// cancelled it waits at most [`CANCELLED_DELIVERY_GRACE`], so a client that stopped reading cannot hold
    /// the run (and its slot) forever.
    async fn deliver(&mut self, event: RunEvent, tx: &mpsc::Sender<RunEvent>, cancel: &CancellationToken) {
        if self.client_gone {
            return;
        }
        let reserved = if cancel.is_cancelled() {
            tokio::time::timeout(CANCELLED_DELIVERY_GRACE, tx.reserve()).await.ok()
        } else {
            tokio::select! {
                reserved = tx.reserve() => Some(reserved),
                () = cancel.cancelled() => match tx.try_reserve() {
                    Ok(permit) => Some(Ok(permit)),
                    Err(TrySendError::Closed(())) => None,
                    Err(TrySendError::Full(())) => {
                        tokio::time::timeout(CANCELLED_DELIVERY_GRACE, tx.reserve()).await.ok()
                    }
                },
            }
        };
        match reserved {
            Some(Ok(permit)) => permit.send(event),
            Some(Err(_)) | None => self.client_gone = true,
        }
    }
}

async fn run_sends(
    sender: Arc<Sender>,
    mut run: PreparedRun,
    tx: mpsc::Sender<RunEvent>,
    cancel: CancellationToken,
    permit: Option<OwnedSemaphorePermit>,
) {
    let start = Instant::now();
    let mut tally = Tally { summary: RunSummary::default(), client_gone: false };
    tally.deliver(RunEvent::Schedule(run.schedule.clone()), &tx, &cancel).await;
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
        // Dry runs do not wait: they preview the whole schedule at once. A due send waits while the run has
        // its maximum of requests in flight; the send then leaves as soon as one finishes.
        let due = run.sends.get(next).map(|send| if run.dry_run { start } else { start + send.offset });
        let slot_free = in_flight.len() < MAX_IN_FLIGHT_PER_RUN;
        tokio::select! {
            biased;
            () = cancel.cancelled() => {}
            () = tx.closed() => tally.client_gone = true,
            () = sleep_until_due(due), if due.is_some() && slot_free => {
                let send = run.sends[next].clone();
                next += 1;
                start_send(&mut run, &send, start, &sender, &cancel, &mut in_flight, &mut waiting, &mut tally, &tx)
                    .await;
            }
            Some(joined) = in_flight.join_next_with_id() => {
                finish_send(joined, &mut waiting, &mut tally, &tx, &cancel).await;
            }
        }
    }
    if cancelled {
        // Pending sends see the token and stop before any further request leaves.
        cancel.cancel();
        while let Some(joined) = in_flight.join_next_with_id().await {
            finish_send(joined, &mut waiting, &mut tally, &tx, &cancel).await;
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
    tally.deliver(RunEvent::Summary(summary), &tx, &cancel).await;
    drop(permit);
}

async fn sleep_until_due(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn start_send(
    run: &mut PreparedRun,
    send: &ScheduledSend,
    start: Instant,
    sender: &Arc<Sender>,
    cancel: &CancellationToken,
    in_flight: &mut JoinSet<SendReport>,
    waiting: &mut HashMap<tokio::task::Id, SendReport>,
    tally: &mut Tally,
    tx: &mpsc::Sender<RunEvent>,
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
            tally.record(report, tx, cancel).await;
            return;
        }
    };
    if let Some(summary) = body.pointer("/payload/summary").and_then(Value::as_str) {
        report.summary = summary.to_owned();
    }
    if run.dry_run {
        // Cut like a live answer, so a huge event cannot make a huge stream message.
        report.response_body = short(&serde_json::to_string(&body).unwrap_or_default(), MAX_RESPONSE_CHARS);
        report.sent_offset_s = start.elapsed().as_secs_f64();
        tally.record(report, tx, cancel).await;
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

async fn finish_send(
    joined: Result<(tokio::task::Id, SendReport), tokio::task::JoinError>,
    waiting: &mut HashMap<tokio::task::Id, SendReport>,
    tally: &mut Tally,
    tx: &mpsc::Sender<RunEvent>,
    cancel: &CancellationToken,
) {
    match joined {
        Ok((id, report)) => {
            waiting.remove(&id);
            tally.record(report, tx, cancel).await;
        }
        Err(join_error) => {
            if let Some(mut report) = waiting.remove(&join_error.id()) {
                report.error = Some(if join_error.is_cancelled() {
                    CANCELLED_IN_FLIGHT.to_owned()
                } else {
                    tracing::error!(seq = report.seq, "send task failed: {join_error}");
                    format!("internal error while sending: {join_error}")
                });
                tally.record(report, tx, cancel).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::ServeConfig;

    fn dry_run_of(sends: usize) -> PreparedRun {
        let event = json!({ "event_action": "trigger",
            "payload": { "summary": "s", "source": "x", "severity": "info" },
            "repeat_schedule": [ { "repeat_count": sends - 1, "repeat_offset": 1 } ] });
        let files =
            vec![LoadedFile { name: "major_events_1.json".into(), kind: EventKind::Alert, events: vec![event] }];
        let request = RunRequest { files, routing_key: String::new(), speed: 1.0, dry_run: true, seed: Some(1) };
        prepare_run(request, Arc::new(chrono::Utc::now)).unwrap()
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_holds_at_most_the_channel_capacity() {
        let dispatcher = Dispatcher::new(&ServeConfig::defaults()).unwrap();
        let mut rx = start_run(&dispatcher, dry_run_of(1000), CancellationToken::new()).unwrap();
        // A dry run renders everything at once; give it ample time to fill whatever the channel accepts.
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(rx.len() <= RUN_CHANNEL_CAPACITY, "{} messages buffered", rx.len());
        let mut results = 0;
        let mut summary = None;
        while let Some(event) = rx.recv().await {
            match event {
                RunEvent::Result(_) => results += 1,
                RunEvent::Summary(s) => summary = Some(s),
                RunEvent::Schedule(_) => {}
            }
        }
        let summary = summary.expect("a summary");
        assert_eq!((results, summary.total, summary.succeeded), (1000, 1000, 1000));
    }
}
