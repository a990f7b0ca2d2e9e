//! Entries: their rows, creates (one, or a batch in one statement), reads, edits under the
//! row lock, deletes, cancel requests, and an overlapping entry's move to its next fire.

use super::{CANCEL_CHANNEL, PgQueryAs, Repo, RepoError, WAKE_CHANNEL, notify, sync_due};
use chrono::{DateTime, Utc};
use serde_json::Value;
use shopsync_common::{EntrySpec, JobStatus};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow, Postgres, Transaction};
use std::collections::HashMap;
use uuid::Uuid;

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

#[derive(Debug, Default, Clone)]
pub struct EntryFilter {
    pub statuses: Vec<JobStatus>,
    pub shop: Option<String>,
    pub task: Option<String>,
    pub category: Option<String>,
    pub after_entry_no: i64,
    pub limit: i64,
}

/// Columns derived from a spec (the spec itself is stored as `Json` of it).
struct Derived {
    task: &'static str,
    description: String,
    category: Option<String>,
    priority: i16,
    lock_keys: Vec<String>,
    recurring: bool,
    allow_overlap: bool,
}

/// Binds a spec's derived columns in this order: description, category, priority, lock
/// keys, recurring, allow overlap ($4 to $9 of both single-entry writes).
macro_rules! bind_derived {
    ($q:expr, $d:expr) => {
        $q.bind(&$d.description)
            .bind(&$d.category)
            .bind($d.priority)
            .bind(&$d.lock_keys)
            .bind($d.recurring)
            .bind($d.allow_overlap)
    };
}

fn derive(spec: &EntrySpec) -> Derived {
    let mut lock_keys = spec.lock_keys();
    lock_keys.sort();
    Derived {
        task: spec.task().as_str(),
        description: spec.display_description(),
        category: spec.category.as_ref().map(|c| c.to_ascii_uppercase()),
        priority: spec.priority.as_i16(),
        lock_keys,
        recurring: spec.recurrence.is_some(),
        allow_overlap: spec.recurrence.as_ref().is_some_and(|r| r.allow_overlap),
    }
}

/// A batched create's columns, one array per column for `unnest` ([`INSERT_ENTRIES`]): each
/// entry is pushed as one row, and `bind` binds them in the statement's `$n` order.
#[derive(Default)]
struct NewEntryColumns<'a> {
    id: Vec<Uuid>,
    task: Vec<&'static str>,
    shop: Vec<&'a str>,
    spec: Vec<Json<&'a EntrySpec>>,
    description: Vec<String>,
    category: Vec<Option<String>>,
    priority: Vec<i16>,
    lock_keys: Vec<Json<Vec<String>>>,
    recurring: Vec<bool>,
    allow_overlap: Vec<bool>,
    expires_at: Vec<Option<DateTime<Utc>>>,
    created_by: Vec<&'a str>,
    request_id: Vec<Option<&'a str>>,
    status: Vec<&'static str>,
    next_run_at: Vec<Option<DateTime<Utc>>>,
    next_fire_time: Vec<Option<DateTime<Utc>>>,
    manual_pending: Vec<bool>,
    attempts: Vec<i32>,
    last_error: Vec<Option<&'a str>>,
}

impl<'a> NewEntryColumns<'a> {
    /// Push one entry, with an id made here: time-ordered like the column default
    /// (scheduler.uuid_v7), and known before the insert so each returned row finds its request.
    fn push(&mut self, e: &NewEntry<'a>) {
        let d = derive(e.spec);
        self.id.push(Uuid::now_v7());
        self.task.push(d.task);
        self.shop.push(&e.spec.shop);
        self.spec.push(Json(e.spec));
        self.description.push(d.description);
        self.category.push(d.category);
        self.priority.push(d.priority);
        self.lock_keys.push(Json(d.lock_keys));
        self.recurring.push(d.recurring);
        self.allow_overlap.push(d.allow_overlap);
        self.expires_at.push(e.spec.expires_at);
        self.created_by.push(&e.spec.created_by);
        self.request_id.push(e.request_id);
        self.status.push(e.state.status.as_str());
        self.next_run_at.push(e.state.next_run_at);
        self.next_fire_time.push(e.state.next_fire_time);
        self.manual_pending.push(e.state.manual_pending);
        self.attempts.push(e.state.attempts);
        self.last_error.push(e.state.last_error.as_deref());
    }

