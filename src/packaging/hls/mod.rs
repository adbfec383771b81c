// SPDX-License-Identifier: MPL-2.0
//! HLS media and multivariant playlists as deterministic text (RFC 8216;
//! draft-pantos-hls-rfc8216bis, "bis").
//!
//! # The rules, chosen so redundant packagers agree byte for byte
//!
//! - **Window.** A pure function of (last complete k, configuration, segment facts): the listed
//!   segments are `k_first ..= k_last` with `k_first` the k of the first fact in
//!   `k_last − W + 1 ..= k_last` for a live playlist (W = `window`; `k_last − W + 1` when the
//!   window holds no fact), the first fact for event and vod. Missing segments at the head of a
//!   live window are not listed, so what a packager held before the window never matters. Every k in between is
//!   listed: a fact as a media segment, a missing one as an EXT-X-GAP segment (bis §4.4.4.7)
//!   of nominal duration D. Two packagers that hold the same facts for the window print the same
//!   text; one that started later prints a shorter window until it has seen W segments.
//! - **EXT-X-MEDIA-SEQUENCE = k_first** (RFC 8216 §4.3.3.2), so the media
//!   sequence number of a segment is its k on every packager, after every restart, and never
//!   decreases: a restarted packager starts listing at a k later than anything it listed before.
//! - **EXT-X-TARGETDURATION = ceil(D)** seconds, fixed for the stream's life (§4.3.3.1; bis
//!   §6.2.1 "MUST NOT change"), never from observed durations. Every EXTINF is ≤ D, so also its
//!   rounding is ≤ the target duration. A live window must span ≥ 3 target durations (§6.2.2).
//! - **EXTINF** = frames·den/num seconds, exactly, printed with 6 decimals rounded half up
//!   (`2.002000`), with the empty title: `#EXTINF:2.002000,`.
//! - **EXT-X-PROGRAM-DATE-TIME** on every segment (bis §6.2.1 recommends it; any window is then
//!   self-describing): the timecode's UTC instant of the segment's first frame, `…ss.mmmZ`
//!   floored to the millisecond (as the Live Stream API writes it). A gap segment gets the instant of the
//!   nearest listed fact in the same discontinuity domain, moved by whole segments (previous
//!   fact preferred), else the grid's nominal start; a function of the listed facts only.
//! - **EXT-X-DISCONTINUITY-SEQUENCE.** The discontinuity sequence number of a segment is the
//!   number of discontinuity facts after an *origin* up to it (§4.3.3.3); the header is that of
//!   `k_first`, and a tag precedes every listed segment but the first whose fact has the flag.
//!   The origin is the first fact the packager saw (its flag does not count) with sequence 0, or
//!   a [`ResumePoint`] read back from the playlist it published before a restart. So the value
//!   never decreases across a restart, and two packagers agree whenever they have seen the same
//!   discontinuities since a common origin. **Limitation:** a packager that joins after a
//!   discontinuity its peer saw stays one lower; no function of the shared facts can recover a
//!   count of events it never saw (bis §6.2.2 makes the count, not a label, the value). Hence
//!   the default of the glue, as DASH-IF Live Media Ingest and AWS MediaPackage advise: a timecode jump on an epoch-derived
//!   media timeline (`tfdt = n · ticks per frame`) keeps every timestamp on the epoch grid, so it
//!   is signalled with EXT-X-GAP segments for the missing k, not with a discontinuity, and the
//!   sequence stays 0. With `discontinuity-on-jump` the publisher flags the first segment after
//!   one that a jump cut short (its EXTINF no longer leads to the next segment's instant), and
//!   packagers that saw the same jumps agree.
//! - **EXT-X-VERSION** = the lowest version the playlist needs (RFC 8216 §7, bis §8): 3 for
//!   decimal EXTINF values, 6 when EXT-X-MAP is used in a playlist without
//!   EXT-X-I-FRAMES-ONLY (§4.3.2.5). EXT-X-GAP, EXT-X-INDEPENDENT-SEGMENTS,
//!   EXT-X-DISCONTINUITY-SEQUENCE and EXT-X-PROGRAM-DATE-TIME need no particular version.
//! - **EXT-X-PLAYLIST-TYPE** only for event and vod (bis §6.2.2: not on live playlists);
//!   **EXT-X-ENDLIST** always for vod, and for live/event once the stream ended.

