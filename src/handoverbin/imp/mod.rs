// SPDX-License-Identifier: MPL-2.0
//! The `handoverbin` subclass: GStreamer glue around the negotiation endpoints of
//! [`crate::handover`] and an internal `synchronizedswitch`.
//!
//! Threads: each branch's streaming thread reports its encoded frames to its endpoint (a pad
//! probe on the branch's output); the internal switch's messages (switched, switch-failed) are
//! caught in `handle_message`; a timer thread ticks the endpoints while a handover runs. What the
//! endpoints decide is carried out after the state lock is released. Branches are added and
//! removed from the bin off the streaming threads (`call_async`).
//!
//! Lock order: settings → state. No lock is held while posting, emitting signals on the switch,
//! sending events or changing element states.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

mod branch;

use branch::Branch;

use crate::glue::lock;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::memory;
use crate::framemeta;
use crate::handover::{
    Action, Config, Criteria, FailureReason, FrameIndex, Message, Phase, TargetEndpoint,
    UpdatedEndpoint,
};
use crate::timecode::{FrameRate, Timecode};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "handoverbin",
        gst::DebugColorFlags::empty(),
        Some("Glitch-free encoder replacement at a negotiated frame"),
    )
});

const DEFAULT_ENCODER: &str = "x264enc tune=zerolatency";
const DEFAULT_HANDOVER_DELAY: gst::ClockTime = gst::ClockTime::from_seconds(1);
const DEFAULT_HANDOVER_ALIGNMENT: u32 = 1;
const DEFAULT_KEEP_TARGET: bool = false;
const DEFAULT_RELEASE_MEMORY: bool = true;
const DEFAULT_LEAD_FRAMES: u32 = 10;
const DEFAULT_READY_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(10);
const DEFAULT_STALL_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(2);
const TICK_INTERVAL: Duration = Duration::from_millis(20);

fn now_ns() -> u64 {
    gst::get_timestamp().nseconds()
}

#[derive(Debug, Clone)]
struct Settings {
    encoder: String,
    encoder_element: Option<gst::Element>,
    handover_delay: gst::ClockTime,
    handover_alignment: u32,
    keep_target: bool,
    release_memory: bool,
    lead_frames: u32,
    ready_timeout: gst::ClockTime,
    stall_timeout: gst::ClockTime,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            encoder: DEFAULT_ENCODER.to_string(),
            encoder_element: None,
            handover_delay: DEFAULT_HANDOVER_DELAY,
            handover_alignment: DEFAULT_HANDOVER_ALIGNMENT,
            keep_target: DEFAULT_KEEP_TARGET,
            release_memory: DEFAULT_RELEASE_MEMORY,
            lead_frames: DEFAULT_LEAD_FRAMES,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

/// The handover in progress: the updated branch and its endpoint.
struct Updated {
    endpoint: UpdatedEndpoint,
    branch: Branch,
    agreed: Option<FrameIndex>,
    /// A switch the internal switch could not take yet (the branch's first frames have not
    /// reached it): tried again with each of the branch's frames until the agreed one.
    pending_switch: Option<FrameIndex>,
}

struct State {
    target: TargetEndpoint,
    target_branch: Option<Branch>,
    updated: Option<Updated>,
    /// Branches kept as standbys (`keep-target`).
    standbys: Vec<Branch>,
    next_branch: u64,
    next_txn: u64,
    rate: Option<FrameRate>,
    /// The last input frame: its index and running time (where a future frame's running time
    /// comes from, for force-key-unit).
    last_input: Option<(FrameIndex, gst::ClockTime)>,
    /// The last input frame's timecode: how the agreed frame's label is told.
    last_timecode: Option<Timecode>,
    input_segment: gst::FormattedSegment<gst::ClockTime>,
    timer_running: bool,
    /// Why the last `update-encoder` returned FALSE.
    last_refusal: String,
    handovers_completed: u64,
    handovers_failed: u64,
}

impl State {
    fn new(config: Config) -> Self {
        State {
            target: TargetEndpoint::new(config),
            target_branch: None,
            updated: None,
            standbys: Vec::new(),
            next_branch: 0,
            next_txn: 1,
            rate: None,
            last_input: None,
            last_timecode: None,
            input_segment: gst::FormattedSegment::new(),
            timer_running: false,
            last_refusal: String::new(),
            handovers_completed: 0,
            handovers_failed: 0,
        }
    }

