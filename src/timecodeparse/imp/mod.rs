// SPDX-License-Identifier: MPL-2.0
//! The `timecodeparse` subclass: GStreamer glue around the pure cores
//! ([`crate::bitstream`] reads SEI, [`super::latch`] decides each frame's timecode and UTC
//! instant, [`crate::timecode`] holds the timecode model and the date rule).
//!
//! Lock order: settings → state. No lock is held while pushing, posting or notifying.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

mod timing;

use crate::glue::lock;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::latch::{
    ClockInterpreter, DEFAULT_FUTURE_TOLERANCE_NS, DateAnchor, DateRule, FrameInput, FramesScaling,
    Latcher, Observed, Resync, media_timestamp_timecode,
};
use super::{TimecodeFramesScaling, TimecodeResync, TimecodeSource, TimecodeTimeline};
use crate::bitstream::{AccessUnitReader, Fault, NalFraming, h264::H264Reader, h265::H265Reader};
use crate::framemeta::{self, MetaError, UNIX_REFERENCE};
use crate::timecode::utc::{self, LocalDate, Zone};
use crate::timecode::{FrameRate, Timecode};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "timecodeparse",
        gst::DebugColorFlags::empty(),
        Some("SMPTE timecode reader, UTC resolution and timecode timeline"),
    )
});

const DEFAULT_SOURCE: TimecodeSource = TimecodeSource::MediaTimestamp;
const DEFAULT_RESYNC: TimecodeResync = TimecodeResync::OnDiscontinuity;
const DEFAULT_TIMELINE: TimecodeTimeline = TimecodeTimeline::Keep;
const DEFAULT_FRAMES_SCALING: TimecodeFramesScaling = TimecodeFramesScaling::Auto;
const DEFAULT_FIRST_TIMECODE: &str = "00:00:00:00";
const DEFAULT_FUTURE_TOLERANCE: gst::ClockTime =
    gst::ClockTime::from_nseconds(DEFAULT_FUTURE_TOLERANCE_NS as u64);
/// ±18 h, the range of real-world UTC offsets (and of the Live Stream API's utcOffset).
const MAX_UTC_OFFSET: i32 = 18 * 3600;

/// Property values as the user set them; validated into a [`Config`] when the element starts.
#[derive(Debug, Clone)]
struct Settings {
    source: TimecodeSource,
    resync: TimecodeResync,
    timeline: TimecodeTimeline,
    frames_scaling: TimecodeFramesScaling,
    first_timecode: String,
    time_zone: Option<String>,
    utc_offset: i32,
    /// utc-offset was set explicitly (0 is a valid offset, so the value alone can't tell).
    utc_offset_set: bool,
    reference_time: Option<String>,
    date: Option<String>,
    future_tolerance: gst::ClockTime,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            source: DEFAULT_SOURCE,
            resync: DEFAULT_RESYNC,
            timeline: DEFAULT_TIMELINE,
            frames_scaling: DEFAULT_FRAMES_SCALING,
            first_timecode: DEFAULT_FIRST_TIMECODE.to_string(),
            time_zone: None,
            utc_offset: 0,
            utc_offset_set: false,
            reference_time: None,
            date: None,
            future_tolerance: DEFAULT_FUTURE_TOLERANCE,
        }
    }
}

/// The settings, checked and turned into the cores' types.
#[derive(Debug, Clone)]
struct Config {
    source: TimecodeSource,
    timeline: TimecodeTimeline,
    scaling: FramesScaling,
    resync: Resync,
    first_timecode: Timecode,
    rule: DateRule,
}

