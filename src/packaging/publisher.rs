//! The publisher: frames in (UTC instant, keyframe flag, access unit; AAC frames of optional
//! audio tracks), files out — CMAF segments cut on the epoch grid, the HLS media and
//! multivariant playlists, the DASH MPD and the storage indexes, each written atomically into
//! one directory. No GStreamer types: the
//! `hlsdashsink` element feeds it from its streaming thread, the benchmark and tests directly.
//!
//! # Cutting
//!
//! Frames arrive in decode order. Segment k is opened by a frame that is the first frame of k
//! on the grid (for closed GOPs, the IDR heads both decode and presentation order) and closed
//! as soon as it holds D frames — which for a complete segment is its last frame in decode
//! order, with or without B-frames — so its manifests are on disk right after that frame,
//! without waiting for the next keyframe. A frame of a later segment closes an incomplete one
//! early (a timecode jump or lost frames); EOS closes the open one. A packager that starts or
//! restarts inside a segment skips the rest of it (a redundant peer that was running lists
//! it), as [`super::SegmentCutter`] does. A segment whose first frame is not a keyframe is not
//! written (it could not be decoded on its own and EXT-X-INDEPENDENT-SEGMENTS promises it
//! can): it is reported and becomes an EXT-X-GAP / timeline hole.
//!
//! # Media timeline
//!
//! A sample's presentation time is `n·t` ticks, `n` its epoch frame index and `t` the ticks per
//! frame; its decode time is `(n − lead)·t` with `lead` the encoder's PTS − DTS in whole frames
//! (0 without B-frames), so composition offsets are never negative (players and demuxers shift
//! negative ones) and decode times are continuous across segments. `tfdt`, `S@t` and
//! `$Number$` are thus functions of the timecode and of the encoder's frame order.
//!
//! # Audio
//!
//! Each AAC track is cut on the same boundaries in samples (see `AudioOutput`). The manifests
//! for k are written once the video segment k is written and every audio track finished k
//! (or ended, or was reported stalled); an audio playlist lists the k the video lists whose
//! audio segment was written, with the video's facts, so it too is a function of the
//! timecode.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

use super::dash::{AudioRepresentation, DashConfig, MpdKind, UtcTiming, VideoRepresentation};
use super::fmp4::{self, AudioTrack, Sample, VideoTrack};
use super::grid::Grid;
use super::hls::{
    AudioRendition, HlsConfig, HlsWindow, MultivariantPlaylist, PlaylistType, ResumePoint, Variant,
    facts_from_playlist,
};
use super::output::{NameTemplate, OutputError, write_atomically};
use super::storage::{StorageIndex, StoredSegment, sha256_hex};
use super::{ExactSeconds, SegmentFact, segment_name, ts};

/// The representation id of the video track (`$RepresentationID$`).
pub const VIDEO_REPRESENTATION: &str = "video";
/// Media segment names (the HLS and DASH defaults): `$Number$` = k.
pub const SEGMENT_TEMPLATE: &str = "$RepresentationID$_$Number$.m4s";
/// MPEG-TS segment names.
pub const TS_SEGMENT_TEMPLATE: &str = "$RepresentationID$_$Number$.ts";
/// Media segment names by media time (`$Time$` = the segment's start on the epoch timeline in
/// the track's timescale, a function of k).
pub const TIME_SEGMENT_TEMPLATE: &str = "$RepresentationID$_$Time$.m4s";
/// MPEG-TS segment names by media time.
pub const TIME_TS_SEGMENT_TEMPLATE: &str = "$RepresentationID$_$Time$.ts";

/// The segment container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentFormat {
    /// CMAF / fragmented MP4: an init segment plus `.m4s` media segments (HLS and DASH).
    Cmaf,
    /// MPEG-2 transport stream `.ts` segments (HLS only), each decodable on its own.
    Ts,
}

/// The HLS media playlist of the video track.
pub const MEDIA_PLAYLIST: &str = "video.m3u8";
/// The HLS multivariant playlist.
pub const MULTIVARIANT_PLAYLIST: &str = "index.m3u8";
/// The DASH MPD.
pub const MPD: &str = "manifest.mpd";
/// The storage index (JSON) of the video track; audio track `id` has `storage_<id>.json`.
pub const STORAGE_INDEX: &str = "storage.json";
/// GROUP-ID of the audio renditions in the multivariant playlist.
pub const AUDIO_GROUP: &str = "audio";

/// Why publishing failed.
#[derive(Debug)]
pub enum PublishError {
    /// The configuration cannot work; the text says what to change.
    Config(String),
    /// The input cannot be packaged (e.g. an unusable codec configuration).
    Input(String),
    /// A file could not be written; the text names the path.
    Output(OutputError),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Config(text) | PublishError::Input(text) => f.write_str(text),
            PublishError::Output(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for PublishError {}

impl From<OutputError> for PublishError {
    fn from(error: OutputError) -> PublishError {
        PublishError::Output(error)
    }
}

/// What a publisher is made from; the same on every redundant packager.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    pub dir: PathBuf,
    pub grid: Grid,
    pub track: VideoTrack,
    pub playlist_type: PlaylistType,
    /// Segments in the live window and the DASH time-shift buffer.
    pub window: u32,
    /// Live only: delete segment files older than the last `max_files` (0: keep all).
    pub max_files: u32,
    pub hls: bool,
    pub dash: bool,
    pub storage_index: bool,
    pub utc_timing: UtcTiming,
    pub segment_timeline: bool,
    /// Peak bit rate for BANDWIDTH / @bandwidth; must be the same on every packager.
    pub bandwidth: u32,
    pub format: SegmentFormat,
    /// AAC tracks (CMAF only): each an HLS audio rendition and a DASH audio representation.
    pub audio: Vec<AudioInput>,
    /// Name segments by `$Time$` instead of `$Number$` (DASH then needs the SegmentTimeline).
    pub name_by_time: bool,
    /// HLS: an EXT-X-DISCONTINUITY before the first segment written after one that a jump of
    /// the frames' instants cut short (see [`Publisher::push`]); off, such jumps show as
    /// EXT-X-GAP segments only and the discontinuity sequence stays 0.
    pub discontinuity_on_jump: bool,
}

impl PublisherConfig {
    /// The media segment name template.
    pub fn segment_template(&self) -> &'static str {
        match (self.format, self.name_by_time) {
            (SegmentFormat::Cmaf, false) => SEGMENT_TEMPLATE,
            (SegmentFormat::Cmaf, true) => TIME_SEGMENT_TEMPLATE,
            (SegmentFormat::Ts, false) => TS_SEGMENT_TEMPLATE,
            (SegmentFormat::Ts, true) => TIME_TS_SEGMENT_TEMPLATE,
        }
    }
}

/// One AAC track to package beside the video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInput {
    /// Representation id: file names `<id>_init.mp4`, `<id>_<k>.m4s`, playlist `<id>.m3u8`.
    pub id: String,
    pub track: AudioTrack,
}

/// One AAC frame (raw, no ADTS header), in stream order.
#[derive(Debug, Clone)]
pub struct AudioFrame<D> {
    /// The UTC instant of the frame's first sample (ns since the Unix epoch), from the video's
    /// relation between running time and the timecode.
    pub utc_ns: i64,
    pub data: D,
}

/// One access unit in decode order.
#[derive(Debug, Clone)]
pub struct Frame<D> {
    /// The timecode's UTC instant of the frame (ns since the Unix epoch).
    pub utc_ns: i64,
    pub keyframe: bool,
    /// Length-prefixed NAL units.
    pub data: D,
    /// The timecode label (`hh:mm:ss:ff`), for the storage index and messages.
    pub timecode: Option<String>,
    /// PTS − DTS as the encoder stamped it (0 without B-frames or when DTS is unknown): the
    /// decode timeline is the presentation grid moved back by this many frames, so composition
    /// offsets stay non-negative like the encoder's.
    pub decode_lead_ns: i64,
}

/// A written segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedSegment {
    /// The track: [`VIDEO_REPRESENTATION`] or an audio input's id.
    pub representation: String,
    pub name: String,
    pub k: i64,
    pub frames: u32,
    pub first_frame_utc_ns: i64,
    pub last_frame_utc_ns: i64,
    pub first_timecode: Option<String>,
    pub last_timecode: Option<String>,
    /// Duration in ns (frames × frame duration, floored).
    pub duration_ns: u64,
    pub size_bytes: u64,
}

/// What happened while handling a frame or the end of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Upstream should start a keyframe at this instant (the next segment boundary).
    KeyframeWanted { utc_ns: i64, k: i64 },
    /// A segment's first frame was not a keyframe: the segment is not written.
    NotKeyframe { k: i64, utc_ns: i64 },
    /// A frame at or before the previous one (a backward timecode jump, or a repeated frame)
    /// was dropped. Reported for the first frame of a run of dropped frames only: a timecode
    /// set back by an hour drops an hour of frames, and one report says it.
    Backward { utc_ns: i64, last_utc_ns: i64 },
    /// Segment k was closed after `frames` of its frames because a frame of a later segment
    /// came (at `next_utc_ns`) before its last ones: a forward timecode jump, or lost frames.
    /// `discontinuity`: the next segment written starts a new discontinuity domain.
    CutShort {
        k: i64,
        frames: u32,
        next_utc_ns: i64,
        discontinuity: bool,
    },
    /// A segment file was written.
    Segment(PublishedSegment),
    /// The manifests were rewritten (names relative to the directory), listing up to `k`.
    Manifests { k: i64, names: Vec<String> },
    /// An old segment file was deleted (`max_files`).
    Deleted { k: i64, name: String },
    /// The manifests list segment k without this audio track's segment (EXT-X-GAP in its
    /// playlist): the audio did not cover k in time, or not from its first frame.
    AudioMissing { id: String, k: i64 },
    /// An audio frame overlapping the previous one by more than half a frame was dropped.
    AudioBackward { id: String, utc_ns: i64 },
    /// The previous run's storage index `name` could not be read (`reason`) and was rebuilt
    /// from the segment files its playlist lists (`entries` of them).
    StorageIndexRebuilt {
        name: String,
        reason: String,
        entries: usize,
    },
}

