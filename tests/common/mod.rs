//! Shared test harness: the real server on 127.0.0.1:0 with a temp data dir, and a generated client.
#![allow(dead_code)]

use demogen::config::{LlmMode, ServeConfig};
use demogen::pb::demo_gen_service_client::DemoGenServiceClient;
use demogen::server::RunningServer;
use tempfile::TempDir;
use tonic::transport::Channel;

pub struct TestServer {
    pub server: RunningServer,
    pub data_dir: TempDir,
    pub client: DemoGenServiceClient<Channel>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url()).unwrap().connect().await.expect("connect to the test server")
    }
}

/// Starts the server on an ephemeral port with the built-in generator and a fresh data dir; `adjust` can
/// change any setting before start.
pub async fn start_server(adjust: impl FnOnce(&mut ServeConfig)) -> TestServer {
    let data_dir = tempfile::tempdir().expect("temp data dir");
    let mut config = ServeConfig::defaults();
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.data_dir = data_dir.path().to_path_buf();
    config.llm = LlmMode::Builtin;
    config.openai_api_key = None;
    config.shutdown_grace_s = 2.0;
    adjust(&mut config);
    let server = demogen::server::start(config).await.expect("server starts");
    let channel = Channel::from_shared(format!("http://{}", server.addr)).unwrap().connect().await.expect("connect");
    TestServer { server, data_dir, client: DemoGenServiceClient::new(channel) }
}
