//! End-to-end harness: a fresh PostgreSQL database per test, the real service binaries as
//! child processes on free loopback ports, gRPC clients, and `eventually` instead of sleeps.
//!
//! Binaries come from the workspace target directory (`cargo build --workspace --bins`
//! first; `make test` does). Child logs go to `target/e2e-logs/<test>/<process>.log`.

use anyhow::{Context, Result, bail};
use secrecy::SecretString;
use shopsync_proto::pb;
use shopsync_proto::pb::job_queue_client::JobQueueClient;
use shopsync_runtime::ClientAuth;
use shopsync_runtime::client::AuthedChannel;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub use shopsync_common::{Resource, Service};

pub mod inventory;
pub mod orders;

/// Poll a check until it returns `Ok`, or fail with its last error after the timeout.
pub use shopsync_testkit::eventually;

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own, dropped with the value.
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn create() -> Result<Self> {
        let admin = admin_url();
        let name = format!("shopsync_e2e_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::postgres::PgConnection::connect_with(&admin.parse()?)
            .await
            .with_context(|| "connecting to PostgreSQL (set DATABASE_URL)".to_string())?;
        use sqlx::Connection as _;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
        let (base, query) = match admin.rsplit_once('/').map(|(_, db)| db.split_once('?')) {
            Some(Some((_, q))) => (base, format!("?{q}")),
            _ => (base, String::new()),
        };
        Ok(Self { url: format!("{base}/{name}{query}"), name })
    }

    pub async fn pool(&self) -> Result<sqlx::PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&self.url).await?)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = admin_url();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                use sqlx::Connection as _;
                let Ok(opts) = admin.parse::<sqlx::postgres::PgConnectOptions>() else { return };
                if let Ok(mut c) = sqlx::postgres::PgConnection::connect_with(&opts).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            })
        })
        .join();
    }
}

pub fn free_addr() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

fn target_dir() -> Result<PathBuf> {
    if let Ok(d) = std::env::var("SHOPSYNC_BIN_DIR") {
        return Ok(PathBuf::from(d));
    }
    // .../target/<profile>/deps/<test-binary>
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(|d| d.parent()).context("test binary has no target dir")?;
    Ok(dir.to_path_buf())
}

pub fn bin(name: &str) -> Result<PathBuf> {
    let p = target_dir()?.join(name);
    if !p.exists() {
        bail!(
            "{} is missing: run `cargo build --workspace --bins` first (make test does)",
            p.display()
        );
    }
    Ok(p)
}

/// A running service binary; killed when dropped.
pub struct Proc {
    pub name: String,
    pub addr: SocketAddr,
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A process started by other means (not a gRPC service).
    pub fn from_child(name: &str, addr: SocketAddr, child: Child, log: PathBuf) -> Self {
        Self { name: name.to_owned(), addr, child, log }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: a crash, nothing drains.
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// SIGTERM, then wait for the exit status.
    pub async fn terminate(&mut self, within: Duration) -> Result<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await?;
        }
        Ok(tokio::time::timeout(within, self.child.wait())
            .await
            .context("process did not exit")??)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub struct Spawn<'a> {
    pub binary: &'a str,
    pub name: &'a str,
    pub test: &'a str,
    pub env: Vec<(String, String)>,
}

pub async fn spawn(s: Spawn<'_>) -> Result<Proc> {
    let addr = match s.env.iter().find(|(k, _)| k == "SHOPSYNC_LISTEN") {
        Some((_, v)) => v.parse()?,
        None => free_addr()?,
    };
    let dir = target_dir()?.join("e2e-logs").join(s.test);
    std::fs::create_dir_all(&dir)?;
    let log = dir.join(format!("{}.log", s.name));
    let file = std::fs::File::create(&log)?;
    let mut cmd = Command::new(bin(s.binary)?);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "info".into()))
        .env("SHOPSYNC_LISTEN", addr.to_string())
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true);
    for (k, v) in &s.env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().with_context(|| format!("starting {}", s.binary))?;
    let p = Proc { name: s.name.to_owned(), addr, child, log };
    wait_serving(&p).await?;
    Ok(p)
}

async fn wait_serving(p: &Proc) -> Result<()> {
    let url = p.url();
    eventually(Duration::from_secs(20), || {
        let url = url.clone();
        async move {
            let ch = tonic::transport::Endpoint::from_shared(url)?.connect().await?;
            let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
            let r =
                h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await?;
            if r.into_inner().status
                != tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            {
                bail!("not serving yet");
            }
            Ok(())
        }
    })
    .await
    .with_context(|| {
        format!("{} did not become healthy; log: {}\n{}", p.name, p.log.display(), p.log_text())
    })
}

pub const TOKEN: &str = "e2e-service-token-0123456789";

pub fn secret() -> SecretString {
    SecretString::from(TOKEN.to_owned())
}

