//! Several scheduler replicas against one database: categories, resource conflicts,
//! exactly-once recurring fires, and recovery from a crashed replica.

use anyhow::{Result, ensure};
use chrono::{DateTime, TimeDelta, Utc};
use shopsync_e2e::*;
use shopsync_proto::pb;
use std::collections::HashSet;
use std::time::Duration;

type Span = (DateTime<Utc>, DateTime<Utc>);

fn span(r: &pb::JobRun) -> Span {
    (time(&r.started_at).expect("started"), time(&r.finished_at).expect("finished"))
}

fn overlap(a: Span, b: Span) -> bool {
    a.0 < b.1 && b.0 < a.1
}

async fn wait_finished(q: &Queue, ids: &[String], within: Duration) -> Result<Vec<pb::JobRun>> {
    eventually(within, || {
        let q = q.clone();
        let ids = ids.to_vec();
        async move {
            let mut all = Vec::new();
            for id in &ids {
                let mut q = q.clone();
                let rs = runs(&mut q, id).await?;
                ensure!(
                    rs.len() == 1 && run_status(&rs[0]) == pb::RunStatus::Succeeded,
                    "entry {id} not done"
                );
                all.push(rs[0].clone());
            }
            Ok(all)
        }
    })
    .await
}

#[tokio::test]
async fn one_entry_per_category_runs_at_a_time_across_two_schedulers() -> Result<()> {
    let test = "category";
    let db = TestDb::create().await?;
    let workers = Workers::start(test, &db).await?;
    let a = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let b = start_scheduler(test, "sched-b", &db, &workers, &[]).await?;
    let mut qa = queue(&a).await?;
    let mut qb = queue(&b).await?;

    // A blocker holds the category while 19 more arrive with mixed priorities, through
    // both replicas.
    // Long enough that all 19 are queued before it ends, on a slow, loaded machine too
    // (checked below: otherwise the order would say nothing).
    let mut blocker = test_spec(Service::OrderSync, 40, 150);
    blocker.category = "shpfy".into();
    let blocker = create(&mut qa, blocker).await?;
    eventually(Duration::from_secs(10), || {
        let mut q = qa.clone();
        let id = blocker.id.clone();
        async move {
            ensure!(
                status(&entry(&mut q, &id).await?) == pb::JobStatus::InProcess,
                "blocker not running"
            );
            Ok(())
        }
    })
    .await?;
    let priorities = [pb::Priority::Low, pb::Priority::Normal, pb::Priority::High];
    let mut ids = vec![blocker.id.clone()];
    let mut prio_of = std::collections::HashMap::new();
    for i in 0..19 {
        let mut s = test_spec(Service::ProductSync, 2, 40);
        s.category = "SHPFY".into();
        s.priority = priorities[i % 3] as i32;
        let q = if i % 2 == 0 { &mut qa } else { &mut qb };
        let e = create(q, s).await?;
        prio_of.insert(e.id.clone(), priorities[i % 3]);
        ids.push(e.id);
    }
    ensure!(
        status(&entry(&mut qa, &blocker.id).await?) == pb::JobStatus::InProcess,
        "the blocker finished before the 19 entries were queued; the order below would not test priorities"
    );
    // While the blocker runs the others wait.
    eventually(Duration::from_secs(5), || {
        let mut q = qb.clone();
        async move {
            let waiting = q
                .list_entries(pb::ListEntriesRequest {
                    statuses: vec![pb::JobStatus::Waiting as i32],
                    ..Default::default()
                })
                .await?
                .into_inner();
            ensure!(!waiting.entries.is_empty(), "nothing waiting yet");
            Ok(())
        }
    })
    .await?;

    let mut all = wait_finished(&qa, &ids, Duration::from_secs(60)).await?;
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert!(!overlap(span(x), span(y)), "runs {} and {} overlap", x.id, y.id);
        }
    }
    // After the blocker, the waiting entries start by priority, then first in, first out.
    all.sort_by_key(|r| span(r).0);
    let order: Vec<i32> = all[1..].iter().map(|r| prio_of[&r.entry_id] as i32).collect();
    let rank = |p: i32| match pb::Priority::try_from(p) {
        Ok(pb::Priority::High) => 0,
        Ok(pb::Priority::Normal) => 1,
        _ => 2,
    };
    assert!(order.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "priority order broken: {order:?}");
    let schedulers: HashSet<_> = all.iter().map(|r| r.scheduler.clone()).collect();
    eprintln!("runs were started by {schedulers:?}");
    Ok(())
}

