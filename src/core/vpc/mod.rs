//! The Tencent Cloud VPC API as data: TC3-HMAC-SHA256 signing and the typed
//! objects of the actions vipdeck calls. Shared by the client
//! ([`crate::sources::cloud`]) and the emulator ([`crate::cloudsim`]).

pub mod sign;
pub mod types;