use std::collections::BTreeMap;
use std::fmt;

use super::grid::Grid;
use super::output::{NameTemplate, OutputError, check_relative_name};
use super::{ExactSeconds, SegmentFact, segment_name};
use crate::timecode::FrameRate;
use crate::timecode::utc::format_rfc3339_millis;

/// Decimal places of every EXTINF value.
pub const EXTINF_DECIMALS: u32 = 6;

/// The most segments one playlist lists (≈ 23 days of 2 s segments).
pub const MAX_LISTED_SEGMENTS: i128 = 1_000_000;

/// Why a playlist cannot be made.
#[derive(Debug)]
pub enum HlsError {
    /// The configuration contradicts a protocol rule; the text says which and what to change.
    Config(String),
    /// A segment fact does not fit (wrong k, too many frames, out of order).
    Fact(String),
    /// No segment to list yet.
    Empty,
    /// A name could not be made.
    Name(OutputError),
}

impl fmt::Display for HlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HlsError::Config(text) | HlsError::Fact(text) => f.write_str(text),
            HlsError::Empty => f.write_str("no segment to list yet"),
            HlsError::Name(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for HlsError {}

impl From<OutputError> for HlsError {
    fn from(error: OutputError) -> HlsError {
        HlsError::Name(error)
    }
}

/// The kind of media playlist (RFC 8216 §4.3.3.5, §6.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaylistType {
    /// A sliding window of the last `window` segments; no EXT-X-PLAYLIST-TYPE.
    Live { window: u32 },
    /// Segments are only appended; EXT-X-PLAYLIST-TYPE:EVENT.
    Event,
    /// The complete list, written once at the end; EXT-X-PLAYLIST-TYPE:VOD and EXT-X-ENDLIST.
    Vod,
}

/// What a media playlist is made from; shared unchanged by every redundant packager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsConfig {
    pub grid: Grid,
    pub playlist_type: PlaylistType,
    /// The `$RepresentationID$` of this rendition.
    pub representation_id: String,
    /// Media segment names, e.g. `$RepresentationID$_$Number$.m4s` (`$Number$` = k).
    pub segment_template: NameTemplate,
    /// The fMP4 init segment name for EXT-X-MAP; `None` for MPEG-TS segments.
    pub init_template: Option<NameTemplate>,
    /// Timescale for `$Time$` in names (the media timescale of the track).
    pub timescale: u32,
    /// EXT-X-INDEPENDENT-SEGMENTS: every segment starts with a keyframe, which the epoch grid
    /// requires of the encoder.
    pub independent_segments: bool,
}

impl HlsConfig {
    /// A configuration with the usual choices: `$RepresentationID$_$Number$.m4s`, init
    /// `$RepresentationID$_init.mp4`, the grid's default timescale, independent segments.
    pub fn cmaf(
        grid: Grid,
        playlist_type: PlaylistType,
        representation_id: &str,
    ) -> Result<HlsConfig, OutputError> {
        Ok(HlsConfig {
            grid,
            playlist_type,
            representation_id: representation_id.to_owned(),
            segment_template: NameTemplate::new("$RepresentationID$_$Number$.m4s")?,
            init_template: Some(NameTemplate::new("$RepresentationID$_init.mp4")?),
            timescale: grid.default_timescale(),
            independent_segments: true,
        })
    }

    /// EXT-X-TARGETDURATION: ceil(D) seconds.
    pub fn target_duration(&self) -> u64 {
        self.grid.segment_duration().ceil_seconds()
    }

