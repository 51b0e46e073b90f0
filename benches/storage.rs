//! ListFiles cost for a large organization: `cargo bench --bench storage`.
//! Creates 10 000 files in a temp data dir and times the first page, a deep page and a full walk, both
//! through `Storage` and through the real gRPC server.

use std::time::{Duration, Instant};

use demogen::config::{LlmMode, ServeConfig};
use demogen::pb;
use demogen::pb::demo_gen_service_client::DemoGenServiceClient;
use demogen::storage::Storage;

const FILES: usize = 10_000;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let org_dir = dir.path().join("BigOrg");
    std::fs::create_dir_all(&org_dir).unwrap();
    let event = r#"[{"event_action":"trigger","payload":{"summary":"High error rate","severity":"error"}}]"#;
    for i in 0..FILES {
        std::fs::write(org_dir.join(format!("major_events_20250101{i:06}.json")), event).unwrap();
    }
    let storage = Storage::open(dir.path(), 8 << 20).unwrap();

    let mut first_page = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        let page = storage.list_files("BigOrg", 100, "").await.unwrap();
        first_page.push(start.elapsed());
        assert_eq!(page.items.len(), 100);
    }
    let start = Instant::now();
    let mut token = String::new();
    let mut listed = 0;
    loop {
        let page = storage.list_files("BigOrg", 1000, &token).await.unwrap();
        listed += page.items.len();
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let full_walk = start.elapsed();
    assert_eq!(listed, FILES);
    println!("storage: {FILES} files, first page of 100: median {:?}", median(first_page));
    println!("storage: {FILES} files, full walk in pages of 1000: {full_walk:?}");

    let mut config = ServeConfig::defaults();
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.path().to_path_buf();
    config.llm = LlmMode::Builtin;
    let server = demogen::server::start(config).await.unwrap();
    let mut client = DemoGenServiceClient::connect(format!("http://{}", server.addr)).await.unwrap();
    let mut grpc_first_page = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        let response = client
            .list_files(pb::ListFilesRequest { org: "BigOrg".into(), page_size: 100, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        grpc_first_page.push(start.elapsed());
        assert_eq!(response.files.len(), 100);
    }
    println!("grpc ListFiles: {FILES} files, first page of 100: median {:?}", median(grpc_first_page));
    server.shutdown().await.unwrap();
}
