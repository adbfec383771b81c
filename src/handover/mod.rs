// SPDX-License-Identifier: MPL-2.0
//! The handover negotiation of `handoverbin` as a pure state machine: two endpoints, the
//! **target** (the running encoder branch) and the **updated** (the new encoder branch), agree on
//! the frame at which the output passes from one to the other, confirm that it happened, or give
//! up with a reason. No GStreamer types and no clocks live here: the glue feeds in messages,
//! encoded frames, switch outcomes and the time, and acts on the [`Action`]s that come out.
//!
//! The two endpoints are coupled only by [`Message`]s, which encode to bytes
//! ([`Message::encode`], [`Message::decode`]; layout in [`messages`]), so the same code can run
//! in two processes. In one bin the glue passes each `Action::Send` of one endpoint to the
//! other's `receive` directly.
//!
//! # Protocol (version 1)
//!
//! ```text
//!  updated                                   target
//!  Notify{criteria}                  ──▶                          (a second Notify while busy: Abort{Busy})
//!                                    ◀──     Sync{target's sync info}
//!  (once it has encoded a frame)
//!  Sync{updated's sync info}         ──▶
//!                                    ◀──     Propose{round, frame}
//!  Accept{round, frame}              ──▶     (or Counter{round, later frame, reason})
//!                                    ◀──     Confirm{round, frame}   (or, for a Counter it cannot
//!                                                                     meet, Propose{round + 1, …})
//!  [both: Negotiated; updated: ScheduleKeyframe, ScheduleSwitch]
//!  (the updated encoder's frame F is not a keyframe, or the switch fails:)
//!  Renegotiate{round, F, cause, sync} ──▶
//!                                    ◀──     Propose{round + 1, frame > F}   … as above
//!  (the switch core switches at F: the glue calls handed_over on both)
//!  Completed{F}                      ──▶
//!                                    ◀──     Completed{F - 1}
//!  [both: Complete{target_last: F - 1, updated_first: F}; target: ReleaseTarget]
//!  Abort{reason} either way, at any time before the switch: both Failed, the target keeps the output.
//! ```
//!
//! The updated side initiates (as in US patent 12,395,539 B2, claim 2), the target proposes, the updated side accepts
//! or counter-proposes (its position, its parallel-run delay or its keyframe interval may need a
//! later frame), and the target confirms. A proposal is the smallest frame that is a multiple of
//! [`Criteria::alignment`] and ≥ every bound ([`handover_frame`]): each side's last encoded frame
//! plus [`Config::lead_frames`] plus a round-trip headroom, the updated branch's first frame plus
//! [`Criteria::delay_frames`], its last keyframe plus [`Config::min_keyframe_interval`], and the
//! frame after any missed one.
//!
//! Each side checks again when it commits, because the branches run on while messages travel:
//! the target confirms only a frame still ≥ its last frame + lead (else it proposes again), and
//! the updated side arms only a frame still ≥ its last frame + lead and its keyframe interval
//! (else it renegotiates, [`MissCause::TooLate`]). The headroom starts at the lead and grows to
//! the largest round trip measured, in frames the branch advanced between a request and its
//! answer, so slow links converge instead of bouncing proposals. So at the moment each side
//! reports [`Action::Negotiated`], the frame meets every criterion for that side's position.
//!
//! # Frames and time
//!
//! Frames are absolute `i64` numbers computed the same way for both branches by the glue (e.g.
//! the timecode's UTC instant divided by the frame period, as [`crate::switching::FrameIndex`]).
//! The criteria are in frames: the glue converts `handover-delay` from nanoseconds with the
//! stream's frame rate ([`crate::timecode::FrameRate`]), rounding up. Transaction ids (chosen by
//! the glue for each [`UpdatedEndpoint::start`]) must increase from one handover to the next.
//! Times are monotonic nanoseconds passed in by the glue (`now`); the machine has no clock. The
//! glue calls `tick(now)` at [`TargetEndpoint::next_deadline`] / [`UpdatedEndpoint::next_deadline`]
//! (or on a regular timer).
//!
//! # Lost and duplicated messages
//!
//! The exchange is stop-and-wait: each side has at most one request without an answer, and
//! retransmits it every [`Config::retransmit_interval_ns`] on `tick`. Every message carries the
//! transaction id and, from the proposal on, the round; a duplicate of the request answered last
//! gets the same answer again and changes nothing, stale messages (older rounds, other
//! transactions) are ignored. So a lost message is recovered by retransmission; a peer that stays
//! silent for [`Config::reply_timeout_ns`] in a phase ends the handover with
//! [`FailureReason::PeerStalled`] (and an Abort to the peer, in case only one direction is lost).
//! Bytes that do not decode are dropped like a lost message (the glue gets the [`DecodeError`] to
//! log); if the phase then times out, the reason is [`ProtocolViolation::Undecodable`].
//!
//! # After the switch
//!
//! The switch itself is a fact the glue reports (`handed_over(at)`, from the switching core's
//! `Switched` output): from then on the handover cannot fail. Each side sends `Completed` and
//! reports [`Action::Complete`] once it has the peer's; if the peer's never comes within
//! `reply_timeout_ns` it still completes, with [`Completion::peer_confirmed`] false.

