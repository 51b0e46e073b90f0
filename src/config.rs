//! Command line and environment configuration. Every flag has an environment twin so tests and deployments
//! can configure the binary without arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// PagerDuty's US endpoint for alert events.
pub const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty's US endpoint for change events.
pub const DEFAULT_CHANGE_EVENTS_URL: &str = "https://events.pagerduty.com/v2/change/enqueue";

#[derive(Debug, Parser)]
#[command(name = "demogen", version, about = "gRPC service that generates and plays PagerDuty demo incidents")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings used when no subcommand is given (same as `serve`).
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (the default).
    Serve(ServeConfig),
}

impl Cli {
    /// The server settings, whether given with or without the `serve` subcommand.
    pub fn into_serve_config(self) -> ServeConfig {
        match self.command {
            Some(Command::Serve(config)) => config,
            None => self.serve,
        }
    }
}

/// Which generation provider to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LlmMode {
    /// `openai` when OPENAI_API_KEY is set, else `builtin`.
    Auto,
    /// The offline built-in generator.
    Builtin,
    /// Any OpenAI-compatible chat-completions server.
    Openai,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the server needs. Secrets are kept out of `Debug` output.
#[derive(Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 binds a free port.
    #[arg(long, env = "DEMOGEN_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: SocketAddr,

    /// Root folder of the per-organization files.
    #[arg(long, env = "DEMOGEN_DATA_DIR", default_value = "generated_files")]
    pub data_dir: PathBuf,

    /// Folder of prompt files; missing files fall back to the copies compiled into the binary.
    #[arg(long, env = "DEMOGEN_PROMPTS_DIR", default_value = "prompts")]
    pub prompts_dir: PathBuf,

    /// Generation provider.
    #[arg(long, env = "DEMOGEN_LLM", value_enum, default_value = "auto")]
    pub llm: LlmMode,

    /// API key of the OpenAI-compatible server (never logged).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,

    /// Base URL of the OpenAI-compatible server, including `/v1`.
    #[arg(long, env = "OPENAI_BASE_URL", default_value = "https://api.openai.com/v1")]
    pub openai_base_url: String,

    /// Chat model name.
    #[arg(long, env = "OPENAI_MODEL", default_value = "o3-mini")]
    pub openai_model: String,

    /// Sampling temperature (not sent to reasoning models, which reject it).
    #[arg(long, env = "OPENAI_TEMP", default_value_t = 1.0)]
    pub openai_temp: f32,

    /// Completion token limit (`max_completion_tokens` for reasoning models, `max_tokens` otherwise).
    #[arg(long, env = "OPENAI_MAX_TOKENS", default_value_t = 16384)]
    pub openai_max_tokens: u32,

    /// Total time allowed for one LLM request, in seconds.
    #[arg(long, env = "DEMOGEN_LLM_TIMEOUT_S", value_parser = parse_seconds, default_value_t = 180.0)]
    pub llm_timeout_s: f64,

    /// Time allowed to connect to the LLM server, in seconds.
    #[arg(long, env = "DEMOGEN_LLM_CONNECT_TIMEOUT_S", value_parser = parse_seconds, default_value_t = 10.0)]
    pub llm_connect_timeout_s: f64,

    /// Retries of one LLM request after a transport failure, 429 or 5xx.
    #[arg(long, env = "DEMOGEN_LLM_RETRIES", default_value_t = 3)]
    pub llm_retries: u32,

    /// LLM calls in flight at once, server-wide.
    #[arg(long, env = "DEMOGEN_LLM_CONCURRENCY", default_value_t = 8)]
    pub llm_concurrency: usize,

    /// PagerDuty Events API v2 endpoint.
    #[arg(long, env = "DEMOGEN_EVENTS_URL", default_value = DEFAULT_EVENTS_URL)]
    pub events_url: String,

    /// PagerDuty Change Events endpoint.
    #[arg(long, env = "DEMOGEN_CHANGE_EVENTS_URL", default_value = DEFAULT_CHANGE_EVENTS_URL)]
    pub change_events_url: String,

    /// Retries of one send after a 429, 5xx, timeout or connection error.
    #[arg(long, env = "DEMOGEN_SEND_RETRIES", default_value_t = 5)]
    pub send_retries: u32,

    /// Total time allowed for one PagerDuty request, in seconds.
    #[arg(long, env = "DEMOGEN_SEND_TIMEOUT_S", value_parser = parse_seconds, default_value_t = 10.0)]
    pub send_timeout_s: f64,

    /// First retry delay of a send, in seconds; doubles each retry (with jitter) up to 30 s.
    #[arg(long, env = "DEMOGEN_SEND_BACKOFF_S", value_parser = parse_seconds, default_value_t = 1.0)]
    pub send_backoff_s: f64,

    /// SendEvents runs active at once, server-wide; more answer RESOURCE_EXHAUSTED.
    #[arg(long, env = "DEMOGEN_MAX_ACTIVE_SENDS", default_value_t = 8)]
    pub max_active_sends: usize,

    /// Rundeck key storage path of the PagerDuty REST API token that generated diagnostic jobs use to post
    /// their evidence to the incident (the jobs hold only this path, never the token).
    #[arg(long, env = "DEMOGEN_RUNDECK_TOKEN_PATH", default_value = "keys/demogen/pagerduty-api-token")]
    pub rundeck_token_path: String,

    /// Largest file read or written, in bytes.
    #[arg(long, env = "DEMOGEN_MAX_FILE_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_file_bytes: u64,

    /// Time allowed for open calls to finish on shutdown, in seconds.
    #[arg(long, env = "DEMOGEN_SHUTDOWN_GRACE_S", value_parser = parse_seconds, default_value_t = 10.0)]
    pub shutdown_grace_s: f64,

    /// Log format (filter with RUST_LOG).
    #[arg(long, env = "DEMOGEN_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("prompts_dir", &self.prompts_dir)
            .field("llm", &self.llm)
            .field("openai_api_key", &self.openai_api_key.as_ref().map(|_| "<redacted>"))
            .field("openai_base_url", &self.openai_base_url)
            .field("openai_model", &self.openai_model)
            .field("events_url", &self.events_url)
            .field("change_events_url", &self.change_events_url)
            .field("rundeck_token_path", &self.rundeck_token_path)
            .finish_non_exhaustive()
    }
}

