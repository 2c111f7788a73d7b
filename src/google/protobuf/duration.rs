//! `google.protobuf.Duration`: `"3.5s"` text, range checks, conversions.

use std::fmt;
use std::str::FromStr;

use super::Duration;
use super::timestamp::{Text, parse_fraction};

/// Why a duration is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text is not a duration such as `"3.5s"`.
    #[error(
        "\"{0}\" is not a duration such as \"3.5s\" (seconds with up to nine fraction digits and a trailing \"s\")"
    )]
    Syntax(String),
    /// The duration is longer than 10,000 years either way, or its nanos do
    /// not fit: they must be within ±999,999,999 and share the sign of the
    /// seconds.
    #[error(
        "duration {seconds}s {nanos}ns is outside ±315576000000s or has nanos of the wrong sign or size"
    )]
    OutOfRange {
        /// Whole seconds.
        seconds: i64,
        /// Nanoseconds.
        nanos: i32,
    },
}

impl Duration {
    /// The largest number of seconds a valid duration has (10,000 years).
    pub const MAX_SECONDS: i64 = 315_576_000_000;
    /// The smallest number of seconds a valid duration has.
    pub const MIN_SECONDS: i64 = -315_576_000_000;

    /// A duration, checked to be in range and normalized.
    ///
    /// ```
    /// use cloud_report_proto::google::protobuf::Duration;
    /// assert!(Duration::new(3, 500_000_000).is_ok());
    /// assert!(Duration::new(3, -5).is_err());
    /// assert!(Duration::new(Duration::MAX_SECONDS + 1, 0).is_err());
    /// ```
    pub fn new(seconds: i64, nanos: i32) -> Result<Self, DurationError> {
        let d = Self {
            seconds,
            nanos,
            ..Default::default()
        };
        d.check()?;
        Ok(d)
    }

    /// Checks the range and that seconds and nanos do not disagree in sign.
    pub fn check(&self) -> Result<(), DurationError> {
        let in_range = (Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&self.seconds)
            && (-999_999_999..=999_999_999).contains(&self.nanos)
            && !(self.seconds > 0 && self.nanos < 0)
            && !(self.seconds < 0 && self.nanos > 0);
        if in_range {
            Ok(())
        } else {
            Err(DurationError::OutOfRange {
                seconds: self.seconds,
                nanos: self.nanos,
            })
        }
    }
}

impl TryFrom<std::time::Duration> for Duration {
    type Error = DurationError;

    fn try_from(d: std::time::Duration) -> Result<Self, DurationError> {
        let seconds = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let nanos = i32::try_from(d.subsec_nanos()).unwrap_or(0);
        Self::new(seconds, nanos)
    }
}

impl TryFrom<Duration> for std::time::Duration {
    type Error = DurationError;

    /// Fails for invalid and for negative durations.
    fn try_from(d: Duration) -> Result<Self, DurationError> {
        d.check()?;
        match (u64::try_from(d.seconds), u32::try_from(d.nanos)) {
            (Ok(s), Ok(n)) => Ok(Self::new(s, n)),
            _ => Err(DurationError::OutOfRange {
                seconds: d.seconds,
                nanos: d.nanos,
            }),
        }
    }
}

/// Canonical text: seconds with 0, 3, 6 or 9 fraction digits and an `s`.
///
/// ```
/// use cloud_report_proto::google::protobuf::Duration;
/// assert_eq!(Duration { seconds: 3, nanos: 500_000_000, ..Default::default() }.to_string(), "3.500s");
/// assert_eq!(Duration { seconds: 0, nanos: -1, ..Default::default() }.to_string(), "-0.000000001s");
/// ```
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check() {
            Ok(()) => f.write_str(self.canonical_text().as_str()),
            Err(e) => write!(f, "<{e}>"),
        }
    }
}

impl Duration {
    /// The canonical text of a checked duration.
    pub(super) fn canonical_text(&self) -> Text {
        let mut text = Text::new();
        if self.seconds < 0 || self.nanos < 0 {
            text.push(b'-');
        }
        text.push_number(self.seconds.unsigned_abs());
        text.push_fraction(self.nanos.unsigned_abs());
        text.push(b's');
        text
    }
}

/// Parses `[-]seconds[.fraction]s` with 1 to 9 fraction digits.
///
/// ```
/// use cloud_report_proto::google::protobuf::Duration;
/// let d: Duration = "3.5s".parse()?;
/// assert_eq!(d, Duration { seconds: 3, nanos: 500_000_000, ..Default::default() });
/// # Ok::<(), cloud_report_proto::google::protobuf::DurationError>(())
/// ```
impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, DurationError> {
        let syntax = || DurationError::Syntax(s.to_owned());
        let body = s.strip_suffix('s').ok_or_else(syntax)?;
        let (negative, body) = match body.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let (whole, fraction) = match body.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (body, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        // More digits than any valid duration has is out of range, not an
        // overflow.
        let seconds: i64 = if whole.len() > 12 {
            i64::MAX
        } else {
            whole.parse().map_err(|_| syntax())?
        };
        let nanos = match fraction {
            Some(f) => {
                i32::try_from(parse_fraction(f).ok_or_else(syntax)?).map_err(|_| syntax())?
            }
            None => 0,
        };
        if negative {
            Self::new(-seconds, -nanos)
        } else {
            Self::new(seconds, nanos)
        }
    }
}

json_as_text!(Duration, "a duration string such as \"3.5s\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strings() {
        let cases = [
            (0, 0, "0s"),
            (3, 500_000_000, "3.500s"),
            (1, 0, "1s"),
            (-1, 0, "-1s"),
            (0, -500_000_000, "-0.500s"),
            (-3, -1_000, "-3.000001s"),
            (0, 1, "0.000000001s"),
            (
                Duration::MAX_SECONDS,
                999_999_999,
                "315576000000.999999999s",
            ),
            (
                Duration::MIN_SECONDS,
                -999_999_999,
                "-315576000000.999999999s",
            ),
        ];
        for (seconds, nanos, text) in cases {
            let d = Duration {
                seconds,
                nanos,
                ..Default::default()
            };
            assert_eq!(d.to_string(), text);
            assert_eq!(text.parse::<Duration>(), Ok(d), "{text}");
        }
        assert_eq!(
            "3.5s".parse::<Duration>(),
            Ok(Duration {
                seconds: 3,
                nanos: 500_000_000,
                ..Default::default()
            })
        );
    }

    #[test]
    fn rejections() {
        for bad in [
            "",
            "s",
            "3",
            "3.s",
            ".5s",
            "+3s",
            "3.5 s",
            "3.1234567891s",
            "--1s",
            "1e3s",
            "315576000001s",
            "99999999999999999999999s",
            "-315576000001s",
        ] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} was accepted");
        }
        assert!(Duration::new(1, -1).is_err());
        assert!(Duration::new(-1, 1).is_err());
        assert!(Duration::new(0, 1_000_000_000).is_err());
    }
}
