//! Claims: starting due attempts, free ones in one statement and lock-bound ones in one short
//! transaction, each answer resolved against the specs this repository has parsed already;
//! and moving a recurring entry past a fire the database refused to start twice.

use super::{PgQueryAs, Repo, RepoError, ms, row_kinds, sync_due};
use chrono::{DateTime, Utc};
use serde_json::Value;
use shopsync_common::EntrySpec;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, FromRow, Postgres, Row, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Advisory lock key serialising `claim_locked` across replicas ("shpsync1" in ASCII).
const CLAIM_LOCKED_LOCK: i64 = 0x7368_7073_796e_6331;

/// A run the scheduler has just started (or, for the reaper, one whose lease expired).
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub run_id: Uuid,
    pub entry_id: Uuid,
    pub fencing_token: i64,
    pub attempt: i32,
    pub fire_time: Option<DateTime<Utc>>,
    /// The entry's pending recurring fire at claim time.
    pub pending_fire: Option<DateTime<Utc>>,
    pub spec: Arc<EntrySpec>,
    pub claimed_at: DateTime<Utc>,
    /// The claim that started it: its lease covers the attempt.
    pub claim_id: i64,
    /// The entry's version the claim left.
    pub entry_version: i64,
    /// The scheduler that claimed it.
    pub claimed_by: String,
}

row_kinds! {
    /// A row of the claim statement ([`claim_sql`]).
    enum ClaimKind {
        /// A started run with its attempt's fencing token.
        Started = "r",
        /// A recurring fire that already has a run.
        RanFire = "d",
        /// Free claims only: the state of the queue after the claim.
        Look = "n",
    }
}

/// A row of the claim statement.
struct ClaimOut {
    kind: ClaimKind,
    row: ClaimRow,
    next_due: Option<DateTime<Utc>>,
    locked_due: Option<bool>,
}

/// Read by position, in `claim_sql`'s column order: a claim returns thousands of rows, and
/// finding each column by name cost the dispatcher a tenth of its CPU.
impl<'r> FromRow<'r, PgRow> for ClaimOut {
    fn from_row(r: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            kind: r.try_get(0)?,
            row: ClaimRow {
                run_id: r.try_get(1)?,
                entry_id: r.try_get(2)?,
                fencing_token: r.try_get(3)?,
                attempt: r.try_get(4)?,
                fire_time: r.try_get(5)?,
                pending_fire: r.try_get(6)?,
                spec: r.try_get(7)?,
                claimed_at: r.try_get(8)?,
                claim_id: r.try_get(9)?,
                entry_version: r.try_get(10)?,
                claimed_by: r.try_get(11)?,
                spec_hash: r.try_get(12)?,
            },
            next_due: r.try_get(13)?,
            locked_due: r.try_get(14)?,
        })
    }
}

/// A claimed (or reaped) attempt as the database returns it; every column may be NULL in a
/// claim statement's 'd' and 'n' rows.
#[derive(FromRow)]
pub(super) struct ClaimRow {
    run_id: Option<Uuid>,
    pub(super) entry_id: Option<Uuid>,
    fencing_token: Option<i64>,
    attempt: Option<i32>,
    fire_time: Option<DateTime<Utc>>,
    pending_fire: Option<DateTime<Utc>>,
    /// The spec as JSON text, parsed straight into an `EntrySpec`; in a claim, only when its
    /// hash is not one the claimer knows.
    pub(super) spec: Option<String>,
    /// The SHA-256 of the stored spec (claims only).
    #[sqlx(default)]
    spec_hash: Option<Vec<u8>>,
    claimed_at: Option<DateTime<Utc>>,
    /// The claim that started the attempt (`scheduler.claims`).
    claim_id: Option<i64>,
    entry_version: Option<i64>,
    claimed_by: Option<String>,
}

/// A started (or reaped) attempt from its row and its parsed spec; None for a row that is
/// not one (a claim statement's 'd' and 'n' rows).
pub(super) fn to_claimed(r: ClaimRow, spec: Arc<EntrySpec>) -> Option<ClaimedRun> {
    Some(ClaimedRun {
        run_id: r.run_id?,
        entry_id: r.entry_id?,
        fencing_token: r.fencing_token?,
        attempt: r.attempt?,
        fire_time: r.fire_time,
        pending_fire: r.pending_fire,
        spec,
        claimed_at: r.claimed_at?,
        claim_id: r.claim_id?,
        entry_version: r.entry_version?,
        claimed_by: r.claimed_by?,
    })
}

