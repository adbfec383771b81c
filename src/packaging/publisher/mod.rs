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
#[cfg(test)]
mod ladder_tests;
mod manifests;
#[cfg(test)]
mod tests;
mod video;

pub use config::*;
pub use events::*;

use std::collections::VecDeque;
use std::path::Path;

use super::dash::{AudioRepresentation, DashConfig, VideoRepresentation};
use super::grid::Grid;
use super::hls::{HlsConfig, HlsWindow, PlaylistType, ResumePoint, facts_from_playlist};
use super::output::{Destination, LocalDirectory, NameTemplate};
use super::{ExactSeconds, SegmentFact, segment_name};
use audio::AudioOutput;
use files::TrackFiles;
use video::VideoOutput;

/// Cuts, writes and lists; see the module documentation.
pub struct Publisher<D> {
    config: PublisherConfig,
    /// Where every file goes.
    destination: Box<dyn Destination>,
    /// What opening the directory had to report (a rebuilt storage index), delivered with
    /// the first call that returns events.
    startup_events: Vec<Event>,
    /// The video renditions; 0 is the main track ([`PublisherConfig::track`]).
    video: Vec<VideoOutput<D>>,
    dash: Option<DashConfig>,
    /// Facts the MPD can list (the window for live, all for event/vod).
    dash_facts: VecDeque<SegmentFact>,
    audio: Vec<AudioOutput<D>>,
    /// The last k the manifests list.
    last_listed_k: Option<i64>,
    /// The renditions and audio tracks the multivariant playlist last written names (`None`:
    /// not written). A track is named once its own playlist exists, so the multivariant
    /// playlist never points at a file that is not there; it is rewritten when another
    /// track's appears.
    multivariant_names: Option<(Vec<String>, Vec<String>)>,
}

impl<D: AsRef<[u8]>> Publisher<D> {
    /// Checks the configuration against every protocol rule; writes nothing.
    pub fn new(mut config: PublisherConfig) -> Result<Publisher<D>, PublishError> {
        let grid = config.grid;
        config.track.timescale = grid.default_timescale();
        for rendition in &mut config.renditions {
            rendition.track.timescale = grid.default_timescale();
        }
        config.validate()?;
        // A restarted packager continues after what it published before, listing those
        // segments again (still on disk) so its manifests match its peer's at once.
        let mut video = Vec::with_capacity(1 + config.renditions.len());
        let mut startup_events = Vec::new();
        let mut restored = Vec::new();
        let inputs: Vec<RenditionInput> = std::iter::once(config.main_rendition())
            .chain(config.renditions.iter().cloned())
            .collect();
        for (index, input) in inputs.into_iter().enumerate() {
            let previous = read_previous(&config, &playlist_name(&input.id));
            let mut output = VideoOutput::new(index, input, &config, previous.as_ref())?;
            let facts = previous.map(|(_, facts)| facts).unwrap_or_default();
            startup_events.extend(restore_video_index(&mut output, &config, &facts));
            if index == 0 {
                restored = facts;
            }
            video.push(output);
        }
        let dash = if config.dash {
            let mut dash = dash_config(&config, &video)?;
            // Periods begun after holes that have left the window keep their ids.
            if !restored.is_empty()
                && let Ok(text) = std::fs::read_to_string(config.dir.join(MPD))
            {
                dash.remember_periods_of(&text);
            }
            Some(dash)
        } else {
            None
        };
        let mut audio = Vec::with_capacity(config.audio.len());
        for input in &config.audio {
            let previous = read_previous(&config, &playlist_name(&input.id));
            audio.push(AudioOutput::new(input.clone(), &config, previous)?);
        }
        startup_events.extend(audio.iter_mut().filter_map(|a| a.restore_event.take()));
        let last_listed_k = restored.last().map(|f| f.k);
        let mut dash_facts: VecDeque<SegmentFact> = restored.into_iter().collect();
        if let PlaylistType::Live { window } = config.playlist_type {
            while dash_facts.len() > window as usize {
                dash_facts.pop_front();
            }
        }
        Ok(Publisher {
            destination: Box::new(LocalDirectory::new(config.dir.clone())),
            config,
            video,
            dash,
            dash_facts,
            audio,
            startup_events,
            last_listed_k,
            multivariant_names: None,
        })
    }

    /// The RFC 6381 codec string of the main track.
    pub fn codec_string(&self) -> &str {
        &self.video[0].codec_string
    }

    pub fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// The name of the main track's segment k.
    pub fn segment_name(&self, k: i64) -> Result<String, PublishError> {
        self.video[0].segment_name(&self.config.grid, k)
    }

    /// Handles one frame of the main track (decode order).
    pub fn push(&mut self, frame: Frame<D>) -> Result<Vec<Event>, PublishError> {
        self.push_rendition(0, frame)
    }

    /// Handles one frame (decode order) of video rendition `rendition` (0: the main track,
    /// then [`PublisherConfig::renditions`] in order).
    pub fn push_rendition(
        &mut self,
        rendition: usize,
        frame: Frame<D>,
    ) -> Result<Vec<Event>, PublishError> {
        let mut events = std::mem::take(&mut self.startup_events);
        let video = self.video.get_mut(rendition).ok_or_else(|| {
            PublishError::Config(format!("there is no video rendition {rendition}"))
        })?;
        video.push(frame, &self.config, &mut *self.destination, &mut events)?;
        self.flush(&mut events)?;
        self.delete_old(&mut events)?;
        Ok(events)
    }