    fn validate(&self) -> Result<(), HlsError> {
        super::output::check_representation_id(&self.representation_id)?;
        if let PlaylistType::Live { window } = self.playlist_type {
            // RFC 8216 §6.2.2: a live playlist must not become shorter than three target
            // durations; with a fixed window of W segments of D that is W·D ≥ 3·TD.
            let target = self.target_duration();
            let span = self.grid.segment_duration().times(u64::from(window));
            let needed = u128::from(target) * 3;
            if span.numer() < needed.saturating_mul(span.denom()) {
                let minimum =
                    (needed * span.denom()).div_ceil(self.grid.segment_duration().numer());
                return Err(HlsError::Config(format!(
                    "playlist-length {window} is too short: a live playlist must span at least \
                     3 target durations (3 × {target} s) and segments last {} s; use \
                     playlist-length {minimum} or more",
                    self.grid.segment_duration()
                )));
            }
        }
        // Names must be expandable for any k (checked once with k = 0).
        segment_name(
            &self.segment_template,
            &self.representation_id,
            &self.grid,
            self.timescale,
            0,
        )?;
        if let Some(init) = &self.init_template {
            if init.uses_number() || init.uses_time() {
                return Err(HlsError::Config(format!(
                    "init segment template '{init}' must not use $Number$ or $Time$: one init \
                     segment serves every segment"
                )));
            }
            init.expand(&self.representation_id, 0, 0)?;
        }
        Ok(())
    }
}

/// Where a restarted packager continues: the k and discontinuity sequence number of the last
/// segment of the playlist it published before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResumePoint {
    pub last_k: i64,
    pub discontinuity_sequence: u64,
}

impl ResumePoint {
    /// Reads the resume point back from a media playlist this module rendered: the media
    /// sequence, the discontinuity sequence and the tags, with one entry per k. `None` when the
    /// text is not such a playlist or lists no segment.
    pub fn from_playlist(text: &str) -> Option<ResumePoint> {
        let mut media_sequence: Option<u64> = None;
        let mut discontinuity_sequence = 0u64;
        let mut entries = 0u64;
        let mut tags_after_first = 0u64;
        let mut pending_discontinuity = false;
        if !text.starts_with("#EXTM3U") {
            return None;
        }
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                media_sequence = Some(value.trim().parse().ok()?);
            } else if let Some(value) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
                discontinuity_sequence = value.trim().parse().ok()?;
            } else if line == "#EXT-X-DISCONTINUITY" {
                pending_discontinuity = true;
            } else if !line.is_empty() && !line.starts_with('#') {
                if pending_discontinuity && entries > 0 {
                    tags_after_first += 1;
                }
                pending_discontinuity = false;
                entries += 1;
            }
        }
        let first = i64::try_from(media_sequence?).ok()?;
        let last_k = first.checked_add(i64::try_from(entries.checked_sub(1)?).ok()?)?;
        Some(ResumePoint {
            last_k,
            discontinuity_sequence: discontinuity_sequence.checked_add(tags_after_first)?,
        })
    }
}

/// The segments a media playlist rendered by this module lists, read back as facts, so a
/// restarted packager lists them again and its playlists match its peer's at once. Gap
/// entries are skipped (they were missing); PDT is read to the millisecond (what the text
/// holds; the rendered text is the same) and EXTINF back to whole frames at the grid's rate.
/// `None` when the text is not such a playlist or an entry does not read back.
pub fn facts_from_playlist(text: &str, grid: &Grid) -> Option<(ResumePoint, Vec<SegmentFact>)> {
    let point = ResumePoint::from_playlist(text)?;
    let mut facts = Vec::new();
    let mut k: Option<i64> = None;
    let mut pdt: Option<i64> = None;
    let mut frames: Option<u32> = None;
    let mut gap = false;
    let mut discontinuity = false;
    let rate = grid.rate();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            k = Some(value.trim().parse().ok()?);
        } else if let Some(value) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = Some(crate::timecode::utc::parse_rfc3339(value.trim()).ok()?);
        } else if line == "#EXT-X-GAP" {
            gap = true;
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if let Some(value) = line.strip_prefix("#EXTINF:") {
            let number = value.split(',').next()?.trim();
            let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
            let micros = whole.parse::<u128>().ok()? * 1_000_000
                + format!("{fraction:0<6}").get(..6)?.parse::<u128>().ok()?;
            // frames = seconds · num / den, to the nearest frame.
            let scaled = micros * u128::from(rate.num());
            let unit = 1_000_000 * u128::from(rate.den());
            frames = Some(u32::try_from((scaled + unit / 2) / unit).ok()?);
        } else if !line.is_empty() && !line.starts_with('#') {
            let current = k?;
            if !gap {
                facts.push(SegmentFact {
                    k: current,
                    first_frame_utc_ns: pdt?,
                    frames: frames?,
                    discontinuity,
                });
            }
            k = Some(current.checked_add(1)?);
            pdt = None;
            frames = None;
            gap = false;
            discontinuity = false;
        }
    }
    Some((point, facts))
}

