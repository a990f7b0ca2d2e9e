//! Shopify's leaky bucket (FACTS §1): one per shop, refilled continuously at the plan's restore
//! rate up to its size; a request needs its requested cost available, which is deducted, and
//! the difference to its actual cost is refunded after execution.

use crate::clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub maximum: f64,
    pub restore_rate: f64,
}

impl Limits {
    /// Basic / Grow / Shopify plans.
    pub const STANDARD: Limits = Limits { maximum: 2_000.0, restore_rate: 100.0 };
    pub const ADVANCED: Limits = Limits { maximum: 4_000.0, restore_rate: 200.0 };
    pub const PLUS: Limits = Limits { maximum: 20_000.0, restore_rate: 1_000.0 };

    pub fn for_plan(plan: &str) -> Option<Limits> {
        match plan.to_ascii_lowercase().as_str() {
            "standard" | "basic" | "grow" | "shopify" => Some(Self::STANDARD),
            "advanced" => Some(Self::ADVANCED),
            "plus" => Some(Self::PLUS),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct Bucket {
    pub limits: Limits,
    available: f64,
    at: f64,
}

/// What the response reports in `extensions.cost.throttleStatus`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

impl Bucket {
    pub fn new(limits: Limits, clock: &Clock) -> Self {
        Self { limits, available: limits.maximum, at: clock.now_secs() }
    }

    fn refill(&mut self, clock: &Clock) {
        let now = clock.now_secs();
        let gained = (now - self.at).max(0.0) * self.limits.restore_rate;
        self.available = (self.available + gained).min(self.limits.maximum);
        self.at = now;
    }

    /// Deduct `cost` if the bucket holds it (true); otherwise leave it untouched (false).
    pub fn take(&mut self, cost: f64, clock: &Clock) -> bool {
        self.refill(clock);
        if self.available + 1e-9 < cost {
            return false;
        }
        self.available -= cost;
        true
    }

    pub fn refund(&mut self, amount: f64, clock: &Clock) {
        self.refill(clock);
        self.available = (self.available + amount.max(0.0)).min(self.limits.maximum);
    }

    pub fn status(&mut self, clock: &Clock) -> ThrottleStatus {
        self.refill(clock);
        ThrottleStatus {
            maximum_available: self.limits.maximum,
            currently_available: self.available.floor(),
            // Per real second: with a faster clock the bucket refills faster, and clients pace
            // by what they are told.
            restore_rate: self.limits.restore_rate * clock.scale(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deducts_refunds_and_refills_at_the_restore_rate() {
        let clock = Clock::manual();
        let mut b = Bucket::new(Limits::STANDARD, &clock);
        assert!(b.take(1_500.0, &clock));
        assert!(!b.take(600.0, &clock), "500 left cannot cover 600");
        b.refund(100.0, &clock);
        assert_eq!(b.status(&clock).currently_available, 600.0);
        clock.advance(2.0);
        assert_eq!(b.status(&clock).currently_available, 800.0);
        clock.advance(100.0);
        assert_eq!(b.status(&clock).currently_available, 2_000.0, "capped at the bucket size");
    }
}
