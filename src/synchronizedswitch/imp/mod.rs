// SPDX-License-Identifier: MPL-2.0
//! The `synchronizedswitch` subclass: GStreamer glue around [`crate::switching::SwitchCore`].
//!
//! Threads: every sink pad's streaming thread names its frame, hands it to the core under the
//! `state` lock and returns at once (the core never waits for another pad, which is why the
//! `tee` → encoders → switch topology cannot deadlock). What the core decided is queued in
//! `state.actions`, in order; whoever holds `push` drains that queue and pushes downstream, so
//! frames leave in the core's order whichever thread pushes them. A task on the src pad ticks
//! the core when no frame arrives (stall detection).
//!
//! Locks: `settings`, each pad's `stream` and `priority`, `push`, `state`, `timer`,
//! `next_pad_number`. Order: settings → pad stream → push → state; `timer` and
//! `next_pad_number` are taken alone. `state` is never held while pushing, posting or
//! notifying. `push` is: whoever drains holds it while it pushes downstream, posts the
//! switch/gap messages and notifies `active-pad`, so those go out in the order of the frames.
//! That is safe because the holder is recorded (`push_owner`): anything those calls run on the
//! same thread — a pad probe or a bus sync handler that requests a switch, releases a pad or
//! reads a property — re-enters [`SynchronizedSwitch::drain`], which sees its own thread and
//! returns instead of taking `push` again; the outer drain then performs what was queued.
//! Other threads only queue actions under `state` and never wait for `push` while holding
//! another lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex};

mod content;
mod control;
mod push;
mod sinkpad;

use content::Content;
use push::{Action, PushState, in_band_parameter_sets, upstream_flow};
use sinkpad::PadStream;
pub use sinkpad::SinkPad;

use crate::glue::lock;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::AlignBy;
use crate::bitstream::parameter_sets::ParameterSetCache;
use crate::framemeta::{self, MetaError};
use crate::switching::{DropCause, FrameIndex, FrameKind, Output, PadId, SwitchConfig, SwitchCore};
use crate::timecode::{FrameRate, Timecode};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "synchronizedswitch",
        gst::DebugColorFlags::empty(),
        Some("Frame-accurate switch between redundant branches"),
    )
});

const DEFAULT_ALIGN_BY: AlignBy = AlignBy::Timecode;
const DEFAULT_MAX_WINDOW: u32 = 32;
const DEFAULT_TIMEOUT: gst::ClockTime = gst::ClockTime::SECOND;
const DEFAULT_AUTO_SWITCH_BACK: bool = false;
const DEFAULT_SWITCH_BACK_DELAY: gst::ClockTime = gst::ClockTime::from_seconds(5);
/// The src task wakes at least this often, so live property changes and stalls are seen even
/// when the core names no deadline.
const TICK_INTERVAL_NS: u64 = 100_000_000;

/// A monotonic time for stall detection, read on every frame of every branch: the coarse clock
/// (a few ms resolution, no more than a memory read) is precise enough for timeouts of tens of
/// milliseconds and more, and several times cheaper than CLOCK_MONOTONIC here.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC_COARSE exists on
    // every Linux since 2.6.32.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return gst::get_timestamp().nseconds();
    }
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    align_by: AlignBy,
    max_window: u32,
    timeout: gst::ClockTime,
    auto_switch_back: bool,
    switch_back_delay: gst::ClockTime,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            align_by: DEFAULT_ALIGN_BY,
            max_window: DEFAULT_MAX_WINDOW,
            timeout: DEFAULT_TIMEOUT,
            auto_switch_back: DEFAULT_AUTO_SWITCH_BACK,
            switch_back_delay: DEFAULT_SWITCH_BACK_DELAY,
        }
    }
}

impl Settings {
    fn switch_config(&self) -> SwitchConfig {
        SwitchConfig {
            encoded: true,
            max_window: usize::try_from(self.max_window).unwrap_or(usize::MAX),
            timeout_ns: self.timeout.nseconds(),
            auto_switch_back: self.auto_switch_back,
            switch_back_delay_ns: self.switch_back_delay.nseconds(),
        }
    }
}

