//! The simulator's clock: real time, optionally running faster (benchmarks replay minutes of
//! restore in seconds), or moved by hand in tests.

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub enum Clock {
    Real { start: Instant, scale: f64 },
    Manual(Mutex<f64>),
}

impl Clock {
    pub fn real(scale: f64) -> Self {
        Clock::Real { start: Instant::now(), scale: scale.max(0.001) }
    }

    pub fn manual() -> Self {
        Clock::Manual(Mutex::new(0.0))
    }

    /// Simulated seconds since start.
    pub fn now_secs(&self) -> f64 {
        match self {
            Clock::Real { start, scale } => start.elapsed().as_secs_f64() * scale,
            Clock::Manual(t) => t.lock().map(|t| *t).unwrap_or_default(),
        }
    }

    pub fn advance(&self, secs: f64) {
        if let Clock::Manual(t) = self
            && let Ok(mut t) = t.lock()
        {
            *t += secs;
        }
    }

    pub fn scale(&self) -> f64 {
        match self {
            Clock::Real { scale, .. } => *scale,
            Clock::Manual(_) => 1.0,
        }
    }
}
