// SPDX-License-Identifier: MPL-2.0
//! The date rule: a time-of-day timecode read as wall-clock time in a zone becomes an absolute
//! UTC instant (Google Cloud Live Stream API `timecodeConfig`,
//! 001).
//!
//! The rule (§6.1):
//! 1. time of day = the label `hh:mm:ss` (+ the frame fraction, which the caller adds);
//! 2. candidates: that wall-clock time on the local dates today+1, today, today−1, today−2
//!    ("today" in the zone at `now`); a repeated hour (DST overlap) gives two candidates, a
//!    skipped hour (DST gap) gives one, shifted forward by the gap;
//! 3. answer: the latest candidate that is not later than `now`.
//!
//! Instants are `i64` nanoseconds since the Unix epoch. Civil ↔ instant conversion and IANA time
//! zones come from jiff. Internally a wall-clock reading is held as "local seconds": seconds
//! since 1970-01-01T00:00 *on the zone's wall clock*, so local dates are plain day numbers and
//! the zone only matters when local seconds turn into instants.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 24 * 3600;
/// `utcOffset` is limited to ±18 h (Live Stream API `TimecodeConfig`; also RFC 3339 practice).
const MAX_FIXED_OFFSET_SECONDS: i32 = 18 * 3600;

fn saturate_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// A jiff timestamp for `seconds` since the epoch, clamped into jiff's range (±9999 years).
/// Every instant this module handles (`i64` ns, ±292 years, ± a few days) is far inside it, so
/// the clamp only keeps the functions total.
fn timestamp_from_seconds(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap_or(if seconds < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The civil date-time that `local_seconds` names (seconds since 1970-01-01T00:00 on a wall
/// clock).
fn civil_from_local_seconds(local_seconds: i64) -> civil::DateTime {
    Offset::UTC.to_datetime(timestamp_from_seconds(local_seconds))
}

/// Where the time zone of a timecode comes from: `timeZone` (IANA, with DST) or `utcOffset`
/// (fixed) of the Live Stream API, UTC by default.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    Utc,
    /// Seconds east of UTC, constant all year (no DST).
    FixedOffset(i32),
    Iana(IanaZone),
}

/// An IANA time zone with its rules (DST) from the tz database.
#[derive(Debug, Clone, PartialEq)]
pub struct IanaZone {
    name: String,
    time_zone: TimeZone,
}

impl IanaZone {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }
}

/// Why a zone is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneError {
    /// The IANA time zone database has no such id.
    UnknownZone { name: String, reason: String },
    /// A fixed offset beyond ±18 h.
    OffsetOutOfRange { seconds: i64 },
    /// Text that is neither `UTC`, an offset nor an IANA id.
    Syntax(String),
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneError::UnknownZone { name, reason } => write!(
                f,
                "unknown time zone '{name}' ({reason}); use an IANA id such as \
                 'America/Los_Angeles' or 'Europe/London', 'UTC', or a fixed offset such as \
                 '+05:30' or '-28800s'"
            ),
            ZoneError::OffsetOutOfRange { seconds } => write!(
                f,
                "UTC offset of {seconds} s is out of range: it must be between -64800 s and \
                 +64800 s (±18 h)"
            ),
            ZoneError::Syntax(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ZoneError {}

/// How a wall-clock reading in a zone maps to instants (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WallClockInstants {
    /// The usual case: exactly one instant.
    Unique(i64),
    /// The reading was skipped (spring forward). It is shifted forward by the gap, i.e. read
    /// with the offset in force *before* the transition (Python fold=0, java.time, absl "pre",
    /// jiff "compatible"): 02:30 on a 02:00→03:00 day becomes 03:30 of the new offset.
    Skipped { shifted_forward: i64 },
    /// The reading happens twice (fall back): both instants, the earlier one first.
    Repeated { earlier: i64, later: i64 },
}

impl WallClockInstants {
    /// Every instant the reading names (the gap's shifted instant counts as one).
    fn all(self) -> impl Iterator<Item = i64> {
        let (first, second) = match self {
            WallClockInstants::Unique(instant) => (instant, None),
            WallClockInstants::Skipped { shifted_forward } => (shifted_forward, None),
            WallClockInstants::Repeated { earlier, later } => (earlier, Some(later)),
        };
        std::iter::once(first).chain(second)
    }

    /// A single instant for a pinned date: the first occurrence of a repeated reading, the
    /// shifted one of a skipped reading.
    fn first(self) -> i64 {
        match self {
            WallClockInstants::Unique(instant) => instant,
            WallClockInstants::Skipped { shifted_forward } => shifted_forward,
            WallClockInstants::Repeated { earlier, .. } => earlier,
        }
    }
}

impl Zone {
    /// An IANA time zone id (`America/Los_Angeles`); `UTC` is [`Zone::Utc`].
    pub fn iana(name: &str) -> Result<Zone, ZoneError> {
        if name == "UTC" {
            return Ok(Zone::Utc);
        }
        let time_zone = TimeZone::get(name).map_err(|error| ZoneError::UnknownZone {
            name: name.to_owned(),
            reason: error.to_string(),
        })?;
        // The database's own spelling when it has one (lookups ignore case).
        let name = time_zone.iana_name().unwrap_or(name).to_owned();
        Ok(Zone::Iana(IanaZone { name, time_zone }))
    }

    /// A fixed offset in seconds east of UTC, within ±18 h.
    pub fn fixed_offset(seconds: i32) -> Result<Zone, ZoneError> {
        if seconds.unsigned_abs() > MAX_FIXED_OFFSET_SECONDS.unsigned_abs() {
            return Err(ZoneError::OffsetOutOfRange {
                seconds: i64::from(seconds),
            });
        }
        Ok(Zone::FixedOffset(seconds))
    }

    /// `UTC`, `+05:30` (fixed offsets, with `:ss` when needed), or the IANA id.
    pub fn name(&self) -> String {
        match self {
            Zone::Utc => "UTC".to_owned(),
            Zone::FixedOffset(seconds) => {
                let sign = if *seconds < 0 { '-' } else { '+' };
                let magnitude = seconds.unsigned_abs();
                let (hours, minutes, secs) =
                    (magnitude / 3600, magnitude / 60 % 60, magnitude % 60);
                if secs == 0 {
                    format!("{sign}{hours:02}:{minutes:02}")
                } else {
                    format!("{sign}{hours:02}:{minutes:02}:{secs:02}")
                }
            }
            Zone::Iana(zone) => zone.name.clone(),
        }
    }

    /// The zone's offset from UTC in seconds at instant `utc_seconds`.
    fn offset_seconds_at(&self, utc_seconds: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::FixedOffset(seconds) => i64::from(*seconds),
            Zone::Iana(zone) => i64::from(
                zone.time_zone
                    .to_offset(timestamp_from_seconds(utc_seconds))
                    .seconds(),
            ),
        }
    }

    /// The local date (as a day number since 1970-01-01) at instant `utc_ns`.
    fn local_day_at(&self, utc_ns: i128) -> i64 {
        let utc_seconds = saturate_i64(utc_ns.div_euclid(NANOS_PER_SECOND));
        let local_seconds = utc_seconds.saturating_add(self.offset_seconds_at(utc_seconds));
        local_seconds.div_euclid(SECONDS_PER_DAY)
    }

    /// The instants at which this zone's wall clock reads `local_seconds`.
    fn instants_of_wall_clock(&self, local_seconds: i64) -> WallClockInstants {
        let with_offset =
            |offset: Offset| local_seconds.saturating_sub(i64::from(offset.seconds()));
        match self {
            Zone::Utc => WallClockInstants::Unique(local_seconds),
            Zone::FixedOffset(seconds) => {
                WallClockInstants::Unique(local_seconds.saturating_sub(i64::from(*seconds)))
            }
            Zone::Iana(zone) => {
                let civil = civil_from_local_seconds(local_seconds);
                match zone.time_zone.to_ambiguous_timestamp(civil).offset() {
                    AmbiguousOffset::Unambiguous { offset } => {
                        WallClockInstants::Unique(with_offset(offset))
                    }
                    AmbiguousOffset::Gap { before, .. } => WallClockInstants::Skipped {
                        shifted_forward: with_offset(before),
                    },
                    // `before` is the larger (pre-transition) offset, so its instant is earlier.
                    AmbiguousOffset::Fold { before, after } => WallClockInstants::Repeated {
                        earlier: with_offset(before),
                        later: with_offset(after),
                    },
                }
            }
        }
    }

    /// The instants (ns) at which the wall clock reads `seconds_of_day` on local day `day`.
    fn candidates_on_day(&self, day: i64, seconds_of_day: i64) -> impl Iterator<Item = i128> {
        let local_seconds = day
            .saturating_mul(SECONDS_PER_DAY)
            .saturating_add(seconds_of_day);
        self.instants_of_wall_clock(local_seconds)
            .all()
            .map(|seconds| i128::from(seconds) * NANOS_PER_SECOND)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Parses the `±hh`, `±hh:mm` or `±hh:mm:ss` offset forms into seconds.
fn parse_clock_offset(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let mut seconds = 0_i64;
    let mut parts = 0;
    for (part, scale) in rest.split(':').zip([3600, 60, 1]) {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: i64 = part.parse().ok()?;
        if scale != 3600 && value >= 60 {
            return None;
        }
        seconds += value * scale;
        parts += 1;
    }
    (parts == rest.split(':').count()).then_some(sign * seconds)
}

/// Parses the Live Stream API `utcOffset` Duration form: `-28800s`, `+19800s`, `3600s`.
fn parse_duration_offset(text: &str) -> Option<i64> {
    let digits = text.strip_suffix('s')?;
    let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
    if unsigned.is_empty() || unsigned.len() > 18 || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.strip_prefix('+').unwrap_or(digits).parse().ok()
}

impl FromStr for Zone {
    type Err = ZoneError;

    /// `UTC`; a fixed offset as `+05:30` / `-08:00` / `+05` or as the `utcOffset` Duration
    /// `-28800s`; otherwise an IANA id.
    fn from_str(text: &str) -> Result<Zone, ZoneError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ZoneError::Syntax(
                "empty time zone: use 'UTC', an IANA id such as 'America/Los_Angeles', or a \
                 fixed offset such as '+05:30' or '-28800s'"
                    .to_owned(),
            ));
        }
        if let Some(seconds) = parse_duration_offset(text).or_else(|| parse_clock_offset(text)) {
            return match i32::try_from(seconds) {
                Ok(seconds) => Zone::fixed_offset(seconds),
                Err(_) => Err(ZoneError::OffsetOutOfRange { seconds }),
            };
        }
        if text.starts_with(['+', '-']) {
            return Err(ZoneError::Syntax(format!(
                "'{text}' is not a UTC offset: use ±hh:mm (e.g. '+05:30') or seconds (e.g. \
                 '-28800s')"
            )));
        }
        Zone::iana(text)
    }
}

