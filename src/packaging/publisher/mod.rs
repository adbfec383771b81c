// SPDX-License-Identifier: MPL-2.0
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

//!
//! # Layout
//!
//! `config` (what a publisher is made from, its errors), `events` (what it is fed and what it
//! reports), `files` (the files one track has on disk and its storage index), `audio` (the AAC
//! tracks), `video` (closing a video segment: decode order, mux, write), `manifests` (the HLS
//! playlists and the MPD), this module (the publisher: cutting and publication order).

mod audio;
mod config;
mod events;
mod files;
mod manifests;
#[cfg(test)]
mod tests;
mod video;

pub use config::*;
pub use events::*;

use std::collections::VecDeque;
use std::path::Path;

use super::dash::{AudioRepresentation, DashConfig, VideoRepresentation};
use super::fmp4::{self};
use super::hls::{HlsConfig, HlsWindow, PlaylistType, ResumePoint, facts_from_playlist};
use super::output::{Destination, LocalDirectory, NameTemplate};
use super::{ExactSeconds, SegmentFact, segment_name, ts};
use audio::AudioOutput;
use files::TrackFiles;
use video::OpenSegment;

/// Cuts, writes and lists; see the module documentation.
pub struct Publisher<D> {
    config: PublisherConfig,
    /// Where every file goes.
    destination: Box<dyn Destination>,
    /// The video track's media segment names, parsed once.
    template: NameTemplate,
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
    /// The audio tracks the multivariant playlist last written names (`None`: not written).
    /// A track is named once its own playlist exists, so the multivariant playlist never
    /// points at a file that is not there; it is rewritten when another track's appears.
    multivariant_audio: Option<Vec<String>>,
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
        config.validate()?;
        let parameter_sets = match config.format {
            SegmentFormat::Cmaf => None,
            SegmentFormat::Ts => Some(
                ts::ParameterSets::from_record(config.track.codec, &config.track.codec_config)
                    .map_err(|e| PublishError::Input(e.to_string()))?,
            ),
        };
        let codec_string = fmp4::rfc6381_codec(config.track.codec, &config.track.codec_config)
            .map_err(|e| PublishError::Input(e.to_string()))?;
        // A restarted packager continues after what it published before, listing those
        // segments again (still on disk) so its manifests match its peer's at once.
        let previous = read_previous(&config, MEDIA_PLAYLIST);
        let hls = if config.hls {
            Some(video_hls_window(&config, previous.as_ref())?)
        } else {
            None
        };
        let dash = if config.dash {
            let mut dash = dash_config(&config, &codec_string)?;
            // Periods begun after holes that have left the window keep their ids.
            if previous.is_some()
                && let Ok(text) = std::fs::read_to_string(config.dir.join(MPD))
            {
                dash.remember_periods_of(&text);
            }
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
            destination: Box::new(LocalDirectory::new(config.dir.clone())),
            config,
            template,
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
            multivariant_audio: None,
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
        Ok(segment_name(
            &self.template,
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
            self.destination.write(&Self::init_name(), &init)?;
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
        let audio = self
            .audio
            .get_mut(track)
            .ok_or_else(|| PublishError::Config(format!("there is no audio track {track}")))?;
        audio.push(frame, &mut *self.destination, &mut events)?;
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
        if let Some(audio) = self.audio.get_mut(track) {
            audio.close(&mut *self.destination, &mut events)?;
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
        for audio in &mut self.audio {
            audio.close(&mut *self.destination, &mut events)?;
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
            let previous = self.dash_facts.back().map(|f| f.k);
            self.dash_facts.push_back(fact);
            if let PlaylistType::Live { window } = self.config.playlist_type {
                while self.dash_facts.len() > window as usize {
                    self.dash_facts.pop_front();
                }
            }
            if let (Some(dash), Some(front)) = (&mut self.dash, self.dash_facts.front()) {
                dash.note_listed(previous, fact.k, front.k);
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

    fn delete_old(&mut self, events: &mut Vec<Event>) -> Result<(), PublishError> {
        if !matches!(self.config.playlist_type, PlaylistType::Live { .. }) {
            return Ok(());
        }
        let max = self.config.max_files as usize;
        let out = &mut *self.destination;
        self.video_files.delete_old(out, max, events)?;
        for audio in &mut self.audio {
            audio.files.delete_old(out, max, events)?;
        }
        Ok(())
    }
}

/// The video's HLS window, new or continuing a previous run's playlist.
fn video_hls_window(
    config: &PublisherConfig,
    previous: Option<&(ResumePoint, Vec<SegmentFact>)>,
) -> Result<HlsWindow, PublishError> {
    let mut hls_config = HlsConfig::cmaf(config.grid, config.playlist_type, VIDEO_REPRESENTATION)?;
    hls_config.segment_template = NameTemplate::new(config.segment_template())?;
    if config.format == SegmentFormat::Ts {
        hls_config.init_template = None;
    }
    window(hls_config, previous, &config.dir.join(MEDIA_PLAYLIST))
}

/// The MPD's configuration: one video representation and the audio ones, checked.
fn dash_config(config: &PublisherConfig, codec_string: &str) -> Result<DashConfig, PublishError> {
    let mut dash = DashConfig::cmaf(
        config.grid,
        config.utc_timing.clone(),
        vec![VideoRepresentation {
            id: VIDEO_REPRESENTATION.to_owned(),
            codecs: codec_string.to_owned(),
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
    Ok(dash)
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
