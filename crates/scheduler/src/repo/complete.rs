//! An attempt while it runs and when it ends: heartbeats (the claims' leases, progress,
//! cancel requests) and the completion statement, which logs a batch of runs and moves their
//! entries on, fenced by each attempt's token.

use super::{PgQueryAs, Repo, RepoError, WAKE_CHANNEL, ms, row_kinds};
use chrono::{DateTime, Utc};
use shopsync_common::{RunFailure, RunReport, RunStatus, Transition};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

/// How far an attempt got, as its worker last reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
    pub step: String,
}

/// A running attempt's heartbeat: its progress.
#[derive(Debug, Clone)]
pub struct Beat {
    pub run_id: Uuid,
    pub progress: Progress,
}

row_kinds! {
    /// A row of the heartbeat statement.
    enum HeartbeatKind {
        /// A claim whose lease was renewed.
        Renewed = "c",
        /// A running attempt with a cancel request.
        CancelRequested = "x",
        /// An attempt logged already.
        Logged = "l",
    }
}

#[derive(FromRow)]
struct HeartbeatRow {
    kind: HeartbeatKind,
    claim_id: Option<i64>,
    run_id: Option<Uuid>,
    cancelled_by: Option<String>,
}

/// What a heartbeat found.
#[derive(Debug, Default)]
pub struct Heartbeat {
    /// The claims whose lease was renewed; the others are gone (reaped).
    pub renewed: Vec<i64>,
    /// Running attempts with a cancel request, and who asked.
    pub cancels: Vec<(Uuid, String)>,
    /// Attempts already logged (reaped by another replica, or finished meanwhile).
    pub logged: Vec<Uuid>,
}

/// How a run ended, ready to be written.
#[derive(Debug, Clone)]
pub struct Completion {
    pub run_id: Uuid,
    /// The claim that started the attempt: it holds the run's fencing token.
    pub claim_id: i64,
    pub entry_id: Uuid,
    pub fencing_token: i64,
    /// The run's attempt number, fire, start and claimer, as the claim recorded them.
    pub attempt: i32,
    pub fire_time: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub claimed_by: String,
    /// The entry's version the claim left: a different one at the end means the entry
    /// changed during the run.
    pub entry_version: i64,
    /// The run-log fields of the spec the attempt ran with (the claim's).
    pub task: &'static str,
    pub shop: String,
    pub description: String,
    pub category: Option<String>,
    pub run_status: RunStatus,
    pub worker: Option<String>,
    /// What a successful run reported.
    pub report: Option<RunReport>,
    /// Why a run did not succeed.
    pub error: Option<RunFailure>,
    /// Last progress reported.
    pub progress: Progress,
    pub transition: Transition,
}

#[derive(Debug, Default)]
pub struct CompleteResult {
    pub accepted: Vec<Uuid>,
    /// Completions refused by fencing: the attempt was no longer current.
    pub refused: Vec<Uuid>,
    /// Entries whose spec changed during the run: their schedule must be recomputed.
    pub reschedule: Vec<Uuid>,
    /// The batch made work due (a retry, a next fire) or freed a lock: the claimers were
    /// notified.
    pub woke: bool,
}

row_kinds! {
    /// A row of the completion statement ([`complete_sql`]).
    enum CompleteKind {
        /// A run accepted (logged).
        Done = "d",
        /// A lock holder released.
        Released = "l",
        /// An entry whose spec changed during the run.
        Reschedule = "r",
        /// The statement woke the claimers.
        Woke = "w",
    }
}

#[derive(FromRow)]
struct CompleteRow {
    kind: CompleteKind,
    run_id: Option<Uuid>,
    entry_id: Option<Uuid>,
}

