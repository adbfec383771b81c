// SPDX-License-Identifier: MPL-2.0
//! The rendition pads `video_%u` of an ABR ladder: one parser → capsfilter → appsink branch
//! each (the parser made for the first caps, as for the main pad), their frames handed to the
//! publisher as further renditions cut on the same grid.

use std::collections::VecDeque;
use std::time::Instant;

use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::hlsdashsink::videopad::HlsDashSinkVideoPad;
use crate::packaging::publisher::{Event, PublishError, RenditionInput};

use super::settings::{peak_bit_rate, video_track_of};
use super::*;

/// The streaming side of one rendition pad.
#[derive(Default)]
pub(super) struct RenditionStream {
    pub(super) caps: Option<gst::Caps>,
    /// The publisher's rendition index, once the publisher runs with this pad.
    pub(super) index: Option<usize>,
    /// Samples received before the publisher started.
    pub(super) held: VecDeque<gst::Sample>,
    /// The segment a keyframe was asked for while holding.
    pub(super) held_keyframe_k: Option<i64>,
    /// (running time, UTC) of the last frame: where this rendition's keyframe requests go.
    pub(super) last_times: Option<(gst::ClockTime, i64)>,
    /// When the last frame arrived, for the stall detection.
    pub(super) last_arrival: Option<Instant>,
    pub(super) stall_reported: bool,
    pub(super) eos: bool,
    /// Peak and average bit rates from upstream's tags.
    pub(super) tag_bitrate: Option<u32>,
    pub(super) tag_average: Option<u32>,
    /// A warning was posted for frames dropped because the pad is not packaged.
    pub(super) warned_unpackaged: bool,
    pub(super) frames_without_instant: u64,
}

/// The elements behind one rendition pad: ghost pad → parser → capsfilter → appsink.
pub(super) struct RenditionBranch {
    /// The pad's name (its representation id), reserved before the pad exists.
    pub(super) name: String,
    /// None while the branch is being built.
    pub(super) pad: Option<HlsDashSinkVideoPad>,
    pub(super) capsfilter: Option<gst::Element>,
    pub(super) appsink: Option<gst_app::AppSink>,
    pub(super) parser: Option<gst::Element>,
    pub(super) elements: Vec<gst::Element>,
}

/// The frame a video sample carries, and its running time; `None` without a UTC instant.
pub(super) fn frame_of(
    sample: &gst::Sample,
) -> Option<(
    Frame<gst::MappedBuffer<gst::buffer::Readable>>,
    Option<gst::ClockTime>,
)> {
    let buffer = sample.buffer_owned()?;
    let utc_ns = framemeta::frame_utc_ns(&buffer)?;
    let running_time = running_time_of(sample, &buffer);
    let decode_lead_ns = match (buffer.pts(), buffer.dts()) {
        (Some(pts), Some(dts)) => {
            i64::try_from(pts.nseconds()).unwrap_or(0) - i64::try_from(dts.nseconds()).unwrap_or(0)
        }
        _ => 0,
    };
    let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
    let timecode = buffer
        .meta::<gst_video::VideoTimeCodeMeta>()
        .map(|m| m.tc().to_string());
    let data = buffer.into_mapped_buffer_readable().ok()?;
    Some((
        Frame {
            utc_ns,
            keyframe,
            data,
            timecode,
            decode_lead_ns,
        },
        running_time,
    ))
}

/// Peak and average bit rates from a tag list (maximum-bitrate, else nominal-bitrate, else
/// bitrate; nominal-bitrate).
pub(super) fn tag_bit_rates(tags: &gst::TagListRef) -> (Option<u32>, Option<u32>) {
    let nominal = tags
        .get::<gst::tags::NominalBitrate>()
        .map(|v| v.get())
        .filter(|&r| r > 0);
    let peak = tags
        .get::<gst::tags::MaximumBitrate>()
        .map(|v| v.get())
        .or(nominal)
        .or_else(|| tags.get::<gst::tags::Bitrate>().map(|v| v.get()))
        .filter(|&r| r > 0);
    (peak, nominal)
}

