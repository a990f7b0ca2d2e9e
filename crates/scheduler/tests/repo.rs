//! The scheduler's SQL against a real PostgreSQL (a fresh database per test).

use chrono::{TimeDelta, Utc};
use shopsync_common::params::TestParams;
use shopsync_common::{EntrySpec, JobStatus, Recurrence, Rule, RunOutcome, RunStatus, TaskParams};
use shopsync_scheduler::dispatch::completion_for;
use shopsync_scheduler::repo::{Beat, Progress, Repo};
use shopsync_scheduler::service::JobQueue;
use sqlx::PgPool;
use std::time::Duration;

fn spec() -> EntrySpec {
    EntrySpec::new("shop-1", TaskParams::Test(TestParams::default()))
}

const LEASE: Duration = Duration::from_secs(10);

/// The reaper's failure of an attempt whose lease expired.
fn lost(run: &shopsync_scheduler::repo::ClaimedRun) -> shopsync_scheduler::repo::Completion {
    let outcome = RunOutcome::Lost { message: "lease expired".into() };
    completion_for(run, outcome, None, None, None)
}

/// A heartbeat of a run at 3 of 10, in `step`.
fn beat(run_id: uuid::Uuid, step: &str) -> Beat {
    Beat { run_id, progress: Progress { done: 3, total: 10, step: step.into() } }
}

/// The queue invariant: an entry has a `due` row exactly when its `next_run_at` is set, and
/// the row carries the entry's claim keys.
async fn due_matches_entries(pool: &PgPool) -> anyhow::Result<()> {
    let bad: Vec<(Option<uuid::Uuid>, Option<uuid::Uuid>)> = sqlx::query_as(
        "SELECT e.id, d.entry_id FROM (SELECT * FROM scheduler.entries WHERE next_run_at IS NOT NULL) e \
         FULL JOIN scheduler.due d ON d.entry_id = e.id \
         WHERE e.id IS NULL OR d.entry_id IS NULL OR d.run_at <> e.next_run_at \
           OR d.needs_locks <> e.needs_locks OR d.priority <> e.priority \
           OR d.entry_no <> e.entry_no OR d.expires_at IS DISTINCT FROM e.expires_at",
    )
    .fetch_all(pool)
    .await?;
    assert!(bad.is_empty(), "entries and due disagree: {bad:?}");
    Ok(())
}

#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn a_stale_result_is_refused(pool: PgPool) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let e = q.create(spec(), false, None).await?;
    let claimed = repo.claim_free(10, "a", LEASE).await?;
    assert_eq!(claimed.len(), 1);
    let run = &claimed[0];
    // A wrong token is refused outright.
    let mut forged = completion_for(run, RunOutcome::Succeeded, None, None, None);
    forged.fencing_token += 1;
    let r = repo.complete(&[forged]).await?;
    assert_eq!((r.accepted.len(), r.refused.len()), (0, 1));
    // The lease runs out; the reaper fails the attempt and the entry retries.
    sqlx::query("UPDATE scheduler.claims SET lease_expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await?;
    let expired = repo.expired_runs(10).await?;
    assert_eq!(expired.len(), 1);
    let lost = lost(&expired[0]);
    assert_eq!(repo.complete(&[lost]).await?.accepted.len(), 1);
    // The original attempt reports success late: refused, nothing changes.
    let late = completion_for(run, RunOutcome::Succeeded, None, None, None);
    let r = repo.complete(&[late]).await?;
    assert_eq!(r.refused, vec![run.run_id]);
    let e = repo.get_entry(e.id).await?.unwrap();
    assert_eq!(e.state.status, JobStatus::Ready, "waiting for its retry");
    assert_eq!(e.state.last_error.as_deref(), Some("lease expired"));
    assert_eq!(e.active_runs, 0);
    let row = repo.get_run(run.run_id).await?.unwrap();
    assert_eq!(row.status, RunStatus::Lost.as_str());
    due_matches_entries(&pool).await?;
    Ok(())
}