impl Settings {
    fn to_config(&self) -> Result<Config, String> {
        let zone = match (&self.time_zone, self.utc_offset_set) {
            (Some(name), true) => {
                return Err(format!(
                    "Both time-zone ('{name}') and utc-offset ({} s) are set: set only one of them",
                    self.utc_offset
                ));
            }
            (Some(name), false) => {
                Zone::iana(name).map_err(|e| format!("Invalid time-zone: {e}"))?
            }
            (None, true) => Zone::fixed_offset(self.utc_offset)
                .map_err(|e| format!("Invalid utc-offset {}: {e}", self.utc_offset))?,
            (None, false) => Zone::Utc,
        };
        let anchor = match (&self.reference_time, &self.date) {
            (Some(r), Some(d)) => {
                return Err(format!(
                    "Both reference-time ('{r}') and date ('{d}') are set: set only one of them"
                ));
            }
            (Some(r), None) => DateAnchor::ReferenceTime(utc::parse_rfc3339(r).map_err(|e| {
                format!("Invalid reference-time '{r}' (expected e.g. 2021-12-06T21:00:00Z): {e}")
            })?),
            (None, Some(d)) => DateAnchor::Date(
                d.parse::<LocalDate>()
                    .map_err(|e| format!("Invalid date '{d}' (expected YYYY-MM-DD): {e}"))?,
            ),
            (None, None) => DateAnchor::SystemClock,
        };
        let first_timecode = self.first_timecode.parse::<Timecode>().map_err(|e| {
            format!(
                "Invalid first-timecode '{}' (expected hh:mm:ss:ff, or hh:mm:ss;ff for drop-frame): {e}",
                self.first_timecode
            )
        })?;
        Ok(Config {
            source: self.source,
            timeline: self.timeline,
            scaling: match self.frames_scaling {
                TimecodeFramesScaling::Auto => FramesScaling::Auto,
                TimecodeFramesScaling::Raw => FramesScaling::Raw,
                TimecodeFramesScaling::Spec => FramesScaling::Spec,
            },
            resync: match self.resync {
                TimecodeResync::OnDiscontinuity => Resync::OnDiscontinuity,
                TimecodeResync::EveryFrame => Resync::EveryFrame,
            },
            first_timecode,
            rule: DateRule {
                zone,
                anchor,
                future_tolerance_ns: i64::try_from(self.future_tolerance.nseconds())
                    .unwrap_or(i64::MAX),
            },
        })
    }
}

/// A kind of fault in the input; each is reported once per run with one element warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Problem {
    Bitstream(Fault),
    InvalidClock,
    NoFrameRate,
    VariableFrameRate,
    MissingTimecode,
    Mismatch,
    NoTimestamp,
    BeforeEpoch,
    InvalidMeta,
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    frames: u64,
    embedded: u64,
    missing: u64,
    malformed: u64,
    mismatches: u64,
    resyncs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    H264,
    H265,
    Raw,
}

/// Which segment downstream has (with `timeline=timecode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SentSegment {
    /// The input's own segment: frames before the first timecode keep their timestamps.
    Input,
    /// Ours: running time = UTC ns since the Unix epoch.
    Timecode,
}

/// Field layout of the latest picture, for the time code meta.
#[derive(Debug, Clone, Copy, Default)]
struct FieldInfo {
    interlaced: bool,
    field_count: u32,
}

struct State {
    config: Config,
    codec: Option<Codec>,
    reader: Option<Box<dyn AccessUnitReader>>,
    caps_rate: Option<FrameRate>,
    interpreter: ClockInterpreter,
    latcher: Latcher,
    segment: gst::FormattedSegment<gst::ClockTime>,
    sent_segment: Option<SentSegment>,
    field_info: FieldInfo,
    stats: Stats,
    reported: HashSet<Problem>,
    unix_reference: gst::Caps,
    /// The last daily jam built, by its UTC µs: NDF streams keep one jam all day.
    jam_cache: Option<(i64, glib::DateTime)>,
    /// With `timeline=timecode`: output running time − input running time of the last frame
    /// restamped, to carry upstream events that name a running time (force-key-unit, QoS)
    /// back onto the input's timeline.
    output_minus_input_ns: Option<i64>,
}

