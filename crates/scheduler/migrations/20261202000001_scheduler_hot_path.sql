-- The job queue's hot path: what a claim and a completion write, made small.
--
-- Due work moves out of the entries table into a narrow queue of its own.
--
-- Before, `entries.next_run_at` was indexed (entries_due_free, entries_due_locked), so every
-- claim and every completion rewrote the wide entries row *and* its indexes (a non-HOT
-- update). Now:
--   * `scheduler.due` holds one row per claimable entry: exactly the entries whose
--     `next_run_at IS NOT NULL`, with what the claim statements sort and filter on;
--   * a claim deletes the due row (no index write) and updates the entry in place;
--   * no index of `entries` covers a column that a claim or a completion changes, and entry
--     pages keep room for new row versions, so those updates are heap-only (HOT).
-- Every statement that writes `entries.next_run_at` also writes `due` in its transaction
-- (crates/scheduler/src/repo.rs; `sync_due` for the cold paths).
--
-- Not compatible with the previous release's schedulers (they claim from `entries`), so the
-- scheduler Deployment is replaced, not rolled (deploy/: strategy Recreate).

CREATE TABLE scheduler.due (
    entry_id    uuid PRIMARY KEY,
    run_at      timestamptz NOT NULL,
    needs_locks boolean NOT NULL,
    priority    smallint NOT NULL,
    entry_no    bigint NOT NULL,
    expires_at  timestamptz
);
-- Due work that needs no lock: claimed in batches, oldest first.
CREATE INDEX due_free ON scheduler.due (run_at) WHERE NOT needs_locks;
-- Due work that holds a category or resource lock: released by priority, then FIFO.
CREATE INDEX due_locked ON scheduler.due (priority, entry_no) WHERE needs_locks;

INSERT INTO scheduler.due (entry_id, run_at, needs_locks, priority, entry_no, expires_at)
SELECT id, next_run_at, needs_locks, priority, entry_no, expires_at
FROM scheduler.entries WHERE next_run_at IS NOT NULL;
ANALYZE scheduler.due;

DROP INDEX scheduler.entries_due_free;
DROP INDEX scheduler.entries_due_locked;
-- The expiring index no longer mentions next_run_at (a predicate column blocks HOT updates
-- too); entries with an expiration are rare, finished ones included.
DROP INDEX scheduler.entries_expiring;
CREATE INDEX entries_expiring ON scheduler.entries (expires_at) WHERE expires_at IS NOT NULL;

-- The spec (about 550 bytes of JSON, written on create and edit, read on claim) moves to a
-- table of its own, so the row that claims and completions rewrite shrinks from about 720 to
-- about 180 bytes: a quarter of the pages to write (and, after a checkpoint, to log in full).
CREATE TABLE scheduler.entry_specs (
    entry_id uuid PRIMARY KEY,
    spec     jsonb NOT NULL
);
INSERT INTO scheduler.entry_specs (entry_id, spec) SELECT id, spec FROM scheduler.entries;
ALTER TABLE scheduler.entries DROP COLUMN spec;

-- Room on every page for the claim's and the completion's new row versions (HOT).
ALTER TABLE scheduler.entries SET (fillfactor = 50);

-- Make `due` match `entries` for the given entries (cold paths: edits, holds, expiry, the
-- duplicate-fire path). Hot paths (create, claim, completion) write `due` inline.
CREATE FUNCTION scheduler.sync_due(ids uuid[]) RETURNS void LANGUAGE sql VOLATILE AS $$
  DELETE FROM scheduler.due d
  WHERE d.entry_id = ANY (ids)
    AND NOT EXISTS (SELECT 1 FROM scheduler.entries e
                    WHERE e.id = d.entry_id AND e.next_run_at IS NOT NULL);
  INSERT INTO scheduler.due (entry_id, run_at, needs_locks, priority, entry_no, expires_at)
  SELECT id, next_run_at, needs_locks, priority, entry_no, expires_at
  FROM scheduler.entries WHERE id = ANY (ids) AND next_run_at IS NOT NULL
  ON CONFLICT (entry_id) DO UPDATE SET
    run_at = EXCLUDED.run_at, needs_locks = EXCLUDED.needs_locks,
    priority = EXCLUDED.priority, entry_no = EXCLUDED.entry_no, expires_at = EXCLUDED.expires_at;
