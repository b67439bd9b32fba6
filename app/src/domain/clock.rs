//! Time comes from the app's clock, never from SQL `now()`, so tests can
//! move it (step-up windows, invite expiry, billing periods).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};

#[derive(Clone, Default, Debug)]
pub struct Clock {
    /// Offset added to the system time, in microseconds (tests only).
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// Microsecond precision: what PostgreSQL keeps, so a value read back
    /// equals the value written on both backends.
    pub fn now(&self) -> DateTime<Utc> {
        let offset = Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        (Utc::now() + offset).trunc_subsecs(6)
    }

    pub fn advance(&self, by: Duration) {
        self.offset_micros.fetch_add(by.num_microseconds().unwrap_or(0), Ordering::Relaxed);
    }
}

/// ISO 8601 UTC with a `Z`, as every answer shows time.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
