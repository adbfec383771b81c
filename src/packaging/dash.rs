// SPDX-License-Identifier: MPL-2.0
//! DASH MPDs as deterministic XML text (ISO/IEC 23009-1; DASH-IF IOP timing model; the REaP
//! I-MPD rules of DASH-IF IOP).
//!
//! # availabilityStartTime: a fixed epoch anchor, not the first timecode
//!
//! Google's Live Stream API sets `availabilityStartTime` to the *starting timecode*.
//! For one packager that is fine; for two it is not: each starts at a different frame (or
//! restarts), so each would publish a different AST, and AST SHALL NOT change across MPD
//! updates (IOP timing model). Here AST is a fixed anchor both packagers know without talking:
//! the nominal start of the *anchor segment* `k_A` of the epoch grid, by default segment 0 =
//! 1970-01-01T00:00:00Z (REaP I-MPD: "SHOULD: AST = 1970-01-01T00:00:00Z and Period@start =
//! PT0S"), configurable to any later grid boundary. Then:
//! - `Period@start = PT0S`, `presentationTimeOffset` = the media time of the anchor's first
//!   frame (0 for the epoch), so MPD time = UTC − AST for every sample whose media time is its
//!   epoch frame index times the ticks per frame (`tfdt`, which the glue must write);
//! - `SegmentTemplate@startNumber = k_A` and `@duration = D`, so `$Number$ = k` for every
//!   segment (ISO/IEC 23009-1 §5.3.9.5.3: segment `startNumber + i` starts at `i·@duration`);
//! - with a `SegmentTimeline`, `S@t` is the media time of the segment's first frame and
//!   `startNumber` the k of the first listed segment, so `$Number$ = k` there too and `$Time$` is
//!   a function of k (§5.3.9.6).
//!
//! # publishTime from media time
//!
//! `publishTime` = the nominal end of the last complete segment listed (`(k_last + 1)·D` on the
//! grid): a function of the media, identical on both packagers, increasing with every update;
//! never the wall clock.
//!
//! # Element and attribute order
//!
//! Fixed (the order of the schema), with values that need no XML escaping except `UTCTiming`
//! values, which are escaped. One MPD text per (configuration, facts, last k, kind).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::grid::Grid;
use super::output::{NameTemplate, OutputError, check_representation_id};
use super::{ExactSeconds, SegmentFact, format_instant_shortest, segment_name};

/// Why an MPD cannot be made.
#[derive(Debug)]
pub enum DashError {
    /// The configuration contradicts a rule; the text says which and what to change.
    Config(String),
    /// A value does not fit the MPD's types (e.g. `$Number$` beyond 32 bits).
    Range(String),
    /// No segment to list yet.
    Empty,
    Name(OutputError),
}

impl fmt::Display for DashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DashError::Config(text) | DashError::Range(text) => f.write_str(text),
            DashError::Empty => f.write_str("no segment to list yet"),
            DashError::Name(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for DashError {}

impl From<OutputError> for DashError {
    fn from(error: OutputError) -> DashError {
        DashError::Name(error)
    }
}

/// A `UTCTiming` descriptor (ISO/IEC 23009-1 §5.8.4.11); a dynamic MPD SHALL carry one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtcTiming {
    pub scheme_id_uri: String,
    pub value: String,
}

impl UtcTiming {
    /// `urn:mpeg:dash:utc:http-iso:2014`: the client GETs `url` and reads an ISO 8601 instant.
    pub fn http_iso(url: &str) -> UtcTiming {
        UtcTiming {
            scheme_id_uri: "urn:mpeg:dash:utc:http-iso:2014".to_owned(),
            value: url.to_owned(),
        }
    }

    /// `urn:mpeg:dash:utc:http-xsdate:2014`.
    pub fn http_xsdate(url: &str) -> UtcTiming {
        UtcTiming {
            scheme_id_uri: "urn:mpeg:dash:utc:http-xsdate:2014".to_owned(),
            value: url.to_owned(),
        }
    }
}

/// A video Representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoRepresentation {
    pub id: String,
    /// RFC 6381, e.g. `avc1.64001f`.
    pub codecs: String,
    pub bandwidth: u32,
    pub width: u32,
    pub height: u32,
}

/// An audio Representation (AAC in CMAF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioRepresentation {
    pub id: String,
    pub codecs: String,
    pub bandwidth: u32,
    /// Hz; also the audio track's timescale.
    pub sampling_rate: u32,
    /// `AudioChannelConfiguration` with the MPEG-B CICP scheme, if known.
    pub channels: Option<u32>,
}

/// Everything an MPD is made from; shared unchanged by every redundant packager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashConfig {
    pub grid: Grid,
    /// The video track's timescale (fMP4 `mdhd`); a frame and D must be whole ticks.
    pub video_timescale: u32,
    /// The anchor segment k_A: AST is its nominal start; 0 = the Unix epoch.
    pub anchor_segment: i64,
    /// Segments in the time-shift buffer: `timeShiftBufferDepth = window · D`; `u32::MAX`
    /// omits the attribute (an infinite buffer, ISO/IEC 23009-1: every segment stays
    /// available, as for an HLS event playlist).
    pub window: u32,
    pub min_buffer_time: ExactSeconds,
    pub suggested_presentation_delay: ExactSeconds,
    pub minimum_update_period: ExactSeconds,
    pub utc_timing: Vec<UtcTiming>,
    /// List segments in a `SegmentTimeline` (REaP SHOULD) instead of `@duration` alone.
    pub segment_timeline: bool,
    /// `SegmentTemplate@media`, e.g. `$RepresentationID$_$Number$.m4s`.
    pub media_template: NameTemplate,
    /// `SegmentTemplate@initialization`, e.g. `$RepresentationID$_init.mp4`.
    pub init_template: NameTemplate,
    pub period_id: String,
    /// With a `SegmentTimeline`: the k of the first segment after every hole the packager has
    /// listed (a segment not written: a timecode jump, a segment without a keyframe, missing
    /// audio). Each begins a new Period, `p<k>`, so players that stop at a hole in a timeline
    /// (dash.js) play across it (DASH-IF IOP: a new Period after content lost before the
    /// packager). Holes among the facts given to [`DashConfig::mpd`] begin Periods too; this
    /// set remembers those that left the window (a restarted packager reads them back from
    /// its MPD).
    pub period_starts: BTreeSet<i64>,
    pub video: Vec<VideoRepresentation>,
    pub audio: Vec<AudioRepresentation>,
}