/// What one free claim found.
#[derive(Debug, Default)]
pub struct FreeClaim {
    pub runs: Vec<ClaimedRun>,
    /// The earliest future run of an entry without locks, or of a lock-bound one that is not
    /// Waiting.
    pub next_due: Option<DateTime<Utc>>,
    /// Lock-bound work is due now (for `claim_locked`).
    pub locked_due: bool,
}

/// A recurring fire that had run already (a 'd' row).
struct RanFire {
    entry_id: Uuid,
    fire: Option<DateTime<Utc>>,
}

/// A due lock-bound entry, as `claim_locked` considers it.
#[derive(FromRow)]
struct LockCandidate {
    id: Uuid,
    lock_keys: Vec<String>,
    status: String,
}

/// The earliest future run: two index-backed minimums (free and lock-bound due rows).
const NEXT_DUE: &str = "LEAST( \
    (SELECT min(run_at) FROM scheduler.due WHERE run_at > now() AND NOT needs_locks), \
    (SELECT min(d.run_at) FROM scheduler.due d WHERE d.run_at > now() AND d.needs_locks \
      AND (SELECT e.status FROM scheduler.entries e WHERE e.id = d.entry_id) <> 'waiting'))";

/// Is lock-bound work due? The first test reads only the partial index of lock-bound due rows
/// (empty or nearly so on most installations) and decides without any join; the precise test
/// (is anything not Waiting, or Waiting with its locks free?) runs only when lock-bound work
/// is due at all. CASE evaluates its subqueries lazily.
///
/// Here and in the claims, an entry is read for a due row by key, in a subquery of its own:
/// written as a join, the planner may hash all entries for a handful of due rows (it did, at
/// tens of thousands of entries, for a few milliseconds a claim).
const LOCKED_DUE: &str = "CASE WHEN NOT EXISTS (SELECT 1 FROM scheduler.due \
                                   WHERE needs_locks AND run_at <= now()) THEN false \
    ELSE EXISTS (SELECT 1 FROM scheduler.due d WHERE d.run_at <= now() AND d.needs_locks \
        AND (SELECT e.status FROM scheduler.entries e WHERE e.id = d.entry_id) <> 'waiting') \
      OR EXISTS (SELECT 1 FROM scheduler.due d WHERE d.needs_locks AND d.run_at <= now() \
        AND (SELECT e.status = 'waiting' \
               AND NOT EXISTS (SELECT 1 FROM scheduler.locks l WHERE l.key = ANY (e.lock_keys)) \
             FROM scheduler.entries e WHERE e.id = d.entry_id)) \
    END";

/// Parsed specs by the SHA-256 of their stored JSON (`entry_specs.spec_hash`). Entries share
/// specs (a merchant's few tasks per shop; a recurring entry's every run), so a claim sends
/// the hashes it knows and gets the JSON only of the others: the database does not print, and
/// the dispatcher does not parse, the same spec for every attempt.
#[derive(Default)]
pub(super) struct SpecCache {
    by_hash: HashMap<Vec<u8>, Arc<EntrySpec>>,
}

/// The specs a claim said it knows: the claim's answer omits exactly their JSON, and is
/// resolved against this copy (whatever other claims do to the cache meanwhile).
type KnownSpecs = HashMap<Vec<u8>, Arc<EntrySpec>>;

impl SpecCache {
    /// Specs kept at most; the claim sends all their hashes.
    const MAX: usize = 256;

    fn insert(&mut self, hash: Vec<u8>, spec: Arc<EntrySpec>) {
        if self.by_hash.len() >= Self::MAX && !self.by_hash.contains_key(&hash) {
            // Make room by dropping any one: its spec is sent again when next claimed.
            if let Some(k) = self.by_hash.keys().next().cloned() {
                self.by_hash.remove(&k);
            }
        }
        self.by_hash.insert(hash, spec);
    }
}

/// The binds every claim statement shares: $1 how many at most, $2 the claimer, $3 the
/// lease in milliseconds.
fn bind_claim<'q>(
    q: PgQueryAs<'q, ClaimOut>,
    limit: i64,
    scheduler: &'q str,
    lease: Duration,
) -> PgQueryAs<'q, ClaimOut> {
    q.bind(limit).bind(scheduler).bind(ms(lease))
}

impl Repo {
    /// The specs this repository has parsed, as a claim sends their hashes.
    fn known_specs(&self) -> KnownSpecs {
        self.specs.lock().map(|c| c.by_hash.clone()).unwrap_or_default()
    }

