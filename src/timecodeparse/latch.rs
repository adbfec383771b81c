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

/// How n_frames of a clock timestamp maps to a frame number (see `timecode.md` §6.4).
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
    /// Only after a discontinuity (the seed's behaviour).
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
        // a skip (timecode.md §0 item 4: the robust union of what GStreamer and FFmpeg read).
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
    /// The system real-time clock (the seed's rule).
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(num: u32, den: u32) -> FrameRate {
        FrameRate::new(num, den).expect("valid rate")
    }

    fn tc(s: &str) -> Timecode {
        s.parse().expect("valid timecode")
    }

    fn clock(n_frames: u16, hms: Option<(u8, u8, u8)>) -> ClockTimestamp {
        ClockTimestamp {
            nuit_field_based: true,
            full_timestamp: hms.is_some(),
            n_frames,
            seconds: hms.map(|h| h.2),
            minutes: hms.map(|h| h.1),
            hours: hms.map(|h| h.0),
            ..Default::default()
        }
    }

    const X264_VUI_30: VuiTiming = VuiTiming {
        num_units_in_tick: 1,
        time_scale: 60,
        field_ticks: true,
    };

    #[test]
    fn n_frames_scaling() {
        let r30 = rate(30, 1);
        let mut interp = ClockInterpreter::default();
        // GStreamer/x264 H.264: field flag with a field tick — the formula and raw agree.
        let c = clock(10, Some((16, 30, 0)));
        let o = interp
            .interpret(&c, Some(X264_VUI_30), r30, FramesScaling::Spec)
            .unwrap();
        assert_eq!(o.timecode, tc("16:30:00:10"));
        // FFmpeg/NVENC H.265 style: field flag with a frame tick — formula doubles, raw is right.
        let frame_tick = VuiTiming {
            num_units_in_tick: 1001,
            time_scale: 30000,
            field_ticks: false,
        };
        let r2997 = rate(30000, 1001);
        let c = clock(20, Some((0, 0, 59)));
        let o = interp
            .interpret(&c, Some(frame_tick), r2997, FramesScaling::Auto)
            .unwrap();
        assert_eq!(o.timecode.frames, 20);
        assert!(
            interp
                .interpret(&c, Some(frame_tick), r2997, FramesScaling::Spec)
                .is_err()
        );
        // A writer that counts fields (n_frames 0..59 at 29.97 with a field tick, nuit 0):
        // raw is out of range, the formula halves it.
        let field_tick = VuiTiming {
            num_units_in_tick: 1001,
            time_scale: 60000,
            field_ticks: false,
        };
        let mut c = clock(45, Some((1, 2, 3)));
        c.nuit_field_based = false;
        let o = interp
            .interpret(&c, Some(field_tick), r2997, FramesScaling::Auto)
            .unwrap();
        assert_eq!(o.timecode.frames, 22);
        assert!(
            interp
                .interpret(&c, Some(field_tick), r2997, FramesScaling::Raw)
                .is_err()
        );
        // No VUI and out of range: an error that says why.
        let err = interp.interpret(&clock(31, Some((0, 0, 0))), None, r30, FramesScaling::Auto);
        assert_eq!(
            err,
            Err(ClockError::FramesOutOfRange {
                n_frames: 31,
                nominal: 30
            })
        );
    }

    #[test]
    fn partial_timestamps_carry_forward() {
        let r = rate(25, 1);
        let mut interp = ClockInterpreter::default();
        // First picture: absent fields are 0.
        let mut c = clock(3, None);
        c.seconds = Some(7);
        assert_eq!(
            interp
                .interpret(&c, None, r, FramesScaling::Auto)
                .unwrap()
                .timecode,
            tc("00:00:07:03")
        );
        let full = clock(24, Some((10, 20, 30)));
        interp
            .interpret(&full, None, r, FramesScaling::Auto)
            .unwrap();
        // Only n_frames: hh:mm:ss carry forward from the previous picture.
        let bare = clock(5, None);
        assert_eq!(
            interp
                .interpret(&bare, None, r, FramesScaling::Auto)
                .unwrap()
                .timecode,
            tc("10:20:30:05")
        );
        interp.reset();
        assert_eq!(
            interp
                .interpret(&bare, None, r, FramesScaling::Auto)
                .unwrap()
                .timecode,
            tc("00:00:00:05")
        );
    }

    #[test]
    fn drop_frame_detection() {
        let r2997 = rate(30000, 1001);
        let mut interp = ClockInterpreter::default();
        let mut c = clock(20, Some((0, 0, 59)));
        assert!(
            !interp
                .interpret(&c, None, r2997, FramesScaling::Auto)
                .unwrap()
                .timecode
                .drop_frame
        );
        for counting_type in [4, 5, 6] {
            c.counting_type = counting_type;
            assert!(
                interp
                    .interpret(&c, None, r2997, FramesScaling::Auto)
                    .unwrap()
                    .timecode
                    .drop_frame
            );
        }
        // cnt_dropped_flag marks the stream DF from then on (spec writers set it only after a skip).
        c.counting_type = 0;
        c.cnt_dropped = true;
        assert!(
            interp
                .interpret(&c, None, r2997, FramesScaling::Auto)
                .unwrap()
                .timecode
                .drop_frame
        );
        c.cnt_dropped = false;
        assert!(
            interp
                .interpret(&c, None, r2997, FramesScaling::Auto)
                .unwrap()
                .timecode
                .drop_frame
        );
        // Never at rates that cannot drop.
        c.counting_type = 4;
        assert!(
            !interp
                .interpret(&c, None, rate(25, 1), FramesScaling::Auto)
                .unwrap()
                .timecode
                .drop_frame
        );
        // A dropped label is not a timecode.
        let mut dropped = clock(0, Some((0, 1, 0)));
        dropped.counting_type = 4;
        assert!(matches!(
            interp.interpret(&dropped, None, r2997, FramesScaling::Auto),
            Err(ClockError::InvalidTimecode(_))
        ));
    }

    #[test]
    fn time_offset_is_added() {
        let mut c = clock(0, Some((12, 0, 0)));
        c.time_offset = 30; // 30 / 60 s with the x264 VUI
        let o = ClockInterpreter::default()
            .interpret(&c, Some(X264_VUI_30), rate(30, 1), FramesScaling::Auto)
            .unwrap();
        assert_eq!(o.offset_ns, 500_000_000);
    }

    fn observed(timecode: Timecode, rate: FrameRate) -> Observed {
        Observed {
            timecode,
            rate,
            offset_ns: 0,
            discontinuity: false,
        }
    }

    fn rule_at(now: &str) -> DateRule {
        DateRule {
            anchor: DateAnchor::ReferenceTime(utc::parse_rfc3339(now).unwrap()),
            ..DateRule::default()
        }
    }

    fn input(o: Option<Observed>, running_ns: Option<i64>) -> FrameInput {
        FrameInput {
            observed: o,
            running_ns,
            decode_running_ns: running_ns,
            discontinuity: false,
            wall_clock_ns: 0,
        }
    }

    /// A wall-clock timecode a little ahead of this machine's clock (a stamper that labels a
    /// frame by its end, host clock skew) resolves to today with the default rule, not to
    /// yesterday as under the strict rule.
    #[test]
    fn wall_clock_timecode_ahead_of_now_resolves_to_today() {
        let r = rate(25, 1);
        let now = utc::parse_rfc3339("2026-12-03T23:15:07.123Z").unwrap();
        for ahead_ns in [40_000_000i64, 40_000_001, 2_000_000_000, 4_960_000_000] {
            // The label of the frame that starts `ahead_ns` after now (25 fps: 40 ms frames).
            let labelled = now + ahead_ns;
            let second = labelled.div_euclid(1_000_000_000);
            let frame = labelled.rem_euclid(1_000_000_000) / 40_000_000;
            let day_second = second.rem_euclid(86_400);
            let label = format!(
                "{:02}:{:02}:{:02}:{:02}",
                day_second / 3600,
                day_second / 60 % 60,
                day_second % 60,
                frame
            );
            let wall = |rule: DateRule| {
                let mut latcher = Latcher::new(rule, Resync::OnDiscontinuity);
                let mut i = input(Some(observed(tc(&label), r)), Some(0));
                i.wall_clock_ns = now;
                latcher.frame(&i).unwrap().utc_ns
            };
            let today = second * 1_000_000_000 + frame * 40_000_000;
            assert_eq!(
                wall(DateRule::default()),
                today,
                "{label} ({ahead_ns} ns ahead)"
            );
            let strict = DateRule {
                future_tolerance_ns: 0,
                ..DateRule::default()
            };
            assert_eq!(wall(strict), today - 86_400_000_000_000, "strict: {label}");
        }
        // Beyond the tolerance the strict rule holds: 10 s ahead is yesterday.
        let mut latcher = Latcher::new(DateRule::default(), Resync::OnDiscontinuity);
        let mut i = input(Some(observed(tc("23:15:17:10"), r)), Some(0));
        i.wall_clock_ns = now;
        assert_eq!(
            utc::format_rfc3339_millis(latcher.frame(&i).unwrap().utc_ns),
            "2026-12-02T23:15:17.400Z"
        );
    }

    #[test]
    fn seed_latch_and_advance() {
        let r = rate(30, 1);
        let mut latcher = Latcher::new(rule_at("2021-12-06T21:00:00Z"), Resync::OnDiscontinuity);
        assert!(
            latcher.frame(&input(None, Some(0))).is_none(),
            "nothing before a timecode"
        );
        let first = latcher
            .frame(&input(Some(observed(tc("16:30:00:10"), r)), Some(0)))
            .unwrap();
        assert_eq!(first.latched, Some(LatchReason::First));
        assert_eq!(
            utc::format_rfc3339_micros(first.utc_ns),
            "2021-12-06T16:30:00.333333Z"
        );
        // A frame without a timecode 20 frames later is advanced.
        let later = latcher
            .frame(&input(None, Some(r.frames_to_ns(20))))
            .unwrap();
        assert_eq!(later.timecode, tc("16:30:01:00"));
        assert_eq!(
            utc::format_rfc3339_micros(later.utc_ns),
            "2021-12-06T16:30:01.000000Z"
        );
        assert_eq!(later.latched, None);
    }

    #[test]
    fn reference_time_moves_with_running_time() {
        // Pinned now = 00:00:01; a discontinuity 10 s later re-latches with now = 00:00:11, so a
        // timecode of 00:00:10 is today, not yesterday.
        let r = rate(25, 1);
        let mut latcher = Latcher::new(rule_at("2021-12-07T00:00:01Z"), Resync::OnDiscontinuity);
        latcher
            .frame(&input(Some(observed(tc("00:00:00:00"), r)), Some(0)))
            .unwrap();
        let mut i = input(Some(observed(tc("00:00:10:00"), r)), Some(10_000_000_000));
        i.discontinuity = true;
        let t = latcher.frame(&i).unwrap();
        assert_eq!(t.latched, Some(LatchReason::Discontinuity));
        assert_eq!(
            utc::format_rfc3339_millis(t.utc_ns),
            "2021-12-07T00:00:10.000Z"
        );
    }

    #[test]
    fn reference_time_never_goes_back_when_running_time_restarts() {
        // First stream latches at running time 50 s; a new stream restarts running time at 0.
        // "Now" stays the pinned reference, so 00:00:30 is still today (not yesterday).
        let r = rate(25, 1);
        let mut latcher = Latcher::new(rule_at("2021-12-07T00:01:00Z"), Resync::OnDiscontinuity);
        latcher
            .frame(&input(
                Some(observed(tc("00:00:10:00"), r)),
                Some(50_000_000_000),
            ))
            .unwrap();
        latcher.discontinuity();
        let t = latcher
            .frame(&input(Some(observed(tc("00:00:30:00"), r)), Some(0)))
            .unwrap();
        assert_eq!(
            utc::format_rfc3339_millis(t.utc_ns),
            "2021-12-07T00:00:30.000Z"
        );
    }

    #[test]
    fn every_frame_resync_keeps_the_date_across_midnight() {
        // The stream jumps from 23:59:59:00 to 00:00:00:10 mid-stream; the date follows the
        // stream (next day), not "now" (which a pinned reference would put on the same day).
        let r = rate(25, 1);
        let mut latcher = Latcher::new(rule_at("2021-12-07T00:00:00Z"), Resync::EveryFrame);
        latcher
            .frame(&input(Some(observed(tc("23:59:59:00"), r)), Some(0)))
            .unwrap();
        let t = latcher
            .frame(&input(
                Some(observed(tc("00:00:00:10"), r)),
                Some(40_000_000),
            ))
            .unwrap();
        assert_eq!(t.latched, Some(LatchReason::Resync));
        assert_eq!(t.mismatch, Some((tc("23:59:59:01"), tc("00:00:00:10"))));
        assert_eq!(
            utc::format_rfc3339_millis(t.utc_ns),
            "2021-12-07T00:00:00.400Z"
        );
    }

    #[test]
    fn pinned_date_then_discontinuity_stays_continuous() {
        let r = rate(25, 1);
        let rule = DateRule {
            anchor: DateAnchor::Date("2022-03-01".parse().unwrap()),
            ..DateRule::default()
        };
        let mut latcher = Latcher::new(rule, Resync::OnDiscontinuity);
        latcher
            .frame(&input(Some(observed(tc("23:59:50:00"), r)), Some(0)))
            .unwrap();
        let mut i = input(Some(observed(tc("00:00:05:00"), r)), Some(15_000_000_000));
        i.discontinuity = true;
        let t = latcher.frame(&i).unwrap();
        assert_eq!(
            utc::format_rfc3339_millis(t.utc_ns),
            "2022-03-02T00:00:05.000Z"
        );
    }

    #[test]
    fn sei_discontinuity_flag_relatches() {
        let r = rate(25, 1);
        let mut latcher = Latcher::new(rule_at("2022-01-01T12:00:00Z"), Resync::OnDiscontinuity);
        latcher
            .frame(&input(Some(observed(tc("10:00:00:00"), r)), Some(0)))
            .unwrap();
        let mut o = observed(tc("11:00:00:00"), r);
        o.discontinuity = true;
        let t = latcher.frame(&input(Some(o), Some(40_000_000))).unwrap();
        assert_eq!(t.timecode, tc("11:00:00:00"));
        assert_eq!(t.latched, Some(LatchReason::Discontinuity));
    }

    /// A display-order permutation within the reorder depth, like B-frames: decode order
    /// d → display order perm[d].
    fn reorder(n: usize, depth: usize, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        let mut s = seed | 1;
        let mut i = 1;
        while i + 1 < n {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let len = (s as usize % depth.max(1)) + 1;
            let end = (i + len).min(n);
            // Decode the anchor of the group first, then the ones displayed before it (I P B B).
            order[i..end].rotate_right(1);
            i = end;
        }
        order
    }

    proptest! {
        /// On clean input — every frame states its own timecode — the advanced timecode of
        /// frame n equals the stated one, in decode order with B-frame reordering, with and
        /// without PTS, at every standard rate, across midnight.
        #[test]
        fn advanced_equals_stated_on_clean_input(
            rate_index in 0usize..10,
            start_frame in 0i64..6_000_000,
            frames in 1usize..400,
            depth in 1usize..4,
            seed in any::<u64>(),
            with_pts in any::<bool>(),
        ) {
            let (num, den, drop) = [
                (24000, 1001, false), (24, 1, false), (25, 1, false), (30000, 1001, true),
                (30000, 1001, false), (30, 1, false), (50, 1, false), (60000, 1001, true),
                (60000, 1001, false), (60, 1, false),
            ][rate_index];
            let r = rate(num, den);
            let first = Timecode::from_frame_of_day(start_frame, r, drop);
            let mut latcher = Latcher::new(rule_at("2030-01-01T00:00:00Z"), Resync::OnDiscontinuity);
            let order = reorder(frames, depth, seed);
            let mut anchor_utc = None;
            for (decode_index, &display) in order.iter().enumerate() {
                let stated = first.add_frames(display as i64, r);
                let pts = with_pts.then(|| r.frames_to_ns(display as i64 + 2));
                let frame = FrameInput {
                    observed: Some(observed(stated, r)),
                    running_ns: pts,
                    decode_running_ns: Some(r.frames_to_ns(decode_index as i64)),
                    discontinuity: false,
                    wall_clock_ns: 0,
                };
                let t = latcher.frame(&frame).expect("latched");
                prop_assert_eq!(t.timecode, stated);
                prop_assert_eq!(t.mismatch, None);
                let anchor = *anchor_utc.get_or_insert(t.utc_ns - r.frames_to_ns(display as i64));
                // UTC advances by exact frame periods from the anchor (±1 ns of flooring).
                let expected = anchor + r.frames_to_ns(i64::from(first.frames) + display as i64)
                    - r.frames_to_ns(i64::from(first.frames));
                prop_assert!((t.utc_ns - expected).abs() <= 1);
            }
        }

        /// The same through the real SEI path: each access unit's pic_timing SEI is written,
        /// read back by the H.264 reader and interpreted; the advanced timecode of frame n
        /// equals the timecode parsed at frame n (in-band SPS/PPS, x264-style field tick, DF
        /// and NDF rates, partial timestamps as GStreamer 1.22 writes them when hours are 0).
        #[test]
        fn advanced_equals_parsed_sei(
            rate_index in 0usize..4,
            start_frame in 0i64..5_000_000,
            frames in 1usize..200,
            partial in any::<bool>(),
        ) {
            use crate::bitstream::h264::{H264Reader, H264Sps, H264TimingInfo, H264Vui, PicTiming, pps_nal, slice_nal};
            use crate::bitstream::nal::write_annex_b;
            use crate::bitstream::AccessUnitReader;

            let (num, den, drop) = [(25, 1, false), (30000, 1001, true), (50, 1, false), (24000, 1001, false)][rate_index];
            let r = rate(num, den);
            let mut sps = H264Sps::example(0);
            sps.vui = Some(H264Vui {
                timing: Some(H264TimingInfo { num_units_in_tick: den, time_scale: 2 * num, fixed_frame_rate: true }),
                pic_struct_present: true,
                ..Default::default()
            });
            let layout = sps.pic_timing_layout();
            let (sps_nal, pps) = (sps.to_nal(), pps_nal(0, 0));
            let first = Timecode::from_frame_of_day(start_frame, r, drop);
            let mut reader = H264Reader::new();
            let mut interp = ClockInterpreter::default();
            let mut latcher = Latcher::new(rule_at("2030-01-01T00:00:00Z"), Resync::OnDiscontinuity);
            let mut previous: Option<Timecode> = None;
            for n in 0..frames {
                let tc = first.add_frames(n as i64, r);
                // GStreamer 1.22's writer style: leave out what did not change since the last
                // picture (the reader carries it forward).
                let same_hm = previous.is_some_and(|p| p.hours == tc.hours && p.minutes == tc.minutes);
                let clock = ClockTimestamp {
                    nuit_field_based: true,
                    counting_type: if drop { 4 } else { 0 },
                    full_timestamp: !(partial && same_hm),
                    n_frames: u16::from(tc.frames),
                    seconds: Some(tc.seconds),
                    minutes: (!(partial && same_hm)).then_some(tc.minutes),
                    hours: (!(partial && same_hm)).then_some(tc.hours),
                    ..Default::default()
                };
                previous = Some(tc);
                let timing = PicTiming { pic_struct: Some(0), clock_timestamps: [Some(clock), None, None], ..Default::default() };
                let sei = timing.to_sei_nal(&layout);
                let slice = slice_nal(n == 0, 0);
                let au = if n == 0 {
                    write_annex_b(&[&sps_nal, &pps, &sei, &slice])
                } else {
                    write_annex_b(&[&sei, &slice])
                };
                let info = reader.read_access_unit(&au);
                prop_assert!(info.faults.is_empty(), "{:?}", info.faults);
                let parsed = interp
                    .interpret(&info.clocks[0], info.timing, r, FramesScaling::Auto)
                    .expect("clean SEI interprets");
                prop_assert_eq!(parsed.timecode, tc);
                let t = latcher
                    .frame(&input(Some(parsed), Some(r.frames_to_ns(n as i64))))
                    .expect("latched");
                prop_assert_eq!(t.timecode, parsed.timecode);
                prop_assert_eq!(t.mismatch, None);
            }
        }

        /// The date rule through the latch: never later than now, never more than 25 h earlier
        /// (a local day lasts up to 25 h on a DST change; see timecode::utc).
        #[test]
        fn latched_instant_is_not_after_now(
            now in 946_684_800_000_000_000i64..2_208_988_800_000_000_000,
            frame in 0i64..2_160_000,
            zone_index in 0usize..4,
        ) {
            let zone = match zone_index {
                0 => Zone::Utc,
                1 => Zone::fixed_offset(-28_800).unwrap(),
                2 => Zone::iana("America/Los_Angeles").unwrap(),
                _ => Zone::iana("Australia/Lord_Howe").unwrap(),
            };
            let r = rate(25, 1);
            let rule = DateRule { zone, anchor: DateAnchor::ReferenceTime(now), future_tolerance_ns: 0 };
            let mut latcher = Latcher::new(rule, Resync::OnDiscontinuity);
            let t = latcher
                .frame(&input(Some(observed(Timecode::from_frame_of_day(frame, r, false), r)), Some(0)))
                .unwrap();
            prop_assert!(t.utc_ns <= now);
            prop_assert!(t.utc_ns > now - 25 * 3_600_000_000_000);
        }
    }
}
