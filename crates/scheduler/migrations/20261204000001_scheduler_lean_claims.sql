-- Less written per job by the claim and the completion.
--
-- * `attempts_lease` goes: it cost every claim an index insertion (and every heartbeat a
--   non-HOT update) for the reaper's once-a-second query, which now reads `attempts` whole.
--   That table holds only the attempts running now (at most the replicas' concurrency) and
--   is vacuumed after every 10,000 dead rows, so the scan stays small.
-- * `runs_running` and `runs_fire` are left from before `attempts` and `fires`: the run log
--   holds no running attempt any more, and `fires` is what keeps a fire from running twice.
--   Each cost every logged run a predicate test, and they are never read.
-- * The run log is written once per run and never updated (running attempts live in
--   `attempts`), so its pages are filled whole: the 20 % they kept free for updates was a
--   fifth more pages to write.
-- * `attempts.entry_version` is the entry's version the claim left. A completion compares it
--   with the entry's: when nothing changed the entry during the run, the entry has no due
--   row (the claim removed it), and the completion need not look for one.
DROP INDEX scheduler.attempts_lease;
DROP INDEX scheduler.runs_running;
DROP INDEX scheduler.runs_fire;
ALTER TABLE scheduler.attempts ADD COLUMN entry_version bigint;
ALTER TABLE scheduler.runs SET (fillfactor = 100);
