//! Diagnostic command templates by metric kind, used by the built-in provider and whenever a model's steps
//! are unusable. The kind is inferred from the alert's metric name, then its summary, then its custom
//! details, then its component; commands target the alert's service (Kubernetes label `app=<service-slug>`,
//! deployment `<service-slug>`) and host.

use serde::{Deserialize, Serialize};

use super::alert::EventFacts;

/// What an alert measures, as far as choosing diagnostics goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    HttpErrors,
    Latency,
    Cpu,
    Memory,
    DbConnections,
    SlowQueries,
    QueueDepth,
    Disk,
    Certificates,
    Dns,
    PodsAndDeploys,
    Cache,
    Network,
    /// Nothing recognizable: service health, pods, error logs and recent rollouts.
    Generic,
}

impl MetricKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::HttpErrors => "HTTP errors",
            Self::Latency => "latency",
            Self::Cpu => "CPU",
            Self::Memory => "memory",
            Self::DbConnections => "database connections",
            Self::SlowQueries => "slow queries",
            Self::QueueDepth => "queue depth",
            Self::Disk => "disk",
            Self::Certificates => "certificates",
            Self::Dns => "DNS",
            Self::PodsAndDeploys => "pods and deploys",
            Self::Cache => "cache",
            Self::Network => "network",
            Self::Generic => "service health",
        }
    }
}

/// One diagnostic shell command and what it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticCommand {
    pub description: String,
    pub command: String,
}

/// Keyword table, most specific first: "slow queries" must win over "latency", "certificate errors" over
/// "errors". Plain database words come last so a more precise kind wins.
const KEYWORDS: &[(MetricKind, &[&str])] = &[
    (MetricKind::Certificates, &["certificate", "cert expir", "ssl", "tls", "x509", "handshake"]),
    (MetricKind::Dns, &["dns", "nxdomain", "servfail", "name resolution", "resolve host"]),
    (
        MetricKind::SlowQueries,
        &["slow quer", "query time", "query latency", "query duration", "deadlock", "lock wait", "long running quer"],
    ),
    (
        MetricKind::DbConnections,
        &[
            "connection pool",
            "db connection",
            "database connection",
            "pool exhaust",
            "max connections",
            "too many connections",
            "active connections",
            "db conn",
        ],
    ),
    (
        MetricKind::QueueDepth,
        &["queue", "backlog", "consumer lag", "kafka", "rabbitmq", "sqs", "dead letter", "messages pending"],
    ),
    (MetricKind::Disk, &["disk", "inode", "filesystem", "file system", "volume", "iops", "no space"]),
    (MetricKind::Memory, &["memory", "oom", "heap", "out of memory", "rss", "swap", "gc pause", "garbage collect"]),
    (MetricKind::Cpu, &["cpu", "load average", "throttl"]),
    (
        MetricKind::PodsAndDeploys,
        &["pod", "crashloop", "container", "restart", "deploy", "replica", "kubernetes", "k8s", "rollout"],
    ),
    (MetricKind::Cache, &["cache", "redis", "memcache", "evict", "hit ratio", "hit rate"]),
    (
        MetricKind::Latency,
        &["latency", "response time", "p95", "p99", "slow", "timeout", "timed out", "apdex", "duration"],
    ),
    (
        MetricKind::HttpErrors,
        &[
            "5xx",
            "4xx",
            "error rate",
            "http",
            "status code",
            "500",
            "502",
            "503",
            "504",
            "error",
            "failure",
            "failed",
            "exception",
        ],
    ),
    (MetricKind::Network, &["packet", "network", "bandwidth", "throughput", "tcp", "unreachable"]),
    (MetricKind::DbConnections, &["database", "postgres", "mysql", "sql", "db "]),
];

fn kind_in(text: &str) -> Option<MetricKind> {
    if text.trim().is_empty() {
        return None;
    }
    // Keywords match at the start of a word, so "oom" finds "OOMKilled" but not "room".
    let words: String = text.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let text = format!(" {words} ");
    KEYWORDS
        .iter()
        .find(|(_, keywords)| keywords.iter().any(|keyword| text.contains(&format!(" {keyword}"))))
        .map(|(kind, _)| *kind)
}

/// The alert's metric kind: the first of metric name, summary, custom details and component that names one.
pub fn classify(alert: &EventFacts) -> MetricKind {
    [&alert.metric_name, &alert.summary, &alert.detail_words, &alert.component]
        .into_iter()
        .find_map(|text| kind_in(text))
        .unwrap_or(MetricKind::Generic)
}