/// Pretend another replica already started this fire (attempt 1).
async fn plant_fire(
    pool: &PgPool,
    entry: uuid::Uuid,
    fire: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO scheduler.fires (entry_id, fire_time, attempt, run_id) \
         VALUES ($1, $2, 1, gen_random_uuid())",
    )
    .bind(entry)
    .bind(fire)
    .execute(pool)
    .await?;
    Ok(())
}

/// The entry skipped the fire that ran: Ready for `next`, nothing running.
async fn moved_to_next_fire(
    repo: &Repo,
    entry: uuid::Uuid,
    next: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let e = repo.get_entry(entry).await?.ok_or_else(|| anyhow::anyhow!("entry {entry} is gone"))?;
    assert_eq!(e.state.status, JobStatus::Ready);
    assert_eq!(e.state.next_fire_time, Some(next), "moved on to the next fire");
    assert_eq!(e.active_runs, 0);
    Ok(())
}

#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn the_database_refuses_a_second_run_of_the_same_fire(pool: PgPool) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let mut s = spec();
    s.recurrence = Some(Recurrence::every(60));
    let e = q.create(s, false, None).await?;
    let fire = e.state.next_fire_time.unwrap();
    // Pretend another replica already started this fire.
    plant_fire(&pool, e.id, fire).await?;
    let claimed = repo.claim_free(10, "a", LEASE).await?;
    assert!(claimed.is_empty(), "no second run for the fire");
    moved_to_next_fire(&repo, e.id, fire + TimeDelta::seconds(60)).await?;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scheduler.run_log").fetch_one(&pool).await?;
    assert_eq!(n, 0, "no attempt was started");
    due_matches_entries(&pool).await?;
    Ok(())
}

#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn recurring_entries_store_their_next_fire_and_advance_on_completion(
    pool: PgPool,
) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    // A cron entry in a DST zone is stored at the instant croner computes.
    let mut s = spec();
    s.time_zone = "Europe/Copenhagen".into();
    s.recurrence = Some(Recurrence::with_rule(Rule::Cron { expr: "30 2 * * *".into() }));
    let e = q.create(s.clone(), false, None).await?;
    let sched = s.recurrence.as_ref().unwrap().compile(&s.time_zone)?;
    assert_eq!(e.state.next_run_at, sched.first_fire(e.created_at));
    assert_eq!(e.state.next_fire_time, e.state.next_run_at);

    // An every-5-s entry due now: claim, succeed, next fire = fire + 5 s.
    let mut s = spec();
    s.recurrence = Some(Recurrence::every(5));
    let e = q.create(s, false, None).await?;
    let fire = e.state.next_fire_time.unwrap();
    let claimed = repo.claim_free(10, "a", LEASE).await?;
    let run = claimed.iter().find(|r| r.entry_id == e.id).unwrap();
    assert_eq!(run.fire_time, Some(fire));
    let c = completion_for(run, RunOutcome::Succeeded, None, None, None);
    repo.complete(&[c]).await?;
    let e = repo.get_entry(e.id).await?.unwrap();
    assert_eq!(e.state.status, JobStatus::Ready);
    assert_eq!(e.state.next_run_at, Some(fire + TimeDelta::seconds(5)));
    // A failure that uses up the attempts shows Error but keeps firing.
    let mut s = spec();
    s.recurrence = Some(Recurrence::every(5));
    s.retry.max_attempts = 1;
    let e = q.create(s, false, None).await?;
    let fire = e.state.next_fire_time.unwrap();
    let claimed = repo.claim_free(10, "a", LEASE).await?;
    let run = claimed.iter().find(|r| r.entry_id == e.id).unwrap();
    let c = completion_for(run, RunOutcome::Failed { message: "boom".into() }, None, None, None);
    repo.complete(&[c]).await?;
    let e = repo.get_entry(e.id).await?.unwrap();
    assert_eq!(e.state.status, JobStatus::Error);
    assert_eq!(e.state.next_run_at, Some(fire + TimeDelta::seconds(5)));
    due_matches_entries(&pool).await?;
    Ok(())
}

