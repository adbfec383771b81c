// SPDX-License-Identifier: MPL-2.0
//! The pure core of `hlsdashsink`: the epoch grid and the manifests derived from it, as text.
//!
//! No GStreamer types live here. The element glue feeds [`SegmentFact`]s (what it cut and
//! wrote) and writes the returned text with [`output::write_atomically`]; everything a manifest
//! says is a function of the timecode-derived UTC instants of the frames, the configuration and
//! those facts — never of the wall clock, the start time of the packager or a counter that starts
//! at 0. That is what makes two redundant packagers, started at different times or restarted,
//! write byte-identical playlists and MPDs (ISO/IEC 23009-9 "REaP").
//!
//! - [`grid`]: segment `k` covers the frames of epoch frame index `[k·D, (k+1)·D)`.
//! - [`hls`]: media and multivariant playlists (RFC 8216, draft-pantos-hls-rfc8216bis).
//! - [`dash`]: dynamic and static MPDs (ISO/IEC 23009-1, DASH-IF IOP timing model).
//! - [`storage`]: the JSON index of stored segments with SHA-256 digests.
//! - [`output`]: safe name templates and atomic file replacement.
//! - [`publisher`]: frames in, segments and manifests on disk (what the element runs).
//! - [`fmp4`]: the CMAF / fragmented MP4 init and media segments, as deterministic bytes.
//! - [`aac`]: the AAC AudioSpecificConfig of an audio track.

pub mod aac;
pub mod dash;
pub mod fmp4;
pub mod grid;
pub mod hls;
pub mod output;
pub mod publisher;
pub mod storage;
pub mod ts;

use std::fmt;

use crate::timecode::FrameRate;

/// What the glue knows about one finished segment; the manifests are functions of these facts.
///
/// Both redundant packagers compute identical facts for the same segment because every field
/// derives from the timecode (through [`grid::Grid`]) and from what the glue cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentFact {
    /// The segment index on the epoch grid ([`grid::Grid::segment_of`] of its first frame).
    pub k: i64,
    /// The UTC instant (ns since the Unix epoch) the timecode gives the segment's first frame.
    /// HLS prints it as EXT-X-PROGRAM-DATE-TIME.
    pub first_frame_utc_ns: i64,
    /// How many frames the segment holds: the grid's D for a complete segment, fewer when the
    /// timecode jumped inside it.
    pub frames: u32,
    /// The media before this segment is not continuous with it (RFC 8216 §4.3.2.3: a change of
    /// encoding parameters or of the timestamp sequence). See [`hls`] for how the discontinuity
    /// sequence stays deterministic.
    pub discontinuity: bool,
}

/// An exact, non-negative number of seconds `numer / denom`, so durations never pass through a
/// float and print the same digits on every platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExactSeconds {
    numer: u128,
    denom: u128,
}

impl ExactSeconds {
    /// `numer / denom` seconds; `None` when `denom` is 0.
    pub fn new(numer: u128, denom: u128) -> Option<ExactSeconds> {
        (denom != 0).then_some(ExactSeconds { numer, denom })
    }

    /// The duration of `frames` frames at `rate`: `frames·den/num` seconds, exactly.
    pub fn of_frames(frames: u64, rate: FrameRate) -> ExactSeconds {
        ExactSeconds {
            numer: u128::from(frames) * u128::from(rate.den()),
            // FrameRate::new rejects a zero numerator.
            denom: u128::from(rate.num()),
        }
    }

    /// `ns` nanoseconds, exactly.
    pub fn from_nanos(ns: u64) -> ExactSeconds {
        ExactSeconds {
            numer: u128::from(ns),
            denom: 1_000_000_000,
        }
    }

    pub fn numer(&self) -> u128 {
        self.numer
    }

    pub fn denom(&self) -> u128 {
        self.denom
    }

    /// `self · factor`, saturating.
    pub fn times(&self, factor: u64) -> ExactSeconds {
        ExactSeconds {
            numer: self.numer.saturating_mul(u128::from(factor)),
            denom: self.denom,
        }
    }

    /// The smallest whole number of seconds ≥ self.
    pub fn ceil_seconds(&self) -> u64 {
        u64::try_from(self.numer.div_ceil(self.denom)).unwrap_or(u64::MAX)
    }

