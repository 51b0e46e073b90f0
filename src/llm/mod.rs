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

pub mod openai;

/// Bounds the calls in flight to a model, server-wide: every caller (generation, diagnostics) shares the
/// permits, and a call waits for one before it reaches the server.
#[derive(Debug)]
pub struct ConcurrencyLimited {
    inner: std::sync::Arc<dyn ChatModel>,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl ConcurrencyLimited {
    /// `limit` is clamped to at least 1.
    pub fn new(inner: std::sync::Arc<dyn ChatModel>, limit: usize) -> Self {
        Self { inner, permits: std::sync::Arc::new(tokio::sync::Semaphore::new(limit.max(1))) }
    }
}

#[async_trait::async_trait]
impl ChatModel for ConcurrencyLimited {
    fn label(&self) -> String {
        self.inner.label()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<String, LlmError> {
        let _permit =
            self.permits.acquire().await.map_err(|_| LlmError::Unavailable("the server is shutting down".into()))?;
        self.inner.complete(request).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[derive(Debug, Default)]
    struct CountingModel {
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ChatModel for CountingModel {
        fn label(&self) -> String {
            "counting".into()
        }

        async fn complete(&self, _request: &ChatRequest) -> Result<String, LlmError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok("ok".into())
        }
    }

    #[tokio::test]
    async fn limited_model_never_exceeds_its_permits() {
        let counting = Arc::new(CountingModel::default());
        let limited = Arc::new(ConcurrencyLimited::new(counting.clone(), 2));
        let request = ChatRequest { messages: vec![ChatMessage::user("hi")], json_schema: None };
        let calls = (0..8).map(|_| {
            let limited = limited.clone();
            let request = request.clone();
            tokio::spawn(async move { limited.complete(&request).await })
        });
        for call in futures::future::join_all(calls).await {
            assert_eq!(call.unwrap().unwrap(), "ok");
        }
        assert_eq!(counting.most_in_flight.load(Ordering::SeqCst), 2);
        assert_eq!(limited.label(), "counting");
    }
}
