//! The credential chain over temporary home directories: order, formats,
//! the source shown to the operator, permission warnings, clear errors.
//! The metadata service is never asked here (`metadata_base: None`); the
//! loopback metadata tests are in cloud_client_http.rs.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use vipdeck::sources::cloud::credentials::{resolve, ChainOptions, CredentialError};

fn opts(home: &Path, env: &[(&str, &str)], profile: Option<&str>) -> ChainOptions {
    ChainOptions {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        home: Some(home.to_path_buf()),
        tccli_profile: profile.map(str::to_string),
        metadata_base: None,
        metadata_timeout: Duration::from_millis(100),
    }
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

fn sdk_profile(home: &Path, id: &str, key: &str, mode: u32) {
    write(
        &home.join(".tencentcloud/credentials"),
        &format!("[other]\nsecret_id = wrong\nsecret_key = wrong\n\n[default]\nsecret_id = {id}\nsecret_key = {key}\n"),
        mode,
    );
}

fn tccli(home: &Path, profile: &str, id: &str, key: &str, token: Option<&str>) {
    let tok = token
        .map(|t| format!(r#", "token": "{t}""#))
        .unwrap_or_default();
    write(
        &home.join(format!(".tccli/{profile}.credential")),
        &format!(r#"{{"secretId": "{id}", "secretKey": "{key}"{tok}}}"#),
        0o600,
    );
}

#[tokio::test]
async fn environment_wins_over_files() {
    let home = tempfile::tempdir().expect("tmp");
    sdk_profile(home.path(), "AKIDfile", "file-key", 0o600);
    tccli(home.path(), "default", "AKIDtccli", "tccli-key", None);
    let p = resolve(&opts(
        home.path(),
        &[
            ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
            ("TENCENTCLOUD_SECRET_KEY", "env-key"),
            ("TENCENTCLOUD_SECURITY_TOKEN", "tf-token"),
        ],
        None,
    ))
    .await
    .expect("found");
    assert_eq!(p.source(), "env");
    let c = p.get().await.expect("creds");
    assert_eq!(c.secret_id(), "AKIDenv");
    assert_eq!(c.secret_key(), "env-key");
    assert_eq!(c.token(), Some("tf-token"), "Terraform's token name");

    let p = resolve(&opts(
        home.path(),
        &[
            ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
            ("TENCENTCLOUD_SECRET_KEY", "env-key"),
            ("TENCENTCLOUD_TOKEN", "tccli-token"),
            ("TENCENTCLOUD_SECURITY_TOKEN", "tf-token"),
        ],
        None,
    ))
    .await
    .expect("found");
    assert_eq!(
        p.get().await.expect("creds").token(),
        Some("tccli-token"),
        "tccli's name first"
    );
}

#[tokio::test]
async fn half_set_environment_is_an_error_that_names_no_secret() {
    let home = tempfile::tempdir().expect("tmp");
    let err = resolve(&opts(
        home.path(),
        &[("TENCENTCLOUD_SECRET_KEY", "lonely-key")],
        None,
    ))
    .await
    .expect_err("incomplete");
    assert!(matches!(err, CredentialError::Invalid(_)));
    assert!(err.to_string().contains("TENCENTCLOUD_SECRET_ID"), "{err}");
    assert!(!err.to_string().contains("lonely-key"));
}

#[tokio::test]
async fn sdk_profile_file_default_section() {
    let home = tempfile::tempdir().expect("tmp");
    sdk_profile(home.path(), "AKIDfile", "file-key", 0o600);
    tccli(home.path(), "default", "AKIDtccli", "tccli-key", None);
    let p = resolve(&opts(home.path(), &[], None)).await.expect("found");
    assert_eq!(p.source(), "profile file ~/.tencentcloud/credentials");
    assert_eq!(p.get().await.expect("c").secret_id(), "AKIDfile");
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[tokio::test]
async fn credentials_file_variable_overrides_the_path() {
    let home = tempfile::tempdir().expect("tmp");
    sdk_profile(home.path(), "AKIDfile", "file-key", 0o600);
    let other = home.path().join("elsewhere.ini");
    write(
        &other,
        "[default]\nsecret_id=AKIDelsewhere\nsecret_key=k2\n",
        0o600,
    );
    let p = resolve(&opts(
        home.path(),
        &[(
            "TENCENTCLOUD_CREDENTIALS_FILE",
            other.to_str().expect("utf8"),
        )],
        None,
    ))
    .await
    .expect("found");
    assert_eq!(p.get().await.expect("c").secret_id(), "AKIDelsewhere");
    assert_eq!(p.source(), "profile file ~/elsewhere.ini");
}

#[cfg(unix)]
#[tokio::test]
async fn a_secret_file_others_can_read_gets_a_warning() {
    let home = tempfile::tempdir().expect("tmp");
    sdk_profile(home.path(), "AKIDfile", "file-key-xyz", 0o644);
    let p = resolve(&opts(home.path(), &[], None)).await.expect("found");
    assert_eq!(p.warnings().len(), 1);
    let w = &p.warnings()[0];
    assert!(w.contains("readable by others") && w.contains("644"), "{w}");
    assert!(!w.contains("file-key-xyz"));
}

#[tokio::test]
async fn tccli_profile_from_argument_then_variable_then_default() {
    let home = tempfile::tempdir().expect("tmp");
    tccli(home.path(), "default", "AKIDdefault", "k0", None);
    tccli(home.path(), "prod", "AKIDprod", "k1", Some("prod-token"));
    tccli(home.path(), "stage", "AKIDstage", "k2", None);

    let p = resolve(&opts(home.path(), &[], None)).await.expect("found");
    assert_eq!(p.source(), "tccli profile default");
    assert_eq!(p.get().await.expect("c").secret_id(), "AKIDdefault");

    let p = resolve(&opts(home.path(), &[("TCCLI_PROFILE", "stage")], None))
        .await
        .expect("found");
    assert_eq!(p.source(), "tccli profile stage");

    let p = resolve(&opts(
        home.path(),
        &[("TCCLI_PROFILE", "stage")],
        Some("prod"),
    ))
    .await
    .expect("found");
    assert_eq!(p.source(), "tccli profile prod");
    let c = p.get().await.expect("c");
    assert_eq!((c.secret_id(), c.token()), ("AKIDprod", Some("prod-token")));
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("k1") && !dbg.contains("prod-token"), "{dbg}");
}

#[tokio::test]
async fn broken_files_give_clear_errors() {
    let home = tempfile::tempdir().expect("tmp");
    write(
        &home.path().join(".tccli/default.credential"),
        "{not json",
        0o600,
    );
    let err = resolve(&opts(home.path(), &[], None))
        .await
        .expect_err("bad json");
    assert!(
        err.to_string()
            .contains("~/.tccli/default.credential is not valid JSON"),
        "{err}"
    );

    let home = tempfile::tempdir().expect("tmp");
    write(
        &home.path().join(".tccli/default.credential"),
        r#"{"secretId": "AKIDx", "secretKey": 987654321}"#,
        0o600,
    );
    let err = resolve(&opts(home.path(), &[], None))
        .await
        .expect_err("mistyped");
    assert!(
        err.to_string().contains("mistyped field at line 1"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("987654321"),
        "no value quoted: {err}"
    );

    let home = tempfile::tempdir().expect("tmp");
    write(
        &home.path().join(".tencentcloud/credentials"),
        "[default]\nsecret_id = AKIDonly\n",
        0o600,
    );
    let err = resolve(&opts(home.path(), &[], None))
        .await
        .expect_err("half");
    assert!(
        err.to_string()
            .contains("needs both secret_id and secret_key"),
        "{err}"
    );

    let home = tempfile::tempdir().expect("tmp");
    let err = resolve(&opts(home.path(), &[], Some("../etc/passwd")))
        .await
        .expect_err("path");
    assert!(err.to_string().contains("not a plain name"), "{err}");
}

#[tokio::test]
async fn nothing_anywhere_lists_where_it_looked() {
    let home = tempfile::tempdir().expect("tmp");
    let err = resolve(&opts(home.path(), &[], None))
        .await
        .expect_err("none");
    let s = err.to_string();
    for place in [
        "TENCENTCLOUD_SECRET_ID",
        "~/.tencentcloud/credentials",
        "~/.tccli",
        "CVM role",
    ] {
        assert!(s.contains(place), "{s}");
    }
}