$$;

-- Running attempts live in a narrow table of their own and reach the run log once, when they
-- end. Before, the claim inserted a `runs` row (three index entries) and the completion
-- rewrote it (a non-HOT update: a second row version and two more index entries); now the
-- claim inserts an attempt, and the completion deletes it and inserts the finished run.
-- `scheduler.run_log` shows both as one log.
CREATE TABLE scheduler.attempts (
    id               uuid PRIMARY KEY,
    entry_id         uuid NOT NULL,
    task             text NOT NULL,
    shop             text NOT NULL,
    description      text NOT NULL,
    category         text,
    fire_time        timestamptz,
    attempt          integer NOT NULL,
    fencing_token    bigint NOT NULL,
    scheduler        text NOT NULL,
    worker           text,
    -- Snapshot of the task parameters the attempt runs with.
    params           jsonb NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    lease_expires_at timestamptz NOT NULL,
    cancel_requested text,
    progress_done    bigint NOT NULL DEFAULT 0,
    progress_total   bigint NOT NULL DEFAULT 0,
    step             text
) WITH (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 10000);
-- The reaper's query: attempts whose lease ran out.
CREATE INDEX attempts_lease ON scheduler.attempts (lease_expires_at);
-- No index on entry_id: the table holds only what is running now (at most the replicas'
-- concurrency), and cancel requests scan it.

INSERT INTO scheduler.attempts (id, entry_id, task, shop, description, category, fire_time,
    attempt, fencing_token, scheduler, worker, params, started_at, lease_expires_at,
    cancel_requested, progress_done, progress_total, step)
SELECT id, entry_id, task, shop, description, category, fire_time, attempt, fencing_token,
    scheduler, worker, params, started_at, COALESCE(lease_expires_at, now()), cancel_requested,
    progress_done, progress_total, step
FROM scheduler.runs WHERE status = 'running';
DELETE FROM scheduler.runs WHERE status = 'running';

-- Exactly once per fire: the claim of a recurring fire inserts its key here first, so two
-- replicas (or a bug in a schedule) can never start the same (entry, fire, attempt) twice,
-- whether the first run is still going or long finished. Pruned with the run log.
CREATE TABLE scheduler.fires (
    entry_id  uuid NOT NULL,
    fire_time timestamptz NOT NULL,
    attempt   integer NOT NULL,
    run_id    uuid NOT NULL,
    PRIMARY KEY (entry_id, fire_time, attempt)
);
INSERT INTO scheduler.fires (entry_id, fire_time, attempt, run_id)
SELECT entry_id, fire_time, attempt, id FROM scheduler.runs WHERE fire_time IS NOT NULL
UNION ALL
SELECT entry_id, fire_time, attempt, id FROM scheduler.attempts WHERE fire_time IS NOT NULL;

-- The run log as the API shows it: running attempts and finished runs.
CREATE VIEW scheduler.run_log AS
SELECT id, entry_id, task, shop, description, category, fire_time, attempt,
    'running'::text AS status, fencing_token, scheduler, worker, params, started_at,
    NULL::timestamptz AS finished_at, progress_done, progress_total, step,
    NULL::jsonb AS counters, 0::bigint AS record_errors, NULL::jsonb AS errors,
    NULL::jsonb AS error
FROM scheduler.attempts
UNION ALL
SELECT id, entry_id, task, shop, description, category, fire_time, attempt, status,
    fencing_token, scheduler, worker, params, started_at, finished_at, progress_done,
    progress_total, step, counters, record_errors, errors, error
FROM scheduler.runs;
