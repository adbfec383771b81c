// SPDX-License-Identifier: MPL-2.0
//! The latching state machine of `timecodeparse`, with no GStreamer types.
//!
//! Per frame it takes what the input says (an observed timecode, the frame's running time, a
//! discontinuity) and decides the frame's timecode and UTC instant:
//!
//! - The first frame that carries a timecode *latches*: its timecode is resolved to a UTC
//!   instant by the date rule ([`DateRule`]), and every later frame is that anchor advanced by
//!   its position — measured from running time when the frame has one, else from its own
//!   embedded timecode (a raw elementary stream with B-frames has no PTS), else by counting.
//! - An embedded timecode that disagrees with the advanced one is a *mismatch*: with
//!   [`Resync::OnDiscontinuity`] it is only counted, with [`Resync::EveryFrame`] the machine
//!   re-anchors on it (the date follows the stream, not the wall clock).
//! - A discontinuity (new stream, flush, DISCONT buffer, SEI discontinuity_flag) drops the latch;
//!   the next timecode latches again, the equivalent of an input that reconnects.

use crate::bitstream::{ClockTimestamp, VuiTiming};
use crate::timecode::utc::{self, LocalDate, Zone};
use crate::timecode::{FrameClock, FrameRate, Timecode};

/// How n_frames of a clock timestamp maps to a frame number (H.264 D.2.3 / H.265 D.3.27 and what GStreamer and FFmpeg writers do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FramesScaling {
    /// n_frames as coded when it is a valid frame number at the stream's rate; otherwise the
    /// H.264/H.265 formula with the VUI tick (writers that count fields).
    #[default]
    Auto,
    /// n_frames as coded, always (FFmpeg's and GStreamer 1.22's reading).
    Raw,
    /// The standard's formula: n_frames × (1 + field_based) × num_units_in_tick / time_scale
    /// seconds, which needs VUI timing.
    Spec,
}

/// When an embedded timecode is read again after the latch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resync {
    /// Only after a discontinuity (the Live Stream API's behaviour).
    #[default]
    OnDiscontinuity,
    /// On every frame whose embedded timecode differs from the advanced one.
    EveryFrame,
}

/// A timecode the input states for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub timecode: Timecode,
    pub rate: FrameRate,
    /// SEI time_offset, in ns; added to the UTC instant.
    pub offset_ns: i64,
    /// The SEI says this timestamp does not follow from the previous one.
    pub discontinuity: bool,
}

/// Why a clock timestamp did not give a timecode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockError {
    /// n_frames does not fit the frame rate in any reading.
    FramesOutOfRange { n_frames: u16, nominal: u32 },
    /// The fields make no valid timecode at this rate (e.g. a dropped drop-frame label).
    InvalidTimecode(String),
}

impl std::fmt::Display for ClockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClockError::FramesOutOfRange { n_frames, nominal } => write!(
                f,
                "n_frames {n_frames} is not a frame number at {nominal} frames per second"
            ),
            ClockError::InvalidTimecode(why) => write!(f, "{why}"),
        }
    }
}

/// Turns coded clock timestamps into timecodes. It remembers what earlier pictures said:
/// absent high-order fields (full_timestamp_flag = 0) carry forward the last value seen (0 on
/// the first picture), and a cnt_dropped_flag seen once marks the stream as drop-frame.
#[derive(Debug, Clone, Default)]
pub struct ClockInterpreter {
    last_hms: (u8, u8, u8),
    drop_frame_seen: bool,
}

impl ClockInterpreter {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    pub fn interpret(
        &mut self,
        clock: &ClockTimestamp,
        timing: Option<VuiTiming>,
        rate: FrameRate,
        scaling: FramesScaling,
    ) -> Result<Observed, ClockError> {
        let frames = frame_number(clock, timing, rate, scaling)?;
        let seconds = clock.seconds.unwrap_or(self.last_hms.0);
        let minutes = clock.minutes.unwrap_or(self.last_hms.1);
        let hours = clock.hours.unwrap_or(self.last_hms.2);

        // Drop-frame: only 29.97/59.94 can drop, and writers signal it either by counting_type
        // (4, or 5/6 as some encoders do for 59.94) or by cnt_dropped_flag on the picture after
        // a skip (the robust union of what GStreamer and FFmpeg read).
        if clock.cnt_dropped {
            self.drop_frame_seen = true;
        }
        let drop_frame = rate.supports_drop_frame()
            && (matches!(clock.counting_type, 4..=6) || self.drop_frame_seen);

        let timecode = Timecode::new(hours, minutes, seconds, frames as u8, drop_frame);
        timecode
            .validate(rate)
            .map_err(|e| ClockError::InvalidTimecode(format!("{timecode}: {e}")))?;
        self.last_hms = (seconds, minutes, hours);

        let offset_ns = match timing {
            Some(t) if clock.time_offset != 0 && t.time_scale != 0 => {
                (i64::from(clock.time_offset) * 1_000_000_000) / i64::from(t.time_scale)
            }
            _ => 0,
        };
        Ok(Observed {
            timecode,
            rate,
            offset_ns,
            discontinuity: clock.discontinuity,
        })
    }
}