/// A frame held by the core: the buffer and what it needs to go out right.
#[derive(Debug)]
struct Frame {
    buffer: gst::Buffer,
    caps: gst::Caps,
    /// Shared with the pad until its next segment event: a frame is moved several times on
    /// its way, so it stays small.
    segment: Arc<gst::FormattedSegment<gst::ClockTime>>,
    timecode: Option<Timecode>,
    /// The branch's parameter sets as this keyframe arrived (in-band streams only): put in
    /// front of it if it becomes a switch frame without its own.
    parameter_sets: Option<Arc<ParameterSetCache>>,
    /// The branch's reorder delay (PTS − DTS at its cuts), ns, when known.
    decode_lead_ns: Option<u64>,
}

/// Streaming state shared by all pads.
struct State {
    core: SwitchCore<Frame>,
    pads: Vec<(PadId, super::SynchronizedSwitchSinkPad)>,
    actions: VecDeque<Action>,
    /// The content of the first caps accepted; every pad must match it.
    reference: Option<Content>,
    rate: Option<FrameRate>,
    /// A recent frame's index and timecode: how `switch-at` turns a timecode into an index.
    last_named: Option<(FrameIndex, Timecode, FrameRate)>,
    eos_queued: bool,
    scratch: Vec<Output<Frame>>,
    /// The result of the last push downstream, as [`SynchronizedSwitch::drain`] left it.
    flow: Result<gst::FlowSuccess, gst::FlowError>,
    unnamed: u64,
    mismatched: u64,
    last_rejection: String,
}

impl State {
    fn new(config: SwitchConfig) -> Self {
        State {
            core: SwitchCore::new(config),
            pads: Vec::new(),
            actions: VecDeque::new(),
            reference: None,
            rate: None,
            last_named: None,
            eos_queued: false,
            scratch: Vec::new(),
            flow: Ok(gst::FlowSuccess::Ok),
            unnamed: 0,
            mismatched: 0,
            last_rejection: String::new(),
        }
    }

    fn pad(&self, id: PadId) -> Option<&super::SynchronizedSwitchSinkPad> {
        self.pads
            .iter()
            .find(|(pad, _)| *pad == id)
            .map(|(_, pad)| pad)
    }

    /// Runs `f` on the core and queues what it decided. Frames the core let go are released
    /// here: an unref, as input-selector does for the frames of its inactive pads.
    fn run_core(&mut self, f: impl FnOnce(&mut SwitchCore<Frame>, &mut Vec<Output<Frame>>)) {
        // The output vector is kept between calls: no allocation per frame.
        let mut out = std::mem::take(&mut self.scratch);
        f(&mut self.core, &mut out);
        self.take_outputs(&mut out);
        self.scratch = out;
    }

    /// Queues what the core decided.
    fn take_outputs(&mut self, out: &mut Vec<Output<Frame>>) {
        for output in out.drain(..) {
            match output {
                Output::Emit {
                    pad,
                    index,
                    payload,
                    discont,
                    ..
                } => self.actions.push_back(Action::Emit {
                    pad,
                    index,
                    frame: payload,
                    discont,
                }),
                Output::Drop { payload, cause, .. } => {
                    if cause != DropCause::AlreadyOutput {
                        gst::trace!(CAT, "dropping a frame: {cause:?}");
                    }
                    drop(payload);
                }
                Output::Switched {
                    from,
                    to,
                    at,
                    reason,
                } => self.actions.push_back(Action::Switched {
                    from,
                    to,
                    at,
                    reason,
                }),
                Output::Gap { from, to } => self.actions.push_back(Action::Gap { from, to }),
                Output::SwitchFailed { pad, at, reason } => {
                    self.actions.push_back(Action::SwitchFailed {
                        pad,
                        at,
                        reason: reason.to_string(),
                    })
                }
            }
        }
        if !self.eos_queued && self.core.all_ended() {
            self.eos_queued = true;
            self.actions.push_back(Action::Eos);
        }
    }
}

/// The src task's wake-up: `stop` ends it, `notify` wakes it early.
#[derive(Debug, Default)]
struct Timer {
    stop: bool,
}

pub struct SynchronizedSwitch {
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    push: Mutex<PushState>,
    /// The thread holding `push` ([`current_thread_token`]), 0 when none.
    push_owner: AtomicU64,
    /// The output's reorder delay: the largest decode lead any branch showed. Every branch's
    /// DTS is moved back to it, so the decode timeline is continuous across switches.
    output_decode_lead_ns: AtomicU64,
    timer: Mutex<Timer>,
    timer_cond: Condvar,
    next_pad_number: Mutex<u32>,
}

