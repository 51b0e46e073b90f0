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
    /// The chat model when the provider resolves to an LLM; `None` means the built-in generator.
    pub chat_model: Option<Arc<dyn ChatModel>>,
    /// Cancelled when the server shuts down, so long-running calls can stop.
    pub shutdown: CancellationToken,
    /// The PagerDuty sender and the limit on active send runs.
    pub dispatcher: Dispatcher,
}

impl AppState {
    pub fn new(config: ServeConfig, shutdown: CancellationToken) -> Result<Self, crate::server::StartError> {
        let storage = Storage::open(&config.data_dir, config.max_file_bytes)?;
        let prompts = PromptLibrary::new(&config.prompts_dir);
        let chat_model = build_chat_model(&config);
        let dispatcher = Dispatcher::new(&config)?;
        Ok(Self { config, storage, prompts, chat_model, shutdown, dispatcher })
    }
}

/// The chat model of the `openai` provider, bounded to `llm_concurrency` calls in flight server-wide. `None`
/// for the built-in provider, and for `openai` without a key: Generate then answers FAILED_PRECONDITION, so the
/// file RPCs keep working while the key is fixed.
fn build_chat_model(config: &ServeConfig) -> Option<Arc<dyn ChatModel>> {
    if config.effective_llm() != crate::config::LlmMode::Openai {
        return None;
    }
    let Some(settings) = crate::llm::openai::OpenAiSettings::from_config(config) else {
        tracing::warn!("DEMOGEN_LLM=openai without OPENAI_API_KEY: Generate will answer FAILED_PRECONDITION");
        return None;
    };
    match crate::llm::openai::OpenAiChatModel::new(settings) {
        Ok(model) => {
            let limited = crate::llm::ConcurrencyLimited::new(Arc::new(model), config.llm_concurrency);
            Some(Arc::new(limited))
        }
        Err(error) => {
            tracing::error!(error = %error, "cannot build the OpenAI client: Generate will answer FAILED_PRECONDITION");
            None
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