struct OpenSegment<D> {
    k: i64,
    /// (epoch frame index, decode lead in frames, keyframe, data), decode order.
    frames: Vec<(i64, i64, bool, D)>,
    /// Which positions of the segment arrived (a repeated frame is dropped, not muxed twice).
    seen: Vec<bool>,
    /// (epoch index, utc, timecode) of the earliest and latest frame in presentation order.
    first: (i64, i64, Option<String>),
    last: (i64, i64, Option<String>),
}

/// The segment files one track has on disk: what `max_files` deletes, and its storage index.
struct TrackFiles {
    written: VecDeque<(i64, String)>,
    storage: Option<StorageIndex>,
    storage_name: String,
}

impl TrackFiles {
    fn new(representation: &str, grid: Grid, storage_index: bool) -> TrackFiles {
        TrackFiles {
            written: VecDeque::new(),
            storage: storage_index.then(|| StorageIndex::new(representation, grid)),
            storage_name: if representation == VIDEO_REPRESENTATION {
                STORAGE_INDEX.to_owned()
            } else {
                format!("storage_{representation}.json")
            },
        }
    }

    /// After a restart: the entries of the previous run's index for the segments it listed
    /// (`written`, restored from its playlist, with their `facts`) whose files are still
    /// there. An index that cannot be read is rebuilt from what is on disk: size and SHA-256
    /// from each file, first instant and length from the playlist, no timecode labels (the
    /// playlist does not carry them); the returned event says so.
    fn restore_index(
        &mut self,
        dir: &Path,
        facts: &[SegmentFact],
        rebuilt: impl Fn(&SegmentFact) -> (u32, Option<ExactSeconds>, i64),
        duration: impl Fn(u32) -> Option<ExactSeconds>,
    ) -> Option<Event> {
        let storage = self.storage.as_mut()?;
        let path = dir.join(&self.storage_name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // No index yet (the first run with `storage-manifest`): nothing to restore.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => return self.rebuild_index(dir, facts, rebuilt, error.to_string()),
        };
        let previous = match StorageIndex::read_segments(&text, duration) {
            Ok(previous) => previous,
            Err(error) => return self.rebuild_index(dir, facts, rebuilt, error.to_string()),
        };
        for segment in previous {
            if self
                .written
                .iter()
                .any(|(k, name)| *k == segment.k && *name == segment.name)
                && dir.join(&segment.name).is_file()
            {
                storage.insert(segment);
            }
        }
        None
    }

    fn rebuild_index(
        &mut self,
        dir: &Path,
        facts: &[SegmentFact],
        rebuilt: impl Fn(&SegmentFact) -> (u32, Option<ExactSeconds>, i64),
        reason: String,
    ) -> Option<Event> {
        let storage = self.storage.as_mut()?;
        let mut entries = 0;
        for ((k, name), fact) in self.written.iter().zip(facts) {
            let Ok((sha256, size_bytes)) =
                std::fs::File::open(dir.join(name)).and_then(super::storage::sha256_of_reader)
            else {
                continue;
            };
            let (frames, duration, last_frame_utc_ns) = rebuilt(fact);
            storage.insert(StoredSegment {
                name: name.clone(),
                k: *k,
                first_timecode: String::new(),
                last_timecode: String::new(),
                first_frame_utc_ns: fact.first_frame_utc_ns,
                last_frame_utc_ns,
                frames,
                duration,
                size_bytes,
                sha256,
            });
            entries += 1;
        }
        Some(Event::StorageIndexRebuilt {
            name: self.storage_name.clone(),
            reason,
            entries,
        })
    }

    fn record(&mut self, k: i64, name: String, stored: impl FnOnce() -> StoredSegment) {
        if let Some(storage) = &mut self.storage {
            storage.insert(stored());
        }
        self.written.push_back((k, name));
    }

    /// Deletes the oldest files beyond `max` (0: keep all) and rewrites the storage index.
    fn delete_old(
        &mut self,
        dir: &Path,
        max: usize,
        events: &mut Vec<Event>,
    ) -> Result<(), PublishError> {
        if max == 0 {
            return Ok(());
        }
        let mut storage_changed = false;
        while self.written.len() > max {
            let Some((k, name)) = self.written.pop_front() else {
                break;
            };
            let path = dir.join(&name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                // Someone else removed it already: nothing left to do.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(PublishError::Output(OutputError::Io {
                        action: "delete the old segment",
                        path,
                        source,
                    }));
                }
            }
            if let Some(storage) = &mut self.storage {
                storage.remove(k);
                storage_changed = true;
            }
            events.push(Event::Deleted { k, name });
        }
        if storage_changed && let Some(storage) = &self.storage {
            write_atomically(dir, &self.storage_name, storage.render().as_bytes())?;
        }
        Ok(())
    }
}

/// An audio segment being filled: AAC frames from `first_sample` on, one frame length apart.
struct OpenAudio<D> {
    k: i64,
    first_sample: i64,
    frames: Vec<D>,
}

/// One AAC track: cut on the same epoch grid as the video, in samples of its own rate.
///
/// Segment k holds the frames whose first sample lies in `[B(k), B(k+1))`, `B(k)` the grid's
/// boundary in samples (whole: checked at start). A frame's position is its UTC instant in
/// samples, rounded, for the first frame after a start or a jump, and the previous position
/// plus one frame length otherwise, so decode times are continuous whatever the jitter of the
/// timestamps (up to half a frame). The segment is complete, and written, with the frame that
/// reaches `B(k+1)`.
struct AudioOutput<D> {
    id: String,
    track: AudioTrack,
    codec_string: String,
    hls: Option<HlsWindow>,
    files: TrackFiles,
    template: NameTemplate,
    grid: Grid,
    segment_samples: i64,
    phase_samples: i64,
    next_sample: Option<i64>,
    open: Option<OpenAudio<D>>,
    skipping: Option<i64>,
    /// Every k up to this one is finished for this track (written, skipped or passed).
    done_through: Option<i64>,
    last_published_k: Option<i64>,
    /// Written segments not yet listed (listing follows the video's facts).
    published: BTreeSet<i64>,
    ended: bool,
    /// Reported stalled by the glue (no frame for a while): the manifests stop waiting for
    /// it until it sends again.
    stalled: bool,
    init_written: bool,
    /// The video fact of a k this track does not list had a discontinuity flag.
    discontinuity_pending: bool,
    /// What restoring the previous run's storage index had to report, until the first frame.
    restore_event: Option<Event>,
}

impl<D: AsRef<[u8]>> AudioOutput<D> {
    fn new(
        input: AudioInput,
        config: &PublisherConfig,
        previous: Option<(ResumePoint, Vec<SegmentFact>)>,
    ) -> Result<AudioOutput<D>, PublishError> {
        let grid = config.grid;
        let rate = input.track.config.sampling_rate;
        let whole = |frames: i64, what: &str| {
            grid.ticks_of_frames(frames, rate)
                .and_then(|t| i64::try_from(t).ok())
                .ok_or_else(|| {
                    PublishError::Config(format!(
                        "audio '{}': {what} of {} frames at {} fps is not a whole number of \
                         samples at {rate} Hz, so audio segments cannot start where the \
                         video's do; use 48000 Hz audio (whole for 23.976 to 60 fps) or another \
                         segment-duration",
                        input.id,
                        frames,
                        grid.rate()
                    ))
                })
        };
        let segment_samples = whole(i64::from(grid.frames_per_segment()), "a segment")?;
        let phase_samples = whole(grid.first_frame_of_segment(0), "the grid phase")?;
        let hls = if config.hls {
            let mut hls_config = HlsConfig::cmaf(grid, config.playlist_type, &input.id)?;
            hls_config.timescale = rate;
            hls_config.segment_template = NameTemplate::new(config.segment_template())?;
            Some(window(
                hls_config,
                previous.as_ref(),
                &config.dir.join(format!("{}.m3u8", input.id)),
            )?)
        } else {
            None
        };
        let template = NameTemplate::new(config.segment_template())?;
        let mut files = TrackFiles::new(&input.id, grid, config.storage_index);
        let mut last_published_k = None;
        let mut restore_event = None;
        if let Some((point, facts)) = &previous {
            last_published_k = Some(point.last_k);
            for fact in facts {
                files.written.push_back((
                    fact.k,
                    segment_name(&template, &input.id, &grid, rate, fact.k)?,
                ));
            }
            let length = u128::from(input.track.config.frame_length);
            let video_rate = grid.rate();
            // A segment of `frames` video frames holds this many AAC frames, to the nearest.
            let rebuilt = |fact: &SegmentFact| {
                let scaled =
                    u128::from(fact.frames) * u128::from(video_rate.den()) * u128::from(rate);
                let unit = u128::from(video_rate.num()) * length.max(1);
                let aac_frames = u32::try_from((scaled + unit / 2) / unit).unwrap_or(u32::MAX);
                let last = u128::from(aac_frames.saturating_sub(1)) * length * 1_000_000_000
                    / u128::from(rate.max(1));
                (
                    aac_frames,
                    ExactSeconds::new(u128::from(aac_frames) * length, u128::from(rate)),
                    fact.first_frame_utc_ns
                        .saturating_add(i64::try_from(last).unwrap_or(i64::MAX)),
                )
            };
            restore_event = files.restore_index(&config.dir, facts, rebuilt, |frames| {
                ExactSeconds::new(u128::from(frames) * length, u128::from(rate))
            });
        }
        Ok(AudioOutput {
            codec_string: input.track.config.codec_string(),
            id: input.id,
            track: input.track,
            hls,
            files,
            template,
            grid,
            segment_samples,
            phase_samples,
            next_sample: None,
            open: None,
            skipping: None,
            done_through: None,
            last_published_k,
            published: BTreeSet::new(),
            ended: false,
            stalled: false,
            init_written: false,
            discontinuity_pending: false,
            restore_event,
        })
    }

    fn playlist_name(&self) -> String {
        format!("{}.m3u8", self.id)
    }

    fn boundary(&self, k: i64) -> i64 {
        k.saturating_mul(self.segment_samples)
            .saturating_add(self.phase_samples)
    }

    fn segment_of_sample(&self, sample: i64) -> i64 {
        (sample.saturating_sub(self.phase_samples)).div_euclid(self.segment_samples)
    }

    fn utc_of_sample(&self, sample: i64) -> i64 {
        let rate = i128::from(self.track.config.sampling_rate);
        i64::try_from(i128::from(sample) * 1_000_000_000 / rate).unwrap_or(i64::MAX)
    }

