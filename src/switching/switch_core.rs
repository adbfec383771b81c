// SPDX-License-Identifier: MPL-2.0
//! [`SwitchCore`]: the alignment window and the switch scheduling.

use std::collections::VecDeque;

use super::{
    DropCause, FrameIndex, FrameKind, Nanos, Output, PadId, Reject, SwitchConfig, SwitchFailure,
    SwitchReason, SwitchStats,
};

/// A frame waiting in a pad's queue.
#[derive(Debug)]
struct QueuedFrame<T> {
    index: FrameIndex,
    keyframe: bool,
    /// The output may leave this pad just before this frame ([`FrameKind::cut`]).
    cut: bool,
    /// When it was pushed (the core's clock): the age of the oldest waiting frame bounds how
    /// long the output waits for anything.
    arrived_ns: Nanos,
    payload: T,
}

/// How a pad stopped delivering; cleared by its next frame (a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Eos,
    Error,
}

#[derive(Debug)]
struct PadState<T> {
    id: PadId,
    priority: u32,
    /// Frames not yet output, strictly increasing indices, all ≥ `next_index` between calls.
    queue: VecDeque<QueuedFrame<T>>,
    /// The index of the last frame pushed (queued or not).
    last_index: Option<FrameIndex>,
    last_push_ns: Option<Nanos>,
    ended: Option<Ended>,
    /// Since when the pad has delivered without interruption (no EOS, error, silence of
    /// `timeout`, skipped index, or being out of step): the clock auto-switch-back reads.
    healthy_since_ns: Option<Nanos>,
}

impl<T> PadState<T> {
    fn front_index(&self) -> Option<FrameIndex> {
        self.queue.front().map(|frame| frame.index)
    }

    /// No frame for `timeout_ns` (or never one).
    fn silent(&self, now_ns: Nanos, timeout_ns: Nanos) -> bool {
        self.last_push_ns
            .is_none_or(|last| now_ns.saturating_sub(last) >= timeout_ns)
    }

    fn frame_at(&self, index: FrameIndex) -> Option<&QueuedFrame<T>> {
        let position = self
            .queue
            .binary_search_by_key(&index, |frame| frame.index)
            .ok()?;
        self.queue.get(position)
    }

    /// The first queued frame at or after `from` the output could switch onto.
    fn first_switchable(&self, from: FrameIndex, encoded: bool) -> Option<FrameIndex> {
        self.queue
            .iter()
            .find(|frame| frame.index >= from && (frame.keyframe || !encoded))
            .map(|frame| frame.index)
    }
}

/// What a pending request does at the current `next_index`.
enum Step {
    /// A switch happened: emit the new pad's frame at `next_index` now.
    Switched,
    /// A request was dropped (and reported); look again.
    Retry,
    /// Hold the output: the switch target has not delivered `next_index` yet but will soon.
    Hold,
    /// Nothing to do for requests; go on with the active pad.
    Proceed,
}

