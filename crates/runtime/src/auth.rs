//! Service-to-service authentication: every internal gRPC call carries
//! `authorization: Bearer <shared service token>`, compared in constant time. Health checks
//! and reflection stay open (they are not wrapped). The token is a secret: it is never
//! logged, and the header is marked sensitive.
//!
//! The client interceptor also injects the W3C trace context of the current span.

use opentelemetry::propagation::Injector;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tonic::metadata::{AsciiMetadataValue, MetadataKey, MetadataMap};
use tonic::service::Interceptor;
use tonic::{Request, Status};
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[derive(Clone)]
pub struct ServerAuth {
    expected: Option<Arc<Vec<u8>>>,
}

impl ServerAuth {
    /// `None` disables authentication (only with `insecure_no_auth`, for local development).
    pub fn new(token: Option<&SecretString>) -> Self {
        Self {
            expected: token.map(|t| Arc::new(format!("Bearer {}", t.expose_secret()).into_bytes())),
        }
    }
}

impl Interceptor for ServerAuth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else { return Ok(req) };
        let got = req.metadata().get("authorization").map(|v| v.as_bytes()).unwrap_or_default();
        if got.len() == expected.len() && bool::from(got.ct_eq(expected.as_slice())) {
            Ok(req)
        } else {
            Err(Status::unauthenticated("missing or wrong service token"))
        }
    }
}

#[derive(Clone, Default)]
pub struct ClientAuth {
    header: Option<AsciiMetadataValue>,
}

impl ClientAuth {
    pub fn new(token: Option<&SecretString>) -> Result<Self, String> {
        let header = match token {
            Some(t) => {
                let mut v = AsciiMetadataValue::try_from(format!("Bearer {}", t.expose_secret()))
                    .map_err(|_| "the service token must be printable ASCII".to_owned())?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Self { header })
    }
}

impl Interceptor for ClientAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        let cx = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut MetadataInjector(req.metadata_mut()))
        });
        Ok(req)
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) =
            (MetadataKey::from_bytes(key.as_bytes()), AsciiMetadataValue::try_from(value))
        {
            self.0.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_accepts_only_the_right_token() {
        let secret = SecretString::from("s3cret".to_owned());
        let mut server = ServerAuth::new(Some(&secret));
        let mut client = ClientAuth::new(Some(&secret)).unwrap();
        let req = client.call(Request::new(())).unwrap();
        assert!(server.call(req).is_ok());
        let wrong = SecretString::from("s3cres".to_owned());
        let req = ClientAuth::new(Some(&wrong)).unwrap().call(Request::new(())).unwrap();
        assert_eq!(server.call(req).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert!(server.call(Request::new(())).is_err());
        // The header is sensitive so it is redacted from Debug output.
        let req = client.call(Request::new(())).unwrap();
        assert!(!format!("{:?}", req.metadata()).contains("s3cret"));
    }
}
