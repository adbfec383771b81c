// SPDX-License-Identifier: MPL-2.0
//! A frame's name, read from the metas `timecodeparse` attaches (or `timecodestamper`,
//! `decklinksrc`, `h264parse` do): the glue every element shares, so that every element reads a
//! `GstVideoTimeCodeMeta` into the one timecode model ([`crate::timecode`]) the same way.

use gst_video::{VideoTimeCodeFlags, VideoTimeCodeMeta};

use crate::timecode::utc::LocalDate;
use crate::timecode::{FrameRate, Timecode, TimecodeError};

/// Caps of the `reference` of a `GstReferenceTimestampMeta` holding UTC ns since the Unix epoch
/// (what `timecodeparse` attaches and hlssink3 and fmp4mux read).
pub const UNIX_REFERENCE: &str = "timestamp/x-unix";

/// A `GstVideoTimeCodeMeta` in the crate's timecode model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaTimecode {
    pub timecode: Timecode,
    pub rate: FrameRate,
    /// The daily jam's calendar date, when the meta has one (timecodeparse sets it to the date
    /// the timecode resolved to).
    pub date: Option<LocalDate>,
    pub interlaced: bool,
    pub field_count: u32,
}

/// Why a meta could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaError {
    /// Neither the meta nor the caps give a frame rate.
    NoRate,
    /// The label does not exist at the rate (e.g. frame 30 at 30 fps).
    Invalid {
        timecode: Timecode,
        rate: FrameRate,
        error: TimecodeError,
    },
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaError::NoRate => {
                f.write_str("the GstVideoTimeCodeMeta has no frame rate and the caps give none")
            }
            MetaError::Invalid {
                timecode,
                rate,
                error,
            } => write!(
                f,
                "the GstVideoTimeCodeMeta {timecode} is not valid at {}/{} fps: {error}",
                rate.num(),
                rate.den()
            ),
        }
    }
}

impl MetaTimecode {
    /// The frame's number: day number of the daily jam's date (0 without one) × frames per
    /// day + frame of the day. Consecutive frames get consecutive numbers, across midnight too
    /// when the meta carries the date; two branches with the same metas get the same numbers.
    pub fn frame_index(&self) -> i64 {
        let day = self.date.map_or(0, LocalDate::day_number);
        let per_day = i64::from(Timecode::frames_per_day(
            self.rate,
            self.timecode.drop_frame,
        ));
        day.saturating_mul(per_day)
            .saturating_add(i64::from(self.timecode.frame_of_day(self.rate)))
    }
}

/// The buffer's `GstVideoTimeCodeMeta`, if any, read at its own rate (or `caps_rate` when the
/// meta has none).
pub fn timecode_of(
    buffer: &gst::BufferRef,
    caps_rate: Option<FrameRate>,
) -> Option<Result<MetaTimecode, MetaError>> {
    let meta = buffer.meta::<VideoTimeCodeMeta>()?;
    // The fields are read in place: `VideoTimeCodeMeta::tc()` copies the time code (a ref of
    // its daily jam and a validity check), which costs more than the rest of a switch's work
    // per frame. Our own model validates below.
    // SAFETY: the meta is a GstVideoTimeCodeMeta borrowed from `buffer` for this scope; its
    // `tc` is a plain struct, and `latest_daily_jam` is NULL or a GDateTime the meta owns.
    let (tc, jam_ymd) = unsafe {
        let raw = &(*meta.as_ptr()).tc;
        let jam = raw.config.latest_daily_jam;
        let jam_ymd = (!jam.is_null()).then(|| {
            let (mut year, mut month, mut day) = (0, 0, 0);
            gst::glib::ffi::g_date_time_get_ymd(jam, &mut year, &mut month, &mut day);
            (year, month, day)
        });
        (*raw, jam_ymd)
    };
    let Some(rate) = FrameRate::new(tc.config.fps_n, tc.config.fps_d).or(caps_rate) else {
        return Some(Err(MetaError::NoRate));
    };
    let flags = VideoTimeCodeFlags::from_bits_truncate(tc.config.flags);
    let clamp = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
    let timecode = Timecode::new(
        clamp(tc.hours),
        clamp(tc.minutes),
        clamp(tc.seconds),
        clamp(tc.frames),
        flags.contains(VideoTimeCodeFlags::DROP_FRAME),
    );
    if let Err(error) = timecode.validate(rate) {
        return Some(Err(MetaError::Invalid {
            timecode,
            rate,
            error,
        }));
    }
    let date = jam_ymd.and_then(|(year, month, day)| {
        LocalDate::new(
            i16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
        )
        .ok()
    });
    Some(Ok(MetaTimecode {
        timecode,
        rate,
        date,
        interlaced: flags.contains(VideoTimeCodeFlags::INTERLACED),
        field_count: tc.field_count,
    }))
}

/// The UTC instant of the buffer's `timestamp/x-unix` reference timestamp meta, in ns since the
/// Unix epoch.
pub fn unix_reference_ns(buffer: &gst::BufferRef) -> Option<i64> {
    buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|meta| {
            meta.reference()
                .structure(0)
                .is_some_and(|s| s.name() == UNIX_REFERENCE)
        })
        .and_then(|meta| i64::try_from(meta.timestamp().nseconds()).ok())
}

/// The UTC instant of a frame, ns since the Unix epoch: its `timestamp/x-unix` reference
/// timestamp meta, else its time code meta's date and time (a daily jam with a date, as
/// `timecodeparse` and `timecodestamper` give it; µs precision).
pub fn frame_utc_ns(buffer: &gst::BufferRef) -> Option<i64> {
    if let Some(utc) = unix_reference_ns(buffer) {
        return Some(utc);
    }
    let meta = buffer.meta::<gst_video::VideoTimeCodeMeta>()?;
    let date_time = meta.tc().to_date_time().ok()?;
    let micros = date_time
        .to_unix()
        .checked_mul(1_000_000)?
        .checked_add(i64::from(date_time.microsecond()))?;
    micros.checked_mul(1000)
}
