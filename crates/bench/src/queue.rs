//! The job queue's scenarios: (a) draining no-op jobs in-process beside River's benchmark,
//! (b) the scheduler binary dispatching to a worker binary over gRPC, (c) pickup latency at a
//! fixed offered rate of creates; and their rows of the results table.

use crate::Args;
use crate::harness::{
    Procs, TOKEN, bench_log, connect, create_bench_shop, drop_db, free_port, fresh_db, wait_healthy,
};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use shopsync_common::params::TestParams;
use shopsync_common::{EntrySpec, Service, TaskParams};
use shopsync_scheduler::dispatch::{Dispatcher, DispatcherConfig};
use shopsync_scheduler::executor::NoopExecutor;
use shopsync_scheduler::repo::Repo;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// (a) rounds of the in-process drain and of River, interleaved (which goes first
/// alternates, so that a drift of the machine's speed during the rounds weighs on both sides
/// alike), compared by their medians; into `results`.
pub async fn drain_vs_river(
    args: &Args,
    results: &mut serde_json::Map<String, Value>,
) -> Result<()> {
    let river_bin = if args.skip_river {
        None
    } else {
        let bin = find_river(&args.river_bin);
        if bin.is_none() {
            eprintln!("riverqueue not found (make bench installs it into target/river)");
        }
        bin
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let river_first = round % 2 == 1;
        if let (true, Some(bin)) = (river_first, &river_bin) {
            theirs.push(river(bin, args.jobs).await?);
        }
        ours.push(drain(args.jobs).await?);
        if let (false, Some(bin)) = (river_first, &river_bin) {
            theirs.push(river(bin, args.jobs).await?);
        }
    }
    // Each round's pair too: with the medians, how steady the comparison was.
    let paired: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| rate(a) / rate(b)).collect();
    let drained = rounds_summary(ours, "drain_in_process");
    if !theirs.is_empty() {
        let river = rounds_summary(theirs, "riverqueue bench");
        results.insert("ratio_per_round".into(), json!(paired));
        results.insert("ratio_of_medians".into(), json!(rate(&drained) / rate(&river)));
        results.insert("river".into(), river);
    }
    results.insert("drain_in_process".into(), drained);
    Ok(())
}

fn noop_spec() -> EntrySpec {
    let mut s = EntrySpec::new(
        "bench-shop",
        TaskParams::Test(TestParams { service: Service::OrderSync, ..Default::default() }),
    );
    s.created_by = "bench".into();
    s
}

async fn load(repo: &Repo, n: usize) -> Result<()> {
    let spec = noop_spec();
    let mut left = n;
    while left > 0 {
        let k = left.min(50_000);
        repo.insert_ready_batch(&spec, k).await?;
        left -= k;
    }
    sqlx::query("VACUUM ANALYZE scheduler.entries, scheduler.due").execute(repo.pool()).await?;
    Ok(())
}

async fn db_span(pool: &PgPool) -> Result<(i64, f64)> {
    let (n, secs): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM max(finished_at) - min(started_at))::float8 \
         FROM scheduler.runs WHERE status = 'succeeded'",
    )
    .fetch_one(pool)
    .await?;
    Ok((n, secs.unwrap_or(f64::NAN)))
}

/// (a) in-process drain.
pub async fn drain(n: usize) -> Result<Value> {
    let url = fresh_db("shopsync_bench_drain").await?;
    let pool =
        shopsync_store::connect(&url, 16, "shopsync-bench", &[&shopsync_scheduler::SCHEMA]).await?;
    eprintln!("(a) loading {n} ready entries…");
    load(&Repo::new(pool.clone()), n).await?;
    // The dispatcher's connections as the scheduler service opens them.
    let repo = Repo::with_keyed(pool.clone(), shopsync_scheduler::dispatcher_pool(&url, 16).await?);
    let cfg = DispatcherConfig {
        name: "bench".into(),
        max_concurrency: 8000,
        claim_batch: 2000,
        ..Default::default()
    };
    let d = Dispatcher::new(cfg, repo.clone(), NoopExecutor);
    let stats = d.stats();
    let stop = CancellationToken::new();
    eprintln!("(a) draining…");
    let start = Instant::now();
    let task = tokio::spawn(d.run(stop.clone(), Duration::from_secs(30)));
    while stats.completed.load(Ordering::Relaxed) < n as u64 {
        if task.is_finished() {
            bail!("dispatcher stopped early");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("(a) drained");
    stop.cancel();
    task.await??;
    let (done, db_secs) = db_span(&pool).await?;
    if done != n as i64 {
        bail!("{done} runs succeeded, expected {n}");
    }
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scheduler.entries WHERE status <> 'finished'")
            .fetch_one(&pool)
            .await?;
    if left != 0 {
        bail!("{left} entries not finished");
    }
    pool.close().await;
    drop_db("shopsync_bench_drain").await?;
    Ok(
        json!({ "jobs": n, "seconds": secs, "jobs_per_sec": n as f64 / secs, "db_span_seconds": db_secs }),
    )
}

pub fn find_river(arg: &Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = arg {
        return Some(p.clone());
    }
    let mut cands: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("riverqueue")).collect())
        .unwrap_or_default();
    cands.push(PathBuf::from("target/river/bin/riverqueue"));
    cands.into_iter().find(|p| p.exists())
}

