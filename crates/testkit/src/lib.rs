//! Waiting in tests: retry a check until it holds or a timeout ends, instead of sleeping for a
//! fixed time and hoping the thing waited for has happened by then.
//!
//! A dev-only crate: the end-to-end harness and the Shopify client and simulator tests use it.
//! Polls start 20 ms apart and back off to 250 ms. Time is tokio's, so a test with paused time
//! runs its timeouts without waiting for them.

use anyhow::{Result, anyhow};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

const FIRST_DELAY: Duration = Duration::from_millis(20);
const MAX_DELAY: Duration = Duration::from_millis(250);

/// Poll `check` until it returns `Ok`, or fail with its last error after `timeout`.
///
/// `check` runs at least once, and once more after the timeout has passed if the timeout ends
/// during a pause. Let its error say what is still missing (the state it saw): that is the
/// message a timed-out test fails with.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let start = Instant::now();
    let mut delay = FIRST_DELAY;
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() >= timeout => {
                return Err(e.context(format!("still failing after {timeout:?}")));
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
        }
    }
}

/// Poll an in-memory condition (a receiver's list, a counter) until it holds, or fail after
/// `timeout` with `what` as the error.
pub async fn until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    eventually(timeout, || {
        let held = check();
        async move { if held { Ok(()) } else { Err(anyhow!("{what}")) } }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn returns_the_value_once_the_check_passes() {
        let calls = Cell::new(0);
        let v = eventually(Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n < 4 { Err(anyhow!("only {n}")) } else { Ok(n * 10) } }
        })
        .await
        .unwrap();
        assert_eq!((v, calls.get()), (40, 4));
    }

    #[tokio::test]
    async fn a_check_runs_once_even_with_no_time_left() {
        let calls = Cell::new(0);
        let v = eventually(Duration::ZERO, || {
            calls.set(calls.get() + 1);
            async { Ok("at once") }
        })
        .await
        .unwrap();
        assert_eq!((v, calls.get()), ("at once", 1));
        let e = eventually(Duration::ZERO, || async { Err::<(), _>(anyhow!("not yet")) })
            .await
            .unwrap_err();
        assert_eq!(format!("{e:#}"), "still failing after 0ns: not yet");
    }

    #[tokio::test]
    async fn fails_after_the_timeout_with_the_last_error_and_context() {
        let calls = Cell::new(0);
        let start = Instant::now();
        let e = eventually(Duration::from_millis(300), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { Err::<(), _>(anyhow!("attempt {n} failed")) }
        })
        .await
        .unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(300), "gave up early");
        assert_eq!(e.to_string(), "still failing after 300ms");
        assert_eq!(e.root_cause().to_string(), format!("attempt {} failed", calls.get()));
    }

    #[tokio::test]
    async fn backs_off_from_20_ms_to_250_ms() {
        let mut at = Vec::new();
        let start = Instant::now();
        let _ = eventually(Duration::from_millis(600), || {
            at.push(start.elapsed());
            async { Err::<(), _>(anyhow!("no")) }
        })
        .await;
        // A sleep never ends early: each pause is at least the planned one.
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        let planned = [20, 40, 80, 160, 250].map(Duration::from_millis);
        assert!(gaps.len() >= planned.len(), "{gaps:?}");
        for (gap, min) in gaps.iter().zip(planned) {
            assert!(*gap >= min, "{gaps:?}");
        }
    }

    #[tokio::test]
    async fn until_polls_a_condition_and_names_what_never_held() {
        let n = Cell::new(0);
        until(Duration::from_secs(5), "three calls", || {
            n.set(n.get() + 1);
            n.get() == 3
        })
        .await
        .unwrap();
        assert_eq!(n.get(), 3);
        let e = until(Duration::from_millis(50), "never", || false).await.unwrap_err();
        assert_eq!(format!("{e:#}"), "still failing after 50ms: never");
    }
}