/// Whether the output may leave the active pad at `next_index` (see [`FrameKind::cut`]).
enum Leave {
    /// Yes: the active pad's frame there is a cut, or the pad cannot deliver it anyway.
    Yes,
    /// No: the active pad reorders frames across that index.
    No,
    /// Not known yet: the active pad owes that frame and will say.
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingSwitch {
    Manual { pad: PadId },
    Scheduled { pad: PadId, at: FrameIndex },
}

impl PendingSwitch {
    fn pad(self) -> PadId {
        match self {
            PendingSwitch::Manual { pad } | PendingSwitch::Scheduled { pad, .. } => pad,
        }
    }
}

/// A failover candidate: where the output could go on from, and from which pad.
#[derive(Debug, Clone, Copy)]
struct Entry {
    pad_position: usize,
    index: FrameIndex,
}

/// The switching core: per-pad alignment windows, the active pad, and the switching policies.
///
/// Generic over the payload `T` (the glue's `gst::Buffer`), which is moved, never cloned.
/// Every input method appends what the glue must do to `out`, in order; the glue acts on each
/// [`Output`] in turn:
///
/// - [`Output::Emit`]: push the buffer on the src pad. Before the first `Emit` after a
///   [`Output::Switched`], send the new pad's caps (when they differ) and any sticky events;
///   set DISCONT when `discont` is true; restamp so PTS/DTS stay continuous.
/// - [`Output::Drop`]: unref the buffer.
/// - [`Output::Switched`]: post `synchronizedswitch-switched` (old pad, new pad, timecode and
///   frame count of `at`, running time, reason), update `active-pad`, notify.
/// - [`Output::Gap`]: send a GAP event (or just let the next buffer carry DISCONT) and count.
/// - [`Output::SwitchFailed`]: post a warning/element message with the reason.
///
/// The glue calls [`SwitchCore::tick`] on a timer — at [`SwitchCore::next_deadline_ns`], or
/// periodically — so that stalls are noticed when no frame arrives.
/// It answers latency queries with [`SwitchCore::added_latency_frames`] as the minimum and
/// [`SwitchCore::max_added_latency_frames`] as the maximum, times the frame period. When
/// [`SwitchCore::all_ended`] it forwards EOS. It must never block a chain function: the core
/// queues and returns, which is why the `tee` → two encoders → switch topology cannot deadlock.
///
/// # Policies
///
/// **Health.** A pad is healthy ([`SwitchCore::is_healthy`]) when it has delivered a frame, has
/// not reached EOS or errored since, is not stalled (no frame for `timeout` while another pad
/// delivered one in the last `timeout`), and is in step: its last index is within `max_window`
/// of `next_index`, on either side. A frame on a pad that reached EOS or errored restarts it.
///
/// **Initial choice.** Before any frame is output, the core picks the pad of best priority (then
/// lowest [`PadId`]) that holds a switchable frame (a keyframe in encoded mode) and starts at its
/// first one. It waits for a better-priority pad that is still expected (not ended, delivered or
/// was added less than `timeout` ago) as long as the oldest waiting frame is younger than
/// `timeout` and the chosen pad's queue is not full.
///
/// **The active path.** The active pad's frame at `next_index` is emitted at once. Frames of
/// other pads wait until their index is output, then are dropped ([`DropCause::AlreadyOutput`]).
/// The active pad *owes* `next_index` while it is not ended, has not gone past it, is not behind
/// it by more than `max_window`, and is not stalled; while it owes, the core waits for it.
///
/// **Failover.** The active pad cannot deliver `next_index` when it reached EOS (reason
/// [`SwitchReason::Eos`]), errored (`Error`), went past it — skipped frames, or its index jumped
/// out of the window in either direction (`Discontinuity`) — or stalled: it has been silent for
/// `timeout` and the oldest frame waiting on any pad is `timeout` old (`Timeout`). Then every pad
/// offers an *entry*: the first switchable frame ≥ `next_index` it holds (the active pad itself
/// offers its next frame, whatever it is, since its own stream continues — that is how frames an
/// encoder lost become a gap without a switch). The output goes on from the **earliest entry**;
/// ties go to the active pad, then the target of a pending request, then best priority, then
/// lowest [`PadId`]. Earliest first is what
/// "at the first frame it can output losslessly" means, and it is what makes failover lose nothing
/// whenever any branch holds the frames; with auto-switch-back the preferred pad comes back at its
/// next keyframe.
///
/// **When no entry is at `next_index` (the backup has no keyframe there).** Emitting a
/// non-keyframe of the new pad is never an option in encoded mode, so the frames up to the next
/// entry are lost. The core does not decide on the first entry it sees: it keeps emitting nothing
/// while another pad could still offer an earlier entry — a pad that is not ended, has delivered a
/// frame in the last `timeout`, is in step, and whose last index is before the best entry so far —
/// and decides at once when the best entry is `next_index`, when no such pad is left, when the
/// oldest waiting frame is `timeout` old, or when the best pad's queue is full (waiting longer
/// would drop its frames). It then reports `Gap { from: next_index, to: entry }`, then
/// `Switched { at: entry }` (unless the entry is the active pad's), then emits the entry frame.
/// A switch or a gap is always followed at once by the frame it announces: no request can hold
/// the output in between (a request for that same index that the decision did not satisfy
/// fails with [`SwitchFailure::Skipped`]).
/// The wait adds at most `min(timeout, max_window frames)` of latency, only during failover.
///
/// **Manual switches** ([`SwitchCore::request_switch`]) happen at the first `next_index` where
/// the target holds a switchable frame. When the target lags behind the active pad (it has not
/// delivered `next_index` yet, is in step and not silent), the output holds the active pad's frame
/// until the target's frame arrives, so a slightly late branch can be switched to; the hold ends
/// when the active pad's queue is full or the target goes silent for `timeout`. A request stays
/// pending until done, replaced by another request, or its pad ends or is removed
/// ([`Output::SwitchFailed`]).
///
/// **Scheduled switches** ([`SwitchCore::schedule_switch`]) happen exactly at `at`, holding the
/// output for a lagging target the same way; if the target's frame `at` is not a keyframe, or it
/// cannot deliver it, or the output skips `at` in a gap, [`Output::SwitchFailed`] is emitted and the
/// output stays where it is. One request (manual or scheduled) is pending at a time; a new one
/// replaces it.
///
/// **Auto-switch-back** ([`SwitchConfig::auto_switch_back`]) is armed by automatic switches
/// (initial choice, failovers) and disarmed by manual and scheduled ones — an operator's choice
/// is not undone. When armed, the pad of best priority strictly better than the active pad's,
/// healthy without interruption for `switch_back_delay_ns`, is switched to at its first keyframe
/// at `next_index` (reason [`SwitchReason::Priority`]; lagging targets are held for as above).
/// Any EOS, error, silence of `timeout`, skipped index or out-of-step push restarts that pad's
/// clock, so a flapping pad never qualifies and the output does not bounce.
///
/// **Late joiners and rejoins.** A pad added or restarted mid-stream has its frames behind
/// `next_index` dropped; it becomes a candidate once it holds frames ≥ `next_index`, and healthy
/// once in step.
///
/// **Window.** A queue holds at most `max_window` frames; when a push would exceed it the core
/// first gives its pending decisions the chance to use the frames (a hold ends, a failover
/// decides), then drops the oldest ([`DropCause::Window`]).
#[derive(Debug)]
pub struct SwitchCore<T> {
    config: SwitchConfig,
    pads: Vec<PadState<T>>,
    next_pad_id: u32,
    active: Option<PadId>,
    /// The active pad when it was removed, until the failover names it as `from`.
    removed_active: Option<PadId>,
    /// The next frame index to output; set by the first one.
    next_index: Option<FrameIndex>,
    /// The next emitted frame is the first after a switch or a gap.
    discont_pending: bool,
    pending: Option<PendingSwitch>,
    switch_back_armed: bool,
    /// The latest time seen (monotonic even if the caller's is not).
    now_ns: Nanos,
    last_emitted: Option<FrameIndex>,
    stats: SwitchStats,
}

impl<T> SwitchCore<T> {
    /// A core with no pads.
    pub fn new(config: SwitchConfig) -> Self {
        let config = SwitchConfig {
            max_window: config.max_window.max(1),
            ..config
        };
        SwitchCore {
            config,
            pads: Vec::new(),
            next_pad_id: 0,
            active: None,
            removed_active: None,
            next_index: None,
            discont_pending: true,
            pending: None,
            switch_back_armed: false,
            now_ns: 0,
            last_emitted: None,
            stats: SwitchStats::default(),
        }
    }

