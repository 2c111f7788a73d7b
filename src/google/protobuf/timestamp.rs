//! `google.protobuf.Timestamp`: RFC 3339 text, range checks, conversions.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use super::Timestamp;

/// Why a timestamp is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not an RFC 3339 timestamp.
    #[error("\"{0}\" is not an RFC 3339 timestamp such as \"2014-10-02T15:01:23.045123456Z\"")]
    Syntax(String),
    /// The instant lies outside 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z.
    #[error(
        "timestamp {seconds}s (+{nanos}ns) since the epoch is outside 0001-01-01T00:00:00Z..=9999-12-31T23:59:59.999999999Z"
    )]
    OutOfRange {
        /// Seconds since the Unix epoch.
        seconds: i64,
        /// Nanoseconds within the second.
        nanos: i32,
    },
    /// The nanoseconds are outside 0..=999,999,999.
    #[error("timestamp nanos {0} are outside 0..=999999999")]
    Nanos(i32),
}

const NANOS_PER_SECOND: i32 = 1_000_000_000;

impl Timestamp {
    /// Seconds of 0001-01-01T00:00:00Z, the earliest valid timestamp.
    pub const MIN_SECONDS: i64 = -62_135_596_800;
    /// Seconds of 9999-12-31T23:59:59Z, the last second of the valid range.
    pub const MAX_SECONDS: i64 = 253_402_300_799;
    /// The earliest valid timestamp.
    pub const MIN: Self = Self {
        seconds: Self::MIN_SECONDS,
        nanos: 0,
        unknown_fields: crate::wire::UnknownFields::new(),
    };
    /// The latest valid timestamp.
    pub const MAX: Self = Self {
        seconds: Self::MAX_SECONDS,
        nanos: NANOS_PER_SECOND - 1,
        unknown_fields: crate::wire::UnknownFields::new(),
    };

    /// A timestamp, checked to be in range.
    ///
    /// ```
    /// use cloud_report_proto::google::protobuf::Timestamp;
    /// assert!(Timestamp::new(0, 0).is_ok());
    /// assert!(Timestamp::new(Timestamp::MAX_SECONDS + 1, 0).is_err());
    /// assert!(Timestamp::new(0, -1).is_err());
    /// ```
    pub fn new(seconds: i64, nanos: i32) -> Result<Self, TimestampError> {
        let ts = Self {
            seconds,
            nanos,
            ..Default::default()
        };
        ts.check()?;
        Ok(ts)
    }

    /// Checks that the timestamp is in range and its nanos are normalized.
    pub fn check(&self) -> Result<(), TimestampError> {
        if !(0..NANOS_PER_SECOND).contains(&self.nanos) {
            return Err(TimestampError::Nanos(self.nanos));
        }
        if !(Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&self.seconds) {
            return Err(TimestampError::OutOfRange {
                seconds: self.seconds,
                nanos: self.nanos,
            });
        }
        Ok(())
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => (
                i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                i32::try_from(after.subsec_nanos()).unwrap_or(0),
            ),
            Err(before) => {
                let d = before.duration();
                let seconds = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match i32::try_from(d.subsec_nanos()).unwrap_or(0) {
                    0 => (seconds, 0),
                    n => (seconds - 1, NANOS_PER_SECOND - n),
                }
            }
        };
        Self {
            seconds,
            nanos,
            ..Default::default()
        }
    }
}

impl TryFrom<Timestamp> for SystemTime {
    type Error = TimestampError;

