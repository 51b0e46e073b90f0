use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use super::*;

fn open_temp(max_file_bytes: u64) -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path().join("data"), max_file_bytes).unwrap();
    (dir, storage)
}

fn entries_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn org_names_keep_ascii_letters_and_digits() {
    assert_eq!(sanitize_org("Acme Bank, Inc.").unwrap(), "AcmeBankInc");
    assert_eq!(sanitize_org("../../etc").unwrap(), "etc");
    assert!(matches!(sanitize_org(" ../ -- "), Err(StorageError::InvalidOrg { .. })));
    assert!(matches!(sanitize_org(""), Err(StorageError::InvalidOrg { .. })));
    assert!(matches!(sanitize_org(&"A".repeat(121)), Err(StorageError::OrgTooLong { length: 121, limit: 120 })));
    assert_eq!(sanitize_org(&"A".repeat(120)).unwrap().len(), 120);
}

#[test]
fn unsafe_file_names_are_refused() {
    for name in ["", "../x", "/etc/passwd", "a/b", "a\\b", ".hidden", "..", ".", "bad\nname", &"x".repeat(256)] {
        assert!(
            matches!(validate_file_name(name), Err(StorageError::InvalidFileName { .. })),
            "{name:?} must be refused"
        );
    }
    validate_file_name("major_events_20250101120000.json").unwrap();
    validate_file_name("Acme notes (v2).txt").unwrap();
}

#[tokio::test]
async fn generated_names_are_never_reused_in_the_same_second() {
    let (_dir, storage) = open_temp(1 << 20);
    let now = SystemTime::now();
    let group = |text: &str| {
        vec![
            NewFile::new("major", "txt", format!("narrative {text}")),
            NewFile::new("major_events", "json", "[]"),
            NewFile::new("major_change_events", "json", "[]"),
        ]
    };
    let first = storage.inner.save_new_files("Acme", &group("one"), now).unwrap();
    let second = storage.inner.save_new_files("Acme", &group("two"), now).unwrap();
    let ts = naming::timestamp(now);
    assert_eq!(
        first,
        vec![format!("major_{ts}.txt"), format!("major_events_{ts}.json"), format!("major_change_events_{ts}.json")]
    );
    assert_eq!(second[0], format!("major_{ts}_2.txt"));
    assert_eq!(second[2], format!("major_change_events_{ts}_2.json"));
    assert_eq!(storage.read_file("Acme", &first[0]).await.unwrap().content, "narrative one");
    assert_eq!(storage.read_file("Acme", &second[0]).await.unwrap().content, "narrative two");
}

#[tokio::test]
async fn concurrent_saves_get_distinct_names_and_leave_no_temp_files() {
    let (_dir, storage) = open_temp(1 << 20);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            let files = vec![
                NewFile::new("well", "txt", format!("story {i}")),
                NewFile::new("well_events", "json", format!("[{i}]")),
            ];
            (i, storage.save_new_files("Acme Bank", files).await.unwrap())
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        let (i, names) = task.await.unwrap();
        assert!(seen.insert(names[0].clone()), "name {} reused", names[0]);
        assert_eq!(storage.read_file("AcmeBank", &names[0]).await.unwrap().content, format!("story {i}"));
        assert_eq!(storage.read_file("AcmeBank", &names[1]).await.unwrap().content, format!("[{i}]"));
    }
    let on_disk = entries_of(&storage.root().join("AcmeBank"));
    assert_eq!(on_disk.len(), 80);
    assert!(on_disk.iter().all(|name| !name.starts_with('.')), "temp files left behind: {on_disk:?}");
}

#[tokio::test]
async fn a_group_with_an_invalid_member_writes_nothing() {
    let (_dir, storage) = open_temp(1 << 20);
    let files = vec![NewFile::new("major", "txt", "fine"), NewFile::new("major_events", "json", "[{oops")];
    let error = storage.save_new_files("Acme", files).await.unwrap_err();
    assert!(matches!(error, StorageError::InvalidJson { line: 1, column: 3, .. }), "{error:?}");
    assert!(!storage.root().join("Acme").exists(), "a refused group does not even create the folder");
}

#[tokio::test]
async fn update_round_trips_and_refuses_stale_versions() {
    let (_dir, storage) = open_temp(1 << 20);
    let created = storage.write_file("Acme", "notes.json", "{\"a\":1}".into(), None).await.unwrap();
    assert_eq!(created.version, content_version(b"{\"a\":1}"));
    assert_eq!(created.kind, FileKind::Other);

    let again = storage.write_file("Acme", "notes.json", "{}".into(), None).await.unwrap_err();
    assert!(matches!(again, StorageError::AlreadyExists { .. }), "{again:?}");

    let read = storage.read_file("Acme", "notes.json").await.unwrap();
    assert_eq!(read.content, "{\"a\":1}");
    assert_eq!(read.info.version, created.version);

    let updated =
        storage.write_file("Acme", "notes.json", "{\"a\":2}".into(), Some(created.version.clone())).await.unwrap();
    assert_ne!(updated.version, created.version);

    let stale = storage.write_file("Acme", "notes.json", "{\"a\":3}".into(), Some(created.version)).await.unwrap_err();
    assert!(matches!(stale, StorageError::VersionMismatch { .. }), "{stale:?}");
    assert_eq!(storage.read_file("Acme", "notes.json").await.unwrap().content, "{\"a\":2}");

    let missing = storage.write_file("Acme", "absent.txt", "x".into(), Some("abc".into())).await.unwrap_err();
    assert!(matches!(missing, StorageError::FileNotFound { .. }), "{missing:?}");

    let ghost = storage.write_file("Ghost", "x.json", "[1]".into(), Some("abc".into())).await.unwrap_err();
    assert!(matches!(ghost, StorageError::OrgNotFound { .. }), "{ghost:?}");
    assert!(!storage.root().join("Ghost").exists(), "a failed replace creates no organization folder");
}