    /// The label of frame `frame`, from the last input frame's.
    fn timecode_of(&self, frame: FrameIndex) -> Option<Timecode> {
        let (last, _) = self.last_input?;
        let rate = self.rate?;
        Some(
            self.last_timecode?
                .add_frames(frame.checked_sub(last)?, rate),
        )
    }

    /// The running time frame `frame` will have at the input, from the last input frame.
    fn running_time_of(&self, frame: FrameIndex) -> Option<gst::ClockTime> {
        let (last, rt) = self.last_input?;
        let rate = self.rate?;
        let ns = i64::try_from(rt.nseconds())
            .ok()?
            .checked_add(rate.frames_to_ns(frame.checked_sub(last)?))?;
        u64::try_from(ns).ok().map(gst::ClockTime::from_nseconds)
    }
}

/// What to do after the state lock is released.
enum Deferred {
    Actions {
        role_updated: bool,
        actions: Vec<Action>,
    },
}

pub struct HandoverBin {
    sinkpad: gst::GhostPad,
    srcpad: gst::GhostPad,
    tee: gst::Element,
    switch: gst::Element,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for HandoverBin {
    const NAME: &'static str = "GstHandoverBin";
    type Type = super::HandoverBin;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let sink_templ = klass.pad_template("sink").expect("sink template");
        let src_templ = klass.pad_template("src").expect("src template");
        let sinkpad = gst::GhostPad::builder_from_template(&sink_templ)
            .name("sink")
            .build();
        let srcpad = gst::GhostPad::builder_from_template(&src_templ)
            .name("src")
            .build();
        let tee = gst::ElementFactory::make("tee")
            .name("split")
            .property("allow-not-linked", true)
            .build()
            .expect("tee is in GStreamer core");
        let switch = gst::ElementFactory::make("synchronizedswitch")
            .name("switch")
            // Two encoders' latencies differ by their look-ahead: room for that.
            .property("max-window", 64u32)
            .build()
            .expect("synchronizedswitch is registered with this plugin");
        HandoverBin {
            sinkpad,
            srcpad,
            tee,
            switch,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::new(Config::default())),
        }
    }
}

impl HandoverBin {
    fn config(settings: &Settings) -> Config {
        Config {
            lead_frames: settings.lead_frames,
            ready_timeout_ns: settings.ready_timeout.nseconds(),
            stall_timeout_ns: settings.stall_timeout.nseconds(),
            ..Config::default()
        }
    }

