// SPDX-License-Identifier: MPL-2.0
//! What a publisher is made from, and why it can fail.

use std::fmt;
use std::path::{Path, PathBuf};

use super::super::dash::UtcTiming;
use super::super::fmp4::{AudioTrack, VideoTrack};
use super::super::grid::Grid;
use super::super::hls::PlaylistType;
use super::super::output::OutputError;

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
    /// Average bit rate for AVERAGE-BANDWIDTH (not written when `None`).
    pub average_bandwidth: Option<u32>,
    /// Further video renditions of the same frames (an ABR ladder; [`PublisherConfig::track`]
    /// is rendition 0): each its own encode, cut on the same grid, with its own files and
    /// media playlist `<id>.m3u8`, a variant of the multivariant playlist and a
    /// Representation of the MPD's video AdaptationSet.
    pub renditions: Vec<RenditionInput>,
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

/// The choices a publisher's configuration is checked on before any caps are known: what the
/// `hlsdashsink` element checks when it starts, and [`PublisherConfig::validate`] again with
/// the stream. One copy of the rules, so the two never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOptions {
    pub hls: bool,
    pub dash: bool,
    pub format: SegmentFormat,
    pub name_by_time: bool,
    pub segment_timeline: bool,
    pub playlist_type: PlaylistType,
    pub max_files: u32,
    pub audio_tracks: usize,
}

impl PublishOptions {
    /// Every rule that needs no stream: each error says what to change.
    pub fn check(&self) -> Result<(), PublishError> {
        let config = |text: &str| Err(PublishError::Config(text.to_owned()));
        if !self.hls && !self.dash {
            return config("both hls and dash are off: enable at least one");
        }
        if self.format == SegmentFormat::Ts && self.dash {
            return config(
                "segment-format=ts is for HLS only (DASH needs CMAF segments); set dash=false \
                 or segment-format=cmaf",
            );
        }
        if self.format == SegmentFormat::Ts && self.audio_tracks > 0 {
            return config(
                "audio pads need segment-format=cmaf (the MPEG-TS writer carries video only); \
                 release them or use segment-format=cmaf",
            );
        }
        if self.name_by_time && self.dash && !self.segment_timeline {
            return config(
                "segment-naming=time with DASH needs segment-timeline=true (ISO/IEC 23009-1: \
                 $Time$ addresses the segments of a SegmentTimeline); set it, or use \
                 segment-naming=number, or dash=false",
            );
        }
        if self.max_files > 0 {
            match self.playlist_type {
                PlaylistType::Live { window } if self.max_files < window => {
                    return Err(PublishError::Config(format!(
                        "max-files {} is smaller than playlist-length {window}: the playlist \
                         would list deleted segments; use max-files {window} or more (or 0)",
                        self.max_files
                    )));
                }
                PlaylistType::Live { .. } => {}
                _ => {
                    return Err(PublishError::Config(format!(
                        "max-files {} with an event or vod playlist would delete listed \
                         segments; use max-files 0",
                        self.max_files
                    )));
                }
            }
        }
        Ok(())
    }
}

impl PublisherConfig {
    /// The options part of the configuration.
    pub fn options(&self) -> PublishOptions {
        PublishOptions {
            hls: self.hls,
            dash: self.dash,
            format: self.format,
            name_by_time: self.name_by_time,
            segment_timeline: self.segment_timeline,
            playlist_type: self.playlist_type,
            max_files: self.max_files,
            audio_tracks: self.audio.len(),
        }
    }

    /// Every rule: the options', and those that need the stream.
    pub fn validate(&self) -> Result<(), PublishError> {
        self.options().check()?;
        let config = |text: String| Err(PublishError::Config(text));
        let mut ids = vec![VIDEO_REPRESENTATION];
        for rendition in &self.renditions {
            if ids.contains(&rendition.id.as_str())
                || self.audio.iter().any(|a| a.id == rendition.id)
            {
                return config(format!(
                    "two tracks are named '{}': every rendition and audio track needs its own \
                     representation id",
                    rendition.id
                ));
            }
            ids.push(&rendition.id);
            if self.dash && rendition.track.codec != self.track.codec {
                return config(format!(
                    "rendition '{}' is {:?} but the main video is {:?}: the renditions of one \
                     DASH AdaptationSet share a codec (ISO/IEC 23009-1 bitstream switching); \
                     encode them alike, or dash=false",
                    rendition.id, rendition.track.codec, self.track.codec
                ));
            }
        }
        for (id, bandwidth) in std::iter::once((VIDEO_REPRESENTATION, self.bandwidth))
            .chain(self.renditions.iter().map(|r| (r.id.as_str(), r.bandwidth)))
        {
            if bandwidth == 0 {
                return config(format!(
                    "the bandwidth of '{id}' is 0: set the stream's peak bit rate"
                ));
            }
        }
        Ok(())
    }

    /// Rendition 0, the main track, as a rendition.
    pub fn main_rendition(&self) -> RenditionInput {
        RenditionInput {
            id: VIDEO_REPRESENTATION.to_owned(),
            track: self.track.clone(),
            bandwidth: self.bandwidth,
            average_bandwidth: self.average_bandwidth,
        }
    }
}

/// One video rendition beside the main track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionInput {
    /// Representation id: file names `<id>_init.mp4`, `<id>_<k>.m4s`, playlist `<id>.m3u8`.
    pub id: String,
    pub track: VideoTrack,
    /// Peak bit rate (BANDWIDTH, @bandwidth).
    pub bandwidth: u32,
    /// Average bit rate (AVERAGE-BANDWIDTH), when known.
    pub average_bandwidth: Option<u32>,
}

/// The HLS media playlist of a video rendition or an audio track.
pub fn playlist_name(id: &str) -> String {
    format!("{id}.m3u8")
}

/// One AAC track to package beside the video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInput {
    /// Representation id: file names `<id>_init.mp4`, `<id>_<k>.m4s`, playlist `<id>.m3u8`.
    pub id: String,
    pub track: AudioTrack,
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