//! # What the glue does (one bin, both endpoints in-process)
//!
//! ```text
//! state: target: TargetEndpoint (for the active branch), updated: Option<UpdatedEndpoint>
//!
//! update-encoder(desc):
//!     if let Some(busy) = target.in_progress() → return FALSE, reason busy.to_string()
//!     build the updated branch (parse error → FALSE), link it, add it as a switching-core pad
//!     updated = UpdatedEndpoint::start(next_txn++, criteria_from_properties, config, now, &mut out)
//!     post handover-requested; dispatch(out)
//! each encoded frame of a branch (its encoder's src pad, frame number from its timecode):
//!     target.on_frame(n, keyframe, now) / updated.on_frame(n, keyframe, now, &mut out)
//! caps of the updated branch differ:        updated.set_caps_changed(true)
//! updated branch caps negotiation fails / error message from a branch:
//!     updated.abort(CapsNegotiationFailed / BranchError, &mut out)  (or target.abort(…))
//! SwitchCore output Switched { to: updated_pad, at, .. }:
//!     target.handed_over(at, now, &mut out); updated.handed_over(at, now, &mut out)
//! SwitchCore output SwitchFailed { pad: updated_pad, at, .. }, or schedule_switch refused:
//!     updated.switch_failed(at, now, &mut out)
//! clock wait at min(target.next_deadline(), updated.next_deadline()) (or a 10 ms timer):
//!     target.tick(now, &mut out); updated.tick(now, &mut out)
//!
//! dispatch(actions of one side):
//!     Send(m)                 → the other side's receive(&m, now, &mut out) (another process:
//!                               m.encode(), and receive_bytes there)
//!     ScheduleKeyframe{frame} → force-key-unit for frame's running time upstream of the updated encoder
//!     ScheduleSwitch{frame}   → core.schedule_switch(updated_pad, frame) (Err → switch_failed)
//!     Negotiated(a)           → from the updated side: post handover-negotiated (frame, timecode,
//!                               running time computed from a.frame)
//!     KeyframeMissed{..}      → log / warning; a new Negotiated follows or Failed
//!     Complete(c)             → from the updated side: post handover-complete; the updated
//!                               endpoint's into_target() is the next target
//!     ReleaseTarget           → drain and remove (or keep-target: lower priority) the old branch
//!     Failed(f)               → from the updated side: post handover-failed (f.reason.as_str());
//!                               core.request_switch(active_pad) cancels a pending switch; remove
//!                               the updated branch
//! ```
//!
//! A missed keyframe is invisible to the glue's flow: the updated side reports KeyframeMissed,
//! renegotiates, and emits a new Negotiated, ScheduleKeyframe and ScheduleSwitch for a later
//! frame (the switching core's pending switch is replaced); after
//! [`Config::max_keyframe_attempts`] misses it fails with
//! [`FailureReason::KeyframeNeverProduced`].

mod endpoint;
pub mod messages;
mod target;
mod updated;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::fmt;

pub use crate::switching::{FrameIndex, Nanos};
pub use messages::{Body, BranchPosition, Criteria, DecodeError, Message, Role, SyncInfo};
pub use target::{InProgress, TargetEndpoint};
pub use updated::UpdatedEndpoint;

