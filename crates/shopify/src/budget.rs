//! Cost-aware pacing. Each shop has one [`Budget`], shared by every job talking to that shop
//! in this process: it mirrors Shopify's leaky bucket from the `throttleStatus` of the latest
//! response, adds what has been restored since, subtracts what requests in flight have
//! reserved, and makes a caller wait until its request's cost fits, so the server never has
//! to answer THROTTLED.
//!
//! Several processes on one shop (replicas of a sync service) share the bucket through
//! PostgreSQL with [`Budget::shared`]: the same arithmetic on one row per shop
//! (`shopify.rate_budget`), where the row lock of one `UPDATE` orders the reservations of all
//! processes. If the database cannot be reached, the process falls back to its own view and
//! relies on THROTTLED retries until it can.

use sqlx::PgPool;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// What a response said about the bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

#[derive(Debug)]
struct State {
    available: f64,
    at: Instant,
    maximum: f64,
    restore_rate: f64,
    reserved: f64,
}

#[derive(Debug)]
pub struct Budget {
    state: Mutex<State>,
    shared: Option<Shared>,
}

/// The row of one shop in `shopify.rate_budget`.
#[derive(Debug)]
struct Shared {
    pool: PgPool,
    shop: String,
}

/// How long reservations of a process that died can hold points: after this long without a
/// new reservation, the row's reservations are forgotten.
const RESERVATION_LEASE_SECS: f64 = 30.0;

/// The row's level now: its last level plus the refill since, up to the maximum.
const REFILLED: &str =
    "LEAST(maximum, available + extract(epoch FROM clock_timestamp() - at) * restore_rate)";
/// What requests in flight hold, unless nothing was reserved for the lease (a dead process).
const HELD: &str = "CASE WHEN clock_timestamp() > reserved_until THEN 0 ELSE reserved END";

/// Refill, forget the reservations of a dead process, and grant `$2` if it fits, all on the
/// latest row version (the UPDATE locks it, so the reservations of all processes are ordered).
static RESERVE_SQL: LazyLock<String> = LazyLock::new(|| {
    let fits = format!("({REFILLED}) - ({HELD}) >= LEAST($2, maximum)");
    format!(
        "UPDATE shopify.rate_budget SET \
           available = {REFILLED}, at = clock_timestamp(), \
           reserved = ({HELD}) + CASE WHEN {fits} THEN $2 ELSE 0 END, \
           reserved_until = CASE WHEN {fits} \
             THEN clock_timestamp() + $3 * interval '1 second' ELSE reserved_until END, \
           granted = {fits} \
         WHERE shop = $1 \
         RETURNING granted, available - reserved, restore_rate, maximum"
    )
});

/// Release `$2` and take the server's level `$3`, never above the row's own refilled level
/// minus what this request was charged (`$6`, its actual cost): answers reach the row in any
/// order, and an older answer's level (before later requests were charged) must not raise it.
/// (Bounding by the requested cost instead kept the refund of every request from the row:
/// a shop paced at requested/actual of its rate, 87 % for order pages.)
static SETTLE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE shopify.rate_budget SET reserved = GREATEST(reserved - $2, 0), \
           available = CASE WHEN $3 IS NULL THEN {REFILLED} \
                            ELSE LEAST($3, {REFILLED} - COALESCE($6, $2)) END, \
           at = clock_timestamp(), \
           maximum = COALESCE($4, maximum), restore_rate = COALESCE($5, restore_rate) \
         WHERE shop = $1"
    )
});

/// Cost held for a request in flight; give it back with [`Budget::settle`].
#[derive(Debug)]
#[must_use]
pub struct Reservation {
    pub cost: f64,
    /// Held in the shared row (else in this process).
    shared: bool,
}

impl Default for Budget {
    /// Until the shop has answered once: Shopify's Standard plan (2,000 points, 100/s), full.
    fn default() -> Self {
        Self::new(2_000.0, 100.0)
    }
}

impl Budget {
    pub fn new(maximum: f64, restore_rate: f64) -> Self {
        Self {
            state: Mutex::new(State {
                available: maximum,
                at: Instant::now(),
                maximum,
                restore_rate,
                reserved: 0.0,
            }),
            shared: None,
        }
    }

