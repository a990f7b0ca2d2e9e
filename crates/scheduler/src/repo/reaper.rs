//! The reaper's and maintenance's statements: attempts whose claim's lease expired, releasing
//! expired claims, expiring due entries, and pruning the run log.

use super::claim::{ClaimRow, to_claimed};
use super::{ClaimedRun, Repo, RepoError};
use shopsync_common::EntrySpec;
use std::sync::Arc;
use std::time::Duration;

impl Repo {
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
}

/// A reaped attempt: its spec is read in full.
fn to_reaped(r: ClaimRow) -> Result<Option<ClaimedRun>, RepoError> {
    let (Some(text), Some(id)) = (&r.spec, r.entry_id) else { return Ok(None) };
    let spec: EntrySpec =
        serde_json::from_str(text).map_err(|source| RepoError::Corrupt { id, source })?;
    Ok(to_claimed(r, Arc::new(spec)))
}