    fn try_from(ts: Timestamp) -> Result<Self, TimestampError> {
        ts.check()?;
        let nanos = StdDuration::from_nanos(u64::from(ts.nanos.unsigned_abs()));
        let secs = StdDuration::from_secs(ts.seconds.unsigned_abs());
        Ok(if ts.seconds >= 0 {
            UNIX_EPOCH + secs + nanos
        } else {
            UNIX_EPOCH - secs + nanos
        })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Canonical text of a Timestamp or Duration, built on the stack without
/// going through `fmt` (JSON writing spends much of its time here).
pub(super) struct Text {
    buf: [u8; 32],
    len: usize,
}

impl Text {
    pub(super) fn new() -> Self {
        Self {
            buf: [0; 32],
            len: 0,
        }
    }

    pub(super) fn push(&mut self, byte: u8) {
        // The longest text (a negative 12-digit duration with 9 fraction
        // digits) is 24 bytes; `get_mut` keeps an impossible overflow from
        // panicking.
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Writes the last `width` decimal digits of `value`, zero-padded.
    pub(super) fn push_padded(&mut self, value: u64, width: u32) {
        let width = width as usize;
        let Some(digits) = self.buf.get_mut(self.len..self.len + width) else {
            return;
        };
        let mut value = value;
        for digit in digits.iter_mut().rev() {
            // A digit is below 10, so the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            {
                *digit = b'0' + (value % 10) as u8;
            }
            value /= 10;
        }
        self.len += width;
    }

    /// Writes `value` in decimal, without padding.
    pub(super) fn push_number(&mut self, value: u64) {
        let digits = value.checked_ilog10().unwrap_or(0) + 1;
        self.push_padded(value, digits);
    }

    /// Writes the fraction of a second with 0, 3, 6 or 9 digits, as canonical
    /// JSON does for Timestamp and Duration.
    pub(super) fn push_fraction(&mut self, nanos: u32) {
        if nanos == 0 {
            return;
        }
        self.push(b'.');
        let nanos = u64::from(nanos);
        if nanos.is_multiple_of(1_000_000) {
            self.push_padded(nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            self.push_padded(nanos / 1_000, 6);
        } else {
            self.push_padded(nanos, 9);
        }
    }

    pub(super) fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever pushed.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The text's bytes: ASCII digits and punctuation.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Parses 1 to 9 fraction digits into nanoseconds.
pub(super) fn parse_fraction(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let value = decimal(digits.as_bytes())?;
    Some(value * 10u32.pow(9 - u32::try_from(digits.len()).ok()?))
}

/// The value of at most nine ASCII decimal digits, or `None` if a byte is
/// not a digit.
pub(super) fn decimal(digits: &[u8]) -> Option<u32> {
    debug_assert!(digits.len() <= 9, "nine digits always fit a u32");
    digits.iter().try_fold(0u32, |value, &d| {
        d.is_ascii_digit().then(|| value * 10 + u32::from(d - b'0'))
    })
}

/// Canonical RFC 3339 text in UTC, `Z`-terminated, with 0, 3, 6 or 9
/// fraction digits. An out-of-range timestamp is written as the error says;
/// use [`Timestamp::check`] first where that matters (JSON output does).
///
/// ```
/// use cloud_report_proto::google::protobuf::Timestamp;
/// let ts = Timestamp { seconds: 1_412_262_083, nanos: 45_000_000, ..Default::default() };
/// assert_eq!(ts.to_string(), "2014-10-02T15:01:23.045Z");
/// ```
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check() {
            Ok(()) => f.write_str(self.canonical_text().as_str()),
            Err(e) => write!(f, "<{e}>"),
        }
    }
}

impl Timestamp {
    /// The canonical text of a checked timestamp.
    pub(super) fn canonical_text(&self) -> Text {
        let days = self.seconds.div_euclid(86_400);
        let secs = self.seconds.rem_euclid(86_400).unsigned_abs();
        let (year, month, day) = civil_from_days(days);
        let mut text = Text::new();
        text.push_padded(year.unsigned_abs(), 4);
        text.push(b'-');
        text.push_padded(month.unsigned_abs(), 2);
        text.push(b'-');
        text.push_padded(day.unsigned_abs(), 2);
        text.push(b'T');
        text.push_padded(secs / 3600, 2);
        text.push(b':');
        text.push_padded(secs / 60 % 60, 2);
        text.push(b':');
        text.push_padded(secs % 60, 2);
        text.push_fraction(self.nanos.unsigned_abs());
        text.push(b'Z');
        text
    }
}

/// Parses RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with 1 to 9
/// fraction digits; the result is normalized to UTC and range-checked.
///
/// ```
/// use cloud_report_proto::google::protobuf::Timestamp;
/// let ts: Timestamp = "2014-10-02T17:01:23.045123456+02:00".parse()?;
/// assert_eq!(ts.to_string(), "2014-10-02T15:01:23.045123456Z");
/// # Ok::<(), cloud_report_proto::google::protobuf::TimestampError>(())
/// ```
impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, TimestampError> {
        let syntax = || TimestampError::Syntax(s.to_owned());
        let b = s.as_bytes();
        let num = |range: std::ops::Range<usize>| b.get(range).and_then(decimal).map(i64::from);
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(syntax());
        }
        let (year, month, day) = (
            num(0..4).ok_or_else(syntax)?,
            num(5..7).ok_or_else(syntax)?,
            num(8..10).ok_or_else(syntax)?,
        );
        let (hour, minute, second) = (
            num(11..13).ok_or_else(syntax)?,
            num(14..16).ok_or_else(syntax)?,
            num(17..19).ok_or_else(syntax)?,
        );
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(syntax());
        }
        let mut rest = &s[19..];
        let mut nanos = 0;
        if let Some(fraction) = rest.strip_prefix('.') {
            let end = fraction
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(fraction.len());
            nanos = parse_fraction(&fraction[..end]).ok_or_else(syntax)?;
            rest = &fraction[end..];
        }
        let offset = match rest.as_bytes() {
            [b'Z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(syntax());
                }
                let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
                let (h, m) = (h1 * 10 + h2, m1 * 10 + m2);
                if h > 23 || m > 59 {
                    return Err(syntax());
                }
                let offset = h * 3600 + m * 60;
                if *sign == b'-' { -offset } else { offset }
            }
            _ => return Err(syntax()),
        };
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
                - offset;
        Self::new(seconds, i32::try_from(nanos).map_err(|_| syntax())?)
    }
}