    /// `floor(self·1e9)` nanoseconds, saturating.
    pub fn floor_nanos(&self) -> u64 {
        u64::try_from(self.numer.saturating_mul(1_000_000_000) / self.denom).unwrap_or(u64::MAX)
    }

    /// Exactly `decimals` digits after the point, rounded half up (`2.002000`, `0.834167`).
    ///
    /// Fixed width so the text never depends on a float formatter; half up so the rounding is
    /// a function of the exact value alone.
    pub fn to_fixed(&self, decimals: u32) -> String {
        // More than 18 digits would overflow the scale; no manifest needs them.
        let decimals = decimals.min(18);
        let scale = 10_u128.pow(decimals);
        let scaled = self
            .numer
            .saturating_mul(scale)
            .saturating_add(self.denom / 2)
            / self.denom;
        if decimals == 0 {
            return scaled.to_string();
        }
        format!(
            "{}.{:0width$}",
            scaled / scale,
            scaled % scale,
            width = decimals as usize
        )
    }

    /// The shortest decimal text of the value with at most 9 fractional digits: exact whenever
    /// the value is a whole number of nanoseconds (every value this crate prints at integer
    /// rates and at D multiple of 1001-rate seconds), else rounded half up to the nanosecond.
    pub fn to_shortest_decimal(&self) -> String {
        let fixed = self.to_fixed(9);
        match fixed.split_once('.') {
            Some((whole, fraction)) => {
                let fraction = fraction.trim_end_matches('0');
                if fraction.is_empty() {
                    whole.to_owned()
                } else {
                    format!("{whole}.{fraction}")
                }
            }
            None => fixed,
        }
    }

    /// An xs:duration as ISO 8601 `PTnS` (`PT2.002S`, `PT0S`, `PT3600S`): seconds only, so
    /// there is one spelling of every value (ISO/IEC 23009-1 uses xs:duration for every MPD
    /// duration attribute).
    pub fn to_iso8601(&self) -> String {
        format!("PT{}S", self.to_shortest_decimal())
    }
}

impl fmt::Display for ExactSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_shortest_decimal())
    }
}

/// An instant as xs:dateTime / RFC 3339 in UTC with the shortest exact fraction:
/// `1970-01-01T00:00:00Z`, `2021-12-06T00:30:02.002Z`, `…T00:00:59.667333333Z`.
pub fn format_instant_shortest(utc_ns: i64) -> String {
    let nanos = crate::timecode::utc::format_rfc3339_nanos(utc_ns);
    // "YYYY-MM-DDThh:mm:ss.fffffffffZ": trim the fraction's trailing zeros, and the point too.
    match nanos.strip_suffix('Z').and_then(|s| s.split_once('.')) {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{fraction}Z")
            }
        }
        None => nanos,
    }
}

/// Turns the frames a packager sees (their UTC instants, in presentation order) into
/// [`SegmentFact`]s, the same on every packager that sees the same frames.
///
/// - A segment is reported as soon as its last grid frame arrives ([`grid::Grid::is_last_frame_of_segment`]),
///   so its manifests can be published without waiting for the next keyframe.
/// - Only segments whose *first* grid frame was seen are reported: a packager that joins (or
///   restarts) in the middle of a segment skips it, as a packager that was running all along
///   would list it — the manifests then differ only until that segment leaves the window.
/// - A frame of a later segment closes the open one early (a forward timecode jump); its
///   `frames` is the span from its first to its last frame seen. The segment after a jump does
///   not start on its first frame and is skipped; the missing k become EXT-X-GAP entries.
/// - A frame at or before the last one seen (a backward jump) is ignored: listed segments never
///   change and k never decreases.
/// - `discontinuity` is never set here; the publisher sets it after a jump when asked (see
///   [`hls`]).
#[derive(Debug, Clone)]
pub struct SegmentCutter {
    grid: grid::Grid,
    /// (k, first frame UTC, epoch index of the first frame, epoch index of the last frame).
    open: Option<(i64, i64, i64, i64)>,
    last_index: Option<i64>,
}

impl SegmentCutter {
    pub fn new(grid: grid::Grid) -> SegmentCutter {
        SegmentCutter {
            grid,
            open: None,
            last_index: None,
        }
    }

