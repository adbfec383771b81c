// SPDX-License-Identifier: MPL-2.0
//! The one timecode model of the crate: SMPTE ST 12-1 time-of-day timecodes, drop-frame
//! arithmetic, the frame rate they count in, and the clock that turns "frame k after the anchor"
//! into an absolute UTC instant.
//!
//! No GStreamer types live here; the elements translate to and from this model.
//! UTC instants are `i64` nanoseconds since the Unix epoch everywhere.
//!
//! References: SMPTE ST 12-1 (drop-frame rules) and the timecode → UTC rule of `timecode::utc`; the date rule
//! itself is in [`utc`].

pub mod utc;

use std::fmt;
use std::str::FromStr;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: u64 = 24 * 3600;

/// Saturates an exact intermediate result into the `i64` range.
fn saturate_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A frame rate as a reduced fraction `num/den` frames per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameRate {
    num: u32,
    den: u32,
}

impl FrameRate {
    /// `num/den` frames per second, reduced by their gcd; `None` if either is 0.
    pub fn new(num: u32, den: u32) -> Option<FrameRate> {
        if num == 0 || den == 0 {
            return None;
        }
        let divisor = gcd(num, den);
        Some(FrameRate {
            num: num / divisor,
            den: den / divisor,
        })
    }

    pub fn num(&self) -> u32 {
        self.num
    }

    pub fn den(&self) -> u32 {
        self.den
    }

    /// Timecode frames per second: `ceil(num/den)`, so 24000/1001 → 24, 30000/1001 → 30,
    /// 25 → 25. Timecode labels count `0..nominal` frames within every second.
    pub fn nominal(&self) -> u32 {
        self.num.div_ceil(self.den)
    }

    /// Drop-frame counting exists only at 30000/1001 and 60000/1001 (ST 12-1).
    /// 23.976 is never drop-frame, nor are integer rates.
    pub fn supports_drop_frame(&self) -> bool {
        self.den == 1001 && (self.num == 30000 || self.num == 60000)
    }

    /// How many labels drop-frame counting skips at the start of a minute that is not a
    /// multiple of ten: 2 at 29.97, 4 at 59.94; `None` where drop-frame does not exist.
    fn labels_dropped_per_minute(&self) -> Option<u64> {
        self.supports_drop_frame()
            .then(|| 2 * u64::from(self.nominal()) / 30)
    }

    /// The duration of one frame in nanoseconds as the exact fraction
    /// `(den·1e9) / num`, returned as (numerator, denominator).
    fn frame_duration_fraction(&self) -> (i128, i128) {
        (
            i128::from(self.den) * NANOS_PER_SECOND,
            i128::from(self.num),
        )
    }

    /// Start of frame `frames` in ns: `floor(frames·den·1e9/num)`, exact, flooring toward −∞.
    pub fn frames_to_ns(&self, frames: i64) -> i64 {
        // Per-frame hot path: the same formula in i64 whenever it cannot overflow (a frame count
        // of a few days at any rate); i128 otherwise. den·1e9 < 2^63 since den < 2^32.
        let duration_num = i64::from(self.den) * NANOS_PER_SECOND as i64;
        if let Some(product) = frames.checked_mul(duration_num) {
            return product.div_euclid(i64::from(self.num));
        }
        saturate_i64(self.frames_to_ns_exact(i128::from(frames)))
    }

    fn frames_to_ns_exact(&self, frames: i128) -> i128 {
        let (duration_num, duration_den) = self.frame_duration_fraction();
        // |frames| < 2^65 here and duration_num < 2^62, so the product fits in i128.
        (frames * duration_num).div_euclid(duration_den)
    }

    /// The frame whose interval `[frames_to_ns(i) − ¼ frame, frames_to_ns(i+1) − ¼ frame)`
    /// contains `ns`.
    ///
    /// Why a quarter frame: timestamps of real streams jitter by less than that around the
    /// nominal frame start, and the second field of an interlaced frame lies half a frame
    /// after it; both must map to the same frame, and a plain floor would map a timestamp
    /// 1 ns early to the previous frame.
    pub fn ns_to_frames(&self, ns: i64) -> i64 {
        // The formula of ns_to_frames_exact in i64 when nothing overflows (the per-frame case).
        let duration_num = i64::from(self.den) * NANOS_PER_SECOND as i64;
        let duration_den = i64::from(self.num);
        let fast = duration_den
            .checked_mul(4)
            .map(|q_den| duration_num.div_euclid(q_den))
            .and_then(|q| ns.checked_add(q))
            .and_then(|m| m.checked_add(1))
            .and_then(|m1| m1.checked_mul(duration_den))
            .and_then(|x| x.checked_sub(1))
            .map(|x| x.div_euclid(duration_num));
        match fast {
            Some(frames) => frames,
            None => saturate_i64(self.ns_to_frames_exact(i128::from(ns))),
        }
    }

