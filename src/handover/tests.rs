// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the handover negotiation: the happy path in every message order, duplicates,
//! losses, timeouts in each phase, a second request, counter-proposals, missed keyframes, aborts,
//! and the byte encoding.

use super::sim::{PERIOD, Sim, config, config_no_retransmit};
use super::*;

fn criteria(delay_frames: u32, alignment: u32) -> Criteria {
    Criteria {
        delay_frames,
        alignment,
    }
}

fn msg(sender: Role, body: Body) -> Message {
    Message {
        txn: 7,
        sender,
        body,
    }
}

#[test]
fn happy_path_meets_every_criterion() {
    let mut sim = Sim::new(criteria(20, 50), config(), config(), 1000);
    sim.run(400);
    let at = sim.assert_complete();
    // Aligned, after the delay counted from the updated branch's first frame (1001), and after
    // both positions plus the lead at the time of the agreement.
    assert_eq!(at % 50, 0);
    assert!(at >= 1001 + 20);
    assert_eq!(at, 1050, "the earliest frame meeting every criterion");
    let kinds: Vec<&str> = sim.sent.iter().map(|m| m.body.name()).collect();
    assert_eq!(
        kinds,
        [
            "notify",
            "sync",
            "sync",
            "propose",
            "accept",
            "confirm",
            "completed",
            "completed"
        ]
    );
    let u = sim.events_of(Role::Updated);
    let agreement = Agreement {
        txn: 7,
        frame: 1050,
        round: 1,
        attempt: 1,
        caps_changed: false,
    };
    assert_eq!(
        u,
        [
            Action::Negotiated(agreement),
            Action::ScheduleKeyframe { frame: 1050 },
            Action::ScheduleSwitch { frame: 1050 },
            Action::Complete(Completion {
                txn: 7,
                agreed: Some(1050),
                target_last: 1049,
                updated_first: 1050,
                peer_confirmed: true,
            }),
        ]
    );
    assert_eq!(
        sim.events_of(Role::Target)[0],
        Action::Negotiated(agreement)
    );
    assert_eq!(sim.target.in_progress(), None);
    assert_eq!(sim.updated.agreed_frame(), Some(1050));
}

#[test]
fn any_frame_when_alignment_is_zero_or_one() {
    for alignment in [0, 1] {
        let mut sim = Sim::new(criteria(0, alignment), config(), config(), 500);
        sim.run(100);
        let at = sim.assert_complete();
        // Updated ready at 501 → proposed at 501 + lead 3 + round-trip headroom 3 (the lead
        // until a round trip is measured).
        assert_eq!(at, 507);
    }
}

/// One step of the exhaustive exploration: deliver an in-flight message (possibly keeping a
/// duplicate on the way), or let a local event happen.
#[derive(Debug, Clone, Copy)]
enum Choice {
    Deliver(usize, bool),
    /// The updated encoder outputs its first frame (it becomes ready).
    Ready,
    /// Both encoders run up to the agreed frame (the updated one with a keyframe there).
    RunToAgreed,
    /// The switching core switched: one side is told.
    HandedOver(Role),
}

struct Explorer {
    paths: u64,
    duplicates_left: u32,
}

fn choices(sim: &Sim, ready: bool, ran: bool, told: &[Role], dups: u32) -> Vec<Choice> {
    let mut out = Vec::new();
    for i in 0..sim.in_flight.len() {
        out.push(Choice::Deliver(i, false));
        if dups > 0 {
            out.push(Choice::Deliver(i, true));
        }
    }
    if !ready {
        out.push(Choice::Ready);
    }
    if ready && !ran && sim.updated.agreed_frame().is_some() {
        out.push(Choice::RunToAgreed);
    }
    if ran {
        for role in [Role::Target, Role::Updated] {
            if !told.contains(&role) {
                out.push(Choice::HandedOver(role));
            }
        }
    }
    out
}

impl Explorer {
    fn explore(&mut self, sim: Sim, ready: bool, ran: bool, told: Vec<Role>, depth: u32) {
        assert!(depth < 60, "no progress");
        let options = choices(&sim, ready, ran, &told, self.duplicates_left);
        if options.is_empty() {
            self.paths += 1;
            assert_eq!(sim.assert_complete(), 1050);
            return;
        }
        for choice in options {
            let mut next = sim.clone();
            let (mut ready, mut ran, mut told) = (ready, ran, told.clone());
            let saved = self.duplicates_left;
            match choice {
                Choice::Deliver(i, keep) => {
                    if keep {
                        self.duplicates_left -= 1;
                    }
                    next.deliver(i, keep);
                }
                Choice::Ready => {
                    ready = true;
                    let mut out = Vec::new();
                    next.updated.on_frame(1001, true, next.now, &mut out);
                    next.route(Role::Updated, out);
                }
                Choice::RunToAgreed => {
                    ran = true;
                    let agreed = next.updated.agreed_frame().unwrap_or(0);
                    for n in 1001..=agreed {
                        next.target.on_frame(n, false, next.now);
                        let mut out = Vec::new();
                        let key = n == agreed || n == 1001;
                        next.updated.on_frame(n, key, next.now, &mut out);
                        next.route(Role::Updated, out);
                    }
                    next.switched_at = Some(agreed);
                }
                Choice::HandedOver(role) => {
                    told.push(role);
                    let at = next.switched_at.unwrap_or(0);
                    let mut out = Vec::new();
                    match role {
                        Role::Target => next.target.handed_over(at, next.now, &mut out),
                        Role::Updated => next.updated.handed_over(at, next.now, &mut out),
                    };
                    next.route(role, out);
                }
            }
            self.explore(next, ready, ran, told, depth + 1);
            self.duplicates_left = saved;
        }
    }
}