    /// Carries out endpoint actions; messages go to the other endpoint through their bytes.
    fn run(&self, first: Deferred) {
        let mut work = vec![first];
        while let Some(Deferred::Actions {
            role_updated,
            actions,
        }) = work.pop()
        {
            for action in actions {
                match action {
                    Action::Send(message) => {
                        let mut out = Vec::new();
                        let delivered_to_updated = !role_updated;
                        self.deliver(&message, delivered_to_updated, &mut out);
                        work.push(Deferred::Actions {
                            role_updated: delivered_to_updated,
                            actions: out,
                        });
                    }
                    Action::ScheduleKeyframe { frame } => self.force_keyframes(frame),
                    Action::ScheduleSwitch { frame } => self.schedule_switch(frame),
                    Action::Negotiated(agreement) => {
                        if role_updated {
                            if let Some(updated) = lock(&self.state).updated.as_mut() {
                                updated.agreed = Some(agreement.frame);
                            }
                            let (rt, timecode) = {
                                let state = lock(&self.state);
                                (
                                    state.running_time_of(agreement.frame),
                                    state.timecode_of(agreement.frame),
                                )
                            };
                            self.post(
                                gst::Structure::builder("handover-negotiated")
                                    .field("frame", agreement.frame)
                                    .field(
                                        "timecode",
                                        timecode.map(|tc| tc.to_string()).unwrap_or_default(),
                                    )
                                    .field("running-time", rt)
                                    .field("attempt", agreement.attempt)
                                    .field("round", agreement.round)
                                    .field("caps-changed", agreement.caps_changed)
                                    .build(),
                            );
                        }
                    }
                    Action::KeyframeMissed {
                        frame,
                        cause,
                        attempt,
                    } => {
                        if role_updated {
                            gst::warning!(
                                CAT,
                                imp = self,
                                "handover frame {frame} missed ({cause}), attempt {attempt}: renegotiating"
                            );
                        }
                    }
                    Action::Complete(completion) => {
                        if role_updated {
                            lock(&self.state).handovers_completed += 1;
                            self.post(
                                gst::Structure::builder("handover-complete")
                                    .field("target-last-frame", completion.target_last)
                                    .field("updated-first-frame", completion.updated_first)
                                    .field("agreed-frame", completion.agreed.unwrap_or(-1))
                                    .field("peer-confirmed", completion.peer_confirmed)
                                    .build(),
                            );
                            self.promote_updated();
                        }
                    }
                    Action::ReleaseTarget => self.release_target(),
                    Action::Failed(failure) => {
                        if role_updated {
                            lock(&self.state).handovers_failed += 1;
                            gst::warning!(CAT, imp = self, "handover failed: {}", failure.reason);
                            self.post(
                                gst::Structure::builder("handover-failed")
                                    .field("reason", failure.reason.as_str())
                                    .field("message", failure.reason.to_string())
                                    .field("phase", failure.phase.as_str())
                                    .build(),
                            );
                            self.drop_updated();
                        }
                    }
                }
            }
        }
    }

    /// Delivers `message` to one endpoint, through its wire form.
    fn deliver(&self, message: &Message, to_updated: bool, out: &mut Vec<Action>) {
        let bytes = message.encode();
        let now = now_ns();
        let mut state = lock(&self.state);
        let result = if to_updated {
            match state.updated.as_mut() {
                Some(updated) => updated.endpoint.receive_bytes(&bytes, now, out),
                None => Ok(()),
            }
        } else {
            state.target.receive_bytes(&bytes, now, out)
        };
        if let Err(e) = result {
            gst::warning!(CAT, imp = self, "undecodable handover message: {e}");
        }
    }

    /// Force-key-unit for `frame` on both encoders: the updated one must start there with a
    /// keyframe, and a keyframe of the target there is a cut even when it reorders frames.
    fn force_keyframes(&self, frame: FrameIndex) {
        let (rt, branches) = {
            let state = lock(&self.state);
            let branches: Vec<gst::Bin> = state
                .target_branch
                .iter()
                .chain(state.updated.as_ref().map(|u| &u.branch))
                .map(|b| b.bin.clone())
                .collect();
            (state.running_time_of(frame), branches)
        };
        let Some(rt) = rt else {
            gst::warning!(CAT, imp = self, "no running time for frame {frame} yet");
            return;
        };
        gst::debug!(CAT, imp = self, "force-key-unit for frame {frame} at {rt}");
        for bin in branches {
            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                .running_time(rt)
                .all_headers(true)
                .build();
            if let Some(src) = bin.static_pad("src") {
                src.send_event(event);
            }
        }
    }

    fn schedule_switch(&self, frame: FrameIndex) {
        let newest = lock(&self.state)
            .updated
            .as_ref()
            .and_then(|u| u.endpoint.sync_info().position.map(|p| p.last_frame));
        self.try_switch(frame, newest.unwrap_or(FrameIndex::MIN));
    }

    /// Asks the internal switch for the handover at `frame`; `newest` is the updated branch's
    /// newest encoded frame (not yet at the switch). A refusal while the branch has not reached
    /// `frame` is retried with its next frame; after that, the switch failed.
    fn try_switch(&self, frame: FrameIndex, newest: FrameIndex) {
        let pad = lock(&self.state)
            .updated
            .as_ref()
            .map(|u| u.branch.switch_pad.clone());
        let Some(pad) = pad else {
            return;
        };
        let ok: bool = self.switch.emit_by_name("switch-at-frame", &[&pad, &frame]);
        if ok {
            return;
        }
        let reason = self.switch.property::<String>("last-rejection");
        if newest < frame {
            gst::debug!(
                CAT,
                imp = self,
                "switch at {frame} not possible yet ({reason}): trying again with the next frame"
            );
            if let Some(updated) = lock(&self.state).updated.as_mut() {
                updated.pending_switch = Some(frame);
            }
            return;
        }
        gst::info!(CAT, imp = self, "switch at {frame} refused: {reason}");
        self.switch_failed(frame);
    }

