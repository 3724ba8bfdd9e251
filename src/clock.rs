//! The time Berth reads for its own rules: session idle and absolute timeouts, the
//! impersonation limit, the sign-in throttle's windows and delays. [`Clock::real`] is the
//! system's clock; a test's [`Clock::adjustable`] can be moved forward, so a test outlives a
//! timeout by saying so rather than by sleeping through it. Held in `AppState`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// How far (in microseconds) an adjustable clock runs ahead of the system's; `None` for
    /// the real one.
    ahead: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock (the default).
    pub fn real() -> Self {
        Self::default()
    }

    /// The system's clock, until [`Clock::advance`] moves it on (for tests). Its clones
    /// share the adjustment.
    pub fn adjustable() -> Self {
        Self {
            ahead: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        match &self.ahead {
            Some(ahead) => now + time::Duration::microseconds(ahead.load(Ordering::SeqCst)),
            None => now,
        }
    }

    /// [`Clock::now`] in Unix seconds, as sessions keep their times.
    pub fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// Moves an adjustable clock `by` forward; the real one cannot be moved (a panic).
    pub fn advance(&self, by: std::time::Duration) {
        let ahead = self
            .ahead
            .as_ref()
            .expect("only an adjustable clock (Clock::adjustable) can be advanced");
        ahead.fetch_add(i64::try_from(by.as_micros()).unwrap_or(i64::MAX), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_forward_with_its_clones() {
        let clock = Clock::adjustable();
        let copy = clock.clone();
        let before = OffsetDateTime::now_utc();
        clock.advance(std::time::Duration::from_secs(3600));
        let later = copy.now();
        assert!(later - before >= time::Duration::hours(1), "{later} vs {before}");
        assert!(later - before < time::Duration::hours(1) + time::Duration::minutes(1));
        let real = Clock::real().now();
        assert!(real < later);
    }

    #[test]
    #[should_panic(expected = "only an adjustable clock")]
    fn the_real_clock_cannot_be_moved() {
        Clock::real().advance(std::time::Duration::from_secs(1));
    }
}