/// Every interleaving of message deliveries (in any order, both directions) with the local events
/// (the updated branch becoming ready, the encoders reaching the frame, the switch reported to
/// each side), with no time passing: always the same agreed frame, completed on both sides.
#[test]
fn every_message_order_completes_at_the_same_frame() {
    let mut sim = Sim::new(criteria(20, 50), config(), config(), 1000);
    sim.updated_from = 1001;
    let mut explorer = Explorer {
        paths: 0,
        duplicates_left: 0,
    };
    explorer.explore(sim, false, false, Vec::new(), 0);
    assert!(explorer.paths >= 6, "{} paths", explorer.paths);
}

/// The same exploration where any one message may also arrive twice, at any later point.
#[test]
fn every_message_order_with_duplicates_completes_at_the_same_frame() {
    let sim = Sim::new(criteria(20, 50), config(), config(), 1000);
    let mut explorer = Explorer {
        paths: 0,
        duplicates_left: 1,
    };
    explorer.explore(sim, false, false, Vec::new(), 0);
    assert!(explorer.paths > 100, "{} paths", explorer.paths);
}

#[test]
fn every_message_delivered_twice_changes_nothing() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 2000);
    let mut reference = sim.clone();
    reference.run(300);
    let expected = reference.assert_complete();
    for _ in 0..300 {
        while !sim.in_flight.is_empty() {
            sim.deliver(0, true);
            sim.deliver(0, false);
        }
        if sim.done() {
            break;
        }
        sim.step();
    }
    assert_eq!(sim.assert_complete(), expected);
    assert!(sim.target.stats().duplicates >= 3);
    assert!(sim.updated.stats().duplicates >= 2);
}

/// Each message kind lost once (its first copy), with and without a missed keyframe (which adds
/// a Renegotiate and a second proposal round): retransmission on tick recovers every loss.
#[test]
fn lost_messages_are_recovered_by_retransmission() {
    let kinds = [
        "notify",
        "sync",
        "propose",
        "accept",
        "confirm",
        "renegotiate",
        "completed",
    ];
    for (kind, ignored) in kinds.iter().flat_map(|&k| [(k, 0), (k, 1)]) {
        if kind == "renegotiate" && ignored == 0 {
            continue;
        }
        let mut sim = Sim::new(criteria(10, 25), config(), config(), 3000);
        sim.ignore_keyframe_requests = ignored;
        let mut lost = 0;
        for _ in 0..400 {
            while !sim.in_flight.is_empty() {
                let first_of_kind = sim.in_flight[0].message.body.name() == kind && lost < 1;
                if first_of_kind {
                    lost += 1;
                    sim.in_flight.remove(0);
                } else {
                    sim.deliver(0, false);
                }
            }
            if sim.done() {
                break;
            }
            sim.step();
        }
        assert_eq!(lost, 1, "{kind}");
        sim.assert_complete();
        assert_eq!(sim.negotiated(Role::Updated).len(), 1 + ignored as usize);
        let retransmitted = sim.target.stats().retransmitted + sim.updated.stats().retransmitted;
        assert!(retransmitted >= 1, "{kind}");
    }
}

/// Runs until both sides finished, delivering only the messages `keep` lets through.
fn run_filtered(sim: &mut Sim, frames: usize, keep: impl Fn(&Sim, &Message) -> bool) {
    for _ in 0..frames {
        while !sim.in_flight.is_empty() {
            let message = sim.in_flight[0].message;
            if keep(sim, &message) {
                sim.deliver(0, false);
            } else {
                sim.in_flight.remove(0);
            }
        }
        if sim.done() {
            return;
        }
        sim.step();
    }
}

#[test]
fn timeout_while_notifying() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    run_filtered(&mut sim, 200, |_, m| m.sender == Role::Target);
    let failure = sim.failure(Role::Updated).expect("updated failed");
    assert_eq!(failure.reason, FailureReason::PeerStalled(Phase::Notifying));
    assert_eq!(failure.by, Role::Updated);
    assert_eq!(
        sim.target.phase(),
        Phase::Idle,
        "the target never heard of it"
    );
    assert!(sim.switched_at.is_none());
    assert!(sim.updated.stats().retransmitted >= 5);
}