impl DashConfig {
    /// The usual choices for a CMAF live stream: the epoch anchor, video at the grid's default
    /// timescale, `$RepresentationID$_$Number$.m4s`, a window of 5 segments, minBufferTime D,
    /// suggestedPresentationDelay 3·D, minimumUpdatePeriod D, period id `0`, no timeline.
    pub fn cmaf(
        grid: Grid,
        utc_timing: UtcTiming,
        video: Vec<VideoRepresentation>,
    ) -> Result<DashConfig, OutputError> {
        let d = grid.segment_duration();
        Ok(DashConfig {
            grid,
            video_timescale: grid.default_timescale(),
            anchor_segment: 0,
            window: 5,
            min_buffer_time: d,
            suggested_presentation_delay: d.times(3),
            minimum_update_period: d,
            utc_timing: vec![utc_timing],
            segment_timeline: false,
            media_template: NameTemplate::new("$RepresentationID$_$Number$.m4s")?,
            init_template: NameTemplate::new("$RepresentationID$_init.mp4")?,
            period_id: "0".to_owned(),
            period_starts: BTreeSet::new(),
            video,
            audio: Vec::new(),
        })
    }

    /// Notes that segment `k` is listed after `previous` (the last listed before it, if
    /// any): a hole between them begins a Period at k. Forgets the starts of Periods that
    /// ended before `window_first` (the first segment still listed), keeping the one it is
    /// in, so the set stays as small as the window.
    pub fn note_listed(&mut self, previous: Option<i64>, k: i64, window_first: i64) {
        if self.segment_timeline && previous.is_some_and(|p| p.saturating_add(1) != k) {
            self.period_starts.insert(k);
        }
        let opening = self
            .period_starts
            .range(..=window_first)
            .next_back()
            .copied();
        self.period_starts
            .retain(|&start| start > window_first || Some(start) == opening);
    }

