// SPDX-License-Identifier: MPL-2.0
//! The updated endpoint: the new encoder branch's side. One per handover: created by the
//! `update-encoder` request, it notifies the target at once and ends complete or failed.

use super::endpoint::{Branch, Link};
use super::{
    Action, Agreement, Body, Completion, Config, CounterReason, Criteria, DecodeError,
    EndpointStats, Failure, FailureReason, FrameIndex, Message, MissCause, Nanos, Phase,
    ProtocolViolation, Role, SyncInfo, TargetEndpoint, handover_frame, is_aligned,
};

/// The new branch's endpoint. See the [module documentation](super) for the protocol.
///
/// Inputs: [`receive`](Self::receive) (or [`receive_bytes`](Self::receive_bytes)) for each
/// message from the target, [`on_frame`](Self::on_frame) for each frame the updated encoder
/// outputs, [`set_caps_changed`](Self::set_caps_changed), [`handed_over`](Self::handed_over)
/// when the output switched to the updated branch, [`switch_failed`](Self::switch_failed),
/// [`abort`](Self::abort), and [`tick`](Self::tick).
#[derive(Debug, Clone)]
pub struct UpdatedEndpoint {
    config: Config,
    branch: Branch,
    link: Link,
    txn: u64,
    criteria: Criteria,
    phase: Phase,
    started_at: Nanos,
    caps_changed: bool,
    /// The target's Sync arrived.
    have_peer_sync: bool,
    /// This side's ready Sync was sent.
    sent_ready_sync: bool,
    round: u32,
    /// The frame answered (Answering) or agreed (Armed and after).
    frame: Option<FrameIndex>,
    agreed: Option<FrameIndex>,
    keyframe_seen: bool,
    attempts: u32,
    not_before: Option<FrameIndex>,
    own_done: Option<FrameIndex>,
    peer_done: Option<FrameIndex>,
    failure: Option<FailureReason>,
    /// This branch's last frame when its current request was sent.
    requested_at: Option<FrameIndex>,
    /// Frames the branch advanced during the slowest round trip so far (at least the lead): the
    /// headroom its sync info and answers leave so that they still hold at the confirmation.
    round_trip: i64,
}

