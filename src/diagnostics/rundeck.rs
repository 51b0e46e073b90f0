//! Rundeck / PagerDuty Runbook Automation job definitions as typed structures, serialized to Rundeck's
//! job-list YAML (a sequence of job maps, the form `rd jobs load -F yaml` and the GUI's upload accept).
//!
//! Every diagnostic step is an inline script that appends its command and output to an evidence file of the
//! execution; the last step posts that evidence to the PagerDuty incident as a note through the REST API,
//! authenticated with a secure option read from Rundeck key storage (the job holds the path, never a token).

use serde::{Deserialize, Serialize};

use super::alert::EventFacts;
use super::commands::DiagnosticCommand;

/// Rundeck job names cannot hold `/` (it separates groups) and long names are unreadable in the job list.
const MAX_JOB_NAME_CHARS: usize = 120;
/// PagerDuty notes hold at most 25,000 characters; keep room for the header.
const NOTE_EVIDENCE_BYTES: usize = 20_000;
/// Delimiter of the quoted here-documents that echo commands into the evidence file.
pub const HEREDOC_DELIMITER: &str = "DEMOGEN_EOF";

/// One job of the job-list YAML. Field names are Rundeck's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RundeckJob {
    pub default_tab: String,
    pub description: String,
    pub execution_enabled: bool,
    pub group: String,
    pub id: String,
    pub loglevel: String,
    pub name: String,
    pub node_filter_editable: bool,
    pub nodefilters: NodeFilters,
    pub nodes_selected_by_default: bool,
    pub options: Vec<JobOption>,
    pub schedule_enabled: bool,
    pub sequence: Sequence,
    pub uuid: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeFilters {
    pub dispatch: Dispatch,
    pub filter: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dispatch {
    pub exclude_precedence: bool,
    pub keepgoing: bool,
    pub rank_order: String,
    pub success_on_empty_node_filter: bool,
    /// Rundeck exports it as a string.
    pub threadcount: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOption {
    pub name: String,
    pub label: String,
    pub description: String,
    pub required: bool,
    /// Default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
    /// `true` makes a secure option a "Secure" option that scripts can read; `false` would make it "Secure
    /// Remote Authentication", hidden from scripts and usable only by node executors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_exposed: Option<bool>,
    /// Key storage path the default value is read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sequence {
    pub commands: Vec<Step>,
    pub keepgoing: bool,
    pub strategy: String,
    pub plugin_config: SequencePlugins,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequencePlugins {
    #[serde(rename = "LogFilter")]
    pub log_filter: Vec<LogFilter>,
}

/// A workflow log filter; `mask-passwords` hides secure option values if a command echoes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogFilter {
    #[serde(rename = "type")]
    pub filter_type: String,
    pub config: LogFilterConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogFilterConfig {
    pub color: String,
    pub replacement: String,
}

/// A workflow step: an inline script run on each matched node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub description: String,
    pub script: String,
}

/// What a job needs besides its alert and commands.
#[derive(Debug, Clone, Copy)]
pub struct JobContext<'a> {
    /// Sanitized organization name; the job group is `<org>/diagnostics/<scenario>`.
    pub org: &'a str,
    pub scenario: &'a str,
    /// Key storage path of the PagerDuty REST API token.
    pub token_storage_path: &'a str,
}

/// Builds the job of one alert from its diagnostic commands.
pub fn build_job(alert: &EventFacts, commands: &[DiagnosticCommand], context: JobContext<'_>) -> RundeckJob {
    let uuid = uuid::Uuid::new_v4().to_string();
    let summary = one_line(&alert.summary);
    let mut steps = Vec::with_capacity(commands.len() + 2);
    steps.push(Step { description: "Record the alert being diagnosed".into(), script: header_script(alert) });
    steps.extend(
        commands.iter().map(|c| Step {
            description: one_line(&c.description),
            script: evidence_script(&c.description, &c.command),
        }),
    );
    steps.push(Step {
        description: "Post the gathered evidence to the PagerDuty incident as a note".into(),
        script: post_note_script(),
    });
    RundeckJob {
        default_tab: "output".into(),
        description: job_description(alert),
        execution_enabled: true,
        group: format!("{}/diagnostics/{}", context.org, context.scenario),
        id: uuid.clone(),
        loglevel: "INFO".into(),
        name: job_name(&summary),
        node_filter_editable: true,
        nodefilters: NodeFilters {
            dispatch: Dispatch {
                exclude_precedence: true,
                keepgoing: true,
                rank_order: "ascending".into(),
                success_on_empty_node_filter: false,
                threadcount: "1".into(),
            },
            filter: "${option.target_nodes}".into(),
        },
        nodes_selected_by_default: true,
        options: job_options(alert, context.token_storage_path),
        schedule_enabled: true,
        sequence: Sequence {
            commands: steps,
            keepgoing: true,
            strategy: "node-first".into(),
            plugin_config: SequencePlugins {
                log_filter: vec![LogFilter {
                    filter_type: "mask-passwords".into(),
                    config: LogFilterConfig { color: "gray".into(), replacement: "[SECURE]".into() },
                }],
            },
        },
        uuid,
    }
}

/// The job-list YAML of one job.
pub fn to_yaml(job: &RundeckJob) -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&[job])
}