    /// The settings in force (`max_window` at least 1).
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// Changes `timeout_ns`, `auto_switch_back` and `switch_back_delay_ns` (live properties);
    /// `encoded` and `max_window` are fixed at construction and ignored here.
    pub fn set_config(&mut self, config: SwitchConfig) {
        self.config.timeout_ns = config.timeout_ns;
        self.config.auto_switch_back = config.auto_switch_back;
        self.config.switch_back_delay_ns = config.switch_back_delay_ns;
    }

    /// Switches between encoded mode (switch onto keyframes only) and raw mode (any frame), as
    /// long as no frame was output yet: the glue learns it from the first caps. Returns false,
    /// changing nothing, once the output started.
    pub fn set_encoded(&mut self, encoded: bool) -> bool {
        if self.next_index.is_some() {
            return self.config.encoded == encoded;
        }
        self.config.encoded = encoded;
        true
    }

    /// Adds an input with `priority` (lower = preferred). Its queue's storage is allocated here,
    /// once.
    pub fn add_pad(&mut self, priority: u32) -> PadId {
        let id = PadId(self.next_pad_id);
        self.next_pad_id = self.next_pad_id.saturating_add(1);
        self.pads.push(PadState {
            id,
            priority,
            // One more than the window: a push lands before the oldest frame is dropped.
            queue: VecDeque::with_capacity(self.config.max_window.saturating_add(1)),
            last_index: None,
            last_push_ns: None,
            ended: None,
            healthy_since_ns: None,
        });
        id
    }

    /// Removes an input; its queued frames are dropped. Removing the active pad fails over as
    /// if it had reached EOS. Returns false if the pad is unknown.
    pub fn remove_pad(&mut self, pad: PadId, out: &mut Vec<Output<T>>) -> bool {
        let Some(position) = self.position(pad) else {
            return false;
        };
        let mut removed = self.pads.remove(position);
        for frame in removed.queue.drain(..) {
            self.stats.frames_dropped_flushed = self.stats.frames_dropped_flushed.saturating_add(1);
            out.push(Output::Drop {
                pad,
                index: frame.index,
                payload: frame.payload,
                cause: DropCause::Flushed,
            });
        }
        if self.active == Some(pad) {
            self.active = None;
            self.removed_active = Some(pad);
        }
        if let Some(pending) = self.pending
            && pending.pad() == pad
        {
            let at = match pending {
                PendingSwitch::Scheduled { at, .. } => at,
                PendingSwitch::Manual { .. } => self.next_index.unwrap_or(0),
            };
            self.fail_pending(pad, at, SwitchFailure::PadGone, out);
        }
        self.advance(out);
        true
    }

    /// Changes a pad's priority (lower = preferred).
    pub fn set_priority(&mut self, pad: PadId, priority: u32) -> Result<(), Reject> {
        let position = self.position(pad).ok_or(Reject::UnknownPad)?;
        self.pads[position].priority = priority;
        Ok(())
    }

    /// A pad's priority, if the pad exists.
    pub fn priority(&self, pad: PadId) -> Option<u32> {
        self.pad(pad).map(|state| state.priority)
    }

    /// A frame of `pad`. `index` is the frame's name as an integer, `keyframe` whether the output
    /// may switch onto it (ignored in raw mode), `now_ns` the glue's clock.
    ///
    /// Indices of one pad are expected to increase by one. A skip within the window is frames
    /// lost upstream; an index at or before the pad's previous one is a restart of its timeline:
    /// its queued frames at or after `index` are dropped ([`DropCause::Flushed`]). A frame whose
    /// index the output already passed is dropped at once. A frame on an unknown pad is dropped
    /// ([`DropCause::UnknownPad`]).
    pub fn push(
        &mut self,
        pad: PadId,
        index: FrameIndex,
        keyframe: bool,
        payload: T,
        now_ns: Nanos,
        out: &mut Vec<Output<T>>,
    ) {
        let kind = FrameKind {
            keyframe,
            cut: true,
        };
        self.push_kind(pad, index, kind, payload, now_ns, out);
    }