#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn category_locks_admit_one_claim_and_park_the_rest_as_waiting(
    pool: PgPool,
) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    for _ in 0..5 {
        let mut s = spec();
        s.category = Some("POST".into());
        q.create(s, false, None).await?;
    }
    // Two "replicas" claim at once.
    let (a, b) = tokio::join!(repo.claim_locked(10, "a", LEASE), repo.claim_locked(10, "b", LEASE));
    assert_eq!(a?.len() + b?.len(), 1);
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scheduler.entries WHERE status = 'waiting'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(waiting, 4);
    due_matches_entries(&pool).await?;
    Ok(())
}

#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn a_lock_bound_fire_that_ran_moves_on_and_frees_its_lock(
    pool: PgPool,
) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let mut s = spec();
    s.category = Some("POST".into());
    s.recurrence = Some(Recurrence::every(60));
    let e = q.create(s, false, None).await?;
    let fire = e.state.next_fire_time.unwrap();
    // The free claim says lock-bound work is due, and leaves it to claim_locked.
    let look = repo.claim_free_and_look(10, "a", LEASE).await?;
    assert!(look.runs.is_empty() && look.locked_due);
    // Another replica already started this fire.
    plant_fire(&pool, e.id, fire).await?;
    assert!(repo.claim_locked(10, "a", LEASE).await?.is_empty(), "no second run for the fire");
    moved_to_next_fire(&repo, e.id, fire + TimeDelta::seconds(60)).await?;
    let locks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scheduler.locks").fetch_one(&pool).await?;
    assert_eq!(locks, 0, "the category lock taken for the refused fire is released");
    // Nothing lock-bound is due any more, and the next run is the next fire.
    let look = repo.claim_free_and_look(10, "a", LEASE).await?;
    assert!(!look.locked_due);
    assert_eq!(look.next_due, Some(fire + TimeDelta::seconds(60)));
    due_matches_entries(&pool).await?;
    Ok(())
}

#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn expiry_and_pruning(pool: PgPool) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let mut s = spec();
    s.earliest_start = Some(Utc::now() + TimeDelta::hours(1));
    s.expires_at = Some(Utc::now() + TimeDelta::hours(2));
    let e = q.create(s, false, None).await?;
    sqlx::query("UPDATE scheduler.entries SET next_run_at = now() - interval '1 s', expires_at = now() - interval '1 s'")
        .execute(&pool)
        .await?;
    sqlx::query("SELECT scheduler.sync_due(array(SELECT id FROM scheduler.entries))")
        .execute(&pool)
        .await?;
    assert!(repo.claim_free(10, "a", LEASE).await?.is_empty(), "an expired entry never runs");
    assert_eq!(repo.expire_entries().await?, 1);
    let e = repo.get_entry(e.id).await?.unwrap();
    assert_eq!(e.state.status, JobStatus::Finished);
    assert_eq!(e.state.last_error.as_deref(), Some("expired before it could run"));

    // A finished run from 40 days ago is pruned; today's stays.
    for age in [40, 0] {
        sqlx::query(
            "INSERT INTO scheduler.runs (id, entry_id, task, shop, description, attempt, status, fencing_token, scheduler, params) \
             VALUES (scheduler.uuid_v7_floor(now() - make_interval(days => $1)), gen_random_uuid(), 'test', 's', 'x', 1, 'succeeded', 0, 'a', '{}')",
        )
        .bind(age)
        .execute(&pool)
        .await?;
    }
    let (runs, _) = repo.prune(Duration::from_secs(30 * 86_400)).await?;
    assert_eq!(runs, 1);
    due_matches_entries(&pool).await?;
    Ok(())
}