/// A completion batch's columns, one array per column for `unnest` ([`complete_sql`]): each
/// completion is pushed as one row, and `bind` binds them in the statement's `$n` order.
#[derive(Default)]
struct CompletionColumns<'a> {
    run_id: Vec<Uuid>,
    token: Vec<i64>,
    run_status: Vec<&'static str>,
    worker: Vec<Option<&'a str>>,
    counters: Vec<Option<Json<&'a BTreeMap<String, i64>>>>,
    record_errors: Vec<i64>,
    errors: Vec<Option<Json<&'a Vec<shopsync_common::RecordError>>>>,
    error: Vec<Option<Json<&'a RunFailure>>>,
    e_status: Vec<&'static str>,
    next_run_at: Vec<Option<DateTime<Utc>>>,
    next_fire: Vec<Option<DateTime<Utc>>>,
    manual: Vec<bool>,
    attempts: Vec<i32>,
    last_error: Vec<Option<&'a str>>,
    p_done: Vec<i64>,
    p_total: Vec<i64>,
    p_step: Vec<&'a str>,
    entry_id: Vec<Uuid>,
    run_attempt: Vec<i32>,
    fire_time: Vec<Option<DateTime<Utc>>>,
    started_at: Vec<DateTime<Utc>>,
    entry_version: Vec<i64>,
    claimed_by: Vec<&'a str>,
    /// The batch's claims, sorted and without repeats.
    claim_ids: Vec<i64>,
    task: Vec<&'static str>,
    shop: Vec<&'a str>,
    description: Vec<&'a str>,
    category: Vec<Option<&'a str>>,
}

impl<'a> CompletionColumns<'a> {
    fn of(batch: &'a [Completion]) -> Self {
        let mut cols = Self::default();
        for c in batch {
            cols.push(c);
        }
        cols.claim_ids.sort_unstable();
        cols.claim_ids.dedup();
        cols
    }

    fn push(&mut self, c: &'a Completion) {
        let report = c.report.as_ref();
        self.run_id.push(c.run_id);
        self.token.push(c.fencing_token);
        self.run_status.push(c.run_status.as_str());
        self.worker.push(c.worker.as_deref());
        self.counters.push(report.map(|r| Json(&r.counters)));
        self.record_errors.push(report.map_or(0, |r| r.record_errors as i64));
        self.errors.push(report.map(|r| Json(&r.errors)));
        self.error.push(c.error.as_ref().map(Json));
        self.e_status.push(c.transition.status.as_str());
        self.next_run_at.push(c.transition.next_run_at);
        self.next_fire.push(c.transition.next_fire_time);
        self.manual.push(c.transition.manual);
        self.attempts.push(c.transition.attempts as i32);
        self.last_error.push(c.transition.last_error.as_deref());
        self.p_done.push(c.progress.done);
        self.p_total.push(c.progress.total);
        self.p_step.push(&c.progress.step);
        self.entry_id.push(c.entry_id);
        self.run_attempt.push(c.attempt);
        self.fire_time.push(c.fire_time);
        self.started_at.push(c.started_at);
        self.entry_version.push(c.entry_version);
        self.claimed_by.push(&c.claimed_by);
        self.claim_ids.push(c.claim_id);
        self.task.push(c.task);
        self.shop.push(&c.shop);
        self.description.push(&c.description);
        self.category.push(c.category.as_deref());
    }

    /// Binds $1 to $30 (the wake-up channel, $18, and the claims to delete, $26, included).
    fn bind<'q>(
        &'q self,
        q: PgQueryAs<'q, CompleteRow>,
        finished_claims: &'q [i64],
    ) -> PgQueryAs<'q, CompleteRow> {
        q.bind(&self.run_id) // $1
            .bind(&self.token) // $2
            .bind(&self.run_status) // $3
            .bind(&self.worker) // $4
            .bind(&self.counters) // $5
            .bind(&self.record_errors) // $6
            .bind(&self.errors) // $7
            .bind(&self.error) // $8
            .bind(&self.e_status) // $9
            .bind(&self.next_run_at) // $10
            .bind(&self.next_fire) // $11
            .bind(&self.manual) // $12
            .bind(&self.attempts) // $13
            .bind(&self.last_error) // $14
            .bind(&self.p_done) // $15
            .bind(&self.p_total) // $16
            .bind(&self.p_step) // $17
            .bind(WAKE_CHANNEL) // $18
            .bind(&self.entry_id) // $19
            .bind(&self.run_attempt) // $20
            .bind(&self.fire_time) // $21
            .bind(&self.started_at) // $22
            .bind(&self.entry_version) // $23
            .bind(&self.claimed_by) // $24
            .bind(&self.claim_ids) // $25
            .bind(finished_claims) // $26
            .bind(&self.task) // $27
            .bind(&self.shop) // $28
            .bind(&self.description) // $29
            .bind(&self.category) // $30
    }
}

