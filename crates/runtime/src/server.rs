//! gRPC server glue: a server builder with request spans that continue the caller's trace,
//! health (`grpc.health.v1`, with a dependency watcher) and reflection (v1 and v1alpha, of the
//! services a binary serves), and serving with a graceful drain.

use opentelemetry::propagation::Extractor;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic_health::ServingStatus;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A server builder whose request spans are children of the caller's W3C trace context.
/// Concurrent gRPC streams one connection may carry.
pub const MAX_CONCURRENT_STREAMS: u32 = 8192;

pub fn builder() -> Server {
    Server::builder()
        .tcp_nodelay(true)
        // Above any scheduler's concurrency: hyper's default (200) makes a scheduler that
        // opens more streams at once, before it has read the server's SETTINGS, have streams
        // refused and then the whole connection closed with ENHANCE_YOUR_CALM.
        .max_concurrent_streams(Some(MAX_CONCURRENT_STREAMS))
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .trace_fn(|req: &http::Request<()>| {
            let span = tracing::info_span!("grpc", path = %req.uri().path());
            let parent = opentelemetry::global::get_text_map_propagator(|p| {
                p.extract(&HeaderExtractor(req.headers()))
            });
            let _ = span.set_parent(parent);
            span
        })
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The health service's name for liveness: SERVING as long as the process runs, whatever its
/// dependencies (Kubernetes' liveness probe asks for it; the readiness probe asks for "").
pub const LIVENESS: &str = "liveness";

/// Names of the services every binary serves besides its own.
pub const COMMON_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The descriptors of `services` (fully qualified names of shopsync services) and of every
/// file they need, from the shopsync descriptor set.
fn descriptors_of(services: &[&str]) -> Result<prost_types::FileDescriptorSet, ReflectionError> {
    use prost::Message as _;
    let all = prost_types::FileDescriptorSet::decode(shopsync_proto::FILE_DESCRIPTOR_SET)
        .map_err(tonic_reflection::server::Error::from)?;
    let by_name: std::collections::HashMap<&str, &prost_types::FileDescriptorProto> =
        all.file.iter().map(|f| (f.name(), f)).collect();
    let mut wanted: Vec<&str> = Vec::new();
    for s in services {
        let file = all
            .file
            .iter()
            .find(|f| f.service.iter().any(|d| format!("{}.{}", f.package(), d.name()) == *s));
        match file {
            Some(f) => wanted.push(f.name()),
            None => return Err(ReflectionError::UnknownService((*s).to_owned())),
        }
    }
    // Every file they import, transitively.
    let mut keep = std::collections::BTreeSet::new();
    while let Some(name) = wanted.pop() {
        if keep.insert(name)
            && let Some(f) = by_name.get(name)
        {
            wanted.extend(f.dependency.iter().map(String::as_str));
        }
    }
    Ok(prost_types::FileDescriptorSet {
        file: all.file.iter().filter(|f| keep.contains(f.name())).cloned().collect(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReflectionError {
    #[error("no descriptor of service {0}")]
    UnknownService(String),
    #[error(transparent)]
    Reflection(#[from] tonic_reflection::server::Error),
}

fn reflection_builder(
    services: &[&str],
) -> Result<tonic_reflection::server::Builder<'static>, ReflectionError> {
    let mut b = tonic_reflection::server::Builder::configure()
        .register_file_descriptor_set(descriptors_of(services)?)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for name in services.iter().copied().chain(COMMON_SERVICES) {
        b = b.with_service_name(name);
    }
    Ok(b)
}

/// Reflection, v1 and v1alpha, over exactly `services` (the binary's own shopsync services),
/// health and reflection itself.
#[allow(clippy::type_complexity)]
pub fn reflection(
    services: &[&str],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ReflectionError,
> {
    // Each builder adds its own version's reflection descriptor; both get the other's too, so
    // both list the same services and can describe every one of them.
    let v1 = reflection_builder(services)?
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = reflection_builder(services)?
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    Ok((v1, v1alpha))
}

/// A server with health and reflection for exactly `services`, the binary's own shopsync
/// services (their names: `pb::job_queue_server::SERVICE_NAME`...). Each is SERVING, as are
/// the server ("") and [`LIVENESS`]; the returned [`Health`] changes them.
pub async fn router(services: &[&str]) -> Result<(Router, Health), ReflectionError> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let (v1, v1alpha) = reflection(services)?;
    let health = Health { reporter, services: services.iter().map(|s| (*s).to_owned()).collect() };
    health.reporter.set_service_status(LIVENESS, ServingStatus::Serving).await;
    health.set_serving(true).await;
    let router = builder().add_service(health_service).add_service(v1).add_service(v1alpha);
    Ok((router, health))
}

/// The health statuses of one binary's services.
#[derive(Clone)]
pub struct Health {
    reporter: tonic_health::server::HealthReporter,
    services: Vec<String>,
}

/// Checks that a dependency answers (the database: a `SELECT 1` on the service's pool).
pub type Probe = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>
        + Send
        + Sync,
>;

/// A [`Probe`] from an async function.
pub fn probe<F, Fut, E>(f: F) -> Probe
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: Into<anyhow::Error>,
{
    std::sync::Arc::new(move || {
        let fut = f();
        Box::pin(async move { fut.await.map_err(Into::into) })
    })
}

/// A probe that takes longer than this has failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Health {
    /// The server ("") and every service SERVING or NOT_SERVING; liveness stays SERVING.
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
        self.reporter.set_service_status("", status).await;
        for s in &self.services {
            self.reporter.set_service_status(s, status).await;
        }
    }

    /// Probe a dependency every `every` until `stop`: NOT_SERVING from the first failed probe
    /// (so load balancers and Kubernetes route around this replica), SERVING again from the
    /// first one that succeeds. Await the handle before setting the final status at shutdown.
    pub fn watch(
        &self,
        probe: Probe,
        every: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let health = self.clone();
        tokio::spawn(async move {
            let mut up = true;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let result = tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    r = tokio::time::timeout(PROBE_TIMEOUT, probe()) => r,
                };
                let ok = match result {
                    Ok(Ok(())) => true,
                    Ok(Err(e)) => {
                        if up {
                            tracing::warn!(error = ?e, "dependency unreachable, not serving");
                        }
                        false
                    }
                    Err(_) => {
                        if up {
                            tracing::warn!(
                                timeout_ms = PROBE_TIMEOUT.as_millis() as u64,
                                "dependency does not answer, not serving"
                            );
                        }
                        false
                    }
                };
                if ok != up {
                    if ok {
                        tracing::info!("dependency reachable again, serving");
                    }
                    health.set_serving(ok).await;
                    up = ok;
                }
            }
        })
    }
}

/// Bind a listener; port 0 picks a free port (tests).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serve until `shutdown` fires, then stop accepting, let running calls finish for up to
/// `drain` and return.
pub async fn serve<L>(
    router: Router<L>,
    listener: TcpListener,
    shutdown: CancellationToken,
    drain: Duration,
) -> Result<(), tonic::transport::Error>
where
    L: tower::Layer<tonic::service::Routes> + Clone,
    L::Service: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        > + Clone
        + Send
        + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Future: Send + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    // The builder's tcp_nodelay only applies to listeners tonic binds itself: set it on
    // every accepted connection, or Nagle holds a response's last frame (the trailers)
    // until the peer's delayed ACK, 40 ms later.
    let incoming = tokio_stream::StreamExt::map(TcpListenerStream::new(listener), |conn| {
        conn.and_then(|s| {
            s.set_nodelay(true)?;
            Ok(s)
        })
    });
    let stop = shutdown.clone();
    let serve =
        router.serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await });
    tokio::pin!(serve);
    tokio::select! {
        r = &mut serve => r,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(drain).await } => {
            tracing::warn!(drain_secs = drain.as_secs(), "drain timeout, closing remaining calls");
            Ok(())
        }
    }
}