impl ServeConfig {
    /// Defaults as if started with no flags and no environment, for tests and embedding.
    pub fn defaults() -> Self {
        let cli = Cli::try_parse_from(["demogen"]).expect("defaults parse");
        cli.into_serve_config()
    }

    /// The provider `auto` resolves to.
    pub fn effective_llm(&self) -> LlmMode {
        match self.llm {
            LlmMode::Auto if self.openai_api_key.as_deref().is_some_and(|k| !k.is_empty()) => LlmMode::Openai,
            LlmMode::Auto => LlmMode::Builtin,
            other => other,
        }
    }

    pub fn llm_timeout(&self) -> Duration {
        seconds(self.llm_timeout_s, 0.001)
    }

    pub fn llm_connect_timeout(&self) -> Duration {
        seconds(self.llm_connect_timeout_s, 0.001)
    }

    pub fn send_timeout(&self) -> Duration {
        seconds(self.send_timeout_s, 0.001)
    }

    pub fn send_backoff(&self) -> Duration {
        seconds(self.send_backoff_s, 0.0)
    }

    pub fn shutdown_grace(&self) -> Duration {
        seconds(self.shutdown_grace_s, 0.0)
    }
}

/// Longest duration any seconds setting may have: one day.
const MAX_SECONDS: f64 = 86_400.0;

/// Parses a seconds flag: a finite number from 0 to one day.
fn parse_seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if value.is_finite() && (0.0..=MAX_SECONDS).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text:?} must be from 0 to {MAX_SECONDS} seconds"))
    }
}

/// A seconds setting as a duration, kept inside [floor, one day] so no value can panic the conversion.
fn seconds(value: f64, floor: f64) -> Duration {
    let value = if value.is_nan() { floor } else { value.clamp(floor, MAX_SECONDS) };
    Duration::from_secs_f64(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_flags_refuse_infinite_and_huge_values() {
        for bad in ["inf", "1e30", "-1", "NaN", "soon"] {
            let parsed = Cli::try_parse_from(["demogen", "serve", "--send-timeout-s", bad]);
            assert!(parsed.is_err(), "{bad} must be refused");
        }
        let config = Cli::try_parse_from(["demogen", "--shutdown-grace-s", "2.5"]).unwrap().into_serve_config();
        assert_eq!(config.shutdown_grace(), Duration::from_millis(2500));
        let mut config = ServeConfig::defaults();
        config.llm_timeout_s = f64::INFINITY;
        config.send_backoff_s = f64::NAN;
        assert_eq!(config.llm_timeout(), Duration::from_secs(86_400));
        assert_eq!(config.send_backoff(), Duration::ZERO);
    }
}