/// The facts of one rendition and the rules that turn them into media playlists.
#[derive(Debug, Clone)]
pub struct HlsWindow {
    config: HlsConfig,
    facts: BTreeMap<i64, SegmentFact>,
    /// (k, discontinuity sequence number of k): flags of facts after k count from here.
    origin: Option<(i64, u64)>,
    ended: bool,
}

impl HlsWindow {
    /// A window with no segment yet; the configuration is checked against the protocol rules.
    pub fn new(config: HlsConfig) -> Result<HlsWindow, HlsError> {
        config.validate()?;
        Ok(HlsWindow {
            config,
            facts: BTreeMap::new(),
            origin: None,
            ended: false,
        })
    }

    /// A window that continues after a restart: only segments after `point.last_k` are
    /// accepted, and discontinuity sequence numbers continue from the point's.
    pub fn resume(config: HlsConfig, point: ResumePoint) -> Result<HlsWindow, HlsError> {
        let mut window = HlsWindow::new(config)?;
        window.origin = Some((point.last_k, point.discontinuity_sequence));
        Ok(window)
    }

    pub fn config(&self) -> &HlsConfig {
        &self.config
    }

    /// A window that continues a playlist published before a restart: its segments are
    /// listed again (they are still on disk) and discontinuity sequence numbers continue.
    pub fn restore(
        config: HlsConfig,
        point: ResumePoint,
        facts: &[SegmentFact],
    ) -> Result<HlsWindow, HlsError> {
        let Some(first) = facts.first() else {
            return HlsWindow::resume(config, point);
        };
        // The sequence number of the first restored segment, from the resume point.
        let flags_after_first = facts.iter().skip(1).filter(|f| f.discontinuity).count() as u64;
        let first_sequence = point
            .discontinuity_sequence
            .saturating_sub(flags_after_first);
        let mut window = HlsWindow::new(config)?;
        window.add(*first)?;
        window.origin = Some((first.k, first_sequence));
        for fact in &facts[1..] {
            window.add(*fact)?;
        }
        Ok(window)
    }

    /// The k of the last segment added, if any.
    pub fn last_k(&self) -> Option<i64> {
        self.facts.keys().next_back().copied()
    }

    /// The k of the last segment added, else the resume point's: nothing at or before it can
    /// be added.
    pub fn last_k_or_origin(&self) -> Option<i64> {
        self.last_k().or(self.origin.map(|(k, _)| k))
    }

    /// Adds a finished segment. Its k must follow every earlier one and match the grid
    /// segment of its first frame; it holds 1..=D frames. Adding the very same fact again is
    /// accepted and changes nothing (a retried call).
    pub fn add(&mut self, fact: SegmentFact) -> Result<(), HlsError> {
        if self.facts.get(&fact.k) == Some(&fact) {
            return Ok(());
        }
        let grid = &self.config.grid;
        if fact.frames == 0 || fact.frames > grid.frames_per_segment() {
            return Err(HlsError::Fact(format!(
                "segment {} holds {} frames; a segment holds 1 to {} frames",
                fact.k,
                fact.frames,
                grid.frames_per_segment()
            )));
        }
        let grid_k = grid.segment_of(fact.first_frame_utc_ns);
        if grid_k != fact.k {
            return Err(HlsError::Fact(format!(
                "segment {} starts with a frame at {} which the grid puts in segment {grid_k}",
                fact.k,
                format_rfc3339_millis(fact.first_frame_utc_ns)
            )));
        }
        let after = self.last_k().or(self.origin.map(|(k, _)| k));
        if let Some(after) = after
            && fact.k <= after
        {
            return Err(HlsError::Fact(format!(
                "segment {} arrives after segment {after}; segments are added in increasing k \
                 and a listed segment cannot change",
                fact.k
            )));
        }
        if fact.k < 0 {
            return Err(HlsError::Fact(format!(
                "segment {} lies before 1970: EXT-X-MEDIA-SEQUENCE (= k) cannot be negative",
                fact.k
            )));
        }
        if self.origin.is_none() {
            self.origin = Some((fact.k, 0));
        }
        self.facts.insert(fact.k, fact);
        self.prune();
        Ok(())
    }

