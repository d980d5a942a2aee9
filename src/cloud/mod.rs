//! The Tencent Cloud VPC API: TC3 signing, typed objects, the client with
//! its retries, the credential chain, and batched binding polls.

pub mod batch;
pub mod client;
pub mod credentials;
pub mod sign;
pub mod types;

pub use batch::poll_bindings;
pub use client::{connect, ClientConfig, CloudError, RetryPolicy, TaskOutcome, VpcClient};
pub use credentials::{ChainOptions, CredentialProvider, CredentialSource, Credentials};
