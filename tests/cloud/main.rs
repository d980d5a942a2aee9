//! Integration tests of the Tencent Cloud side: the signer against the
//! official SDK, the client over HTTP, the credential chain, and the
//! emulator (`vipdeck cloudsim`) over HTTP, from its CLI, from the SDK, and
//! against the client and local peers. One test binary, one module per
//! area (`cargo test --test cloud`).

mod cloud_client_http;
mod cloud_credentials;
mod cloud_signer_sdk;
mod cloud_vs_cloudsim;
mod cloudsim_cli;
mod cloudsim_http;
mod cloudsim_sdk;
mod local_peers_cloudsim;

/// The official SDK's Python, from the virtualenv scripts/setup-venv.sh
/// makes (scripts/test.sh runs it first). A missing venv fails the test
/// that needs it: a reference check that did not run is not a pass.
fn venv_python() -> std::path::PathBuf {
    let venv = std::env::var_os("VIPDECK_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    let py = venv.join("bin").join("python");
    assert!(
        py.exists(),
        "the official SDK's virtualenv is missing ({}): run scripts/setup-venv.sh, or \
         scripts/test.sh, which runs it",
        py.display()
    );
    py
}