    /// Marks the stream as ended: the next playlists carry EXT-X-ENDLIST.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Forgets live facts that no window can list again, folding their discontinuity flags
    /// into the origin so sequence numbers do not change.
    fn prune(&mut self) {
        let (PlaylistType::Live { window }, Some(last)) =
            (self.config.playlist_type, self.last_k())
        else {
            return;
        };
        let cut = last.saturating_sub(i64::from(window)).saturating_add(1);
        let Some((origin_k, origin_sequence)) = self.origin else {
            return;
        };
        if cut <= origin_k.saturating_add(1) {
            return;
        }
        let mut sequence = origin_sequence;
        let kept = self.facts.split_off(&cut);
        for fact in self.facts.values() {
            if fact.k > origin_k && fact.discontinuity {
                sequence += 1;
            }
        }
        self.facts = kept;
        self.origin = Some((cut - 1, sequence));
    }

    /// The discontinuity sequence number of segment k (facts up to k are known).
    fn discontinuity_sequence_of(&self, k: i64) -> u64 {
        let Some((origin_k, origin_sequence)) = self.origin else {
            return 0;
        };
        if k <= origin_k {
            return origin_sequence;
        }
        let flags = self
            .facts
            .range(origin_k.saturating_add(1)..=k)
            .filter(|(_, fact)| fact.discontinuity)
            .count();
        origin_sequence + flags as u64
    }

    /// The playlist listing up to the last segment added.
    pub fn playlist(&self) -> Result<MediaPlaylist, HlsError> {
        let last = self.last_k().ok_or(HlsError::Empty)?;
        self.playlist_at(last)
    }

    /// The playlist whose last listed segment is `last_complete_k` (later than the last fact
    /// when the segments at the live edge are missing: they are listed as gaps).
    pub fn playlist_at(&self, last_complete_k: i64) -> Result<MediaPlaylist, HlsError> {
        let config = &self.config;
        let grid = &config.grid;
        let first_fact = self.facts.keys().next().copied().ok_or(HlsError::Empty)?;
        if last_complete_k < first_fact {
            return Err(HlsError::Fact(format!(
                "last complete segment {last_complete_k} precedes the first known segment \
                 {first_fact}"
            )));
        }
        let first = match config.playlist_type {
            PlaylistType::Live { window } => {
                let start = last_complete_k
                    .saturating_sub(i64::from(window))
                    .saturating_add(1);
                // The first segment written within the window, not the first fact held: a
                // restarted packager still holds the first fact it restored, its peer pruned
                // it, and both must list the same window.
                self.facts
                    .range(start..=last_complete_k)
                    .next()
                    .map_or(start, |(&k, _)| k)
            }
            PlaylistType::Event | PlaylistType::Vod => first_fact,
        };
        if last_complete_k < first {
            return Err(HlsError::Fact(format!(
                "last complete segment {last_complete_k} precedes the first known segment {first}"
            )));
        }
        // An event playlist across a long outage would list one gap per missing k; refuse
        // absurd lengths instead of exhausting memory.
        let listed_count = i128::from(last_complete_k) - i128::from(first) + 1;
        if listed_count > MAX_LISTED_SEGMENTS {
            return Err(HlsError::Fact(format!(
                "a playlist from segment {first} to {last_complete_k} would list                  {listed_count} segments (at most {MAX_LISTED_SEGMENTS}); start a new playlist"
            )));
        }
        let media_sequence = u64::try_from(first)
            .map_err(|_| HlsError::Fact(format!("segment {first} lies before 1970")))?;
        let listed: Vec<&SegmentFact> = self
            .facts
            .range(first..=last_complete_k)
            .map(|(_, f)| f)
            .collect();
        let mut segments = Vec::new();
        for k in first..=last_complete_k {
            let uri = segment_name(
                &config.segment_template,
                &config.representation_id,
                grid,
                config.timescale,
                k,
            )?;
            let segment = match self.facts.get(&k) {
                Some(fact) => PlaylistSegment {
                    uri,
                    k,
                    duration: ExactSeconds::of_frames(u64::from(fact.frames), grid.rate()),
                    program_date_time_ns: fact.first_frame_utc_ns,
                    discontinuity: fact.discontinuity && k != first,
                    gap: false,
                },
                None => PlaylistSegment {
                    uri,
                    k,
                    duration: grid.segment_duration(),
                    program_date_time_ns: gap_instant(grid, &listed, k),
                    discontinuity: false,
                    gap: true,
                },
            };
            segments.push(segment);
        }
        let end_list = self.ended || config.playlist_type == PlaylistType::Vod;
        let map_uri = match &config.init_template {
            Some(template) => Some(template.expand(&config.representation_id, 0, 0)?),
            None => None,
        };
        Ok(MediaPlaylist {
            version: if map_uri.is_some() { 6 } else { 3 },
            target_duration: config.target_duration(),
            playlist_type: config.playlist_type,
            media_sequence,
            discontinuity_sequence: self.discontinuity_sequence_of(first),
            independent_segments: config.independent_segments,
            map_uri,
            segments,
            end_list,
        })
    }
}