/// Built-in diagnostic commands for an alert: three or four commands of its metric kind, each aimed at the
/// alert's service or host.
pub fn builtin_commands(alert: &EventFacts) -> Vec<DiagnosticCommand> {
    let slug = alert.service_slug();
    let host = alert.target_host();
    let service = if alert.service_name.is_empty() { slug.clone() } else { alert.service_name.clone() };
    let metric =
        if alert.metric_name.is_empty() { classify(alert).label().to_owned() } else { alert.metric_name.clone() };
    let step = |description: String, command: String| DiagnosticCommand { description, command };
    let pods = || {
        step(
            format!("Pods of {service}: status, restarts and nodes"),
            format!("kubectl get pods -n production -l app={slug} -o wide"),
        )
    };
    let rollouts = || {
        step(
            format!("Recent rollouts of {service} (a change often precedes the alert)"),
            format!("kubectl rollout history -n production deployment/{slug} | tail -n 6"),
        )
    };
    let error_logs = || {
        step(
            format!("Most frequent error lines of {service} in the last 15 minutes"),
            format!(
                "kubectl logs -n production deployment/{slug} --since=15m --tail=5000 \
                 | grep -iE 'error|exception|fatal' | sort | uniq -c | sort -rn | head -n 20"
            ),
        )
    };
    let health = || {
        step(
            format!("Probe the health endpoint of {service} at {host}"),
            format!(
                "curl -sS -o /dev/null --max-time 10 \
                 -w 'status=%{{http_code}} connect=%{{time_connect}}s total=%{{time_total}}s\\n' https://{host}/health"
            ),
        )
    };
    match classify(alert) {
        MetricKind::HttpErrors => vec![
            health(),
            step(
                format!("Count HTTP 5xx responses of {service} in the last 15 minutes ({metric})"),
                format!(
                    "kubectl logs -n production deployment/{slug} --since=15m --tail=20000 \
                     | grep -cE '\" 5[0-9]{{2}} |status=5[0-9]{{2}}|\"status\":5[0-9]{{2}}'"
                ),
            ),
            error_logs(),
            rollouts(),
        ],
        MetricKind::Latency => vec![
            step(
                format!("Time five requests to {host}: connect, first byte and total ({metric})"),
                format!(
                    "for attempt in 1 2 3 4 5; do curl -sS -o /dev/null --max-time 15 \
                     -w 'connect=%{{time_connect}}s first_byte=%{{time_starttransfer}}s total=%{{time_total}}s\\n' \
                     https://{host}/health; done"
                ),
            ),
            step(
                format!("CPU and memory of the {service} pods (saturation shows up as latency)"),
                format!("kubectl top pods -n production -l app={slug} --sort-by=cpu"),
            ),
            step(
                format!("Timeouts and slow requests logged by {service} in the last 15 minutes"),
                format!(
                    "kubectl logs -n production deployment/{slug} --since=15m --tail=5000 \
                     | grep -iE 'timeout|timed out|slow|deadline exceeded' | tail -n 40"
                ),
            ),
        ],
        MetricKind::Cpu => vec![
            step(
                format!("CPU of the {service} pods, busiest first ({metric})"),
                format!("kubectl top pods -n production -l app={slug} --sort-by=cpu"),
            ),
            step(
                format!("Busiest processes inside {service}"),
                format!("kubectl exec -n production deployment/{slug} -- top -b -n 1 | head -n 20"),
            ),
            step(
                format!("CPU throttling of {service} containers (cgroup statistics)"),
                format!("kubectl exec -n production deployment/{slug} -- cat /sys/fs/cgroup/cpu.stat"),
            ),
            step(format!("Load average and run queue of {host}"), "uptime; vmstat 1 5".to_owned()),
        ],
        MetricKind::Memory => vec![
            step(
                format!("Memory of the {service} pods, largest first ({metric})"),
                format!("kubectl top pods -n production -l app={slug} --sort-by=memory"),
            ),
            step(
                format!("Containers of {service} last terminated by the OOM killer"),
                format!(
                    "kubectl get pods -n production -l app={slug} -o jsonpath='{{range .items[*]}}{{.metadata.name}} \
                     restarts={{.status.containerStatuses[0].restartCount}} \
                     last={{.status.containerStatuses[0].lastState.terminated.reason}}{{\"\\n\"}}{{end}}'"
                ),
            ),
            step(
                format!("Largest processes inside {service} by resident memory"),
                format!("kubectl exec -n production deployment/{slug} -- ps aux --sort=-rss | head -n 15"),
            ),
        ],
        MetricKind::DbConnections => vec![
            step(
                format!("Connections to the {service} database by state ({metric})"),
                format!(
                    "psql -h {host} -X -c \"select state, count(*) from pg_stat_activity group by state order by 2 desc;\""
                ),
            ),
            step(
                format!("Connection limit of the {service} database and current use"),
                format!(
                    "psql -h {host} -X -c \"select count(*) as used, current_setting('max_connections') as max \
                     from pg_stat_activity;\""
                ),
            ),
            step(
                format!("Clients holding the most connections to {host}"),
                format!(
                    "psql -h {host} -X -c \"select application_name, client_addr, count(*) from pg_stat_activity \
                     group by 1, 2 order by 3 desc limit 10;\""
                ),
            ),
            step(
                format!("Connection pool errors logged by {service}"),
                format!(
                    "kubectl logs -n production deployment/{slug} --since=15m --tail=5000 \
                     | grep -iE 'pool|too many connections|connection refused|timeout acquiring' | tail -n 30"
                ),
            ),
        ],
        MetricKind::SlowQueries => vec![
            step(
                format!("Statements of the {service} database with the highest mean time ({metric})"),
                format!(
                    "psql -h {host} -X -c \"select left(query, 100) as query, calls, round(mean_exec_time::numeric, 1) \
                     as mean_ms from pg_stat_statements order by mean_exec_time desc limit 10;\""
                ),
            ),
            step(
                format!("Longest-running active queries on {host}"),
                format!(
                    "psql -h {host} -X -c \"select pid, now() - query_start as age, wait_event_type, left(query, 100) \
                     from pg_stat_activity where state = 'active' order by age desc limit 15;\""
                ),
            ),
            step(
                format!("Blocked sessions and who blocks them on {host}"),
                format!(
                    "psql -h {host} -X -c \"select pid, pg_blocking_pids(pid) as blocked_by, left(query, 80) \
                     from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0;\""
                ),
            ),
        ],
        MetricKind::QueueDepth => vec![
            step(
                format!("Consumer lag of the {service} consumer group ({metric})"),
                format!(
                    "kafka-consumer-groups.sh --bootstrap-server \"${{KAFKA_BOOTSTRAP:-localhost:9092}}\" \
                     --describe --group {slug}"
                ),
            ),
            step(
                format!("Deepest RabbitMQ queues and their consumers ({service})"),
                format!(
                    "rabbitmqctl list_queues name messages messages_unacknowledged consumers \
                     | grep -i '{slug}' | sort -k2 -nr | head -n 15"
                ),
            ),
            step(format!("Consumer pods of {service}: running and restarting"), {
                format!("kubectl get pods -n production -l app={slug} -o wide")
            }),
        ],
        MetricKind::Disk => vec![
            step(
                format!("Disk space inside {service} ({metric})"),
                format!("kubectl exec -n production deployment/{slug} -- df -h"),
            ),
            step(format!("Free inodes inside {service}"), format!("kubectl exec -n production deployment/{slug} -- df -i")),
            step(
                format!("Persistent volume claims of {service} and their capacity"),
                format!("kubectl get pvc -n production -l app={slug} -o wide"),
            ),
            step(
                format!("Largest log directories on {host}"),
                "du -xh /var/log 2>/dev/null | sort -rh | head -n 15".to_owned(),
            ),
        ],
        MetricKind::Certificates => vec![
            step(
                format!("Certificate served by {host}: subject, issuer and validity dates ({metric})"),
                format!(
                    "echo | openssl s_client -connect {host}:443 -servername {host} 2>/dev/null \
                     | openssl x509 -noout -subject -issuer -dates"
                ),
            ),
            step(
                format!("TLS handshake with {host} as a client sees it"),
                format!("curl -sSv --max-time 10 -o /dev/null https://{host}/ 2>&1 | grep -iE 'SSL|TLS|expire|subject|issuer'"),
            ),
            step(
                format!("cert-manager certificates of {service} and their readiness"),
                format!("kubectl get certificate -n production -o wide | grep -iE 'NAME|{slug}'"),
            ),
        ],
        MetricKind::Dns => vec![
            step(format!("Resolve {host} through the configured resolver ({metric})"), format!("dig +short {host}")),
            step(format!("Resolve {host} the way applications do (NSS)"), format!("getent hosts {host}")),
            step("Resolver configuration of this node".to_owned(), "cat /etc/resolv.conf".to_owned()),
            step(
                "Cluster DNS pods: status and restarts".to_owned(),
                "kubectl get pods -n kube-system -l k8s-app=kube-dns -o wide".to_owned(),
            ),
        ],
        MetricKind::PodsAndDeploys => vec![
            pods(),
            step(
                format!("Rollout status and conditions of {service} ({metric})"),
                format!("kubectl describe deployment -n production {slug} | tail -n 30"),
            ),
            rollouts(),
            step(
                format!("Recent cluster events about {service}"),
                format!("kubectl get events -n production --sort-by=.lastTimestamp | grep -i '{slug}' | tail -n 25"),
            ),
        ],
        MetricKind::Cache => vec![
            step(
                format!("Hit, miss and eviction counters of the {service} cache ({metric})"),
                format!("redis-cli -h {host} info stats | grep -E 'keyspace_hits|keyspace_misses|evicted_keys'"),
            ),
            step(
                format!("Memory use and limit of the {service} cache"),
                format!("redis-cli -h {host} info memory | grep -E 'used_memory_human|maxmemory_human|fragmentation'"),
            ),
            step(format!("Round-trip latency to the cache at {host}"), format!("timeout 5 redis-cli -h {host} --latency")),
        ],
        MetricKind::Network => vec![
            step(format!("Packet loss and round trip to {host} ({metric})"), format!("ping -c 5 {host}")),
            step(format!("Route to {host}"), format!("traceroute -n -w 2 -q 1 {host}")),
            step(format!("Socket summary on this {service} node"), "ss -s".to_owned()),
        ],
        MetricKind::Generic => vec![health(), pods(), error_logs(), rollouts()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(metric: &str, summary: &str, component: &str) -> EventFacts {
        let event = json!({"event_action": "trigger", "payload": {"summary": summary, "severity": "error",
            "component": component, "custom_details": {"metric_name": metric, "service_name": "Payment Processing"}}});
        EventFacts::from_event(&event, 0, "f.json", 0)
    }

    #[test]
    fn metric_name_wins_then_summary_then_details_then_component() {
        assert_eq!(classify(&alert("db_connection_pool_usage", "Checkout errors", "")), MetricKind::DbConnections);
        assert_eq!(classify(&alert("", "Slow queries on orders DB", "API")), MetricKind::SlowQueries);
        assert_eq!(classify(&alert("", "TLS handshake errors on edge", "")), MetricKind::Certificates);
        assert_eq!(classify(&alert("http.server.5xx", "", "")), MetricKind::HttpErrors);
        assert_eq!(classify(&alert("", "p99 latency above objective", "")), MetricKind::Latency);
        assert_eq!(classify(&alert("", "Something odd happened", "Storage volume")), MetricKind::Disk);
        assert_eq!(classify(&alert("", "Something odd happened", "Gateway")), MetricKind::Generic);
        assert_eq!(classify(&alert("", "Room booking page slow", "")), MetricKind::Latency, "words, not substrings");
        assert_eq!(classify(&alert("", "Checkout pods OOMKilled", "")), MetricKind::Memory);
        let old = json!({"event_action": "trigger", "payload": {"summary": "DataDog detected an overload",
            "severity": "critical", "custom_details": {"service_name": "Catalog", "cache_overload": true}}});
        assert_eq!(classify(&EventFacts::from_event(&old, 0, "f", 0)), MetricKind::Cache);
    }

    #[test]
    fn every_kind_has_at_least_two_commands_aimed_at_the_service() {
        let cases = [
            "http_5xx_rate",
            "p99_latency_ms",
            "cpu_utilization",
            "memory_rss",
            "db_connections_active",
            "slow_query_count",
            "queue_depth",
            "disk_used_percent",
            "ssl_certificate_days_left",
            "dns_lookup_failures",
            "pod_restarts",
            "cache_hit_ratio",
            "packet_loss",
            "unknown_thing",
        ];
        for metric in cases {
            let alert = alert(metric, "", "");
            let commands = builtin_commands(&alert);
            assert!(commands.len() >= 3, "{metric}: {commands:?}");
            let aimed = commands
                .iter()
                .filter(|c| c.command.contains("payment-processing") || c.command.contains(&alert.target_host()))
                .count();
            assert!(aimed >= 2, "{metric}: only {aimed} commands target the service: {commands:?}");
            assert!(commands.iter().all(|c| !c.description.is_empty() && !c.command.contains('@')), "{metric}");
        }
    }
}
