//! The built-in, offline generator: writes a convincing scenario from the request alone. The industry comes
//! from the organization name, systems are named the way that industry would, alert titles are worded in the
//! voice of each source tool, and counts follow the request. Every draw comes from one seeded `ChaCha8Rng`,
//! so the same brief and seed give byte-identical output. Its output still goes through the one validator.

mod industry;
mod ownership;
mod voice;

use fake::rand::rngs::ChaCha8Rng;
use fake::rand::seq::{IndexedRandom, SliceRandom};
use fake::rand::{RngExt, SeedableRng};
use serde_json::{json, Value};

pub use industry::{infer_industry, IndustryProfile};
use ownership::{assign_systems, is_identity, ServiceSystems};
use voice::{alert_title, Signal, FAILURE_SIGNALS, LEADING_SIGNALS, MINOR_SIGNALS};

use super::{RawScenario, ScenarioBrief};
use crate::scenario::rules::MAJOR_FAILURE_OFFSET;
use crate::scenario::validate::{
    cluster_placeholder, hostname_placeholder, slug, CHANGE_TIMESTAMP_PLACEHOLDER, EVENT_ID_PLACEHOLDER,
    IP_ADDRESS_PLACEHOLDER, MAX_CHANGE_SUMMARY_CHARS,
};
use crate::scenario::ScenarioKind;

/// Label of this provider in responses.
pub const PROVIDER_LABEL: &str = "builtin";

const TIME_ZONES: &[&str] = &["UTC", "ET", "CT", "PT", "GMT"];
const AUTHORS: &[&str] =
    &["priya.raman", "marcus.chen", "elena.garcia", "tom.okafor", "sofia.lindqvist", "dev.patel", "hannah.kim"];
const CI_SYSTEMS: &[&str] = &["GitHub Actions", "Jenkins", "Argo CD", "GitLab CI", "Spinnaker"];
const REGIONS: &[&str] = &["prod-east", "prod-west", "prod-central"];

/// Writes one scenario for `brief`, deterministically from `seed`.
pub fn generate(brief: &ScenarioBrief, seed: u64) -> RawScenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ scenario_salt(brief.options.kind));
    let industry = infer_industry(&brief.options.org_name);
    let story = Story::new(brief, industry, &mut rng);
    let (ownership, alerts) = plan_alerts(brief, industry, story.faulty_system, &mut rng);
    let changes = plan_changes(brief, &ownership, &story, &mut rng);
    let events: Vec<Value> = alerts.iter().map(|alert| alert.to_event(industry)).collect();
    let change_events: Vec<Value> = changes.iter().map(PlannedChange::to_event).collect();
    let narrative = write_narrative(brief, industry, &story, &ownership, &alerts, &changes, &mut rng);
    RawScenario {
        narrative,
        events: serde_json::to_string_pretty(&events).expect("JSON values serialize"),
        change_events: serde_json::to_string_pretty(&change_events).expect("JSON values serialize"),
    }
}

/// Different scenarios of one request draw different streams from the same seed.
fn scenario_salt(kind: ScenarioKind) -> u64 {
    match kind {
        ScenarioKind::Major => 0x6d61_6a6f_7200_0001,
        ScenarioKind::Partial => 0x7061_7274_6961_0002,
        ScenarioKind::Well => 0x7765_6c6c_0000_0003,
        ScenarioKind::Custom => 0x6375_7374_6f6d_0004,
    }
}

/// The facts the narrative and the files share.
struct Story {
    symptom: String,
    root_cause: String,
    blast_radius: String,
    /// The system at the heart of the fault.
    faulty_system: &'static str,
    start_minutes: u32,
    time_zone: &'static str,
}