/// The PDT of a missing segment k: the nearest listed fact before it with no discontinuity in
/// between, else the nearest after it, moved by whole segments of D frames; else the grid's
/// nominal start. Only listed facts count, so packagers listing the same facts agree.
fn gap_instant(grid: &Grid, listed: &[&SegmentFact], k: i64) -> i64 {
    let d = i64::from(grid.frames_per_segment());
    let rate = grid.rate();
    let shifted = |fact: &SegmentFact| {
        let frames = (k - fact.k).saturating_mul(d);
        fact.first_frame_utc_ns
            .saturating_add(rate.frames_to_ns(frames))
    };
    // Previous fact j < k: usable if no fact in (j, k] has a discontinuity flag (facts after j
    // and before k are none: j is the nearest).
    if let Some(previous) = listed.iter().rev().find(|fact| fact.k < k) {
        return shifted(previous);
    }
    // Next fact j > k: usable if it itself does not start a new discontinuity domain.
    if let Some(next) = listed.iter().find(|fact| fact.k > k)
        && !next.discontinuity
    {
        return shifted(next);
    }
    grid.segment_start_ns(k)
}

/// One entry of a media playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistSegment {
    pub uri: String,
    pub k: i64,
    pub duration: ExactSeconds,
    /// UTC ns of the first frame (EXT-X-PROGRAM-DATE-TIME).
    pub program_date_time_ns: i64,
    /// EXT-X-DISCONTINUITY before this segment.
    pub discontinuity: bool,
    /// EXT-X-GAP: the segment is missing.
    pub gap: bool,
}

/// A media playlist, as listed by [`HlsWindow`]; [`MediaPlaylist::render`] gives its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlaylist {
    version: u8,
    target_duration: u64,
    playlist_type: PlaylistType,
    media_sequence: u64,
    discontinuity_sequence: u64,
    independent_segments: bool,
    map_uri: Option<String>,
    segments: Vec<PlaylistSegment>,
    end_list: bool,
}

impl MediaPlaylist {
    pub fn version(&self) -> u8 {
        self.version
    }

    pub fn target_duration(&self) -> u64 {
        self.target_duration
    }

    pub fn media_sequence(&self) -> u64 {
        self.media_sequence
    }

    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    pub fn segments(&self) -> &[PlaylistSegment] {
        &self.segments
    }

    pub fn end_list(&self) -> bool {
        self.end_list
    }