impl HlsDashSink {
    /// Creates the branch of a new rendition request pad (`video_1`, `video_2`, …; the
    /// always-present `sink` pad is rendition 0).
    pub(super) fn make_rendition_branch(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
    ) -> Result<gst::Pad, String> {
        if lock(&self.state).publisher.is_some() {
            return Err(
                "video pads can only be requested before the first video frame is \
                 packaged: the manifests list their renditions from the start"
                    .into(),
            );
        }
        // Reserved under the lock, built with no lock held (see the module's lock rules).
        let name = {
            let mut branches = lock(&self.rendition_branches);
            let name = match name {
                Some(name) => name.to_owned(),
                None => (1..)
                    .map(|index| format!("video_{index}"))
                    .find(|candidate| !branches.iter().any(|b| b.name == *candidate))
                    .unwrap_or_else(|| "video_1".to_owned()),
            };
            if name == "video_0" {
                return Err(
                    "video_0 is the sink pad (rendition 0); request video_1 or later".into(),
                );
            }
            if branches.iter().any(|b| b.name == name) {
                return Err(format!("a video pad named {name} exists already"));
            }
            crate::packaging::output::check_representation_id(&name).map_err(|e| e.to_string())?;
            branches.push(RenditionBranch {
                name: name.clone(),
                pad: None,
                capsfilter: None,
                appsink: None,
                parser: None,
                elements: Vec::new(),
            });
            name
        };
        let mut added = Vec::new();
        let built = self.build_rendition_branch(templ, &name, &mut added);
        let obj = self.obj();
        let outcome = built.and_then(|(pad, capsfilter, appsink)| {
            if let Some(branch) = lock(&self.rendition_branches)
                .iter_mut()
                .find(|b| b.name == name)
            {
                branch.pad = Some(pad.clone());
                branch.capsfilter = Some(capsfilter);
                branch.appsink = Some(appsink);
                branch.elements = added.clone();
            }
            obj.add_pad(&pad).map_err(|e| e.to_string())?;
            Ok(pad.upcast())
        });
        if outcome.is_err() {
            lock(&self.rendition_branches).retain(|b| b.name != name);
            for element in &added {
                let _ = element.set_state(gst::State::Null);
                let _ = obj.remove(element);
            }
        }
        outcome
    }

