// SPDX-License-Identifier: MPL-2.0
//! The target endpoint: the running encoder branch's side. Long-lived: it answers one handover
//! after the other (a failed one leaves it in charge) and refuses a second one while busy.

use std::fmt;

use super::endpoint::{Branch, Link};
use super::{
    Action, Agreement, Body, Completion, Config, Criteria, DecodeError, EndpointStats, Failure,
    FailureReason, FrameIndex, Message, MissCause, Nanos, Phase, ProtocolViolation, Role, SyncInfo,
    handover_frame, is_aligned,
};

/// A handover in progress on the target side (see [`TargetEndpoint::in_progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InProgress {
    pub txn: u64,
    pub phase: Phase,
}

impl fmt::Display for InProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handover {} is already in progress (phase {})",
            self.txn, self.phase
        )
    }
}

#[derive(Debug, Clone)]
struct Session {
    txn: u64,
    criteria: Criteria,
    phase: Phase,
    /// The updated side's latest sync info.
    peer_sync: Option<SyncInfo>,
    round: u32,
    rounds_in_attempt: u32,
    attempt: u32,
    /// The frame proposed (Proposing) or agreed (Armed and after).
    frame: Option<FrameIndex>,
    agreed: Option<FrameIndex>,
    /// Frames up to the one missed last are out.
    not_before: Option<FrameIndex>,
    /// The target's last frame when it sent the current proposal.
    proposed_at: Option<FrameIndex>,
    /// Armed: when this branch reached the agreed frame (the peer's verdict is due from then).
    reached_agreed: bool,
    own_done: Option<FrameIndex>,
    peer_done: Option<FrameIndex>,
    failure: Option<FailureReason>,
}

/// The running branch's endpoint. See the [module documentation](super) for the protocol.
///
/// Inputs: [`receive`](Self::receive) (or [`receive_bytes`](Self::receive_bytes)) for each
/// message from an updated endpoint, [`on_frame`](Self::on_frame) for each frame the target
/// encoder outputs, [`handed_over`](Self::handed_over) when the output switched away from the
/// target, [`abort`](Self::abort), and [`tick`](Self::tick).
#[derive(Debug, Clone)]
pub struct TargetEndpoint {
    config: Config,
    branch: Branch,
    link: Link,
    session: Option<Session>,
    /// Frames the branch advanced during the slowest proposal round trip so far (at least the
    /// lead): the headroom a proposal leaves so that it still holds when the answer arrives.
    round_trip: i64,
}

impl TargetEndpoint {
    pub fn new(config: Config) -> Self {
        TargetEndpoint {
            config,
            branch: Branch::default(),
            link: Link::new(),
            session: None,
            round_trip: config.lead(),
        }
    }

    /// A target that continues where an updated branch's frames got to (after a handover the
    /// updated branch becomes the target of the next one).
    pub(super) fn with_branch(config: Config, branch: Branch, stats: EndpointStats) -> Self {
        let mut target = TargetEndpoint::new(config);
        target.branch = branch;
        target.link.stats = stats;
        target
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The handover in progress, if any: a new `update-encoder` request must be refused with
    /// this as the reason (a Notify of another transaction would get Abort{Busy} anyway).
    pub fn in_progress(&self) -> Option<InProgress> {
        self.session
            .as_ref()
            .filter(|s| s.phase.is_active())
            .map(|s| InProgress {
                txn: s.txn,
                phase: s.phase,
            })
    }

    /// This side's phase for the current (or last) handover; `Idle` before the first.
    pub fn phase(&self) -> Phase {
        self.session.as_ref().map_or(Phase::Idle, |s| s.phase)
    }

    /// The current (or last) handover's transaction id.
    pub fn txn(&self) -> Option<u64> {
        self.session.as_ref().map(|s| s.txn)
    }

    pub fn stats(&self) -> EndpointStats {
        self.link.stats
    }

    /// This side's synchronization info now.
    pub fn sync_info(&self) -> SyncInfo {
        SyncInfo {
            position: self.branch.position,
            earliest_frame: self.earliest(),
            caps_changed: false,
        }
    }

    /// The earliest frame the target proposes now: its last frame plus the lead plus the
    /// round-trip headroom.
    fn earliest(&self) -> Option<FrameIndex> {
        self.commit_bound()
            .map(|bound| bound.saturating_add(self.round_trip))
    }

    /// The earliest frame the target commits to now: its last frame plus the lead.
    fn commit_bound(&self) -> Option<FrameIndex> {
        self.branch
            .last_frame()
            .map(|last| last.saturating_add(self.config.lead()))
    }

    /// An answer to the proposal arrived: the branch advanced this much since it was sent.
    fn measure_round_trip(&mut self) {
        let sent_at = self.session.as_ref().and_then(|s| s.proposed_at);
        if let (Some(sent_at), Some(last)) = (sent_at, self.branch.last_frame()) {
            self.round_trip = self.round_trip.max(last.saturating_sub(sent_at));
        }
    }

    /// The next time [`tick`](Self::tick) has something to do.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.link.next_deadline()
    }

