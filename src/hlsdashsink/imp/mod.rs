// SPDX-License-Identifier: MPL-2.0
//! The `hlsdashsink` bin: GStreamer glue around [`crate::packaging::publisher`].
//!
//! Locks: `settings`, `state`, `audio_branches`, `rendition_branches`, `parser`. Order:
//! settings → state → audio_branches → rendition_branches (`all_inputs_ended` and
//! `pads_without_caps` read the branches under `state`); `parser` is taken alone. No lock is held while posting messages, pushing events
//! upstream or changing the bin's children and pads (adding a child or a pad emits signals
//! whose handlers may call back into the element: `make_audio_branch` reserves a name, then
//! builds with no lock held).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};

mod audio;
mod rendition;
mod report;
mod settings;

use audio::{AudioBranch, AudioStream, replay_queued_audio, sweep_stalled_audio};
use rendition::{
    RenditionBranch, RenditionStream, frame_of, replay_held_renditions, sweep_stalled_video,
    tag_bit_rates,
};
use settings::{Settings, caps_frame_rate, codec_data};

use crate::glue::lock;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::{HlsDashSinkPlaylistType, HlsDashSinkSegmentFormat, HlsDashSinkSegmentNaming};
use crate::framemeta;
use crate::packaging::fmp4::AudioTrack;
use crate::packaging::publisher::{AudioInput, Event, Frame, PublishError, Publisher};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "hlsdashsink",
        gst::DebugColorFlags::empty(),
        Some("HLS + DASH CMAF packager on the timecode's epoch grid"),
    )
});

const DEFAULT_SEGMENT_DURATION: u64 = 2_000_000_000;
const DEFAULT_SEGMENT_FRAMES: u32 = 0;
const DEFAULT_PLAYLIST_TYPE: HlsDashSinkPlaylistType = HlsDashSinkPlaylistType::Live;
const DEFAULT_SEGMENT_FORMAT: HlsDashSinkSegmentFormat = HlsDashSinkSegmentFormat::Cmaf;
const DEFAULT_PLAYLIST_LENGTH: u32 = 5;
const DEFAULT_MAX_FILES: u32 = 10;
const DEFAULT_UTC_TIMING: &str = "https://time.akamai.com/?iso&ms";
const DEFAULT_UTC_TIMING_SCHEME: &str = "urn:mpeg:dash:utc:http-iso:2014";
const DEFAULT_AUDIO_BANDWIDTH: u32 = 128_000;
/// AAC frames an audio pad holds while the video has not started the packager yet (≈ 21 s at
/// 48 kHz); older ones are dropped.
const MAX_QUEUED_AUDIO_FRAMES: usize = 1000;
/// Segment durations of wall-clock time the packager waits for an audio pad's caps, holding
/// the video, before it starts without the pad. Wall-clock, not content: a file's video may
/// run seconds of content ahead of its audio in a millisecond.
const AUDIO_CAPS_WAIT_SEGMENTS: u64 = 2;
/// Video frames held at most while waiting for the audio's caps.
const MAX_HELD_VIDEO_FRAMES: usize = 2000;
/// How far (ns) an audio frame's instant may lie from the last video frame's before it counts
/// as on another timeline: a file may be read with the audio far ahead, but not by a day.
const MAX_AUDIO_DISTANCE_NS: u64 = 6 * 3600 * 1_000_000_000;
/// Segment durations of wall-clock time without a frame after which an audio pad counts as
/// stalled and the manifests stop waiting for it.
const AUDIO_STALL_SEGMENTS: u32 = 2;

