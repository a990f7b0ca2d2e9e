//! Sync now through the scheduler's `JobQueue.SyncNow` and `shopsync sync`: in the background
//! when the shop allows it, followed to its end when it does not (or when asked), in the run log
//! either way, and never beside a conflicting job of the same shop. Real scheduler and
//! order-sync processes, a fresh PostgreSQL database.

use anyhow::Result;
use shopsync_common::Service;
use shopsync_e2e::*;
use shopsync_proto::pb;
use tonic::Code;

/// Sync-now parameters of the test task: `steps` × `step_ms`, writing the shop's orders.
fn params(steps: u32, step_ms: u32) -> pb::TaskParams {
    let mut spec = test_spec(Service::OrderSync, steps, step_ms);
    test_params_mut(&mut spec).writes = vec!["orders".into()];
    spec.params.expect("params")
}

fn request(shop: &str, steps: u32, step_ms: u32, wait: bool) -> pb::SyncNowRequest {
    pb::SyncNowRequest {
        shop: shop.into(),
        params: Some(params(steps, step_ms)),
        created_by: "e2e".into(),
        wait,
        ..Default::default()
    }
}

/// Every event of a sync-now call, to the end of its stream.
async fn events(q: &mut Queue, req: pb::SyncNowRequest) -> Result<Vec<pb::SyncNowEvent>> {
    let mut stream = q.sync_now(req).await?.into_inner();
    let mut all = Vec::new();
    while let Some(ev) = stream.message().await? {
        all.push(ev);
    }
    Ok(all)
}

fn entry_of(ev: &pb::SyncNowEvent) -> pb::JobEntry {
    ev.snapshot.as_ref().and_then(|s| s.entry.clone()).expect("entry")
}

fn last_run(evs: &[pb::SyncNowEvent]) -> pb::JobRun {
    evs.iter().rev().find_map(|e| e.snapshot.as_ref()?.run.clone()).expect("a run")
}

fn secs(t: &Option<shopsync_proto::prost_types::Timestamp>) -> f64 {
    let t = t.as_ref().expect("timestamp");
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

#[tokio::test]
async fn sync_now_runs_in_the_background_or_streams_and_never_beside_a_conflict() -> Result<()> {
    let test = "sync_now";
    let db = TestDb::create().await?;
    let worker = start_worker(test, Service::OrderSync, &db).await?;
    let workers = Workers { procs: vec![(Service::OrderSync, worker)] };
    let s = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let mut q = queue(&s).await?;

    // shop-2 syncs in the foreground.
    let mut shops = shops(&s).await?;
    let shop2 = shops.get_shop(pb::GetShopRequest { name: "shop-2".into() }).await?.into_inner();
    let mut changed = shop2.clone();
    changed.settings.as_mut().expect("settings").allow_background_syncs = false;
    shops
        .update_shop(pb::UpdateShopRequest {
            name: "shop-2".into(),
            expected_version: shop2.version,
            shop: Some(changed),
            ..Default::default()
        })
        .await?;

    // Background (shop-1 allows it): one event with the new entry, at once.
    let bg = events(&mut q, request("shop-1", 20, 100, false)).await?;
    assert_eq!(bg.len(), 1, "{bg:?}");
    assert!(bg[0].background);
    let first = entry_of(&bg[0]);
    assert_eq!(first.spec.as_ref().unwrap().description, "sync now: test");
    assert!(first.spec.as_ref().unwrap().recurrence.is_none(), "a one-off entry");

    // While it runs, a second sync of the same shop's orders, followed (--wait): it waits for
    // the first and runs after it, never beside it.
    let waited = events(&mut q, request("shop-1", 2, 10, true)).await?;
    assert!(!waited[0].background && waited.len() > 1, "{waited:?}");
    let second_run = last_run(&waited);
    assert_eq!(run_status(&second_run), pb::RunStatus::Succeeded, "{second_run:?}");
    let first_runs = runs(&mut q, &first.id).await?;
    let first_run = first_runs.first().expect("the first ran");
    assert_eq!(run_status(first_run), pb::RunStatus::Succeeded, "{first_run:?}");
    assert!(
        secs(&second_run.started_at) >= secs(&first_run.finished_at),
        "overlap: {first_run:?} / {second_run:?}"
    );

    // Foreground (shop-2): progress streams to the end; the run is in the run log all the same.
    let fg = events(&mut q, request("shop-2", 5, 50, false)).await?;
    assert!(!fg[0].background);
    let run = last_run(&fg);
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded);
    assert_eq!((run.progress_done, run.progress_total), (5, 5));
    let logged = runs(&mut q, &entry_of(&fg[0]).id).await?;
    assert_eq!(logged.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [run.id.as_str()]);
    // The same request id follows the same entry.
    let mut keyed = request("shop-2", 1, 10, false);
    keyed.request_id = uuid::Uuid::new_v4().to_string();
    let a = events(&mut q, keyed.clone()).await?;
    let b = events(&mut q, keyed).await?;
    assert_eq!(entry_of(&a[0]).id, entry_of(&b[0]).id);

    // Bad input names its field.
    let err = q.sync_now(request("nope", 1, 1, false)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("shop"), "{err:?}");
    let mut no_params = request("shop-1", 1, 1, false);
    no_params.params = None;
    let err = q.sync_now(no_params).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("params"), "{err:?}");

    // The CLI: `shopsync sync` follows a foreground shop to its end and exits 0.
    let out = tokio::process::Command::new(bin("shopsync")?)
        .args(["--scheduler", &s.url(), "--token", TOKEN, "sync", "test", "--shop", "shop-2"])
        .args(["--params", r#"{"service": "order_sync", "steps": 3, "step_ms": 20}"#])
        .output()
        .await?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("succeeded") && text.contains("3/3"), "{text}");
    // In the background it prints the entry and returns.
    let out = tokio::process::Command::new(bin("shopsync")?)
        .args(["--scheduler", &s.url(), "--token", TOKEN, "sync", "test", "--shop", "shop-1"])
        .args(["--params", r#"{"service": "order_sync", "steps": 1, "step_ms": 1}"#])
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && text.contains("runs in the background"), "{text}");
    Ok(())
}
