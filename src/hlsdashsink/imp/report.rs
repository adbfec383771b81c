// SPDX-License-Identifier: MPL-2.0
//! What the publisher reported, turned into keyframe requests, warnings, errors and element
//! messages.

use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::packaging::publisher::{Event, PublishError, PublishedSegment};
use crate::timecode::utc::format_rfc3339_nanos;

use super::*;

impl HlsDashSink {
    pub(super) fn handle_result(
        &self,
        result: Result<Vec<Event>, PublishError>,
        last_times: Option<(gst::ClockTime, i64)>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let events = match result {
            Ok(events) => events,
            Err(error) => {
                self.report_error(error);
                return Err(gst::FlowError::Error);
            }
        };
        for event in events {
            match event {
                Event::KeyframeWanted {
                    rendition: 0,
                    utc_ns,
                    k,
                } => {
                    if let Some(pad) = self.appsink.static_pad("sink") {
                        self.request_keyframe(&pad, utc_ns, k, last_times);
                    }
                }
                Event::KeyframeWanted {
                    rendition,
                    utc_ns,
                    k,
                } => self.request_rendition_keyframe(rendition, utc_ns, k),
                Event::NotKeyframe {
                    rendition,
                    k,
                    utc_ns,
                } => {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        (
                            "Segment {} of {} does not start with a keyframe; it is not published",
                            k,
                            self.rendition_label(rendition)
                        ),
                        [
                            "first frame at {}: make the encoder honour force-key-unit requests (elements between it and this sink must pass them on, translating running times if they rewrite timestamps, as timecodeparse does) or set its keyframe interval to the segment's frame count, aligned to the timecode",
                            format_rfc3339_nanos(utc_ns)
                        ]
                    );
                }
                Event::Backward {
                    rendition,
                    utc_ns,
                    last_utc_ns,
                } => {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        (
                            "The timecode of {} went backwards; frames are dropped until it passes the last one published",
                            self.rendition_label(rendition)
                        ),
                        [
                            "frame at {} after {}: its segment is already published (segment numbers never decrease); a repeated frame, or a timecode set back upstream",
                            format_rfc3339_nanos(utc_ns),
                            format_rfc3339_nanos(last_utc_ns)
                        ]
                    );
                }
                Event::CutShort {
                    rendition,
                    k,
                    frames,
                    next_utc_ns,
                    discontinuity,
                } => {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        (
                            "The timecode of {} jumped forward: segment {} ends after {} frames",
                            self.rendition_label(rendition),
                            k,
                            frames
                        ),
                        [
                            "the next frame is at {} (a timecode jump upstream, or lost frames); the missing segments are listed as EXT-X-GAP{}",
                            format_rfc3339_nanos(next_utc_ns),
                            if discontinuity {
                                " and the next published segment carries EXT-X-DISCONTINUITY"
                            } else {
                                ""
                            }
                        ]
                    );
                }
                Event::Segment(segment) => self.post_segment(&segment),
                Event::Manifests { k, names } => self.post_manifests(k, names),
                Event::Deleted { k, name } => {
                    gst::debug!(CAT, imp = self, "deleted segment {k} ({name})");
                }
                Event::AudioMissing { id, k } => self.warn_audio_missing(&id, k),
                Event::AudioBackward { id, utc_ns } => {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        ("The audio of {} went backwards; the frame is dropped", id),
                        ["frame at {}", format_rfc3339_nanos(utc_ns)]
                    );
                }
                Event::StorageIndexRebuilt {
                    name,
                    reason,
                    entries,
                } => {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Read,
                        (
                            "The storage index {} left by the previous run could not be read; it was rebuilt",
                            name
                        ),
                        [
                            "{}; {} entries rebuilt from the segment files on disk (size and SHA-256 from each file, times from the playlist, no timecode labels)",
                            reason,
                            entries
                        ]
                    );
                }
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// A publisher error is the element's: a write failure (what was published stays valid)
    /// or a stream that cannot be packaged.
    fn report_error(&self, error: PublishError) {
        match error {
            PublishError::Output(error) => {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Write,
                    ("Could not write the output: {}", error),
                    ["what was already published stays valid; {:?}", error]
                );
            }
            error => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("Cannot package this stream: {}", error)
                );
            }
        }
    }

    /// Asks upstream for a keyframe at the running time of UTC instant `utc_ns` (the next
    /// segment boundary): running time moves with the UTC instant (a live or timecode
    /// timeline), from the last frame's pair.
    /// The pad a rendition comes from, for messages: `sink` for the main one.
    fn rendition_label(&self, rendition: usize) -> String {
        rendition
            .checked_sub(1)
            .and_then(|i| lock(&self.state).rendition_names.get(i).cloned())
            .unwrap_or_else(|| "sink".to_owned())
    }

    /// `pad` is the appsink's sink pad of the rendition (the request travels upstream to
    /// its encoder).
    pub(super) fn request_keyframe(
        &self,
        pad: &gst::Pad,
        utc_ns: i64,
        k: i64,
        last_times: Option<(gst::ClockTime, i64)>,
    ) {
        let Some((running_time, frame_utc)) = last_times else {
            return;
        };
        let Ok(ahead) = u64::try_from(utc_ns.saturating_sub(frame_utc)) else {
            return;
        };
        let Some(at) = running_time.checked_add(gst::ClockTime::from_nseconds(ahead)) else {
            return;
        };
        gst::debug!(
            CAT,
            imp = self,
            "asking {} for a keyframe at {at} (segment {k})",
            pad.name()
        );
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .running_time(at)
            .all_headers(true)
            .build();
        pad.push_event(event);
    }

    fn post(&self, structure: gst::Structure) {
        let _ = self.obj().post_message(
            gst::message::Element::builder(structure)
                .src(&*self.obj())
                .build(),
        );
    }

    /// `hlsdashsink-segment`: a segment file was written.
    fn post_segment(&self, segment: &PublishedSegment) {
        self.post(
            gst::Structure::builder("hlsdashsink-segment")
                .field("representation", &segment.representation)
                .field("location", &segment.name)
                .field("k", segment.k)
                .field("frames", segment.frames)
                .field(
                    "first-timecode",
                    segment.first_timecode.clone().unwrap_or_default(),
                )
                .field(
                    "last-timecode",
                    segment.last_timecode.clone().unwrap_or_default(),
                )
                .field(
                    "first-utc",
                    format_rfc3339_nanos(segment.first_frame_utc_ns),
                )
                .field("last-utc", format_rfc3339_nanos(segment.last_frame_utc_ns))
                .field("first-utc-ns", segment.first_frame_utc_ns)
                .field("last-utc-ns", segment.last_frame_utc_ns)
                .field(
                    "duration",
                    gst::ClockTime::from_nseconds(segment.duration_ns),
                )
                .field("size", segment.size_bytes)
                .build(),
        );
    }

    /// `hlsdashsink-manifest`: the manifests listing up to segment k were rewritten.
    fn post_manifests(&self, k: i64, names: Vec<String>) {
        self.post(
            gst::Structure::builder("hlsdashsink-manifest")
                .field("k", k)
                .field("locations", gst::Array::new(names))
                .build(),
        );
    }

    /// Once per track: a dead branch would warn every segment.
    fn warn_audio_missing(&self, id: &str, k: i64) {
        let first = lock(&self.state).audio_missing_warned.insert(id.to_owned());
        if first {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ("The audio of {} is missing from segment {}", id, k),
                [
                    "its playlist lists EXT-X-GAP for it: the audio did not cover the segment from its start, or sent nothing for {} segment durations while the video went on",
                    AUDIO_STALL_SEGMENTS
                ]
            );
        } else {
            gst::debug!(CAT, imp = self, "{id}: no audio for segment {k}");
        }
    }
}
