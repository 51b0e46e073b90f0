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
//! - Model quirks are one capability check (`ModelCapabilities::of`), not scattered conditions.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
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
        // A bare ReqwestService replaces async-openai's default stack, which retries on its own.
        let client = Client::build(http.clone(), config).with_http_service(ReqwestService::new(http));
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

fn retryable(error: LlmError) -> Attempt<Result<String, LlmError>> {
    // async-openai does not expose response headers, so there is no Retry-After hint to pass on.
    Attempt::Retry { last: Err(error), retry_after: None }
}

fn not_retryable(error: LlmError) -> Attempt<Result<String, LlmError>> {
    Attempt::Done(Err(error))
}

/// Which failures are worth another attempt; the waiting and the budget are the shared policy's.
fn classify(error: OpenAIError, settings: &OpenAiSettings) -> Attempt<Result<String, LlmError>> {
    match error {
        OpenAIError::Reqwest(error) if error.is_timeout() => not_retryable(LlmError::Unavailable(format!(
            "no answer from {} within the {:.1} s timeout (DEMOGEN_LLM_TIMEOUT_S)",
            settings.base_url,
            settings.total_timeout.as_secs_f64()
        ))),
        OpenAIError::Reqwest(error) => {
            retryable(LlmError::Unavailable(format!("cannot reach {}: {}", settings.base_url, error_chain(&error))))
        }
        OpenAIError::ApiError(response) => {
            let status = response.status_code;
            let message = response.api_error.message.chars().take(300).collect::<String>();
            if status.as_u16() == 429 && response.api_error.code.as_deref() == Some("insufficient_quota") {
                not_retryable(LlmError::Unavailable(format!(
                    "{} answered 429 insufficient_quota: {message}",
                    settings.base_url
                )))
            } else if status.as_u16() == 429 || status.is_server_error() {
                retryable(LlmError::Unavailable(format!("{} answered {status}: {message}", settings.base_url)))
            } else {
                not_retryable(LlmError::Rejected(format!(
                    "{} answered {status} for model {:?}: {message}",
                    settings.base_url, settings.model
                )))
            }
        }
        OpenAIError::JSONDeserialize(error, _) => {
            not_retryable(LlmError::BadAnswer(format!("the answer is not a chat completion: {error}")))
        }
        other => not_retryable(LlmError::Rejected(other.to_string())),
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