/// Concurrent creates share one insert: each gets its own entry, in its own order; a
/// request_id used before (or earlier in the same batch) answers the stored entry; each entry
/// is queued and claimable.
#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn batched_creates_keep_each_answer_and_request_ids(pool: PgPool) -> anyhow::Result<()> {
    use shopsync_scheduler::repo::{EntryState, NewEntry};
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let earlier = q.create(spec(), false, Some("req-earlier")).await?;
    let now = Utc::now();
    let ready = EntryState {
        status: JobStatus::Ready,
        next_run_at: Some(now),
        next_fire_time: None,
        manual_pending: false,
        attempts: 0,
        hold_requested: false,
        reschedule_pending: false,
        last_error: None,
    };
    let held = EntryState { status: JobStatus::OnHold, next_run_at: None, ..ready.clone() };
    let specs: Vec<EntrySpec> = (0..5)
        .map(|i| {
            let mut s = spec();
            s.description = Some(format!("batch {i}"));
            s.category = (i == 4).then(|| "cat-a".to_owned());
            s
        })
        .collect();
    let new = [
        NewEntry { spec: &specs[0], state: &ready, request_id: Some("req-new") },
        NewEntry { spec: &specs[1], state: &ready, request_id: Some("req-earlier") },
        NewEntry { spec: &specs[2], state: &ready, request_id: Some("req-new") },
        NewEntry { spec: &specs[3], state: &held, request_id: None },
        NewEntry { spec: &specs[4], state: &ready, request_id: None },
    ];
    let out = repo.insert_entries(&new, false).await?;
    assert_eq!(out.len(), 5);
    let created: Vec<bool> = out.iter().map(|(_, c)| *c).collect();
    assert_eq!(created, [true, false, false, true, true]);
    // The taken ids answer the stored entries, not the batch's specs.
    assert_eq!(out[1].0.id, earlier.id);
    assert_eq!(out[2].0.id, out[0].0.id);
    assert_eq!(out[2].0.spec.description.as_deref(), Some("batch 0"));
    assert_eq!(out[3].0.state.status, JobStatus::OnHold);
    assert_eq!(out[4].0.lock_keys, ["category:CAT-A"]);
    // Stored as answered: spec, lock keys, and the queue (only the ready ones are due).
    for (e, _) in &out {
        let stored = repo.get_entry(e.id).await?.expect("stored");
        assert_eq!(stored.spec, e.spec);
        assert_eq!(stored.lock_keys, e.lock_keys);
        assert_eq!(stored.state.status, e.state.status);
    }
    due_matches_entries(&pool).await?;
    let claimed = repo.claim_free(10, "a", LEASE).await?;
    let mut ids: Vec<_> = claimed.iter().map(|r| r.entry_id).collect();
    ids.sort();
    let mut want = vec![earlier.id, out[0].0.id];
    want.sort();
    assert_eq!(ids, want, "the free ready entries are claimable (the category one is lock-bound)");
    due_matches_entries(&pool).await?;
    Ok(())
}

/// Through the API with batching on: many concurrent creates, each answered with its own
/// entry, and a retried request_id answered with the first.
#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn concurrent_creates_through_the_batcher(pool: PgPool) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let wake = std::sync::Arc::new(shopsync_scheduler::wakeup::Wakeup::default());
    let q = std::sync::Arc::new(JobQueue::with_wakeup(repo.clone(), wake, 2));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let q = q.clone();
        tasks.spawn(async move {
            let mut s = spec();
            s.description = Some(format!("entry {i}"));
            let rid = format!("req-{}", i % 250);
            let e = q.create(s, false, Some(&rid)).await?;
            anyhow::Ok((i, rid, e))
        });
    }
    let mut by_rid: std::collections::HashMap<String, uuid::Uuid> = Default::default();
    while let Some(r) = tasks.join_next().await {
        let (i, rid, e) = r??;
        // Fifty request ids are used twice: both calls get the same entry.
        let first = *by_rid.entry(rid).or_insert(e.id);
        assert_eq!(first, e.id, "create {i}");
        assert_eq!(e.state.status, JobStatus::Ready);
    }
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scheduler.entries").fetch_one(&pool).await?;
    assert_eq!(n, 250);
    // Creates that queue while an insert is out share the next one: the rows of one insert
    // share its transaction id. One create per statement would make 250 of them.
    let inserts: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM scheduler.entries")
            .fetch_one(&pool)
            .await?;
    assert!(inserts <= 25, "{inserts} insert statements for 250 entries");
    due_matches_entries(&pool).await?;
    Ok(())
}