/// River's Rust benchmark on its own database of the same server.
pub async fn river(bin: &Path, n: usize) -> Result<Value> {
    let url = fresh_db("shopsync_bench_river").await?;
    let st = Command::new(bin)
        .args(["migrate-up", "--database-url", &url])
        .stdout(Stdio::null())
        .status()
        .await?;
    if !st.success() {
        bail!("riverqueue migrate-up failed");
    }
    eprintln!("(a) River: riverqueue bench -n {n}…");
    let out = Command::new(bin)
        .args(["bench", "-n", &n.to_string(), "--database-url", &url])
        .output()
        .await?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("riverqueue bench failed: {text}");
    }
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("overall job/sec"))
        .context("no summary line from riverqueue bench")?;
    let rate: f64 = line
        .split("overall job/sec [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .and_then(|s| s.trim().parse().ok())
        .with_context(|| format!("cannot parse {line:?}"))?;
    drop_db("shopsync_bench_river").await?;
    Ok(
        json!({ "jobs": n, "jobs_per_sec": rate, "summary": line.trim(), "command": format!("riverqueue bench -n {n}") }),
    )
}

/// Start the release scheduler and order-sync worker binaries.
async fn start_stack(db: &str, dispatch: bool) -> Result<(Procs, u16)> {
    let dir = std::env::current_exe()?.parent().context("no exe dir")?.to_path_buf();
    let wport = free_port()?;
    let sport = free_port()?;
    let worker = Command::new(dir.join("shopsync-order-sync"))
        .env("SHOPSYNC_LISTEN", format!("127.0.0.1:{wport}"))
        .env("SHOPSYNC_SERVICE_TOKEN", TOKEN)
        .env("SHOPSYNC_DATABASE_URL", db)
        .env("SHOPSYNC_DB_MAX_CONNECTIONS", "4")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting shopsync-order-sync (make bench builds it)")?;
    let mut procs = Procs(vec![worker]);
    wait_healthy(wport).await?;
    let sched = Command::new(dir.join("shopsync-scheduler"))
        .env("SHOPSYNC_LISTEN", format!("127.0.0.1:{sport}"))
        .env("SHOPSYNC_SERVICE_TOKEN", TOKEN)
        .env("SHOPSYNC_DATABASE_URL", db)
        .env("SHOPSYNC_WORKERS__ORDER_SYNC", format!("http://127.0.0.1:{wport}"))
        .env("SHOPSYNC_MAX_CONCURRENCY", "1024")
        .env("SHOPSYNC_CLAIM_BATCH", "1000")
        .env("SHOPSYNC_DB_MAX_CONNECTIONS", "16")
        .env("SHOPSYNC_DISPATCH", dispatch.to_string())
        .env("RUST_LOG", "warn")
        .stdout(bench_log("scheduler")?)
        .kill_on_drop(true)
        .spawn()
        .context("starting shopsync-scheduler")?;
    procs.0.push(sched);
    wait_healthy(sport).await?;
    Ok((procs, sport))
}