impl State {
    fn new(config: Config) -> Self {
        let latcher = Latcher::new(config.rule.clone(), config.resync);
        State {
            config,
            codec: None,
            reader: None,
            caps_rate: None,
            interpreter: ClockInterpreter::default(),
            latcher,
            segment: gst::FormattedSegment::new(),
            sent_segment: None,
            field_info: FieldInfo::default(),
            stats: Stats::default(),
            reported: HashSet::new(),
            unix_reference: gst::Caps::new_empty_simple(UNIX_REFERENCE),
            jam_cache: None,
            output_minus_input_ns: None,
        }
    }

    /// The stream restarts (stream-start, flush): the next timecode latches again.
    fn restart(&mut self) {
        self.latcher.discontinuity();
        self.interpreter.reset();
    }
}

/// What the streaming thread must do once the state lock is released.
#[derive(Default)]
struct Deferred {
    warnings: Vec<String>,
    errors: Vec<String>,
    messages: Vec<gst::Structure>,
    segment: Option<gst::Event>,
}

impl Deferred {
    /// Report a problem the first time it happens in this run.
    fn problem(&mut self, state: &mut State, problem: Problem, text: impl FnOnce() -> String) {
        if state.reported.insert(problem) {
            self.warnings.push(text());
        }
    }
}

pub struct TimecodeParse {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The counters of the last run, readable after the element stopped.
    last_stats: Mutex<Stats>,
}

fn fault_text(fault: Fault) -> &'static str {
    match fault {
        Fault::MalformedNal => {
            "A NAL unit is malformed (its length or start code runs past the buffer); the rest of the access unit was skipped"
        }
        Fault::MalformedParameterSet => {
            "A sequence or picture parameter set could not be parsed; timecodes that depend on it cannot be read until a valid one arrives"
        }
        Fault::MalformedSei => {
            "An SEI message is malformed (bad payload size, out-of-range fields or stray bytes); timecodes that could still be read were kept"
        }
        Fault::SeiWithoutSps => {
            "A picture timing SEI arrived before any SPS, so it cannot be parsed (H.264 needs the SPS's VUI); frames pass without a timecode until an SPS arrives"
        }
    }
}

