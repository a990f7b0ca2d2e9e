//! Tracing set-up. `RUST_LOG` filters (default `info`), `LOG_FORMAT=json` gives JSON lines,
//! and spans are exported over OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. The
//! W3C trace-context propagator is always installed so trace ids cross gRPC calls.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Flushes and shuts the exporter down when dropped: keep it alive until `main` returns.
#[must_use = "telemetry is flushed when the guard drops"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("telemetry shutdown failed: {e}");
        }
    }
}

pub fn init(service_name: &str) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let fmt = if json {
        tracing_subscriber::fmt::layer().json().with_current_span(false).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_target(true).boxed()
    };
    let mut provider = None;
    let otel = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(ep) if !ep.is_empty() => {
            let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic().build()?;
            let p = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder().with_service_name(service_name.to_owned()).build(),
                )
                .build();
            let tracer = p.tracer(service_name.to_owned());
            opentelemetry::global::set_tracer_provider(p.clone());
            provider = Some(p);
            Some(tracing_opentelemetry::layer().with_tracer(tracer))
        }
        _ => None,
    };
    tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init()?;
    Ok(TelemetryGuard { provider })
}

/// Test and tool variant: logs to the test writer, never fails if already set.
pub fn init_for_tests() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_test_writer())
        .try_init();
}
