// SPDX-License-Identifier: MPL-2.0
//! The epoch grid: which segment a frame belongs to, as a function of its UTC instant alone.
//!
//! Segment duration D is a whole number of frames at the stream's [`FrameRate`]. A frame is
//! identified by its *epoch frame index* `n`, the nearest frame slot of the ideal frame grid that
//! starts at the Unix epoch: `n = round(utc_ns·num / (den·1e9))`. Segment `k = ⌊(n − phase)/D⌋`
//! covers the frames `[k·D + phase, (k+1)·D + phase)`; with the default phase 0 that is exactly
//! the REaP / DASH-IF Ingest epoch-locking rule "segment K starts at K·D after
//! 1970-01-01T00:00:00Z" (ISO/IEC 23009-9 REaP; DASH-IF Live Media Ingest). Every packager that sees the same UTC
//! instants computes the same `k` for every frame, whenever it started.
//!
//! # Media-exact or UTC-exact
//!
//! Both, each where it is needed:
//! - **Instants are media-exact.** The UTC instants are those `timecodeparse` attaches: the
//!   latched label resolved to UTC, advanced by exactly one frame duration per frame (no resync,
//!   no daily jam). HLS EXT-X-PROGRAM-DATE-TIME prints that instant of a segment's first frame,
//!   so it matches the timecode the operator sees (the Live Stream API's example `16:30:00;10 → .333Z`).
//! - **Boundaries are UTC-exact.** Membership is decided by the nearest slot of the epoch frame
//!   grid, so segment boundaries and the media timeline (`tfdt = n · ticks per frame`, DASH
//!   `S@t`, `$Number$`) sit exactly on `k·D`. A stream's frames keep a constant sub-frame offset
//!   from that grid (a multiple of 1/den of a frame for label-derived instants), so rounding
//!   gives consecutive frames consecutive indices and every complete segment exactly D frames.
//!
//! # Ties
//!
//! `round` is half up (toward +∞). It is never reached by label-derived instants at the usual
//! rates: at integer rates whole seconds are frame boundaries (offset 0), and at `N/1001` rates
//! the offset is `j/1001` of a frame, never ½; the 1 ns flooring of the instants moves them by
//! far less than the distance to ½. Even at a tie, both packagers see the same nanosecond and
//! compute the same index; only "consecutive frames, consecutive indices" could then break.

use std::fmt;

use super::ExactSeconds;
use crate::timecode::FrameRate;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Saturates an exact intermediate result into the `i64` range.
fn saturate_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// Why a grid cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GridError {
    /// A segment of 0 frames (or 0 ns).
    Empty,
    /// The requested duration is not a whole number of frames.
    NotWholeFrames {
        duration_ns: u64,
        rate: FrameRate,
        /// The duration in frames, printed with two decimals (`59.94`).
        frames_text: String,
        /// The nearest whole frame counts below and above (the lower one may be 0).
        shorter_frames: u64,
        longer_frames: u64,
    },
    /// More frames per segment than the grid supports (`u32`).
    TooLong { frames: u64 },
}

impl fmt::Display for GridError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GridError::Empty => f.write_str("segment duration must be at least one frame"),
            GridError::NotWholeFrames {
                duration_ns,
                rate,
                frames_text,
                shorter_frames,
                longer_frames,
            } => {
                let seconds = ExactSeconds::from_nanos(*duration_ns);
                let option = |frames: u64| {
                    let exact = ExactSeconds::of_frames(frames, *rate);
                    format!(
                        "{} s = {} ns ({frames} frames)",
                        exact.to_shortest_decimal(),
                        exact.floor_nanos()
                    )
                };
                write!(
                    f,
                    "segment duration {} s at {rate} fps is {frames_text} frames; a segment must \
                     hold a whole number of frames: use {}",
                    seconds.to_shortest_decimal(),
                    option(*longer_frames)
                )?;
                if *shorter_frames > 0 {
                    write!(f, " or {}", option(*shorter_frames))?;
                }
                Ok(())
            }
            GridError::TooLong { frames } => write!(
                f,
                "segment duration of {frames} frames is too long (at most {} frames)",
                u32::MAX
            ),
        }
    }
}