impl TimecodeParse {
    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        mut buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut deferred = Deferred::default();
        {
            let mut guard = lock(&self.state);
            let Some(state) = guard.as_mut() else {
                return Err(gst::FlowError::Flushing);
            };
            self.process(state, &mut buffer, &mut deferred);
        }
        self.run_deferred(deferred);
        self.srcpad.push(buffer)
    }

    fn process(&self, state: &mut State, buffer: &mut gst::Buffer, deferred: &mut Deferred) {
        state.stats.frames += 1;
        let source = state.config.source;
        let running_ns = buffer
            .pts()
            .or(if source == TimecodeSource::MediaTimestamp {
                buffer.dts()
            } else {
                None
            })
            .and_then(|ts| state.segment.to_running_time(ts))
            .and_then(|rt| i64::try_from(rt.nseconds()).ok());

        let decode_running_ns = buffer
            .dts()
            .and_then(|ts| state.segment.to_running_time(ts))
            .and_then(|rt| i64::try_from(rt.nseconds()).ok());

        let observed = match source {
            TimecodeSource::Embedded => self.observe_embedded(state, buffer, deferred),
            TimecodeSource::Meta => self.observe_meta(state, buffer, deferred),
            TimecodeSource::MediaTimestamp => match (state.caps_rate, running_ns) {
                (Some(rate), Some(running)) => Some(Observed {
                    timecode: media_timestamp_timecode(state.config.first_timecode, rate, running),
                    rate,
                    offset_ns: 0,
                    discontinuity: false,
                }),
                _ => {
                    deferred.problem(state, Problem::NoTimestamp, || {
                            "A buffer has no timestamp, so source=media-timestamp cannot give it a timecode; it passes without one".to_string()
                        });
                    None
                }
            },
        };
        if source != TimecodeSource::MediaTimestamp {
            if observed.is_some() {
                state.stats.embedded += 1;
            } else {
                state.stats.missing += 1;
            }
        } else if observed.is_none() {
            state.stats.missing += 1;
        }

        let discontinuity = buffer.flags().contains(gst::BufferFlags::DISCONT);
        // The wall clock only matters when this frame may latch.
        let wall_clock_ns = if !state.latcher.is_latched()
            || discontinuity
            || state.config.resync == Resync::EveryFrame
        {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
                .unwrap_or(0)
        } else {
            0
        };
        let timing = state.latcher.frame(&FrameInput {
            observed,
            running_ns,
            decode_running_ns,
            discontinuity,
            wall_clock_ns,
        });

        match timing {
            Some(timing) => self.apply_timing(state, buffer, &timing, running_ns, deferred),
            None => {
                if source != TimecodeSource::MediaTimestamp {
                    deferred.problem(state, Problem::MissingTimecode, || {
                        format!(
                            "No timecode found yet (source={}): frames pass unchanged until the first frame that carries one",
                            source_nick(source)
                        )
                    });
                }
                self.without_timing(state, buffer, deferred);
            }
        }
    }

    fn observe_embedded(
        &self,
        state: &mut State,
        buffer: &gst::Buffer,
        deferred: &mut Deferred,
    ) -> Option<Observed> {
        let reader = state.reader.as_mut()?;
        let info = match buffer.map_readable() {
            Ok(map) => reader.read_access_unit(&map),
            Err(_) => {
                gst::warning!(CAT, imp = self, "Could not map buffer {:?}", buffer);
                return None;
            }
        };
        if !info.faults.is_empty() {
            state.stats.malformed += 1;
            for &fault in &info.faults {
                deferred.problem(state, Problem::Bitstream(fault), || {
                    fault_text(fault).to_string()
                });
            }
        }
        let clock = info.clocks.first()?;
        state.field_info = FieldInfo {
            interlaced: clock.ct_type == 1 || matches!(info.pic_struct, Some(1..=6)),
            field_count: match info.pic_struct {
                Some(1) => 1,
                Some(2) => 2,
                _ => 0,
            },
        };
        let rate = state.caps_rate.or_else(|| {
            info.timing
                .and_then(|t| t.frame_rate())
                .and_then(|(n, d)| FrameRate::new(n, d))
        });
        let Some(rate) = rate else {
            deferred.problem(state, Problem::NoFrameRate, || {
                "Neither the caps nor the SPS (VUI timing) give a frame rate, so SEI timecodes cannot be interpreted; set framerate in the caps upstream".to_string()
            });
            return None;
        };
        match state
            .interpreter
            .interpret(clock, info.timing, rate, state.config.scaling)
        {
            Ok(observed) => Some(observed),
            Err(e) => {
                state.stats.malformed += 1;
                deferred.problem(state, Problem::InvalidClock, || {
                    format!("An SEI clock timestamp gives no valid timecode: {e}")
                });
                None
            }
        }
    }

    fn observe_meta(
        &self,
        state: &mut State,
        buffer: &gst::Buffer,
        deferred: &mut Deferred,
    ) -> Option<Observed> {
        let read = match framemeta::timecode_of(buffer, state.caps_rate)? {
            Ok(read) => read,
            Err(MetaError::NoRate) => return None,
            Err(e) => {
                state.stats.malformed += 1;
                deferred.problem(state, Problem::InvalidMeta, || format!("An upstream {e}"));
                return None;
            }
        };
        let (timecode, rate) = (read.timecode, read.rate);
        state.field_info = FieldInfo {
            interlaced: read.interlaced,
            field_count: read.field_count,
        };
        Some(Observed {
            timecode,
            rate,
            offset_ns: 0,
            discontinuity: false,
        })
    }

    fn run_deferred(&self, deferred: Deferred) {
        for text in deferred.warnings {
            gst::element_imp_warning!(self, gst::StreamError::Decode, ("{}", text));
        }
        for text in deferred.errors {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("{}", text));
        }
        for s in deferred.messages {
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        if let Some(segment) = deferred.segment {
            self.srcpad.push_event(segment);
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "Handling event {:?}", event);
        let mut deferred = Deferred::default();
        let mut forward = true;
        {
            let mut guard = lock(&self.state);
            if let Some(state) = guard.as_mut() {
                let timecode_timeline = state.config.timeline == TimecodeTimeline::Timecode;
                match event.view() {
                    EventView::StreamStart(_) => state.restart(),
                    EventView::FlushStop(_) => {
                        state.restart();
                        state.segment = gst::FormattedSegment::new();
                        state.sent_segment = None;
                    }
                    EventView::Caps(c) => {
                        if let Err(text) = self.set_caps(state, c.caps(), &mut deferred) {
                            deferred.errors.push(text);
                            forward = false;
                        }
                    }
                    EventView::Segment(s) => {
                        match s.segment().clone().downcast::<gst::ClockTime>() {
                            Ok(segment) => state.segment = segment,
                            Err(_) => {
                                gst::warning!(
                                    CAT,
                                    imp = self,
                                    "Non-TIME segment: running time is unknown"
                                );
                                state.segment = gst::FormattedSegment::new();
                            }
                        }
                        // With the timecode timeline the output segment is ours, sent with the
                        // first frame that has a UTC instant.
                        if timecode_timeline {
                            forward = false;
                            if state.sent_segment == Some(SentSegment::Input) {
                                state.sent_segment = None;
                            }
                        }
                    }
                    // A gap in input running time has no place on the UTC timeline.
                    EventView::Gap(_) if timecode_timeline => forward = false,
                    EventView::Eos(_) if timecode_timeline && state.sent_segment.is_none() => {
                        // Sticky order: downstream must see a segment before EOS.
                        deferred.segment = Some(gst::event::Segment::new(&state.segment));
                        state.sent_segment = Some(SentSegment::Input);
                    }
                    _ => (),
                }
            }
        }
        let failed = !deferred.errors.is_empty();
        self.run_deferred(deferred);
        if failed {
            return false;
        }
        if forward {
            gst::Pad::event_default(pad, Some(&*self.obj()), event)
        } else {
            true
        }
    }

    /// Upstream events. With `timeline=timecode` downstream's running time is the UTC instant,
    /// which upstream does not share: an event naming a running time (a sink's force-key-unit
    /// for a segment boundary, QoS) is carried back onto the input's timeline, so an encoder
    /// before this element still cuts its keyframe on the frame that was asked for.
    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        gst::log!(CAT, obj = pad, "Handling upstream event {:?}", event);
        let shift = lock(&self.state).as_ref().and_then(|state| {
            (state.sent_segment == Some(SentSegment::Timecode))
                .then_some(state.output_minus_input_ns)
                .flatten()
        });
        let event = match shift {
            Some(shift) => translate_upstream_event(event, shift),
            None => event,
        };
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn set_caps(
        &self,
        state: &mut State,
        caps: &gst::CapsRef,
        deferred: &mut Deferred,
    ) -> Result<(), String> {
        let s = caps.structure(0).ok_or_else(|| {
            "Empty caps: timecodeparse needs video/x-h264, video/x-h265 or video/x-raw".to_string()
        })?;
        let codec = match s.name().as_str() {
            "video/x-h264" => Codec::H264,
            "video/x-h265" => Codec::H265,
            "video/x-raw" => Codec::Raw,
            other => return Err(format!("Unsupported caps {other}")),
        };
        let source = state.config.source;
        if source == TimecodeSource::Embedded && codec == Codec::Raw {
            return Err("source=embedded reads timecodes from H.264/H.265 SEI, and raw video carries none: use source=meta (e.g. after timecodestamper) or source=media-timestamp".to_string());
        }
        let framerate = s.get::<gst::Fraction>("framerate").ok();
        let rate = framerate
            .filter(|f| f.numer() > 0 && f.denom() > 0)
            .and_then(|f| FrameRate::new(f.numer() as u32, f.denom() as u32));
        if rate.is_none() {
            if source == TimecodeSource::MediaTimestamp {
                return Err(format!(
                    "source=media-timestamp needs a fixed frame rate in the caps to count frames, but the caps have {}: add framerate=N/D to the caps upstream (e.g. with videorate or a capsfilter), or use source=embedded or source=meta",
                    framerate.map_or("no framerate".to_string(), |f| format!("framerate={f}"))
                ));
            }
            deferred.problem(state, Problem::VariableFrameRate, || {
                "The caps have no fixed frame rate: the rate is taken from the SPS VUI or the upstream meta, and frame positions follow timestamps".to_string()
            });
        }
        if let (TimecodeSource::MediaTimestamp, Some(rate)) = (source, rate) {
            state.config.first_timecode.validate(rate).map_err(|e| {
                format!(
                    "first-timecode {} is not valid at {}/{} fps: {e}",
                    state.config.first_timecode,
                    rate.num(),
                    rate.den()
                )
            })?;
        }
        if rate != state.caps_rate && state.caps_rate.is_some() {
            // A new rate makes the old frame positions meaningless.
            state.restart();
        }
        state.caps_rate = rate;

        if source == TimecodeSource::Embedded {
            if state.codec != Some(codec) {
                state.reader = match codec {
                    Codec::H264 => Some(Box::new(H264Reader::new())),
                    Codec::H265 => Some(Box::new(H265Reader::new())),
                    Codec::Raw => None,
                };
            }
            if let Some(reader) = state.reader.as_mut() {
                let stream_format = s.get::<&str>("stream-format").unwrap_or("byte-stream");
                match (stream_format, s.get::<gst::Buffer>("codec_data").ok()) {
                    ("byte-stream", _) => reader.set_framing(NalFraming::AnnexB),
                    (_, Some(codec_data)) => {
                        let parsed = codec_data
                            .map_readable()
                            .map_err(|_| "Cannot map codec_data".to_string())
                            .and_then(|map| reader.set_codec_data(&map).map_err(|e| e.to_string()));
                        if let Err(e) = parsed {
                            return Err(format!(
                                "The codec_data of stream-format={stream_format} caps cannot be parsed ({e}), so NAL units cannot be delimited"
                            ));
                        }
                    }
                    (other, None) => {
                        return Err(format!(
                            "stream-format={other} needs codec_data in the caps (avcC/hvcC) to delimit NAL units; put h264parse/h265parse before timecodeparse"
                        ));
                    }
                }
            }
        }
        state.codec = Some(codec);
        Ok(())
    }

    fn stats(&self) -> gst::Structure {
        let stats = match lock(&self.state).as_ref() {
            Some(state) => state.stats,
            None => *lock(&self.last_stats),
        };
        gst::Structure::builder("timecodeparse-stats")
            .field("frames", stats.frames)
            .field("embedded", stats.embedded)
            .field("missing", stats.missing)
            .field("malformed", stats.malformed)
            .field("mismatches", stats.mismatches)
            .field("resyncs", stats.resyncs)
            .build()
    }
}