/// Where a handover stands, on one side.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Target: no handover in progress.
    Idle = 0,
    /// Updated: Notify sent, waiting for the target's Sync.
    Notifying = 1,
    /// Target: waiting for the updated side's ready Sync. Updated: waiting to be ready (its first
    /// encoded frame), then for the proposal.
    Syncing = 2,
    /// Target: proposal sent, waiting for Accept or Counter.
    Proposing = 3,
    /// Updated: Accept or Counter sent, waiting for Confirm (or a new proposal).
    Answering = 4,
    /// Both: a frame is agreed; waiting for the keyframe and the switch.
    Armed = 5,
    /// Updated: the agreed frame was missed, Renegotiate sent, waiting for a new proposal.
    Renegotiating = 6,
    /// Both: this side saw the switch; waiting for the peer's Completed.
    Completing = 7,
    /// Both: done, the output is on the updated branch.
    Complete = 8,
    /// Both: abandoned, the output stays on the target branch.
    Failed = 9,
}

impl Phase {
    /// Every phase, in declaration order.
    pub const ALL: [Phase; 10] = [
        Phase::Idle,
        Phase::Notifying,
        Phase::Syncing,
        Phase::Proposing,
        Phase::Answering,
        Phase::Armed,
        Phase::Renegotiating,
        Phase::Completing,
        Phase::Complete,
        Phase::Failed,
    ];

    /// The nick used in messages and logs (`"proposing"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Notifying => "notifying",
            Phase::Syncing => "syncing",
            Phase::Proposing => "proposing",
            Phase::Answering => "answering",
            Phase::Armed => "armed",
            Phase::Renegotiating => "renegotiating",
            Phase::Completing => "completing",
            Phase::Complete => "complete",
            Phase::Failed => "failed",
        }
    }

    /// A handover is under way: neither idle nor finished.
    pub fn is_active(self) -> bool {
        !matches!(self, Phase::Idle | Phase::Complete | Phase::Failed)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a handover was abandoned: the `reason` of `handover-failed`. Sent to the peer in Abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// Another handover is in progress (the target refused this one).
    Busy,
    /// The updated branch could not negotiate caps (reported by the glue).
    CapsNegotiationFailed,
    /// A branch posted an error (reported by the glue).
    BranchError,
    /// The updated branch stopped producing frames for [`Config::stall_timeout_ns`].
    BranchStalled,
    /// The updated branch produced no frame within [`Config::ready_timeout_ns`].
    NotReady,
    /// The peer did not answer in this phase within [`Config::reply_timeout_ns`].
    PeerStalled(Phase),
    /// The updated encoder did not produce a keyframe at the agreed frame,
    /// [`Config::max_keyframe_attempts`] times.
    KeyframeNeverProduced,
    /// The switching core could not switch at the agreed frame (the updated frame came too late),
    /// [`Config::max_keyframe_attempts`] times.
    SwitchFailed,
    /// No frame satisfies both sides within [`Config::max_rounds`] rounds (or frame numbers
    /// overflow).
    NoAgreement,
    /// The application cancelled the handover.
    Aborted,
    /// A newer request or configuration replaced this handover (decided by the glue).
    Superseded,
    /// The peer broke the protocol.
    ProtocolError(ProtocolViolation),
}

impl FailureReason {
    /// The nick used in `handover-failed` (`"caps-negotiation-failed"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Busy => "busy",
            FailureReason::CapsNegotiationFailed => "caps-negotiation-failed",
            FailureReason::BranchError => "branch-error",
            FailureReason::BranchStalled => "branch-stalled",
            FailureReason::NotReady => "not-ready",
            FailureReason::PeerStalled(_) => "peer-stalled",
            FailureReason::KeyframeNeverProduced => "keyframe-never-produced",
            FailureReason::SwitchFailed => "switch-failed",
            FailureReason::NoAgreement => "no-agreement",
            FailureReason::Aborted => "aborted",
            FailureReason::Superseded => "superseded",
            FailureReason::ProtocolError(_) => "protocol-error",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Busy => f.write_str("another handover is already in progress"),
            FailureReason::CapsNegotiationFailed => {
                f.write_str("the updated branch could not negotiate caps")
            }
            FailureReason::BranchError => f.write_str("an encoder branch posted an error"),
            FailureReason::BranchStalled => {
                f.write_str("the updated branch stopped producing frames")
            }
            FailureReason::NotReady => f.write_str("the updated branch produced no frame in time"),
            FailureReason::PeerStalled(phase) => {
                write!(f, "the other endpoint stopped answering (phase {phase})")
            }
            FailureReason::KeyframeNeverProduced => {
                f.write_str("the updated encoder never produced a keyframe at the agreed frame")
            }
            FailureReason::SwitchFailed => {
                f.write_str("the output could not switch at the agreed frame")
            }
            FailureReason::NoAgreement => f.write_str("no handover frame satisfies both sides"),
            FailureReason::Aborted => f.write_str("the handover was cancelled"),
            FailureReason::Superseded => f.write_str("the handover was superseded"),
            FailureReason::ProtocolError(violation) => write!(f, "protocol error: {violation}"),
        }
    }
}