/// (b) scheduler -> gRPC worker, end to end.
pub async fn through_grpc(n: usize) -> Result<Value> {
    let url = fresh_db("shopsync_bench_grpc").await?;
    let pool =
        shopsync_store::connect(&url, 4, "shopsync-bench", &[&shopsync_scheduler::SCHEMA]).await?;
    let repo = Repo::new(pool.clone());
    eprintln!("(b) loading {n} entries…");
    load(&repo, n).await?;
    eprintln!("(b) scheduler + order-sync worker over gRPC…");
    let start = Instant::now();
    let (procs, _) = start_stack(&url, true).await?;
    loop {
        let (done, _) = db_span(&pool).await?;
        if done >= n as i64 {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("only {done} of {n} done after 10 min");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(procs);
    let (done, secs) = db_span(&pool).await?;
    pool.close().await;
    drop_db("shopsync_bench_grpc").await?;
    Ok(json!({ "jobs": done, "seconds": secs, "jobs_per_sec": done as f64 / secs }))
}

/// (c) pickup latency at a fixed offered rate of gRPC creates.
pub async fn latency(rate: u32, warmup: u64, measured: u64) -> Result<Value> {
    let secs = warmup + measured;
    let url = fresh_db("shopsync_bench_latency").await?;
    let pool =
        shopsync_store::connect(&url, 4, "shopsync-bench", &[&shopsync_scheduler::SCHEMA]).await?;
    let (procs, sport) = start_stack(&url, true).await?;
    create_bench_shop(sport).await?;
    let ch = connect(sport).await?;
    let client = shopsync_proto::pb::job_queue_client::JobQueueClient::new(ch);
    let spec = shopsync_proto::spec_to_pb(&noop_spec());
    eprintln!("(c) offering {rate} creates/s for {secs} s…");
    // Open loop: a create goes out at every tick whether or not earlier ones have returned,
    // so the offered rate does not sag when the server slows down.
    let start = Instant::now();
    let measure_from = chrono::Utc::now() + chrono::TimeDelta::seconds(warmup as i64);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = tokio::task::JoinSet::new();
    let mut offered = 0u64;
    // An open-loop load test reports the creates the server refused (overload) instead of
    // stopping at the first one.
    let mut failed = 0u64;
    let mut create_ms: Vec<f64> = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let mut c = client.clone();
        let spec = spec.clone();
        let counted = start.elapsed() >= Duration::from_secs(warmup);
        inflight.spawn(async move {
            let sent = Instant::now();
            let r = c
                .create_entry(shopsync_proto::pb::CreateEntryRequest {
                    spec: Some(spec),
                    ..Default::default()
                })
                .await;
            // The create's round trip as the client sees it (it includes any wait for a batch).
            (r, counted.then(|| sent.elapsed().as_secs_f64() * 1000.0))
        });
        offered += 1;
        while let Some(r) = inflight.try_join_next() {
            let (r, ms) = r?;
            failed += u64::from(r.is_err());
            create_ms.extend(ms);
        }
    }
    // The offered rate is over the offering loop, not the wait for stragglers.
    let offer_secs = start.elapsed().as_secs_f64();
    while let Some(r) = inflight.join_next().await {
        let (r, ms) = r?;
        failed += u64::from(r.is_err());
        create_ms.extend(ms);
    }
    create_ms.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        create_ms
            .get(((create_ms.len() as f64 * q) as usize).min(create_ms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let (create_p50, create_p99) = (pct(0.5), pct(0.99));
    // Let the last ones finish.
    let t = Instant::now();
    while db_span(&pool).await?.0 < offered as i64 && t.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(procs);
    let (n, p50, p99, max): (i64, f64, f64, f64) = sqlx::query_as(
        "SELECT count(*), \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), \
           percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) \
         FROM (SELECT (extract(epoch FROM r.started_at - e.created_at) * 1000)::float8 AS ms \
               FROM scheduler.runs r JOIN scheduler.entries e ON e.id = r.entry_id \
               WHERE e.created_at >= $1) x",
    )
    .bind(measure_from)
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        drop_db("shopsync_bench_latency").await?;
    }
    Ok(json!({
        "offered_per_sec": offered as f64 / offer_secs,
        "creates_offered": offered,
        "creates_failed": failed,
        "warmup_secs": warmup,
        "measured_secs": measured,
        "jobs": n,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": max,
        "create_p50_ms": create_p50,
        "create_p99_ms": create_p99,
    }))
}

/// A throughput result's jobs per second.
fn rate(v: &Value) -> f64 {
    v["jobs_per_sec"].as_f64().unwrap_or(f64::NAN)
}

/// Several rounds of a throughput benchmark as one result: the median rate, the other fields
/// of the median round (of the upper middle one for an even count), the range, and every
/// round.
fn rounds_summary(mut rounds: Vec<Value>, what: &str) -> Value {
    let all = rounds.clone();
    rounds.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let mut out = rounds[rounds.len() / 2].clone();
    // An even count has no middle round: its median is the mean of the two middle ones.
    if rounds.len().is_multiple_of(2) {
        out["jobs_per_sec"] =
            json!((rate(&rounds[rounds.len() / 2 - 1]) + rate(&rounds[rounds.len() / 2])) / 2.0);
    }
    out["statistic"] = json!(format!("median of {} rounds of {what}", rounds.len()));
    out["min_jobs_per_sec"] = json!(rate(&rounds[0]));
    out["max_jobs_per_sec"] = json!(rate(&rounds[rounds.len() - 1]));
    out["rounds"] = json!(all);
    out
}