    /// capsfilter → appsink for rendition pad `name`, added (into `added`) and synced; the
    /// ghost pad, active, without a target until its first caps.
    fn build_rendition_branch(
        &self,
        templ: &gst::PadTemplate,
        name: &str,
        added: &mut Vec<gst::Element>,
    ) -> Result<(HlsDashSinkVideoPad, gst::Element, gst_app::AppSink), String> {
        let capsfilter = gst::ElementFactory::make("capsfilter")
            .name(format!("{name}-capsfilter"))
            .build()
            .map_err(|_| "element capsfilter is missing".to_owned())?;
        let appsink = gst_app::AppSink::builder()
            .name(format!("{name}-appsink"))
            .sync(false)
            .async_(false)
            .build();
        let obj = self.obj();
        for element in [&capsfilter, appsink.upcast_ref()] {
            obj.add(element).map_err(|e| e.to_string())?;
            added.push(element.clone());
        }
        capsfilter.link(&appsink).map_err(|e| e.to_string())?;
        let weak = obj.downgrade();
        let pad_name = name.to_owned();
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let Some(obj) = weak.upgrade() else {
                        return Err(gst::FlowError::Flushing);
                    };
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    obj.imp().on_rendition_sample(&pad_name, sample)
                })
                .build(),
        );
        if let Some(pad) = appsink.static_pad("sink") {
            let weak = obj.downgrade();
            let pad_name = name.to_owned();
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                let Some(obj) = weak.upgrade() else {
                    return gst::PadProbeReturn::Ok;
                };
                match info.event().map(|e| e.view()) {
                    Some(gst::EventView::Eos(_)) => obj.imp().on_rendition_eos(&pad_name),
                    Some(gst::EventView::Tag(tag)) => {
                        let (peak, average) = tag_bit_rates(tag.tag());
                        let mut state = lock(&obj.imp().state);
                        let stream = state.renditions.entry(pad_name.clone()).or_default();
                        stream.tag_bitrate = peak.or(stream.tag_bitrate);
                        stream.tag_average = average.or(stream.tag_average);
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            });
        }
        let event_name = name.to_owned();
        let pad = gst::PadBuilder::<HlsDashSinkVideoPad>::from_template(templ)
            .name(name)
            .event_function(move |pad, parent, event| {
                HlsDashSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.rendition_sink_event(&event_name, pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                HlsDashSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_query(pad.upcast_ref(), query),
                )
            })
            .build();
        for element in [&capsfilter, appsink.upcast_ref()] {
            element
                .sync_state_with_parent()
                .map_err(|e| e.to_string())?;
        }
        pad.set_active(true).map_err(|e| e.to_string())?;
        Ok((pad, capsfilter, appsink))
    }

    fn rendition_sink_event(
        &self,
        name: &str,
        pad: &HlsDashSinkVideoPad,
        event: gst::Event,
    ) -> bool {
        if let gst::EventView::Caps(caps) = event.view()
            && let Err(text) = self.ensure_rendition_parser(name, caps.caps())
        {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("Cannot package rendition {}", name),
                ["{}", text]
            );
            return false;
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    /// The parser for the rendition's first caps, made as for the main pad.
    fn ensure_rendition_parser(&self, name: &str, caps: &gst::CapsRef) -> Result<(), String> {
        let (pad, capsfilter, current) = {
            let branches = lock(&self.rendition_branches);
            let branch = branches
                .iter()
                .find(|b| b.name == name)
                .ok_or_else(|| format!("no branch for pad {name}"))?;
            (
                branch.pad.clone().ok_or("the pad is being built")?,
                branch.capsfilter.clone().ok_or("the pad is being built")?,
                branch.parser.clone(),
            )
        };
        if let Some(parser) =
            self.install_parser(pad.upcast_ref(), &capsfilter, current.as_ref(), caps)?
            && let Some(branch) = lock(&self.rendition_branches)
                .iter_mut()
                .find(|b| b.name == name)
        {
            branch.elements.push(parser.clone());
            branch.parser = Some(parser);
        }
        Ok(())
    }

    fn on_rendition_sample(
        &self,
        name: &str,
        sample: gst::Sample,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(caps) = sample.caps_owned() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut state = lock(&self.state);
        let publisher_running = state.publisher.is_some();
        let stream = state.renditions.entry(name.to_owned()).or_default();
        if stream.caps.as_ref() != Some(&caps) {
            let same_config = stream
                .caps
                .as_ref()
                .is_some_and(|old| codec_data(old) == codec_data(&caps));
            if stream.index.is_some() && !same_config {
                drop(state);
                return Err(self.codec_changed(&caps));
            }
            stream.caps = Some(caps.clone());
            self.caps_arrived.notify_all();
        }
        let Some(buffer) = sample.buffer() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(utc_ns) = framemeta::frame_utc_ns(buffer) else {
            stream.frames_without_instant += 1;
            let first = stream.frames_without_instant == 1;
            drop(state);
            if first {
                self.warn_no_instant(name);
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        if let Some(running_time) = running_time_of(&sample, buffer) {
            stream.last_times = Some((running_time, utc_ns));
        }
        stream.last_arrival = Some(Instant::now());
        stream.stall_reported = false;
        if !publisher_running {
            return self.hold_rendition_sample(state, name, sample, &caps, utc_ns);
        }
        if stream.index.is_none() {
            let first = !std::mem::replace(&mut stream.warned_unpackaged, true);
            drop(state);
            if first {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("Rendition {} is not packaged; its frames are dropped", name),
                    [
                        "its caps arrived after the packager started; the manifests list their renditions from the start"
                    ]
                );
            }
            return Ok(gst::FlowSuccess::Ok);
        }
        stream.held.push_back(sample);
        let mut result = Ok(Vec::new());
        replay_held_renditions(&mut state, &mut result);
        sweep_stalled_video(&mut state, &mut result);
        drop(state);
        self.handle_result(result, None)
    }

    /// Before the publisher exists (it waits for the main pad's first frame and every pad's
    /// caps), a rendition's frames are held, bounded, and its encoder asked for a keyframe
    /// at the next boundary, as the main pad's is.
    fn hold_rendition_sample<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        name: &str,
        sample: gst::Sample,
        caps: &gst::Caps,
        utc_ns: i64,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = {
            drop(state);
            let settings = lock(&self.settings).clone();
            state = lock(&self.state);
            settings
        };
        let grid = caps_frame_rate(caps).and_then(|rate| settings.grid(rate).ok());
        let stream = state.renditions.entry(name.to_owned()).or_default();
        if stream.held.len() >= MAX_HELD_VIDEO_FRAMES {
            stream.held.pop_front();
        }
        stream.held.push_back(sample);
        let next = grid
            .map(|grid| grid.segment_of(utc_ns).saturating_add(1))
            .filter(|&k| stream.held_keyframe_k != Some(k));
        let (Some(k), Some(grid), Some(times)) = (next, grid, stream.last_times) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        stream.held_keyframe_k = Some(k);
        drop(state);
        self.request_keyframe_on(name, grid.segment_start_ns(k), k, Some(times));
        Ok(gst::FlowSuccess::Ok)
    }

    fn on_rendition_eos(&self, name: &str) {
        let mut state = lock(&self.state);
        let stream = state.renditions.entry(name.to_owned()).or_default();
        stream.eos = true;
        let index = stream.index;
        if self.all_inputs_ended(&state) {
            drop(state);
            self.on_all_eos();
            return;
        }
        let result = match (index, state.publisher.as_mut()) {
            (Some(index), Some(publisher)) => publisher.end_rendition(index),
            _ => Ok(Vec::new()),
        };
        drop(state);
        let _ = self.handle_result(result, None);
    }

    /// The rendition pads, in pad order.
    pub(super) fn rendition_pad_names(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.rendition_branches)
            .iter()
            .map(|b| b.name.clone())
            .collect();
        names.sort_by_key(|name| {
            name.trim_start_matches("video_")
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        });
        names
    }

    /// The bit rates set on rendition pad `name` (0: from the tags).
    fn pad_bit_rates(&self, name: &str) -> (u32, u32) {
        lock(&self.rendition_branches)
            .iter()
            .find(|b| b.name == name)
            .and_then(|b| b.pad.as_ref().map(|p| p.bit_rates()))
            .unwrap_or((0, 0))
    }

    /// The renditions of a new publisher: the pads whose caps arrived, in pad order, each at
    /// the main track's frame rate; each stream learns its rendition index.
    pub(super) fn rendition_inputs(
        &self,
        state: &mut State,
        names: &[String],
        main_caps: &gst::CapsRef,
    ) -> Result<Vec<RenditionInput>, String> {
        let main_rate = caps_frame_rate(main_caps);
        let mut inputs = Vec::new();
        for name in names {
            let Some(stream) = state.renditions.get_mut(name) else {
                continue;
            };
            let Some(caps) = stream.caps.clone() else {
                continue;
            };
            let (track, rate) = video_track_of(&caps).map_err(|e| format!("{name}: {e}"))?;
            if Some(rate) != main_rate {
                return Err(format!(
                    "rendition {name} runs at {rate} fps but the sink pad at {}: every rendition \
                     is cut on the same grid of frames; encode them from the same frames",
                    main_rate.map_or("an unknown rate".to_owned(), |r| r.to_string())
                ));
            }
            let (bandwidth, average) = self.pad_bit_rates(name);
            let bandwidth =
                peak_bit_rate(bandwidth, stream.tag_bitrate, &format!("{name}::bandwidth"))?;
            stream.index = Some(inputs.len() + 1);
            state.rendition_names.push(name.clone());
            inputs.push(RenditionInput {
                id: name.clone(),
                track,
                bandwidth,
                average_bandwidth: match average {
                    0 => stream.tag_average,
                    configured => Some(configured),
                },
            });
        }
        Ok(inputs)
    }

    /// Warns (once per pad) that frames carry no UTC instant.
    pub(super) fn warn_no_instant(&self, pad: &str) {
        gst::element_imp_warning!(
            self,
            gst::StreamError::Format,
            ("A frame on {} carries no UTC instant; it is dropped", pad),
            [
                "no timestamp/x-unix reference timestamp meta and no dated time code meta: put timecodeparse upstream (it attaches both)"
            ]
        );
    }

    /// Asks rendition `name`'s encoder for a keyframe at UTC instant `utc_ns`.
    pub(super) fn request_keyframe_on(
        &self,
        name: &str,
        utc_ns: i64,
        k: i64,
        last_times: Option<(gst::ClockTime, i64)>,
    ) {
        let pad = lock(&self.rendition_branches)
            .iter()
            .find(|b| b.name == name)
            .and_then(|b| b.appsink.as_ref())
            .and_then(|appsink| appsink.static_pad("sink"));
        if let Some(pad) = pad {
            self.request_keyframe(&pad, utc_ns, k, last_times);
        }
    }

    /// A rendition's keyframe request: its pad name and last times.
    pub(super) fn request_rendition_keyframe(&self, rendition: usize, utc_ns: i64, k: i64) {
        let (name, times) = {
            let state = lock(&self.state);
            let Some(name) = rendition
                .checked_sub(1)
                .and_then(|i| state.rendition_names.get(i))
                .cloned()
            else {
                return;
            };
            let times = state.renditions.get(&name).and_then(|s| s.last_times);
            (name, times)
        };
        self.request_keyframe_on(&name, utc_ns, k, times);
    }

    /// Releases a rendition pad: its branch goes, the manifests stop waiting for it.
    pub(super) fn release_rendition_pad(&self, pad: &gst::Pad) -> bool {
        let branch = {
            let mut branches = lock(&self.rendition_branches);
            let Some(index) = branches.iter().position(|b| {
                b.pad
                    .as_ref()
                    .is_some_and(|p| p.upcast_ref::<gst::Pad>() == pad)
            }) else {
                return false;
            };
            branches.remove(index)
        };
        self.on_rendition_eos(&branch.name);
        let obj = self.obj();
        if let Some(ghost) = &branch.pad {
            let _ = ghost.set_active(false);
            let _ = obj.remove_pad(ghost);
        }
        for element in &branch.elements {
            let _ = element.set_state(gst::State::Null);
            if element.parent().as_ref() == Some(obj.upcast_ref::<gst::Object>()) {
                let _ = obj.remove(element);
            }
        }
        true
    }
}

