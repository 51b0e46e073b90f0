//! Alert signals and how each observability tool words an alert about them: a Datadog monitor title reads
//! differently from a Splunk saved-search alert, a New Relic condition or a Prometheus rule.

use crate::scenario::validate::slug;

/// Something a monitor can measure going wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    /// Human title, e.g. "High p99 latency".
    pub title: &'static str,
    /// CamelCase rule name, as Prometheus or Splunk would call it.
    pub rule: &'static str,
    pub metric: &'static str,
    pub unit: &'static str,
    pub threshold: u32,
    /// How far past the threshold a firing value typically is, in percent of the threshold.
    pub overshoot_percent: u32,
    /// Whether a low value is the problem (success rates, hit ratios).
    pub below: bool,
}

const fn signal(
    title: &'static str,
    rule: &'static str,
    metric: &'static str,
    unit: &'static str,
    threshold: u32,
    overshoot_percent: u32,
    below: bool,
) -> Signal {
    Signal { title, rule, metric, unit, threshold, overshoot_percent, below }
}

/// Early signs: saturation and slowness before anything breaks.
pub const LEADING_SIGNALS: &[Signal] = &[
    signal("Elevated p99 latency", "HighP99Latency", "http.server.request.duration.p99", "ms", 800, 180, false),
    signal("Connection pool saturation", "ConnectionPoolSaturated", "db.client.connections.usage", "%", 85, 15, false),
    signal("Thread pool queue growing", "ThreadPoolQueueBacklog", "jvm.threads.queue_depth", "tasks", 200, 250, false),
    signal("Cache hit ratio dropping", "CacheHitRatioLow", "cache.hit_ratio", "%", 90, 40, true),
    signal("Garbage collection pauses rising", "LongGcPauses", "jvm.gc.pause.p95", "ms", 250, 160, false),
    signal(
        "Message queue consumer lag",
        "ConsumerLagHigh",
        "messaging.kafka.consumer.lag",
        "messages",
        5000,
        400,
        false,
    ),
    signal("CPU utilization high", "HighCpuUtilization", "system.cpu.utilization", "%", 80, 18, false),
    signal("Memory pressure", "MemoryPressureHigh", "container.memory.working_set", "%", 85, 12, false),
];

/// The fault itself and what it knocks over.
pub const FAILURE_SIGNALS: &[Signal] = &[
    signal("HTTP 5xx error rate spike", "High5xxErrorRate", "http.server.errors.rate", "%", 2, 900, false),
    signal(
        "Database connection timeouts",
        "DbConnectionTimeouts",
        "db.client.connection.timeouts",
        "per min",
        10,
        1200,
        false,
    ),
    signal("Health check failing", "HealthCheckFailing", "synthetics.check.success", "%", 95, 60, true),
    signal("Pods in CrashLoopBackOff", "KubePodCrashLooping", "kube.pod.container.restarts", "restarts", 3, 500, false),
    signal("Login success rate collapse", "LoginSuccessRateLow", "auth.login.success_rate", "%", 97, 45, true),
    signal("Upstream dependency timeouts", "UpstreamTimeouts", "http.client.timeouts", "per min", 20, 800, false),
    signal("Transaction throughput drop", "ThroughputDrop", "business.transactions.rate", "per min", 1000, 70, true),
    signal("Replication lag", "ReplicationLagHigh", "db.replication.lag", "s", 30, 900, false),
    signal("Circuit breaker open", "CircuitBreakerOpen", "resilience.circuit_breaker.open", "breakers", 1, 300, false),
    signal("Disk latency spike", "DiskLatencyHigh", "disk.io.await", "ms", 20, 600, false),
];

/// Mild, self-healing signals of a well-understood incident.
pub const MINOR_SIGNALS: &[Signal] = &[
    signal("Disk usage above threshold", "DiskUsageHigh", "filesystem.used_percent", "%", 85, 10, false),
    signal("Snapshot backlog growing", "SnapshotBacklog", "storage.snapshot.pending", "jobs", 50, 120, false),
    signal("Volume IOPS throttled", "VolumeIopsThrottled", "storage.volume.throttled_ops", "per min", 100, 150, false),
    signal("Node memory above baseline", "NodeMemoryAboveBaseline", "system.memory.used_percent", "%", 80, 10, false),
    signal(
        "Certificate expiring soon",
        "CertificateExpiringSoon",
        "tls.certificate.days_remaining",
        "days",
        14,
        50,
        true,
    ),
];