/// A calendar date on a zone's wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDate {
    pub year: i16,
    pub month: u8,
    pub day: u8,
}

/// Why a date or date-time is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateError {
    /// Not of the expected form.
    Syntax {
        input: String,
        expected: &'static str,
    },
    /// Well-formed but not a real date or instant (e.g. 2021-02-30).
    Invalid { input: String, reason: String },
    /// An instant outside what `i64` nanoseconds since 1970 can hold (1677-09-21 to 2262-04-11).
    OutOfRange { input: String },
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateError::Syntax { input, expected } => {
                write!(f, "'{input}' is not a date: expected {expected}")
            }
            DateError::Invalid { input, reason } => write!(f, "'{input}' is not valid: {reason}"),
            DateError::OutOfRange { input } => write!(
                f,
                "'{input}' is out of range: instants must lie between 1677-09-21 and 2262-04-11 \
                 (nanoseconds since 1970 in 64 bits)"
            ),
        }
    }
}

impl std::error::Error for DateError {}

impl LocalDate {
    /// A validated date (proleptic Gregorian, years −9999..=9999).
    pub fn new(year: i16, month: u8, day: u8) -> Result<LocalDate, DateError> {
        let invalid = |reason: String| DateError::Invalid {
            input: format!("{year:04}-{month:02}-{day:02}"),
            reason,
        };
        let month_i8 = i8::try_from(month).map_err(|_| invalid("month must be 1..=12".into()))?;
        let day_i8 = i8::try_from(day).map_err(|_| invalid("day must be 1..=31".into()))?;
        civil::Date::new(year, month_i8, day_i8).map_err(|error| invalid(error.to_string()))?;
        Ok(LocalDate { year, month, day })
    }