/// A create without a wakeup (no batcher) wakes the claimers with a NOTIFY in its own
/// transaction, once per statement and only for due entries; the batcher's inserts do not.
#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn creates_notify_the_claimers_only_when_asked_and_due(pool: PgPool) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
    l.listen(shopsync_scheduler::repo::WAKE_CHANNEL).await?;
    let wait = Duration::from_millis(300);
    q.create(spec(), false, None).await?;
    let n = tokio::time::timeout(wait, l.recv()).await.expect("a due create notifies")?;
    assert_eq!(n.payload(), "new");
    q.create(spec(), true, None).await?;
    assert!(
        tokio::time::timeout(wait, l.recv()).await.is_err(),
        "an entry created on hold is not due: no NOTIFY"
    );
    let wake = std::sync::Arc::new(shopsync_scheduler::wakeup::Wakeup::default());
    JobQueue::with_wakeup(repo.clone(), wake, 2).create(spec(), false, None).await?;
    assert!(
        tokio::time::timeout(wait, l.recv()).await.is_err(),
        "batched creates leave the wake-up to the Wakeup"
    );
    Ok(())
}

/// A completion wakes the claimers (NOTIFY, sent when its statement commits, and `woke` in its
/// result) only when it made work due again or freed a lock: not when a one-off finished.
#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn completions_notify_the_claimers_only_when_work_is_due_again(
    pool: PgPool,
) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let one_off = q.create(spec(), false, None).await?;
    let mut s = spec();
    s.recurrence = Some(Recurrence::every(5));
    let recurring = q.create(s, false, None).await?;
    let claimed = repo.claim_free(10, "a", LEASE).await?;
    let run_of = |id| claimed.iter().find(|r| r.entry_id == id).unwrap();
    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
    l.listen(shopsync_scheduler::repo::WAKE_CHANNEL).await?;
    let wait = Duration::from_millis(300);

    let c = completion_for(run_of(one_off.id), RunOutcome::Succeeded, None, None, None);
    let r = repo.complete(&[c]).await?;
    assert_eq!(r.accepted.len(), 1);
    assert!(!r.woke, "a finished one-off makes nothing due");
    assert!(
        tokio::time::timeout(wait, l.recv()).await.is_err(),
        "no NOTIFY for a finished one-off"
    );

    let c = completion_for(run_of(recurring.id), RunOutcome::Succeeded, None, None, None);
    let r = repo.complete(std::slice::from_ref(&c)).await?;
    assert!(r.woke, "a recurring entry is due again");
    let n = tokio::time::timeout(wait, l.recv()).await.expect("the completion notifies")?;
    assert_eq!(n.payload(), "released");

    // A stale result (the attempt is gone) is refused and wakes nobody.
    let r = repo.complete(&[c]).await?;
    assert_eq!(r.refused.len(), 1);
    assert!(!r.woke);
    assert!(tokio::time::timeout(wait, l.recv()).await.is_err(), "no NOTIFY for a refused result");
    Ok(())
}

/// A completion cleans up after what changed the entry during its run: a due row made
/// meanwhile goes when the run leaves the entry without a next run, and the run's locks go
/// even when the entry no longer needs locks. (Completions of untouched entries skip both
/// lookups; these are the touched ones.)
#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn a_completion_cleans_up_after_edits_made_during_its_run(
    pool: PgPool,
) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());

    // A one-off made due again while it runs, then finished by its run.
    let e = q.create(spec(), false, None).await?;
    let run = repo.claim_free(10, "a", LEASE).await?.remove(0);
    repo.modify_entry(e.id, |x| {
        let mut s = x.state.clone();
        s.next_run_at = Some(Utc::now());
        Ok::<_, ()>((None, s))
    })
    .await?
    .unwrap();
    due_matches_entries(&pool).await?;
    let c = completion_for(&run, RunOutcome::Succeeded, None, None, None);
    assert_eq!(c.transition.next_run_at, None);
    assert_eq!(repo.complete(&[c]).await?.accepted.len(), 1);
    let e = repo.get_entry(e.id).await?.unwrap();
    assert_eq!(e.state.status, JobStatus::Finished);
    due_matches_entries(&pool).await?;

    // A category entry whose category is removed while it runs still frees its lock.
    let mut s = spec();
    s.category = Some("POST".into());
    let e = q.create(s, false, None).await?;
    let run = repo.claim_locked(10, "a", LEASE).await?.remove(0);
    let locks = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM scheduler.locks").fetch_one(&pool).await
    };
    assert_eq!(locks().await?, 1);
    q.update(e.id, spec(), None).await?;
    let needs: bool = sqlx::query_scalar("SELECT needs_locks FROM scheduler.entries WHERE id = $1")
        .bind(e.id)
        .fetch_one(&pool)
        .await?;
    assert!(!needs, "the edit took the category away");
    let c = completion_for(&run, RunOutcome::Succeeded, None, None, None);
    let r = repo.complete(&[c]).await?;
    assert_eq!(r.accepted.len(), 1);
    assert!(r.woke, "the freed lock wakes the claimers");
    assert_eq!(locks().await?, 0, "the run's lock is released");
    due_matches_entries(&pool).await?;
    Ok(())
}

