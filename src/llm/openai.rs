//! `ChatModel` over any OpenAI-compatible chat-completions server (OpenAI, gateways, Ollama, vLLM, LM Studio)
//! through async-openai.
//!
//! Decisions made here and nowhere else:
//! - Base URL, key and model come only from `ServeConfig`; async-openai's environment defaults are overridden.
//! - Our own reqwest client carries the connect and total timeouts (async-openai's has none).
//! - Retries: async-openai's built-in retry layer is replaced by a bare `ReqwestService`, so requests go
//!   through the shared `crate::retry::RetryPolicy` only (`llm_retries` retries, backoff with jitter capped at
//!   `MAX_BACKOFF`). Which failures are retryable is decided here (`classify`): connect failures, 429 (except
//!   `insufficient_quota`) and 5xx are; a request that hit the total timeout is not (a hanging server would
//!   otherwise hold a Generate for several timeouts).
//! - Non-2xx answers never reach async-openai's parser: `StatusCheckedService` turns them into an
//!   `HttpStatusError` carrying the status, so a plain-text 429 or an HTML 404 is judged by its status, not
//!   mistaken for a malformed chat completion.
//! - Upstream text (error bodies, transport errors) is passed through `redact` before it is logged or returned:
//!   gateways echo the Authorization header, and the key must never leave this process.
//! - Model quirks are one capability check (`ModelCapabilities::of`), not scattered conditions.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest, ResponseFormat,
};
use async_openai::Client;

use tokio_util::sync::CancellationToken;

use super::{ChatModel, ChatRequest, ChatRole, LlmError};
use crate::config::ServeConfig;
use crate::retry::{Attempt, RetryPolicy};

/// First retry delay; doubles per retry up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(400);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Everything the OpenAI-compatible model needs; built from `ServeConfig` only.
#[derive(Clone)]
pub struct OpenAiSettings {
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub retries: u32,
    pub first_backoff: Duration,
}

impl std::fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl OpenAiSettings {
    /// The settings of `config`, or `None` when no API key is configured.
    pub fn from_config(config: &ServeConfig) -> Option<Self> {
        let api_key = config.openai_api_key.as_deref().map(str::trim).filter(|key| !key.is_empty())?;
        Some(Self {
            base_url: config.openai_base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            model: config.openai_model.clone(),
            temperature: config.openai_temp,
            max_tokens: config.openai_max_tokens,
            connect_timeout: config.llm_connect_timeout(),
            total_timeout: config.llm_timeout(),
            retries: config.llm_retries,
            first_backoff: FIRST_BACKOFF,
        })
    }
}

/// What a model accepts, decided from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelCapabilities {
    /// Reasoning models (o1/o3/o4… and gpt-5) reject `temperature` and `max_tokens`; they take
    /// `max_completion_tokens`.
    pub reasoning: bool,
}

impl ModelCapabilities {
    pub fn of(model: &str) -> Self {
        // Gateways prefix models with a vendor path, e.g. `openai/o3-mini`.
        let name = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
        let o_series = name.strip_prefix('o').is_some_and(|rest| {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            digits > 0 && rest[digits..].chars().next().is_none_or(|c| c == '-')
        });
        let gpt5 = name == "gpt-5" || name.starts_with("gpt-5-") || name.starts_with("gpt-5.");
        Self { reasoning: o_series || gpt5 }
    }
}

/// An OpenAI-compatible chat model.
pub struct OpenAiChatModel {
    client: Client<OpenAIConfig>,
    settings: OpenAiSettings,
    capabilities: ModelCapabilities,
    retry_policy: RetryPolicy,
}

