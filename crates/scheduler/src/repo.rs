//! The scheduler's SQL: the only module that touches the `scheduler` schema.
//!
//! Invariants kept by every statement here: `entries.next_run_at IS NOT NULL` exactly when an
//! entry may be claimed, and exactly then the entry has a row in `scheduler.due` (the narrow
//! queue the claims read, so that claims and completions update entries in place, HOT).
//! Claiming is one statement (free entries) or one short transaction (entries that need
//! category/resource locks); completion is one statement per batch, fenced by the attempt's
//! token so a stale attempt can never overwrite a newer one.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shopsync_common::{
    EntrySpec, JobStatus, RecordError, RunFailure, RunReport, RunStatus, Transition,
};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow, PgPool, Postgres, Row, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

pub const WAKE_CHANNEL: &str = "shopsync_scheduler";
pub const CANCEL_CHANNEL: &str = "shopsync_cancel";
/// Advisory lock key serialising `claim_locked` across replicas ("shpsync1" in ASCII).
const CLAIM_LOCKED_LOCK: i64 = 0x7368_7073_796e_6331;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("stored entry {id} is unreadable")]
    Corrupt {
        id: Uuid,
        #[source]
        source: serde_json::Error,
    },
    /// A claim answered an attempt it could not describe (its spec row is missing, or the
    /// claim omitted a spec the claimer did not send). The claim's attempts are left to the
    /// lease's expiry, and then reaped and retried.
    #[error("claim {claim} answered attempt {run} without its spec")]
    ClaimIncomplete { claim: i64, run: Uuid },
    /// A statement that did several callers' work failed (a batch of creates, see creates.rs):
    /// each of them gets this.
    #[error("a batched statement failed")]
    Batch(#[source] std::sync::Arc<RepoError>),
}

/// One entry of a batched create ([`Repo::insert_entries`]).
pub struct NewEntry<'a> {
    pub spec: &'a EntrySpec,
    pub state: &'a EntryState,
    pub request_id: Option<&'a str>,
}

/// The mutable state of an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryState {
    pub status: JobStatus,
    pub next_run_at: Option<DateTime<Utc>>,
    pub next_fire_time: Option<DateTime<Utc>>,
    pub manual_pending: bool,
    pub attempts: i32,
    pub hold_requested: bool,
    pub reschedule_pending: bool,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: Uuid,
    pub entry_no: i64,
    pub spec: EntrySpec,
    pub lock_keys: Vec<String>,
    pub state: EntryState,
    pub active_runs: i32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Entry {
    pub fn recurring(&self) -> bool {
        self.spec.recurrence.is_some()
    }
}