#[test]
fn timeout_while_syncing_on_both_sides() {
    // The updated side vanishes after its Notify: the target, which answered, times out waiting
    // for the ready Sync.
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    run_filtered(&mut sim, 300, |_, m| m.body.name() == "notify");
    assert_eq!(
        sim.failure(Role::Target).map(|f| f.reason),
        Some(FailureReason::PeerStalled(Phase::Syncing))
    );
    // The updated side's ready Sync is lost every time: it times out while syncing.
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    run_filtered(&mut sim, 300, |_, m| m.body.name() != "propose");
    assert_eq!(
        sim.failure(Role::Updated).map(|f| f.reason),
        Some(FailureReason::PeerStalled(Phase::Syncing))
    );
    assert_eq!(
        sim.failure(Role::Target).map(|f| (f.reason, f.by)),
        Some((FailureReason::PeerStalled(Phase::Proposing), Role::Target))
    );
}

#[test]
fn timeout_while_answering() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    run_filtered(&mut sim, 300, |_, m| m.body.name() != "confirm");
    // The target confirmed and is armed; the updated side never hears it.
    assert_eq!(
        sim.failure(Role::Updated).map(|f| f.reason),
        Some(FailureReason::PeerStalled(Phase::Answering))
    );
    assert!(
        sim.switched_at.is_none(),
        "no switch without a confirmation"
    );
    // The target learns it from the Abort (delivered: only confirms are lost).
    assert_eq!(
        sim.failure(Role::Target).map(|f| (f.reason, f.by)),
        Some((FailureReason::PeerStalled(Phase::Answering), Role::Updated))
    );
}

#[test]
fn timeout_while_armed_when_the_switch_never_comes() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    let mut out = Vec::new();
    // Negotiate, then make the glue lose the scheduled switch.
    for _ in 0..200 {
        sim.settle();
        if sim.updated.phase() == Phase::Armed {
            break;
        }
        sim.step();
    }
    assert_eq!(sim.updated.phase(), Phase::Armed);
    sim.route(Role::Updated, std::mem::take(&mut out));
    let agreed = sim.updated.agreed_frame().expect("agreed");
    sim.scheduled_switch = None;
    sim.run(200);
    // Both sides wait the same reply timeout from the agreed frame on: either may give up first,
    // and the other learns it from the Abort.
    let t = sim.failure(Role::Target).expect("target failed");
    let u = sim.failure(Role::Updated).expect("updated failed");
    assert_eq!(t.reason, FailureReason::PeerStalled(Phase::Armed));
    assert_eq!(u.reason, FailureReason::PeerStalled(Phase::Armed));
    assert!(sim.switched_at.is_none());
    assert!(sim.frame > agreed);
}

#[test]
fn target_times_out_armed_when_the_updated_side_goes_silent() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    for _ in 0..200 {
        sim.settle();
        if sim.target.phase() == Phase::Armed {
            break;
        }
        sim.step();
    }
    assert_eq!(sim.target.phase(), Phase::Armed);
    // The updated side and its branch vanish (a crashed process): no messages, no frames, no
    // switch.
    sim.updated_from = i64::MAX;
    sim.scheduled_switch = None;
    run_filtered(&mut sim, 300, |_, m| m.sender == Role::Target);
    let failure = sim.failure(Role::Target).expect("target failed");
    assert_eq!(failure.reason, FailureReason::PeerStalled(Phase::Armed));
    assert_eq!(failure.by, Role::Target);
    assert!(sim.switched_at.is_none());
}

#[test]
fn completion_without_the_peers_confirmation_still_completes() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    run_filtered(&mut sim, 300, |_, m| {
        !(m.body.name() == "completed" && m.sender == Role::Target)
    });
    let t = sim.completion(Role::Target).expect("target complete");
    let u = sim.completion(Role::Updated).expect("updated complete");
    assert!(
        t.peer_confirmed,
        "the target got the updated side's Completed"
    );
    assert!(!u.peer_confirmed);
    assert_eq!(
        (u.target_last, u.updated_first),
        (t.target_last, t.updated_first)
    );
    assert!(sim.failure(Role::Updated).is_none());
}

#[test]
fn updated_branch_never_ready_fails_not_ready() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.updated_from = i64::MAX;
    sim.run(300);
    let failure = sim.failure(Role::Updated).expect("failed");
    assert_eq!(failure.reason, FailureReason::NotReady);
    assert_eq!(
        sim.failure(Role::Target).map(|f| (f.reason, f.by)),
        Some((FailureReason::NotReady, Role::Updated))
    );
    assert!(sim.switched_at.is_none());
}

