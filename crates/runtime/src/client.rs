//! gRPC client glue: channels with sane timeouts and keepalive, wrapped with the service
//! token and trace-context interceptor.

use crate::auth::ClientAuth;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub type AuthedChannel = InterceptedService<Channel, ClientAuth>;

fn endpoint(url: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true))
}

/// Connect now (the CLI: fail fast with a clear error when the server is unreachable).
pub async fn connect(
    url: &str,
    auth: ClientAuth,
) -> Result<AuthedChannel, tonic::transport::Error> {
    let ch = endpoint(url)?.connect().await?;
    Ok(InterceptedService::new(ch, auth))
}

/// Connect on first use and reconnect as needed (service to service).
pub fn connect_lazy(url: &str, auth: ClientAuth) -> Result<AuthedChannel, tonic::transport::Error> {
    let ch = endpoint(url)?.connect_lazy();
    Ok(InterceptedService::new(ch, auth))
}