#[derive(Default)]
struct State {
    publisher: Option<Publisher<gst::MappedBuffer<gst::buffer::Readable>>>,
    /// Audio pads by name.
    audio: BTreeMap<String, AudioStream>,
    video_eos: bool,
    /// Until when the video waits for the audio pads' caps (set by the first video frame).
    audio_caps_deadline: Option<std::time::Instant>,
    /// Wall-clock time without audio after which an audio pad counts as stalled.
    audio_stall_after: std::time::Duration,
    /// Video samples received while waiting for the audio pads' caps.
    held_video: VecDeque<gst::Sample>,
    /// The segment a keyframe was asked for while holding video.
    held_keyframe_k: Option<i64>,
    /// The video ended while held: start without the audio pads that have no caps.
    audio_wait_over: bool,
    /// A warning was posted for audio far from the video's instants.
    warned_audio_distance: bool,
    /// Audio tracks with missing segments already warned about.
    audio_missing_warned: std::collections::BTreeSet<String>,
    /// Caps the publisher was made for.
    caps: Option<gst::Caps>,
    /// Peak bit rate from upstream tags (maximum-bitrate, else nominal-bitrate, else bitrate).
    tag_bitrate: Option<u32>,
    /// Average bit rate from upstream tags (nominal-bitrate).
    tag_average: Option<u32>,
    /// Rendition pads (`video_%u`) by name.
    renditions: BTreeMap<String, RenditionStream>,
    /// The rendition pads the publisher runs with, by rendition index − 1.
    rendition_names: Vec<String>,
    /// When the main pad's last frame arrived, for the stall detection.
    main_last_arrival: Option<std::time::Instant>,
    main_stall_reported: bool,
    /// The frame a keyframe request refers to: (running time, UTC) of the last frame.
    last_times: Option<(gst::ClockTime, i64)>,
    frames_without_instant: u64,
}

pub struct HlsDashSink {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    sinkpad: gst::GhostPad,
    capsfilter: gst::Element,
    appsink: gst_app::AppSink,
    parser: Mutex<Option<gst::Element>>,
    audio_branches: Mutex<Vec<AudioBranch>>,
    rendition_branches: Mutex<Vec<RenditionBranch>>,
    /// Signalled (with `state`) when an audio or rendition pad's caps arrive.
    caps_arrived: Condvar,
}

/// The running time of a sample's buffer (its PTS in the sample's segment).
fn running_time_of(sample: &gst::Sample, buffer: &gst::BufferRef) -> Option<gst::ClockTime> {
    let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
    segment.to_running_time(buffer.pts()?)
}

impl HlsDashSink {
    /// Creates the main pad's parser for the first caps and points the ghost pad at it.
    fn ensure_parser(&self, caps: &gst::CapsRef) -> Result<(), String> {
        // Only the main pad's caps events come here, one at a time, so nothing else can add
        // its parser meanwhile.
        let current = lock(&self.parser).clone();
        if let Some(parser) =
            self.install_parser(&self.sinkpad, &self.capsfilter, current.as_ref(), caps)?
        {
            *lock(&self.parser) = Some(parser);
        }
        Ok(())
    }

    /// The parser a video pad needs for `caps` (h264parse or h265parse, output as avc/hvc1
    /// access units into `capsfilter`): `None` when `current` is already it, a new one added,
    /// linked and targeted by `pad`, or an error for another codec. Built and added with no
    /// lock held (adding a child emits signals an application may answer by calling into
    /// this element).
    fn install_parser(
        &self,
        pad: &gst::GhostPad,
        capsfilter: &gst::Element,
        current: Option<&gst::Element>,
        caps: &gst::CapsRef,
    ) -> Result<Option<gst::Element>, String> {
        let structure = caps
            .structure(0)
            .ok_or_else(|| "empty caps on the sink pad".to_owned())?;
        let (factory, filter) = match structure.name().as_str() {
            "video/x-h264" => ("h264parse", "video/x-h264,stream-format=avc,alignment=au"),
            "video/x-h265" => ("h265parse", "video/x-h265,stream-format=hvc1,alignment=au"),
            other => return Err(format!("unsupported caps {other}: give H.264 or H.265")),
        };
        if let Some(parser) = current {
            let name = parser.factory().map(|f| f.name().to_string());
            if name.as_deref() == Some(factory) {
                return Ok(None);
            }
            return Err(format!(
                "the codec changed mid-stream (now {}); start a new stream in a new directory",
                structure.name()
            ));
        }
        let parser = gst::ElementFactory::make(factory)
            .build()
            .map_err(|_| format!("element {factory} is missing (gstreamer1.0-plugins-bad)"))?;
        capsfilter.set_property(
            "caps",
            filter.parse::<gst::Caps>().map_err(|e| e.to_string())?,
        );
        let obj = self.obj();
        obj.add(&parser).map_err(|e| e.to_string())?;
        parser
            .link(capsfilter)
            .map_err(|e| format!("could not link {factory}: {e}"))?;
        parser.sync_state_with_parent().map_err(|e| e.to_string())?;
        let parser_sink = parser
            .static_pad("sink")
            .ok_or_else(|| format!("{factory} has no sink pad"))?;
        pad.set_target(Some(&parser_sink))
            .map_err(|e| e.to_string())?;
        Ok(Some(parser))
    }