#[test]
fn updated_branch_stalling_fails_branch_stalled() {
    let mut sim = Sim::new(criteria(100, 25), config(), config(), 0);
    for _ in 0..20 {
        sim.settle();
        sim.step();
    }
    // The updated encoder stops; the target goes on.
    sim.updated_from = i64::MAX;
    sim.run(300);
    assert_eq!(
        sim.failure(Role::Updated).map(|f| f.reason),
        Some(FailureReason::BranchStalled)
    );
    assert_eq!(
        sim.failure(Role::Target).map(|f| f.reason),
        Some(FailureReason::BranchStalled)
    );
}

#[test]
fn not_ready_updated_side_delays_the_proposal_and_the_delay_counts_from_its_first_frame() {
    let mut sim = Sim::new(criteria(30, 10), config(), config(), 100);
    sim.updated_from = 140;
    for _ in 0..30 {
        sim.settle();
        sim.step();
    }
    assert_eq!(
        sim.target.phase(),
        Phase::Syncing,
        "no proposal before ready"
    );
    assert!(!sim.sent.iter().any(|m| m.body.name() == "propose"));
    sim.run(300);
    let at = sim.assert_complete();
    assert_eq!(at, 170, "first frame 140 + delay 30, aligned to 10");
}

#[test]
fn second_request_during_a_handover_is_refused_with_a_reason() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.settle();
    let busy = sim.target.in_progress().expect("in progress");
    assert_eq!(busy.txn, 7);
    assert_eq!(
        busy.to_string(),
        "handover 7 is already in progress (phase syncing)"
    );
    // A second updated endpoint notifies the same target anyway.
    let mut out = Vec::new();
    let mut second = UpdatedEndpoint::start(8, criteria(0, 0), config(), sim.now, &mut out);
    let Action::Send(notify) = out[0] else {
        panic!("{out:?}")
    };
    let mut answer = Vec::new();
    sim.target.receive(&notify, sim.now, &mut answer);
    let Action::Send(abort) = answer[0] else {
        panic!("{answer:?}")
    };
    assert_eq!(abort.txn, 8);
    assert_eq!(
        abort.body,
        Body::Abort {
            reason: FailureReason::Busy
        }
    );
    let mut events = Vec::new();
    second.receive(&abort, sim.now, &mut events);
    assert_eq!(
        events,
        [Action::Failed(Failure {
            txn: 8,
            reason: FailureReason::Busy,
            by: Role::Target,
            phase: Phase::Notifying,
        })]
    );
    // The first handover is untouched.
    sim.run(300);
    sim.assert_complete();
}

fn counters(sim: &Sim) -> Vec<(FrameIndex, CounterReason)> {
    sim.sent
        .iter()
        .filter_map(|m| match m.body {
            Body::Counter { frame, reason, .. } => Some((frame, reason)),
            _ => None,
        })
        .collect()
}

fn proposals(sim: &Sim) -> Vec<(u32, FrameIndex)> {
    sim.sent
        .iter()
        .filter_map(|m| match m.body {
            Body::Propose { round, frame } => Some((round, frame)),
            _ => None,
        })
        .collect()
}

#[test]
fn counter_proposal_when_the_updated_encoder_keyframes_after_its_sync() {
    let mut updated_config = config_no_retransmit();
    updated_config.min_keyframe_interval = 40;
    let mut sim = Sim::new(criteria(0, 0), config_no_retransmit(), updated_config, 200);
    sim.settle();
    sim.step(); // 201: the updated encoder's first frame (a keyframe): ready, Sync out
    let sync = sim.deliver_until("sync").expect("sync");
    // The Sync is slow; meanwhile the updated encoder emits another keyframe, at 203.
    sim.keyframe_requests.insert(203);
    sim.step();
    sim.step();
    sim.in_flight.insert(0, sync);
    sim.run(300);
    // The target proposed from the Sync (keyframe 201 + 40); the encoder's GOP phase moved on.
    assert_eq!(proposals(&sim), [(1, 241)]);
    assert_eq!(counters(&sim), [(243, CounterReason::KeyframeInterval)]);
    assert_eq!(sim.assert_complete(), 243);
}