/// The frame number a clock timestamp's n_frames stands for.
fn frame_number(
    clock: &ClockTimestamp,
    timing: Option<VuiTiming>,
    rate: FrameRate,
    scaling: FramesScaling,
) -> Result<u32, ClockError> {
    let nominal = rate.nominal();
    let raw = u32::from(clock.n_frames);
    let out_of_range = ClockError::FramesOutOfRange {
        n_frames: clock.n_frames,
        nominal,
    };
    // H.264 D.2.3: clockTimestamp = ... + nFrames × (num_units_in_tick × (1 + nuit_field_based_flag))
    // in units of 1/time_scale s; as a frame number at `rate` that is
    // ⌊nFrames × (1 + nuit) × num_units_in_tick × rate / time_scale⌋ (a second field is in the
    // same frame as the first).
    let spec = timing.and_then(|t| {
        let num = u64::from(clock.n_frames)
            * (1 + u64::from(clock.nuit_field_based))
            * u64::from(t.num_units_in_tick)
            * u64::from(rate.num());
        let den = u64::from(t.time_scale) * u64::from(rate.den());
        (den != 0)
            .then(|| num / den)
            .filter(|&f| f < u64::from(nominal))
            .and_then(|f| u32::try_from(f).ok())
    });
    match scaling {
        FramesScaling::Raw => (raw < nominal).then_some(raw).ok_or(out_of_range),
        FramesScaling::Spec => spec.ok_or(out_of_range),
        // Every writer seen in the wild that disagrees with the formula (FFmpeg/NVENC H.265 sets
        // the field flag with a frame tick) is right when read raw; the formula is needed only
        // when n_frames counts more units than the rate has frames (field counting).
        FramesScaling::Auto => {
            if raw < nominal {
                Ok(raw)
            } else {
                spec.ok_or(out_of_range)
            }
        }
    }
}

/// The timecode a frame gets from running time with source `media-timestamp`: `first` at
/// running time 0, advanced by one per frame period.
pub fn media_timestamp_timecode(first: Timecode, rate: FrameRate, running_ns: i64) -> Timecode {
    first.add_frames(rate.ns_to_frames(running_ns), rate)
}

/// What "now" is when a timecode is resolved to a date.
#[derive(Debug, Clone, PartialEq)]
pub enum DateAnchor {
    /// The system real-time clock (the date rule).
    SystemClock,
    /// A pinned "now" for the first latch; later latches add the running time elapsed since.
    ReferenceTime(i64),
    /// A pinned local date for the first latch; later latches take the date that keeps the
    /// stream continuous.
    Date(LocalDate),
}

/// How far ahead of "now" a timecode may be and still resolve to today, by default: 5 s.
///
/// A live timecode that *is* the wall clock (a camera, an SDI embedder, `timecodestamper
/// source=rtc`, an encoder on another host) is often a little ahead of this machine's clock at
/// the latch: one frame when the stamper labels a frame by its end, milliseconds of NTP skew
/// between hosts, a second or two on hosts without NTP. Under the strict rule ("latest instant
/// not later than now") each of those resolves to *yesterday*, 24 h off, and two redundant
/// packagers fed this way number their segments a day apart. 5 s covers frame labelling and
/// host clock skew with room to spare, and moves nothing a day: a timecode between 5 s and
/// 24 h ahead still resolves to yesterday, as before. Set `future-tolerance` to 0 for the
/// strict rule.
pub const DEFAULT_FUTURE_TOLERANCE_NS: i64 = 5_000_000_000;

/// The rule that gives a time-of-day timecode its date.
#[derive(Debug, Clone, PartialEq)]
pub struct DateRule {
    pub zone: Zone,
    pub anchor: DateAnchor,
    /// How far in the future (ns) of "now" a timecode may be and still count as today.
    pub future_tolerance_ns: i64,
}

impl Default for DateRule {
    fn default() -> Self {
        DateRule {
            zone: Zone::Utc,
            anchor: DateAnchor::SystemClock,
            future_tolerance_ns: DEFAULT_FUTURE_TOLERANCE_NS,
        }
    }
}