    /// Binds $1 to $19 ($20, whether to notify, is the caller's).
    fn bind<'q, O>(&'q self, q: PgQueryAs<'q, O>) -> PgQueryAs<'q, O> {
        q.bind(&self.id) // $1
            .bind(&self.task) // $2
            .bind(&self.shop) // $3
            .bind(&self.spec) // $4
            .bind(&self.description) // $5
            .bind(&self.category) // $6
            .bind(&self.priority) // $7
            .bind(&self.lock_keys) // $8
            .bind(&self.recurring) // $9
            .bind(&self.allow_overlap) // $10
            .bind(&self.expires_at) // $11
            .bind(&self.created_by) // $12
            .bind(&self.request_id) // $13
            .bind(&self.status) // $14
            .bind(&self.next_run_at) // $15
            .bind(&self.next_fire_time) // $16
            .bind(&self.manual_pending) // $17
            .bind(&self.attempts) // $18
            .bind(&self.last_error) // $19
    }
}

/// The batched create ([`NewEntryColumns`] binds $1 to $19; $20: notify).
static INSERT_ENTRIES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
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
    )
});

impl Repo {
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
        let mut cols = NewEntryColumns::default();
        for e in new {
            cols.push(e);
        }
        let rows: Vec<EntryRow> = cols
            .bind(sqlx::query_as(AssertSqlSafe(INSERT_ENTRIES.as_str())))
            .bind(notify) // $20
            .fetch_all(&self.pool)
            .await?;
        let mut created: HashMap<Uuid, EntryRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        // Requests whose request_id was taken: answer the stored entry.
        let taken: Vec<&str> = new
            .iter()
            .zip(&cols.id)
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
            .zip(&cols.id)
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
        let q = sqlx::query(
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
        .bind(d.task) // $1
        .bind(&spec.shop) // $2
        .bind(Json(spec)); // $3
        let r = bind_derived!(q, d) // $4 to $9
            .bind(&spec.created_by) // $10
            .bind(count as i64) // $11
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
        if let Some(spec) = &spec {
            if current.active_runs > 0 {
                snapshot_running_attempts(&mut tx, id).await?;
            }
            sqlx::query("UPDATE scheduler.entry_specs SET spec = $2 WHERE entry_id = $1")
                .bind(id)
                .bind(Json(spec))
                .execute(&mut *tx)
                .await?;
        }
        let spec = spec.as_ref().unwrap_or(&current.spec);
        let row = update_entry(&mut tx, id, spec, &state).await?;
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
}

/// The entry changes while attempts run: their run-log fields stay as the claim saw them
/// (the completion reads the entry's otherwise).
async fn snapshot_running_attempts(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<(), sqlx::Error> {
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Write an entry's spec-derived columns and its state (the edit of [`Repo::modify_entry`]).
async fn update_entry(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    spec: &EntrySpec,
    state: &EntryState,
) -> Result<EntryRow, sqlx::Error> {
    let d = derive(spec);
    let q = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE scheduler.entries SET task = $2, shop = $3, description = $4, \
           category = $5, priority = $6, lock_keys = $7, recurring = $8, allow_overlap = $9, \
           expires_at = $10, status = $11, next_run_at = $12, next_fire_time = $13, \
           manual_pending = $14, attempts = $15, hold_requested = $16, \
           reschedule_pending = $17, last_error = $18, version = version + 1, \
           updated_at = clock_timestamp() \
         WHERE id = $1 RETURNING {ENTRY_COLS}"
    )))
    .bind(id) // $1
    .bind(d.task) // $2
    .bind(&spec.shop); // $3
    bind_derived!(q, d) // $4 to $9
        .bind(spec.expires_at) // $10
        .bind(state.status.as_str()) // $11
        .bind(state.next_run_at) // $12
        .bind(state.next_fire_time) // $13
        .bind(state.manual_pending) // $14
        .bind(state.attempts) // $15
        .bind(state.hold_requested) // $16
        .bind(state.reschedule_pending) // $17
        .bind(&state.last_error) // $18
        .fetch_one(&mut **tx)
        .await
}