    /// A frame the target encoder output (absolute frame number; `keyframe` as flagged).
    pub fn on_frame(&mut self, frame: FrameIndex, keyframe: bool, now: Nanos) {
        self.branch.observe(frame, keyframe, now);
        let reply_timeout = self.config.reply_timeout_ns;
        if let Some(s) = self.session.as_mut()
            && s.phase == Phase::Armed
            && !s.reached_agreed
            && s.agreed.is_some_and(|agreed| frame >= agreed)
        {
            // From now on the updated side must report the switch or a miss soon.
            s.reached_agreed = true;
            self.link.progress(Some(now.saturating_add(reply_timeout)));
        }
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

    /// Handles a message from an updated endpoint.
    pub fn receive(&mut self, message: &Message, now: Nanos, out: &mut Vec<Action>) {
        if message.sender != Role::Updated || !message.body.sent_by(Role::Updated) {
            self.link.stats.ignored += 1;
            return;
        }
        let current = self.session.as_ref().map(|s| (s.txn, s.phase));
        match current {
            Some((txn, phase)) if txn == message.txn => {
                if self.link.replay_duplicate(message, out) {
                    return;
                }
                if phase.is_active() {
                    self.handle_active(message, now, out);
                } else {
                    self.handle_finished(message, out);
                }
            }
            Some((_, phase)) if phase.is_active() => {
                if matches!(message.body, Body::Notify { .. }) {
                    // A second request while busy: refused, the running handover goes on.
                    self.link.send(
                        Message {
                            txn: message.txn,
                            sender: Role::Target,
                            body: Body::Abort {
                                reason: FailureReason::Busy,
                            },
                        },
                        out,
                    );
                } else {
                    self.link.stats.ignored += 1;
                }
            }
            // Transaction ids increase from one handover to the next: a Notify of an older one is
            // a stale retransmission and must not start that handover again.
            Some((txn, _)) if message.txn <= txn => self.link.stats.ignored += 1,
            _ => match message.body {
                Body::Notify { criteria } => self.start(message, criteria, now, out),
                _ => self.link.stats.ignored += 1,
            },
        }
    }

    fn start(&mut self, notify: &Message, criteria: Criteria, now: Nanos, out: &mut Vec<Action>) {
        self.link.reset();
        self.session = Some(Session {
            txn: notify.txn,
            criteria,
            phase: Phase::Syncing,
            peer_sync: None,
            round: 0,
            rounds_in_attempt: 0,
            attempt: 1,
            frame: None,
            agreed: None,
            not_before: None,
            reached_agreed: false,
            proposed_at: None,
            own_done: None,
            peer_done: None,
            failure: None,
        });
        let sync = self.message(Body::Sync {
            sync: self.sync_info(),
        });
        self.link.answer(*notify, sync, out);
        let wait = self
            .config
            .ready_timeout_ns
            .saturating_add(self.config.reply_timeout_ns);
        self.link.progress(Some(now.saturating_add(wait)));
    }

    fn message(&self, body: Body) -> Message {
        Message {
            txn: self.session.as_ref().map_or(0, |s| s.txn),
            sender: Role::Target,
            body,
        }
    }

    fn handle_active(&mut self, message: &Message, now: Nanos, out: &mut Vec<Action>) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let (phase, round, frame) = (s.phase, s.round, s.frame);
        match (phase, message.body) {
            (_, Body::Abort { reason }) => self.fail(reason, Role::Updated, false, out),
            (_, Body::Completed { frame, .. }) => self.peer_completed(frame, out),
            (Phase::Syncing, Body::Sync { sync }) if sync.ready() => {
                if let Some(s) = self.session.as_mut() {
                    s.peer_sync = Some(sync);
                }
                self.propose(message, None, now, out);
            }
            (Phase::Proposing, Body::Accept { round: r, frame: f }) if r == round => {
                self.measure_round_trip();
                if Some(f) != frame {
                    self.fail(
                        FailureReason::ProtocolError(ProtocolViolation::FrameMismatch),
                        Role::Target,
                        true,
                        out,
                    );
                } else if self.acceptable(f) {
                    self.confirm(message, f, now, out);
                } else {
                    // The target moved on while the proposal travelled: a later frame.
                    self.propose(message, Some(f), now, out);
                }
            }
            (
                Phase::Proposing,
                Body::Counter {
                    round: r, frame: f, ..
                },
            ) if r == round => {
                self.measure_round_trip();
                if self.acceptable(f) {
                    self.confirm(message, f, now, out);
                } else {
                    self.propose(message, Some(f), now, out);
                }
            }
            (
                Phase::Armed,
                Body::Renegotiate {
                    round: r,
                    missed_frame,
                    cause,
                    sync,
                },
            ) if r == round => self.renegotiate(message, missed_frame, cause, sync, now, out),
            _ => self.link.stats.ignored += 1,
        }
    }