impl Signal {
    /// The value a firing alert reports, as text with its unit.
    pub fn firing_value(&self, jitter_percent: u32) -> String {
        let threshold = u64::from(self.threshold);
        let value = if self.below {
            let drop = u64::from(self.overshoot_percent.min(95) + jitter_percent % 5);
            threshold.saturating_sub(threshold * drop.min(99) / 100).max(if self.unit == "%" { 1 } else { 0 })
        } else {
            threshold + (threshold * u64::from(self.overshoot_percent + jitter_percent)).div_ceil(100)
        };
        format!("{value} {}", self.unit)
    }

    pub fn threshold_text(&self) -> String {
        let comparison = if self.below { "<" } else { ">" };
        format!("{comparison} {} {}", self.threshold, self.unit)
    }
}

/// The alert title `tool` would write for `signal` on `system` (a component of `service`) at `severity`.
pub fn alert_title(tool: &str, signal: &Signal, system: &str, service: &str, value: &str, severity: &str) -> String {
    let serious = matches!(severity, "critical" | "error");
    let system_slug = slug(system);
    let service_slug = slug(service);
    let threshold = signal.threshold_text();
    let lower = tool.to_ascii_lowercase();
    if lower.contains("datadog") {
        format!(
            "[{}] {} on service:{system_slug} (env:prod) - {} {value} {threshold}",
            if serious { "Triggered" } else { "Warn" },
            signal.title,
            signal.metric
        )
    } else if lower.contains("splunk") {
        format!(
            "Splunk Alert: {}_{} - search returned results for index=prod sourcetype={system_slug} (service={service_slug})",
            service_slug.replace('-', "_"),
            signal.rule
        )
    } else if lower.contains("new relic") || lower.contains("newrelic") {
        format!(
            "{}: '{}' condition violated for {system} in policy '{service} Golden Signals' ({value}, threshold {threshold} for 5 minutes)",
            if serious { "Critical" } else { "Warning" },
            signal.title
        )
    } else if lower.contains("prometheus") || lower.contains("alertmanager") {
        format!("[FIRING:1] {} {system_slug} (namespace=prod, service={service_slug}, value={value})", signal.rule)
    } else if lower.contains("grafana") {
        format!("[Alerting] {system}: {} - {} is {value} ({threshold})", signal.title, signal.metric)
    } else if lower.contains("dynatrace") {
        format!("Dynatrace problem: {} on {system} - {} {value} affects {service}", signal.title, signal.metric)
    } else if lower.contains("cloudwatch") || lower.contains("aws") {
        format!(
            "ALARM: \"{system_slug}-{}\" in US East (N. Virginia) - {} {value} {threshold}",
            slug(signal.rule),
            signal.metric
        )
    } else if lower.contains("elastic") || lower.contains("kibana") {
        format!(
            "Elastic rule '{} threshold' triggered for {system_slug}: {} {value} {threshold}",
            signal.title, signal.metric
        )
    } else if lower.contains("appdynamics") {
        format!("AppDynamics health rule violation: {} - business transaction on {system} ({value})", signal.title)
    } else if lower.contains("nagios") || lower.contains("zabbix") || lower.contains("icinga") {
        format!("PROBLEM: {system_slug}/{} is CRITICAL - {} {value} {threshold}", slug(signal.rule), signal.metric)
    } else if lower.contains("azure") {
        format!(
            "Fired: Sev2 Azure Monitor alert '{}' on {system_slug} - {} {value} {threshold}",
            signal.rule, signal.metric
        )
    } else if lower.contains("sentry") {
        format!("{}: spike in issues on {system_slug} ({value}, alert rule {threshold})", signal.rule)
    } else {
        format!("{tool}: {} on {system} - {} {value} ({threshold})", signal.title, signal.metric)
    }
}
