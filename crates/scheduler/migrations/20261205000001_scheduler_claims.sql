-- A claim writes one row, not one per attempt; a run reaches the database once, when it ends.
--
-- Before, every claimed attempt was a row of `attempts` (a heap insertion and a primary-key
-- entry at the claim, a deletion at the completion), and the finished run was copied from it
-- into `runs`. Now:
--   * `claims` holds one row per claim statement: the attempts it started (run id, entry,
--     fencing token, attempt number, fire, the entry's version after the claim), who claimed
--     them, when, and the lease. The claiming scheduler renews the lease of its claims that
--     still have attempts running, and deletes a claim once all its attempts are logged. The
--     reaper of any replica reads the claims whose lease ran out and fails their attempts
--     that are not logged yet.
--   * A completion is accepted when the claim holds its run id with its fencing token and
--     the run is not logged yet: the run log's primary key admits one outcome per attempt,
--     so of a late result and the reaper's, whichever is written first wins and the other is
--     refused.
--   * `attempt_state` holds what the database must know of an attempt while it runs beyond
--     its claim, for the attempts that need it: progress (written by the heartbeat, so only
--     for attempts that run past a beat), a cancel request, and the run-log fields as they
--     were at the claim when the entry is edited during the run (the completion otherwise
--     reads them from the entry and its spec, which the claim saw).
-- `run_log` shows running attempts (claimed, not logged) and finished runs as one log.

CREATE TABLE scheduler.claims (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scheduler        text NOT NULL,
    claimed_at       timestamptz NOT NULL,
    lease_expires_at timestamptz NOT NULL,
    -- The attempts started, position by position.
    run_ids          uuid[] NOT NULL,
    entry_ids        uuid[] NOT NULL,
    tokens           bigint[] NOT NULL,
    attempts         integer[] NOT NULL,
    fire_times       timestamptz[] NOT NULL,
    entry_versions   bigint[] NOT NULL,
    CHECK (cardinality(run_ids) = cardinality(entry_ids)
       AND cardinality(run_ids) = cardinality(tokens)
       AND cardinality(run_ids) = cardinality(attempts)
       AND cardinality(run_ids) = cardinality(fire_times)
       AND cardinality(run_ids) = cardinality(entry_versions))
) WITH (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 1000);
-- A claim of thousands of attempts stores its arrays out of line: uncompressed, as trying to
-- compress them cost more than writing them (run ids and tokens barely compress).
ALTER TABLE scheduler.claims ALTER COLUMN run_ids SET STORAGE EXTERNAL,
    ALTER COLUMN entry_ids SET STORAGE EXTERNAL, ALTER COLUMN tokens SET STORAGE EXTERNAL,
    ALTER COLUMN attempts SET STORAGE EXTERNAL, ALTER COLUMN fire_times SET STORAGE EXTERNAL,
    ALTER COLUMN entry_versions SET STORAGE EXTERNAL;
-- No index on the lease: the table holds one row per claim with attempts still running (a
-- few per replica under load), and the reaper reads it whole.

CREATE TABLE scheduler.attempt_state (
    run_id           uuid PRIMARY KEY,
    worker           text,
    progress_done    bigint NOT NULL DEFAULT 0,
    progress_total   bigint NOT NULL DEFAULT 0,
    step             text,
    cancel_requested text,
    -- The run-log fields as the claim saw them, kept when the entry changed during the run.
    task             text,
    shop             text,
    description      text,
    category         text,
    params           jsonb,
    snapshot         boolean NOT NULL DEFAULT false
) WITH (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 1000);

-- Attempts running at the upgrade: a claim each, their progress and snapshot kept.
INSERT INTO scheduler.claims (scheduler, claimed_at, lease_expires_at, run_ids, entry_ids,
    tokens, attempts, fire_times, entry_versions)
SELECT scheduler, started_at, lease_expires_at, ARRAY[id], ARRAY[entry_id],
    ARRAY[fencing_token], ARRAY[attempt], ARRAY[fire_time], ARRAY[COALESCE(entry_version, -1)]
FROM scheduler.attempts;
INSERT INTO scheduler.attempt_state (run_id, worker, progress_done, progress_total, step,
    cancel_requested, task, shop, description, category, params, snapshot)
SELECT id, worker, progress_done, progress_total, step, cancel_requested, task, shop,
    description, category, params, true
FROM scheduler.attempts;

DROP VIEW scheduler.run_log;
DROP TABLE scheduler.attempts;

-- Attempts claimed and not yet logged, one row each.
CREATE VIEW scheduler.running AS
SELECT u.run_id, u.entry_id, u.token, u.attempt, u.fire_time, u.entry_version, k.id AS claim_id,
    k.scheduler, k.claimed_at, k.lease_expires_at
FROM scheduler.claims k
CROSS JOIN LATERAL unnest(k.run_ids, k.entry_ids, k.tokens, k.attempts, k.fire_times,
    k.entry_versions) AS u(run_id, entry_id, token, attempt, fire_time, entry_version)
WHERE NOT EXISTS (SELECT 1 FROM scheduler.runs r WHERE r.id = u.run_id);

-- The run log as the API shows it: running attempts and finished runs.
CREATE VIEW scheduler.run_log AS
SELECT a.run_id AS id, a.entry_id,
    CASE WHEN s.snapshot THEN s.task ELSE e.task END AS task,
    CASE WHEN s.snapshot THEN s.shop ELSE e.shop END AS shop,
    CASE WHEN s.snapshot THEN s.description ELSE e.description END AS description,
    CASE WHEN s.snapshot THEN s.category ELSE e.category END AS category,
    a.fire_time, a.attempt, 'running'::text AS status, a.token AS fencing_token, a.scheduler,
    s.worker,
    CASE WHEN s.snapshot THEN s.params ELSE sp.spec -> 'params' END AS params,
    a.claimed_at AS started_at, NULL::timestamptz AS finished_at,
    COALESCE(s.progress_done, 0) AS progress_done, COALESCE(s.progress_total, 0) AS progress_total,
    s.step, NULL::jsonb AS counters, 0::bigint AS record_errors, NULL::jsonb AS errors,
    NULL::jsonb AS error
FROM scheduler.running a
JOIN scheduler.entries e ON e.id = a.entry_id
LEFT JOIN scheduler.entry_specs sp ON sp.entry_id = a.entry_id
LEFT JOIN scheduler.attempt_state s ON s.run_id = a.run_id
UNION ALL
SELECT id, entry_id, task, shop, description, category, fire_time, attempt, status,
    fencing_token, scheduler, worker, params, started_at, finished_at, progress_done,
    progress_total, step, counters, record_errors, errors, error
FROM scheduler.runs;

-- Specs by content: a claim returns each attempt's spec hash, and the spec's JSON only when
-- the claimer has not parsed that spec already (entries share specs, and a recurring entry
-- runs the same one again and again).
ALTER TABLE scheduler.entry_specs ADD COLUMN spec_hash bytea
    GENERATED ALWAYS AS (sha256(jsonb_send(spec))) STORED;
