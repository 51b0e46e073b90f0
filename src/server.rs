//! Builds and runs the gRPC server: the service, health, reflection (v1 and v1alpha), and a graceful
//! shutdown whose drain is bounded so a long SendEvents stream cannot hold the process.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use crate::api::{AppState, DemoGenApi};
use crate::config::ServeConfig;
use crate::pb::demo_gen_service_server::DemoGenServiceServer;

/// Encoded descriptor set of `demogen.v1`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demogen_descriptor.bin"));

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the data dir: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot build the HTTP client for PagerDuty: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// A server started on its own task.
pub struct RunningServer {
    /// The bound address (the real port when started on port 0).
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningServer {
    /// Token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting calls, cancels long-running ones and waits for the drain.
    pub async fn shutdown(self) -> Result<(), tonic::transport::Error> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) -> Result<(), tonic::transport::Error> {
        match self.task.await {
            Ok(result) => result,
            Err(join_error) => panic!("server task failed: {join_error}"),
        }
    }
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Binds the configured address, logs `listening on <addr>` and serves until the returned server's token is
/// cancelled.
pub async fn start(config: ServeConfig) -> Result<RunningServer, StartError> {
    let shutdown = CancellationToken::new();
    let state = Arc::new(AppState::new(config.clone(), shutdown.clone())?);
    let listener =
        TcpListener::bind(config.addr).await.map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.addr, source })?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<DemoGenServiceServer<DemoGenApi>>().await;
    let reflection_v1 = reflection_builder().build_v1()?;
    let reflection_v1alpha = reflection_builder().build_v1alpha()?;
    let service = DemoGenServiceServer::new(DemoGenApi::new(state.clone()))
        .max_decoding_message_size(config.max_file_bytes as usize + 64 * 1024)
        .max_encoding_message_size(usize::MAX);

    let drain_grace = config.shutdown_grace();
    let shutdown_signal = shutdown.clone();
    let serve = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            shutdown_signal.cancelled().await;
            health_reporter.set_service_status("", ServingStatus::NotServing).await;
            health_reporter.set_not_serving::<DemoGenServiceServer<DemoGenApi>>().await;
            tracing::info!("shutting down: draining open calls");
        });
    let drain_token = shutdown.clone();
    let task = tokio::spawn(async move {
        let drain_deadline = async {
            drain_token.cancelled().await;
            tokio::time::sleep(drain_grace).await;
        };
        tokio::select! {
            result = serve => result,
            () = drain_deadline => {
                tracing::warn!(grace_s = drain_grace.as_secs_f64(), "drain timed out; closing remaining calls");
                Ok(())
            }
        }
    });
    tracing::info!(data_dir = %state.storage.root().display(), llm = ?config.effective_llm(), "listening on {addr}");
    Ok(RunningServer { addr, shutdown, task })
}
