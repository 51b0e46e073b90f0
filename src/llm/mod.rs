//! Chat-completion access for generation and diagnostics: the `ChatModel` trait every provider call goes
//! through, so callers never see HTTP, retries or model quirks.

use std::fmt;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: ChatRole::System, content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: ChatRole::User, content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: ChatRole::Assistant, content: content.into() }
    }
}

/// A JSON schema the answer must follow (sent as `response_format` where the server supports it).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchema {
    pub name: String,
    pub schema: serde_json::Value,
}

/// One completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    /// Ask for JSON output; `None` asks for plain text.
    pub json_schema: Option<JsonSchema>,
}

/// Why a completion failed after the retry policy gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The server could not be reached, timed out, or kept answering 429/5xx.
    #[error("LLM server unavailable: {0}")]
    Unavailable(String),
    /// The server answered with an error that retrying will not fix (400, 401, 404…).
    #[error("LLM request rejected: {0}")]
    Rejected(String),
    /// The answer had no usable content.
    #[error("LLM answer unusable: {0}")]
    BadAnswer(String),
}

/// A chat model. Implementations own timeouts and the single retry policy for transport failures.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync + fmt::Debug {
    /// Provider label for responses and logs, e.g. `openai:o3-mini`.
    fn label(&self) -> String;
    /// Returns the assistant's answer text.
    async fn complete(&self, request: &ChatRequest) -> Result<String, LlmError>;
}