/// `event` with every running time it names moved back by `shift_ns` (output − input).
fn translate_upstream_event(event: gst::Event, shift_ns: i64) -> gst::Event {
    let back = |running: gst::ClockTime| {
        let input = i128::from(running.nseconds()) - i128::from(shift_ns);
        // Before the input's running time 0: the earliest it has.
        gst::ClockTime::from_nseconds(u64::try_from(input.max(0)).unwrap_or(u64::MAX))
    };
    if gst_video::ForceKeyUnitEvent::is(&event)
        && let Ok(fku) = gst_video::UpstreamForceKeyUnitEvent::parse(&event)
    {
        let Some(running_time) = fku.running_time else {
            return event;
        };
        return gst_video::UpstreamForceKeyUnitEvent::builder()
            .running_time(back(running_time))
            .all_headers(fku.all_headers)
            .count(fku.count)
            .seqnum(event.seqnum())
            .build();
    }
    if let gst::EventView::Qos(qos) = event.view() {
        let (kind, proportion, diff, timestamp) = qos.get();
        if let Some(timestamp) = timestamp {
            return gst::event::Qos::builder(kind, proportion, diff)
                .timestamp(back(timestamp))
                .seqnum(event.seqnum())
                .build();
        }
    }
    event
}

fn source_nick(source: TimecodeSource) -> &'static str {
    match source {
        TimecodeSource::Embedded => "embedded",
        TimecodeSource::Meta => "meta",
        TimecodeSource::MediaTimestamp => "media-timestamp",
    }
}