/// Wait until each of `ids` has had at least `n` runs.
async fn fired(q: &Queue, ids: &[String], n: usize, within: Duration) -> Result<()> {
    eventually(within, || {
        let q = q.clone();
        let ids = ids.to_vec();
        async move {
            for id in &ids {
                let got = runs(&mut q.clone(), id).await?.len();
                ensure!(got >= n, "entry {id} fired {got} times, not yet {n}");
            }
            Ok(())
        }
    })
    .await
}

fn writes(service: Service, shop: &str, w: &[&str], steps: u32) -> pb::JobSpec {
    let mut s = test_spec(service, steps, 100);
    s.shop = shop.into();
    test_params_mut(&mut s).writes = w.iter().map(|x| x.to_string()).collect();
    s
}

#[tokio::test]
async fn conflicting_tasks_of_a_shop_never_overlap_but_others_run_in_parallel() -> Result<()> {
    let test = "conflicts";
    let db = TestDb::create().await?;
    let workers = Workers::start(test, &db).await?;
    let a = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let b = start_scheduler(test, "sched-b", &db, &workers, &[]).await?;
    let mut q = queue(&a).await?;
    let _qb = queue(&b).await?;
    // Order import writes orders+customers; customer sync writes customers: they conflict.
    let orders =
        create(&mut q, writes(Service::OrderSync, "shop-1", &["orders", "customers"], 10)).await?;
    let customers =
        create(&mut q, writes(Service::OrderSync, "shop-1", &["customers"], 10)).await?;
    // Stock and images do not conflict with them, nor with each other; another shop's
    // customers do not conflict either.
    let stock = create(&mut q, writes(Service::InventorySync, "shop-1", &["stock"], 10)).await?;
    let images = create(&mut q, writes(Service::ProductSync, "shop-1", &["images"], 10)).await?;
    let other = create(&mut q, writes(Service::OrderSync, "shop-2", &["customers"], 10)).await?;
    let ids: Vec<String> =
        [&orders, &customers, &stock, &images, &other].iter().map(|e| e.id.clone()).collect();
    let r = wait_finished(&q, &ids, Duration::from_secs(30)).await?;
    let (o, c, s, i, x) = (span(&r[0]), span(&r[1]), span(&r[2]), span(&r[3]), span(&r[4]));
    assert!(!overlap(o, c), "orders and customers of one shop overlapped");
    assert!(overlap(s, i), "stock and images should run in parallel");
    assert!(overlap(o, s) || overlap(c, s), "stock should run beside the order work");
    assert!(overlap(x, o) || overlap(x, c), "another shop's customers should not wait");
    Ok(())
}

