//! Everything that does I/O to learn facts: the transport to peers (ssh or
//! local), the probes and log followers, the monitor that runs them, the
//! VPC API client and the embedded simulator. Sources send
//! [`crate::core::model::Update`]s; they never touch a face.

pub mod attach;
pub mod cloud;
pub mod dataplane;
pub(crate) mod host;
pub mod monitor;
pub mod peer_files;
pub mod probe;
pub mod simulator;
pub mod transport;