impl std::error::Error for GridError {}

/// The epoch grid of one stream: frame rate, segment duration D in frames, and a fixed phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grid {
    rate: FrameRate,
    frames_per_segment: u32,
    phase_frames: u32,
}

impl Grid {
    /// Segments of `frames_per_segment` frames at `rate`, phase 0 (segment 0 starts at the Unix
    /// epoch).
    pub fn new(rate: FrameRate, frames_per_segment: u32) -> Result<Grid, GridError> {
        if frames_per_segment == 0 {
            return Err(GridError::Empty);
        }
        Ok(Grid {
            rate,
            frames_per_segment,
            phase_frames: 0,
        })
    }

    /// Segments of `duration_ns` (a GstClockTime) at `rate`. The duration must be a whole
    /// number of frames to within 1 ns (so both the floor and the ceiling of a frame count's
    /// exact duration are accepted: 60 frames at 29.97 is 2 002 000 000 ns exactly, 59 frames
    /// is 1 968 633 333.3 ns). Other values are rejected with an error naming the two nearest
    /// valid durations.
    pub fn from_duration_ns(rate: FrameRate, duration_ns: u64) -> Result<Grid, GridError> {
        if duration_ns == 0 {
            return Err(GridError::Empty);
        }
        let num = i128::from(rate.num());
        let frame_ns_num = i128::from(rate.den()) * NANOS_PER_SECOND;
        // frames = duration·num / (den·1e9), exactly, as scaled = duration·num.
        let scaled = i128::from(duration_ns) * num;
        let nearest = (2 * scaled + frame_ns_num) / (2 * frame_ns_num);
        // |duration − nearest·frame| < 1 ns ⇔ |duration·num − nearest·den·1e9| < num.
        if nearest > 0 && (scaled - nearest * frame_ns_num).abs() < num {
            let frames = u64::try_from(nearest).unwrap_or(u64::MAX);
            let frames = u32::try_from(frames).map_err(|_| GridError::TooLong { frames })?;
            return Grid::new(rate, frames);
        }
        let shorter = scaled / frame_ns_num;
        let hundredths = (scaled * 100 + frame_ns_num / 2) / frame_ns_num;
        Err(GridError::NotWholeFrames {
            duration_ns,
            rate,
            frames_text: format!("{}.{:02}", hundredths / 100, hundredths % 100),
            shorter_frames: u64::try_from(shorter).unwrap_or(u64::MAX),
            longer_frames: u64::try_from(shorter + 1).unwrap_or(u64::MAX),
        })
    }

    /// The same grid shifted by `phase_frames` (taken modulo D): segment k then starts at epoch
    /// frame `k·D + phase`. A fixed phase is configuration that every redundant packager must
    /// share; 0 (the default) is the REaP epoch lock. A non-zero phase reproduces packagers that
    /// cut at a timecode other than a multiple of D (the Live Stream API's segments starting at
    /// `16:30:00;10`).
    pub fn with_phase(self, phase_frames: i64) -> Grid {
        let phase = phase_frames.rem_euclid(i64::from(self.frames_per_segment));
        Grid {
            // 0 ≤ phase < D ≤ u32::MAX.
            phase_frames: u32::try_from(phase).unwrap_or(0),
            ..self
        }
    }

    pub fn rate(&self) -> FrameRate {
        self.rate
    }

    /// D, in frames.
    pub fn frames_per_segment(&self) -> u32 {
        self.frames_per_segment
    }

    pub fn phase_frames(&self) -> u32 {
        self.phase_frames
    }

    /// The nearest epoch frame slot: `round(utc_ns·num / (den·1e9))`, ties toward +∞.
    pub fn epoch_frame_index(&self, utc_ns: i64) -> i64 {
        let frame_ns_num = i128::from(self.rate.den()) * NANOS_PER_SECOND;
        let scaled = i128::from(utc_ns) * i128::from(self.rate.num());
        // floor(x + ½) with x = scaled / frame_ns_num.
        saturate_i64((2 * scaled + frame_ns_num).div_euclid(2 * frame_ns_num))
    }