/// An entry that allows overlapping runs, put on hold while a run goes, starts no other run
/// and is On Hold when the run ends.
#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn an_overlapping_entry_put_on_hold_mid_run_starts_nothing_more(
    pool: PgPool,
) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let mut s = spec();
    let mut r = Recurrence::every(60);
    r.allow_overlap = true;
    s.recurrence = Some(r);
    let e = q.create(s, false, None).await?;
    let run = repo.claim_free(10, "a", LEASE).await?.remove(0);
    // The dispatcher moves an overlapping entry on as its run starts: due now, for the test.
    repo.advance_overlapping(e.id, Some(Utc::now())).await?;
    due_matches_entries(&pool).await?;
    q.set_on_hold(e.id).await?;
    due_matches_entries(&pool).await?;
    assert!(repo.claim_free(10, "a", LEASE).await?.is_empty(), "no second run once on hold");
    let c = completion_for(&run, RunOutcome::Succeeded, None, None, None);
    assert_eq!(repo.complete(&[c]).await?.accepted.len(), 1);
    let e = repo.get_entry(e.id).await?.unwrap();
    assert_eq!(e.state.status, JobStatus::OnHold);
    assert_eq!(e.state.next_run_at, None);
    due_matches_entries(&pool).await?;
    Ok(())
}