#[glib::object_subclass]
impl ObjectSubclass for TimecodeParse {
    const NAME: &'static str = "GstTimecodeParse";
    type Type = super::TimecodeParse;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass
            .pad_template("sink")
            .expect("sink template is registered in pad_templates()");
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                TimecodeParse::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                TimecodeParse::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        let templ = klass
            .pad_template("src")
            .expect("src template is registered in pad_templates()");
        let srcpad = gst::Pad::builder_from_template(&templ)
            .event_function(|pad, parent, event| {
                TimecodeParse::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_event(pad, event),
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        TimecodeParse {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
            last_stats: Mutex::new(Stats::default()),
        }
    }
}

impl ObjectImpl for TimecodeParse {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("source", DEFAULT_SOURCE)
                    .nick("Source")
                    .blurb("Where timecodes come from: embedded (H.264 picture timing / H.265 time_code SEI), meta (upstream GstVideoTimeCodeMeta) or media-timestamp (running time counted from first-timecode)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("resync", DEFAULT_RESYNC)
                    .nick("Resync")
                    .blurb("on-discontinuity: latch the first timecode and advance it frame by frame, re-reading only after a discontinuity (stream-start, flush, DISCONT buffer); every-frame: follow every embedded timecode that differs")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("timeline", DEFAULT_TIMELINE)
                    .nick("Timeline")
                    .blurb("keep: timestamps pass unchanged; timecode: PTS, DTS and segment are rewritten so running time is the frame's UTC instant in ns since the Unix epoch (1970-01-01T00:00:00Z)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("frames-scaling", DEFAULT_FRAMES_SCALING)
                    .nick("Frames scaling")
                    .blurb("How SEI n_frames becomes a frame number: auto (as coded when valid, else the VUI formula), raw (as coded, like FFmpeg) or spec (the H.264/H.265 formula with the VUI tick)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("first-timecode")
                    .nick("First timecode")
                    .blurb("Timecode at running time 0 for source=media-timestamp, as hh:mm:ss:ff (hh:mm:ss;ff for drop-frame)")
                    .default_value(Some(DEFAULT_FIRST_TIMECODE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("time-zone")
                    .nick("Time zone")
                    .blurb("IANA time zone the timecode is local time in (e.g. America/Los_Angeles; daylight saving time respected). Unset: UTC. Do not combine with utc-offset")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("utc-offset")
                    .nick("UTC offset")
                    .blurb("Fixed offset of the timecode's local time from UTC, in seconds east (e.g. -28800 for UTC-8; no daylight saving). Do not combine with time-zone")
                    .minimum(-MAX_UTC_OFFSET)
                    .maximum(MAX_UTC_OFFSET)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("reference-time")
                    .nick("Reference time")
                    .blurb("Pin \"now\" for the date rule (RFC 3339, e.g. 2021-12-06T21:00:00Z), for tests and replays of recorded content; later latches add the running time elapsed since the first. Unset: the system clock")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("date")
                    .nick("Date")
                    .blurb("Pin the local date (YYYY-MM-DD) of the first latched timecode instead of the rule \"latest instant not later than now\"")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("future-tolerance")
                    .nick("Future tolerance")
                    .blurb("How far (ns) a timecode may be ahead of now and still resolve to today rather than yesterday: a wall-clock timecode labelled a frame ahead, host clock skew. 0 = the strict rule")
                    .maximum(12 * 3600 * gst::ClockTime::SECOND.nseconds())
                    .default_value(DEFAULT_FUTURE_TOLERANCE.nseconds())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Counters: frames, embedded (frames whose input stated a timecode), missing, malformed, mismatches (embedded vs advanced), resyncs (latches after the first)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "source" => settings.source = value.get().expect("type checked upstream"),
            "resync" => settings.resync = value.get().expect("type checked upstream"),
            "timeline" => settings.timeline = value.get().expect("type checked upstream"),
            "frames-scaling" => {
                settings.frames_scaling = value.get().expect("type checked upstream")
            }
            "first-timecode" => {
                settings.first_timecode = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_FIRST_TIMECODE.to_string())
            }
            "time-zone" => {
                settings.time_zone = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|s| !s.is_empty())
            }
            "utc-offset" => {
                settings.utc_offset = value.get().expect("type checked upstream");
                settings.utc_offset_set = true;
            }
            "reference-time" => {
                settings.reference_time = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|s| !s.is_empty())
            }
            "date" => {
                settings.date = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|s| !s.is_empty())
            }
            "future-tolerance" => {
                settings.future_tolerance =
                    gst::ClockTime::from_nseconds(value.get().expect("type checked upstream"))
            }
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "stats" {
            return self.stats().to_value();
        }
        let settings = lock(&self.settings);
        match pspec.name() {
            "source" => settings.source.to_value(),
            "resync" => settings.resync.to_value(),
            "timeline" => settings.timeline.to_value(),
            "frames-scaling" => settings.frames_scaling.to_value(),
            "first-timecode" => settings.first_timecode.to_value(),
            "time-zone" => settings.time_zone.to_value(),
            "utc-offset" => settings.utc_offset.to_value(),
            "reference-time" => settings.reference_time.to_value(),
            "date" => settings.date.to_value(),
            "future-tolerance" => settings.future_tolerance.nseconds().to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad)
            .expect("a new element has no pad named sink");
        obj.add_pad(&self.srcpad)
            .expect("a new element has no pad named src");
    }
}

impl GstObjectImpl for TimecodeParse {}

impl ElementImpl for TimecodeParse {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Timecode parser",
                "Codec/Parser/Video",
                "Reads SMPTE ST 12 timecode from H.264 picture timing SEI, H.265 time_code SEI, an upstream GstVideoTimeCodeMeta or the running time; resolves it to a UTC instant (time zone, DST, \"latest instant not later than now\"); attaches GstVideoTimeCodeMeta and a timestamp/x-unix GstReferenceTimestampMeta; optionally makes UTC the stream's timeline",
                "lockstep developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Encoded video as whole access units (SEI is read per picture), and raw video of any
            // memory type for source=meta / media-timestamp.
            let caps = "video/x-h264, stream-format=(string){ byte-stream, avc, avc3 }, alignment=(string)au; \
                        video/x-h265, stream-format=(string){ byte-stream, hvc1, hev1 }, alignment=(string)au; \
                        video/x-raw(ANY)"
                .parse::<gst::Caps>()
                .expect("the template caps string is valid");
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid sink template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid src template"),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            let config = lock(&self.settings).to_config();
            match config {
                Ok(config) => *lock(&self.state) = Some(State::new(config)),
                Err(text) => {
                    gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", text));
                    return Err(gst::StateChangeError);
                }
            }
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady
            && let Some(state) = lock(&self.state).take()
        {
            *lock(&self.last_stats) = state.stats;
        }
        Ok(ret)
    }
}
