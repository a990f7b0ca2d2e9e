//! Cost-aware pacing. Each shop has one [`Budget`], shared by every job talking to that shop
//! in this process: it mirrors Shopify's leaky bucket from the `throttleStatus` of the latest
//! response, adds what has been restored since, subtracts what requests in flight have
//! reserved, and makes a caller wait until its request's cost fits, so the server never has
//! to answer THROTTLED.

use std::sync::Mutex;
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
}

/// Cost held for a request in flight; give it back with [`Budget::settle`].
#[derive(Debug)]
#[must_use]
pub struct Reservation {
    pub cost: f64,
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
        }
    }

    fn estimate(s: &State, now: Instant) -> f64 {
        let restored = now.saturating_duration_since(s.at).as_secs_f64() * s.restore_rate;
        (s.available + restored).min(s.maximum) - s.reserved
    }

    /// Wait until `cost` fits in the bucket, then reserve it.
    pub async fn acquire(&self, cost: f64) -> Reservation {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                // A request dearer than the whole bucket can never fit: send it when the
                // bucket is full and let the server decide.
                let need = cost.min(s.maximum);
                let have = Self::estimate(&s, Instant::now());
                if have >= need {
                    s.reserved += cost;
                    return Reservation { cost };
                }
                Duration::from_secs_f64(((need - have) / s.restore_rate.max(0.001)).min(60.0))
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// A request ended: release its reservation and take the server's view of the bucket.
    pub fn settle(&self, r: Reservation, status: Option<ThrottleStatus>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.reserved = (s.reserved - r.cost).max(0.0);
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