#[test]
fn counter_proposal_when_the_updated_encoder_moved_on_and_the_target_re_proposes() {
    let mut sim = Sim::new(
        criteria(0, 0),
        config_no_retransmit(),
        config_no_retransmit(),
        300,
    );
    sim.settle();
    sim.step(); // 301: ready, Sync out
    let propose = sim.deliver_until("propose").expect("propose");
    assert_eq!(
        propose.message.body,
        Body::Propose {
            round: 1,
            frame: 307
        }
    );
    // 301 + lead 3 + headroom 3. The proposal is slow: the updated encoder is at 303 when it
    // arrives; 307 leaves less than lead + headroom.
    sim.step();
    sim.step();
    sim.in_flight.insert(0, propose);
    let counter = sim.deliver_until("counter").expect("counter");
    assert!(matches!(
        counter.message.body,
        Body::Counter {
            frame: 309,
            reason: CounterReason::Position,
            ..
        }
    ));
    // The counter is slow too: the target is at 307 when it arrives, 309 is within its lead; it
    // proposes again with the round trip it measured (6 frames) as headroom: 307 + 3 + 6.
    for _ in 0..4 {
        sim.step();
    }
    sim.in_flight.insert(0, counter);
    sim.run(300);
    let rounds = proposals(&sim);
    assert_eq!(rounds, [(1, 307), (2, 316)]);
    assert_eq!(sim.assert_complete(), 316);
}

#[test]
fn missed_keyframe_renegotiates_a_later_frame() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.ignore_keyframe_requests = 1;
    sim.run(400);
    let at = sim.assert_complete();
    let u = sim.negotiated(Role::Updated);
    let t = sim.negotiated(Role::Target);
    assert_eq!(u.len(), 2);
    assert_eq!(t.len(), 2);
    assert_eq!(u[0].frame, 25);
    assert_eq!(u[0].attempt, 1);
    assert_eq!(u[1].attempt, 2);
    assert!(u[1].frame > u[0].frame && u[1].frame % 25 == 0);
    assert_eq!(at, u[1].frame);
    assert_eq!(t[1].frame, at);
    for role in [Role::Target, Role::Updated] {
        assert!(sim.events_of(role).contains(&Action::KeyframeMissed {
            frame: 25,
            cause: MissCause::NotKeyframe,
            attempt: 1,
        }));
    }
}

#[test]
fn keyframe_never_produced_fails_after_the_bounded_retries() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.ignore_keyframe_requests = u32::MAX;
    sim.run(1000);
    let failure = sim.failure(Role::Updated).expect("failed");
    assert_eq!(failure.reason, FailureReason::KeyframeNeverProduced);
    assert_eq!(sim.negotiated(Role::Updated).len(), 3);
    assert_eq!(
        sim.failure(Role::Target).map(|f| (f.reason, f.by)),
        Some((FailureReason::KeyframeNeverProduced, Role::Updated))
    );
    assert!(sim.switched_at.is_none(), "the target keeps the output");
    assert_eq!(sim.target.in_progress(), None);
}

#[test]
fn failed_switch_renegotiates_like_a_missed_keyframe() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    for _ in 0..200 {
        sim.settle();
        if sim.updated.phase() == Phase::Armed {
            break;
        }
        sim.step();
    }
    let first = sim.updated.agreed_frame().expect("agreed");
    // The switching core refuses the schedule (e.g. the frame is already past on its side).
    let mut out = Vec::new();
    assert!(sim.updated.switch_failed(first, sim.now, &mut out));
    assert!(!sim.updated.switch_failed(first, sim.now, &mut Vec::new()));
    sim.route(Role::Updated, out);
    sim.scheduled_switch = None;
    sim.run(300);
    let at = sim.assert_complete();
    assert!(at > first);
    assert!(
        sim.events_of(Role::Updated)
            .contains(&Action::KeyframeMissed {
                frame: first,
                cause: MissCause::SwitchFailed,
                attempt: 1,
            })
    );
}

#[test]
fn confirmation_after_the_frame_passed_renegotiates() {
    let mut sim = Sim::new(
        criteria(0, 0),
        config_no_retransmit(),
        config_no_retransmit(),
        0,
    );
    sim.settle();
    sim.step();
    let confirm = sim.deliver_until("confirm").expect("confirm");
    assert_eq!(sim.target.phase(), Phase::Armed);
    // The confirmation arrives after the updated encoder passed the frame.
    for _ in 0..10 {
        sim.step();
    }
    sim.in_flight.insert(0, confirm);
    sim.run(300);
    assert!(
        sim.events_of(Role::Updated)
            .contains(&Action::KeyframeMissed {
                frame: 7,
                cause: MissCause::TooLate,
                attempt: 1,
            })
    );
    assert!(sim.assert_complete() > 11);
}

#[test]
fn abort_by_the_glue_reaches_the_peer_and_a_new_handover_can_follow() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.settle();
    sim.step();
    sim.settle();
    let mut out = Vec::new();
    assert!(
        sim.updated
            .abort(FailureReason::CapsNegotiationFailed, &mut out)
    );
    assert!(!sim.updated.abort(FailureReason::Aborted, &mut Vec::new()));
    sim.route(Role::Updated, out);
    sim.settle();
    let failure = sim.failure(Role::Target).expect("target failed");
    assert_eq!(failure.reason, FailureReason::CapsNegotiationFailed);
    assert_eq!(failure.by, Role::Updated);
    assert_eq!(sim.target.in_progress(), None);
    // A new request gets through.
    let mut out = Vec::new();
    let mut next = UpdatedEndpoint::start(9, criteria(0, 0), config(), sim.now, &mut out);
    let Action::Send(notify) = out[0] else {
        panic!()
    };
    let mut answer = Vec::new();
    sim.target.receive(&notify, sim.now, &mut answer);
    assert!(matches!(
        answer[0],
        Action::Send(Message {
            txn: 9,
            body: Body::Sync { .. },
            ..
        })
    ));
    let Action::Send(sync) = answer[0] else {
        panic!()
    };
    next.receive(&sync, sim.now, &mut Vec::new());
    assert_eq!(next.phase(), Phase::Syncing);
}

