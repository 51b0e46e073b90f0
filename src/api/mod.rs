//! The gRPC layer: a thin adapter that validates requests, calls the domain modules and converts their
//! results. Each capability's handlers live in their own file; errors become statuses in `status.rs` only.

mod diagnostics;
mod dispatch;
mod files;
mod generate;
mod status;

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::config::ServeConfig;
use crate::dispatch::Dispatcher;
use crate::llm::ChatModel;
use crate::pb;
use crate::pb::demo_gen_service_server::DemoGenService;
use crate::prompts::PromptLibrary;
use crate::storage::Storage;

/// Everything the handlers share; built once at start-up.
pub struct AppState {
    pub config: ServeConfig,
    pub storage: Storage,
    /// Prompt templates (directory with compiled-in fallback).
    pub prompts: PromptLibrary,
    /// The model the LLM-backed RPCs use: none (built-in), ready, or selected but unusable.
    pub llm: LlmSetup,
    /// Cancelled when the server shuts down, so long-running calls can stop.
    pub shutdown: CancellationToken,
    /// The PagerDuty sender and the limit on active send runs.
    pub dispatcher: Dispatcher,
}

impl AppState {
    pub fn new(config: ServeConfig, shutdown: CancellationToken) -> Result<Self, crate::server::StartError> {
        let storage = Storage::open(&config.data_dir, config.max_file_bytes)?;
        let prompts = PromptLibrary::new(&config.prompts_dir);
        let llm = build_chat_model(&config);
        let dispatcher = Dispatcher::new(&config)?;
        Ok(Self { config, storage, prompts, llm, shutdown, dispatcher })
    }
}

/// Which model the LLM-backed RPCs (Generate, GenerateDiagnostics) use.
#[derive(Clone)]
pub enum LlmSetup {
    /// The built-in generator; no model.
    Builtin,
    Ready(Arc<dyn ChatModel>),
    /// `openai` was selected but cannot be used; the reason says what to fix. Both RPCs answer
    /// FAILED_PRECONDITION instead of silently falling back to the built-in generator.
    Unusable {
        reason: String,
    },
}

impl LlmSetup {
    pub fn model(&self) -> Option<&Arc<dyn ChatModel>> {
        match self {
            Self::Ready(model) => Some(model),
            Self::Builtin | Self::Unusable { .. } => None,
        }
    }
}

/// The chat model of the `openai` provider, bounded to `llm_concurrency` calls in flight server-wide. Without a
/// key (or a buildable client) the setup is `Unusable`, so the file RPCs keep working while the key is fixed.
fn build_chat_model(config: &ServeConfig) -> LlmSetup {
    if config.effective_llm() != crate::config::LlmMode::Openai {
        return LlmSetup::Builtin;
    }
    let Some(settings) = crate::llm::openai::OpenAiSettings::from_config(config) else {
        tracing::warn!("DEMOGEN_LLM=openai without OPENAI_API_KEY: Generate and GenerateDiagnostics will answer FAILED_PRECONDITION");
        return LlmSetup::Unusable { reason: crate::generate::MISSING_API_KEY.to_owned() };
    };
    match crate::llm::openai::OpenAiChatModel::new(settings) {
        Ok(model) => {
            let limited = crate::llm::ConcurrencyLimited::new(Arc::new(model), config.llm_concurrency);
            LlmSetup::Ready(Arc::new(limited))
        }
        Err(error) => {
            tracing::error!(error = %error, "cannot build the OpenAI client: LLM-backed RPCs will answer FAILED_PRECONDITION");
            LlmSetup::Unusable {
                reason: format!("the openai provider is selected but its client cannot be built: {error}"),
            }
        }
    }
}

/// The `DemoGenService` implementation.
#[derive(Clone)]
pub struct DemoGenApi {
    state: Arc<AppState>,
}

impl DemoGenApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

pub type SendEventsStream = Pin<Box<dyn Stream<Item = Result<pb::SendEventsResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl DemoGenService for DemoGenApi {
    async fn generate(&self, request: Request<pb::GenerateRequest>) -> Result<Response<pb::GenerateResponse>, Status> {
        generate::generate(&self.state, request.into_inner()).await.map(Response::new)
    }

    async fn generate_diagnostics(
        &self,
        request: Request<pb::GenerateDiagnosticsRequest>,
    ) -> Result<Response<pb::GenerateDiagnosticsResponse>, Status> {
        diagnostics::generate_diagnostics(&self.state, request.into_inner()).await.map(Response::new)
    }

    async fn list_files(
        &self,
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, Status> {
        files::list_files(&self.state, request.into_inner()).await.map(Response::new)
    }

    async fn get_file(&self, request: Request<pb::GetFileRequest>) -> Result<Response<pb::GetFileResponse>, Status> {
        files::get_file(&self.state, request.into_inner()).await.map(Response::new)
    }

    async fn update_file(
        &self,
        request: Request<pb::UpdateFileRequest>,
    ) -> Result<Response<pb::UpdateFileResponse>, Status> {
        files::update_file(&self.state, request.into_inner()).await.map(Response::new)
    }

    async fn export_postman(
        &self,
        request: Request<pb::ExportPostmanRequest>,
    ) -> Result<Response<pb::ExportPostmanResponse>, Status> {
        dispatch::export_postman(&self.state, request.into_inner()).await.map(Response::new)
    }

    type SendEventsStream = SendEventsStream;

    async fn send_events(
        &self,
        request: Request<pb::SendEventsRequest>,
    ) -> Result<Response<Self::SendEventsStream>, Status> {
        dispatch::send_events(&self.state, request.into_inner()).await.map(Response::new)
    }
}