#[derive(FromRow)]
struct EntryRow {
    id: Uuid,
    entry_no: i64,
    spec: Value,
    lock_keys: Vec<String>,
    status: String,
    next_run_at: Option<DateTime<Utc>>,
    next_fire_time: Option<DateTime<Utc>>,
    manual_pending: bool,
    attempts: i32,
    active_runs: i32,
    hold_requested: bool,
    reschedule_pending: bool,
    last_error: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// An entry's columns without its spec, which lives in `scheduler.entry_specs`.
macro_rules! entry_base_cols {
    () => {
        "id, entry_no, lock_keys, status, next_run_at, next_fire_time, manual_pending, attempts, \
         active_runs, hold_requested, reschedule_pending, last_error, version, created_at, \
         updated_at"
    };
}
const ENTRY_BASE_COLS: &str = entry_base_cols!();
/// An entry's columns with its spec, selecting from (or returning from) `scheduler.entries`
/// without an alias.
const ENTRY_COLS: &str = concat!(
    entry_base_cols!(),
    ", (SELECT s.spec FROM scheduler.entry_specs s WHERE s.entry_id = entries.id) AS spec"
);

impl TryFrom<EntryRow> for Entry {
    type Error = RepoError;
    fn try_from(mut r: EntryRow) -> Result<Self, RepoError> {
        let spec: EntrySpec = serde_json::from_value(r.spec.take())
            .map_err(|source| RepoError::Corrupt { id: r.id, source })?;
        Ok(Entry::with_spec(r, spec))
    }
}

impl Entry {
    /// An entry from its row and a spec the caller already has (the row's is not read).
    fn with_spec(r: EntryRow, spec: EntrySpec) -> Self {
        Entry {
            id: r.id,
            entry_no: r.entry_no,
            spec,
            lock_keys: r.lock_keys,
            state: EntryState {
                status: r.status.parse().unwrap_or(JobStatus::Error),
                next_run_at: r.next_run_at,
                next_fire_time: r.next_fire_time,
                manual_pending: r.manual_pending,
                attempts: r.attempts,
                hold_requested: r.hold_requested,
                reschedule_pending: r.reschedule_pending,
                last_error: r.last_error,
            },
            active_runs: r.active_runs,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

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

/// A row of the claim statement: a started run with its attempt's fencing token ('r'), a
/// recurring fire that already has a run ('d'), or, for free claims, the state of the queue
/// after the claim ('n').
struct ClaimOut {
    /// The row's kind: b'r', b'd' or b'n'.
    kind: u8,
    row: ClaimRow,
    next_due: Option<DateTime<Utc>>,
    locked_due: Option<bool>,
}

/// Read by position, in `claim_sql`'s column order: a claim returns thousands of rows, and
/// finding each column by name cost the dispatcher a tenth of its CPU.
impl<'r> FromRow<'r, PgRow> for ClaimOut {
    fn from_row(r: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            kind: r.try_get::<&str, _>(0)?.bytes().next().unwrap_or(b'?'),
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
struct ClaimRow {
    run_id: Option<Uuid>,
    entry_id: Option<Uuid>,
    fencing_token: Option<i64>,
    attempt: Option<i32>,
    fire_time: Option<DateTime<Utc>>,
    pending_fire: Option<DateTime<Utc>>,
    /// The spec as JSON text, parsed straight into an `EntrySpec`; in a claim, only when its
    /// hash is not one the claimer knows.
    spec: Option<String>,
    /// The SHA-256 of the stored spec (claims only).
    #[sqlx(default)]
    spec_hash: Option<Vec<u8>>,
    claimed_at: Option<DateTime<Utc>>,
    /// The claim that started the attempt (`scheduler.claims`).
    claim_id: Option<i64>,
    entry_version: Option<i64>,
    claimed_by: Option<String>,
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
    /// Last progress reported (done, total, step).
    pub progress: (i64, i64, String),
    pub transition: Transition,
}

/// A heartbeat's answer row: kind ('c' renewed claim, 'x' cancel request, 'l' logged run),
/// claim, run, who cancelled.
type HeartbeatRow = (String, Option<i64>, Option<Uuid>, Option<String>);

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

#[derive(Debug, Clone, FromRow)]
pub struct RunRow {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub task: String,
    pub shop: String,
    pub description: String,
    pub category: Option<String>,
    pub fire_time: Option<DateTime<Utc>>,
    pub attempt: i32,
    pub status: String,
    pub fencing_token: i64,
    pub scheduler: String,
    pub worker: Option<String>,
    pub params: Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub progress_done: i64,
    pub progress_total: i64,
    pub step: Option<String>,
    pub counters: Option<Json<BTreeMap<String, i64>>>,
    pub record_errors: i64,
    pub errors: Option<Json<Vec<RecordError>>>,
    pub error: Option<Json<RunFailure>>,
}

const RUN_COLS: &str = "id, entry_id, task, shop, description, category, fire_time, attempt, \
    status, fencing_token, scheduler, worker, params, started_at, finished_at, progress_done, \
    progress_total, step, counters, record_errors, errors, error";

#[derive(Debug, Default, Clone)]
pub struct EntryFilter {
    pub statuses: Vec<JobStatus>,
    pub shop: Option<String>,
    pub task: Option<String>,
    pub category: Option<String>,
    pub after_entry_no: i64,
    pub limit: i64,
}

#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub entry_id: Option<Uuid>,
    pub statuses: Vec<RunStatus>,
    pub shop: Option<String>,
    pub task: Option<String>,
    pub before_id: Option<Uuid>,
    pub limit: i64,
}

/// Columns derived from a spec.
struct Derived {
    task: String,
    shop: String,
    spec: Value,
    description: String,
    category: Option<String>,
    priority: i16,
    lock_keys: Vec<String>,
    recurring: bool,
    allow_overlap: bool,
    expires_at: Option<DateTime<Utc>>,
    created_by: String,
}

fn derive(spec: &EntrySpec) -> Derived {
    let mut lock_keys = spec.lock_keys();
    lock_keys.sort();
    Derived {
        task: spec.task().as_str().to_owned(),
        shop: spec.shop.clone(),
        spec: serde_json::to_value(spec).unwrap_or(Value::Null),
        description: spec.display_description(),
        category: spec.category.as_ref().map(|c| c.to_ascii_uppercase()),
        priority: spec.priority.as_i16(),
        lock_keys,
        recurring: spec.recurrence.is_some(),
        allow_overlap: spec.recurrence.as_ref().is_some_and(|r| r.allow_overlap),
        expires_at: spec.expires_at,
        created_by: spec.created_by.clone(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_millis() as f64
}

#[derive(Clone)]
pub struct Repo {
    pool: PgPool,
    /// Claims and completions: the dispatcher's hot statements, on connections of their own
    /// that plan them as key lookups (`shopsync_store::Plans::Keyed`).
    keyed: PgPool,
    /// Specs parsed from claims, by content hash.
    specs: Arc<Mutex<SpecCache>>,
}

/// Parsed specs by the SHA-256 of their stored JSON (`entry_specs.spec_hash`). Entries share
/// specs (a merchant's few tasks per shop; a recurring entry's every run), so a claim sends
/// the hashes it knows and gets the JSON only of the others: the database does not print, and
/// the dispatcher does not parse, the same spec for every attempt.
#[derive(Default)]
struct SpecCache {
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

impl Repo {
    pub fn new(pool: PgPool) -> Self {
        Self { keyed: pool.clone(), pool, specs: Arc::default() }
    }

    /// A repository whose claims and completions use `keyed` (see `dispatcher_pool`).
    pub fn with_keyed(pool: PgPool, keyed: PgPool) -> Self {
        Self { pool, keyed, specs: Arc::default() }
    }

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
    ) -> Result<(FreeClaim, RanFires), RepoError> {
        let mut out = FreeClaim { runs: Vec::with_capacity(rows.len()), ..Default::default() };
        let mut dups = Vec::new();
        let mut parsed: Vec<(Vec<u8>, Arc<EntrySpec>)> = Vec::new();
        for r in rows {
            match r.kind {
                b'r' => {
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
                b'd' => dups.extend(r.row.entry_id.map(|id| (id, r.row.pending_fire))),
                _ => {
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

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    // ---- entries ----------------------------------------------------------------------

    /// Insert an entry. With a `request_id` already used, returns the existing entry. With
    /// `notify`, an entry that is due also sends the wake-up NOTIFY in its transaction (callers
    /// without a [`crate::wakeup::Wakeup`]). One statement, as [`Repo::insert_entries`].
    pub async fn insert_entry(
        &self,
        spec: &EntrySpec,
        state: &EntryState,
        request_id: Option<&str>,
        notify: bool,
    ) -> Result<(Entry, bool), RepoError> {
        let mut out = self.insert_entries(&[NewEntry { spec, state, request_id }], notify).await?;
        out.pop().ok_or(RepoError::Db(sqlx::Error::RowNotFound))
    }

    async fn entry_by_request_id(&self, request_id: &str) -> Result<Entry, RepoError> {
        let r: EntryRow = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ENTRY_COLS} FROM scheduler.entries WHERE request_id = $1"
        )))
        .bind(request_id)
        .fetch_one(&self.pool)
        .await?;
        r.try_into()
    }

    /// Insert several entries in one statement (the API's batched creates): one round trip,
    /// one commit and one WAL flush for the lot. Answers, per input and in its order, the
    /// entry and whether it was created; an entry whose `request_id` was used already (by an
    /// earlier create or earlier in the same batch) is not inserted, and the one stored under
    /// that id is answered instead. With `notify`, a due entry also sends the wake-up NOTIFY
    /// (once) in the statement's transaction.
    pub async fn insert_entries(
        &self,
        new: &[NewEntry<'_>],
        notify: bool,
    ) -> Result<Vec<(Entry, bool)>, RepoError> {
        let derived: Vec<Derived> = new.iter().map(|e| derive(e.spec)).collect();
        // Time-ordered like the column default (scheduler.uuid_v7), and known before the insert
        // so each returned row finds its request.
        let ids: Vec<Uuid> = new.iter().map(|_| Uuid::now_v7()).collect();
        // One array per column, for unnest.
        let d = |f: fn(&Derived) -> &str| derived.iter().map(f).collect::<Vec<_>>();
        let s = |f: fn(&EntryState) -> Option<DateTime<Utc>>| {
            new.iter().map(|e| f(e.state)).collect::<Vec<_>>()
        };
        let rows: Vec<EntryRow> = sqlx::query_as(AssertSqlSafe(format!(
            "WITH input AS ( \
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], \
                 $6::text[], $7::int2[], $8::jsonb[], $9::bool[], $10::bool[], \
                 $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], \
                 $16::timestamptz[], $17::bool[], $18::int4[], $19::text[]) WITH ORDINALITY \
               AS i(id, task, shop, spec, description, category, priority, lock_keys, recurring, \
                    allow_overlap, expires_at, created_by, request_id, status, next_run_at, \
                    next_fire_time, manual_pending, attempts, last_error, ord) \
             ), ins AS ( \
               INSERT INTO scheduler.entries (id, task, shop, description, category, priority, \
                 lock_keys, recurring, allow_overlap, expires_at, created_by, request_id, status, \
                 next_run_at, next_fire_time, manual_pending, attempts, last_error) \
               SELECT id, task, shop, description, category, priority, \
                 ARRAY(SELECT jsonb_array_elements_text(lock_keys)), recurring, allow_overlap, \
                 expires_at, created_by, request_id, status, next_run_at, next_fire_time, \
                 manual_pending, attempts, last_error \
               FROM input ORDER BY ord \
               ON CONFLICT (request_id) WHERE request_id IS NOT NULL DO NOTHING \
               RETURNING {ENTRY_BASE_COLS}, 'null'::jsonb AS spec, needs_locks, priority, expires_at \
             ), specs AS ( \
               INSERT INTO scheduler.entry_specs (entry_id, spec) \
               SELECT ins.id, input.spec FROM ins JOIN input ON input.id = ins.id \
             ), queued AS ( \
               INSERT INTO scheduler.due (entry_id, run_at, needs_locks, priority, entry_no, expires_at) \
               SELECT id, next_run_at, needs_locks, priority, entry_no, expires_at FROM ins \
               WHERE next_run_at IS NOT NULL \
             ), woke AS ( \
               SELECT pg_notify('{WAKE_CHANNEL}', 'new') FROM ins \
               WHERE $20 AND ins.next_run_at IS NOT NULL LIMIT 1 \
             ) \
             SELECT ins.*, (SELECT count(*) FROM woke) AS woke FROM ins"
        )))
        .bind(&ids)
        .bind(d(|d| &d.task))
        .bind(d(|d| &d.shop))
        .bind(derived.iter().map(|d| Json(&d.spec)).collect::<Vec<_>>())
        .bind(d(|d| &d.description))
        .bind(derived.iter().map(|d| d.category.as_deref()).collect::<Vec<_>>())
        .bind(derived.iter().map(|d| d.priority).collect::<Vec<_>>())
        .bind(derived.iter().map(|d| Json(&d.lock_keys)).collect::<Vec<_>>())
        .bind(derived.iter().map(|d| d.recurring).collect::<Vec<_>>())
        .bind(derived.iter().map(|d| d.allow_overlap).collect::<Vec<_>>())
        .bind(derived.iter().map(|d| d.expires_at).collect::<Vec<_>>())
        .bind(d(|d| &d.created_by))
        .bind(new.iter().map(|e| e.request_id).collect::<Vec<_>>())
        .bind(new.iter().map(|e| e.state.status.as_str()).collect::<Vec<_>>())
        .bind(s(|st| st.next_run_at))
        .bind(s(|st| st.next_fire_time))
        .bind(new.iter().map(|e| e.state.manual_pending).collect::<Vec<_>>())
        .bind(new.iter().map(|e| e.state.attempts).collect::<Vec<_>>())
        .bind(new.iter().map(|e| e.state.last_error.as_deref()).collect::<Vec<_>>())
        .bind(notify)
        .fetch_all(&self.pool)
        .await?;
        let mut created: HashMap<Uuid, EntryRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        // Requests whose request_id was taken: answer the stored entry.
        let taken: Vec<&str> = new
            .iter()
            .zip(&ids)
            .filter(|(_, id)| !created.contains_key(id))
            .filter_map(|(e, _)| e.request_id)
            .collect();
        // Rare (a retried create): one lookup each.
        let mut existing: HashMap<&str, Entry> = HashMap::new();
        for rid in taken {
            if !existing.contains_key(rid) {
                existing.insert(rid, self.entry_by_request_id(rid).await?);
            }
        }
        new.iter()
            .zip(&ids)
            .map(|(e, id)| match created.remove(id) {
                Some(r) => Ok((Entry::with_spec(r, e.spec.clone()), true)),
                None => e
                    .request_id
                    .and_then(|rid| existing.get(rid).cloned())
                    .map(|entry| (entry, false))
                    .ok_or(RepoError::Db(sqlx::Error::RowNotFound)),
            })
            .collect()
    }

    /// Bulk insert of ready one-off entries (benchmarks and imports), in one statement.
    pub async fn insert_ready_batch(
        &self,
        spec: &EntrySpec,
        count: usize,
    ) -> Result<u64, RepoError> {
        let d = derive(spec);
        let r = sqlx::query(
            "WITH ins AS ( \
               INSERT INTO scheduler.entries (task, shop, description, category, priority, \
                 lock_keys, recurring, allow_overlap, created_by, status, next_run_at) \
               SELECT $1,$2,$4,$5,$6,$7,$8,$9,$10,'ready', clock_timestamp() \
               FROM generate_series(1, $11) \
               RETURNING id, next_run_at, needs_locks, priority, entry_no, expires_at \
             ), specs AS ( \
               INSERT INTO scheduler.entry_specs (entry_id, spec) SELECT id, $3 FROM ins \
             ) \
             INSERT INTO scheduler.due (entry_id, run_at, needs_locks, priority, entry_no, expires_at) \
             SELECT * FROM ins",
        )
        .bind(&d.task)
        .bind(&d.shop)
        .bind(&d.spec)
        .bind(&d.description)
        .bind(&d.category)
        .bind(d.priority)
        .bind(&d.lock_keys)
        .bind(d.recurring)
        .bind(d.allow_overlap)
        .bind(&d.created_by)
        .bind(count as i64)
        .execute(&self.pool)
        .await?;
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_notify($1, 'batch')").bind(WAKE_CHANNEL).execute(&mut *conn).await?;
        Ok(r.rows_affected())
    }

    pub async fn get_entry(&self, id: Uuid) -> Result<Option<Entry>, RepoError> {
        let row: Option<EntryRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ENTRY_COLS} FROM scheduler.entries WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Entry::try_from).transpose()
    }

    pub async fn list_entries(&self, f: &EntryFilter) -> Result<Vec<Entry>, RepoError> {
        let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
        let rows: Vec<EntryRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ENTRY_COLS} FROM scheduler.entries \
             WHERE entry_no > $1 \
               AND (cardinality($2::text[]) = 0 OR status = ANY($2)) \
               AND ($3::text IS NULL OR shop = $3) \
               AND ($4::text IS NULL OR task = $4) \
               AND ($5::text IS NULL OR category = upper($5)) \
             ORDER BY entry_no LIMIT $6"
        )))
        .bind(f.after_entry_no)
        .bind(&statuses)
        .bind(&f.shop)
        .bind(&f.task)
        .bind(&f.category)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Entry::try_from).collect()
    }

    /// Change an entry under its row lock. `f` sees the current entry and returns the new
    /// spec (if it changes) and state, or an error that leaves everything untouched.
    pub async fn modify_entry<E, F>(&self, id: Uuid, f: F) -> Result<Result<Entry, E>, RepoError>
    where
        F: FnOnce(&Entry) -> Result<(Option<EntrySpec>, EntryState), E>,
    {
        let mut tx = self.pool.begin().await?;
        let row: Option<EntryRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ENTRY_COLS} FROM scheduler.entries WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Let the caller's closure decide how to report "not found" by never calling it:
            // surface it as RowNotFound.
            return Err(RepoError::Db(sqlx::Error::RowNotFound));
        };
        let current = Entry::try_from(row)?;
        let (spec, state) = match f(&current) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let d = derive(spec.as_ref().unwrap_or(&current.spec));
        if spec.is_some() && current.active_runs > 0 {
            // The entry changes while attempts run: their run-log fields stay as the claim
            // saw them (the completion reads the entry's otherwise).
            sqlx::query(
                "INSERT INTO scheduler.attempt_state AS s (run_id, task, shop, description, \
                   category, params, snapshot) \
                 SELECT a.run_id, e.task, e.shop, e.description, e.category, sp.spec -> 'params', true \
                 FROM scheduler.running a \
                 JOIN scheduler.entries e ON e.id = a.entry_id \
                 JOIN scheduler.entry_specs sp ON sp.entry_id = a.entry_id \
                 WHERE a.entry_id = $1 \
                 ON CONFLICT (run_id) DO UPDATE SET task = EXCLUDED.task, shop = EXCLUDED.shop, \
                   description = EXCLUDED.description, category = EXCLUDED.category, \
                   params = EXCLUDED.params, snapshot = true \
                 WHERE NOT s.snapshot",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        if spec.is_some() {
            sqlx::query("UPDATE scheduler.entry_specs SET spec = $2 WHERE entry_id = $1")
                .bind(id)
                .bind(&d.spec)
                .execute(&mut *tx)
                .await?;
        }
        let row: EntryRow = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE scheduler.entries SET task = $2, shop = $3, description = $4, \
               category = $5, priority = $6, lock_keys = $7, recurring = $8, allow_overlap = $9, \
               expires_at = $10, status = $11, next_run_at = $12, next_fire_time = $13, \
               manual_pending = $14, attempts = $15, hold_requested = $16, \
               reschedule_pending = $17, last_error = $18, version = version + 1, \
               updated_at = clock_timestamp() \
             WHERE id = $1 RETURNING {ENTRY_COLS}"
        )))
        .bind(id)
        .bind(&d.task)
        .bind(&d.shop)
        .bind(&d.description)
        .bind(&d.category)
        .bind(d.priority)
        .bind(&d.lock_keys)
        .bind(d.recurring)
        .bind(d.allow_overlap)
        .bind(d.expires_at)
        .bind(state.status.as_str())
        .bind(state.next_run_at)
        .bind(state.next_fire_time)
        .bind(state.manual_pending)
        .bind(state.attempts)
        .bind(state.hold_requested)
        .bind(state.reschedule_pending)
        .bind(&state.last_error)
        .fetch_one(&mut *tx)
        .await?;
        sync_due(&mut tx, &[id]).await?;
        if state.next_run_at.is_some() {
            notify(&mut tx, WAKE_CHANNEL, "changed").await?;
        }
        tx.commit().await?;
        Ok(Ok(row.try_into()?))
    }

    /// Delete an entry that is not running. Returns false when it was running or missing.
    pub async fn delete_entry(&self, id: Uuid) -> Result<bool, RepoError> {
        let gone: Option<Uuid> = sqlx::query_scalar(
            "WITH gone AS ( \
               DELETE FROM scheduler.entries WHERE id = $1 AND active_runs = 0 AND status <> 'in_process' \
               RETURNING id \
             ), unqueued AS ( \
               DELETE FROM scheduler.due d WHERE d.entry_id = ANY (ARRAY(SELECT id FROM gone)) \
             ), specs AS ( \
               DELETE FROM scheduler.entry_specs s WHERE s.entry_id = ANY (ARRAY(SELECT id FROM gone)) \
             ) \
             SELECT id FROM gone",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(gone.is_some())
    }

    /// Ask the replicas running this entry's attempts to cancel them.
    pub async fn request_cancel(&self, entry_id: Uuid, by: &str) -> Result<Vec<Uuid>, RepoError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO scheduler.attempt_state AS s (run_id, cancel_requested) \
             SELECT a.run_id, $2 FROM scheduler.running a WHERE a.entry_id = $1 \
             ON CONFLICT (run_id) DO UPDATE SET cancel_requested = EXCLUDED.cancel_requested \
             RETURNING s.run_id",
        )
        .bind(entry_id)
        .bind(by)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            notify(&mut tx, CANCEL_CHANNEL, &id.to_string()).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn cancel_requested_by(&self, run: Uuid) -> Result<Option<String>, RepoError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT cancel_requested FROM scheduler.attempt_state WHERE run_id = $1",
        )
        .bind(run)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    // ---- claiming ---------------------------------------------------------------------

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
        let rows: Vec<ClaimOut> =
            sqlx::query_as(AssertSqlSafe(claim_sql(picked, run_id, "$5", true)))
                .bind(limit)
                .bind(scheduler)
                .bind(ms(lease))
                .bind(&run_ids)
                .bind(&hashes)
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
        let candidates: Vec<(Uuid, Vec<String>, String)> = sqlx::query_as(
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
        let mut granted: Vec<(Uuid, Uuid)> = Vec::new();
        let mut blocked: Vec<Uuid> = Vec::new();
        for (id, keys, status) in candidates {
            let run_id = Uuid::now_v7();
            sqlx::query("SAVEPOINT lock_try").execute(&mut *tx).await?;
            let got = sqlx::query(
                "INSERT INTO scheduler.locks (key, entry_id, run_id) \
                 SELECT k, $2, $3 FROM unnest($1::text[]) AS k ON CONFLICT (key) DO NOTHING",
            )
            .bind(&keys)
            .bind(id)
            .bind(run_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if got as usize == keys.len() {
                sqlx::query("RELEASE SAVEPOINT lock_try").execute(&mut *tx).await?;
                granted.push((id, run_id));
            } else {
                sqlx::query("ROLLBACK TO SAVEPOINT lock_try").execute(&mut *tx).await?;
                if status != "waiting" {
                    blocked.push(id);
                }
            }
        }
        if !blocked.is_empty() {
            sqlx::query(
                "UPDATE scheduler.entries SET status = 'waiting', updated_at = clock_timestamp() \
                 WHERE id = ANY($1) AND status IN ('ready', 'error')",
            )
            .bind(&blocked)
            .execute(&mut *tx)
            .await?;
        }
        let mut runs = Vec::new();
        if !granted.is_empty() {
            let (ids, run_ids): (Vec<Uuid>, Vec<Uuid>) = granted.into_iter().unzip();
            let known = self.known_specs();
            let hashes: Vec<&[u8]> = known.keys().map(Vec::as_slice).collect();
            // The entries are locked by this transaction since the candidates' query.
            let picked = "SELECT e.id, e.next_fire_time AS old_fire, e.manual_pending AS was_manual, \
                            g.run_id, e.attempts, e.ctid AS e_ctid \
                          FROM scheduler.entries e \
                          JOIN unnest($4::uuid[], $5::uuid[]) AS g(id, run_id) ON g.id = e.id \
                          WHERE e.id = ANY ($4) AND $1::bigint > 0";
            let rows: Vec<ClaimOut> =
                sqlx::query_as(AssertSqlSafe(claim_sql(picked, "run_id", "$6", false)))
                    .bind(ids.len() as i64)
                    .bind(scheduler)
                    .bind(ms(lease))
                    .bind(&ids)
                    .bind(&run_ids)
                    .bind(&hashes)
                    .fetch_all(&mut *tx)
                    .await?;
            let (claim, dups) = self.claim_answer(rows, &known)?;
            runs = claim.runs;
            if !dups.is_empty() {
                move_past_fires_that_ran(&mut tx, &dups).await?;
                // The locks taken for them above are released with the transaction's work.
                // Only what this transaction granted to those entries' runs that did not
                // start: a lock held by another running attempt stays.
                let not_started: Vec<Uuid> = ids
                    .iter()
                    .zip(&run_ids)
                    .filter(|(id, _)| dups.iter().any(|d| d.0 == **id))
                    .map(|(_, run)| *run)
                    .collect();
                sqlx::query("DELETE FROM scheduler.locks WHERE run_id = ANY($1)")
                    .bind(&not_started)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(runs)
    }

    /// Where an allow-overlap entry's schedule goes on while its run is still going.
    pub async fn advance_overlapping(
        &self,
        entry_id: Uuid,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE scheduler.entries SET next_run_at = $2, next_fire_time = $2, \
               version = version + 1, updated_at = clock_timestamp() \
             WHERE id = $1 AND next_run_at IS NULL AND status = 'in_process' AND NOT hold_requested",
        )
        .bind(entry_id)
        .bind(next)
        .execute(&mut *tx)
        .await?;
        sync_due(&mut tx, &[entry_id]).await?;
        notify(&mut tx, WAKE_CHANNEL, "overlap").await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- running and completion -------------------------------------------------------

    /// Renew the leases of this scheduler's claims and store the progress of its running
    /// attempts (those that report any). Says which claims are still there (a missing one was
    /// reaped by another replica), which attempts have a cancel request, and which are logged
    /// already (reaped, or finished meanwhile).
    pub async fn heartbeat(
        &self,
        claims: &[i64],
        beats: &[(Uuid, i64, i64, String)],
        lease: Duration,
    ) -> Result<Heartbeat, RepoError> {
        let mut out = Heartbeat::default();
        if claims.is_empty() && beats.is_empty() {
            return Ok(out);
        }
        let ids: Vec<Uuid> = beats.iter().map(|b| b.0).collect();
        let done: Vec<i64> = beats.iter().map(|b| b.1).collect();
        let total: Vec<i64> = beats.iter().map(|b| b.2).collect();
        let steps: Vec<&str> = beats.iter().map(|b| b.3.as_str()).collect();
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
             SELECT 'c', id, NULL::uuid, NULL::text FROM renewed \
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
        for (kind, claim, run, by) in rows {
            match (kind.as_str(), claim, run, by) {
                ("c", Some(c), _, _) => out.renewed.push(c),
                ("x", _, Some(r), Some(by)) => out.cancels.push((r, by)),
                ("l", _, Some(r), _) => out.logged.push(r),
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
        let n = batch.len();
        let mut run_ids = Vec::with_capacity(n);
        let mut tokens = Vec::with_capacity(n);
        let mut run_status = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        let mut counters = Vec::with_capacity(n);
        let mut rec_errs = Vec::with_capacity(n);
        let mut errors = Vec::with_capacity(n);
        let mut error = Vec::with_capacity(n);
        let mut e_status = Vec::with_capacity(n);
        let mut next_run = Vec::with_capacity(n);
        let mut next_fire = Vec::with_capacity(n);
        let mut manual = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut last_error = Vec::with_capacity(n);
        let mut p_done = Vec::with_capacity(n);
        let mut p_total = Vec::with_capacity(n);
        let mut p_step = Vec::with_capacity(n);
        let mut entry_ids = Vec::with_capacity(n);
        let mut run_attempts = Vec::with_capacity(n);
        let mut fire_times = Vec::with_capacity(n);
        let mut started = Vec::with_capacity(n);
        let mut versions = Vec::with_capacity(n);
        let mut claimed_by = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        let mut shops = Vec::with_capacity(n);
        let mut descriptions = Vec::with_capacity(n);
        let mut categories = Vec::with_capacity(n);
        for c in batch {
            p_done.push(c.progress.0);
            p_total.push(c.progress.1);
            p_step.push(c.progress.2.clone());
            run_ids.push(c.run_id);
            tokens.push(c.fencing_token);
            run_status.push(c.run_status.as_str());
            workers.push(c.worker.clone());
            counters.push(c.report.as_ref().map(|r| Json(&r.counters)));
            rec_errs.push(c.report.as_ref().map_or(0, |r| r.record_errors as i64));
            errors.push(c.report.as_ref().map(|r| Json(&r.errors)));
            error.push(c.error.as_ref().map(Json));
            e_status.push(c.transition.status.as_str());
            next_run.push(c.transition.next_run_at);
            next_fire.push(c.transition.next_fire_time);
            manual.push(c.transition.manual);
            attempts.push(c.transition.attempts as i32);
            last_error.push(c.transition.last_error.clone());
            entry_ids.push(c.entry_id);
            run_attempts.push(c.attempt);
            fire_times.push(c.fire_time);
            started.push(c.started_at);
            versions.push(c.entry_version);
            claimed_by.push(c.claimed_by.as_str());
            tasks.push(c.task);
            shops.push(c.shop.as_str());
            descriptions.push(c.description.as_str());
            categories.push(c.category.as_deref());
        }
        let mut claim_ids: Vec<i64> = batch.iter().map(|c| c.claim_id).collect();
        claim_ids.sort_unstable();
        claim_ids.dedup();
        // Every join below is driven by the batch and probes a primary key or index, so the
        // statement stays linear in the batch whatever the planner guesses for unnest().
        // The answer is one row per accepted run ('d'), per released lock holder ('l'), per
        // entry whose spec changed during the run ('r'), and a 'w' row if it woke the claimers.
        // One statement is one transaction: no BEGIN and COMMIT round trips, and the wake-up
        // is sent when it commits. An entry that nothing changed during the run (its version
        // is the one the claim left, kept in the attempt) has no due row, and its run holds
        // locks only if the entry needs them: only the others ('touched') are looked up in
        // `due`, and only those and the lock-bound ones in `locks`.
        // Fast path: the run log's primary key refuses a run logged already (by the reaper)
        // as the insertion writes it, and the batch is then written again with each run
        // looked up first (rare: only a result that crossed the reaper's failure of it).
        let mut guarded = guarded;
        let rows: Vec<(String, Option<Uuid>, Option<Uuid>)> = loop {
            let sql: &'static str = if guarded { &COMPLETE_GUARDED } else { &COMPLETE_FAST };
            let r = sqlx::query_as(AssertSqlSafe(sql))
                .bind(&run_ids)
                .bind(&tokens)
                .bind(&run_status)
                .bind(&workers)
                .bind(&counters)
                .bind(&rec_errs)
                .bind(&errors)
                .bind(&error)
                .bind(&e_status)
                .bind(&next_run)
                .bind(&next_fire)
                .bind(&manual)
                .bind(&attempts)
                .bind(&last_error)
                .bind(&p_done)
                .bind(&p_total)
                .bind(&p_step)
                .bind(WAKE_CHANNEL)
                .bind(&entry_ids)
                .bind(&run_attempts)
                .bind(&fire_times)
                .bind(&started)
                .bind(&versions)
                .bind(&claimed_by)
                .bind(&claim_ids)
                .bind(finished_claims)
                .bind(&tasks)
                .bind(&shops)
                .bind(&descriptions)
                .bind(&categories)
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
        // the claimers ('w').
        let mut result = CompleteResult::default();
        for (kind, run, entry) in rows {
            match (kind.as_str(), run, entry) {
                ("d", Some(run), _) => result.accepted.push(run),
                ("r", _, Some(entry)) => result.reschedule.push(entry),
                ("w", _, _) => result.woke = true,
                _ => {}
            }
        }
        let accepted: std::collections::HashSet<Uuid> = result.accepted.iter().copied().collect();
        result.refused = run_ids.iter().filter(|id| !accepted.contains(id)).copied().collect();
        Ok(result)
    }

    /// Running attempts whose claim's lease expired (the scheduler that claimed them died or
    /// lost the database). `claims` holds one row per claim with attempts running (a few per
    /// replica) and has no index on the lease: it is read whole; the entry and spec of the
    /// few expired attempts are looked up by key (a join could pick a scan of all entries).
    pub async fn expired_runs(&self, limit: i64) -> Result<Vec<ClaimedRun>, RepoError> {
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "SELECT r.run_id, r.entry_id, r.token AS fencing_token, r.attempt, r.fire_time, \
               (SELECT e.next_fire_time FROM scheduler.entries e WHERE e.id = r.entry_id) \
                 AS pending_fire, \
               (SELECT s.spec::text FROM scheduler.entry_specs s WHERE s.entry_id = r.entry_id) \
                 AS spec, \
               r.claimed_at, r.claim_id, r.entry_version, r.scheduler AS claimed_by \
             FROM scheduler.running r \
             WHERE r.lease_expires_at < now() \
             ORDER BY r.lease_expires_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().filter_map(|r| to_reaped(r).transpose()).collect()
    }

    /// Delete the expired claims whose attempts are all logged (the reaper's failures of
    /// them written), and the state of attempts that are no longer running: logged, or in no
    /// claim (a heartbeat or cancel request that crossed the attempt's completion). The
    /// claimed run ids are read once, as one hashed set, not once per state row.
    pub async fn release_expired_claims(&self) -> Result<u64, RepoError> {
        let n = sqlx::query(
            "DELETE FROM scheduler.claims k WHERE k.lease_expires_at < now() \
               AND NOT EXISTS (SELECT 1 FROM unnest(k.run_ids) AS u(id) \
                               WHERE NOT EXISTS (SELECT 1 FROM scheduler.runs r WHERE r.id = u.id))",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM scheduler.attempt_state s \
             WHERE EXISTS (SELECT 1 FROM scheduler.runs r WHERE r.id = s.run_id) \
                OR NOT (s.run_id IN (SELECT unnest(k.run_ids) FROM scheduler.claims k))",
        )
        .execute(&self.pool)
        .await?;
        Ok(n)
    }

    /// Due entries whose expiration passed: they finish without running (kept, not deleted,
    /// so the user can see why).
    pub async fn expire_entries(&self) -> Result<u64, RepoError> {
        Ok(sqlx::query(
            "WITH expired AS ( \
               UPDATE scheduler.entries SET status = 'finished', next_run_at = NULL, \
                 last_error = 'expired before it could run', version = version + 1, \
                 updated_at = clock_timestamp() \
               WHERE expires_at <= now() AND next_run_at IS NOT NULL AND active_runs = 0 \
               RETURNING id \
             ) \
             DELETE FROM scheduler.due d WHERE d.entry_id = ANY (ARRAY(SELECT id FROM expired))",
        )
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Prune the run log and finished one-off entries older than `retention`.
    pub async fn prune(&self, retention: Duration) -> Result<(u64, u64), RepoError> {
        let secs = retention.as_secs_f64();
        let runs = sqlx::query(
            "DELETE FROM scheduler.runs WHERE id < scheduler.uuid_v7_floor(now() - $1 * interval '1 second') \
             AND status <> 'running'",
        )
        .bind(secs)
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM scheduler.fires WHERE fire_time < now() - $1 * interval '1 second'",
        )
        .bind(secs)
        .execute(&self.pool)
        .await?;
        let entries = sqlx::query(
            "WITH gone AS ( \
               DELETE FROM scheduler.entries WHERE status = 'finished' AND NOT recurring \
               AND updated_at < now() - $1 * interval '1 second' RETURNING id \
             ) \
             DELETE FROM scheduler.entry_specs s WHERE s.entry_id = ANY (ARRAY(SELECT id FROM gone))",
        )
        .bind(secs)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok((runs, entries))
    }

    // ---- run log ----------------------------------------------------------------------

    pub async fn get_run(&self, id: Uuid) -> Result<Option<RunRow>, RepoError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {RUN_COLS} FROM scheduler.run_log WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn latest_run(&self, entry_id: Uuid) -> Result<Option<RunRow>, RepoError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {RUN_COLS} FROM scheduler.run_log WHERE entry_id = $1 ORDER BY id DESC LIMIT 1"
        )))
        .bind(entry_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Newest first.
    pub async fn list_runs(&self, f: &RunFilter) -> Result<Vec<RunRow>, RepoError> {
        let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {RUN_COLS} FROM scheduler.run_log \
             WHERE ($1::uuid IS NULL OR entry_id = $1) \
               AND (cardinality($2::text[]) = 0 OR status = ANY($2)) \
               AND ($3::text IS NULL OR shop = $3) \
               AND ($4::text IS NULL OR task = $4) \
               AND ($5::uuid IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6"
        )))
        .bind(f.entry_id)
        .bind(&statuses)
        .bind(&f.shop)
        .bind(&f.task)
        .bind(f.before_id)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// A wake-up for every scheduler listening, outside any transaction.
pub async fn notify_wake(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, 'new')").bind(WAKE_CHANNEL).execute(pool).await?;
    Ok(())
}

async fn notify(
    tx: &mut Transaction<'_, Postgres>,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&mut **tx).await?;
    Ok(())
}

/// Make `scheduler.due` match the entries' `next_run_at` (see the migration's `sync_due`).
async fn sync_due(tx: &mut Transaction<'_, Postgres>, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT scheduler.sync_due($1)").bind(ids).execute(&mut **tx).await?;
    Ok(())
}

/// The completion statement, without and with a look-up of each run in the run log first
/// (see `Repo::complete_and_release`).
static COMPLETE_FAST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| complete_sql(""));
static COMPLETE_GUARDED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    complete_sql("AND NOT EXISTS (SELECT 1 FROM scheduler.runs r WHERE r.id = c.run_id)")
});