    /// The instant of epoch frame slot `n`: `floor(n·den·1e9/num)` ns.
    pub fn frame_start_ns(&self, n: i64) -> i64 {
        self.rate.frames_to_ns(n)
    }

    /// The segment holding epoch frame `n`: `⌊(n − phase)/D⌋`.
    pub fn segment_of_frame(&self, n: i64) -> i64 {
        (i128::from(n) - i128::from(self.phase_frames))
            .div_euclid(i128::from(self.frames_per_segment)) as i64
        // The quotient of an i64-range value by D ≥ 1 is within the i64 range.
    }

    /// The segment holding the frame at `utc_ns`.
    pub fn segment_of(&self, utc_ns: i64) -> i64 {
        self.segment_of_frame(self.epoch_frame_index(utc_ns))
    }

    /// Position of the frame at `utc_ns` inside its segment, `0..D`.
    pub fn position_in_segment(&self, utc_ns: i64) -> u32 {
        let n = i128::from(self.epoch_frame_index(utc_ns));
        let position =
            (n - i128::from(self.phase_frames)).rem_euclid(i128::from(self.frames_per_segment));
        // 0 ≤ position < D ≤ u32::MAX.
        u32::try_from(position).unwrap_or(0)
    }

    /// Whether the frame at `utc_ns` opens its segment (it must be a keyframe).
    pub fn is_first_frame_of_segment(&self, utc_ns: i64) -> bool {
        self.position_in_segment(utc_ns) == 0
    }

    /// Whether the frame at `utc_ns` closes its segment: the segment, and the manifests listing
    /// it, can be published right after this frame, without waiting for the next keyframe.
    pub fn is_last_frame_of_segment(&self, utc_ns: i64) -> bool {
        self.position_in_segment(utc_ns) == self.frames_per_segment - 1
    }

    /// The epoch frame index of segment k's first frame: `k·D + phase`, saturating.
    pub fn first_frame_of_segment(&self, k: i64) -> i64 {
        saturate_i64(
            i128::from(k) * i128::from(self.frames_per_segment) + i128::from(self.phase_frames),
        )
    }

    /// Segment k's nominal start instant, `floor((k·D + phase)·den·1e9/num)` ns.
    pub fn segment_start_ns(&self, k: i64) -> i64 {
        self.frame_start_ns(self.first_frame_of_segment(k))
    }

    /// D, exactly.
    pub fn segment_duration(&self) -> ExactSeconds {
        ExactSeconds::of_frames(u64::from(self.frames_per_segment), self.rate)
    }

    /// D in ns, floored (exact whenever D is a whole number of ns, e.g. 2 002 000 000).
    pub fn segment_duration_ns(&self) -> u64 {
        self.segment_duration().floor_nanos()
    }

    /// Ticks of a `timescale` Hz clock per frame, if whole (`den·timescale/num`).
    pub fn ticks_per_frame(&self, timescale: u32) -> Option<u64> {
        let product = u64::from(self.rate.den()) * u64::from(timescale);
        let num = u64::from(self.rate.num());
        (timescale > 0 && product % num == 0).then(|| product / num)
    }

    /// Ticks of a `timescale` Hz clock for `frames` frames, if whole.
    pub fn ticks_of_frames(&self, frames: i64, timescale: u32) -> Option<i128> {
        let product = i128::from(frames) * i128::from(self.rate.den()) * i128::from(timescale);
        let num = i128::from(self.rate.num());
        (timescale > 0 && product % num == 0).then(|| product / num)
    }

