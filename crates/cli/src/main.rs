//! `shopsync`: the command line. Talks gRPC to the scheduler (`jobs`, `sync`, `shops`,
//! `cursors`), to order-sync (`cues`), to inventory-sync (`stock`) and to the posting service
//! (`items`, `customers`, `orders`, `post`).

/// `println!` for a command line: when the reader went away (`shopsync … | head`), stop
/// quietly with success instead of panicking on the broken pipe.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing the output: {e}");
            std::process::exit(1);
        }
    }};
}

mod cues;
mod erp;
mod shops;
mod stock;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::SecretString;
use shopsync_common::recurrence::parse_time_of_day;
use shopsync_common::{CatchUp, EntrySpec, Priority, Recurrence, Rule, Task, TaskParams};
use shopsync_proto::pb::job_queue_client::JobQueueClient;
use shopsync_proto::{pb, spec_from_pb, spec_to_pb};
use shopsync_runtime::ClientAuth;
use shopsync_runtime::client::AuthedChannel;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "shopsync", version, about = "Keep an ERP and its Shopify stores in step")]
struct Cli {
    /// Scheduler gRPC address.
    #[arg(
        long,
        global = true,
        env = "SHOPSYNC_SCHEDULER_URL",
        default_value = "http://127.0.0.1:50050"
    )]
    scheduler: String,
    /// Service token (shared secret of the internal gRPC APIs).
    #[arg(long, global = true, env = "SHOPSYNC_SERVICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Posting service gRPC address (items, customers, orders, post).
    #[arg(
        long,
        global = true,
        env = "SHOPSYNC_POSTING_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    posting: String,
    /// order-sync gRPC address (activity cues).
    #[arg(
        long,
        global = true,
        env = "SHOPSYNC_ORDER_SYNC_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    order_sync: String,
    /// inventory-sync gRPC address (stock diff, drift, history).
    #[arg(
        long,
        global = true,
        env = "SHOPSYNC_INVENTORY_SYNC_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    inventory_sync: String,
    /// Print the raw records instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Cmd {
    /// Job queue entries and their runs.
    #[command(subcommand)]
    Jobs(Jobs),
    /// Shops: list, show, create, update, disable, enable.
    #[command(subcommand)]
    Shops(shops::Shops),
    /// Sync cursors per shop: list, reset.
    #[command(subcommand)]
    Cursors(shops::Cursors),
    /// Items: list, show (with prices and stock), create, adjust stock.
    #[command(subcommand)]
    Items(erp::Items),
    /// Customers: list, show, create.
    #[command(subcommand)]
    Customers(erp::Customers),
    /// Locations: list, create.
    #[command(subcommand)]
    Locations(erp::Locations),
    /// Sales orders and invoices: list, show, create, release, reopen, delete.
    #[command(subcommand)]
    Orders(erp::Orders),
    /// Sync now: run a task for a shop once. In the background when the shop allows it (the
    /// entry is printed), else followed to its end; --wait always follows.
    Sync {
        task: Task,
        #[arg(long)]
        shop: String,
        /// Task parameters (saved filters) as JSON, e.g. '{"only_fully_paid": true}'.
        #[arg(long)]
        params: Option<String>,
        /// Follow the run to its end even when the shop syncs in the background.
        #[arg(long)]
        wait: bool,
        /// Idempotency key: repeating the command follows the same entry.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Activity cues (counts, of one shop with --shop); `cues show KIND`, `cues retry KIND KEY`.
    Cues {
        #[arg(long)]
        shop: Option<String>,
        #[command(subcommand)]
        cmd: Option<cues::Cues>,
    },
    /// Stock in Shopify (inventory-sync): `stock diff`, `stock drift`, `stock history`.
    #[command(subcommand)]
    Stock(stock::Stock),
    /// Post a sales order (ship and/or invoice) or a sales invoice.
    Post {
        no: String,
        #[arg(long)]
        ship: bool,
        #[arg(long)]
        invoice: bool,
        /// YYYY-MM-DD; defaults to the document's posting date.
        #[arg(long, default_value = "")]
        posting_date: String,
    },
}