#[glib::object_subclass]
impl ObjectSubclass for SynchronizedSwitch {
    const NAME: &'static str = "GstSynchronizedSwitch";
    type Type = super::SynchronizedSwitch;
    type ParentType = gst::Element;
    type Interfaces = (gst::ChildProxy,);

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass
            .pad_template("src")
            .expect("the src template is registered");
        let srcpad = gst::Pad::builder_from_template(&templ)
            .event_function(|pad, parent, event| {
                SynchronizedSwitch::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.src_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                SynchronizedSwitch::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.src_query(pad, query),
                )
            })
            .build();
        let settings = Settings::default();
        SynchronizedSwitch {
            srcpad,
            settings: Mutex::new(settings),
            state: Mutex::new(State::new(settings.switch_config())),
            push: Mutex::new(PushState::default()),
            push_owner: AtomicU64::new(0),
            output_decode_lead_ns: AtomicU64::new(0),
            timer: Mutex::new(Timer::default()),
            timer_cond: Condvar::new(),
            next_pad_number: Mutex::new(0),
        }
    }
}

impl SynchronizedSwitch {
    // -----------------------------------------------------------------------------------------
    // Sink side.

    fn sink_chain(
        &self,
        pad: &super::SynchronizedSwitchSinkPad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(id) = pad.imp().id() else {
            return Err(gst::FlowError::NotLinked);
        };
        let mut stream = lock(&pad.imp().stream);
        if stream.mismatch.is_some() {
            lock(&self.state).mismatched += 1;
            return Ok(gst::FlowSuccess::Ok);
        }
        let Some(caps) = stream.caps.clone() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("{} received a buffer before caps", pad.name())
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        let named = self.name_frame(&buffer, &stream.segment, stream.align_by, stream.rate);
        let (index, timecode) = match named {
            Ok(named) => named,
            Err(text) => {
                let first = !std::mem::replace(&mut stream.warned_unnamed, true);
                drop(stream);
                lock(&self.state).unnamed += 1;
                if first {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        (
                            "{}: a frame has no name and is not used: {text}",
                            pad.name()
                        )
                    );
                }
                return Ok(gst::FlowSuccess::Ok);
            }
        };
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if buffer.dts().is_some() && buffer.dts() != buffer.pts() {
            stream.reorders = true;
        }
        let in_order = !stream.reorders;
        if buffer.flags().contains(gst::BufferFlags::DISCONT) {
            stream.tracker.reset();
        }
        let placement = stream.tracker.observe(index, in_order);
        let parameter_sets = if keyframe {
            stream.parameter_sets.as_mut().map(|cache| {
                if let Ok(map) = buffer.map_readable() {
                    Arc::make_mut(cache).observe(&map);
                }
                cache.clone()
            })
        } else {
            None
        };
        if keyframe
            && placement.cut
            && let (Some(pts), Some(dts)) = (buffer.pts(), buffer.dts())
            && let Some(lead) = pts.checked_sub(dts)
        {
            stream.decode_lead_ns = Some(lead.nseconds());
            self.output_decode_lead_ns
                .fetch_max(lead.nseconds(), Ordering::Relaxed);
        }
        let frame = Frame {
            buffer,
            caps,
            segment: stream.segment.clone(),
            timecode: timecode.map(|(tc, _)| tc),
            parameter_sets,
            decode_lead_ns: stream.decode_lead_ns,
        };
        drop(stream);

