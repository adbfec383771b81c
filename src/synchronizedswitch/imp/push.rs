// SPDX-License-Identifier: MPL-2.0
//! The push side: whoever holds `push` performs what the core decided, in order — frames with
//! their caps, segment and parameter sets, restamped; switch and gap messages.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::bitstream::NalFraming;
use crate::bitstream::parameter_sets::{Codec as ParameterSetCodec, ParameterSetCache};
use crate::switching::{FrameIndex, PadId, SwitchReason};
use crate::timecode::Timecode;

use super::*;

/// What a branch's streaming thread is told after the output pushed with `flow`: flushing and
/// EOS concern every branch, as do errors of the output (not-negotiated); a moment without a
/// peer does not.
pub(super) fn upstream_flow(
    flow: Result<gst::FlowSuccess, gst::FlowError>,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    match flow {
        Err(gst::FlowError::NotLinked) => Ok(gst::FlowSuccess::Ok),
        other => other,
    }
}

/// A number naming the calling thread (never 0), to recognise a re-entrant call.
pub(super) fn current_thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|token| *token)
}

/// A cache of in-band parameter sets for H.264/H.265 caps whose access units carry them
/// (byte-stream, avc3, hev1), seeded from codec_data when there is some; `None` for raw video
/// and for avc/hvc1, whose parameter sets travel in the caps (sent again at a switch).
pub(super) fn in_band_parameter_sets(caps: &gst::Caps) -> Option<ParameterSetCache> {
    let s = caps.structure(0)?;
    let codec = match s.name().as_str() {
        "video/x-h264" => ParameterSetCodec::H264,
        "video/x-h265" => ParameterSetCodec::H265,
        _ => return None,
    };
    let codec_data = s.get::<gst::Buffer>("codec_data").ok();
    let stream_format = s.get::<&str>("stream-format").unwrap_or("byte-stream");
    let size_len = |data: &[u8]| {
        let byte = match codec {
            ParameterSetCodec::H264 => data.get(4),
            ParameterSetCodec::H265 => data.get(21),
        };
        byte.map_or(4, |b| (b & 0x03) + 1)
    };
    let framing = match stream_format {
        "byte-stream" => NalFraming::AnnexB,
        "avc3" | "hev1" => {
            let map = codec_data.as_ref()?.map_readable().ok()?;
            NalFraming::LengthPrefixed(size_len(&map))
        }
        _ => return None,
    };
    let seeded = codec_data.as_ref().and_then(|data| {
        let map = data.map_readable().ok()?;
        ParameterSetCache::from_codec_data(codec, framing, &map).ok()
    });
    Some(seeded.unwrap_or_else(|| ParameterSetCache::new(codec, framing)))
}

/// `buffer` with `cache`'s parameter sets in front of its first slice, when it lacks them:
/// same timestamps, flags and metas, new memory.
pub(super) fn with_parameter_sets(
    buffer: &gst::Buffer,
    cache: &ParameterSetCache,
) -> Option<gst::Buffer> {
    let completed = {
        let map = buffer.map_readable().ok()?;
        cache.complete(&map)?
    };
    let mut out = gst::Buffer::from_mut_slice(completed);
    buffer
        .copy_into(
            out.get_mut()?,
            gst::BufferCopyFlags::FLAGS
                | gst::BufferCopyFlags::TIMESTAMPS
                | gst::BufferCopyFlags::META,
            ..0,
        )
        .ok()?;
    Some(out)
}

/// What the core decided and the push side still has to do, in order.
#[derive(Debug)]
pub(super) enum Action {
    Switched {
        from: Option<PadId>,
        to: PadId,
        at: FrameIndex,
        reason: SwitchReason,
    },
    Emit {
        pad: PadId,
        index: FrameIndex,
        frame: Frame,
        discont: bool,
    },
    Gap {
        from: FrameIndex,
        to: FrameIndex,
    },
    SwitchFailed {
        pad: PadId,
        at: FrameIndex,
        reason: String,
    },
    Eos,
}

/// The push side: what went downstream so far.
#[derive(Debug)]
pub(super) struct PushState {
    pub(super) stream_started: bool,
    pub(super) caps: Option<gst::Caps>,
    pub(super) segment: Option<Arc<gst::FormattedSegment<gst::ClockTime>>>,
    /// The switch announced by the core, reported with the frame that follows it.
    pub(super) switched: Option<(Option<PadId>, PadId, SwitchReason)>,
    pub(super) flow: Result<gst::FlowSuccess, gst::FlowError>,
    /// The DTS of the last buffer pushed: the output's DTS never goes back.
    pub(super) last_dts: Option<gst::ClockTime>,
}