    /// Reads back the Periods a previous run began after holes from its MPD (`p<k>` ids), so
    /// a restarted packager keeps listing them under the same ids. Anything else in the text
    /// is ignored: a damaged MPD only loses Periods whose hole is still listed anyway.
    pub fn remember_periods_of(&mut self, previous_mpd: &str) {
        const OPENING: &str = "<Period id=\"p";
        let mut rest = previous_mpd;
        while let Some(at) = rest.find(OPENING) {
            rest = &rest[at + OPENING.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if rest[digits..].starts_with('"')
                && let Ok(k) = rest[..digits].parse::<i64>()
            {
                self.period_starts.insert(k);
            }
        }
    }

    /// Checks the configuration against the MPD's rules; [`DashConfig::mpd`] calls it.
    pub fn validate(&self) -> Result<(), DashError> {
        let config = |text: String| Err(DashError::Config(text));
        let grid = &self.grid;
        if self.video.is_empty() && self.audio.is_empty() {
            return config("an MPD needs at least one video or audio representation".into());
        }
        if grid.ticks_per_frame(self.video_timescale).is_none() {
            return config(format!(
                "video timescale {} Hz does not give a whole number of ticks per frame at {} \
                 fps; use {}",
                self.video_timescale,
                grid.rate(),
                grid.default_timescale()
            ));
        }
        self.duration_ticks(self.video_timescale)?;
        for audio in &self.audio {
            if grid
                .ticks_of_frames(i64::from(grid.frames_per_segment()), audio.sampling_rate)
                .is_none()
            {
                return config(format!(
                    "audio representation '{}': a segment of {} s is not a whole number of \
                     samples at {} Hz",
                    audio.id,
                    grid.segment_duration(),
                    audio.sampling_rate
                ));
            }
            if grid
                .ticks_of_frames(grid.first_frame_of_segment(0), audio.sampling_rate)
                .is_none()
            {
                return config(format!(
                    "audio representation '{}': the grid phase of {} frames is not a whole \
                     number of samples at {} Hz",
                    audio.id,
                    grid.phase_frames(),
                    audio.sampling_rate
                ));
            }
        }
        if self.anchor_segment < 0 {
            return config(format!(
                "anchor segment {} lies before 1970; presentationTimeOffset cannot be negative",
                self.anchor_segment
            ));
        }
        if self.window == 0 {
            return config("the time-shift window needs at least one segment".into());
        }
        if self.utc_timing.is_empty() {
            return config(
                "a dynamic MPD SHALL carry a UTCTiming element (DASH-IF IOP); configure \
                 utc-timing, e.g. urn:mpeg:dash:utc:http-iso:2014 with a time server URL"
                    .into(),
            );
        }
        for timing in &self.utc_timing {
            if timing.scheme_id_uri.is_empty()
                || timing
                    .scheme_id_uri
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
                || timing.value.chars().any(char::is_control)
            {
                return config(format!(
                    "UTCTiming scheme '{}' / value '{}' is not usable (no spaces in the \
                     scheme, no control characters)",
                    timing.scheme_id_uri.escape_debug(),
                    timing.value.escape_debug()
                ));
            }
        }
        let media = &self.media_template;
        if self.segment_timeline {
            if !media.uses_number() && !media.uses_time() {
                return config(format!(
                    "media template '{media}' names no segment: use $Number$ or $Time$"
                ));
            }
        } else if !media.uses_number() || media.uses_time() {
            return config(format!(
                "media template '{media}' must use $Number$ (and not $Time$) without a \
                 SegmentTimeline"
            ));
        }
        if self.init_template.uses_number() || self.init_template.uses_time() {
            return config(format!(
                "init template '{}' must not use $Number$ or $Time$",
                self.init_template
            ));
        }
        let ids: Vec<&str> = self
            .video
            .iter()
            .map(|v| v.id.as_str())
            .chain(self.audio.iter().map(|a| a.id.as_str()))
            .collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        if unique.len() != ids.len() {
            return config("representation ids must be unique".into());
        }
        if ids.len() > 1
            && (!media.uses_representation_id() || !self.init_template.uses_representation_id())
        {
            return config(
                "with several representations, the media and init templates must use \
                 $RepresentationID$ (REaP: identical templates in every AdaptationSet)"
                    .into(),
            );
        }
        let codecs_ok = |codecs: &str| {
            !codecs.is_empty()
                && codecs
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ',' | '-'))
        };
        for (id, codecs, bandwidth) in self
            .video
            .iter()
            .map(|v| (&v.id, &v.codecs, v.bandwidth))
            .chain(self.audio.iter().map(|a| (&a.id, &a.codecs, a.bandwidth)))
        {
            check_representation_id(id)?;
            if !codecs_ok(codecs) {
                return config(format!(
                    "representation '{id}' has codecs '{}'; use RFC 6381 such as avc1.64001f",
                    codecs.escape_debug()
                ));
            }
            if bandwidth == 0 {
                return config(format!("representation '{id}' has bandwidth 0"));
            }
        }
        if self.period_id.is_empty()
            || !self
                .period_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return config(format!(
                "period id '{}' must be non-empty and use A-Z a-z 0-9 - _ .",
                self.period_id.escape_debug()
            ));
        }
        Ok(())
    }

    /// D in ticks of `timescale`, as the MPD's 32-bit `@duration`.
    fn duration_ticks(&self, timescale: u32) -> Result<u32, DashError> {
        let d = i64::from(self.grid.frames_per_segment());
        let ticks = self.grid.ticks_of_frames(d, timescale).ok_or_else(|| {
            DashError::Config(format!(
                "a segment of {} s is not a whole number of ticks at {timescale} Hz",
                self.grid.segment_duration()
            ))
        })?;
        u32::try_from(ticks).map_err(|_| {
            DashError::Config(format!(
                "a segment of {ticks} ticks at {timescale} Hz exceeds SegmentTemplate@duration \
                 (32 bits); use a smaller timescale"
            ))
        })
    }

    /// The MPD listing the segments up to `last_complete_k`. `facts` are the segments the
    /// packager holds (any order; others are ignored); they matter for the window's first
    /// segment and for the `SegmentTimeline`.
    pub fn mpd(
        &self,
        facts: &[SegmentFact],
        last_complete_k: i64,
        kind: MpdKind,
    ) -> Result<Mpd, DashError> {
        self.validate()?;
        let by_k: BTreeMap<i64, &SegmentFact> = facts
            .iter()
            .filter(|f| f.k <= last_complete_k)
            .map(|f| (f.k, f))
            .collect();
        let first_fact = *by_k.keys().next().ok_or(DashError::Empty)?;
        let first = match kind {
            MpdKind::Dynamic => last_complete_k
                .saturating_sub(i64::from(self.window))
                .saturating_add(1)
                .max(first_fact),
            MpdKind::Static => first_fact,
        };
        if first > last_complete_k {
            // Only at the ends of the i64 range, where saturation meets.
            return Err(DashError::Range(format!(
                "segment {last_complete_k} is out of range"
            )));
        }
        let number = |k: i64| {
            u32::try_from(k).map_err(|_| {
                DashError::Range(format!(
                    "segment number {k} does not fit startNumber (32 bits, ISO/IEC 23009-1); \
                     use longer segments"
                ))
            })
        };
        number(last_complete_k)?;
        let grid = &self.grid;
        // Periods: one from the stream's start (id `period_id`), and with a timeline a new one
        // after every hole — remembered, or among the facts listed.
        let mut starts: BTreeSet<i64> = BTreeSet::new();
        if self.segment_timeline {
            let listed: Vec<i64> = by_k
                .range(first..=last_complete_k)
                .map(|(k, _)| *k)
                .collect();
            starts.extend(self.period_starts.range(..=last_complete_k).copied());
            starts.extend(
                listed
                    .windows(2)
                    .filter(|pair| pair[1] != pair[0] + 1)
                    .map(|pair| pair[1]),
            );
            // Only the Period the window starts in and those after it are listed.
            // A remembered start whose segment is not listed (itself lost) begins nothing.
            let opening = starts.range(..=first).next_back().copied();
            starts.retain(|&k| (k > first && by_k.contains_key(&k)) || Some(k) == opening);
        }
        let mut periods = Vec::new();
        let bounds: Vec<Option<i64>> = std::iter::once(None)
            .filter(|_| starts.first().is_none_or(|&k| k > first))
            .chain(starts.iter().copied().map(Some))
            .collect();
        for (index, start) in bounds.iter().enumerate() {
            let until = bounds.get(index + 1).copied().flatten().unwrap_or(i64::MAX);
            let from = start.map_or(first, |k| k.max(first));
            let period = match start {
                None => self.period(
                    kind,
                    &by_k,
                    first,
                    from,
                    until.min(last_complete_k + 1),
                    None,
                )?,
                Some(k) => self.period(
                    kind,
                    &by_k,
                    first,
                    from,
                    until.min(last_complete_k + 1),
                    Some(*k),
                )?,
            };
            periods.push(period);
        }
        let d = grid.segment_duration();
        let media_presentation_duration = match kind {
            MpdKind::Static => {
                // From the first listed segment's start to the end of the media written: the
                // last segment held can be short (a stream that ended inside it, or a cut),
                // and a static MPD that claims more than exists sends players past the end.
                let end = by_k
                    .range(first..=last_complete_k)
                    .map(|(_, f)| {
                        grid.epoch_frame_index(f.first_frame_utc_ns)
                            .saturating_add(i64::from(f.frames))
                    })
                    .max()
                    .unwrap_or_else(|| grid.first_frame_of_segment(first));
                let frames = end.saturating_sub(grid.first_frame_of_segment(first));
                Some(ExactSeconds::of_frames(
                    u64::try_from(frames).unwrap_or(0),
                    grid.rate(),
                ))
            }
            MpdKind::Dynamic => None,
        };
        Ok(Mpd {
            kind,
            availability_start_time_ns: grid.segment_start_ns(self.anchor_segment),
            publish_time_ns: grid.segment_start_ns(last_complete_k.saturating_add(1)),
            media_presentation_duration,
            minimum_update_period: self.minimum_update_period,
            time_shift_buffer_depth: (self.window != u32::MAX)
                .then(|| d.times(u64::from(self.window))),
            min_buffer_time: self.min_buffer_time,
            suggested_presentation_delay: self.suggested_presentation_delay,
            max_segment_duration: d,
            frame_rate: format!("{}/{}", grid.rate().num(), grid.rate().den())
                .trim_end_matches("/1")
                .to_owned(),
            media_template: self.media_template.as_str().to_owned(),
            init_template: self.init_template.as_str().to_owned(),
            periods,
            utc_timing: self.utc_timing.clone(),
            first_k: first,
        })
    }

    /// The Period holding segments `from..until` (k): from the stream's start (`begins`
    /// `None`: id `period_id`, the anchor's timing) or from the segment after a hole (`Some(k)`:
    /// id `p<k>`, starting at segment k's nominal start).
    fn period(
        &self,
        kind: MpdKind,
        by_k: &BTreeMap<i64, &SegmentFact>,
        first: i64,
        from: i64,
        until: i64,
        begins: Option<i64>,
    ) -> Result<PeriodXml, DashError> {
        let grid = &self.grid;
        let number = |k: i64| {
            u32::try_from(k).map_err(|_| {
                DashError::Range(format!(
                    "segment number {k} does not fit startNumber (32 bits, ISO/IEC 23009-1); \
                     use longer segments"
                ))
            })
        };
        // Dynamic: AST and PTO from the anchor, or from the Period's first segment after a
        // hole; static: the presentation starts at the first listed segment.
        let (start_k, start_number) = match (kind, begins) {
            (MpdKind::Dynamic, None) if !self.segment_timeline => {
                (self.anchor_segment, number(self.anchor_segment)?)
            }
            (MpdKind::Dynamic, None) => (self.anchor_segment, number(from)?),
            (_, Some(k)) => (k, number(from.max(k))?),
            (MpdKind::Static, None) => (first, number(first)?),
        };
        // Period@start, from AST (dynamic) or from the presentation's start (static).
        let origin = match kind {
            MpdKind::Dynamic => self.anchor_segment,
            MpdKind::Static => first,
        };
        let start = match begins {
            None => ExactSeconds::from_nanos(0),
            Some(k) => ExactSeconds::of_frames(
                u64::try_from(grid.first_frame_of_segment(k) - grid.first_frame_of_segment(origin))
                    .unwrap_or(0),
                grid.rate(),
            ),
        };
        let id = match begins {
            None => self.period_id.clone(),
            Some(k) => format!("p{k}"),
        };
        let mut adaptation_sets = Vec::new();
        let mut tracks: Vec<(ContentKind, u32)> = Vec::new();
        if !self.video.is_empty() {
            tracks.push((ContentKind::Video, self.video_timescale));
        }
        if let Some(audio) = self.audio.first() {
            // All audio representations share one AdaptationSet and so one timescale.
            tracks.push((ContentKind::Audio, audio.sampling_rate));
        }
        for (id, (content, timescale)) in tracks.into_iter().enumerate() {
            let ticks = |frames: i64| {
                grid.ticks_of_frames(frames, timescale).ok_or_else(|| {
                    DashError::Config(format!(
                        "{frames} frames are not whole ticks at {timescale} Hz"
                    ))
                })
            };
            let pto = ticks(grid.first_frame_of_segment(start_k))?;
            let presentation_time_offset = u64::try_from(pto)
                .map_err(|_| DashError::Range(format!("presentationTimeOffset {pto} < 0")))?;
            let timeline = if self.segment_timeline {
                Some(timeline_entries(
                    by_k.range(from..until).map(|(_, f)| *f),
                    ticks,
                    grid,
                )?)
            } else {
                None
            };
            let representations = match content {
                ContentKind::Video => self
                    .video
                    .iter()
                    .map(|v| RepresentationXml::Video(v.clone()))
                    .collect(),
                ContentKind::Audio => self
                    .audio
                    .iter()
                    .map(|a| RepresentationXml::Audio(a.clone()))
                    .collect(),
            };
            // Every representation's names must be expandable (fails early, not in a player).
            for representation in self
                .video
                .iter()
                .map(|v| &v.id)
                .chain(self.audio.iter().map(|a| &a.id))
            {
                segment_name(&self.media_template, representation, grid, timescale, from)?;
                self.init_template.expand(representation, 0, 0)?;
            }
            adaptation_sets.push(AdaptationSetXml {
                id: id as u32,
                content,
                timescale,
                presentation_time_offset,
                start_number,
                duration: self.duration_ticks(timescale)?,
                timeline,
                representations,
            });
        }
        Ok(PeriodXml {
            id,
            start,
            adaptation_sets,
        })
    }
}