#[test]
fn target_abort_and_late_requests_get_the_abort_again() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.settle();
    let mut out = Vec::new();
    assert!(sim.target.abort(FailureReason::Superseded, &mut out));
    // The Abort is lost; the updated side's Sync is answered with it again.
    sim.step();
    sim.settle();
    assert_eq!(
        sim.failure(Role::Updated).map(|f| (f.reason, f.by)),
        Some((FailureReason::Superseded, Role::Target))
    );
}

#[test]
fn a_completed_updated_endpoint_becomes_the_next_target() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.run(300);
    let at = sim.assert_complete();
    let mut target = sim.updated.clone().into_target().expect("complete");
    assert_eq!(
        target.sync_info().position.map(|p| p.last_frame),
        Some(sim.frame)
    );
    let mut out = Vec::new();
    let _next = UpdatedEndpoint::start(99, criteria(0, 0), config(), sim.now, &mut out);
    let Action::Send(notify) = out[0] else {
        panic!()
    };
    let mut answer = Vec::new();
    target.receive(&notify, sim.now, &mut answer);
    assert_eq!(target.in_progress().map(|p| p.txn), Some(99));
    assert!(at > 0);
}

#[test]
fn undecodable_input_is_dropped_and_a_later_timeout_says_so() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    let mut out = Vec::new();
    assert_eq!(
        sim.updated.receive_bytes(b"garbage", sim.now, &mut out),
        Err(DecodeError::BadMagic)
    );
    assert!(out.is_empty());
    // Nothing else arrives from the target.
    for _ in 0..100 {
        sim.in_flight.clear();
        if sim.done() {
            break;
        }
        sim.step();
        if sim.updated.phase() == Phase::Notifying {
            let _ = sim
                .updated
                .receive_bytes(b"LKHO\x09", sim.now, &mut Vec::new());
        }
    }
    assert_eq!(
        sim.failure(Role::Updated).map(|f| f.reason),
        Some(FailureReason::ProtocolError(ProtocolViolation::Undecodable))
    );
    assert!(sim.updated.stats().undecodable >= 2);
}

