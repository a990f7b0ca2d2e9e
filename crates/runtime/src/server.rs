//! gRPC server glue: a server builder with request spans that continue the caller's trace,
//! health (`grpc.health.v1`) and reflection services, and serving with a graceful drain.

use opentelemetry::propagation::Extractor;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::Router;
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

/// Reflection over the shopsync services and health.
pub fn reflection() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::Error,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(shopsync_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
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