impl UpdatedEndpoint {
    /// Starts handover `txn` with `criteria`: sends Notify. Transaction ids must increase from one
    /// handover to the next towards the same target (e.g. a counter of the element, or a
    /// timestamp across processes): the target ignores a Notify whose id is not above the last
    /// one it saw, as a stale retransmission. The updated branch needs to encode frames from now on.
    pub fn start(
        txn: u64,
        criteria: Criteria,
        config: Config,
        now: Nanos,
        out: &mut Vec<Action>,
    ) -> Self {
        let mut updated = UpdatedEndpoint {
            config,
            branch: Branch::default(),
            link: Link::new(),
            txn,
            criteria,
            phase: Phase::Notifying,
            started_at: now,
            caps_changed: false,
            have_peer_sync: false,
            sent_ready_sync: false,
            round: 0,
            frame: None,
            agreed: None,
            keyframe_seen: false,
            attempts: 0,
            not_before: None,
            own_done: None,
            peer_done: None,
            failure: None,
            requested_at: None,
            round_trip: config.lead(),
        };
        let notify = updated.message(Body::Notify { criteria });
        updated
            .link
            .request(notify, now, config.retransmit_interval_ns, out);
        updated
            .link
            .progress(Some(now.saturating_add(config.reply_timeout_ns)));
        updated
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn criteria(&self) -> &Criteria {
        &self.criteria
    }

    pub fn txn(&self) -> u64 {
        self.txn
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The agreed frame while one is agreed (Armed, Completing, Complete).
    pub fn agreed_frame(&self) -> Option<FrameIndex> {
        self.agreed
    }

    pub fn stats(&self) -> EndpointStats {
        self.link.stats
    }

    /// The updated branch's caps differ from the target's (sent in the next sync info).
    pub fn set_caps_changed(&mut self, caps_changed: bool) {
        self.caps_changed = caps_changed;
    }

    /// After a completed handover the updated branch is the running one: its endpoint for the
    /// next handover, with the frames seen so far. `None` unless this handover is complete.
    pub fn into_target(self) -> Option<TargetEndpoint> {
        (self.phase == Phase::Complete)
            .then(|| TargetEndpoint::with_branch(self.config, self.branch, self.link.stats))
    }

    /// This side's synchronization info now.
    pub fn sync_info(&self) -> SyncInfo {
        SyncInfo {
            position: self.branch.position,
            earliest_frame: self.earliest(),
            caps_changed: self.caps_changed,
        }
    }

    /// The earliest frame the updated side accepts now, before alignment: its last frame plus the
    /// lead plus the round-trip headroom, its first frame plus the delay, its last keyframe plus
    /// the keyframe interval, and after a missed frame the frame after it. `None` before its
    /// first frame.
    fn earliest(&self) -> Option<FrameIndex> {
        let p = self.branch.position?;
        let by_key = p
            .last_keyframe
            .map(|key| key.saturating_add(i64::from(self.config.min_keyframe_interval)));
        let margin = self.config.lead().saturating_add(self.round_trip);
        [
            Some(p.last_frame.saturating_add(margin)),
            Some(
                p.first_frame
                    .saturating_add(i64::from(self.criteria.delay_frames)),
            ),
            by_key,
            self.not_before,
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// Whether `frame` meets every criterion of this side now; if not, the first one it misses.
    /// With `headroom` (answering a proposal) the frame must also leave room for the round trip
    /// to the confirmation; without (at the confirmation) the lead is enough.
    fn check(&self, frame: FrameIndex, headroom: bool) -> Result<(), CounterReason> {
        let Some(p) = self.branch.position else {
            return Err(CounterReason::Position);
        };
        let margin = if headroom {
            self.config.lead().saturating_add(self.round_trip)
        } else {
            self.config.lead()
        };
        if frame < p.last_frame.saturating_add(margin) {
            return Err(CounterReason::Position);
        }
        if frame
            < p.first_frame
                .saturating_add(i64::from(self.criteria.delay_frames))
        {
            return Err(CounterReason::Delay);
        }
        if let Some(key) = p.last_keyframe
            && frame < key.saturating_add(i64::from(self.config.min_keyframe_interval))
        {
            return Err(CounterReason::KeyframeInterval);
        }
        if self.not_before.is_some_and(|bound| frame < bound) {
            return Err(CounterReason::AfterMiss);
        }
        if !is_aligned(frame, self.criteria.alignment) {
            return Err(CounterReason::Alignment);
        }
        Ok(())
    }

    fn message(&self, body: Body) -> Message {
        Message {
            txn: self.txn,
            sender: Role::Updated,
            body,
        }
    }

    /// The next time [`tick`](Self::tick) has something to do.
    pub fn next_deadline(&self) -> Option<Nanos> {
        if !self.phase.is_active() {
            return None;
        }
        let stall = if self.own_done.is_some() {
            None
        } else {
            Some(match self.branch.last_frame_at {
                Some(at) => at.saturating_add(self.config.stall_timeout_ns),
                None => self.started_at.saturating_add(self.config.ready_timeout_ns),
            })
        };
        [self.link.next_deadline(), stall]
            .into_iter()
            .flatten()
            .min()
    }

    /// A frame the updated encoder output (absolute frame number; `keyframe` as flagged). The
    /// first one makes this side ready; in Armed, the agreed frame is checked for a keyframe.
    pub fn on_frame(
        &mut self,
        frame: FrameIndex,
        keyframe: bool,
        now: Nanos,
        out: &mut Vec<Action>,
    ) {
        self.branch.observe(frame, keyframe, now);
        match self.phase {
            Phase::Syncing if !self.sent_ready_sync => self.send_ready_sync(now, out),
            Phase::Armed => {
                let Some(agreed) = self.agreed else {
                    return;
                };
                if self.keyframe_seen {
                    return;
                }
                if frame == agreed {
                    if keyframe {
                        // The switch is due as soon as the output reaches the frame.
                        self.keyframe_seen = true;
                        self.link
                            .progress(Some(now.saturating_add(self.config.reply_timeout_ns)));
                    } else {
                        self.miss(agreed, MissCause::NotKeyframe, now, out);
                    }
                } else if frame > agreed {
                    self.miss(agreed, MissCause::Skipped, now, out);
                }
            }
            _ => {}
        }
    }

    /// An answer to this side's request arrived: the branch advanced this much since it was sent.
    fn measure_round_trip(&mut self) {
        if let (Some(sent_at), Some(last)) = (self.requested_at.take(), self.branch.last_frame()) {
            self.round_trip = self.round_trip.max(last.saturating_sub(sent_at));
        }
    }

    fn send_ready_sync(&mut self, now: Nanos, out: &mut Vec<Action>) {
        if !self.have_peer_sync || self.branch.position.is_none() {
            return;
        }
        self.sent_ready_sync = true;
        self.requested_at = self.branch.last_frame();
        let sync = self.message(Body::Sync {
            sync: self.sync_info(),
        });
        self.link
            .request(sync, now, self.config.retransmit_interval_ns, out);
        self.link
            .progress(Some(now.saturating_add(self.config.reply_timeout_ns)));
    }

    /// Decodes and handles bytes from the peer. Undecodable bytes are dropped like a lost message
    /// and returned as the error (for the glue to log).
    pub fn receive_bytes(
        &mut self,
        bytes: &[u8],
        now: Nanos,
        out: &mut Vec<Action>,
    ) -> Result<(), DecodeError> {
        match Message::decode(bytes) {
            Ok(message) => {
                self.receive(&message, now, out);
                Ok(())
            }
            Err(err) => {
                self.link.stats.undecodable += 1;
                self.link.undecodable_seen = true;
                Err(err)
            }
        }
    }

    /// Handles a message from the target endpoint.
    pub fn receive(&mut self, message: &Message, now: Nanos, out: &mut Vec<Action>) {
        if message.sender != Role::Target
            || !message.body.sent_by(Role::Target)
            || message.txn != self.txn
        {
            self.link.stats.ignored += 1;
            return;
        }
        if self.link.replay_duplicate(message, out) {
            return;
        }
        if !self.phase.is_active() {
            self.handle_finished(message, out);
            return;
        }
        match (self.phase, message.body) {
            (_, Body::Abort { reason }) => self.fail(reason, Role::Target, false, out),
            (_, Body::Completed { frame, .. }) => self.peer_completed(frame, out),
            (Phase::Notifying, Body::Sync { .. }) => {
                self.link.settle();
                self.have_peer_sync = true;
                self.phase = Phase::Syncing;
                // Not ready yet: the stall deadline (ready timeout) watches the branch.
                self.link.progress(None);
                self.send_ready_sync(now, out);
            }
            (Phase::Syncing, Body::Propose { round, frame }) if self.sent_ready_sync => {
                self.answer(message, round, frame, now, out)
            }
            (Phase::Answering | Phase::Renegotiating, Body::Propose { round, frame })
                if round > self.round =>
            {
                self.answer(message, round, frame, now, out)
            }
            (Phase::Answering, Body::Confirm { round, frame }) if round == self.round => {
                if Some(frame) == self.frame {
                    self.arm(frame, now, out);
                } else {
                    self.fail(
                        FailureReason::ProtocolError(ProtocolViolation::FrameMismatch),
                        Role::Updated,
                        true,
                        out,
                    );
                }
            }
            _ => self.link.stats.ignored += 1,
        }
    }

    fn handle_finished(&mut self, message: &Message, out: &mut Vec<Action>) {
        match (self.phase, message.body, self.failure, self.own_done) {
            (_, Body::Abort { .. }, _, _) => self.link.stats.ignored += 1,
            (Phase::Failed, _, Some(reason), _) => {
                // The target did not get our Abort: send it again.
                self.link.stats.retransmitted += 1;
                out.push(Action::Send(self.message(Body::Abort { reason })));
            }
            (
                Phase::Complete,
                Body::Completed {
                    have_peer: false, ..
                },
                _,
                Some(own),
            ) => {
                let ack = self.message(Body::Completed {
                    round: self.round,
                    frame: own,
                    have_peer: true,
                });
                self.link.answer(*message, ack, out);
            }
            _ => self.link.stats.ignored += 1,
        }
    }

    /// Accepts the proposal of `round`, or counter-proposes the earliest frame this side can meet.
    fn answer(
        &mut self,
        proposal: &Message,
        round: u32,
        frame: FrameIndex,
        now: Nanos,
        out: &mut Vec<Action>,
    ) {
        self.measure_round_trip();
        let body = match self.check(frame, true) {
            Ok(()) => Body::Accept { round, frame },
            Err(reason) => {
                let bounds = [Some(frame), self.earliest()].into_iter().flatten();
                let Some(counter) = handover_frame(&self.criteria, bounds) else {
                    self.fail(FailureReason::NoAgreement, Role::Updated, true, out);
                    return;
                };
                Body::Counter {
                    round,
                    frame: counter,
                    reason,
                }
            }
        };
        self.round = round;
        self.frame = Some(match body {
            Body::Counter { frame, .. } => frame,
            _ => frame,
        });
        self.phase = Phase::Answering;
        self.requested_at = self.branch.last_frame();
        let reply = self.message(body);
        self.link.answer_and_request(
            *proposal,
            reply,
            now,
            self.config.retransmit_interval_ns,
            out,
        );
        self.link
            .progress(Some(now.saturating_add(self.config.reply_timeout_ns)));
    }

    fn arm(&mut self, frame: FrameIndex, now: Nanos, out: &mut Vec<Action>) {
        self.link.settle();
        self.attempts = self.attempts.saturating_add(1);
        self.measure_round_trip();
        if self.check(frame, false).is_err() {
            // The confirmation came late: the encoder is within its lead of the frame (or past
            // it), or has keyframed too recently, so a forced keyframe would not land there.
            self.agreed = Some(frame);
            self.miss(frame, MissCause::TooLate, now, out);
            return;
        }
        self.phase = Phase::Armed;
        self.agreed = Some(frame);
        self.keyframe_seen = false;
        // The branch's stall deadline watches the keyframe; the switch deadline starts with it.
        self.link.progress(None);
        out.push(Action::Negotiated(Agreement {
            txn: self.txn,
            frame,
            round: self.round,
            attempt: self.attempts,
            caps_changed: self.caps_changed,
        }));
        out.push(Action::ScheduleKeyframe { frame });
        out.push(Action::ScheduleSwitch { frame });
    }

    /// The agreed frame was missed: renegotiate a later one, or give up after
    /// [`Config::max_keyframe_attempts`].
    fn miss(&mut self, frame: FrameIndex, cause: MissCause, now: Nanos, out: &mut Vec<Action>) {
        out.push(Action::KeyframeMissed {
            frame,
            cause,
            attempt: self.attempts,
        });
        self.keyframe_seen = false;
        if self.attempts >= self.config.max_keyframe_attempts.max(1) {
            let reason = if cause == MissCause::SwitchFailed {
                FailureReason::SwitchFailed
            } else {
                FailureReason::KeyframeNeverProduced
            };
            self.fail(reason, Role::Updated, true, out);
            return;
        }
        let after = frame.saturating_add(1);
        self.not_before = Some(self.not_before.map_or(after, |b| b.max(after)));
        self.agreed = None;
        self.phase = Phase::Renegotiating;
        self.requested_at = self.branch.last_frame();
        let renegotiate = self.message(Body::Renegotiate {
            round: self.round,
            missed_frame: frame,
            cause,
            sync: self.sync_info(),
        });
        self.link
            .request(renegotiate, now, self.config.retransmit_interval_ns, out);
        self.link
            .progress(Some(now.saturating_add(self.config.reply_timeout_ns)));
    }

    /// The switching core could not switch at `at` (`schedule_switch` refused it, or it reported
    /// `SwitchFailed`): renegotiate as for a missed keyframe. Returns false (and does nothing)
    /// unless `at` is the frame agreed now.
    pub fn switch_failed(&mut self, at: FrameIndex, now: Nanos, out: &mut Vec<Action>) -> bool {
        if self.phase != Phase::Armed || self.agreed != Some(at) {
            return false;
        }
        self.miss(at, MissCause::SwitchFailed, now, out);
        true
    }

    /// The output switched to the updated branch at frame `at` (the switching core's `Switched`
    /// output): `at` is the updated branch's first output frame. From here on the handover
    /// completes whatever the peer does. Returns false (and does nothing) when the handover is
    /// already finished or the switch was already reported.
    pub fn handed_over(&mut self, at: FrameIndex, now: Nanos, out: &mut Vec<Action>) -> bool {
        if !self.phase.is_active() || self.own_done.is_some() {
            return false;
        }
        self.own_done = Some(at);
        let have_peer = self.peer_done.is_some();
        let completed = self.message(Body::Completed {
            round: self.round,
            frame: at,
            have_peer,
        });
        if have_peer {
            self.link.send(completed, out);
            self.finish(true, out);
        } else {
            self.phase = Phase::Completing;
            self.link
                .request(completed, now, self.config.retransmit_interval_ns, out);
            self.link
                .progress(Some(now.saturating_add(self.config.reply_timeout_ns)));
        }
        true
    }

    fn peer_completed(&mut self, frame: FrameIndex, out: &mut Vec<Action>) {
        let known = self.peer_done;
        if known.is_some_and(|known| known != frame) {
            self.link.stats.ignored += 1;
            return;
        }
        self.peer_done = Some(frame);
        // With our own Completed already sent, the peer finishes when it arrives; if it was lost,
        // the peer's retransmission reaches us finished and gets the answer then.
        if self.own_done.is_some() {
            self.finish(true, out);
        }
    }

    fn finish(&mut self, peer_confirmed: bool, out: &mut Vec<Action>) {
        let Some(updated_first) = self.own_done else {
            return;
        };
        self.phase = Phase::Complete;
        let target_last = match self.peer_done {
            Some(last) if peer_confirmed => last,
            _ => updated_first.saturating_sub(1),
        };
        self.link.settle();
        self.link.progress(None);
        out.push(Action::Complete(Completion {
            txn: self.txn,
            agreed: self.agreed,
            target_last,
            updated_first,
            peer_confirmed,
        }));
    }

    /// Abandons the handover (caps negotiation failed, branch error, application cancel,
    /// superseded): the target gets an Abort with `reason`. Returns false (and does nothing) when
    /// the handover is already finished or the switch already happened.
    pub fn abort(&mut self, reason: FailureReason, out: &mut Vec<Action>) -> bool {
        if !self.phase.is_active() || self.own_done.is_some() {
            return false;
        }
        self.fail(reason, Role::Updated, true, out);
        true
    }

    fn fail(&mut self, reason: FailureReason, by: Role, tell_peer: bool, out: &mut Vec<Action>) {
        if self.own_done.is_some() {
            // The switch happened: it cannot be undone, the handover completes without the peer.
            self.finish(false, out);
            return;
        }
        let failure = Failure {
            txn: self.txn,
            reason,
            by,
            phase: self.phase,
        };
        self.phase = Phase::Failed;
        self.failure = Some(reason);
        self.agreed = None;
        self.link.settle();
        self.link.progress(None);
        if tell_peer {
            self.link.send(self.message(Body::Abort { reason }), out);
        }
        out.push(Action::Failed(failure));
    }

    /// Retransmits, watches the updated branch (no first frame within the ready timeout, no frame
    /// within the stall timeout) and ends a phase whose peer stayed silent too long.
    pub fn tick(&mut self, now: Nanos, out: &mut Vec<Action>) {
        if !self.phase.is_active() {
            return;
        }
        if self.own_done.is_none() {
            match self.branch.last_frame_at {
                None if now >= self.started_at.saturating_add(self.config.ready_timeout_ns) => {
                    self.fail(FailureReason::NotReady, Role::Updated, true, out);
                    return;
                }
                Some(at) if now >= at.saturating_add(self.config.stall_timeout_ns) => {
                    self.fail(FailureReason::BranchStalled, Role::Updated, true, out);
                    return;
                }
                _ => {}
            }
        }
        self.link.tick(now, self.config.retransmit_interval_ns, out);
        if self.link.timed_out(now) {
            let reason = if self.link.undecodable_seen {
                FailureReason::ProtocolError(ProtocolViolation::Undecodable)
            } else {
                FailureReason::PeerStalled(self.phase)
            };
            self.fail(reason, Role::Updated, true, out);
        }
    }
}
