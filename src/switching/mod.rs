// SPDX-License-Identifier: MPL-2.0
//! The switching core shared by `synchronizedswitch` and `handoverbin`: N redundant
//! branches of the same content in, one stream out, every frame exactly once and in order,
//! switching branches only where that is lossless.
//!
//! No GStreamer types live here. The glue (pads, events, clock waits) turns buffers into calls of
//! [`SwitchCore`] and its [`Output`]s back into pushes and messages; see [`SwitchCore`] for what
//! the glue must do with each output.
//!
//! # The model
//!
//! Every frame has a name, its timecode resolved to UTC; the glue turns that name into a
//! [`FrameIndex`] (UTC instant / frame period) that every branch computes the same way. The core
//! keeps, per pad, a queue of frames not yet output (the *alignment window*, at most
//! [`SwitchConfig::max_window`] frames), one *active* pad and `next_index`, the next frame index to
//! output. The rules, as implemented:
//!
//! - **Every frame leaves exactly once, in order.** Emitted indices are strictly increasing;
//!   consecutive unless a [`Output::Gap`] reports the frames no branch could deliver ("the gap is
//!   reported, not hidden"). Repeats are impossible by construction.
//! - **Zero-copy, no added latency on the active path.** The active pad's frame is emitted as soon
//!   as its index is `next_index`; payloads are moved, never cloned. Frames of other pads wait in
//!   their queues until their index has been output, then leave as [`Output::Drop`].
//! - **Lossless switches.** "Encoded input switches only onto a keyframe of the incoming branch
//!   (raw video: any frame)": a switch to pad B at index `s` needs B's frame `s`, and in encoded
//!   mode ([`SwitchConfig::encoded`]) that frame must be a keyframe. The first frame after every
//!   switch is therefore a keyframe of the new pad.
//! - **Manual switches** ("setting `active-pad` requests a switch at the next frame where it can be
//!   done losslessly"): [`SwitchCore::request_switch`].
//! - **Scheduled switches** ("`switch-at` schedules a switch exactly at that frame; returns FALSE
//!   with a reason when it cannot be honoured (past, not a keyframe on that pad, pad unhealthy)"):
//!   [`SwitchCore::schedule_switch`].
//! - **Automatic failover** ("when the active branch stalls, reaches EOS, errors, or jumps in
//!   timecode, the element switches to the healthiest branch by priority at the first frame it can
//!   output losslessly"), optional **auto-switch-back** with a delay, **late joiners** — see
//!   [`SwitchCore`] for the exact policies.
//!
//! Memory is bounded whatever the inputs do: each queue holds at most `max_window` frames (its
//! storage is allocated once, when the pad is added), and the caller owns the output `Vec`.

pub mod reorder;
mod switch_core;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use switch_core::SwitchCore;

/// What the glue knows of a frame besides its index ([`SwitchCore::push_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameKind {
    /// The output may switch onto this frame: a keyframe that starts a closed group (encoded
    /// mode); ignored in raw mode.
    pub keyframe: bool,
    /// The output may leave this pad just before this frame: every frame of the pad presented
    /// before it was delivered before it, and none presented after it was. Always true for a
    /// stream that does not reorder frames; with B-frames, true only at the ends of reordered
    /// runs. Leaving elsewhere would lose or repeat the pictures of the run.
    pub cut: bool,
}

use std::fmt;

/// A frame's name as an integer: its UTC instant divided by the frame period, computed by the glue
/// the same way on every branch. Consecutive frames have consecutive indices.
pub type FrameIndex = i64;

/// A monotonic time in nanoseconds (the glue passes its clock's time). Only differences are used.
pub type Nanos = u64;

/// One input of the core. Ids are never reused, so a removed pad's id stays unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PadId(pub(crate) u32);

impl PadId {
    /// The number of the pad, in the order pads were added (0, 1, …).
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for PadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pad {}", self.0)
    }
}

/// Why the output changed branch; the `reason` field of `synchronizedswitch-switched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchReason {
    /// The first pad chosen, before any frame was output.
    Initial,
    /// [`SwitchCore::request_switch`] (the `active-pad` property).
    Manual,
    /// [`SwitchCore::schedule_switch`] (the `switch-at` action signal).
    Scheduled,
    /// The active pad stalled: no frame for `timeout` while another pad advanced.
    Timeout,
    /// The active pad reached EOS (or was removed).
    Eos,
    /// The active pad errored.
    Error,
    /// The active pad's frame index jumped: it skipped frames or left the window.
    Discontinuity,
    /// Auto-switch-back to a recovered pad of better priority.
    Priority,
}

