//! The Tencent Cloud VPC API client (I/O): signed requests with
//! retries, the credential chain, and batched binding polls.

pub mod batch;
pub mod client;
pub mod credentials;

pub use batch::poll_bindings;
pub use client::{connect, ClientConfig, CloudError, RetryPolicy, TaskOutcome, VpcClient};
pub use credentials::{ChainOptions, CredentialProvider, CredentialSource, Credentials};