/// Rendition frames held before the publisher ran, or just received: handed to the
/// publisher, events into `result`.
pub(super) fn replay_held_renditions(
    state: &mut State,
    result: &mut Result<Vec<Event>, PublishError>,
) {
    let State {
        publisher,
        renditions,
        ..
    } = state;
    let Some(publisher) = publisher.as_mut() else {
        return;
    };
    for stream in renditions.values_mut() {
        let Some(index) = stream.index else {
            stream.held.clear();
            continue;
        };
        for sample in std::mem::take(&mut stream.held) {
            let Ok(events) = result else {
                return;
            };
            let Some((frame, _)) = frame_of(&sample) else {
                continue;
            };
            match publisher.push_rendition(index, frame) {
                Ok(more) => events.extend(more),
                Err(error) => *result = Err(error),
            }
        }
    }
}

/// Video pads (the main one included) that sent nothing for a while: the manifests stop
/// waiting for them, and list their missing segments as gaps.
pub(super) fn sweep_stalled_video(
    state: &mut State,
    result: &mut Result<Vec<Event>, PublishError>,
) {
    let State {
        publisher,
        renditions,
        audio_stall_after,
        main_last_arrival,
        main_stall_reported,
        video_eos,
        ..
    } = state;
    let stall_after = *audio_stall_after;
    let Some(publisher) = publisher.as_mut() else {
        return;
    };
    let mut stalled = Vec::new();
    if !*video_eos
        && !*main_stall_reported
        && main_last_arrival.is_some_and(|last| last.elapsed() >= stall_after)
    {
        *main_stall_reported = true;
        stalled.push(0);
    }
    for stream in renditions.values_mut() {
        let (Some(index), Some(last)) = (stream.index, stream.last_arrival) else {
            continue;
        };
        if stream.eos || stream.stall_reported || last.elapsed() < stall_after {
            continue;
        }
        stream.stall_reported = true;
        stalled.push(index);
    }
    for index in stalled {
        if let Ok(events) = &mut *result {
            match publisher.rendition_stalled(index) {
                Ok(more) => events.extend(more),
                Err(error) => *result = Err(error),
            }
        }
    }
}