impl SwitchReason {
    /// Every reason, in declaration order.
    pub const ALL: [SwitchReason; 8] = [
        SwitchReason::Initial,
        SwitchReason::Manual,
        SwitchReason::Scheduled,
        SwitchReason::Timeout,
        SwitchReason::Eos,
        SwitchReason::Error,
        SwitchReason::Discontinuity,
        SwitchReason::Priority,
    ];

    /// The nick used in element messages and stats (`"manual"`, `"eos"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchReason::Initial => "initial",
            SwitchReason::Manual => "manual",
            SwitchReason::Scheduled => "scheduled",
            SwitchReason::Timeout => "timeout",
            SwitchReason::Eos => "eos",
            SwitchReason::Error => "error",
            SwitchReason::Discontinuity => "discontinuity",
            SwitchReason::Priority => "priority",
        }
    }

    /// True for the switches the core decides on its own (initial choice and failovers): they arm
    /// auto-switch-back. Manual and scheduled switches are the operator's choice and disarm it.
    fn is_automatic(self) -> bool {
        !matches!(self, SwitchReason::Manual | SwitchReason::Scheduled)
    }
}

impl fmt::Display for SwitchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame left the core without being output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// Its index was already passed by the output: output from another pad, or inside a reported
    /// gap. Counted in [`SwitchStats::frames_dropped_inactive`].
    AlreadyOutput,
    /// Its pad's queue was full (`max_window`); the oldest frame goes. Counted in
    /// [`SwitchStats::frames_dropped_window`].
    Window,
    /// Its pad was flushed, removed or errored, or the pad's indices went backwards and this
    /// queued frame belongs to the abandoned timeline. Counted in
    /// [`SwitchStats::frames_dropped_flushed`].
    Flushed,
    /// Pushed on a pad id the core does not know. Counted in
    /// [`SwitchStats::frames_dropped_flushed`].
    UnknownPad,
}

/// Why a scheduled (or pending manual) switch did not happen; see [`Output::SwitchFailed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchFailure {
    /// The pad's frame at the scheduled index arrived, and it is not a keyframe.
    NotKeyframe,
    /// The output reached the scheduled index and the pad could not deliver that frame (it skipped
    /// it, stalled, or it fell out of the window).
    NotDelivered,
    /// The output did not stop at the scheduled index: it was inside a reported gap, or a failover
    /// decided that frame for another pad.
    Skipped,
    /// The pad was removed.
    PadGone,
    /// The active pad reorders frames (B-frames) across that index: leaving it there would
    /// lose or repeat pictures.
    NoCleanCut,
    /// The pad reached EOS or errored before the switch could happen.
    Unhealthy,
}

impl fmt::Display for SwitchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SwitchFailure::NotKeyframe => "the pad's frame at that index is not a keyframe",
            SwitchFailure::NotDelivered => "the pad did not deliver the frame at that index",
            SwitchFailure::Skipped => "the output skipped that index (no branch delivered it)",
            SwitchFailure::PadGone => "the pad was removed",
            SwitchFailure::NoCleanCut => {
                "the active pad reorders frames (B-frames) across that index, so it cannot be left there"
            }
            SwitchFailure::Unhealthy => "the pad reached EOS or errored",
        })
    }
}

/// Why [`SwitchCore::request_switch`] or [`SwitchCore::schedule_switch`] refused a switch
/// ("returns FALSE with a reason when it cannot be honoured").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// No pad with that id.
    UnknownPad,
    /// The pad is not healthy (EOS, error, stalled, not yet delivering, or out of step with the
    /// output) — see [`SwitchCore::is_healthy`].
    Unhealthy,
    /// The frame was already output: the next frame to output is `next_index`.
    Past {
        /// The next frame index the output will carry.
        next_index: FrameIndex,
    },
    /// The pad's frame at that index is queued and is not a keyframe.
    NotKeyframe,
    /// The pad already went past that index without holding the frame (it skipped it or it fell
    /// out of the window).
    NotDelivered,
    /// The active pad's frame at that index is queued and is not a cut (B-frames reordered
    /// across it; see [`FrameKind::cut`]).
    NoCleanCut,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::UnknownPad => f.write_str("no such pad"),
            Reject::Unhealthy => f.write_str("the pad is not healthy"),
            Reject::Past { next_index } => {
                write!(f, "the frame is in the past (next frame out: {next_index})")
            }
            Reject::NotKeyframe => f.write_str("the pad's frame at that index is not a keyframe"),
            Reject::NotDelivered => f.write_str("the pad went past that frame without it"),
            Reject::NoCleanCut => f.write_str(
                "the active pad reorders frames (B-frames) across that frame, so it cannot be left there",
            ),
        }
    }
}

impl std::error::Error for Reject {}

