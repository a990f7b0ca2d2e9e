//! shopsync-proto: the generated gRPC code for `proto/shopsync/v1` and the conversions
//! between its messages and the domain types of `shopsync-common`. Business logic works with
//! the common types; `pb` is for the gRPC boundaries (each service's `grpc.rs`, the worker
//! harness and its clients, the CLI, tests and benchmarks). The posting service's repository
//! still speaks `pb` (ARCHITECTURE.md says why).

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod pb {
    tonic::include_proto!("shopsync.v1");
}

/// Encoded descriptors of every shopsync service, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("shopsync_descriptor");

pub mod convert;
pub mod limits;
pub mod shops;

/// Re-exported so callers use the same `Timestamp` type as the generated code.
pub use prost_types;

pub use convert::*;
pub use limits::CheckText;