    /// Messages of a finished handover: answered so that the peer finishes too.
    fn handle_finished(&mut self, message: &Message, out: &mut Vec<Action>) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        match (s.phase, message.body, s.failure, s.own_done) {
            (_, Body::Abort { .. }, _, _) => self.link.stats.ignored += 1,
            (Phase::Failed, _, Some(reason), _) => {
                // The peer did not get our Abort: send it again.
                let abort = self.message(Body::Abort { reason });
                self.link.stats.retransmitted += 1;
                out.push(Action::Send(abort));
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
                    round: s.round,
                    frame: own,
                    have_peer: true,
                });
                self.link.answer(*message, ack, out);
            }
            _ => self.link.stats.ignored += 1,
        }
    }

    /// Whether the target can commit to `frame` (accepted or counter-proposed) as things are now.
    fn acceptable(&self, frame: FrameIndex) -> bool {
        let Some(s) = self.session.as_ref() else {
            return false;
        };
        is_aligned(frame, s.criteria.alignment)
            && self
                .bounds(self.commit_bound())
                .into_iter()
                .flatten()
                .all(|bound| frame >= bound)
    }

    /// Every lower bound the target knows: `own` (its own bound), the updated side's earliest,
    /// the updated branch's first frame plus the delay, and after a miss the frame after it.
    fn bounds(&self, own: Option<FrameIndex>) -> [Option<FrameIndex>; 4] {
        let Some(s) = self.session.as_ref() else {
            return [None; 4];
        };
        let peer = s.peer_sync;
        let start_plus_delay = peer.and_then(|p| p.position).map(|p| {
            p.first_frame
                .saturating_add(i64::from(s.criteria.delay_frames))
        });
        [
            own,
            peer.and_then(|p| p.earliest_frame),
            start_plus_delay,
            s.not_before,
        ]
    }

    /// Proposes the earliest frame satisfying every bound (and ≥ `at_least`, a counter-proposal
    /// that could not be confirmed), as the answer to `request`.
    fn propose(
        &mut self,
        request: &Message,
        at_least: Option<FrameIndex>,
        now: Nanos,
        out: &mut Vec<Action>,
    ) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let criteria = s.criteria;
        let exhausted = s.rounds_in_attempt >= self.config.max_rounds.max(1);
        let bounds = self
            .bounds(self.earliest())
            .into_iter()
            .chain([at_least])
            .flatten();
        let frame = handover_frame(&criteria, bounds);
        let (Some(frame), false) = (frame, exhausted) else {
            self.fail(FailureReason::NoAgreement, Role::Target, true, out);
            return;
        };
        let Some(s) = self.session.as_mut() else {
            return;
        };
        s.round = s.round.saturating_add(1);
        s.rounds_in_attempt += 1;
        s.phase = Phase::Proposing;
        s.frame = Some(frame);
        s.proposed_at = self.branch.last_frame();
        let round = s.round;
        let proposal = self.message(Body::Propose { round, frame });
        self.link.answer_and_request(
            *request,
            proposal,
            now,
            self.config.retransmit_interval_ns,
            out,
        );
        self.link
            .progress(Some(now.saturating_add(self.config.reply_timeout_ns)));
    }

    fn confirm(&mut self, request: &Message, frame: FrameIndex, now: Nanos, out: &mut Vec<Action>) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        s.phase = Phase::Armed;
        s.frame = Some(frame);
        s.agreed = Some(frame);
        s.reached_agreed = false;
        let agreement = Agreement {
            txn: s.txn,
            frame,
            round: s.round,
            attempt: s.attempt,
            caps_changed: s.peer_sync.is_some_and(|p| p.caps_changed),
        };
        let round = s.round;
        let confirm = self.message(Body::Confirm { round, frame });
        self.link.settle();
        self.link.answer(*request, confirm, out);
        out.push(Action::Negotiated(agreement));
        let reached = self.branch.last_frame().is_some_and(|last| last >= frame);
        if let Some(s) = self.session.as_mut() {
            s.reached_agreed = reached;
        }
        let deadline = reached.then(|| now.saturating_add(self.config.reply_timeout_ns));
        self.link.progress(deadline);
    }

    fn renegotiate(
        &mut self,
        request: &Message,
        missed_frame: FrameIndex,
        cause: MissCause,
        sync: SyncInfo,
        now: Nanos,
        out: &mut Vec<Action>,
    ) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        s.attempt = s.attempt.saturating_add(1);
        s.rounds_in_attempt = 0;
        s.agreed = None;
        s.peer_sync = Some(sync);
        s.not_before = Some(
            missed_frame
                .saturating_add(1)
                .max(s.not_before.unwrap_or(i64::MIN)),
        );
        out.push(Action::KeyframeMissed {
            frame: missed_frame,
            cause,
            attempt: s.attempt - 1,
        });
        self.propose(request, None, now, out);
    }

    /// The output switched from the target to the updated branch at frame `at` (the switching
    /// core's `Switched` output): the target's last output frame is `at - 1`. From here on the
    /// handover completes whatever the peer does. Returns false (and does nothing) when no
    /// handover is in progress.
    pub fn handed_over(&mut self, at: FrameIndex, now: Nanos, out: &mut Vec<Action>) -> bool {
        let own = at.saturating_sub(1);
        let Some(s) = self.session.as_mut() else {
            return false;
        };
        if !s.phase.is_active() || s.own_done.is_some() {
            return false;
        }
        s.own_done = Some(own);
        let have_peer = s.peer_done.is_some();
        let round = s.round;
        let completed = self.message(Body::Completed {
            round,
            frame: own,
            have_peer,
        });
        if have_peer {
            self.link.send(completed, out);
            self.finish(true, out);
        } else {
            if let Some(s) = self.session.as_mut() {
                s.phase = Phase::Completing;
            }
            self.link
                .request(completed, now, self.config.retransmit_interval_ns, out);
            self.link
                .progress(Some(now.saturating_add(self.config.reply_timeout_ns)));
        }
        true
    }

    fn peer_completed(&mut self, frame: FrameIndex, out: &mut Vec<Action>) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let known = s.peer_done;
        if known.is_some_and(|known| known != frame) {
            self.link.stats.ignored += 1;
            return;
        }
        s.peer_done = Some(frame);
        // With our own Completed already sent, the peer finishes when it arrives; if it was lost,
        // the peer's retransmission reaches us finished and gets the answer then.
        if s.own_done.is_some() {
            self.finish(true, out);
        }
    }

    fn finish(&mut self, peer_confirmed: bool, out: &mut Vec<Action>) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let Some(target_last) = s.own_done else {
            return;
        };
        s.phase = Phase::Complete;
        let updated_first = match s.peer_done {
            Some(first) if peer_confirmed => first,
            _ => target_last.saturating_add(1),
        };
        let completion = Completion {
            txn: s.txn,
            agreed: s.agreed,
            target_last,
            updated_first,
            peer_confirmed,
        };
        self.link.settle();
        self.link.progress(None);
        out.push(Action::Complete(completion));
        out.push(Action::ReleaseTarget);
    }

    /// Abandons the handover in progress (target branch error, application cancel, superseded):
    /// the peer gets an Abort with `reason`. Returns false (and does nothing) when no handover is
    /// in progress or the switch already happened.
    pub fn abort(&mut self, reason: FailureReason, out: &mut Vec<Action>) -> bool {
        match self.session.as_ref() {
            Some(s) if s.phase.is_active() && s.own_done.is_none() => {
                self.fail(reason, Role::Target, true, out);
                true
            }
            _ => false,
        }
    }

    fn fail(&mut self, reason: FailureReason, by: Role, tell_peer: bool, out: &mut Vec<Action>) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if s.own_done.is_some() {
            // The switch happened: it cannot be undone, the handover completes without the peer.
            self.finish(false, out);
            return;
        }
        let failure = Failure {
            txn: s.txn,
            reason,
            by,
            phase: s.phase,
        };
        s.phase = Phase::Failed;
        s.failure = Some(reason);
        self.link.settle();
        self.link.progress(None);
        if tell_peer {
            let abort = self.message(Body::Abort { reason });
            self.link.send(abort, out);
        }
        out.push(Action::Failed(failure));
    }

    /// Retransmits, and ends a phase whose peer stayed silent too long.
    pub fn tick(&mut self, now: Nanos, out: &mut Vec<Action>) {
        if !self.phase().is_active() {
            return;
        }
        self.link.tick(now, self.config.retransmit_interval_ns, out);
        if self.link.timed_out(now) {
            let reason = if self.link.undecodable_seen {
                FailureReason::ProtocolError(ProtocolViolation::Undecodable)
            } else {
                FailureReason::PeerStalled(self.phase())
            };
            self.fail(reason, Role::Target, true, out);
        }
    }
}