/// The `S` entries of a SegmentTimeline for `facts` (in k order): `t` and `d` in ticks, runs of
/// equal, contiguous segments folded into `r`.
fn timeline_entries<'a>(
    facts: impl Iterator<Item = &'a SegmentFact>,
    ticks: impl Fn(i64) -> Result<i128, DashError>,
    grid: &Grid,
) -> Result<Vec<TimelineEntry>, DashError> {
    let mut entries: Vec<TimelineEntry> = Vec::new();
    for fact in facts {
        let t = ticks(grid.epoch_frame_index(fact.first_frame_utc_ns))?;
        let t = u64::try_from(t).map_err(|_| DashError::Range(format!("S@t {t} < 0")))?;
        let d = u64::try_from(ticks(i64::from(fact.frames))?).unwrap_or(0);
        match entries.last_mut() {
            Some(last)
                if last.duration == d
                    && last
                        .start
                        .saturating_add((last.repeat + 1).saturating_mul(last.duration))
                        == t =>
            {
                last.repeat += 1
            }
            _ => entries.push(TimelineEntry {
                start: t,
                duration: d,
                repeat: 0,
            }),
        }
    }
    Ok(entries)
}

/// `MPD@type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MpdKind {
    /// Live: `type="dynamic"` with AST, time-shift buffer, update period.
    Dynamic,
    /// After EOS or for vod: `type="static"` with `mediaPresentationDuration`.
    Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentKind {
    Video,
    Audio,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RepresentationXml {
    Video(VideoRepresentation),
    Audio(AudioRepresentation),
}

/// One `S` element: `t`, `d`, `r` (ISO/IEC 23009-1 §5.3.9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEntry {
    pub start: u64,
    pub duration: u64,
    pub repeat: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AdaptationSetXml {
    id: u32,
    content: ContentKind,
    timescale: u32,
    presentation_time_offset: u64,
    start_number: u32,
    duration: u32,
    timeline: Option<Vec<TimelineEntry>>,
    representations: Vec<RepresentationXml>,
}

/// An MPD as made by [`DashConfig::mpd`]; [`Mpd::render`] gives its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mpd {
    kind: MpdKind,
    availability_start_time_ns: i64,
    publish_time_ns: i64,
    media_presentation_duration: Option<ExactSeconds>,
    minimum_update_period: ExactSeconds,
    /// `None`: infinite (the attribute is omitted).
    time_shift_buffer_depth: Option<ExactSeconds>,
    min_buffer_time: ExactSeconds,
    suggested_presentation_delay: ExactSeconds,
    max_segment_duration: ExactSeconds,
    frame_rate: String,
    media_template: String,
    init_template: String,
    periods: Vec<PeriodXml>,
    utc_timing: Vec<UtcTiming>,
    first_k: i64,
}