impl Story {
    fn new(brief: &ScenarioBrief, industry: &'static IndustryProfile, rng: &mut ChaCha8Rng) -> Self {
        let kind = brief.options.kind;
        // The industry's default major story names its faulty system; keep the files consistent with it.
        let story_system = industry.systems.iter().find(|system| industry.root_cause.contains(*system));
        let random_system = *industry.systems.choose(rng).expect("systems are not empty");
        let faulty_system = match (kind, story_system, &brief.root_cause) {
            (ScenarioKind::Major | ScenarioKind::Custom, Some(system), None) => *system,
            _ => random_system,
        };
        let (symptom, root_cause, blast_radius) = match kind {
            ScenarioKind::Major | ScenarioKind::Custom => {
                (industry.symptom.to_owned(), industry.root_cause.to_owned(), industry.blast_radius.to_owned())
            }
            ScenarioKind::Partial => (
                format!(
                    "{} see intermittent slow responses and sporadic errors on the {faulty_system}",
                    industry.customers
                ),
                format!("a routine configuration change that halved the worker pool of the {faulty_system}"),
                format!("a share of {} during peak traffic", industry.customers),
            ),
            ScenarioKind::Well => (
                format!("storage on the {faulty_system} fills faster than usual"),
                "log volume growth after a verbose logging setting was left on".to_owned(),
                "the platform team only, with no customer impact".to_owned(),
            ),
        };
        Self {
            symptom: brief.symptom.clone().unwrap_or(symptom),
            root_cause: brief.root_cause.clone().unwrap_or(root_cause),
            blast_radius: brief.blast_radius.clone().unwrap_or(blast_radius),
            faulty_system,
            start_minutes: rng.random_range(6 * 60..21 * 60),
            time_zone: TIME_ZONES.choose(rng).expect("zones are not empty"),
        }
    }