fn complete_sql(guard: &str) -> String {
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
             SELECT 'd', run_id, entry_id FROM done \
             UNION ALL SELECT DISTINCT 'l', run_id, entry_id FROM released \
             UNION ALL SELECT 'r', run_id, id FROM ent WHERE reschedule_pending \
             UNION ALL SELECT 'w', NULL, NULL FROM woke"
    )
}

/// The claim statement around a `picked` selection (id, old_fire, was_manual, attempts,
/// e_ctid: the address of the entry, locked by the selection or earlier in its transaction,
/// as is its due row). A recurring fire is started only if its key goes into `fires`; one
/// that is there already comes back as a 'd' row and is left untouched. With `look`, a last
/// row ('n') says when work is due next and whether lock-bound work is due. `run_id` is the
/// SQL for each new attempt's id (a column of `picked`, or a pick from an array of fresh ids).
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
    let look = if look {
        format!(
            " UNION ALL SELECT 'n', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
               {NEXT_DUE}, {LOCKED_DUE}"
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
         SELECT 'r' AS kind, s.run_id, s.id AS entry_id, s.token AS fencing_token, \
           s.attempts AS attempt, s.fire AS fire_time, s.old_fire AS pending_fire, \
           CASE WHEN s.spec_hash IN (SELECT unnest({known}::bytea[])) THEN NULL \
             ELSE (SELECT sp.spec::text FROM scheduler.entry_specs sp WHERE sp.entry_id = s.id) \
           END AS spec, \
           k.claimed_at, k.id AS claim_id, s.version AS entry_version, \
           $2::text AS claimed_by, s.spec_hash, \
           NULL::timestamptz AS next_due, NULL::bool AS locked_due \
         FROM started s CROSS JOIN ins k \
         UNION ALL \
         SELECT 'd', NULL, p.id, NULL, p.attempt, NULL, p.old_fire, NULL, NULL, NULL, NULL, NULL, \
           NULL, NULL, NULL \
         FROM p WHERE p.fire IS NOT NULL AND p.id NOT IN (SELECT entry_id FROM fired)\
         {look}"
    )
}