impl std::fmt::Debug for OpenAiChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiChatModel").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl OpenAiChatModel {
    pub fn new(settings: OpenAiSettings) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout)
            .build()
            .map_err(|error| LlmError::Rejected(format!("cannot build the HTTP client: {error}")))?;
        let config = OpenAIConfig::new()
            .with_api_base(&settings.base_url)
            .with_api_key(&settings.api_key)
            .with_org_id("")
            .with_project_id("");
        // Our own service replaces async-openai's default stack, which retries on its own.
        let client = Client::build(http.clone(), config).with_http_service(status_checked_service(http));
        let capabilities = ModelCapabilities::of(&settings.model);
        let retry_policy = RetryPolicy::new(settings.retries, settings.first_backoff).with_max_delay(MAX_BACKOFF);
        Ok(Self { client, settings, capabilities, retry_policy })
    }

    fn build_request(&self, request: &ChatRequest) -> CreateChatCompletionRequest {
        let messages = request
            .messages
            .iter()
            .map(|message| match message.role {
                ChatRole::System => ChatCompletionRequestSystemMessage::from(message.content.as_str()).into(),
                ChatRole::User => ChatCompletionRequestUserMessage::from(message.content.as_str()).into(),
                ChatRole::Assistant => ChatCompletionRequestAssistantMessage::from(message.content.as_str()).into(),
            })
            .collect::<Vec<ChatCompletionRequestMessage>>();
        let mut body = CreateChatCompletionRequest {
            model: self.settings.model.clone(),
            messages,
            // JSON-object mode is what every OpenAI-compatible server understands; the exact shape is described
            // in the prompt and checked by the validator.
            response_format: request.json_schema.as_ref().map(|_| ResponseFormat::JsonObject),
            ..Default::default()
        };
        if self.capabilities.reasoning {
            body.max_completion_tokens = Some(self.settings.max_tokens);
        } else {
            body.temperature = Some(self.settings.temperature);
            #[allow(deprecated)]
            {
                body.max_tokens = Some(self.settings.max_tokens);
            }
        }
        body
    }

    /// One HTTP request, judged for the shared retry policy.
    async fn attempt(&self, body: &CreateChatCompletionRequest) -> Attempt<Result<String, LlmError>> {
        let response = match self.client.chat().create(body.clone()).await {
            Ok(response) => response,
            Err(error) => return classify(error, &self.settings),
        };
        let choice = response.choices.into_iter().next();
        match choice.and_then(|choice| choice.message.content) {
            Some(content) if !content.trim().is_empty() => Attempt::Done(Ok(content)),
            _ => Attempt::Done(Err(LlmError::BadAnswer("the answer had no text content".into()))),
        }
    }
}

/// A non-2xx answer, caught before async-openai tries to read it as JSON.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}")]
struct HttpStatusError {
    status: reqwest::StatusCode,
    body: String,
    retry_after: Option<Duration>,
}

/// Longest piece of an upstream error body quoted in a message.
const BODY_EXCERPT_CHARS: usize = 300;

/// Sends the request like async-openai's `ReqwestService`, but answers every non-2xx response with an
/// `HttpStatusError` (async-openai would parse a non-JSON 4xx as a deserialization failure and log 5xx bodies
/// verbatim).
fn status_checked_service(
    http: reqwest::Client,
) -> impl tower::Service<
    HttpRequestFactory,
    Response = reqwest::Response,
    Error = OpenAIError,
    Future = impl std::future::Future<Output = Result<reqwest::Response, OpenAIError>> + Send,
> + Clone
       + Send
       + Sync
       + 'static {
    tower::service_fn(move |factory: HttpRequestFactory| {
        let http = http.clone();
        async move {
            let request = factory.build().await?;
            let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = crate::retry::parse_retry_after(
                response.headers().get(reqwest::header::RETRY_AFTER).and_then(|value| value.to_str().ok()),
            );
            let body = response.text().await.map_err(OpenAIError::Reqwest)?;
            Err(OpenAIError::Boxed(Box::new(HttpStatusError { status, body, retry_after })))
        }
    })
}