    /// `HH:MM TZ` at `offset_s` seconds after the first alert (negative for earlier changes).
    fn clock(&self, offset_s: i64) -> String {
        let minutes = (i64::from(self.start_minutes) + offset_s.div_euclid(60)).rem_euclid(24 * 60);
        format!("{:02}:{:02} {}", minutes / 60, minutes % 60, self.time_zone)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlertRole {
    /// Early saturation before the fault.
    Leading,
    /// The one alert for the critical user journey (major only).
    MajorFailure,
    /// The fault and what it knocks over.
    Failure,
    /// Mild, self-healing (well understood).
    Minor,
}

struct PlannedAlert {
    role: AlertRole,
    signal: Signal,
    system: &'static str,
    service: String,
    tool: String,
    severity: &'static str,
    value: String,
    offset: u64,
    repeats: u64,
    step: u64,
    title: String,
}

impl PlannedAlert {
    fn title(&self) -> String {
        self.title.clone()
    }

    fn to_event(&self, industry: &IndustryProfile) -> Value {
        let mut details = json!({
            "metric_name": self.signal.metric,
            "current_value": self.value,
            "threshold": self.signal.threshold_text(),
            "service_name": self.service,
            "event_id": EVENT_ID_PLACEHOLDER,
            "hostname": hostname_placeholder(self.system),
            "ip_address": IP_ADDRESS_PLACEHOLDER,
            "cluster_name": cluster_placeholder(REGIONS),
            "environment": "production",
            "system": self.system,
        });
        if self.role == AlertRole::MajorFailure {
            details["major_failure"] = json!(true);
            details["CUJ Impacted"] = json!(true);
            details["critical_user_journey"] = json!(industry.journey);
        }
        let repeat_schedule = if self.repeats == 0 {
            json!([])
        } else {
            json!([{ "repeat_count": self.repeats, "repeat_offset": self.step }])
        };
        json!({
            "event_action": "trigger",
            "payload": {
                "summary": self.title(),
                "source": self.tool,
                "severity": self.severity,
                "component": self.system,
                "group": slug(&self.service),
                "class": self.signal.metric.split('.').next().unwrap_or("application"),
                "custom_details": details,
            },
            "timing_metadata": { "schedule_offset": self.offset },
            "repeat_schedule": repeat_schedule,
        })
    }
}

/// Chooses counts, roles, signals, offsets and repeats so every rule holds by construction, and the systems
/// behind each service, so every alert of a service names one of its own systems.
fn plan_alerts(
    brief: &ScenarioBrief,
    industry: &'static IndustryProfile,
    faulty_system: &'static str,
    rng: &mut ChaCha8Rng,
) -> (Vec<ServiceSystems>, Vec<PlannedAlert>) {
    let options = &brief.options;
    let parameters = options.parameters();
    let window = parameters.window_s;
    let alert_range = options.alert_range();
    let send_range = options.send_range();
    // Enough alerts to fit the minimum number of sends inside the window (many sends need many alerts).
    let fewest = alert_range
        .clone()
        .find(|alerts| options.max_possible_sends(*alerts) >= u64::from(*send_range.start()))
        .unwrap_or(*alert_range.end());
    let count = rng.random_range(fewest.max(1)..=*alert_range.end());
    let roles = assign_roles(options.kind, count as usize);
    let capacity: u64 = roles.iter().map(|role| repeat_capacity(*role, window)).sum::<u64>() + u64::from(count);
    let highest = u64::from(*send_range.end()).min(capacity);
    // Every alert is sent at least once, even when the range's floor is below the alert count drawn.
    let lowest = u64::from(*send_range.start()).max(u64::from(count)).min(highest);
    let total_sends = rng.random_range(lowest..=highest);
    let repeats = distribute_repeats(&roles, total_sends - u64::from(count), window, rng);

    let signals = scenario_signals(options.kind);
    // Enough systems that every alert gets its own (signal, system) pair of a fitting kind, so titles stay distinct.
    let needed_for = |failure: bool| {
        let alerts =
            roles.iter().filter(|role| matches!(role, AlertRole::MajorFailure | AlertRole::Failure) == failure);
        let fitting = signals.iter().filter(|signal| FAILURE_SIGNALS.contains(signal) == failure).count();
        // Less one: the login signal only fits identity systems.
        alerts.count().div_ceil(fitting.saturating_sub(1).max(1))
    };
    let systems_needed = needed_for(true).max(needed_for(false));
    let ownership = assign_systems(&options.service_names, industry.systems, faulty_system, systems_needed, rng);
    let mut combos = signal_combos(options.kind, &signals, &ownership, rng);
    let mut fault_placed = false;
    let mut alerts = Vec::with_capacity(roles.len());
    for (index, role) in roles.iter().copied().enumerate() {
        let wants_failure = matches!(role, AlertRole::MajorFailure | AlertRole::Failure);
        let fits = |signal: &Signal| FAILURE_SIGNALS.contains(signal) == wants_failure;
        // The first alert of the fault (and every alert of a well-understood one) fires on the faulty system.
        let on_faulty_system = (role == AlertRole::Minor || (wants_failure && !fault_placed))
            .then(|| combos.iter().position(|combo| fits(&combo.signal) && combo.system == faulty_system))
            .flatten();
        let position = on_faulty_system.or_else(|| combos.iter().position(|combo| fits(&combo.signal))).unwrap_or(0);
        fault_placed |= wants_failure;
        let SignalCombo { signal, system, service } = combos.remove(position);
        // A system shared by several services must not repeat a (signal, system) title under another service.
        combos.retain(|combo| combo.signal != signal || combo.system != system);
        let repeat_count = repeats[index];
        let (low, high) = phase_offsets(role, window);
        let latest = window - repeat_count;
        let offset = if role == AlertRole::MajorFailure {
            rng.random_range(*MAJOR_FAILURE_OFFSET.start()..=latest.min(*MAJOR_FAILURE_OFFSET.end()))
        } else if low <= latest {
            rng.random_range(low..=high.min(latest))
        } else {
            rng.random_range(0..=latest)
        };
        let step = match (window - offset).checked_div(repeat_count) {
            None => 0,
            Some(widest) => {
                let widest = widest.max(1);
                rng.random_range(widest.min(10)..=widest.min(60))
            }
        };
        let severity = match role {
            AlertRole::Leading => "warning",
            AlertRole::MajorFailure => "critical",
            AlertRole::Failure if options.kind == ScenarioKind::Partial => "critical",
            AlertRole::Failure => *["error", "critical"].choose(rng).expect("not empty"),
            AlertRole::Minor => *["info", "warning"].choose(rng).expect("not empty"),
        };
        let tool = options.observability_tools.choose(rng).expect("tools are defaulted").clone();
        let value = signal.firing_value(rng.random_range(0..40));
        let title =
            without_org_name(&alert_title(&tool, &signal, system, &service, &value, severity), &options.org_name);
        alerts.push(PlannedAlert {
            role,
            signal,
            system,
            service,
            tool,
            severity,
            value,
            offset,
            repeats: repeat_count,
            step,
            title,
        });
    }
    alerts.sort_by_key(|alert| alert.offset);
    (ownership, alerts)
}

fn assign_roles(kind: ScenarioKind, count: usize) -> Vec<AlertRole> {
    match kind {
        ScenarioKind::Well => vec![AlertRole::Minor; count],
        ScenarioKind::Major => {
            let leading = if count == 1 { 0 } else { (count * 35 / 100).max(1) };
            let mut roles = vec![AlertRole::Leading; leading];
            roles.push(AlertRole::MajorFailure);
            roles.resize(count, AlertRole::Failure);
            roles
        }
        ScenarioKind::Partial | ScenarioKind::Custom => {
            let leading = (count * 40 / 100).max(1);
            let mut roles = vec![AlertRole::Leading; leading.min(count)];
            roles.resize(count, AlertRole::Failure);
            roles
        }
    }
}

/// Preferred first-send range of each role, in seconds.
fn phase_offsets(role: AlertRole, window: u64) -> (u64, u64) {
    match role {
        AlertRole::Leading => (0, (*MAJOR_FAILURE_OFFSET.start() - 1).min(window)),
        AlertRole::MajorFailure => (*MAJOR_FAILURE_OFFSET.start(), *MAJOR_FAILURE_OFFSET.end()),
        AlertRole::Failure => (window * 3 / 10, window * 7 / 10),
        AlertRole::Minor => (0, window / 2),
    }
}

/// Most repeats an alert of `role` can make inside the window with one-second spacing.
fn repeat_capacity(role: AlertRole, window: u64) -> u64 {
    match role {
        AlertRole::MajorFailure => window - *MAJOR_FAILURE_OFFSET.start(),
        _ => window,
    }
}

/// Splits `extra` repeats over the alerts at random, never past an alert's capacity.
fn distribute_repeats(roles: &[AlertRole], extra: u64, window: u64, rng: &mut ChaCha8Rng) -> Vec<u64> {
    let weights: Vec<u64> = roles.iter().map(|_| rng.random_range(1..=10)).collect();
    let weight_sum: u64 = weights.iter().sum();
    let capacities: Vec<u64> = roles.iter().map(|role| repeat_capacity(*role, window)).collect();
    let mut repeats: Vec<u64> =
        weights.iter().zip(&capacities).map(|(weight, cap)| (extra * weight / weight_sum).min(*cap)).collect();
    let mut remaining = extra - repeats.iter().sum::<u64>();
    let mut index = rng.random_range(0..roles.len());
    while remaining > 0 {
        if repeats[index] < capacities[index] {
            repeats[index] += 1;
            remaining -= 1;
        }
        index = (index + 1) % roles.len();
    }
    repeats
}

/// The signals a scenario of `kind` can raise.
fn scenario_signals(kind: ScenarioKind) -> Vec<Signal> {
    match kind {
        ScenarioKind::Well => MINOR_SIGNALS.iter().chain(LEADING_SIGNALS).copied().collect(),
        _ => LEADING_SIGNALS.iter().chain(FAILURE_SIGNALS).copied().collect(),
    }
}

/// Rule name of the login success signal, which only identity systems raise.
const LOGIN_SUCCESS_RULE: &str = "LoginSuccessRateLow";

/// One possible alert: a signal on a system, raised on the service that system belongs to.
struct SignalCombo {
    signal: Signal,
    system: &'static str,
    service: String,
}

/// Every (signal, system of a service) combination, shuffled, so titles never repeat and services take turns.
fn signal_combos(
    kind: ScenarioKind,
    signals: &[Signal],
    ownership: &[ServiceSystems],
    rng: &mut ChaCha8Rng,
) -> Vec<SignalCombo> {
    let mut combos: Vec<SignalCombo> = ownership
        .iter()
        .flat_map(|owned| owned.systems.iter().map(move |system| (&owned.service, *system)))
        .flat_map(|(service, system)| {
            // A ledger does not report login success rates: that signal stays on identity systems and services.
            let identity = is_identity(system) || is_identity(service);
            signals
                .iter()
                .filter(move |signal| identity || signal.rule != LOGIN_SUCCESS_RULE)
                .map(move |signal| SignalCombo { signal: *signal, system, service: service.clone() })
        })
        .collect();
    combos.shuffle(rng);
    if kind == ScenarioKind::Well {
        // Minor signals first, so a well-understood incident reads mild whenever it can.
        combos.sort_by_key(|combo| MINOR_SIGNALS.iter().position(|minor| *minor == combo.signal).unwrap_or(usize::MAX));
    }
    combos
}

struct PlannedChange {
    summary: String,
    source: String,
    ticket: String,
    author: &'static str,
    minutes_before: i64,
    link: (String, String),
}

impl PlannedChange {
    fn to_event(&self) -> Value {
        json!({
            "payload": {
                "summary": self.summary,
                "source": self.source,
                "timestamp": CHANGE_TIMESTAMP_PLACEHOLDER,
                "custom_details": {
                    "change_ticket": self.ticket,
                    "environment": "production",
                    "author": self.author,
                    "change_window": "standard",
                },
            },
            "links": [{ "href": self.link.0, "text": self.link.1 }],
        })
    }
}

fn plan_changes(
    brief: &ScenarioBrief,
    ownership: &[ServiceSystems],
    story: &Story,
    rng: &mut ChaCha8Rng,
) -> Vec<PlannedChange> {
    let options = &brief.options;
    let itsm = options.itsm_tools.choose(rng).expect("ITSM tools are defaulted").clone();
    let count = rng.random_range(options.parameters().change_events.clone()) as usize;
    let faulty = story.faulty_system;
    // The deploy touches another system the services run on (the faulty one when it is the only one in use).
    let others: Vec<&'static str> =
        ownership.iter().flat_map(|owned| owned.systems.iter().copied()).filter(|system| *system != faulty).collect();
    let other = others.choose(rng).copied().unwrap_or(faulty);
    let ci = CI_SYSTEMS.choose(rng).expect("not empty").to_string();
    let version = format!("v{}.{}.{}", rng.random_range(2..9), rng.random_range(0..30), rng.random_range(0..12));
    let mut changes: Vec<(String, String)> = match options.kind {
        ScenarioKind::Well => vec![(
            format!("Automated runbook: rotate logs and extend volume on {faulty}"),
            "PagerDuty Runbook Automation".to_owned(),
        )],
        ScenarioKind::Partial => {
            vec![(format!("Update worker pool settings for {faulty} per capacity review"), itsm.clone())]
        }
        ScenarioKind::Major | ScenarioKind::Custom => vec![
            (format!("Apply connection settings change to {faulty}"), itsm.clone()),
            (format!("Deploy {} {version} to production", slug(other)), ci.clone()),
            (format!("Terraform apply: resize node group for {}", slug(faulty)), "Terraform Cloud".to_owned()),
        ],
    };
    changes.truncate(count.max(1));
    changes
        .into_iter()
        .enumerate()
        .map(|(index, (summary, source))| {
            let ticket = format!("CHG{:07}", rng.random_range(30_000..9_999_999));
            let link = if source == itsm {
                (format!("https://{}.example.com/change/{ticket}", slug(&itsm)), format!("{ticket} in {itsm}"))
            } else {
                let run = rng.random_range(1_000..99_999);
                (format!("https://ci.example.com/{}/runs/{run}", slug(&source)), format!("{source} run {run}"))
            };
            PlannedChange {
                summary: shorten(&summary, MAX_CHANGE_SUMMARY_CHARS),
                source,
                ticket,
                author: AUTHORS.choose(rng).expect("not empty"),
                minutes_before: 25 - 7 * index as i64,
                link,
            }
        })
        .collect()
}

/// Alert titles never carry the organization's name (service names like "Acme Checkout" would put it there).
fn without_org_name(title: &str, org: &str) -> String {
    let needle = org.trim().to_ascii_lowercase();
    if needle.is_empty() {
        return title.to_owned();
    }
    let mut text = title.to_owned();
    while let Some(start) = text.to_ascii_lowercase().find(&needle) {
        text.replace_range(start..start + needle.len(), "");
    }
    let words: Vec<&str> = text.split(' ').filter(|word| !word.is_empty()).collect();
    words.join(" ").replace("(-", "(").replace(":-", ":").replace("=-", "=").replace("=_", "=").replace(": _", ": ")
}

/// Cuts `text` at a word boundary to at most `limit` characters.
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut out = String::new();
    for word in text.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > limit {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn write_narrative(
    brief: &ScenarioBrief,
    industry: &'static IndustryProfile,
    story: &Story,
    ownership: &[ServiceSystems],
    alerts: &[PlannedAlert],
    changes: &[PlannedChange],
    rng: &mut ChaCha8Rng,
) -> String {
    let options = &brief.options;
    let parameters = options.parameters();
    let org = &options.org_name;
    let services: Vec<String> = ownership
        .iter()
        .map(|owned| format!("{} (on the {})", owned.service, owned.systems.join(" and the ")))
        .collect();
    let services = services.join(", ");
    let tools = options.observability_tools.join(" and ");
    let itsm = options.itsm_tools.join(" and ");
    let kind = options.kind;
    let faulty = story.faulty_system;
    let first_alert = alerts.first().map(PlannedAlert::title).unwrap_or_default();
    let key_alert = alerts
        .iter()
        .find(|alert| alert.role == AlertRole::MajorFailure)
        .or_else(|| alerts.iter().find(|alert| alert.role == AlertRole::Failure))
        .or(alerts.last())
        .expect("at least one alert");
    let incident_at = key_alert.offset as i64 + 60;
    let resolved_at = parameters.window_s as i64 + rng.random_range(12..40) * 60;
    let sends: u64 = alerts.iter().map(|alert| 1 + alert.repeats).sum();

    let mut text = String::new();
    text.push_str("**Scenario Overview:**\n");
    text.push_str(&format!(
        "{org} runs its {} business on systems such as the {}. In this {}, {} ({}). \
         Affected services: {services}. Alerts come from {tools}; changes are tracked in {itsm}.\n\n",
        industry.name,
        industry.systems[..3].join(", the "),
        parameters.priority,
        story.symptom,
        story.blast_radius,
    ));

    text.push_str("**Incident Narrative:**\n");
    for change in changes {
        text.push_str(&format!(
            "- {}: {} records a routine change: \"{}\" ({}).\n",
            story.clock(-60 * change.minutes_before),
            change.source,
            change.summary,
            change.ticket
        ));
    }
    for alert in
        alerts.iter().filter(|alert| alert.role != AlertRole::Leading || alert.offset == alerts[0].offset).take(4)
    {
        text.push_str(&format!(
            "- {}: {} raises \"{}\" ({} on {}, {}).\n",
            story.clock(alert.offset as i64),
            alert.tool,
            alert.title(),
            alert.severity,
            alert.service,
            alert.system
        ));
    }
    let incident_line = match kind {
        ScenarioKind::Well => format!(
            "- {}: PagerDuty Event Orchestration matches the alert pattern and starts the automated remediation; a \
             low-urgency incident is opened on {} for the record.\n",
            story.clock(incident_at),
            key_alert.service
        ),
        _ => format!(
            "- {}: PagerDuty groups the alerts into one incident on {} and pages the on-call responder; {} start to \
             notice: {}.\n",
            story.clock(incident_at),
            key_alert.service,
            industry.customers,
            story.symptom
        ),
    };
    text.push_str(&incident_line);
    text.push_str(&format!(
        "- {}: Root cause confirmed: {}; the incident is resolved.\n\n",
        story.clock(resolved_at),
        story.root_cause
    ));

    text.push_str("**The Response:**\n");
    text.push_str(&match kind {
        ScenarioKind::Major | ScenarioKind::Custom => format!(
            "The on-call engineer for {} acknowledges within minutes and declares a P1 major incident. The incident \
             commander opens a conference bridge, adds the {faulty} and database responders, and posts a status page \
             update for {}. Related alerts from {tools} land on the same incident instead of paging separately, and the \
             recent change events from {itsm} appear next to the timeline.\n\n",
            key_alert.service, industry.customers
        ),
        ScenarioKind::Partial => format!(
            "The responder sees {} alerts grouped on one P3 incident. Symptoms point at the {faulty}, but the cause is \
             not obvious: the responder reviews the recent change events and the past similar incidents before \
             pulling in the owning team.\n\n",
            alerts.len()
        ),
        ScenarioKind::Well => format!(
            "No one is woken up. The alerts from {tools} match a known pattern, so PagerDuty runs the approved runbook \
             for the {faulty} automatically and records every step on the incident timeline.\n\n"
        ),
    });

    text.push_str("**The Resolution:**\n");
    text.push_str(&format!(
        "The team traces the fault to {}. {} Service for {} returns to normal and the incident is resolved with a \
         postmortem scheduled.\n\n",
        story.root_cause,
        match kind {
            ScenarioKind::Well => "The runbook frees space and extends the volume, and the alert clears by itself.",
            ScenarioKind::Partial =>
                "The change is rolled back after the change event is matched to the first symptom.",
            _ => "The change is rolled back, the affected pods are restarted and traffic recovers within minutes.",
        },
        industry.customers
    ));

    text.push_str("**Demo Execution:**\n");
    text.push_str(&format!(
        "1. Send the {} change event(s) first so they appear as recent changes on the service.\n\
         2. Start SendEvents for the events file: {} distinct alerts, {sends} sends over {} seconds, beginning with \
         \"{first_alert}\".\n\
         3. Show the incident on {} in PagerDuty, the grouped alerts and the change correlation.\n\
         4. {}\n\n",
        changes.len(),
        alerts.len(),
        parameters.window_s,
        key_alert.service,
        match kind {
            ScenarioKind::Well => "Open the automation log to show the runbook output, then the resolved incident.",
            _ => "Run the diagnostics job, post a status update and resolve the incident once the alerts stop.",
        }
    ));

    let minutes = parameters.talk_track_minutes;
    text.push_str(&format!("**Talk Track for the SC ({minutes}-Minute Demo Flow):**\n"));
    let quarter = minutes / 4;
    text.push_str(&format!(
        "- 0-{quarter} min: Set the scene: {org} depends on the {} for {}; today {}.\n\
         - {quarter}-{} min: Alerts from {tools} arrive; show how PagerDuty reduces noise to one incident.\n\
         - {}-{} min: Walk through the response: on-call, change events from {itsm}, {}.\n\
         - {}-{minutes} min: Resolution and value: time to resolve, {} back to normal, postmortem.\n\n",
        faulty,
        industry.journey,
        story.symptom,
        quarter * 2,
        quarter * 2,
        quarter * 3,
        match kind {
            ScenarioKind::Well => "and the automation that fixed it",
            _ => "diagnostics and stakeholder updates",
        },
        quarter * 3,
        industry.business_metric
    ));

    text.push_str("**Outage Summary:**\n");
    text.push_str(&format!(
        "{} caused an incident in which {}, affecting {}; it was resolved by {}.\n",
        capitalize(&story.root_cause),
        story.symptom,
        story.blast_radius,
        match kind {
            ScenarioKind::Well => "automated remediation",
            _ => "rolling back the change",
        }
    ));
    text
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
