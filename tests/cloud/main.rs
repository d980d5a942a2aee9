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