    fn ns_to_frames_exact(&self, ns: i128) -> i128 {
        let (duration_num, duration_den) = self.frame_duration_fraction();
        // We want the largest i with frames_to_ns(i) − q ≤ ns, q = duration/4 (exact).
        // frames_to_ns(i) is an integer, so that is frames_to_ns(i) ≤ floor(ns + q) =: m,
        // i.e. floor(i·dn/dd) ≤ m ⇔ i·dn < (m+1)·dd ⇔ i ≤ ceil((m+1)·dd/dn) − 1
        //                                          = floor(((m+1)·dd − 1)/dn).
        let m = ns + duration_num.div_euclid(4 * duration_den);
        ((m + 1) * duration_den - 1).div_euclid(duration_num)
    }
}

impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// A SMPTE ST 12-1 time-of-day timecode label `hh:mm:ss:ff` (`hh:mm:ss;ff` when drop-frame).
///
/// The fields are the label as read; whether it is valid depends on the frame rate
/// ([`Timecode::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timecode {
    pub hours: u8,
    pub minutes: u8,
    pub seconds: u8,
    pub frames: u8,
    pub drop_frame: bool,
}

/// Why a timecode label is not valid (at a given rate) or could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimecodeError {
    /// hours ≥ 24, minutes ≥ 60 or seconds ≥ 60.
    OutOfRange {
        field: &'static str,
        value: u8,
        max: u8,
    },
    /// The frame count is not below the rate's nominal frames per second.
    FramesTooLarge { frames: u8, nominal: u32 },
    /// Drop-frame counting at a rate that has none.
    DropFrameAtRate { rate: FrameRate },
    /// A drop-frame label that drop-frame counting skips (e.g. `00:01:00;00`).
    DroppedLabel { timecode: Timecode },
    /// The text is not a timecode.
    Parse(String),
}

