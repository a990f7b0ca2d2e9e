//! What every scenario shares: a fresh database per scenario (dropped once measured), the
//! services' binaries started beside the bench (killed with it), their health and logs, the
//! bench shop, and the host a result was measured on.

use anyhow::{Context, Result, bail};
use serde_json::json;
use shopsync_runtime::client::AuthedChannel;
use sqlx::{AssertSqlSafe, Connection};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Child;

fn admin_url() -> Result<String> {
    std::env::var("DATABASE_URL")
        .context("DATABASE_URL is not set (make bench starts a throwaway cluster)")
}

fn db_url(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

pub async fn fresh_db(name: &str) -> Result<String> {
    let admin = admin_url()?;
    let mut c = sqlx::postgres::PgConnection::connect(&admin).await?;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut c)
        .await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut c).await?;
    // Start each scenario with the earlier ones' dirty pages written out, so it does not pay
    // for their checkpoint.
    sqlx::query("CHECKPOINT").execute(&mut c).await?;
    Ok(db_url(&admin, name))
}

/// Drop a scenario's database once it is measured, so its dead rows do not keep autovacuum
/// busy during the next scenario.
pub async fn drop_db(name: &str) -> Result<()> {
    let mut c = sqlx::postgres::PgConnection::connect(&admin_url()?).await?;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut c)
        .await?;
    Ok(())
}

/// A channel to the service started on `port`, with the bench's service token.
pub async fn connect(port: u16) -> Result<AuthedChannel> {
    let auth =
        shopsync_runtime::ClientAuth::new(Some(&secrecy::SecretString::from(TOKEN.to_owned())))
            .map_err(anyhow::Error::msg)?;
    Ok(shopsync_runtime::client::connect(&format!("http://127.0.0.1:{port}"), auth).await?)
}

/// Connect the benchmarks' shop to the scheduler on `scheduler_port` (entries of unknown
/// shops are refused).
pub async fn create_bench_shop(scheduler_port: u16) -> Result<()> {
    let ch = connect(scheduler_port).await?;
    let shop = shopsync_proto::pb::Shop {
        name: "bench-shop".into(),
        store_domain: "bench-shop.myshopify.com".into(),
        ..Default::default()
    };
    shopsync_proto::pb::shops_client::ShopsClient::new(ch)
        .create_shop(shopsync_proto::pb::CreateShopRequest {
            shop: Some(shop),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Started services, killed when dropped.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.start_kill();
        }
    }
}

pub const TOKEN: &str = "bench-service-token-0123456789";

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub async fn wait_healthy(port: u16) -> Result<()> {
    let start = Instant::now();
    loop {
        let ok = async {
            let ch = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
                .connect()
                .await?;
            let r = tonic_health::pb::health_client::HealthClient::new(ch)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await?;
            anyhow::Ok(r.into_inner().status == 1)
        }
        .await;
        if matches!(ok, Ok(true)) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!("service on port {port} did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where a started service's log goes: target/bench-logs/<name>.log.
pub fn bench_log(name: &str) -> Result<Stdio> {
    let dir = std::env::current_exe()?.parent().context("no exe dir")?.join("../bench-logs");
    std::fs::create_dir_all(&dir)?;
    Ok(std::fs::File::create(dir.join(format!("{name}.log")))?.into())
}

pub fn host() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    json!({ "cpus": cpus, "os": std::env::consts::OS, "arch": std::env::consts::ARCH })
}

/// `v` (an object) stamped with the host and the time it was measured.
pub fn stamped(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("host".into(), host());
        o.insert("date".into(), json!(chrono::Utc::now().to_rfc3339()));
    }
    v
}