    /// A claim's answer: the started attempts, each with its spec parsed, or taken from the
    /// specs the claim said it knew. An attempt that cannot be described fails the whole
    /// answer: its claim is not taken on, and the reaper fails its attempts when the lease
    /// ends, rather than one attempt being dropped while its claim looks complete.
    fn claim_answer(
        &self,
        rows: Vec<ClaimOut>,
        known: &KnownSpecs,
    ) -> Result<(FreeClaim, Vec<RanFire>), RepoError> {
        let mut out = FreeClaim { runs: Vec::with_capacity(rows.len()), ..Default::default() };
        let mut dups = Vec::new();
        let mut parsed: Vec<(Vec<u8>, Arc<EntrySpec>)> = Vec::new();
        for r in rows {
            match r.kind {
                ClaimKind::Started => {
                    let row = r.row;
                    let incomplete = || RepoError::ClaimIncomplete {
                        claim: row.claim_id.unwrap_or(-1),
                        run: row.run_id.unwrap_or_default(),
                    };
                    let spec = match (&row.spec, &row.spec_hash, row.entry_id) {
                        (Some(text), hash, Some(id)) => {
                            let spec: Arc<EntrySpec> = Arc::new(
                                serde_json::from_str(text)
                                    .map_err(|source| RepoError::Corrupt { id, source })?,
                            );
                            if let Some(h) = hash {
                                parsed.push((h.clone(), spec.clone()));
                            }
                            spec
                        }
                        (None, Some(h), Some(_)) => known.get(h).cloned().ok_or_else(incomplete)?,
                        _ => return Err(incomplete()),
                    };
                    let err = incomplete();
                    out.runs.push(to_claimed(row, spec).ok_or(err)?);
                }
                ClaimKind::RanFire => dups.extend(
                    r.row.entry_id.map(|entry_id| RanFire { entry_id, fire: r.row.pending_fire }),
                ),
                ClaimKind::Look => {
                    out.next_due = r.next_due;
                    out.locked_due = r.locked_due.unwrap_or(false);
                }
            }
        }
        if let Ok(mut c) = self.specs.lock() {
            for (h, spec) in parsed {
                c.insert(h, spec);
            }
        }
        Ok((out, dups))
    }

    /// Claim up to `limit` due entries that need no lock, in one statement.
    pub async fn claim_free(
        &self,
        limit: i64,
        scheduler: &str,
        lease: Duration,
    ) -> Result<Vec<ClaimedRun>, RepoError> {
        Ok(self.claim_free_and_look(limit, scheduler, lease).await?.runs)
    }

    /// Claim up to `limit` due entries that need no lock, and say when work is due next and
    /// whether lock-bound work is due: one statement, one round trip, its own transaction.
    /// A recurring fire that already has a run is not touched by the claim; it is moved on
    /// afterwards, in a transaction of its own (if that is lost, the next claim finds the fire
    /// again and moves it on then).
    pub async fn claim_free_and_look(
        &self,
        limit: i64,
        scheduler: &str,
        lease: Duration,
    ) -> Result<FreeClaim, RepoError> {
        // Both rows are locked without waiting: a claim never waits for anyone, so the
        // writers that lock an entry and then its due row cannot deadlock with it. The due
        // rows are taken in order from their index, then their entries by key (never a join
        // the planner could turn into a scan of all entries); a due row whose entry is locked
        // by someone else is left for a later claim.
        let picked = "WITH dd AS ( \
                        SELECT d.entry_id FROM scheduler.due d \
                        WHERE d.run_at <= now() AND NOT d.needs_locks \
                          AND (d.expires_at IS NULL OR d.expires_at > now()) \
                        ORDER BY d.run_at LIMIT $1 FOR UPDATE SKIP LOCKED \
                      ) \
                      SELECT e.id, e.next_fire_time AS old_fire, e.manual_pending AS was_manual, \
                        e.attempts, e.ctid AS e_ctid \
                      FROM scheduler.entries e \
                      WHERE e.id = ANY (ARRAY(SELECT entry_id FROM dd)) \
                      FOR UPDATE SKIP LOCKED";
        // Run ids are made here (time-ordered v7, as the locked path's): making them in SQL
        // cost the statement about 3 µs per job.
        let run_ids: Vec<Uuid> = (0..limit.max(0)).map(|_| Uuid::now_v7()).collect();
        let run_id = "($4::uuid[])[row_number() OVER ()]";
        let known = self.known_specs();
        let hashes: Vec<&[u8]> = known.keys().map(Vec::as_slice).collect();
        let sql = claim_sql(picked, run_id, "$5", true);
        let rows: Vec<ClaimOut> =
            bind_claim(sqlx::query_as(AssertSqlSafe(sql)), limit, scheduler, lease)
                .bind(&run_ids) // $4
                .bind(&hashes) // $5
                .fetch_all(&self.keyed)
                .await?;
        let (claim, dups) = self.claim_answer(rows, &known)?;
        if !dups.is_empty() {
            let mut tx = self.pool.begin().await?;
            move_past_fires_that_ran(&mut tx, &dups).await?;
            tx.commit().await?;
        }
        Ok(claim)
    }

