// SPDX-License-Identifier: MPL-2.0
//! The audio pads: one aacparse → capsfilter → appsink branch each, their samples placed on
//! the video's UTC timeline and handed to the publisher.

use std::collections::VecDeque;
use std::sync::MutexGuard;

use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::packaging::aac::AudioSpecificConfig;
use crate::packaging::publisher::{AudioFrame, Event, PublishError};
use crate::timecode::utc::format_rfc3339_nanos;

use super::*;

/// The streaming side of one audio pad.
#[derive(Default)]
pub(super) struct AudioStream {
    pub(super) caps: Option<gst::Caps>,
    pub(super) config: Option<AudioSpecificConfig>,
    /// The publisher's track index, once the publisher runs with this pad.
    pub(super) track: Option<usize>,
    /// (running time, AAC frame) received before the publisher started.
    pub(super) queue: VecDeque<(gst::ClockTime, gst::MappedBuffer<gst::buffer::Readable>)>,
    pub(super) eos: bool,
    /// When the last frame arrived (or the packager started), for the stall detection.
    pub(super) last_arrival: Option<std::time::Instant>,
    pub(super) stall_reported: bool,
    /// A warning was posted for frames dropped because the pad is not packaged.
    pub(super) warned_unpackaged: bool,
}

/// The elements behind one audio request pad: ghost pad → aacparse → capsfilter → appsink.
pub(super) struct AudioBranch {
    /// The pad's name, reserved before the pad exists.
    pub(super) name: String,
    /// None while the branch is being built.
    pub(super) pad: Option<gst::GhostPad>,
    pub(super) elements: Vec<gst::Element>,
}

/// Why an audio frame was not packaged.
pub(super) enum AudioRefusal {
    Publish(PublishError),
    /// Its instant is far from the video's: another timeline.
    OffTimeline {
        utc_ns: i64,
        video_utc: i64,
    },
}

/// Places an AAC frame at the UTC instant its running time has on the video's timeline and
/// hands it to the publisher (nothing happens before the first video frame or publisher).
pub(super) fn place_audio(
    state: &mut State,
    track: usize,
    running_time: gst::ClockTime,
    data: gst::MappedBuffer<gst::buffer::Readable>,
) -> Result<Vec<Event>, AudioRefusal> {
    let Some((video_running_time, video_utc)) = state.last_times else {
        return Ok(Vec::new());
    };
    let offset = i128::from(video_utc) - i128::from(video_running_time.nseconds());
    let utc_ns = i64::try_from(i128::from(running_time.nseconds()) + offset).unwrap_or(i64::MAX);
    if utc_ns.abs_diff(video_utc) > MAX_AUDIO_DISTANCE_NS {
        return Err(AudioRefusal::OffTimeline { utc_ns, video_utc });
    }
    let Some(publisher) = state.publisher.as_mut() else {
        return Ok(Vec::new());
    };
    publisher
        .push_audio(track, AudioFrame { utc_ns, data })
        .map_err(AudioRefusal::Publish)
}