impl Repo {
    /// Renew the leases of this scheduler's claims and store the progress of its running
    /// attempts (those that report any). Says which claims are still there (a missing one was
    /// reaped by another replica), which attempts have a cancel request, and which are logged
    /// already (reaped, or finished meanwhile).
    pub async fn heartbeat(
        &self,
        claims: &[i64],
        beats: &[Beat],
        lease: Duration,
    ) -> Result<Heartbeat, RepoError> {
        let mut out = Heartbeat::default();
        if claims.is_empty() && beats.is_empty() {
            return Ok(out);
        }
        let ids: Vec<Uuid> = beats.iter().map(|b| b.run_id).collect();
        let done: Vec<i64> = beats.iter().map(|b| b.progress.done).collect();
        let total: Vec<i64> = beats.iter().map(|b| b.progress.total).collect();
        let steps: Vec<&str> = beats.iter().map(|b| b.progress.step.as_str()).collect();
        let rows: Vec<HeartbeatRow> = sqlx::query_as(
            "WITH renewed AS ( \
               UPDATE scheduler.claims SET lease_expires_at = now() + $2 * interval '1 millisecond' \
               WHERE id = ANY ($1) RETURNING id \
             ), progress AS ( \
               INSERT INTO scheduler.attempt_state AS s (run_id, progress_done, progress_total, step) \
               SELECT u.id, u.done, u.total, NULLIF(u.step, '') \
               FROM unnest($3::uuid[], $4::bigint[], $5::bigint[], $6::text[]) AS u(id, done, total, step) \
               WHERE (u.done > 0 OR u.total > 0 OR u.step <> '') \
                 AND NOT EXISTS (SELECT 1 FROM scheduler.runs r WHERE r.id = u.id) \
               ON CONFLICT (run_id) DO UPDATE SET progress_done = EXCLUDED.progress_done, \
                 progress_total = EXCLUDED.progress_total, step = COALESCE(EXCLUDED.step, s.step) \
             ) \
             SELECT 'c' AS kind, id AS claim_id, NULL::uuid AS run_id, NULL::text AS cancelled_by \
               FROM renewed \
             UNION ALL SELECT 'x', NULL, s.run_id, s.cancel_requested FROM scheduler.attempt_state s \
               WHERE s.run_id = ANY ($3) AND s.cancel_requested IS NOT NULL \
             UNION ALL SELECT 'l', NULL, r.id, NULL FROM scheduler.runs r WHERE r.id = ANY ($3)",
        )
        .bind(claims)
        .bind(ms(lease))
        .bind(&ids)
        .bind(&done)
        .bind(&total)
        .bind(&steps)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            match (r.kind, r.claim_id, r.run_id, r.cancelled_by) {
                (HeartbeatKind::Renewed, Some(c), _, _) => out.renewed.push(c),
                (HeartbeatKind::CancelRequested, _, Some(run), Some(by)) => {
                    out.cancels.push((run, by))
                }
                (HeartbeatKind::Logged, _, Some(run), _) => out.logged.push(run),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Write a batch of completions in one statement. Each entry appears at most once per
    /// batch (the caller splits duplicates).
    pub async fn complete(&self, batch: &[Completion]) -> Result<CompleteResult, RepoError> {
        self.complete_and_release(batch, &[], false).await
    }

    /// Write a batch of completions, and delete the claims whose attempts are all logged with
    /// this batch (`finished_claims`: the claimer knows when it has sent every completion of
    /// a claim). `guarded`: look each run up in the run log before inserting it, for batches
    /// likely to hold a run logged already (the reaper's, which it may send more than once).
    pub async fn complete_and_release(
        &self,
        batch: &[Completion],
        finished_claims: &[i64],
        guarded: bool,
    ) -> Result<CompleteResult, RepoError> {
        if batch.is_empty() {
            return Ok(CompleteResult::default());
        }
        let cols = CompletionColumns::of(batch);
        // Fast path: the run log's primary key refuses a run logged already (by the reaper)
        // as the insertion writes it, and the batch is then written again with each run
        // looked up first (rare: only a result that crossed the reaper's failure of it).
        let mut guarded = guarded;
        let rows: Vec<CompleteRow> = loop {
            let sql: &'static str = if guarded { &COMPLETE_GUARDED } else { &COMPLETE_FAST };
            let r = cols
                .bind(sqlx::query_as(AssertSqlSafe(sql)), finished_claims)
                .fetch_all(&self.keyed)
                .await;
            match r {
                Ok(rows) => break rows,
                Err(sqlx::Error::Database(e))
                    if !guarded && e.code().as_deref() == Some("23505") =>
                {
                    guarded = true;
                }
                Err(e) => return Err(e.into()),
            }
        };
        // A freed lock or an entry due again may let waiting work start: the statement woke
        // the claimers.
        let mut result = CompleteResult::default();
        for r in rows {
            match (r.kind, r.run_id, r.entry_id) {
                (CompleteKind::Done, Some(run), _) => result.accepted.push(run),
                (CompleteKind::Reschedule, _, Some(entry)) => result.reschedule.push(entry),
                (CompleteKind::Woke, _, _) => result.woke = true,
                _ => {}
            }
        }
        let accepted: HashSet<Uuid> = result.accepted.iter().copied().collect();
        result.refused = cols.run_id.iter().filter(|id| !accepted.contains(id)).copied().collect();
        Ok(result)
    }
}

/// The completion statement, without and with a look-up of each run in the run log first
/// (see `Repo::complete_and_release`).
static COMPLETE_FAST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| complete_sql(""));
static COMPLETE_GUARDED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    complete_sql("AND NOT EXISTS (SELECT 1 FROM scheduler.runs r WHERE r.id = c.run_id)")
});