        let kind = FrameKind {
            keyframe: keyframe && placement.cut,
            cut: placement.cut,
        };
        let (pending, flow) = {
            let mut state = lock(&self.state);
            if let Some((tc, tc_rate)) = timecode {
                state.last_named = Some((index, tc, tc_rate));
            }
            let now = now_ns();
            state.run_core(|core, out| {
                core.push_kind(id, placement.slot, kind, frame, now, out);
            });
            (!state.actions.is_empty(), state.flow)
        };
        // The timer is not woken: a frame only moves deadlines later. A backup's frame that
        // only waits (the common case) returns without touching the push side.
        if pending {
            self.drain()
        } else {
            upstream_flow(flow)
        }
    }

    /// The frame's index (and its timecode, when it has one) as `align-by` says.
    fn name_frame(
        &self,
        buffer: &gst::Buffer,
        segment: &gst::FormattedSegment<gst::ClockTime>,
        align_by: AlignBy,
        rate: Option<FrameRate>,
    ) -> Result<(FrameIndex, Option<(Timecode, FrameRate)>), String> {
        let timecode = match framemeta::timecode_of(buffer, rate) {
            Some(Ok(meta)) => Some(meta),
            Some(Err(MetaError::NoRate)) | None => None,
            Some(Err(e)) if align_by == AlignBy::Timecode => return Err(e.to_string()),
            Some(Err(_)) => None,
        };
        let by_time = |ns: i64| -> Result<FrameIndex, String> {
            let rate = rate.ok_or_else(|| {
                "the caps have no fixed framerate, which align-by=reference-timestamp and align-by=pts need".to_string()
            })?;
            // Round to the nearest frame: the instants of one frame agree across branches to
            // far better than half a period.
            let half = rate.frames_to_ns(1) / 2;
            Ok(rate.ns_to_frames(ns.saturating_add(half)))
        };
        let index = match align_by {
            AlignBy::Timecode => timecode
                .as_ref()
                .map(framemeta::MetaTimecode::frame_index)
                .ok_or_else(|| {
                    "align-by=timecode needs a GstVideoTimeCodeMeta on every frame (put timecodeparse or timecodestamper upstream, or set align-by)".to_string()
                })?,
            AlignBy::ReferenceTimestamp => {
                let ns = framemeta::unix_reference_ns(buffer).ok_or_else(|| {
                    "align-by=reference-timestamp needs a timestamp/x-unix GstReferenceTimestampMeta on every frame (put timecodeparse upstream)".to_string()
                })?;
                by_time(ns)?
            }
            AlignBy::Pts => {
                let running = buffer
                    .pts()
                    .and_then(|pts| segment.to_running_time(pts))
                    .ok_or_else(|| {
                        "align-by=pts needs a PTS inside the segment on every frame".to_string()
                    })?;
                by_time(i64::try_from(running.nseconds()).unwrap_or(i64::MAX))?
            }
        };
        Ok((index, timecode.map(|meta| (meta.timecode, meta.rate))))
    }

    fn sink_event(&self, pad: &super::SynchronizedSwitchSinkPad, event: gst::Event) -> bool {
        use gst::EventView;
        let Some(id) = pad.imp().id() else {
            return false;
        };
        match event.view() {
            EventView::Caps(caps) => {
                self.set_caps(pad, id, caps.caps_owned());
                true
            }
            EventView::Segment(segment) => {
                match segment.segment().downcast_ref::<gst::ClockTime>() {
                    Some(segment) => {
                        lock(&pad.imp().stream).segment = Arc::new(segment.clone());
                        true
                    }
                    None => {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            (
                                "{} received a segment in {:?} format; only TIME segments are supported",
                                pad.name(),
                                segment.segment().format()
                            )
                        );
                        false
                    }
                }
            }
            EventView::StreamStart(_) => {
                lock(&pad.imp().stream).tracker.reset();
                true
            }
            EventView::Eos(_) => {
                self.core_call(|core, out| {
                    core.eos(id, out);
                });
                let _ = self.drain();
                true
            }
            EventView::FlushStart(_) => {
                if self.is_active(id) {
                    self.srcpad.push_event(event);
                }
                true
            }
            EventView::FlushStop(_) => {
                {
                    let mut stream = lock(&pad.imp().stream);
                    stream.tracker.reset();
                    stream.segment = Arc::new(gst::FormattedSegment::new());
                }
                let active = self.is_active(id);
                self.core_call(|core, out| {
                    core.flush(id, out);
                });
                if active {
                    let mut push = lock(&self.push);
                    push.segment = None;
                    push.flow = Ok(gst::FlowSuccess::Ok);
                    drop(push);
                    self.srcpad.push_event(event);
                }
                true
            }
            // Gaps are covered by the other branches; a gap of every branch is reported by the
            // core when the next frame comes.
            EventView::Gap(_) => true,
            _ => {
                // Tags and custom events of the active branch go on; the others' are dropped
                // (they describe a stream that is not on air).
                if self.is_active(id) {
                    self.srcpad.push_event(event)
                } else {
                    true
                }
            }
        }
    }

    fn set_caps(&self, pad: &super::SynchronizedSwitchSinkPad, id: PadId, caps: gst::Caps) {
        let content = match Content::of(&caps) {
            Ok(content) => content,
            Err(text) => {
                self.refuse_pad(pad, id, "caps-unsupported", text);
                return;
            }
        };
        let verdict = {
            let mut state = lock(&self.state);
            match &state.reference {
                None => {
                    state.core.set_encoded(!content.raw);
                    state.rate = content.rate;
                    state.reference = Some(content.clone());
                    None
                }
                Some(reference) => content.difference(reference),
            }
        };
        match verdict {
            None => {
                let mut stream = lock(&pad.imp().stream);
                if stream.mismatch.take().is_some() {
                    gst::info!(CAT, obj = pad, "caps match the other branches again: {caps}");
                }
                stream.warned_mismatch = false;
                stream.rate = content.rate;
                stream.parameter_sets = in_band_parameter_sets(&caps).map(Arc::new);
                stream.caps = Some(caps);
            }
            Some(difference) => self.refuse_pad(
                pad,
                id,
                "caps-mismatch",
                format!(
                    "{} has caps that describe other content than the other branches ({difference}); its frames are not used until its caps match",
                    pad.name()
                ),
            ),
        }
    }

    /// Takes a pad out of service (its branch goes on, its frames are dropped): a mismatch is
    /// an error of that branch, not of the pipeline.
    /// `reason`: `caps-mismatch` (other content than the other branches) or `caps-unsupported`
    /// (caps the switch cannot describe); in the `synchronizedswitch-pad-refused` message.
    fn refuse_pad(
        &self,
        pad: &super::SynchronizedSwitchSinkPad,
        id: PadId,
        reason: &str,
        text: String,
    ) {
        let first = {
            let mut stream = lock(&pad.imp().stream);
            stream.mismatch = Some(text.clone());
            !std::mem::replace(&mut stream.warned_mismatch, true)
        };
        self.core_call(|core, out| {
            core.error(id, out);
        });
        if first {
            gst::element_imp_warning!(self, gst::CoreError::Negotiation, ("{}", text));
        }
        // The machine-readable form, for applications and bins built on the switch
        // (handoverbin): match these fields, never the warning's wording.
        let _ = self.obj().post_message(
            gst::message::Element::builder(
                gst::Structure::builder("synchronizedswitch-pad-refused")
                    .field("pad", pad.name().as_str())
                    .field("reason", reason)
                    .field("message", text.as_str())
                    .build(),
            )
            .src(&*self.obj())
            .build(),
        );
        let _ = self.drain();
    }

    fn sink_query(
        &self,
        pad: &super::SynchronizedSwitchSinkPad,
        query: &mut gst::QueryRef,
    ) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Caps(q) => {
                // Every branch feeds the same downstream, and once the content is known every
                // branch must produce it: a parser in a branch then picks the stream-format the
                // others have rather than whatever downstream prefers.
                let reference = lock(&self.state).reference.as_ref().map(|r| r.caps.clone());
                let filter = q.filter_owned();
                let mut upstream = gst::query::Caps::new(filter.as_ref());
                let downstream = if self.srcpad.peer_query(&mut upstream) {
                    upstream
                        .result_owned()
                        .unwrap_or_else(|| pad.pad_template_caps())
                } else {
                    pad.pad_template_caps()
                };
                let caps = match reference {
                    Some(reference) => {
                        downstream.intersect_with_mode(&reference, gst::CapsIntersectMode::First)
                    }
                    None => downstream,
                };
                q.set_result(&caps);
                true
            }
            QueryViewMut::AcceptCaps(_) | QueryViewMut::Allocation(_) => {
                // Every branch feeds the same downstream: ask it.
                if self.srcpad.peer_query(query) {
                    true
                } else {
                    gst::Pad::query_default(pad.upcast_ref::<gst::Pad>(), Some(&*self.obj()), query)
                }
            }
            _ => gst::Pad::query_default(pad.upcast_ref::<gst::Pad>(), Some(&*self.obj()), query),
        }
    }

    fn is_active(&self, id: PadId) -> bool {
        lock(&self.state).core.active_pad() == Some(id)
    }

    /// Runs `f` on the core and queues what it decided.
    fn core_call(&self, f: impl FnOnce(&mut SwitchCore<Frame>, &mut Vec<Output<Frame>>)) {
        lock(&self.state).run_core(f);
    }

    // -----------------------------------------------------------------------------------------
    // Push side.

    // -----------------------------------------------------------------------------------------
    // Src side.

    fn src_event(&self, _pad: &gst::Pad, event: gst::Event) -> bool {
        // Upstream events (seek, QoS, reconfigure, force-key-unit) concern every branch. The
        // element itself never asks upstream to renegotiate: that is what deadlocks
        // input-selector in the tee topology.
        let pads: Vec<_> = lock(&self.state)
            .pads
            .iter()
            .map(|(_, p)| p.clone())
            .collect();
        let mut handled = false;
        for pad in pads {
            handled |= pad.push_event(event.clone());
        }
        handled
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Latency(q) => {
                let pads: Vec<_> = lock(&self.state)
                    .pads
                    .iter()
                    .map(|(_, p)| p.clone())
                    .collect();
                let (mut live, mut min, mut max) = (false, gst::ClockTime::ZERO, None);
                let mut answered = false;
                for sink in pads {
                    let mut upstream = gst::query::Latency::new();
                    if sink.peer_query(&mut upstream) {
                        let (l, mn, mx) = upstream.result();
                        answered = true;
                        live |= l;
                        min = min.max(mn);
                        max = match (max, mx) {
                            (None, m) => m,
                            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                            (Some(a), None) => Some(a),
                        };
                    }
                }
                let (added_min, added_max) = self.added_latency();
                q.set(live, min + added_min, max.map(|m| m + added_max));
                answered || lock(&self.state).pads.is_empty()
            }
            QueryViewMut::Caps(q) => {
                let caps = lock(&self.push)
                    .caps
                    .clone()
                    .unwrap_or_else(|| pad.pad_template_caps());
                let caps = match q.filter() {
                    Some(filter) => {
                        filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First)
                    }
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// The latency the element adds: in steady state none (the active branch's frames leave as
    /// they arrive), at most `max-window` frames while a switch waits for a lagging branch.
    fn added_latency(&self) -> (gst::ClockTime, gst::ClockTime) {
        let state = lock(&self.state);
        let Some(rate) = state.rate else {
            return (gst::ClockTime::ZERO, gst::ClockTime::ZERO);
        };
        let frames = |n: u64| {
            gst::ClockTime::from_nseconds(
                u64::try_from(rate.frames_to_ns(i64::try_from(n).unwrap_or(i64::MAX))).unwrap_or(0),
            )
        };
        (
            frames(state.core.added_latency_frames()),
            frames(state.core.max_added_latency_frames()),
        )
    }

    fn timer_loop(&self) {
        let deadline = lock(&self.state).core.next_deadline_ns();
        let now = now_ns();
        let wait_ns = deadline
            .map_or(TICK_INTERVAL_NS, |d| d.saturating_sub(now))
            .clamp(1_000_000, TICK_INTERVAL_NS);
        {
            let timer = lock(&self.timer);
            if timer.stop {
                let _ = self.srcpad.pause_task();
                return;
            }
            let (timer, _) = self
                .timer_cond
                .wait_timeout(timer, std::time::Duration::from_nanos(wait_ns))
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if timer.stop {
                drop(timer);
                let _ = self.srcpad.pause_task();
                return;
            }
        }
        self.core_call(|core, out| core.tick(now_ns(), out));
        let _ = self.drain();
    }

    // -----------------------------------------------------------------------------------------
    // Control.
}

impl ObjectImpl for SynchronizedSwitch {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("align-by", DEFAULT_ALIGN_BY)
                    .nick("Align by")
                    .blurb("How frames of different branches are recognised as the same frame: timecode (GstVideoTimeCodeMeta, from timecodeparse or timecodestamper), reference-timestamp (timestamp/x-unix meta from timecodeparse) or pts (running time; the branches must share a timeline)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-window")
                    .nick("Maximum window")
                    .blurb("Frames held per branch at most, waiting for their name to be output; bounds memory and the latency a switch to a lagging branch may add")
                    .minimum(1)
                    .maximum(100_000)
                    .default_value(DEFAULT_MAX_WINDOW)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("timeout")
                    .nick("Timeout")
                    .blurb("A branch that delivered no frame for this long (ns) while others did is stalled: the output fails over")
                    .minimum(1_000_000)
                    .default_value(DEFAULT_TIMEOUT.nseconds())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("auto-switch-back")
                    .nick("Auto switch back")
                    .blurb("After a failover, go back to a recovered branch of better priority once it has been healthy for switch-back-delay")
                    .default_value(DEFAULT_AUTO_SWITCH_BACK)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("switch-back-delay")
                    .nick("Switch-back delay")
                    .blurb("How long (ns) a recovered branch must be healthy without interruption before auto-switch-back picks it, so a flapping branch does not bounce the output")
                    .default_value(DEFAULT_SWITCH_BACK_DELAY.nseconds())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecObject::builder::<gst::Pad>("active-pad")
                    .nick("Active pad")
                    .blurb("The branch on air. Setting it requests a switch at the next frame where it is lossless (a keyframe of that branch); a refusal is posted as synchronizedswitch-switch-rejected")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("last-rejection")
                    .nick("Last rejection")
                    .blurb("Why the last switch request (active-pad, switch-at, switch-at-frame) was refused")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("frames-out, switches (total and switches-<reason>), frames-dropped-inactive/-window/-flushed, frames-unnamed, frames-mismatched, gaps, gap-frames, repeats, switch-failures")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("switch-at")
                    .param_types([gst::Pad::static_type(), String::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::SynchronizedSwitch>().ok()?;
                        let pad = args[1].get::<gst::Pad>().ok()?;
                        let timecode = args[2].get::<String>().ok()?;
                        Some(element.imp().switch_at_timecode(&pad, &timecode).to_value())
                    })
                    .build(),
                glib::subclass::Signal::builder("switch-at-frame")
                    .param_types([gst::Pad::static_type(), i64::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::SynchronizedSwitch>().ok()?;
                        let pad = args[1].get::<gst::Pad>().ok()?;
                        let frame = args[2].get::<i64>().ok()?;
                        Some(element.imp().switch_at_frame(&pad, frame).to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "align-by" => settings.align_by = value.get().unwrap_or(DEFAULT_ALIGN_BY),
            "max-window" => settings.max_window = value.get().unwrap_or(DEFAULT_MAX_WINDOW),
            "timeout" => {
                settings.timeout =
                    gst::ClockTime::from_nseconds(value.get().unwrap_or(DEFAULT_TIMEOUT.nseconds()))
            }
            "auto-switch-back" => {
                settings.auto_switch_back = value.get().unwrap_or(DEFAULT_AUTO_SWITCH_BACK)
            }
            "switch-back-delay" => {
                settings.switch_back_delay = gst::ClockTime::from_nseconds(
                    value.get().unwrap_or(DEFAULT_SWITCH_BACK_DELAY.nseconds()),
                )
            }
            "active-pad" => {
                drop(settings);
                if let Ok(Some(pad)) = value.get::<Option<gst::Pad>>() {
                    self.request_switch(&pad);
                }
                return;
            }
            _ => unreachable!("no other property is installed"),
        }
        let config = settings.switch_config();
        drop(settings);
        lock(&self.state).core.set_config(config);
        self.timer_cond.notify_one();
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = lock(&self.settings);
        match pspec.name() {
            "align-by" => settings.align_by.to_value(),
            "max-window" => settings.max_window.to_value(),
            "timeout" => settings.timeout.nseconds().to_value(),
            "auto-switch-back" => settings.auto_switch_back.to_value(),
            "switch-back-delay" => settings.switch_back_delay.nseconds().to_value(),
            "active-pad" => {
                drop(settings);
                let state = lock(&self.state);
                state
                    .core
                    .active_pad()
                    .and_then(|id| state.pad(id).cloned())
                    .map(|p| p.upcast::<gst::Pad>())
                    .to_value()
            }
            "last-rejection" => {
                drop(settings);
                lock(&self.state).last_rejection.to_value()
            }
            "stats" => {
                drop(settings);
                self.stats().to_value()
            }
            _ => unreachable!("no other property is installed"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj()
            .add_pad(&self.srcpad)
            .expect("the src pad is added once");
    }
}

impl GstObjectImpl for SynchronizedSwitch {}

/// The sink pads as children, so pad properties can be set by name (`sw.sink_1::priority=0`
/// from gst-launch-1.0, `gst_child_proxy_set` from an application), as fallbackswitch does.
impl ChildProxyImpl for SynchronizedSwitch {
    fn child_by_index(&self, index: u32) -> Option<glib::Object> {
        self.obj()
            .sink_pads()
            .into_iter()
            .nth(usize::try_from(index).ok()?)
            .map(|pad| pad.upcast())
    }

    fn children_count(&self) -> u32 {
        u32::from(self.obj().num_sink_pads())
    }

    fn child_by_name(&self, name: &str) -> Option<glib::Object> {
        self.obj().static_pad(name).map(|pad| pad.upcast())
    }
}

impl ElementImpl for SynchronizedSwitch {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Synchronized switch",
                "Generic/Video",
                "Outputs one stream from N redundant branches of the same content, every frame exactly once and in order: frames are aligned by timecode, UTC reference timestamp or running time; switches (active-pad, switch-at, switch-at-frame, failover on stall/EOS/error/timecode jump, auto-switch-back) happen only where nothing is lost or repeated, onto a keyframe of the incoming branch. Posts synchronizedswitch-switched, -gap, -switch-failed, -switch-rejected and -pad-refused element messages",
                "lockstep developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder_full()
                .structure(gst::Structure::new_empty("video/x-raw"))
                .structure(
                    gst::Structure::builder("video/x-h264")
                        .field("alignment", "au")
                        .build(),
                )
                .structure(
                    gst::Structure::builder("video/x-h265")
                        .field("alignment", "au")
                        .build(),
                )
                .build();
            vec![
                gst::PadTemplate::builder(
                    "sink_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &caps,
                )
                .gtype(super::SynchronizedSwitchSinkPad::static_type())
                .build()
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

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let number = {
            let mut next = lock(&self.next_pad_number);
            let number = match name.and_then(|n| n.strip_prefix("sink_")?.parse::<u32>().ok()) {
                Some(n) => n,
                None => *next,
            };
            *next = (*next).max(number.saturating_add(1));
            number
        };
        let pad = gst::PadBuilder::<super::SynchronizedSwitchSinkPad>::from_template(templ)
            .name(format!("sink_{number}"))
            .chain_function(|pad, parent, buffer| {
                SynchronizedSwitch::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |this| this.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                SynchronizedSwitch::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                SynchronizedSwitch::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_query(pad, query),
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        *lock(&pad.imp().priority) = number;
        lock(&pad.imp().stream).align_by = lock(&self.settings).align_by;
        {
            let mut state = lock(&self.state);
            let id = state.core.add_pad(number);
            pad.imp().reassign(id);
            state.pads.push((id, pad.clone()));
        }
        if self.obj().add_pad(&pad).is_ok() {
            self.obj().child_added(&pad, &pad.name());
        } else {
            gst::warning!(CAT, imp = self, "a pad named sink_{number} exists already");
            if let Some(id) = pad.imp().id() {
                self.core_call(|core, out| {
                    core.remove_pad(id, out);
                });
                lock(&self.state).pads.retain(|(pid, _)| *pid != id);
            }
            return None;
        }
        Some(pad.upcast())
    }

    fn release_pad(&self, pad: &gst::Pad) {
        if let Some(id) = self.pad_id(pad) {
            self.core_call(|core, out| {
                core.remove_pad(id, out);
            });
            lock(&self.state).pads.retain(|(pid, _)| *pid != id);
            let _ = self.drain();
        }
        let name = pad.name();
        if self.obj().remove_pad(pad).is_ok() {
            self.obj().child_removed(pad, &name);
        }
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => {
                let (config, align_by) = {
                    let settings = lock(&self.settings);
                    (settings.switch_config(), settings.align_by)
                };
                {
                    // A fresh core, with the pads that exist, in order and with their
                    // priorities (pad ids are the core's, so they are handed out again).
                    let mut state = lock(&self.state);
                    let pads = std::mem::take(&mut state.pads);
                    *state = State::new(config);
                    for (_, pad) in pads {
                        let priority = *lock(&pad.imp().priority);
                        let id = state.core.add_pad(priority);
                        pad.imp().reassign(id);
                        *lock(&pad.imp().stream) = PadStream {
                            align_by,
                            ..PadStream::default()
                        };
                        state.pads.push((id, pad));
                    }
                }
                *lock(&self.push) = PushState::default();
                self.output_decode_lead_ns.store(0, Ordering::Relaxed);
                lock(&self.timer).stop = false;
            }
            gst::StateChange::PausedToReady => {
                lock(&self.timer).stop = true;
                self.timer_cond.notify_all();
                let _ = self.srcpad.stop_task();
            }
            _ => {}
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::ReadyToPaused {
            let this = self.ref_counted();
            if let Err(err) = self.srcpad.start_task(move || this.timer_loop()) {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Thread,
                    ("Could not start the timer task: {err}")
                );
                return Err(gst::StateChangeError);
            }
        }
        Ok(ret)
    }
}