    /// The budget of `shop` shared by every process using the same database (the
    /// `shopify.rate_budget` table, created by the migrations).
    pub fn shared(pool: PgPool, shop: impl Into<String>) -> Self {
        Self { shared: Some(Shared { pool, shop: shop.into() }), ..Self::default() }
    }

    /// Reserve `cost` in the shared row: Ok(None) when granted, Ok(Some(wait)) when it does not
    /// fit yet.
    async fn reserve_shared(sh: &Shared, cost: f64) -> Result<Option<Duration>, sqlx::Error> {
        loop {
            let row: Option<(bool, f64, f64, f64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(RESERVE_SQL.as_str()))
                    .bind(&sh.shop)
                    .bind(cost)
                    .bind(RESERVATION_LEASE_SECS)
                    .fetch_optional(&sh.pool)
                    .await?;
            match row {
                Some((true, ..)) => return Ok(None),
                Some((false, have, rate, max)) => {
                    let need = cost.min(max);
                    return Ok(Some(Duration::from_secs_f64(
                        ((need - have) / rate.max(0.001)).clamp(0.001, 60.0),
                    )));
                }
                None => {
                    // First use of this shop: a full Standard bucket until the shop answers.
                    sqlx::query(
                        "INSERT INTO shopify.rate_budget \
                           (shop, available, at, maximum, restore_rate, reserved_until) \
                         VALUES ($1, 2000, clock_timestamp(), 2000, 100, clock_timestamp()) \
                         ON CONFLICT (shop) DO NOTHING",
                    )
                    .bind(&sh.shop)
                    .execute(&sh.pool)
                    .await?;
                }
            }
        }
    }

    async fn settle_shared(
        sh: &Shared,
        cost: f64,
        status: Option<ThrottleStatus>,
        charged: Option<f64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(SETTLE_SQL.as_str()))
            .bind(&sh.shop)
            .bind(cost)
            .bind(status.map(|t| t.currently_available))
            .bind(status.map(|t| t.maximum_available.max(1.0)))
            .bind(status.map(|t| t.restore_rate.max(0.001)))
            .bind(charged)
            .execute(&sh.pool)
            .await?;
        Ok(())
    }

    fn estimate(s: &State, now: Instant) -> f64 {
        let restored = now.saturating_duration_since(s.at).as_secs_f64() * s.restore_rate;
        (s.available + restored).min(s.maximum) - s.reserved
    }

    /// Wait until `cost` fits in the bucket, then reserve it.
    pub async fn acquire(&self, cost: f64) -> Reservation {
        if let Some(sh) = &self.shared {
            loop {
                match Self::reserve_shared(sh, cost).await {
                    Ok(None) => return Reservation { cost, shared: true },
                    Ok(Some(wait)) => tokio::time::sleep(wait).await,
                    Err(e) => {
                        tracing::warn!(error = %e, shop = %sh.shop, "shared Shopify budget unavailable; pacing on this process's view");
                        break;
                    }
                }
            }
        }
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                // A request dearer than the whole bucket can never fit: send it when the
                // bucket is full and let the server decide.
                let need = cost.min(s.maximum);
                let have = Self::estimate(&s, Instant::now());
                if have >= need {
                    s.reserved += cost;
                    return Reservation { cost, shared: false };
                }
                Duration::from_secs_f64(((need - have) / s.restore_rate.max(0.001)).min(60.0))
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// A request ended: release its reservation and take the server's view of the bucket;
    /// `charged` is what the server kept of it (its actual cost), when it said.
    pub async fn settle(
        &self,
        r: Reservation,
        status: Option<ThrottleStatus>,
        charged: Option<f64>,
    ) {
        if let (true, Some(sh)) = (r.shared, &self.shared) {
            if let Err(e) = Self::settle_shared(sh, r.cost, status, charged).await {
                // The reservation lapses with its lease.
                tracing::warn!(error = %e, shop = %sh.shop, "could not settle a shared Shopify budget reservation");
            }
            if status.is_none() {
                return;
            }
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !r.shared {
            s.reserved = (s.reserved - r.cost).max(0.0);
        }
        if let Some(t) = status {
            s.available = t.currently_available;
            s.at = Instant::now();
            s.maximum = t.maximum_available.max(1.0);
            s.restore_rate = t.restore_rate.max(0.001);
        }
    }

    /// Points available now, as far as this process knows.
    pub fn available(&self) -> f64 {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Self::estimate(&s, Instant::now())
    }
}