    /// The date on `zone`'s wall clock at instant `utc_ns`.
    pub fn at_instant(utc_ns: i64, zone: &Zone) -> LocalDate {
        let day = zone.local_day_at(i128::from(utc_ns));
        let date = civil_from_local_seconds(day.saturating_mul(SECONDS_PER_DAY)).date();
        // jiff's month and day are 1..=12 and 1..=31, so the casts cannot fail.
        LocalDate {
            year: date.year(),
            month: u8::try_from(date.month()).unwrap_or(1),
            day: u8::try_from(date.day()).unwrap_or(1),
        }
    }

    /// The jiff date, clamped to a real date (the fields are public, so an impossible date such
    /// as month 13 or February 30 can be built; it is read as the nearest real one).
    fn to_civil_clamped(self) -> civil::Date {
        let year = self.year.clamp(-9999, 9999);
        let month = i8::try_from(self.month.clamp(1, 12)).unwrap_or(1);
        let first_of_month = civil::Date::new(year, month, 1).unwrap_or(civil::Date::ZERO);
        let day = i8::try_from(self.day.max(1))
            .unwrap_or(i8::MAX)
            .min(first_of_month.days_in_month());
        civil::Date::new(year, month, day).unwrap_or(first_of_month)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn day_number(self) -> i64 {
        let midnight = self.to_civil_clamped().to_datetime(civil::Time::midnight());
        let timestamp = Offset::UTC
            .to_timestamp(midnight)
            .unwrap_or(if self.year < 0 {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            });
        timestamp.as_second().div_euclid(SECONDS_PER_DAY)
    }
}

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.year < 0 {
            write!(f, "-{:04}", self.year.unsigned_abs())?;
        } else {
            write!(f, "{:04}", self.year)?;
        }
        write!(f, "-{:02}-{:02}", self.month, self.day)
    }
}

