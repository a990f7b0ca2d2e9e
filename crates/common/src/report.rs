//! What a run reports: one type from the worker through the run log to the API.
//!
//! A sync task reports counters and per-record errors (the record, the reason, whether a later
//! retry may help) and succeeds; one bad record never fails a run. A run that cannot go on
//! fails with a [`RunFailure`]: its message, causes, and whether retrying may help.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many per-record errors a run keeps in the run log (the count is kept whole).
pub const RECORD_ERRORS_KEPT: usize = 100;

/// One record a run could not process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// The record, as a user finds it: `order #1001 (gid://shopify/Order/42)`, `SKU X-1`.
    pub record: String,
    /// Stored as `message` by older releases.
    #[serde(alias = "message")]
    pub reason: String,
    /// Whether running again may help without anyone changing anything (a timeout, a lock),
    /// as opposed to data someone must fix (an unmapped SKU).
    #[serde(default)]
    pub retryable: bool,
}

/// The counters and per-record errors of a successful run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    #[serde(default)]
    pub counters: BTreeMap<String, i64>,
    /// All per-record errors, including those not kept in `errors`.
    #[serde(default)]
    pub record_errors: u64,
    /// The first [`RECORD_ERRORS_KEPT`].
    #[serde(default)]
    pub errors: Vec<RecordError>,
}

impl RunReport {
    /// Add to a counter.
    pub fn count(&mut self, name: &str, by: i64) {
        *self.counters.entry(name.to_owned()).or_default() += by;
    }

    /// Record a per-record error (kept if fewer than [`RECORD_ERRORS_KEPT`] are).
    pub fn record_error(&mut self, e: RecordError) {
        self.record_errors += 1;
        if self.errors.len() < RECORD_ERRORS_KEPT {
            self.errors.push(e);
        }
    }
}

/// Why a run failed: the message, the chain of causes below it, and whether retrying may
/// help (false: bad configuration, an unknown shop; the job queue then skips retries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    pub message: String,
    #[serde(default)]
    pub causes: Vec<String>,
    #[serde(default = "yes")]
    pub retryable: bool,
}

fn yes() -> bool {
    true
}

impl RunFailure {
    /// A retryable failure without causes (a lost worker, a timeout, a cancel).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), causes: Vec::new(), retryable: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_errors_and_counts_all() {
        let mut r = RunReport::default();
        for i in 0..150 {
            r.record_error(RecordError {
                record: format!("order {i}"),
                reason: "no ERP item".into(),
                retryable: false,
            });
        }
        r.count("imported", 3);
        r.count("imported", 2);
        assert_eq!(r.record_errors, 150);
        assert_eq!(r.errors.len(), RECORD_ERRORS_KEPT);
        assert_eq!(r.counters["imported"], 5);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<RunReport>(&json).unwrap(), r);
        // Older run log rows: errors without `retryable`.
        let old: Vec<RecordError> =
            serde_json::from_str(r#"[{"record":"x","reason":"y"}]"#).unwrap();
        assert!(!old[0].retryable);
    }
}
