//! The time the emulator counts quota windows by: the system's, or one a
//! test sets and moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the emulator reads the time: the system clock (the default) or a
/// [`ManualClock`] that only moves when told.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use cloud_report_proto::emulator::{Clock, Config, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// let config = Config::default().clock(clock.clone());
/// // ... use up a per-minute quota, then open the next window:
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(Clock::from(clock).unix_seconds(), 1_700_000_060);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<ManualClock>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match &self.0 {
            Some(manual) => manual.now(),
            None => SystemTime::now(),
        }
    }

    /// The manual clock, when it is one.
    pub fn manual(&self) -> Option<&ManualClock> {
        self.0.as_ref()
    }

    /// Whole seconds since the Unix epoch (0 for any time before it).
    pub fn unix_seconds(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

impl From<ManualClock> for Clock {
    fn from(clock: ManualClock) -> Self {
        Self(Some(clock))
    }
}

/// A clock that stands still until [`set`](Self::set) or
/// [`advance`](Self::advance) moves it; clones share one time, so a test
/// keeps one and gives a clone to the emulator.
#[derive(Clone, Debug)]
pub struct ManualClock {
    /// Nanoseconds since the Unix epoch.
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `start` (the epoch when `start` is before it).
    pub fn new(start: SystemTime) -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(nanos_of(start))),
        }
    }

    /// The time it shows.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    /// Shows `time` from now on.
    pub fn set(&self, time: SystemTime) {
        self.nanos.store(nanos_of(time), Ordering::SeqCst);
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // The closure always returns Some, so the update cannot fail.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }
}

/// Nanoseconds since the epoch, saturating (a u64 lasts until 2554).
fn nanos_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
