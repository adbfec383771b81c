// SPDX-License-Identifier: MPL-2.0
//! The element's settings (properties) and how they become a publisher configuration.

use std::path::PathBuf;

use super::{HlsDashSinkPlaylistType, HlsDashSinkSegmentFormat, HlsDashSinkSegmentNaming};
use crate::packaging::dash::UtcTiming;
use crate::packaging::fmp4::{VideoCodec, VideoTrack};
use crate::packaging::grid::Grid;
use crate::packaging::hls::PlaylistType;
use crate::packaging::publisher::{
    AudioInput, PublishOptions, Publisher, PublisherConfig, RenditionInput, SegmentFormat,
    check_directory,
};
use crate::timecode::FrameRate;

use super::*;

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) location: Option<String>,
    pub(super) segment_duration: u64,
    pub(super) segment_frames: u32,
    pub(super) segment_format: HlsDashSinkSegmentFormat,
    pub(super) hls: bool,
    pub(super) dash: bool,
    pub(super) playlist_type: HlsDashSinkPlaylistType,
    pub(super) playlist_length: u32,
    pub(super) max_files: u32,
    pub(super) utc_timing: String,
    pub(super) utc_timing_scheme: String,
    pub(super) storage_manifest: bool,
    pub(super) segment_timeline: bool,
    pub(super) bandwidth: u32,
    pub(super) average_bandwidth: u32,
    pub(super) audio_bandwidth: u32,
    pub(super) segment_naming: HlsDashSinkSegmentNaming,
    pub(super) discontinuity_on_jump: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: None,
            segment_duration: DEFAULT_SEGMENT_DURATION,
            segment_frames: DEFAULT_SEGMENT_FRAMES,
            segment_format: DEFAULT_SEGMENT_FORMAT,
            hls: true,
            dash: true,
            playlist_type: DEFAULT_PLAYLIST_TYPE,
            playlist_length: DEFAULT_PLAYLIST_LENGTH,
            max_files: DEFAULT_MAX_FILES,
            utc_timing: DEFAULT_UTC_TIMING.to_owned(),
            utc_timing_scheme: DEFAULT_UTC_TIMING_SCHEME.to_owned(),
            storage_manifest: false,
            segment_timeline: false,
            bandwidth: 0,
            average_bandwidth: 0,
            audio_bandwidth: DEFAULT_AUDIO_BANDWIDTH,
            segment_naming: HlsDashSinkSegmentNaming::Number,
            discontinuity_on_jump: false,
        }
    }
}

impl Settings {
    pub(super) fn format(&self) -> SegmentFormat {
        match self.segment_format {
            HlsDashSinkSegmentFormat::Cmaf => SegmentFormat::Cmaf,
            HlsDashSinkSegmentFormat::Ts => SegmentFormat::Ts,
        }
    }

    /// The publisher's options, checked before the stream starts by the same rules the
    /// publisher applies ([`PublishOptions::check`]).
    pub(super) fn publish_options(&self, audio_tracks: usize) -> PublishOptions {
        PublishOptions {
            hls: self.hls,
            dash: self.dash,
            format: self.format(),
            name_by_time: self.segment_naming == HlsDashSinkSegmentNaming::Time,
            segment_timeline: self.segment_timeline,
            playlist_type: self.playlist_type(),
            max_files: self.max_files,
            audio_tracks,
        }
    }

    pub(super) fn playlist_type(&self) -> PlaylistType {
        match self.playlist_type {
            HlsDashSinkPlaylistType::Live => PlaylistType::Live {
                window: self.playlist_length,
            },
            HlsDashSinkPlaylistType::Event => PlaylistType::Event,
            HlsDashSinkPlaylistType::Vod => PlaylistType::Vod,
        }
    }

    pub(super) fn grid(&self, rate: FrameRate) -> Result<Grid, String> {
        let grid = if self.segment_frames > 0 {
            Grid::new(rate, self.segment_frames)
        } else {
            Grid::from_duration_ns(rate, self.segment_duration)
        };
        grid.map_err(|e| format!("segment-duration: {e}"))
    }

    /// D in ns for these caps (the configured duration when the grid cannot be made yet).
    pub(super) fn segment_duration_ns(&self, caps: &gst::CapsRef) -> u64 {
        caps_frame_rate(caps)
            .and_then(|rate| self.grid(rate).ok())
            .map_or(self.segment_duration, |grid| grid.segment_duration_ns())
    }
}

/// The caps' `codec_data` bytes.
pub(super) fn codec_data(caps: &gst::CapsRef) -> Option<Vec<u8>> {
    caps.structure(0)
        .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
        .and_then(|b| b.map_readable().ok().map(|m| m.to_vec()))
}

