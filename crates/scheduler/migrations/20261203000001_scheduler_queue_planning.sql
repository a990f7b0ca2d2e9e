-- Plans for the queue tables that do not depend on their statistics.
--
-- `scheduler.due` and `scheduler.attempts` are queues: rows come and go thousands of times a
-- second, and the newest values of `due.run_at` and `attempts.lease_expires_at` are always
-- beyond the histogram ANALYZE saw. For a range test such as `run_at <= now()` past the end of
-- a histogram, the planner looks up the column's true end in the index
-- (get_actual_variable_range), walking over every dead index entry a burst left behind. On
-- PostgreSQL 15 that made about a third of the claims and completions plan for about 1.7 ms
-- each under a steady 2,000 jobs/s, as long as running them.
--
-- Without statistics on these two columns the planner uses its default selectivity for the
-- range test and never looks at the index to plan; the plans the statements want (the
-- `due_free` order, the `attempts_lease` range) do not depend on that selectivity.
ALTER TABLE scheduler.due ALTER COLUMN run_at SET STATISTICS 0;
ALTER TABLE scheduler.attempts ALTER COLUMN lease_expires_at SET STATISTICS 0;
-- ANALYZE keeps the statistics it gathered before; a change to the same type drops them
-- (without rewriting the table or its indexes).
ALTER TABLE scheduler.due ALTER COLUMN run_at TYPE timestamptz;
ALTER TABLE scheduler.attempts ALTER COLUMN lease_expires_at TYPE timestamptz;

-- Vacuum the due queue after every 10,000 dead rows, whatever its size, as `attempts` does,
-- so that its pages and index stay small between bursts.
ALTER TABLE scheduler.due SET (autovacuum_vacuum_scale_factor = 0.0,
                               autovacuum_vacuum_threshold = 10000);
