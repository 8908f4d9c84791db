//! Time as a parameter: the service reads the clock only through [`Clock`], so tests can move it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime};

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "the one place that reads the wall clock")]
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

/// A clock that follows the real one, shifted by an offset that tests can advance.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_micros: AtomicI64,
    frozen: Mutex<Option<OffsetDateTime>>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves "now" forward by `by`.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.whole_microseconds()).unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Stops the clock at its current reading (later `advance` calls still move it).
    pub fn freeze(&self) {
        let now = self.now();
        if let Ok(mut frozen) = self.frozen.lock() {
            *frozen = Some(now);
            self.offset_micros.store(0, Ordering::SeqCst);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let base = self.frozen.lock().ok().and_then(|f| *f).unwrap_or_else(|| SystemClock.now());
        base + Duration::microseconds(self.offset_micros.load(Ordering::SeqCst))
    }
}

/// Drops sub-microsecond precision, which neither the database nor the audit format keeps.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Microseconds since the Unix epoch: how times are stored.
pub fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The inverse of [`to_micros`].
pub fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 in UTC with exactly six fractional digits, as the API and the audit hash use.
pub fn rfc3339_micros(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Serde helpers that write times as [`rfc3339_micros`].
pub mod serde_micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339_micros(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }

    /// The same for optional times.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;
        use time::format_description::well_known::Rfc3339;

        pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::rfc3339_micros(*t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
            let text = Option::<String>::deserialize(d)?;
            text.map(|t| OffsetDateTime::parse(&t, &Rfc3339).map_err(serde::de::Error::custom)).transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_forward_when_advanced() {
        let clock = ManualClock::new();
        clock.freeze();
        let before = clock.now();
        clock.advance(Duration::hours(9));
        assert_eq!(clock.now() - before, Duration::hours(9));
    }

    #[test]
    fn micros_round_trip_and_format_with_six_digits() {
        let t = truncate_to_micros(SystemClock.now());
        assert_eq!(from_micros(to_micros(t)), t);
        let s = rfc3339_micros(from_micros(1_700_000_000_000_001));
        assert_eq!(s, "2023-11-14T22:13:20.000001Z");
    }
}