/// The frame rate of the video caps.
pub(super) fn caps_frame_rate(caps: &gst::CapsRef) -> Option<FrameRate> {
    let fraction = caps.structure(0)?.get::<gst::Fraction>("framerate").ok()?;
    FrameRate::new(
        u32::try_from(fraction.numer()).ok()?,
        u32::try_from(fraction.denom()).ok()?,
    )
}

/// The video track H.264/H.265 caps describe (codec, `codec_data`, size), and their frame
/// rate.
pub(super) fn video_track_of(caps: &gst::CapsRef) -> Result<(VideoTrack, FrameRate), String> {
    let structure = caps.structure(0).ok_or("caps without a structure")?;
    let codec = match structure.name().as_str() {
        "video/x-h264" => VideoCodec::H264,
        "video/x-h265" => VideoCodec::H265,
        other => return Err(format!("unsupported caps {other}")),
    };
    let rate = caps_frame_rate(caps).ok_or_else(|| {
        "the caps carry no frame rate (or 0/1): the epoch grid needs a fixed frame rate; set \
         framerate in the caps upstream"
            .to_owned()
    })?;
    let dimension = |name: &str| {
        structure
            .get::<i32>(name)
            .ok()
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| format!("the caps carry no usable {name}"))
    };
    let codec_data = structure
        .get::<gst::Buffer>("codec_data")
        .map_err(|_| "the caps carry no codec_data (avcC/hvcC)".to_owned())?;
    let codec_config = codec_data
        .map_readable()
        .map_err(|_| "codec_data is not readable".to_owned())?
        .to_vec();
    let track = VideoTrack {
        codec,
        codec_config,
        width: dimension("width")?,
        height: dimension("height")?,
        timescale: 0,
    };
    Ok((track, rate))
}

/// A bit rate: the one configured, else upstream's tag; the error says what to set.
pub(super) fn peak_bit_rate(
    configured: u32,
    tagged: Option<u32>,
    what: &str,
) -> Result<u32, String> {
    if configured > 0 {
        return Ok(configured);
    }
    tagged.ok_or(format!(
        "{what} is 0 and upstream sent no bitrate tag (maximum-bitrate, nominal-bitrate or \
         bitrate): set it to the stream's peak bit rate in bit/s, the same on every redundant \
         packager"
    ))
}

impl HlsDashSink {
    /// Makes the publisher for `caps` (the main track's first sample), with the audio tracks
    /// and further renditions whose caps arrived.
    pub(super) fn publisher_for(
        &self,
        settings: &Settings,
        state: &State,
        caps: &gst::CapsRef,
        audio: Vec<AudioInput>,
        renditions: Vec<RenditionInput>,
    ) -> Result<Publisher<gst::MappedBuffer<gst::buffer::Readable>>, String> {
        let (track, rate) = video_track_of(caps)?;
        let location = settings
            .location
            .as_ref()
            .ok_or("location is not set: give the output directory")?;
        let bandwidth = peak_bit_rate(settings.bandwidth, state.tag_bitrate, "bandwidth")?;
        let average_bandwidth = match settings.average_bandwidth {
            0 => state.tag_average,
            configured => Some(configured),
        };
        let config = PublisherConfig {
            dir: PathBuf::from(location),
            grid: settings.grid(rate)?,
            track,
            playlist_type: settings.playlist_type(),
            window: settings.playlist_length,
            max_files: settings.max_files,
            hls: settings.hls,
            dash: settings.dash,
            storage_index: settings.storage_manifest,
            utc_timing: UtcTiming {
                scheme_id_uri: settings.utc_timing_scheme.clone(),
                value: settings.utc_timing.clone(),
            },
            segment_timeline: settings.segment_timeline,
            bandwidth,
            average_bandwidth,
            renditions,
            format: settings.format(),
            audio,
            name_by_time: settings.segment_naming == HlsDashSinkSegmentNaming::Time,
            discontinuity_on_jump: settings.discontinuity_on_jump,
        };
        Publisher::new(config).map_err(|e| e.to_string())
    }

    pub(super) fn check_settings(&self) -> Result<(), String> {
        let settings = lock(&self.settings).clone();
        let location = settings
            .location
            .as_ref()
            .ok_or("location is not set: give the output directory")?;
        check_directory(std::path::Path::new(location)).map_err(|e| e.to_string())?;
        // The grid at a common rate catches a zero duration early; the rate itself is only
        // known from the caps.
        if settings.segment_frames == 0 && settings.segment_duration == 0 {
            return Err("segment-duration is 0".into());
        }
        let audio_tracks = lock(&self.audio_branches).len();
        settings
            .publish_options(audio_tracks)
            .check()
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