/// How the peer broke the protocol ([`FailureReason::ProtocolError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolViolation {
    /// A confirmation or acceptance names another frame than the one of its round.
    FrameMismatch,
    /// Only undecodable bytes came from the peer in a phase that then timed out.
    Undecodable,
    /// A message that cannot come in this phase with these values (e.g. a Completed naming
    /// another frame than an earlier one).
    Unexpected,
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolViolation::FrameMismatch => "the peer named another frame for the same round",
            ProtocolViolation::Undecodable => "the peer's messages did not decode",
            ProtocolViolation::Unexpected => "unexpected message",
        })
    }
}

/// Why the updated side counter-proposed: the first criterion the proposal missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterReason {
    /// The updated branch is already too close to (or past) the proposed frame.
    Position,
    /// The updated branch has not run in parallel for `delay_frames` by then.
    Delay,
    /// Too close to the updated encoder's last keyframe (GOP phase,
    /// [`Config::min_keyframe_interval`]).
    KeyframeInterval,
    /// Not a multiple of the alignment.
    Alignment,
    /// Not after the frame missed before.
    AfterMiss,
}

/// Why the agreed frame was missed ([`Body::Renegotiate`], [`Action::KeyframeMissed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissCause {
    /// The updated encoder's frame at the agreed frame is not a keyframe.
    NotKeyframe,
    /// The updated encoder skipped the agreed frame.
    Skipped,
    /// The confirmation arrived when the frame no longer met the updated side's criteria: its
    /// encoder was within the lead of the frame (or past it), or keyframed too recently.
    TooLate,
    /// The switching core reported the scheduled switch as failed.
    SwitchFailed,
}

impl fmt::Display for MissCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MissCause::NotKeyframe => "not a keyframe",
            MissCause::Skipped => "frame skipped",
            MissCause::TooLate => "agreed too late",
            MissCause::SwitchFailed => "switch failed",
        })
    }
}

/// Settings of one endpoint. Both sides may use different values; the fields read by one role
/// only say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Safety margin: the handover frame is at least this many frames after the side's last
    /// encoded frame, so the force-key-unit reaches the updated encoder before that frame does
    /// (encoder latency plus message round trip). Values below 1 count as 1.
    pub lead_frames: u32,
    /// Updated side: the encoder needs this many frames after a keyframe before it can produce
    /// another one (0: any frame). The handover frame is at least last keyframe + this.
    pub min_keyframe_interval: u32,
    /// Updated side: how many agreed frames may be missed (no keyframe, switch failed) before the
    /// handover fails. Values below 1 count as 1.
    pub max_keyframe_attempts: u32,
    /// Target side: proposals per attempt before the handover fails with
    /// [`FailureReason::NoAgreement`]. Values below 1 count as 1.
    pub max_rounds: u32,
    /// How often an unanswered request is sent again.
    pub retransmit_interval_ns: Nanos,
    /// How long the peer may stay silent in a phase.
    pub reply_timeout_ns: Nanos,
    /// Updated side: how long after the start its branch may take to encode its first frame
    /// (the target waits this plus `reply_timeout_ns` for the updated side's Sync).
    pub ready_timeout_ns: Nanos,
    /// Updated side: how long its branch may go without encoding a frame.
    pub stall_timeout_ns: Nanos,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lead_frames: 10,
            min_keyframe_interval: 0,
            max_keyframe_attempts: 3,
            max_rounds: 8,
            retransmit_interval_ns: 100_000_000,
            reply_timeout_ns: 2_000_000_000,
            ready_timeout_ns: 10_000_000_000,
            stall_timeout_ns: 2_000_000_000,
        }
    }
}