/// What to show of an error body: the OpenAI-style `error.message` when there is one, otherwise the start of
/// the body with its whitespace collapsed (HTML pages become one line).
fn body_excerpt(body: &str) -> (String, Option<String>) {
    let parsed = serde_json::from_str::<serde_json::Value>(body).ok();
    let error = parsed.as_ref().map(|value| &value["error"]);
    let code = error.and_then(|error| error["code"].as_str()).map(str::to_owned);
    let text = match error.and_then(|error| error["message"].as_str()) {
        Some(message) => message.to_owned(),
        None => body.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let mut excerpt: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if text.chars().count() > BODY_EXCERPT_CHARS {
        excerpt.push('…');
    }
    (excerpt, code)
}

const REDACTED: &str = "[redacted]";

/// Removes the configured key and anything that looks like an OpenAI key (`sk-` followed by at least 8 key
/// characters) from upstream text.
pub fn redact(text: &str, api_key: &str) -> String {
    let without_key = if api_key.is_empty() { text.to_owned() } else { text.replace(api_key, REDACTED) };
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(without_key.len());
    let mut rest = without_key.as_str();
    while let Some(start) = rest.find("sk-") {
        let starts_a_word = rest[..start].chars().next_back().is_none_or(|c| !is_key_char(c));
        let tail = &rest[start + 3..];
        let key_len = tail.find(|c: char| !is_key_char(c)).unwrap_or(tail.len());
        out.push_str(&rest[..start]);
        if starts_a_word && key_len >= 8 {
            out.push_str(REDACTED);
            rest = &tail[key_len..];
        } else {
            out.push_str("sk-");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn redacted_error(error: LlmError, api_key: &str) -> LlmError {
    match error {
        LlmError::Unavailable(message) => LlmError::Unavailable(redact(&message, api_key)),
        LlmError::Rejected(message) => LlmError::Rejected(redact(&message, api_key)),
        LlmError::BadAnswer(message) => LlmError::BadAnswer(redact(&message, api_key)),
    }
}

/// Which failures are worth another attempt; the waiting and the budget are the shared policy's. Every message
/// is redacted.
fn classify(error: OpenAIError, settings: &OpenAiSettings) -> Attempt<Result<String, LlmError>> {
    match classify_unredacted(error, settings) {
        Attempt::Done(outcome) => Attempt::Done(outcome.map_err(|e| redacted_error(e, &settings.api_key))),
        Attempt::Retry { last, retry_after } => {
            Attempt::Retry { last: last.map_err(|e| redacted_error(e, &settings.api_key)), retry_after }
        }
    }
}

fn classify_unredacted(error: OpenAIError, settings: &OpenAiSettings) -> Attempt<Result<String, LlmError>> {
    let done = |error: LlmError| Attempt::Done(Err(error));
    match error {
        OpenAIError::Reqwest(error) if error.is_timeout() => done(LlmError::Unavailable(format!(
            "no answer from {} within the {:.1} s timeout (DEMOGEN_LLM_TIMEOUT_S)",
            settings.base_url,
            settings.total_timeout.as_secs_f64()
        ))),
        OpenAIError::Reqwest(error) => Attempt::Retry {
            last: Err(LlmError::Unavailable(format!("cannot reach {}: {}", settings.base_url, error_chain(&error)))),
            retry_after: None,
        },
        OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpStatusError>() {
            Ok(answer) => classify_status(*answer, settings),
            Err(other) => done(LlmError::Rejected(error_chain(other.as_ref()))),
        },
        // Only reached for 2xx answers: the body is not a chat completion, so the URL points at something else
        // (a proxy page, a different API). Asking again would hit the same page.
        OpenAIError::JSONDeserialize(error, _) => done(LlmError::Rejected(format!(
            "{} answered with something that is not an OpenAI chat completion ({error}); check OPENAI_BASE_URL \
             (it must end in /v1) and OPENAI_MODEL",
            settings.base_url
        ))),
        other => done(LlmError::Rejected(other.to_string())),
    }
}

fn classify_status(answer: HttpStatusError, settings: &OpenAiSettings) -> Attempt<Result<String, LlmError>> {
    let status = answer.status;
    let (excerpt, code) = body_excerpt(&answer.body);
    if status.as_u16() == 429 && code.as_deref() == Some("insufficient_quota") {
        Attempt::Done(Err(LlmError::Unavailable(format!(
            "{} answered 429 insufficient_quota: {excerpt}",
            settings.base_url
        ))))
    } else if crate::retry::is_retryable_status(status.as_u16()) {
        Attempt::Retry {
            last: Err(LlmError::Unavailable(format!("{} answered {status}: {excerpt}", settings.base_url))),
            retry_after: answer.retry_after,
        }
    } else {
        Attempt::Done(Err(LlmError::Rejected(format!(
            "{} answered {status} for model {:?}: {excerpt}",
            settings.base_url, settings.model
        ))))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait::async_trait]
impl ChatModel for OpenAiChatModel {
    fn label(&self) -> String {
        format!("openai:{}", self.settings.model)
    }

    async fn complete(&self, request: &ChatRequest) -> Result<String, LlmError> {
        let body = self.build_request(request);
        // Cancelling means dropping this future (Generate does so on shutdown, tonic when the client leaves), so
        // the shared policy gets a token that never fires.
        let never_cancelled = CancellationToken::new();
        let retried = self
            .retry_policy
            .run(&never_cancelled, |retries| {
                let body = &body;
                async move {
                    let outcome = self.attempt(body).await;
                    if let Attempt::Retry { last: Err(error), .. } = &outcome {
                        tracing::warn!(model = %self.settings.model, retries, error = %error, "llm call failed, may retry");
                    }
                    outcome
                }
            })
            .await
            .ok_or_else(|| LlmError::Unavailable("the LLM request was cancelled".into()))?;
        match retried.outcome {
            Err(LlmError::Unavailable(message)) if retried.exhausted => {
                Err(LlmError::Unavailable(format!("{message} (after {} retries)", retried.retries)))
            }
            outcome => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects everything the subscriber writes.
    #[derive(Clone, Default)]
    struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for CapturedLog {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_echoed_key_reaches_neither_the_log_nor_the_error() {
        use wiremock::matchers::method;
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let key = "sk-live-echoed-secret-123";
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(503)
                    .set_body_string(format!("proxy error; request had Authorization: Bearer {key}")),
            )
            .mount(&mock)
            .await;
        let settings = OpenAiSettings {
            base_url: format!("{}/v1", mock.uri()),
            api_key: key.into(),
            model: "gpt-4o".into(),
            temperature: 0.2,
            max_tokens: 100,
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            retries: 1,
            first_backoff: Duration::from_millis(1),
        };
        let model = OpenAiChatModel::new(settings).unwrap();
        let log = CapturedLog::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let request = ChatRequest { messages: vec![crate::llm::ChatMessage::user("hi")], json_schema: None };
        let error = model.complete(&request).await.unwrap_err();

        let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("llm call failed"), "the retry is logged: {log}");
        assert!(!log.contains(key) && !log.contains("echoed-secret"), "{log}");
        let message = error.to_string();
        assert!(message.contains("503") && message.contains("[redacted]"), "{message}");
        assert!(!message.contains("echoed-secret"), "{message}");
    }

    #[test]
    fn keys_are_redacted_from_upstream_text() {
        let text = "Authorization: Bearer my-gateway-key-123 and sk-proj-AbC123_xyz-987 but not task-list or sk-x";
        let redacted = redact(text, "my-gateway-key-123");
        assert_eq!(redacted, "Authorization: Bearer [redacted] and [redacted] but not task-list or sk-x");
    }

    #[test]
    fn reasoning_models_are_recognised_by_name() {
        for model in ["o1", "o1-mini", "o3-mini", "o4-mini", "openai/o3", "gpt-5", "gpt-5-mini"] {
            assert!(ModelCapabilities::of(model).reasoning, "{model}");
        }
        for model in ["gpt-4o", "gpt-4.1-mini", "llama3.1:8b", "omni-model", "qwen2.5", "gpt-50x"] {
            assert!(!ModelCapabilities::of(model).reasoning, "{model}");
        }
    }
}