#[tokio::test]
async fn concurrent_updates_with_the_same_version_have_one_winner() {
    let (_dir, storage) = open_temp(1 << 20);
    let base = storage.write_file("Acme", "story.txt", "v0".into(), None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let storage = storage.clone();
        let version = base.version.clone();
        tasks.push(tokio::spawn(async move {
            storage.write_file("Acme", "story.txt", format!("v{}", i + 1), Some(version)).await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(StorageError::VersionMismatch { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn invalid_json_reports_line_and_column() {
    let (_dir, storage) = open_temp(1 << 20);
    let error = storage.write_file("Acme", "x_events.json", "[\n  {\"a\": }\n]".into(), None).await.unwrap_err();
    match error {
        StorageError::InvalidJson { line, column, ref message, .. } => {
            assert_eq!((line, column), (2, 9));
            assert!(!message.contains("line"), "position is given once: {message}");
        }
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    assert!(storage.read_file("Acme", "x_events.json").await.is_err());
}

#[tokio::test]
async fn size_limits_apply_to_reads_and_writes() {
    let (_dir, storage) = open_temp(16);
    let error = storage.write_file("Acme", "big.txt", "x".repeat(17), None).await.unwrap_err();
    assert!(matches!(error, StorageError::TooLarge { size: 17, limit: 16, .. }), "{error:?}");
    fs::create_dir_all(storage.root().join("Acme")).unwrap();
    fs::write(storage.root().join("Acme/huge.txt"), "y".repeat(100)).unwrap();
    let error = storage.read_file("Acme", "huge.txt").await.unwrap_err();
    assert!(matches!(error, StorageError::TooLarge { size: 100, .. }), "{error:?}");
}

#[tokio::test]
async fn traversal_and_symlinks_never_leave_the_data_dir() {
    let (dir, storage) = open_temp(1 << 20);
    let outside = dir.path().join("outside.txt");
    fs::write(&outside, "secret").unwrap();
    storage.write_file("Acme", "ok.txt", "fine".into(), None).await.unwrap();
    let org_dir = storage.root().join("Acme");
    std::os::unix::fs::symlink(&outside, org_dir.join("link.txt")).unwrap();

    for name in ["../outside.txt", "/etc/passwd", "a/b", ".hidden"] {
        let read = storage.read_file("Acme", name).await.unwrap_err();
        assert!(matches!(read, StorageError::InvalidFileName { .. }), "read {name:?}: {read:?}");
        let write = storage.write_file("Acme", name, "x".into(), None).await.unwrap_err();
        assert!(matches!(write, StorageError::InvalidFileName { .. }), "write {name:?}: {write:?}");
    }

    let read_link = storage.read_file("Acme", "link.txt").await.unwrap_err();
    assert!(matches!(read_link, StorageError::InvalidFileName { .. }), "{read_link:?}");
    let version = content_version(b"secret");
    let replace_link = storage.write_file("Acme", "link.txt", "pwned".into(), Some(version)).await.unwrap_err();
    assert!(matches!(replace_link, StorageError::InvalidFileName { .. }), "{replace_link:?}");
    assert!(storage.write_file("Acme", "link.txt", "pwned".into(), None).await.is_err());
    assert_eq!(fs::read_to_string(&outside).unwrap(), "secret");

    // An organization folder replaced by a link to somewhere else is refused too.
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join("loot.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(&elsewhere, storage.root().join("Evil")).unwrap();
    assert!(storage.read_file("Evil", "loot.txt").await.is_err());
    assert!(storage.write_file("Evil", "new.txt", "x".into(), None).await.is_err());
    assert!(storage.save_new_files("Evil", vec![NewFile::new("major", "txt", "x")]).await.is_err());
    assert_eq!(entries_of(&elsewhere), vec!["loot.txt"]);

    let listed = storage.list_files("Acme", 0, "").await.unwrap();
    assert_eq!(listed.items.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["ok.txt"]);
    let orgs = storage.list_orgs(0, "").await.unwrap();
    assert_eq!(orgs.items, vec!["Acme"]);
}

#[tokio::test]
async fn listing_is_newest_first_and_pages_cover_every_file_once() {
    let (_dir, storage) = open_temp(1 << 20);
    let org_dir = storage.root().join("Acme");
    fs::create_dir_all(&org_dir).unwrap();
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for i in 0..25 {
        let path = org_dir.join(format!("file{i:02}.txt"));
        fs::write(&path, format!("{i}")).unwrap();
        // Pairs of files share a modification time to exercise the tie-break.
        let file = File::options().write(true).open(&path).unwrap();
        file.set_modified(base + Duration::from_secs(i / 2)).unwrap();
    }
    fs::write(org_dir.join(".tmp-leftover"), "x").unwrap();

    let mut names = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = storage.list_files("Acme", 10, &token).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        names.extend(page.items.iter().map(|f| f.name.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).rev().map(|i| format!("file{i:02}.txt")).collect();
    assert_eq!(names, expected);

    let first = storage.list_files("Acme", 1, "").await.unwrap();
    assert_eq!(first.items[0].version, content_version(b"24"));
    assert!(matches!(storage.list_files("Acme", 10, "garbage!").await, Err(StorageError::InvalidPageToken)));
    assert!(matches!(storage.list_files("Nobody", 10, "").await, Err(StorageError::OrgNotFound { .. })));
}