#[test]
fn messages_from_the_wrong_side_or_transaction_are_ignored() {
    let mut target = TargetEndpoint::new(config());
    let mut out = Vec::new();
    target.receive(
        &msg(Role::Target, Body::Propose { round: 1, frame: 5 }),
        0,
        &mut out,
    );
    target.receive(
        &msg(Role::Updated, Body::Accept { round: 1, frame: 5 }),
        0,
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(target.stats().ignored, 2);
    assert_eq!(target.phase(), Phase::Idle);
}

fn every_message() -> Vec<Message> {
    let sync = SyncInfo {
        position: Some(BranchPosition {
            first_frame: -5,
            last_frame: 1 << 40,
            last_keyframe: Some(3),
        }),
        earliest_frame: Some((1 << 40) + 10),
        caps_changed: true,
    };
    let bodies = [
        Body::Notify {
            criteria: criteria(u32::MAX, 3),
        },
        Body::Sync { sync },
        Body::Sync {
            sync: SyncInfo::default(),
        },
        Body::Propose {
            round: 1,
            frame: i64::MIN,
        },
        Body::Accept {
            round: 2,
            frame: i64::MAX,
        },
        Body::Counter {
            round: 3,
            frame: 4,
            reason: CounterReason::KeyframeInterval,
        },
        Body::Confirm { round: 5, frame: 6 },
        Body::Renegotiate {
            round: 7,
            missed_frame: 8,
            cause: MissCause::Skipped,
            sync,
        },
        Body::Completed {
            round: 9,
            frame: 10,
            have_peer: true,
        },
        Body::Abort {
            reason: FailureReason::PeerStalled(Phase::Armed),
        },
        Body::Abort {
            reason: FailureReason::ProtocolError(ProtocolViolation::FrameMismatch),
        },
    ];
    bodies
        .into_iter()
        .map(|body| Message {
            txn: 0xDEAD_BEEF_0000_0001,
            sender: if body.sent_by(Role::Target) {
                Role::Target
            } else {
                Role::Updated
            },
            body,
        })
        .collect()
}

#[test]
fn encoding_round_trips_and_is_length_checked() {
    for message in every_message() {
        let bytes = message.encode();
        assert_eq!(&bytes[..4], b"LKHO");
        assert_eq!(bytes[4], VERSION_FOR_TESTS);
        assert_eq!(Message::decode(&bytes), Ok(message), "{message:?}");
        // Every truncation and every extra byte is an error, never a panic.
        for len in 0..bytes.len() {
            assert!(Message::decode(&bytes[..len]).is_err(), "{message:?} {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Message::decode(&longer),
            Err(DecodeError::LengthMismatch { .. })
        ));
    }
}

const VERSION_FOR_TESTS: u8 = messages::VERSION;

#[test]
fn decoding_reports_what_is_wrong() {
    let good = msg(Role::Target, Body::Confirm { round: 1, frame: 2 }).encode();
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(Message::decode(&bad), Err(DecodeError::BadMagic));
    let mut bad = good.clone();
    bad[4] = 2;
    assert_eq!(
        Message::decode(&bad),
        Err(DecodeError::UnsupportedVersion(2))
    );
    let mut bad = good.clone();
    bad[5] = 42;
    assert_eq!(Message::decode(&bad), Err(DecodeError::UnknownKind(42)));
    let mut bad = good.clone();
    bad[6] = 1;
    assert_eq!(
        Message::decode(&bad),
        Err(DecodeError::WrongSender {
            kind: "confirm",
            sender: Role::Updated
        })
    );
    let mut bad = good.clone();
    bad[6] = 7;
    assert_eq!(Message::decode(&bad), Err(DecodeError::UnknownRole(7)));
    let completed = msg(
        Role::Updated,
        Body::Completed {
            round: 1,
            frame: 2,
            have_peer: false,
        },
    );
    let mut bad = completed.encode();
    *bad.last_mut().unwrap() = 2;
    assert_eq!(
        Message::decode(&bad),
        Err(DecodeError::InvalidField("have_peer"))
    );
    // A sync info whose keyframe lies outside its frames.
    let mut sync = msg(
        Role::Updated,
        Body::Sync {
            sync: SyncInfo {
                position: Some(BranchPosition {
                    first_frame: 10,
                    last_frame: 20,
                    last_keyframe: Some(15),
                }),
                earliest_frame: None,
                caps_changed: false,
            },
        },
    )
    .encode();
    let key_at = sync.len() - 8;
    sync[key_at..].copy_from_slice(&30i64.to_be_bytes());
    assert_eq!(
        Message::decode(&sync),
        Err(DecodeError::InvalidField(
            "sync keyframe outside the frames"
        ))
    );
    // Unknown failure codes and details.
    let mut abort = msg(
        Role::Target,
        Body::Abort {
            reason: FailureReason::Busy,
        },
    )
    .encode();
    let n = abort.len();
    abort[n - 1] = 1;
    assert_eq!(
        Message::decode(&abort),
        Err(DecodeError::InvalidField("failure reason"))
    );
    assert!(
        DecodeError::UnsupportedVersion(2)
            .to_string()
            .contains("version 2")
    );
}

#[test]
fn handover_frame_and_alignment() {
    let c = criteria(0, 50);
    assert_eq!(handover_frame(&c, [1, 49, 3]), Some(50));
    assert_eq!(handover_frame(&c, [100]), Some(100));
    assert_eq!(handover_frame(&c, [-49]), Some(0));
    assert_eq!(handover_frame(&c, [-51]), Some(-50));
    assert_eq!(handover_frame(&c, [i64::MAX]), None);
    assert_eq!(handover_frame(&c, []), None);
    assert!(is_aligned(-100, 50) && !is_aligned(-101, 50) && is_aligned(7, 0));
    assert_eq!(handover_frame(&criteria(0, 1), [i64::MAX]), Some(i64::MAX));
}

#[test]
fn deadlines_are_reported_for_the_glues_clock_waits() {
    let sim = Sim::new(criteria(10, 25), config(), config(), 0);
    assert_eq!(
        sim.updated.next_deadline(),
        Some(sim.now + config().retransmit_interval_ns)
    );
    assert_eq!(sim.target.next_deadline(), None);
    assert_eq!(PERIOD * 2, config().retransmit_interval_ns);
}

#[test]
fn a_stale_notify_of_a_finished_handover_does_not_start_it_again() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.run(300);
    sim.assert_complete();
    let notify = sim.sent[0];
    assert_eq!(notify.body.name(), "notify");
    let mut out = Vec::new();
    let mut target = sim.target.clone();
    target.receive(&notify, sim.now, &mut out);
    // Answered as a finished handover (ignored: nothing to say to a Notify once complete).
    assert!(out.is_empty());
    assert_eq!(target.phase(), Phase::Complete);
    // And once a later handover ran, an earlier id is ignored too.
    let mut later = Vec::new();
    let _next = UpdatedEndpoint::start(8, criteria(0, 0), config(), sim.now, &mut later);
    let Action::Send(next_notify) = later[0] else {
        panic!()
    };
    let mut out = Vec::new();
    target.receive(&next_notify, sim.now, &mut out);
    assert_eq!(target.in_progress().map(|p| p.txn), Some(8));
    assert!(target.abort(FailureReason::Aborted, &mut Vec::new()));
    let mut out = Vec::new();
    target.receive(&notify, sim.now, &mut out);
    assert!(out.is_empty());
    assert_eq!(target.txn(), Some(8));
    assert_eq!(target.phase(), Phase::Failed);
}