/// Per-frame input of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInput {
    /// The timecode the input states for this frame, if any.
    pub observed: Option<Observed>,
    /// The frame's presentation running time in ns, if it has one.
    pub running_ns: Option<i64>,
    /// The frame's decode running time in ns, if it has one.
    pub decode_running_ns: Option<i64>,
    /// The frame follows a discontinuity (DISCONT buffer; stream-start and flush call `reset`).
    pub discontinuity: bool,
    /// The wall clock at this frame, UTC ns (only read with [`DateAnchor::SystemClock`]).
    pub wall_clock_ns: i64,
}

/// Why the machine (re)latched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchReason {
    /// The first timecode of the stream.
    First,
    /// The first timecode after a discontinuity.
    Discontinuity,
    /// `resync=every-frame` and the embedded timecode disagreed with the advanced one.
    Resync,
}

/// The decision for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTiming {
    pub timecode: Timecode,
    pub rate: FrameRate,
    /// UTC instant of the frame, ns since the Unix epoch.
    pub utc_ns: i64,
    /// Set when this frame (re)latched.
    pub latched: Option<LatchReason>,
    /// Set when the frame's embedded timecode disagreed with the advanced one:
    /// (advanced, embedded).
    pub mismatch: Option<(Timecode, Timecode)>,
}

#[derive(Debug, Clone, Copy)]
struct Latch {
    timecode: Timecode,
    frame_of_day: i64,
    clock: FrameClock,
    running_ns: Option<i64>,
    decode_running_ns: Option<i64>,
    /// Position (frames after the anchor) of the last frame seen.
    last_position: i64,
}

impl Latch {
    fn rate(&self) -> FrameRate {
        self.clock.rate()
    }

    /// Frames from the anchor to `timecode`, taking the nearest way round midnight (a stream
    /// crossing midnight moves forward, not back 24 h).
    fn position_of(&self, timecode: &Timecode) -> i64 {
        let rate = self.rate();
        let per_day = i64::from(Timecode::frames_per_day(rate, timecode.drop_frame));
        let wrapped =
            (i64::from(timecode.frame_of_day(rate)) - self.frame_of_day).rem_euclid(per_day);
        if wrapped > per_day / 2 {
            wrapped - per_day
        } else {
            wrapped
        }
    }
}

/// The most frames a picture can be displayed before or after its decode position: H.264
/// max_num_reorder_frames and H.265 sps_max_num_reorder_pics are at most 16.
const MAX_REORDER_FRAMES: i64 = 16;

/// The latching state machine (see the module documentation).
#[derive(Debug, Clone)]
pub struct Latcher {
    rule: DateRule,
    resync: Resync,
    latch: Option<Latch>,
    /// Running time and "now" at the first latch of this element's life, so a pinned reference
    /// time moves on with the stream.
    first_latch: Option<(Option<i64>, i64)>,
    /// The last latch before a discontinuity: a pinned date keeps the stream continuous with it.
    previous: Option<Latch>,
}

impl Latcher {
    pub fn new(rule: DateRule, resync: Resync) -> Self {
        Latcher {
            rule,
            resync,
            latch: None,
            first_latch: None,
            previous: None,
        }
    }

    /// Forget the latch: the next frame with a timecode latches again.
    pub fn discontinuity(&mut self) {
        if let Some(latch) = self.latch.take() {
            self.previous = Some(latch);
        }
    }

    pub fn is_latched(&self) -> bool {
        self.latch.is_some()
    }

    /// Decide one frame. Returns None while no timecode has been seen since the last
    /// discontinuity (the frame then has no timecode at all).
    pub fn frame(&mut self, input: &FrameInput) -> Option<FrameTiming> {
        if input.discontinuity || input.observed.is_some_and(|o| o.discontinuity) {
            self.discontinuity();
        }

        let Some(latch) = self.latch else {
            let observed = input.observed?;
            let reason = if self.first_latch.is_none() {
                LatchReason::First
            } else {
                LatchReason::Discontinuity
            };
            return Some(self.latch_on(&observed, input, reason));
        };

        let rate = latch.rate();
        let position = match (input.running_ns, latch.running_ns) {
            (Some(now), Some(anchor)) => rate.ns_to_frames(now.saturating_sub(anchor)),
            // No PTS (h264parse gives a raw elementary stream with B-frames only DTS): decode
            // order says where the frame is to within the reorder depth, and the frame's own
            // timecode says exactly where, if it is within that depth; a timecode further off
            // is a wrong one (e.g. GStreamer 1.22's writer omits hh:mm:ss at 00:00:00:xx).
            _ => {
                let decoded = input
                    .decode_running_ns
                    .zip(latch.decode_running_ns)
                    .map(|(now, anchor)| rate.ns_to_frames(now.saturating_sub(anchor)));
                let stated = input
                    .observed
                    .filter(|o| o.rate == rate)
                    .map(|o| latch.position_of(&o.timecode));
                match (stated, decoded) {
                    (Some(stated), Some(decoded))
                        if (stated - decoded).abs() <= MAX_REORDER_FRAMES =>
                    {
                        stated
                    }
                    (_, Some(decoded)) => decoded,
                    (Some(stated), None) => stated,
                    (None, None) => latch.last_position + 1,
                }
            }
        };
        if let Some(l) = self.latch.as_mut() {
            l.last_position = position;
        }

        let advanced = latch.timecode.add_frames(position, rate);
        let utc_ns = latch.clock.utc_ns(position);
        let mismatch = input
            .observed
            .filter(|o| o.timecode != advanced || o.rate != rate)
            .map(|o| (advanced, o.timecode));

        if let (Some(_), Resync::EveryFrame, Some(observed)) =
            (mismatch, self.resync, input.observed)
        {
            let mut timing = self.relatch_near(&observed, input, utc_ns);
            timing.mismatch = mismatch;
            return Some(timing);
        }

        Some(FrameTiming {
            timecode: advanced,
            rate,
            utc_ns,
            latched: None,
            mismatch,
        })
    }