    fn switch_failed(&self, frame: FrameIndex) {
        let mut out = Vec::new();
        let now = now_ns();
        {
            let mut state = lock(&self.state);
            if let Some(updated) = state.updated.as_mut() {
                updated.endpoint.switch_failed(frame, now, &mut out);
            }
        }
        self.run(Deferred::Actions {
            role_updated: true,
            actions: out,
        });
    }

    /// The internal switch changed branch.
    fn switched(&self, new_pad: &str, frame: FrameIndex) {
        let now = now_ns();
        let (mut target_out, mut updated_out) = (Vec::new(), Vec::new());
        {
            let mut state = lock(&self.state);
            let to_updated = state
                .updated
                .as_ref()
                .is_some_and(|u| u.branch.switch_pad.name() == new_pad);
            if !to_updated {
                return;
            }
            state.target.handed_over(frame, now, &mut target_out);
            if let Some(updated) = state.updated.as_mut() {
                updated.endpoint.handed_over(frame, now, &mut updated_out);
            }
        }
        self.run(Deferred::Actions {
            role_updated: false,
            actions: target_out,
        });
        self.run(Deferred::Actions {
            role_updated: true,
            actions: updated_out,
        });
    }

    /// After a completed handover the updated branch is the running one.
    fn promote_updated(&self) {
        let keep = lock(&self.settings).keep_target;
        let mut state = lock(&self.state);
        let Some(updated) = state.updated.take() else {
            return;
        };
        let old = state.target_branch.replace(updated.branch.clone());
        let config = *updated.endpoint.config();
        state.target = updated
            .endpoint
            .into_target()
            .unwrap_or_else(|| TargetEndpoint::new(config));
        // The switch happened and the updated side confirmed: the replaced branch goes now,
        // whether or not the old target endpoint has finished its side (its ReleaseTarget
        // may come later, or never if its confirmation was lost).
        let remove_now = !keep;
        let mut to_remove = None;
        if let Some(old) = old {
            if remove_now {
                to_remove = Some(old);
            } else {
                state.standbys.push(old);
            }
        }
        drop(state);
        // The new branch is the preferred one from now on.
        updated.branch.switch_pad.set_property("priority", 0u32);
        if let Some(old) = to_remove {
            self.remove_later(old);
        }
        if keep {
            self.demote_standbys();
        }
    }

    /// The target endpoint is done with the replaced branch: standbys go (or, with
    /// `keep-target`, stay at a lower priority). The replaced branch itself is removed by the
    /// promotion already.
    fn release_target(&self) {
        if lock(&self.settings).keep_target {
            self.demote_standbys();
            return;
        }
        let olds: Vec<Branch> = std::mem::take(&mut lock(&self.state).standbys);
        for old in olds {
            self.remove_later(old);
        }
    }

    fn demote_standbys(&self) {
        let pads: Vec<gst::Pad> = lock(&self.state)
            .standbys
            .iter()
            .map(|b| b.switch_pad.clone())
            .collect();
        for (i, pad) in pads.iter().rev().enumerate() {
            pad.set_property("priority", 1 + u32::try_from(i).unwrap_or(u32::MAX - 1));
        }
    }

    fn drop_updated(&self) {
        let updated = lock(&self.state).updated.take();
        if let Some(updated) = updated {
            // A scheduled switch that may still be pending is cancelled by asking for the
            // target again.
            if let Some(target) = lock(&self.state).target_branch.as_ref() {
                self.switch.set_property("active-pad", &target.switch_pad);
            }
            self.remove_later(updated.branch);
        }
    }