impl HlsDashSink {
    /// Warns (once) that an audio pad's frames are not on the video's timeline.
    pub(super) fn warn_off_timeline(&self, name: &str, utc_ns: i64, video_utc: i64) {
        let first = !std::mem::replace(&mut lock(&self.state).warned_audio_distance, true);
        if first {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                (
                    "The audio of {} is not on the video's timeline; it is dropped",
                    name
                ),
                [
                    "an audio frame maps to {} while the video is at {}: audio and video must share the pipeline's running time (timecodeparse timeline=keep, the default, leaves the video's; timeline=timecode moves only the video)",
                    format_rfc3339_nanos(utc_ns),
                    format_rfc3339_nanos(video_utc)
                ]
            );
        }
    }

    /// The audio and rendition pads whose caps (AudioSpecificConfig, codec_data) have not
    /// arrived yet.
    pub(super) fn pads_without_caps(&self, state: &State) -> Vec<String> {
        let mut missing: Vec<String> = lock(&self.audio_branches)
            .iter()
            .map(|branch| branch.name.clone())
            .filter(|name| state.audio.get(name).is_none_or(|a| a.config.is_none()))
            .collect();
        missing.extend(
            self.rendition_pad_names()
                .into_iter()
                .filter(|name| state.renditions.get(name).is_none_or(|r| r.caps.is_none())),
        );
        missing
    }

    /// Blocks the calling (main video) thread until every audio and rendition pad has its
    /// caps or `deadline`.
    pub(super) fn wait_for_audio_caps<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        deadline: std::time::Instant,
    ) -> MutexGuard<'a, State> {
        while !self.pads_without_caps(&state).is_empty() {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            state = match self.caps_arrived.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state
    }

    /// Creates the branch of a new audio request pad.
    pub(super) fn make_audio_branch(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
    ) -> Result<gst::GhostPad, String> {
        if lock(&self.state).publisher.is_some() {
            return Err(
                "audio pads can only be requested before the first video frame is \
                        packaged: the manifests list their tracks from the start"
                    .into(),
            );
        }
        // The name is reserved under the lock; the branch is built, added and linked with no
        // lock held: adding children and pads emits signals (element-added, pad-added) whose
        // handlers may call back into this element, e.g. to request the next audio pad.
        let name = {
            let mut branches = lock(&self.audio_branches);
            let name = match name {
                Some(name) => name.to_owned(),
                None => (0..)
                    .map(|index| format!("audio_{index}"))
                    .find(|candidate| !branches.iter().any(|b| b.name == *candidate))
                    .unwrap_or_else(|| "audio".to_owned()),
            };
            if branches.iter().any(|b| b.name == name) {
                return Err(format!("an audio pad named {name} exists already"));
            }
            crate::packaging::output::check_representation_id(&name).map_err(|e| e.to_string())?;
            branches.push(AudioBranch {
                name: name.clone(),
                pad: None,
                elements: Vec::new(),
            });
            name
        };
        let mut added = Vec::new();
        let built = self.build_audio_branch(templ, &name, &mut added);
        let obj = self.obj();
        let outcome = built.and_then(|pad| {
            if let Some(branch) = lock(&self.audio_branches)
                .iter_mut()
                .find(|b| b.name == name)
            {
                branch.pad = Some(pad.clone());
                branch.elements = added.clone();
            }
            obj.add_pad(&pad).map_err(|e| e.to_string())?;
            Ok(pad)
        });
        if outcome.is_err() {
            lock(&self.audio_branches).retain(|b| b.name != name);
            for element in &added {
                let _ = element.set_state(gst::State::Null);
                let _ = obj.remove(element);
            }
        }
        outcome
    }

    /// aacparse → capsfilter → appsink for audio pad `name`, added to the bin (into `added`,
    /// so a failure can take them out again) and synced; the ghost pad, active, not yet added.
    pub(super) fn build_audio_branch(
        &self,
        templ: &gst::PadTemplate,
        name: &str,
        added: &mut Vec<gst::Element>,
    ) -> Result<gst::GhostPad, String> {
        let make = |factory: &str| {
            gst::ElementFactory::make(factory)
                .name(format!("{name}-{factory}"))
                .build()
                .map_err(|_| format!("element {factory} is missing"))
        };
        let parser = make("aacparse")?;
        let capsfilter = make("capsfilter")?;
        capsfilter.set_property(
            "caps",
            gst::Caps::builder("audio/mpeg")
                .field("mpegversion", 4i32)
                .field("stream-format", "raw")
                .build(),
        );
        let appsink = gst_app::AppSink::builder()
            .name(format!("{name}-appsink"))
            .sync(false)
            .async_(false)
            .build();
        let obj = self.obj();
        let elements = [parser, capsfilter, appsink.clone().upcast::<gst::Element>()];
        for element in &elements {
            obj.add(element).map_err(|e| e.to_string())?;
            added.push(element.clone());
        }
        gst::Element::link_many(&elements).map_err(|e| e.to_string())?;
        let weak = obj.downgrade();
        let pad_name = name.to_owned();
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let Some(obj) = weak.upgrade() else {
                        return Err(gst::FlowError::Flushing);
                    };
                    obj.imp().on_audio_sample(&pad_name, appsink)
                })
                .build(),
        );
        if let Some(pad) = appsink.static_pad("sink") {
            let weak = obj.downgrade();
            let pad_name = name.to_owned();
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(obj) = weak.upgrade()
                    && let Some(gst::EventView::Eos(_)) = info.event().map(|e| e.view())
                {
                    obj.imp().on_audio_eos(&pad_name);
                }
                gst::PadProbeReturn::Ok
            });
        }
        let target = elements[0]
            .static_pad("sink")
            .ok_or("aacparse has no sink pad")?;
        let pad = gst::GhostPad::builder_from_template_with_target(templ, &target)
            .map_err(|e| e.to_string())?
            .name(name)
            .build();
        for element in &elements {
            element
                .sync_state_with_parent()
                .map_err(|e| e.to_string())?;
        }
        pad.set_active(true).map_err(|e| e.to_string())?;
        Ok(pad)
    }

    pub(super) fn on_audio_sample(
        &self,
        name: &str,
        appsink: &gst_app::AppSink,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
        let Some(buffer) = sample.buffer_owned() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut state = lock(&self.state);
        let publisher_running = state.publisher.is_some();
        let stream = state.audio.entry(name.to_owned()).or_default();
        if let Some(caps) = sample.caps_owned()
            && stream.caps.as_ref() != Some(&caps)
        {
            let parsed = codec_data(&caps)
                .ok_or_else(|| {
                    "the AAC caps carry no codec_data (an AudioSpecificConfig)".to_owned()
                })
                .and_then(|bytes| AudioSpecificConfig::parse(&bytes).map_err(|e| e.to_string()));
            let error = match parsed {
                Ok(config)
                    if publisher_running
                        && stream.track.is_some()
                        && stream.config.as_ref() != Some(&config) =>
                {
                    Some(format!(
                        "the AAC configuration of {name} changed mid-stream (now {caps}): the \
                         init segment would change under published segments; start a new \
                         stream in a new directory"
                    ))
                }
                Ok(config) => {
                    stream.config = Some(config);
                    stream.caps = Some(caps);
                    self.caps_arrived.notify_all();
                    None
                }
                Err(text) => Some(format!("audio pad {name}: {text}")),
            };
            if let Some(text) = error {
                drop(state);
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("Cannot package the audio of {}", name),
                    ["{}", text]
                );
                return Err(gst::FlowError::NotNegotiated);
            }
        }
        let Some(running_time) = running_time_of(&sample, &buffer) else {
            gst::debug!(
                CAT,
                imp = self,
                "{name}: a frame without a timestamp is dropped"
            );
            return Ok(gst::FlowSuccess::Ok);
        };
        let data = buffer
            .into_mapped_buffer_readable()
            .map_err(|_| gst::FlowError::Error)?;
        if !publisher_running {
            if stream.queue.len() >= MAX_QUEUED_AUDIO_FRAMES {
                stream.queue.pop_front();
            }
            stream.queue.push_back((running_time, data));
            return Ok(gst::FlowSuccess::Ok);
        }
        stream.last_arrival = Some(std::time::Instant::now());
        stream.stall_reported = false;
        let Some(track) = stream.track else {
            let first = !std::mem::replace(&mut stream.warned_unpackaged, true);
            drop(state);
            if first {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("The audio of {} is not packaged; it is dropped", name),
                    [
                        "its caps arrived after the packager started; the manifests list their tracks from the start"
                    ]
                );
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        let last_times = state.last_times;
        let result = match place_audio(&mut state, track, running_time, data) {
            Ok(events) => Ok(events),
            Err(AudioRefusal::Publish(error)) => Err(error),
            Err(AudioRefusal::OffTimeline { utc_ns, video_utc }) => {
                drop(state);
                self.warn_off_timeline(name, utc_ns, video_utc);
                return Ok(gst::FlowSuccess::Ok);
            }
        };
        drop(state);
        self.handle_result(result, last_times)
    }

    pub(super) fn on_audio_eos(&self, name: &str) {
        let mut state = lock(&self.state);
        let stream = state.audio.entry(name.to_owned()).or_default();
        stream.eos = true;
        let track = stream.track;
        if self.all_inputs_ended(&state) {
            drop(state);
            self.on_all_eos();
            return;
        }
        let result = match (track, state.publisher.as_mut()) {
            (Some(track), Some(publisher)) => publisher.end_audio(track),
            _ => Ok(Vec::new()),
        };
        drop(state);
        let _ = self.handle_result(result, None);
    }

    pub(super) fn all_inputs_ended(&self, state: &State) -> bool {
        state.video_eos
            && lock(&self.audio_branches).iter().all(|branch| {
                state
                    .audio
                    .get(branch.name.as_str())
                    .is_some_and(|stream| stream.eos)
            })
            && self
                .rendition_pad_names()
                .iter()
                .all(|name| state.renditions.get(name).is_some_and(|stream| stream.eos))
    }
}