    /// [`SwitchCore::push`] for streams that reorder frames (B-frames): `kind.cut` tells whether
    /// the output may leave `pad` just before this frame. Manual, scheduled and switch-back
    /// switches away from the active pad happen only at its cuts (a failover cannot wait for
    /// one). The glue sets `kind.keyframe` only on keyframes that are also cuts (an open-GOP
    /// I-frame followed by leading pictures is not a frame the output can switch onto).
    pub fn push_kind(
        &mut self,
        pad: PadId,
        index: FrameIndex,
        kind: FrameKind,
        payload: T,
        now_ns: Nanos,
        out: &mut Vec<Output<T>>,
    ) {
        let FrameKind { keyframe, cut } = kind;
        self.now_ns = self.now_ns.max(now_ns);
        let now_ns = self.now_ns;
        let Some(position) = self.position(pad) else {
            self.stats.frames_dropped_flushed = self.stats.frames_dropped_flushed.saturating_add(1);
            out.push(Output::Drop {
                pad,
                index,
                payload,
                cause: DropCause::UnknownPad,
            });
            return;
        };
        let timeout_ns = self.config.timeout_ns;
        let in_step = self.index_in_step(index);
        let state = &mut self.pads[position];

        // The switch-back clock restarts after anything that is not an uninterrupted delivery.
        let uninterrupted = state.ended.is_none()
            && !state.silent(now_ns, timeout_ns)
            && state
                .last_index
                .is_some_and(|last| last.checked_add(1) == Some(index));
        state.healthy_since_ns = match (in_step, uninterrupted, state.healthy_since_ns) {
            (false, _, _) => None,
            (true, true, Some(since)) => Some(since),
            (true, _, _) => Some(now_ns),
        };
        state.ended = None;

        // A restart of the pad's own timeline: queued frames at or after `index` are abandoned.
        if state.last_index.is_some_and(|last| index <= last) {
            while state.queue.back().is_some_and(|frame| frame.index >= index) {
                if let Some(frame) = state.queue.pop_back() {
                    self.stats.frames_dropped_flushed =
                        self.stats.frames_dropped_flushed.saturating_add(1);
                    out.push(Output::Drop {
                        pad,
                        index: frame.index,
                        payload: frame.payload,
                        cause: DropCause::Flushed,
                    });
                }
            }
        }
        state.last_index = Some(index);
        state.last_push_ns = Some(now_ns);

        if self.next_index.is_some_and(|next| index < next) {
            self.stats.frames_dropped_inactive =
                self.stats.frames_dropped_inactive.saturating_add(1);
            out.push(Output::Drop {
                pad,
                index,
                payload,
                cause: DropCause::AlreadyOutput,
            });
        } else {
            state.queue.push_back(QueuedFrame {
                index,
                keyframe,
                cut,
                arrived_ns: now_ns,
                payload,
            });
        }

        self.advance(out);
        self.enforce_window(out);
    }

    /// `pad` reached EOS. Its queued frames stay usable; a later frame restarts it.
    pub fn eos(&mut self, pad: PadId, out: &mut Vec<Output<T>>) -> bool {
        let Some(position) = self.position(pad) else {
            return false;
        };
        let state = &mut self.pads[position];
        state.ended = Some(Ended::Eos);
        state.healthy_since_ns = None;
        self.advance(out);
        true
    }

    /// `pad` errored (flow error, caps mismatch, …). Its queued frames are dropped; a later frame
    /// restarts it.
    pub fn error(&mut self, pad: PadId, out: &mut Vec<Output<T>>) -> bool {
        let Some(position) = self.position(pad) else {
            return false;
        };
        self.pads[position].ended = Some(Ended::Error);
        self.pads[position].healthy_since_ns = None;
        self.drain_queue(position, DropCause::Flushed, out);
        self.advance(out);
        true
    }

    /// A flush on `pad` (FLUSH_STOP, new stream): its queued frames are dropped and its timeline
    /// forgotten, so its next frame is a rejoin rather than a jump. Clears EOS and error.
    pub fn flush(&mut self, pad: PadId, out: &mut Vec<Output<T>>) -> bool {
        let Some(position) = self.position(pad) else {
            return false;
        };
        let state = &mut self.pads[position];
        state.ended = None;
        state.last_index = None;
        state.healthy_since_ns = None;
        self.drain_queue(position, DropCause::Flushed, out);
        self.advance(out);
        true
    }

    /// The glue's timer: evaluates stall timeouts and the waits bounded by `timeout`.
    pub fn tick(&mut self, now_ns: Nanos, out: &mut Vec<Output<T>>) {
        self.now_ns = self.now_ns.max(now_ns);
        let timeout_ns = self.config.timeout_ns;
        for state in &mut self.pads {
            if state.silent(self.now_ns, timeout_ns) {
                state.healthy_since_ns = None;
            }
        }
        self.advance(out);
    }

    /// The earliest time at which [`SwitchCore::tick`] may change something (a stall, the end of
    /// a wait bounded by `timeout`, a switch-back delay running out), if any: the glue can wait
    /// on its clock until then instead of polling. Ticking earlier or more often is harmless.
    pub fn next_deadline_ns(&self) -> Option<Nanos> {
        let timeout_ns = self.config.timeout_ns;
        let silence = self
            .pads
            .iter()
            .filter_map(|state| state.last_push_ns)
            .map(|last| last.saturating_add(timeout_ns));
        let waiting = self
            .pads
            .iter()
            .filter_map(|state| state.queue.front())
            .map(|frame| frame.arrived_ns.saturating_add(timeout_ns));
        let switch_back = self
            .pads
            .iter()
            .filter(|_| self.config.auto_switch_back && self.switch_back_armed)
            .filter_map(|state| state.healthy_since_ns)
            .map(|since| since.saturating_add(self.config.switch_back_delay_ns));
        silence
            .chain(waiting)
            .chain(switch_back)
            .filter(|&deadline| deadline > self.now_ns)
            .min()
    }

