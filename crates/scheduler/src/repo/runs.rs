//! The run log: one row per attempt, running or ended (the `scheduler.run_log` view), read by
//! id, latest of an entry, or a filtered page newest first.

use super::{Repo, RepoError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use shopsync_common::{RecordError, RunFailure, RunStatus};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};
use std::collections::BTreeMap;
use uuid::Uuid;

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
pub struct RunFilter {
    pub entry_id: Option<Uuid>,
    pub statuses: Vec<RunStatus>,
    pub shop: Option<String>,
    pub task: Option<String>,
    pub before_id: Option<Uuid>,
    pub limit: i64,
}

impl Repo {
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