/// A worker service. Every one gets the database; the posting service needs it (it owns
/// the `posting` schema), the others ignore it until their tasks do.
pub async fn start_worker(test: &str, service: Service, db: &TestDb) -> Result<Proc> {
    let binary = format!("shopsync-{}", service.as_str().replace('_', "-"));
    spawn(Spawn {
        binary: &binary,
        name: &binary,
        test,
        env: vec![
            ("SHOPSYNC_SERVICE_TOKEN".into(), TOKEN.into()),
            ("SHOPSYNC_DATABASE_URL".into(), db.url.clone()),
        ],
    })
    .await
}

/// The four sync services.
pub struct Workers {
    pub procs: Vec<(Service, Proc)>,
}

impl Workers {
    pub async fn start(test: &str, db: &TestDb) -> Result<Self> {
        let mut procs = Vec::new();
        for s in Service::ALL {
            procs.push((s, start_worker(test, s, db).await?));
        }
        Ok(Self { procs })
    }

    pub fn env(&self) -> Vec<(String, String)> {
        self.procs
            .iter()
            .map(|(s, p)| {
                (format!("SHOPSYNC_WORKERS__{}", s.as_str().to_ascii_uppercase()), p.url())
            })
            .collect()
    }

    pub fn get_mut(&mut self, s: Service) -> &mut Proc {
        &mut self.procs.iter_mut().find(|(x, _)| *x == s).expect("worker").1
    }
}

/// The keyring every test scheduler and sync service shares (a fixed, test-only key).
pub const TEST_SECRET_KEYS: &str = "test-1=c2hvcHN5bmMtdGVzdC1rZXktMzItYnl0ZXMtLS0tLSE=";

/// Shops every test scheduler has (entries of unknown shops are refused).
pub const FIXTURE_SHOPS: [&str; 3] = ["shop-1", "shop-2", "s"];