/// Recurring fires that had run already ('d' rows): entry and fire.
type RanFires = Vec<(Uuid, Option<DateTime<Utc>>)>;

/// A started (or reaped) attempt from its row and its parsed spec; None for a row that is
/// not one (a claim statement's 'd' and 'n' rows).
fn to_claimed(r: ClaimRow, spec: Arc<EntrySpec>) -> Option<ClaimedRun> {
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

/// A reaped attempt: its spec is read in full.
fn to_reaped(r: ClaimRow) -> Result<Option<ClaimedRun>, RepoError> {
    let (Some(text), Some(id)) = (&r.spec, r.entry_id) else { return Ok(None) };
    let spec: EntrySpec =
        serde_json::from_str(text).map_err(|source| RepoError::Corrupt { id, source })?;
    Ok(to_claimed(r, Arc::new(spec)))
}

/// Recurring fires that the database refused to start a second time (their key is in
/// `fires`): that fire already ran, so each entry moves on to its next fire instead of running
/// it twice. An entry that changed meanwhile (another replica moved it on) is left alone.
async fn move_past_fires_that_ran(
    tx: &mut Transaction<'_, Postgres>,
    dups: &[(Uuid, Option<DateTime<Utc>>)],
) -> Result<(), RepoError> {
    for &(entry_id, fire) in dups {
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