    pub fn map_uri(&self) -> Option<&str> {
        self.map_uri.as_deref()
    }

    /// Where a packager restarted after publishing this playlist continues.
    pub fn resume_point(&self) -> Option<ResumePoint> {
        let last = self.segments.last()?;
        let tags = self.segments.iter().filter(|s| s.discontinuity).count() as u64;
        Some(ResumePoint {
            last_k: last.k,
            discontinuity_sequence: self.discontinuity_sequence + tags,
        })
    }

    /// The playlist text: LF line ends, tags in a fixed order, a final newline.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(128 + 96 * self.segments.len());
        out.push_str("#EXTM3U\n");
        out.push_str(&format!("#EXT-X-VERSION:{}\n", self.version));
        out.push_str(&format!("#EXT-X-TARGETDURATION:{}\n", self.target_duration));
        out.push_str(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", self.media_sequence));
        out.push_str(&format!(
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
            self.discontinuity_sequence
        ));
        match self.playlist_type {
            PlaylistType::Live { .. } => {}
            PlaylistType::Event => out.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
            PlaylistType::Vod => out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n"),
        }
        if self.independent_segments {
            out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        if let Some(uri) = &self.map_uri {
            // URIs are unreserved characters only (output.rs): no quoting issue.
            out.push_str(&format!("#EXT-X-MAP:URI=\"{uri}\"\n"));
        }
        for segment in &self.segments {
            if segment.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            out.push_str(&format!(
                "#EXT-X-PROGRAM-DATE-TIME:{}\n",
                format_rfc3339_millis(segment.program_date_time_ns)
            ));
            if segment.gap {
                out.push_str("#EXT-X-GAP\n");
            }
            out.push_str(&format!(
                "#EXTINF:{},\n{}\n",
                segment.duration.to_fixed(EXTINF_DECIMALS),
                segment.uri
            ));
        }
        if self.end_list {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

/// One variant stream of a multivariant playlist (RFC 8216 §4.3.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The media playlist's URI, relative to the multivariant playlist.
    pub uri: String,
    /// Peak bits per second (BANDWIDTH, required).
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    /// RFC 6381 codec list, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<FrameRate>,
    /// GROUP-ID of the audio renditions that play with this variant (AUDIO attribute).
    pub audio_group: Option<String>,
}

/// An audio rendition (EXT-X-MEDIA TYPE=AUDIO, RFC 8216 §4.3.4.1) with its own media playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioRendition {
    pub group_id: String,
    /// NAME, unique within the group.
    pub name: String,
    /// The rendition's media playlist, relative to the multivariant playlist.
    pub uri: String,
    /// CHANNELS: the number of channels, when known.
    pub channels: Option<u32>,
    /// DEFAULT=YES (at most one per group); every rendition is AUTOSELECT=YES.
    pub default: bool,
}

/// A multivariant ("master") playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultivariantPlaylist {
    version: u8,
    independent_segments: bool,
    variants: Vec<Variant>,
    audio: Vec<AudioRendition>,
}

impl MultivariantPlaylist {
    /// Checks every variant: a safe relative URI, a non-zero bandwidth, a codec list of
    /// RFC 6381 characters; `version` should be that of the media playlists (bis §6.2.4 asks
    /// variants to be compatible).
    pub fn new(
        version: u8,
        independent_segments: bool,
        variants: Vec<Variant>,
    ) -> Result<MultivariantPlaylist, HlsError> {
        if variants.is_empty() {
            return Err(HlsError::Config(
                "a multivariant playlist needs at least one variant".into(),
            ));
        }
        for variant in &variants {
            check_relative_name(&variant.uri)?;
            if variant.bandwidth == 0 {
                return Err(HlsError::Config(format!(
                    "variant '{}' has BANDWIDTH 0; give its peak bit rate",
                    variant.uri
                )));
            }
            let codec_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | ',' | '-');
            if variant.codecs.is_empty() || !variant.codecs.chars().all(codec_char) {
                return Err(HlsError::Config(format!(
                    "variant '{}' has CODECS '{}'; use an RFC 6381 list such as \
                     avc1.64001f,mp4a.40.2",
                    variant.uri,
                    variant.codecs.escape_debug()
                )));
            }
        }
        Ok(MultivariantPlaylist {
            version,
            independent_segments,
            variants,
            audio: Vec::new(),
        })
    }

