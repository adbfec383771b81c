// SPDX-License-Identifier: MPL-2.0
//! Arbitrary bytes as handover messages, fed to a target and an updated endpoint between encoder
//! frames, ticks, switches and aborts.
//!
//! Input: two bytes of criteria (delay, alignment), then records `op u8, len u8, payload[len]`:
//!
//! | `op % 10` | what happens |
//! |---|---|
//! | 0 / 1 | the payload is received as bytes by the target / the updated endpoint |
//! | 2 / 3 | the target / updated encoder outputs a frame: payload = `i64` frame, then a byte whose bit 0 = keyframe |
//! | 4 | time advances by `payload[0]` × 10 ms; both tick |
//! | 5 | the messages the endpoints sent are delivered to each other (through encode/decode) |
//! | 6 | the switch happened at the payload's frame (`handed_over` on both); empty payload: at the agreed frame once the target reached it, else nothing |
//! | 7 | the switching core reports a failed switch at the payload's frame; empty payload: at the agreed frame, if any |
//! | 8 | one side aborts (bit 0: which) |
//! | 9 | a new updated endpoint starts (a second request) |
//!
//! Besides "no panic" (overflow checks and debug assertions are on): whatever decodes re-encodes
//! to the same bytes; every message an endpoint sends decodes to itself; each side reports at
//! most one outcome (Complete or Failed) per handover; an agreed frame meets the alignment.
#![no_main]

use gstlockstep::handover::{
    Action, Config, Criteria, FailureReason, FrameIndex, Message, Nanos, Role, TargetEndpoint,
    UpdatedEndpoint, is_aligned,
};
use libfuzzer_sys::fuzz_target;

struct World {
    criteria: Criteria,
    target: TargetEndpoint,
    updated: UpdatedEndpoint,
    now: Nanos,
    next_txn: u64,
    to_target: Vec<Message>,
    to_updated: Vec<Message>,
    /// Outcomes per (side, txn).
    outcomes: Vec<(Role, u64)>,
}

impl World {
    fn route(&mut self, from: Role, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(message) => {
                    assert_eq!(message.sender, from);
                    let bytes = message.encode();
                    assert_eq!(Message::decode(&bytes), Ok(message), "{message:?}");
                    match from {
                        Role::Target => self.to_updated.push(message),
                        Role::Updated => self.to_target.push(message),
                    }
                }
                Action::Complete(c) => self.outcome(from, c.txn),
                Action::Failed(f) => self.outcome(from, f.txn),
                Action::Negotiated(agreement) if from == Role::Updated => {
                    assert!(is_aligned(agreement.frame, self.criteria.alignment));
                }
                _ => {}
            }
        }
    }

    fn outcome(&mut self, side: Role, txn: u64) {
        assert!(
            !self.outcomes.contains(&(side, txn)),
            "second outcome for {side} {txn}"
        );
        self.outcomes.push((side, txn));
    }
}

fn keyframe(payload: &[u8]) -> bool {
    payload.get(8).is_some_and(|b| b & 1 != 0)
}

/// The payload's frame; for an empty payload the agreed frame if there is one (the switch as
/// scheduled) and, with `reached`, only once the target's frames got there.
fn switch_frame(payload: &[u8], world: &World, reached: bool) -> Option<FrameIndex> {
    if !payload.is_empty() {
        return Some(frame(payload));
    }
    let agreed = world.updated.agreed_frame()?;
    let target_last = world.target.sync_info().position.map(|p| p.last_frame);
    (!reached || target_last.is_some_and(|last| last >= agreed)).then_some(agreed)
}

fn frame(payload: &[u8]) -> FrameIndex {
    let mut bytes = [0u8; 8];
    let n = payload.len().min(8);
    bytes[..n].copy_from_slice(&payload[..n]);
    i64::from_be_bytes(bytes)
}

fn config() -> Config {
    Config {
        retransmit_interval_ns: 20_000_000,
        reply_timeout_ns: 200_000_000,
        ready_timeout_ns: 400_000_000,
        stall_timeout_ns: 200_000_000,
        ..Config::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let [delay, alignment, rest @ ..] = data else {
        return;
    };
    let criteria = Criteria {
        delay_frames: u32::from(*delay),
        alignment: u32::from(*alignment),
    };
    let mut out = Vec::new();
    let updated = UpdatedEndpoint::start(1, criteria, config(), 0, &mut out);
    let mut world = World {
        criteria,
        target: TargetEndpoint::new(config()),
        updated,
        now: 0,
        next_txn: 2,
        to_target: Vec::new(),
        to_updated: Vec::new(),
        outcomes: Vec::new(),
    };
    world.route(Role::Updated, out);

    let mut rest = rest;
    while let [op, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let mut out = Vec::new();
        let now = world.now;
        match op % 10 {
            0 | 1 => {
                if let Ok(message) = Message::decode(payload) {
                    assert_eq!(message.encode(), payload, "not canonical: {message:?}");
                }
                if op % 10 == 0 {
                    let _ = world.target.receive_bytes(payload, now, &mut out);
                    world.route(Role::Target, out);
                } else {
                    let _ = world.updated.receive_bytes(payload, now, &mut out);
                    world.route(Role::Updated, out);
                }
            }
            2 => {
                world
                    .target
                    .on_frame(frame(payload), keyframe(payload), now);
            }
            3 => {
                world
                    .updated
                    .on_frame(frame(payload), keyframe(payload), now, &mut out);
                world.route(Role::Updated, out);
            }
            4 => {
                let step = Nanos::from(payload.first().copied().unwrap_or(1)) * 10_000_000;
                world.now = world.now.saturating_add(step);
                let now = world.now;
                world.target.tick(now, &mut out);
                world.route(Role::Target, out);
                let mut out = Vec::new();
                world.updated.tick(now, &mut out);
                world.route(Role::Updated, out);
            }
            5 => {
                for message in std::mem::take(&mut world.to_target) {
                    let mut out = Vec::new();
                    let _ = world.target.receive_bytes(&message.encode(), now, &mut out);
                    world.route(Role::Target, out);
                }
                for message in std::mem::take(&mut world.to_updated) {
                    let mut out = Vec::new();
                    let _ = world
                        .updated
                        .receive_bytes(&message.encode(), now, &mut out);
                    world.route(Role::Updated, out);
                }
            }
            6 => {
                if let Some(at) = switch_frame(payload, &world, true) {
                    world.target.handed_over(at, now, &mut out);
                    world.route(Role::Target, out);
                    let mut out = Vec::new();
                    world.updated.handed_over(at, now, &mut out);
                    world.route(Role::Updated, out);
                }
            }
            7 => {
                if let Some(at) = switch_frame(payload, &world, false) {
                    world.updated.switch_failed(at, now, &mut out);
                    world.route(Role::Updated, out);
                }
            }
            8 => {
                if payload.first().is_some_and(|b| b & 1 != 0) {
                    world.target.abort(FailureReason::Aborted, &mut out);
                    world.route(Role::Target, out);
                } else {
                    world.updated.abort(FailureReason::BranchError, &mut out);
                    world.route(Role::Updated, out);
                }
            }
            _ => {
                let txn = world.next_txn;
                world.next_txn += 1;
                world.updated = UpdatedEndpoint::start(txn, criteria, config(), now, &mut out);
                world.route(Role::Updated, out);
            }
        }
    }
});