    /// Requests a switch to `pad` at the first frame where it can be done losslessly (the
    /// `active-pad` property). Requesting the active pad cancels a pending request. Replaces any
    /// pending request. Rejected when the pad is unknown or unhealthy.
    pub fn request_switch(&mut self, pad: PadId) -> Result<(), Reject> {
        if self.position(pad).is_none() {
            return Err(Reject::UnknownPad);
        }
        if self.active == Some(pad) {
            self.pending = None;
            return Ok(());
        }
        if !self.is_healthy(pad).unwrap_or(false) {
            return Err(Reject::Unhealthy);
        }
        self.pending = Some(PendingSwitch::Manual { pad });
        Ok(())
    }

    /// Schedules a switch to `pad` exactly at frame `at` (the `switch-at` action signal; the
    /// primitive `handoverbin` uses). Rejected when the pad is unknown or unhealthy, when `at` was
    /// already output, and — when known already — when the pad's frame `at` is queued and is not
    /// a keyframe, or the pad went past `at` without it. A frame not there yet is accepted; if it
    /// later arrives as a non-keyframe, [`Output::SwitchFailed`] is emitted and the current pad
    /// stays. Replaces any pending request. Scheduling the active pad makes it the active pad at
    /// `at` (a no-op unless a failover happens before).
    pub fn schedule_switch(&mut self, pad: PadId, at: FrameIndex) -> Result<(), Reject> {
        let position = self.position(pad).ok_or(Reject::UnknownPad)?;
        if !self.is_healthy(pad).unwrap_or(false) {
            return Err(Reject::Unhealthy);
        }
        if let Some(next_index) = self.next_index
            && at < next_index
        {
            return Err(Reject::Past { next_index });
        }
        if self.active != Some(pad)
            && let Some(active) = self.active.and_then(|active| self.pad(active))
            && active
                .frame_at(at)
                .is_some_and(|frame| self.config.encoded && !frame.cut)
        {
            return Err(Reject::NoCleanCut);
        }
        let state = &self.pads[position];
        match state.frame_at(at) {
            Some(frame) if self.config.encoded && !frame.keyframe => {
                return Err(Reject::NotKeyframe);
            }
            Some(_) => {}
            None if state.last_index.is_some_and(|last| last >= at) => {
                return Err(Reject::NotDelivered);
            }
            None => {}
        }
        self.pending = Some(PendingSwitch::Scheduled { pad, at });
        Ok(())
    }

    /// The pending request, if any: the target pad and, for a scheduled one, its index.
    pub fn pending_switch(&self) -> Option<(PadId, Option<FrameIndex>)> {
        self.pending.map(|pending| match pending {
            PendingSwitch::Manual { pad } => (pad, None),
            PendingSwitch::Scheduled { pad, at } => (pad, Some(at)),
        })
    }

    /// The active pad, once chosen.
    pub fn active_pad(&self) -> Option<PadId> {
        self.active
    }

    /// The next frame index to output, once the first frame was output.
    pub fn next_index(&self) -> Option<FrameIndex> {
        self.next_index
    }

    /// The pads, in the order they were added.
    pub fn pads(&self) -> impl Iterator<Item = PadId> + '_ {
        self.pads.iter().map(|state| state.id)
    }

    /// The `healthy` pad property: delivered a frame, no EOS or error since, not stalled (silent
    /// for `timeout` while another pad delivered within `timeout`), and in step with the output
    /// (last index within `max_window` of `next_index`). `None` for an unknown pad.
    pub fn is_healthy(&self, pad: PadId) -> Option<bool> {
        let state = self.pad(pad)?;
        let timeout_ns = self.config.timeout_ns;
        let stalled = state.silent(self.now_ns, timeout_ns)
            && self
                .pads
                .iter()
                .any(|other| other.id != pad && !other.silent(self.now_ns, timeout_ns));
        Some(
            state.ended.is_none()
                && state.last_push_ns.is_some()
                && !stalled
                && state.last_index.is_none_or(|last| self.index_in_step(last)),
        )
    }

    /// Frames held in `pad`'s queue (never more than `max_window` between calls).
    pub fn queue_len(&self, pad: PadId) -> Option<usize> {
        self.pad(pad).map(|state| state.queue.len())
    }