#[tokio::test]
async fn two_replicas_fire_one_second_entries_exactly_once_for_30_seconds() -> Result<()> {
    let test = "fires";
    let db = TestDb::create().await?;
    let workers = Workers::start(test, &db).await?;
    let mut a = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let b = start_scheduler(test, "sched-b", &db, &workers, &[]).await?;
    let mut q = queue(&b).await?;
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut s = test_spec(Service::ALL[i], 1, 10);
        s.recurrence = Some(pb::Recurrence {
            rule: Some(pb::recurrence::Rule::IntervalSeconds(1)),
            catch_up: pb::CatchUp::AllWithinWindow as i32,
            catch_up_window_seconds: Some(300),
            ..Default::default()
        });
        ids.push(create(&mut q, s).await?.id);
    }
    let t0 = std::time::Instant::now();
    let window = Duration::from_secs(30);
    // Restart replica A half way, once every entry has fired 12 times (12 s of fires): no fire
    // may be lost or doubled across the restart.
    fired(&q, &ids, 12, window).await?;
    let exit = a.terminate(Duration::from_secs(40)).await?;
    assert!(exit.success(), "scheduler A did not drain cleanly: {exit}");
    let _a2 = start_scheduler(test, "sched-a2", &db, &workers, &[]).await?;
    // Then fires go on until every entry has fired 27 times (the bar below for 30 s at one a
    // second), which must happen within the 30 s. A fire lost or doubled across the restart
    // (A draining, A2 catching up as it starts) is in the runs by then: each entry has fired
    // about 15 more times since A2 was serving.
    fired(&q, &ids, 27, window.saturating_sub(t0.elapsed())).await?;
    for id in &ids {
        q.set_on_hold(pb::EntryRef { id: id.clone(), ..Default::default() }).await?;
    }
    // Let running attempts end.
    for id in &ids {
        eventually(Duration::from_secs(10), || {
            let mut q = q.clone();
            let id = id.clone();
            async move {
                ensure!(
                    status(&entry(&mut q, &id).await?) == pb::JobStatus::OnHold,
                    "still running"
                );
                Ok(())
            }
        })
        .await?;
    }
    let mut by_replica = std::collections::BTreeMap::<String, usize>::new();
    for id in &ids {
        let rs = runs(&mut q, id).await?;
        let mut fires: Vec<DateTime<Utc>> =
            rs.iter().map(|r| time(&r.fire_time).expect("scheduled run")).collect();
        for r in &rs {
            assert_eq!(run_status(r), pb::RunStatus::Succeeded, "{:?}", r.error);
            *by_replica.entry(r.scheduler.clone()).or_default() += 1;
        }
        let n = fires.len();
        fires.dedup();
        assert_eq!(fires.len(), n, "a fire ran twice");
        assert!(n >= 27, "only {n} fires in 30 s");
        for w in fires.windows(2) {
            assert_eq!(
                w[1] - w[0],
                TimeDelta::seconds(1),
                "missed fire between {} and {}",
                w[0],
                w[1]
            );
        }
    }
    eprintln!("runs per replica: {by_replica:?}");
    Ok(())
}

#[tokio::test]
async fn a_crashed_scheduler_loses_nothing_its_attempt_is_reaped_and_retried() -> Result<()> {
    let test = "scheduler_crash";
    let db = TestDb::create().await?;
    let workers = Workers::start(test, &db).await?;
    let mut a = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let mut q = queue(&a).await?;
    let mut spec = test_spec(Service::Posting, 10, 200);
    spec.retry = Some(pb::RetryPolicy {
        max_attempts: Some(3),
        rerun_delay_seconds: Some(0),
        ..Default::default()
    });
    let e = create(&mut q, spec).await?;
    eventually(Duration::from_secs(10), || {
        let mut q = q.clone();
        let id = e.id.clone();
        async move {
            ensure!(
                runs(&mut q, &id).await?.first().is_some_and(|r| r.progress_done >= 1),
                "not running"
            );
            Ok(())
        }
    })
    .await?;
    a.kill().await?;
    let crashed = Utc::now();
    let b = start_scheduler(test, "sched-b", &db, &workers, &[]).await?;
    let mut q = queue(&b).await?;
    let rs = eventually(Duration::from_secs(40), || {
        let mut q = q.clone();
        let id = e.id.clone();
        async move {
            let rs = runs(&mut q, &id).await?;
            ensure!(
                rs.len() == 2 && run_status(&rs[1]) == pb::RunStatus::Succeeded,
                "{} runs",
                rs.len()
            );
            Ok(rs)
        }
    })
    .await?;
    assert_eq!(run_status(&rs[0]), pb::RunStatus::Lost);
    assert_eq!(rs[0].scheduler, "sched-a");
    assert!(rs[0].error.as_ref().unwrap().message.contains("lease expired"));
    assert_eq!(rs[1].scheduler, "sched-b");
    let retried_after = time(&rs[1].started_at).unwrap() - crashed;
    assert!(retried_after <= TimeDelta::seconds(15), "retried {retried_after} after the crash");
    assert_eq!(status(&entry(&mut q, &e.id).await?), pb::JobStatus::Finished);
    Ok(())
}