    fn fact_of(&self, (k, first_utc, first_n, last_n): (i64, i64, i64, i64)) -> SegmentFact {
        let span = last_n.saturating_sub(first_n).saturating_add(1);
        SegmentFact {
            k,
            first_frame_utc_ns: first_utc,
            // 1 ≤ span ≤ D ≤ u32::MAX: both ends lie in segment k.
            frames: u32::try_from(span).unwrap_or(self.grid.frames_per_segment()),
            discontinuity: false,
        }
    }

    /// Feeds one frame. Returns the segment it closes early (a jump) or completes; at most
    /// one of them can be reported per frame, the early-closed one first.
    pub fn push_frame(&mut self, utc_ns: i64) -> Vec<SegmentFact> {
        let mut reported = Vec::new();
        let n = self.grid.epoch_frame_index(utc_ns);
        if self.last_index.is_some_and(|last| n <= last) {
            return reported;
        }
        self.last_index = Some(n);
        let k = self.grid.segment_of_frame(n);
        if let Some(open) = self.open
            && open.0 != k
        {
            self.open = None;
            reported.push(self.fact_of(open));
        }
        match &mut self.open {
            Some(open) => open.3 = n,
            None if self.grid.is_first_frame_of_segment(utc_ns) => {
                self.open = Some((k, utc_ns, n, n));
            }
            None => {}
        }
        if self.grid.is_last_frame_of_segment(utc_ns)
            && let Some(open) = self.open.take()
        {
            reported.push(self.fact_of(open));
        }
        reported
    }

    /// At the end of the stream: the open segment, short, if any.
    pub fn finish(&mut self) -> Option<SegmentFact> {
        self.open.take().map(|open| self.fact_of(open))
    }
}

/// The name of segment `k` of `representation_id`: `template` with `$Number$ = k` and
/// `$Time$ = (k·D + phase) · ticks per frame` at `timescale` (the segment's media time on the
/// epoch timeline, `S@t` in the MPD). Shared by HLS, DASH and the storage index, so every
/// manifest names a segment the same way.
pub fn segment_name(
    template: &output::NameTemplate,
    representation_id: &str,
    grid: &grid::Grid,
    timescale: u32,
    k: i64,
) -> Result<String, output::OutputError> {
    let time = if template.uses_time() {
        grid.ticks_of_frames(grid.first_frame_of_segment(k), timescale)
            .ok_or_else(|| output::OutputError::Template {
                template: template.as_str().to_owned(),
                reason: format!(
                    "$Time$ needs a whole number of {timescale} Hz ticks per frame at {} fps",
                    grid.rate()
                ),
            })?
    } else {
        0
    };
    template.expand(representation_id, k, time)
}

#[cfg(test)]
mod determinism_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_seconds_print_fixed_and_shortest() {
        let rate = FrameRate::new(30000, 1001).unwrap();
        let d = ExactSeconds::of_frames(60, rate);
        assert_eq!(d.to_fixed(6), "2.002000");
        assert_eq!(d.to_fixed(3), "2.002");
        assert_eq!(d.to_iso8601(), "PT2.002S");
        assert_eq!(d.ceil_seconds(), 3);
        assert_eq!(d.floor_nanos(), 2_002_000_000);
        let odd = ExactSeconds::of_frames(25, rate);
        assert_eq!(odd.to_fixed(6), "0.834167");
        assert_eq!(odd.to_shortest_decimal(), "0.834166667");
        assert_eq!(ExactSeconds::from_nanos(0).to_iso8601(), "PT0S");
        assert_eq!(
            ExactSeconds::of_frames(50, FrameRate::new(25, 1).unwrap()).to_fixed(0),
            "2"
        );
        assert_eq!(ExactSeconds::new(1, 0), None);
    }

    #[test]
    fn instants_print_with_the_shortest_exact_fraction() {
        assert_eq!(format_instant_shortest(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_instant_shortest(2_002_000_000),
            "1970-01-01T00:00:02.002Z"
        );
        assert_eq!(format_instant_shortest(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(
            format_instant_shortest(-1),
            "1969-12-31T23:59:59.999999999Z"
        );
    }
}