/// A running attempt's run-log row shows the spec it was claimed with, even when the entry is
/// edited during the run; progress and cancel requests reach it; its claim is released with
/// its completion, and a reaped claim once its attempts are logged.
#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn runs_keep_what_their_claim_saw_and_claims_are_released(
    pool: PgPool,
) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM scheduler.{table}"
            )))
            .fetch_one(&pool)
            .await
        }
    };
    let mut before = spec();
    before.description = Some("before".into());
    before.params = TaskParams::Test(TestParams { steps: 1, ..Default::default() });
    let e = q.create(before, false, None).await?;
    let run = repo.claim_free(10, "a", LEASE).await?.remove(0);
    let row = repo.get_run(run.run_id).await?.unwrap();
    assert_eq!((row.status.as_str(), row.description.as_str()), ("running", "before"));
    assert_eq!(row.params["test"]["steps"], 1);

    // Edited during the run: the run keeps the claim's spec.
    let mut after = spec();
    after.shop = "shop-2".into();
    after.description = Some("after".into());
    after.params = TaskParams::Test(TestParams { steps: 5, ..Default::default() });
    q.update(e.id, after, None).await?;
    let row = repo.get_run(run.run_id).await?.unwrap();
    assert_eq!((row.shop.as_str(), row.description.as_str()), ("shop-1", "before"));
    assert_eq!(row.params["test"]["steps"], 1);

    // Progress and a cancel request go through the heartbeat.
    let hb = repo.heartbeat(&[run.claim_id], &[beat(run.run_id, "step")], LEASE).await?;
    assert_eq!(hb.renewed, vec![run.claim_id]);
    assert!(hb.cancels.is_empty() && hb.logged.is_empty());
    let row = repo.get_run(run.run_id).await?.unwrap();
    assert_eq!((row.progress_done, row.progress_total), (3, 10));
    assert_eq!(repo.request_cancel(e.id, "alice").await?, vec![run.run_id]);
    let hb = repo.heartbeat(&[run.claim_id], &[beat(run.run_id, "step")], LEASE).await?;
    assert_eq!(hb.cancels, vec![(run.run_id, "alice".to_owned())]);

    // The completion logs the claim's spec, keeps the progress, and releases the claim.
    let c = completion_for(&run, RunOutcome::Succeeded, None, None, None);
    let r = repo.complete_and_release(&[c], &[run.claim_id], false).await?;
    assert_eq!(r.accepted, vec![run.run_id]);
    let row = repo.get_run(run.run_id).await?.unwrap();
    assert_eq!(row.status, RunStatus::Succeeded.as_str());
    assert_eq!((row.shop.as_str(), row.description.as_str()), ("shop-1", "before"));
    assert_eq!(row.params["test"]["steps"], 1);
    assert_eq!(row.progress_done, 3);
    assert_eq!((count("claims").await?, count("attempt_state").await?), (0, 0));
    let hb = repo.heartbeat(&[run.claim_id], &[beat(run.run_id, "")], LEASE).await?;
    assert!(hb.renewed.is_empty(), "the released claim is gone");
    assert_eq!(hb.logged, vec![run.run_id]);

    // A claim whose lease ran out: its attempt is reaped, then the claim is released.
    q.create(spec(), false, None).await?;
    let run = repo.claim_free(10, "b", LEASE).await?.remove(0);
    assert_eq!(repo.release_expired_claims().await?, 0, "a live claim stays");
    sqlx::query("UPDATE scheduler.claims SET lease_expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await?;
    assert_eq!(repo.release_expired_claims().await?, 0, "its attempt is not logged yet");
    let expired = repo.expired_runs(10).await?;
    assert_eq!(expired.len(), 1);
    assert_eq!((expired[0].run_id, expired[0].claimed_by.as_str()), (run.run_id, "b"));
    let lost = lost(&expired[0]);
    assert_eq!(repo.complete(std::slice::from_ref(&lost)).await?.accepted, vec![run.run_id]);
    // The reaper's failure sent again (looked up first): refused, nothing changes.
    let again = repo.complete_and_release(&[lost], &[], true).await?;
    assert_eq!((again.accepted.len(), again.refused), (0, vec![run.run_id]));
    assert_eq!(repo.release_expired_claims().await?, 1);
    assert_eq!(count("claims").await?, 0);
    let row = repo.get_run(run.run_id).await?.unwrap();
    assert_eq!((row.status.as_str(), row.scheduler.as_str()), ("lost", "b"));
    due_matches_entries(&pool).await?;
    Ok(())
}

/// Claims send the hashes of the specs they have parsed and get only the others' JSON: every
/// attempt still carries its own entry's spec, shared, new or edited.
#[sqlx::test(migrator = "shopsync_scheduler::MIGRATOR")]
async fn claimed_attempts_carry_their_own_spec_when_specs_are_shared(
    pool: PgPool,
) -> anyhow::Result<()> {
    let repo = Repo::new(pool.clone());
    let q = JobQueue::new(repo.clone());
    let with = |d: &str| {
        let mut s = spec();
        s.description = Some(d.into());
        s
    };
    let e1 = q.create(with("shared"), false, None).await?;
    let first = repo.claim_free(10, "a", LEASE).await?;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].spec.description.as_deref(), Some("shared"));

    // The same spec again (known to the claimer), a new one, and an edited one.
    let e2 = q.create(with("shared"), false, None).await?;
    let e3 = q.create(with("other"), false, None).await?;
    let e4 = q.create(with("shared"), false, None).await?;
    q.update(e4.id, with("edited"), None).await?;
    let runs = repo.claim_free(10, "a", LEASE).await?;
    let got: std::collections::HashMap<_, _> =
        runs.iter().map(|r| (r.entry_id, r.spec.description.clone().unwrap_or_default())).collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[&e2.id], "shared");
    assert_eq!(got[&e3.id], "other");
    assert_eq!(got[&e4.id], "edited");
    assert!(!got.contains_key(&e1.id));
    let hashes: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT spec_hash) FROM scheduler.entry_specs")
            .fetch_one(&pool)
            .await?;
    assert_eq!(hashes, 3, "entries with the same spec share its hash");
    Ok(())
}