/// Scheduler `sched-a` listening on `addr`, dispatching to workers started on their own
/// (`("POSTING", &posting)` sets `SHOPSYNC_WORKERS__POSTING`); it owns none of them.
pub async fn scheduler_for(
    test: &str,
    db: &TestDb,
    addr: std::net::SocketAddr,
    workers: &[(&str, &Proc)],
) -> Result<Proc> {
    let mut env = vec![("SHOPSYNC_LISTEN".to_owned(), addr.to_string())];
    for (service, p) in workers {
        env.push((format!("SHOPSYNC_WORKERS__{service}"), p.url()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let none = Workers { procs: Vec::new() };
    start_scheduler(test, "sched-a", db, &none, &env).await
}

/// A scheduler with the test keyring and the [`FIXTURE_SHOPS`] connected.
pub async fn start_scheduler(
    test: &str,
    name: &str,
    db: &TestDb,
    workers: &Workers,
    extra: &[(&str, &str)],
) -> Result<Proc> {
    let mut env = vec![
        ("SHOPSYNC_DATABASE_URL".to_owned(), db.url.clone()),
        ("SHOPSYNC_SERVICE_TOKEN".to_owned(), TOKEN.to_owned()),
        ("SHOPSYNC_REPLICA_NAME".to_owned(), name.to_owned()),
        ("SHOPSYNC_SECRET_KEYS".to_owned(), TEST_SECRET_KEYS.to_owned()),
    ];
    env.extend(workers.env());
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let p = spawn(Spawn { binary: "shopsync-scheduler", name, test, env }).await?;
    create_fixture_shops(&p).await?;
    Ok(p)
}

/// Connect the [`FIXTURE_SHOPS`] through scheduler `p` (already there: fine).
pub async fn create_fixture_shops(p: &Proc) -> Result<()> {
    let mut shops = shops(p).await?;
    for shop in FIXTURE_SHOPS {
        match shops.create_shop(shop_request(shop, "http://127.0.0.1:9")).await {
            Ok(_) => {}
            // Another replica on the same database connected them.
            Err(s) if s.code() == tonic::Code::AlreadyExists => {}
            Err(s) => return Err(s.into()),
        }
    }
    Ok(())
}

pub type Shops = pb::shops_client::ShopsClient<AuthedChannel>;

pub async fn shops(p: &Proc) -> Result<Shops> {
    let auth = ClientAuth::new(Some(&secret())).map_err(anyhow::Error::msg)?;
    Ok(pb::shops_client::ShopsClient::new(shopsync_runtime::client::connect(&p.url(), auth).await?))
}

/// A create request for a shop at `url` (a simulator, or nothing) with default settings.
pub fn shop_request(name: &str, url: &str) -> pb::CreateShopRequest {
    pb::CreateShopRequest {
        shop: Some(pb::Shop { name: name.into(), store_domain: url.into(), ..Default::default() }),
        ..Default::default()
    }
}

pub type Queue = JobQueueClient<AuthedChannel>;

pub async fn queue(p: &Proc) -> Result<Queue> {
    let auth = ClientAuth::new(Some(&secret())).map_err(anyhow::Error::msg)?;
    Ok(JobQueueClient::new(shopsync_runtime::client::connect(&p.url(), auth).await?))
}

/// A spec for the built-in test task.
pub fn test_spec(service: Service, steps: u32, step_ms: u32) -> pb::JobSpec {
    pb::JobSpec {
        shop: "shop-1".into(),
        params: Some(pb::TaskParams {
            params: Some(pb::task_params::Params::Test(pb::TestParams {
                service: shopsync_proto::service_to_pb(service) as i32,
                steps,
                step_ms,
                ..Default::default()
            })),
        }),
        created_by: "e2e".into(),
        ..Default::default()
    }
}

pub fn test_params_mut(spec: &mut pb::JobSpec) -> &mut pb::TestParams {
    match spec.params.as_mut().and_then(|p| p.params.as_mut()) {
        Some(pb::task_params::Params::Test(t)) => t,
        _ => panic!("not a test spec"),
    }
}

pub async fn create(q: &mut Queue, spec: pb::JobSpec) -> Result<pb::JobEntry> {
    Ok(q.create_entry(pb::CreateEntryRequest { spec: Some(spec), ..Default::default() })
        .await?
        .into_inner())
}

pub async fn runs(q: &mut Queue, entry: &str) -> Result<Vec<pb::JobRun>> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let r = q
            .list_runs(pb::ListRunsRequest {
                entry_id: entry.to_owned(),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        all.extend(r.runs);
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    all.reverse(); // oldest first
    Ok(all)
}

pub async fn entry(q: &mut Queue, id: &str) -> Result<pb::JobEntry> {
    Ok(q.get_entry(pb::GetEntryRequest { id: id.to_owned() }).await?.into_inner())
}

pub fn status(e: &pb::JobEntry) -> pb::JobStatus {
    pb::JobStatus::try_from(e.status).unwrap_or(pb::JobStatus::Unspecified)
}

pub fn run_status(r: &pb::JobRun) -> pb::RunStatus {
    pb::RunStatus::try_from(r.status).unwrap_or(pb::RunStatus::Unspecified)
}

pub fn time(
    t: &Option<shopsync_proto::prost_types::Timestamp>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    t.as_ref().and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
}

pub type ErpClient = pb::erp_client::ErpClient<AuthedChannel>;
pub type PostingClient = pb::posting_client::PostingClient<AuthedChannel>;

/// Clients of the posting service's `Erp` and `Posting` APIs.
pub async fn erp_clients(p: &Proc) -> Result<(ErpClient, PostingClient)> {
    let auth = ClientAuth::new(Some(&secret())).map_err(anyhow::Error::msg)?;
    let ch = shopsync_runtime::client::connect(&p.url(), auth).await?;
    Ok((pb::erp_client::ErpClient::new(ch.clone()), pb::posting_client::PostingClient::new(ch)))
}

/// A PostgreSQL cluster of its own (initdb + pg_ctl in a temporary directory, on a free
/// loopback port), for tests that stop and restart the database under running services.
/// Removed when dropped. As root, the server runs as `postgres` (initdb refuses root).
pub struct PgCluster {
    dir: PathBuf,
    port: u16,
    as_user: Option<&'static str>,
}

impl PgCluster {
    pub async fn start() -> Result<Self> {
        let port = free_addr()?.port();
        let dir = target_dir()?.join(format!("pg-e2e-{port}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let root = Command::new("id").arg("-u").output().await?.stdout.starts_with(b"0\n");
        let as_user = root.then_some("postgres");
        let c = Self { dir, port, as_user };
        if let Some(u) = as_user {
            c.run("chown", &[u, &c.dir.display().to_string()], false).await?;
        }
        let data = c.data();
        c.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
            true,
        )
        .await?;
        c.start_again().await?;
        Ok(c)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// A superuser URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    async fn run(&self, program: &str, args: &[&str], as_user: bool) -> Result<()> {
        let program = &pg_bin(program);
        let mut cmd = match self.as_user.filter(|_| as_user) {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--", program]);
                c
            }
            None => Command::new(program),
        };
        let out = cmd.args(args).stdin(Stdio::null()).output().await?;
        if !out.status.success() {
            bail!(
                "{program} {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Start the server (again), on the same port; returns once it accepts connections.
    pub async fn start_again(&self) -> Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &opts, "start"],
            true,
        )
        .await
    }

    /// Stop the server (fast shutdown: sessions are terminated); returns once it is down.
    pub async fn stop(&self) -> Result<()> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"], true).await
    }
}

/// A PostgreSQL server program: on the PATH, or where distributions install it (as
/// scripts/with-pg.sh looks for it).
fn pg_bin(program: &str) -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
    if on_path || !matches!(program, "initdb" | "pg_ctl") {
        return program.to_owned();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("bin").join(program))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().map_or_else(|| program.to_owned(), |p| p.display().to_string())
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        let mut cmd = match self.as_user {
            Some(u) => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", u, "--"]).arg(pg_bin("pg_ctl"));
                c
            }
            None => std::process::Command::new(pg_bin("pg_ctl")),
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The serving status of `service` ("" for the server) on a process's health service.
pub async fn health_status(
    p: &Proc,
    service: &str,
) -> Result<tonic_health::pb::health_check_response::ServingStatus> {
    let ch = tonic::transport::Endpoint::from_shared(p.url())?.connect().await?;
    let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
    let r = h
        .check(tonic_health::pb::HealthCheckRequest { service: service.to_owned() })
        .await?
        .into_inner();
    Ok(tonic_health::pb::health_check_response::ServingStatus::try_from(r.status)?)
}