/// One `Period`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeriodXml {
    id: String,
    /// `Period@start`.
    start: ExactSeconds,
    adaptation_sets: Vec<AdaptationSetXml>,
}

/// Escapes the five XML special characters in an attribute value.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

impl Mpd {
    pub fn kind(&self) -> MpdKind {
        self.kind
    }

    pub fn availability_start_time_ns(&self) -> i64 {
        self.availability_start_time_ns
    }

    pub fn publish_time_ns(&self) -> i64 {
        self.publish_time_ns
    }

    /// k of the first segment the MPD makes available.
    pub fn first_k(&self) -> i64 {
        self.first_k
    }

    /// The MPD text: UTF-8, two-space indentation, LF line ends, a final newline.
    pub fn render(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" \
             profiles=\"urn:mpeg:dash:profile:isoff-live:2011\"",
        );
        match self.kind {
            MpdKind::Dynamic => {
                out.push_str(&format!(
                    " type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" \
                     minimumUpdatePeriod=\"{}\"",
                    format_instant_shortest(self.availability_start_time_ns),
                    format_instant_shortest(self.publish_time_ns),
                    self.minimum_update_period.to_iso8601(),
                ));
                if let Some(depth) = self.time_shift_buffer_depth {
                    out.push_str(&format!(" timeShiftBufferDepth=\"{}\"", depth.to_iso8601()));
                }
                out.push_str(&format!(
                    " suggestedPresentationDelay=\"{}\"",
                    self.suggested_presentation_delay.to_iso8601(),
                ));
            }
            MpdKind::Static => {
                out.push_str(&format!(
                    " type=\"static\" publishTime=\"{}\"",
                    format_instant_shortest(self.publish_time_ns)
                ));
                if let Some(duration) = self.media_presentation_duration {
                    out.push_str(&format!(
                        " mediaPresentationDuration=\"{}\"",
                        duration.to_iso8601()
                    ));
                }
            }
        }
        out.push_str(&format!(
            " maxSegmentDuration=\"{}\" minBufferTime=\"{}\">\n",
            self.max_segment_duration.to_iso8601(),
            self.min_buffer_time.to_iso8601()
        ));
        for period in &self.periods {
            out.push_str(&format!(
                "  <Period id=\"{}\" start=\"{}\">\n",
                xml_escape(&period.id),
                period.start.to_iso8601()
            ));
            for set in &period.adaptation_sets {
                self.render_adaptation_set(set, &mut out);
            }
            out.push_str("  </Period>\n");
        }
        if self.kind == MpdKind::Dynamic {
            for timing in &self.utc_timing {
                out.push_str(&format!(
                    "  <UTCTiming schemeIdUri=\"{}\" value=\"{}\"/>\n",
                    xml_escape(&timing.scheme_id_uri),
                    xml_escape(&timing.value)
                ));
            }
        }
        out.push_str("</MPD>\n");
        out
    }

    fn render_adaptation_set(&self, set: &AdaptationSetXml, out: &mut String) {
        let (content_type, mime) = match set.content {
            ContentKind::Video => ("video", "video/mp4"),
            ContentKind::Audio => ("audio", "audio/mp4"),
        };
        out.push_str(&format!(
            "    <AdaptationSet id=\"{}\" contentType=\"{content_type}\" segmentAlignment=\"true\"",
            set.id
        ));
        if set.content == ContentKind::Video {
            let max_width = set.representations.iter().filter_map(|r| match r {
                RepresentationXml::Video(v) => Some(v.width),
                RepresentationXml::Audio(_) => None,
            });
            let max_height = set.representations.iter().filter_map(|r| match r {
                RepresentationXml::Video(v) => Some(v.height),
                RepresentationXml::Audio(_) => None,
            });
            if let (Some(width), Some(height)) = (max_width.max(), max_height.max()) {
                out.push_str(&format!(" maxWidth=\"{width}\" maxHeight=\"{height}\""));
            }
            out.push_str(&format!(" maxFrameRate=\"{}\"", self.frame_rate));
        }
        out.push_str(&format!(" mimeType=\"{mime}\" startWithSAP=\"1\">\n"));
        out.push_str(&format!(
            "      <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{}\"",
            set.timescale, set.presentation_time_offset
        ));
        if set.timeline.is_none() {
            out.push_str(&format!(" duration=\"{}\"", set.duration));
        }
        out.push_str(&format!(
            " startNumber=\"{}\" media=\"{}\" initialization=\"{}\"",
            set.start_number, self.media_template, self.init_template
        ));
        match &set.timeline {
            None => out.push_str("/>\n"),
            Some(entries) => {
                out.push_str(">\n        <SegmentTimeline>\n");
                for entry in entries {
                    out.push_str(&format!(
                        "          <S t=\"{}\" d=\"{}\"",
                        entry.start, entry.duration
                    ));
                    if entry.repeat > 0 {
                        out.push_str(&format!(" r=\"{}\"", entry.repeat));
                    }
                    out.push_str("/>\n");
                }
                out.push_str("        </SegmentTimeline>\n      </SegmentTemplate>\n");
            }
        }
        for representation in &set.representations {
            match representation {
                RepresentationXml::Video(v) => out.push_str(&format!(
                    "      <Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\" \
                     width=\"{}\" height=\"{}\" sar=\"1:1\" frameRate=\"{}\"/>\n",
                    v.id, v.bandwidth, v.codecs, v.width, v.height, self.frame_rate
                )),
                RepresentationXml::Audio(a) => {
                    out.push_str(&format!(
                        "      <Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\" \
                         audioSamplingRate=\"{}\"",
                        a.id, a.bandwidth, a.codecs, a.sampling_rate
                    ));
                    match a.channels {
                        Some(channels) => out.push_str(&format!(
                            ">\n        <AudioChannelConfiguration \
                             schemeIdUri=\"urn:mpeg:mpegB:cicp:ChannelConfiguration\" \
                             value=\"{channels}\"/>\n      </Representation>\n"
                        )),
                        None => out.push_str("/>\n"),
                    }
                }
            }
        }
        out.push_str("    </AdaptationSet>\n");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::packaging::hls::tests::{fact, ntsc_grid};
    use crate::timecode::FrameRate;
    use crate::timecode::utc::parse_rfc3339;
    use std::io::Write;
    use std::process::{Command, Stdio};

    const SCHEMA: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/dash-schema/DASH-MPD.xsd"
    );
    const NS: &str = "urn:mpeg:dash:schema:mpd:2011";

    /// Validates `mpd` against the DASH schema with xmllint; fails (never skips) when xmllint
    /// is missing or the MPD is invalid.
    pub(crate) fn assert_schema_valid(mpd: &str) {
        let mut child = Command::new("xmllint")
            .args(["--noout", "--schema", SCHEMA, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("xmllint must be installed (Debian package libxml2-utils; scripts/setup.sh)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(mpd.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "MPD does not validate against {SCHEMA}:\n{}\n{mpd}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn config(grid: Grid) -> DashConfig {
        DashConfig::cmaf(
            grid,
            UtcTiming::http_iso("https://time.example/?iso&ms"),
            vec![VideoRepresentation {
                id: "v0".into(),
                codecs: "avc1.64001f".into(),
                bandwidth: 3_000_000,
                width: 1280,
                height: 720,
            }],
        )
        .unwrap()
    }

    fn k_now(grid: &Grid) -> i64 {
        grid.segment_of(parse_rfc3339("2026-11-23T19:46:16Z").unwrap())
    }

    fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
        node.children()
            .find(|n| n.has_tag_name((NS, name)))
            .unwrap_or_else(|| panic!("no {name} in {node:?}"))
    }

    #[test]
    fn dynamic_mpd_with_the_epoch_anchor() {
        let grid = ntsc_grid();
        let k0 = k_now(&grid);
        let facts: Vec<SegmentFact> = (k0..k0 + 8).map(|k| fact(&grid, k, -13_955_000)).collect();
        let mpd = config(grid).mpd(&facts, k0 + 7, MpdKind::Dynamic).unwrap();
        let text = mpd.render();
        assert_schema_valid(&text);
        let document = roxmltree::Document::parse(&text).unwrap();
        let root = document.root_element();
        assert!(root.has_tag_name((NS, "MPD")));
        assert_eq!(root.attribute("type"), Some("dynamic"));
        assert_eq!(
            root.attribute("profiles"),
            Some("urn:mpeg:dash:profile:isoff-live:2011")
        );
        assert_eq!(
            root.attribute("availabilityStartTime"),
            Some("1970-01-01T00:00:00Z")
        );
        let publish = parse_rfc3339(root.attribute("publishTime").unwrap()).unwrap();
        assert_eq!(
            publish,
            grid.segment_start_ns(k0 + 8),
            "end of the last segment"
        );
        assert_eq!(root.attribute("minimumUpdatePeriod"), Some("PT2.002S"));
        assert_eq!(root.attribute("timeShiftBufferDepth"), Some("PT10.01S"));
        assert_eq!(
            root.attribute("suggestedPresentationDelay"),
            Some("PT6.006S")
        );
        assert_eq!(root.attribute("minBufferTime"), Some("PT2.002S"));
        assert_eq!(root.attribute("maxSegmentDuration"), Some("PT2.002S"));
        assert_eq!(root.attribute("mediaPresentationDuration"), None);
        let period = child(root, "Period");
        assert_eq!(period.attribute("id"), Some("0"));
        assert_eq!(period.attribute("start"), Some("PT0S"));
        let set = child(period, "AdaptationSet");
        assert_eq!(set.attribute("contentType"), Some("video"));
        assert_eq!(set.attribute("maxFrameRate"), Some("30000/1001"));
        let template = child(set, "SegmentTemplate");
        assert_eq!(template.attribute("timescale"), Some("90000"));
        assert_eq!(template.attribute("duration"), Some("180180"));
        assert_eq!(template.attribute("startNumber"), Some("0"), "$Number$ = k");
        assert_eq!(template.attribute("presentationTimeOffset"), Some("0"));
        assert_eq!(
            template.attribute("media"),
            Some("$RepresentationID$_$Number$.m4s")
        );
        assert_eq!(
            template.attribute("initialization"),
            Some("$RepresentationID$_init.mp4")
        );
        let representation = child(set, "Representation");
        assert_eq!(representation.attribute("id"), Some("v0"));
        assert_eq!(representation.attribute("bandwidth"), Some("3000000"));
        assert_eq!(representation.attribute("codecs"), Some("avc1.64001f"));
        assert_eq!(representation.attribute("width"), Some("1280"));
        assert_eq!(representation.attribute("frameRate"), Some("30000/1001"));
        let timing = child(root, "UTCTiming");
        assert_eq!(
            timing.attribute("schemeIdUri"),
            Some("urn:mpeg:dash:utc:http-iso:2014")
        );
        assert_eq!(
            timing.attribute("value"),
            Some("https://time.example/?iso&ms")
        );
        assert!(text.contains("?iso&amp;ms"));
        // The DASH client's address of segment k: AST + (k − startNumber)·D = k·D.
        assert_eq!(mpd.first_k(), k0 + 3);
        assert_eq!(mpd.availability_start_time_ns(), 0);
        assert_eq!(mpd.publish_time_ns(), publish);
        assert_eq!(mpd.kind(), MpdKind::Dynamic);
    }

    /// A hole in a timeline begins a new Period (dash.js stops at a hole inside one).
    #[test]
    fn segment_timeline_with_audio_and_a_missing_segment() {
        let grid = ntsc_grid();
        let k0 = k_now(&grid);
        let mut config = config(grid);
        config.segment_timeline = true;
        config.window = 6;
        config.audio.push(AudioRepresentation {
            id: "a0".into(),
            codecs: "mp4a.40.2".into(),
            bandwidth: 128_000,
            sampling_rate: 48_000,
            channels: Some(2),
        });
        let facts: Vec<SegmentFact> = [k0, k0 + 1, k0 + 2, k0 + 4, k0 + 5]
            .iter()
            .map(|&k| fact(&grid, k, -13_955_000))
            .collect();
        let text = config
            .mpd(&facts, k0 + 5, MpdKind::Dynamic)
            .unwrap()
            .render();
        assert_schema_valid(&text);
        let document = roxmltree::Document::parse(&text).unwrap();
        let periods: Vec<_> = document
            .root_element()
            .children()
            .filter(|n| n.has_tag_name((NS, "Period")))
            .collect();
        assert_eq!(periods.len(), 2, "{text}");
        assert_eq!(periods[0].attribute("id"), Some("0"));
        assert_eq!(periods[0].attribute("start"), Some("PT0S"));
        let hole_end = k0 + 4;
        assert_eq!(
            periods[1].attribute("id"),
            Some(format!("p{hole_end}").as_str())
        );
        // Period@start is segment k0+4's nominal start from AST (the anchor, segment 0).
        let start = ExactSeconds::of_frames(hole_end as u64 * 60, grid.rate());
        assert_eq!(
            periods[1].attribute("start"),
            Some(start.to_iso8601().as_str())
        );
        for (period, first, count) in [(periods[0], k0, 3u64), (periods[1], hole_end, 2)] {
            let sets: Vec<_> = period
                .children()
                .filter(|n| n.has_tag_name((NS, "AdaptationSet")))
                .collect();
            assert_eq!(sets.len(), 2);
            for (set, timescale, ticks) in
                [(sets[0], 90_000u64, 180_180u64), (sets[1], 48_000, 96_096)]
            {
                let template = child(set, "SegmentTemplate");
                assert_eq!(
                    template.attribute("timescale"),
                    Some(timescale.to_string().as_str())
                );
                assert_eq!(template.attribute("duration"), None);
                assert_eq!(
                    template.attribute("startNumber"),
                    Some(first.to_string().as_str())
                );
                let entries: Vec<(u64, u64, u64)> = child(template, "SegmentTimeline")
                    .children()
                    .filter(|n| n.has_tag_name((NS, "S")))
                    .map(|s| {
                        let number = |name| s.attribute(name).map_or(0, |v| v.parse().unwrap());
                        (number("t"), number("d"), number("r"))
                    })
                    .collect();
                let t0 = first as u64 * ticks;
                assert_eq!(entries, [(t0, ticks, count - 1)]);
                // The first Period's media time starts at AST; the second's at its own start.
                let pto = if first == k0 { 0 } else { t0 };
                assert_eq!(
                    template.attribute("presentationTimeOffset"),
                    Some(pto.to_string().as_str())
                );
            }
            let audio = child(sets[1], "Representation");
            assert_eq!(audio.attribute("audioSamplingRate"), Some("48000"));
            assert_eq!(
                child(audio, "AudioChannelConfiguration").attribute("value"),
                Some("2")
            );
        }
        // Once the hole has left the window the Period it began is still the one listed,
        // with the same id, when the packager remembers it.
        config.window = 1;
        config.period_starts.insert(hole_end);
        let text = config
            .mpd(&facts, k0 + 5, MpdKind::Dynamic)
            .unwrap()
            .render();
        assert_schema_valid(&text);
        let document = roxmltree::Document::parse(&text).unwrap();
        let ids: Vec<_> = document
            .root_element()
            .children()
            .filter(|n| n.has_tag_name((NS, "Period")))
            .map(|n| n.attribute("id").unwrap().to_owned())
            .collect();
        assert_eq!(ids, [format!("p{hole_end}")]);
    }

    #[test]
    fn period_starts_are_noted_at_holes_forgotten_behind_the_window_and_read_back() {
        let mut config = config(ntsc_grid());
        config.segment_timeline = true;
        config.note_listed(None, 10, 10);
        config.note_listed(Some(10), 11, 10);
        assert!(config.period_starts.is_empty());
        config.note_listed(Some(11), 14, 10);
        config.note_listed(Some(14), 20, 11);
        assert_eq!(
            config.period_starts.iter().copied().collect::<Vec<_>>(),
            [14, 20]
        );
        // Segment 21 is the window's first: the Period of 20 is the one it is in.
        config.note_listed(Some(20), 21, 21);
        assert_eq!(
            config.period_starts.iter().copied().collect::<Vec<_>>(),
            [20]
        );
        let text = config
            .mpd(&[fact(&config.grid, 21, 0)], 21, MpdKind::Dynamic)
            .unwrap()
            .render();
        let mut restarted = self::config(ntsc_grid());
        restarted.remember_periods_of(&text);
        assert_eq!(restarted.period_starts, config.period_starts);
        restarted.remember_periods_of("<Period id=\"p12x\"><Period id=\"p\"><Period id=\"p99");
        assert_eq!(
            restarted.period_starts, config.period_starts,
            "garbage is ignored"
        );
        // Without a timeline a hole begins nothing (players address segments by time).
        let mut plain = self::config(ntsc_grid());
        plain.note_listed(Some(11), 14, 10);
        assert!(plain.period_starts.is_empty());
    }

    #[test]
    fn static_mpd_after_the_end() {
        let grid = ntsc_grid();
        let k0 = k_now(&grid);
        let facts: Vec<SegmentFact> = (k0..k0 + 30).map(|k| fact(&grid, k, 0)).collect();
        for timeline in [false, true] {
            let mut config = config(grid);
            config.segment_timeline = timeline;
            let text = config
                .mpd(&facts, k0 + 29, MpdKind::Static)
                .unwrap()
                .render();
            assert_schema_valid(&text);
            let document = roxmltree::Document::parse(&text).unwrap();
            let root = document.root_element();
            assert_eq!(root.attribute("type"), Some("static"));
            assert_eq!(
                root.attribute("mediaPresentationDuration"),
                Some("PT60.06S")
            );
            assert_eq!(root.attribute("availabilityStartTime"), None);
            assert!(root.children().all(|n| !n.has_tag_name((NS, "UTCTiming"))));
            let template = child(
                child(child(root, "Period"), "AdaptationSet"),
                "SegmentTemplate",
            );
            assert_eq!(
                template.attribute("startNumber"),
                Some(k0.to_string().as_str())
            );
            assert_eq!(
                template.attribute("presentationTimeOffset"),
                Some((k0 as u64 * 180_180).to_string().as_str())
            );
        }
    }

    #[test]
    fn static_mpd_with_a_short_last_segment_claims_only_the_media_written() {
        // A live run stopped inside its last segment: 0.84 s of 2 s at 25 fps (21 of 50
        // frames) after three whole segments.
        let grid = Grid::new(FrameRate::new(25, 1).unwrap(), 50).unwrap();
        let k0 = grid.segment_of(parse_rfc3339("2026-01-01T10:00:00Z").unwrap());
        let mut facts: Vec<SegmentFact> = (k0..k0 + 4).map(|k| fact(&grid, k, 0)).collect();
        facts[3].frames = 21;
        for timeline in [false, true] {
            let mut config = config(grid);
            config.segment_timeline = timeline;
            let text = config
                .mpd(&facts, k0 + 3, MpdKind::Static)
                .unwrap()
                .render();
            assert_schema_valid(&text);
            let document = roxmltree::Document::parse(&text).unwrap();
            let root = document.root_element();
            assert_eq!(
                root.attribute("mediaPresentationDuration"),
                Some("PT6.84S"),
                "timeline {timeline}"
            );
            if timeline {
                let entries: Vec<(Option<String>, Option<String>)> = child(
                    child(
                        child(child(root, "Period"), "AdaptationSet"),
                        "SegmentTemplate",
                    ),
                    "SegmentTimeline",
                )
                .children()
                .filter(|n| n.is_element())
                .map(|s| {
                    (
                        s.attribute("d").map(str::to_owned),
                        s.attribute("r").map(str::to_owned),
                    )
                })
                .collect();
                // 90 kHz: 50 frames are 180000 ticks, 21 frames 75600.
                assert_eq!(
                    entries,
                    vec![
                        (Some("180000".to_owned()), Some("2".to_owned())),
                        (Some("75600".to_owned()), None)
                    ]
                );
            }
        }
    }

    #[test]
    fn another_anchor_and_a_phase() {
        // Anchor at a later grid boundary: AST moves there, PTO and startNumber follow, and
        // segment k still has $Number$ = k.
        let grid = Grid::new(FrameRate::new(25, 1).unwrap(), 50)
            .unwrap()
            .with_phase(10);
        let mut config = config(grid);
        let anchor = grid.segment_of(parse_rfc3339("2026-01-01T00:00:00.4Z").unwrap());
        config.anchor_segment = anchor;
        let facts: Vec<SegmentFact> = (anchor + 100..anchor + 103)
            .map(|k| fact(&grid, k, 0))
            .collect();
        let text = config
            .mpd(&facts, anchor + 102, MpdKind::Dynamic)
            .unwrap()
            .render();
        assert_schema_valid(&text);
        let document = roxmltree::Document::parse(&text).unwrap();
        let root = document.root_element();
        assert_eq!(
            root.attribute("availabilityStartTime"),
            Some("2026-01-01T00:00:00.4Z")
        );
        let template = child(
            child(child(root, "Period"), "AdaptationSet"),
            "SegmentTemplate",
        );
        assert_eq!(
            template.attribute("startNumber"),
            Some(anchor.to_string().as_str())
        );
        let pto: u64 = template
            .attribute("presentationTimeOffset")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            pto,
            (anchor as u64 * 50 + 10) * 3600,
            "media time of the anchor frame"
        );
    }

    #[test]
    fn configuration_errors() {
        let grid = ntsc_grid();
        let facts = [fact(&grid, k_now(&grid), 0)];
        let k = facts[0].k;
        let check = |config: DashConfig, needle: &str| {
            let text = config
                .mpd(&facts, k, MpdKind::Dynamic)
                .unwrap_err()
                .to_string();
            assert!(text.contains(needle), "{needle:?} not in {text:?}");
        };
        let mut c = config(grid);
        c.video_timescale = 1000;
        check(c, "use 90000");
        let mut c = config(grid);
        c.utc_timing.clear();
        check(c, "SHALL carry a UTCTiming");
        let mut c = config(grid);
        c.media_template = NameTemplate::new("$RepresentationID$_$Time$.m4s").unwrap();
        check(c, "must use $Number$");
        let mut c = config(grid);
        c.audio.push(AudioRepresentation {
            id: "a".into(),
            codecs: "mp4a.40.2".into(),
            bandwidth: 1,
            sampling_rate: 44_100,
            channels: None,
        });
        c.media_template = NameTemplate::new("$RepresentationID$_$Number$.m4s").unwrap();
        check(c, "not a whole number of samples at 44100 Hz");
        let mut c = config(grid);
        c.video[0].codecs = "avc1 x".into();
        check(c, "codecs");
        let mut c = config(grid);
        c.anchor_segment = -1;
        check(c, "before 1970");
        let mut c = config(grid);
        c.video.push(c.video[0].clone());
        check(c, "unique");
        let mut c = config(grid);
        c.video[0].id = "a/b".into();
        assert!(matches!(
            c.mpd(&facts, k, MpdKind::Dynamic),
            Err(DashError::Name(_))
        ));
        assert!(matches!(
            config(grid).mpd(&[], k, MpdKind::Dynamic),
            Err(DashError::Empty)
        ));
        // $Number$ beyond startNumber's 32 bits.
        let fine = Grid::new(FrameRate::new(60, 1).unwrap(), 1).unwrap();
        let late = fine.segment_of(parse_rfc3339("2026-01-01T00:00:00Z").unwrap());
        let error = config(fine)
            .mpd(&[fact(&fine, late, 0)], late, MpdKind::Dynamic)
            .unwrap_err();
        assert!(matches!(error, DashError::Range(_)), "{error}");
        assert!(
            config(grid)
                .mpd(&facts, i64::MIN, MpdKind::Dynamic)
                .is_err()
        );
    }
}
