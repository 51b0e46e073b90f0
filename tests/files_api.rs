//! ListFiles, GetFile and UpdateFile through the real server and the generated client.

mod common;

use demogen::pb;
use tonic::Code;

#[tokio::test]
async fn update_then_get_round_trips_content_and_versions() {
    let mut test = common::start_server(|_| {}).await;
    let client = &mut test.client;

    let created = client
        .update_file(pb::UpdateFileRequest {
            org: "Acme Bank".into(),
            filename: "major_events_20250101120000.json".into(),
            content: "[{\"payload\": {\"summary\": \"x\"}}]".into(),
            expected_version: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .info
        .unwrap();
    assert_eq!(created.kind, pb::FileKind::Events as i32);
    assert_eq!(created.scenario, "major");
    assert!(!created.version.is_empty());
    assert!(test.data_dir.path().join("AcmeBank/major_events_20250101120000.json").is_file());

    let fetched = client
        .get_file(pb::GetFileRequest { org: "AcmeBank".into(), filename: "major_events_20250101120000.json".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched.content, "[{\"payload\": {\"summary\": \"x\"}}]");
    assert_eq!(fetched.info.as_ref().unwrap().version, created.version);

    let replaced = client
        .update_file(pb::UpdateFileRequest {
            org: "Acme Bank".into(),
            filename: "major_events_20250101120000.json".into(),
            content: "[]".into(),
            expected_version: created.version.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .info
        .unwrap();
    assert_ne!(replaced.version, created.version);

    let stale = client
        .update_file(pb::UpdateFileRequest {
            org: "Acme Bank".into(),
            filename: "major_events_20250101120000.json".into(),
            content: "[1]".into(),
            expected_version: created.version,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition, "{stale:?}");
    assert!(stale.message().contains("expected_version"), "{}", stale.message());

    let duplicate = client
        .update_file(pb::UpdateFileRequest {
            org: "Acme Bank".into(),
            filename: "major_events_20250101120000.json".into(),
            content: "[]".into(),
            expected_version: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let bad_json = client
        .update_file(pb::UpdateFileRequest {
            org: "Acme Bank".into(),
            filename: "edited.json".into(),
            content: "{\n \"a\": [1,,2]\n}".into(),
            expected_version: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_json.code(), Code::InvalidArgument);
    assert!(bad_json.message().contains("line 2, column"), "{}", bad_json.message());
}

#[tokio::test]
async fn traversal_attempts_are_refused_and_nothing_leaves_the_data_dir() {
    let mut test = common::start_server(|_| {}).await;
    let outside = test.data_dir.path().parent().unwrap().join(format!("outside-{}.txt", std::process::id()));
    std::fs::write(&outside, "secret").unwrap();
    std::fs::create_dir_all(test.data_dir.path().join("Acme")).unwrap();
    std::os::unix::fs::symlink(&outside, test.data_dir.path().join("Acme/link.txt")).unwrap();

    for filename in ["../x", "/etc/passwd", "a/b", ".hidden", "link.txt"] {
        let get = test
            .client
            .get_file(pb::GetFileRequest { org: "Acme".into(), filename: filename.into() })
            .await
            .unwrap_err();
        assert_eq!(get.code(), Code::InvalidArgument, "GetFile {filename:?}: {get:?}");
        assert!(get.message().contains(filename), "the message names the file: {}", get.message());
        let put = test
            .client
            .update_file(pb::UpdateFileRequest {
                org: "Acme".into(),
                filename: filename.into(),
                content: "pwned".into(),
                expected_version: demogen::storage::content_version(b"secret"),
            })
            .await
            .unwrap_err();
        assert_eq!(put.code(), Code::InvalidArgument, "UpdateFile {filename:?}: {put:?}");
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret");
    std::fs::remove_file(&outside).unwrap();

    let missing =
        test.client.get_file(pb::GetFileRequest { org: "Acme".into(), filename: "nope.txt".into() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().contains("nope.txt"));

    let bad_org =
        test.client.get_file(pb::GetFileRequest { org: "../..".into(), filename: "x.txt".into() }).await.unwrap_err();
    assert_eq!(bad_org.code(), Code::InvalidArgument);
    assert!(bad_org.message().contains("org"), "{}", bad_org.message());
}

#[tokio::test]
async fn list_files_lists_organizations_and_pages_files_newest_first() {
    let mut test = common::start_server(|_| {}).await;
    for org in ["Zeta Air", "Acme Bank"] {
        for i in 0..3 {
            test.client
                .update_file(pb::UpdateFileRequest {
                    org: org.into(),
                    filename: format!("note{i}.txt"),
                    content: format!("note {i}"),
                    expected_version: String::new(),
                })
                .await
                .unwrap();
            // Distinct modification times make "newest first" observable.
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
        }
    }
    let orgs = test.client.list_files(pb::ListFilesRequest::default()).await.unwrap().into_inner();
    assert_eq!(orgs.organizations, vec!["AcmeBank", "ZetaAir"]);
    assert!(orgs.files.is_empty());

    let first = test
        .client
        .list_files(pb::ListFilesRequest { org: "Acme Bank".into(), page_size: 2, page_token: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["note2.txt", "note1.txt"]);
    assert!(first.files.iter().all(|f| f.kind == pb::FileKind::Narrative as i32 && f.modified_time.is_some()));
    assert!(!first.next_page_token.is_empty());
    let second = test
        .client
        .list_files(pb::ListFilesRequest { org: "Acme Bank".into(), page_size: 2, page_token: first.next_page_token })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["note0.txt"]);
    assert!(second.next_page_token.is_empty());

    let unknown =
        test.client.list_files(pb::ListFilesRequest { org: "Nobody".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn health_reports_serving_then_not_serving_on_shutdown() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let test = common::start_server(|_| {}).await;
    let mut health = HealthClient::new(test.channel().await);
    for service in ["", "demogen.v1.DemoGenService"] {
        let status = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(status.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let mut watch =
        health.watch(HealthCheckRequest { service: "demogen.v1.DemoGenService".into() }).await.unwrap().into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::Serving as i32);
    let token = test.server.shutdown_token();
    token.cancel();
    let update = tokio::time::timeout(std::time::Duration::from_secs(5), watch.message())
        .await
        .expect("a health update arrives while draining")
        .expect("the watch stream is still open")
        .expect("an update, not the end of the stream");
    assert_eq!(update.status, ServingStatus::NotServing as i32);
    tokio::time::timeout(std::time::Duration::from_secs(10), test.server.wait()).await.unwrap().unwrap();
}
