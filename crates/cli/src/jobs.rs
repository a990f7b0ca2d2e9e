//! `shopsync jobs …` and `shopsync sync`: job queue entries and their runs (the scheduler's
//! `JobQueue`), as tables or followed live with a progress bar.

use crate::spec::{SpecOpts, parse_params};
use crate::{print_json, rpc};
use anyhow::{Result, anyhow, bail};
use chrono::DateTime;
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use indicatif::{ProgressBar, ProgressStyle};
use shopsync_common::{EntrySpec, Task};
use shopsync_proto::pb::job_queue_client::JobQueueClient;
use shopsync_proto::{pb, spec_from_pb, spec_to_pb};
use shopsync_runtime::client::AuthedChannel;
use std::process::ExitCode;
use std::time::Duration;

pub type Client = JobQueueClient<AuthedChannel>;

#[derive(Subcommand)]
pub enum Jobs {
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

/// Run one `jobs` command.
pub async fn jobs(c: &mut Client, cmd: &Jobs, json: bool) -> Result<ExitCode> {
    match cmd {
        Jobs::List { status, shop, task, category, limit } => {
            list(c, status, shop.as_deref(), *task, category.as_deref(), *limit, json).await?
        }
        Jobs::Show { id } => show(c, id, json).await?,
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
            print_entry(e, json);
        }
        Jobs::Update { id, params, no_recurrence, opts } => {
            update(c, id, params.as_deref(), *no_recurrence, opts, json).await?
        }
        Jobs::Hold { id } | Jobs::Ready { id } | Jobs::Cancel { id } => {
            let r = pb::EntryRef { id: id.clone(), requested_by: requested_by() };
            let e = match cmd {
                Jobs::Hold { .. } => c.set_on_hold(r).await,
                Jobs::Ready { .. } => c.set_ready(r).await,
                _ => c.cancel_run(r).await,
            }
            .map_err(rpc)?
            .into_inner();
            print_entry(e, json);
        }
        Jobs::RunNow { id, wait } => {
            let e = c
                .run_now(pb::EntryRef { id: id.clone(), ..Default::default() })
                .await
                .map_err(rpc)?
                .into_inner();
            if *wait {
                return Ok(exit(watch(c, id, json).await?));
            }
            print_entry(e, json);
        }
        Jobs::Delete { id } => {
            c.delete_entry(pb::DeleteEntryRequest { id: id.clone() }).await.map_err(rpc)?;
            out!("deleted {id}");
        }
        Jobs::Log { id, status, shop, limit } => {
            log(c, id.as_deref(), status, shop.as_deref(), *limit, json).await?
        }
        Jobs::Watch { id } => {
            watch(c, id, json).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Who asks: `$USER`, else `cli`.
fn requested_by() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".into())
}

/// Success when the followed run succeeded.
fn exit(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn print_entry(e: pb::JobEntry, json: bool) {
    if json { print_json(&e) } else { out!("{}", entries_table(&[e])) }
}

/// `--status` values as the API's numbers (`parse` reads one, `to_pb` converts it).
fn statuses<S: std::str::FromStr>(status: &[String], to_pb: fn(S) -> i32) -> Result<Vec<i32>>
where
    S::Err: std::fmt::Display,
{
    status.iter().map(|s| s.parse::<S>().map(to_pb).map_err(|e| anyhow!("--status: {e}"))).collect()
}

async fn list(
    c: &mut Client,
    status: &[String],
    shop: Option<&str>,
    task: Option<Task>,
    category: Option<&str>,
    limit: u32,
    json: bool,
) -> Result<()> {
    let statuses =
        statuses(status, |s: shopsync_common::JobStatus| shopsync_proto::status_to_pb(s) as i32)?;
    let r = c
        .list_entries(pb::ListEntriesRequest {
            statuses,
            shop: shop.unwrap_or_default().to_owned(),
            task: task.map(|t| shopsync_proto::task_to_pb(t) as i32).unwrap_or_default(),
            category: category.unwrap_or_default().to_owned(),
            page_size: limit,
            page_token: String::new(),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    if json {
        print_json(&r.entries);
    } else {
        out!("{}", entries_table(&r.entries));
    }
    Ok(())
}

async fn show(c: &mut Client, id: &str, json: bool) -> Result<()> {
    let e = c.get_entry(pb::GetEntryRequest { id: id.to_owned() }).await.map_err(rpc)?.into_inner();
    let runs = c
        .list_runs(pb::ListRunsRequest {
            entry_id: id.to_owned(),
            page_size: 5,
            ..Default::default()
        })
        .await
        .map_err(rpc)?
        .into_inner();
    if json {
        print_json(&(e, runs.runs));
        return Ok(());
    }
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
    Ok(())
}

async fn update(
    c: &mut Client,
    id: &str,
    params: Option<&str>,
    no_recurrence: bool,
    opts: &SpecOpts,
    json: bool,
) -> Result<()> {
    let e = c.get_entry(pb::GetEntryRequest { id: id.to_owned() }).await.map_err(rpc)?.into_inner();
    let mut spec = spec_from_pb(&e.spec.unwrap_or_default(), "spec")
        .map_err(|e| anyhow!("stored entry: {e}"))?;
    if let Some(p) = params {
        spec.params = parse_params(spec.task(), Some(p))?;
    }
    if no_recurrence {
        spec.recurrence = None;
    }
    opts.apply(&mut spec)?;
    let e = c
        .update_entry(pb::UpdateEntryRequest {
            id: id.to_owned(),
            spec: Some(spec_to_pb(&spec)),
            expected_version: Some(e.version),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    print_entry(e, json);
    Ok(())
}

async fn log(
    c: &mut Client,
    id: Option<&str>,
    status: &[String],
    shop: Option<&str>,
    limit: u32,
    json: bool,
) -> Result<()> {
    let statuses = statuses(status, |s: shopsync_common::RunStatus| {
        shopsync_proto::run_status_to_pb(s) as i32
    })?;
    let r = c
        .list_runs(pb::ListRunsRequest {
            entry_id: id.unwrap_or_default().to_owned(),
            statuses,
            shop: shop.unwrap_or_default().to_owned(),
            page_size: limit,
            ..Default::default()
        })
        .await
        .map_err(rpc)?
        .into_inner();
    if json {
        print_json(&r.runs)
    } else {
        out!("{}", runs_table(&r.runs))
    }
    Ok(())
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

pub async fn sync_now(
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
            created_by: requested_by(),
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
    Ok(exit(follow(&mut stream, |ev| ev.snapshot, json).await?))
}