impl FromStr for LocalDate {
    type Err = DateError;

    /// Exactly `YYYY-MM-DD`, and a real date.
    fn from_str(text: &str) -> Result<LocalDate, DateError> {
        let syntax = || DateError::Syntax {
            input: text.to_owned(),
            expected: "YYYY-MM-DD, e.g. 2021-12-06",
        };
        let bytes = text.as_bytes();
        let digits_at = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
        if bytes.len() != 10
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !digits_at(0..4)
            || !digits_at(5..7)
            || !digits_at(8..10)
        {
            return Err(syntax());
        }
        // All ten bytes are ASCII now, so slicing is safe and each part parses.
        let year = text[0..4].parse().map_err(|_| syntax())?;
        let month = text[5..7].parse().map_err(|_| syntax())?;
        let day = text[8..10].parse().map_err(|_| syntax())?;
        LocalDate::new(year, month, day).map_err(|error| match error {
            DateError::Invalid { reason, .. } => DateError::Invalid {
                input: text.to_owned(),
                reason,
            },
            other => other,
        })
    }
}

/// Local dates searched by the rule, relative to "today" (§6.1 step 2).
const CANDIDATE_DAYS: [i64; 4] = [1, 0, -1, -2];
/// Searched only if the standard window holds no candidate, which needs a zone whose offset fell
/// by about a day at once (America/Sitka, 1867). Keeps the rule total.
const FALLBACK_DAYS: [i64; 7] = [-3, -4, -5, -6, -7, -8, -9];

/// The date rule: the latest instant ≤ `now_ns + tolerance_ns` whose wall-clock time of day in
/// `zone` is `seconds_of_day + frac_ns`.
///
/// Returns the UTC ns of the whole-second part; the caller adds the exact frame fraction
/// itself (as [`super::FrameClock`] does). `seconds_of_day` ≥ 86 400 is read modulo a day (the
/// same set of wall-clock readings).
///
/// Candidates are the local dates today+1, today, −1 and −2, "today" being the local date at
/// `now + tolerance − frac` (the latest allowed whole-second instant; the four-day window makes
/// this the same answer as "today at now" of `tc_to_utc.py`). A DST overlap gives two candidates (both considered); a time in a
/// DST gap is shifted forward by the gap (the pre-transition offset). The answer is the maximum
/// candidate with `candidate + frac_ns ≤ now_ns + tolerance_ns`; equal is allowed.
///
/// Bound (checked by the property tests): with `0 ≤ frac_ns < 1 s`,
/// `now + tolerance − (24 h + D) < answer + frac_ns ≤ now + tolerance`, where D is the largest
/// single drop of the zone's UTC offset: D = 1 h for ordinary DST, so the answer is less than
/// 25 h back. It is *not* "within a day": on a fall-back day the wall clock takes 25 h to show
/// the same time of day again (see `resolve_latest_can_be_more_than_24_hours_back`). A few
/// historical transitions dropped 2 h at once (e.g. Asia/Magadan, 2014-10-26), making that
/// day's bound 26 h.
pub fn resolve_latest(
    seconds_of_day: u32,
    frac_ns: i64,
    zone: &Zone,
    now_ns: i64,
    tolerance_ns: i64,
) -> i64 {
    let seconds_of_day = i64::from(seconds_of_day) % SECONDS_PER_DAY;
    // candidate + frac ≤ now + tolerance  ⇔  candidate ≤ latest_allowed.
    let latest_allowed = i128::from(now_ns) + i128::from(tolerance_ns) - i128::from(frac_ns);
    let today = zone.local_day_at(latest_allowed);
    // Step 2: the wall-clock readings on the candidate dates; step 3: the latest allowed one.
    let latest_on = |days: &[i64]| {
        days.iter()
            .flat_map(|&day| zone.candidates_on_day(today + day, seconds_of_day))
            .filter(|&candidate| candidate <= latest_allowed)
            .max()
    };
    let answer = latest_on(&CANDIDATE_DAYS)
        .or_else(|| latest_on(&FALLBACK_DAYS))
        // Unreachable with real tz data: nine days back is before the deadline in every zone.
        .unwrap_or(latest_allowed);
    saturate_i64(answer)
}