impl fmt::Display for TimecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimecodeError::OutOfRange { field, value, max } => {
                write!(f, "timecode {field} {value} is out of range (0..={max})")
            }
            TimecodeError::FramesTooLarge { frames, nominal } => write!(
                f,
                "timecode frame count {frames} is too large: the rate has {nominal} frames per \
                 second, so frames must be 0..={}",
                nominal.saturating_sub(1)
            ),
            TimecodeError::DropFrameAtRate { rate } => write!(
                f,
                "drop-frame timecode at {rate} fps: drop-frame counting exists only at \
                 30000/1001 and 60000/1001; use ':' (non-drop) as the frame separator"
            ),
            TimecodeError::DroppedLabel { timecode } => write!(
                f,
                "{timecode} does not exist in drop-frame counting: the first frame labels of \
                 every minute not divisible by 10 are skipped (;00-;01 at 29.97, ;00-;03 at 59.94)"
            ),
            TimecodeError::Parse(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for TimecodeError {}

impl Timecode {
    pub fn new(hours: u8, minutes: u8, seconds: u8, frames: u8, drop_frame: bool) -> Timecode {
        Timecode {
            hours,
            minutes,
            seconds,
            frames,
            drop_frame,
        }
    }

    /// The rate-free checks: hours < 24, minutes < 60, seconds < 60.
    fn validate_clock_fields(&self) -> Result<(), TimecodeError> {
        for (field, value, max) in [
            ("hours", self.hours, 23),
            ("minutes", self.minutes, 59),
            ("seconds", self.seconds, 59),
        ] {
            if value > max {
                return Err(TimecodeError::OutOfRange { field, value, max });
            }
        }
        Ok(())
    }

    /// Checks the label against `rate`: clock fields in range, frames < nominal, drop-frame
    /// only where it exists, and no label that drop-frame counting skips.
    pub fn validate(&self, rate: FrameRate) -> Result<(), TimecodeError> {
        self.validate_clock_fields()?;
        let nominal = rate.nominal();
        if u32::from(self.frames) >= nominal {
            return Err(TimecodeError::FramesTooLarge {
                frames: self.frames,
                nominal,
            });
        }
        if self.drop_frame {
            let Some(dropped) = rate.labels_dropped_per_minute() else {
                return Err(TimecodeError::DropFrameAtRate { rate });
            };
            if self.seconds == 0
                && !self.minutes.is_multiple_of(10)
                && u64::from(self.frames) < dropped
            {
                return Err(TimecodeError::DroppedLabel { timecode: *self });
            }
        }
        Ok(())
    }

    /// Drop-frame counting applies only when the label says so *and* the rate has it; a
    /// drop-frame flag at another rate is ignored by the arithmetic (like `;` at 30 fps in the
    /// Live Stream API's examples).
    fn labels_dropped_per_minute(&self, rate: FrameRate) -> Option<u64> {
        if self.drop_frame {
            rate.labels_dropped_per_minute()
        } else {
            None
        }
    }

    /// Frames since 00:00:00:00 (ST 12-1):
    /// `N = (3600·hh + 60·mm + ss)·nom + ff − d·(totalMinutes − totalMinutes/10)` with
    /// `totalMinutes = 60·hh + mm` and `d` = 2 (29.97 DF), 4 (59.94 DF), 0 otherwise.
    ///
    /// For a valid label the result is below [`Timecode::frames_per_day`]. A skipped DF label
    /// yields the formula's value (that of the frame before it); huge rates saturate.
    pub fn frame_of_day(&self, rate: FrameRate) -> u32 {
        let nominal = u64::from(rate.nominal());
        let label_frames = u64::from(self.seconds_of_day()) * nominal + u64::from(self.frames);
        let skipped = match self.labels_dropped_per_minute(rate) {
            Some(dropped) => {
                let total_minutes = 60 * u64::from(self.hours) + u64::from(self.minutes);
                dropped * (total_minutes - total_minutes / 10)
            }
            None => 0,
        };
        // skipped ≤ dropped·totalMinutes ≤ 60·nominal·totalMinutes ≤ label_frames: no underflow.
        u32::try_from(label_frames - skipped).unwrap_or(u32::MAX)
    }

    fn frames_per_day_exact(rate: FrameRate, drop_frame: bool) -> u64 {
        let nominal = u64::from(rate.nominal());
        match drop_frame
            .then(|| rate.labels_dropped_per_minute())
            .flatten()
        {
            // 144 ten-minute blocks per day, each 9·d labels short.
            Some(dropped) => 144 * (600 * nominal - 9 * dropped),
            None => SECONDS_PER_DAY * nominal,
        }
    }

    /// Frames in a day: 2 589 408 at 29.97 DF, 5 178 816 at 59.94 DF, 86 400·nominal otherwise
    /// (saturating for absurd rates).
    pub fn frames_per_day(rate: FrameRate, drop_frame: bool) -> u32 {
        u32::try_from(Self::frames_per_day_exact(rate, drop_frame)).unwrap_or(u32::MAX)
    }

    /// The label of frame `n` of the day, `n` wrapped into `[0, frames_per_day)`.
    ///
    /// The drop-frame flag of the result is `drop_frame` as given; the counting is drop-frame
    /// only if the rate has it. At rates above 256 fps the frame field saturates at 255.
    pub fn from_frame_of_day(n: i64, rate: FrameRate, drop_frame: bool) -> Timecode {
        Self::from_frame_of_day_exact(i128::from(n), rate, drop_frame)
    }

    fn from_frame_of_day_exact(n: i128, rate: FrameRate, drop_frame: bool) -> Timecode {
        let nominal = u64::from(rate.nominal());
        let frames_per_day = Self::frames_per_day_exact(rate, drop_frame);
        // rem_euclid with a positive modulus lies in [0, frames_per_day), which fits in u64.
        let mut n = u64::try_from(n.rem_euclid(i128::from(frames_per_day))).unwrap_or(0);
        if let Some(dropped) = drop_frame
            .then(|| rate.labels_dropped_per_minute())
            .flatten()
        {
            // Turn the frame number back into a label count by re-inserting the skipped
            // labels (the usual form, as in tcsei.py frames_to_tc).
            let frames_per_ten_minutes = 600 * nominal - 9 * dropped;
            let frames_per_dropping_minute = 60 * nominal - dropped;
            let ten_minute_blocks = n / frames_per_ten_minutes;
            let into_block = n % frames_per_ten_minutes;
            n += 9 * dropped * ten_minute_blocks;
            if into_block > dropped {
                n += dropped * ((into_block - dropped) / frames_per_dropping_minute);
            }
        }
        let clamp_u8 = |value: u64| u8::try_from(value).unwrap_or(u8::MAX);
        Timecode {
            hours: clamp_u8(n / (nominal * 3600) % 24),
            minutes: clamp_u8(n / (nominal * 60) % 60),
            seconds: clamp_u8(n / nominal % 60),
            frames: clamp_u8(n % nominal),
            drop_frame,
        }
    }

    /// The label `k` frames later (earlier for negative `k`), wrapping past midnight both ways.
    pub fn add_frames(&self, k: i64, rate: FrameRate) -> Timecode {
        let n = i128::from(self.frame_of_day(rate)) + i128::from(k);
        Self::from_frame_of_day_exact(n, rate, self.drop_frame)
    }

    /// The label's whole seconds `hh·3600 + mm·60 + ss`: the "label" reading of the time of day
    /// (the label reading), to which the caller adds `rate.frames_to_ns(ff)`.
    pub fn seconds_of_day(&self) -> u32 {
        u32::from(self.hours) * 3600 + u32::from(self.minutes) * 60 + u32::from(self.seconds)
    }
}

impl fmt::Display for Timecode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let separator = if self.drop_frame { ';' } else { ':' };
        write!(
            f,
            "{:02}:{:02}:{:02}{separator}{:02}",
            self.hours, self.minutes, self.seconds, self.frames
        )
    }
}

