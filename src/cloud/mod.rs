//! The Tencent Cloud VPC API: signing, typed objects, and (later) the client.

pub mod sign;
pub mod types;