/// Audio that arrived before the packager started, now that its instants are known: handed to
/// the publisher, events into `result`. Returns an audio frame found off the video's timeline
/// (pad name, its instant, the video's), to warn about once the lock is released.
pub(super) fn replay_queued_audio(
    state: &mut State,
    result: &mut Result<Vec<Event>, PublishError>,
) -> Option<(String, i64, i64)> {
    let mut off_timeline = None;
    let names: Vec<String> = state.audio.keys().cloned().collect();
    for name in names {
        let Some(stream) = state.audio.get_mut(&name) else {
            continue;
        };
        let queue = std::mem::take(&mut stream.queue);
        let Some(track) = stream.track else {
            continue;
        };
        for (running_time, data) in queue {
            let Ok(events) = result else {
                break;
            };
            match place_audio(state, track, running_time, data) {
                Ok(more) => events.extend(more),
                Err(AudioRefusal::Publish(error)) => *result = Err(error),
                Err(AudioRefusal::OffTimeline { utc_ns, video_utc }) => {
                    off_timeline = Some((name.clone(), utc_ns, video_utc));
                }
            }
        }
    }
    off_timeline
}

/// Audio pads that sent nothing for a while: the manifests stop waiting for them.
pub(super) fn sweep_stalled_audio(
    state: &mut State,
    result: &mut Result<Vec<Event>, PublishError>,
) {
    let State {
        publisher,
        audio,
        audio_stall_after,
        ..
    } = state;
    let stall_after = *audio_stall_after;
    for stream in audio.values_mut() {
        let (Some(track), Some(last)) = (stream.track, stream.last_arrival) else {
            continue;
        };
        if stream.eos || stream.stall_reported || last.elapsed() < stall_after {
            continue;
        }
        stream.stall_reported = true;
        if let (Ok(events), Some(publisher)) = (&mut *result, publisher.as_mut()) {
            match publisher.audio_stalled(track) {
                Ok(more) => events.extend(more),
                Err(error) => *result = Err(error),
            }
        }
    }
}