    fn push(
        &mut self,
        frame: AudioFrame<D>,
        dir: &Path,
        events: &mut Vec<Event>,
    ) -> Result<(), PublishError> {
        if !self.init_written {
            let init = fmp4::audio_init_segment(&self.track)
                .map_err(|e| PublishError::Input(e.to_string()))?;
            write_atomically(dir, &format!("{}_init.mp4", self.id), &init)?;
            self.init_written = true;
        }
        self.stalled = false;
        let rate = i128::from(self.track.config.sampling_rate);
        let length = i64::from(self.track.config.frame_length);
        // The instant in samples, rounded to the nearest one.
        let raw = i64::try_from((i128::from(frame.utc_ns) * rate + 500_000_000) / 1_000_000_000)
            .unwrap_or(i64::MAX);
        let sample = match self.next_sample {
            Some(expected) if (raw - expected).abs() <= length / 2 => expected,
            Some(expected) if raw < expected => {
                events.push(Event::AudioBackward {
                    id: self.id.clone(),
                    utc_ns: frame.utc_ns,
                });
                return Ok(());
            }
            Some(_) => {
                // A jump forward: what is open ends here (short), the timeline restarts.
                self.close(dir, events)?;
                raw
            }
            None => raw,
        };
        self.next_sample = Some(sample.saturating_add(length));
        let k = self.segment_of_sample(sample);
        if self.open.as_ref().is_some_and(|open| open.k != k) {
            self.close(dir, events)?;
        }
        if self.skipping.is_some_and(|skipped| skipped != k) {
            self.skipping = None;
        }
        let finished = self.segment_of_sample(sample.saturating_add(length)) - 1;
        self.done_through = Some(self.done_through.map_or(finished, |d| d.max(finished)));
        if self.last_published_k.is_some_and(|last| k <= last) {
            // Published before a restart.
            return Ok(());
        }
        if self.open.is_none() && self.skipping.is_none() {
            if sample - self.boundary(k) < length {
                self.open = Some(OpenAudio {
                    k,
                    first_sample: sample,
                    frames: Vec::new(),
                });
            } else {
                // Joined inside segment k: it would start late; skip it.
                self.skipping = Some(k);
            }
        }
        if let Some(open) = &mut self.open {
            open.frames.push(frame.data);
            if sample.saturating_add(length) >= self.boundary(k.saturating_add(1)) {
                self.close(dir, events)?;
            }
        }
        Ok(())
    }

    fn close(&mut self, dir: &Path, events: &mut Vec<Event>) -> Result<(), PublishError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        if open.frames.is_empty() {
            return Ok(());
        }
        let length = self.track.config.frame_length;
        let samples: Vec<Sample<'_>> = open
            .frames
            .iter()
            .map(|data| Sample {
                data: data.as_ref(),
                duration: length,
                keyframe: true,
                composition_offset: 0,
            })
            .collect();
        let base = u64::try_from(open.first_sample).map_err(|_| {
            PublishError::Input(format!("audio segment {} lies before 1970", open.k))
        })?;
        // mfhd sequence numbers are 32 bits: k modulo 2^32, as for the video.
        let bytes = fmp4::media_segment(open.k as u32, base, &samples)
            .map_err(|e| PublishError::Input(e.to_string()))?;
        let name = segment_name(
            &self.template,
            &self.id,
            &self.grid,
            self.track.config.sampling_rate,
            open.k,
        )?;
        write_atomically(dir, &name, &bytes)?;
        let count = open.frames.len() as i64;
        let last_sample = open.first_sample + (count - 1) * i64::from(length);
        let first_utc = self.utc_of_sample(open.first_sample);
        let last_utc = self.utc_of_sample(last_sample);
        let total = u64::try_from(count).unwrap_or(0) * u64::from(length);
        let duration = ExactSeconds::new(
            u128::from(total),
            u128::from(self.track.config.sampling_rate),
        )
        .unwrap_or(ExactSeconds::from_nanos(0));
        let frames = u32::try_from(count).unwrap_or(u32::MAX);
        let size_bytes = bytes.len() as u64;
        self.files.record(open.k, name.clone(), || StoredSegment {
            name: name.clone(),
            k: open.k,
            first_timecode: String::new(),
            last_timecode: String::new(),
            first_frame_utc_ns: first_utc,
            last_frame_utc_ns: last_utc,
            frames,
            duration: Some(duration),
            size_bytes,
            sha256: sha256_hex(&bytes),
        });
        events.push(Event::Segment(PublishedSegment {
            representation: self.id.clone(),
            name,
            k: open.k,
            frames,
            first_frame_utc_ns: first_utc,
            last_frame_utc_ns: last_utc,
            first_timecode: None,
            last_timecode: None,
            duration_ns: duration.floor_nanos(),
            size_bytes,
        }));
        self.published.insert(open.k);
        self.last_published_k = Some(open.k);
        Ok(())
    }
}

/// Cuts, writes and lists; see the module documentation.
pub struct Publisher<D> {
    config: PublisherConfig,
    /// What opening the directory had to report (a rebuilt storage index), delivered with
    /// the first call that returns events.
    startup_events: Vec<Event>,
    ticks_per_frame: u64,
    codec_string: String,
    hls: Option<HlsWindow>,
    dash: Option<DashConfig>,
    /// Facts the MPD can list (the window for live, all for event/vod).
    dash_facts: VecDeque<SegmentFact>,
    video_files: TrackFiles,
    audio: Vec<AudioOutput<D>>,
    /// Video segments written but not yet listed: the manifests wait for the audio of k.
    pending: VecDeque<SegmentFact>,
    open: Option<OpenSegment<D>>,
    /// The segment being skipped (joined mid-segment, or not starting on a keyframe).
    skipping: Option<i64>,
    last_index: Option<(i64, i64)>,
    last_published_k: Option<i64>,
    /// A jump cut the last written segment short: the next one written starts a new
    /// discontinuity domain (with [`PublisherConfig::discontinuity_on_jump`]).
    discontinuity_pending: bool,
    /// Frames are being dropped as backward (reported once per run).
    dropping_backward: bool,
    keyframe_requested_k: Option<i64>,
    multivariant_written: bool,
    init_written: bool,
    /// The record's parameter sets, put in front of every TS keyframe.
    parameter_sets: Option<ts::ParameterSets>,
}

impl<D: AsRef<[u8]>> Publisher<D> {
    /// Checks the configuration against every protocol rule; writes nothing.
    pub fn new(mut config: PublisherConfig) -> Result<Publisher<D>, PublishError> {
        let grid = config.grid;
        config.track.timescale = grid.default_timescale();
        let ticks_per_frame = grid
            .ticks_per_frame(config.track.timescale)
            .ok_or_else(|| {
                PublishError::Config(format!(
                    "no whole number of ticks per frame at {} fps",
                    grid.rate()
                ))
            })?;
        let parameter_sets = match config.format {
            SegmentFormat::Cmaf => None,
            SegmentFormat::Ts => {
                if config.dash {
                    return Err(PublishError::Config(
                        "segment-format=ts is for HLS only (DASH needs CMAF segments); set \
                         dash=false or segment-format=cmaf"
                            .into(),
                    ));
                }
                Some(
                    ts::ParameterSets::from_record(config.track.codec, &config.track.codec_config)
                        .map_err(|e| PublishError::Input(e.to_string()))?,
                )
            }
        };
        let codec_string = fmp4::rfc6381_codec(config.track.codec, &config.track.codec_config)
            .map_err(|e| PublishError::Input(e.to_string()))?;
        if !config.hls && !config.dash {
            return Err(PublishError::Config(
                "both hls and dash are off: enable at least one".into(),
            ));
        }
        if config.bandwidth == 0 {
            return Err(PublishError::Config(
                "bandwidth is 0: set the stream's peak bit rate".into(),
            ));
        }
        if config.max_files > 0 {
            match config.playlist_type {
                PlaylistType::Live { window } if config.max_files < window => {
                    return Err(PublishError::Config(format!(
                        "max-files {} is smaller than playlist-length {window}: the playlist \
                         would list deleted segments; use max-files {window} or more (or 0)",
                        config.max_files
                    )));
                }
                PlaylistType::Live { .. } => {}
                _ => {
                    return Err(PublishError::Config(format!(
                        "max-files {} with an event or vod playlist would delete listed \
                         segments; use max-files 0",
                        config.max_files
                    )));
                }
            }
        }
        if !config.audio.is_empty() && config.format != SegmentFormat::Cmaf {
            return Err(PublishError::Config(
                "audio pads need segment-format=cmaf (the MPEG-TS writer carries video only)"
                    .into(),
            ));
        }
        // A restarted packager continues after what it published before, listing those
        // segments again (still on disk) so its manifests match its peer's at once.
        let previous = read_previous(&config, MEDIA_PLAYLIST);
        let hls = if config.hls {
            let mut hls_config = HlsConfig::cmaf(grid, config.playlist_type, VIDEO_REPRESENTATION)?;
            hls_config.segment_template = NameTemplate::new(config.segment_template())?;
            if config.format == SegmentFormat::Ts {
                hls_config.init_template = None;
            }
            Some(window(
                hls_config,
                previous.as_ref(),
                &config.dir.join(MEDIA_PLAYLIST),
            )?)
        } else {
            None
        };
        let dash = if config.dash {
            let mut dash = DashConfig::cmaf(
                grid,
                config.utc_timing.clone(),
                vec![VideoRepresentation {
                    id: VIDEO_REPRESENTATION.to_owned(),
                    codecs: codec_string.clone(),
                    bandwidth: config.bandwidth,
                    width: u32::from(config.track.width),
                    height: u32::from(config.track.height),
                }],
            )?;
            dash.window = match config.playlist_type {
                PlaylistType::Live { window } => window,
                // Event: everything stays available.
                _ => u32::MAX,
            };
            dash.segment_timeline = config.segment_timeline;
            if config.name_by_time && !config.segment_timeline {
                return Err(PublishError::Config(
                    "segment-naming=time with DASH needs segment-timeline=true (ISO/IEC \
                     23009-1: $Time$ addresses the segments of a SegmentTimeline); set it, or \
                     use segment-naming=number, or dash=false"
                        .into(),
                ));
            }
            dash.media_template = NameTemplate::new(config.segment_template())?;
            dash.audio = config
                .audio
                .iter()
                .map(|input| {
                    let asc = &input.track.config;
                    AudioRepresentation {
                        id: input.id.clone(),
                        codecs: asc.codec_string(),
                        bandwidth: input.track.bandwidth,
                        sampling_rate: asc.sampling_rate,
                        channels: (1..=7)
                            .contains(&asc.channel_configuration)
                            .then_some(asc.channel_configuration),
                    }
                })
                .collect();
            dash.validate()
                .map_err(|e| PublishError::Config(e.to_string()))?;
            Some(dash)
        } else {
            None
        };
        let mut video_files = TrackFiles::new(VIDEO_REPRESENTATION, grid, config.storage_index);
        let mut audio = Vec::with_capacity(config.audio.len());
        for input in &config.audio {
            let previous = read_previous(&config, &format!("{}.m3u8", input.id));
            audio.push(AudioOutput::new(input.clone(), &config, previous)?);
        }
        let (last_published_k, restored) = match previous {
            Some((point, facts)) => (Some(point.last_k), facts),
            None => (None, Vec::new()),
        };
        let template = NameTemplate::new(config.segment_template())?;
        for fact in &restored {
            video_files.written.push_back((
                fact.k,
                segment_name(
                    &template,
                    VIDEO_REPRESENTATION,
                    &grid,
                    config.track.timescale,
                    fact.k,
                )?,
            ));
        }
        let rate = grid.rate();
        let rebuilt = |fact: &SegmentFact| {
            let last = ExactSeconds::of_frames(u64::from(fact.frames.saturating_sub(1)), rate);
            let last_ns = i64::try_from(last.floor_nanos()).unwrap_or(i64::MAX);
            (
                fact.frames,
                None,
                fact.first_frame_utc_ns.saturating_add(last_ns),
            )
        };
        let mut startup_events: Vec<Event> = video_files
            .restore_index(&config.dir, &restored, rebuilt, |_| None)
            .into_iter()
            .collect();
        startup_events.extend(audio.iter_mut().filter_map(|a| a.restore_event.take()));
        let mut dash_facts: VecDeque<SegmentFact> = restored.into_iter().collect();
        if let PlaylistType::Live { window } = config.playlist_type {
            while dash_facts.len() > window as usize {
                dash_facts.pop_front();
            }
        }
        Ok(Publisher {
            config,
            ticks_per_frame,
            codec_string,
            hls,
            dash,
            dash_facts,
            video_files,
            audio,
            startup_events,
            pending: VecDeque::new(),
            open: None,
            skipping: None,
            last_index: None,
            last_published_k,
            discontinuity_pending: false,
            dropping_backward: false,
            keyframe_requested_k: None,
            multivariant_written: false,
            init_written: false,
            parameter_sets,
        })
    }