/// `Diagnose: <summary>`, without `/` and at most 120 characters.
pub fn job_name(summary: &str) -> String {
    let cleaned = one_line(summary).replace('/', "-");
    let name = format!("Diagnose: {cleaned}");
    if name.chars().count() <= MAX_JOB_NAME_CHARS {
        return name;
    }
    let mut cut: String = name.chars().take(MAX_JOB_NAME_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn job_description(alert: &EventFacts) -> String {
    let mut lines = vec![
        format!("Diagnostics for the {} alert \"{}\"", alert.severity.as_str(), one_line(&alert.summary)),
        String::new(),
        format!("- **Source:** {}", or_unknown(&alert.source)),
        format!("- **Service:** {}", or_unknown(&alert.service_name)),
    ];
    if !alert.metric_name.is_empty() {
        let value = match (alert.current_value.as_str(), alert.threshold.as_str()) {
            ("", "") => String::new(),
            (current, "") => format!(" (current {current})"),
            ("", threshold) => format!(" (threshold {threshold})"),
            (current, threshold) => format!(" (current {current}, threshold {threshold})"),
        };
        lines.push(format!("- **Metric:** {}{value}", alert.metric_name));
    }
    lines.push(format!("- **Event:** element {} of `{}`", alert.index_in_file, alert.file));
    lines.push(String::new());
    lines.push(
        "Gathers evidence on the nodes matched by `target_nodes` and posts it to the PagerDuty incident \
         `incident_id` as a note. Generated by demogen."
            .into(),
    );
    lines.join("\n")
}

fn job_options(alert: &EventFacts, token_storage_path: &str) -> Vec<JobOption> {
    let plain = |name: &str, label: &str, description: &str, required: bool, value: Option<String>| JobOption {
        name: name.into(),
        label: label.into(),
        description: description.into(),
        required,
        value,
        secure: None,
        value_exposed: None,
        storage_path: None,
    };
    vec![
        plain(
            "incident_id",
            "PagerDuty incident ID",
            "ID of the PagerDuty incident the evidence is posted to (e.g. Q2W3E4R5T6Y7U8); an incident action \
             passes it when the job runs from PagerDuty",
            true,
            None,
        ),
        JobOption {
            name: "pd_api_token".into(),
            label: "PagerDuty API token".into(),
            description: "PagerDuty REST API token used to add the note, read from key storage".into(),
            required: true,
            value: None,
            secure: Some(true),
            value_exposed: Some(true),
            storage_path: Some(token_storage_path.into()),
        },
        plain(
            "pd_user_email",
            "PagerDuty user email",
            "Email of a PagerDuty user, sent as the From header that notes require with an account API key \
             (leave empty with a user token)",
            false,
            None,
        ),
        plain(
            "pd_api_url",
            "PagerDuty API URL",
            "PagerDuty REST API base URL (https://api.eu.pagerduty.com for EU accounts)",
            true,
            Some("https://api.pagerduty.com".into()),
        ),
        plain(
            "target_nodes",
            "Target nodes",
            "Rundeck node filter of the hosts to diagnose from (e.g. `name: rundeck-runner` or `tags: k8s-admin`)",
            true,
            Some(format!("tags: {}", alert.service_slug())),
        ),
    ]
}

/// Starts the evidence file with what is being diagnosed. Rundeck expands `@node.name@`-style tokens in
/// inline scripts, so alert text has its `@` removed.
fn header_script(alert: &EventFacts) -> String {
    let mut facts = vec![
        format!("Alert: {}", script_text(&alert.summary)),
        format!(
            "Severity: {}  Source: {}  Service: {}",
            alert.severity.as_str(),
            script_text(&alert.source),
            script_text(&alert.service_name)
        ),
    ];
    if !alert.metric_name.is_empty() {
        facts.push(format!(
            "Metric: {}  current: {}  threshold: {}",
            script_text(&alert.metric_name),
            or_unknown(&script_text(&alert.current_value)),
            or_unknown(&script_text(&alert.threshold))
        ));
    }
    facts.push("Node: @node.name@  Rundeck job: @job.name@  execution: @job.execid@".into());
    format!(
        "#!/bin/sh\n{EVIDENCE_VARIABLE}\ncat <<'{HEREDOC_DELIMITER}' | tee \"$EVIDENCE\"\n\
         demogen diagnostics for PagerDuty incident @option.incident_id@\n{}\n{HEREDOC_DELIMITER}\n",
        facts.join("\n")
    )
}

const EVIDENCE_VARIABLE: &str = "EVIDENCE=\"${TMPDIR:-/tmp}/demogen-diagnostics-@job.execid@.txt\"";

/// Runs one command, echoing the command and its output into the log and the evidence file. The step
/// succeeds even when the command fails, so one missing tool does not hide the rest of the evidence.
fn evidence_script(description: &str, command: &str) -> String {
    format!(
        "#!/bin/sh\n{EVIDENCE_VARIABLE}\n{{\n  cat <<'{HEREDOC_DELIMITER}'\n\n### {}\n$ {}\n{HEREDOC_DELIMITER}\n  {}\n}} 2>&1 | tee -a \"$EVIDENCE\"\n",
        script_text(description),
        command.trim(),
        command.trim()
    )
}

/// Builds the note with jq (or python3) so any output is valid JSON, and passes the token to curl on its
/// standard input so it never appears in a process list or the log.
fn post_note_script() -> String {
    format!(
        r#"#!/bin/sh
{EVIDENCE_VARIABLE}
if [ -z "$RD_OPTION_INCIDENT_ID" ]; then
  echo "incident_id is empty: no note posted" >&2
  exit 1
fi
if command -v jq >/dev/null 2>&1; then
  BODY=$(tail -c {NOTE_EVIDENCE_BYTES} "$EVIDENCE" | jq -Rs '{{note: {{content: .}}}}')
elif command -v python3 >/dev/null 2>&1; then
  BODY=$(tail -c {NOTE_EVIDENCE_BYTES} "$EVIDENCE" | python3 -c 'import json, sys; print(json.dumps({{"note": {{"content": sys.stdin.read()}}}}))')
else
  echo "jq or python3 is needed to build the note" >&2
  exit 1
fi
if [ -n "$RD_OPTION_PD_USER_EMAIL" ]; then
  set -- -H "From: $RD_OPTION_PD_USER_EMAIL"
else
  set --
fi
STATUS=$(printf 'header = "Authorization: Token token=%s"\n' "$RD_OPTION_PD_API_TOKEN" \
  | curl -sS --max-time 30 -K - -X POST -o /dev/null -w '%{{http_code}}' \
    -H 'Accept: application/vnd.pagerduty+json;version=2' -H 'Content-Type: application/json' \
    "$@" --data-binary "$BODY" \
    "${{RD_OPTION_PD_API_URL:-https://api.pagerduty.com}}/incidents/$RD_OPTION_INCIDENT_ID/notes")
rm -f "$EVIDENCE"
echo "PagerDuty answered HTTP $STATUS"
case "$STATUS" in
  2??) exit 0 ;;
  *) exit 1 ;;
esac
"#
    )
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Alert text safe inside a quoted here-document of an inline script: one line, no `@` token markers.
fn script_text(text: &str) -> String {
    one_line(text).replace('@', "(at)")
}

fn or_unknown(text: &str) -> String {
    if text.is_empty() {
        "unknown".into()
    } else {
        text.into()
    }
}

/// Checks a job-list YAML as Rundeck will read it: one job with the keys an import needs, a secure token
/// option bound to key storage, a node filter and at least `min_diagnostic_steps` diagnostic steps between
/// the header and the note. Returns every problem found.
pub fn check_job_yaml(yaml: &str, min_diagnostic_steps: usize) -> Result<(), Vec<String>> {
    use serde_yaml_ng::Value;
    let document: Value = serde_yaml_ng::from_str(yaml).map_err(|e| vec![format!("not valid YAML: {e}")])?;
    let jobs = match document.as_sequence() {
        Some(jobs) if jobs.len() == 1 => jobs,
        _ => return Err(vec!["expected a YAML sequence holding exactly one job".into()]),
    };
    let job = &jobs[0];
    let mut problems = Vec::new();
    let text = |key: &str| job.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    for key in ["name", "group", "uuid", "description"] {
        if text(key).trim().is_empty() {
            problems.push(format!("job has no {key}"));
        }
    }
    if text("name").contains('/') {
        problems.push("job name contains '/', which Rundeck reads as a group separator".into());
    }
    if !["DEBUG", "VERBOSE", "INFO", "WARN", "ERROR"].contains(&text("loglevel").as_str()) {
        problems.push("loglevel is not one of DEBUG, VERBOSE, INFO, WARN, ERROR".into());
    }
    if job.get("nodefilters").and_then(|f| f.get("filter")).and_then(Value::as_str).is_none() {
        problems.push("job has no nodefilters.filter".into());
    }
    let options = job.get("options").and_then(Value::as_sequence).cloned().unwrap_or_default();
    let option = |name: &str| options.iter().find(|o| o.get("name").and_then(Value::as_str) == Some(name));
    if option("incident_id").is_none() {
        problems.push("job has no incident_id option".into());
    }
    match option("pd_api_token") {
        Some(token)
            if token.get("secure").and_then(Value::as_bool) == Some(true)
                && token.get("storagePath").and_then(Value::as_str).is_some_and(|p| p.starts_with("keys/"))
                && token.get("value").is_none() => {}
        _ => problems.push("pd_api_token must be a secure option read from a keys/ storage path".into()),
    }
    let sequence = job.get("sequence");
    if sequence.and_then(|s| s.get("keepgoing")).and_then(Value::as_bool).is_none() {
        problems.push("sequence has no keepgoing".into());
    }
    if sequence.and_then(|s| s.get("strategy")).and_then(Value::as_str).is_none() {
        problems.push("sequence has no strategy".into());
    }
    let steps = sequence.and_then(|s| s.get("commands")).and_then(Value::as_sequence).cloned().unwrap_or_default();
    for (index, step) in steps.iter().enumerate() {
        let has_body = ["exec", "script"].iter().any(|k| step.get(k).and_then(Value::as_str).is_some());
        if !has_body || step.get("description").and_then(Value::as_str).is_none() {
            problems.push(format!("step {index} needs a description and an exec or script"));
        }
    }
    if steps.len() < min_diagnostic_steps + 2 {
        problems.push(format!(
            "sequence has {} steps; expected a header, at least {min_diagnostic_steps} diagnostic steps and the note",
            steps.len()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::commands::builtin_commands;
    use serde_json::json;
    use serde_yaml_ng::Value;

    fn alert() -> EventFacts {
        let event = json!({"event_action": "trigger", "payload": {
            "summary": "Checkout API 5xx / error rate above 5% for user@example.com", "severity": "critical",
            "source": "New Relic", "component": "checkout-api",
            "custom_details": {"metric_name": "http_5xx_rate", "current_value": "12.4%", "threshold": "5%",
                "service_name": "Payment Processing", "hostname": "{{ faker.internet.domainName() }}"}}});
        EventFacts::from_event(&event, 3, "major_events_1.json", 3)
    }

    const CONTEXT: JobContext<'static> =
        JobContext { org: "AcmeBank", scenario: "major", token_storage_path: "keys/project/demo/pd-token" };

    #[test]
    fn job_yaml_round_trips_with_the_keys_rundeck_needs() {
        let alert = alert();
        let commands = builtin_commands(&alert);
        let job = build_job(&alert, &commands, CONTEXT);
        let yaml = to_yaml(&job).unwrap();
        check_job_yaml(&yaml, 2).unwrap();

        let parsed: Vec<RundeckJob> = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(parsed, vec![job.clone()], "typed round trip");

        let document: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        let first = &document[0];
        let name = first["name"].as_str().unwrap();
        assert!(name.starts_with("Diagnose: Checkout API 5xx - error rate"), "{name}");
        assert!(!name.contains('/'));
        let description = first["description"].as_str().unwrap();
        assert!(description.contains("\"Checkout API 5xx / error rate above 5%"), "{description}");
        assert!(description.contains("element 3 of `major_events_1.json`"), "{description}");
        assert_eq!(first["group"].as_str(), Some("AcmeBank/diagnostics/major"));
        assert_eq!(first["uuid"], first["id"]);
        assert!(uuid::Uuid::parse_str(first["uuid"].as_str().unwrap()).is_ok());
        assert_eq!(first["loglevel"].as_str(), Some("INFO"));
        assert_eq!(first["executionEnabled"].as_bool(), Some(true));
        assert_eq!(first["nodefilters"]["filter"].as_str(), Some("${option.target_nodes}"));
        let token = first["options"].as_sequence().unwrap().iter().find(|o| o["name"] == "pd_api_token").unwrap();
        assert_eq!(token["secure"].as_bool(), Some(true));
        assert_eq!(token["valueExposed"].as_bool(), Some(true));
        assert_eq!(token["storagePath"].as_str(), Some("keys/project/demo/pd-token"));
        let steps = first["sequence"]["commands"].as_sequence().unwrap();
        assert_eq!(steps.len(), commands.len() + 2);
        for (step, command) in steps[1..steps.len() - 1].iter().zip(&commands) {
            assert!(step["script"].as_str().unwrap().contains(&command.command), "{step:?}");
        }
        let header = steps[0]["script"].as_str().unwrap();
        assert!(header.contains("user(at)example.com"), "alert text cannot inject Rundeck tokens: {header}");
        assert!(header.contains("http_5xx_rate  current: 12.4%  threshold: 5%"));
        let note = steps.last().unwrap()["script"].as_str().unwrap();
        assert!(note.contains("/incidents/$RD_OPTION_INCIDENT_ID/notes") && note.contains("-K -"));
        assert!(
            note.lines().filter(|line| line.contains("curl")).all(|line| !line.contains("PD_API_TOKEN")),
            "the token reaches curl on its standard input, never on its command line"
        );
        assert_eq!(first["sequence"]["pluginConfig"]["LogFilter"][0]["type"].as_str(), Some("mask-passwords"));
    }

    #[test]
    fn the_checker_reports_what_an_import_would_miss() {
        let problems = check_job_yaml("- name: x/y\n  loglevel: LOUD\n  sequence: {commands: [{exec: ls}]}\n", 2)
            .unwrap_err()
            .join("\n");
        for expected in ["no group", "no uuid", "'/'", "loglevel", "nodefilters", "incident_id", "pd_api_token"] {
            assert!(problems.contains(expected), "missing {expected:?} in {problems}");
        }
        assert!(problems.contains("step 0 needs a description"));
        assert!(check_job_yaml("name: [unclosed", 2).unwrap_err()[0].starts_with("not valid YAML"));
        assert!(check_job_yaml("{}", 2).is_err());
    }

    #[test]
    fn every_generated_script_is_valid_shell() {
        for metric in [
            "http_5xx_rate",
            "p99_latency",
            "cpu",
            "memory",
            "db_connections",
            "slow_query",
            "queue_depth",
            "disk_used",
            "ssl_certificate",
            "dns_failures",
            "pod_restarts",
            "cache_hit_ratio",
            "packet_loss",
            "other",
        ] {
            let mut alert = alert();
            alert.metric_name = metric.into();
            let job = build_job(&alert, &builtin_commands(&alert), CONTEXT);
            for step in &job.sequence.commands {
                let output = std::process::Command::new("sh").arg("-n").arg("-c").arg(&step.script).output().unwrap();
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(output.status.success(), "{metric} / {}: {stderr}\n{}", step.description, step.script);
            }
        }
    }

    #[test]
    fn long_names_are_cut() {
        let name = job_name(&"very long summary ".repeat(20));
        assert_eq!(name.chars().count(), MAX_JOB_NAME_CHARS);
        assert!(name.ends_with('…'));
    }
}