#[test]
fn timeout_while_renegotiating() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.ignore_keyframe_requests = 1;
    // The target hears nothing after the missed keyframe.
    run_filtered(&mut sim, 300, |_, m| m.body.name() != "renegotiate");
    let u = sim.failure(Role::Updated).expect("updated failed");
    assert_eq!(u.reason, FailureReason::PeerStalled(Phase::Renegotiating));
    // The target learns it from the Abort, or times out in Armed (its frame is long past).
    let t = sim.failure(Role::Target).expect("target failed");
    assert!(matches!(
        t.reason,
        FailureReason::PeerStalled(Phase::Renegotiating | Phase::Armed)
    ));
    assert!(sim.switched_at.is_none());
}

#[test]
fn changed_caps_are_announced_with_the_agreement() {
    let mut sim = Sim::new(criteria(10, 25), config(), config(), 0);
    sim.updated.set_caps_changed(true);
    sim.run(300);
    sim.assert_complete();
    assert!(sim.negotiated(Role::Updated)[0].caps_changed);
    assert!(sim.negotiated(Role::Target)[0].caps_changed);
    assert!(sim.sent.iter().any(|m| matches!(
        m.body,
        Body::Sync { sync } if m.sender == Role::Updated && sync.caps_changed
    )));
}

/// Found by fuzzing: a branch at the very end of the frame range still sends decodable messages
/// (its earliest frame saturates at the last frame).
#[test]
fn sync_info_at_the_end_of_the_frame_range_round_trips() {
    let mut out = Vec::new();
    let mut updated = UpdatedEndpoint::start(1, criteria(0, 0), config(), 0, &mut out);
    updated.on_frame(i64::MAX, false, 0, &mut out);
    let sync = updated.sync_info();
    assert_eq!(sync.earliest_frame, Some(i64::MAX));
    let message = msg(Role::Updated, Body::Sync { sync });
    assert_eq!(Message::decode(&message.encode()), Ok(message));
}

#[test]
fn no_agreement_after_max_rounds() {
    let mut target_config = config_no_retransmit();
    target_config.max_rounds = 1;
    let mut sim = Sim::new(criteria(0, 0), target_config, config_no_retransmit(), 300);
    sim.settle();
    sim.step();
    // The proposal and the counter are both slow: the target would need a second round.
    let propose = sim.deliver_until("propose").expect("propose");
    sim.step();
    sim.step();
    sim.in_flight.insert(0, propose);
    let counter = sim.deliver_until("counter").expect("counter");
    for _ in 0..4 {
        sim.step();
    }
    sim.in_flight.insert(0, counter);
    sim.run(300);
    let t = sim.failure(Role::Target).expect("target failed");
    assert_eq!(
        (t.reason, t.by, t.phase),
        (FailureReason::NoAgreement, Role::Target, Phase::Proposing)
    );
    assert_eq!(
        sim.failure(Role::Updated).map(|f| (f.reason, f.by)),
        Some((FailureReason::NoAgreement, Role::Target))
    );
    assert!(sim.switched_at.is_none());
}

#[test]
fn a_confirmation_of_another_frame_is_a_protocol_error() {
    let mut sim = Sim::new(criteria(0, 0), config(), config(), 0);
    sim.settle();
    sim.step();
    let confirm = sim.deliver_until("confirm").expect("confirm");
    let Body::Confirm { round, frame } = confirm.message.body else {
        panic!()
    };
    let forged = Message {
        body: Body::Confirm {
            round,
            frame: frame + 1,
        },
        ..confirm.message
    };
    let mut out = Vec::new();
    sim.updated.receive(&forged, sim.now, &mut out);
    sim.route(Role::Updated, out);
    let reason = FailureReason::ProtocolError(ProtocolViolation::FrameMismatch);
    assert_eq!(sim.failure(Role::Updated).map(|f| f.reason), Some(reason));
    sim.settle();
    assert_eq!(
        sim.failure(Role::Target).map(|f| (f.reason, f.by)),
        Some((reason, Role::Updated))
    );
    assert!(
        !sim.events_of(Role::Updated)
            .iter()
            .any(|a| matches!(a, Action::ScheduleSwitch { .. }))
    );
}