json_as_text!(Timestamp, "an RFC 3339 timestamp string");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strings() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00Z"),
            (1_412_262_083, 0, "2014-10-02T15:01:23Z"),
            (1_412_262_083, 45_123_456, "2014-10-02T15:01:23.045123456Z"),
            (1_412_262_083, 45_000_000, "2014-10-02T15:01:23.045Z"),
            (1_412_262_083, 45_123_000, "2014-10-02T15:01:23.045123Z"),
            (-1, 999_999_999, "1969-12-31T23:59:59.999999999Z"),
            (Timestamp::MIN_SECONDS, 0, "0001-01-01T00:00:00Z"),
            (
                Timestamp::MAX_SECONDS,
                999_999_999,
                "9999-12-31T23:59:59.999999999Z",
            ),
            (951_782_400, 0, "2000-02-29T00:00:00Z"),
        ];
        for (seconds, nanos, text) in cases {
            let ts = Timestamp {
                seconds,
                nanos,
                ..Default::default()
            };
            assert_eq!(ts.to_string(), text);
            assert_eq!(text.parse::<Timestamp>(), Ok(ts), "{text}");
        }
    }

    #[test]
    fn offsets_and_rejections() {
        let ts: Timestamp = "1970-01-01T01:00:00+01:00".parse().unwrap();
        assert_eq!(
            ts,
            Timestamp {
                seconds: 0,
                nanos: 0,
                ..Default::default()
            }
        );
        let ts: Timestamp = "1969-12-31T19:00:00.5-05:00".parse().unwrap();
        assert_eq!(
            ts,
            Timestamp {
                seconds: 0,
                nanos: 500_000_000,
                ..Default::default()
            }
        );
        for bad in [
            "",
            "2014-10-02",
            "2014-10-02T15:01:23",
            "2014-10-02 15:01:23Z",
            "2014-13-02T15:01:23Z",
            "2014-02-30T15:01:23Z",
            "2001-02-29T00:00:00Z",
            "2014-10-02T24:00:00Z",
            "2014-10-02T15:01:60Z",
            "2014-10-02T15:01:23.Z",
            "2014-10-02T15:01:23.0123456789Z",
            "2014-10-02T15:01:23+0100",
            "+2014-10-02T15:01:23Z",
            "0000-12-31T23:59:59Z",
            "0001-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "2014-10-02T15:01:23Z ",
            // The JSON mapping's letters are upper case.
            "2014-10-02t15:01:23Z",
            "2014-10-02T15:01:23z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn system_time_round_trip() {
        let before_epoch = UNIX_EPOCH - StdDuration::from_millis(1500);
        let ts = Timestamp::from(before_epoch);
        assert_eq!(
            ts,
            Timestamp {
                seconds: -2,
                nanos: 500_000_000,
                ..Default::default()
            }
        );
        assert_eq!(SystemTime::try_from(ts), Ok(before_epoch));
    }
}