    fn now_for(&self, input: &FrameInput) -> i64 {
        match &self.rule.anchor {
            DateAnchor::SystemClock | DateAnchor::Date(_) => input.wall_clock_ns,
            DateAnchor::ReferenceTime(reference) => match (self.first_latch, input.running_ns) {
                // A new stream may restart running time at 0: "now" never goes back before
                // the pinned reference.
                (Some((Some(first_running), first_now)), Some(running)) => {
                    first_now.saturating_add(running.saturating_sub(first_running).max(0))
                }
                (Some((_, first_now)), _) => first_now,
                (None, _) => *reference,
            },
        }
    }

    fn latch_on(
        &mut self,
        observed: &Observed,
        input: &FrameInput,
        reason: LatchReason,
    ) -> FrameTiming {
        let tc = observed.timecode;
        let rate = observed.rate;
        let frac_ns = rate
            .frames_to_ns(i64::from(tc.frames))
            .saturating_add(observed.offset_ns);
        let now = self.now_for(input);

        let second_ns = match (&self.rule.anchor, reason, self.previous) {
            (DateAnchor::Date(date), LatchReason::First, _) => {
                utc::resolve_on_date(tc.seconds_of_day(), &self.rule.zone, *date)
            }
            // A pinned date says nothing about later days: after a discontinuity the date is the
            // one nearest to where the previous latch says the stream would be now.
            (DateAnchor::Date(date), _, previous) => {
                let expected = previous.and_then(|p| {
                    let (running, anchor) = (input.running_ns?, p.running_ns?);
                    Some(
                        p.clock
                            .utc_ns(p.rate().ns_to_frames(running.saturating_sub(anchor))),
                    )
                });
                match expected {
                    Some(expected) => utc::resolve_nearest(
                        tc.seconds_of_day(),
                        frac_ns,
                        &self.rule.zone,
                        expected,
                    ),
                    None => utc::resolve_on_date(tc.seconds_of_day(), &self.rule.zone, *date),
                }
            }
            _ => utc::resolve_latest(
                tc.seconds_of_day(),
                frac_ns,
                &self.rule.zone,
                now,
                self.rule.future_tolerance_ns,
            ),
        };

        if self.first_latch.is_none() {
            self.first_latch = Some((input.running_ns, now));
        }
        self.install(observed, input, second_ns, reason)
    }

    fn relatch_near(
        &mut self,
        observed: &Observed,
        input: &FrameInput,
        expected_ns: i64,
    ) -> FrameTiming {
        let tc = observed.timecode;
        let frac_ns = observed
            .rate
            .frames_to_ns(i64::from(tc.frames))
            .saturating_add(observed.offset_ns);
        let second_ns =
            utc::resolve_nearest(tc.seconds_of_day(), frac_ns, &self.rule.zone, expected_ns);
        self.install(observed, input, second_ns, LatchReason::Resync)
    }

    fn install(
        &mut self,
        observed: &Observed,
        input: &FrameInput,
        second_ns: i64,
        reason: LatchReason,
    ) -> FrameTiming {
        let tc = observed.timecode;
        let rate = observed.rate;
        let clock = FrameClock::new(second_ns, u32::from(tc.frames), rate, observed.offset_ns);
        self.latch = Some(Latch {
            timecode: tc,
            frame_of_day: i64::from(tc.frame_of_day(rate)),
            clock,
            running_ns: input.running_ns,
            decode_running_ns: input.decode_running_ns,
            last_position: 0,
        });
        FrameTiming {
            timecode: tc,
            rate,
            utc_ns: clock.utc_ns(0),
            latched: Some(reason),
            mismatch: None,
        }
    }
}

#[cfg(test)]
mod tests;