impl Default for PushState {
    fn default() -> Self {
        PushState {
            stream_started: false,
            caps: None,
            segment: None,
            switched: None,
            flow: Ok(gst::FlowSuccess::Ok),
            last_dts: None,
        }
    }
}

impl SynchronizedSwitch {
    /// Performs the queued actions in order. Only the holder of `push` pushes.
    pub(super) fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let me = current_thread_token();
        if self.push_owner.load(Ordering::Acquire) == me {
            // Called back from downstream while this thread pushes (an application's pad probe
            // releasing a pad, requesting a switch…): the outer drain goes on with what was
            // queued.
            return upstream_flow(lock(&self.state).flow);
        }
        let mut push = lock(&self.push);
        self.push_owner.store(me, Ordering::Release);
        let result = self.drain_locked(&mut push);
        self.push_owner.store(0, Ordering::Release);
        result
    }

    pub(super) fn drain_locked(
        &self,
        push: &mut PushState,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut batch = VecDeque::new();
        loop {
            {
                // One lock per batch, not per action: the state lock is what the branches'
                // threads contend for.
                let mut state = lock(&self.state);
                state.flow = push.flow;
                if state.actions.is_empty() {
                    break;
                }
                std::mem::swap(&mut batch, &mut state.actions);
            }
            for action in batch.drain(..) {
                self.perform(push, action);
            }
        }
        upstream_flow(push.flow)
    }

    /// One action of [`SynchronizedSwitch::drain`], under the push lock.
    pub(super) fn perform(&self, push: &mut PushState, action: Action) {
        {
            match action {
                Action::Switched {
                    from,
                    to,
                    at,
                    reason,
                } => {
                    gst::info!(
                        CAT,
                        imp = self,
                        "switch {from:?} -> {to:?} at {at} ({reason})"
                    );
                    push.switched = Some((from, to, reason));
                }
                Action::Emit {
                    pad,
                    index,
                    frame,
                    discont,
                } => {
                    let flow = self.push_frame(push, pad, index, frame, discont);
                    push.flow = flow;
                }
                Action::Gap { from, to } => {
                    gst::warning!(CAT, imp = self, "no branch delivered frames {from}..{to}");
                    let _ = self.obj().post_message(
                        gst::message::Element::builder(
                            gst::Structure::builder("synchronizedswitch-gap")
                                .field("from-frame", from)
                                .field("frames", to.saturating_sub(from))
                                .build(),
                        )
                        .src(&*self.obj())
                        .build(),
                    );
                }
                Action::SwitchFailed { pad, at, reason } => {
                    let pad = lock(&self.state).pad(pad).cloned();
                    let name = pad
                        .as_ref()
                        .map(|p| p.name().to_string())
                        .unwrap_or_default();
                    gst::element_imp_warning!(
                        self,
                        gst::CoreError::Failed,
                        ("The switch to {name} at frame {at} did not happen: {reason}")
                    );
                    let _ = self.obj().post_message(
                        gst::message::Element::builder(
                            gst::Structure::builder("synchronizedswitch-switch-failed")
                                .field("pad", name)
                                .field("frame", at)
                                .field("reason", reason)
                                .build(),
                        )
                        .src(&*self.obj())
                        .build(),
                    );
                }
                Action::Eos => {
                    self.srcpad.push_event(gst::event::Eos::new());
                }
            }
        }
    }

    pub(super) fn push_frame(
        &self,
        push: &mut PushState,
        pad: PadId,
        index: FrameIndex,
        frame: Frame,
        discont: bool,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if !push.stream_started {
            // One stream whichever branch is on air (create_stream_id refuses elements with
            // several sink pads).
            let stream_id = format!(
                "{:08x}{:08x}/{}",
                glib::random_int(),
                glib::random_int(),
                self.obj().name()
            );
            self.srcpad
                .push_event(gst::event::StreamStart::builder(&stream_id).build());
            push.stream_started = true;
        }
        if push.caps.as_ref() != Some(&frame.caps) {
            // New caps go out exactly at the switch frame (or when a branch renegotiates).
            self.srcpad.push_event(gst::event::Caps::new(&frame.caps));
            push.caps = Some(frame.caps.clone());
        }
        let out_segment = match &push.segment {
            Some(segment) => segment.clone(),
            None => {
                self.srcpad
                    .push_event(gst::event::Segment::new(&frame.segment));
                push.segment = Some(frame.segment.clone());
                frame.segment.clone()
            }
        };
        let mut buffer = frame.buffer;
        if push.switched.is_some()
            && let Some(cache) = &frame.parameter_sets
            && let Some(completed) = with_parameter_sets(&buffer, cache)
        {
            gst::debug!(
                CAT,
                imp = self,
                "switch frame {index} from {pad:?} lacks parameter sets: the branch's last ones are put in front"
            );
            buffer = completed;
        }
        let restamp = !Arc::ptr_eq(&frame.segment, &out_segment) && frame.segment != out_segment;
        let mark_discont = discont && !buffer.flags().contains(gst::BufferFlags::DISCONT);
        let convert = |ts: Option<gst::ClockTime>| {
            if restamp {
                ts.and_then(|ts| frame.segment.to_running_time(ts))
                    .and_then(|running| out_segment.position_from_running_time(running))
            } else {
                ts
            }
        };
        let (pts, dts) = (convert(buffer.pts()), convert(buffer.dts()));
        let out_dts = self.output_dts(push, pts, dts, frame.decode_lead_ns);
        if restamp || mark_discont || out_dts != buffer.dts() {
            // Only the buffer's header is copied when it is shared; the memory is not.
            let buffer = buffer.make_mut();
            buffer.set_pts(pts);
            buffer.set_dts(out_dts);
            if mark_discont {
                buffer.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        if let Some((from, to, reason)) = push.switched.take() {
            self.post_switched(
                from,
                to,
                index,
                reason,
                &frame.timecode,
                &buffer,
                &out_segment,
            );
        }
        self.srcpad.push(buffer).inspect_err(|err| {
            gst::debug!(
                CAT,
                imp = self,
                "push of frame {index} from {pad:?}: {err:?}"
            );
        })
    }

    /// The DTS a frame leaves with. Branches reorder differently (B-frames in one, none in the
    /// other), so their decode timelines lag their presentation by different delays, and DTS
    /// would step back at a switch onto a deeper branch. Every branch's DTS is moved back to
    /// the output's reorder delay (the deepest any branch showed, measured at its cuts), so
    /// PTS − DTS at a cut is the same on every branch and the decode timeline runs on across
    /// switches. A branch that shows a deeper delay only later makes a few DTS equal the one
    /// before (never less) until the timeline has caught up; DTS never passes PTS.
    pub(super) fn output_dts(
        &self,
        push: &mut PushState,
        pts: Option<gst::ClockTime>,
        dts: Option<gst::ClockTime>,
        branch_lead_ns: Option<u64>,
    ) -> Option<gst::ClockTime> {
        let dts = dts?;
        let output_lead = self.output_decode_lead_ns.load(Ordering::Relaxed);
        let shift = output_lead.saturating_sub(branch_lead_ns.unwrap_or(output_lead));
        let mut out = dts.saturating_sub(gst::ClockTime::from_nseconds(shift));
        if let Some(last) = push.last_dts {
            out = out.max(last);
        }
        if let Some(pts) = pts {
            out = out.min(pts);
        }
        push.last_dts = Some(out);
        Some(out)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn post_switched(
        &self,
        from: Option<PadId>,
        to: PadId,
        index: FrameIndex,
        reason: SwitchReason,
        timecode: &Option<Timecode>,
        buffer: &gst::Buffer,
        segment: &gst::FormattedSegment<gst::ClockTime>,
    ) {
        let (old_pad, new_pad) = {
            let state = lock(&self.state);
            (
                from.and_then(|id| state.pad(id).cloned()),
                state.pad(to).cloned(),
            )
        };
        let name = |pad: &Option<super::super::SynchronizedSwitchSinkPad>| {
            pad.as_ref()
                .map(|p| p.name().to_string())
                .unwrap_or_default()
        };
        let running_time = buffer.pts().and_then(|pts| segment.to_running_time(pts));
        let structure = gst::Structure::builder("synchronizedswitch-switched")
            .field("old-pad", name(&old_pad))
            .field("new-pad", name(&new_pad))
            .field(
                "timecode",
                timecode.map(|tc| tc.to_string()).unwrap_or_default(),
            )
            .field("frame", index)
            .field("running-time", running_time)
            .field("reason", reason.as_str())
            .build();
        let _ = self.obj().post_message(
            gst::message::Element::builder(structure)
                .src(&*self.obj())
                .build(),
        );
        self.obj().notify("active-pad");
    }
}