    fn post(&self, structure: gst::Structure) {
        let _ = self.obj().post_message(
            gst::message::Element::builder(structure)
                .src(&*self.obj())
                .build(),
        );
    }

    /// The `update-encoder` action signal.
    fn update_encoder(&self, description: Option<&str>, element: Option<gst::Element>) -> bool {
        let label = description.map_or_else(
            || {
                element
                    .as_ref()
                    .and_then(|e| e.factory())
                    .map_or("element".into(), |f| f.name().to_string())
            },
            str::to_string,
        );
        let refuse = |reason: String| {
            gst::warning!(
                CAT,
                imp = self,
                "update-encoder ({label}) refused: {reason}"
            );
            lock(&self.state).last_refusal = reason;
            false
        };
        let busy = {
            let state = lock(&self.state);
            if let Some(in_progress) = state.target.in_progress() {
                Some(in_progress.to_string())
            } else if state.updated.is_some() {
                Some("a handover is already in progress".to_string())
            } else if state.target_branch.is_none() {
                Some("the bin is not running (no target encoder yet)".to_string())
            } else if state.rate.is_none() || state.last_input.is_none() {
                Some("no timecoded frame has arrived yet".to_string())
            } else {
                None
            }
        };
        if let Some(reason) = busy {
            return refuse(reason);
        }
        let settings = lock(&self.settings).clone();
        let branch = match self.add_branch(description, element, 1) {
            Ok(branch) => branch,
            Err(e) => return refuse(e),
        };
        let now = now_ns();
        let mut out = Vec::new();
        let txn = {
            let mut state = lock(&self.state);
            let rate = state
                .rate
                .unwrap_or_else(|| FrameRate::new(25, 1).expect("25/1"));
            let delay_frames = rate
                .ns_to_frames(i64::try_from(settings.handover_delay.nseconds()).unwrap_or(i64::MAX))
                .saturating_add(1);
            let criteria = Criteria {
                delay_frames: u32::try_from(delay_frames).unwrap_or(u32::MAX),
                alignment: settings.handover_alignment,
            };
            let txn = state.next_txn;
            state.next_txn += 1;
            let endpoint =
                UpdatedEndpoint::start(txn, criteria, Self::config(&settings), now, &mut out);
            state.updated = Some(Updated {
                endpoint,
                branch: branch.clone(),
                agreed: None,
                pending_switch: None,
            });
            txn
        };
        self.post(
            gst::Structure::builder("handover-requested")
                .field("encoder", label)
                .field("transaction", txn)
                .build(),
        );
        self.start_timer();
        self.run(Deferred::Actions {
            role_updated: true,
            actions: out,
        });
        true
    }

    /// Ticks the endpoints while a handover runs.
    fn start_timer(&self) {
        {
            let mut state = lock(&self.state);
            if state.timer_running {
                return;
            }
            state.timer_running = true;
        }
        let weak = self.obj().downgrade();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(TICK_INTERVAL);
                let Some(this) = weak.upgrade() else {
                    return;
                };
                if !this.imp().tick() {
                    lock(&this.imp().state).timer_running = false;
                    return;
                }
            }
        });
    }

    /// One tick; false when nothing is in progress any more.
    fn tick(&self) -> bool {
        let now = now_ns();
        let (mut target_out, mut updated_out) = (Vec::new(), Vec::new());
        let busy = {
            let mut state = lock(&self.state);
            state.target.tick(now, &mut target_out);
            if let Some(updated) = state.updated.as_mut() {
                updated.endpoint.tick(now, &mut updated_out);
            }
            state.updated.is_some() || state.target.phase().is_active()
        };
        self.run(Deferred::Actions {
            role_updated: false,
            actions: target_out,
        });
        self.run(Deferred::Actions {
            role_updated: true,
            actions: updated_out,
        });
        busy
    }

    fn abort_updated(&self, reason: FailureReason) {
        let mut out = Vec::new();
        {
            let mut state = lock(&self.state);
            if let Some(updated) = state.updated.as_mut() {
                updated.endpoint.abort(reason, &mut out);
            }
        }
        self.run(Deferred::Actions {
            role_updated: true,
            actions: out,
        });
    }

    /// Input probe: the frame rate and the running time of the newest frame.
    fn on_input(&self, buffer: &gst::BufferRef) {
        let Some(Ok(meta)) = framemeta::timecode_of(buffer, None) else {
            return;
        };
        let mut state = lock(&self.state);
        let Some(rt) = buffer
            .pts()
            .and_then(|pts| state.input_segment.to_running_time(pts))
        else {
            return;
        };
        state.rate = Some(meta.rate);
        state.last_input = Some((meta.frame_index(), rt));
        state.last_timecode = Some(meta.timecode);
    }
}

