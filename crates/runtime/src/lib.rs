//! shopsync-runtime: what every shopsync binary shares. Layered configuration, telemetry
//! (tracing + optional OTLP export, W3C trace context over gRPC), graceful shutdown,
//! service-to-service authentication, gRPC server/client glue (health, reflection), and the
//! worker harness that turns a service's task runner into the `Worker` gRPC service.

pub mod auth;
pub mod client;
pub mod config;
pub mod secrets;
pub mod server;
pub mod service;
pub mod shop;
pub mod shutdown;
pub mod telemetry;
pub mod worker;

pub use auth::{ClientAuth, ServerAuth};
pub use config::{ConfigError, load_config};
pub use shutdown::shutdown_on_signals;
pub use telemetry::TelemetryGuard;
