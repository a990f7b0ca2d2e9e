-- The scheduler service's schema: job queue entries, the run log, and exclusive locks.
-- Only the scheduler reads or writes it; everyone else goes through gRPC JobQueue.
CREATE SCHEMA IF NOT EXISTS scheduler;

-- Time-ordered UUIDs (v7) so the run log's primary key is also its time order.
CREATE FUNCTION scheduler.uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1), 'hex')::uuid
$$;

-- The smallest v7 UUID at a given time: the run log is pruned by primary-key range.
CREATE FUNCTION scheduler.uuid_v7_floor(t timestamptz) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(
    overlay('\x00000000000070008000000000000000'::bytea
            PLACING substring(int8send(floor(extract(epoch FROM t) * 1000)::bigint) FROM 3)
            FROM 1 FOR 6), 'hex')::uuid
$$;

CREATE TABLE scheduler.entries (
    id              uuid PRIMARY KEY DEFAULT scheduler.uuid_v7(),
    -- Monotonic number: first-in-first-out order within a category.
    entry_no        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    task            text NOT NULL,
    shop            text NOT NULL,
    -- The whole spec as the user saved it (EntrySpec as JSON); the columns below are derived
    -- from it for queries and for the claim statement.
    spec            jsonb NOT NULL,
    description     text NOT NULL,
    category        text,
    priority        smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    lock_keys       text[] NOT NULL DEFAULT '{}',
    needs_locks     boolean GENERATED ALWAYS AS (cardinality(lock_keys) > 0) STORED,
    recurring       boolean NOT NULL,
    allow_overlap   boolean NOT NULL DEFAULT false,
    expires_at      timestamptz,
    created_by      text NOT NULL,
    -- Idempotency key of the create request.
    request_id      text,
    -- State. Invariant: next_run_at IS NOT NULL exactly when the entry may be claimed
    -- (Ready, Waiting, Error-but-still-recurring, or In Process with allow_overlap).
    status          text NOT NULL CHECK (status IN ('ready', 'in_process', 'error', 'on_hold', 'finished', 'waiting')),
    next_run_at     timestamptz,
    -- The recurring fire the next run belongs to (NULL for one-off entries).
    next_fire_time  timestamptz,
    -- The next run is a manual "run now" (no fire time of its own).
    manual_pending  boolean NOT NULL DEFAULT false,
    attempts        integer NOT NULL DEFAULT 0,
    active_runs     integer NOT NULL DEFAULT 0 CHECK (active_runs >= 0),
    hold_requested  boolean NOT NULL DEFAULT false,
    -- The spec changed while a run was going: recompute the schedule when it ends.
    reschedule_pending boolean NOT NULL DEFAULT false,
    last_error      text,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Due work that needs no lock: claimed in batches, oldest first.
CREATE INDEX entries_due_free ON scheduler.entries (next_run_at)
    WHERE next_run_at IS NOT NULL AND NOT needs_locks;
-- Due work that holds a category or resource lock: released by priority, then FIFO.
CREATE INDEX entries_due_locked ON scheduler.entries (priority, entry_no)
    WHERE next_run_at IS NOT NULL AND needs_locks;
-- Idempotency of CreateEntry (most entries carry no key, so NULLs stay out of the index).
CREATE UNIQUE INDEX entries_request_id ON scheduler.entries (request_id) WHERE request_id IS NOT NULL;
-- Due entries with an expiration, for the reaper (nearly all entries have none).
CREATE INDEX entries_expiring ON scheduler.entries (expires_at)
    WHERE expires_at IS NOT NULL AND next_run_at IS NOT NULL;
-- No index on status: entry lists are small next to the run log, and every claim and
-- completion changes the status, so such an index would be rewritten on the hot path.

-- Fencing tokens: every attempt gets a fresh one.
CREATE SEQUENCE scheduler.fencing_seq AS bigint CACHE 1000;

-- The run log: one row per attempt, kept after the entry is gone.
CREATE TABLE scheduler.runs (
    id               uuid PRIMARY KEY DEFAULT scheduler.uuid_v7(),
    entry_id         uuid NOT NULL,
    task             text NOT NULL,
    shop             text NOT NULL,
    description      text NOT NULL,
    category         text,
    -- The recurring fire this attempt belongs to; (entry, fire, attempt) is unique, so a fire
    -- can never run twice, whatever the number of scheduler replicas.
    fire_time        timestamptz,
    attempt          integer NOT NULL,
    status           text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost')),
    fencing_token    bigint NOT NULL,
    scheduler        text NOT NULL,
    worker           text,
    -- Snapshot of the task parameters the attempt ran with.
    params           jsonb NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at      timestamptz,
    lease_expires_at timestamptz,
    cancel_requested text,
    progress_done    bigint NOT NULL DEFAULT 0,
    progress_total   bigint NOT NULL DEFAULT 0,
    step             text,
    counters         jsonb,
    record_errors    bigint NOT NULL DEFAULT 0,
    errors           jsonb,
    -- {"message": ..., "causes": [...]}
    error            jsonb
) WITH (fillfactor = 80);

-- A recurring fire runs once: (entry, fire, attempt) is unique whatever the number of
-- scheduler replicas. One-off runs have no fire time and stay out of the index.
CREATE UNIQUE INDEX runs_fire ON scheduler.runs (entry_id, fire_time, attempt)
    WHERE fire_time IS NOT NULL;
-- An entry's runs, newest first (ListRuns, WatchEntry).
CREATE INDEX runs_entry ON scheduler.runs (entry_id, id DESC);

-- Lease expiry of running attempts (the reaper's query).
CREATE INDEX runs_running ON scheduler.runs (lease_expires_at) WHERE status = 'running';

-- Exclusive locks held by running attempts: `category:<CODE>` and `shop:<shop>:<resource>`.
-- The primary key is what makes "one In Process per category" hold across replicas.
CREATE TABLE scheduler.locks (
    key         text PRIMARY KEY,
    entry_id    uuid NOT NULL,
    run_id      uuid NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX locks_run ON scheduler.locks (run_id);