impl Config {
    pub(crate) fn lead(&self) -> i64 {
        i64::from(self.lead_frames.max(1))
    }
}

/// The agreed handover: the `handover-negotiated` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Agreement {
    pub txn: u64,
    /// The handover frame: the updated branch's first output frame, a keyframe.
    pub frame: FrameIndex,
    /// The round that agreed on it.
    pub round: u32,
    /// 1 for the first agreement, 2 after one missed frame, …
    pub attempt: u32,
    /// The updated branch's caps differ: send them with the handover frame.
    pub caps_changed: bool,
}

/// The finished handover: the `handover-complete` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Completion {
    pub txn: u64,
    /// The agreed frame, if one was agreed (a switch by a failover of the switching core can
    /// come first).
    pub agreed: Option<FrameIndex>,
    /// The target's last output frame.
    pub target_last: FrameIndex,
    /// The updated branch's first output frame.
    pub updated_first: FrameIndex,
    /// The peer confirmed its side. When false, the peer's frame is this side's inference
    /// (`updated_first = target_last + 1`).
    pub peer_confirmed: bool,
}

/// An abandoned handover: the `handover-failed` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Failure {
    pub txn: u64,
    pub reason: FailureReason,
    /// The side that decided to give up (this side for a local decision or timeout).
    pub by: Role,
    /// This side's phase when it happened.
    pub phase: Phase,
}

/// What an endpoint tells the glue to do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Deliver this message to the other endpoint (in another process: `msg.encode()`).
    Send(Message),
    /// Updated side only: make the updated encoder produce a keyframe at this frame (a
    /// force-key-unit event for the frame's running time, sent before the frame reaches it).
    ScheduleKeyframe { frame: FrameIndex },
    /// Updated side only: `SwitchCore::schedule_switch(updated_pad, frame)`. If it is rejected,
    /// or the core later reports `SwitchFailed` for it, call [`UpdatedEndpoint::switch_failed`].
    ScheduleSwitch { frame: FrameIndex },
    /// A frame is agreed (both sides). Post `handover-negotiated` from one side (in one bin: the
    /// updated side's).
    Negotiated(Agreement),
    /// The agreed frame was missed (both sides); a later one is being negotiated.
    KeyframeMissed {
        frame: FrameIndex,
        cause: MissCause,
        attempt: u32,
    },
    /// The handover happened (both sides): post `handover-complete`.
    Complete(Completion),
    /// Target side only, after Complete: drain and remove the target branch (or keep it as a
    /// lower-priority standby) and release its memory.
    ReleaseTarget,
    /// The handover is abandoned (both sides): post `handover-failed`; the target keeps the
    /// output. The glue removes the updated branch and cancels a still pending scheduled switch
    /// (`SwitchCore::request_switch(active_pad)` cancels it).
    Failed(Failure),
}

/// Counters of one endpoint, for the element's stats and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Messages sent for the first time.
    pub sent: u64,
    /// Requests sent again (on tick, or as the answer to a duplicate).
    pub retransmitted: u64,
    /// Duplicates received (answered again, nothing changed).
    pub duplicates: u64,
    /// Messages ignored: stale, other transactions, wrong direction, or unexpected in the phase.
    pub ignored: u64,
    /// Byte inputs that did not decode.
    pub undecodable: u64,
}

/// The smallest frame that is ≥ every bound and a multiple of `criteria.alignment` (0 and 1: any
/// frame); `None` when it would overflow `i64` or there is no bound.
pub fn handover_frame(
    criteria: &Criteria,
    bounds: impl IntoIterator<Item = FrameIndex>,
) -> Option<FrameIndex> {
    let lower = bounds.into_iter().max()?;
    align_up(lower, criteria.alignment)
}

/// Whether `frame` is a multiple of `alignment` (0 and 1: any frame).
pub fn is_aligned(frame: FrameIndex, alignment: u32) -> bool {
    alignment <= 1 || frame.rem_euclid(i64::from(alignment)) == 0
}

fn align_up(frame: FrameIndex, alignment: u32) -> Option<FrameIndex> {
    if alignment <= 1 {
        return Some(frame);
    }
    let alignment = i64::from(alignment);
    match frame.rem_euclid(alignment) {
        0 => Some(frame),
        rest => frame.checked_add(alignment - rest),
    }
}