    /// Adds audio renditions. Every group a variant names must have a rendition, names must be
    /// unique in a group, at most one may be the default, and attribute values must be quotable.
    pub fn with_audio(
        mut self,
        audio: Vec<AudioRendition>,
    ) -> Result<MultivariantPlaylist, HlsError> {
        let quotable =
            |text: &str| !text.is_empty() && !text.chars().any(|c| c == '"' || c.is_control());
        for (index, rendition) in audio.iter().enumerate() {
            check_relative_name(&rendition.uri)?;
            if !quotable(&rendition.group_id) || !quotable(&rendition.name) {
                return Err(HlsError::Config(format!(
                    "audio rendition '{}' of group '{}': GROUP-ID and NAME must be non-empty                      and contain no quote or control character",
                    rendition.name.escape_debug(),
                    rendition.group_id.escape_debug()
                )));
            }
            let same_group = audio[..index]
                .iter()
                .filter(|other| other.group_id == rendition.group_id);
            for other in same_group {
                if other.name == rendition.name {
                    return Err(HlsError::Config(format!(
                        "two audio renditions of group '{}' are named '{}'",
                        rendition.group_id, rendition.name
                    )));
                }
                if other.default && rendition.default {
                    return Err(HlsError::Config(format!(
                        "group '{}' has more than one DEFAULT=YES rendition",
                        rendition.group_id
                    )));
                }
            }
        }
        for variant in &self.variants {
            if let Some(group) = &variant.audio_group
                && !audio.iter().any(|r| &r.group_id == group)
            {
                return Err(HlsError::Config(format!(
                    "variant '{}' names audio group '{group}', which has no rendition",
                    variant.uri
                )));
            }
        }
        self.audio = audio;
        Ok(self)
    }

    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    /// The playlist text: one EXT-X-STREAM-INF per variant in the given order.
    pub fn render(&self) -> String {
        let mut out = String::from("#EXTM3U\n");
        out.push_str(&format!("#EXT-X-VERSION:{}\n", self.version));
        if self.independent_segments {
            out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        for rendition in &self.audio {
            let mut attributes = vec![
                "TYPE=AUDIO".to_owned(),
                format!("GROUP-ID=\"{}\"", rendition.group_id),
                format!("NAME=\"{}\"", rendition.name),
                format!("DEFAULT={}", if rendition.default { "YES" } else { "NO" }),
                "AUTOSELECT=YES".to_owned(),
            ];
            if let Some(channels) = rendition.channels {
                attributes.push(format!("CHANNELS=\"{channels}\""));
            }
            attributes.push(format!("URI=\"{}\"", rendition.uri));
            out.push_str(&format!("#EXT-X-MEDIA:{}\n", attributes.join(",")));
        }
        for variant in &self.variants {
            let mut attributes = vec![format!("BANDWIDTH={}", variant.bandwidth)];
            if let Some(average) = variant.average_bandwidth {
                attributes.push(format!("AVERAGE-BANDWIDTH={average}"));
            }
            attributes.push(format!("CODECS=\"{}\"", variant.codecs));
            if let Some((width, height)) = variant.resolution {
                attributes.push(format!("RESOLUTION={width}x{height}"));
            }
            if let Some(rate) = variant.frame_rate {
                // §4.3.4.2: FRAME-RATE is rounded to three decimal places.
                let fps = ExactSeconds::new(u128::from(rate.num()), u128::from(rate.den()));
                if let Some(fps) = fps {
                    attributes.push(format!("FRAME-RATE={}", fps.to_fixed(3)));
                }
            }
            if let Some(group) = &variant.audio_group {
                attributes.push(format!("AUDIO=\"{group}\""));
            }
            out.push_str(&format!(
                "#EXT-X-STREAM-INF:{}\n{}\n",
                attributes.join(","),
                variant.uri
            ));
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests;