impl FromStr for Timecode {
    type Err = TimecodeError;

    /// `hh:mm:ss:ff` (non-drop) or `hh:mm:ss;ff`, `hh:mm:ss.ff`, `hh:mm:ss,ff` (drop-frame), with
    /// two digits per field (two or three for frames). Only the rate-free ranges are checked.
    fn from_str(text: &str) -> Result<Timecode, TimecodeError> {
        let syntax_error = || {
            TimecodeError::Parse(format!(
                "'{text}' is not a timecode: expected hh:mm:ss:ff (non-drop) or hh:mm:ss;ff \
                 (drop-frame), e.g. 16:30:00:10"
            ))
        };
        let trimmed = text.trim();
        let bytes = trimmed.as_bytes();
        // ASCII only, so every byte index below is a char boundary.
        if !trimmed.is_ascii()
            || !(11..=12).contains(&bytes.len())
            || bytes[2] != b':'
            || bytes[5] != b':'
        {
            return Err(syntax_error());
        }
        let drop_frame = match bytes[8] {
            b':' => false,
            b';' | b'.' | b',' => true,
            _ => return Err(syntax_error()),
        };
        let number = |range: std::ops::Range<usize>| -> Result<u8, TimecodeError> {
            let digits = &trimmed[range];
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax_error());
            }
            digits.parse::<u8>().map_err(|_| {
                TimecodeError::Parse(format!("'{text}': frame count {digits} exceeds 255"))
            })
        };
        let timecode = Timecode {
            hours: number(0..2)?,
            minutes: number(3..5)?,
            seconds: number(6..8)?,
            frames: number(9..bytes.len())?,
            drop_frame,
        };
        timecode.validate_clock_fields()?;
        Ok(timecode)
    }
}

/// Frame `k` of a stream (presentation order, counted from the anchor frame) as a UTC instant:
/// the anchor's label `hh:mm:ss` resolved to UTC, plus the label's frames, plus `k` frames.
///
/// Exact rational arithmetic floored to ns, so every element computing frame k of the same
/// anchor gets the same nanosecond (no resync, no midnight
/// re-interpretation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameClock {
    second_utc_ns: i64,
    anchor_frames: u32,
    rate: FrameRate,
    offset_ns: i64,
}

impl FrameClock {
    /// `second_utc_ns`: UTC ns of the anchor label's whole-second part (`hh:mm:ss` in the zone,
    /// from `utc::resolve_*`); `anchor_frames`: the label's `ff`; `offset_ns`: an extra offset
    /// (SEI `time_offset`), usually 0.
    pub fn new(
        second_utc_ns: i64,
        anchor_frames: u32,
        rate: FrameRate,
        offset_ns: i64,
    ) -> FrameClock {
        FrameClock {
            second_utc_ns,
            anchor_frames,
            rate,
            offset_ns,
        }
    }

    fn origin_ns(&self) -> i128 {
        i128::from(self.second_utc_ns) + i128::from(self.offset_ns)
    }

    /// UTC ns of frame `k`: `second_utc_ns + offset_ns + frames_to_ns(anchor_frames + k)`,
    /// saturating at the ends of the `i64` range.
    ///
    /// Strictly increasing in `k` whenever a frame lasts at least 1 ns (every real rate).
    pub fn utc_ns(&self, k: i64) -> i64 {
        let frames = i128::from(self.anchor_frames) + i128::from(k);
        saturate_i64(self.origin_ns() + self.rate.frames_to_ns_exact(frames))
    }

    /// The frame index `k` whose instant `utc_ns(k)` is nearest `utc_ns` in the sense of
    /// [`FrameRate::ns_to_frames`] (quarter-frame bias), so `frame_at(utc_ns(k)) == k`.
    pub fn frame_at(&self, utc_ns: i64) -> i64 {
        let since_label_second = i128::from(utc_ns) - self.origin_ns();
        saturate_i64(
            self.rate.ns_to_frames_exact(since_label_second) - i128::from(self.anchor_frames),
        )
    }

    pub fn rate(&self) -> FrameRate {
        self.rate
    }

    pub fn second_utc_ns(&self) -> i64 {
        self.second_utc_ns
    }

    pub fn anchor_frames(&self) -> u32 {
        self.anchor_frames
    }

    pub fn offset_ns(&self) -> i64 {
        self.offset_ns
    }
}

#[cfg(test)]
mod tests;