    /// The RFC 6381 codec string of the track.
    pub fn codec_string(&self) -> &str {
        &self.codec_string
    }

    pub fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// The name of segment k's file.
    pub fn segment_name(&self, k: i64) -> Result<String, PublishError> {
        let template = NameTemplate::new(self.config.segment_template())?;
        Ok(segment_name(
            &template,
            VIDEO_REPRESENTATION,
            &self.config.grid,
            self.config.track.timescale,
            k,
        )?)
    }

    fn init_name() -> String {
        format!("{VIDEO_REPRESENTATION}_init.mp4")
    }

    /// Handles one frame (decode order).
    pub fn push(&mut self, frame: Frame<D>) -> Result<Vec<Event>, PublishError> {
        let mut events = std::mem::take(&mut self.startup_events);
        if !self.init_written && self.config.format == SegmentFormat::Cmaf {
            let init = fmp4::init_segment(&self.config.track)
                .map_err(|e| PublishError::Input(e.to_string()))?;
            write_atomically(&self.config.dir, &Self::init_name(), &init)?;
            self.init_written = true;
        }
        let grid = self.config.grid;
        let n = grid.epoch_frame_index(frame.utc_ns);
        let k = grid.segment_of_frame(n);
        if let Some((last_n, last_utc)) = self.last_index
            && n <= last_n
            && self.open.as_ref().is_none_or(|open| open.k != k)
        {
            // Within an open segment, B-frames come back in presentation time; anything
            // else at or before the last frame is a backward jump.
            if !std::mem::replace(&mut self.dropping_backward, true) {
                events.push(Event::Backward {
                    utc_ns: frame.utc_ns,
                    last_utc_ns: last_utc,
                });
            }
            return Ok(events);
        }
        if self.last_index.is_none_or(|(last_n, _)| n > last_n) {
            self.last_index = Some((n, frame.utc_ns));
            self.dropping_backward = false;
        }
        if let Some(open) = &self.open
            && open.k != k
        {
            // A frame of a later segment closes an incomplete one early. When the frames at its
            // end never came (a forward timecode jump, or frames lost), its EXTINF no longer
            // leads to the next segment's instant: the playlist's timestamp sequence jumps.
            let cut_short = !grid.is_last_frame_of_segment(open.last.1);
            let short_k = open.k;
            let frames = self.close(&mut events)?;
            if cut_short && let Some(frames) = frames {
                let discontinuity = self.config.discontinuity_on_jump;
                self.discontinuity_pending |= discontinuity;
                events.push(Event::CutShort {
                    k: short_k,
                    frames,
                    next_utc_ns: frame.utc_ns,
                    discontinuity,
                });
            }
        }
        if self.skipping.is_some_and(|skipped| skipped != k) {
            self.skipping = None;
        }
        if self.last_published_k.is_some_and(|last| k <= last) {
            // Already published (a restart inside a published segment).
            return Ok(events);
        }
        if self.dash.is_some() && u32::try_from(k).is_err() {
            return Err(PublishError::Config(format!(
                "segment number {k} does not fit the MPD's 32-bit $Number$ (ISO/IEC \
                 23009-1): segments of {} s are too short to number from the Unix epoch; use \
                 segments of 0.5 s or longer, or dash=false",
                grid.segment_duration()
            )));
        }
        if self.open.is_none() && self.skipping.is_none() {
            if !grid.is_first_frame_of_segment(frame.utc_ns) {
                // Joined inside segment k: skip it; ask for a keyframe at the next boundary.
                self.skipping = Some(k);
            } else if !frame.keyframe {
                events.push(Event::NotKeyframe {
                    k,
                    utc_ns: frame.utc_ns,
                });
                self.skipping = Some(k);
            } else {
                self.open = Some(OpenSegment {
                    k,
                    frames: Vec::with_capacity(grid.frames_per_segment() as usize),
                    seen: vec![false; grid.frames_per_segment() as usize],
                    first: (n, frame.utc_ns, frame.timecode.clone()),
                    last: (n, frame.utc_ns, frame.timecode.clone()),
                });
            }
            if self
                .keyframe_requested_k
                .is_none_or(|requested| requested <= k)
            {
                let next = k.saturating_add(1);
                self.keyframe_requested_k = Some(next);
                events.push(Event::KeyframeWanted {
                    utc_ns: grid.segment_start_ns(next),
                    k: next,
                });
            }
        }
        let Some(open) = &mut self.open else {
            return Ok(events);
        };
        let position = grid.position_in_segment(frame.utc_ns) as usize;
        if open.seen.get(position).copied().unwrap_or(true) {
            if !std::mem::replace(&mut self.dropping_backward, true) {
                events.push(Event::Backward {
                    utc_ns: frame.utc_ns,
                    last_utc_ns: self.last_index.map_or(frame.utc_ns, |(_, utc)| utc),
                });
            }
            return Ok(events);
        }
        self.dropping_backward = false;
        open.seen[position] = true;
        if n < open.first.0 {
            open.first = (n, frame.utc_ns, frame.timecode.clone());
        }
        if n > open.last.0 {
            open.last = (n, frame.utc_ns, frame.timecode.clone());
        }
        let lead = grid.rate().ns_to_frames(frame.decode_lead_ns);
        open.frames.push((n, lead, frame.keyframe, frame.data));
        if open.frames.len() >= grid.frames_per_segment() as usize {
            self.close(&mut events)?;
        }
        Ok(events)
    }

    /// Handles one AAC frame of audio input `track` (the index in [`PublisherConfig::audio`]).
    pub fn push_audio(
        &mut self,
        track: usize,
        frame: AudioFrame<D>,
    ) -> Result<Vec<Event>, PublishError> {
        let mut events = std::mem::take(&mut self.startup_events);
        let dir = self.config.dir.clone();
        let audio = self
            .audio
            .get_mut(track)
            .ok_or_else(|| PublishError::Config(format!("there is no audio track {track}")))?;
        audio.push(frame, &dir, &mut events)?;
        self.flush(&mut events)?;
        self.delete_old(&mut events)?;
        Ok(events)
    }

    /// Audio input `track` stalled (the glue saw no frame from it for a while): the manifests
    /// stop waiting for its segments, which are listed as missing, until it sends again. The
    /// decision is the glue's because only it knows the wall clock: in a live pipeline a
    /// dead branch must not stop publication, while a file may be read at any speed.
    pub fn audio_stalled(&mut self, track: usize) -> Result<Vec<Event>, PublishError> {
        let mut events = std::mem::take(&mut self.startup_events);
        if let Some(audio) = self.audio.get_mut(track) {
            audio.stalled = true;
        }
        self.flush(&mut events)?;
        Ok(events)
    }

    /// Audio input `track` ended (EOS or its pad went away): its open segment is written
    /// (short) and the manifests no longer wait for it.
    pub fn end_audio(&mut self, track: usize) -> Result<Vec<Event>, PublishError> {
        let mut events = std::mem::take(&mut self.startup_events);
        let dir = self.config.dir.clone();
        if let Some(audio) = self.audio.get_mut(track) {
            audio.close(&dir, &mut events)?;
            audio.ended = true;
        }
        self.flush(&mut events)?;
        self.delete_old(&mut events)?;
        Ok(events)
    }

    /// At the end of the stream: the open segments (short), then final manifests
    /// (EXT-X-ENDLIST, a static MPD).
    pub fn finish(&mut self) -> Result<Vec<Event>, PublishError> {
        let mut events = std::mem::take(&mut self.startup_events);
        if self.open.is_some() {
            self.close(&mut events)?;
        }
        let dir = self.config.dir.clone();
        for audio in &mut self.audio {
            audio.close(&dir, &mut events)?;
            audio.ended = true;
        }
        self.flush(&mut events)?;
        if let Some(hls) = &mut self.hls {
            hls.end();
        }
        for audio in &mut self.audio {
            if let Some(hls) = &mut audio.hls {
                hls.end();
            }
        }
        if let Some(k) = self.last_published_k
            && (!self.dash_facts.is_empty()
                || self.hls.as_ref().is_some_and(|h| h.last_k().is_some()))
        {
            let names = self.write_manifests(k, true)?;
            events.push(Event::Manifests { k, names });
        }
        Ok(events)
    }