async fn connect_posting(cli: &Cli) -> Result<AuthedChannel> {
    let token = cli.token.clone().map(SecretString::from);
    let auth = ClientAuth::new(token.as_ref()).map_err(anyhow::Error::msg)?;
    shopsync_runtime::client::connect(&cli.posting, auth).await.with_context(|| {
        format!(
            "cannot reach the posting service at {} (is it running? --posting / SHOPSYNC_POSTING_URL)",
            cli.posting
        )
    })
}

#[derive(Subcommand)]
enum Jobs {
    /// List entries.
    List {
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        #[arg(long)]
        shop: Option<String>,
        #[arg(long)]
        task: Option<Task>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One entry and its latest runs.
    Show { id: String },
    /// Create an entry (Ready, or On Hold with --on-hold).
    Create {
        #[arg(long)]
        task: Task,
        #[arg(long)]
        shop: String,
        /// Task parameters as JSON, e.g. '{"only_fully_paid": true}' or, for the test task,
        /// '{"service": "posting", "steps": 5, "step_ms": 200}'.
        #[arg(long)]
        params: Option<String>,
        #[arg(long)]
        on_hold: bool,
        /// Idempotency key: repeating the command returns the same entry.
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        opts: SpecOpts,
    },
    /// Change an entry (only the options given change).
    Update {
        id: String,
        #[arg(long)]
        params: Option<String>,
        /// Make it a one-off entry.
        #[arg(long)]
        no_recurrence: bool,
        #[command(flatten)]
        opts: SpecOpts,
    },
    /// Stop future runs (a running job finishes first).
    Hold { id: String },
    /// Ready again: clears the error and attempts.
    Ready { id: String },
    /// Run once now; --wait follows it with a progress bar.
    RunNow {
        id: String,
        #[arg(long)]
        wait: bool,
    },
    /// Cancel the running job.
    Cancel { id: String },
    /// Delete an entry (not while it runs).
    Delete { id: String },
    /// The run log, newest first.
    Log {
        /// Only this entry's runs.
        id: Option<String>,
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        #[arg(long)]
        shop: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Follow an entry live until it is idle.
    Watch { id: String },
}

#[derive(Clone, Copy, ValueEnum)]
enum CatchUpArg {
    One,
    Skip,
    All,
}

#[derive(Args, Default)]
struct SpecOpts {
    #[arg(long)]
    description: Option<String>,
    /// Recur every DURATION (10s, 15m, 1h).
    #[arg(long, value_parser = humantime::parse_duration, group = "rule")]
    every: Option<Duration>,
    /// Recur by a 5-field cron expression.
    #[arg(long, group = "rule")]
    cron: Option<String>,
    /// Recur by a date formula (1D, CW+1D, CM…), at --start-time.
    #[arg(long, group = "rule")]
    date_formula: Option<String>,
    /// Recur once a day at --start-time.
    #[arg(long, group = "rule")]
    daily: bool,
    /// Allowed weekdays: mon,tue,…
    #[arg(long, value_delimiter = ',')]
    weekdays: Vec<chrono::Weekday>,
    /// Daily window start, HH:MM.
    #[arg(long)]
    start_time: Option<String>,
    /// Daily window end, HH:MM (before the start: the window crosses midnight).
    #[arg(long)]
    end_time: Option<String>,
    /// IANA time zone of the recurrence.
    #[arg(long)]
    tz: Option<String>,
    #[arg(long, value_enum)]
    catch_up: Option<CatchUpArg>,
    #[arg(long)]
    allow_overlap: Option<bool>,
    #[arg(long)]
    stop_on_error: Option<bool>,
    #[arg(long)]
    category: Option<String>,
    #[arg(long)]
    priority: Option<Priority>,
    #[arg(long)]
    max_attempts: Option<u32>,
    #[arg(long, value_parser = humantime::parse_duration)]
    rerun_delay: Option<Duration>,
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// RFC 3339 time.
    #[arg(long)]
    earliest_start: Option<DateTime<Utc>>,
    #[arg(long)]
    expires: Option<DateTime<Utc>>,
    #[arg(long, env = "USER")]
    created_by: Option<String>,
}

impl SpecOpts {
    fn rule(&self) -> Result<Option<Rule>> {
        Ok(match (&self.every, &self.cron, &self.date_formula, self.daily) {
            (Some(d), ..) => {
                let secs = d.as_secs();
                if secs == 0 || d.subsec_nanos() != 0 {
                    bail!("--every must be a whole number of seconds (at least 1s)");
                }
                Some(Rule::Interval {
                    seconds: u32::try_from(secs).context("--every is too long")?,
                })
            }
            (_, Some(c), ..) => Some(Rule::Cron { expr: c.clone() }),
            (_, _, Some(f), _) => Some(Rule::DateFormula { formula: f.clone() }),
            (.., true) => Some(Rule::Daily),
            _ => None,
        })
    }

    fn touches_recurrence(&self) -> bool {
        self.every.is_some()
            || self.cron.is_some()
            || self.date_formula.is_some()
            || self.daily
            || !self.weekdays.is_empty()
            || self.start_time.is_some()
            || self.end_time.is_some()
            || self.catch_up.is_some()
            || self.allow_overlap.is_some()
            || self.stop_on_error.is_some()
    }

    fn apply(&self, spec: &mut EntrySpec) -> Result<()> {
        if let Some(d) = &self.description {
            spec.description = Some(d.clone());
        }
        if self.touches_recurrence() {
            let mut rec = match (self.rule()?, spec.recurrence.take()) {
                (Some(rule), Some(mut r)) => {
                    r.rule = rule;
                    r
                }
                (Some(rule), None) => Recurrence::with_rule(rule),
                (None, Some(r)) => r,
                (None, None) => bail!(
                    "weekdays, windows and catch-up need a rule: --every, --cron, --date-formula or --daily"
                ),
            };
            if !self.weekdays.is_empty() {
                rec.weekdays = self.weekdays.clone();
            }
            if let Some(t) = &self.start_time {
                rec.window.start =
                    Some(parse_time_of_day(t).map_err(|e| anyhow!("--start-time: {}", e.reason))?);
            }
            if let Some(t) = &self.end_time {
                rec.window.end =
                    Some(parse_time_of_day(t).map_err(|e| anyhow!("--end-time: {}", e.reason))?);
            }
            if let Some(c) = self.catch_up {
                rec.catch_up = match c {
                    CatchUpArg::One => CatchUp::One,
                    CatchUpArg::Skip => CatchUp::Skip,
                    CatchUpArg::All => CatchUp::AllWithinWindow,
                };
            }
            if let Some(v) = self.allow_overlap {
                rec.allow_overlap = v;
            }
            if let Some(v) = self.stop_on_error {
                rec.stop_on_error = v;
            }
            spec.recurrence = Some(rec);
        }
        if let Some(tz) = &self.tz {
            spec.time_zone = tz.clone();
        }
        if let Some(c) = &self.category {
            spec.category = Some(c.clone()).filter(|c| !c.is_empty());
        }
        if let Some(p) = self.priority {
            spec.priority = p;
        }
        if let Some(m) = self.max_attempts {
            spec.retry.max_attempts = m;
        }
        if let Some(d) = self.rerun_delay {
            spec.retry.rerun_delay_secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        }
        if let Some(d) = self.timeout {
            spec.timeout_secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        }
        if let Some(t) = self.earliest_start {
            spec.earliest_start = Some(t);
        }
        if let Some(t) = self.expires {
            spec.expires_at = Some(t);
        }
        if let Some(u) = &self.created_by {
            spec.created_by = u.clone();
        }
        Ok(())
    }
}

fn parse_params(task: Task, json: Option<&str>) -> Result<TaskParams> {
    let Some(json) = json else { return Ok(TaskParams::default_for(task)) };
    let value: serde_json::Value =
        serde_json::from_str(json).context("--params is not valid JSON")?;
    let wrapped = serde_json::json!({ task.as_str(): value });
    serde_json::from_value(wrapped)
        .with_context(|| format!("--params does not fit the {task} task"))
}

type Client = JobQueueClient<AuthedChannel>;

async fn connect(cli: &Cli) -> Result<Client> {
    Ok(JobQueueClient::new(connect_scheduler(cli).await?))
}

async fn connect_scheduler(cli: &Cli) -> Result<AuthedChannel> {
    let token = cli.token.clone().map(SecretString::from);
    let auth = ClientAuth::new(token.as_ref()).map_err(anyhow::Error::msg)?;
    shopsync_runtime::client::connect(&cli.scheduler, auth)
        .await
        .with_context(|| format!("cannot reach the scheduler at {} (is it running? --scheduler / SHOPSYNC_SCHEDULER_URL)", cli.scheduler))
}

/// gRPC errors as one clear line.
fn rpc(e: tonic::Status) -> anyhow::Error {
    use tonic::Code::*;
    match e.code() {
        InvalidArgument => anyhow!("invalid argument: {}", e.message()),
        NotFound => anyhow!("{}", e.message()),
        FailedPrecondition => anyhow!("not possible now: {}", e.message()),
        Aborted => anyhow!("conflict: {}", e.message()),
        Unauthenticated => {
            anyhow!("the server refused the service token (--token / SHOPSYNC_SERVICE_TOKEN)")
        }
        Unavailable => anyhow!("the server is unavailable: {}", e.message()),
        AlreadyExists => anyhow!("{}", e.message()),
        _ => anyhow!("{:?}: {}", e.code(), e.message()),
    }
}

fn status_name(v: i32) -> String {
    pb::JobStatus::try_from(v)
        .map(|s| s.as_str_name().trim_start_matches("JOB_STATUS_").replace('_', " ").to_lowercase())
        .unwrap_or_default()
}

fn run_status_name(v: i32) -> String {
    pb::RunStatus::try_from(v)
        .map(|s| s.as_str_name().trim_start_matches("RUN_STATUS_").replace('_', " ").to_lowercase())
        .unwrap_or_default()
}

fn task_name(v: i32) -> String {
    shopsync_proto::task_from_pb(v, "task").map(|t| t.to_string()).unwrap_or_else(|_| "?".into())
}

fn when(t: &Option<shopsync_proto::prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn schedule_text(e: &pb::JobEntry) -> String {
    let Some(r) = e.spec.as_ref().and_then(|s| s.recurrence.as_ref()) else { return "once".into() };
    use pb::recurrence::Rule as R;
    let mut s = match &r.rule {
        Some(R::IntervalSeconds(n)) => {
            format!("every {}", humantime::format_duration(Duration::from_secs(u64::from(*n))))
        }
        Some(R::Cron(c)) => format!("cron {c}"),
        Some(R::DateFormula(f)) => format!("formula {f}"),
        Some(R::Daily(_)) => "daily".into(),
        None => "?".into(),
    };
    if let (Some(a), Some(b)) = (&r.starting_time, &r.ending_time) {
        s += &format!(" {}-{}", &a[..5.min(a.len())], &b[..5.min(b.len())]);
    } else if let Some(a) = &r.starting_time {
        s += &format!(" from {}", &a[..5.min(a.len())]);
    }
    s
}

fn entries_table(entries: &[pb::JobEntry]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header([
        "ID",
        "TASK",
        "SHOP",
        "STATUS",
        "SCHEDULE",
        "CATEGORY",
        "NEXT RUN (UTC)",
        "ATTEMPTS",
        "LAST ERROR",
    ]);
    for e in entries {
        let spec = e.spec.clone().unwrap_or_default();
        let mut err = e.last_error.clone();
        if err.len() > 40 {
            err.truncate(40);
            err.push('…');
        }
        t.add_row([
            e.id.clone(),
            task_name(e.task),
            spec.shop,
            status_name(e.status) + if e.hold_requested { " (hold)" } else { "" },
            schedule_text(e),
            spec.category,
            when(&e.next_run_at),
            e.attempts.to_string(),
            err,
        ]);
    }
    t
}

fn runs_table(runs: &[pb::JobRun]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header([
        "RUN",
        "TASK",
        "SHOP",
        "STATUS",
        "ATTEMPT",
        "STARTED (UTC)",
        "DURATION",
        "PROGRESS",
        "SCHEDULER",
        "ERROR",
    ]);
    for r in runs {
        let dur = match (&r.started_at, &r.finished_at) {
            (Some(a), Some(b)) => {
                let ms = (b.seconds - a.seconds) * 1000 + i64::from(b.nanos - a.nanos) / 1_000_000;
                format!("{:.1}s", ms as f64 / 1000.0)
            }
            _ => "-".into(),
        };
        let err = r.error.as_ref().map(|e| {
            let mut s = e.message.clone();
            for c in &e.causes {
                s += &format!(": {c}");
            }
            s
        });
        t.add_row([
            r.id.clone(),
            task_name(r.task),
            r.shop.clone(),
            run_status_name(r.status),
            r.attempt.to_string(),
            when(&r.started_at),
            dur,
            format!("{}/{}", r.progress_done, r.progress_total),
            r.scheduler.clone(),
            err.unwrap_or_default(),
        ]);
    }
    t
}

fn print_json<T: std::fmt::Debug>(v: &T) {
    // prost types have no serde; Debug is a faithful, readable dump.
    out!("{v:#?}");
}

async fn watch(client: &mut Client, id: &str, json: bool) -> Result<bool> {
    let mut stream = client
        .watch_entry(pb::WatchEntryRequest { id: id.to_owned(), until_idle: true })
        .await
        .map_err(rpc)?
        .into_inner();
    follow(&mut stream, Some, json).await
}

/// Show a stream's snapshots (`pick` finds them in its messages) as a progress bar until the
/// stream ends; true when the last run succeeded.
async fn follow<T>(
    stream: &mut tonic::Streaming<T>,
    pick: fn(T) -> Option<pb::EntrySnapshot>,
    json: bool,
) -> Result<bool> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}")
            .map_err(|e| anyhow!("{e}"))?,
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut last: Option<pb::EntrySnapshot> = None;
    while let Some(msg) = stream.message().await.map_err(rpc)? {
        let Some(snap) = pick(msg) else { continue };
        if json {
            print_json(&snap);
        }
        if let Some(r) = &snap.run {
            bar.set_length(r.progress_total.max(r.progress_done));
            bar.set_position(r.progress_done);
        }
        let e = snap.entry.clone().unwrap_or_default();
        bar.set_message(format!(
            "{} · {}{}",
            status_name(e.status),
            snap.run.as_ref().map(|r| run_status_name(r.status)).unwrap_or_default(),
            snap.run
                .as_ref()
                .map(|r| format!(" · {}", r.step))
                .filter(|s| s.len() > 3)
                .unwrap_or_default()
        ));
        last = Some(snap);
    }
    bar.finish();
    let Some(last) = last else { return Ok(false) };
    let ok = last.run.as_ref().is_some_and(|r| r.status == pb::RunStatus::Succeeded as i32);
    if let Some(r) = &last.run {
        out!("{}", runs_table(std::slice::from_ref(r)));
    }
    Ok(ok)
}

async fn sync_now(
    c: &mut Client,
    task: Task,
    shop: &str,
    params: Option<&str>,
    wait: bool,
    request_id: &Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let params = parse_params(task, params)?;
    let mut stream = c
        .sync_now(pb::SyncNowRequest {
            shop: shop.to_owned(),
            params: Some(shopsync_proto::params_to_pb(&params)),
            request_id: request_id.clone().unwrap_or_default(),
            created_by: std::env::var("USER").unwrap_or_else(|_| "cli".into()),
            wait,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    let Some(first) = stream.message().await.map_err(rpc)? else {
        bail!("the scheduler ended the sync without an answer");
    };
    if first.background {
        let e = first.snapshot.and_then(|s| s.entry).unwrap_or_default();
        if json {
            print_json(&e);
        } else {
            out!("{}", entries_table(std::slice::from_ref(&e)));
            out!("runs in the background: shopsync jobs watch {}", e.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ok = follow(&mut stream, |ev| ev.snapshot, json).await?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let cmd = match &cli.cmd {
        Cmd::Jobs(cmd) => cmd,
        Cmd::Shops(cmd) => {
            let mut c = shops::ShopsClient::new(connect_scheduler(&cli).await?);
            shops::shops(&mut c, cmd, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Cursors(cmd) => {
            let mut c = shops::ShopsClient::new(connect_scheduler(&cli).await?);
            shops::cursors(&mut c, cmd, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Items(cmd) => {
            let mut c = pb::erp_client::ErpClient::new(connect_posting(&cli).await?);
            erp::items(&mut c, cmd, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Customers(cmd) => {
            let mut c = pb::erp_client::ErpClient::new(connect_posting(&cli).await?);
            erp::customers(&mut c, cmd, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Locations(cmd) => {
            let mut c = pb::erp_client::ErpClient::new(connect_posting(&cli).await?);
            erp::locations(&mut c, cmd, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Orders(cmd) => {
            let mut c = pb::erp_client::ErpClient::new(connect_posting(&cli).await?);
            erp::orders(&mut c, cmd, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Cues { shop, cmd } => {
            let token = cli.token.clone().map(SecretString::from);
            let auth = ClientAuth::new(token.as_ref()).map_err(anyhow::Error::msg)?;
            let ch = shopsync_runtime::client::connect(&cli.order_sync, auth).await.with_context(
                || {
                    format!(
                        "cannot reach order-sync at {} (is it running? --order-sync / SHOPSYNC_ORDER_SYNC_URL)",
                        cli.order_sync
                    )
                },
            )?;
            let mut c = cues::CuesClient::new(ch);
            match cmd {
                None => cues::counts(&mut c, shop.as_deref(), cli.json).await?,
                Some(cmd) => cues::cues(&mut c, cmd, cli.json).await?,
            }
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Stock(cmd) => {
            let token = cli.token.clone().map(SecretString::from);
            let auth = ClientAuth::new(token.as_ref()).map_err(anyhow::Error::msg)?;
            let ch = shopsync_runtime::client::connect(&cli.inventory_sync, auth)
                .await
                .with_context(|| {
                    format!(
                        "cannot reach inventory-sync at {} (is it running? --inventory-sync / SHOPSYNC_INVENTORY_SYNC_URL)",
                        cli.inventory_sync
                    )
                })?;
            let mut c = stock::StockClient::new(ch);
            stock::stock(&mut c, cmd, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Sync { task, shop, params, wait, request_id } => {
            let mut c = connect(&cli).await?;
            return sync_now(&mut c, *task, shop, params.as_deref(), *wait, request_id, cli.json)
                .await;
        }
        Cmd::Post { no, ship, invoice, posting_date } => {
            let mut c = pb::posting_client::PostingClient::new(connect_posting(&cli).await?);
            erp::post(&mut c, no, *ship, *invoice, posting_date, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let mut c = connect(&cli).await?;
    match cmd {
        Jobs::List { status, shop, task, category, limit } => {
            let statuses = status
                .iter()
                .map(|s| {
                    s.parse::<shopsync_common::JobStatus>()
                        .map(|s| shopsync_proto::status_to_pb(s) as i32)
                        .map_err(|e| anyhow!("--status: {e}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let r = c
                .list_entries(pb::ListEntriesRequest {
                    statuses,
                    shop: shop.clone().unwrap_or_default(),
                    task: task.map(|t| shopsync_proto::task_to_pb(t) as i32).unwrap_or_default(),
                    category: category.clone().unwrap_or_default(),
                    page_size: *limit,
                    page_token: String::new(),
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if cli.json {
                print_json(&r.entries);
            } else {
                out!("{}", entries_table(&r.entries));
            }
        }
        Jobs::Show { id } => {
            let e = c
                .get_entry(pb::GetEntryRequest { id: id.clone() })
                .await
                .map_err(rpc)?
                .into_inner();
            let runs = c
                .list_runs(pb::ListRunsRequest {
                    entry_id: id.clone(),
                    page_size: 5,
                    ..Default::default()
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if cli.json {
                print_json(&(e, runs.runs));
            } else {
                out!("{}", entries_table(std::slice::from_ref(&e)));
                if let Some(s) = &e.spec {
                    out!("description: {}", s.description);
                    out!(
                        "time zone:   {}   created by: {}   version: {}",
                        s.time_zone,
                        s.created_by,
                        e.version
                    );
                    out!("locks:       {}", e.lock_keys.join(", "));
                }
                out!("{}", runs_table(&runs.runs));
                if let Some(r) = runs.runs.first() {
                    if let Some(c) = r.counters.as_ref().filter(|c| !c.values.is_empty()) {
                        let mut kv: Vec<_> = c.values.iter().collect();
                        kv.sort();
                        let kv: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        out!("latest run counters: {}", kv.join(" "));
                    }
                    if r.record_errors > 0 {
                        out!("latest run: {} record(s) not processed:", r.record_errors);
                        for e in &r.errors {
                            out!("  {}: {}", e.record, e.message);
                        }
                    }
                }
            }
        }
        Jobs::Create { task, shop, params, on_hold, request_id, opts } => {
            let mut spec = EntrySpec::new(shop.clone(), parse_params(*task, params.as_deref())?);
            spec.created_by = "cli".into();
            opts.apply(&mut spec)?;
            let e = c
                .create_entry(pb::CreateEntryRequest {
                    spec: Some(spec_to_pb(&spec)),
                    on_hold: *on_hold,
                    request_id: request_id.clone().unwrap_or_default(),
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if cli.json { print_json(&e) } else { out!("{}", entries_table(&[e])) }
        }
        Jobs::Update { id, params, no_recurrence, opts } => {
            let e = c
                .get_entry(pb::GetEntryRequest { id: id.clone() })
                .await
                .map_err(rpc)?
                .into_inner();
            let mut spec = spec_from_pb(&e.spec.unwrap_or_default(), "spec")
                .map_err(|e| anyhow!("stored entry: {e}"))?;
            if let Some(p) = params {
                spec.params = parse_params(spec.task(), Some(p))?;
            }
            if *no_recurrence {
                spec.recurrence = None;
            }
            opts.apply(&mut spec)?;
            let e = c
                .update_entry(pb::UpdateEntryRequest {
                    id: id.clone(),
                    spec: Some(spec_to_pb(&spec)),
                    expected_version: Some(e.version),
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if cli.json { print_json(&e) } else { out!("{}", entries_table(&[e])) }
        }
        Jobs::Hold { id } | Jobs::Ready { id } | Jobs::Cancel { id } => {
            let r = pb::EntryRef {
                id: id.clone(),
                requested_by: std::env::var("USER").unwrap_or_else(|_| "cli".into()),
            };
            let e = match cmd {
                Jobs::Hold { .. } => c.set_on_hold(r).await,
                Jobs::Ready { .. } => c.set_ready(r).await,
                _ => c.cancel_run(r).await,
            }
            .map_err(rpc)?
            .into_inner();
            if cli.json { print_json(&e) } else { out!("{}", entries_table(&[e])) }
        }
        Jobs::RunNow { id, wait } => {
            let e = c
                .run_now(pb::EntryRef { id: id.clone(), ..Default::default() })
                .await
                .map_err(rpc)?
                .into_inner();
            if *wait {
                let ok = watch(&mut c, id, cli.json).await?;
                return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
            }
            if cli.json { print_json(&e) } else { out!("{}", entries_table(&[e])) }
        }
        Jobs::Delete { id } => {
            c.delete_entry(pb::DeleteEntryRequest { id: id.clone() }).await.map_err(rpc)?;
            out!("deleted {id}");
        }
        Jobs::Log { id, status, shop, limit } => {
            let statuses = status
                .iter()
                .map(|s| {
                    s.parse::<shopsync_common::RunStatus>()
                        .map(|s| shopsync_proto::run_status_to_pb(s) as i32)
                        .map_err(|e| anyhow!("--status: {e}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let r = c
                .list_runs(pb::ListRunsRequest {
                    entry_id: id.clone().unwrap_or_default(),
                    statuses,
                    shop: shop.clone().unwrap_or_default(),
                    page_size: *limit,
                    ..Default::default()
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if cli.json { print_json(&r.runs) } else { out!("{}", runs_table(&r.runs)) }
        }
        Jobs::Watch { id } => {
            watch(&mut c, id, cli.json).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