    fn sink_event(&self, pad: &gst::GhostPad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(caps) = event.view()
            && let Err(text) = self.ensure_parser(caps.caps())
        {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{}", text));
            return false;
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn sink_query(&self, pad: &gst::GhostPad, query: &mut gst::QueryRef) -> bool {
        if pad.target().is_none() {
            // Before the first caps there is no parser yet: answer from the template.
            match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    let template = pad.pad_template_caps();
                    let result = match q.filter() {
                        Some(filter) => {
                            filter.intersect_with_mode(&template, gst::CapsIntersectMode::First)
                        }
                        None => template,
                    };
                    q.set_result(&result);
                    return true;
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let accepted = q.caps().can_intersect(&pad.pad_template_caps());
                    q.set_result(accepted);
                    return true;
                }
                _ => {}
            }
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    fn on_sample(&self, appsink: &gst_app::AppSink) -> Result<gst::FlowSuccess, gst::FlowError> {
        let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
        self.on_video_sample(sample)
    }

    fn on_video_sample(&self, sample: gst::Sample) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(buffer) = sample.buffer_owned() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(caps) = sample.caps_owned() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut state = lock(&self.state);
        if state.publisher.is_some() && state.caps.as_ref() != Some(&caps) {
            // New caps mid-stream (e.g. new parameter sets): the init segment would change
            // under published segments.
            let same_config = state
                .caps
                .as_ref()
                .is_some_and(|old| codec_data(old) == codec_data(&caps));
            if !same_config {
                drop(state);
                return Err(self.codec_changed(&caps));
            }
            state.caps = Some(caps.clone());
        }
        let Some(utc_ns) = framemeta::frame_utc_ns(&buffer) else {
            state.frames_without_instant += 1;
            let count = state.frames_without_instant;
            drop(state);
            if count == 1 {
                self.warn_no_instant("sink");
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        if state.publisher.is_none() {
            // Lock order settings → state: release state while reading the settings.
            drop(state);
            let settings = lock(&self.settings).clone();
            let audio_pads: Vec<String> = lock(&self.audio_branches)
                .iter()
                .map(|branch| branch.name.clone())
                .collect();
            state = lock(&self.state);
            if state.publisher.is_none() {
                let deadline = *state.audio_caps_deadline.get_or_insert_with(|| {
                    std::time::Instant::now()
                        + std::time::Duration::from_nanos(
                            settings
                                .segment_duration_ns(&caps)
                                .saturating_mul(AUDIO_CAPS_WAIT_SEGMENTS),
                        )
                });
                if state.held_video.len() >= MAX_HELD_VIDEO_FRAMES {
                    // A file's video far ahead: hold the video itself until the audio's caps
                    // come (or the wait ends).
                    state = self.wait_for_audio_caps(state, deadline);
                }
                let waiting = std::time::Instant::now() < deadline
                    && state.held_video.len() < MAX_HELD_VIDEO_FRAMES
                    && !state.audio_wait_over;
                let missing = self.pads_without_caps(&state);
                if !missing.is_empty() && waiting {
                    return self
                        .hold_for_audio_caps(state, sample, &buffer, &caps, utc_ns, &settings);
                }
                let inputs = audio_inputs(&mut state, &audio_pads, &settings);
                let rendition_pads = self.rendition_pad_names();
                let made = self
                    .rendition_inputs(&mut state, &rendition_pads, &caps)
                    .and_then(|renditions| {
                        self.publisher_for(&settings, &state, &caps, inputs, renditions)
                    });
                match made {
                    Ok(publisher) => {
                        gst::info!(
                            CAT,
                            imp = self,
                            "packaging {} into {:?}",
                            publisher.codec_string(),
                            publisher.config().dir
                        );
                        state.publisher = Some(publisher);
                        state.audio_stall_after = std::time::Duration::from_nanos(
                            settings
                                .segment_duration_ns(&caps)
                                .saturating_mul(u64::from(AUDIO_STALL_SEGMENTS)),
                        );
                        state.caps = Some(caps);
                    }
                    Err(text) => {
                        drop(state);
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            ("Cannot package this stream"),
                            ["{}", text]
                        );
                        return Err(gst::FlowError::NotNegotiated);
                    }
                }
                if !missing.is_empty() {
                    drop(state);
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        ("Packaging without pad(s) {}", missing.join(", ")),
                        [
                            "no caps arrived within {} segment durations of the first video frame; link an AAC encoder with codec_data (aacparse makes it) to an audio pad, an H.264/H.265 encoder to a video pad, or release the pad",
                            AUDIO_CAPS_WAIT_SEGMENTS
                        ]
                    );
                    state = lock(&self.state);
                }
            }
        }
        // Frames held while waiting for the audio's caps come first.
        let held = std::mem::take(&mut state.held_video);
        let mut result: Result<Vec<Event>, PublishError> = Ok(Vec::new());
        for sample in held.into_iter().chain(std::iter::once(sample)) {
            let pushed = self.push_video(&mut state, sample);
            match (&mut result, pushed) {
                (Ok(events), Ok(more)) => events.extend(more),
                (Ok(_), Err(error)) => result = Err(error),
                (Err(_), _) => break,
            }
        }
        let last_times = state.last_times;
        state.main_last_arrival = Some(std::time::Instant::now());
        state.main_stall_reported = false;
        let off_timeline = replay_queued_audio(&mut state, &mut result);
        replay_held_renditions(&mut state, &mut result);
        sweep_stalled_audio(&mut state, &mut result);
        sweep_stalled_video(&mut state, &mut result);
        drop(state);
        if let Some((name, utc_ns, video_utc)) = off_timeline {
            self.warn_off_timeline(&name, utc_ns, video_utc);
        }
        self.handle_result(result, last_times)
    }

    fn codec_changed(&self, caps: &gst::Caps) -> gst::FlowError {
        gst::element_imp_error!(
            self,
            gst::StreamError::Format,
            ("The codec configuration changed mid-stream"),
            [
                "new caps {caps}: the init segment would change under published segments; start a new stream in a new directory"
            ]
        );
        gst::FlowError::Error
    }

    /// The audio's caps are still on their way: the frame is held (bounded by the wait) and
    /// packaged once they are here. The encoder must still start the next segment with a
    /// keyframe: it is asked for one.
    fn hold_for_audio_caps(
        &self,
        mut state: MutexGuard<'_, State>,
        sample: gst::Sample,
        buffer: &gst::BufferRef,
        caps: &gst::Caps,
        utc_ns: i64,
        settings: &Settings,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let running_time = running_time_of(&sample, buffer);
        let grid = caps_frame_rate(caps).and_then(|rate| settings.grid(rate).ok());
        let next = grid
            .map(|grid| grid.segment_of(utc_ns).saturating_add(1))
            .filter(|&k| state.held_keyframe_k != Some(k));
        state.held_video.push_back(sample);
        let (Some(k), Some(running_time), Some(grid)) = (next, running_time, grid) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        state.held_keyframe_k = Some(k);
        drop(state);
        let wanted = Event::KeyframeWanted {
            rendition: 0,
            utc_ns: grid.segment_start_ns(k),
            k,
        };
        self.handle_result(Ok(vec![wanted]), Some((running_time, utc_ns)))
    }

    /// Hands one video sample of the main pad to the running publisher.
    fn push_video(
        &self,
        state: &mut State,
        sample: gst::Sample,
    ) -> Result<Vec<Event>, PublishError> {
        let Some((frame, running_time)) = frame_of(&sample) else {
            return Ok(Vec::new());
        };
        if let Some(running_time) = running_time {
            state.last_times = Some((running_time, frame.utc_ns));
        }
        let Some(publisher) = state.publisher.as_mut() else {
            return Ok(Vec::new());
        };
        publisher.push(frame)
    }

    fn on_eos(&self) {
        let mut state = lock(&self.state);
        if state.publisher.is_none()
            && !state.held_video.is_empty()
            && let Some(deadline) = state.audio_caps_deadline
        {
            // The video ended while waiting for the audio's caps (a short file): wait for
            // them until the deadline, then package what is held.
            state = self.wait_for_audio_caps(state, deadline);
            state.audio_wait_over = true;
        }
        if state.publisher.is_none()
            && let Some(last) = state.held_video.pop_back()
        {
            drop(state);
            let _ = self.on_video_sample(last);
            state = lock(&self.state);
        }
        state.video_eos = true;
        if self.all_inputs_ended(&state) {
            drop(state);
            self.on_all_eos();
            return;
        }
        // Other pads go on: the manifests stop waiting for the main rendition.
        let result = match state.publisher.as_mut() {
            Some(publisher) => publisher.end_rendition(0),
            None => Ok(Vec::new()),
        };
        drop(state);
        let _ = self.handle_result(result, None);
    }

    fn on_all_eos(&self) {
        let mut state = lock(&self.state);
        let result = match state.publisher.as_mut() {
            Some(publisher) => publisher.finish(),
            None => Ok(Vec::new()),
        };
        drop(state);
        let _ = self.handle_result(result, None);
    }
}

/// The audio tracks of a new publisher: the pads whose caps (AudioSpecificConfig) arrived, in
/// pad order; each stream learns its track number.
fn audio_inputs(state: &mut State, audio_pads: &[String], settings: &Settings) -> Vec<AudioInput> {
    let mut inputs = Vec::new();
    for name in audio_pads {
        let Some(stream) = state.audio.get_mut(name) else {
            continue;
        };
        let Some(config) = stream.config.clone() else {
            continue;
        };
        stream.track = Some(inputs.len());
        stream.last_arrival = Some(std::time::Instant::now());
        inputs.push(AudioInput {
            id: name.clone(),
            track: AudioTrack {
                config,
                bandwidth: settings.audio_bandwidth,
            },
        });
    }
    inputs
}

#[glib::object_subclass]
impl ObjectSubclass for HlsDashSink {
    const NAME: &'static str = "GstHlsDashSink";
    type Type = super::HlsDashSink;
    type ParentType = gst::Bin;
    type Interfaces = (gst::ChildProxy,);