    /// The video timescale both packagers use unless configured otherwise: 90 kHz when a frame
    /// is a whole number of its ticks (24, 25, 30, 50, 60, 29.97), else the rate's numerator
    /// (60000 for 59.94, 24000 for 23.976). The fMP4 `mdhd` timescale must be the same value.
    pub fn default_timescale(&self) -> u32 {
        if self.ticks_per_frame(90_000).is_some() {
            90_000
        } else {
            self.rate.num()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timecode::utc::{format_rfc3339_micros, format_rfc3339_millis, parse_rfc3339};
    use crate::timecode::{FrameClock, FrameRate, Timecode};
    use proptest::prelude::*;

    fn rate(num: u32, den: u32) -> FrameRate {
        FrameRate::new(num, den).unwrap()
    }

    fn ns(text: &str) -> i64 {
        parse_rfc3339(text).unwrap()
    }

    #[test]
    fn epoch_segments_at_integer_rates() {
        let grid = Grid::new(rate(30, 1), 60).unwrap();
        let t = ns("2021-12-06T00:30:02Z");
        let k = grid.segment_of(t);
        assert_eq!(k, 1_638_750_602 / 2);
        assert!(grid.is_first_frame_of_segment(t));
        assert!(!grid.is_last_frame_of_segment(t));
        assert_eq!(grid.segment_start_ns(k), t);
        assert_eq!(grid.segment_duration_ns(), 2_000_000_000);
        let last = t + 59 * 1_000_000_000 / 30;
        assert!(grid.is_last_frame_of_segment(last));
        assert_eq!(grid.segment_of(last), k);
        assert_eq!(grid.segment_of(last + 33_333_334), k + 1);
        assert_eq!(grid.segment_of(0), 0);
        assert_eq!(grid.segment_of(-1), 0, "rounds to frame 0");
        assert_eq!(grid.segment_of(-33_333_334), -1);
    }

    #[test]
    fn duration_in_ns_must_be_whole_frames() {
        let ntsc = rate(30000, 1001);
        let error = Grid::from_duration_ns(ntsc, 2_000_000_000).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("2 s at 30000/1001 fps is 59.94 frames"),
            "{text}"
        );
        assert!(
            text.contains("use 2.002 s = 2002000000 ns (60 frames)"),
            "{text}"
        );
        assert!(text.contains("(59 frames)"), "{text}");
        let grid = Grid::from_duration_ns(ntsc, 2_002_000_000).unwrap();
        assert_eq!(grid.frames_per_segment(), 60);
        // 59 frames: 1 968 633 333.33 ns; floor and ceiling both name 59 frames.
        assert_eq!(
            Grid::from_duration_ns(ntsc, 1_968_633_333)
                .unwrap()
                .frames_per_segment(),
            59
        );
        assert_eq!(
            Grid::from_duration_ns(ntsc, 1_968_633_334)
                .unwrap()
                .frames_per_segment(),
            59
        );
        assert!(Grid::from_duration_ns(ntsc, 1_968_633_335).is_err());
        assert_eq!(Grid::from_duration_ns(ntsc, 0), Err(GridError::Empty));
        assert_eq!(Grid::new(ntsc, 0), Err(GridError::Empty));
        let tiny = Grid::from_duration_ns(rate(25, 1), 1)
            .unwrap_err()
            .to_string();
        assert!(
            tiny.contains("0.00 frames") && tiny.contains("(1 frames)"),
            "{tiny}"
        );
        assert!(!tiny.contains("(0 frames)"), "{tiny}");
        assert_eq!(
            Grid::from_duration_ns(rate(25, 1), 2_000_000_000)
                .unwrap()
                .frames_per_segment(),
            50
        );
    }

    #[test]
    fn timescales() {
        assert_eq!(
            Grid::new(rate(30000, 1001), 60)
                .unwrap()
                .default_timescale(),
            90_000
        );
        assert_eq!(
            Grid::new(rate(60000, 1001), 120)
                .unwrap()
                .default_timescale(),
            60_000
        );
        assert_eq!(
            Grid::new(rate(24000, 1001), 48)
                .unwrap()
                .default_timescale(),
            24_000
        );
        let grid = Grid::new(rate(30000, 1001), 60).unwrap();
        assert_eq!(grid.ticks_per_frame(90_000), Some(3003));
        assert_eq!(grid.ticks_of_frames(60, 48_000), Some(96_096));
        assert_eq!(grid.ticks_of_frames(1, 48_000), None);
        assert_eq!(grid.ticks_per_frame(0), None);
    }

    /// UTC instants of a stream as `timecodeparse` computes them: the label resolved to UTC
    /// (here directly: the label is UTC), advanced frame by frame.
    fn clock(second_utc: &str, frames: u32, rate: FrameRate) -> FrameClock {
        FrameClock::new(ns(second_utc), frames, rate, 0)
    }

    /// Segment starts (k, PDT of the first frame) for the frames `0..count` of `clock`.
    fn segment_starts(grid: &Grid, clock: &FrameClock, count: i64) -> Vec<(i64, i64)> {
        (0..count)
            .map(|i| clock.utc_ns(i))
            .filter(|&t| grid.is_first_frame_of_segment(t))
            .map(|t| (grid.segment_of(t), t))
            .collect()
    }

    #[test]
    fn seed_hls_timing_los_angeles_30fps() {
        // The Live Stream API's example: 16:30:00;10 in America/Los_Angeles = 2021-12-06T00:30:00.333Z; 2 s segments.
        let ndf30 = rate(30, 1);
        let tc: Timecode = "16:30:00:10".parse().unwrap();
        let clock = clock("2021-12-06T00:30:00Z", u32::from(tc.frames), ndf30);
        assert_eq!(
            format_rfc3339_millis(clock.utc_ns(0)),
            "2021-12-06T00:30:00.333Z"
        );
        // The Live Stream API's packager cuts at its first frame: a grid whose phase puts a boundary on
        // that frame gives its PDTs.
        let epoch = Grid::new(ndf30, 60).unwrap();
        let phase = epoch.epoch_frame_index(clock.utc_ns(0));
        let seed_grid = epoch.with_phase(phase);
        let pdts: Vec<String> = segment_starts(&seed_grid, &clock, 180)
            .iter()
            .map(|&(_, t)| format_rfc3339_millis(t))
            .collect();
        assert_eq!(
            pdts,
            [
                "2021-12-06T00:30:00.333Z",
                "2021-12-06T00:30:02.333Z",
                "2021-12-06T00:30:04.333Z"
            ]
        );
        // The epoch grid (REaP) cuts on whole 2 s instead: frame 16:30:00:10 is frame 10 of its
        // segment, and the next segments start at 00:30:02.000Z, 00:30:04.000Z.
        let pdts: Vec<String> = segment_starts(&epoch, &clock, 120)
            .iter()
            .map(|&(_, t)| format_rfc3339_millis(t))
            .collect();
        assert_eq!(
            pdts,
            ["2021-12-06T00:30:02.000Z", "2021-12-06T00:30:04.000Z"]
        );
        assert_eq!(epoch.position_in_segment(clock.utc_ns(0)), 10);
    }

    #[test]
    fn seed_hls_timing_2997_drop_frame() {
        // 00:00:59;20 at 29.97 DF in UTC = 2021-12-06T00:00:59.667333Z; 60-frame
        // (2.002 s) segments starting there: .667333, 01:01.669333, 01:03.671333.
        let df = rate(30000, 1001);
        let tc: Timecode = "00:00:59;20".parse().unwrap();
        tc.validate(df).unwrap();
        let clock = clock("2021-12-06T00:00:59Z", u32::from(tc.frames), df);
        let epoch = Grid::new(df, 60).unwrap();
        let grid = epoch.with_phase(epoch.epoch_frame_index(clock.utc_ns(0)));
        let starts = segment_starts(&grid, &clock, 180);
        let micros: Vec<String> = starts
            .iter()
            .map(|&(_, t)| format_rfc3339_micros(t))
            .collect();
        assert_eq!(
            micros,
            [
                "2021-12-06T00:00:59.667333Z",
                "2021-12-06T00:01:01.669333Z",
                "2021-12-06T00:01:03.671333Z"
            ]
        );
        let millis: Vec<String> = starts
            .iter()
            .map(|&(_, t)| format_rfc3339_millis(t))
            .collect();
        assert_eq!(
            millis,
            [
                "2021-12-06T00:00:59.667Z",
                "2021-12-06T00:01:01.669Z",
                "2021-12-06T00:01:03.671Z"
            ]
        );
        assert_eq!(starts[1].0, starts[0].0 + 1);
        // Those frames are 0.42 frame before their epoch slots: the frame of 59.667333 rounds
        // up to slot 49 113 352 438, slot 58 of its segment on the phase-0 grid.
        assert_eq!(epoch.epoch_frame_index(clock.utc_ns(0)), 49_113_352_438);
        assert_eq!(epoch.position_in_segment(clock.utc_ns(0)), 58);
    }

    fn any_rate() -> impl Strategy<Value = FrameRate> {
        prop::sample::select(vec![
            rate(24000, 1001),
            rate(24, 1),
            rate(25, 1),
            rate(30000, 1001),
            rate(30, 1),
            rate(50, 1),
            rate(60000, 1001),
            rate(60, 1),
        ])
    }

    /// A stream as timecodeparse produces it: a label second anywhere in 1970..2100 (plus
    /// negative instants), a label frame, frames advancing from there.
    fn any_stream() -> impl Strategy<Value = (FrameClock, Grid, i64)> {
        (
            any_rate(),
            1u32..=600,
            -86_400i64 * 365..4_102_444_800i64,
            0u32..60,
            any::<bool>(),
            0i64..1_000_000,
        )
            .prop_map(|(rate, d, second, frame, phased, start)| {
                let frame = frame % rate.nominal();
                let grid = Grid::new(rate, d).unwrap().with_phase(if phased {
                    i64::from(frame) * 7 + 3
                } else {
                    0
                });
                (
                    FrameClock::new(second * 1_000_000_000, frame, rate, 0),
                    grid,
                    start,
                )
            })
    }

    proptest! {
        #[test]
        fn grid_properties((clock, grid, start) in any_stream()) {
            let d = i64::from(grid.frames_per_segment());
            let window = 2 * d + 3;
            let mut previous: Option<(i64, i64)> = None;
            for i in start..start + window {
                let t = clock.utc_ns(i);
                let n = grid.epoch_frame_index(t);
                let k = grid.segment_of(t);
                if let Some((previous_n, previous_k)) = previous {
                    // Consecutive frames: consecutive slots, monotonic segments stepping by 0/1.
                    prop_assert_eq!(n, previous_n + 1);
                    prop_assert!(k == previous_k || k == previous_k + 1);
                    // A new segment starts exactly where the previous frame was the last one.
                    let t_prev = clock.utc_ns(i - 1);
                    prop_assert_eq!(k == previous_k + 1, grid.is_last_frame_of_segment(t_prev));
                    prop_assert_eq!(k == previous_k + 1, grid.is_first_frame_of_segment(t));
                }
                prop_assert_eq!(grid.segment_of_frame(n), k);
                let first = grid.first_frame_of_segment(k);
                prop_assert!(first <= n && n < first + d);
                // The frame is within half a frame of its slot's instant.
                let slot = grid.frame_start_ns(n);
                let frame_ns = grid.rate().frames_to_ns(1);
                prop_assert!((t - slot).abs() <= frame_ns / 2 + 1);
                previous = Some((n, k));
            }
            // Durations sum exactly: m segments of D frames last m·D frames, and their nominal
            // starts are the frames' starts.
            let k0 = grid.segment_of(clock.utc_ns(start));
            let m = 5i64;
            let sum = grid.segment_duration().times(m as u64);
            let span = ExactSeconds::of_frames((m * d) as u64, grid.rate());
            prop_assert_eq!(sum.numer() * span.denom(), span.numer() * sum.denom());
            prop_assert_eq!(
                grid.segment_start_ns(k0 + m),
                grid.frame_start_ns(grid.first_frame_of_segment(k0) + m * d)
            );
            prop_assert!(grid.segment_start_ns(k0) <= grid.segment_start_ns(k0 + 1));
        }

        #[test]
        fn segment_of_is_monotonic_in_utc(
            rate in any_rate(),
            d in 1u32..=600,
            a in any::<i64>(),
            b in any::<i64>(),
        ) {
            let grid = Grid::new(rate, d).unwrap();
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(grid.segment_of(low) <= grid.segment_of(high));
            prop_assert!(grid.epoch_frame_index(low) <= grid.epoch_frame_index(high));
        }

        #[test]
        fn whole_frame_durations_round_trip(rate in any_rate(), frames in 1u32..100_000) {
            let exact = ExactSeconds::of_frames(u64::from(frames), rate);
            let floor = exact.floor_nanos();
            prop_assert_eq!(
                Grid::from_duration_ns(rate, floor).unwrap().frames_per_segment(),
                frames
            );
        }
    }
}