/// The wall-clock time `seconds_of_day` on a pinned local `date`, as UTC ns.
///
/// A time in a DST gap is shifted forward by the gap; a time in a DST overlap is its first
/// (earlier) occurrence. `seconds_of_day` ≥ 86 400 runs into the following days. An impossible
/// `date` (built through the public fields) is clamped to the nearest real one.
pub fn resolve_on_date(seconds_of_day: u32, zone: &Zone, date: LocalDate) -> i64 {
    let local_seconds = date
        .day_number()
        .saturating_mul(SECONDS_PER_DAY)
        .saturating_add(i64::from(seconds_of_day));
    let instant = zone.instants_of_wall_clock(local_seconds).first();
    saturate_i64(i128::from(instant) * NANOS_PER_SECOND)
}

/// The candidate whose instant + `frac_ns` is nearest `expected_ns`: used when a timecode is
/// re-read mid-stream, where the date follows the stream and not the wall clock.
///
/// Candidates are the wall-clock time on the local dates −2..=+2 around `expected_ns`, both
/// occurrences of a DST overlap, the shifted instant of a gap. Of two equally near candidates the
/// earlier wins. Returns the whole-second part, like [`resolve_latest`].
pub fn resolve_nearest(seconds_of_day: u32, frac_ns: i64, zone: &Zone, expected_ns: i64) -> i64 {
    let seconds_of_day = i64::from(seconds_of_day) % SECONDS_PER_DAY;
    let target = i128::from(expected_ns) - i128::from(frac_ns);
    let today = zone.local_day_at(target);
    let nearest = (-2..=2)
        .flat_map(|offset| zone.candidates_on_day(today + offset, seconds_of_day))
        .min_by_key(|&candidate| ((candidate - target).abs(), candidate))
        .unwrap_or(target);
    saturate_i64(nearest)
}

/// Parses an RFC 3339 date-time (`2021-12-06T21:00:00Z`, with a fraction, or with a `±hh:mm`
/// offset) into UTC ns since the Unix epoch.
pub fn parse_rfc3339(text: &str) -> Result<i64, DateError> {
    let timestamp: Timestamp =
        text.trim()
            .parse()
            .map_err(|error: jiff::Error| DateError::Invalid {
                input: text.to_owned(),
                reason: format!(
                    "{error} (expected RFC 3339 such as 2021-12-06T21:00:00Z or \
                 2021-12-06T13:00:00.5-08:00)"
                ),
            })?;
    i64::try_from(timestamp.as_nanosecond()).map_err(|_| DateError::OutOfRange {
        input: text.to_owned(),
    })
}

/// `YYYY-MM-DDThh:mm:ss` plus `fraction_digits` digits of the second, floored (toward −∞), and
/// `Z`.
fn format_rfc3339(ns: i64, fraction_digits: u32) -> String {
    // Every i64 nanosecond count (±292 years) is a valid jiff timestamp, so the fallback is
    // never taken; it only avoids a panic path.
    let timestamp = Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::UNIX_EPOCH);
    let utc = Offset::UTC.to_datetime(timestamp);
    // The civil sub-second part is always in [0, 1e9), so truncating its digits floors the
    // instant, also before 1970.
    let fraction = utc.subsec_nanosecond() / 10_i32.pow(9 - fraction_digits);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:0width$}Z",
        utc.year(),
        utc.month(),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        fraction,
        width = fraction_digits as usize
    )
}

/// `2021-12-06T16:30:00.333Z`: milliseconds, floored (as the Live Stream API and the HLS
/// `EXT-X-PROGRAM-DATE-TIME` examples show them).
pub fn format_rfc3339_millis(ns: i64) -> String {
    format_rfc3339(ns, 3)
}

/// `2021-12-06T16:30:00.333333Z`: microseconds, floored.
pub fn format_rfc3339_micros(ns: i64) -> String {
    format_rfc3339(ns, 6)
}

/// `2021-12-06T16:30:00.333333333Z`: all nine digits.
pub fn format_rfc3339_nanos(ns: i64) -> String {
    format_rfc3339(ns, 9)
}

#[cfg(test)]
mod tests;