    fn with_class(klass: &Self::Class) -> Self {
        let template = klass
            .pad_template("sink")
            .expect("the class has a sink template");
        let sinkpad = gst::GhostPad::builder_from_template(&template)
            .event_function(|pad, parent, event| {
                HlsDashSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                HlsDashSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_query(pad, query),
                )
            })
            .build();
        let capsfilter = gst::ElementFactory::make("capsfilter")
            .name("capsfilter")
            .build()
            .expect("capsfilter is in GStreamer core");
        // No clock sync (frames are written as they come; running time is UTC), and no
        // preroll: a packager that has not received its first frame yet (a redundant branch
        // joining later) must not hold the whole pipeline in PAUSED.
        let appsink = gst_app::AppSink::builder()
            .name("appsink")
            .sync(false)
            .async_(false)
            .build();
        HlsDashSink {
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            sinkpad,
            capsfilter,
            appsink,
            parser: Mutex::new(None),
            audio_branches: Mutex::new(Vec::new()),
            rendition_branches: Mutex::new(Vec::new()),
            caps_arrived: Condvar::new(),
        }
    }
}

impl ObjectImpl for HlsDashSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("Output directory (must exist): init and media segments, video.m3u8, index.m3u8, manifest.mpd, storage.json")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("segment-duration")
                    .nick("Segment duration")
                    .blurb("Segment duration D in ns; must be a whole number of frames at the stream's frame rate (e.g. 2002000000 for 60 frames at 29.97). Segment k covers UTC [k*D, (k+1)*D) after the Unix epoch")
                    .default_value(DEFAULT_SEGMENT_DURATION)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("segment-frames")
                    .nick("Segment frames")
                    .blurb("Segment duration D in frames; 0 = use segment-duration")
                    .default_value(DEFAULT_SEGMENT_FRAMES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("segment-format", DEFAULT_SEGMENT_FORMAT)
                    .nick("Segment format")
                    .blurb("Segment container: cmaf (fragmented MP4 usable by HLS and DASH at once) or ts (MPEG-TS, HLS only: set dash=false)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("hls")
                    .nick("HLS")
                    .blurb("Write the HLS media playlist video.m3u8 and the multivariant playlist index.m3u8")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("dash")
                    .nick("DASH")
                    .blurb("Write the DASH MPD manifest.mpd")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("playlist-type", DEFAULT_PLAYLIST_TYPE)
                    .nick("Playlist type")
                    .blurb("live: sliding window of playlist-length segments; event: append only; vod: manifests written once at EOS. Live and event end with EXT-X-ENDLIST and a static MPD at EOS")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("playlist-length")
                    .nick("Playlist length")
                    .blurb("Segments listed by a live playlist and kept in the DASH time-shift buffer; must span at least 3 target durations")
                    .minimum(1)
                    .default_value(DEFAULT_PLAYLIST_LENGTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-files")
                    .nick("Max files")
                    .blurb("Live: delete segment files older than the newest max-files (at least playlist-length); 0 = keep all. Must be 0 for event and vod")
                    .default_value(DEFAULT_MAX_FILES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("utc-timing")
                    .nick("UTC timing")
                    .blurb("Value of the MPD's UTCTiming element (a time server URL for the http-* schemes)")
                    .default_value(Some(DEFAULT_UTC_TIMING))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("utc-timing-scheme")
                    .nick("UTC timing scheme")
                    .blurb("schemeIdUri of the MPD's UTCTiming element, e.g. urn:mpeg:dash:utc:http-iso:2014 or urn:mpeg:dash:utc:http-xsdate:2014")
                    .default_value(Some(DEFAULT_UTC_TIMING_SCHEME))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("storage-manifest")
                    .nick("Storage manifest")
                    .blurb("Write storage.json: every segment with name, k, timecode range, UTC range, size and SHA-256")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("segment-naming", HlsDashSinkSegmentNaming::Number)
                    .nick("Segment naming")
                    .blurb("Media segment names: number (<representation>_<k>.m4s, DASH $Number$) or time (<representation>_<t>.m4s with t the segment's start in the track's timescale, DASH $Time$; needs segment-timeline=true with dash). Both are functions of the timecode")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("discontinuity-on-jump")
                    .nick("Discontinuity on jump")
                    .blurb("HLS: put EXT-X-DISCONTINUITY before the first segment after one that a forward timecode jump (or lost frames) cut short, and count it in EXT-X-DISCONTINUITY-SEQUENCE. Redundant packagers agree when all of them saw the jump; one started after it counts one fewer for good. Off (default): a jump shows as a short segment and EXT-X-GAP segments only, and the discontinuity sequence stays 0")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("segment-timeline")
                    .nick("Segment timeline")
                    .blurb("List DASH segments in a SegmentTimeline (S@t on the epoch media timeline) instead of SegmentTemplate@duration alone; a segment not written (timecode jump, no keyframe) then begins a new Period, p<k>, which dash.js needs to play across it")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("bandwidth")
                    .nick("Bandwidth")
                    .blurb("Peak bit rate in bit/s for HLS BANDWIDTH and DASH @bandwidth (the same on every redundant packager); 0 = from upstream's maximum-bitrate / nominal-bitrate / bitrate tag")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("average-bandwidth")
                    .nick("Average bandwidth")
                    .blurb("Average bit rate in bit/s of the sink pad's video, for HLS AVERAGE-BANDWIDTH; 0 = from upstream's nominal-bitrate tag (not written without one). Rendition pads video_%u have their own bandwidth and average-bandwidth")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("audio-bandwidth")
                    .nick("Audio bandwidth")
                    .blurb("Peak bit rate in bit/s of each audio pad's AAC (the encoder's bitrate), for the DASH @bandwidth, the esds and the HLS BANDWIDTH (video + the largest audio); the same on every redundant packager")
                    .minimum(1)
                    .default_value(DEFAULT_AUDIO_BANDWIDTH)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "location" => settings.location = value.get().expect("type checked upstream"),
            "segment-duration" => {
                settings.segment_duration = value.get().expect("type checked upstream")
            }
            "segment-frames" => {
                settings.segment_frames = value.get().expect("type checked upstream")
            }
            "segment-format" => {
                settings.segment_format = value.get().expect("type checked upstream")
            }
            "hls" => settings.hls = value.get().expect("type checked upstream"),
            "dash" => settings.dash = value.get().expect("type checked upstream"),
            "playlist-type" => settings.playlist_type = value.get().expect("type checked upstream"),
            "playlist-length" => {
                settings.playlist_length = value.get().expect("type checked upstream")
            }
            "max-files" => settings.max_files = value.get().expect("type checked upstream"),
            "utc-timing" => {
                settings.utc_timing = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_default()
            }
            "utc-timing-scheme" => {
                settings.utc_timing_scheme = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_default()
            }
            "storage-manifest" => {
                settings.storage_manifest = value.get().expect("type checked upstream")
            }
            "segment-timeline" => {
                settings.segment_timeline = value.get().expect("type checked upstream")
            }
            "segment-naming" => {
                settings.segment_naming = value.get().expect("type checked upstream")
            }
            "discontinuity-on-jump" => {
                settings.discontinuity_on_jump = value.get().expect("type checked upstream")
            }
            "bandwidth" => settings.bandwidth = value.get().expect("type checked upstream"),
            "average-bandwidth" => {
                settings.average_bandwidth = value.get().expect("type checked upstream")
            }
            "audio-bandwidth" => {
                settings.audio_bandwidth = value.get().expect("type checked upstream")
            }
            _ => unreachable!("no other property is installed"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = lock(&self.settings);
        match pspec.name() {
            "location" => settings.location.to_value(),
            "segment-duration" => settings.segment_duration.to_value(),
            "segment-frames" => settings.segment_frames.to_value(),
            "segment-format" => settings.segment_format.to_value(),
            "hls" => settings.hls.to_value(),
            "dash" => settings.dash.to_value(),
            "playlist-type" => settings.playlist_type.to_value(),
            "playlist-length" => settings.playlist_length.to_value(),
            "max-files" => settings.max_files.to_value(),
            "utc-timing" => settings.utc_timing.to_value(),
            "utc-timing-scheme" => settings.utc_timing_scheme.to_value(),
            "storage-manifest" => settings.storage_manifest.to_value(),
            "segment-timeline" => settings.segment_timeline.to_value(),
            "segment-naming" => settings.segment_naming.to_value(),
            "discontinuity-on-jump" => settings.discontinuity_on_jump.to_value(),
            "bandwidth" => settings.bandwidth.to_value(),
            "average-bandwidth" => settings.average_bandwidth.to_value(),
            "audio-bandwidth" => settings.audio_bandwidth.to_value(),
            _ => unreachable!("no other property is installed"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_many([&self.capsfilter, self.appsink.upcast_ref()])
            .expect("children are new");
        self.capsfilter
            .link(&self.appsink)
            .expect("capsfilter links to appsink");
        obj.add_pad(&self.sinkpad).expect("the sink pad is new");

        let weak = obj.downgrade();
        let weak_eos = obj.downgrade();
        self.appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let Some(obj) = weak.upgrade() else {
                        return Err(gst::FlowError::Flushing);
                    };
                    obj.imp().on_sample(appsink)
                })
                .build(),
        );
        // EOS and tags, in stream order: serialized events reach the probe after every buffer
        // before them was handled by new_sample.
        if let Some(pad) = self.appsink.static_pad("sink") {
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                let Some(obj) = weak_eos.upgrade() else {
                    return gst::PadProbeReturn::Ok;
                };
                match info.event().map(|e| e.view()) {
                    Some(gst::EventView::Eos(_)) => obj.imp().on_eos(),
                    Some(gst::EventView::Tag(tag)) => {
                        let (peak, average) = tag_bit_rates(tag.tag());
                        let mut state = lock(&obj.imp().state);
                        state.tag_bitrate = peak.or(state.tag_bitrate);
                        state.tag_average = average.or(state.tag_average);
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            });
        }
    }
}

impl GstObjectImpl for HlsDashSink {}

impl ElementImpl for HlsDashSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "HLS + DASH sink on the timecode's epoch grid",
                "Sink/Muxer/Video/Audio",
                "Writes CMAF segments cut on the epoch grid of the frames' timecode (UTC from the \
                 timestamp/x-unix meta of timecodeparse), an HLS media playlist with \
                 EXT-X-PROGRAM-DATE-TIME on every segment, a multivariant playlist and a DASH MPD \
                 anchored at the Unix epoch: segment names, numbers and manifests are functions of \
                 the timecode, identical on redundant packagers. Request pads audio_%u take AAC \
                 (sharing the video's running time), cut on the same boundaries: one HLS audio \
                 rendition and one DASH audio representation each",
                "lockstep developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder_full()
                .structure(gst::Structure::new_empty("video/x-h264"))
                .structure(gst::Structure::new_empty("video/x-h265"))
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid template"),
                gst::PadTemplate::with_gtype(
                    "video_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &caps,
                    crate::hlsdashsink::videopad::HlsDashSinkVideoPad::static_type(),
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "audio_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &gst::Caps::builder("audio/mpeg")
                        .field("mpegversion", 4i32)
                        .build(),
                )
                .expect("valid template"),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        if templ.name_template() == "video_%u" {
            return match self.make_rendition_branch(templ, name) {
                Ok(pad) => Some(pad),
                Err(text) => {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Pad,
                        ("Cannot add a video pad"),
                        ["{}", text]
                    );
                    None
                }
            };
        }
        if templ.name_template() != "audio_%u" {
            return None;
        }
        match self.make_audio_branch(templ, name) {
            Ok(pad) => Some(pad.upcast()),
            Err(text) => {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Pad,
                    ("Cannot add an audio pad"),
                    ["{}", text]
                );
                None
            }
        }
    }

    fn release_pad(&self, pad: &gst::Pad) {
        if self.release_rendition_pad(pad) {
            return;
        }
        let branch = {
            let mut branches = lock(&self.audio_branches);
            let Some(index) = branches.iter().position(|b| {
                b.pad
                    .as_ref()
                    .is_some_and(|p| p.upcast_ref::<gst::Pad>() == pad)
            }) else {
                return;
            };
            branches.remove(index)
        };
        // Its audio ends here: the manifests stop waiting for it.
        self.on_audio_eos(&branch.name);
        let obj = self.obj();
        if let Some(ghost) = &branch.pad {
            let _ = ghost.set_active(false);
            let _ = obj.remove_pad(ghost);
        }
        for element in &branch.elements {
            let _ = element.set_state(gst::State::Null);
            // At teardown the bin may have let go of its children already.
            if element.parent().as_ref() == Some(obj.upcast_ref::<gst::Object>()) {
                let _ = obj.remove(element);
            }
        }
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            if let Err(text) = self.check_settings() {
                gst::element_imp_error!(self, gst::ResourceError::Settings, ("{}", text));
                return Err(gst::StateChangeError);
            }
            *lock(&self.state) = State::default();
        }
        let result = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            *lock(&self.state) = State::default();
        }
        Ok(result)
    }
}

impl BinImpl for HlsDashSink {}

/// The bin's children, and the rendition pads by name, so a launch line can set pad
/// properties: `hlsdashsink name=sink sink.video_1::bandwidth=800000`.
impl ChildProxyImpl for HlsDashSink {
    fn child_by_name(&self, name: &str) -> Option<glib::Object> {
        let pad = lock(&self.rendition_branches)
            .iter()
            .find(|b| b.name == name)
            .and_then(|b| b.pad.clone());
        match pad {
            Some(pad) => Some(pad.upcast()),
            None => self.parent_child_by_name(name),
        }
    }

    fn child_by_index(&self, index: u32) -> Option<glib::Object> {
        self.parent_child_by_index(index)
    }

    fn children_count(&self) -> u32 {
        self.parent_children_count()
    }
}