    /// Writes the open segment, if any, and returns how many frames it spans.
    fn close(&mut self, events: &mut Vec<Event>) -> Result<Option<u32>, PublishError> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let grid = self.config.grid;
        let tpf = self.ticks_per_frame as i64;
        // Decode index of each sample: its presentation index moved back by the encoder's
        // decode lead, kept strictly increasing in decode order.
        let mut decode = Vec::with_capacity(open.frames.len());
        for (n, lead, _, _) in &open.frames {
            let wanted = n.saturating_sub(*lead);
            let index = match decode.last() {
                Some(&previous) if wanted <= previous => previous + 1,
                _ => wanted,
            };
            decode.push(index);
        }
        let mut samples = Vec::with_capacity(open.frames.len());
        for (i, (n, _, keyframe, data)) in open.frames.iter().enumerate() {
            let frames_to_next = decode.get(i + 1).map_or(1, |next| next - decode[i]);
            let offset = n.saturating_sub(decode[i]).saturating_mul(tpf);
            let range = |what: &str, value: i64| {
                PublishError::Input(format!(
                    "segment {}: a sample's {what} of {value} ticks does not fit 32 bits",
                    open.k
                ))
            };
            let duration = frames_to_next.saturating_mul(tpf);
            samples.push(Sample {
                data: data.as_ref(),
                duration: u32::try_from(duration).map_err(|_| range("duration", duration))?,
                keyframe: *keyframe,
                composition_offset: i32::try_from(offset)
                    .map_err(|_| range("composition offset", offset))?,
            });
        }
        let first_decode = decode.first().copied().unwrap_or(open.first.0);
        let base = grid
            .ticks_of_frames(first_decode, self.config.track.timescale)
            .and_then(|t| u64::try_from(t).ok())
            .ok_or_else(|| PublishError::Input(format!("segment {} lies before 1970", open.k)))?;
        // mfhd sequence numbers are 32 bits; k modulo 2^32 (k itself for 2 s segments until
        // the year 2242).
        let bytes = match &self.parameter_sets {
            None => fmp4::media_segment(open.k as u32, base, &samples)
                .map_err(|e| PublishError::Input(e.to_string()))?,
            Some(parameter_sets) => {
                // 90 kHz on the epoch grid: floor(index · den · 90000 / num), mod 2^33 in the
                // writer.
                let rate = grid.rate();
                let at_90k = |index: i64| {
                    u64::try_from(
                        i128::from(index) * i128::from(rate.den()) * 90_000
                            / i128::from(rate.num()),
                    )
                    .unwrap_or(0)
                };
                let ts_samples: Vec<ts::TsSample<'_>> = open
                    .frames
                    .iter()
                    .zip(&decode)
                    .map(|((n, _, keyframe, data), decode_index)| ts::TsSample {
                        data: data.as_ref(),
                        keyframe: *keyframe,
                        pts: at_90k(*n),
                        dts: at_90k(*decode_index),
                    })
                    .collect();
                ts::segment(self.config.track.codec, parameter_sets, &ts_samples)
            }
        };
        let name = self.segment_name(open.k)?;
        write_atomically(&self.config.dir, &name, &bytes)?;
        let span = open.last.0.saturating_sub(open.first.0).saturating_add(1);
        let frames = u32::try_from(span)
            .unwrap_or(grid.frames_per_segment())
            .min(grid.frames_per_segment());
        let fact = SegmentFact {
            k: open.k,
            first_frame_utc_ns: open.first.1,
            frames,
            discontinuity: std::mem::take(&mut self.discontinuity_pending),
        };
        let duration_ns = ExactSeconds::of_frames(u64::from(frames), grid.rate()).floor_nanos();
        self.video_files
            .record(open.k, name.clone(), || StoredSegment {
                name: name.clone(),
                k: open.k,
                first_timecode: open.first.2.clone().unwrap_or_default(),
                last_timecode: open.last.2.clone().unwrap_or_default(),
                first_frame_utc_ns: open.first.1,
                last_frame_utc_ns: open.last.1,
                frames,
                duration: None,
                size_bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            });
        events.push(Event::Segment(PublishedSegment {
            representation: VIDEO_REPRESENTATION.to_owned(),
            name: name.clone(),
            k: open.k,
            frames,
            first_frame_utc_ns: open.first.1,
            last_frame_utc_ns: open.last.1,
            first_timecode: open.first.2,
            last_timecode: open.last.2,
            duration_ns,
            size_bytes: bytes.len() as u64,
        }));
        self.last_published_k = Some(open.k);
        self.pending.push_back(fact);
        self.flush(events)?;
        self.delete_old(events)?;
        Ok(Some(frames))
    }

    /// Lists the written video segments whose audio is settled — every audio track finished
    /// k (written or passed it), ended, or is stalled ([`Publisher::audio_stalled`]) — and
    /// rewrites the manifests once for the last of them. An audio playlist lists k exactly
    /// when the video does and the audio segment k was written, with the video's facts (PDT,
    /// duration), so it is a function of the same facts on every packager.
    fn flush(&mut self, events: &mut Vec<Event>) -> Result<(), PublishError> {
        let mut listed = None;
        while let Some(fact) = self.pending.front().copied() {
            let waiting = self
                .audio
                .iter()
                .any(|a| !a.ended && !a.stalled && a.done_through.is_none_or(|done| done < fact.k));
            if waiting {
                break;
            }
            self.pending.pop_front();
            for audio in &mut self.audio {
                // Audio of a k the video does not list is never listed.
                while audio.published.first().is_some_and(|&k| k < fact.k) {
                    audio.published.pop_first();
                }
                if audio.published.remove(&fact.k) {
                    let mut audio_fact = fact;
                    audio_fact.discontinuity |= std::mem::take(&mut audio.discontinuity_pending);
                    if let Some(hls) = &mut audio.hls {
                        hls.add(audio_fact)
                            .map_err(|e| PublishError::Input(e.to_string()))?;
                    }
                } else {
                    // A discontinuity at a k this track does not list moves to its next listed
                    // segment, so its discontinuity sequence stays the video's.
                    audio.discontinuity_pending |= fact.discontinuity;
                    events.push(Event::AudioMissing {
                        id: audio.id.clone(),
                        k: fact.k,
                    });
                }
            }
            if let Some(hls) = &mut self.hls {
                hls.add(fact)
                    .map_err(|e| PublishError::Input(e.to_string()))?;
            }
            self.dash_facts.push_back(fact);
            if let PlaylistType::Live { window } = self.config.playlist_type {
                while self.dash_facts.len() > window as usize {
                    self.dash_facts.pop_front();
                }
            }
            listed = Some(fact.k);
        }
        if let Some(k) = listed
            && self.config.playlist_type != PlaylistType::Vod
        {
            let names = self.write_manifests(k, false)?;
            events.push(Event::Manifests { k, names });
        }
        Ok(())
    }

    fn write_manifests(&mut self, k: i64, ended: bool) -> Result<Vec<String>, PublishError> {
        let dir = self.config.dir.clone();
        let mut names = Vec::new();
        if let Some(hls) = &self.hls
            && hls.last_k().is_some()
        {
            let playlist = hls
                .playlist_at(k)
                .map_err(|e| PublishError::Input(e.to_string()))?;
            if !self.multivariant_written {
                let grid = self.config.grid;
                let mut codecs = vec![self.codec_string.clone()];
                for audio in &self.audio {
                    if !codecs.contains(&audio.codec_string) {
                        codecs.push(audio.codec_string.clone());
                    }
                }
                let audio_bandwidth = self
                    .audio
                    .iter()
                    .map(|a| u64::from(a.track.bandwidth))
                    .max()
                    .unwrap_or(0);
                let renditions = self
                    .audio
                    .iter()
                    .enumerate()
                    .map(|(index, audio)| AudioRendition {
                        group_id: AUDIO_GROUP.to_owned(),
                        name: audio.id.clone(),
                        uri: audio.playlist_name(),
                        channels: audio.track.config.channel_count(),
                        default: index == 0,
                    })
                    .collect();
                let multivariant = MultivariantPlaylist::new(
                    playlist.version(),
                    true,
                    vec![Variant {
                        uri: MEDIA_PLAYLIST.to_owned(),
                        bandwidth: u64::from(self.config.bandwidth) + audio_bandwidth,
                        average_bandwidth: None,
                        codecs: codecs.join(","),
                        resolution: Some((
                            u32::from(self.config.track.width),
                            u32::from(self.config.track.height),
                        )),
                        frame_rate: Some(grid.rate()),
                        audio_group: (!self.audio.is_empty()).then(|| AUDIO_GROUP.to_owned()),
                    }],
                )
                .and_then(|playlist| playlist.with_audio(renditions))
                .map_err(|e| PublishError::Config(e.to_string()))?;
                write_atomically(
                    &dir,
                    MULTIVARIANT_PLAYLIST,
                    multivariant.render().as_bytes(),
                )?;
                self.multivariant_written = true;
                names.push(MULTIVARIANT_PLAYLIST.to_owned());
            }
            write_atomically(&dir, MEDIA_PLAYLIST, playlist.render().as_bytes())?;
            names.push(MEDIA_PLAYLIST.to_owned());
            for audio in &self.audio {
                // A track with nothing listed yet has no playlist to write.
                if let Some(hls) = &audio.hls
                    && hls.last_k().is_some()
                {
                    let playlist = hls
                        .playlist_at(k)
                        .map_err(|e| PublishError::Input(e.to_string()))?;
                    let name = audio.playlist_name();
                    write_atomically(&dir, &name, playlist.render().as_bytes())?;
                    names.push(name);
                }
            }
        }
        if let Some(dash) = &self.dash
            && !self.dash_facts.is_empty()
        {
            let kind = if ended || self.config.playlist_type == PlaylistType::Vod {
                MpdKind::Static
            } else {
                MpdKind::Dynamic
            };
            let facts: Vec<SegmentFact> = self.dash_facts.iter().copied().collect();
            let mpd = dash
                .mpd(&facts, k, kind)
                .map_err(|e| PublishError::Input(e.to_string()))?;
            write_atomically(&dir, MPD, mpd.render().as_bytes())?;
            names.push(MPD.to_owned());
        }
        for files in std::iter::once(&self.video_files).chain(self.audio.iter().map(|a| &a.files)) {
            if let Some(storage) = &files.storage {
                write_atomically(&dir, &files.storage_name, storage.render().as_bytes())?;
                names.push(files.storage_name.clone());
            }
        }
        Ok(names)
    }

    fn delete_old(&mut self, events: &mut Vec<Event>) -> Result<(), PublishError> {
        if !matches!(self.config.playlist_type, PlaylistType::Live { .. }) {
            return Ok(());
        }
        let max = self.config.max_files as usize;
        let dir = &self.config.dir;
        self.video_files.delete_old(dir, max, events)?;
        for audio in &mut self.audio {
            audio.files.delete_old(dir, max, events)?;
        }
        Ok(())
    }
}