impl ObjectImpl for HandoverBin {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("encoder")
                    .nick("Encoder")
                    .blurb("The running encoder as a bin description (e.g. \"x264enc tune=zerolatency key-int-max=60 ! h264parse\"), used when the bin starts; it must keep GstVideoTimeCodeMeta (video encoders do)")
                    .default_value(Some(DEFAULT_ENCODER))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecObject::builder::<gst::Element>("encoder-element")
                    .nick("Encoder element")
                    .blurb("The running encoder as an element set by the application (instead of encoder)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("handover-delay")
                    .nick("Handover delay")
                    .blurb("Minimum parallel run of the updated encoder before the handover (ns), so its rate control and look-ahead settle")
                    .default_value(DEFAULT_HANDOVER_DELAY.nseconds())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("handover-alignment")
                    .nick("Handover alignment")
                    .blurb("The handover frame is a multiple of this many frames (e.g. the segment length, so downstream segments keep their grid); 0 or 1 = any frame")
                    .default_value(DEFAULT_HANDOVER_ALIGNMENT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("keep-target")
                    .nick("Keep target")
                    .blurb("Keep the replaced encoder running as a lower-priority standby instead of removing it")
                    .default_value(DEFAULT_KEEP_TARGET)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("release-memory")
                    .nick("Release memory")
                    .blurb("Give replaced encoders' memory back to the system: fixes glibc's mmap threshold at 128 KiB and caps its arenas at 2 per core, process-wide, and trims after each handover. false: leave the allocator alone")
                    .default_value(DEFAULT_RELEASE_MEMORY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("lead-frames")
                    .nick("Lead frames")
                    .blurb("Safety margin (frames) between a branch's newest frame and the handover frame, so the force-key-unit reaches the updated encoder in time; raise it for encoders with a long look-ahead")
                    .minimum(1)
                    .default_value(DEFAULT_LEAD_FRAMES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("ready-timeout")
                    .nick("Ready timeout")
                    .blurb("How long (ns) the updated encoder may take to produce its first frame before the handover is abandoned (not-ready)")
                    .default_value(DEFAULT_READY_TIMEOUT.nseconds())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("stall-timeout")
                    .nick("Stall timeout")
                    .blurb("How long (ns) the updated encoder may go without producing a frame before the handover is abandoned (branch-stalled)")
                    .default_value(DEFAULT_STALL_TIMEOUT.nseconds())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("last-refusal")
                    .nick("Last refusal")
                    .blurb("Why the last update-encoder returned FALSE (a handover in progress, a description that does not parse or link)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("phase")
                    .nick("Phase")
                    .blurb("Where the current handover stands (idle, notifying, syncing, proposing, answering, armed, renegotiating, completing, complete, failed)")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("handovers-completed, handovers-failed, branches (encoder branches in the bin)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("update-encoder")
                    .param_types([String::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let bin = args[0].get::<super::HandoverBin>().ok()?;
                        let description = args[1].get::<String>().ok()?;
                        Some(
                            bin.imp()
                                .update_encoder(Some(&description), None)
                                .to_value(),
                        )
                    })
                    .build(),
                glib::subclass::Signal::builder("update-encoder-element")
                    .param_types([gst::Element::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let bin = args[0].get::<super::HandoverBin>().ok()?;
                        let element = args[1].get::<gst::Element>().ok()?;
                        Some(bin.imp().update_encoder(None, Some(element)).to_value())
                    })
                    .build(),
                glib::subclass::Signal::builder("abort-handover")
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let bin = args[0].get::<super::HandoverBin>().ok()?;
                        let running = lock(&bin.imp().state).updated.is_some();
                        bin.imp().abort_updated(FailureReason::Aborted);
                        Some(running.to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "encoder" => {
                settings.encoder = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| DEFAULT_ENCODER.to_string())
            }
            "encoder-element" => settings.encoder_element = value.get().ok().flatten(),
            "handover-delay" => {
                settings.handover_delay = gst::ClockTime::from_nseconds(
                    value.get().unwrap_or(DEFAULT_HANDOVER_DELAY.nseconds()),
                )
            }
            "handover-alignment" => {
                settings.handover_alignment = value.get().unwrap_or(DEFAULT_HANDOVER_ALIGNMENT)
            }
            "keep-target" => settings.keep_target = value.get().unwrap_or(DEFAULT_KEEP_TARGET),
            "release-memory" => {
                settings.release_memory = value.get().unwrap_or(DEFAULT_RELEASE_MEMORY)
            }
            "lead-frames" => settings.lead_frames = value.get().unwrap_or(DEFAULT_LEAD_FRAMES),
            "ready-timeout" => {
                settings.ready_timeout = gst::ClockTime::from_nseconds(
                    value.get().unwrap_or(DEFAULT_READY_TIMEOUT.nseconds()),
                )
            }
            "stall-timeout" => {
                settings.stall_timeout = gst::ClockTime::from_nseconds(
                    value.get().unwrap_or(DEFAULT_STALL_TIMEOUT.nseconds()),
                )
            }
            _ => unreachable!("no other property is installed"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "encoder" => lock(&self.settings).encoder.to_value(),
            "encoder-element" => lock(&self.settings).encoder_element.to_value(),
            "handover-delay" => lock(&self.settings).handover_delay.nseconds().to_value(),
            "handover-alignment" => lock(&self.settings).handover_alignment.to_value(),
            "keep-target" => lock(&self.settings).keep_target.to_value(),
            "release-memory" => lock(&self.settings).release_memory.to_value(),
            "lead-frames" => lock(&self.settings).lead_frames.to_value(),
            "ready-timeout" => lock(&self.settings).ready_timeout.nseconds().to_value(),
            "stall-timeout" => lock(&self.settings).stall_timeout.nseconds().to_value(),
            "last-refusal" => lock(&self.state).last_refusal.to_value(),
            "phase" => {
                let state = lock(&self.state);
                let phase = state
                    .updated
                    .as_ref()
                    .map_or(state.target.phase(), |u| u.endpoint.phase());
                let phase = if phase == Phase::Idle {
                    "idle"
                } else {
                    phase.as_str()
                };
                phase.to_value()
            }
            "stats" => {
                let state = lock(&self.state);
                let branches = usize::from(state.target_branch.is_some())
                    + usize::from(state.updated.is_some())
                    + state.standbys.len();
                gst::Structure::builder("stats")
                    .field("handovers-completed", state.handovers_completed)
                    .field("handovers-failed", state.handovers_failed)
                    .field("branches", u32::try_from(branches).unwrap_or(u32::MAX))
                    .build()
                    .to_value()
            }
            _ => unreachable!("no other property is installed"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_many([&self.tee, &self.switch])
            .expect("tee and switch are added once");
        self.sinkpad
            .set_target(Some(&self.tee.static_pad("sink").expect("tee sink")))
            .expect("ghost sink targets the tee");
        self.srcpad
            .set_target(Some(&self.switch.static_pad("src").expect("switch src")))
            .expect("ghost src targets the switch");
        obj.add_pad(&self.sinkpad)
            .expect("sink ghost pad added once");
        obj.add_pad(&self.srcpad).expect("src ghost pad added once");
        let weak = obj.downgrade();
        self.tee.static_pad("sink").expect("tee sink").add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let Some(this) = weak.upgrade() else {
                    return gst::PadProbeReturn::Ok;
                };
                match &info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => this.imp().on_input(buffer),
                    Some(gst::PadProbeData::Event(event)) => {
                        if let gst::EventView::Segment(s) = event.view()
                            && let Some(segment) = s.segment().downcast_ref::<gst::ClockTime>()
                        {
                            lock(&this.imp().state).input_segment = segment.clone();
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
}

impl GstObjectImpl for HandoverBin {}

impl ElementImpl for HandoverBin {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Encoder handover bin",
                "Codec/Encoder/Video/Bin",
                "Replaces a running encoder with no glitch: update-encoder starts the updated encoder beside the running one on the same timecoded frames, the two negotiate a handover frame (handover-delay, handover-alignment), both get a force-key-unit there, the output switches exactly at that frame through synchronizedswitch, and the replaced encoder is removed. Posts handover-requested, -negotiated, -complete and -failed",
                "lockstep developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &gst::Caps::new_empty_simple("video/x-raw"),
                )
                .expect("valid sink template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &gst::Caps::new_any(),
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
        if transition == gst::StateChange::NullToReady {
            let settings = lock(&self.settings).clone();
            if settings.release_memory {
                memory::tune_allocator();
            }
            *lock(&self.state) = State::new(Self::config(&settings));
            let branch = match settings.encoder_element.clone() {
                Some(element) => self.add_branch(None, Some(element), 0),
                None => self.add_branch(Some(&settings.encoder), None, 0),
            };
            match branch {
                Ok(branch) => lock(&self.state).target_branch = Some(branch),
                Err(e) => {
                    gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", e));
                    return Err(gst::StateChangeError);
                }
            }
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::ReadyToNull {
            let branches: Vec<Branch> = {
                let mut state = lock(&self.state);
                let mut all: Vec<Branch> = state.target_branch.take().into_iter().collect();
                all.extend(state.updated.take().map(|u| u.branch));
                all.append(&mut state.standbys);
                all
            };
            for branch in branches {
                self.remove_branch(&branch);
            }
        }
        Ok(ret)
    }
}

impl BinImpl for HandoverBin {
    fn handle_message(&self, message: gst::Message) {
        use gst::MessageView;
        match message.view() {
            MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && message.src() == Some(self.switch.upcast_ref::<gst::Object>())
                {
                    match s.name().as_str() {
                        "synchronizedswitch-switched" => {
                            if let (Ok(pad), Ok(frame)) =
                                (s.get::<String>("new-pad"), s.get::<i64>("frame"))
                            {
                                self.switched(&pad, frame);
                            }
                        }
                        "synchronizedswitch-pad-refused" => {
                            // The switch refuses the updated branch's caps (other content:
                            // size, rate, format): that branch cannot take over.
                            let updated_pad = lock(&self.state)
                                .updated
                                .as_ref()
                                .map(|u| u.branch.switch_pad.name().to_string());
                            if let (Ok(pad), Some(updated)) = (s.get::<&str>("pad"), updated_pad)
                                && pad == updated
                            {
                                self.abort_updated(FailureReason::CapsNegotiationFailed);
                            }
                        }
                        "synchronizedswitch-switch-failed" => {
                            let agreed = lock(&self.state).updated.as_ref().and_then(|u| u.agreed);
                            if let (Ok(frame), Some(agreed)) = (s.get::<i64>("frame"), agreed)
                                && frame == agreed
                            {
                                self.switch_failed(frame);
                            }
                        }
                        _ => {}
                    }
                }
                self.parent_handle_message(message);
            }
            MessageView::Error(err) => {
                let from_updated = message.src().is_some_and(|src| self.in_updated_branch(src));
                if from_updated {
                    // The updated branch failed: the handover is abandoned, the target keeps the
                    // output, and the error does not reach the pipeline.
                    let negotiation = err.error().matches(gst::CoreError::Negotiation)
                        || err.error().matches(gst::StreamError::Format)
                        || err.debug().is_some_and(|d| d.contains("not-negotiated"));
                    let reason = if negotiation {
                        FailureReason::CapsNegotiationFailed
                    } else {
                        FailureReason::BranchError
                    };
                    gst::warning!(
                        CAT,
                        imp = self,
                        "updated encoder branch error ({}): {}",
                        reason.as_str(),
                        err.error()
                    );
                    self.abort_updated(reason);
                } else {
                    self.parent_handle_message(message);
                }
            }
            _ => self.parent_handle_message(message),
        }
    }
}
