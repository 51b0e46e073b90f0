//! Black-box checks of the real binary with grpcurl, as users script it.

mod common;

use common::{grpcurl, BinaryServer};

#[test]
fn grpcurl_lists_describes_checks_health_and_calls_list_files() {
    let server = BinaryServer::start(&[]);

    let (ok, services, stderr) = grpcurl(server.addr, &[], &["list"]);
    assert!(ok, "grpcurl list failed: {stderr}");
    for service in ["demogen.v1.DemoGenService", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"] {
        assert!(services.lines().any(|line| line == service), "{service} missing from:\n{services}");
    }

    let (ok, methods, stderr) = grpcurl(server.addr, &[], &["list", "demogen.v1.DemoGenService"]);
    assert!(ok, "{stderr}");
    for method in
        ["Generate", "GenerateDiagnostics", "ListFiles", "GetFile", "UpdateFile", "ExportPostman", "SendEvents"]
    {
        assert!(methods.contains(&format!("demogen.v1.DemoGenService.{method}")), "{method} missing:\n{methods}");
    }

    let (ok, described, stderr) = grpcurl(server.addr, &[], &["describe", "demogen.v1.SendEventsRequest"]);
    assert!(ok, "{stderr}");
    assert!(described.contains("routing_key") && described.contains("dry_run"), "{described}");

    let (ok, health, stderr) = grpcurl(server.addr, &[], &["grpc.health.v1.Health/Check"]);
    assert!(ok, "{stderr}");
    assert!(health.contains("\"SERVING\""), "{health}");

    let upload = r#"{"org":"Acme Bank","filename":"well_20250101120000.txt","content":"**Scenario Overview:** demo"}"#;
    let (ok, updated, stderr) = grpcurl(server.addr, &["-d", upload], &["demogen.v1.DemoGenService/UpdateFile"]);
    assert!(ok, "{stderr}");
    assert!(updated.contains("FILE_KIND_NARRATIVE"), "{updated}");

    let (ok, orgs, stderr) = grpcurl(server.addr, &["-d", "{}"], &["demogen.v1.DemoGenService/ListFiles"]);
    assert!(ok, "{stderr}");
    let orgs: serde_json::Value = serde_json::from_str(&orgs).unwrap();
    assert_eq!(orgs["organizations"], serde_json::json!(["AcmeBank"]));

    let (ok, files, stderr) =
        grpcurl(server.addr, &["-d", r#"{"org":"AcmeBank"}"#], &["demogen.v1.DemoGenService/ListFiles"]);
    assert!(ok, "{stderr}");
    let files: serde_json::Value = serde_json::from_str(&files).unwrap();
    assert_eq!(files["files"][0]["name"], "well_20250101120000.txt");
    assert_eq!(files["files"][0]["scenario"], "well");

    let (ok, _, stderr) = grpcurl(
        server.addr,
        &["-d", r#"{"org":"AcmeBank","filename":"../etc/passwd"}"#],
        &["demogen.v1.DemoGenService/GetFile"],
    );
    assert!(!ok);
    assert!(stderr.contains("InvalidArgument"), "{stderr}");

    let status = server.terminate();
    assert!(status.success(), "SIGTERM leads to a clean exit, got {status}");
}