/// The facts of the playlist `name` a previous run left in the directory (live and event).
fn read_previous(config: &PublisherConfig, name: &str) -> Option<(ResumePoint, Vec<SegmentFact>)> {
    if config.playlist_type == PlaylistType::Vod {
        return None;
    }
    std::fs::read_to_string(config.dir.join(name))
        .ok()
        .and_then(|text| facts_from_playlist(&text, &config.grid))
}

/// A rendition's window: new, or continuing the playlist at `path` a previous run published.
fn window(
    config: HlsConfig,
    previous: Option<&(ResumePoint, Vec<SegmentFact>)>,
    path: &Path,
) -> Result<HlsWindow, PublishError> {
    match previous {
        Some((point, facts)) => HlsWindow::restore(config, *point, facts).map_err(|e| {
            PublishError::Config(format!(
                "the playlist already in '{}' (a previous run) cannot be continued: {e}; use an \
                 empty directory for a different stream",
                path.display()
            ))
        }),
        None => HlsWindow::new(config).map_err(|e| PublishError::Config(e.to_string())),
    }
}

/// The directory must exist and be a directory; the error names it.
pub fn check_directory(dir: &Path) -> Result<(), PublishError> {
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(PublishError::Config(format!(
            "location '{}' is not a directory; give an existing, writable directory",
            dir.display()
        ))),
        Err(error) => Err(PublishError::Config(format!(
            "location '{}' is not usable ({error}); create the directory or give an existing one",
            dir.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timecode::FrameRate;
    use std::collections::BTreeMap;

    const T0: i64 = 1_767_261_600_000_000_000;
    const K0: i64 = 1_767_261_600;
    const FRAME: i64 = 40_000_000;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lockstep-publisher-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn config(dir: &Path, playlist_type: PlaylistType) -> PublisherConfig {
        PublisherConfig {
            dir: dir.to_path_buf(),
            grid: Grid::new(FrameRate::new(25, 1).unwrap(), 25).unwrap(),
            track: VideoTrack {
                codec: fmp4::VideoCodec::H264,
                codec_config: vec![1, 0x42, 0xc0, 0x0c, 0xff, 0xe0, 0],
                width: 320,
                height: 180,
                timescale: 0,
            },
            playlist_type,
            window: 3,
            max_files: 0,
            hls: true,
            dash: true,
            storage_index: true,
            utc_timing: UtcTiming::http_iso("https://time.example/iso"),
            segment_timeline: true,
            bandwidth: 1_000_000,
            format: SegmentFormat::Cmaf,
            audio: Vec::new(),
            name_by_time: false,
            discontinuity_on_jump: false,
        }
    }

    fn frame(index: i64, keyframe: bool) -> Frame<Vec<u8>> {
        Frame {
            utc_ns: T0 + index * FRAME,
            keyframe,
            data: vec![index as u8; 4],
            timecode: None,
            decode_lead_ns: 0,
        }
    }

    fn published(events: &[Event]) -> Vec<i64> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Segment(s) => Some(s.k),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn cuts_on_the_grid_and_publishes_on_the_last_frame() {
        let dir = dir("cut");
        let mut publisher = Publisher::new(config(&dir, PlaylistType::Live { window: 3 })).unwrap();
        // Joins 10 frames before segment K0: skips them, asks for a keyframe at K0.
        let events = publisher.push(frame(-10, true)).unwrap();
        assert_eq!(events, vec![Event::KeyframeWanted { utc_ns: T0, k: K0 }]);
        for i in -9..24 {
            let events = publisher.push(frame(i, i % 25 == 0)).unwrap();
            assert!(published(&events).is_empty(), "frame {i}");
        }
        // The 25th frame of K0 completes it: segment and manifests at once.
        let events = publisher.push(frame(24, false)).unwrap();
        assert_eq!(published(&events), vec![K0]);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Manifests { k, .. } if *k == K0))
        );
        assert!(dir.join(format!("video_{K0}.m4s")).is_file());
        for i in 25..40 {
            publisher.push(frame(i, i % 25 == 0)).unwrap();
        }
        // EOS: the open segment, short, and final manifests.
        let events = publisher.finish().unwrap();
        assert_eq!(published(&events), vec![K0 + 1]);
        let playlist = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
        assert!(playlist.contains("#EXTINF:0.600000,\nvideo_1767261601.m4s\n#EXT-X-ENDLIST\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_keyframe_and_backward_jump() {
        let dir = dir("keyframe");
        let mut publisher = Publisher::new(config(&dir, PlaylistType::Event)).unwrap();
        for i in 0..25 {
            publisher.push(frame(i, i == 0)).unwrap();
        }
        // Segment K0+1 does not start on a keyframe: reported, not written.
        let events = publisher.push(frame(25, false)).unwrap();
        assert!(events.contains(&Event::NotKeyframe {
            k: K0 + 1,
            utc_ns: T0 + 25 * FRAME
        }));
        for i in 26..75 {
            publisher.push(frame(i, i % 25 == 0)).unwrap();
        }
        assert!(!dir.join(format!("video_{}.m4s", K0 + 1)).exists());
        // Back in time: dropped with an event, nothing changes.
        let events = publisher.push(frame(3, true)).unwrap();
        assert!(matches!(events[..], [Event::Backward { .. }]));
        let playlist = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
        assert!(
            playlist.contains("#EXT-X-GAP\n#EXTINF:1.000000,\nvideo_1767261601.m4s\n"),
            "{playlist}"
        );
        assert!(playlist.contains("video_1767261602.m4s\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A forward timecode jump (frames 30..80 never arrive): the open segment closes early
    /// with its real length, the segment the jump lands in is skipped (it lacks its first
    /// frame), the missing k are EXT-X-GAP entries, and the grid continues.
    #[test]
    fn forward_jump_closes_early_and_lists_gaps() {
        let dir = dir("jump");
        let mut publisher = Publisher::new(config(&dir, PlaylistType::Event)).unwrap();
        let mut events = Vec::new();
        for i in (0..30).chain(80..125) {
            events.extend(publisher.push(frame(i, i % 25 == 0 || i == 80)).unwrap());
        }
        assert_eq!(published(&events), vec![K0, K0 + 1, K0 + 4]);
        let short = events.iter().find_map(|e| match e {
            Event::Segment(s) if s.k == K0 + 1 => Some(s.frames),
            _ => None,
        });
        assert_eq!(short, Some(5));
        let playlist = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
        assert!(
            playlist.contains(
                "#EXTINF:0.200000,\nvideo_1767261601.m4s\n\
                 #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:02.000Z\n#EXT-X-GAP\n\
                 #EXTINF:1.000000,\nvideo_1767261602.m4s\n\
                 #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:03.000Z\n#EXT-X-GAP\n\
                 #EXTINF:1.000000,\nvideo_1767261603.m4s\n\
                 #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:04.000Z\n#EXTINF:1.000000,\n\
                 video_1767261604.m4s\n"
            ),
            "{playlist}"
        );
        // The timeline MPD leaves the missing segments out; an event keeps every segment
        // available (no timeShiftBufferDepth: infinite).
        let mpd = std::fs::read_to_string(dir.join(MPD)).unwrap();
        assert!(mpd.contains("type=\"dynamic\"") && !mpd.contains("timeShiftBufferDepth"));
        crate::packaging::dash::tests::assert_schema_valid(&mpd);
        assert!(
            mpd.contains("<S t=\"159053544000000\" d=\"90000\"/>"),
            "{mpd}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// (media sequence number, discontinuity sequence number, gap) of every entry of a media
    /// playlist, read with m3u8-rs: the numbers a player keys its timelines on.
    fn sequence_numbers(text: &str) -> Vec<(u64, u64, bool)> {
        let Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) =
            m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("not a media playlist: {text}");
        };
        let mut dsn = playlist.discontinuity_sequence;
        playlist
            .segments
            .iter()
            .enumerate()
            .map(|(i, segment)| {
                if segment.discontinuity {
                    dsn += 1;
                }
                let gap = segment.unknown_tags.iter().any(|t| t.tag.contains("GAP"));
                (playlist.media_sequence + i as u64, dsn, gap)
            })
            .collect()
    }

    /// The media playlist after every manifest update, by the last k listed.
    fn playlists_by_k(
        dir: &Path,
        name: &str,
        publisher: &mut Publisher<Vec<u8>>,
        frames: impl Iterator<Item = Frame<Vec<u8>>>,
        events: &mut Vec<Event>,
    ) -> BTreeMap<i64, String> {
        let mut out = BTreeMap::new();
        for frame in frames {
            for event in publisher.push(frame).unwrap() {
                if let Event::Manifests { k, .. } = &event {
                    out.insert(*k, std::fs::read_to_string(dir.join(name)).unwrap());
                }
                events.push(event);
            }
        }
        out
    }

    fn jumping_frames(range: std::ops::Range<i64>) -> impl Iterator<Item = Frame<Vec<u8>>> {
        // Frames 30..80 never come: the timecode jumps 2 s forward inside K0+1.
        range
            .filter(|i| !(30..80).contains(i))
            .map(|i| frame(i, i % 25 == 0 || i == 80))
    }

    /// The playlists of a packager fed [`jumping_frames`] up to K0+5, dropped without finishing
    /// (the open segment is lost) and made again on the same directory for K0+6 on.
    fn restarted_after_the_jump(config: PublisherConfig) -> BTreeMap<i64, String> {
        let dir = config.dir.clone();
        let mut first = Publisher::new(config.clone()).unwrap();
        let frames = jumping_frames(0..150);
        playlists_by_k(&dir, MEDIA_PLAYLIST, &mut first, frames, &mut Vec::new());
        drop(first);
        let mut second = Publisher::new(config).unwrap();
        let frames = jumping_frames(150..250);
        playlists_by_k(&dir, MEDIA_PLAYLIST, &mut second, frames, &mut Vec::new())
    }

    /// With `discontinuity_on_jump`, the first segment written after one that a forward jump
    /// cut short starts a new discontinuity domain: EXT-X-DISCONTINUITY before it while an
    /// earlier entry is listed, then EXT-X-DISCONTINUITY-SEQUENCE 1 for good once it heads the
    /// live window; the jump is reported. A packager restarted after the jump continues the
    /// count and writes the same playlists again. Off, nothing but gaps (the test above).
    #[test]
    fn forward_jump_is_a_discontinuity_when_asked() {
        let live = PlaylistType::Live { window: 5 };
        let dir_a = dir("jump-disc-a");
        let mut config_a = config(&dir_a, live);
        config_a.discontinuity_on_jump = true;
        let mut a = Publisher::new(config_a.clone()).unwrap();
        let mut events = Vec::new();
        let playlists = playlists_by_k(
            &dir_a,
            MEDIA_PLAYLIST,
            &mut a,
            jumping_frames(0..250),
            &mut events,
        );
        assert_eq!(
            published(&events),
            vec![K0, K0 + 1, K0 + 4, K0 + 5, K0 + 6, K0 + 7, K0 + 8, K0 + 9]
        );
        assert!(events.contains(&Event::CutShort {
            k: K0 + 1,
            frames: 5,
            next_utc_ns: T0 + 80 * FRAME,
            discontinuity: true
        }));
        let k = |offset: i64| (K0 + offset) as u64;
        // (msn, dsn, gap) per entry after each update: K0+4 opens domain 1.
        assert_eq!(
            sequence_numbers(&playlists[&(K0 + 1)]),
            vec![(k(0), 0, false), (k(1), 0, false)]
        );
        assert_eq!(
            sequence_numbers(&playlists[&(K0 + 4)]),
            vec![
                (k(0), 0, false),
                (k(1), 0, false),
                (k(2), 0, true),
                (k(3), 0, true),
                (k(4), 1, false)
            ]
        );
        assert!(playlists[&(K0 + 4)].contains(&format!(
            "#EXT-X-GAP\n#EXTINF:1.000000,\nvideo_{}.m4s\n#EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:04.000Z\n#EXTINF:1.000000,\nvideo_{}.m4s\n",
            K0 + 3,
            K0 + 4
        )));
        // Once K0+4 heads the window, the count is in the header and stays.
        for last in [K0 + 8, K0 + 9] {
            let first = last - 4;
            assert_eq!(
                sequence_numbers(&playlists[&last]),
                (first..=last)
                    .map(|k| (k as u64, 1, false))
                    .collect::<Vec<_>>()
            );
            assert!(playlists[&last].contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
            assert!(!playlists[&last].contains("#EXT-X-DISCONTINUITY\n"));
        }
        // The same jump on a packager stopped after K0+5 (no EOS) and restarted at K0+6.
        let dir_b = dir("jump-disc-b");
        let mut config_b = config_a.clone();
        config_b.dir = dir_b.clone();
        let after = restarted_after_the_jump(config_b);
        for k in K0 + 6..=K0 + 9 {
            assert_eq!(after[&k], playlists[&k], "after the restart, segment {k}");
        }
        let _ = std::fs::remove_dir_all(&dir_a);
        let _ = std::fs::remove_dir_all(&dir_b);
    }

    /// A packager restarted after a jump whose gaps then head the live window lists the same
    /// window as its peer: the window starts at the first segment written within it, not at
    /// the older segment the restarted packager read back (it listed the gaps before).
    #[test]
    fn restart_after_a_jump_lists_the_same_window() {
        let live = PlaylistType::Live { window: 5 };
        let (dir_a, dir_b) = (dir("jump-restart-a"), dir("jump-restart-b"));
        let mut a = Publisher::new(config(&dir_a, live)).unwrap();
        let expected = playlists_by_k(
            &dir_a,
            MEDIA_PLAYLIST,
            &mut a,
            jumping_frames(0..250),
            &mut Vec::new(),
        );
        let after = restarted_after_the_jump(config(&dir_b, live));
        for k in K0 + 6..=K0 + 9 {
            assert_eq!(after[&k], expected[&k], "segment {k}");
        }
        assert!(expected[&(K0 + 6)].contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", K0 + 4)));
        assert!(!expected[&(K0 + 6)].contains("DISCONTINUITY\n"));
        let _ = std::fs::remove_dir_all(&dir_a);
        let _ = std::fs::remove_dir_all(&dir_b);
    }

    /// The audio of the segment that opens the new discontinuity domain is missing: its
    /// playlist moves the tag to its next listed segment, so every segment a player fetches
    /// has the same discontinuity sequence number in the audio and the video playlist.
    #[test]
    fn audio_follows_the_video_discontinuity() {
        let dir = dir("jump-disc-audio");
        let mut config = audio_config(&dir);
        config.playlist_type = PlaylistType::Live { window: 5 };
        config.discontinuity_on_jump = true;
        let mut publisher = Publisher::new(config).unwrap();
        // AAC frames for 0 s..1.5 s and from 4.9 s on: the audio lands inside K0+4 after its
        // own jump, so it skips K0+4 and starts again at K0+5.
        let mut events = Vec::new();
        let start = |j: i64| T0 + (j - 10) * 1024 * 1_000_000_000 / 48_000;
        for j in (10..480).filter(|&j| {
            let at = start(j);
            !(T0 + 1_500_000_000..T0 + 4_900_000_000).contains(&at)
        }) {
            events.extend(publisher.push_audio(0, aac(j, 0)).unwrap());
        }
        let mut video = BTreeMap::new();
        let mut audio = BTreeMap::new();
        for frame in jumping_frames(0..200) {
            for event in publisher.push(frame).unwrap() {
                if let Event::Manifests { k, .. } = &event {
                    video.insert(
                        *k,
                        std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap(),
                    );
                    audio.insert(
                        *k,
                        std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap(),
                    );
                }
                events.push(event);
            }
        }
        assert!(events.contains(&Event::AudioMissing {
            id: "audio_0".into(),
            k: K0 + 4
        }));
        let k = |offset: i64| (K0 + offset) as u64;
        let video_entries = sequence_numbers(&video[&(K0 + 5)]);
        let audio_entries = sequence_numbers(&audio[&(K0 + 5)]);
        assert_eq!(
            video_entries[3..],
            [(k(4), 1, false), (k(5), 1, false)],
            "{}",
            video[&(K0 + 5)]
        );
        assert_eq!(
            audio_entries[3..],
            [(k(4), 0, true), (k(5), 1, false)],
            "{}",
            audio[&(K0 + 5)]
        );
        for k in K0 + 4..=K0 + 7 {
            let fetched = |text: &str| -> Vec<(u64, u64)> {
                sequence_numbers(text)
                    .into_iter()
                    .filter(|(_, _, gap)| !gap)
                    .map(|(msn, dsn, _)| (msn, dsn))
                    .collect()
            };
            let (v, a) = (fetched(&video[&k]), fetched(&audio[&k]));
            for entry in &a {
                assert!(v.contains(entry), "after {k}: audio {a:?}, video {v:?}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Decode order I0 P3 B1 B2 P6 B4 B5 … with the encoder's DTS one frame before PTS for
    /// the IDR: decode times continue across segments, offsets are never negative.
    #[test]
    fn b_frames_keep_presentation_times() {
        let dir = dir("bframes");
        let mut publisher = Publisher::new(config(&dir, PlaylistType::Event)).unwrap();
        let order = |segment: i64| {
            let base = segment * 25;
            let mut out = vec![base];
            let mut i = 1;
            while i + 2 < 25 {
                out.extend([base + i + 2, base + i, base + i + 1]);
                i += 3;
            }
            out.extend((base + i..base + 25).rev().collect::<Vec<_>>());
            out
        };
        let mut events = Vec::new();
        for segment in 0..2 {
            for (decode, n) in order(segment).into_iter().enumerate() {
                let decode = segment * 25 + decode as i64 - 1;
                events.extend(
                    publisher
                        .push(Frame {
                            decode_lead_ns: (n - decode) * FRAME,
                            ..frame(n, n % 25 == 0)
                        })
                        .unwrap(),
                );
            }
        }
        assert_eq!(published(&events), vec![K0, K0 + 1]);
        for (segment, k) in [(0, K0), (1, K0 + 1)] {
            let bytes = std::fs::read(dir.join(format!("video_{k}.m4s"))).unwrap();
            let at = bytes.windows(4).position(|w| w == b"tfdt").unwrap();
            let tfdt = u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap());
            assert_eq!(
                tfdt as i64,
                ((K0 + segment) * 25 - 1) * 3600,
                "decode lead of 1 frame"
            );
            let at = bytes.windows(4).position(|w| w == b"trun").unwrap();
            assert_eq!(bytes[at + 4], 0, "version 0: no negative offset");
            let count = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            let presented: Vec<i64> = (0..count as usize)
                .map(|i| {
                    let entry = at + 16 + i * 16;
                    let offset =
                        u32::from_be_bytes(bytes[entry + 12..entry + 16].try_into().unwrap());
                    (tfdt as i64 + i as i64 * 3600 + i64::from(offset)) / 3600
                })
                .collect();
            let expected: Vec<i64> = order(segment).iter().map(|n| K0 * 25 + n).collect();
            assert_eq!(presented, expected);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_restart_lists_the_published_segments_again() {
        let dir_once = dir("restart-once");
        let dir_twice = dir("restart-twice");
        let live = PlaylistType::Live { window: 3 };
        let mut once = Publisher::new(config(&dir_once, live)).unwrap();
        let mut first = Publisher::new(config(&dir_twice, live)).unwrap();
        for i in 0..60 {
            first.push(frame(i, i % 25 == 0)).unwrap();
        }
        for i in 0..50 {
            once.push(frame(i, i % 25 == 0)).unwrap();
        }
        drop(first);
        let mut second = Publisher::new(config(&dir_twice, live)).unwrap();
        for i in 50..125 {
            once.push(frame(i, i % 25 == 0)).unwrap();
            let events = second.push(frame(i, i % 25 == 0)).unwrap();
            if !published(&events).is_empty() {
                // The restarted packager's index still holds what it stored before.
                for name in [MEDIA_PLAYLIST, MPD, STORAGE_INDEX] {
                    assert_eq!(
                        std::fs::read_to_string(dir_once.join(name)).unwrap(),
                        std::fs::read_to_string(dir_twice.join(name)).unwrap(),
                        "{name} at frame {i}"
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir_once);
        let _ = std::fs::remove_dir_all(&dir_twice);
    }

    fn audio_config(dir: &Path) -> PublisherConfig {
        let mut config = config(dir, PlaylistType::Event);
        config.audio.push(AudioInput {
            id: "audio_0".into(),
            track: AudioTrack {
                config: crate::packaging::aac::AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap(),
                bandwidth: 128_000,
            },
        });
        config
    }

    /// AAC frame j of a stream whose frame 10 starts exactly at T0 (48 kHz, 1024 samples).
    fn aac(j: i64, jitter_ns: i64) -> AudioFrame<Vec<u8>> {
        AudioFrame {
            utc_ns: T0 + (j - 10) * 1024 * 1_000_000_000 / 48_000 + jitter_ns,
            data: vec![j as u8; 6],
        }
    }

    fn tfdt(bytes: &[u8]) -> u64 {
        let at = bytes.windows(4).position(|w| w == b"tfdt").unwrap();
        u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap())
    }

    fn sample_count(bytes: &[u8]) -> u32 {
        let at = bytes.windows(4).position(|w| w == b"trun").unwrap();
        u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap())
    }

    /// Audio is cut on the video's boundaries in samples, continuous across segments despite
    /// timestamp jitter; the manifests wait for the audio of a segment and list it with the
    /// video's facts.
    #[test]
    fn audio_segments_follow_the_grid_and_gate_the_manifests() {
        let dir = dir("audio");
        let mut publisher = Publisher::new(audio_config(&dir)).unwrap();
        let mut events = Vec::new();
        // Video first: segment K0 completes, but its audio has not arrived: nothing listed.
        for i in 0..25 {
            events.extend(publisher.push(frame(i, i % 25 == 0)).unwrap());
        }
        assert_eq!(published(&events), vec![K0]);
        assert!(!events.iter().any(|e| matches!(e, Event::Manifests { .. })));
        // Audio from before the boundary; ±3 ms of jitter stays on the 1024-sample grid.
        let mut manifests_at = None;
        for j in 0..110 {
            // The first frame anchors the sample positions; later ones may jitter.
            let jitter = match j {
                0 => 0,
                _ if j % 2 == 0 => 3_000_000,
                _ => -3_000_000,
            };
            let more = publisher.push_audio(0, aac(j, jitter)).unwrap();
            if more
                .iter()
                .any(|e| matches!(e, Event::Manifests { k, .. } if *k == K0))
            {
                manifests_at.get_or_insert(j);
            }
            events.extend(more);
        }
        // Frame 56 is the last one starting before K0 + 1 s (10 + 47 frames of 1024 > 48000).
        assert_eq!(manifests_at, Some(56));
        for i in 25..50 {
            events.extend(publisher.push(frame(i, i % 25 == 0)).unwrap());
        }
        let audio_k0 = std::fs::read(dir.join(format!("audio_0_{K0}.m4s"))).unwrap();
        assert_eq!(tfdt(&audio_k0), K0 as u64 * 48_000);
        assert_eq!(sample_count(&audio_k0), 47);
        let audio_k1 = std::fs::read(dir.join(format!("audio_0_{}.m4s", K0 + 1))).unwrap();
        assert_eq!(
            tfdt(&audio_k1),
            K0 as u64 * 48_000 + 47 * 1024,
            "continuous"
        );
        assert!(dir.join("audio_0_init.mp4").is_file());
        let audio_segments: Vec<&PublishedSegment> = events
            .iter()
            .filter_map(|e| match e {
                Event::Segment(s) if s.representation == "audio_0" => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(audio_segments[0].k, K0);
        assert_eq!(audio_segments[0].frames, 47);
        assert_eq!(
            audio_segments[0].duration_ns,
            47 * 1024 * 1_000_000_000 / 48_000
        );

        let video = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
        let audio = std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap();
        // The audio playlist is the video's with the audio names: same k, PDT and EXTINF.
        assert_eq!(video.replace("video_", "audio_0_"), audio);
        assert!(
            audio.contains(&format!("audio_0_{}.m4s", K0 + 1)),
            "{audio}"
        );
        let multivariant = std::fs::read_to_string(dir.join(MULTIVARIANT_PLAYLIST)).unwrap();
        assert!(
            multivariant.contains(
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_0\",DEFAULT=YES,\
                 AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_0.m3u8\""
            ),
            "{multivariant}"
        );
        assert!(multivariant.contains("BANDWIDTH=1128000,CODECS=\"avc1.42c00c,mp4a.40.2\""));
        assert!(multivariant.contains("AUDIO=\"audio\""));
        let mpd = std::fs::read_to_string(dir.join(MPD)).unwrap();
        crate::packaging::dash::tests::assert_schema_valid(&mpd);
        assert!(mpd.contains("mimeType=\"audio/mp4\""), "{mpd}");
        assert!(mpd.contains("id=\"audio_0\""), "{mpd}");
        assert!(
            mpd.contains(&format!("<S t=\"{}\" d=\"48000\"", K0 * 48_000)),
            "{mpd}"
        );
        let storage = std::fs::read_to_string(dir.join("storage_audio_0.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&storage).unwrap();
        assert_eq!(json["representation"], "audio_0");
        assert_eq!(json["segments"][0]["duration_ns"], 1_002_666_666u64);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Audio that stops is waited for until the glue reports it stalled; its segments are then
    /// listed as missing, and the end of the stream lists everything.
    #[test]
    fn stalled_audio_does_not_stop_publication() {
        let dir = dir("audio-stall");
        let mut publisher = Publisher::new(audio_config(&dir)).unwrap();
        let mut events = Vec::new();
        for j in 0..60 {
            events.extend(publisher.push_audio(0, aac(j, 0)).unwrap());
        }
        for i in 0..100 {
            events.extend(publisher.push(frame(i, i % 25 == 0)).unwrap());
            if i == 80 {
                events.extend(publisher.audio_stalled(0).unwrap());
            }
        }
        let listed: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Manifests { k, .. } => Some(*k),
                _ => None,
            })
            .collect();
        // K0's audio is there; K0 + 1 waits until the stall is reported (frame 80), after
        // which every video segment is listed at once.
        assert_eq!(listed, vec![K0, K0 + 2, K0 + 3], "{events:?}");
        assert!(events.contains(&Event::AudioMissing {
            id: "audio_0".into(),
            k: K0 + 1
        }));
        let audio = std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap();
        assert!(
            audio.contains(&format!(
                "#EXT-X-GAP\n#EXTINF:1.000000,\naudio_0_{}.m4s",
                K0 + 1
            )),
            "{audio}"
        );
        events.extend(publisher.finish().unwrap());
        let audio = std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap();
        assert!(audio.ends_with("#EXT-X-ENDLIST\n"), "{audio}");
        assert!(
            audio.contains(&format!("audio_0_{}.m4s", K0 + 3)),
            "{audio}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn audio_configuration_errors() {
        let dir = dir("audio-config");
        let error =
            |config: PublisherConfig| Publisher::<Vec<u8>>::new(config).err().unwrap().to_string();
        let mut ts = audio_config(&dir);
        ts.format = SegmentFormat::Ts;
        ts.dash = false;
        assert!(error(ts).contains("segment-format=cmaf"));
        // 29.97 fps, 60-frame segments: 2.002 s is 88288.2 samples at 44.1 kHz.
        let mut odd = audio_config(&dir);
        odd.grid = Grid::new(FrameRate::new(30000, 1001).unwrap(), 60).unwrap();
        odd.audio[0].track.config =
            crate::packaging::aac::AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert!(error(odd).contains("44100 Hz"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `$Time$` names: the segment's start on the epoch timeline in the track's timescale (90 kHz
    /// video, 48 kHz audio), in the files, the playlists and the MPD's SegmentTimeline.
    #[test]
    fn segments_named_by_time() {
        let dir = dir("time");
        let mut config = audio_config(&dir);
        config.name_by_time = true;
        let mut publisher = Publisher::new(config.clone()).unwrap();
        for j in 0..110 {
            publisher.push_audio(0, aac(j, 0)).unwrap();
        }
        for i in 0..50 {
            publisher.push(frame(i, i % 25 == 0)).unwrap();
        }
        let video_t = K0 * 90_000;
        let audio_t = K0 * 48_000;
        assert!(dir.join(format!("video_{video_t}.m4s")).is_file());
        assert!(dir.join(format!("audio_0_{audio_t}.m4s")).is_file());
        let playlist = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
        assert!(
            playlist.contains(&format!("\nvideo_{}.m4s\n", video_t + 90_000)),
            "{playlist}"
        );
        let audio = std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap();
        assert!(
            audio.contains(&format!("\naudio_0_{}.m4s\n", audio_t + 48_000)),
            "{audio}"
        );
        let mpd = std::fs::read_to_string(dir.join(MPD)).unwrap();
        crate::packaging::dash::tests::assert_schema_valid(&mpd);
        assert!(
            mpd.contains("media=\"$RepresentationID$_$Time$.m4s\""),
            "{mpd}"
        );
        config.segment_timeline = false;
        let error = Publisher::<Vec<u8>>::new(config).err().unwrap().to_string();
        assert!(error.contains("segment-timeline=true"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn configuration_errors() {
        let dir = dir("config");
        let error =
            |config: PublisherConfig| Publisher::<Vec<u8>>::new(config).err().unwrap().to_string();
        let mut bad = config(&dir, PlaylistType::Event);
        bad.max_files = 5;
        assert!(error(bad).contains("would delete listed segments"));
        let mut bad = config(&dir, PlaylistType::Live { window: 5 });
        bad.max_files = 3;
        assert!(error(bad).contains("max-files 3 is smaller than playlist-length 5"));
        let mut bad = config(&dir, PlaylistType::Event);
        bad.track.codec_config = vec![0, 0, 0, 1, 0x67, 0, 0];
        assert!(error(bad).contains("configurationVersion"));
        assert!(
            check_directory(&dir.join("missing"))
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