    /// The frames held in `pad`'s queue: index, keyframe, payload.
    pub fn queued(&self, pad: PadId) -> impl Iterator<Item = (FrameIndex, bool, &T)> + '_ {
        self.pad(pad)
            .into_iter()
            .flat_map(|state| state.queue.iter())
            .map(|frame| (frame.index, frame.keyframe, &frame.payload))
    }

    /// True when the stream has ended: the glue forwards EOS. That is when at least one pad
    /// reached EOS or errored, and every pad is either ended with nothing queued, or out of
    /// service — silent for `timeout` (a dead branch: a cut link, a stalled encoder, a valve
    /// that swallowed its EOS). A dead branch never holds EOS back; a branch that stalls right
    /// at the end delays it by at most `timeout`. Frames a silent pad still holds were not
    /// taken within `timeout`, so nothing could output them anyway.
    pub fn all_ended(&self) -> bool {
        let timeout_ns = self.config.timeout_ns;
        let mut any_ended = false;
        for state in &self.pads {
            let silent = state.silent(self.now_ns, timeout_ns);
            match state.ended {
                Some(_) => {
                    any_ended = true;
                    if !state.queue.is_empty() && !silent {
                        return false;
                    }
                }
                None if silent => {}
                None => return false,
            }
        }
        any_ended
    }

    /// The latency the core adds in steady state, in frames: 0. The active pad's frames are
    /// emitted on arrival; only a failover, or a switch to a branch that lags, holds frames.
    pub fn added_latency_frames(&self) -> u64 {
        0
    }

    /// The most latency the core can add, in frames: `max_window` (a hold or a failover wait ends
    /// at the latest when a queue is full). The glue reports it as the maximum latency.
    pub fn max_added_latency_frames(&self) -> u64 {
        u64::try_from(self.config.max_window).unwrap_or(u64::MAX)
    }

    /// Counters for the `stats` property.
    pub fn stats(&self) -> SwitchStats {
        self.stats
    }

    // ---------------------------------------------------------------------------------------
    // The decision loop.

    fn position(&self, pad: PadId) -> Option<usize> {
        self.pads.iter().position(|state| state.id == pad)
    }

    fn pad(&self, pad: PadId) -> Option<&PadState<T>> {
        self.pads.iter().find(|state| state.id == pad)
    }

    fn window(&self) -> FrameIndex {
        FrameIndex::try_from(self.config.max_window).unwrap_or(FrameIndex::MAX)
    }

    /// An index within `max_window` of `next_index` on either side (always, before the first
    /// output).
    fn index_in_step(&self, index: FrameIndex) -> bool {
        self.next_index.is_none_or(|next| {
            index >= next.saturating_sub(self.window())
                && index < next.saturating_add(self.window())
        })
    }

    /// The pad will deliver `next` soon: not ended, not silent, in step and not past it.
    fn owes(&self, state: &PadState<T>, next: FrameIndex) -> bool {
        state.ended.is_none()
            && !state.silent(self.now_ns, self.config.timeout_ns)
            && state
                .last_index
                .is_some_and(|last| last < next && last >= next.saturating_sub(self.window()))
    }

    /// The oldest waiting frame (all queued frames are ≥ `next_index`) has waited `timeout`.
    fn waited_timeout(&self) -> bool {
        self.pads
            .iter()
            .filter_map(|state| state.queue.front().map(|frame| frame.arrived_ns))
            .min()
            .is_some_and(|oldest| self.now_ns.saturating_sub(oldest) >= self.config.timeout_ns)
    }

    fn queue_full(&self, position: usize) -> bool {
        self.pads[position].queue.len() >= self.config.max_window
    }

    fn advance(&mut self, out: &mut Vec<Output<T>>) {
        // Right after a switch or a gap, the frame at `next_index` is emitted before any request
        // is looked at again: a `Switched` or `Gap` is always followed by its frame, never by a
        // hold. Terminates: every `continue` emits a frame (a queue shrinks), moves `next_index`
        // forward or sets `decided` (a switch or gap, after which the front at the new
        // `next_index` is emitted), or clears the pending request.
        let mut decided = false;
        loop {
            let Some(next) = self.next_index else {
                if self.choose_initial(out) {
                    decided = true;
                    continue;
                }
                return;
            };
            self.drop_behind(next, out);
            if !std::mem::take(&mut decided) {
                match self.pending_step(next, out) {
                    Step::Switched => {
                        decided = true;
                        continue;
                    }
                    Step::Retry => continue,
                    Step::Hold => return,
                    Step::Proceed => {}
                }
            }
            if let Some(position) = self.active.and_then(|active| self.position(active))
                && self.pads[position].front_index() == Some(next)
            {
                self.emit_front(position, out);
                continue;
            }
            if !self.failover(next, out) {
                return;
            }
            decided = true;
        }
    }

    /// Drops every queued frame whose index the output passed.
    fn drop_behind(&mut self, next: FrameIndex, out: &mut Vec<Output<T>>) {
        for state in &mut self.pads {
            while state.queue.front().is_some_and(|frame| frame.index < next) {
                if let Some(frame) = state.queue.pop_front() {
                    self.stats.frames_dropped_inactive =
                        self.stats.frames_dropped_inactive.saturating_add(1);
                    out.push(Output::Drop {
                        pad: state.id,
                        index: frame.index,
                        payload: frame.payload,
                        cause: DropCause::AlreadyOutput,
                    });
                }
            }
        }
    }

    fn drain_queue(&mut self, position: usize, cause: DropCause, out: &mut Vec<Output<T>>) {
        let state = &mut self.pads[position];
        for frame in state.queue.drain(..) {
            self.stats.frames_dropped_flushed = self.stats.frames_dropped_flushed.saturating_add(1);
            out.push(Output::Drop {
                pad: state.id,
                index: frame.index,
                payload: frame.payload,
                cause,
            });
        }
    }

    /// Keeps every queue within `max_window`: a full queue first lets the decisions run (with the
    /// queue full, holds end and failovers decide), then loses its oldest frames.
    fn enforce_window(&mut self, out: &mut Vec<Output<T>>) {
        let window = self.config.max_window;
        for position in 0..self.pads.len() {
            while self.pads[position].queue.len() > window {
                let state = &mut self.pads[position];
                if let Some(frame) = state.queue.pop_front() {
                    self.stats.frames_dropped_window =
                        self.stats.frames_dropped_window.saturating_add(1);
                    out.push(Output::Drop {
                        pad: state.id,
                        index: frame.index,
                        payload: frame.payload,
                        cause: DropCause::Window,
                    });
                }
            }
        }
    }

    fn emit_front(&mut self, position: usize, out: &mut Vec<Output<T>>) {
        let state = &mut self.pads[position];
        let Some(frame) = state.queue.pop_front() else {
            return;
        };
        if self.last_emitted.is_some_and(|last| frame.index <= last) {
            // Unreachable: `next_index` only grows and only the frame at `next_index` is emitted.
            self.stats.repeats = self.stats.repeats.saturating_add(1);
        }
        self.last_emitted = Some(frame.index);
        self.next_index = Some(frame.index.saturating_add(1));
        self.stats.frames_out = self.stats.frames_out.saturating_add(1);
        out.push(Output::Emit {
            pad: state.id,
            index: frame.index,
            payload: frame.payload,
            discont: std::mem::take(&mut self.discont_pending),
            keyframe: frame.keyframe,
        });
    }

    fn switch_to(
        &mut self,
        to: PadId,
        at: FrameIndex,
        reason: SwitchReason,
        out: &mut Vec<Output<T>>,
    ) {
        out.push(Output::Switched {
            from: self.active.or(self.removed_active.take()),
            to,
            at,
            reason,
        });
        self.active = Some(to);
        self.discont_pending = true;
        self.switch_back_armed = reason.is_automatic();
        self.stats.switches.count(reason);
    }

    fn fail_pending(
        &mut self,
        pad: PadId,
        at: FrameIndex,
        reason: SwitchFailure,
        out: &mut Vec<Output<T>>,
    ) {
        self.pending = None;
        self.stats.switch_failures = self.stats.switch_failures.saturating_add(1);
        out.push(Output::SwitchFailed { pad, at, reason });
    }

    /// A frame the output may switch onto: any in raw mode, a keyframe in encoded mode.
    fn switchable(&self, position: usize, index: FrameIndex) -> Option<bool> {
        self.pads[position]
            .frame_at(index)
            .map(|frame| frame.keyframe || !self.config.encoded)
    }

    /// Whether a voluntary switch may leave the active pad just before `next`.
    fn leave_active(&self, next: FrameIndex) -> Leave {
        if !self.config.encoded {
            return Leave::Yes;
        }
        let Some(state) = self.active.and_then(|active| self.pad(active)) else {
            return Leave::Yes;
        };
        match state.frame_at(next) {
            Some(frame) if frame.cut => Leave::Yes,
            Some(_) => Leave::No,
            None if self.owes(state, next) => Leave::Wait,
            None => Leave::Yes,
        }
    }

    /// Whether to hold the output for `position` to deliver `next`: it owes it and the active
    /// pad's queue still has room.
    fn worth_holding_for(&self, position: usize, next: FrameIndex) -> bool {
        let active_full = self
            .active
            .and_then(|active| self.position(active))
            .is_some_and(|active| self.queue_full(active));
        !active_full && self.owes(&self.pads[position], next)
    }

    /// Pending manual/scheduled requests and auto-switch-back, at `next`.
    fn pending_step(&mut self, next: FrameIndex, out: &mut Vec<Output<T>>) -> Step {
        match self.pending {
            Some(PendingSwitch::Scheduled { pad, at }) => {
                if at < next {
                    self.fail_pending(pad, at, SwitchFailure::Skipped, out);
                    return Step::Retry;
                }
                if at == next {
                    if self.active == Some(pad) {
                        self.pending = None;
                        return Step::Proceed;
                    }
                    let Some(position) = self.position(pad) else {
                        self.fail_pending(pad, at, SwitchFailure::PadGone, out);
                        return Step::Retry;
                    };
                    return match self.switchable(position, at) {
                        Some(true) => match self.leave_active(at) {
                            Leave::Yes => {
                                self.pending = None;
                                self.switch_to(pad, at, SwitchReason::Scheduled, out);
                                Step::Switched
                            }
                            Leave::No => {
                                self.fail_pending(pad, at, SwitchFailure::NoCleanCut, out);
                                Step::Retry
                            }
                            Leave::Wait => Step::Hold,
                        },
                        Some(false) => {
                            self.fail_pending(pad, at, SwitchFailure::NotKeyframe, out);
                            Step::Retry
                        }
                        None if self.worth_holding_for(position, at) => Step::Hold,
                        None => {
                            self.fail_pending(pad, at, SwitchFailure::NotDelivered, out);
                            Step::Retry
                        }
                    };
                }
            }
            Some(PendingSwitch::Manual { pad }) => {
                if self.active == Some(pad) {
                    self.pending = None;
                    return Step::Proceed;
                }
                let Some(position) = self.position(pad) else {
                    self.fail_pending(pad, next, SwitchFailure::PadGone, out);
                    return Step::Retry;
                };
                if self.pads[position].ended.is_some() {
                    self.fail_pending(pad, next, SwitchFailure::Unhealthy, out);
                    return Step::Retry;
                }
                match self.switchable(position, next) {
                    Some(true) => match self.leave_active(next) {
                        Leave::Yes => {
                            self.pending = None;
                            self.switch_to(pad, next, SwitchReason::Manual, out);
                            return Step::Switched;
                        }
                        // Not a cut of the active pad: a later frame, maybe.
                        Leave::No => {}
                        Leave::Wait => return Step::Hold,
                    },
                    // Not here: the next keyframe, maybe.
                    Some(false) => {}
                    None if self.worth_holding_for(position, next) => return Step::Hold,
                    None => {}
                }
                // A pending manual request is the operator's choice: no switch-back meanwhile.
                return Step::Proceed;
            }
            None => {}
        }
        self.switch_back_step(next, out)
    }

    fn switch_back_step(&mut self, next: FrameIndex, out: &mut Vec<Output<T>>) -> Step {
        if !self.config.auto_switch_back || !self.switch_back_armed {
            return Step::Proceed;
        }
        let Some(active_priority) = self
            .active
            .and_then(|active| self.pad(active))
            .map(|state| state.priority)
        else {
            return Step::Proceed;
        };
        let now_ns = self.now_ns;
        let config = self.config;
        let candidate = self
            .pads
            .iter()
            .enumerate()
            .filter(|(_, state)| {
                state.priority < active_priority
                    && state.ended.is_none()
                    && !state.silent(now_ns, config.timeout_ns)
                    && state.healthy_since_ns.is_some_and(|since| {
                        now_ns.saturating_sub(since) >= config.switch_back_delay_ns
                    })
                    && state
                        .last_index
                        .is_some_and(|last| self.index_in_step(last))
            })
            .min_by_key(|(_, state)| (state.priority, state.id))
            .map(|(position, state)| (position, state.id));
        let Some((position, pad)) = candidate else {
            return Step::Proceed;
        };
        match self.switchable(position, next) {
            Some(true) => match self.leave_active(next) {
                Leave::Yes => {
                    self.switch_to(pad, next, SwitchReason::Priority, out);
                    Step::Switched
                }
                Leave::No => Step::Proceed,
                Leave::Wait => Step::Hold,
            },
            Some(false) => Step::Proceed,
            None if self.worth_holding_for(position, next) => Step::Hold,
            None => Step::Proceed,
        }
    }

    /// Before the first output: pick the starting pad (see "Initial choice").
    fn choose_initial(&mut self, out: &mut Vec<Output<T>>) -> bool {
        let encoded = self.config.encoded;
        let best = self
            .pads
            .iter()
            .enumerate()
            .filter(|(_, state)| state.ended != Some(Ended::Error))
            .filter_map(|(position, state)| {
                state
                    .first_switchable(FrameIndex::MIN, encoded)
                    .map(|index| (position, index, state.priority, state.id))
            })
            .min_by_key(|&(_, _, priority, id)| (priority, id));
        let Some((position, index, priority, id)) = best else {
            return false;
        };
        let better_expected = self.pads.iter().any(|state| {
            (state.priority, state.id) < (priority, id)
                && state.ended.is_none()
                && (state.last_push_ns.is_none()
                    || !state.silent(self.now_ns, self.config.timeout_ns))
        });
        if better_expected && !self.waited_timeout() && !self.queue_full(position) {
            return false;
        }
        self.next_index = Some(index);
        self.switch_to(id, index, SwitchReason::Initial, out);
        true
    }

    /// Why the active pad cannot deliver `next`, or `None` while it owes it.
    fn active_failure(&self, next: FrameIndex) -> Option<SwitchReason> {
        let Some(state) = self.active.and_then(|active| self.pad(active)) else {
            // The active pad was removed: as if it had reached EOS.
            return Some(SwitchReason::Eos);
        };
        match state.ended {
            Some(Ended::Eos) => return Some(SwitchReason::Eos),
            Some(Ended::Error) => return Some(SwitchReason::Error),
            None => {}
        }
        let out_of_step = state
            .last_index
            .is_some_and(|last| last >= next || last < next.saturating_sub(self.window()));
        if out_of_step {
            return Some(SwitchReason::Discontinuity);
        }
        if state.silent(self.now_ns, self.config.timeout_ns) && self.waited_timeout() {
            return Some(SwitchReason::Timeout);
        }
        None
    }

    /// The output is blocked at `next` (the active pad has not got it). Returns true when it
    /// moved on (a gap and/or a switch).
    fn failover(&mut self, next: FrameIndex, out: &mut Vec<Output<T>>) -> bool {
        let Some(reason) = self.active_failure(next) else {
            return false;
        };
        let encoded = self.config.encoded;
        let active = self.active;
        let requested = self.pending.map(PendingSwitch::pad);
        let best = self
            .pads
            .iter()
            .enumerate()
            .filter(|(_, state)| state.ended != Some(Ended::Error))
            .filter_map(|(position, state)| {
                let index = if Some(state.id) == active {
                    // The active pad's own stream continues: any frame.
                    state.front_index()
                } else {
                    state.first_switchable(next, encoded)
                }?;
                Some(Entry {
                    pad_position: position,
                    index,
                })
            })
            .min_by_key(|entry| {
                let state = &self.pads[entry.pad_position];
                (
                    entry.index,
                    Some(state.id) != active,
                    Some(state.id) != requested,
                    state.priority,
                    state.id,
                )
            });
        let Some(best) = best else {
            return false;
        };
        if best.index > next {
            let better_possible = self.pads.iter().enumerate().any(|(position, state)| {
                position != best.pad_position
                    && state.ended.is_none()
                    && !state.silent(self.now_ns, self.config.timeout_ns)
                    && state.last_index.is_some_and(|last| {
                        last < best.index.saturating_sub(1)
                            && last >= next.saturating_sub(self.window())
                    })
            });
            if better_possible && !self.waited_timeout() && !self.queue_full(best.pad_position) {
                return false;
            }
            self.stats.gaps = self.stats.gaps.saturating_add(1);
            let lost = u64::try_from(best.index.saturating_sub(next)).unwrap_or(u64::MAX);
            self.stats.gap_frames = self.stats.gap_frames.saturating_add(lost);
            out.push(Output::Gap {
                from: next,
                to: best.index,
            });
            self.discont_pending = true;
        }
        self.next_index = Some(best.index);
        let to = self.pads[best.pad_position].id;
        if active != Some(to) {
            self.switch_to(to, best.index, reason, out);
        }
        true
    }
}