    /// Video rendition `rendition` stalled (the glue saw no frame from it for a while): the
    /// manifests stop waiting for it, and list its missing segments as gaps, until it sends
    /// again.
    pub fn rendition_stalled(&mut self, rendition: usize) -> Result<Vec<Event>, PublishError> {
        let mut events = std::mem::take(&mut self.startup_events);
        if let Some(video) = self.video.get_mut(rendition) {
            video.stalled = true;
        }
        self.flush(&mut events)?;
        Ok(events)
    }

    /// Video rendition `rendition` ended (EOS or its pad went away): its open segment is
    /// written (short) and the manifests no longer wait for it.
    pub fn end_rendition(&mut self, rendition: usize) -> Result<Vec<Event>, PublishError> {
        let mut events = std::mem::take(&mut self.startup_events);
        if let Some(video) = self.video.get_mut(rendition) {
            video.end(&self.config, &mut *self.destination, &mut events)?;
        }
        self.flush(&mut events)?;
        self.delete_old(&mut events)?;
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
        for video in &mut self.video {
            video.end(&self.config, &mut *self.destination, &mut events)?;
        }
        for audio in &mut self.audio {
            audio.close(&mut *self.destination, &mut events)?;
            audio.ended = true;
        }
        self.flush(&mut events)?;
        self.delete_old(&mut events)?;
        for hls in self
            .video
            .iter_mut()
            .filter_map(|v| v.hls.as_mut())
            .chain(self.audio.iter_mut().filter_map(|a| a.hls.as_mut()))
        {
            hls.end();
        }
        if let Some(k) = self.last_listed_k
            && (!self.dash_facts.is_empty()
                || self
                    .video
                    .iter()
                    .any(|v| v.hls.as_ref().is_some_and(|h| h.last_k().is_some())))
        {
            let names = self.write_manifests(k, true)?;
            events.push(Event::Manifests { k, names });
        }
        Ok(events)
    }

    /// The next segment every rendition and audio track has finished: the lowest k a
    /// rendition wrote and has not listed, once no rendition (ended or stalled ones aside)
    /// can still write it and every audio track finished it (written or passed it), ended,
    /// or is stalled ([`Publisher::audio_stalled`]).
    fn next_listable(&self) -> Option<i64> {
        let k = self
            .video
            .iter()
            .filter_map(|v| v.written.keys().next().copied())
            .min()?;
        let settled = |ended: bool, stalled: bool, done: Option<i64>| {
            ended || stalled || done.is_some_and(|done| done >= k)
        };
        let video_settled = self
            .video
            .iter()
            .all(|v| settled(v.ended, v.stalled, v.done_through));
        let audio_settled = self
            .audio
            .iter()
            .all(|a| settled(a.ended, a.stalled, a.done_through));
        (video_settled && audio_settled).then_some(k)
    }

    /// Lists the written segments every track has settled ([`Publisher::next_listable`]),
    /// and rewrites the manifests once for the last of them. A rendition lists k when it
    /// wrote k (else its playlist shows a gap there); an audio playlist lists k exactly when
    /// the video does and the audio segment k was written, with the video's facts (PDT,
    /// duration), so every playlist is a function of the same facts on every packager. The
    /// MPD's timeline takes the first rendition's fact that has k.
    fn flush(&mut self, events: &mut Vec<Event>) -> Result<(), PublishError> {
        let mut listed = None;
        while let Some(k) = self.next_listable() {
            let facts: Vec<Option<SegmentFact>> = self
                .video
                .iter_mut()
                .map(|v| v.written.remove(&k))
                .collect();
            let Some(fact) = facts.iter().flatten().next().copied() else {
                break;
            };
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
            for (video, own) in self.video.iter_mut().zip(facts) {
                if let (Some(hls), Some(own)) = (&mut video.hls, own) {
                    hls.add(own)
                        .map_err(|e| PublishError::Input(e.to_string()))?;
                }
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
            listed = Some(k);
            self.last_listed_k = Some(k);
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
        for files in self
            .video
            .iter_mut()
            .map(|v| &mut v.files)
            .chain(self.audio.iter_mut().map(|a| &mut a.files))
        {
            files.delete_old(out, max, events)?;
        }
        Ok(())
    }
}

/// After a restart: a rendition's storage index entries for the segments its playlist
/// listed (`facts`), or the index rebuilt from the files (reported).
fn restore_video_index<D: AsRef<[u8]>>(
    video: &mut VideoOutput<D>,
    config: &PublisherConfig,
    facts: &[SegmentFact],
) -> Option<Event> {
    let rate = config.grid.rate();
    let rebuilt = |fact: &SegmentFact| {
        let last = ExactSeconds::of_frames(u64::from(fact.frames.saturating_sub(1)), rate);
        let last_ns = i64::try_from(last.floor_nanos()).unwrap_or(i64::MAX);
        (
            fact.frames,
            None,
            fact.first_frame_utc_ns.saturating_add(last_ns),
        )
    };
    if facts.is_empty() {
        return None;
    }
    video
        .files
        .restore_index(&config.dir, facts, rebuilt, |_| None)
}

/// The MPD's configuration: the video renditions (one AdaptationSet) and the audio ones,
/// checked.
fn dash_config<D>(
    config: &PublisherConfig,
    video: &[VideoOutput<D>],
) -> Result<DashConfig, PublishError> {
    let mut dash = DashConfig::cmaf(
        config.grid,
        config.utc_timing.clone(),
        video
            .iter()
            .map(|v| VideoRepresentation {
                id: v.input.id.clone(),
                codecs: v.codec_string.clone(),
                bandwidth: v.input.bandwidth,
                width: u32::from(v.input.track.width),
                height: u32::from(v.input.track.height),
            })
            .collect(),
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