    /// Claim due entries that need category/resource locks: by priority, then FIFO. An entry
    /// whose locks are held by running work goes to Waiting and is retried when locks free.
    pub async fn claim_locked(
        &self,
        limit: i64,
        scheduler: &str,
        lease: Duration,
    ) -> Result<Vec<ClaimedRun>, RepoError> {
        // Most of the time nothing lock-bound is due: find that out in one round trip
        // before opening a transaction.
        let any: bool = sqlx::query_scalar(AssertSqlSafe(format!("SELECT {LOCKED_DUE}")))
            .fetch_one(&self.keyed)
            .await?;
        if !any {
            return Ok(Vec::new());
        }
        let mut tx = self.keyed.begin().await?;
        // One replica at a time claims lock-bound work. With SKIP LOCKED alone, a replica
        // whose candidates (the high-priority ones) are row-locked by another replica's claim
        // would take the next ones and could win the category lock with a lower priority.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCKED_LOCK)
            .execute(&mut *tx)
            .await?;
        // As in the free claim: due rows in order from their index, then entries by key.
        let candidates: Vec<LockCandidate> = sqlx::query_as(
            "WITH dd AS ( \
               SELECT d.entry_id, d.priority, d.entry_no FROM scheduler.due d \
               WHERE d.run_at <= now() AND d.needs_locks \
                 AND (d.expires_at IS NULL OR d.expires_at > now()) \
               ORDER BY d.priority, d.entry_no LIMIT $1 FOR UPDATE SKIP LOCKED \
             ), ee AS ( \
               SELECT e.id, e.lock_keys, e.status FROM scheduler.entries e \
               WHERE e.id = ANY (ARRAY(SELECT entry_id FROM dd)) FOR UPDATE SKIP LOCKED \
             ) \
             SELECT ee.id, ee.lock_keys, ee.status \
             FROM dd JOIN ee ON ee.id = dd.entry_id ORDER BY dd.priority, dd.entry_no",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let granted = take_locks(&mut tx, candidates).await?;
        let mut runs = Vec::new();
        if !granted.is_empty() {
            runs = self.start_granted(&mut tx, granted, scheduler, lease).await?;
        }
        tx.commit().await?;
        Ok(runs)
    }

    /// Start the attempts of lock-bound entries whose locks this transaction took (entry,
    /// the run the locks were taken for).
    async fn start_granted(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        granted: Vec<(Uuid, Uuid)>,
        scheduler: &str,
        lease: Duration,
    ) -> Result<Vec<ClaimedRun>, RepoError> {
        let (ids, run_ids): (Vec<Uuid>, Vec<Uuid>) = granted.into_iter().unzip();
        let known = self.known_specs();
        let hashes: Vec<&[u8]> = known.keys().map(Vec::as_slice).collect();
        // The entries are locked by this transaction since the candidates' query.
        let picked = "SELECT e.id, e.next_fire_time AS old_fire, e.manual_pending AS was_manual, \
                        g.run_id, e.attempts, e.ctid AS e_ctid \
                      FROM scheduler.entries e \
                      JOIN unnest($4::uuid[], $5::uuid[]) AS g(id, run_id) ON g.id = e.id \
                      WHERE e.id = ANY ($4) AND $1::bigint > 0";
        let sql = claim_sql(picked, "run_id", "$6", false);
        let rows: Vec<ClaimOut> =
            bind_claim(sqlx::query_as(AssertSqlSafe(sql)), ids.len() as i64, scheduler, lease)
                .bind(&ids) // $4
                .bind(&run_ids) // $5
                .bind(&hashes) // $6
                .fetch_all(&mut **tx)
                .await?;
        let (claim, dups) = self.claim_answer(rows, &known)?;
        if !dups.is_empty() {
            move_past_fires_that_ran(tx, &dups).await?;
            // The locks taken for them above are released with the transaction's work.
            // Only what this transaction granted to those entries' runs that did not
            // start: a lock held by another running attempt stays.
            let not_started: Vec<Uuid> = ids
                .iter()
                .zip(&run_ids)
                .filter(|(id, _)| dups.iter().any(|d| d.entry_id == **id))
                .map(|(_, run)| *run)
                .collect();
            sqlx::query("DELETE FROM scheduler.locks WHERE run_id = ANY($1)")
                .bind(&not_started)
                .execute(&mut **tx)
                .await?;
        }
        Ok(claim.runs)
    }
}

/// Try to take every lock of each candidate, in order, each under a savepoint: all of an
/// entry's locks or none. Answers (entry, the run the locks were taken for) of those granted;
/// the others that are not Waiting yet go to Waiting.
async fn take_locks(
    tx: &mut Transaction<'_, Postgres>,
    candidates: Vec<LockCandidate>,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    let mut granted: Vec<(Uuid, Uuid)> = Vec::new();
    let mut blocked: Vec<Uuid> = Vec::new();
    for c in candidates {
        let run_id = Uuid::now_v7();
        sqlx::query("SAVEPOINT lock_try").execute(&mut **tx).await?;
        let got = sqlx::query(
            "INSERT INTO scheduler.locks (key, entry_id, run_id) \
             SELECT k, $2, $3 FROM unnest($1::text[]) AS k ON CONFLICT (key) DO NOTHING",
        )
        .bind(&c.lock_keys)
        .bind(c.id)
        .bind(run_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if got as usize == c.lock_keys.len() {
            sqlx::query("RELEASE SAVEPOINT lock_try").execute(&mut **tx).await?;
            granted.push((c.id, run_id));
        } else {
            sqlx::query("ROLLBACK TO SAVEPOINT lock_try").execute(&mut **tx).await?;
            if c.status != "waiting" {
                blocked.push(c.id);
            }
        }
    }
    if !blocked.is_empty() {
        sqlx::query(
            "UPDATE scheduler.entries SET status = 'waiting', updated_at = clock_timestamp() \
             WHERE id = ANY($1) AND status IN ('ready', 'error')",
        )
        .bind(&blocked)
        .execute(&mut **tx)
        .await?;
    }
    Ok(granted)
}

/// The claim statement around a `picked` selection (id, old_fire, was_manual, attempts,
/// e_ctid: the address of the entry, locked by the selection or earlier in its transaction,
/// as is its due row). A recurring fire is started only if its key goes into `fires`; one
/// that is there already comes back as a 'd' row and is left untouched. With `look`, a last
/// row ('n') says when work is due next and whether lock-bound work is due. `run_id` is the
/// SQL for each new attempt's id (a column of `picked`, or a pick from an array of fresh ids).
/// Binds: $1 how many at most, $2 the claimer, $3 the lease in ms ([`bind_claim`]); `picked`'s
/// own; and `known`, the spec hashes the claimer knows.
///
/// Every table is reached by key or by row address, batch-wide (`= ANY`, or a join that runs
/// per row on the address): the claimed entries are updated by the address the selection
/// locked, without a second descent of their primary key. No step joins two of the
/// statement's own intermediate results, whose sizes the planner cannot know: each attempt's
/// fencing token and start are drawn with its run id (`p`), so the entries' update returns
/// them, and one `claims` row aggregates the attempts started (run ids, entries, tokens,
/// attempts, fires, and the entry's version after the claim, which the completion compares):
/// one row written per claim, not one per attempt. Each 'r' row names its claim.
fn claim_sql(picked: &str, run_id: &str, known: &str, look: bool) -> String {
    let (started, ran_fire) = (ClaimKind::Started.tag(), ClaimKind::RanFire.tag());
    let look = if look {
        format!(
            " UNION ALL SELECT '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
               {NEXT_DUE}, {LOCKED_DUE}",
            ClaimKind::Look.tag()
        )
    } else {
        String::new()
    };
    format!(
        "WITH picked AS ({picked}), \
         p AS ( \
           SELECT id, old_fire, {run_id} AS run_id, \
             attempts + 1 AS attempt, CASE WHEN was_manual THEN NULL ELSE old_fire END AS fire, \
             e_ctid, nextval('scheduler.fencing_seq') AS token, clock_timestamp() AS started_at \
           FROM picked \
         ), fired AS ( \
           INSERT INTO scheduler.fires (entry_id, fire_time, attempt, run_id) \
           SELECT id, fire, attempt, run_id FROM p WHERE fire IS NOT NULL \
           ON CONFLICT DO NOTHING RETURNING entry_id \
         ), go AS ( \
           SELECT * FROM p WHERE fire IS NULL OR id IN (SELECT entry_id FROM fired) \
         ), unqueued AS ( \
           DELETE FROM scheduler.due d WHERE d.entry_id = ANY (ARRAY(SELECT id FROM go)) \
         ), started AS ( \
           UPDATE scheduler.entries e SET status = 'in_process', attempts = e.attempts + 1, \
             active_runs = e.active_runs + 1, next_run_at = NULL, manual_pending = false, \
             version = e.version + 1, updated_at = clock_timestamp() \
           FROM go WHERE e.ctid = go.e_ctid \
           RETURNING e.id, e.attempts, e.version, \
             (SELECT sp.spec_hash FROM scheduler.entry_specs sp WHERE sp.entry_id = e.id) \
               AS spec_hash, \
             go.run_id, go.old_fire, go.fire, go.token, go.started_at \
         ), ins AS ( \
           INSERT INTO scheduler.claims (scheduler, claimed_at, lease_expires_at, run_ids, \
             entry_ids, tokens, attempts, fire_times, entry_versions) \
           SELECT $2, max(started_at), now() + $3 * interval '1 millisecond', \
             array_agg(run_id), array_agg(id), array_agg(token), array_agg(attempts), \
             array_agg(fire), array_agg(version) \
           FROM started HAVING count(*) > 0 \
           RETURNING id, claimed_at \
         ) \
         SELECT '{started}' AS kind, s.run_id, s.id AS entry_id, s.token AS fencing_token, \
           s.attempts AS attempt, s.fire AS fire_time, s.old_fire AS pending_fire, \
           CASE WHEN s.spec_hash IN (SELECT unnest({known}::bytea[])) THEN NULL \
             ELSE (SELECT sp.spec::text FROM scheduler.entry_specs sp WHERE sp.entry_id = s.id) \
           END AS spec, \
           k.claimed_at, k.id AS claim_id, s.version AS entry_version, \
           $2::text AS claimed_by, s.spec_hash, \
           NULL::timestamptz AS next_due, NULL::bool AS locked_due \
         FROM started s CROSS JOIN ins k \
         UNION ALL \
         SELECT '{ran_fire}', NULL, p.id, NULL, p.attempt, NULL, p.old_fire, NULL, NULL, NULL, NULL, NULL, \
           NULL, NULL, NULL \
         FROM p WHERE p.fire IS NOT NULL AND p.id NOT IN (SELECT entry_id FROM fired)\
         {look}"
    )
}

/// Recurring fires that the database refused to start a second time (their key is in
/// `fires`): that fire already ran, so each entry moves on to its next fire instead of running
/// it twice. An entry that changed meanwhile (another replica moved it on) is left alone.
async fn move_past_fires_that_ran(
    tx: &mut Transaction<'_, Postgres>,
    dups: &[RanFire],
) -> Result<(), RepoError> {
    for &RanFire { entry_id, fire } in dups {
        tracing::warn!(entry = %entry_id, fire = ?fire, "duplicate fire refused by the database");
        let spec: Option<Value> =
            sqlx::query_scalar("SELECT spec FROM scheduler.entry_specs WHERE entry_id = $1")
                .bind(entry_id)
                .fetch_optional(&mut **tx)
                .await?;
        let next = spec
            .and_then(|s| serde_json::from_value::<EntrySpec>(s).ok())
            .and_then(|s| s.recurrence.and_then(|r| r.compile(&s.time_zone).ok()))
            .and_then(|sch| fire.and_then(|f| sch.plan_after(f, Utc::now())));
        sqlx::query(
            "UPDATE scheduler.entries SET attempts = 0, \
               status = CASE WHEN $2::timestamptz IS NULL THEN 'error' ELSE 'ready' END, \
               next_run_at = $2, next_fire_time = $2, \
               last_error = 'a run for this fire already exists; moved to the next fire', \
               version = version + 1, updated_at = clock_timestamp() \
             WHERE id = $1 AND next_fire_time IS NOT DISTINCT FROM $3 AND next_run_at IS NOT NULL",
        )
        .bind(entry_id)
        .bind(next)
        .bind(fire)
        .execute(&mut **tx)
        .await?;
        sync_due(tx, &[entry_id]).await?;
    }
    Ok(())
}