/// The completion statement ([`CompletionColumns`] binds it).
///
/// Every join is driven by the batch and probes a primary key or index, so the statement
/// stays linear in the batch whatever the planner guesses for unnest(). The answer is one
/// row per accepted run ('d'), per released lock holder ('l'), per entry whose spec changed
/// during the run ('r'), and a 'w' row if it woke the claimers. One statement is one
/// transaction: no BEGIN and COMMIT round trips, and the wake-up is sent when it commits. An
/// entry that nothing changed during the run (its version is the one the claim left, kept in
/// the attempt) has no due row, and its run holds locks only if the entry needs them: only
/// the others ('touched') are looked up in `due`, and only those and the lock-bound ones in
/// `locks`.
fn complete_sql(guard: &str) -> String {
    let (done, released) = (CompleteKind::Done.tag(), CompleteKind::Released.tag());
    let (reschedule, woke) = (CompleteKind::Reschedule.tag(), CompleteKind::Woke.tag());
    format!(
        "WITH logged AS ( \
               INSERT INTO scheduler.runs (id, entry_id, task, shop, description, category, \
                 fire_time, attempt, status, fencing_token, scheduler, worker, params, started_at, \
                 finished_at, cancel_requested, progress_done, progress_total, step, counters, \
                 record_errors, errors, error) \
               SELECT c.run_id, c.entry_id, \
                 CASE WHEN s.snapshot THEN s.task ELSE c.task END, \
                 CASE WHEN s.snapshot THEN s.shop ELSE c.shop END, \
                 CASE WHEN s.snapshot THEN s.description ELSE c.description END, \
                 CASE WHEN s.snapshot THEN s.category ELSE c.category END, \
                 c.fire_time, c.run_attempt, c.run_status, c.token, c.claimed_by, \
                 COALESCE(c.worker, s.worker), \
                 CASE WHEN s.snapshot THEN s.params ELSE \
                   (SELECT sp.spec -> 'params' FROM scheduler.entry_specs sp \
                    WHERE sp.entry_id = c.entry_id) END, \
                 c.started_at, clock_timestamp(), s.cancel_requested, \
                 GREATEST(s.progress_done, c.p_done), GREATEST(s.progress_total, c.p_total), \
                 COALESCE(NULLIF(c.p_step, ''), s.step), c.counters, c.record_errors, c.errors, \
                 c.error \
               FROM (SELECT unnest($1::uuid[]) AS run_id, unnest($2::bigint[]) AS token, \
                   unnest($3::text[]) AS run_status, unnest($4::text[]) AS worker, \
                   unnest($5::jsonb[]) AS counters, unnest($6::bigint[]) AS record_errors, \
                   unnest($7::jsonb[]) AS errors, unnest($8::jsonb[]) AS error, \
                   unnest($15::bigint[]) AS p_done, unnest($16::bigint[]) AS p_total, \
                   unnest($17::text[]) AS p_step, unnest($19::uuid[]) AS entry_id, \
                   unnest($20::int[]) AS run_attempt, unnest($21::timestamptz[]) AS fire_time, \
                   unnest($22::timestamptz[]) AS started_at, unnest($24::text[]) AS claimed_by, \
                   unnest($27::text[]) AS task, unnest($28::text[]) AS shop, \
                   unnest($29::text[]) AS description, unnest($30::text[]) AS category) c \
               LEFT JOIN LATERAL (SELECT * FROM scheduler.attempt_state s \
                 WHERE (SELECT EXISTS (SELECT 1 FROM scheduler.attempt_state)) \
                   AND s.run_id = c.run_id OFFSET 0) s ON true \
               WHERE ((c.run_id, c.token) IN ( \
                 SELECT u.run_id, u.token FROM scheduler.claims k \
                 CROSS JOIN LATERAL unnest(k.run_ids, k.tokens) AS u(run_id, token) \
                 WHERE k.id = ANY ($25::bigint[]))) IS TRUE \
                 {guard} \
               RETURNING id \
             ), done AS ( \
               SELECT * FROM (SELECT unnest($1::uuid[]) AS run_id, \
                   unnest($19::uuid[]) AS entry_id, unnest($9::text[]) AS e_status, \
                   unnest($10::timestamptz[]) AS next_run_at, \
                   unnest($11::timestamptz[]) AS next_fire, unnest($12::bool[]) AS manual, \
                   unnest($13::int[]) AS attempts, unnest($14::text[]) AS last_error, \
                   unnest($23::bigint[]) AS entry_version) c \
               WHERE (c.run_id IN (SELECT id FROM logged)) IS TRUE \
             ), cleared AS ( \
               DELETE FROM scheduler.attempt_state s \
               WHERE s.run_id = ANY (ARRAY(SELECT run_id FROM done)) \
             ), finished_claims AS ( \
               DELETE FROM scheduler.claims k WHERE k.id = ANY ($26::bigint[]) \
             ), ent AS ( \
               UPDATE scheduler.entries e SET \
                 active_runs = e.active_runs - 1, \
                 status = CASE WHEN e.active_runs > 1 THEN 'in_process' \
                               WHEN e.hold_requested THEN 'on_hold' ELSE d.e_status END, \
                 next_run_at = CASE WHEN e.allow_overlap AND e.next_run_at IS NOT NULL THEN e.next_run_at \
                                    WHEN e.active_runs > 1 THEN e.next_run_at \
                                    WHEN e.hold_requested THEN NULL ELSE d.next_run_at END, \
                 next_fire_time = CASE WHEN e.allow_overlap AND e.next_run_at IS NOT NULL THEN e.next_fire_time \
                                       ELSE d.next_fire END, \
                 manual_pending = d.manual, \
                 attempts = d.attempts, \
                 hold_requested = CASE WHEN e.active_runs > 1 THEN e.hold_requested ELSE false END, \
                 last_error = d.last_error, \
                 version = e.version + 1, updated_at = clock_timestamp() \
               FROM done d WHERE e.id = d.entry_id \
               RETURNING d.run_id, e.id, e.reschedule_pending, e.next_run_at, e.needs_locks, \
                 e.priority, e.entry_no, e.expires_at, \
                 e.version - 1 IS DISTINCT FROM d.entry_version AS touched \
             ), released AS ( \
               DELETE FROM scheduler.locks l \
               WHERE l.run_id = ANY (ARRAY(SELECT run_id FROM ent WHERE needs_locks OR touched)) \
               RETURNING l.run_id, l.entry_id \
             ), requeued AS ( \
               INSERT INTO scheduler.due (entry_id, run_at, needs_locks, priority, entry_no, expires_at) \
               SELECT id, next_run_at, needs_locks, priority, entry_no, expires_at FROM ent \
               WHERE next_run_at IS NOT NULL \
               ON CONFLICT (entry_id) DO UPDATE SET run_at = EXCLUDED.run_at \
             ), unqueued AS ( \
               DELETE FROM scheduler.due q \
               WHERE q.entry_id = ANY (ARRAY(SELECT id FROM ent WHERE next_run_at IS NULL AND touched)) \
             ), woke AS MATERIALIZED ( \
               SELECT pg_notify($18, 'released') \
               WHERE EXISTS (SELECT 1 FROM released) \
                  OR EXISTS (SELECT 1 FROM done WHERE next_run_at IS NOT NULL) \
             ) \
             SELECT '{done}' AS kind, run_id, entry_id FROM done \
             UNION ALL SELECT DISTINCT '{released}', run_id, entry_id FROM released \
             UNION ALL SELECT '{reschedule}', run_id, id FROM ent WHERE reschedule_pending \
             UNION ALL SELECT '{woke}', NULL, NULL FROM woke"
    )
}