/// What the core tells the glue to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<T> {
    /// Push this frame downstream. `discont` is true for the first frame after a switch or a gap
    /// (and the very first frame): the glue sets DISCONT and, after a switch, the new pad's caps
    /// go out before it. `keyframe` is what the frame was pushed with; after a [`Output::Switched`]
    /// in encoded mode it is always true.
    Emit {
        pad: PadId,
        index: FrameIndex,
        payload: T,
        discont: bool,
        keyframe: bool,
    },
    /// Release this frame (unref the buffer); it will not be output.
    Drop {
        pad: PadId,
        index: FrameIndex,
        payload: T,
        cause: DropCause,
    },
    /// The output changes branch: from `at` on, frames come from `to`. Always followed, in the
    /// same call, by the [`Output::Emit`] of `to`'s frame `at` (only drops in between).
    Switched {
        from: Option<PadId>,
        to: PadId,
        at: FrameIndex,
        reason: SwitchReason,
    },
    /// No branch delivered frames `from..to` (half-open: `to - from` frames). Followed, in the
    /// same call, by a [`Output::Switched`] at `to` or directly by the [`Output::Emit`] of `to`.
    Gap { from: FrameIndex, to: FrameIndex },
    /// A scheduled switch to `pad` at `at` (or a pending manual switch, with `at` the index the
    /// output had reached) could not be honoured; the output stays on its current pad.
    SwitchFailed {
        pad: PadId,
        at: FrameIndex,
        reason: SwitchFailure,
    },
}

/// Settings of a [`SwitchCore`]; the element's properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchConfig {
    /// Encoded input: switch only onto keyframes. False for raw video (any frame qualifies).
    pub encoded: bool,
    /// Frames held per pad at most (`max-window`); values below 1 count as 1.
    pub max_window: usize,
    /// A pad that delivered no frame for this long while another pad advanced is stalled.
    pub timeout_ns: Nanos,
    /// After a failover, switch back to a recovered pad of better priority.
    pub auto_switch_back: bool,
    /// How long a better pad must have been healthy, without interruption, before
    /// auto-switch-back picks it.
    pub switch_back_delay_ns: Nanos,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            encoded: true,
            max_window: 32,
            timeout_ns: 1_000_000_000,
            auto_switch_back: false,
            switch_back_delay_ns: 5_000_000_000,
        }
    }
}

/// Switches counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwitchCounts {
    pub initial: u64,
    pub manual: u64,
    pub scheduled: u64,
    pub timeout: u64,
    pub eos: u64,
    pub error: u64,
    pub discontinuity: u64,
    pub priority: u64,
}

impl SwitchCounts {
    /// The count for one reason.
    pub fn get(&self, reason: SwitchReason) -> u64 {
        match reason {
            SwitchReason::Initial => self.initial,
            SwitchReason::Manual => self.manual,
            SwitchReason::Scheduled => self.scheduled,
            SwitchReason::Timeout => self.timeout,
            SwitchReason::Eos => self.eos,
            SwitchReason::Error => self.error,
            SwitchReason::Discontinuity => self.discontinuity,
            SwitchReason::Priority => self.priority,
        }
    }

    /// All switches, the initial choice included.
    pub fn total(&self) -> u64 {
        SwitchReason::ALL
            .iter()
            .map(|&reason| self.get(reason))
            .sum()
    }

    fn count(&mut self, reason: SwitchReason) {
        let slot = match reason {
            SwitchReason::Initial => &mut self.initial,
            SwitchReason::Manual => &mut self.manual,
            SwitchReason::Scheduled => &mut self.scheduled,
            SwitchReason::Timeout => &mut self.timeout,
            SwitchReason::Eos => &mut self.eos,
            SwitchReason::Error => &mut self.error,
            SwitchReason::Discontinuity => &mut self.discontinuity,
            SwitchReason::Priority => &mut self.priority,
        };
        *slot = slot.saturating_add(1);
    }
}

/// The element's read-only `stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Frames emitted.
    pub frames_out: u64,
    /// Switches by reason.
    pub switches: SwitchCounts,
    /// Frames of inactive pads dropped because their index was already output (or reported as a
    /// gap): the normal fate of a backup's frames.
    pub frames_dropped_inactive: u64,
    /// Frames dropped because their pad's queue was full (`max_window`).
    pub frames_dropped_window: u64,
    /// Frames dropped by a flush, removal or error of their pad, a backward jump of their pad's
    /// indices, or a push on an unknown pad.
    pub frames_dropped_flushed: u64,
    /// Gap outputs.
    pub gaps: u64,
    /// Frames no branch delivered (sum of the gaps' lengths).
    pub gap_frames: u64,
    /// Frames output twice. Always 0: the core never emits an index ≤ one already emitted; the
    /// counter exists so that the element can show it, and tests assert it.
    pub repeats: u64,
    /// Scheduled or pending manual switches that failed ([`Output::SwitchFailed`]).
    pub switch_failures: u64,
}
